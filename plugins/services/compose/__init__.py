"""Docker Compose service through podman-compose: the compose file reads ${HPCAI_SERVICE_PORT}.

The containers belong to podman, not to the `up` process a stop signals: the plan's cleanup
runs `down`, so stopping the service (or the server dying) removes the project's containers.
podman-compose >= 1.1 is needed for `network_mode: host` (1.0.3, Debian's, adds a second
network and podman refuses the container). Site-wide podman settings (containers.conf,
storage.conf) come from [services.types.compose] env in etc/hpcai.toml.
"""

from __future__ import annotations

import os
import shlex
from typing import Any

from core.api import ServiceContext, ServiceType, StartPlan
from core.errors import ValidationError
from core.hookspecs import hookimpl

# seconds a container gets to stop before SIGKILL: stays inside the scheduler's grace period
# between SIGTERM and SIGKILL (10 s for the local scheduler)
STOP_TIMEOUT_S = 3


class Compose(ServiceType):
    name = "compose"
    title = "Docker Compose"
    description = "A compose application; publish its web port as ${HPCAI_SERVICE_PORT}."
    category = "compose"
    requires = "podman-compose"

    def option_schema(self) -> dict[str, Any]:
        return {"type": "object", "required": ["compose_file"], "properties": {
            "compose_file": {"type": "string", "title": "Compose file", "x-widget": "file", "x-order": 10},
            "extra_args": {"type": "string", "title": "Extra arguments", "x-order": 11,
                           "x-fix": "arguments for `up`, e.g. --no-build"}}}

    def check(self, options: dict[str, Any]) -> None:
        if not os.path.isfile(options["compose_file"]):
            raise ValidationError(f"compose file {options['compose_file']} does not exist",
                                  field="compose_file")

    def start_plan(self, options: dict[str, Any], ctx: ServiceContext) -> StartPlan:
        project = ctx.alias.replace("-", "_")
        extra = shlex.split(options.get("extra_args") or "")
        compose = ["podman-compose", "-p", project, "-f", options["compose_file"]]
        return StartPlan(argv=[*compose, "up", "--abort-on-container-exit", *extra],
                         cleanup=[[*compose, "down", "-t", str(STOP_TIMEOUT_S)]],
                         cwd=os.path.dirname(options["compose_file"]) or None,
                         env={"HPCAI_SERVICE_PORT": "{port}", "HPCAI_SERVICE_HOST": "{bind}"})

    def request_example(self, url: str, options: dict[str, Any]) -> str:
        return f"curl {url}/"


@hookimpl
def hpcai_service_types() -> list[ServiceType]:
    return [Compose()]
