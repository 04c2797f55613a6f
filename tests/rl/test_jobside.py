"""The job side of RL training, end to end through its CLI in a subprocess, on ports the test allocates.

PPO on CartPole-v1 with 2 env runners must reach a mean episode return of >= 100 (it does in about
5 iterations of 2000 steps, ~30 s on 2 cores; the 60000-step budget is the ceiling), save a
checkpoint that predict replays; a custom class from a temp directory trains; a bad spec exits 2.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import ValidationError
from core.rl.jobside.cluster import parse_ports
from core.rl.jobside.train import refuse_unsupported, stop_reached
from core.rl.trainspec import ports_needed, validate

REPO = Path(__file__).resolve().parents[2]
THRESHOLD = 100

PPO_SPEC = {
    "algorithm": "PPO",
    "env": {"kind": "gym", "id": "CartPole-v1"},
    "env_runners": 2,
    # the manual's lr 5e-5 and 30 epochs learn too slowly for a CI budget
    "params": {"lr": 0.0003, "train_batch_size": 2000, "num_sgd_iter": 6, "lambda_": 0.95, "clip_param": 0.2},
    "stop": {"mean_reward": THRESHOLD, "total_steps": 60000},
}

CUSTOM_ENV = '''
import gymnasium as gym
import numpy as np


class Corridor(gym.Env):
    """Walk right to the end of a corridor; the length comes from env_config."""

    def __init__(self, config=None):
        self.length = int((config or {}).get("length", 5))
        self.observation_space = gym.spaces.Box(0.0, float(self.length), (1,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.pos = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos = 0
        return np.array([self.pos], np.float32), {}

    def step(self, action):
        self.pos = max(0, self.pos + (1 if action == 1 else -1))
        done = self.pos >= self.length
        return np.array([self.pos], np.float32), 1.0 if done else -0.1, done, False, {}
'''


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def cli(*args: str, ports: list[int] | None = None, timeout: int = 300,
        home: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("MLFLOW_TRACKING_URI", None)
    if home is not None:
        env["HOME"] = str(home)
    if ports is not None:
        env["HPCAI_PORTS"] = ",".join(map(str, ports))
    return subprocess.run([sys.executable, "-m", "core.rl.jobside", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def write_spec(tmp: Path, spec: dict) -> str:
    path = tmp / "spec.json"
    path.write_text(json.dumps(spec))
    return str(path)


def test_ports_and_stop_rules() -> None:
    assert parse_ports("1,2, 3") == [1, 2, 3] and parse_ports("4 5") == [4, 5] and parse_ports(None) == []
    assert stop_reached({"mean_reward": 100, "total_steps": 10}, {"mean_reward": 20.0, "env_steps": 10.0})
    assert stop_reached({"mean_reward": 100}, {"mean_reward": None, "env_steps": 10.0}) is None


def test_unsupported_refused_by_field() -> None:
    spec = validate({**PPO_SPEC, "custom_model": {"script": "x = 1"}})
    with pytest.raises(ValidationError) as info:
        refuse_unsupported(spec)
    assert info.value.field == "custom_model"
    with pytest.raises(ValidationError) as info:
        refuse_unsupported(validate({**PPO_SPEC, "record_offline": True}))
    assert info.value.field == "record_offline"


def test_multi_node_start_pins_each_nodes_ports(tmp_path: Path) -> None:
    """Without Slurm: a 2-node allocation starts the head with block 0 and srun's a worker with block 1."""
    from unittest import mock

    from core.rl.jobside import cluster

    spec = {"env_runners": 1}
    ports = list(range(30000, 30000 + ports_needed(spec, 2)))
    runs: list[list[str]] = []
    popens: list[list[str]] = []
    done = subprocess.CompletedProcess([], 0, "", "")
    with mock.patch.object(cluster, "job_nodes", return_value=["n1", "n2"]), \
            mock.patch.object(cluster.subprocess, "run", side_effect=lambda a, **k: runs.append(a) or done), \
            mock.patch.object(cluster.subprocess, "Popen", side_effect=lambda a, **k: popens.append(a) or mock.Mock()):
        c = cluster.start(spec, ports, 2)
    c.temp_dir.rmdir()
    layout = c.layout
    head = runs[0]
    assert f"--port={ports[0]}" in head and f"--node-manager-port={layout['nodes'][0]['node_manager']}" in head
    assert "--num-cpus=2" in head and f"--temp-dir={c.temp_dir}" in head
    srun = popens[0]
    assert srun[:7] == ["srun", "--nodes=1", "--ntasks=1", "-w", "n2", "--overlap", "bash"]
    assert f"--address={c.address}" in srun[-1] and f"--node-manager-port={layout['nodes'][1]['node_manager']}" in srun[-1]
    assert "--worker-port-list=" + ",".join(map(str, layout["nodes"][1]["workers"])) in srun[-1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("ppo")
    ports = free_ports(ports_needed(PPO_SPEC))
    (tmp / "ports.json").write_text(json.dumps(ports))
    # the token a plain local ray.init() of Ray 2.60 leaves in ~/.ray: the job's own token must win
    # (before the fix, the head took this file's token and the driver failed with InvalidAuthToken)
    home = tmp / "home"
    (home / ".ray").mkdir(parents=True)
    (home / ".ray" / "auth_token").write_text("0" * 64)
    proc = cli("train", write_spec(tmp, PPO_SPEC), str(tmp / "out"), ports=ports, home=home)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return tmp


@pytest.mark.slow
def test_ppo_cartpole_reaches_threshold(trained: Path) -> None:
    out = trained / "out"
    result = json.loads((out / "result.json").read_text())
    assert result["algorithm"] == "PPO" and result["env"] == "CartPole-v1"
    assert result["mean_reward"] >= THRESHOLD, result
    assert result["env_steps"] <= 60000
    assert (out / "checkpoint" / "rllib_checkpoint.json").is_file()
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == result["iterations"] and rows[-1]["mean_reward"] == result["mean_reward"]
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    ports = json.loads((trained / "ports.json").read_text())
    assert result["ray"]["address"].endswith(f":{ports[0]}")  # the GCS on the job's first port, not 6379
    temp_dir = Path(result["ray"]["temp_dir"])
    assert len(str(temp_dir)) < 40 and not temp_dir.exists()  # short (unix sockets), and removed at the end
    import psutil

    assert not [p for p in psutil.process_iter(["cmdline"]) if str(temp_dir) in " ".join(p.info["cmdline"] or [])]


@pytest.mark.slow
def test_predict_from_checkpoint(trained: Path) -> None:
    spec = trained / "spec.json"
    proc = cli("predict", str(trained / "out" / "checkpoint"), str(spec), str(trained / "pred"), "3")
    assert proc.returncode == 0, proc.stderr[-4000:]
    pred = json.loads((trained / "pred" / "predictions.json").read_text())
    assert pred["episodes"] == 3 and len(pred["returns"]) == 3
    assert pred["mean_return"] >= THRESHOLD / 2  # greedy replay of a policy that averaged >= 100 sampling


@pytest.mark.slow
def test_custom_env_trains(tmp_path: Path) -> None:
    envdir = tmp_path / "template"
    envdir.mkdir()
    (envdir / "corridor.py").write_text(CUSTOM_ENV)
    spec = {
        "algorithm": "PPO",
        "env": {"kind": "custom", "dir": str(envdir), "file": "corridor.py", "class": "Corridor",
                "config": {"length": 4}},
        "env_runners": 1,
        "params": {"train_batch_size": 200, "num_sgd_iter": 2},
        "stop": {"total_steps": 600},
    }
    proc = cli("train", write_spec(tmp_path, spec), str(tmp_path / "out"), ports=free_ports(ports_needed(spec)))
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["env"] == "Corridor" and result["iterations"] >= 2 and result["env_steps"] >= 600


def test_bad_spec_exits_2_naming_the_field(tmp_path: Path) -> None:
    spec = {**PPO_SPEC, "params": {"lr": "fast"}, "stop": {"total_steps": 0}}
    proc = cli("train", write_spec(tmp_path, spec), str(tmp_path / "out"), ports=[])
    assert proc.returncode == 2
    assert "params.lr" in proc.stderr and "stop.total_steps" in proc.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_sigterm_stops_the_cluster(tmp_path: Path) -> None:
    """A cancelled job (scancel, time limit: SIGTERM) leaves no Ray process of its cluster behind."""
    import time

    import psutil

    spec = {**PPO_SPEC, "env_runners": 1, "params": {"train_batch_size": 200, "num_sgd_iter": 1},
            "stop": {"total_steps": 10**9}}
    env = {**os.environ, "PYTHONPATH": str(REPO), "HPCAI_PORTS": ",".join(map(str, free_ports(ports_needed(spec))))}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.Popen([sys.executable, "-m", "core.rl.jobside", "train", write_spec(tmp_path, spec),
                             str(tmp_path / "out")], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    metrics = tmp_path / "out" / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while not (metrics.exists() and metrics.read_text()) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.5)
    assert proc.poll() is None, proc.stderr.read()[-4000:] if proc.stderr else ""
    mine = [p for p in psutil.Process(proc.pid).children(recursive=True)]
    temp_dirs = {a.split("=", 1)[1].split("/session")[0] for p in psutil.process_iter(["cmdline"])
                 for a in (p.info["cmdline"] or []) if "hpcai-ray-" in a and a.startswith("--temp-dir=")}
    proc.terminate()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err[-4000:]
    time.sleep(1)
    assert not [p for p in mine if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not [p for p in psutil.process_iter(["cmdline"])
                if any(d in " ".join(p.info["cmdline"] or []) for d in temp_dirs if str(proc.pid) in d)]


ATTACK = '''
import os, subprocess, sys
from core.rl.jobside import cluster
ports = [int(p) for p in sys.argv[1].split(",")]
c = cluster.start({"env_runners": 1}, ports, 1)
probe = ("import ray, sys\\nray.init(address=sys.argv[1], log_to_driver=False)\\nprint('JOINED')")
try:
    for with_token in (False, True):
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
        env["HOME"] = "/tmp"
        if with_token:  # the control: the same probe with the job's token gets past the GCS's check
            env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=os.environ["RAY_AUTH_TOKEN"])
        r = subprocess.run(["runuser", "-u", "nobody", "--", sys.executable, "-c", probe, c.address], env=env,
                           capture_output=True, text=True, timeout=120, cwd="/tmp")
        print(f"with_token={with_token} rc={r.returncode} invalid_token={'InvalidAuthToken' in r.stderr}", flush=True)
finally:
    cluster.stop(c)
'''


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as a second Unix user (runuser)")
def test_another_unix_user_cannot_join_the_jobs_ray_cluster() -> None:
    """The job's GCS refuses a driver of another Unix user (nobody) that lacks the job's token."""
    proc = subprocess.run([sys.executable, "-c", ATTACK, ",".join(map(str, free_ports(ports_needed({"env_runners": 1}))))],
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert "with_token=False rc=1 invalid_token=True" in lines, proc.stdout
    assert any(x.startswith("with_token=True") and "invalid_token=False" in x for x in lines), proc.stdout
