"""Datasets in the portal: REST API /api/v1/datasets (what libaiflow calls) and the pages.

Thin shell: every rule (permissions, names, secrets, query checks) is core.datasets'. The
pages are HTML + a script that talks to the same API, so the browser and a script see one
behaviour.
"""

from __future__ import annotations

import mimetypes
from dataclasses import asdict
from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request

from core.datakinds import ANNOTATIONS, CATEGORIES, SUFFIXES
from core.errors import HpcaiError, NotFound, ValidationError
from portal.web import json_body, json_errors, platform, user

api_bp = Blueprint("datasets_api", __name__, url_prefix="/api/v1")
pages_bp = Blueprint("datasets", __name__)
MAX_RAW_BYTES = 64 * 1024 * 1024


json_errors(api_bp)


def _arg(name: str) -> str | None:
    value = request.args.get(name)
    if value is not None and "\x00" in value:
        raise ValidationError("contains a NUL character", field=name)
    return value or None


def _ref(ref: str) -> str:
    if "\x00" in ref or len(ref) > 128:
        raise NotFound(f"no dataset '{ref[:40]}'", field="dataset")
    return ref


def _area(value: Any) -> str:
    area = value or "my"
    if area not in ("my", "shared"):
        raise ValidationError(f"unknown area {area!r}", field="area", fix="choose my or shared")
    return str(area)


# --- catalog and schemas ------------------------------------------------------------------------

@api_bp.route("/datasets/catalog")
def catalog() -> Any:
    ds = platform().datasets
    return jsonify({"categories": ds.catalog(), "suffixes": {k: list(v) for k, v in SUFFIXES.items()},
                    "annotations": ANNOTATIONS,
                    "backends": {b.name: {"title": b.title, "categories": list(b.categories),
                                          "connection_based": b.connection_based, "schema": b.option_schema()}
                                 for b in ds.backends()},
                    "groups": ds.groups_of(user()),
                    # F176/F177: members to pick as share users, and each group's shared data area
                    "members": {g: ds.group_members(g) for g in ds.groups_of(user())},
                    "areas": {g: str(ds.group_area(g)) for g in ds.groups_of(user())}})


# --- collection -----------------------------------------------------------------------------------

@api_bp.route("/datasets")
def list_datasets() -> Any:
    ds = platform().datasets
    area = _arg("area")
    if area:
        _area(area)
    category = _arg("category")
    if category and category not in CATEGORIES:
        raise ValidationError(f"unknown category {category!r}", field="category",
                              fix="choose one of: " + ", ".join(CATEGORIES))
    rows = ds.list(user(), area=area, category=category, backend=_arg("backend"), all_users=_arg("all") == "1")
    return jsonify([ds.info(r, user()) for r in rows])


@api_bp.route("/datasets", methods=["POST"])
def create() -> Any:
    body = json_body()
    area = _area(body.pop("area", None))
    ds = platform().datasets
    row = ds.create(user(), body, area=area)
    return jsonify(ds.info(row, user())), 201


@api_bp.route("/dataset-drafts/<action>", methods=["POST"])
def draft(action: str) -> Any:
    """Connection test / file list / preview of the New-dataset dialog, before OK."""
    body = json_body()
    area = _area(body.pop("area", None))
    ds = platform().datasets
    if action == "test":
        return jsonify({"ok": True, "message": ds.test_connection(user(), body, area=area)})
    if action == "files":
        files, more = ds.files(user(), body, limit=request.args.get("limit", 200), area=area)
        return jsonify({"files": [asdict(f) for f in files], "more": more})
    if action == "preview":
        table = ds.table(user(), body, rows=request.args.get("rows", 100), file=_arg("file"), area=area)
        return jsonify(asdict(table))
    raise NotFound(f"no draft action '{action[:40]}'", field="action", fix="use test, files or preview")


# --- one dataset ----------------------------------------------------------------------------------

@api_bp.route("/datasets/<ref>")
def get(ref: str) -> Any:
    ds = platform().datasets
    return jsonify(ds.info(ds.get(user(), _ref(ref)), user()))


@api_bp.route("/datasets/<ref>", methods=["PUT", "PATCH"])
def modify(ref: str) -> Any:
    ds = platform().datasets
    row = ds.modify(user(), _ref(ref), json_body())
    return jsonify(ds.info(row, user()))


@api_bp.route("/datasets/<ref>", methods=["DELETE"])
def delete(ref: str) -> Any:
    platform().datasets.delete(user(), _ref(ref))
    return "", 204


@api_bp.route("/datasets/<ref>/share", methods=["POST"])
def share(ref: str) -> Any:
    body = json_body()
    background = body.pop("background", True)
    if not isinstance(background, bool):
        raise ValidationError("must be true or false", field="background")
    ds = platform().datasets
    row = ds.share(user(), _ref(ref), body, background=background)
    return jsonify(ds.info(row, user())), 202 if row.state == "copying" else 201


@api_bp.route("/datasets/<ref>/test", methods=["POST"])
def test(ref: str) -> Any:
    return jsonify({"ok": True, "message": platform().datasets.test_connection(user(), ref=_ref(ref))})


@api_bp.route("/datasets/<ref>/files")
def files(ref: str) -> Any:
    found, more = platform().datasets.files(user(), ref=_ref(ref), limit=request.args.get("limit", 200))
    return jsonify({"files": [asdict(f) for f in found], "more": more})


@api_bp.route("/datasets/<ref>/preview")
def preview(ref: str) -> Any:
    table = platform().datasets.table(user(), ref=_ref(ref), rows=request.args.get("rows", 100), file=_arg("file"))
    return jsonify(asdict(table))


@api_bp.route("/datasets/<ref>/raw")
def raw(ref: str) -> Any:
    """One file's bytes for thumbnails, players and text; sandboxed so an SVG cannot run script."""
    file = _arg("file")
    if not file:
        raise ValidationError("is required", field="file", fix="name a file from the dataset's file list")
    data, cut = platform().datasets.read_file(user(), _ref(ref), file, MAX_RAW_BYTES)
    mime = mimetypes.guess_type(file)[0] or "application/octet-stream"
    if mime.startswith("text/") or file.endswith((".json", ".csv", ".tsv")):
        mime = "text/plain; charset=utf-8"
    resp = Response(data, mimetype=mime)
    resp.headers["Content-Security-Policy"] = "sandbox; default-src 'none'; style-src 'unsafe-inline'"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["X-Truncated"] = "1" if cut else "0"
    return resp


# --- pages ------------------------------------------------------------------------------------

@pages_bp.route("/datasets")
def index() -> Any:
    return render_template("datasets.html", categories=CATEGORIES)


@pages_bp.route("/datasets/<ref>/view")
def view(ref: str) -> Any:
    ds = platform().datasets
    try:
        row = ds.get(user(), _ref(ref))
    except HpcaiError as exc:
        return render_template("error.html", code=exc.status, message=exc.text), exc.status
    return render_template("dataset.html", ds=ds.info(row, user()), category_title=CATEGORIES[row.category])


# --- OpenAPI ------------------------------------------------------------------------------------

def openapi_paths() -> dict[str, Any]:
    """The dataset endpoints for portal/openapi.py."""
    obj = {"type": "object"}
    err = {"$ref": "#/components/schemas/Error"}

    def resp(desc: str, schema: dict[str, Any] | None = obj) -> dict[str, Any]:
        return {"description": desc, **({"content": {"application/json": {"schema": schema}}} if schema else {})}

    def errors(*codes: int) -> dict[str, Any]:
        return {str(c): resp("error (the field is named)", err) for c in codes}

    ref = {"name": "ref", "in": "path", "required": True, "schema": {"type": "string"},
           "description": "dataset id or name"}

    def q(name: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, "in": "query", "required": False, "schema": schema}

    body = {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "properties": {"name": {"type": "string"}, "category": {"type": "string",
                                                                                  "enum": list(CATEGORIES)},
                                         "backend": {"type": "string"}, "description": {"type": "string"},
                                         "area": {"type": "string", "enum": ["my", "shared"]}},
        "additionalProperties": True}}}}
    share_body = {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["share_name"], "properties": {
            "share_name": {"type": "string"}, "share_group": {"type": "string"},
            "share_users": {"type": "array", "items": {"type": "string"}},
            "share_directory": {"type": "string"}, "description": {"type": "string"},
            "background": {"type": "boolean"}}}}}}
    return {
        "/datasets/catalog": {"get": {"summary": "dataset categories, backends and their schemas",
                                      "responses": {"200": resp("catalog"), **errors(401)}}},
        "/datasets": {
            "get": {"summary": "datasets you may see", "parameters": [
                q("area", {"type": "string", "enum": ["my", "shared"]}), q("category", {"type": "string"}),
                q("backend", {"type": "string"}), q("all", {"type": "string", "enum": ["0", "1"]})],
                "responses": {"200": resp("datasets", {"type": "array"}), **errors(400, 401)}},
            "post": {"summary": "create a dataset (area=shared: directly in a group's shared area)",
                     "requestBody": body, "responses": {"201": resp("created"), **errors(400, 401, 403, 404)}}},
        "/dataset-drafts/{action}": {"post": {
            "summary": "connection test, file list or preview of an unsaved dataset",
            "parameters": [{"name": "action", "in": "path", "required": True,
                            "schema": {"type": "string", "enum": ["test", "files", "preview"]}},
                           q("rows", {"type": "integer"}), q("limit", {"type": "integer"}),
                           q("file", {"type": "string"})],
            "requestBody": body, "responses": {"200": resp("result"), **errors(400, 401, 403, 404)}}},
        "/datasets/{ref}": {
            "get": {"summary": "one dataset (passwords are never returned)", "parameters": [ref],
                    "responses": {"200": resp("dataset"), **errors(400, 401, 404)}},
            "put": {"summary": "modify (sharer/owner only); a blank password keeps the stored one",
                    "parameters": [ref], "requestBody": body,
                    "responses": {"200": resp("dataset"), **errors(400, 401, 403, 404)}},
            "delete": {"summary": "delete (owner/sharer, or an administrator)", "parameters": [ref],
                       "responses": {"204": resp("deleted", None), **errors(400, 401, 403, 404)}}},
        "/datasets/{ref}/share": {"post": {
            "summary": "share: file datasets are copied into a group's shared area (202 while copying)",
            "parameters": [ref], "requestBody": share_body,
            "responses": {"201": resp("shared"), "202": resp("copying in the background"),
                          **errors(400, 401, 403, 404)}}},
        "/datasets/{ref}/test": {"post": {"summary": "connection test", "parameters": [ref],
                                          "responses": {"200": resp("ok"), **errors(400, 401, 403, 404)}}},
        "/datasets/{ref}/files": {"get": {"summary": "the dataset's files (first `limit`)",
                                          "parameters": [ref, q("limit", {"type": "integer"})],
                                          "responses": {"200": resp("files"), **errors(400, 401, 403, 404)}}},
        "/datasets/{ref}/preview": {"get": {"summary": "first rows (numeric data)",
                                            "parameters": [ref, q("rows", {"type": "integer"}),
                                                           q("file", {"type": "string"})],
                                            "responses": {"200": resp("table"), **errors(400, 401, 403, 404)}}},
        "/datasets/{ref}/raw": {"get": {"summary": "one file's bytes (thumbnails, players, text)",
                                        "parameters": [ref, q("file", {"type": "string"})],
                                        "responses": {"200": resp("bytes", None), **errors(400, 401, 403, 404)}}},
    }
