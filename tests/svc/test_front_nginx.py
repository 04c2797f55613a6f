"""`hpcai serve --front nginx` (issue 21 items 1, 2): nginx serves the services' data path itself,
with the portal's access check (auth_request, decision cached for [services] front_decision_s),
the isolation of tests/svc/test_service_isolation.py kept, and the embedded proxy as fallback.

One real `hpcai serve --front nginx` (Debian's nginx) for the module; real services as
local-scheduler jobs: tests/svc/webapp.py (HTTP) and tests/svc/wsecho.py (WebSocket).
A response nginx served itself carries `X-Hpcai-Proxy: front`; the embedded proxy sends none.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from typing import Iterator

import pytest
import requests
from websockets.sync.client import connect

from portal.front import nginx_binary
from tests.svc.helpers import REPO, WEB_APP, Portal, scratch, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]
WS_APP = REPO / "tests" / "svc" / "wsecho.py"
DECISION_S = 1

if nginx_binary() is None:
    pytest.skip("nginx is not installed (scripts/setup.sh installs it)", allow_module_level=True)


@pytest.fixture(scope="module")
def portal() -> Iterator[Portal]:
    data = scratch("front-nginx")
    config = data / "hpcai.toml"
    config.write_text((REPO / "etc" / "hpcai.toml").read_text().replace("# cpus = 2", "cpus = 8").replace(
        "usage_interval_s = 5 ", f"front_decision_s = {DECISION_S}\nusage_interval_s = 5 "))
    p = Portal(data, env={"HPCAI_CONFIG": str(config)}, args=("--front", "nginx")).start()
    yield p
    p.stop_all_services()
    p.stop()


@pytest.fixture(scope="module")
def alice(portal: Portal) -> requests.Session:
    return portal.login("alice", "alicepass12")


@pytest.fixture(scope="module")
def bob(portal: Portal) -> requests.Session:
    return portal.login("bob", "bobpass12")


def _fronted(portal: Portal, alias: str) -> None:
    conf = portal.data / "nginx" / "services.conf"
    wait_for(lambda: conf.exists() and f"/dockerService/{alias}/" in conf.read_text(), 30,
             f"nginx's configuration to include {alias}")
    time.sleep(0.5)  # the reload is graceful: new workers take over within moments


def _create(portal: Portal, s: requests.Session, **values: object) -> dict:
    r = s.post(f"{portal.url}/api/v1/services", json={"resource_spec": "cpu-1", "type": "custom", **values},
               timeout=30)
    assert r.status_code == 201, r.text
    v = portal.wait_state(s, r.json()["alias"], ("running",))
    _fronted(portal, v["alias"])
    return v


@pytest.fixture(scope="module")
def web(portal: Portal, alice: requests.Session) -> dict:
    return _create(portal, alice, name="web", proxy_path="/api", command=f"exec {sys.executable} {WEB_APP}")


@pytest.fixture(scope="module")
def ws(portal: Portal, alice: requests.Session) -> dict:
    return _create(portal, alice, name="ws", proxy_path="/ws", health_path="/health",
                   command=f"exec {sys.executable} {WS_APP}")


def test_nginx_serves_the_service_after_the_portal_checks(portal: Portal, alice: requests.Session,
                                                          web: dict) -> None:
    alias = web["alias"]
    base = portal.open_service(alice, alias)  # the hand-off itself is the portal's (fallback)
    r = alice.get(f"{base}/dockerService/{alias}/hello?x=1", timeout=10)
    assert r.status_code == 200 and r.headers.get("X-Hpcai-Proxy") == "front", r.headers
    assert r.json() == {"path": "/api/hello?x=1", "auth": None, "cookie": None}  # nothing of the portal's
    r = alice.get(f"{base}/dockerService/{alias}/redirect", allow_redirects=False, timeout=10)
    assert r.headers["Location"] == f"/dockerService/{alias}/hello?from=redirect"
    assert f"Path=/dockerService/{alias}/" in r.headers["Set-Cookie"]
    body = os.urandom(1 << 20) * 4
    r = alice.post(f"{base}/dockerService/{alias}/upload", data=body, timeout=60)
    assert r.headers.get("X-Hpcai-Proxy") == "front"
    assert r.json() == {"bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}
    assert "sandbox" not in r.headers.get("Content-Security-Policy", "")  # its own origin: no sandbox needed
    # not granted by the check: the embedded proxy answers, as without nginx
    anon = requests.get(f"{base}/dockerService/{alias}/hello", allow_redirects=False, timeout=10)
    assert anon.status_code == 302 and anon.headers["Location"] == f"{portal.url}/dockerService/{alias}/hello"
    assert "X-Hpcai-Proxy" not in anon.headers
    keyed = requests.get(f"{portal.url}/dockerService/{alias}/hello", headers={"Authorization": "Bearer hsk_x"},
                         allow_redirects=False, timeout=10)
    assert keyed.status_code == 401 and "X-Hpcai-Proxy" not in keyed.headers
    # the portal itself is behind nginx too
    assert alice.get(f"{portal.url}/services", timeout=10).status_code == 200


def test_sharing_changes_reach_nginx_within_the_decision_time(portal: Portal, alice: requests.Session,
                                                               bob: requests.Session, web: dict) -> None:
    alias = web["alias"]
    api = f"{portal.url}/api/v1/services/{alias}/authorize"
    url = f"{portal.origin(alias)}/dockerService/{alias}/hello"
    assert bob.get(f"{portal.url}/dockerService/{alias}/hello", timeout=10).status_code == 403
    assert alice.post(api, json={"users": ["bob"]}, timeout=10).status_code == 200
    portal.open_service(bob, alias)
    r = bob.get(url, timeout=10)
    assert r.status_code == 200 and r.headers.get("X-Hpcai-Proxy") == "front"
    assert alice.post(api, json={"users": []}, timeout=10).status_code == 200
    # the cached decision expires (front_decision_s); from then on every request is checked again
    def refused() -> tuple[requests.Response] | None:  # (a 403 Response is falsy itself)
        r = bob.get(url, allow_redirects=False, timeout=10)
        return (r,) if r.status_code != 200 else None

    (r,) = wait_for(refused, DECISION_S + 30, "nginx to stop serving bob")
    assert r.status_code == 403 and "X-Hpcai-Proxy" not in r.headers


def test_websocket_through_nginx(portal: Portal, alice: requests.Session, ws: dict) -> None:
    alias = ws["alias"]
    portal.open_service(alice, alias)
    cookie = alice.cookies.get("hpcai_svc", domain=f"{alias}.svc.localhost")
    url = f"ws://{alias}.svc.localhost:{portal.port}/dockerService/{alias}/echo?x=1"
    with connect(url, additional_headers={"Cookie": f"hpcai_svc={cookie}; theirs=1"}, open_timeout=10) as c:
        assert c.response.headers.get("X-Hpcai-Proxy") == "front"
        c.send("hello")
        assert c.recv(timeout=10) == "hello"
        c.send(b"\x00" * (1 << 20))
        assert c.recv(timeout=10) == b"\x00" * (1 << 20)
        c.send("?path")
        assert c.recv(timeout=10) == "/ws/echo?x=1"
        c.send("?cookie")
        assert c.recv(timeout=10).strip("; ") == "theirs=1"  # the portal's cookie stays with nginx
        c.send("?auth")
        assert c.recv(timeout=10) == "-"


def test_nginx_follows_stop_and_start(portal: Portal, alice: requests.Session) -> None:
    v = _create(portal, alice, name="cycle", proxy_path="/api", command=f"exec {sys.executable} {WEB_APP}")
    alias, api = v["alias"], f"{portal.url}/api/v1/services/{v['alias']}"
    conf = portal.data / "nginx" / "services.conf"
    assert alice.post(f"{api}/stop", timeout=30).status_code == 200
    wait_for(lambda: f"/dockerService/{alias}/" not in conf.read_text(), 30, "nginx to forget the service")
    base = portal.open_service(alice, alias)
    assert alice.get(f"{base}/dockerService/{alias}/hello", timeout=10).status_code == 503
    assert alice.post(f"{api}/start", timeout=30).status_code == 200
    portal.wait_state(alice, alias, ("running",))
    _fronted(portal, alias)
    r = alice.get(f"{base}/dockerService/{alias}/hello", timeout=10)
    assert r.status_code == 200 and r.headers.get("X-Hpcai-Proxy") == "front"
    assert (conf.stat().st_mode & 0o777) == 0o600  # it holds the services' proofs


def test_only_nginx_may_ask_for_decisions(portal: Portal, web: dict) -> None:
    log = (portal.data / "portal.log").read_text()
    inner = log.split("portal on 127.0.0.1:")[-1].split(")")[0]
    r = requests.get(f"http://127.0.0.1:{inner}/_hpcai/authz", headers={"X-Hpcai-Alias": web["alias"]}, timeout=10)
    assert r.status_code == 404

