"""One managed MLflow server per test session, started the way a site starts it: `hpcai mlflow`
(embedded default: SQLite + local artifacts in the data directory)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.tracking import is_healthy

REPO_ROOT = Path(__file__).resolve().parents[2]


def scratch_dir(name: str) -> Path:
    base = Path(os.environ.get("HPCAI_TEST_SCRATCH") or REPO_ROOT / "var" / "test-scratch")
    path = base / f"{name}-{os.getpid()}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def mlflow_server() -> Iterator[str]:
    """URL of a real MLflow server run by `hpcai mlflow` for the whole session."""
    data = scratch_dir("mlflow-server")
    port = free_port()
    env = {**os.environ, "HPCAI_DATA_DIR": str(data), "HPCAI_MLFLOW_PORT": str(port)}
    env.pop("HPCAI_MLFLOW_URI", None)
    log = open(data / "hpcai-mlflow.out", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "mlflow", "--wait", "150"], cwd=REPO_ROOT,
                            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 160
    while not is_healthy(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"`hpcai mlflow` did not come up:\n{(data / 'hpcai-mlflow.out').read_text()}",
                        pytrace=False)
        time.sleep(0.5)
    try:
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)  # hpcai mlflow stops the server it started
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.fixture
def tracking(mlflow_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """libaiflow in this process pointed at the session server, with a fresh connection state."""
    import mlflow

    import libaiflow.tracking as lt

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    for name in ("HPCAI_JOB_UUID", "HPCAI_JOB_USER", "LIBAIFLOW_STRICT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(lt, "_link", lt._Link())
    yield mlflow_server
    while mlflow.active_run() is not None:
        mlflow.end_run()

