"""Small helpers shared by tests: wait for a job through the real CLI."""

from __future__ import annotations

import json
import time
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
