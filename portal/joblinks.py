"""A job's links and actions (F113) on its page and in /api/v1: whatever core/joblinks.py
collects from the installed plugins. No framework, service type or plugin is named here."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for

from core.errors import HpcaiError, NotFound
from core.services import PROXY_PREFIX
from core.store import JobRow
from portal.web import platform, poke_watcher, user

pages = Blueprint("joblinks", __name__)
api = Blueprint("joblinks_api", __name__, url_prefix="/api/v1")


@pages.app_template_global("job_links")
def job_links(job: JobRow) -> list[Any]:  # the job page includes _job_links.html
    """For templates: the links of a job the current user is looking at."""
    return platform().links.for_job(job, user())


@pages.route("/jobs/<int:job_id>/dashboards/<service>", methods=["POST"])
def open_dashboard(job_id: int, service: str) -> Any:
    """Start (or reuse) the job's dashboard; open it once it runs."""
    p = platform()
    try:
        row = p.links.open_dashboard(job_id, service, user())
    except NotFound:
        abort(404)
    except HpcaiError as exc:
        flash(exc.text, "error")
        return redirect(url_for("views.job_detail", job_id=job_id))
    poke_watcher()
    view = p.services.view(row, request.host_url.rstrip("/"))
    if view.state == "running":
        return redirect(view.external_path)
    return render_template("dashboard_wait.html", s=view, job_id=job_id)


@api.route("/jobs/<int:job_id>/links")
def api_links(job_id: int) -> Any:
    p = platform()
    row = p.jobs.get(job_id, user())
    return jsonify([link.as_dict() for link in p.links.for_job(row, user())])


@api.route("/jobs/<int:job_id>/dashboards/<service>", methods=["POST"])
def api_open_dashboard(job_id: int, service: str) -> Any:
    p = platform()
    row = p.links.open_dashboard(job_id, service, user())
    poke_watcher()
    view = p.services.view(row, request.host_url.rstrip("/"))
    return jsonify({"alias": view.alias, "state": view.state, "url": f"{PROXY_PREFIX}/{view.alias}/",
                    "service": view.as_dict()})


def openapi_paths() -> dict[str, Any]:
    """The job-link endpoints for portal/openapi.py."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    err = {str(c): {"description": d, "content": error}
           for c, d in ((400, "invalid input (the field is named)"), (401, "not authenticated"),
                        (403, "not the job's owner"), (404, "not found (or not yours)"))}
    jid = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
    svc = {"name": "service", "in": "path", "required": True, "schema": {"type": "string"},
           "description": "the dashboard's service type, as the job's links name it"}
    return {
        "/jobs/{job_id}/links": {"get": {
            "summary": "links and actions of a job (dashboards, experiment data), from the installed plugins",
            "parameters": [jid], "responses": {"200": {"description": "links", "content": {
                "application/json": {"schema": {"type": "array"}}}}, "401": err["401"], "404": err["404"]}}},
        "/jobs/{job_id}/dashboards/{service}": {"post": {
            "summary": "start (or reuse) the job's dashboard service over its run directory",
            "parameters": [jid, svc], "responses": {"200": {"description": "the service; open url once running",
                                                            "content": {"application/json": {"schema": {
                                                                "type": "object"}}}}, **err}}},
    }
