"""PaddlePaddle: standalone (single card; multi-card through `python -m
paddle.distributed.launch` in the run command) and Paddle PS.

PS contract: the variables `fleet.PaddleCloudRoleMaker(is_collective=False)` reads. Servers
get TRAINING_ROLE=PSERVER with their own endpoint (POD_IP:PADDLE_PORT); trainers get
TRAINING_ROLE=TRAINER and their id; everyone gets both endpoint lists and the trainer count.
Servers serve until the trainers are done (daemon role: the launcher ends them).
"""

from __future__ import annotations

from dataclasses import replace

from core.api import Framework
from core.hookspecs import hookimpl
from core.plan import LaunchPlan, Role

PS_ENV = ("TRAINING_ROLE", "PADDLE_PSERVERS_IP_PORT_LIST", "PADDLE_TRAINER_ENDPOINTS",
          "PADDLE_TRAINERS_NUM", "PADDLE_TRAINER_ID", "PADDLE_PORT", "POD_IP", "PADDLE_ROLE_RANK")


class Paddle(Framework):
    name = "paddle"
    title = "PaddlePaddle"
    modes = ("standalone", "ps")
    image_tag = "PaddlePaddle"
    dashboard = "visualdl"  # job details: "Access VisualDL" over the job's logs (F113)
    dashboard_title = "Access VisualDL"
    default_job_name = "PaddlePaddle"
    order = 4
    command_hint = ("e.g. python train_demo.py; several GPU cards on one node (multi-card): "
                    "python -m paddle.distributed.launch train_demo.py")
    reserved_env = {"ps": PS_ENV}

    def adjust_roles(self, mode: str, roles: list[Role]) -> list[Role]:
        if mode != "ps":
            return roles
        return [replace(r, daemon=True) if r.name == "server" else r for r in roles]

    def contract(self, mode: str, plan: LaunchPlan) -> dict[str, dict[str, str]]:
        if mode != "ps":
            return {}
        common = {
            "PADDLE_PSERVERS_IP_PORT_LIST": "{{endpoints.server}}",
            "PADDLE_TRAINER_ENDPOINTS": "{{endpoints.worker}}",
            "PADDLE_TRAINERS_NUM": "{{role_size.worker}}",
            "PADDLE_PORT": "{{rank_port}}",
            "POD_IP": "{{host}}",
            "PADDLE_ROLE_RANK": "{{role_rank}}",
        }
        return {
            "server": {**common, "TRAINING_ROLE": "PSERVER"},
            "worker": {**common, "TRAINING_ROLE": "TRAINER", "PADDLE_TRAINER_ID": "{{role_rank}}"},
        }


@hookimpl
def hpcai_frameworks() -> list[Framework]:
    return [Paddle()]
