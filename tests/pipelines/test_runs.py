"""Pipelines run for real: scheduler jobs (local, then the repo's Slurm cluster) through the
platform's job path, metrics in the session's MLflow server.

- the numeric pipeline's accuracy equals the same steps written directly in scikit-learn on
  the same split;
- a Keras pipeline (layers -> Model training with a custom loss function) trains and logs its
  metrics per epoch, the run tagged `designer`;
- the same JSON runs on Slurm.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.pipelines.engine import RunSettings
from core.platform import Platform
from tests.fixtures_services import scratch_dir
from tests.tracking import rest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# A portal account: its runs are jobs of the harness-made Unix user hpc-designer (core/identity.py).
USER = "designer"

ROOT = Path(__file__).resolve().parents[2]
SITE = """
[core]
default_scheduler = "{scheduler}"
data_dir = "{data}"
port_range = [42000, 42999]
[schedulers.local]
cpus = 4
poll_interval = 0.2
{extra}
"""

LOSS = '''import keras


def scaled_crossentropy(y_true, y_pred, scale=1.0):
    return scale * keras.losses.sparse_categorical_crossentropy(y_true, y_pred)
'''


def make_site(mp: pytest.MonkeyPatch, name: str, scheduler: str = "local", extra: str = "") -> Platform:
    root = scratch_dir(name)
    (root / "hpcai.toml").write_text(SITE.format(scheduler=scheduler, data=root / "data", extra=extra))
    mp.setenv("HPCAI_CONFIG", str(root / "hpcai.toml"))
    mp.setenv("HPCAI_DATA_DIR", str(root / "data"))
    for k in ("HPCAI_DB_URL", "HPCAI_SPOOL"):
        mp.delenv(k, raising=False)
    return Platform()


def make_data(path: Path) -> Path:
    """A noisy three-class problem (accuracy well below 1, so equality means something)."""
    import numpy as np
    import pandas as pd
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=400, n_features=6, n_informative=3, n_redundant=1, n_classes=3,
                               flip_y=0.15, random_state=3)
    frame = pd.DataFrame(X * np.array([1, 10, 100, 0.1, 1, 5]), columns=[f"f{i}" for i in range(6)])
    frame["label"] = np.array(["a", "b", "c"])[y]
    frame.to_csv(path, index=False)
    return path


def numeric_doc(csv: Path) -> dict:
    return {"format": 1, "name": "numeric-designer-test", "type": "classification", "nodes": [
        {"id": "csv", "component": "csv_import", "properties": {"file": str(csv)}},
        {"id": "select", "component": "select_features",
         "properties": {"features": ["f0", "f1", "f2", "f3", "f4"], "labels": ["label"]}},
        {"id": "split", "component": "data_split", "properties": {"ratio": "7:0:3", "seed": 42}},
        {"id": "scale", "component": "standardise", "properties": {"method": "StandardScaler"}},
        {"id": "clf", "component": "LogisticRegression", "properties": {"C": 0.3, "model_name": "lr"}},
        {"id": "eval", "component": "model_evaluation", "properties": {}}],
        "edges": [{"from": {"node": a, "port": pa}, "to": {"node": b, "port": pb}} for a, pa, b, pb in (
            ("csv", "data", "select", "data"), ("select", "data", "split", "data"),
            ("split", "data", "scale", "data"), ("scale", "data", "clf", "data"), ("clf", "model", "eval", "model"))]}


def keras_doc(csv: Path) -> dict:
    doc = json.loads((ROOT / "examples" / "pipelines" / "iris_keras.json").read_text())
    doc["name"] = "keras-designer-test"
    nodes = {n["id"]: n for n in doc["nodes"]}
    nodes["csv"]["properties"]["file"] = str(csv)
    nodes["select"]["properties"] = {"features": "[0-5]", "labels": "[6]"}
    nodes["dense1"]["properties"]["input_shape"] = "(6,)"
    nodes["train"]["properties"].update(epochs=4, custom_loss="scaled_crossentropy")
    return doc


def hand_written_accuracy(csv: Path) -> float:
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    frame = pd.read_csv(csv)
    X, y = frame[["f0", "f1", "f2", "f3", "f4"]], frame["label"]
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=42)
    scaler = StandardScaler().fit(X_train)
    clf = LogisticRegression(C=0.3).fit(scaler.transform(X_train), y_train)
    return float(accuracy_score(y_test, clf.predict(scaler.transform(X_test))))


def wait(p: Platform, run_id: int, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        p.jobs.refresh()
        info = p.pipelines.details(USER, run_id)
        if info["state"] in ("succeeded", "failed", "cancelled"):
            return info
        if time.monotonic() > deadline:
            pytest.fail(f"instance {run_id} still {info['state']} after {timeout} s:\n{info['log']}")
        time.sleep(1)


@pytest.fixture(scope="module")
def local(mlflow_server: str) -> Iterator[Platform]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HPCAI_MLFLOW_URI", mlflow_server)
        yield make_site(mp, "pipelines-local")


@pytest.fixture(scope="module")
def runs(local: Platform) -> dict[str, dict]:
    """Both pipelines submitted at once, then waited for."""
    csv = make_data(scratch_dir("pipelines-data") / "three.csv")
    for old in local.pipelines.functions(USER, "loss"):  # a retried fixture: start clean
        if old.name == "scaled_crossentropy":
            local.pipelines.delete_function(USER, old.id)
    local.pipelines.create_function(USER, "loss", "scaled_crossentropy", LOSS, "x scale", has_params=True)
    rows = {"numeric": local.pipelines.run(USER, numeric_doc(csv), RunSettings("cpu-1")),
            "keras": local.pipelines.run(USER, keras_doc(csv), RunSettings("cpu-1"))}
    out = {k: wait(local, r.id) for k, r in rows.items()}
    out["csv"] = {"path": str(csv)}
    return out


def test_numeric_pipeline_equals_hand_written_sklearn(runs: dict[str, dict]) -> None:
    info = runs["numeric"]
    assert info["state"] == "succeeded", info["log"]
    expected = hand_written_accuracy(Path(runs["csv"]["path"]))
    assert 0.5 < expected < 0.95  # a real, noisy problem
    assert info["metrics"]["accuracy"] == pytest.approx(expected, abs=1e-12)
    assert info["evaluations"]["eval"]["n"] == 120
    assert {n["state"] for n in info["nodes"].values()} == {"succeeded"}
    assert any(f["path"] == "nodes/clf/lr.joblib" for f in info["files"])  # instance data: every file


def test_keras_pipeline_logs_every_epoch_to_mlflow_tagged_designer(runs: dict[str, dict], mlflow_server: str) -> None:
    info = runs["keras"]
    assert info["state"] == "succeeded", info["log"]
    assert "epoch 4:" in info["log"]
    exp = rest.experiment_by_name(mlflow_server, "keras-designer-test")
    (run,) = rest.search_runs(mlflow_server, [exp["experiment_id"]], "tags.designer = 'true'")
    run_id = run["info"]["run_id"]
    assert [step for step, _ in rest.history(mlflow_server, run_id, "loss")] == [0, 1, 2, 3]
    assert len(rest.history(mlflow_server, run_id, "val_accuracy")) == 4
    params = rest.params(run)
    assert params["train.custom_loss"] == "scaled_crossentropy" and params["dense1.units"] == "16"
    assert "accuracy" in rest.metrics(run)  # Model evaluation's metric
    assert any(f["path"].startswith("tensorboard/events.out.tfevents") for f in info["files"])
    assert any(f["path"] == "custom/scaled_crossentropy.py" for f in info["files"])


def test_model_library_runs_a_registered_pipeline_model(local: Platform, runs: dict[str, dict]) -> None:
    """The numeric pipeline's trained model, registered, is loaded by Model library in another run."""
    from core.errors import HpcaiError

    assert runs["numeric"]["state"] == "succeeded", runs["numeric"]["log"]
    model_dir = Path(runs["numeric"]["run_dir"]) / "nodes" / "clf"
    name = f"lr-{int(time.time())}"
    local.models.create(USER, {"name": name, "purpose": "machine-learning", "model_dir": str(model_dir)})
    doc = {"format": 1, "name": "model-library-test", "type": "classification", "nodes": [
        {"id": "csv", "component": "csv_import", "properties": {"file": runs["csv"]["path"]}},
        {"id": "select", "component": "select_features",
         "properties": {"features": ["f0", "f1", "f2", "f3", "f4"], "labels": ["label"]}},
        {"id": "lib", "component": "model_library", "properties": {"model_name": name, "version": "v1"}},
        {"id": "eval", "component": "model_evaluation", "properties": {"part": "all"}}],
        "edges": [{"from": {"node": a, "port": pa}, "to": {"node": b, "port": pb}} for a, pa, b, pb in (
            ("csv", "data", "select", "data"), ("select", "data", "eval", "data"), ("lib", "model", "eval", "model"))]}
    with pytest.raises(HpcaiError) as missing:  # a version that is not there is refused before any job
        local.pipelines.run(USER, {**doc, "nodes": [*doc["nodes"][:2], {**doc["nodes"][2], "properties": {
            "model_name": name, "version": "v9"}}, doc["nodes"][3]]}, RunSettings("cpu-1"))
    assert missing.value.field == "version"
    info = wait(local, local.pipelines.run(USER, doc, RunSettings("cpu-1")).id)
    assert info["state"] == "succeeded", info["log"]
    assert info["evaluations"]["eval"]["n"] == 400  # every row, through the registry's lr.joblib
    assert 0.3 < info["metrics"]["accuracy"] <= 1


def test_a_run_error_names_the_node(local: Platform) -> None:
    """Bad data is found at run time: the node fails, its state and the log name it."""
    csv = scratch_dir("pipelines-bad") / "bad.csv"  # readable by the job's user (tmp_path is not)
    csv.write_text("a,b\n1,2\n3,4\n")
    doc = numeric_doc(csv)
    row = local.pipelines.run(USER, doc, RunSettings("cpu-1"))
    info = wait(local, row.id)
    assert info["state"] == "failed"
    assert info["nodes"]["select"]["state"] == "failed"
    assert "Sample labels: no column 'label'" in info["nodes"]["select"]["error"]
    assert "select Select features (select_features) failed" in info["log"]


def test_invalid_pipeline_creates_nothing(local: Platform) -> None:
    from core.errors import ValidationErrors

    before = len(local.pipelines.instances(USER))
    with pytest.raises(ValidationErrors):
        local.pipelines.run(USER, {"format": 1, "nodes": [], "edges": []})
    assert len(local.pipelines.instances(USER)) == before


def test_same_json_runs_on_slurm(slurm_conf: str) -> None:
    csv = make_data(scratch_dir("pipelines-slurm-data") / "three.csv")  # readable by the job's user
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("HPCAI_MLFLOW_URI", raising=False)
        p = make_site(mp, "pipelines-slurm", "slurm", f'[schedulers.slurm]\nslurm_conf = "{slurm_conf}"\n')
        row = p.pipelines.run(USER, numeric_doc(csv), RunSettings("cpu-1"))
        info = wait(p, row.id)
        job = p.jobs.get(row.job_id, USER)
    assert job.scheduler == "slurm"
    assert info["state"] == "succeeded", info["log"]
    assert info["metrics"]["accuracy"] == pytest.approx(hand_written_accuracy(csv), abs=1e-12)
