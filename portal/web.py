"""Request-scoped helpers every blueprint uses: the platform, the current account, pokes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from core.accounts import Account
from core.errors import HpcaiError, ValidationError
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


def classification_on() -> bool:
    """The site's classification switch, read once per request."""
    if "classification_on" not in g:
        g.classification_on = platform().settings.classification_enabled()
    return bool(g.classification_on)


def shown_request(request: dict[str, Any]) -> dict[str, Any]:
    """A job's request as users see it: no classification while the feature is off (F1)."""
    if classification_on():
        return request
    return {k: v for k, v in request.items() if k != "classification"}


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
    if classification_on():
        data["classification"] = (row.request or {}).get("classification")
    if full:
        data.update({"request": shown_request(row.request or {}), "plan": row.plan, "script": row.script})
    return data


def json_errors(bp: Blueprint) -> None:
    """Every error of an API blueprint is a JSON body {error, field, fix} with its 4xx status."""

    @bp.errorhandler(HpcaiError)
    def _hpcai_error(exc: HpcaiError) -> Any:
        return jsonify(exc.as_dict()), exc.status

    @bp.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        return jsonify({"error": exc.description, "field": None, "fix": None}), exc.code


def json_body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ValidationError("the body must be a JSON object", field="body",
                              fix="send Content-Type: application/json and an object")
    return data
