"""Env-contract probe: run as a job's command, it records what this rank sees and checks it.

    python probe.py FRAMEWORK MODE

Writes $HPCAI_JOB_DIR/probe/<rank>.json (environment of interest, hostfile, node file, cwd)
for the test to compare across ranks, and exits 1 naming the broken rule when a rank's own
view is inconsistent (so the job fails and the launcher names the rank).
Only the standard library: it runs in every framework image.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

PREFIXES = ("HPCAI_", "MASTER_", "TF_", "PADDLE_", "TRAINING_ROLE", "POD_IP", "MS_", "HOROVOD_",
            "OMPI_COMM_WORLD_", "CUDA_VISIBLE_DEVICES", "NCCL_", "DS_", "RANK", "LOCAL_", "WORLD_SIZE",
            "NODE_RANK", "CROSS_", "ROLE_", "GROUP_RANK", "PROBE_", "VIRTUAL_ENV", "SLURMD_NODENAME")


def fail(msg: str) -> None:
    print(f"probe: CONTRACT BROKEN: {msg}", flush=True)
    sys.exit(1)


def rank_id(env: dict[str, str]) -> str:
    # horovodrun and mpirun start the ranks themselves: their own rank variables win.
    for key in ("HOROVOD_RANK", "OMPI_COMM_WORLD_RANK"):
        if key in env:
            return env[key]
    return env.get("HPCAI_RANK", "x")


def check(fw: str, mode: str, env: dict[str, str]) -> None:
    role = env.get("HPCAI_ROLE")
    if mode in ("ddp", "deepspeed"):
        for k in ("MASTER_ADDR", "MASTER_PORT", "RANK", "LOCAL_RANK", "WORLD_SIZE"):
            if k not in env:
                fail(f"{k} missing")
        if env["RANK"] != env["HPCAI_RANK"]:
            fail(f"RANK {env['RANK']} != launcher rank {env['HPCAI_RANK']}")
    if fw == "tensorflow" and mode == "ps":
        cfg = json.loads(env["TF_CONFIG"])
        task = cfg["task"]
        want = {"chief": "chief", "worker": "worker", "server": "ps"}[role]
        if task["type"] != want:
            fail(f"task type {task['type']} for role {role}")
        me = cfg["cluster"][task["type"]][task["index"]]
        if me.rsplit(":", 1)[1] not in env["HPCAI_PORTS"].split(","):
            fail(f"own endpoint {me} is not on one of the job's ports {env['HPCAI_PORTS']}")
    if fw == "paddle" and mode == "ps":
        if env["TRAINING_ROLE"] not in ("PSERVER", "TRAINER"):
            fail(f"TRAINING_ROLE {env['TRAINING_ROLE']}")
        if env["TRAINING_ROLE"] == "PSERVER":
            mine = f"{env['POD_IP']}:{env['PADDLE_PORT']}"
            if mine not in env["PADDLE_PSERVERS_IP_PORT_LIST"].split(","):
                fail(f"server endpoint {mine} not in PADDLE_PSERVERS_IP_PORT_LIST")
    if fw == "mindspore" and mode == "ps":
        for k in ("MS_ROLE", "MS_SCHED_HOST", "MS_SCHED_PORT", "MS_WORKER_NUM", "MS_SERVER_NUM"):
            if k not in env:
                fail(f"{k} missing")
    if mode in ("horovod", "mpi", "deepspeed"):
        hostfile = Path(env["HPCAI_HOSTFILE"])
        if not hostfile.exists():
            fail(f"hostfile {hostfile} missing")


def main() -> int:
    fw, mode = sys.argv[1], sys.argv[2]
    env = dict(os.environ)
    check(fw, mode, env)
    job_dir = Path(env["HPCAI_JOB_DIR"])
    out = job_dir / "probe"
    out.mkdir(exist_ok=True)
    record = {
        "env": {k: v for k, v in env.items() if k.startswith(PREFIXES)},
        "hostfile": Path(env["HPCAI_HOSTFILE"]).read_text() if Path(env["HPCAI_HOSTFILE"]).exists() else None,
        "nodefile": Path(env["HPCAI_NODEFILE"]).read_text() if Path(env["HPCAI_NODEFILE"]).exists() else None,
        "cwd": os.getcwd(),
        "python": sys.executable,
        "argv": sys.argv[1:],
        "files": sorted(os.listdir(".")),
        "mount_listing": sorted(os.listdir(env["PROBE_MOUNT"])) if env.get("PROBE_MOUNT") else None,
    }
    (out / f"{rank_id(env)}.json").write_text(json.dumps(record, indent=1, sort_keys=True))
    print(f"probe: rank {rank_id(env)} ({env.get('HPCAI_ROLE')}) ok", flush=True)
    wait_for_every_rank(job_dir, out)
    return 0


def wait_for_every_rank(job_dir: Path, out: Path, limit_s: float = 90.0) -> None:
    """Stay up until every rank the launcher starts has written its record: once all workers
    succeed the launcher stops the PS servers, and a server that started late (another node, a
    loaded machine) would be stopped before it ever looked. Real PS training waits for its
    servers the same way; a rank still missing after the limit shows up in the test."""
    try:
        roles = json.loads((job_dir / "plan.json").read_text()).get("roles") or []
    except (OSError, ValueError):
        return
    expected = sum(int(r.get("replicas", 1)) for r in roles if r.get("start", "each") == "each")
    deadline = time.monotonic() + limit_s
    while len(list(out.glob("*.json"))) < expected and time.monotonic() < deadline:
        time.sleep(0.2)


if __name__ == "__main__":
    sys.exit(main())
