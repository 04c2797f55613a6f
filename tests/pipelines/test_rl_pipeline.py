"""An RL pipeline through the designer's JSON, run for real as one job on the local scheduler:
Gym CartPole-v1 -> PPO (algorithm library) -> Model training (its own Ray cluster on the ports
the engine allocated to the job) -> Model prediction; metrics per iteration in the pipeline's
MLflow run, the checkpoint and the prediction in the instance data. Bad input is refused at Run
naming the node and property: an unknown Gym scenario, an algorithm RLlib removed (with its
replacement), Model training without an algorithm.
"""

from __future__ import annotations

import pytest

from core.errors import HpcaiError
from core.pipelines.engine import RunSettings
from core.platform import Platform
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
