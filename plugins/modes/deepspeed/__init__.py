"""DeepSpeed mode: N instances (ranks) with one rendezvous port, started by the launcher.

Every rank is started directly (like `deepspeed --no_ssh` would), with the torch.distributed
variables `deepspeed.init_distributed()` reads; the hostfile in the `deepspeed` launcher's
format (`host slots=N`) is in the job directory for code that wants it.
"""

from __future__ import annotations


from core.api import ParallelMode
from core.hookspecs import hookimpl
from core.plan import Role, RoleGroup
from core.topology import InstancesMode, identical_instances


class DeepSpeedParallel(InstancesMode):
    name = "deepspeed"
    title = "DeepSpeed parallel"
    description = "N DeepSpeed ranks, each on one resource spec."
    ports = 1

    def roles(self, groups: list[RoleGroup], argv: list[str]) -> list[Role]:
        count, request = identical_instances(groups, "DeepSpeed")
        return [Role(name="worker", replicas=count, request=request, argv=list(argv))]


@hookimpl
def hpcai_parallel_modes() -> list[ParallelMode]:
    return [DeepSpeedParallel()]
