"""An RL pipeline through the designer's JSON, run for real as one job on the local scheduler:
Gym CartPole-v1 -> PPO (algorithm library) -> Model training (its own Ray cluster on the ports
the engine allocated to the job) -> Model prediction; metrics per iteration in the pipeline's
MLflow run, the checkpoint and the prediction in the instance data. Bad input is refused at Run
naming the node and property: an unknown Gym scenario, an algorithm RLlib removed (with its
replacement), Model training without an algorithm.
"""

from __future__ import annotations

import pytest

import io
import zipfile

from core.errors import HpcaiError
from core.pipelines.engine import RunSettings
from core.platform import Platform
from core.rl.simenvs.service import Upload
from tests.fixtures_services import scratch_dir
from tests.pipelines.test_runs import USER, make_site, wait
from tests.tracking import rest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def rl_doc(scenario: str = "CartPole-v1", algorithm: str = "rl_ppo") -> dict:
    return {"format": 1, "name": "rl-designer-test", "type": "reinforcement learning", "nodes": [
        {"id": "gym", "component": "rl_gym", "properties": {"scenario": scenario}},
        {"id": "algo", "component": algorithm,
         "properties": {"lr": 0.0003, "train_batch_size": 500, "num_sgd_iter": 3} if algorithm == "rl_ppo" else {}},
        {"id": "train", "component": "rl_model_training",
         "properties": {"stop_total_steps": 1500, "stop_mean_reward": 400, "stop_episodes": 100000,
                        "parallel_count": 1}},
        {"id": "predict", "component": "rl_model_prediction", "properties": {"stop_iters": 3}}],
        "edges": [{"from": {"node": a, "port": pa}, "to": {"node": b, "port": pb}} for a, pa, b, pb in (
            ("gym", "env", "train", "env"), ("algo", "algorithm", "train", "algorithm"),
            ("train", "policy", "predict", "policy"))]}


@pytest.fixture(scope="module")
def site(mlflow_server: str) -> Platform:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HPCAI_MLFLOW_URI", mlflow_server)
        yield make_site(mp, "pipelines-rl")


def test_ppo_cartpole_pipeline_trains_and_predicts(site: Platform, mlflow_server: str) -> None:
    row = site.pipelines.run(USER, rl_doc(), RunSettings("cpu-1"))
    info = wait(site, row.id, timeout=500)
    assert info["state"] == "succeeded", info["log"]
    assert {n["state"] for n in info["nodes"].values()} == {"succeeded"}
    assert info["metrics"]["env_steps"] >= 1500 and info["metrics"]["iterations"] >= 3
    files = {f["path"] for f in info["files"]}
    assert any(f.startswith("nodes/train/checkpoint/") for f in files)
    assert "nodes/predict/predictions.json" in files and "nodes/train/metrics.jsonl" in files
    exp = rest.experiment_by_name(mlflow_server, "rl-designer-test")
    (run,) = rest.search_runs(mlflow_server, [exp["experiment_id"]], "tags.designer = 'true'")
    steps = [s for s, _ in rest.history(mlflow_server, run["info"]["run_id"], "mean_reward")]
    assert sorted(set(steps)) == list(range(1, int(info["metrics"]["iterations"]) + 1))  # every iteration, in the
    # pipeline's own MLflow run
    # F149/F150: the trained policy is in the model registry, purpose Reinforcement learning
    model = site.models.get(USER, "rl-designer-test-train")
    assert model.purpose == "reinforcement-learning"
    (version,) = site.models.versions(USER, model.name)
    assert version.model_dir.endswith("/nodes/train/checkpoint") and "PPO on CartPole-v1" in version.description
    site.jobs.refresh()  # the watcher seeing the end again registers nothing twice
    assert len(site.models.versions(USER, model.name)) == 1


def test_bad_rl_pipelines_are_refused_naming_node_and_property(site: Platform) -> None:
    for doc, words in ((rl_doc(scenario="CartPol-v1"), ("gym", "scenario")),
                       (rl_doc(algorithm="rl_td3"), ("algo", "SAC")),
                       ({**rl_doc(), "edges": rl_doc()["edges"][::2]}, ("train", "algorithm"))):
        with pytest.raises(HpcaiError) as caught:
            site.pipelines.run(USER, doc, RunSettings("cpu-1"))
        text = str(caught.value)
        assert all(w in text for w in words), text


SIMULATOR = b"#!/bin/sh\nexec python3 -m http.server --bind 127.0.0.1 \"${HPCAI_SIM_PORTS%%,*}\"\n"

HTTP_ENV = '''
import urllib.request

import gymnasium as gym
import numpy as np


class HttpSim(gym.Env):
    """Asks the run's simulator (an HTTP server on the first allocated port) at every reset."""

    def __init__(self, config=None):
        self.port = int((config or {})["sim_ports"][0])
        self.observation_space = gym.spaces.Box(0.0, 10.0, (1,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=10).read()
        self.t = 0
        return np.array([0.0], np.float32), {}

    def step(self, action):
        self.t += 1
        return np.array([float(self.t)], np.float32), float(action), self.t >= 10, False, {}
'''


def test_green_package_simulator_is_started_on_its_port_and_driven_by_a_custom_env(site: Platform) -> None:
    pkg = io.BytesIO()
    with zipfile.ZipFile(pkg, "w") as zf:
        zf.writestr("run.sh", SIMULATOR)
    site.rl_envs.create(USER, {"name": "httpsim", "start_file": "run.sh", "ports": 1},
                        Upload("httpsim.zip", io.BytesIO(pkg.getvalue())))
    template = scratch_dir("rl-http-env")
    (template / "httpsim.py").write_text(HTTP_ENV)
    doc = {"format": 1, "name": "rl-simulator-test", "nodes": [
        {"id": "sim", "component": "rl_simulation_env", "properties": {"simulation_environment": "httpsim"}},
        {"id": "env", "component": "rl_custom_template",
         "properties": {"template_dir": str(template), "env_file": "httpsim.py", "env_class": "HttpSim"}},
        {"id": "algo", "component": "rl_ppo", "properties": {"train_batch_size": 200, "num_sgd_iter": 1}},
        {"id": "train", "component": "rl_model_training",
         "properties": {"stop_total_steps": 200, "stop_mean_reward": 1000, "stop_episodes": 100000}}],
        "edges": [{"from": {"node": a, "port": pa}, "to": {"node": b, "port": pb}} for a, pa, b, pb in (
            ("sim", "simulator", "train", "simulator"), ("env", "env", "train", "env"),
            ("algo", "algorithm", "train", "algorithm"))]}
    info = wait(site, site.pipelines.run(USER, doc, RunSettings("cpu-1")).id, timeout=500)
    assert info["state"] == "succeeded", info["log"]
    assert "simulator httpsim: started (run.sh" in info["log"] and "simulator: stopped" in info["log"]
    from pathlib import Path

    sim_log = (Path(info["run_dir"]) / "nodes" / "train" / "simulator.log").read_text()
    assert sim_log.count('"GET / HTTP/1.1" 200') >= 20  # one per episode: 200 steps of 10-step episodes
    # a simulator the user has not registered is refused at Run, naming the property
    doc["nodes"][0]["properties"]["simulation_environment"] = "nosuchsim"
    with pytest.raises(HpcaiError) as caught:
        site.pipelines.run(USER, doc, RunSettings("cpu-1"))
    assert caught.value.field == "simulation_environment"
