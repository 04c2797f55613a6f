"""MLServer (V2 inference) end to end: a scikit-learn, an XGBoost and an ONNX model, each a
service with auth on, called through the portal's proxy by Triton's own client library
(tritonclient) with an API key, and refused (401) without one.

The servers run in the `mlserver` catalog image (etc/images.toml), built in the background
from the start of the session (tests/svc/conftest.py) and reused from var/images afterwards.
The models are trained in that image on the iris data set; the ONNX model is the scikit-learn
one converted by skl2onnx. All three must classify the same two flowers as setosa (0) and
virginica (2).
"""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterator

import pytest
import requests

from tests.svc.helpers import Portal, scratch, site_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FLOWERS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]  # setosa, virginica

TRAIN = """
import sys, joblib, numpy as np, xgboost
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from skl2onnx import to_onnx
out = sys.argv[1]
X, y = load_iris(return_X_y=True)
lr = LogisticRegression(max_iter=500).fit(X, y)
joblib.dump(lr, f"{out}/iris.joblib")
xgboost.XGBClassifier(n_estimators=20, max_depth=3).fit(X, y).save_model(f"{out}/iris.json")
onx = to_onnx(lr, X[:1].astype(np.float32), options={id(lr): {"zipmap": False}}, target_opset=17)
open(f"{out}/iris.onnx", "wb").write(onx.SerializeToString())
"""

# Runs in the image: tritonclient against the proxy (base path /dockerService/<alias>), with
# and without the key. Prints one JSON line: {alias: {"classes": [...], "no_key": status}}.
CLIENT = """
import json, sys, numpy as np, tritonclient.http as http
from tritonclient.utils import InferenceServerException
portal, key, services = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
x = np.array(%s, dtype=np.float32)
out = {}
for alias, (model, inp, output, dtype) in services.items():
    c = http.InferenceServerClient(f"{portal}/dockerService/{alias}")
    auth = {"Authorization": f"Bearer {key}"}
    assert c.is_model_ready(model, headers=auth)
    i = http.InferInput(inp, list(x.shape), dtype)
    i.set_data_from_numpy(x.astype(np.float64 if dtype == "FP64" else np.float32), binary_data=False)
    r = c.infer(model, [i], outputs=[http.InferRequestedOutput(output, binary_data=False)], headers=auth)
    y = r.as_numpy(output)
    classes = (y.argmax(axis=1) if y.ndim == 2 and y.shape[1] > 1 else y.reshape(-1)).astype(int).tolist()
    try:
        c.infer(model, [i])
        no_key = 200
    except InferenceServerException as exc:
        no_key = int(exc.status())
    out[alias] = {"classes": classes, "no_key": no_key}
print(json.dumps(out))
""" % FLOWERS


@pytest.fixture(scope="module")
def image(service_image: Callable[[str], str]) -> Path:
    return Path(service_image("mlserver"))


@pytest.fixture(scope="module")
def portal(image: Path) -> Iterator[Portal]:
    data = scratch("mlserver-e2e")
    os.environ["HPCAI_CONFIG"] = str(site_config(data))
    try:
        p = Portal(data).start()
    finally:
        os.environ.pop("HPCAI_CONFIG")
    yield p
    # the three servers stop together through the portal (each stop waits for its server to exit)
    alice = p.login("alice", "alicepass12")
    cookies, headers = alice.cookies.get_dict(), dict(alice.headers)
    rows = p.platform.services.list("alice")
    with ThreadPoolExecutor(max_workers=len(rows) or 1) as pool:
        list(pool.map(lambda r: requests.post(f"{p.url}/api/v1/services/{r.alias}/stop", cookies=cookies,
                                              headers=headers, timeout=60), rows))
    p.stop_all_services()  # whatever did not stop above
    p.stop()


@pytest.fixture(scope="module")
def models(portal: Portal, image: Path) -> Path:
    out = portal.platform.workspace.home("alice") / "models"
    out.mkdir(parents=True, exist_ok=True)
    r = subprocess.run([str(image / "bin" / "python"), "-c", TRAIN, str(out)], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return out


def test_sklearn_xgboost_and_onnx_models_answer_tritonclient_through_the_proxy(
        portal: Portal, models: Path, image: Path) -> None:
    alice = portal.login("alice", "alicepass12")
    # framework -> (model file, V2 input name, output name, datatype)
    kinds = {"sklearn": ("iris.joblib", "x", "predict", "FP64"),
             "xgboost": ("iris.json", "x", "predict", "FP32"),
             "onnx": ("iris.onnx", "x", "probabilities", "FP32")}
    aliases = {}
    for framework, (file, *_rest) in kinds.items():
        r = alice.post(f"{portal.url}/api/v1/services", json={
            "name": f"iris-{framework}", "type": "mlserver", "resource_spec": "cpu-1", "image": "mlserver",
            "model_name": f"iris_{framework}", "framework": framework, "model_uri": str(models / file),
            "auth": True}, timeout=30)
        assert r.status_code == 201, r.text
        aliases[framework] = r.json()["alias"]
    for framework, alias in aliases.items():
        v = portal.wait_state(alice, alias, ("running", "failed"), timeout=240)
        assert v["state"] == "running", (framework, v["log_tail"])
        assert "Authorization: Bearer ${YOUR_API_KEY}" in v["request_example"]
        assert v["can_access"] is False  # a serving type: request example, no "Access service" (F241)
    key = alice.post(f"{portal.url}/api/v1/service-keys", json={"name": "tritonclient"}, timeout=10).json()["key"]
    services = {aliases[f]: [f"iris_{f}", inp, out, dtype] for f, (_file, inp, out, dtype) in kinds.items()}
    client = subprocess.run([str(image / "bin" / "python"), "-c", CLIENT, portal.url.removeprefix("http://"), key,
                             json.dumps(services)], capture_output=True, text=True, timeout=120)
    assert client.returncode == 0, client.stderr[-3000:]
    got = json.loads(client.stdout.strip().splitlines()[-1])
    assert {f: got[a] for f, a in aliases.items()} == {f: {"classes": [0, 2], "no_key": 401} for f in kinds}
    # the V2 REST request of the detail page's example, and without a key
    url = f"{portal.url}/dockerService/{aliases['sklearn']}/v2/models/iris_sklearn/infer"
    body = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [FLOWERS[0]]}]}
    assert requests.post(url, json=body, timeout=30).status_code == 401
    r = requests.post(url, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert r.status_code == 200 and r.json()["outputs"][0]["data"] == [0]
