"""JupyterLab (PyPI `jupyterlab`, pinned in scripts/constraints.txt) under the proxy path.

Jupyter checks its own token: the per-instance secret, given in the environment (never argv,
where `ps` shows it) and presented by the proxy in the Authorization header, so the browser
never holds it and no other user on the node can use the port."""

from __future__ import annotations

import importlib.util
from typing import Any

from core.api import EnvironmentType, ProxyRules, ServiceContext, StartPlan
from core.hookspecs import hookimpl


class JupyterLab(EnvironmentType):
    name = "jupyterlab"
    title = "JupyterLab"
    description = "The JupyterLab web IDE: notebooks, kernels, a terminal."
    requires = "jupyter-lab"
    image_tag = "JupyterLab"
    open_title = "Jupyter"
    order = 10

    def check_available(self) -> str | None:
        if importlib.util.find_spec("jupyterlab") is None:
            return "JupyterLab is not installed on this site (pip package jupyterlab)"
        return None

    def server_plan(self, options: dict[str, Any], ctx: ServiceContext) -> StartPlan:
        return StartPlan(
            argv=["{python}", "-m", "jupyterlab", "--no-browser", "--ip={bind}", "--port={port}",
                  "--ServerApp.base_url={base_path}/", "--ServerApp.root_dir=.",
                  # the proxy's own origin differs from the upstream's: tokens, not origins, guard it
                  "--ServerApp.allow_origin=*", "--ServerApp.allow_remote_access=True"],
            env={"JUPYTER_TOKEN": "{secret}", "JUPYTER_RUNTIME_DIR": "{job_dir}/jupyter-runtime"},
            native_auth=True, health_path="{base_path}/api")

    def proxy_rules(self, options: dict[str, Any]) -> ProxyRules:
        # Jupyter serves under base_url itself: forward the full path
        return ProxyRules(strip_prefix=False, secret_headers={"Authorization": "token {secret}"})


@hookimpl
def hpcai_environment_types() -> list[EnvironmentType]:
    return [JupyterLab()]
