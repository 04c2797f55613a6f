"""End to end: a real `hpcai serve` (gunicorn + one watcher) runs services as local-scheduler jobs
and proxies them. One portal per module; each real server starts once."""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Iterator

import pytest
import requests

from tests.svc.helpers import REPO, WEB_APP, Portal, scratch, torch_model, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def portal() -> Iterator[Portal]:
    p = Portal(scratch("services-e2e")).start()
    yield p
    p.stop_all_services()
    p.stop()


@pytest.fixture(scope="module")
def alice(portal: Portal) -> requests.Session:
    return portal.login("alice", "alicepass12")


@pytest.fixture(scope="module")
def bob(portal: Portal) -> requests.Session:
    return portal.login("bob", "bobpass12")


@pytest.fixture(scope="module")
def web(portal: Portal, alice: requests.Session) -> dict:
    """The custom service: tests/svc/webapp.py, proxied under its /api path."""
    r = alice.post(f"{portal.url}/api/v1/services", json={
        "name": "web", "type": "custom", "resource_spec": "cpu-1", "proxy_path": "/api",
        "command": f"exec {sys.executable} {WEB_APP}", "classification": "demo"}, timeout=30)
    assert r.status_code == 201, r.text
    return portal.wait_state(alice, r.json()["alias"], ("running",))


def test_custom_service_detail_and_proxy_path(portal: Portal, alice: requests.Session, web: dict) -> None:
    alias = web["alias"]
    assert alias.startswith("custom-alice-")
    assert web["job_id"] and web["scheduler_job_id"] and web["node"] and web["job_dir"]
    assert web["internal_url"] == f"http://{web['host']}:{web['port']}/"
    assert web["external_path"] == f"/dockerService/{alias}/"
    assert "webapp.py" in web["command"] and web["env"]["PORT"] == "{port}"
    assert json.loads((Path(web["job_dir"]) / "service.json").read_text())["port"] == web["port"]
    r = alice.get(f"{portal.url}/dockerService/{alias}/hello?x=1", timeout=10)
    assert r.status_code == 200 and r.json()["path"] == "/api/hello?x=1"
    assert r.json()["cookie"] is None  # the portal session cookie never reaches the service
    page = alice.get(f"{portal.url}/services/{alias}", timeout=10).text
    assert "Access service" in page and f"/dockerService/{alias}/" in page


def test_redirects_and_cookies_are_rewritten(portal: Portal, alice: requests.Session, web: dict) -> None:
    alias = web["alias"]
    base = portal.open_service(alice, alias)  # the service's own origin
    r = alice.get(f"{base}/dockerService/{alias}/redirect", allow_redirects=False, timeout=10)
    assert r.status_code == 302
    assert r.headers["Location"] == f"/dockerService/{alias}/hello?from=redirect"
    assert f"Path=/dockerService/{alias}/" in r.headers["Set-Cookie"]


def test_large_body_streams_through(portal: Portal, alice: requests.Session, web: dict) -> None:
    body = os.urandom(1 << 20) * 24  # 24 MiB
    r = alice.post(f"{portal.url}/dockerService/{web['alias']}/upload", data=body, timeout=120)
    assert r.status_code == 200
    assert r.json() == {"bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}


def test_access_rules(portal: Portal, alice: requests.Session, bob: requests.Session, web: dict) -> None:
    url = f"{portal.url}/dockerService/{web['alias']}/hello"
    anonymous = requests.get(url, allow_redirects=False, timeout=10)
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    assert bob.get(url, timeout=10).status_code == 403
    r = alice.post(f"{portal.url}/api/v1/services/{web['alias']}/authorize", json={"users": ["bob"]}, timeout=10)
    assert r.status_code == 200, r.text
    assert bob.get(url, timeout=10).status_code == 200
    # an authorised user may use it, not stop it
    r = bob.post(f"{portal.url}/api/v1/services/{web['alias']}/stop", timeout=10)
    assert r.status_code == 403 and r.json()["field"] == "service"


def test_proxy_forwards_only_to_cluster_hosts(portal: Portal, alice: requests.Session, web: dict) -> None:
    """A service (or a user editing its job directory) cannot point the proxy at another address:
    the target is the platform's record (tests/svc/test_service_isolation.py has the details)."""
    report = Path(web["job_dir"]) / "service.json"
    original = report.read_text()
    report.write_text(json.dumps({**json.loads(original), "host": "203.0.113.5"}))
    try:
        r = alice.get(f"{portal.url}/dockerService/{web['alias']}/hello", timeout=10)
        assert r.status_code == 200 and r.json()["path"] == "/api/hello"  # the report is not read
    finally:
        report.write_text(original)
    assert alice.get(f"{portal.url}/dockerService/{web['alias']}/hello", timeout=10).status_code == 200


def test_200_concurrent_proxied_requests(portal: Portal, alice: requests.Session, web: dict) -> None:
    url = f"{portal.url}/dockerService/{web['alias']}/hello"
    cookies = alice.cookies.get_dict()

    def one(i: int) -> int:
        r = requests.get(f"{url}?i={i}", cookies=cookies, timeout=60)
        return r.status_code if r.json()["path"] == f"/api/hello?i={i}" else -1

    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        codes = list(pool.map(one, range(200)))
    assert codes.count(200) == 200, {c: codes.count(c) for c in set(codes)}


def test_tensorboard_on_real_event_files(portal: Portal, alice: requests.Session) -> None:
    from torch.utils.tensorboard import SummaryWriter

    logdir = portal.platform.workspace.home("alice") / "tb"
    with SummaryWriter(str(logdir / "run1")) as w:
        for step in range(5):
            w.add_scalar("loss", 1.0 / (step + 1), step)
    r = alice.post(f"{portal.url}/api/v1/services", json={
        "name": "tb", "type": "tensorboard", "resource_spec": "cpu-1", "logdir": str(logdir)}, timeout=30)
    assert r.status_code == 201, r.text
    alias = r.json()["alias"]
    portal.wait_state(alice, alias, ("running",))
    base = f"{portal.url}/dockerService/{alias}"
    assert alice.get(base + "/", timeout=10).status_code == 200
    runs = wait_for(lambda: alice.get(base + "/data/runs", timeout=10).json(), 60, "tensorboard to load runs")
    assert runs == ["run1"]
    data = alice.get(base + "/data/plugin/scalars/scalars", params={"run": "run1", "tag": "loss"}, timeout=10).json()
    assert [round(p[2], 4) for p in data] == [1.0, 0.5, 0.3333, 0.25, 0.2]
    alice.post(f"{portal.url}/api/v1/services/{alias}/stop", timeout=30)


def test_dying_service_fails_with_last_log_lines(portal: Portal, alice: requests.Session) -> None:
    r = alice.post(f"{portal.url}/api/v1/services", json={
        "name": "dies", "type": "custom", "resource_spec": "cpu-1",
        "command": "echo loading the model; echo 'fatal: weights are corrupt' >&2; exit 3"}, timeout=30)
    assert r.status_code == 201, r.text
    v = portal.wait_state(alice, r.json()["alias"], ("failed",))
    tail = "\n".join(v["log_tail"])
    assert "fatal: weights are corrupt" in tail and "exited with code 3" in tail
    log = alice.get(f"{portal.url}/api/v1/services/{v['alias']}/log", timeout=10)
    assert log.status_code == 200 and f"output.{v['scheduler_job_id']}.txt" in log.headers["Content-Disposition"]


def test_modify_running_service_restarts_it(portal: Portal, alice: requests.Session) -> None:
    r = alice.post(f"{portal.url}/api/v1/services", json={
        "name": "mod", "type": "custom", "resource_spec": "cpu-1",
        "command": f"exec {sys.executable} {WEB_APP}"}, timeout=30)
    alias = r.json()["alias"]
    first = portal.wait_state(alice, alias, ("running",))
    r = alice.patch(f"{portal.url}/api/v1/services/{alias}", json={"proxy_path": "/api"}, timeout=30)
    assert r.status_code == 200, r.text
    second = portal.wait_state(alice, alias, ("running",))
    assert second["job_id"] != first["job_id"] and second["options"]["proxy_path"] == "/api"
    assert alice.get(f"{portal.url}/dockerService/{alias}/hello", timeout=10).json()["path"] == "/api/hello"
    assert alice.delete(f"{portal.url}/api/v1/services/{alias}", timeout=30).status_code == 204
    assert alice.get(f"{portal.url}/api/v1/services/{alias}", timeout=10).status_code == 404


def test_torchserve_prediction_with_api_keys(portal: Portal, alice: requests.Session) -> None:
    """A model archived from a real torch model; with auth on, the proxy wants one of the keys."""
    import torch

    model_path, model = torch_model(portal.platform.workspace.home("alice"))
    r = alice.post(f"{portal.url}/api/v1/services", json={
        "name": "tiny", "type": "torchserve", "resource_spec": "cpu-1", "model_name": "tiny",
        "deploy_mode": "files", "serialized_file": str(model_path),
        "handler": str(REPO / "tests" / "svc" / "ts_handler.py"), "auth": True}, timeout=30)
    assert r.status_code == 201, r.text
    alias = r.json()["alias"]
    v = portal.wait_state(alice, alias, ("running", "failed"), timeout=180)
    assert v["state"] == "running", v["log_tail"]
    assert "Authorization: Bearer ${YOUR_API_KEY}" in v["request_example"]
    assert f"/dockerService/{alias}/predictions/tiny" in v["request_example"]
    created = alice.post(f"{portal.url}/api/v1/service-keys", json={"name": "ci"}, timeout=10).json()
    key = created["key"]
    listed = alice.get(f"{portal.url}/api/v1/service-keys", timeout=10).json()
    assert [k["id"] for k in listed] == [created["id"]] and key not in json.dumps(listed)  # shown once
    url = f"{portal.url}/dockerService/{alias}/predictions/tiny"
    x = [0.5, -1.0, 2.0, 3.0]
    assert requests.post(url, json={"x": x}, timeout=30).status_code == 401
    assert requests.post(url, json={"x": x}, headers={"Authorization": "Bearer hsk_wrong"}, timeout=30).status_code == 401

    def predict() -> requests.Response | None:
        resp = requests.post(url, json={"x": x}, headers={"Authorization": f"Bearer {key}"}, timeout=30)
        return resp if resp.status_code != 503 else None  # the worker may still be loading

    resp = wait_for(predict, 90, "the model worker")
    assert resp.status_code == 200, resp.text
    expected = model(torch.tensor([x])).tolist()[0]
    assert [round(a, 5) for a in resp.json()] == [round(b, 5) for b in expected]
    # F246: TorchServe's own metrics, read on the node with the usage samples
    metrics = wait_for(lambda: {k: v for k, v in (alice.get(f"{portal.url}/api/v1/services/{alias}/usage", timeout=10)
                                                  .json()["usage"].get("metrics") or {}).items()
                                if k.startswith("ts_inference_requests_total") and v >= 1}, 60, "TorchServe metrics")
    assert any('model_name="tiny"' in k for k in metrics), metrics
    assert "Service metrics" in alice.get(f"{portal.url}/services/{alias}", timeout=10).text
    assert alice.delete(f"{portal.url}/api/v1/service-keys/{created['id']}", timeout=10).status_code == 204
    assert requests.post(url, json={"x": x}, headers={"Authorization": f"Bearer {key}"}, timeout=30).status_code == 401
    alice.post(f"{portal.url}/api/v1/services/{alias}/stop", timeout=30)
    assert portal.wait_state(alice, alias, ("stopped",))["state"] == "stopped"


def test_portal_restart_keeps_services(portal: Portal, alice: requests.Session, web: dict) -> None:
    """Last in the module: services are scheduler jobs, not children of the portal."""
    portal.stop()
    portal.start()
    again = portal.login("alice", "alicepass12")
    assert portal.service(again, web["alias"])["state"] == "running"
    r = again.get(f"{portal.url}/dockerService/{web['alias']}/hello", timeout=10)
    assert r.status_code == 200 and r.json()["path"] == "/api/hello"
