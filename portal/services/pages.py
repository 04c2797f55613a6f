"""My services pages: list, create, detail, modify, API keys."""

from __future__ import annotations

from typing import Any

from portal.services.blueprints import bp
from flask import (
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)

from core.errors import HpcaiError, NotFound
from core.services import CONFIRM, IMMUTABLE, LIFECYCLE, OPERATIONS
from portal import forms
from portal.services.api import external_base, log_download
from portal.web import platform, poke_watcher, user

# --- pages ----------------------------------------------------------------------------------------

@bp.route("/services")
def page_list() -> Any:
    mgr = platform().services
    q, all_users = request.args.get("q", ""), request.args.get("all") == "1"
    rows = mgr.list(user(), all_users, search=q)
    views = [mgr.view(r, external_base()) for r in rows]
    ops = {v.alias: mgr.user_operations(r, user(), v.state) for r, v in zip(rows, views)}
    return render_template("services.html", services=views, types=mgr.types(), q=q, all_users=all_users,
                           ops=ops, operations=OPERATIONS, confirm=CONFIRM)


def _fields(type_name: str, values: dict[str, Any], errors: dict[str, str]) -> list[Any]:
    """The create form's fields of a service type, filled with `values`."""
    p = platform()
    schema = p.services.form_schema(type_name, user())
    specs = p.specs.visible(user(), p.jobs.groups_of(user()))
    images = p.images.images + p.containers.images_for(user())  # built-in, then My and shared (F13)
    return forms.widgets(schema, {**values, "type": type_name}, errors, specs, images, "")


def _service_or_404(ref: str) -> Any:
    try:
        return platform().services.get(ref, user())
    except NotFound:
        abort(404)


def _render_form(type_name: str, values: dict[str, Any], errors: dict[str, str], status: int = 200) -> Any:
    fields = _fields(type_name, values, errors)
    return render_template("service_new.html", fields=fields, type_name=type_name, errors=errors,
                           types=platform().services.types()), status


@bp.route("/services/new")
def page_new() -> Any:
    types = platform().services.types()
    type_name = request.args.get("type") if request.args.get("type") in types else next(iter(sorted(types)), "")
    return _render_form(type_name, {}, {})


@bp.route("/services/new", methods=["POST"])
def page_create() -> Any:
    p = platform()
    type_name = request.form.get("type", "")
    try:
        schema = p.services.form_schema(type_name, user())
        values = forms.parse_form(schema, request.form)
        values["type"] = type_name
        row = p.services.create(values, user(), start=request.form.get("action") != "save")
    except HpcaiError as exc:
        return _render_form(type_name, request.form.to_dict(), forms.error_map(exc), 400)
    poke_watcher()
    flash(f"Service {row.alias} created.")
    return redirect(url_for("services.page_detail", ref=row.alias))


@bp.route("/services/<ref>")
def page_detail(ref: str) -> Any:
    mgr = platform().services
    row = _service_or_404(ref)
    view = mgr.view(row, external_base())
    ops = mgr.user_operations(row, user(), view.state)
    return render_template("service.html", s=view, owner=row.user == user(),
                           actions=[a for a in ops if a in LIFECYCLE], confirm=CONFIRM,
                           can_modify="modify" in ops)


def _render_modify(row: Any, values: dict[str, Any], errors: dict[str, str], status: int = 200) -> Any:
    editable = [f for f in _fields(row.type, values, errors) if f.name not in IMMUTABLE]
    return render_template("service_modify.html", s=row, fields=editable, errors=errors,
                           types=platform().services.types()), status


@bp.route("/services/<ref>/modify")
def page_modify(ref: str) -> Any:
    row = _service_or_404(ref)
    values = platform().services.current_values(row)
    return _render_modify(row, {k: v for k, v in values.items() if v is not None}, {})


@bp.route("/services/<ref>/modify", methods=["POST"])
def page_modify_save(ref: str) -> Any:
    mgr = platform().services
    row = _service_or_404(ref)
    try:
        values = forms.parse_form(mgr.form_schema(row.type, user()), request.form)
        for name in IMMUTABLE:  # not on the form: the core keeps the service's own
            values.pop(name, None)
        mgr.modify(row.alias, values, user())
    except HpcaiError as exc:
        return _render_modify(row, request.form.to_dict(), forms.error_map(exc), 400)
    poke_watcher()
    flash(f"Service {row.alias} modified.")
    return redirect(url_for("services.page_detail", ref=row.alias))


@bp.route("/services/<ref>/log")
def page_log(ref: str) -> Any:
    try:
        return log_download(ref)
    except NotFound:
        abort(404)


@bp.route("/services/<ref>/<action>", methods=["POST"])
def page_action(ref: str, action: str) -> Any:
    mgr = platform().services
    try:
        if action == "delete":
            mgr.delete(ref, user())
            flash(f"Service {ref} deleted.")
            poke_watcher()
            return redirect(url_for("services.page_list"))
        if action == "authorize":
            mgr.authorize(ref, [u.strip() for u in request.form.get("users", "").split(",") if u.strip()], user())
        elif action in ("start", "stop", "restart"):
            getattr(mgr, action)(ref, user())
        else:
            abort(404)
        flash(f"{action.capitalize()}: done.")
    except HpcaiError as exc:
        flash(exc.text, "error")
    poke_watcher()
    if request.form.get("back") == "list":  # pressed in the My services toolbar
        return redirect(url_for("services.page_list"))
    return redirect(url_for("services.page_detail", ref=ref))


@bp.route("/services/keys", methods=["GET", "POST"])
def page_keys() -> Any:
    mgr = platform().services
    new_key = None
    if request.method == "POST":
        try:
            if request.form.get("action") == "delete":
                mgr.delete_key(user(), int(request.form.get("key_id", "0") or 0))
                flash("API key deleted.")
            else:
                _, new_key = mgr.create_key(user(), request.form.get("name", ""))
        except HpcaiError as exc:
            flash(exc.text, "error")
    return render_template("service_keys.html", keys=mgr.keys(user()), new_key=new_key)

