"""PyTorch: standalone, DDP and Horovod.

DDP contract: we start every rank ourselves (no torchrun) and give each process the variables
`torch.distributed.init_process_group("env://")` reads. WORLD_SIZE and RANK count processes,
not nodes (Kubeflow's pods-vs-processes trap); MASTER_PORT is the job's own allocated port.
Horovod: horovodrun sets HOROVOD_* in each rank.
"""

from __future__ import annotations

from core.api import Framework
from core.hookspecs import hookimpl
from core.plan import LaunchPlan

DDP_ENV = ("MASTER_ADDR", "MASTER_PORT", "RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE",
           "NODE_RANK", "GROUP_RANK", "ROLE_RANK", "ROLE_NAME")


class PyTorch(Framework):
    name = "pytorch"
    title = "PyTorch"
    modes = ("standalone", "ddp", "horovod")
    image_tag = "PyTorch"
    default_job_name = "pytorch"
    order = 2
    reserved_env = {"ddp": DDP_ENV}

    def contract(self, mode: str, plan: LaunchPlan) -> dict[str, dict[str, str]]:
        if mode != "ddp":
            return {}
        env = {
            "MASTER_ADDR": "{{head_host}}",
            "MASTER_PORT": "{{port0}}",
            "RANK": "{{rank}}",
            "LOCAL_RANK": "{{local_rank}}",
            "WORLD_SIZE": "{{world_size}}",
            "LOCAL_WORLD_SIZE": "{{local_world_size}}",
            "NODE_RANK": "{{node_rank}}",
            "GROUP_RANK": "{{node_rank}}",
            "ROLE_RANK": "{{role_rank}}",
            "ROLE_NAME": "{{role}}",
        }
        return {role.name: dict(env) for role in plan.roles}


@hookimpl
def hpcai_frameworks() -> list[Framework]:
    return [PyTorch()]
