"""Docker Compose service end to end through podman-compose and podman (scripts/setup.sh
installs both). No image registry is reachable, so the test makes its image from files it
has: `podman import` of a rootfs holding the static busybox (busybox-static), whose httpd
serves a page. The compose project uses the host network (the default network would edit
the host's iptables) and listens on ${HPCAI_SERVICE_HOST}:${HPCAI_SERVICE_PORT}, the port the
job side picked. podman's settings are etc/podman/containers.conf (why: see that file) and a
private storage under the test's scratch directory, given to the service type through
[services.types.compose.env]. Where podman cannot run, the fixture fails with podman's own error.
The service runs as alice's Unix user (core/identity.py), so podman runs rootless (uidmap) and
the storage and the image are that user's.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Iterator

import pytest
import requests

from core.config import load_config
from core.identity import IdentityMap, RunAs
from tests.svc.helpers import REPO, Portal, scratch, site_config, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

IMAGE = "localhost/hpcai-test-web:1"
BUSYBOX = Path("/bin/busybox")
COMPOSE = """services:
  web:
    image: {image}
    network_mode: host
    command: ["/bin/httpd", "-f", "-p", "${{HPCAI_SERVICE_HOST}}:${{HPCAI_SERVICE_PORT}}", "-h", "/www"]
"""


def service_user() -> RunAs:
    """The Unix user alice's services run as (the harness opts into auto-created users)."""
    return IdentityMap(load_config({}).identity).for_job("alice", "portal")


def podman(env: dict[str, str], *args: str, stdin: bytes | None = None, timeout: float = 120) -> str:
    r = subprocess.run(_as_service_user(["podman", *args]), env=_env(env), input=stdin, capture_output=True,
                       timeout=timeout)
    assert r.returncode == 0, f"podman {' '.join(args)} failed ({r.returncode}): {r.stderr.decode()[-2000:]}"
    return r.stdout.decode()


def _as_service_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", service_user().name, "--", *argv] if os.getuid() == 0 else argv


def _env(env: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **env, **(service_user().job_env() if os.getuid() == 0 else {})}


@pytest.fixture(scope="module")
def podman_env() -> Iterator[dict[str, str]]:
    assert shutil.which("podman"), "podman is not installed: scripts/setup.sh installs it (APT_PACKAGES)"
    assert BUSYBOX.exists(), f"{BUSYBOX} is missing: scripts/setup.sh installs busybox-static"
    d = scratch("podman")
    if os.getuid() == 0:
        os.chown(d, service_user().uid, service_user().gid)
    (d / "storage.conf").write_text(f'[storage]\ndriver = "vfs"\ngraphroot = "{d}/root"\nrunroot = "{d}/run"\n')
    env = {"CONTAINERS_CONF": str(REPO / "etc" / "podman" / "containers.conf"),
           "CONTAINERS_STORAGE_CONF": str(d / "storage.conf")}
    rootfs = d / "rootfs.tar"  # (written by root, readable by the service's user)
    with tarfile.open(rootfs, "w") as tar:
        tar.add(BUSYBOX, "bin/busybox")
        for applet in ("sh", "httpd"):
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
        page = b"<h1>hello from a compose project</h1>\n"
        info = tarfile.TarInfo("www/index.html")
        info.size = len(page)
        tar.addfile(info, io.BytesIO(page))
        for empty in ("tmp", "proc", "sys", "dev", "etc"):
            t = tarfile.TarInfo(empty)
            t.type = tarfile.DIRTYPE
            tar.addfile(t)
    podman(env, "import", str(rootfs), IMAGE)
    yield env
    subprocess.run(_as_service_user(["podman", "rm", "-af", "-t", "0"]), env=_env(env), capture_output=True,
                   timeout=60)
    subprocess.run(_as_service_user(["podman", "pod", "rm", "-af"]), env=_env(env), capture_output=True, timeout=60)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def portal(podman_env: dict[str, str]) -> Iterator[Portal]:
    data = scratch("compose-e2e")
    extra = "[services.types.compose.env]\n" + "".join(f'{k} = "{v}"\n' for k, v in podman_env.items())
    os.environ["HPCAI_CONFIG"] = str(site_config(data, extra, usage_interval_s=1))
    try:
        p = Portal(data).start()
    finally:
        os.environ.pop("HPCAI_CONFIG")
    yield p
    p.stop_all_services()
    p.stop()


def test_compose_project_runs_under_podman_and_is_proxied(portal: Portal, podman_env: dict[str, str]) -> None:
    app = portal.platform.workspace.home("alice") / "webapp"
    app.mkdir(parents=True, exist_ok=True)
    (app / "compose.yaml").write_text(COMPOSE.format(image=IMAGE))
    alice = portal.login("alice", "alicepass12")
    r = alice.post(f"{portal.url}/api/v1/services", json={
        "name": "web", "type": "compose", "resource_spec": "cpu-1",
        "compose_file": str(app / "compose.yaml")}, timeout=30)
    assert r.status_code == 201, r.text
    alias = r.json()["alias"]
    v = portal.wait_state(alice, alias, ("running", "failed"), timeout=120)
    assert v["state"] == "running", v["log_tail"]
    assert v["can_access"] is False  # F241: no "Access service" for compose; the proxy still serves it
    assert v["command"].startswith("podman-compose -p ") and v["env"]["CONTAINERS_CONF"] == podman_env["CONTAINERS_CONF"]
    page = alice.get(f"{portal.url}/dockerService/{alias}/index.html", timeout=10)
    assert page.status_code == 200 and "hello from a compose project" in page.text
    project = alias.replace("-", "_")
    running = podman(podman_env, "ps", "--filter", f"label=io.podman.compose.project={project}",
                     "--format", "{{.Names}} {{.Status}}")
    assert running.startswith(f"{project}_web_1 Up"), running
    # resource monitoring sees the container's processes, which podman detaches from `up`
    pid = int(podman(podman_env, "inspect", "-f", "{{.State.Pid}}", f"{project}_web_1").strip())
    usage = wait_for(lambda: (lambda u: u if pid in u.get("pids", []) else None)(
        alice.get(f"{portal.url}/api/v1/services/{alias}/usage", timeout=10).json()["usage"]), 30,
        f"the container's process {pid} in the usage samples")
    assert usage["rss_mb"] > 0 and usage["gpu_note"] == "no GPU granted"
    # stopping the service takes the containers down (the plan's cleanup), not only `up`
    assert alice.post(f"{portal.url}/api/v1/services/{alias}/stop", timeout=60).status_code == 200
    portal.wait_state(alice, alias, ("stopped",), timeout=60)
    left = wait_for(lambda: podman(podman_env, "ps", "-a", "--filter", f"label=io.podman.compose.project={project}",
                                   "--format", "{{.Names}}").strip() or "none", 30, "the project's containers to go")
    assert left == "none"
    with pytest.raises(requests.ConnectionError):  # nothing listens on the port any more
        requests.get(f"http://{v['host']}:{v['port']}/", timeout=5)
