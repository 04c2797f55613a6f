"""MLServer (V2 inference) answering Triton's own client, and a V2 request through the proxy
with an API key. MLServer needs its own environment (scripts/setup-mlserver.sh, ~220 s here:
over this issue's CI budget), so this runs where that environment exists."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Iterator

import pytest
import requests

from tests.svc.helpers import REPO, Portal, scratch

ENV = Path(os.environ.get("HPCAI_MLSERVER_ENV") or REPO / "var" / "mlserver-env")
pytestmark = [pytest.mark.integration, pytest.mark.slow,
              pytest.mark.skipif(not (ENV / "bin" / "mlserver").exists(),
                                 reason=f"no MLServer environment at {ENV}: run scripts/setup-mlserver.sh")]


@pytest.fixture(scope="module")
def portal() -> Iterator[Portal]:
    data = scratch("mlserver-e2e")
    (data / "images.toml").write_text(f'[[image]]\nname = "mlserver"\nruntime = "host"\nreference = "{ENV}"\n'
                                      'tags = ["MLServer"]\n')
    os.environ["HPCAI_IMAGES"] = str(data / "images.toml")
    try:
        p = Portal(data).start()
    finally:
        os.environ.pop("HPCAI_IMAGES")
    yield p
    p.stop_all_services()
    p.stop()


def test_sklearn_model_answers_tritonclient_and_the_proxy(portal: Portal) -> None:
    model = portal.data / "iris.joblib"
    subprocess.run([str(ENV / "bin" / "python"), "-c",
                    "from sklearn.datasets import load_iris; from sklearn.linear_model import LogisticRegression;"
                    "import joblib; X, y = load_iris(return_X_y=True);"
                    f"joblib.dump(LogisticRegression(max_iter=500).fit(X, y), {str(model)!r})"],
                   check=True, timeout=120)
    s = portal.login("alice", "alicepass12")
    r = s.post(f"{portal.url}/api/v1/services", json={
        "name": "iris", "type": "mlserver", "resource_spec": "cpu-1", "image": "mlserver",
        "model_name": "iris", "framework": "sklearn", "model_uri": str(model), "auth": True}, timeout=30)
    assert r.status_code == 201, r.text
    v = portal.wait_state(s, r.json()["alias"], ("running", "failed"), timeout=180)
    assert v["state"] == "running", v["log_tail"]
    client = subprocess.run([str(ENV / "bin" / "python"), "-c", f"""
import json, numpy as np, tritonclient.http as h
c = h.InferenceServerClient('{v['host']}:{v['port']}')
x = h.InferInput('predict', [2, 4], 'FP64')
x.set_data_from_numpy(np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]), binary_data=False)
r = c.infer('iris', [x], outputs=[h.InferRequestedOutput('predict', binary_data=False)])
print(json.dumps(r.as_numpy('predict').tolist()))"""], capture_output=True, text=True, timeout=60)
    assert client.returncode == 0, client.stderr[-2000:]
    assert json.loads(client.stdout.strip().splitlines()[-1]) == [[0], [2]]  # setosa, virginica
    key = s.post(f"{portal.url}/api/v1/service-keys", json={}, timeout=10).json()["key"]
    body = {"inputs": [{"name": "predict", "shape": [1, 4], "datatype": "FP64", "data": [[5.1, 3.5, 1.4, 0.2]]}]}
    url = f"{portal.url}/dockerService/{v['alias']}/v2/models/iris/infer"
    assert requests.post(url, json=body, timeout=30).status_code == 401
    r = requests.post(url, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert r.status_code == 200 and r.json()["outputs"][0]["data"] == [0]
