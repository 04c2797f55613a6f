"""This job's own Ray cluster, every port pinned from $HPCAI_PORTS.

Ray's defaults (6379, 8265, 10001, 44217 ...) are fixed numbers: two RL jobs on one node would
collide on them, and the scheduler only promises the job the ports it allocated. So every
listening port is passed explicitly, the temp dir (sockets, logs) is per job, and stopping kills
only the processes of this temp dir (`ray stop` would kill every Ray of the user on the node).
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.rl.trainspec import port_layout

REPO_ROOT = Path(__file__).resolve().parents[3]
START_TIMEOUT_S = 120


def parse_ports(value: str | None) -> list[int]:
    """$HPCAI_PORTS as hooks/jairun writes it ("p1,p2,..."); spaces are accepted too."""
    if not value:
        return []
    return [int(p) for p in value.replace(",", " ").split()]


def job_cpus() -> int:
    """CPUs the scheduler gave this job on this node (not the node's count: Ray would oversubscribe)."""
    for var in ("SLURM_CPUS_ON_NODE", "NSLOTS"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return len(os.sched_getaffinity(0))


def job_nodes() -> list[str]:
    """The allocation's host names, this one first; one entry outside a multi-node Slurm job."""
    if int(os.environ.get("SLURM_JOB_NUM_NODES", "1") or 1) <= 1 or not shutil.which("scontrol"):
        return [socket.gethostname()]
    out = subprocess.run(
        ["scontrol", "show", "hostnames", os.environ.get("SLURM_JOB_NODELIST", "")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    here = socket.gethostname().split(".")[0]
    return sorted(out, key=lambda n: n.split(".")[0] != here)


def ray_bin() -> str:
    # the venv's ray next to this interpreter, not whatever is first on PATH
    local = Path(sys.executable).with_name("ray")
    return str(local) if local.exists() else "ray"


def node_args(block: dict[str, Any]) -> list[str]:
    return [
        f"--node-manager-port={block['node_manager']}",
        f"--object-manager-port={block['object_manager']}",
        f"--dashboard-agent-listen-port={block['agent_listen']}",
        f"--dashboard-agent-grpc-port={block['agent_grpc']}",
        f"--runtime-env-agent-port={block['runtime_env_agent']}",
        f"--metrics-export-port={block['metrics_export']}",
        "--worker-port-list=" + ",".join(str(p) for p in block["workers"]),
    ]


def use_job_token() -> None:
    """Ray's token authentication with a token of this job's own, for every process of the job
    (the head, srun's workers and the driver inherit it from the environment): another user on
    the node cannot run code through the job's GCS or raylets, and a ~/.ray/auth_token that a
    plain local `ray.init()` of Ray 2.60 leaves behind no longer puts the head in token mode with
    a token the driver does not use (the driver then fails with InvalidAuthToken)."""
    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)  # Ray's own generator: 256 random bits
    try:  # the driver's cached RayConfig must see token mode too (Ray does the same when it enables it)
        from ray._raylet import Config
    except ImportError:
        return
    Config.initialize("")


def ray_env(head: dict[str, Any]) -> dict[str, str]:
    env = dict(os.environ)
    # workers (env runners) unpickle functions of core.rl.jobside: they need the repo on their path
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env["AUTOSCALER_METRIC_PORT"] = str(head["autoscaler_metrics"])  # no flag for it; default 44217 is fixed
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    return env


@dataclass
class RayCluster:
    address: str
    temp_dir: Path
    layout: dict[str, Any]
    workers: list[subprocess.Popen] = field(default_factory=list)  # srun ... ray start --block, per extra node


def _node_ip(multi: bool) -> str:
    # alone on one node, loopback keeps Ray off the network; several nodes need a routable address
    if not multi:
        return "127.0.0.1"
    # Ray's own probe (the interface of the default route); gethostbyname often gives /etc/hosts' 127.0.1.1
    from ray._private.services import get_node_ip_address

    return get_node_ip_address()


def start(spec: dict[str, Any], ports: list[int], cpus: int | None = None) -> RayCluster:
    nodes = job_nodes()
    layout = port_layout(ports, spec, len(nodes))
    head = layout["head"]
    ip = _node_ip(len(nodes) > 1)
    # short and unique: Ray's unix sockets live under it (107-char limit), and two jobs must not share it
    temp_dir = Path(tempfile.mkdtemp(prefix=f"hpcai-ray-{os.environ.get('SLURM_JOB_ID', os.getpid())}-", dir="/tmp"))
    use_job_token()
    env = ray_env(head)
    cmd = [
        ray_bin(),
        "start",
        "--head",
        f"--node-ip-address={ip}",
        f"--port={head['gcs']}",
        f"--ray-client-server-port={head['client_server']}",
        "--include-dashboard=false",
        "--disable-usage-stats",
        f"--num-cpus={cpus or job_cpus()}",
        f"--temp-dir={temp_dir}",
        *node_args(layout["nodes"][0]),
    ]
    cluster = RayCluster(address=f"{ip}:{head['gcs']}", temp_dir=temp_dir, layout=layout)
    for attempt in range(2):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=START_TIMEOUT_S)
        if proc.returncode == 0:
            break
        stop(cluster)
        # Ray waits a fixed 30 s for its raylet to register with the GCS: on a loaded node that
        # can run out while both are healthy. Once more, with the job's same ports, then give up.
        if attempt == 0 and "node registration may not be complete" in proc.stderr + proc.stdout:
            temp_dir.mkdir()  # stop() removed it
            continue
        raise RuntimeError(f"ray start --head failed ({proc.returncode}): {proc.stderr[-2000:] or proc.stdout[-2000:]}")
    for node, block in zip(nodes[1:], layout["nodes"][1:]):
        # --overlap: the job's own step already holds the node's CPUs
        worker = [ray_bin(), "start", f"--address={cluster.address}", "--block", "--disable-usage-stats"]
        worker += [f"--temp-dir={temp_dir}", *node_args(block)]
        # that node's CPU count is known only there (SLURM_CPUS_ON_NODE of the step), hence the shell
        script = shlex.join(worker) + ' --num-cpus="${SLURM_CPUS_ON_NODE:-1}"'
        srun = ["srun", "--nodes=1", "--ntasks=1", "-w", node, "--overlap", "bash", "-c", script]
        cluster.workers.append(subprocess.Popen(srun, env=env))
    return cluster


def _own_processes(temp_dir: Path) -> list[Any]:
    import psutil

    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if any(str(temp_dir) in a for a in p.info["cmdline"] or []):
                found.append(p)
                found.extend(p.children(recursive=True))
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def stop(cluster: RayCluster) -> None:
    """Kill what this cluster started (its temp dir is on every process's command line), nothing else."""
    import psutil

    for w in cluster.workers:
        w.terminate()
    procs = _own_processes(cluster.temp_dir)
    for p in procs:
        try:
            p.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=5)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    for w in cluster.workers:
        try:
            w.wait(timeout=5)
        except subprocess.TimeoutExpired:
            w.kill()
    shutil.rmtree(cluster.temp_dir, ignore_errors=True)


class Terminated(BaseException):
    """SIGTERM (scancel, the time limit) as an exception, so that the cluster is stopped on the way out."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated()


@contextmanager
def ray_cluster(spec: dict[str, Any], ports: list[int], cpus: int | None = None) -> Iterator[RayCluster]:
    """Start the cluster, connect this process to it, and always take it down again."""
    import ray

    cluster = start(spec, ports, cpus)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:  # extra nodes join asynchronously; training may start before they do
            try:
                ray.init(address=cluster.address, log_to_driver=False)
                break
            except ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        # after ray.init: it installs its own SIGTERM handler, which aborts without running our finally
        signal.signal(signal.SIGTERM, _terminate)
        yield cluster
    finally:
        try:
            ray.shutdown()
        finally:
            stop(cluster)
