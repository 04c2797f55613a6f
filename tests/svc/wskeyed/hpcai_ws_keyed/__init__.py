"""A third-party service type for the tests: a custom command with API-key auth (like the
model-serving types), so the proxy's key rules can be tested over WebSocket too."""

from __future__ import annotations

from typing import Any

from core.api import ProxyRules, ServiceContext, ServiceType, StartPlan
from core.hookspecs import hookimpl


class KeyedCommand(ServiceType):
    name = "wskeyed"
    title = "Command with API keys (test)"
    category = "serving"
    api_keys = True

    def option_schema(self) -> dict[str, Any]:
        return {"type": "object", "required": ["command"], "properties": {
            "command": {"type": "string", "title": "Command"},
            "auth": {"type": "boolean", "title": "Require an API key", "default": True}}}

    def start_plan(self, options: dict[str, Any], ctx: ServiceContext) -> StartPlan:
        return StartPlan(argv=["/bin/bash", "-c", options["command"]],
                         env={"PORT": "{port}", "HOST": "{bind}"}, health_path="/health")

    def proxy_rules(self, options: dict[str, Any]) -> ProxyRules:
        return ProxyRules(strip_prefix=True)


class NativeAuthCommand(ServiceType):
    """A server that checks a token itself (as Jupyter, code-server, VNC do): svcrun puts no gate
    in front; the platform's per-instance secret is its token and only the proxy presents it."""

    name = "wsnative"
    title = "Command that checks its own token (test)"
    category = "custom"

    def option_schema(self) -> dict[str, Any]:
        return {"type": "object", "required": ["command"], "properties": {
            "command": {"type": "string", "title": "Command"}}}

    def start_plan(self, options: dict[str, Any], ctx: ServiceContext) -> StartPlan:
        return StartPlan(argv=["/bin/bash", "-c", options["command"]], native_auth=True,
                         env={"PORT": "{port}", "HOST": "{bind}", "TOKEN": "{secret}"}, health_path="/health")

    def proxy_rules(self, options: dict[str, Any]) -> ProxyRules:
        return ProxyRules(strip_prefix=True, secret_headers={"X-Service-Token": "{secret}"})


@hookimpl
def hpcai_service_types() -> list[ServiceType]:
    return [KeyedCommand(), NativeAuthCommand()]
