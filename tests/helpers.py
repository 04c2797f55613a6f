"""Small helpers shared by tests: wait for a job through the real CLI."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

TERMINAL = {"succeeded", "failed", "cancelled"}


def show(cli, job: str | int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    res = cli("show", str(job), "--json")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def wait_state(cli, job: str | int, states: set[str], timeout: float = 120) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    end = time.time() + timeout
    info: dict[str, Any] = {}
    while time.time() < end:
        info = show(cli, job)
        if info["state"] in states:
            return info
        if info["state"] in TERMINAL:  # ended in another state: no point waiting
            break
        time.sleep(0.3)
    raise AssertionError(f"job {job} did not reach {states} in {timeout}s: {info.get('state')} {info.get('reason')}")


def submit(cli, *args: str) -> int:  # type: ignore[no-untyped-def]
    res = cli("submit", "--json", *args)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)["id"]


def wait_until(check, timeout: float = 30, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    end = time.time() + timeout
    while time.time() < end:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} not met within {timeout}s")


@contextlib.contextmanager
def portal_server(env: dict[str, str], log_path: Path, cwd: Path, mlflow: bool = False) -> Iterator[str]:
    """`hpcai serve` on a free port with this environment; yields its base URL once it answers.
    Without `mlflow` it starts no managed MLflow server (tests share one, see fixtures_services)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = open(log_path, "w")
    args = ["serve", "--port", str(port)] + ([] if mlflow else ["--no-mlflow"])
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", *args], cwd=cwd, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        end = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(base + "/login", timeout=2)
                break
            except OSError:
                if time.time() > end or proc.poll() is not None:
                    raise AssertionError("hpcai serve did not start:\n" + log_path.read_text()) from None
                time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        log.close()
