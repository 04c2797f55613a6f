"""DeepSpeed: DeepSpeed parallel only (GPU resource specs only, spec 03 §3).

Contract: each rank gets the torch.distributed variables `deepspeed.init_distributed()`
reads (RANK, LOCAL_RANK, WORLD_SIZE counted in processes; MASTER_ADDR/MASTER_PORT on the
job's own port), and DS_HOSTFILE names the job's hostfile in the `deepspeed` launcher format.
"""

from __future__ import annotations

from core.api import Framework
from core.hookspecs import hookimpl
from core.plan import LaunchPlan

DS_ENV = ("MASTER_ADDR", "MASTER_PORT", "RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE",
          "LOCAL_SIZE", "NODE_RANK", "CROSS_RANK", "CROSS_SIZE", "DS_HOSTFILE")


class DeepSpeed(Framework):
    name = "deepspeed"
    title = "DeepSpeed"
    modes = ("deepspeed",)
    image_tag = "DeepSpeed"
    default_job_name = "deepspeed"
    order = 6
    gpu_only_modes = ("deepspeed",)
    reserved_env = {"deepspeed": DS_ENV}

    def contract(self, mode: str, plan: LaunchPlan) -> dict[str, dict[str, str]]:
        env = {
            "MASTER_ADDR": "{{head_host}}",
            "MASTER_PORT": "{{port0}}",
            "RANK": "{{rank}}",
            "LOCAL_RANK": "{{local_rank}}",
            "WORLD_SIZE": "{{world_size}}",
            "LOCAL_WORLD_SIZE": "{{local_world_size}}",
            "LOCAL_SIZE": "{{local_world_size}}",
            "NODE_RANK": "{{node_rank}}",
            "CROSS_RANK": "{{node_rank}}",
            "CROSS_SIZE": "{{nnodes}}",
            "DS_HOSTFILE": "{{hostfile}}",
        }
        return {role.name: dict(env) for role in plan.roles}


@hookimpl
def hpcai_frameworks() -> list[Framework]:
    return [DeepSpeed()]
