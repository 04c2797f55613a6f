"""Distributed data parallel: N identical worker processes and one rendezvous port."""

from __future__ import annotations

from typing import Any, Callable

from core.api import ParallelMode
from core.errors import ValidationError
from core.hookspecs import hookimpl
from core.plan import ResourceRequest, Role, RoleGroup


class DDP(ParallelMode):
    name = "ddp"
    title = "Distributed Data Parallel (DDP)"
    description = "N worker processes, each on one resource spec, rendezvous on a per-job port."
    ports = 1
    topology_fields = ("instances", "resource_spec")

    def option_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["instances", "resource_spec"],
            "properties": {
                "instances": {"type": "integer", "title": "Parallel instance count", "minimum": 1,
                              "default": 2, "x-order": 19,
                              "x-fix": "give the number of ranks, e.g. --instances 2"},
                "resource_spec": {"type": "string", "title": "Resource specification per instance",
                                  "x-widget": "resource-spec", "x-order": 20,
                                  "x-fix": "choose a spec from `hpcai specs`"},
            },
        }

    def groups_from_options(self, options: dict[str, Any],
                            spec: Callable[[str, str], ResourceRequest]) -> list[RoleGroup]:
        return [RoleGroup(int(options["instances"]), spec("resource_spec", options["resource_spec"]))]

    def roles(self, groups: list[RoleGroup], argv: list[str]) -> list[Role]:
        if any(g.tag for g in groups):
            raise ValidationError("DDP ranks are all alike; the machine file has role tags",
                                  field="machine_file", fix="remove tag:\"...\" from the machine file")
        first = groups[0].request
        if any(g.request != first for g in groups[1:]):
            raise ValidationError("all DDP instances must have the same resources", field="machine_file",
                                  fix="use one line like 2*[host:all slots:2]")
        return [Role(name="worker", replicas=sum(g.count for g in groups), request=first, argv=list(argv))]


@hookimpl
def hpcai_parallel_modes() -> list[ParallelMode]:
    return [DDP()]
