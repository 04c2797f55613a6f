"""DeepSpeed mode: N instances (ranks) with one rendezvous port, started by the launcher.

Every rank is started directly (like `deepspeed --no_ssh` would), with the torch.distributed
variables `deepspeed.init_distributed()` reads; the hostfile in the `deepspeed` launcher's
format (`host slots=N`) is in the job directory for code that wants it.
"""

from __future__ import annotations

from typing import Any, Callable

from core.api import ParallelMode
from core.hookspecs import hookimpl
from core.plan import ResourceRequest, Role, RoleGroup
from core.topology import identical_instances, instance_groups, instances_schema


class DeepSpeedParallel(ParallelMode):
    name = "deepspeed"
    title = "DeepSpeed parallel"
    description = "N DeepSpeed ranks, each on one resource spec."
    ports = 1
    topology_fields = ("instances", "resource_spec")

    def option_schema(self) -> dict[str, Any]:
        return instances_schema()

    def groups_from_options(self, options: dict[str, Any],
                            spec: Callable[[str, str], ResourceRequest]) -> list[RoleGroup]:
        return instance_groups(options, spec)

    def roles(self, groups: list[RoleGroup], argv: list[str]) -> list[Role]:
        count, request = identical_instances(groups, "DeepSpeed")
        return [Role(name="worker", replicas=count, request=request, argv=list(argv))]


@hookimpl
def hpcai_parallel_modes() -> list[ParallelMode]:
    return [DeepSpeedParallel()]
