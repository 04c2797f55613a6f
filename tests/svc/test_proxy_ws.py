"""The proxy under the production front end: WebSocket tunnels, the per-alias cache and its
invalidation, API keys stopped at once, one watcher among several workers, open log streams.

One real `hpcai serve` (gunicorn, 2 workers) for the module; the services are real servers
run as local-scheduler jobs: tests/svc/wsecho.py (the `websockets` package) as a custom
service, and the same server as a third-party service type with API keys (tests/svc/wskeyed).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import shutil
import signal
import socket
import sys
from pathlib import Path
from typing import Iterator

import pytest
import requests
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.svc.helpers import REPO, WEB_APP, Portal, scratch, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WS_APP = REPO / "tests" / "svc" / "wsecho.py"
KEYED_SRC = REPO / "tests" / "svc" / "wskeyed" / "hpcai_ws_keyed"


def _install_keyed_type(site: Path) -> Path:
    """`pip install` of the test service type, by hand: the package plus its entry point."""
    site.mkdir(parents=True, exist_ok=True)
    shutil.copytree(KEYED_SRC, site / "hpcai_ws_keyed", dirs_exist_ok=True)
    info = site / "hpcai_ws_keyed-1.0.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hpcai-ws-keyed\nVersion: 1.0.0\n")
    (info / "entry_points.txt").write_text("[hpcai]\nws_keyed = hpcai_ws_keyed\n")
    (info / "RECORD").write_text("")
    return site


@pytest.fixture(scope="module")
def portal() -> Iterator[Portal]:
    data = scratch("proxy-ws")
    site = _install_keyed_type(data / "site-packages")
    sys.path.insert(0, str(site))
    # idle servers and a sleeping job side by side: more local-scheduler slots than the cores
    config = data / "hpcai.toml"
    # One user's 10 log streams (more than a worker's threads) need more than the per-user cap.
    config.write_text((REPO / "etc" / "hpcai.toml").read_text().replace("# cpus = 2", "cpus = 8")
                      .replace("max_log_streams_per_user = 4", "max_log_streams_per_user = 12"))
    env = {"HPCAI_PLUGINS_ENABLE": "ws_keyed", "HPCAI_CONFIG": str(config),
           "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    p = Portal(data, env=env, args=("--workers", "2", "--threads", "8")).start()
    try:
        yield p
    finally:
        p.stop_all_services()
        p.stop()
        sys.path.remove(str(site))
        sys.modules.pop("hpcai_ws_keyed", None)


@pytest.fixture(scope="module")
def alice(portal: Portal) -> requests.Session:
    return portal.login("alice", "alicepass12")


@pytest.fixture(scope="module")
def bob(portal: Portal) -> requests.Session:
    return portal.login("bob", "bobpass12")


def _create(portal: Portal, s: requests.Session, **values: object) -> dict:
    r = s.post(f"{portal.url}/api/v1/services", json={"resource_spec": "cpu-1", **values}, timeout=30)
    assert r.status_code == 201, r.text
    return portal.wait_state(s, r.json()["alias"], ("running",))


@pytest.fixture(scope="module")
def ws(portal: Portal, alice: requests.Session) -> dict:
    """The WebSocket echo server as a custom service under the proxy path /ws."""
    return _create(portal, alice, name="ws", type="custom", proxy_path="/ws", health_path="/health",
                   command=f"exec {sys.executable} {WS_APP}")


@pytest.fixture(scope="module")
def keyed(portal: Portal, alice: requests.Session) -> dict:
    return _create(portal, alice, name="wsk", type="wskeyed", auth=True, command=f"exec {sys.executable} {WS_APP}")


def _ws_url(portal: Portal, alias: str, path: str, own_origin: bool = True) -> str:
    host = f"{alias}.svc.localhost" if own_origin else "127.0.0.1"
    return f"ws://{host}:{portal.port}/dockerService/{alias}/{path}"


def _cookie(s: requests.Session, portal: Portal | None = None, alias: str | None = None) -> dict[str, str]:
    """The Cookie header a browser sends: with `alias`, on the service's origin after the hand-off."""
    if portal is not None and alias is not None:
        portal.open_service(s, alias)
        jar = s.cookies.get_dict(domain=f"{alias}.svc.localhost")
    else:
        jar = s.cookies.get_dict()
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())}


def _refused(url: str, headers: dict[str, str] | None = None) -> int:
    with pytest.raises(InvalidStatus) as info:
        connect(url, additional_headers=headers or {}, open_timeout=10).close()
    return info.value.response.status_code


def _service_log(portal: Portal, s: requests.Session, alias: str) -> str:
    r = s.get(f"{portal.url}/api/v1/services/{alias}/log", timeout=10)
    return r.text if r.status_code == 200 else ""


# --- WebSocket ----------------------------------------------------------------------------------

def test_websocket_echo_through_the_proxy(portal: Portal, alice: requests.Session, ws: dict) -> None:
    with connect(_ws_url(portal, ws["alias"], "echo?x=1"), additional_headers=_cookie(alice, portal, ws["alias"]),
                 open_timeout=10) as c:
        c.send("hello")
        assert c.recv(timeout=10) == "hello"
        c.send(b"\x00\x01binary" * 1000)
        assert c.recv(timeout=10) == b"\x00\x01binary" * 1000
        c.send("?path")
        assert c.recv(timeout=10) == "/ws/echo?x=1"  # rewritten like HTTP: proxy path, query kept
        c.send("?cookie")
        assert "hpcai_" not in c.recv(timeout=10)  # the portal's cookies stay in the portal
    # a session on the portal's own origin gets no tunnel: the service's pages connect from theirs
    assert _refused(_ws_url(portal, ws["alias"], "echo", own_origin=False), _cookie(alice)) == 403


def test_unauthenticated_or_unshared_upgrade_is_refused(portal: Portal, alice: requests.Session,
                                                        bob: requests.Session, ws: dict) -> None:
    alias = ws["alias"]
    url = _ws_url(portal, alias, "echo")
    assert _refused(url) == 401
    # bob is refused by the portal (403) and so never gets the service origin's cookie
    assert bob.get(f"{portal.url}/dockerService/{alias}/echo", allow_redirects=False, timeout=10).status_code == 403
    assert _refused(url, _cookie(bob, portal, alias)) == 401
    assert _refused(url, {"Authorization": "Bearer hsk_not-a-key"}) == 401  # custom: keys never count
    assert _refused(_ws_url(portal, "custom-alice-nosuch", "echo"), _cookie(alice, portal, alias)) == 404
    api = f"{portal.url}/api/v1/services/{alias}/authorize"
    assert alice.post(api, json={"users": ["bob"]}, timeout=10).status_code == 200
    try:
        with connect(url, additional_headers=_cookie(bob, portal, alias), open_timeout=10) as c:  # authorised
            c.send("bob")
            assert c.recv(timeout=10) == "bob"
    finally:
        assert alice.post(api, json={"users": []}, timeout=10).status_code == 200
    # the cookie bob got while authorised no longer opens it: sharing is checked on every request
    assert _refused(url, {"Cookie": "hpcai_svc=" + bob.cookies.get("hpcai_svc", domain=f"{alias}.svc.localhost")}) == 403


def test_websocket_target_is_the_store_not_the_job_report(portal: Portal, alice: requests.Session,
                                                          ws: dict) -> None:
    """The tunnel goes where the platform allocated: a report naming another address changes nothing."""
    report = Path(ws["job_dir"]) / "service.json"
    original = report.read_text()
    report.write_text(json.dumps({**json.loads(original), "host": "203.0.113.5", "port": portal.port}))
    try:
        with connect(_ws_url(portal, ws["alias"], "echo"), additional_headers=_cookie(alice, portal, ws["alias"]),
                     open_timeout=10) as c:
            c.send("still the service")
            assert c.recv(timeout=10) == "still the service"
    finally:
        report.write_text(original)


def test_server_close_reaches_the_client(portal: Portal, alice: requests.Session, ws: dict) -> None:
    with connect(_ws_url(portal, ws["alias"], "bye"), additional_headers=_cookie(alice, portal, ws["alias"]),
                 open_timeout=10) as c:
        assert c.recv(timeout=10) == "bye"
        with pytest.raises(ConnectionClosed) as info:
            c.recv(timeout=10)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1000 and info.value.rcvd.reason == "server done"


def test_client_close_reaches_the_server(portal: Portal, alice: requests.Session, ws: dict) -> None:
    alias = ws["alias"]
    with connect(_ws_url(portal, alias, "echo?polite"), additional_headers=_cookie(alice, portal, alias),
                 open_timeout=10) as c:
        c.send("x")
        assert c.recv(timeout=10) == "x"
        c.close(1000)
    wait_for(lambda: "closed /ws/echo?polite 1000" in _service_log(portal, alice, alias), 30,
             "the server to see the close handshake")
    # a client that vanishes without a close frame: the tunnel closes the service's side too
    with contextlib.suppress(ConnectionClosed, OSError):
        with connect(_ws_url(portal, alias, "echo?abrupt"), additional_headers=_cookie(alice, portal, alias),
                     open_timeout=10) as c:
            c.send("y")
            assert c.recv(timeout=10) == "y"
            c.socket.shutdown(socket.SHUT_RDWR)
            c.socket.close()
    wait_for(lambda: "closed /ws/echo?abrupt 1006" in _service_log(portal, alice, alias), 30,
             "the server to see the connection drop")


def test_websocket_with_api_keys(portal: Portal, alice: requests.Session, bob: requests.Session,
                                 keyed: dict) -> None:
    alias = keyed["alias"]
    url = _ws_url(portal, alias, "echo")
    assert _refused(url) == 401
    assert _refused(url, {"Authorization": "Bearer hsk_wrong"}) == 401
    key_of_bob = bob.post(f"{portal.url}/api/v1/service-keys", json={"name": "b"}, timeout=10).json()["key"]
    assert _refused(url, {"Authorization": f"Bearer {key_of_bob}"}) == 401  # not shared with bob
    created = alice.post(f"{portal.url}/api/v1/service-keys", json={"name": "ws"}, timeout=10).json()
    with connect(url, additional_headers={"Authorization": f"Bearer {created['key']}"}, open_timeout=10) as c:
        c.send("?auth")
        assert c.recv(timeout=10) == "-"  # the key is the portal's, not the service's
        c.send("keyed")
        assert c.recv(timeout=10) == "keyed"
    with connect(url, additional_headers=_cookie(alice, portal, alias), open_timeout=10) as c:  # the owner's
        c.send("s")
        assert c.recv(timeout=10) == "s"
    assert alice.delete(f"{portal.url}/api/v1/service-keys/{created['id']}", timeout=10).status_code == 204
    assert _refused(url, {"Authorization": f"Bearer {created['key']}"}) == 401


def test_native_auth_type_gets_its_secret_from_the_proxy_only(portal: Portal, alice: requests.Session) -> None:
    """A type whose server checks a token itself: no gate, the secret is its token, the proxy adds it."""
    v = _create(portal, alice, name="nat", type="wsnative", command=f"exec {sys.executable} {WS_APP}")
    alias = v["alias"]
    info = json.loads((Path(v["job_dir"]) / "service.json").read_text())
    assert info["server_port"] == v["port"]  # the server itself on the allocated port
    assert requests.get(f"http://127.0.0.1:{v['port']}/hello", timeout=10).status_code == 403
    base = portal.open_service(alice, alias)
    r = alice.get(f"{base}/dockerService/{alias}/hello", timeout=10)
    assert r.status_code == 200, r.text
    with connect(_ws_url(portal, alias, "echo"), additional_headers=_cookie(alice, portal, alias), open_timeout=10) as c:
        c.send("through")
        assert c.recv(timeout=10) == "through"
    secret = portal.platform.services.secret(portal.platform.services.job(portal.platform.services.get(alias, "alice")))
    assert secret and secret not in _service_log(portal, alice, alias) and secret not in json.dumps(v)
    assert alice.delete(f"{portal.url}/api/v1/services/{alias}", timeout=30).status_code == 204


# --- the per-alias cache -------------------------------------------------------------------------

def test_deleted_key_stops_at_once_in_every_worker(portal: Portal, alice: requests.Session, keyed: dict) -> None:
    """Warm the cache in both workers with the key, delete it, and the very next requests fail."""
    url = f"{portal.url}/dockerService/{keyed['alias']}/hello"
    created = alice.post(f"{portal.url}/api/v1/service-keys", json={"name": "http"}, timeout=10).json()
    auth = {"Authorization": f"Bearer {created['key']}"}

    def get(_: int) -> int:
        return requests.get(url, headers=auth, timeout=10).status_code  # a new connection: any worker

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert set(pool.map(get, range(24))) == {200}
        assert alice.delete(f"{portal.url}/api/v1/service-keys/{created['id']}", timeout=10).status_code == 204
        assert set(pool.map(get, range(24))) == {401}


def test_cache_follows_authorize_stop_start_modify_delete(portal: Portal, alice: requests.Session,
                                                          bob: requests.Session) -> None:
    v = _create(portal, alice, name="cached", type="custom", health_path="/health",
                command=f"exec {sys.executable} {WS_APP}")
    alias, api = v["alias"], f"{portal.url}/api/v1/services/{v['alias']}"
    url = f"{portal.url}/dockerService/{alias}/hello"

    def codes(s: requests.Session, n: int = 6) -> set[int]:
        return {s.get(url, timeout=10).status_code for _ in range(n)}  # via the hand-off, as a browser

    assert codes(alice) == {200} and codes(bob) == {403}
    assert alice.post(f"{api}/authorize", json={"users": ["bob"]}, timeout=10).status_code == 200
    assert codes(bob) == {200}
    assert alice.post(f"{api}/authorize", json={"users": []}, timeout=10).status_code == 200
    assert codes(bob) == {403}
    assert alice.post(f"{api}/stop", timeout=30).status_code == 200
    assert codes(alice) == {503}  # the very next request: no cached target survives a stop
    assert alice.post(f"{api}/start", timeout=30).status_code == 200
    portal.wait_state(alice, alias, ("running",))
    assert codes(alice) == {200}
    assert alice.patch(api, json={"proxy_path": "/ws"}, timeout=30).status_code == 200  # restarts it
    portal.wait_state(alice, alias, ("running",))
    assert alice.get(url, timeout=10).text == "hello /ws/hello\n"
    assert alice.delete(api, timeout=30).status_code == 204
    assert codes(alice) == {404}


def test_reused_upstream_connections_survive_a_service_closing_them(portal: Portal,
                                                                    alice: requests.Session) -> None:
    """The pool keeps connections to the service alive; one the service closed is not reused."""
    v = _create(portal, alice, name="web", type="custom", proxy_path="/api",
                command=f"exec {sys.executable} {WEB_APP}")
    base = f"{portal.url}/dockerService/{v['alias']}"
    for i in range(20):
        r = alice.get(f"{base}/drop" if i % 2 else f"{base}/hello?i={i}", timeout=10)
        assert r.status_code == 200, r.text
    assert alice.post(f"{portal.url}/api/v1/services/{v['alias']}/stop", timeout=30).status_code == 200


# --- the server ------------------------------------------------------------------------------------

def test_open_log_streams_do_not_starve_other_requests(portal: Portal, alice: requests.Session) -> None:
    """More open log streams than one worker has threads (8 here): pages still answer."""
    r = alice.post(f"{portal.url}/api/v1/jobs", json={
        "framework": "pytorch", "mode": "standalone", "resource_spec": "cpu-1",
        "workdir": str(portal.platform.workspace.home("alice")), "command": "sleep 120"}, timeout=30)
    assert r.status_code == 201, r.text
    job = r.json()["id"]
    cookies = alice.cookies.get_dict()
    streams = []
    try:
        for _ in range(10):
            resp = requests.get(f"{portal.url}/jobs/{job}/log/stream", cookies=cookies, stream=True, timeout=30)
            assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
            streams.append(resp)
        for _ in range(10):
            assert alice.get(f"{portal.url}/api/v1/me", timeout=30).status_code == 200
    finally:
        for resp in streams:
            resp.close()
        alice.post(f"{portal.url}/api/v1/jobs/{job}/kill", timeout=30)


def test_one_watcher_among_workers_and_it_moves_when_its_worker_dies(portal: Portal,
                                                                     alice: requests.Session) -> None:
    lock = portal.data / "watcher.lock"
    holder = int(wait_for(lambda: lock.read_text().strip(), 30, "a worker to hold the watcher lock"))
    workers = _children(portal.proc.pid)  # type: ignore[union-attr]
    assert holder in workers and len(workers) == 2
    locks = [line for line in Path("/proc/locks").read_text().splitlines()
             if f":{os.stat(lock).st_ino} " in line and "FLOCK" in line]
    assert len(locks) == 1 and f" {holder} " in locks[0], locks  # the other worker only tries it
    os.kill(holder, signal.SIGKILL)  # gunicorn starts a new worker; another one takes the watcher
    new = int(wait_for(lambda: (lambda t: t if t and int(t) != holder else None)(lock.read_text().strip()),
                       30, "another worker to take the watcher"))
    assert new in _children(portal.proc.pid)  # type: ignore[union-attr]
    # the watcher works: a new service's job is seen running (only the watcher records that)
    v = _create(portal, alice, name="after", type="custom", health_path="/health",
                command=f"exec {sys.executable} {WS_APP}")
    assert v["state"] == "running"
    alice.post(f"{portal.url}/api/v1/services/{v['alias']}/stop", timeout=30)


def _children(pid: int) -> set[int]:
    out = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out |= {int(c) for c in (task / "children").read_text().split()}
        except OSError:
            continue
    return out
