"""Horovod mode: N instances started by `horovodrun` (Gloo) from the job's host list.

The launcher starts only the first instance; it runs horovodrun, which starts all N ranks
on the hosts and slots of the allocation (`-H host:slots,...`) and sets HOROVOD_RANK,
HOROVOD_SIZE, HOROVOD_LOCAL_RANK ... in each. The user's code must be written for Horovod.
"""

from __future__ import annotations

from typing import Any, Callable

from core.api import ParallelMode
from core.hookspecs import hookimpl
from core.plan import ResourceRequest, Role, RoleGroup
from core.topology import identical_instances, instance_groups, instances_schema


class Horovod(ParallelMode):
    name = "horovod"
    title = "Horovod parallel"
    description = "N instances started by horovodrun (Gloo controller) on the allocated hosts."
    topology_fields = ("instances", "resource_spec")

    def option_schema(self) -> dict[str, Any]:
        return instances_schema()

    def groups_from_options(self, options: dict[str, Any],
                            spec: Callable[[str, str], ResourceRequest]) -> list[RoleGroup]:
        return instance_groups(options, spec)

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
