"""Custom service: any command that serves HTTP on the port it is given ($PORT or {port})."""

from __future__ import annotations

import os
from typing import Any

from core.api import ProxyRules, ServiceContext, ServiceType, StartPlan
from core.errors import ValidationError
from core.hookspecs import hookimpl


class Custom(ServiceType):
    name = "custom"
    title = "Custom service"
    description = "Your own server: it must listen on $PORT (or {port} in the command)."
    category = "custom"
    gpu_only = True  # F234: the product offers GPU specs only; a site may allow CPU ones

    def option_schema(self) -> dict[str, Any]:
        return {"type": "object", "required": ["command"], "properties": {
            "command": {"type": "string", "title": "Command", "x-widget": "textarea", "x-order": 10,
                        "x-fix": "e.g. python -m http.server $PORT --bind $HOST"},
            "entrypoint": {"type": "string", "title": "Entrypoint", "default": "/bin/bash -c",
                           "x-order": 11},
            "working_dir": {"type": "string", "title": "Working directory", "x-widget": "directory",
                            "x-order": 12},
            "proxy_path": {"type": "string", "title": "Proxy path", "default": "/", "pattern": "^/",
                           "x-order": 13, "x-fix": "the path on the server the proxy maps to, e.g. /api/"},
            "health_path": {"type": "string", "title": "Health path", "default": "/", "pattern": "^/",
                            "x-order": 14}}}

    def check(self, options: dict[str, Any]) -> None:
        wd = options.get("working_dir")
        if wd and not os.path.isdir(wd):
            raise ValidationError(f"working directory {wd} does not exist", field="working_dir")

    def start_plan(self, options: dict[str, Any], ctx: ServiceContext) -> StartPlan:
        entry = (options.get("entrypoint") or "/bin/bash -c").split()
        return StartPlan(argv=entry + [options["command"]], cwd=options.get("working_dir") or None,
                         env={"PORT": "{port}", "HOST": "{bind}", "BASE_PATH": "{base_path}"},
                         health_path=options.get("health_path") or "/")

    def proxy_rules(self, options: dict[str, Any]) -> ProxyRules:
        path = (options.get("proxy_path") or "/").rstrip("/")
        return ProxyRules(strip_prefix=True, upstream_prefix=path)

    def request_example(self, url: str, options: dict[str, Any]) -> str:
        return f"curl {url}/"


@hookimpl
def hpcai_service_types() -> list[ServiceType]:
    return [Custom()]
