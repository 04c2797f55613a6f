"""One rank in a container: what every container runtime shares.

At submit time a runtime plugin's `wrap` turns a rank's argv into
`python <plugin dir> <ContainerSpec as JSON> -- argv...`: the spec holds what the request
fixed (image, mounts, shm, GPU count, the image's environment). On the node, in the rank's
own process (its environment is the rank's: RANK, MASTER_ADDR, TF_CONFIG, SLURM_* ...), the
plugin's job side builds a `RankContext` with `rank_context()` and renders its engine command
from the two (a pure function each plugin golden-tests), then `run_rank()` runs it: the
container gets the same absolute paths for home, job directory, working directory and every
mount row (F10), the host's network, the rank's GPU slice only, the job's uid:gid, and is
removed when the rank ends or is signalled.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: rank environment that describes the host side, never the container's
HOST_ONLY_ENV = {"PATH", "LD_LIBRARY_PATH", "LD_PRELOAD", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV",
                 "HPCAI_IMAGE_BIN", "HOSTNAME", "PWD", "OLDPWD", "SHLVL", "_", "CONTAINERS_CONF",
                 "XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS", "MAIL", "SHELL", "TERM", "LS_COLORS",
                 "CUDA_VISIBLE_DEVICES"}
HOST_ONLY_PREFIXES = ("CONDA_", "BASH_FUNC_")
STOP_TIMEOUT = 30


@dataclass
class ContainerSpec:
    """What the request fixed for every rank of a role (JSON in the wrapped argv)."""

    runtime: str
    image: str  # the engine's reference (podman/docker) or image file / docker:// URI (apptainer)
    mounts: list[dict[str, Any]] = field(default_factory=list)  # source, target, readonly
    env: dict[str, str] = field(default_factory=dict)  # the image's env (catalog)
    shm_mb: int | None = None
    gpus: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "ContainerSpec":
        return cls(**json.loads(text))


@dataclass
class RankContext:
    """What the node knows when the rank starts."""

    name: str  # the container's name, unique per job and rank
    workdir: str
    uid: int
    gid: int
    mounts: list[tuple[str, str, bool]]  # (source, target, readonly), deduplicated
    env: dict[str, str]  # what enters the container (the rank's, the image's, F239's)
    gpu_devices: list[str]  # the rank's slice: indices or UUIDs (MIG-...) from CUDA_VISIBLE_DEVICES
    argv: list[str]


def container_env(environ: dict[str, str]) -> dict[str, str]:
    """The rank's environment minus what only describes the host."""
    return {k: v for k, v in environ.items()
            if k not in HOST_ONLY_ENV and not k.startswith(HOST_ONLY_PREFIXES)}


def product_env(environ: dict[str, str], uid: int, gid: int, job_dir: str) -> dict[str, str]:
    """The product's container variables (F239): in every container, whatever the runtime."""
    user = environ.get("USER") or environ.get("LOGNAME") or str(uid)
    env = {"REMOVE_CONTAINER": "1", "JH_USER_UID": str(uid), "JH_USER_GID": str(gid),
           "JH_SPOOLER": job_dir, "NB_USER": user, "NB_UID": str(uid), "NB_GID": str(gid),
           "TZ": environ.get("TZ") or _host_timezone()}
    return env


def _host_timezone() -> str:
    try:
        return Path("/etc/timezone").read_text().strip() or "UTC"
    except OSError:
        return "UTC"


def container_name(environ: dict[str, str]) -> str:
    job = Path(environ.get("HPCAI_JOB_DIR", "")).name[:12] or str(os.getpid())
    rank = environ.get("HPCAI_RANK")
    # a service has no rank; a pid keeps two restarts of one job apart
    return f"hpcai-{job}-{rank}" if rank is not None else f"hpcai-{job}-svc{os.getpid()}"


def rank_context(spec: ContainerSpec, argv: list[str], environ: dict[str, str], cwd: str,
                 uid: int, gid: int) -> RankContext:
    job_dir = environ.get("HPCAI_JOB_DIR", "")
    mounts: list[tuple[str, str, bool]] = []
    seen: set[str] = set()

    def add(source: str, target: str, readonly: bool = False) -> None:
        if source and target not in seen:
            seen.add(target)
            mounts.append((source, target, readonly))

    for m in spec.mounts:  # the request's rows first: a row may make a standard path read-only
        add(m["source"], m.get("target") or m["source"], bool(m.get("readonly")))
    for path in (environ.get("HOME", ""), job_dir, cwd):
        if path and path != "/":
            add(path, path)
    devices = [d for d in environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()] if spec.gpus else []
    env = {**spec.env, **container_env(environ), **product_env(environ, uid, gid, job_dir)}
    return RankContext(name=container_name(environ), workdir=cwd, uid=uid, gid=gid, mounts=mounts,
                       env=env, gpu_devices=devices, argv=list(argv))


def parse_argv(argv: list[str]) -> tuple[ContainerSpec, list[str]]:
    if len(argv) < 2 or argv[1] != "--":
        raise SystemExit("usage: <runtime> SPEC_JSON -- COMMAND...")
    return ContainerSpec.from_json(argv[0]), argv[2:]


def run_rank(command: list[str], stop: list[str] | None, env: dict[str, str] | None = None) -> int:
    """Run the engine command in the foreground (its output is the rank's log). SIGTERM/SIGINT
    stop the container through `stop` (the engine's rm -f), so nothing outlives the rank."""
    try:
        proc = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL)
    except OSError as exc:
        print(f"hpcai: cannot start {command[0]}: {exc}", file=sys.stderr, flush=True)
        return 127

    def forward(sig: int, _frame: object) -> None:
        if stop:
            try:
                subprocess.run(stop, capture_output=True, timeout=STOP_TIMEOUT, env=env)
            except subprocess.TimeoutExpired:
                pass
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    end = time.time() + 7 * 24 * 3600  # a rank's own time limit is the scheduler's
    while True:
        try:
            return proc.wait(timeout=max(1.0, end - time.time()))
        except subprocess.TimeoutExpired:
            forward(signal.SIGTERM, None)
            return proc.wait(timeout=STOP_TIMEOUT)
