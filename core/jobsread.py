"""The CLI's fast read of the caller's own jobs: `hpcai jobs`, `hpcai show` and `jjobs` answer like
`squeue` (well under the ~0.3 s it takes to import SQLAlchemy and the plugins on a busy node).

Only when the store is already current, i.e. a watcher holds `<data>/watcher.lock` (`hpcai
serve` runs one); otherwise the command takes the full path (core.jobs), which asks the
schedulers first. Reads go straight through the DB-API driver (sqlite3, psycopg) and return
rows with JobRow's attribute names; anything this module does not expect (no database yet,
another schema revision, a driver missing) returns None and the caller takes the full path,
so this is never the only way to an answer. Only the caller's own jobs: visibility needs no
account lookup then (admins asking for --all take the full path).
"""

from __future__ import annotations

import fcntl
import json
import os
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

COLUMNS = ("id", "uuid", "user", "project", "name", "framework", "mode", "runtime", "image", "scheduler",
           "scheduler_job_id", "queue", "state", "raw_state", "reason", "exit_code", "exec_hosts", "from_host",
           "submit_time", "start_time", "end_time", "job_dir", "stdout_path", "request", "plan", "script", "source")
_TIMES = ("submit_time", "start_time", "end_time")
_JSON = ("request", "plan")


def watcher_lock(data_dir: Path) -> Path:
    return Path(data_dir) / "watcher.lock"


def watcher_running(data_dir: Path) -> bool:
    """Whether some process holds the data directory's watcher lock (so the store is current)."""
    try:
        fd = os.open(watcher_lock(data_dir), os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def _row(values: tuple[Any, ...]) -> SimpleNamespace:
    data = dict(zip(COLUMNS, values))
    for key in _TIMES:
        if isinstance(data[key], str):  # SQLite keeps DateTime as ISO text
            data[key] = datetime.fromisoformat(data[key])
    for key in _JSON:
        if isinstance(data[key], str):
            data[key] = json.loads(data[key])
    return SimpleNamespace(**data)


def _connect(db_url: str) -> tuple[Any, str] | None:
    if db_url.startswith("sqlite:///"):
        import sqlite3

        path = db_url.removeprefix("sqlite:///")
        if not Path(path).is_file():
            return None
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5), "?"
    if db_url.startswith(("postgresql://", "postgresql+psycopg://")):
        try:
            import psycopg
        except ImportError:
            return None
        return psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://", 1), connect_timeout=5), "%s"
    return None


def own_jobs(db_url: str, user: str, states: list[str] | None = None, framework: str | None = None,
             name: str | None = None, limit: int = 50, offset: int = 0,
             job_id: int | None = None) -> tuple[list[SimpleNamespace], int] | None:
    """The user's jobs, newest first, and how many match; None: take the full path."""
    try:
        conn = _connect(db_url)
    except Exception:  # noqa: BLE001 - any connection problem: the full path reports it properly
        return None
    if conn is None:
        return None
    db, mark = conn
    where, args = ['"user" = ' + mark], [user]
    if states:
        where.append("state IN (" + ", ".join([mark] * len(states)) + ")")
        args += states
    if framework:
        where.append("framework = " + mark)
        args.append(framework)
    if name:
        where.append("name LIKE " + mark)
        args.append(f"%{name}%")  # as JobService.list (SQLAlchemy contains)
    if job_id is not None:
        where.append("id = " + mark)
        args.append(job_id)
    clause = " AND ".join(where)
    columns = ", ".join(f'"{c}"' for c in COLUMNS)
    try:
        with db:
            cur = db.cursor()
            cur.execute(f"SELECT COUNT(*) FROM jobs WHERE {clause}", args)
            total = int(cur.fetchone()[0])
            cur.execute(f"SELECT {columns} FROM jobs WHERE {clause} ORDER BY id DESC LIMIT {int(limit)} "
                        f"OFFSET {int(offset)}", args)
            rows = [_row(v) for v in cur.fetchall()]
    except Exception:  # noqa: BLE001 - a schema this module does not know: the full path answers
        return None
    finally:
        db.close()
    return rows, total
