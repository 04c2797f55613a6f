"""Job-side hints (issue 22): hooks/jairun tells the watcher when a job's ranks start and end, so
the store shows it without waiting for the next poll; the poll stays the record."""

from __future__ import annotations

import getpass
import socket
import time
from pathlib import Path

import pytest

from core.config import load_config
from core.platform import Platform
from core.types import JobRequest
from core.watcher import Watcher, hint_target
from tests.fixtures_services import free_port

pytestmark = pytest.mark.integration


def test_hints_wake_a_watcher_that_would_sleep_a_minute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setenv("HPCAI_WATCHER_HINT", f"127.0.0.1:{port}")
    p = Platform(load_config({"HPCAI_DATA_DIR": str(tmp_path)}))
    assert hint_target(p.config) == f"127.0.0.1:{port}"
    w = Watcher(p, min_delay=60, max_delay=60).start()  # no regular poll during this test
    try:
        deadline = time.monotonic() + 30
        while w.cycles < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        row = p.jobs.submit(JobRequest(user=getpass.getuser(), command="true", workdir=str(tmp_path), framework="pytorch",
                                       options={"resource_spec": "cpu-1"}, source="cli"))
        assert row.plan["env"]["HPCAI_WATCHER_HINT"] == f"127.0.0.1:{port}"
        deadline = time.monotonic() + 50
        while p.jobs.get(row.id, "root").state != "succeeded" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert p.jobs.get(row.id, "root").state == "succeeded"
        assert w.hints >= 1 and w.cycles >= 2  # the change came through hint-woken polls
    finally:
        w.stop()


def test_a_hint_is_only_a_wake_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setenv("HPCAI_WATCHER_HINT", f"127.0.0.1:{port}")
    p = Platform(load_config({"HPCAI_DATA_DIR": str(tmp_path)}))
    w = Watcher(p, min_delay=60, max_delay=60).start()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for _ in range(200):  # a flood, or a forged "ended": at most two polls a second, no state
                sock.sendto(b"ended 00000000-0000-0000-0000-000000000000 exit 0", ("127.0.0.1", port))
        time.sleep(1.5)
        assert 1 <= w.hints <= 4
    finally:
        w.stop()
