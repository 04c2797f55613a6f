"""RL simulation environments in the portal: /api/v1/rl/envs and the Simulation environments page.

A thin shell over core.rl.simenvs: the form comes from the service's schema, every rule is there.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for

from core.errors import HpcaiError, NotFound
from core.rl.simenvs.service import Upload
from portal import forms
from portal.apps import App, register
from portal.web import json_body, json_errors, platform, user

api = Blueprint("rl_envs_api", __name__, url_prefix="/api/v1")
pages = Blueprint("rl_envs", __name__)
json_errors(api)

register(App("rl", "Reinforcement learning", "rl_envs.page_list", "RL",
             "Simulation environments and RL pipelines (Ray RLlib)", subtitle="simulation environments",
             active=("rl_envs.", "rl_pipelines.", "rl.")), after="pipelines")


def _values() -> tuple[dict[str, Any], Upload | None]:
    """JSON, or a multipart form whose `archive` part is the package itself."""
    if request.mimetype == "multipart/form-data":
        values: dict[str, Any] = {k: v for k, v in request.form.items() if k != "csrf_token"}
        part = request.files.get("archive")
        return values, (Upload(part.filename or "", part.stream) if part else None)
    return json_body(), None


# --- REST -------------------------------------------------------------------------------------------


@api.route("/rl/envs")
def api_list() -> Any:
    e = platform().rl_envs
    return jsonify([e.as_dict(r) for r in e.list(user())])


@api.route("/rl/envs/schema")
def api_schema() -> Any:
    return jsonify(platform().rl_envs.form_schema())


@api.route("/rl/envs", methods=["POST"])
def api_create() -> Any:
    e = platform().rl_envs
    values, upload = _values()
    return jsonify(e.as_dict(e.create(user(), values, upload))), 201


@api.route("/rl/envs/<name>")
def api_get(name: str) -> Any:
    e = platform().rl_envs
    return jsonify({**e.as_dict(e.get(user(), name))})


@api.route("/rl/envs/<name>", methods=["PATCH"])
def api_modify(name: str) -> Any:
    e = platform().rl_envs
    values, upload = _values()
    return jsonify(e.as_dict(e.modify(user(), name, values, upload)))


@api.route("/rl/envs/<name>", methods=["DELETE"])
def api_delete(name: str) -> Any:
    platform().rl_envs.delete(user(), name)
    return "", 204


def openapi_paths() -> dict[str, Any]:
    err = {"$ref": "#/components/schemas/Error"}

    def resp(desc: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"description": desc, **({"content": {"application/json": {"schema": schema}}} if schema else {})}

    def errors(*codes: int) -> dict[str, Any]:
        return {str(c): resp("error (the field is named, with its fix)", err) for c in codes}

    fields = {"name": {"type": "string"}, "install_mode": {"type": "string", "enum": ["green", "installed"]},
              "classification": {"type": "string"}, "archive": {"type": "string"},
              "start_file": {"type": "string"}, "os": {"type": "string"}, "python_builtin": {"type": "boolean"},
              "start_path": {"type": "string"},
              "run_mode": {"type": "string", "enum": ["non-exclusive", "exclusive"]},
              "ports": {"type": "integer", "minimum": 1, "maximum": 5}, "description": {"type": "string"}}
    upload = {**fields, "archive": {"type": "string", "format": "binary"}, "ports": {"type": "string"},
              "python_builtin": {"type": "string"}}
    body = {"required": True, "content": {
        "application/json": {"schema": {"type": "object", "properties": fields}},
        "multipart/form-data": {"schema": {"type": "object", "properties": upload}}}}
    name = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    obj = {"type": "object"}
    tags = ["rl"]
    return {
        "/rl/envs": {
            "get": {"tags": tags, "summary": "your simulation environments",
                    "responses": {"200": resp("list", {"type": "array"}), **errors(401)}},
            "post": {"tags": tags, "summary": "register a simulation environment (JSON with a server path, "
                                              "or multipart with the archive)", "requestBody": body,
                     "responses": {"201": resp("created", obj), **errors(400, 401, 403)}}},
        "/rl/envs/schema": {"get": {"tags": tags, "summary": "the registration form's JSON schema",
                                    "responses": {"200": resp("schema", obj), **errors(401)}}},
        "/rl/envs/{name}": {
            "get": {"tags": tags, "summary": "one simulation environment", "parameters": [name],
                    "responses": {"200": resp("environment", obj), **errors(401, 404)}},
            "patch": {"tags": tags, "summary": "modify (all but the name; checked again)", "parameters": [name],
                      "requestBody": body,
                      "responses": {"200": resp("environment", obj), **errors(400, 401, 403, 404)}},
            "delete": {"tags": tags, "summary": "delete (an uploaded package goes with it)", "parameters": [name],
                       "responses": {"204": resp("deleted"), **errors(401, 404)}}},
    }


# --- pages ------------------------------------------------------------------------------------------


def _form(values: dict[str, Any], errors: dict[str, str], status: int = 200) -> Any:
    e = platform().rl_envs
    fields = forms.widgets(e.form_schema(), values, errors, [], [], "")
    return render_template("rl_envs_new.html", fields=fields, errors=errors), status


@pages.route("/rl/envs")
def page_list() -> Any:
    e = platform().rl_envs
    return render_template("rl_envs.html", envs=[e.as_dict(r) for r in e.list(user())])


@pages.route("/rl/envs/new")
def page_new() -> Any:
    return _form({}, {})


@pages.route("/rl/envs", methods=["POST"])
def page_create() -> Any:
    e = platform().rl_envs
    part = request.files.get("archive_file")
    upload = Upload(part.filename, part.stream) if part is not None and part.filename else None
    try:
        values = forms.parse_form(e.form_schema(), request.form)
        if upload is not None:
            values.pop("archive", None)
        row = e.create(user(), values, upload)
    except HpcaiError as exc:
        return _form(request.form.to_dict() | {"python_builtin": request.form.get("python_builtin") == "on"},
                     forms.error_map(exc), 400)
    flash(f"Simulation environment {row.name} created.")
    return redirect(url_for("rl_envs.page_list"))


@pages.route("/rl/envs/<name>/description", methods=["POST"])
def page_describe(name: str) -> Any:
    try:
        platform().rl_envs.modify(user(), name, {"description": request.form.get("description", "")})
        flash(f"Description of {name} saved.")
    except NotFound:
        abort(404)
    except HpcaiError as exc:
        flash(exc.text, "error")
    return redirect(url_for("rl_envs.page_list"))


@pages.route("/rl/envs/<name>/delete", methods=["POST"])
def page_delete(name: str) -> Any:
    try:
        platform().rl_envs.delete(user(), name)
        flash(f"Simulation environment {name} deleted.")
    except NotFound:
        abort(404)
    return redirect(url_for("rl_envs.page_list"))
