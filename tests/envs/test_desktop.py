"""The Desktop environment (issue 17 item 1; spec 01 §4.4, F32-F34): XFCE on TigerVNC, noVNC.

Rules in process on a real store: available here / refused with the missing programs where
they are absent, JH_GPU_MODE (F33) validated against the resource spec and rendered, the
start plan pinned (golden), the VNC password derived from the instance secret and carried
in the owner's link's fragment only.

End to end (a real `hpcai serve` as root, the local scheduler): alice's desktop runs as her
Unix user; noVNC's page loads through the proxy on the environment's own origin, and the
proxied WebSocket carries a real RFB handshake (VncAuth with the shown password, ServerInit
of the X desktop); the RFB port itself refuses a client without the password, and bob's Unix
user gets nothing (wrong password, the session's files unreadable, the proxy 403/404).
"""

from __future__ import annotations

import json
import os
import pwd
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
import websocket

from core.api import Image, ServiceContext
from core.config import load_config
from core.errors import HpcaiError, ValidationErrors
from core.platform import Platform
from core.types import ResourceSpec
from plugins.environments.desktop import session as desktop_session
from tests.envs import rfb
from tests.envs.test_env_rules import counts, fields
from tests.svc.helpers import Portal, environments_portal, wait_for

GOLDEN = Path(__file__).with_name("golden")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def p(tmp_path: Path) -> Platform:
    plat = Platform(load_config({"HPCAI_DATA_DIR": str(tmp_path)}))
    plat.store.migrate()
    plat.accounts.create("alice", "alicepass12")
    plat.images.images[:] = [Image("xfce", "host", "/usr", tags=["Desktop"]),
                             Image("plain", "host", "/usr", tags=["PyTorch"])]
    plat.specs.save(ResourceSpec("gpu-shared", kind="gpu", gpus=1, gpu_mode="shared"))
    return plat


def ctx() -> ServiceContext:
    return ServiceContext(alias="desktop-alice-1", user="alice", job_dir="{job_dir}",
                          base_path="/dockerService/desktop-alice-1")


def test_desktop_is_offered_with_its_images_and_gpu_mode(p: Platform) -> None:
    envs = p.environments
    assert "desktop" in envs.types()
    schema = envs.form_schema("alice", "desktop")
    assert schema["properties"]["name"]["default"] == "desktop-1"
    assert schema["properties"]["image"]["enum"] == ["xfce"]  # F13: images tagged Desktop
    assert schema["properties"]["gpu_mode"]["enum"] == ["", "pgl", "egl"]  # F33
    assert "gpu_mode" not in envs.form_schema("alice", "webterminal")["properties"]  # the Desktop's own


def test_available_here_refused_where_absent(p: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    st = p.environments.type("desktop")
    if os.path.exists("/usr/bin/Xtigervnc"):
        assert st.check_available() is None  # scripts/setup.sh installed the Debian packages
    import plugins.environments.desktop as mod

    monkeypatch.setattr(mod, "PROGRAMS", ("Xtigervnc", "no-such-websockify-here"))
    why = st.check_available() or ""
    assert "no-such-websockify-here" in why and "TigerVNC" in why
    with pytest.raises(HpcaiError) as e:
        p.environments.create({"type": "desktop", "name": "d1", "resource_spec": "cpu-1"}, "alice")
    assert e.value.field == "type" and "no-such-websockify-here" in e.value.message
    assert counts(p) == (0, 0)  # the refusal left nothing behind


def test_gpu_mode_must_fit_the_spec(p: Platform) -> None:
    envs = p.environments
    with pytest.raises(ValidationErrors) as e:
        envs.create({"type": "desktop", "name": "d1", "resource_spec": "cpu-1", "gpu_mode": "vulkan"},
                    "alice", start=False)
    assert "gpu_mode" in fields(e.value)
    with pytest.raises(ValidationErrors) as e:
        envs.create({"type": "desktop", "name": "d1", "resource_spec": "cpu-1", "gpu_mode": "egl"},
                    "alice", start=False)
    got = fields(e.value)["resource_spec"]
    assert "JH_GPU_MODE=egl" in got and "shared" in got and "CPU spec" in got
    with pytest.raises(ValidationErrors) as e:  # pass-through wants an exclusive card
        envs.create({"type": "desktop", "name": "d1", "resource_spec": "gpu-shared", "gpu_mode": "pgl"},
                    "alice", start=False)
    assert "exclusive" in fields(e.value)["resource_spec"]
    assert counts(p) == (0, 0)
    a = envs.create({"type": "desktop", "name": "d1", "resource_spec": "gpu-1", "gpu_mode": "pgl"},
                    "alice", start=False)
    b = envs.create({"type": "desktop", "name": "d2", "resource_spec": "gpu-shared", "gpu_mode": "egl"},
                    "alice", start=False)
    c = envs.create({"type": "desktop", "name": "d3", "resource_spec": "cpu-1"}, "alice", start=False)
    assert (a.values["gpu_mode"], b.values["gpu_mode"], c.values["gpu_mode"]) == ("pgl", "egl", "")
    # the environment's service gets it, and its plan sets the variable (no GPU here to run it)
    svc = p.services.get(b.service_alias, "alice")
    assert p.services.type_options(svc)["gpu_mode"] == "egl"
    st = envs.type("desktop")
    assert st.start_plan({"gpu_mode": "egl"}, ctx()).env["JH_GPU_MODE"] == "egl"
    assert "JH_GPU_MODE" not in st.start_plan({}, ctx()).env
    # Modify keeps the rule
    with pytest.raises(ValidationErrors) as e:
        envs.modify("d3", {"gpu_mode": "pgl"}, "alice")
    assert "exclusive" in fields(e.value)["resource_spec"]


def test_golden_plan(p: Platform) -> None:
    st = p.environments.type("desktop")
    plan = st.start_plan({"gpu_mode": "egl", "ports": [8080]}, ctx())
    got = json.dumps({"argv": plan.argv, "env": plan.env, "files": plan.files, "ports": plan.ports,
                      "native_auth": plan.native_auth, "health_path": plan.health_path}, indent=1, sort_keys=True)
    got = got.replace(str(REPO), "<repo>")  # the same golden file in every checkout
    golden = GOLDEN / "desktop_plan.json"
    if not golden.exists():  # a new golden file is reviewed, never taken for granted
        golden.write_text(got + "\n")
        pytest.fail(f"wrote {golden}: review it and commit it")
    assert got + "\n" == golden.read_text()
    assert not plan.native_auth  # websockify behind svcrun's gate; the RFB port has VncAuth
    assert not any("{secret}" in a for a in plan.argv)  # the secret is never on a command line
    assert plan.ports == st.server_ports + 1 and plan.env["HPCAI_ENV_PORT_8080"] == "{port2}"


def test_password_is_derived_and_only_in_the_fragment(p: Platform) -> None:
    st = p.environments.type("desktop")
    secret = "s3cr3t-" * 6
    pw = desktop_session.vnc_password(secret)
    assert len(pw) == 8 and pw == desktop_session.vnc_password(secret) and pw not in secret
    assert pw != desktop_session.vnc_password(secret + "x")  # a new start, a new password
    path = st.open_path("/dockerService/desktop-alice-1/", secret)
    page, _, fragment = path.partition("#")
    assert page == "vnc.html" and "?" not in page  # nothing of it in a request line
    assert f"password={pw}" in fragment and "path=dockerService/desktop-alice-1/websockify" in fragment
    assert st.client_connection("node1", [4000, 4001], secret) == {
        "vnc": "node1:4001", "host": "node1", "port": "4001", "password": pw}
    assert p.environments.type("webterminal").open_path("/x/", secret) == ""


def test_session_files_are_private(tmp_path: Path) -> None:
    """What session.py writes before anything starts: vncpasswd's file and the X cookie, 0600."""
    if not os.path.exists("/usr/bin/vncpasswd"):
        pytest.skip("tigervnc-tools is not installed")
    passwd = desktop_session.write_password(tmp_path, "abcdefgh")
    xauth = desktop_session.write_xauthority(tmp_path)
    for f in (passwd, xauth):
        assert f.stat().st_mode & 0o777 == 0o600
    assert len(passwd.read_bytes()) == 8 and b"abcdefgh" not in passwd.read_bytes()  # obfuscated
    assert b"MIT-MAGIC-COOKIE-1" in xauth.read_bytes()


def test_shells_offer_and_check_the_gpu_mode(p: Platform, cli: Any) -> None:  # type: ignore[no-untyped-def]
    from tests.svc.helpers import app_client

    page = app_client(p).get("/environments/new?type=desktop").get_data(as_text=True)
    assert 'name="gpu_mode"' in page and "JH_GPU_MODE" in page  # the form, from the type's schema
    r = cli("envs", "create", "--type", "desktop", "--resource-spec", "cpu-1", "--option", "gpu_mode=egl",
            "--no-start")
    assert r.returncode == 2 and "resource_spec" in r.stderr and "shared" in r.stderr, r.stderr
    r = cli("envs", "create", "--type", "desktop", "--resource-spec", "cpu-1", "--option", "gpu_mode", "--no-start")
    assert r.returncode == 2 and "option" in r.stderr and "KEY=VALUE" in r.stderr, r.stderr
    r = cli("envs", "create", "--type", "desktop", "--resource-spec", "cpu-1", "--no-start")
    assert r.returncode == 0 and "desktop-1" in r.stdout, r.stderr


def test_gpu_mode_runs_the_session_under_virtualgl_where_it_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    assert desktop_session.session_argv("") == ["dbus-launch", "--exit-with-session", "xfce4-session"]
    monkeypatch.setattr(desktop_session.shutil, "which", lambda name: None)
    assert desktop_session.session_argv("egl")[0] == "dbus-launch"  # no VirtualGL here: the variable only
    monkeypatch.setattr(desktop_session.shutil, "which", lambda name: f"/opt/VirtualGL/bin/{name}")
    assert desktop_session.session_argv("egl")[:3] == ["vglrun", "-d", "egl"]
    assert desktop_session.session_argv("pgl")[0] == "vglrun"


# --- end to end ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def portal() -> Iterator[Portal]:
    with environments_portal("desktop-e2e") as p:
        yield p


@pytest.fixture(scope="module")
def alice(portal: Portal) -> requests.Session:
    return portal.login("alice", "alicepass12")


def running(portal: Portal, s: requests.Session, env_id: int, timeout: float = 240) -> dict[str, Any]:
    def get() -> dict[str, Any] | None:
        v = s.get(f"{portal.url}/api/v1/environments/{env_id}", timeout=10).json()
        assert v["state"] != "failed", v
        return v if v["state"] == "running" else None

    return wait_for(get, timeout, f"desktop {env_id} to be running", interval=1)


@pytest.fixture(scope="module")
def desk(portal: Portal, alice: requests.Session) -> dict[str, Any]:
    if portal.platform.environments.type("desktop").check_available():
        pytest.skip("the Desktop's Debian packages are not installed (scripts/setup.sh)")
    r = alice.post(f"{portal.url}/api/v1/environments",
                   json={"type": "desktop", "name": "desk1", "resource_spec": "cpu-1"}, timeout=60)
    assert r.status_code == 201, r.text
    return running(portal, alice, r.json()["id"])


def ws_rfb(portal: Portal, s: requests.Session, alias: str, password: str | None) -> dict[str, Any]:
    """noVNC's way in: the proxied WebSocket to websockify, binary frames carrying RFB."""
    ws = websocket.create_connection(
        f"ws://{alias}.svc.localhost:{portal.port}/dockerService/{alias}/websockify",
        header=[f"Cookie: {'; '.join(f'{c.name}={c.value}' for c in s.cookies)}"],
        subprotocols=["binary"], timeout=30)
    try:
        return rfb.handshake(rfb.Reader(ws.recv).read, lambda b: ws.send(b, opcode=websocket.ABNF.OPCODE_BINARY),
                             password)
    finally:
        ws.close()


@pytest.mark.integration
@pytest.mark.slow
def test_desktop_through_the_proxy(portal: Portal, alice: requests.Session, desk: dict[str, Any]) -> None:
    alias, client = desk["alias"], desk["client"]
    # the owner's view: the Connect link carries the password in its fragment; "open in client"
    assert desk["can_connect"] and desk["url"].startswith(f"/dockerService/{alias}/vnc.html#")
    password = client["password"]
    assert f"password={password}" in desk["url"] and len(password) == 8
    assert client["vnc"] == f"{client['host']}:{client['port']}"
    page = alice.get(f"{portal.url}/environments/{desk['id']}", timeout=30).text
    assert 'id="env-client"' in page and client["vnc"] in page and password in page
    origin = portal.open_service(alice, alias)
    r = alice.get(f"{origin}/dockerService/{alias}/vnc.html", timeout=30)
    assert r.status_code == 200 and "noVNC" in r.text
    got = ws_rfb(portal, alice, alias, password)
    assert got["version"] == "RFB 003.008\n" and got["types"] == [rfb.VNC_AUTH], got  # VncAuth only
    assert got["ok"] and got["width"] > 0 and got["height"] > 0, got
    assert "desktop" in got["name"], got  # the X server's desktop name
    assert not ws_rfb(portal, alice, alias, password[::-1])["ok"]  # a wrong one, even through the proxy
    # the RFB port itself ("open in client"): the password lets a client in, nothing else does
    host, port = "127.0.0.1", int(client["port"])
    assert rfb.over_tcp(host, port, password)["ok"]
    refused = rfb.over_tcp(host, port, None)
    assert not refused["ok"] and refused["types"] == [rfb.VNC_AUTH], refused
    # the password is in no log: neither the job's (websockify's request lines) nor the portal's
    sv = portal.platform.services.view(portal.platform.services.get(alias, "alice"))
    log = (Path(sv.job_dir or "") / (sv.log_file or "")).read_text(errors="replace")
    assert "desktop: X display" in log and "websockify" in log and password not in log
    assert password not in (portal.data / "portal.log").read_text(errors="replace")


@pytest.mark.integration
@pytest.mark.slow
def test_the_desktop_runs_as_its_user(portal: Portal, desk: dict[str, Any]) -> None:
    job_dir = portal.platform.services.view(portal.platform.services.get(desk["alias"], "alice")).job_dir
    assert job_dir
    session = Path(job_dir) / "desktop"
    uid = pwd.getpwnam("hpc-alice").pw_uid
    assert session.stat().st_uid == uid and session.stat().st_mode & 0o777 == 0o700
    assert (session / "passwd").stat().st_uid == uid and (session / "passwd").stat().st_mode & 0o777 == 0o600
    procs = subprocess.run(["ps", "-o", "user:32=,args=", "-u", "hpc-alice"], capture_output=True, text=True,
                           timeout=30).stdout
    for program in ("Xtigervnc", "xfce4-session", "websockify"):
        assert any(program in line and line.split()[0] == "hpc-alice" for line in procs.splitlines()), procs
    assert not re.search(r"Xtigervnc .*-rfbport (5900|6080)\b", procs)  # its allocated port, never fixed ones


@pytest.mark.integration
@pytest.mark.slow
def test_another_unix_user_gets_nothing(portal: Portal, desk: dict[str, Any]) -> None:
    bob = portal.login("bob", "bobpass12")
    r = bob.get(f"{portal.url}/dockerService/{desk['alias']}/vnc.html", allow_redirects=False, timeout=10)
    assert r.status_code in (403, 404), r.status_code
    assert bob.get(f"{portal.url}/api/v1/environments/{desk['id']}", timeout=10).status_code == 404
    port = desk["client"]["port"]
    sv = portal.platform.services.view(portal.platform.services.get(desk["alias"], "alice"))
    job_dir = sv.job_dir or ""
    display = re.search(r"desktop: X display :(\d+)", (Path(job_dir) / (sv.log_file or "")).read_text()).group(1)
    probe = (f"import sys, json; sys.path.insert(0, {str(REPO)!r}); from tests.envs import rfb\n"
             f"out = {{'guess': rfb.over_tcp('127.0.0.1', {port}, 'password'), 'none': rfb.over_tcp('127.0.0.1', {port}, None)}}\n"
             f"try:\n open({str(Path(job_dir) / 'desktop' / 'passwd')!r}, 'rb').read(); out['read'] = 'yes'\n"
             "except OSError as e: out['read'] = type(e).__name__\n"
             # the X display itself: a connection setup without the session's cookie (X11 protocol
             # 11.0, little-endian, no authorisation); the first byte of the answer: 0 = Failed
             "import socket; s = socket.socket(socket.AF_UNIX)\n"
             f"s.connect('/tmp/.X11-unix/X{display}'); s.sendall(b'l\\0\\x0b\\0\\0\\0\\0\\0\\0\\0\\0\\0')\n"
             "out['x11'] = s.recv(1)[0]\n"
             "print(json.dumps(out))\n")
    done = subprocess.run(["runuser", "-u", "hpc-bob", "--", sys.executable, "-c", probe], capture_output=True,
                          text=True, timeout=90, cwd="/")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert not out["guess"]["ok"] and not out["none"]["ok"], out
    assert out["read"] == "PermissionError", out
    assert out["x11"] == 0, out  # X refuses a client without the cookie: no screen or keyboard to read


@pytest.mark.integration
@pytest.mark.slow
def test_ssh_and_a_custom_port_come_after_the_desktops_two(portal: Portal, alice: requests.Session,
                                                            desk: dict[str, Any]) -> None:
    """Modify + restart (F21): SSH on and a custom port; each gets its own allocated port after
    websockify's and the RFB port, and both the desktop and sshd answer."""
    from tests.envs.test_env_e2e import ssh_run

    r = alice.patch(f"{portal.url}/api/v1/environments/{desk['id']}", json={"ssh": True, "ports": [8080]}, timeout=30)
    assert r.status_code == 200, r.text
    assert alice.post(f"{portal.url}/api/v1/environments/{desk['id']}/restart", timeout=60).status_code == 200
    v = running(portal, alice, desk["id"])
    vnc, ssh, custom = int(v["client"]["port"]), int(v["ssh"]["port"]), v["ports"]["8080"]
    assert len({vnc, ssh, custom}) == 3, v
    assert v["client"]["password"] != desk["client"]["password"]  # a new start, a new password
    assert rfb.over_tcp("127.0.0.1", vnc, v["client"]["password"])["ok"]
    out = ssh_run(v["ssh"], v["ssh"]["password"], "id -un")
    assert out.returncode == 0 and out.stdout.strip() == "hpc-alice", out.stderr
    desk.update(v)  # what the next test stops


def wait_gone(pattern: str, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ps = subprocess.run(["ps", "-o", "args=", "-u", "hpc-alice"], capture_output=True, text=True, timeout=30)
        if pattern not in ps.stdout:
            return True
        time.sleep(1)
    return False


@pytest.mark.integration
@pytest.mark.slow
def test_stop_ends_the_whole_desktop(portal: Portal, alice: requests.Session, desk: dict[str, Any]) -> None:
    port = desk["client"]["port"]
    assert alice.post(f"{portal.url}/api/v1/environments/{desk['id']}/stop", timeout=60).status_code == 200
    assert wait_gone(f"-rfbport {port}"), "Xtigervnc outlived its environment"
    assert wait_gone("xfce4-session") and wait_gone("websockify")
