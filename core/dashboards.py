"""What the training dashboards (TensorBoard, VisualDL, MindInsight) share as service types.

Each one serves a directory of logs its framework wrote, runs on CPU specs only (F228), serves
under the proxy prefix itself and is opened in the browser. Only the command line and the
wording of the hints differ, so a dashboard plugin subclasses `LogDirDashboard` and writes
`start_plan` (plugins never import each other, so the shared part lives here).
"""

from __future__ import annotations

import os
from typing import Any

from core.api import ProxyRules, ServiceType
from core.errors import ValidationError


class LogDirDashboard(ServiceType):
    category = "visualization"
    cpu_only = True
    #: the Logs path field's hint (what the directory holds); None: no hint
    logdir_hint: str | None = None
    #: the fix given when the logs path does not exist; None: none
    missing_fix: str | None = None

    def option_schema(self) -> dict[str, Any]:
        logdir: dict[str, Any] = {"type": "string", "title": "Logs path", "x-widget": "directory", "x-order": 10}
        if self.logdir_hint:
            logdir["x-fix"] = self.logdir_hint
        return {"type": "object", "required": ["logdir"], "properties": {"logdir": logdir}}

    def check(self, options: dict[str, Any]) -> None:
        if not os.path.isdir(options["logdir"]):
            raise ValidationError(f"logs path {options['logdir']} does not exist", field="logdir",
                                  fix=self.missing_fix)

    def proxy_rules(self, options: dict[str, Any]) -> ProxyRules:
        return ProxyRules(strip_prefix=False)  # the dashboard serves under the prefix itself

    def request_example(self, url: str, options: dict[str, Any]) -> str:
        return f"open {url}/ in the browser"
