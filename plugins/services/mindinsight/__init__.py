"""MindInsight (MindSpore's dashboard) as a service. No package here: validated and rendered."""

from __future__ import annotations

from typing import Any

from core.api import ServiceContext, ServiceType, StartPlan
from core.dashboards import LogDirDashboard
from core.hookspecs import hookimpl


class MindInsight(LogDirDashboard):
    name = "mindinsight"
    title = "MindInsight"
    description = "Visualise MindSpore summary logs."
    requires = "mindinsight"
    logdir_hint = "the summary base directory (SummaryCollector's summary_dir parent)"

    def start_plan(self, options: dict[str, Any], ctx: ServiceContext) -> StartPlan:
        # `mindinsight start` daemonises; its gunicorn app runs in the foreground this way.
        return StartPlan(argv=["mindinsight", "start", "--summary-base-dir", options["logdir"],
                               "--host", "{bind}", "--port", "{port}",
                               "--url-path-prefix", ctx.base_path.lstrip("/"), "--workspace", "{job_dir}/mi",
                               "--enable-debugger", "False"],
                         health_path="{base_path}/")


@hookimpl
def hpcai_service_types() -> list[ServiceType]:
    return [MindInsight()]
