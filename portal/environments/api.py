"""/api/v1/environments and /api/v1/environment-types: the REST face of core.environments."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request

from core.errors import ValidationError
from portal.environments.blueprints import api
from portal.web import json_body, platform, poke_watcher, user

ACTIONS = ("start", "stop", "restart")


def _base() -> str:
    return request.host_url.rstrip("/")


@api.route("/environment-types")
def api_types() -> Any:
    envs = platform().environments
    return jsonify([{"name": n, "title": t.title, "open_title": t.open_title, "image_tag": t.image_tag,
                     "unavailable": t.check_available(), "schema": envs.form_schema(user(), n)}
                    for n, t in envs.types().items()])


@api.route("/environments")
def api_list() -> Any:
    envs = platform().environments
    return jsonify([envs.view(r, _base(), user()).as_dict() for r in envs.list(user())])


@api.route("/environments", methods=["POST"])
def api_create() -> Any:
    data = json_body()
    start = data.pop("start", True) is not False
    envs = platform().environments
    row = envs.create(data, user(), start=start)
    poke_watcher()
    return jsonify(envs.view(row, _base(), user()).as_dict()), 201


@api.route("/environments/<ref>")
def api_get(ref: str) -> Any:
    envs = platform().environments
    return jsonify(envs.view(envs.get(ref, user()), _base(), user()).as_dict())


@api.route("/environments/<ref>", methods=["PATCH"])
def api_modify(ref: str) -> Any:
    envs = platform().environments
    return jsonify(envs.view(envs.modify(ref, json_body(), user()), _base(), user()).as_dict())


@api.route("/environments/<ref>", methods=["DELETE"])
def api_delete(ref: str) -> Any:
    platform().environments.delete(ref, user())
    poke_watcher()
    return "", 204


@api.route("/environments/<ref>/log")
def api_log(ref: str) -> Any:
    return jsonify({"lines": platform().environments.log(ref, user())})


@api.route("/environments/<ref>/<action>", methods=["POST"])
def api_action(ref: str, action: str) -> Any:
    if action not in ACTIONS:
        raise ValidationError(f"unknown action '{action}'", field="action", fix="one of: " + ", ".join(ACTIONS))
    envs = platform().environments
    row = getattr(envs, action)(ref, user())
    poke_watcher()
    return jsonify(envs.view(row, _base(), user()).as_dict())
