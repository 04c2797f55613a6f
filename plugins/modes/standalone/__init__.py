"""Standalone mode: one instance of the training command on one resource spec."""

from __future__ import annotations

from typing import Any, Callable

from core.api import ParallelMode
from core.errors import ValidationError
from core.hookspecs import hookimpl
from core.plan import ResourceRequest, Role, RoleGroup

SPEC_FIELD = {"type": "string", "title": "Resource specification", "x-widget": "resource-spec",
              "x-order": 20, "x-fix": "choose a spec from `hpcai specs`"}


class Standalone(ParallelMode):
    name = "standalone"
    title = "Standalone"
    description = "One process on one node (single card or CPU)."
    topology_fields = ("resource_spec",)

    def option_schema(self) -> dict[str, Any]:
        return {"type": "object", "required": ["resource_spec"],
                "properties": {"resource_spec": dict(SPEC_FIELD)}}

    def groups_from_options(self, options: dict[str, Any],
                            spec: Callable[[str, str], ResourceRequest]) -> list[RoleGroup]:
        return [RoleGroup(1, spec("resource_spec", options["resource_spec"]))]

    def roles(self, groups: list[RoleGroup], argv: list[str]) -> list[Role]:
        total = sum(g.count for g in groups)
        if total != 1:
            raise ValidationError(f"standalone runs exactly one instance, the machine file asks for {total}",
                                  field="machine_file",
                                  fix="use one line like [host:all slots:1], or a parallel job type")
        return [Role(name="main", replicas=1, request=groups[0].request, argv=list(argv))]


@hookimpl
def hpcai_parallel_modes() -> list[ParallelMode]:
    return [Standalone()]
