"""Open MPI mode: N instances started by `mpirun` from the job's hostfile.

The launcher starts only the first instance; it runs mpirun with the hostfile the launcher
wrote (`host slots=N`), and mpirun starts all N ranks (OMPI_COMM_WORLD_RANK ... in each).
"""

from __future__ import annotations

from typing import Any

from core.api import ParallelMode
from core.hookspecs import hookimpl
from core.plan import Role, RoleGroup
from core.topology import InstancesMode, identical_instances

MPI_ENV = {
    # jairun runs as the job's user; root is the usual user on test sites and containers.
    "OMPI_ALLOW_RUN_AS_ROOT": "1",
    "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    # More ranks than cores on a small node must not be refused: the scheduler admitted them.
    "OMPI_MCA_rmaps_base_oversubscribe": "1",
}


class OpenMPI(InstancesMode):
    name = "mpi"
    title = "Open MPI parallel"
    description = "N instances started by mpirun on the allocated hosts."
    reserved_env = tuple(MPI_ENV)

    def roles(self, groups: list[RoleGroup], argv: list[str]) -> list[Role]:
        count, request = identical_instances(groups, "MPI")
        launcher = ["mpirun", "-np", "{{world_size}}", "--hostfile", "{{hostfile}}"]
        return [Role(name="worker", replicas=count, request=request, argv=launcher + list(argv),
                     start="first")]

    def env(self, plan: Any) -> dict[str, dict[str, str]]:
        return {r.name: dict(MPI_ENV) for r in plan.roles}


@hookimpl
def hpcai_parallel_modes() -> list[ParallelMode]:
    return [OpenMPI()]
