"""Data labeling in the portal: REST API /api/v1/labeling and the pages (task list, a task's
data list and sub-tasks, the annotation page that mounts Label Studio's frontend).

Thin shell: every rule is core.labeling's. Media are streamed from the dataset's backend in
ranges (audio and video seek without downloading the file), after the core has checked that
the caller may see that file.
"""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path
from typing import Any, Iterator

from flask import Blueprint, Response, jsonify, render_template, request

from core.errors import NotFound, ValidationError
from portal.web import json_body, json_errors, platform, user

api = Blueprint("labeling_api", __name__, url_prefix="/api/v1/labeling")
pages = Blueprint("labeling", __name__)
json_errors(api)

#: one response of a media request carries at most this much (players ask for the rest)
CHUNK = 4 * 1024 * 1024
VENDOR = Path(__file__).parent / "static" / "vendor" / "label-studio"
RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _svc() -> Any:
    return platform().labeling


def _ref(ref: str) -> str:
    if "\x00" in ref or len(ref) > 128:
        raise NotFound(f"no labeling task '{ref[:40]}'", field="task")
    return ref


def _task(ref: str) -> dict[str, Any]:
    svc = _svc()
    task = svc.get(user(), _ref(ref))
    info = svc.info(task, user())
    info["config"] = svc.config(task) if svc._template_or_none(task.template) else None
    return info


# --- catalogs -------------------------------------------------------------------------------------

@api.route("/templates")
def templates() -> Any:
    category = request.args.get("category") or None
    return jsonify([{"name": t.name, "title": t.title, "category": t.category, "results": list(t.results),
                     "default_labels": list(t.default_labels), "description": t.description}
                    for t in _svc().templates(category)])


@api.route("/exporters")
def exporters() -> Any:
    return jsonify([{"name": e.name, "title": e.title, "description": e.description, "accepts": list(e.accepts),
                     "can_import": e.can_import} for e in _svc().exporters()])


# --- tasks ----------------------------------------------------------------------------------------

@api.route("/tasks")
def list_tasks() -> Any:
    svc = _svc()
    return jsonify([svc.info(t, user()) for t in svc.list(user())])


@api.route("/tasks", methods=["POST"])
def create_task() -> Any:
    body = json_body()
    background = body.pop("background", True)
    if not isinstance(background, bool):
        raise ValidationError("must be true or false", field="background")
    svc = _svc()
    task = svc.create(user(), body, background=background)
    return jsonify(svc.info(task, user())), 202 if task.state == "creating" else 201


@api.route("/tasks/<ref>")
def get_task(ref: str) -> Any:
    return jsonify(_task(ref))


@api.route("/tasks/<ref>", methods=["PATCH", "PUT"])
def modify_task(ref: str) -> Any:
    svc = _svc()
    svc.modify(user(), _ref(ref), json_body())
    return jsonify(_task(ref))


@api.route("/tasks/<ref>", methods=["DELETE"])
def delete_task(ref: str) -> Any:
    _svc().delete(user(), _ref(ref))
    return "", 204


@api.route("/tasks/<ref>/end", methods=["POST"])
def end_task(ref: str) -> Any:
    _svc().end(user(), _ref(ref))
    return jsonify(_task(ref))


@api.route("/tasks/<ref>/export", methods=["POST"])
def export_task(ref: str) -> Any:
    body = json_body()
    return jsonify(_svc().export(user(), _ref(ref), body.get("format"), body.get("directory")))


@api.route("/tasks/<ref>/publish", methods=["POST"])
def publish_task(ref: str) -> Any:
    body = json_body()
    return jsonify(_svc().publish(user(), _ref(ref), body.get("format")))


# --- sub-tasks ------------------------------------------------------------------------------------

@api.route("/tasks/<ref>/subtasks")
def subtasks(ref: str) -> Any:
    return jsonify(_svc().subtasks(user(), _ref(ref)))


@api.route("/tasks/<ref>/subtasks/<number>/<action>", methods=["POST"])
def subtask_action(ref: str, number: str, action: str) -> Any:
    svc = _svc()
    body = json_body() if action != "submit" or request.data else {}
    if action == "reassign":
        return jsonify(svc.reassign(user(), _ref(ref), number, body.get("annotator")))
    if action == "submit":
        return jsonify(svc.submit(user(), _ref(ref), number))
    if action == "review":
        return jsonify(svc.review(user(), _ref(ref), number, body.get("verdict"), body.get("comment", ""),
                                  body.get("flagged")))
    raise NotFound(f"no sub-task action '{action[:40]}'", field="action", fix="use reassign, submit or review")


@api.route("/tasks/<ref>/subtasks/<number>/reviews")
def subtask_reviews(ref: str, number: str) -> Any:
    return jsonify(_svc().reviews(user(), _ref(ref), number))


# --- the data list and items ----------------------------------------------------------------------

@api.route("/tasks/<ref>/items")
def items(ref: str) -> Any:
    a = request.args
    page = _svc().items(user(), _ref(ref), status=a.get("status") or None, name=a.get("name") or None,
                        subtask=a.get("subtask") or None, after=a.get("after") or None, limit=a.get("limit", 50))
    return jsonify({"items": page.items, "next_after": page.next_after, "total": page.total, "more": page.more})


@api.route("/items/<item_id>")
def get_item(item_id: str) -> Any:
    svc = _svc()
    info = svc.item(user(), item_id)
    info["data"] = _task_data(info)
    return jsonify(info)


@api.route("/items/<item_id>", methods=["PUT"])
def save_item(item_id: str) -> Any:
    return jsonify(_svc().save(user(), item_id, json_body()))


def _task_data(info: dict[str, Any]) -> dict[str, Any]:
    """The `data` of a Label Studio task: a media URL (streamed), or the text itself."""
    svc = _svc()
    if info["category"] == "text":
        task, item = svc.media(user(), info["id"])
        return {"text": svc.text_of(task, item), "path": info["path"]}
    key = "video" if info["category"] == "video" else info["category"]
    return {key: f"/api/v1/labeling/items/{info['id']}/media", "path": info["path"]}


@api.route("/items/<item_id>/media")
def media(item_id: str) -> Any:
    """The file's bytes, by HTTP range (206) or whole as a stream; never read whole into memory."""
    svc = _svc()
    task, item = svc.media(user(), item_id)
    size = int(item.size or 0)
    kind = mimetypes.guess_type(item.name)[0] or "application/octet-stream"
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "private, max-age=300",
               # an SVG opened directly must not run scripts on the portal's origin
               "Content-Security-Policy": "sandbox; default-src 'none'; style-src 'unsafe-inline'",
               "Content-Disposition": "inline"}
    wanted = request.headers.get("Range")
    if wanted:
        m = RANGE.match(wanted.strip())
        if not m or (not m[1] and not m[2]):
            return Response(status=416, headers={"Content-Range": f"bytes */{size}"})
        if m[1]:
            start = int(m[1])
            end = min(int(m[2]) if m[2] else start + CHUNK - 1, size - 1, start + CHUNK - 1)
        else:
            start, end = max(0, size - int(m[2])), size - 1
        if start >= size or end < start:
            return Response(status=416, headers={"Content-Range": f"bytes */{size}"})
        data = svc.read(task, item, start, end - start + 1)
        headers["Content-Range"] = f"bytes {start}-{start + len(data) - 1}/{size}"
        return Response(data, status=206, mimetype=kind, headers=headers)

    first = svc.read(task, item, 0, min(CHUNK, size)) if size else b""  # errors before the 200 is sent
    if len(first) >= size:
        return Response(first, mimetype=kind, headers=headers)

    def stream() -> Iterator[bytes]:
        yield first
        offset = len(first)
        while offset < size:
            chunk = svc.read(task, item, offset, min(CHUNK, size - offset))
            if not chunk:
                return
            offset += len(chunk)
            yield chunk

    headers["Content-Length"] = str(size)
    return Response(stream(), mimetype=kind, headers=headers)


# --- pages ----------------------------------------------------------------------------------------

@pages.route("/labeling")
def index() -> Any:
    return render_template("labeling.html")


@pages.route("/labeling/tasks/<ref>")
def task_page(ref: str) -> Any:
    return render_template("labeling_task.html", task=_task(ref))


@pages.route("/labeling/items/<item_id>/annotate")
def annotate(item_id: str) -> Any:
    info = _svc().item(user(), item_id)
    task = _task(info["task"])
    resp = Response(render_template("labeling_annotate.html", item=info, task=task,
                                    frontend=(VENDOR / "main.js").exists()))
    # Label Studio's frontend styles its canvas inline and loads images and sound as blobs.
    resp.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
        "frame-ancestors 'self'")
    return resp


def openapi_paths() -> dict[str, Any]:
    """The labeling endpoints for portal/openapi.py."""
    obj = {"type": "object"}
    err = {"$ref": "#/components/schemas/Error"}

    def resp(desc: str, schema: dict[str, Any] | None = obj) -> dict[str, Any]:
        return {"description": desc, **({"content": {"application/json": {"schema": schema}}} if schema else {})}

    def errors(*codes: int) -> dict[str, Any]:
        return {str(c): resp("error (the field is named)", err) for c in codes}

    def p(name: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"name": name, "in": "path", "required": True, "schema": schema or {"type": "string"}}

    def q(name: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, "in": "query", "required": False, "schema": schema}

    def body(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
        return {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "properties": props, "required": required or []}}}}

    users = {"type": "array", "items": {"type": "string"}}
    task_body = body({"name": {"type": "string"}, "dataset": {"type": "string"}, "template": {"type": "string"},
                      "labels": {"type": "array", "items": {"type": "string"}},
                      "mode": {"type": "string", "enum": ["personal", "collaborative"]},
                      "description": {"type": "string"}, "pre_annotation": {"type": "string"},
                      "pre_annotation_format": {"type": "string"}, "subtask_size": {"type": "integer"},
                      "annotators": users, "review": {"type": "boolean"}, "reviewers": users,
                      "policy": {"type": "string", "enum": ["percent", "count"]}, "policy_value": {"type": "integer"},
                      "expires_at": {"type": "string"}, "background": {"type": "boolean"}},
                     ["name", "dataset", "template"])
    ref, number, item = p("ref"), p("number", {"type": "integer"}), p("item_id", {"type": "integer"})
    tag = ["labeling"]
    return {
        "/labeling/templates": {"get": {"summary": "labeling templates (per media category)", "tags": tag,
                                        "parameters": [q("category", {"type": "string"})],
                                        "responses": {"200": resp("templates", {"type": "array"}), **errors(401)}}},
        "/labeling/exporters": {"get": {"summary": "export formats", "tags": tag,
                                        "responses": {"200": resp("formats", {"type": "array"}), **errors(401)}}},
        "/labeling/tasks": {
            "get": {"summary": "labeling tasks you create, label or review", "tags": tag,
                    "responses": {"200": resp("tasks", {"type": "array"}), **errors(401)}},
            "post": {"summary": "create a task (background: 202, the task is 'creating' until ready)", "tags": tag,
                     "requestBody": task_body,
                     "responses": {"201": resp("created"), "202": resp("being created"),
                                   **errors(400, 401, 403, 404, 409)}}},
        "/labeling/tasks/{ref}": {
            "get": {"summary": "one task (with its Label Studio config)", "tags": tag, "parameters": [ref],
                    "responses": {"200": resp("task"), **errors(401, 404)}},
            "patch": {"summary": "modify: pre-annotation file, template (+labels), description only", "tags": tag,
                      "parameters": [ref], "requestBody": body({"pre_annotation": {"type": "string"},
                                                                "template": {"type": "string"},
                                                                "labels": {"type": "array"},
                                                                "description": {"type": "string"}}),
                      "responses": {"200": resp("task"), **errors(400, 401, 403, 404, 409)}},
            "delete": {"summary": "delete the task (the dataset's files stay)", "tags": tag, "parameters": [ref],
                       "responses": {"204": resp("deleted", None), **errors(401, 403, 404, 409)}}},
        "/labeling/tasks/{ref}/end": {"post": {
            "summary": "end the task: nobody changes it afterwards", "tags": tag, "parameters": [ref],
            "responses": {"200": resp("task"), **errors(401, 403, 404, 409)}}},
        "/labeling/tasks/{ref}/export": {"post": {
            "summary": "export to a directory of yours", "tags": tag, "parameters": [ref],
            "requestBody": body({"format": {"type": "string"}, "directory": {"type": "string"}},
                                ["format", "directory"]),
            "responses": {"200": resp("files written"), **errors(400, 401, 403, 404, 409)}}},
        "/labeling/tasks/{ref}/publish": {"post": {
            "summary": "publish beside the labeled data", "tags": tag, "parameters": [ref],
            "requestBody": body({"format": {"type": "string"}}, ["format"]),
            "responses": {"200": resp("files written"), **errors(400, 401, 403, 404, 409)}}},
        "/labeling/tasks/{ref}/subtasks": {"get": {
            "summary": "sub-tasks you may see", "tags": tag, "parameters": [ref],
            "responses": {"200": resp("sub-tasks", {"type": "array"}), **errors(401, 404)}}},
        "/labeling/tasks/{ref}/subtasks/{number}/reassign": {"post": {
            "summary": "give a sub-task to another annotator (creator)", "tags": tag, "parameters": [ref, number],
            "requestBody": body({"annotator": {"type": "string"}}, ["annotator"]),
            "responses": {"200": resp("sub-task"), **errors(400, 401, 403, 404, 409)}}},
        "/labeling/tasks/{ref}/subtasks/{number}/submit": {"post": {
            "summary": "submit your sub-task (to review when enabled)", "tags": tag, "parameters": [ref, number],
            "responses": {"200": resp("sub-task"), **errors(400, 401, 403, 404, 409)}}},
        "/labeling/tasks/{ref}/subtasks/{number}/review": {"post": {
            "summary": "verdict on a submitted sub-task: has_errors | rejected | approved", "tags": tag,
            "parameters": [ref, number],
            "requestBody": body({"verdict": {"type": "string", "enum": ["has_errors", "rejected", "approved"]},
                                 "comment": {"type": "string"},
                                 "flagged": {"type": "array", "items": {"type": "integer"}}}, ["verdict"]),
            "responses": {"200": resp("sub-task"), **errors(400, 401, 403, 404, 409)}}},
        "/labeling/tasks/{ref}/subtasks/{number}/reviews": {"get": {
            "summary": "the verdicts of a sub-task", "tags": tag, "parameters": [ref, number],
            "responses": {"200": resp("reviews", {"type": "array"}), **errors(400, 401, 403, 404)}}},
        "/labeling/tasks/{ref}/items": {"get": {
            "summary": "the data list (keyset paging: after=<last id>)", "tags": tag,
            "parameters": [ref, q("status", {"type": "string", "enum": ["labeled", "unlabeled"]}),
                           q("name", {"type": "string"}), q("subtask", {"type": "integer"}),
                           q("after", {"type": "integer"}), q("limit", {"type": "integer"})],
            "responses": {"200": resp("a page of files"), **errors(400, 401, 404)}}},
        "/labeling/items/{item_id}": {
            "get": {"summary": "one file with its annotation and Label Studio task data", "tags": tag,
                    "parameters": [item], "responses": {"200": resp("file"), **errors(400, 401, 403, 404)}},
            "put": {"summary": "save (or autosave with draft=true) the annotation", "tags": tag,
                    "parameters": [item],
                    "requestBody": body({"result": {"type": "array"}, "draft": {"type": "boolean"},
                                         "lead_time": {"type": "number"}, "version": {"type": "integer"}},
                                        ["result"]),
                    "responses": {"200": resp("file"), **errors(400, 401, 403, 404, 409)}}},
        "/labeling/items/{item_id}/media": {"get": {
            "summary": "the file's bytes (HTTP Range supported)", "tags": tag, "parameters": [item],
            "responses": {"200": resp("bytes", None), "206": resp("a range", None),
                          "416": resp("bad range", None), **errors(400, 401, 403, 404)}}},
    }
