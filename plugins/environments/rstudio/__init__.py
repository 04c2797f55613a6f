"""RStudio Server (`rserver`), where the image or node has it (Debian does not ship it).

rserver runs as the job's Unix user on svcrun's private loopback port behind its gate, which
lets only the proxy's signed connections through; its own login page is off for that reason."""

from __future__ import annotations

import shutil
from typing import Any

from core.api import EnvironmentType, ProxyRules, ServiceContext, StartPlan
from core.hookspecs import hookimpl


class RStudio(EnvironmentType):
    name = "rstudio"
    title = "RStudio"
    description = "RStudio Server for R developers."
    requires = "rserver"
    image_tag = "RStudio"
    open_title = "RStudio"
    order = 30

    def check_available(self) -> str | None:
        if shutil.which("rserver") is None:
            return "RStudio Server (rserver) is not installed on this site's nodes"
        return None

    def server_plan(self, options: dict[str, Any], ctx: ServiceContext) -> StartPlan:
        return StartPlan(
            argv=["rserver", "--www-address=127.0.0.1", "--www-port={port}",
                  # the job already runs as the user: rserver keeps that identity
                  "--www-root-path={base_path}/", "--auth-none=1",
                  "--server-data-dir={job_dir}/rstudio-data", "--database-config-file={job_dir}/rstudio-db.conf",
                  "--server-daemonize=0"],
            files={"rstudio-db.conf": "provider=sqlite\ndirectory={job_dir}/rstudio-db\n"},
            health_path="/")

    def proxy_rules(self, options: dict[str, Any]) -> ProxyRules:
        return ProxyRules(strip_prefix=True)


@hookimpl
def hpcai_environment_types() -> list[EnvironmentType]:
    return [RStudio()]
