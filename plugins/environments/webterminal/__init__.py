"""Web terminal: a login shell (`bash -l`) as the user, in the environment's working directory,
over a WebSocket (terminado) with an xterm.js page. Any image (F13). The server listens on
svcrun's private loopback port behind its gate: only the proxy's signed connections get in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.api import EnvironmentType, ProxyRules, ServiceContext, StartPlan
from core.hookspecs import hookimpl

SERVER = Path(__file__).with_name("server.py")


class WebTerminal(EnvironmentType):
    name = "webterminal"
    title = "Web terminal"
    description = "Only a terminal: a login shell in the browser."
    requires = ""
    image_tag = ""  # every image
    open_title = "Terminal"
    order = 50
    ssh_builtin = False  # F22: SSH only on images that run sshd (tagged SSH)

    def server_plan(self, options: dict[str, Any], ctx: ServiceContext) -> StartPlan:
        return StartPlan(argv=["{python}", str(SERVER), "--port={port}", "--host=127.0.0.1"],
                         health_path="/healthz")

    def proxy_rules(self, options: dict[str, Any]) -> ProxyRules:
        return ProxyRules(strip_prefix=True)


@hookimpl
def hpcai_environment_types() -> list[EnvironmentType]:
    return [WebTerminal()]
