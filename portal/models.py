"""The model registry over REST: /api/v1/models (thin shell over core.models; every rule is there)."""

from __future__ import annotations

import mimetypes
from typing import Any

from flask import Blueprint, Response, jsonify, request, send_file

from core.errors import ValidationError
from core.models.types import PURPOSES
from portal.web import job_dict, json_body, json_errors, platform, poke_watcher, user

api = Blueprint("models_api", __name__, url_prefix="/api/v1")
json_errors(api)


#: JSON fields and the type each must have (a wrong shape is a 400 naming the field)
STRINGS = ("name", "purpose", "model_dir", "base_model", "description", "run_id", "model", "converter",
           "resource_spec", "share_group", "share_dir", "alias", "artifact_name", "type", "path", "dest", "op",
           "category", "mode", "classification", "version_description")
LISTS = ("paths",)
OBJECTS = ("options",)


def _body() -> dict[str, Any]:
    body = json_body()
    for key, value in body.items():
        if value is None:
            continue
        if key in STRINGS and not isinstance(value, str):
            raise ValidationError("must be a string", field=key)
        if key in LISTS and not (isinstance(value, list) and all(isinstance(x, str) for x in value)):
            raise ValidationError("must be a list of strings", field=key)
        if key in OBJECTS and not isinstance(value, dict):
            raise ValidationError("must be an object", field=key)
        if key in ("tags", "share_users") and not (isinstance(value, str) or (
                isinstance(value, list) and all(isinstance(x, str) for x in value))):
            raise ValidationError("must be a list of strings (or comma-separated text)", field=key)
    return body


def _int(name: str, default: int) -> int:
    text = request.args.get(name)
    if text is None or text == "":
        return default
    if not text.isdigit():
        raise ValidationError(f"'{text}' is not a number", field=name)
    return int(text)


def _version(text: str | None) -> int | None:
    if text in (None, "", "latest"):
        return None
    t = str(text).lower().removeprefix("v")
    if not t.isdigit() or len(t) > 9:
        raise ValidationError(f"'{text}' is not a version", field="version", fix="v<N> or N")
    return int(t)


@api.route("/models/catalog")
def catalog() -> Any:
    m = platform().models
    return jsonify({"purposes": PURPOSES, "tags": m.tag_choices(),
                    "converters": {n: {"title": c.title, "image": c.image, "schema": c.option_schema()}
                                   for n, c in m.d.converters().items()}})


@api.route("/models")
def list_models() -> Any:
    m, u = platform().models, user()
    rows, total = m.list(u, area=request.args.get("area") or "my", tag=request.args.get("tag") or None,
                         search=request.args.get("search") or "", page=_int("page", 1), per_page=_int("per_page", 50))
    return jsonify({"total": total, "models": [m.as_dict(r, u) for r in rows]})


@api.route("/models", methods=["POST"])
def create_model() -> Any:
    m, u = platform().models, user()
    body = _body()
    if body.get("run_id"):  # F72-F74: archive a job's logged model
        row, _v = m.register_run(u, str(body["run_id"]), body)
    else:
        row = m.create(u, body)
    return jsonify({**m.as_dict(row, u), "message": "Model created successfully"}), 201


@api.route("/models/<name>")
def show_model(name: str) -> Any:
    m, u = platform().models, user()
    row = m.get(u, name, request.args.get("area") or None)
    return jsonify({**m.as_dict(row, u), "versions": [v.as_dict() for v in m.versions(u, str(row.id))],
                    "services": m.services(u, str(row.id))})


@api.route("/models/<name>", methods=["PATCH"])
def modify_model(name: str) -> Any:
    m, u = platform().models, user()
    return jsonify(m.as_dict(m.modify(u, name, _body()), u))


@api.route("/models/<name>", methods=["DELETE"])
def delete_model(name: str) -> Any:
    platform().models.delete(user(), name, request.args.get("delete_files") == "1",
                             area=request.args.get("area") or "my")
    return "", 204


@api.route("/models/<name>/versions")
def list_versions(name: str) -> Any:
    return jsonify([v.as_dict() for v in platform().models.versions(user(), name)])


@api.route("/models/<name>/versions", methods=["POST"])
def add_version(name: str) -> Any:
    m, u = platform().models, user()
    body = _body()
    if body.get("run_id"):
        _row, v = m.register_run(u, str(body["run_id"]), {**body, "model": name})
    else:
        v = m.add_version(u, name, body)
    return jsonify(next(x.as_dict() for x in m.versions(u, name) if x.number == v.number)), 201


@api.route("/models/<name>/versions/<version>", methods=["DELETE"])
def delete_version(name: str, version: str) -> Any:
    platform().models.delete_version(user(), name, _version(version) or 0, request.args.get("delete_files") == "1")
    return "", 204


@api.route("/models/<name>/versions/<version>/aliases", methods=["POST"])
def set_alias(name: str, version: str) -> Any:
    platform().models.set_alias(user(), name, _version(version) or 0, str(_body().get("alias") or ""))
    return jsonify([v.as_dict() for v in platform().models.versions(user(), name)])


@api.route("/models/<name>/versions/<version>/convert", methods=["POST"])
def convert(name: str, version: str) -> Any:
    body = _body()
    v, job = platform().models.convert(user(), name, _version(version), str(body.get("converter") or ""),
                                       dict(body.get("options") or {}), body.get("resource_spec"))
    poke_watcher()
    return jsonify({"version": v.number, "model_dir": v.model_dir, "job": job_dict(job)}), 201


@api.route("/models/<name>/versions/<version>/deploy")
def deploy_form(name: str, version: str) -> Any:
    return jsonify(platform().models.deploy_form(user(), name, _version(version)))


@api.route("/models/<name>/versions/<version>/deploy", methods=["POST"])
def deploy(name: str, version: str) -> Any:
    row = platform().models.deploy(user(), name, _version(version), _body())
    poke_watcher()
    return jsonify({"alias": row.alias, "name": row.name, "type": row.type}), 201


@api.route("/models/<name>/versions/<version>/share", methods=["POST"])
def share(name: str, version: str) -> Any:
    m, u = platform().models, user()
    body = _body()
    row = m.share(u, name, _version(version), body, background=bool(body.get("background", True)))
    return jsonify(m.as_dict(row, u)), 201


@api.route("/models/<name>/versions/<version>/files")
def list_files(name: str, version: str) -> Any:
    files = platform().models.files(user(), name, _version(version))
    q = request.args.get("q")
    entries = files.search(q) if q is not None else files.list(request.args.get("path"))
    return jsonify({"root": str(files.root), "entries": [e.as_dict() for e in entries]})


@api.route("/models/<name>/versions/<version>/files/download")
def download(name: str, version: str) -> Any:
    path = platform().models.files(user(), name, _version(version)).file(request.args.get("path") or "")
    mimetype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return send_file(path, as_attachment=True, mimetype=mimetype)


@api.route("/models/<name>/versions/<version>/files", methods=["POST"])
def change_files(name: str, version: str) -> Any:
    """New folder (op=mkdir), upload (multipart), paste after cut/copy (op=paste), delete (op=delete)."""
    m = platform().models
    files = m.files(user(), name, _version(version), write=True)
    if request.files:
        up = next(iter(request.files.values()))
        entry = files.upload(request.form.get("path"), up.filename or "", up.stream, m.d.upload_max_bytes)
        return jsonify(entry.as_dict()), 201
    body = _body()
    op = body.get("op")
    if op == "mkdir":
        return jsonify(files.mkdir(body.get("path"), str(body.get("name") or "")).as_dict()), 201
    if op == "paste":
        out = files.paste(list(body.get("paths") or []), body.get("dest"), move=body.get("mode") == "cut")
        return jsonify([e.as_dict() for e in out])
    if op == "delete":
        return jsonify({"deleted": files.delete(list(body.get("paths") or []))})
    raise ValidationError(f"unknown operation {op!r}", field="op", fix="mkdir, paste or delete (or upload a file)")


@api.route("/model-tags", methods=["POST"])
def add_tag() -> Any:
    body = _body()
    platform().models.add_tag(user(), str(body.get("category") or ""), str(body.get("name") or ""))
    return jsonify(platform().models.tag_choices()), 201


@api.route("/model-tags", methods=["DELETE"])
def delete_tag() -> Any:
    platform().models.delete_tag(user(), request.args.get("category") or "", request.args.get("name") or "")
    return Response(status=204)


def openapi_paths() -> dict[str, Any]:
    """The model registry endpoints for portal/openapi.py."""
    obj: dict[str, Any] = {"type": "object", "additionalProperties": True}
    err = {"$ref": "#/components/schemas/Error"}

    def resp(desc: str, schema: dict[str, Any] | None = obj) -> dict[str, Any]:
        return {"description": desc, **({"content": {"application/json": {"schema": schema}}} if schema else {})}

    def errors(*codes: int) -> dict[str, Any]:
        return {str(c): resp("error (the field is named)", err) for c in codes}

    def body(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
        return {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "properties": props, "required": required or [], "additionalProperties": True}}}}

    def q(name: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, "in": "query", "required": False, "schema": schema}

    name = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}, "description": "name or id"}
    version = {"name": "version", "in": "path", "required": True, "schema": {"type": "string"},
               "description": "v<N>, N or latest"}
    s, b = {"type": "string"}, {"type": "boolean"}
    model_body = body({"name": s, "purpose": {"type": "string", "enum": list(PURPOSES)}, "model_dir": s,
                       "is_lora": b, "base_model": s, "tags": {"type": "array", "items": s}, "description": s,
                       "run_id": {"type": "string", "description": "register the model a run logged (F72-F74)"}})
    paths: dict[str, Any] = {
        "/models/catalog": {"get": {"summary": "purposes, tags and the converters with their schemas",
                                    "responses": {"200": resp("catalog"), **errors(401)}}},
        "/models": {
            "get": {"summary": "My models (area=my) or Shared models (area=shared), paged",
                    "parameters": [q("area", {"type": "string", "enum": ["my", "shared"]}), q("tag", s),
                                   q("search", s), q("page", {"type": "integer", "minimum": 1}),
                                   q("per_page", {"type": "integer", "minimum": 1, "maximum": 500})],
                    "responses": {"200": resp("a page of models"), **errors(400, 401)}},
            "post": {"summary": "create a model (its v1), or register a run's logged model", "requestBody": model_body,
                     "responses": {"201": resp("created"), **errors(400, 401, 403, 404)}}},
        "/models/{name}": {
            "get": {"summary": "a model with its versions and services", "parameters": [name],
                    "responses": {"200": resp("the model"), **errors(401, 404)}},
            "patch": {"summary": "modify purpose, tags, description (the name is fixed)", "parameters": [name],
                      "requestBody": body({"purpose": s, "tags": {"type": "array", "items": s}, "description": s}),
                      "responses": {"200": resp("the model"), **errors(400, 401, 403, 404)}},
            "delete": {"summary": "delete a model (delete_files=1: and its files)", "parameters": [
                name, q("delete_files", {"type": "string", "enum": ["0", "1"]}),
                q("area", {"type": "string", "enum": ["my", "shared"]})],
                "responses": {"204": resp("deleted", None), **errors(400, 401, 403, 404)}}},
        "/models/{name}/versions": {
            "get": {"summary": "versions", "parameters": [name], "responses": {"200": resp("versions",
                                                                                          {"type": "array"}),
                                                                              **errors(401, 404)}},
            "post": {"summary": "a new version (highest + 1, the model's tags)", "parameters": [name],
                     "requestBody": body({"model_dir": s, "description": s, "run_id": s}),
                     "responses": {"201": resp("the version"), **errors(400, 401, 403, 404)}}},
        "/models/{name}/versions/{version}": {"delete": {
            "summary": "delete a version (delete_files=1: and its files)",
            "parameters": [name, version, q("delete_files", {"type": "string", "enum": ["0", "1"]})],
            "responses": {"204": resp("deleted", None), **errors(400, 401, 403, 404)}}},
        "/models/{name}/versions/{version}/aliases": {"post": {
            "summary": "point an MLflow alias at the version", "parameters": [name, version],
            "requestBody": body({"alias": s}, ["alias"]), "responses": {"200": resp("versions", {"type": "array"}),
                                                                       **errors(400, 401, 403, 404)}}},
        "/models/{name}/versions/{version}/convert": {"post": {
            "summary": "submit an ONNX conversion job; its result is the next version",
            "parameters": [name, version],
            "requestBody": body({"converter": s, "options": {"type": "object"}, "resource_spec": s}, ["converter"]),
            "responses": {"201": resp("the new version and its job"), **errors(400, 401, 403, 404, 503)}}},
        "/models/{name}/versions/{version}/deploy": {
            "get": {"summary": "recommended serving types and pre-filled fields", "parameters": [name, version],
                    "responses": {"200": resp("the deploy form"), **errors(401, 404)}},
            "post": {"summary": "create a service from the version", "parameters": [name, version],
                     "requestBody": body({"type": s, "resource_spec": s, "name": s}),
                     "responses": {"201": resp("the service"), **errors(400, 401, 403, 404, 503)}}},
        "/models/{name}/versions/{version}/share": {"post": {
            "summary": "copy the version into a share group's shared data area", "parameters": [name, version],
            "requestBody": body({"share_group": s, "share_dir": s, "share_users": s, "name": s, "description": s,
                                 "background": b}, ["share_group", "share_dir"]),
            "responses": {"201": resp("the shared model"), **errors(400, 401, 403, 404)}}},
        "/models/{name}/versions/{version}/files": {
            "get": {"summary": "list a folder (path) or search (q)", "parameters": [name, version, q("path", s),
                                                                                     q("q", s)],
                    "responses": {"200": resp("entries"), **errors(400, 401, 403, 404)}},
            "post": {"summary": "mkdir / paste / delete (JSON op) or upload (multipart)",
                     "parameters": [name, version],
                     "requestBody": body({"op": {"type": "string", "enum": ["mkdir", "paste", "delete"]},
                                          "path": s, "name": s, "paths": {"type": "array", "items": s},
                                          "dest": s, "mode": {"type": "string", "enum": ["cut", "copy"]}}),
                     "responses": {"200": resp("done"), "201": resp("created"), **errors(400, 401, 403, 404)}}},
        "/models/{name}/versions/{version}/files/download": {"get": {
            "summary": "download a file", "parameters": [name, version, q("path", s)],
            "responses": {"200": {"description": "the file"}, **errors(400, 401, 403, 404)}}},
        "/model-tags": {
            "post": {"summary": "add a model tag (admin)", "requestBody": body({"category": s, "name": s},
                                                                                ["category", "name"]),
                     "responses": {"201": resp("tags"), **errors(400, 401, 403)}},
            "delete": {"summary": "delete a model tag (admin)", "parameters": [q("category", s), q("name", s)],
                       "responses": {"204": resp("deleted", None), **errors(401, 403, 404)}}},
    }
    for ops in paths.values():  # tagged: versions live in the tracking server's registry (503 without it)
        for op in ops.values():
            op["tags"] = ["models"]
    return paths
