"""Distributed data parallel: N identical worker processes and one rendezvous port."""

from __future__ import annotations


from core.api import ParallelMode
from core.hookspecs import hookimpl
from core.plan import Role, RoleGroup
from core.topology import InstancesMode, identical_instances


class DDP(InstancesMode):
    name = "ddp"
    title = "Distributed Data Parallel (DDP)"
    description = "N worker processes, each on one resource spec, rendezvous on a per-job port."
    ports = 1

    def roles(self, groups: list[RoleGroup], argv: list[str]) -> list[Role]:
        count, request = identical_instances(groups, "DDP")
        return [Role(name="worker", replicas=count, request=request, argv=list(argv))]


@hookimpl
def hpcai_parallel_modes() -> list[ParallelMode]:
    return [DDP()]
