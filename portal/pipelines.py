"""The pipeline designer in the portal: REST API /api/v1/pipelines and the pages (cards, the
designer, instances). Thin shell: every rule is core.pipelines'. The pages are HTML + scripts
that call the same API, so the browser, the CLI and a script see one behaviour.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, render_template, request, send_file

from core.errors import HpcaiError, ValidationError
from core.pipelines.document import DOCUMENT_SCHEMA
from core.pipelines.engine import RunSettings
from core.pipelines.service import empty_document, function_dict, row_dict
from portal.web import classification_on, json_body, json_errors, platform, poke_watcher, user

api = Blueprint("pipelines_api", __name__, url_prefix="/api/v1/pipelines")
pages = Blueprint("pipelines", __name__)
json_errors(api)


def _service() -> Any:
    return platform().pipelines


def _settings(body: dict[str, Any]) -> RunSettings:
    for key in ("resource_spec", "scheduler", "queue", "experiment"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise ValidationError("must be a string", field=key)
    return RunSettings(body.get("resource_spec") or "cpu-1", body.get("scheduler") or None,
                       body.get("queue") or None, body.get("experiment") or None)


def _document(body: dict[str, Any]) -> dict[str, Any]:
    doc = body.get("document")
    if not isinstance(doc, dict):
        raise ValidationError("must be a pipeline document (a JSON object)", field="document",
                              fix="GET /api/v1/pipelines/schema for the format")
    return doc


# --- catalog and checks -------------------------------------------------------------------------

@api.route("/components")
def components() -> Any:
    return jsonify({"categories": _service().catalog.palette(request.args.get("search", ""))})


@api.route("/schema")
def schema() -> Any:
    return jsonify(DOCUMENT_SCHEMA)


@api.route("/validate", methods=["POST"])
def validate() -> Any:
    """200 with every problem (the designer marks each node); `valid` says whether it may run."""
    doc = _document(json_body())
    try:
        _service().validate(doc, for_run=True)
    except ValidationError as exc:
        return jsonify({"valid": False, "errors": [e.as_dict() for e in getattr(exc, "errors", [exc])]})
    return jsonify({"valid": True, "errors": []})


# --- saved pipelines ------------------------------------------------------------------------------

@api.route("")
def list_pipelines() -> Any:
    return jsonify([row_dict(r) for r in _service().list(user(), request.args.get("type") or None)])


@api.route("", methods=["POST"])
def create() -> Any:
    body = json_body()
    doc = body.get("document")
    row = _service().create(user(), body.get("name"), str(body.get("type") or ""), str(body.get("description") or ""),
                            body.get("classification") if classification_on() else None,
                            doc if isinstance(doc, dict) else None)
    return jsonify(row_dict(row, with_document=True)), 201


@api.route("/<int:pid>")
def show(pid: int) -> Any:
    return jsonify(row_dict(_service().get(user(), pid), with_document=True))


@api.route("/<int:pid>", methods=["PUT"])
def save(pid: int) -> Any:
    body = json_body()
    desc = body.get("description")
    row = _service().save(user(), pid, _document(body), None if desc is None else str(desc))
    return jsonify(row_dict(row, with_document=True))


@api.route("/<int:pid>/save-as", methods=["POST"])
def save_as(pid: int) -> Any:
    body = json_body()
    _service().get(user(), pid)  # the pipeline the copy comes from must be visible
    row = _service().save_as(user(), _document(body), body.get("name"), str(body.get("type") or ""),
                             str(body.get("description") or ""),
                             body.get("classification") if classification_on() else None)
    return jsonify(row_dict(row, with_document=True)), 201


@api.route("/<int:pid>/publish", methods=["POST"])
def publish(pid: int) -> Any:
    body = request.get_json(silent=True) or {}
    if not isinstance(body, dict):
        raise ValidationError("the body must be a JSON object", field="body")
    return jsonify(row_dict(_service().publish(user(), pid, bool(body.get("published", True)))))


@api.route("/<int:pid>", methods=["DELETE"])
def delete(pid: int) -> Any:
    _service().delete(user(), pid)
    return jsonify({"deleted": pid})


@api.route("/<int:pid>/run", methods=["POST"])
def run_saved(pid: int) -> Any:
    """Run (spec 02 §1.4): saves the canvas first when the body carries it, then submits."""
    body = json_body()
    svc = _service()
    if isinstance(body.get("document"), dict):
        svc.save(user(), pid, body["document"])
    row = svc.get(user(), pid)
    inst = svc.run(user(), row.document, _settings(body), pipeline_id=row.id)
    poke_watcher()
    return jsonify(svc.summary(user(), inst)), 201


@api.route("/run", methods=["POST"])
def run_document() -> Any:
    body = json_body()
    inst = _service().run(user(), _document(body), _settings(body))
    poke_watcher()
    return jsonify(_service().summary(user(), inst)), 201


# --- instances -----------------------------------------------------------------------------------

@api.route("/instances")
def instances() -> Any:
    pid = request.args.get("pipeline")
    return jsonify(_service().instances(user(), name=request.args.get("name") or None,
                                        state=request.args.get("state") or None,
                                        pipeline_id=int(pid) if pid and pid.isdigit() else None))


@api.route("/instances/<int:iid>")
def instance(iid: int) -> Any:
    return jsonify(_service().details(user(), iid))


@api.route("/instances/<int:iid>/log")
def instance_log(iid: int) -> Any:
    return _service().log(user(), iid), 200, {"Content-Type": "text/plain; charset=utf-8"}


@api.route("/instances/<int:iid>/files/<path:rel>")
def instance_file(iid: int, rel: str) -> Any:
    return send_file(_service().file(user(), iid, rel), as_attachment=True)


@api.route("/instances/<int:iid>/<action>", methods=["POST"])
def instance_action(iid: int, action: str) -> Any:
    out = _service().control(user(), iid, action)
    poke_watcher()
    return jsonify(out)


# --- custom functions ----------------------------------------------------------------------------

@api.route("/functions")
def functions() -> Any:
    return jsonify([function_dict(r) for r in _service().functions(user(), request.args.get("kind") or None)])


@api.route("/functions", methods=["POST"])
def create_function() -> Any:
    body = json_body()
    row = _service().create_function(user(), str(body.get("kind") or ""), body.get("name"), body.get("body"),
                                     str(body.get("description") or ""), bool(body.get("has_params")))
    return jsonify(function_dict(row)), 201


@api.route("/functions/<int:fid>", methods=["DELETE"])
def delete_function(fid: int) -> Any:
    _service().delete_function(user(), fid)
    return jsonify({"deleted": fid})


# --- pages ---------------------------------------------------------------------------------------

@pages.route("/pipelines")
def page_cards() -> Any:
    return render_template("pipelines.html")


@pages.route("/pipelines/<int:pid>/design")
def page_designer(pid: int) -> Any:
    try:
        row = _service().get(user(), pid)
    except HpcaiError as exc:
        return render_template("error.html", code=exc.status, message=exc.text), exc.status
    specs = [s.name for s in platform().specs.visible(user(), platform().jobs.groups_of(user()))]
    return render_template("pipeline_designer.html", pipeline=row_dict(row), specs=specs,
                           empty=empty_document(row.name, row.type, row.description))


@pages.route("/pipelines/instances")
def page_instances() -> Any:
    return render_template("pipeline_instances.html")


# --- OpenAPI ---------------------------------------------------------------------------------------

def openapi_paths() -> dict[str, Any]:
    """The pipeline endpoints for portal/openapi.py (paths relative to /api/v1)."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    err = {str(c): {"description": d, "content": error}
           for c, d in ((400, "invalid input (the field is named)"), (401, "not authenticated"),
                        (404, "not found (or not yours)"), (409, "conflict (name taken, wrong state)"),
                        (503, "scheduler unavailable"))}
    doc = {k: v for k, v in DOCUMENT_SCHEMA.items() if not k.startswith("$")}
    obj = {"application/json": {"schema": {"type": "object"}}}
    arr = {"application/json": {"schema": {"type": "array"}}}

    def body(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
        return {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "properties": props, "required": required or []}}}}

    def op(summary: str, ok: str = "200", content: dict | None = None, codes: tuple[int, ...] = (400, 401, 404),
           **extra: Any) -> dict[str, Any]:
        return {"summary": summary, "tags": ["pipelines"], **extra,
                "responses": {ok: {"description": summary, "content": content or obj},
                              **{str(c): err[str(c)] for c in codes}}}

    pid = [{"name": "pid", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}]
    iid = [{"name": "iid", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}]
    fid = [{"name": "fid", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}]
    text = {"type": "string", "maxLength": 2000}
    run = {"document": doc, "resource_spec": {"type": "string"}, "scheduler": {"type": "string"},
           "queue": {"type": "string"}, "experiment": {"type": "string"}}
    card = {"name": {"type": "string", "maxLength": 128}, "type": {"type": "string", "maxLength": 64},
            "description": text, "classification": {"type": "string"}, "document": doc}
    return {
        "/pipelines/components": {"get": op("the component palette by category (search: words in name or title)",
                                            parameters=[{"name": "search", "in": "query",
                                                         "schema": {"type": "string"}}])},
        "/pipelines/schema": {"get": op("the JSON Schema of a pipeline document", codes=(401,))},
        "/pipelines/validate": {"post": op("every problem of a document, each naming node, component and "
                                           "property or port", requestBody=body({"document": doc}, ["document"]))},
        "/pipelines": {"get": op("saved pipelines (yours and published ones)", content=arr, codes=(401,),
                                 parameters=[{"name": "type", "in": "query", "schema": {"type": "string"}}]),
                       "post": op("new pipeline (the name must not equal one of yours)", "201",
                                  requestBody=body(card, ["name"]), codes=(400, 401, 409))},
        "/pipelines/{pid}": {"get": op("a saved pipeline with its document", parameters=pid),
                             "put": op("Save: a new revision of the document; name, type and classification stay",
                                       parameters=pid, requestBody=body({"document": doc, "description": text},
                                                                        ["document"])),
                             "delete": op("delete a saved pipeline", parameters=pid)},
        "/pipelines/{pid}/save-as": {"post": op("Save as: a new pipeline from the canvas", "201", parameters=pid,
                                                requestBody=body(card, ["name", "document"]),
                                                codes=(400, 401, 404, 409))},
        "/pipelines/{pid}/publish": {"post": op("publish or unpublish", parameters=pid,
                                                requestBody=body({"published": {"type": "boolean"}}))},
        "/pipelines/{pid}/run": {"post": op("Run: saves the canvas when given, then submits one scheduler job", "201",
                                            parameters=pid, requestBody=body(run), codes=(400, 401, 404, 503))},
        "/pipelines/run": {"post": op("run a document (not saved) as one scheduler job", "201",
                                      requestBody=body(run, ["document"]), codes=(400, 401, 404, 503))},
        "/pipelines/instances": {"get": op("pipeline instances (runs) with the list's columns", content=arr,
                                           codes=(401,), parameters=[
                                               {"name": n, "in": "query", "schema": {"type": "string"}}
                                               for n in ("name", "state", "pipeline")])},
        "/pipelines/instances/{iid}": {"get": op("an instance: details, node states, metrics, files, evaluations, "
                                                 "log", parameters=iid)},
        "/pipelines/instances/{iid}/log": {"get": op("the instance's output", parameters=iid,
                                                     content={"text/plain": {"schema": {"type": "string"}}})},
        "/pipelines/instances/{iid}/{action}": {"post": op(
            "terminate, suspend, resume or delete an instance", parameters=iid + [
                {"name": "action", "in": "path", "required": True,
                 "schema": {"type": "string", "enum": ["terminate", "suspend", "resume", "delete"]}}],
            codes=(400, 401, 404, 409, 503))},
        "/pipelines/functions": {"get": op("custom loss and metric functions", content=arr, codes=(401,),
                                           parameters=[{"name": "kind", "in": "query",
                                                        "schema": {"type": "string", "enum": ["loss", "metric"]}}]),
                                 "post": op("new custom function: syntax-checked, entry name defined, imports "
                                            "installed (not executed)", "201", codes=(400, 401, 409),
                                            requestBody=body({"kind": {"type": "string", "enum": ["loss", "metric"]},
                                                              "name": {"type": "string"}, "body": {"type": "string"},
                                                              "description": text, "has_params": {"type": "boolean"}},
                                                             ["kind", "name", "body"]))},
        "/pipelines/functions/{fid}": {"delete": op("delete a custom function (irreversible)", parameters=fid)},
    }
