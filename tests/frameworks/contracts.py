"""The environment contract of every (framework, mode) pair, written out as test data.

`expected(fw, mode, plan, job_dir)` returns, per rank label (`role/index`), the exact values
that rank must see. Host 127.0.0.1 with all ranks on it is what the local scheduler gives.
"""

from __future__ import annotations

import json
from typing import Any

HOST = "127.0.0.1"

PAIRS = [
    ("tensorflow", "standalone"), ("tensorflow", "ps"), ("tensorflow", "horovod"),
    ("pytorch", "standalone"), ("pytorch", "ddp"), ("pytorch", "horovod"),
    ("mxnet", "standalone"), ("mxnet", "horovod"),
    ("paddle", "standalone"), ("paddle", "ps"),
    ("mindspore", "standalone"), ("mindspore", "ps"), ("mindspore", "mpi"),
    ("deepspeed", "deepspeed"),
]

TOPOLOGY: dict[str, dict[str, Any]] = {
    "standalone": {"resource_spec": "cpu-1"},
    "ps": {"servers": 1, "server_spec": "cpu-1", "workers": 2, "worker_spec": "cpu-1"},
    "ddp": {"instances": 2, "resource_spec": "cpu-1"},
    "horovod": {"instances": 2, "resource_spec": "cpu-1"},
    "mpi": {"instances": 2, "resource_spec": "cpu-1"},
    "deepspeed": {"instances": 2, "resource_spec": "cpu-1"},
}

# Roles in rank order, as (role, replicas), for the TOPOLOGY above.
ROLES = {
    ("tensorflow", "ps"): [("chief", 1), ("server", 1), ("worker", 2)],
    ("paddle", "ps"): [("server", 1), ("worker", 2)],
    ("mindspore", "ps"): [("scheduler", 1), ("server", 1), ("worker", 2)],
}


def roles_of(fw: str, mode: str) -> list[tuple[str, int]]:
    if (fw, mode) in ROLES:
        return ROLES[(fw, mode)]
    if mode == "standalone":
        return [("main", 1)]
    return [("worker", 2)]


def ranks(fw: str, mode: str) -> list[tuple[int, str, int]]:
    """[(rank, role, role_rank)]"""
    out, r = [], 0
    for role, n in roles_of(fw, mode):
        for i in range(n):
            out.append((r, role, i))
            r += 1
    return out


def expected(fw: str, mode: str, plan: dict[str, Any], job_dir: str,
             hosts: list[str] | None = None) -> dict[str, dict[str, str]]:
    """`hosts[rank]` is where each rank ran (the node file); all on 127.0.0.1 by default."""
    world = ranks(fw, mode)
    hosts = hosts or [HOST] * len(world)
    order = list(dict.fromkeys(hosts))
    ports = plan["ports"]
    rank_ports = plan.get("rank_ports", 0)
    job_ports = len(ports) - len(world) * rank_ports
    own = {r: f"{hosts[r]}:{ports[job_ports + r * rank_ports]}" for r, _, _ in world} if rank_ports else {}

    def endpoints(role: str) -> list[str]:
        return [own[r] for r, ro, _ in world if ro == role]

    out: dict[str, dict[str, str]] = {}
    for rank, role, idx in world:
        env: dict[str, str] = {"HPCAI_RANK": str(rank), "HPCAI_ROLE": role,
                               "HPCAI_HOSTFILE": f"{job_dir}/hostfile",
                               "HPCAI_NODEFILE": f"{job_dir}/nodefile"}
        local_world = hosts.count(hosts[rank])
        if mode in ("ddp", "deepspeed"):
            env.update({"MASTER_ADDR": hosts[0], "MASTER_PORT": str(ports[0]), "RANK": str(rank),
                        "LOCAL_RANK": str(hosts[:rank].count(hosts[rank])), "WORLD_SIZE": str(len(world)),
                        "LOCAL_WORLD_SIZE": str(local_world), "NODE_RANK": str(order.index(hosts[rank]))})
        if mode == "deepspeed":
            env.update({"DS_HOSTFILE": f"{job_dir}/hostfile", "CROSS_SIZE": str(len(order)),
                        "LOCAL_SIZE": str(local_world)})
        if (fw, mode) == ("tensorflow", "ps"):
            env["TF_CONFIG"] = json.dumps({
                "cluster": {"chief": endpoints("chief"), "worker": endpoints("worker"),
                            "ps": endpoints("server")},
                "task": {"type": {"chief": "chief", "worker": "worker", "server": "ps"}[role], "index": idx}})
        if (fw, mode) == ("paddle", "ps"):
            env.update({"PADDLE_PSERVERS_IP_PORT_LIST": ",".join(endpoints("server")),
                        "PADDLE_TRAINER_ENDPOINTS": ",".join(endpoints("worker")),
                        "PADDLE_TRAINERS_NUM": "2", "POD_IP": hosts[rank],
                        "PADDLE_PORT": own[rank].rsplit(":", 1)[1],
                        "TRAINING_ROLE": "PSERVER" if role == "server" else "TRAINER"})
            if role == "worker":
                env["PADDLE_TRAINER_ID"] = str(idx)
        if (fw, mode) == ("mindspore", "ps"):
            env.update({"MS_ROLE": {"scheduler": "MS_SCHED", "server": "MS_PSERVER", "worker": "MS_WORKER"}[role],
                        "MS_SCHED_HOST": hosts[0], "MS_SCHED_PORT": str(ports[0]),
                        "MS_WORKER_NUM": "2", "MS_SERVER_NUM": "1"})
        if mode == "mpi":
            env.update({"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"})
        out[f"{role}/{idx}"] = env
    return out


def launcher_argv(mode: str, job_dir: str) -> list[str] | None:
    """What the launcher runs for modes whose first instance spawns the rest."""
    if mode == "horovod":
        return ["env", "-u", "LSB_JOBID", "horovodrun", "--gloo", "-np", "2", "-H", f"{HOST}:2",
                "--network-interface", "lo",
                "--start-timeout", "120"]
    if mode == "mpi":
        return ["mpirun", "-np", "2", "--hostfile", f"{job_dir}/hostfile"]
    return None
