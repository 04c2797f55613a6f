"""VisualDL (PaddlePaddle's dashboard) as a service."""

from __future__ import annotations

import os
from typing import Any

from core.api import ProxyRules, ServiceContext, ServiceType, StartPlan
from core.errors import ValidationError
from core.hookspecs import hookimpl


class VisualDL(ServiceType):
    name = "visualdl"
    title = "VisualDL"
    description = "Visualise PaddlePaddle training logs."
    category = "visualization"
    cpu_only = True
    requires = "visualdl"

    def option_schema(self) -> dict[str, Any]:
        return {"type": "object", "required": ["logdir"], "properties": {
            "logdir": {"type": "string", "title": "Logs path", "x-widget": "directory", "x-order": 10}}}

    def check(self, options: dict[str, Any]) -> None:
        if not os.path.isdir(options["logdir"]):
            raise ValidationError(f"logs path {options['logdir']} does not exist", field="logdir",
                                  fix="give the directory your LogWriter writes to")

    def start_plan(self, options: dict[str, Any], ctx: ServiceContext) -> StartPlan:
        return StartPlan(argv=["visualdl", "--logdir", options["logdir"], "--host", "{bind}",
                               "--port", "{port}", "--public-path", "{base_path}"],
                         health_path="{base_path}/api/runs")

    def proxy_rules(self, options: dict[str, Any]) -> ProxyRules:
        # /app/index answers 500 without Accept-Language (environment notes).
        return ProxyRules(strip_prefix=False, request_headers={"Accept-Language": "en-US,en;q=0.9"})

    def request_example(self, url: str, options: dict[str, Any]) -> str:
        return f"open {url}/ in the browser"


@hookimpl
def hpcai_service_types() -> list[ServiceType]:
    return [VisualDL()]
