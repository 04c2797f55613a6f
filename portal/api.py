"""REST API /api/v1: every action of the pages, as JSON. Errors are 4xx JSON naming the field."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request

from core.errors import ValidationError
from core.types import JobState, ResourceSpec
from portal.auth import admin_required
from portal.openapi import openapi_document
from core.jobfiles import open_job_file, run_as_uid
from portal.web import json_body, json_errors, job_dict, platform, poke_watcher, user

bp = Blueprint("api", __name__, url_prefix="/api/v1")
TRAINING_APP = "ai_batch"


json_errors(bp)


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    text = request.args.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise ValidationError(f"'{text}' is not a whole number", field=name) from None
    if not low <= value <= high:
        raise ValidationError(f"must be between {low} and {high}", field=name)
    return value


def _str_arg(name: str) -> str | None:
    value = request.args.get(name)
    if value is not None and "\x00" in value:
        raise ValidationError("contains a NUL character", field=name)
    return value or None


@bp.route("/openapi.json")
def openapi() -> Any:
    return jsonify(openapi_document(platform()))


@bp.route("/me")
def me() -> Any:
    return jsonify(g.account.as_dict())


# --- schema, catalogs, plugins ---------------------------------------------------------------

@bp.route("/schema")
def schema() -> Any:
    return jsonify(platform().jobs.form_schema(_str_arg("framework"), _str_arg("mode"), _str_arg("runtime"),
                                               user=user()))


@bp.route("/images")
def images() -> Any:
    return jsonify([asdict(i) for i in platform().images.tagged(_str_arg("tag"))])


@bp.route("/specs")
def specs() -> Any:
    p = platform()
    return jsonify([dict(asdict(s), label=s.label()) for s in p.specs.visible(user(), p.jobs.groups_of(user()))])


def _spec(data: dict[str, Any]) -> ResourceSpec:
    allowed = {"name", "kind", "cpus", "mem_mb", "node_group", "gpu_mode", "gpu_type", "gpus",
               "visible_users", "visible_groups", "description"}
    unknown = set(data) - allowed
    if unknown:
        raise ValidationError(f"unknown fields {sorted(unknown)}", field=sorted(unknown)[0],
                              fix="use only " + ", ".join(sorted(allowed)))
    types = {"name": str, "kind": str, "cpus": int, "mem_mb": (int, type(None)), "node_group": (str, type(None)),
             "gpu_mode": (str, type(None)), "gpu_type": (str, type(None)), "gpus": int,
             "visible_users": list, "visible_groups": list, "description": str}
    for k, v in data.items():
        if not isinstance(v, types[k]) or isinstance(v, bool):
            raise ValidationError(f"has the wrong type ({type(v).__name__})", field=k)
        if isinstance(v, list) and not all(isinstance(x, str) for x in v):
            raise ValidationError("must be a list of names", field=k)
    if "name" not in data:
        raise ValidationError("is required", field="name", fix="give the spec a name")
    return ResourceSpec(**data)


@bp.route("/specs", methods=["POST"])
@admin_required
def spec_save() -> Any:
    spec = _spec(json_body())
    platform().specs.save(spec)
    return jsonify(asdict(spec)), 201


@bp.route("/specs/<name>", methods=["DELETE"])
@admin_required
def spec_delete(name: str) -> Any:
    platform().specs.delete(name)
    return "", 204


@bp.route("/plugins")
def plugins() -> Any:
    return jsonify([{k: v for k, v in i.as_dict().items()} for i in platform().registry.list()])


@bp.route("/plugins/<plugin>", methods=["POST"])
@admin_required
def plugin_switch(plugin: str) -> Any:
    data = json_body()
    if not isinstance(data.get("enabled"), bool):
        raise ValidationError("must be true or false", field="enabled")
    reg = platform().switch_plugin(plugin, data["enabled"], user())
    return jsonify([i.as_dict() for i in reg.list() if i.plugin == plugin])


@bp.route("/monitor")
def monitor() -> Any:
    return jsonify(platform().monitor.info(_str_arg("queue")))


# --- jobs ------------------------------------------------------------------------------------

@bp.route("/jobs")
def jobs_list() -> Any:
    p = platform()
    state = _str_arg("state")
    if state and state not in {s.value for s in JobState}:
        raise ValidationError(f"'{state}' is not a job state", field="state",
                              fix="choose one of: " + ", ".join(s.value for s in JobState))
    size = _int_arg("per_page", current_app.config["PAGE_SIZE"], 1, 200)
    page = _int_arg("page", 1, 1, 10**6)
    rows, total = p.jobs.list(user(), all_users=request.args.get("all") in ("1", "true"),
                              states=[state] if state else None, framework=_str_arg("framework"),
                              name=_str_arg("name"), limit=size, offset=(page - 1) * size)
    return jsonify({"total": total, "page": page, "per_page": size, "jobs": [job_dict(r) for r in rows]})


@bp.route("/jobs", methods=["POST"])
def job_submit() -> Any:
    p = platform()
    values = json_body()
    dry_run = request.args.get("dry_run") in ("1", "true")
    if values.get("workdir") is not None:
        if not isinstance(values["workdir"], str):
            raise ValidationError("must be a string", field="workdir")
        values["workdir"] = str(p.workspace.check(user(), values["workdir"], field="workdir"))
    mounts = values.get("mounts") or []
    if not isinstance(mounts, list) or not all(isinstance(m, (dict, str)) for m in mounts):
        raise ValidationError("must be a list of {source, target}", field="mounts")
    for m in mounts:
        source = m.get("source") if isinstance(m, dict) else m.split(":")[0]
        if not isinstance(source, str):
            raise ValidationError("source must be a string", field="mounts")
        p.workspace.check(user(), source, field="mounts")
        if isinstance(m, dict) and set(m) - {"source", "target", "readonly"}:
            raise ValidationError("a mount has only source, target and readonly", field="mounts")
    if values.get("env") is not None and not isinstance(values["env"], (str, dict)):
        raise ValidationError("must be KEY=value,... or an object", field="env")
    for name in ("framework", "mode", "runtime", "scheduler", "image"):
        if values.get(name) is not None and not isinstance(values[name], str):
            raise ValidationError("must be a string", field=name)
    try:
        req = p.jobs.request_from_values(values, user(), source="api")
    except TypeError as exc:  # a value of the wrong shape for a JobRequest attribute
        raise ValidationError(f"bad value: {exc}", field="body") from exc
    return _plan_or_submit(p, req, dry_run)


def _plan_or_submit(p: Any, req: Any, dry_run: bool) -> Any:
    """A dry run answers the plan and the job script; otherwise the job, submitted."""
    if dry_run:
        prep = p.jobs.prepare(req)
        return jsonify({"plan": json.loads(prep.plan.to_json()), "script": prep.script(),
                        "ports_needed": prep.ports_needed})
    row = p.jobs.submit(req)
    poke_watcher()
    return jsonify(job_dict(row, full=True)), 201


@bp.route("/jobs/batch", methods=["POST"])
def job_submit_batch() -> Any:
    """A #BSUB batch script's job, parsed by jsub where the user runs it (core.bsubjob, the same
    code as a local jsub: its machine file and paths are the user's); sent as request_to_wire."""
    from core.bsubjob import request_from_wire

    p = platform()
    req = request_from_wire(json_body(), user())
    for name in ("workdir", "cwd"):
        value = getattr(req, name)
        if value:
            setattr(req, name, str(p.workspace.check(user(), value, field=name)))
    return _plan_or_submit(p, req, request.args.get("dry_run") in ("1", "true"))


@bp.route("/jobs/<int:job_id>")
def job_get(job_id: int) -> Any:
    return jsonify(job_dict(platform().jobs.get(job_id, user()), full=True))


@bp.route("/jobs/<int:job_id>/log")
def job_log(job_id: int) -> Any:
    row = platform().jobs.get(job_id, user())
    offset = _int_arg("offset", 0, 0, 2**40)
    limit = _int_arg("limit", 65536, 1, 1 << 20)
    text, end = "", offset
    if row.stdout_path:
        try:
            with open_job_file(row.stdout_path, run_as_uid(row.plan)) as f:
                f.seek(offset)
                data = f.read(limit)
            text, end = data.decode("utf-8", errors="replace"), offset + len(data)
        except OSError:
            pass
    return jsonify({"offset": offset, "next_offset": end, "text": text, "state": row.state})


@bp.route("/jobs/<int:job_id>/reports")
def job_reports(job_id: int) -> Any:
    return jsonify(platform().jobs.option_reports(job_id, user()))


@bp.route("/jobs/<int:job_id>/reports/<option>")
def job_report(job_id: int, option: str) -> Any:
    return jsonify(platform().jobs.option_report(job_id, user(), option))


@bp.route("/jobs/<int:job_id>/<action>", methods=["POST"])
def job_action(job_id: int, action: str) -> Any:
    if action not in ("kill", "suspend", "resume"):
        raise ValidationError(f"'{action}' is not an action", field="action", fix="use kill, suspend or resume")
    row = getattr(platform().jobs, action)(job_id, user())
    poke_watcher()
    return jsonify(job_dict(row))


@bp.route("/jobs/<int:job_id>", methods=["DELETE"])
def job_delete(job_id: int) -> Any:
    platform().jobs.delete(job_id, user())
    return "", 204


# --- presets ---------------------------------------------------------------------------------

@bp.route("/presets")
def presets_list() -> Any:
    return jsonify([x.as_dict() for x in platform().presets.list(user(), _str_arg("app") or TRAINING_APP)])


@bp.route("/presets", methods=["POST"])
def preset_save() -> Any:
    data = json_body()
    name, values, app = data.get("name"), data.get("values", {}), data.get("app") or TRAINING_APP
    if not isinstance(name, str):
        raise ValidationError("is required", field="name", fix="give the preset a name")
    if not isinstance(app, str):
        raise ValidationError("must be a string", field="app")
    return jsonify(platform().presets.save(user(), app, name, values).as_dict()), 201


@bp.route("/presets/<int:preset_id>/default", methods=["POST"])
def preset_default(preset_id: int) -> Any:
    return jsonify(platform().presets.set_default(user(), preset_id).as_dict())


@bp.route("/presets/<int:preset_id>", methods=["DELETE"])
def preset_delete(preset_id: int) -> Any:
    platform().presets.delete(user(), preset_id)
    return "", 204


# --- files (directory picker, upload) -------------------------------------------------------

@bp.route("/files")
def files_list() -> Any:
    p = platform()
    where, entries = p.workspace.list(user(), _str_arg("path"))
    return jsonify({"path": str(where), "roots": [str(r) for r in p.workspace.roots(user())],
                    "parent": str(where.parent) if where not in p.workspace.roots(user()) else None,
                    "entries": [asdict(e) for e in entries]})


def _upload_dict(done: Any) -> dict[str, Any]:
    return {"project": str(done.project), "saved": [str(x) for x in done.saved], "files": len(done.saved),
            "bytes": done.bytes}


@bp.route("/files/upload", methods=["POST"])
def files_upload() -> Any:
    """Files into a directory; with one `relative_path` per file, a whole folder (its tree kept)."""
    p = platform()
    directory = request.form.get("path") or str(p.workspace.home(user()))
    uploaded = request.files.getlist("file")
    if not uploaded:
        raise ValidationError("no file was sent", field="file", fix="send multipart field 'file'")
    paths = request.form.getlist("relative_path")
    if paths and len(paths) != len(uploaded):
        raise ValidationError(f"{len(paths)} relative paths for {len(uploaded)} files", field="relative_path",
                              fix="send one relative_path per file, in the same order")
    if paths:
        done = p.workspace.upload_tree(user(), directory, [(rel, f.stream) for rel, f in zip(paths, uploaded)])
    else:
        for f in uploaded:
            p.workspace.check_name(f.filename or "")
        done = p.workspace.upload_tree(user(), directory, [(f.filename or "", f.stream) for f in uploaded])
    return jsonify(_upload_dict(done)), 201


@bp.route("/files/unzip", methods=["POST"])
def files_unzip() -> Any:
    """A zip archive unpacked on the server into a project directory (zip-slip and links refused)."""
    p = platform()
    directory = request.form.get("path") or str(p.workspace.home(user()))
    archive = request.files.get("file")
    if archive is None:
        raise ValidationError("no file was sent", field="file", fix="send the .zip as multipart field 'file'")
    done = p.workspace.unpack_zip(user(), directory, archive.filename or "", archive.stream)
    return jsonify(_upload_dict(done)), 201


@bp.route("/files/mkdir", methods=["POST"])
def files_mkdir() -> Any:
    data = json_body()
    path, name = data.get("path"), data.get("name")
    if not isinstance(path, str) or not isinstance(name, str):
        raise ValidationError("path and name are required strings", field="name")
    return jsonify({"path": str(platform().workspace.mkdir(user(), path, name))}), 201


# --- site settings ---------------------------------------------------------------------------

def _settings_dict() -> dict[str, Any]:
    st = platform().settings
    return {"classification": st.classification_enabled(), "classification_levels": st.classification_levels(),
            "default_shm_mb": st.default_shm_mb()}


@bp.route("/settings")
def settings_get() -> Any:
    return jsonify(_settings_dict())


@bp.route("/settings", methods=["POST"])
@admin_required
def settings_set() -> Any:
    data = json_body()
    unknown = set(data) - {"classification"}
    if unknown:
        raise ValidationError(f"'{sorted(unknown)[0]}' cannot be changed here", field=sorted(unknown)[0],
                              fix="send {\"classification\": true|false}")
    if "classification" in data:
        platform().settings.set_classification(data["classification"], user())
    return jsonify(_settings_dict())


# --- accounts --------------------------------------------------------------------------------

@bp.route("/tokens")
def tokens_list() -> Any:
    return jsonify([asdict(t) for t in platform().accounts.tokens(user())])


@bp.route("/tokens", methods=["POST"])
def token_create() -> Any:
    data = request.get_json(silent=True) or {}
    label = data.get("label", "") if isinstance(data, dict) else ""
    if not isinstance(label, str):
        raise ValidationError("must be a string", field="label")
    return jsonify({"token": platform().accounts.create_token(user(), label)}), 201


@bp.route("/tokens/<int:token_id>", methods=["DELETE"])
def token_revoke(token_id: int) -> Any:
    platform().accounts.revoke_token(user(), token_id)
    return "", 204


@bp.route("/users")
@admin_required
def users_list() -> Any:
    return jsonify([a.as_dict() for a in platform().accounts.list()])


@bp.route("/users", methods=["POST"])
@admin_required
def user_create() -> Any:
    data = json_body()
    for k in ("name", "password"):
        if not isinstance(data.get(k), str):
            raise ValidationError("is required", field=k)
    groups = data.get("groups", [])
    if not isinstance(groups, list) or not all(isinstance(x, str) for x in groups):
        raise ValidationError("must be a list of group names", field="groups")
    role = data.get("role", "user")
    if not isinstance(role, str):
        raise ValidationError("must be admin or user", field="role")
    acct = platform().accounts.create(data["name"], data["password"], role=role,
                                      full_name=str(data.get("full_name", "")), groups=groups)
    return jsonify(acct.as_dict()), 201


@bp.route("/users/<name>", methods=["DELETE"])
@admin_required
def user_delete(name: str) -> Any:
    platform().accounts.delete(name, acting=user())
    return "", 204
