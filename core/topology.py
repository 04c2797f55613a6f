"""Building blocks for parallel modes of N identical instances (DDP, Horovod, MPI, DeepSpeed).

Modes are plugins and never import each other; what they share lives here.
"""

from __future__ import annotations

from typing import Any, Callable

from core.api import ParallelMode
from core.errors import ValidationError
from core.plan import ResourceRequest, RoleGroup


def instances_schema(default: int = 2) -> dict[str, Any]:
    """Parallel instance count + one resource spec per instance (spec 03 §3)."""
    return {
        "type": "object",
        "required": ["instances", "resource_spec"],
        "properties": {
            "instances": {"type": "integer", "title": "Parallel instance count", "minimum": 1,
                          "default": default, "x-order": 19,
                          "x-fix": "give the number of ranks, e.g. --instances 2"},
            "resource_spec": {"type": "string", "title": "Resource specification per instance",
                              "x-widget": "resource-spec", "x-order": 20,
                              "x-fix": "choose a spec from `hpcai specs`"},
        },
    }


def instance_groups(options: dict[str, Any], spec: Callable[[str, str], ResourceRequest]) -> list[RoleGroup]:
    return [RoleGroup(int(options["instances"]), spec("resource_spec", options["resource_spec"]))]


def identical_instances(groups: list[RoleGroup], title: str) -> tuple[int, ResourceRequest]:
    """(count, request) of a job whose instances are all alike; a machine file may not tag roles."""
    if any(g.tag for g in groups):
        raise ValidationError(f"{title} instances are all alike; the machine file has role tags",
                              field="machine_file", fix='remove tag:"..." from the machine file')
    first = groups[0].request
    if any(g.request != first for g in groups[1:]):
        raise ValidationError(f"all {title} instances must have the same resources", field="machine_file",
                              fix="use one line like 2*[host:all slots:2]")
    return sum(g.count for g in groups), first


class InstancesMode(ParallelMode):
    """A mode of N identical instances on one resource spec: its form, and its groups from the
    form; a subclass writes `roles` (usually with `identical_instances`)."""

    topology_fields = ("instances", "resource_spec")

    def option_schema(self) -> dict[str, Any]:
        return instances_schema()

    def groups_from_options(self, options: dict[str, Any],
                            spec: Callable[[str, str], ResourceRequest]) -> list[RoleGroup]:
        return instance_groups(options, spec)
