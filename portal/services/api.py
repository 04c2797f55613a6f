"""/api/v1/services and /api/v1/service-keys: the REST face of core.services."""

from __future__ import annotations

from typing import Any

from portal.services.blueprints import api
from flask import (
    jsonify,
    request,
    send_file,
)

from core.errors import NotFound, ValidationError
from portal.web import json_body, platform, poke_watcher, user


def external_base() -> str:
    return request.host_url.rstrip("/")


@api.route("/service-types")
def api_types() -> Any:
    mgr = platform().services
    return jsonify([{"name": n, "title": t.title, "category": t.category, "api_keys": t.api_keys,
                     "schema": mgr.form_schema(n, user())} for n, t in mgr.types().items()])


@api.route("/services")
def api_list() -> Any:
    mgr = platform().services
    everyone = request.args.get("all") in ("1", "true")
    rows = mgr.list(user(), everyone, search=request.args.get("q", ""))
    return jsonify([mgr.view(r, external_base()).as_dict() for r in rows])


@api.route("/services", methods=["POST"])
def api_create() -> Any:
    data = json_body()
    start = data.pop("start", True) is not False
    row = platform().services.create(data, user(), start=start)
    poke_watcher()
    return jsonify(platform().services.view(row, external_base()).as_dict()), 201


@api.route("/services/<ref>")
def api_get(ref: str) -> Any:
    mgr = platform().services
    return jsonify(mgr.view(mgr.get(ref, user()), external_base()).as_dict())


@api.route("/services/<ref>", methods=["PATCH"])
def api_modify(ref: str) -> Any:
    mgr = platform().services
    row = mgr.modify(ref, json_body(), user())
    poke_watcher()
    return jsonify(mgr.view(row, external_base()).as_dict())


@api.route("/services/<ref>", methods=["DELETE"])
def api_delete(ref: str) -> Any:
    platform().services.delete(ref, user())
    poke_watcher()
    return "", 204


@api.route("/services/<ref>/<action>", methods=["POST"])
def api_action(ref: str, action: str) -> Any:
    mgr = platform().services
    if action == "authorize":
        users = json_body().get("users", [])
        if not isinstance(users, list):
            raise ValidationError("must be a list of user names", field="users")
        row = mgr.authorize(ref, [str(u) for u in users], user())
    elif action in ("start", "stop", "restart"):
        row = getattr(mgr, action)(ref, user())
    else:
        raise NotFound(f"no action '{action}'", field="action", fix="start, stop, restart or authorize")
    poke_watcher()
    return jsonify(mgr.view(row, external_base()).as_dict())


@api.route("/services/<ref>/log")
def api_log(ref: str) -> Any:
    return log_download(ref)


@api.route("/services/<ref>/usage")
def api_usage(ref: str) -> Any:
    """Resource monitoring: CPU, memory and GPUs of the running service, with the recent samples."""
    mgr = platform().services
    row = mgr.get(ref, user())
    job = mgr.job(row)
    state = mgr.state(row, job)
    live = state in ("starting", "running")
    return jsonify({"alias": row.alias, "state": state, "usage": mgr.usage(job) if live else {}})


def log_download(ref: str) -> Any:
    mgr = platform().services
    row = mgr.get(ref, user())
    job = mgr.job(row)
    path = mgr.log_path(job) if job is not None else None
    if path is None:
        raise NotFound(f"service {row.alias} has no log yet", field="service", fix="start it first")
    return send_file(path, mimetype="text/plain", as_attachment=True,
                     download_name=f"output.{job.scheduler_job_id}.txt")


@api.route("/service-keys")
def api_keys() -> Any:
    return jsonify([{"id": k.id, "name": k.name, "prefix": k.prefix, "created_at": k.created_at.isoformat()}
                    for k in platform().services.keys(user())])


@api.route("/service-keys", methods=["POST"])
def api_key_create() -> Any:
    data = request.get_json(silent=True)
    if data is None:
        data = {}  # the body is optional
    if not isinstance(data, dict):
        raise ValidationError("the body must be a JSON object", field="body", fix='send {"name": "..."} or nothing')
    key_id, key = platform().services.create_key(user(), str(data.get("name") or ""))
    return jsonify({"id": key_id, "key": key, "note": "shown only now: copy it"}), 201


@api.route("/service-keys/<int:key_id>", methods=["DELETE"])
def api_key_delete(key_id: int) -> Any:
    platform().services.delete_key(user(), key_id)
    return "", 204

