"""VS Code (issue 17) end to end: a real `hpcai serve` as root with the local scheduler; alice's
code-server runs as her Unix user (hpc-alice) behind the portal's proxy, which alone holds its
session cookie (the per-instance secret).

- through the proxy: the workbench page on the working directory, its static code, and the
  WebSocket of VS Code's remote protocol (101 from code-server itself);
- the owner only: bob is refused by the API and the proxy; bob's Unix user on the node, on the
  port itself, gets code-server's login redirect (pages) and 401 (WebSocket), with or without a
  made-up session cookie;
- code-server runs as hpc-alice, and the secret stays out of argv (`ps`).
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
import uuid
from typing import Any, Iterator

import pytest
import requests
import websocket

import plugins.environments.vscode as vscode
from portal.front import nginx_binary
from tests.envs.test_env_e2e import cookie_header, create, env_state
from tests.svc.helpers import Portal, environments_portal, scratch, site_config, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def portal() -> Iterator[Portal]:
    with environments_portal("vscode-e2e") as p:
        yield p


@pytest.fixture(scope="module")
def alice(portal: Portal) -> requests.Session:
    return portal.login("alice", "alicepass12")


@pytest.fixture(scope="module")
def code(portal: Portal, alice: requests.Session) -> dict[str, Any]:
    v = create(portal, alice, {"type": "vscode", "name": "code1"})
    return env_state(portal, alice, v["id"], ("running",))


def port_of(portal: Portal, env: dict[str, Any]) -> int:
    return portal.platform.services.view(portal.platform.services.get(env["alias"], "alice")).port


def ws_query() -> str:
    """The WebSocket the workbench opens (VS Code's remote-agent connection), relative to the root."""
    product = json.loads((vscode.ENTRY.parents[2] / "lib" / "vscode" / "product.json").read_text())
    return f"stable-{product['commit']}?reconnectionToken={uuid.uuid4()}&reconnection=false&skipWebSocketFrames=false"


def test_type_is_offered(portal: Portal, alice: requests.Session) -> None:
    types = alice.get(f"{portal.url}/api/v1/environment-types", timeout=10).json()
    vscode = next(t for t in types if t["name"] == "vscode")
    assert vscode["title"] == "VS Code" and vscode["unavailable"] is None, vscode
    page = alice.get(f"{portal.url}/environments/new?type=vscode", timeout=10).text
    assert 'value="vscode-1"' in page and "VS Code" in page


def test_workbench_and_websocket_through_the_proxy(portal: Portal, alice: requests.Session,
                                                   code: dict[str, Any]) -> None:
    assert code["can_connect"] and code["url"].endswith(f"/dockerService/{code['alias']}/")
    alias = code["alias"]
    origin = portal.open_service(alice, alias)
    base = f"{origin}/dockerService/{alias}/"
    r = alice.get(base, timeout=30)  # code-server redirects to ./?folder=<its working directory>
    assert r.status_code == 200, r.text[:500]
    home = str(portal.platform.workspace.home("alice"))
    assert r.url.startswith(base + "?folder=") and r.url.endswith(home.replace("/", "%2F")) or \
        r.url.endswith(home), r.url
    assert "workbench.js" in r.text and "codeServerVersion" in r.text
    script = re.search(r'src="([^"]*workbench\.js)"', r.text)
    assert script, r.text[:1000]
    js = alice.get(base + html.unescape(script.group(1)).lstrip("./"), timeout=30)
    assert js.status_code == 200 and len(js.content) > 1_000_000  # the whole workbench
    ws = websocket.create_connection(f"ws://{alias}.svc.localhost:{portal.port}/dockerService/{alias}/{ws_query()}",
                                     header=[f"Cookie: {cookie_header(alice)}"], timeout=30)
    assert ws.getstatus() == 101
    ws.close()
    # a session cookie the visitor sends of its own is replaced by the proxy's, not added to it
    forged = alice.get(r.url, headers={"Cookie": cookie_header(alice) + "; code-server-session=forged"},
                       allow_redirects=False, timeout=30)
    assert forged.status_code == 200 and "workbench.js" in forged.text, forged.status_code


def test_code_server_runs_as_the_user_without_its_secret_in_argv(portal: Portal, code: dict[str, Any]) -> None:
    port = port_of(portal, code)
    ps = subprocess.run(["ps", "-ww", "-eo", "user:32,args"], capture_output=True, text=True, timeout=30).stdout
    mine = [line for line in ps.splitlines() if "code-server" in line and "--bind-addr=" in line and f":{port} " in line]
    assert mine, ps
    assert all(line.split()[0] == "hpc-alice" for line in mine), mine
    svc = portal.platform.services
    secret = svc.secret(svc.job(svc.get(code["alias"], "alice")))
    assert secret and secret not in ps


def test_bob_on_the_node_cannot_use_the_port(portal: Portal, code: dict[str, Any]) -> None:
    bob = portal.login("bob", "bobpass12")
    assert bob.get(f"{portal.url}/api/v1/environments/{code['id']}", timeout=10).status_code == 404
    r = bob.get(f"{portal.url}/dockerService/{code['alias']}/", allow_redirects=False, timeout=10)
    assert r.status_code in (403, 404), r.status_code
    port = port_of(portal, code)
    probe = (
        "import http.client, base64, os, sys\n"
        f"port = {port}\n"
        "def get(path, cookie=None, ws=False):\n"
        "    c = http.client.HTTPConnection('127.0.0.1', port, timeout=10)\n"
        "    h = {'Cookie': cookie} if cookie else {}\n"
        "    if ws:\n"
        "        h.update({'Upgrade': 'websocket', 'Connection': 'Upgrade', 'Sec-WebSocket-Version': '13',\n"
        "                  'Sec-WebSocket-Key': base64.b64encode(os.urandom(16)).decode()})\n"
        "    c.request('GET', path, headers=h)\n"
        "    r = c.getresponse()\n"
        "    return f'{r.status} {r.getheader(\"Location\") or \"\"}'.strip()\n"
        "print(get('/'))\n"
        "print(get('/', 'code-server-session=guess'))\n"
        f"print(get('/{ws_query()}', None, True))\n"
        f"print(get('/{ws_query()}', 'code-server-session=guess', True))\n")
    out = subprocess.run(["runuser", "-u", "hpc-bob", "--", sys.executable, "-c", probe],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    page, page_guess, ws, ws_guess = out.stdout.split("\n")[:4]
    assert page.startswith("302 ") and "login" in page, page  # code-server's login page
    assert page_guess.startswith("302 ") and "login" in page_guess, page_guess
    assert ws.split()[0] in ("401", "403") and ws_guess.split()[0] in ("401", "403"), (ws, ws_guess)


def test_restart_gets_a_new_secret_the_proxy_presents(portal: Portal, alice: requests.Session,
                                                      code: dict[str, Any]) -> None:
    svc = portal.platform.services
    before = svc.secret(svc.job(svc.get(code["alias"], "alice")))
    assert alice.post(f"{portal.url}/api/v1/environments/{code['id']}/restart", timeout=60).status_code == 200
    env_state(portal, alice, code["id"], ("running",))
    after = svc.secret(svc.job(svc.get(code["alias"], "alice")))
    assert after and after != before
    origin = portal.open_service(alice, code["alias"])
    r = alice.get(f"{origin}/dockerService/{code['alias']}/", timeout=30)
    assert r.status_code == 200 and "workbench.js" in r.text, r.status_code


@pytest.mark.skipif(nginx_binary() is None, reason="nginx is not installed (scripts/setup.sh installs it)")
def test_through_the_nginx_front() -> None:
    """`hpcai serve --front nginx`: nginx presents the session cookie (before the visitor's, which
    cannot take its place), the workbench and its WebSocket answer from nginx itself."""
    data = scratch("vscode-front")
    p = Portal(data, env={"HPCAI_CONFIG": str(site_config(data, cpus=8))}, args=("--front", "nginx")).start()
    try:
        alice = p.login("alice", "alicepass12")
        v = env_state(p, alice, create(p, alice, {"type": "vscode", "name": "front"})["id"], ("running",))
        alias = v["alias"]
        conf = p.data / "nginx" / "services.conf"
        wait_for(lambda: conf.exists() and f"/dockerService/{alias}/" in conf.read_text(), 30,
                 f"nginx's configuration to include {alias}")
        origin = p.open_service(alice, alias)
        url = f"{origin}/dockerService/{alias}/?folder={p.platform.workspace.home('alice')}"

        def page() -> requests.Response | None:
            r = alice.get(url, headers={"Cookie": cookie_header(alice) + "; code-server-session=forged"},
                          allow_redirects=False, timeout=30)
            return r if r.headers.get("X-Hpcai-Proxy") == "front" else None  # after nginx's reload

        r = wait_for(page, 30, "nginx to serve the workbench", interval=0.5)
        assert r.status_code == 200 and "workbench.js" in r.text, (r.status_code, r.text[:300])
        ws = websocket.create_connection(f"ws://{alias}.svc.localhost:{p.port}/dockerService/{alias}/{ws_query()}",
                                         header=[f"Cookie: {cookie_header(alice)}"], timeout=30)
        assert ws.getstatus() == 101 and ws.getheaders().get("x-hpcai-proxy") == "front"
        ws.close()
    finally:
        for row in p.platform.environments.list("alice"):
            p.platform.environments.stop(row.id, "alice")
        p.stop()
