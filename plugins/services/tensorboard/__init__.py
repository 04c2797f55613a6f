"""TensorBoard as a service: serves a directory of event files under the proxy prefix."""

from __future__ import annotations

import os
from typing import Any

from core.api import ProxyRules, ServiceContext, ServiceType, StartPlan
from core.errors import ValidationError
from core.hookspecs import hookimpl


class TensorBoard(ServiceType):
    name = "tensorboard"
    title = "TensorBoard"
    description = "Visualise training event files (scalars, graphs, histograms)."
    category = "visualization"
    cpu_only = True
    requires = "tensorboard"

    def option_schema(self) -> dict[str, Any]:
        return {"type": "object", "required": ["logdir"], "properties": {
            "logdir": {"type": "string", "title": "Logs path", "x-widget": "directory", "x-order": 10,
                       "x-fix": "the directory holding the events.out.tfevents.* files"}}}

    def check(self, options: dict[str, Any]) -> None:
        if not os.path.isdir(options["logdir"]):
            raise ValidationError(f"logs path {options['logdir']} does not exist", field="logdir",
                                  fix="give the directory your training writes its event files to")

    def start_plan(self, options: dict[str, Any], ctx: ServiceContext) -> StartPlan:
        # TensorBoard serves under the proxy prefix itself, so its links and redirects are right.
        return StartPlan(argv=["{python}", "-m", "tensorboard.main", "--logdir", options["logdir"],
                               "--host", "{bind}", "--port", "{port}", "--path_prefix", "{base_path}"],
                         health_path="{base_path}/")

    def proxy_rules(self, options: dict[str, Any]) -> ProxyRules:
        return ProxyRules(strip_prefix=False)

    def request_example(self, url: str, options: dict[str, Any]) -> str:
        return f"open {url}/ in the browser"


@hookimpl
def hpcai_service_types() -> list[ServiceType]:
    return [TensorBoard()]
