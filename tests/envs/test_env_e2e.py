"""Development environments end to end (issue 17): a real `hpcai serve` as root with the local
scheduler; alice's environments run as her Unix user (hpc-alice, the test run's auto-created
identity) behind the portal's proxy.

- JupyterLab: a kernel started and driven through the proxy with jupyter_client's Session
  messages over the proxied WebSocket; `os.getuid()` prints hpc-alice's uid, not 0;
- Web terminal: terminado's WebSocket through the proxy; `id -un` answers hpc-alice, `pwd` the
  working directory;
- the owner only: bob (another account and Unix user) is refused by the API, by the proxy,
  and on the environment's port itself (no token / no gate signature).
"""

from __future__ import annotations

import json
import pwd
import re
import subprocess
import sys
import time
from typing import Any, Iterator

import pytest
import requests
import websocket
from jupyter_client.session import Session

from tests.svc.helpers import Portal, environments_portal, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def portal() -> Iterator[Portal]:
    with environments_portal("envs-e2e") as p:
        yield p


@pytest.fixture(scope="module")
def alice(portal: Portal) -> requests.Session:
    return portal.login("alice", "alicepass12")


@pytest.fixture(scope="module")
def bob(portal: Portal) -> requests.Session:
    return portal.login("bob", "bobpass12")


def env_state(portal: Portal, s: requests.Session, env_id: int, states: tuple[str, ...],
              timeout: float = 240) -> dict[str, Any]:
    def get() -> dict[str, Any] | None:
        r = s.get(f"{portal.url}/api/v1/environments/{env_id}", timeout=10)
        assert r.status_code == 200, r.text
        v = r.json()
        assert v["state"] not in ("failed",) or "failed" in states, v
        return v if v["state"] in states else None

    return wait_for(get, timeout, f"environment {env_id} to be {'/'.join(states)}", interval=1)


def create(portal: Portal, s: requests.Session, body: dict[str, Any]) -> dict[str, Any]:
    r = s.post(f"{portal.url}/api/v1/environments", json={"resource_spec": "cpu-1", **body}, timeout=60)
    assert r.status_code == 201, r.text
    return r.json()


def ws_url(portal: Portal, alias: str, path: str) -> str:
    return f"ws://{alias}.svc.localhost:{portal.port}/dockerService/{alias}/{path}"


def cookie_header(s: requests.Session) -> str:
    return "; ".join(f"{c.name}={c.value}" for c in s.cookies)


@pytest.fixture(scope="module")
def lab(portal: Portal, alice: requests.Session) -> dict[str, Any]:
    v = create(portal, alice, {"type": "jupyterlab", "name": "lab1", "description": "e2e"})
    assert v["state"] in ("queued", "starting", "running") and not v["can_connect"]
    return env_state(portal, alice, v["id"], ("running",))


@pytest.fixture(scope="module")
def term(portal: Portal, alice: requests.Session) -> dict[str, Any]:
    v = create(portal, alice, {"type": "webterminal", "name": "term1"})
    return env_state(portal, alice, v["id"], ("running",))


def test_bad_input_is_a_json_4xx_naming_the_field(portal: Portal, alice: requests.Session) -> None:
    r = alice.post(f"{portal.url}/api/v1/environments", json={
        "type": "jupyterlab", "name": "bad", "resource_spec": "cpu-1", "ports": [70000]}, timeout=30)
    assert r.status_code == 400, r.text
    assert "ports" in r.text and "65535" in r.text
    assert all(v["name"] != "bad" for v in alice.get(f"{portal.url}/api/v1/environments", timeout=10).json())


def test_jupyter_kernel_through_the_proxy_runs_as_the_user(portal: Portal, alice: requests.Session,
                                                           lab: dict[str, Any]) -> None:
    assert lab["can_connect"] and lab["url"].endswith(f"/dockerService/{lab['alias']}/")
    alias = lab["alias"]
    origin = portal.open_service(alice, alias)  # the proxy's hand-over to the service's origin
    base = f"{origin}/dockerService/{alias}"
    r = alice.get(f"{base}/lab", timeout=30)
    assert r.status_code == 200 and "JupyterLab" in r.text, r.text[:500]
    r = alice.post(f"{base}/api/kernels", json={"name": "python3"}, timeout=60)
    assert r.status_code == 201, r.text
    kernel = r.json()["id"]
    ws = websocket.create_connection(ws_url(portal, alias, f"api/kernels/{kernel}/channels"),
                                     header=[f"Cookie: {cookie_header(alice)}"], timeout=60)
    session = Session(key=b"", username="alice")
    msg = session.msg("execute_request", {"code": "import os; print(os.getuid())", "silent": False,
                                          "store_history": False, "user_expressions": {}, "allow_stdin": False})
    ws.send(json.dumps({**msg, "channel": "shell", "buffers": []}, default=str))
    out = ""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not out:
        m = json.loads(ws.recv())
        if m.get("parent_header", {}).get("msg_id") == msg["header"]["msg_id"] and m["msg_type"] == "stream":
            out = m["content"]["text"].strip()
    ws.close()
    uid = pwd.getpwnam("hpc-alice").pw_uid
    assert out == str(uid) and uid != 0


def test_terminal_over_the_proxied_websocket(portal: Portal, alice: requests.Session, term: dict[str, Any]) -> None:
    alias = term["alias"]
    origin = portal.open_service(alice, alias)
    page = alice.get(f"{origin}/dockerService/{alias}/", timeout=30)
    assert page.status_code == 200 and "xterm" in page.text
    ws = websocket.create_connection(ws_url(portal, alias, "websocket"),
                                     header=[f"Cookie: {cookie_header(alice)}"], timeout=30)
    ws.send(json.dumps(["stdin", "echo ID=$(id -un) WD=$(pwd) END\r"]))
    seen, got = "", None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and got is None:  # the shell's answer, not its echo of the line
        m = json.loads(ws.recv())
        if m[0] == "stdout":
            seen += m[1]
            got = re.search(r"ID=([\w.-]+) WD=(/\S+) END", seen)
    ws.close()
    assert got is not None, seen
    assert got.group(1) == "hpc-alice"  # a login shell as the environment's Unix user
    assert got.group(2) == str(portal.platform.workspace.home("alice"))  # in its working directory


def test_only_the_owner_gets_in(portal: Portal, alice: requests.Session, bob: requests.Session,
                               lab: dict[str, Any], term: dict[str, Any]) -> None:
    for v in (lab, term):
        assert bob.get(f"{portal.url}/api/v1/environments/{v['id']}", timeout=10).status_code == 404
        assert bob.post(f"{portal.url}/api/v1/environments/{v['id']}/stop", timeout=10).status_code == 404
        r = bob.get(f"{portal.url}/dockerService/{v['alias']}/", allow_redirects=False, timeout=10)
        assert r.status_code in (403, 404), r.status_code
    # bob's Unix user connects to the ports directly: Jupyter wants its token, the gate its signature
    for v, path in ((lab, f"/dockerService/{lab['alias']}/api/kernels"), (term, "/")):
        port = portal.platform.services.view(portal.platform.services.get(v["alias"], "alice")).port
        probe = ("import urllib.request, urllib.error, sys\n"
                 f"try:\n r = urllib.request.urlopen('http://127.0.0.1:{port}{path}', timeout=10); print(r.status)\n"
                 "except urllib.error.HTTPError as e: print(e.code)\n"
                 "except Exception as e: print('refused', type(e).__name__)\n")
        out = subprocess.run(["runuser", "-u", "hpc-bob", "--", sys.executable, "-c", probe],
                             capture_output=True, text=True, timeout=60).stdout.strip()
        assert out != "200", (v["name"], out)
        assert out in ("403", "401") or out.startswith("refused"), (v["name"], out)


def test_modify_then_restart_applies(portal: Portal, alice: requests.Session, term: dict[str, Any]) -> None:
    r = alice.patch(f"{portal.url}/api/v1/environments/{term['id']}", json={"ports": [8080]}, timeout=30)
    assert r.status_code == 200 and r.json()["pending"]["ports"] == [8080], r.text
    assert r.json()["values"]["ports"] == []  # F21: not before the restart
    r = alice.post(f"{portal.url}/api/v1/environments/{term['id']}/restart", timeout=60)
    assert r.status_code == 200, r.text
    v = env_state(portal, alice, term["id"], ("running",))
    assert v["pending"] is None and v["values"]["ports"] == [8080]
    assert set(v["ports"]) == {"8080"} and v["ports"]["8080"] > 0  # its host port
    assert any("svcrun" in line for line in v["log_tail"])  # F19: the environment log


def ssh_run(ssh: dict[str, Any], password: str, command: str, as_user: str = "hpc-bob") -> subprocess.CompletedProcess:
    """The OpenSSH client as another Unix user of the node (a colleague, or anyone who got the
    connection information): the login and password are what let a client in, nothing else."""
    argv = ["runuser", "-u", as_user, "--", "sshpass", "-e", "ssh", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "PubkeyAuthentication=no", "-o", "ConnectTimeout=20",
            "-p", ssh["port"], f"{ssh['login']}@127.0.0.1", command]
    return subprocess.run(argv, capture_output=True, text=True, timeout=90, env={"SSHPASS": password, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})


def test_ssh_switched_on_by_modify_and_restart(portal: Portal, alice: requests.Session, term: dict[str, Any]) -> None:
    """F21-F24: Modify switches SSH on, the restart applies it, the running card shows the
    `ssh <user>-<8>@<host> -p <port>` command, Xshell's form and the password; a client logs in
    as the environment's Unix user in its working directory; a wrong password gets nothing."""
    assert term_view(portal, alice, term)["ssh"] is None  # off by default
    r = alice.patch(f"{portal.url}/api/v1/environments/{term['id']}", json={"ssh": True}, timeout=30)
    assert r.status_code == 200 and r.json()["pending"]["ssh"] is True, r.text
    assert alice.post(f"{portal.url}/api/v1/environments/{term['id']}/restart", timeout=60).status_code == 200
    v = env_state(portal, alice, term["id"], ("running",))
    ssh = v["ssh"]
    assert ssh and re.fullmatch(r"alice-[a-z0-9]{8}", ssh["login"]), v
    assert ssh["ssh"] == f"ssh {ssh['login']}@{ssh['host']} -p {ssh['port']}"  # F23
    assert ssh["xshell"] == f"ssh {ssh['login']}@{ssh['host']} {ssh['port']}"  # F24
    svc = alice.get(f"{portal.url}/api/v1/services/{term['alias']}", timeout=10)
    leaked = svc.text.find("$6$")
    assert svc.status_code == 200 and leaked < 0, svc.text[max(0, leaked - 300):leaked + 10]  # the hash stays in the store
    assert int(ssh["port"]) not in v["ports"].values()  # its own allocated port
    page = alice.get(f"{portal.url}/environments/{term['id']}", timeout=30).text
    assert ssh["ssh"] in page and ssh["password"] in page
    out = ssh_run(ssh, ssh["password"], "echo ID=$(id -un) WD=$(pwd)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"ID=hpc-alice WD={portal.platform.workspace.home('alice')}", out.stdout
    wrong = ssh_run(ssh, ssh["password"] + "x", "id -un")
    assert wrong.returncode != 0 and "hpc-alice" not in wrong.stdout
    # a restart keeps the login and the password (the user's ssh config stays right)
    assert alice.post(f"{portal.url}/api/v1/environments/{term['id']}/restart", timeout=60).status_code == 200
    again = env_state(portal, alice, term["id"], ("running",))["ssh"]
    assert (again["login"], again["password"]) == (ssh["login"], ssh["password"])


def term_view(portal: Portal, s: requests.Session, term: dict[str, Any]) -> dict[str, Any]:
    r = s.get(f"{portal.url}/api/v1/environments/{term['id']}", timeout=10)
    assert r.status_code == 200, r.text
    return r.json()
