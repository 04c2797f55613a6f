"""MindInsight (MindSpore's dashboard) as a service. No package here: validated and rendered."""

from __future__ import annotations

import os
from typing import Any

from core.api import ProxyRules, ServiceContext, ServiceType, StartPlan
from core.errors import ValidationError
from core.hookspecs import hookimpl


class MindInsight(ServiceType):
    name = "mindinsight"
    title = "MindInsight"
    description = "Visualise MindSpore summary logs."
    category = "visualization"
    cpu_only = True
    requires = "mindinsight"

    def option_schema(self) -> dict[str, Any]:
        return {"type": "object", "required": ["logdir"], "properties": {
            "logdir": {"type": "string", "title": "Logs path", "x-widget": "directory", "x-order": 10,
                       "x-fix": "the summary base directory (SummaryCollector's summary_dir parent)"}}}

    def check(self, options: dict[str, Any]) -> None:
        if not os.path.isdir(options["logdir"]):
            raise ValidationError(f"logs path {options['logdir']} does not exist", field="logdir")

    def start_plan(self, options: dict[str, Any], ctx: ServiceContext) -> StartPlan:
        # `mindinsight start` daemonises; its gunicorn app runs in the foreground this way.
        return StartPlan(argv=["mindinsight", "start", "--summary-base-dir", options["logdir"],
                               "--host", "{bind}", "--port", "{port}",
                               "--url-path-prefix", ctx.base_path.lstrip("/"), "--workspace", "{job_dir}/mi",
                               "--enable-debugger", "False"],
                         health_path="{base_path}/")

    def proxy_rules(self, options: dict[str, Any]) -> ProxyRules:
        return ProxyRules(strip_prefix=False)

    def request_example(self, url: str, options: dict[str, Any]) -> str:
        return f"open {url}/ in the browser"


@hookimpl
def hpcai_service_types() -> list[ServiceType]:
    return [MindInsight()]
