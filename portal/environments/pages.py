"""Development environments pages: list (Connect only when ready), create form, detail with log."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for

from core.errors import HpcaiError, NotFound
from portal import forms
from portal.environments.blueprints import bp
from portal.web import platform, poke_watcher, user


@bp.route("/environments")
def page_list() -> Any:
    envs = platform().environments
    views = [envs.view(r, request.host_url.rstrip("/"), user()) for r in envs.list(user())]
    return render_template("environments.html", envs=views, types=envs.types())


def _render_form(type_name: str, values: dict[str, Any], errors: dict[str, str], status: int = 200) -> Any:
    p = platform()
    envs = p.environments
    schema = envs.form_schema(user(), type_name)
    specs = p.specs.visible(user(), p.jobs.groups_of(user()))
    st = envs.type(type_name)
    images = p.images.tagged(st.image_tag or None)
    fields = forms.widgets(schema, {**values, "type": type_name}, errors, specs, images, st.image_tag)
    return render_template("environment_new.html", fields=fields, type_name=type_name, errors=errors,
                           types=envs.types(), unavailable=st.check_available()), status


@bp.route("/environments/new")
def page_new() -> Any:
    types = platform().environments.types()
    type_name = request.args.get("type") or next(iter(types), "")
    if type_name not in types:
        abort(404)
    return _render_form(type_name, {}, {})


@bp.route("/environments", methods=["POST"])
def page_create() -> Any:
    envs = platform().environments
    type_name = request.form.get("type", "")
    try:
        values = forms.parse_form(envs.form_schema(user(), type_name), request.form)
        values["type"] = type_name
        row = envs.create(values, user(), start=request.form.get("action") != "save")
    except HpcaiError as exc:
        if type_name not in envs.types():
            abort(400)
        return _render_form(type_name, request.form.to_dict(), forms.error_map(exc), 400)
    poke_watcher()
    flash(f"Environment {row.name} created.")
    return redirect(url_for("environments.page_detail", ref=row.id))


@bp.route("/environments/<ref>")
def page_detail(ref: str) -> Any:
    envs = platform().environments
    try:
        view = envs.view(envs.get(ref, user()), request.host_url.rstrip("/"), user())
    except NotFound:
        abort(404)
    return render_template("environment.html", env=view)


@bp.route("/environments/<ref>/<action>", methods=["POST"])
def page_action(ref: str, action: str) -> Any:
    envs = platform().environments
    if action not in ("start", "stop", "restart", "delete"):
        abort(404)
    try:
        getattr(envs, action)(ref, user())
        flash(f"Environment {ref}: {action} done.")
    except NotFound:
        abort(404)
    except HpcaiError as exc:
        flash(exc.text, "error")
    poke_watcher()
    if action == "delete":
        return redirect(url_for("environments.page_list"))
    return redirect(request.referrer or url_for("environments.page_detail", ref=ref))
