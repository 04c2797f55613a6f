"""Shared by the service tests: a real `hpcai serve` process, logins, waiting for states."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from core.config import load_config
from core.platform import Platform

REPO = Path(__file__).resolve().parents[2]
HPCAI = str(Path(sys.executable).parent / "hpcai")
# This machine has no GPU spec it can run: the service tests run the GPU-only types (custom F234,
# TorchServe F230) on CPU specs, as a CPU-only site may allow ([core] allow_cpu_for_gpu_only).
CPU_SPECS_OK = {"HPCAI_ALLOW_CPU_FOR_GPU_ONLY": "1"}
# A small HTTP server (the "custom service"): serves under /api, redirects, sets a cookie, echoes.
WEB_APP = REPO / "tests" / "svc" / "webapp.py"


def scratch(name: str) -> Path:
    base = Path(os.environ.get("HPCAI_TEST_SCRATCH") or (REPO / "var" / "test-scratch"))
    path = base / f"{name}-{uuid.uuid4().hex[:8]}"
    path.mkdir(parents=True)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(fn: Any, timeout: float, what: str, interval: float = 0.3) -> Any:
    """Poll until fn() is truthy; the timeout only bounds a hang, it asserts nothing about speed."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


class Portal:
    """`hpcai serve` (gunicorn + one watcher) as a separate process on its own data directory."""

    def __init__(self, data: Path, env: dict[str, str] | None = None, args: tuple[str, ...] = ()):
        self.data = data
        env = {**CPU_SPECS_OK, **(env or {})}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = args
        self.env = {**os.environ, "HPCAI_DATA_DIR": str(data), "HPCAI_ADMIN_PASSWORD": "adminpass1",
                    "HPCAI_SECRET_KEY": "test-secret-" + data.name, **(env or {})}
        self.env.pop("HPCAI_DB_URL", None)
        self.platform = Platform(load_config({"HPCAI_DATA_DIR": str(data), **(env or {})}))
        self.platform.store.migrate()
        self.platform.accounts.seed_admin("adminpass1")
        for name in ("alice", "bob"):
            self.platform.accounts.create(name, f"{name}pass12")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "Portal":
        log = open(self.data / "portal.log", "ab")
        self.proc = subprocess.Popen([HPCAI, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--no-mlflow", *self.args],
                                     env=self.env, cwd=str(REPO), stdout=log, stderr=log,
                                     start_new_session=True)
        wait_for(self._up, 60, "the portal to answer")
        return self

    def _up(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError("portal exited: " + (self.data / "portal.log").read_text()[-3000:])
        try:
            return requests.get(self.url + "/login", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)

    def login(self, name: str, password: str) -> requests.Session:
        s = requests.Session()
        page = s.get(self.url + "/login", timeout=10).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        r = s.post(self.url + "/login", data={"username": name, "password": password, "csrf_token": token},
                   allow_redirects=False, timeout=10)
        assert r.status_code == 302, r.text
        home = s.get(self.url + "/", timeout=10).text
        s.headers["X-CSRF-Token"] = re.search(r'name="csrf-token" content="([^"]+)"', home).group(1)  # type: ignore[union-attr]
        return s

    def service(self, s: requests.Session, alias: str) -> dict[str, Any]:
        r = s.get(f"{self.url}/api/v1/services/{alias}", timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    def wait_state(self, s: requests.Session, alias: str, states: tuple[str, ...], timeout: float = 120) -> dict[str, Any]:
        return wait_for(lambda: (lambda v: v if v["state"] in states else None)(self.service(s, alias)),
                        timeout, f"{alias} to be {'/'.join(states)}")

    def origin(self, alias: str) -> str:
        """The service's own origin (portal/services/origin.py), where its pages are served."""
        return f"http://{alias}.svc.localhost:{self.port}"

    def open_service(self, s: requests.Session, alias: str) -> str:
        """Open the service as a browser does: the portal checks the session and hands it to the
        service's origin, whose cookie `s` then holds. Returns that origin."""
        s.get(f"{self.url}/dockerService/{alias}/", timeout=10)
        return self.origin(alias)

    def stop_all_services(self) -> None:
        for row in self.platform.services.list("admin", all_users=True):
            if "stop" not in self.platform.services.lifecycle_actions(row):
                continue  # not started: nothing to stop (F249)
            try:
                self.platform.services.stop(row.alias, row.user)
            except Exception as exc:  # best effort at teardown; the test already reported
                print(f"teardown: could not stop {row.alias}: {exc}")


def app_client(p: Platform, user: str = "alice", password: str = "alicepass12") -> Any:
    """The portal app in this process (Flask test client), logged in as `user`; the session's
    CSRF token is sent with every request, as the portal's own pages do."""
    from portal import create_app

    c = create_app(p, settings={"TESTING": True}).test_client()
    c.get("/login")
    with c.session_transaction() as s:
        token = s["csrf"]
    assert c.post("/login", data={"username": user, "password": password, "csrf_token": token}).status_code == 302
    with c.session_transaction() as s:
        c.environ_base["HTTP_X_CSRF_TOKEN"] = s["csrf"]
    return c


def torch_model(directory: Path) -> tuple[Path, Any]:
    """A real (tiny) torch model saved as TorchScript, and the module to compare answers with."""
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)).eval()
    path = directory / "model.pt"
    torch.jit.script(model).save(str(path))
    return path, model


def site_config(data: Path, extra: str = "", cpus: int = 8, usage_interval_s: float = 5) -> Path:
    """etc/hpcai.toml with more local CPU slots (several services at once on a 2-core
    machine), the given usage sampling interval and `extra` TOML appended (sub-tables only:
    the tables of the file exist already); point HPCAI_CONFIG at it before Portal.start()."""
    text = (REPO / "etc" / "hpcai.toml").read_text().replace("# cpus = 2 ", f"cpus = {cpus} ") \
        .replace("usage_interval_s = 5 ", f"usage_interval_s = {usage_interval_s} ")
    path = data / "hpcai.toml"
    path.write_text(text + "\n" + extra + "\n")
    return path


@contextmanager
def environments_portal(name: str, user: str = "alice") -> Iterator[Portal]:
    """A portal of its own for development-environment tests; the user's environments are
    stopped when it ends (best effort: the test has already reported whatever failed)."""
    data = scratch(name)
    p = Portal(data, env={"HPCAI_CONFIG": str(site_config(data, cpus=8))}).start()
    try:
        yield p
    finally:
        for row in p.platform.environments.list(user):
            try:
                p.platform.environments.stop(row.id, user)
            except Exception as exc:  # noqa: BLE001
                print(f"teardown: {exc}")
        p.stop()
