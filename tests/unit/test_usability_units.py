"""Fast checks of the usability pieces: job times in words, the CLI's fast job read, cloning a
request into form values, the Files rules, web words for CLI flags, the generated navigation."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from core.config import load_config
from core.errors import PermissionDenied, ValidationError
from core.filemanager import FileManager
from core.files import Workspace
from core.jobclone import form_values
from core.jobsread import own_jobs, watcher_running
from core.jobtimes import duration, job_times, local_time, site_zone
from portal.forms import web_words

T0 = datetime(2026, 12, 3, 7, 0, 0, 123456, tzinfo=UTC)


def row(state: str, sub: datetime | None, start: datetime | None = None, end: datetime | None = None,
        limit: int | None = None) -> SimpleNamespace:
    return SimpleNamespace(state=state, submit_time=sub, start_time=start, end_time=end,
                           request={"time_limit_min": limit, "command": "python train.py"})


def test_durations_read_like_words() -> None:
    assert [duration(s) for s in (None, 0, 45, 725, 3 * 3600 + 125, 2 * 86400 + 4 * 3600)] == \
        ["-", "0s", "45s", "12m 05s", "3h 02m", "2d 04h"]


def test_times_in_the_site_zone_without_microseconds(monkeypatch: pytest.MonkeyPatch) -> None:
    zone = site_zone({"core": {"timezone": "Asia/Shanghai"}})
    assert local_time(T0, zone) == "2026-12-03 15:00:00"
    assert local_time(T0.replace(tzinfo=None), zone, short=True) == "Dec 03 15:00"  # SQLite's naive UTC
    monkeypatch.setenv("HPCAI_TIMEZONE", "UTC")
    assert local_time(T0, site_zone({"core": {"timezone": "Asia/Shanghai"}})) == "2026-12-03 07:00:00"
    monkeypatch.delenv("HPCAI_TIMEZONE")
    with pytest.raises(ValidationError, match="core.timezone"):
        site_zone({"core": {"timezone": "Mars/Olympus"}})


def test_elapsed_is_live_while_running_and_fixed_once_ended() -> None:
    now = T0 + timedelta(minutes=10)
    running = job_times(row("running", T0, T0 + timedelta(minutes=1), limit=30), now)
    assert (running.waited_s, running.elapsed_s, running.remaining_s) == (60, 540, 1260)
    ended = job_times(row("failed", T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=3), 30), now)
    assert (ended.elapsed_s, ended.remaining_s, ended.live) == (120, None, False)
    queued = job_times(row("queued", T0), now)
    assert (queued.waited_s, queued.elapsed_s) == (600, None)
    assert job_times(row("cancelled", T0), now).waited_s is None  # killed before it started
    assert ended.as_dict()["time_limit"] == "30m 00s"


def test_fast_read_answers_only_for_the_callers_jobs_and_only_with_a_watcher(tmp_path: Path) -> None:
    from core.platform import Platform
    from core.store import JobRow

    p = Platform(load_config({"HPCAI_DATA_DIR": str(tmp_path)}))
    p.store.migrate()
    with p.store.session() as s:
        for n, (user, state) in enumerate([("ann", "running"), ("bob", "queued"), ("ann", "succeeded")]):
            s.add(JobRow(uuid=f"u{n}", user=user, name=f"j{n}", mode="standalone", runtime="host",
                         scheduler="local", state=state, job_dir="/x", request={"time_limit_min": 5},
                         plan={}, script="", submit_time=T0))
    url = p.config.db_url
    rows, total = own_jobs(url, "ann")
    assert total == 2 and [r.name for r in rows] == ["j2", "j0"] and rows[0].request == {"time_limit_min": 5}
    assert own_jobs(url, "ann", states=["running"])[1] == 1
    assert own_jobs(url, "ann", name="2")[1] == 1
    assert own_jobs(url, "bob", job_id=1) == ([], 0)  # not bob's: the full path answers (and refuses)
    assert own_jobs("sqlite:////nonexistent/x.db", "ann") is None
    assert own_jobs("mysql://x/y", "ann") is None
    bad = tmp_path / "other.db"
    sqlite3.connect(bad).close()
    assert own_jobs(f"sqlite:///{bad}", "ann") is None  # no jobs table: take the full path
    assert not watcher_running(tmp_path)
    fd = os.open(tmp_path / "watcher.lock", os.O_RDWR | os.O_CREAT)
    pid = os.fork()
    if pid == 0:  # another process holds the lock, as the watcher of `hpcai serve` does
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, b"x")
        import time

        time.sleep(3)
        os._exit(0)
    try:
        import time

        end = time.time() + 3
        while os.fstat(fd).st_size == 0 and time.time() < end:
            time.sleep(0.02)
        assert watcher_running(tmp_path)
    finally:
        os.waitpid(pid, 0)
        os.close(fd)
    assert not watcher_running(tmp_path)


def test_clone_keeps_the_users_choices_not_the_platforms_env() -> None:
    req = {"name": "first", "framework": "pytorch", "mode": "ddp", "workdir": "/w", "command": "python t.py",
           "env": {"LR": "0.1", "HPCAI_JOB_NAME": "first", "MLFLOW_TRACKING_URI": "http://x"},
           "queue": None, "mounts": [], "options": {"instances": 2, "resource_spec": "cpu-1", "tracking": True}}
    assert form_values(req) == {"framework": "pytorch", "mode": "ddp", "workdir": "/w", "command": "python t.py",
                                "env": {"LR": "0.1"}, "instances": 2, "resource_spec": "cpu-1", "tracking": True}


def test_files_rules(tmp_path: Path) -> None:
    ws = Workspace(load_config({"HPCAI_DATA_DIR": str(tmp_path)}))
    fm = FileManager(ws)
    home = ws.home("ann")
    (home / "a.txt").write_text("one\n")
    fm.mkdir("ann", str(home), "runs")
    moved = fm.move("ann", str(fm.rename("ann", str(home / "a.txt"), "b.txt")), str(home / "runs"))
    assert moved == home / "runs" / "b.txt" and fm.read_text("ann", str(moved)) == "one\n"
    fm.write_text("ann", str(moved), "two\n")
    assert moved.read_text() == "two\n" and not list((home / "runs").glob(".*"))  # no temp file left
    with pytest.raises(PermissionDenied):
        fm.delete("ann", str(home))  # a root stays
    with pytest.raises(PermissionDenied):
        fm.read_text("ann", "/etc/passwd")
    with pytest.raises(ValidationError):
        fm.move("ann", str(home / "runs"), str(home / "runs"))  # not into itself
    with pytest.raises(ValidationError):
        fm.rename("ann", str(moved), "../escape")
    (home / "bin.dat").write_bytes(b"\x00\x01")
    with pytest.raises(ValidationError, match="not a text file"):
        fm.read_text("ann", str(home / "bin.dat"))
    fm.delete("ann", str(home / "runs"))
    assert not (home / "runs").exists()


def test_web_words_name_form_fields_not_cli_flags() -> None:
    schema = {"properties": {"workdir": {"title": "Project directory"}, "time_limit_min": {"title": "Time limit"},
                             "array_size": {"title": "Array tasks", "x-cli": "--array"}}}
    assert web_words("give a directory, e.g. --workdir ~/x", schema) == "give a directory, e.g. “Project directory” ~/x"
    assert web_words("--time-limit-min and --array", schema) == "“Time limit” and “Array tasks”"
    assert web_words("--unknown stays", schema) == "--unknown stays"


def test_navigation_lists_each_app_once_and_admin_apps_last() -> None:
    from portal.apps import APPS, App, register

    ids = [a.id for a in APPS]
    assert len(ids) == len(set(ids))
    first_admin = next(i for i, a in enumerate(APPS) if a.admin)
    assert all(a.admin for a in APPS[first_admin:])
    register(App("zz-test", "Test", "views.home", "Z", "a test app"))
    try:
        assert [a.id for a in APPS].index("zz-test") == first_admin  # before the admin apps
        register(App("zz-test", "Again", "views.home", "Z", ""))
        assert [a.id for a in APPS].count("zz-test") == 1
    finally:
        APPS[:] = [a for a in APPS if a.id != "zz-test"]


def test_single_step_metrics_compare_as_bars() -> None:
    from portal.charts import bar_chart
    from portal.experiments import chart_series

    cmp = {"runs": [{"run_id": "a", "run_name": "alpha"}, {"run_id": "b", "run_name": "beta"}],
           "metrics": {"rmse": {"a": [{"step": 0, "value": 0.8}], "b": [{"step": 0, "value": 0.5}]},
                       "loss": {"a": [{"step": 0, "value": 1.0}, {"step": 1, "value": 0.5}], "b": []}}}
    kinds = {c["key"]: c["kind"] for c in chart_series(cmp)}
    assert kinds == {"rmse": "bar", "loss": "line"}
    svg = str(bar_chart([("alpha", 0.8), ("beta", 0.5), ("none", None)], "rmse"))
    assert svg.count("<rect") == 2 and "alpha: 0.8" in svg and "beta: 0.5" in svg
