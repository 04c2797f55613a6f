"""VisualDL (PaddlePaddle's dashboard) as a service."""

from __future__ import annotations

from typing import Any

from core.api import ProxyRules, ServiceContext, ServiceType, StartPlan
from core.dashboards import LogDirDashboard
from core.hookspecs import hookimpl


class VisualDL(LogDirDashboard):
    name = "visualdl"
    title = "VisualDL"
    description = "Visualise PaddlePaddle training logs."
    requires = "visualdl"
    missing_fix = "give the directory your LogWriter writes to"

    def start_plan(self, options: dict[str, Any], ctx: ServiceContext) -> StartPlan:
        return StartPlan(argv=["visualdl", "--logdir", options["logdir"], "--host", "{bind}",
                               "--port", "{port}", "--public-path", "{base_path}"],
                         health_path="{base_path}/api/runs")

    def proxy_rules(self, options: dict[str, Any]) -> ProxyRules:
        # /app/index answers 500 without Accept-Language (environment notes).
        return ProxyRules(strip_prefix=False, request_headers={"Accept-Language": "en-US,en;q=0.9"})


@hookimpl
def hpcai_service_types() -> list[ServiceType]:
    return [VisualDL()]
