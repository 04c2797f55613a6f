"""TensorFlow: standalone, parameter server and Horovod.

PS contract: TensorFlow 2's ParameterServerStrategy needs a coordinator besides the servers
and workers, so this plugin adds a `chief` role (one process on the worker spec). Every task
reads TF_CONFIG: the whole cluster (`chief`, `worker`, `ps` endpoint lists, each task on its
own per-rank port) and its own `task` type and index. ps and worker tasks serve the chief
until it is done (daemon roles: the launcher ends them when the chief succeeded).
"""

from __future__ import annotations

from dataclasses import replace

from core.api import Framework
from core.hookspecs import hookimpl
from core.plan import LaunchPlan, Role

TASK_TYPE = {"chief": "chief", "worker": "worker", "server": "ps"}


def tf_config(task_type: str) -> str:
    cluster = ", ".join(f'"{TASK_TYPE[r]}": {{{{endpoints_json.{r}}}}}' for r in ("chief", "worker", "server"))
    return f'{{"cluster": {{{cluster}}}, "task": {{"type": "{task_type}", "index": {{{{role_rank}}}}}}}}'


class TensorFlow(Framework):
    name = "tensorflow"
    title = "TensorFlow"
    modes = ("standalone", "ps", "horovod")
    image_tag = "TensorFlow"
    dashboard = "tensorboard"  # job details: "Access TensorBoard" over the job's logs (F113)
    dashboard_title = "Access TensorBoard"
    default_job_name = "tensorflow"
    order = 1
    reserved_env = {"ps": ("TF_CONFIG",)}

    def adjust_roles(self, mode: str, roles: list[Role]) -> list[Role]:
        if mode != "ps" or any(r.name == "chief" for r in roles):
            return roles
        worker = next(r for r in roles if r.name == "worker")
        chief = replace(worker, name="chief", replicas=1, argv=list(worker.argv), env={})
        return [chief] + [replace(r, daemon=True) for r in roles]

    def contract(self, mode: str, plan: LaunchPlan) -> dict[str, dict[str, str]]:
        if mode != "ps":
            return {}
        return {role.name: {"TF_CONFIG": tf_config(TASK_TYPE[role.name])} for role in plan.roles}


@hookimpl
def hpcai_frameworks() -> list[Framework]:
    return [TensorFlow()]
