"""Request-scoped helpers every blueprint uses: the platform, the current account, pokes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app, g

from core.accounts import Account
from core.platform import Platform
from core.store import JobRow


def platform() -> Platform:
    return current_app.extensions["hpcai"]


def account() -> Account:
    return g.account


def user() -> str:
    return g.account.name


def poke_watcher() -> None:
    """A submission or a kill happened: let the watcher poll soon (never poll here)."""
    watcher = current_app.extensions.get("hpcai_watcher")
    if watcher is not None:
        watcher.poke()


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def job_dict(row: JobRow, full: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": row.id, "uuid": row.uuid, "name": row.name, "user": row.user, "project": row.project,
        "framework": row.framework, "mode": row.mode, "runtime": row.runtime, "image": row.image,
        "scheduler": row.scheduler, "scheduler_job_id": row.scheduler_job_id, "queue": row.queue,
        "state": row.state, "raw_state": row.raw_state, "reason": row.reason,
        "exit_code": row.exit_code, "exec_hosts": row.exec_hosts,
        "submit_time": iso(row.submit_time), "start_time": iso(row.start_time),
        "end_time": iso(row.end_time), "job_dir": row.job_dir, "source": row.source,
    }
    if full:
        data.update({"request": row.request, "plan": row.plan, "script": row.script})
    return data
