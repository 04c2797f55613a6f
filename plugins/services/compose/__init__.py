"""Docker Compose service through podman-compose: the compose file reads ${HPCAI_SERVICE_PORT}."""

from __future__ import annotations

import os
import shlex
from typing import Any

from core.api import ServiceContext, ServiceType, StartPlan
from core.errors import ValidationError
from core.hookspecs import hookimpl


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
        return StartPlan(argv=["podman-compose", "-p", project, "-f", options["compose_file"], "up",
                               "--abort-on-container-exit", *extra],
                         cwd=os.path.dirname(options["compose_file"]) or None,
                         env={"HPCAI_SERVICE_PORT": "{port}", "HPCAI_SERVICE_HOST": "{bind}"})

    def request_example(self, url: str, options: dict[str, Any]) -> str:
        return f"curl {url}/"


@hookimpl
def hpcai_service_types() -> list[ServiceType]:
    return [Compose()]
