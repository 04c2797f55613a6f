"""Model registry pages: My models / Shared models with the tag filter, a model's details
(versions, files, services; Convert, Deploy, Share, Delete per version), the deploy form.

Thin shell: the pages call core.models directly (server-rendered forms) or the REST API from
portal/static/models.js (file browser, dialogs); every rule is core.models'.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from core.errors import HpcaiError, NotFound
from core.models.types import PURPOSES
from portal import forms
from portal.web import platform, poke_watcher, user

pages = Blueprint("models", __name__)


@pages.route("/models")
def index() -> Any:
    m, u = platform().models, user()
    area = request.args.get("area") if request.args.get("area") in ("my", "shared") else "my"
    tag = request.args.get("tag") or None
    page = int(request.args.get("page", "1")) if request.args.get("page", "1").isdigit() else 1
    rows, total = m.list(u, area=area, tag=tag, search=request.args.get("q", ""), page=max(page, 1), per_page=24)
    return render_template("models.html", models=[m.as_dict(r, u) for r in rows], total=total, area=area, tag=tag,
                           page=page, tags=m.tag_choices(), purposes=PURPOSES,
                           converters=m.d.converters())


@pages.route("/models/<ref>")
def detail(ref: str) -> Any:
    m, u = platform().models, user()
    try:
        row = m.get(u, ref)
    except NotFound:
        abort(404)
    versions = m.versions(u, str(row.id))
    chosen = request.args.get("v", "")
    latest = versions[-1] if versions else None
    current = next((v for v in versions if str(v.number) == chosen.removeprefix("v")), latest)
    return render_template("model.html", model=m.as_dict(row, u), versions=versions, current=current,
                           services=m.services(u, str(row.id)), converters=m.d.converters(),
                           purposes=PURPOSES, tags=m.tag_choices())


def _deploy_fields(type_name: str, values: dict[str, Any], errors: dict[str, str]) -> list[Any]:
    p = platform()
    schema = p.services.form_schema(type_name, user())
    specs = p.specs.visible(user(), p.jobs.groups_of(user()))
    return forms.widgets(schema, {**values, "type": type_name}, errors, specs, p.images.images, "")


@pages.route("/models/<ref>/v<int:number>/deploy", methods=["GET", "POST"])
def deploy(ref: str, number: int) -> Any:
    """F215-F217: the recommended type first, "More" for the others, the model's files pre-filled."""
    p, u = platform(), user()
    try:
        form = p.models.deploy_form(u, ref, number)
    except NotFound:
        abort(404)
    everything = form["recommended"] + form["more"]
    type_name = request.values.get("type") if request.values.get("type") in everything else (everything or [""])[0]
    errors: dict[str, str] = {}
    values = dict(form["prefill"].get(type_name, {}))
    if request.method == "POST":
        try:
            schema = p.services.form_schema(type_name, u)
            parsed = forms.parse_form(schema, request.form)
            row = p.models.deploy(u, ref, number, {**parsed, "type": type_name})
        except HpcaiError as exc:
            errors = forms.error_map(exc)
            values = request.form.to_dict()
        else:
            poke_watcher()
            flash(f"Service {row.alias} created from {ref} v{number}.")
            return redirect(url_for("services.page_detail", ref=row.alias))
    types = p.services.types()
    return render_template("model_deploy.html", form=form, type_name=type_name, types=types,
                           fields=_deploy_fields(type_name, values, errors), errors=errors, ref=ref, number=number,
                           more=request.values.get("more") == "1" or type_name in form["more"]), \
        (400 if errors else 200)
