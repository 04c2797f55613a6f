"""Image management in the portal (镜像管理): the page /images and REST /api/v1/image-library.

Thin shell: every rule (names, visibility, registries, builds as jobs) is core.containers.library's.
The page lists built-in, shared and My images with the tag filter and keyword search and their
counts (F13, F99); pull, share and remove act on My images.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for

from core.errors import HpcaiError, ValidationError
from portal.web import json_body, json_errors, platform, user

api = Blueprint("images_api", __name__, url_prefix="/api/v1")
pages = Blueprint("images", __name__)
json_errors(api)


def _text(data: dict[str, Any], name: str, required: bool = True) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise ValidationError("is required", field=name)
        return None
    if not isinstance(value, str) or "\x00" in value:
        raise ValidationError("must be text", field=name)
    return value


def _list(data: dict[str, Any], name: str) -> list[str]:
    value = data.get(name) or []
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError("must be a list of names", field=name)
    return value


def _search() -> Any:
    args = {k: _text(dict(request.args), k, False) for k in ("scope", "tag", "keyword")}
    return platform().containers.search(user(), args["scope"] or "all", args["tag"], args["keyword"])


@api.route("/image-library")
def list_images() -> Any:
    found = _search()
    return jsonify({"images": [x.as_dict() for x in found.images], "count": len(found.images),
                    "total": found.total, "tag_counts": found.tag_counts})


@api.route("/image-library/pull", methods=["POST"])
def pull() -> Any:
    d = json_body()
    listed = platform().containers.pull(user(), _text(d, "reference") or "", _text(d, "name", False),
                                        _list(d, "tags"), _list(d, "frameworks"))
    return jsonify(listed.as_dict()), 201


@api.route("/image-library/build", methods=["POST"])
def build() -> Any:
    d = json_body()
    listed = platform().containers.build(user(), _text(d, "name") or "", _text(d, "containerfile") or "",
                                         _text(d, "context", False), _list(d, "tags"), _list(d, "frameworks"),
                                         _text(d, "resource_spec", False))
    return jsonify(listed.as_dict()), 201


@api.route("/image-library/push", methods=["POST"])
def push() -> Any:
    d = json_body()
    return jsonify({"pushed": platform().containers.push(user(), _text(d, "name") or "", _text(d, "target", False))})


@api.route("/image-library/tag", methods=["POST"])
def tag() -> Any:
    d = json_body()
    listed = platform().containers.tag(user(), _text(d, "name") or "", _text(d, "target", False),
                                       _list(d, "add"), _list(d, "remove"))
    return jsonify(listed.as_dict())


@api.route("/image-library/share", methods=["POST"])
def share() -> Any:
    d = json_body()
    platform().containers.share(user(), _text(d, "name") or "", bool(d.get("shared", True)))
    return jsonify({"name": d["name"], "shared": bool(d.get("shared", True))})


@api.route("/image-library/remove", methods=["POST"])
def remove() -> Any:
    d = json_body()
    platform().containers.remove(user(), _text(d, "name") or "")
    return jsonify({"removed": d["name"]})


@api.route("/jobs/<int:job_id>/save-image", methods=["POST"])
def save_image(job_id: int) -> Any:
    """F242: save the running container of a job's rank (or a service's) as a new My image."""
    d = json_body()
    rank = d.get("rank", 0)
    if not isinstance(rank, int) or rank < 0:
        raise ValidationError("must be a rank number", field="rank")
    listed = platform().containers.save_job(user(), str(job_id), _text(d, "name") or "", rank)
    return jsonify(listed.as_dict()), 201


@pages.route("/images")
def page() -> Any:
    try:
        found = _search()
    except HpcaiError as exc:
        flash(exc.text, "error")
        return redirect(url_for("images.page"))
    return render_template("images.html", found=found, scope=request.args.get("scope") or "all",
                           tag=request.args.get("tag") or "", keyword=request.args.get("keyword") or "")


@pages.route("/images/action", methods=["POST"])
def page_action() -> Any:
    lib, form = platform().containers, request.form
    action = form.get("action")
    try:
        if action == "pull":
            listed = lib.pull(user(), form.get("reference", ""), form.get("name") or None,
                              _list(dict(form), "tags"))
            flash(f"pulled {listed.image.name}", "ok")
        elif action in ("share", "private"):
            lib.share(user(), form.get("name", ""), action == "share")
            flash(f"{form.get('name')}: {'shared' if action == 'share' else 'private'}", "ok")
        elif action == "remove":
            lib.remove(user(), form.get("name", ""))
            flash(f"removed {form.get('name')}", "ok")
        else:
            raise ValidationError(f"unknown action {action!r}", field="action")
    except HpcaiError as exc:
        flash(exc.text, "error")
    return redirect(url_for("images.page", scope=form.get("back_scope") or None))
