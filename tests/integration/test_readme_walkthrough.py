"""The README's user commands, run as written: the "For users" block in bash (a fresh site,
a fresh home), then `hpcai serve` from "The portal, experiment tracking and your files" with
its managed MLflow server, until Experiments and the job's "View experiment data" answer and
the portal stops the tracking server with itself.

If this fails after a README edit, the README no longer works for a newcomer: fix either.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"


def sh_block(after_heading: str) -> str:
    """The first ```sh block after a heading of the README."""
    text = README.read_text()
    start = text.index(after_heading + "\n")
    match = re.search(r"```sh\n(.*?)```", text[start:], re.S)
    assert match, f"no sh block after {after_heading}"
    return match.group(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fresh_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HPCAI_", "MLFLOW_"))}
    (tmp_path / "home").mkdir()
    env.update(HOME=str(tmp_path / "home"), HPCAI_DATA_DIR=str(tmp_path / "data"))
    return env


def login(base: str, user: str, password: str) -> requests.Session:
    s = requests.Session()
    page = s.get(base + "/login", timeout=10)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
    s.post(base + "/login", data={"username": user, "password": password, "csrf_token": token}, timeout=10)
    return s


def test_readme_user_commands_and_portal_with_tracking(tmp_path: Path) -> None:
    env = fresh_env(tmp_path)
    script = sh_block("## For users")
    run = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, f"README 'For users' failed ({run.returncode}):\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    assert "Job 1 (first-ddp) submitted" in run.stdout
    assert re.search(r"^State\s+succeeded", run.stdout, re.M), run.stdout[-3000:]
    assert "# job script" in run.stdout  # the dry run printed the script

    serve_line = next(line for line in sh_block("## The portal, experiment tracking and your files").splitlines()
                      if line.startswith("hpcai serve"))
    port, mlflow_port = free_port(), free_port()
    env.update(PATH=f"{REPO / '.venv' / 'bin'}{os.pathsep}{env['PATH']}", HPCAI_PORTAL_PORT=str(port),
               HPCAI_MLFLOW_PORT=str(mlflow_port), HPCAI_ADMIN_PASSWORD="walkthrough1")
    log = open(tmp_path / "serve.log", "w")
    proc = subprocess.Popen(["bash", "-c", "exec " + serve_line.split("#")[0].strip()], cwd=REPO, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(base + "/login", timeout=2)
                break
            except requests.RequestException:
                assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                time.sleep(0.3)
        admin = login(base, "admin", "walkthrough1")
        deadline = time.monotonic() + 180  # MLflow takes 10-30 s (more on a loaded machine)
        while True:
            page = admin.get(base + "/experiments", timeout=30)
            if page.status_code == 200:
                break
            assert page.status_code == 503 and "still starting" in page.text, page.text[:2000]
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(2)
        assert "Default" in page.text
        data = admin.get(base + "/jobs/1/experiments", timeout=30)
        assert data.status_code == 200, data.text[:2000]
        assert requests.get(f"http://127.0.0.1:{mlflow_port}/health", timeout=5).ok
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()
    with socket.socket() as sock:  # the portal stopped the tracking server it started
        assert sock.connect_ex(("127.0.0.1", mlflow_port)) != 0, shlex.quote((tmp_path / "serve.log").read_text())
