"""Model registry end to end (issue 16 item 6), through a real `hpcai serve` and real MLflow:

1. a real job logs a scikit-learn model through libaiflow + mlflow.sklearn.log_model; the run is
   registered as a model (files copied from MLflow into the job's data area, MLflow model version
   with the run's lineage); converted to ONNX by a conversion job in the `modelstore` image
   (visible in My jobs, checked there in onnxruntime); the ONNX version deployed with the
   recommended serving type (MLServer here: no tritonserver) answers a V2 inference request with
   the original model's prediction;
2. a PyTorch TorchScript model converted with torch.onnx, its ONNX checked again here in the
   image's onnxruntime against torch; the registered .pt deployed on TorchServe (recommended from
   the file) answers like the model;
3. a file that is no model, a converter that does not fit, get a message naming the field and
   change nothing.

Images build in the background from the start of the session (tests/svc/conftest.py).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Callable, Iterator

import pytest
import requests

from tests.tracking import rest
from tests.svc.helpers import REPO, Portal, scratch, site_config, torch_model, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FLOWERS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]
TRAIN = """
import mlflow.sklearn
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
import libaiflow.tracking as t
X, y = load_iris(return_X_y=True)
t.init("iris-registry")
with t.start_run(None, run_name="iris"):
    lr = LogisticRegression(max_iter=500).fit(X, y)
    t.log_metric("accuracy", float(lr.score(X, y)))
    mlflow.sklearn.log_model(lr, name="model")
"""
# Runs in the modelstore image: the converted ONNX against the TorchScript model on fresh input.
ORT_CHECK = """
import sys, json, numpy as np, onnxruntime as ort, torch
onnx_path, pt = sys.argv[1], sys.argv[2]
x = np.random.default_rng(7).normal(size=(5, 4)).astype(np.float32)
s = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
got = s.run(None, {s.get_inputs()[0].name: x})[0]
want = torch.jit.load(pt)(torch.from_numpy(x)).detach().numpy()
print(json.dumps({"max_diff": float(np.abs(got - want).max()), "shape": list(got.shape)}))
"""


@pytest.fixture(scope="module")
def images(service_image: Callable[[str], str]) -> dict[str, Path]:
    return {name: Path(service_image(name)) for name in ("modelstore", "mlserver")}


@pytest.fixture(scope="module")
def portal(mlflow_server: str, images: dict[str, Path]) -> Iterator[Portal]:
    data = scratch("models-e2e")
    os.environ["HPCAI_CONFIG"] = str(site_config(data))
    os.environ["HPCAI_MLFLOW_URI"] = mlflow_server
    try:
        p = Portal(data, env={"HPCAI_MLFLOW_URI": mlflow_server}).start()
    finally:
        os.environ.pop("HPCAI_CONFIG")
    yield p
    p.stop_all_services()
    p.stop()
    os.environ.pop("HPCAI_MLFLOW_URI", None)


@pytest.fixture(scope="module")
def alice(portal: Portal) -> requests.Session:
    return portal.login("alice", "alicepass12")


def wait_job(portal: Portal, s: requests.Session, job_id: int, timeout: float = 400) -> dict:
    def done() -> dict | None:
        j = s.get(f"{portal.url}/api/v1/jobs/{job_id}", timeout=10).json()
        return j if j["state"] in ("succeeded", "failed", "cancelled") else None

    return wait_for(done, timeout, f"job {job_id}", interval=1)


def job_output(portal: Portal, job: dict) -> str:
    return "\n".join(p.read_text(errors="replace") for p in Path(job["job_dir"]).rglob("*")
                     if p.is_file() and (p.suffix in (".log", ".txt")))


@pytest.fixture(scope="module")
def iris(portal: Portal, alice: requests.Session) -> dict:
    """A real job logs the model; it is registered from its run (F72/F73)."""
    work = portal.platform.workspace.home("alice") / "iris"
    work.mkdir(parents=True, exist_ok=True)
    (work / "train.py").write_text(TRAIN)
    r = alice.post(f"{portal.url}/api/v1/jobs", json={"framework": "pytorch", "mode": "standalone",
                                                       "resource_spec": "cpu-1", "workdir": str(work),
                                                       "command": "python train.py", "name": "iris"}, timeout=60)
    assert r.status_code == 201, r.text
    job = wait_job(portal, alice, r.json()["id"])
    assert job["state"] == "succeeded", job_output(portal, job)[-3000:]
    runs = alice.get(f"{portal.url}/api/v1/jobs/{job['id']}/runs", timeout=30).json()["runs"]
    assert len(runs) == 1
    r = alice.post(f"{portal.url}/api/v1/models", json={"run_id": runs[0]["run_id"], "name": "iris",
                                                         "purpose": "machine-learning",
                                                         "description": "iris logistic regression"}, timeout=60)
    assert r.status_code == 201, r.text
    assert r.json()["message"] == "Model created successfully"
    return {"job": job, "run_id": runs[0]["run_id"], "model": r.json()}


def test_sklearn_model_from_a_job_converted_to_onnx_and_served_answers_like_the_original(
        portal: Portal, alice: requests.Session, iris: dict, mlflow_server: str) -> None:
    import mlflow.sklearn
    import numpy as np

    detail = alice.get(f"{portal.url}/api/v1/models/iris", timeout=30).json()
    (v1,) = detail["versions"]
    assert v1["number"] == 1 and v1["format"] == "sklearn" and v1["source_run_id"] == iris["run_id"]
    assert v1["tags"] == ["Machine learning"]  # the purpose's tag, inherited (F202, F209)
    assert Path(v1["model_dir"]) == Path(iris["job"]["job_dir"]) / "model"  # F73: the job's data area
    # MLflow's registry holds the same version, with the run's lineage (logged model source)
    mv = requests.get(f"{mlflow_server}/api/2.0/mlflow/model-versions/get",
                      params={"name": "alice.iris", "version": v1["mlflow_version"]}, timeout=10, auth=rest.auth()).json()["model_version"]
    assert mv["run_id"] == iris["run_id"] and mv["source"].startswith("models:/m-")

    r = alice.post(f"{portal.url}/api/v1/models/iris/versions/1/convert", json={"converter": "sklearn"}, timeout=60)
    assert r.status_code == 201, r.text
    conv = r.json()
    assert conv["version"] == 2 and conv["job"]["name"] == "convert-iris-v1"
    mine = alice.get(f"{portal.url}/api/v1/jobs", timeout=10).json()["jobs"]
    assert conv["job"]["id"] in [j["id"] for j in mine]  # F214: in My jobs
    job = wait_job(portal, alice, conv["job"]["id"])
    out = job_output(portal, job)
    assert job["state"] == "succeeded", out[-3000:]
    assert "onnxruntime check passed" in out and "rtol=0.001 atol=0.0001" in out
    v2 = alice.get(f"{portal.url}/api/v1/models/iris/versions", timeout=10).json()[1]
    assert v2["state"] == "ready" and v2["format"] == "onnx" and v2["converted_from"] == 1 and v2["mlflow_version"]
    repo = Path(v2["model_dir"])
    assert (repo / "iris" / "1" / "model.onnx").is_file() and 'name: "iris"' in (repo / "iris" / "config.pbtxt").read_text()
    files = alice.get(f"{portal.url}/api/v1/models/iris/versions/2/files", params={"q": "model.onnx"}, timeout=10).json()
    assert [e["path"] for e in files["entries"]] == ["iris/1/model.onnx"]

    form = alice.get(f"{portal.url}/api/v1/models/iris/versions/2/deploy", timeout=10).json()
    assert form["recommended"][0] == "mlserver"  # ML -> Triton, which cannot run here -> MLServer
    assert form["prefill"]["mlserver"]["model_uri"] == str(repo / "iris" / "1" / "model.onnx")
    assert form["prefill"]["triton"]["model_repository"] == str(repo)  # F232: model name = directory name
    r = alice.post(f"{portal.url}/api/v1/models/iris/versions/2/deploy",
                   json={"resource_spec": "cpu-1", "image": "mlserver"}, timeout=60)
    assert r.status_code == 201, r.text
    alias = r.json()["alias"]
    v = portal.wait_state(alice, alias, ("running", "failed"), timeout=240)
    assert v["state"] == "running", v["log_tail"]
    services = alice.get(f"{portal.url}/api/v1/models/iris", timeout=10).json()["services"]
    assert [(s["alias"], s["version"]) for s in services] == [(alias, 2)]  # F218

    body = {"inputs": [{"name": "X", "shape": [len(FLOWERS), 4], "datatype": "FP32", "data": FLOWERS}]}
    resp = alice.post(f"{portal.url}/dockerService/{alias}/v2/models/iris/infer", json=body, timeout=60)
    assert resp.status_code == 200, resp.text
    outputs = {o["name"]: o for o in resp.json()["outputs"]}
    original = mlflow.sklearn.load_model(v1["model_dir"])
    want = original.predict(np.array(FLOWERS))
    assert outputs["label"]["data"] == want.tolist()
    probs = np.array(outputs["probabilities"]["data"]).reshape(len(FLOWERS), -1)
    assert np.allclose(probs, original.predict_proba(np.array(FLOWERS)), rtol=1e-3, atol=1e-4)


def test_pytorch_model_converted_checked_in_onnxruntime_and_served_by_torchserve(
        portal: Portal, alice: requests.Session, images: dict[str, Path]) -> None:
    import torch

    folder = portal.platform.workspace.home("alice") / "tiny"
    folder.mkdir(parents=True, exist_ok=True)
    pt, model = torch_model(folder)
    r = alice.post(f"{portal.url}/api/v1/models", json={"name": "tiny", "purpose": "deep-learning",
                                                         "model_dir": str(folder)}, timeout=60)
    assert r.status_code == 201, r.text
    # bad input first: wrong shape text, a converter whose files are absent -> named field, nothing made
    for body, fld in (({"converter": "pytorch", "options": {"input_shape": "4,x"}}, "input_shape"),
                      ({"converter": "sklearn"}, "model_file"),
                      ({"converter": "nope"}, "converter")):
        bad = alice.post(f"{portal.url}/api/v1/models/tiny/versions/1/convert", json=body, timeout=30)
        assert bad.status_code == 400 and bad.json()["field"] == fld, bad.text
    assert len(alice.get(f"{portal.url}/api/v1/models/tiny/versions", timeout=10).json()) == 1

    r = alice.post(f"{portal.url}/api/v1/models/tiny/versions/1/convert",
                   json={"converter": "pytorch", "options": {"input_shape": "2,4"}}, timeout=60)
    assert r.status_code == 201, r.text
    job = wait_job(portal, alice, r.json()["job"]["id"])
    assert job["state"] == "succeeded", job_output(portal, job)[-3000:]
    v2 = alice.get(f"{portal.url}/api/v1/models/tiny/versions", timeout=10).json()[1]
    onnx_path = Path(v2["model_dir"]) / "tiny" / "1" / "model.onnx"
    report = json.loads((Path(v2["model_dir"]) / "tiny" / "conversion.json").read_text())
    assert report["outputs"][0]["equal"] and report["tolerance"] == {"rtol": 1e-3, "atol": 1e-4}
    check = subprocess.run([str(images["modelstore"] / "bin" / "python"), "-c", ORT_CHECK, str(onnx_path), str(pt)],
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stderr[-2000:]
    got = json.loads(check.stdout.strip().splitlines()[-1])
    assert got["shape"] == [5, 2] and got["max_diff"] < 1e-4  # dynamic batch: 5 rows though exported with 2

    form = alice.get(f"{portal.url}/api/v1/models/tiny/versions/1/deploy", timeout=10).json()
    assert form["recommended"][0] == "torchserve"  # a .pt file (deep learning)
    assert form["prefill"]["torchserve"]["serialized_file"] == str(pt)
    r = alice.post(f"{portal.url}/api/v1/models/tiny/versions/1/deploy", json={
        "resource_spec": "cpu-1", "handler": str(REPO / "tests" / "svc" / "ts_handler.py")}, timeout=60)
    assert r.status_code == 201, r.text
    alias = r.json()["alias"]
    v = portal.wait_state(alice, alias, ("running", "failed"), timeout=240)
    assert v["state"] == "running", v["log_tail"]
    x = [0.5, -1.0, 2.0, 3.0]
    url = f"{portal.url}/dockerService/{alias}/predictions/tiny"
    resp = wait_for(lambda: (lambda r: r if r.status_code != 503 else None)(alice.post(url, json={"x": x}, timeout=30)),
                    90, "the model worker")
    assert resp.status_code == 200, resp.text
    assert [round(a, 5) for a in resp.json()] == [round(b, 5) for b in model(torch.tensor([x])).tolist()[0]]


def test_a_file_that_is_no_model_is_refused_before_any_job(portal: Portal, alice: requests.Session) -> None:
    folder = portal.platform.workspace.home("alice") / "notamodel"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.pkl").write_text("hello, I am text\n")
    assert alice.post(f"{portal.url}/api/v1/models", json={"name": "fake", "purpose": "machine-learning",
                                                            "model_dir": str(folder)}, timeout=30).status_code == 201
    before = alice.get(f"{portal.url}/api/v1/jobs", timeout=10).json()["total"]
    bad = alice.post(f"{portal.url}/api/v1/models/fake/versions/1/convert", json={"converter": "sklearn"}, timeout=30)
    assert bad.status_code == 400, bad.text
    assert bad.json()["field"] == "model_file" and "not a joblib, pickle or skops file" in bad.json()["error"]
    assert alice.get(f"{portal.url}/api/v1/jobs", timeout=10).json()["total"] == before
    assert len(alice.get(f"{portal.url}/api/v1/models/fake/versions", timeout=10).json()) == 1


MISMATCH = """
import sys, numpy as np, onnx
from onnx import TensorProto, helper
sys.path.insert(0, sys.argv[1])
import onnx_check
g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
path = onnx_check.write_triton(m, sys.argv[2], "ident")
x = np.ones((3, 2), dtype=np.float32)
onnx_check.check(path, {"x": x}, [x + 0.01], 1e-3, 1e-4)  # the source model said otherwise
"""


def test_a_conversion_whose_onnx_disagrees_fails_and_says_so(images: dict[str, Path], tmp_path: Path) -> None:
    """The job-side check: outputs beyond the tolerance end the job with a non-zero status and the reason."""
    from core.models.service import ONNX_CHECK

    r = subprocess.run([str(images["modelstore"] / "bin" / "python"), "-c", MISMATCH, str(ONNX_CHECK.parent),
                        str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 3, r.stderr[-2000:]
    assert "onnxruntime disagrees with the source model on output 0" in r.stderr and "rtol=0.001" in r.stderr
    assert 'name: "ident"' in (tmp_path / "ident" / "config.pbtxt").read_text()
