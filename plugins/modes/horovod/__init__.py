"""Horovod mode: N instances started by `horovodrun` (Gloo) from the job's host list.

The launcher starts only the first instance; it runs horovodrun, which starts all N ranks
on the hosts and slots of the allocation (`-H host:slots,...`) and sets HOROVOD_RANK,
HOROVOD_SIZE, HOROVOD_LOCAL_RANK ... in each. The user's code must be written for Horovod.
"""

from __future__ import annotations


from core.api import ParallelMode
from core.hookspecs import hookimpl
from core.plan import Role, RoleGroup
from core.topology import InstancesMode, identical_instances


class Horovod(InstancesMode):
    name = "horovod"
    title = "Horovod parallel"
    description = "N instances started by horovodrun (Gloo controller) on the allocated hosts."

    def roles(self, groups: list[RoleGroup], argv: list[str]) -> list[Role]:
        count, request = identical_instances(groups, "Horovod")
        # horovodrun takes LSB_JOBID (which hpcai sets for the product's scripts) to mean "LSF
        # started me" and then skips finding NICs, which its Gloo launch needs (TypeError in
        # get_driver_ip): it runs without it.
        launcher = ["env", "-u", "LSB_JOBID",
                    "horovodrun", "--gloo", "-np", "{{world_size}}", "-H", "{{host_slots}}",
                    "--network-interface", "{{iface}}", "--start-timeout", "120"]
        return [Role(name="worker", replicas=count, request=request, argv=launcher + list(argv),
                     start="first")]


@hookimpl
def hpcai_parallel_modes() -> list[ParallelMode]:
    return [Horovod()]
