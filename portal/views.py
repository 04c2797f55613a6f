"""HTML pages: home (desktop), AI model training, My jobs, job detail, admin pages."""

from __future__ import annotations

import json
import mimetypes
import threading
import time
from datetime import datetime
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterator

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_file,
    stream_with_context,
    url_for,
)
from itsdangerous import BadSignature, URLSafeTimedSerializer

from core import jobtimes
from core.jobclone import form_values
from core.jobfiles import rank_log, rank_names
from core.usage import read_usage
from core.errors import HpcaiError, NotFound
from core.jobfiles import open_job_file, run_as_uid
from core.types import GPU_MODES, JobState, ResourceSpec
from portal import forms
from portal.auth import admin_required
from portal.i18n import gettext
from portal.web import classification_on, platform, poke_watcher, shown_request, user

bp = Blueprint("views", __name__)
bp.add_app_template_global(forms.sections, "form_sections")
TRAINING_APP = "ai_batch"
ACTIONS = {"kill": "kill", "suspend": "suspend", "resume": "resume", "delete": "delete"}


# --- home ----------------------------------------------------------------------------------

@bp.app_context_processor
def _site() -> dict[str, Any]:
    return {"classification_on": classification_on}


@bp.app_template_global("job_times")
def _job_times(row: Any) -> dict[str, Any]:
    """Submitted/started/ended in the site's zone, waited, elapsed (live), limit, time left."""
    return jobtimes.job_times(row).as_dict(jobtimes.site_zone(platform().config.raw))


@bp.app_template_filter("localtime")
def _localtime(value: Any) -> str:
    return jobtimes.local_time(value, jobtimes.site_zone(platform().config.raw))


@bp.route("/")
def home() -> Any:
    return render_template("home.html", summary=_work_summary())


def _work_summary() -> list[dict[str, Any]]:
    """The desktop's line of the user's live work: running and queued jobs, active services."""
    p, who = platform(), user()
    out = []
    for state, label in ((JobState.RUNNING.value, "running jobs"), (JobState.QUEUED.value, "queued jobs")):
        _rows, total = p.jobs.list(who, states=[state], limit=1)
        out.append({"id": f"sum-{state}", "count": total, "label": label,
                    "href": url_for("views.jobs", state=state)})
    active = [r for r in p.services.list(who) if p.services.state(r) in ("running", "starting", "queued")]
    out.append({"id": "sum-services", "count": len(active), "label": "active services",
                "href": url_for("services.page_list")})
    return out


# --- AI model training ---------------------------------------------------------------------

def _framework_choice(values: dict[str, Any]) -> tuple[Any, str]:
    reg = platform().registry
    names = platform().jobs.framework_names()
    name = values.get("framework") if values.get("framework") in names else (names[0] if names else None)
    if name is None:
        raise HpcaiError("no training framework plugin is enabled", field="framework",
                         fix="install or enable one (see the Plugins page)")
    fw = reg.get("framework", name)
    mode = values.get("mode") if values.get("mode") in fw.modes else fw.modes[0]
    return fw, mode


def _render_training(values: dict[str, Any], errors: dict[str, str], status: int = 200) -> Any:
    p = platform()
    fw, mode = _framework_choice(values)
    values = dict(values, framework=fw.name, mode=mode)
    schema = p.jobs.form_schema(fw.name, mode, values.get("runtime"), user=user(),
                                scheduler=values.get("scheduler") or None)
    if not values.get("name"):  # a name of its own, so two jobs are told apart in My jobs
        base = schema["properties"]["name"].get("default") or fw.name
        values["name"] = f"{base}-{datetime.now():%m%d-%H%M%S}"
    errors = {k: forms.web_words(v, schema) for k, v in errors.items()}
    specs = p.specs.visible(user(), p.jobs.groups_of(user()))
    images = p.images.images + p.containers.images_for(user())  # built-in, then My and shared (F99)
    fields = forms.widgets(schema, values, errors, specs, images, fw.image_tag)
    return render_template("training.html", fields=fields, errors=errors, framework=fw, mode=mode,
                           presets=p.presets.list(user(), TRAINING_APP),
                           monitor=p.monitor.info(values.get("queue")), app_name=TRAINING_APP), status


@bp.route("/apps/training", methods=["GET"])
def training() -> Any:
    p = platform()
    values: dict[str, Any] = {}
    preset_id = request.args.get("preset", type=int)
    try:
        preset = p.presets.get(user(), preset_id) if preset_id else p.presets.default(user(), TRAINING_APP)
    except NotFound:
        abort(404)
    if preset:
        values.update(preset.values)
    for sel in forms.SELECTORS:
        if request.args.get(sel):
            values[sel] = request.args[sel]
    if request.args.get("workdir"):  # "Use as project directory" on the Files page
        values["workdir"] = request.args["workdir"]
    clone = request.args.get("clone", type=int)
    if clone:  # "Resubmit / clone": the job's own choices, checked again on submission
        values = form_values(shown_request(_job_or_404(clone).request or {}))
    return _render_training(values, {})


@bp.route("/apps/training", methods=["POST"])
def training_post() -> Any:
    p = platform()
    action = request.form.get("action", "submit")
    fw, mode = _framework_choice(request.form.to_dict())
    if request.form.get("_framework") not in (None, fw.name):
        mode = fw.modes[0]  # a new framework starts from its own first mode and defaults
    schema = p.jobs.form_schema(fw.name, mode, request.form.get("runtime") or None, user=user(),
                                scheduler=request.form.get("scheduler") or None)
    try:
        values = forms.parse_form(schema, request.form)
    except HpcaiError as exc:
        return _render_training(request.form.to_dict(), forms.error_map(exc), 400)
    values.update(framework=fw.name, mode=mode)
    if action == "refresh":
        if request.form.get("_framework") != fw.name:
            for name in ("name", "image", "mode"):
                values.pop(name, None)
            values["mode"] = fw.modes[0]
        return _render_training(values, {})
    if action == "save_preset":
        try:
            preset = p.presets.save(user(), TRAINING_APP, request.form.get("preset_name", ""), values)
        except HpcaiError as exc:
            return _render_training(values, forms.error_map(exc), 400)
        flash(f"Preset '{preset.name}' saved.")
        return _render_training(values, {})
    try:
        if values.get("workdir"):
            values["workdir"] = str(p.workspace.check(user(), values["workdir"], field="workdir"))
        for m in values.get("mounts", []):
            p.workspace.check(user(), m["source"], field="mounts")
        req = p.jobs.request_from_values(values, user(), source="portal")
        row = p.jobs.submit(req)
    except HpcaiError as exc:
        return _render_training(values, forms.error_map(exc), 400)
    poke_watcher()
    flash(f"Job {row.id} ({row.name}) submitted.")
    return redirect(url_for("views.jobs", new=row.id))  # F112: My jobs opens after submission


@bp.route("/apps/training/presets/<int:preset_id>/<action>", methods=["POST"])
def preset_action(preset_id: int, action: str) -> Any:
    p = platform()
    try:
        if action == "default":
            preset = p.presets.set_default(user(), preset_id)
            flash(f"'{preset.name}' is now your default form.")
        elif action == "delete":
            p.presets.delete(user(), preset_id)
            flash("Preset deleted.")
        else:
            abort(404)
    except NotFound:
        abort(404)
    return redirect(url_for("views.training"))


# --- My jobs -------------------------------------------------------------------------------

@bp.route("/jobs")
def jobs() -> Any:
    p = platform()
    size = current_app.config["PAGE_SIZE"]
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    state = request.args.get("state") or None
    framework = request.args.get("framework") or None
    name = request.args.get("name") or None
    all_users = bool(request.args.get("all")) and g.account.is_admin
    rows, total = p.jobs.list(user(), all_users=all_users, states=[state] if state else None,
                              framework=framework, name=name, limit=size, offset=(page - 1) * size)
    pages = max((total + size - 1) // size, 1)
    return render_template("jobs.html", rows=rows, total=total, page=page, pages=pages,
                           states=[s.value for s in JobState], state=state, framework=framework,
                           name=name or "", all_users=all_users,
                           frameworks=p.jobs.framework_names(),
                           new=request.args.get("new", type=int))


def _job_or_404(job_id: int) -> Any:
    try:
        return platform().jobs.get(job_id, user())
    except NotFound:
        abort(404)


@bp.route("/jobs/<int:job_id>")
def job_detail(job_id: int) -> Any:
    row = _job_or_404(job_id)
    plan = row.plan or {}
    return render_template("job.html", job=row, plan_json=json.dumps(plan, indent=2),
                           request_json=json.dumps(shown_request(row.request or {}), indent=2),
                           roles=plan.get("roles", []),
                           live=not JobState(row.state).terminal,
                           option_reports=platform().jobs.option_reports(job_id, user()),
                           usage=read_usage(row.job_dir, history=False), ranks=rank_names(plan),
                           files_key=_files_signer().dumps([job_id, user()]))


# --- pages a job wrote (option reports' plots) ---------------------------------------------------
# They are the job's own HTML: served in a sandbox (an opaque origin that cannot act as the
# viewer) and reached through a signed key in the path, since a sandboxed page sends no session
# cookie when it loads its relative scripts (plotly.min.js beside the plot).

FILES_KEY_AGE_S = 12 * 3600


def _files_signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="job-files")


@bp.route("/jobs/<int:job_id>/files/<key>/<path:name>")
def job_file(job_id: int, key: str, name: str) -> Any:
    try:
        signed_job, who = _files_signer().loads(key, max_age=FILES_KEY_AGE_S)
    except BadSignature:
        abort(403)
    if signed_job != job_id:
        abort(403)
    try:
        row = platform().jobs.get(job_id, who)  # the signer may still see the job
    except HpcaiError:
        abort(404)
    root = Path(row.job_dir).resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        abort(404)
    resp = send_file(path, mimetype=mimetypes.guess_type(path.name)[0] or "application/octet-stream",
                     max_age=0)
    base = url_for("views.job_file", job_id=job_id, key=key, name="", _external=True)
    resp.headers["Content-Security-Policy"] = (
        f"sandbox allow-scripts; default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval' {base}; "
        "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; frame-ancestors 'self'")
    return resp


def _read_from(path: str | None, offset: int, uid: int | None, limit: int = 64 * 1024) -> tuple[str, int]:
    if not path:
        return "", offset
    try:
        with open_job_file(path, uid) as f:  # the job user's file, never what a link points at
            f.seek(offset)
            data = f.read(limit)
    except OSError:
        return "", offset
    return data.decode("utf-8", errors="replace"), offset + len(data)


class _StreamSlots:
    """Live log streams per user in this process: each holds a worker thread for as long as it
    is open, so one user's many tabs (66 streams stopped the portal for everyone) must not take
    them all. [portal] max_log_streams_per_user, 4 by default."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open: dict[str, int] = {}

    def take(self, who: str, limit: int) -> bool:
        with self.lock:
            if self.open.get(who, 0) >= limit:
                return False
            self.open[who] = self.open.get(who, 0) + 1
            return True

    def give_back(self, who: str) -> None:
        with self.lock:
            self.open[who] = max(self.open.get(who, 1) - 1, 0)


_STREAMS = _StreamSlots()


@bp.route("/jobs/<int:job_id>/log/stream")
def job_log_stream(job_id: int) -> Any:
    """Server-sent events: the job's output as it grows; ends when the job has ended."""
    row = _job_or_404(job_id)
    p, who = platform(), user()
    limit = int(p.config.raw.get("portal", {}).get("max_log_streams_per_user", 4))
    if not _STREAMS.take(who, limit):
        return Response(f"event: end\ndata: {json.dumps('too many live logs open')}\n\n",
                        status=429, mimetype="text/event-stream",
                        headers={"Retry-After": "10", "X-Hpcai-Error":
                                 f"at most {limit} live logs per user; close another job page"})
    poll = current_app.config["LOG_POLL_S"]
    offset = request.args.get("offset", 0, type=int) or 0
    deadline = time.monotonic() + 3600

    def events() -> Iterator[str]:
        nonlocal offset, row
        idle = 0
        while time.monotonic() < deadline:
            text, offset = _read_from(row.stdout_path, offset, run_as_uid(row.plan))
            if text:
                idle = 0
                yield f"id: {offset}\ndata: {json.dumps(text)}\n\n"
                continue
            try:
                row = p.jobs.get(job_id, who)  # the store only; the watcher keeps states current
            except NotFound:  # deleted while someone watched it
                yield f"event: end\ndata: {json.dumps('deleted')}\n\n"
                return
            if JobState(row.state).terminal:
                text, offset = _read_from(row.stdout_path, offset, run_as_uid(row.plan))
                if text:
                    yield f"id: {offset}\ndata: {json.dumps(text)}\n\n"
                    continue
                yield f"event: end\ndata: {json.dumps(row.state)}\n\n"
                return
            idle += 1
            if idle % 20 == 0:
                yield ": keep-alive\n\n"
            time.sleep(poll)

    resp = Response(stream_with_context(events()), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    resp.call_on_close(lambda: _STREAMS.give_back(who))  # however the stream ends
    return resp


MAX_LOG_BYTES = 20 << 20  # a larger log is downloaded, not shown whole in the page


@bp.route("/jobs/<int:job_id>/log.txt")
def job_log_text(job_id: int) -> Any:
    """The whole output, or one rank's log (?rank=worker/1); ?download=1 saves it as a file."""
    row = _job_or_404(job_id)
    rank = request.args.get("rank") or ""
    if rank:
        if rank not in rank_names(row.plan):
            abort(404)
        path = rank_log(row.job_dir, rank)
    else:
        path = Path(row.stdout_path or "")
    if not path.is_file():
        return Response("", mimetype="text/plain")
    name = f"job-{row.id}-{rank.replace('/', '.') or 'output'}.log"
    if request.args.get("download"):
        return send_file(path, mimetype="text/plain", as_attachment=True, download_name=name)
    with open(path, "rb") as f:
        size = path.stat().st_size
        f.seek(max(0, size - MAX_LOG_BYTES))
        return Response(f.read().decode(errors="replace"), mimetype="text/plain",
                        headers={"Cache-Control": "no-cache"})


@bp.route("/jobs/<int:job_id>/<action>", methods=["POST"])
def job_action(job_id: int, action: str) -> Any:
    if action not in ACTIONS:
        abort(404)
    p = platform()
    _job_or_404(job_id)
    try:
        getattr(p.jobs, ACTIONS[action])(job_id, user())
    except NotFound:
        abort(404)
    except HpcaiError as exc:
        flash(exc.text, "error")
        return redirect(url_for("views.job_detail", job_id=job_id))
    poke_watcher()
    if action == "delete":
        flash(f"Job {job_id} deleted.")
        return redirect(url_for("views.jobs"))
    flash(f"Job {job_id}: {action} done.")
    return redirect(url_for("views.job_detail", job_id=job_id))


# --- administration ------------------------------------------------------------------------

def spec_from_form(form: Any) -> ResourceSpec:
    def num(name: str, default: int | None) -> int | None:
        text = (form.get(name) or "").strip()
        if not text:
            return default
        try:
            return int(text)
        except ValueError:
            raise HpcaiError(f"'{text}' is not a whole number", field=name) from None

    def names(field: str) -> list[str]:
        return [n.strip() for n in (form.get(field) or "").split(",") if n.strip()]

    return ResourceSpec(name=(form.get("name") or "").strip(), kind=form.get("kind") or "cpu",
                        cpus=num("cpus", 1) or 0, mem_mb=num("mem_mb", None),
                        node_group=(form.get("node_group") or "").strip() or None,
                        gpu_mode=form.get("gpu_mode") or None,
                        gpu_type=(form.get("gpu_type") or "").strip() or None, gpus=num("gpus", 0) or 0,
                        visible_users=names("visible_users"), visible_groups=names("visible_groups"),
                        description=(form.get("description") or "").strip())


@bp.route("/admin/specs", methods=["GET", "POST"])
@admin_required
def admin_specs() -> Any:
    p = platform()
    errors: dict[str, str] = {}
    editing: dict[str, Any] = {}
    if request.method == "POST":
        try:
            if request.form.get("action") == "delete":
                p.specs.delete(request.form.get("name", ""))
                flash(f"Spec '{request.form.get('name')}' deleted.")
            else:
                spec = spec_from_form(request.form)
                p.specs.save(spec)
                flash(f"Spec '{spec.name}' saved.")
            return redirect(url_for("views.admin_specs"))
        except HpcaiError as exc:
            errors = forms.error_map(exc)
            editing = request.form.to_dict()
    elif request.args.get("edit"):
        found = [s for s in p.specs.all() if s.name == request.args["edit"]]
        if found:
            editing = asdict(found[0])
            editing["visible_users"] = ",".join(editing["visible_users"])
            editing["visible_groups"] = ",".join(editing["visible_groups"])
    return render_template("admin_specs.html", specs=p.specs.all(), errors=errors, editing=editing,
                           gpu_modes=GPU_MODES, node_groups=p.settings.node_groups(p.specs.all())), \
        (400 if errors else 200)


@bp.route("/admin/users", methods=["GET", "POST"])
@admin_required
def admin_users() -> Any:
    acc = platform().accounts
    errors: dict[str, str] = {}
    generated = None
    if request.method == "POST":
        action = request.form.get("action")
        name = request.form.get("name", "")
        try:
            if action == "create":
                acc.create(name, request.form.get("password", ""), role=request.form.get("role", "user"),
                           full_name=request.form.get("full_name", ""),
                           groups=[x.strip() for x in request.form.get("groups", "").split(",") if x.strip()])
                flash(f"User '{name}' created.")
            elif action == "role":
                acc.update(name, role=request.form.get("role"), acting=user())
            elif action == "disable":
                acc.update(name, disabled=request.form.get("disabled") == "1", acting=user())
            elif action == "delete":
                acc.delete(name, acting=user())
                flash(f"User '{name}' deleted.")
            elif action == "classification":
                level = platform().settings.check_level(request.form.get("classification"))
                acc.set_classification(name, level)
            elif action == "unlock":
                acc.throttle.unlock(name)
                flash(f"User '{name}' may log in again.")
            elif action == "add_group":
                acc.add_to_group(name, request.form.get("group", ""))
            elif action == "remove_group":
                acc.remove_from_group(name, request.form.get("group", ""))
            if not errors:
                return redirect(url_for("views.admin_users"))
        except HpcaiError as exc:
            errors = forms.error_map(exc)
    settings = platform().settings
    return render_template("admin_users.html", accounts=acc.list(), groups=acc.groups(), errors=errors,
                           generated=generated, locked=acc.throttle.locked_accounts(),
                           levels=settings.classification_levels() if classification_on() else []), \
        (400 if errors else 200)


@bp.route("/admin/settings", methods=["GET", "POST"])
@admin_required
def admin_settings() -> Any:
    settings = platform().settings
    if request.method == "POST" and request.form.get("locale"):
        try:
            settings.set_locale(request.form["locale"], user())
            flash(gettext("Site language saved."))
        except HpcaiError as exc:
            flash(exc.text, "error")
        return redirect(url_for("views.admin_settings"))
    if request.method == "POST":
        on = request.form.get("classification") == "1"
        settings.set_classification(on, user())
        flash(f"Security classification turned {'on' if on else 'off'}.")
        return redirect(url_for("views.admin_settings"))
    return render_template("admin_settings.html", classification=settings.classification_enabled(),
                           levels=settings.classification_levels(), shm=settings.default_shm_mb(),
                           daemon_json=settings.daemon_json(), site_locale=settings.locale())


@bp.route("/admin/plugins", methods=["GET", "POST"])
@admin_required
def admin_plugins() -> Any:
    if request.method == "POST":
        plugin = request.form.get("plugin", "")
        enabled = request.form.get("enabled") == "1"
        try:
            platform().switch_plugin(plugin, enabled, user())
            flash(f"Plugin '{plugin}' {'enabled' if enabled else 'disabled'}.")
        except HpcaiError as exc:
            flash(exc.text, "error")
        return redirect(url_for("views.admin_plugins"))
    reg = platform().registry
    by_kind: dict[str, list[Any]] = {}
    for info in reg.list():
        by_kind.setdefault(info.kind, []).append(info)
    cfg = platform().config
    protected = {i.plugin for i in reg.list() if (i.kind, i.name) in
                 (("scheduler", cfg.default_scheduler), ("runtime", cfg.default_runtime))}
    return render_template("admin_plugins.html", by_kind=by_kind, load_errors=reg.load_errors,
                           protected=protected)


@bp.app_errorhandler(404)
def not_found(_e: Any) -> Any:
    if request.path.startswith("/api/"):
        return {"error": "not found", "field": None, "fix": "see /api/v1/openapi.json"}, 404
    return render_template("error.html", code=404, message="This page does not exist, or it is not yours."), 404


@bp.app_errorhandler(403)
def forbidden(_e: Any) -> Any:
    if request.path.startswith("/api/"):
        return {"error": "forbidden", "field": None, "fix": None}, 403
    return render_template("error.html", code=403, message="Administrators only."), 403


@bp.app_errorhandler(413)
def too_large(_e: Any) -> Any:
    max_bytes, max_files = platform().workspace.limits()
    message = f"the upload is larger than the site's limits ({max_bytes >> 20} MB, {max_files} files)"
    fix = "upload a smaller project or a zip archive, or ask the site admin ([portal] upload_max_mb, upload_max_files)"
    if request.path.startswith("/api/"):
        return {"error": message, "field": "file", "fix": fix}, 413
    return render_template("error.html", code=413, message=f"{message}: {fix}"), 413


@bp.app_errorhandler(400)
def bad_request(e: Any) -> Any:
    if request.path.startswith("/api/"):
        return {"error": getattr(e, "description", "bad request"), "field": None, "fix": None}, 400
    return render_template("error.html", code=400, message=getattr(e, "description", "Bad request")), 400


@bp.app_errorhandler(HpcaiError)
def hpcai_error(exc: HpcaiError) -> Any:
    """A user-fixable problem outside a form (the API blueprint answers JSON itself)."""
    if request.path.startswith("/api/"):
        return exc.as_dict(), exc.status
    detail = getattr(exc, "detail", None)
    if detail:  # the technical cause is for the site's log, not for the web user
        current_app.logger.warning("%s: %s", request.path, detail)
    message = exc.message[:1].upper() + exc.message[1:]
    return render_template("error.html", code=exc.status, message=message + ".",
                           fix=(exc.fix[:1].upper() + exc.fix[1:] + ".") if exc.fix else None), exc.status
