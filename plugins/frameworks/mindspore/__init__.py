"""MindSpore: standalone, MindSpore PS and Open MPI (GPU resource specs only, spec 03 §3).

PS contract: MindSpore's PS runtime needs a scheduler process besides servers and workers,
so this plugin adds a `scheduler` role (one process, one core). Every process reads MS_ROLE
(MS_SCHED / MS_PSERVER / MS_WORKER), MS_SCHED_HOST, MS_SCHED_PORT (the job's coordinator
port), MS_WORKER_NUM and MS_SERVER_NUM.
"""

from __future__ import annotations

from dataclasses import replace

from core.api import Framework
from core.hookspecs import hookimpl
from core.plan import LaunchPlan, ResourceRequest, Role

MS_ROLE = {"scheduler": "MS_SCHED", "server": "MS_PSERVER", "worker": "MS_WORKER"}
PS_ENV = ("MS_ROLE", "MS_SCHED_HOST", "MS_SCHED_PORT", "MS_WORKER_NUM", "MS_SERVER_NUM")


class MindSpore(Framework):
    name = "mindspore"
    title = "MindSpore"
    modes = ("standalone", "ps", "mpi")
    image_tag = "MindSpore"
    dashboard = "mindinsight"  # job details: "MindInsight dashboard" over the job's logs (F113)
    dashboard_title = "MindInsight dashboard"
    default_job_name = "mindspore"
    order = 5
    gpu_only_modes = ("standalone", "ps", "mpi")
    reserved_env = {"ps": PS_ENV}

    def adjust_roles(self, mode: str, roles: list[Role]) -> list[Role]:
        if mode != "ps" or any(r.name == "scheduler" for r in roles):
            return roles
        server = next(r for r in roles if r.name == "server")
        request = ResourceRequest(cpus=1, host=server.request.host)
        return [replace(server, name="scheduler", replicas=1, request=request, argv=list(server.argv), env={})] + roles

    def contract(self, mode: str, plan: LaunchPlan) -> dict[str, dict[str, str]]:
        if mode != "ps":
            return {}
        common = {"MS_SCHED_HOST": "{{role_head.scheduler}}", "MS_SCHED_PORT": "{{port0}}",
                  "MS_WORKER_NUM": "{{role_size.worker}}", "MS_SERVER_NUM": "{{role_size.server}}"}
        return {role.name: {**common, "MS_ROLE": MS_ROLE[role.name]} for role in plan.roles}


@hookimpl
def hpcai_frameworks() -> list[Framework]:
    return [MindSpore()]
