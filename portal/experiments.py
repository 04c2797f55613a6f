"""Experiment management pages and /api/v1 endpoints (spec 02 §3, F86-F95): the experiments a
user may see, the runs of an experiment or of a job ("experiment data": the product's columns),
run comparison with metric curves over steps, CSV download.

MLflow has no access control: every read goes through core/experiments.py, which decides what
the caller may see. MLflow's own UI is not exposed (see portal/README.md).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for

from core.errors import HpcaiError, NotFound, ValidationError
from core.experiments import PAGE, RUNS_PAGE, Experiment, RunRow, runs_csv
from portal import charts
from portal.web import iso, json_body, json_errors, platform, user

pages = Blueprint("experiments", __name__)
api = Blueprint("experiments_api", __name__, url_prefix="/api/v1")
json_errors(api)

MAX_COMPARE = 20
#: the product's start-time filter ("All time", ...): query value -> (label, how far back)
SINCE = {"": ("All time", None), "1h": ("Last hour", timedelta(hours=1)),
         "24h": ("Last 24 hours", timedelta(days=1)), "7d": ("Last 7 days", timedelta(days=7)),
         "30d": ("Last 30 days", timedelta(days=30))}
OPENAPI_TAG = "experiments"
RUN_ID = re.compile(r"^[0-9a-f]{32}$")


def experiment_dict(e: Experiment) -> dict[str, Any]:
    return {"experiment_id": e.experiment_id, "name": e.name, "owner": e.owner, "group": e.group,
            "tags": e.tags, "creation_time": iso(e.creation_time), "last_update_time": iso(e.last_update_time)}


def run_ids_arg() -> list[str]:
    """run_ids=a&run_ids=b or run_ids=a,b; each an MLflow run id."""
    ids = [i.strip() for v in request.args.getlist("run_ids") for i in v.split(",") if i.strip()]
    if not ids:
        raise ValidationError("choose at least one run", field="run_ids",
                              fix="tick the runs to compare, or pass run_ids=<id>,<id>")
    if len(ids) > MAX_COMPARE:
        raise ValidationError(f"at most {MAX_COMPARE} runs can be compared", field="run_ids")
    bad = [i for i in ids if not RUN_ID.match(i)]
    if bad:
        raise ValidationError(f"'{bad[0]}' is not a run id", field="run_ids", fix="run ids are 32 hex digits")
    return list(dict.fromkeys(ids))


def since_arg() -> datetime | None:
    value = request.args.get("since", "")
    if value not in SINCE:
        raise ValidationError(f"'{value}' is not a time filter", field="since",
                              fix="one of: " + ", ".join(k for k in SINCE if k) + " (or leave it out)")
    back = SINCE[value][1]
    return datetime.now(UTC) - back if back else None


def page_args() -> tuple[str, int]:
    """page_token (MLflow's, from the previous page) and max_results (runs per page)."""
    text = request.args.get("max_results", "").strip()
    try:
        size = int(text) if text else RUNS_PAGE
    except ValueError:
        raise ValidationError(f"'{text}' is not a whole number", field="max_results",
                              fix=f"give 1 to {PAGE}") from None
    return request.args.get("page_token", "").strip(), size


def csv_response(rows: list[RunRow], filename: str) -> Response:
    return Response(runs_csv(rows), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:80] or "runs"


def chart_series(cmp: dict[str, Any]) -> list[dict[str, Any]]:
    """One SVG per metric key: a line per run over steps, or, when every run logged the metric
    at one step only (a final score), a bar per run (in the order the runs were chosen)."""
    names = {r["run_id"]: r["run_name"] or r["run_id"][:8] for r in cmp["runs"]}
    order = [r["run_id"] for r in cmp["runs"]]
    out = []
    for key in sorted(cmp["metrics"]):
        per_run = cmp["metrics"][key]
        series = [(names[rid], [(p["step"], p["value"]) for p in per_run.get(rid, [])]) for rid in order]
        if all(len(points) <= 1 for _, points in series):
            bars = [(label, points[0][1] if points else None) for label, points in series]
            out.append({"key": key, "svg": charts.bar_chart(bars, key), "kind": "bar"})
        else:
            out.append({"key": key, "svg": charts.line_chart(series, key), "kind": "line"})
    return out


def differing(rows: list[RunRow], attr: str) -> list[str]:
    """Keys of metrics/params whose values are not the same in every run (F94 "only differences")."""
    keys = sorted({k for r in rows for k in getattr(r, attr)})
    return [k for k in keys if len({getattr(r, attr).get(k) for r in rows}) > 1]


@pages.app_template_filter("fmtnum")
def fmtnum(value: Any) -> str:
    """Metric values as the product shows them (MAE: 0.008, MAPE: 11.37)."""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


@pages.app_template_filter("duration")
def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}min" if hours else f"{minutes}min {sec}s"


# --- pages ------------------------------------------------------------------------------------

@pages.route("/experiments")
def index() -> Any:
    p = platform()
    exps = p.experiments.list_experiments(user())
    return render_template("experiments.html", experiments=exps, me_groups=p.jobs.groups_of(user()))


@pages.route("/experiments/<experiment_id>")
def experiment(experiment_id: str) -> Any:
    p = platform()
    try:
        exp = p.experiments.get_experiment(experiment_id, user())
    except NotFound:
        abort(404)
    search, since = request.args.get("search", ""), request.args.get("since", "")
    error, token, size = None, "", RUNS_PAGE
    try:
        page_token, size = page_args()
        rows, token = p.experiments.experiment_runs_page(exp.experiment_id, user(), search, since_arg(),
                                                         page_token, size)
    except ValidationError as exc:
        rows, error = [], exc.text
    more_url = url_for("experiments.experiment_rows", experiment_id=exp.experiment_id, search=search or None,
                       since=since or None, max_results=size if size != RUNS_PAGE else None)
    return render_template("experiment_runs.html", title=f"Experiment {exp.name}", experiment=exp, rows=rows,
                           search=search, search_error=error, since=since, since_choices=SINCE,
                           table_scope=f"experiment-{exp.experiment_id}", next_token=token, more_url=more_url,
                           csv_url=url_for("experiments.experiment_csv", experiment_id=exp.experiment_id,
                                           search=search or None, since=since or None)), (400 if error else 200)


@pages.route("/experiments/<experiment_id>/rows")
def experiment_rows(experiment_id: str) -> Any:
    """"Load more": the next page of the table as rendered rows, and the token after it."""
    p = platform()
    try:
        page_token, size = page_args()
        rows, token = p.experiments.experiment_runs_page(experiment_id, user(), request.args.get("search", ""),
                                                         since_arg(), page_token, size)
    except NotFound:
        abort(404)
    except ValidationError as exc:
        return jsonify(exc.as_dict()), 400
    return jsonify({"html": render_template("_run_rows.html", rows=rows), "count": len(rows),
                    "next_page_token": token})


@pages.route("/experiments/<experiment_id>/runs.csv")
def experiment_csv(experiment_id: str) -> Any:
    p = platform()
    try:
        exp = p.experiments.get_experiment(experiment_id, user())
    except NotFound:
        abort(404)
    try:
        rows = p.experiments.experiment_runs(exp.experiment_id, user(), request.args.get("search", ""),
                                             since_arg())
    except ValidationError:
        abort(400)
    return csv_response(rows, f"{safe_name(exp.name)}-runs.csv")


@pages.route("/experiments/runs/delete", methods=["POST"])
def delete_runs() -> Any:
    ids = [i for v in request.form.getlist("run_ids") for i in v.split(",") if i]
    try:
        n = platform().experiments.delete_runs(ids, user())
        flash(f"{n} run{'s' if n != 1 else ''} deleted.")
    except NotFound:
        abort(404)
    except HpcaiError as exc:
        flash(exc.text, "error")
    back = request.form.get("next", "")
    return redirect(back if back.startswith("/") and not back.startswith("//") else url_for("experiments.index"))


@pages.route("/experiments/<experiment_id>/share", methods=["POST"])
def share(experiment_id: str) -> Any:
    group = request.form.get("group") or None
    try:
        exp = platform().experiments.share(experiment_id, user(), group)
        flash(f"Experiment {exp.name} is now " + (f"shared with group {group}." if group else "private."))
    except NotFound:
        abort(404)
    except HpcaiError as exc:
        flash(exc.text, "error")
    return redirect(url_for("experiments.index"))


@pages.route("/jobs/<int:job_id>/experiments")
def job_runs(job_id: int) -> Any:
    p = platform()
    try:
        job = p.jobs.get(job_id, user())
        rows = p.experiments.job_runs(job.id, user())
    except NotFound:
        abort(404)
    return render_template("experiment_runs.html", title=f"Experiment data of job {job.id}", job=job, rows=rows,
                           experiment=None, search="", search_error=None, table_scope=f"job-{job.id}",
                           csv_url=url_for("experiments.job_csv", job_id=job.id))


@pages.route("/jobs/<int:job_id>/experiments.csv")
def job_csv(job_id: int) -> Any:
    p = platform()
    try:
        rows = p.experiments.job_runs(job_id, user())
    except NotFound:
        abort(404)
    return csv_response(rows, f"job{job_id}-runs.csv")


@pages.route("/experiments/runs/<run_id>")
def run_page(run_id: str) -> Any:
    """A run: parameters, metrics with their history charts, tags, models, artifacts."""
    if not RUN_ID.match(run_id):
        abort(404)
    try:
        data = platform().experiments.run_page(run_id, user(), request.args.get("path", ""))
    except NotFound:
        abort(404)
    row = data["row"]
    label = row.run_name or row.run_id[:8]
    charts_ = [{"key": key, "svg": charts.line_chart([(label, [(p["step"], p["value"]) for p in per.get(run_id, [])])],
                                                     key)}
               for key, per in sorted(data["curves"].items()) if len(per.get(run_id, [])) > 1]
    return render_template("experiment_run.html", title=f"Run {label}", run=row, charts=charts_,
                           path=data["path"], artifacts=data["artifacts"])


@pages.route("/experiments/runs/<run_id>/artifact")
def run_artifact(run_id: str) -> Any:
    if not RUN_ID.match(run_id):
        abort(404)
    path = request.args.get("path", "")
    try:
        resp = platform().experiments.artifact(run_id, path, user())
    except NotFound:
        abort(404)
    name = path.rsplit("/", 1)[-1] or "artifact"

    def body() -> Any:
        with resp:
            while chunk := resp.read(1 << 16):
                yield chunk

    return Response(body(), mimetype="application/octet-stream",
                    headers={"Content-Disposition": f'attachment; filename="{safe_name(name)}"'})


@pages.route("/experiments/compare")
def compare() -> Any:
    p = platform()
    try:
        ids = run_ids_arg()
        rows = p.experiments.runs(ids, user())
    except NotFound:
        abort(404)
    except ValidationError as exc:
        flash(exc.text, "error")
        return redirect(request.referrer or url_for("experiments.index"))
    cmp = p.experiments.curves(rows)
    only_diff = request.args.get("diff") == "1"
    metric_keys = differing(rows, "metrics") if only_diff else sorted({k for r in rows for k in r.metrics})
    param_keys = differing(rows, "params") if only_diff else sorted({k for r in rows for k in r.params})
    return render_template("experiment_compare.html", rows=rows, charts=chart_series(cmp), swatch=charts.swatch,
                           metric_keys=metric_keys, param_keys=param_keys, only_diff=only_diff, run_ids=ids)


# --- API ----------------------------------------------------------------------------------------

@api.route("/experiments")
def api_list() -> Any:
    return jsonify([experiment_dict(e) for e in platform().experiments.list_experiments(user())])


@api.route("/experiments/<experiment_id>")
def api_get(experiment_id: str) -> Any:
    return jsonify(experiment_dict(platform().experiments.get_experiment(experiment_id, user())))


@api.route("/experiments/<experiment_id>/runs")
def api_runs(experiment_id: str) -> Any:
    """A page of runs (MLflow's paging): pass next_page_token back as page_token for the next."""
    page_token, size = page_args()
    rows, token = platform().experiments.experiment_runs_page(
        experiment_id, user(), request.args.get("search", ""), since_arg(), page_token, size)
    return jsonify({"experiment_id": experiment_id, "runs": [r.as_dict() for r in rows],
                    "next_page_token": token or None})


@api.route("/experiments/<experiment_id>/runs.csv")
def api_runs_csv(experiment_id: str) -> Any:
    p = platform()
    exp = p.experiments.get_experiment(experiment_id, user())
    rows = p.experiments.experiment_runs(exp.experiment_id, user(), request.args.get("search", ""), since_arg())
    return csv_response(rows, f"{safe_name(exp.name)}-runs.csv")


@api.route("/runs/delete", methods=["POST"])
def api_delete_runs() -> Any:
    ids = json_body().get("run_ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) and RUN_ID.match(i) for i in ids):
        raise ValidationError("must be a list of run ids", field="run_ids", fix="run ids are 32 hex digits")
    if len(ids) > MAX_COMPARE * 5:
        raise ValidationError(f"at most {MAX_COMPARE * 5} runs at once", field="run_ids")
    return jsonify({"deleted": platform().experiments.delete_runs(ids, user())})


@api.route("/experiments/<experiment_id>/share", methods=["POST"])
def api_share(experiment_id: str) -> Any:
    data = json_body()
    group = data.get("group")
    if group is not None and (not isinstance(group, str) or not group):
        raise ValidationError("must be a group name or null", field="group",
                              fix="give one of your groups, or null to stop sharing")
    return jsonify(experiment_dict(platform().experiments.share(experiment_id, user(), group)))


@api.route("/jobs/<int:job_id>/runs")
def api_job_runs(job_id: int) -> Any:
    rows = platform().experiments.job_runs(job_id, user())
    return jsonify({"job_id": job_id, "runs": [r.as_dict() for r in rows]})


@api.route("/jobs/<int:job_id>/runs.csv")
def api_job_runs_csv(job_id: int) -> Any:
    return csv_response(platform().experiments.job_runs(job_id, user()), f"job{job_id}-runs.csv")


@api.route("/runs/compare")
def api_compare() -> Any:
    keys = [k for v in request.args.getlist("keys") for k in v.split(",") if k.strip()] or None
    return jsonify(platform().experiments.compare(run_ids_arg(), user(), keys))


@api.route("/runs/compare.svg")
def api_compare_svg() -> Any:
    key = request.args.get("key", "")
    if not key:
        raise ValidationError("is required", field="key", fix="name the metric to draw, e.g. key=loss")
    cmp = platform().experiments.compare(run_ids_arg(), user(), [key])
    cmp["metrics"].setdefault(key, {})
    chart = next(c for c in chart_series(cmp) if c["key"] == key)
    return Response(str(chart["svg"]), mimetype="image/svg+xml")


def openapi_paths() -> dict[str, Any]:
    """The experiment endpoints for portal/openapi.py."""
    err = lambda *codes: {str(c): {"description": {400: "invalid input (the field is named)",  # noqa: E731
                                                   401: "not authenticated", 404: "not found (or not yours)",
                                                   503: "tracking server unavailable"}[c],
                                   "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
                          for c in codes}
    ok = {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}
    csv = {"description": "CSV: the product's columns, then metrics.*, params.*, tags.*",
           "content": {"text/csv": {"schema": {"type": "string"}}}}
    eid = {"name": "experiment_id", "in": "path", "required": True, "schema": {"type": "string"}}
    jid = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
    search = {"name": "search", "in": "query", "required": False, "schema": {"type": "string"},
              "description": "MLflow filter, e.g. metrics.rmse < 0.8 and params.alpha = '0.5'"}
    since = {"name": "since", "in": "query", "required": False,
             "schema": {"type": "string", "enum": [k for k in SINCE if k]},
             "description": "runs started in the last hour, 24 hours, 7 or 30 days"}
    page_token = {"name": "page_token", "in": "query", "required": False, "schema": {"type": "string"},
                  "description": "next_page_token of the previous page (MLflow's)"}
    max_results = {"name": "max_results", "in": "query", "required": False,
                   "schema": {"type": "integer", "minimum": 1, "maximum": PAGE, "default": RUNS_PAGE}}
    run_ids = {"name": "run_ids", "in": "query", "required": True, "style": "form", "explode": False,
               "schema": {"type": "array", "items": {"type": "string", "pattern": RUN_ID.pattern},
                          "maxItems": MAX_COMPARE}}
    paths = {
        "/experiments": {"get": {"summary": "experiments you own, shared with your groups, or with your runs",
                                 "responses": {"200": {"description": "experiments", "content": {
                                     "application/json": {"schema": {"type": "array"}}}}, **err(401, 503)}}},
        "/experiments/{experiment_id}": {"get": {"summary": "one experiment", "parameters": [eid],
                                                 "responses": {"200": ok, **err(401, 404, 503)}}},
        "/experiments/{experiment_id}/runs": {"get": {
            "summary": "the experiment's runs you may see (Job ID, start time, duration, run name, user, "
                       "source, version, models, metrics, parameters, tags)",
            "description": "one page, newest first; while next_page_token is not null, pass it as page_token "
                           "for the next page",
            "parameters": [eid, search, since, page_token, max_results],
            "responses": {"200": ok, **err(400, 401, 404, 503)}}},
        "/experiments/{experiment_id}/runs.csv": {"get": {"summary": "the same runs as CSV",
                                                          "parameters": [eid, search, since],
                                                          "responses": {"200": csv, **err(400, 401, 404, 503)}}},
        "/experiments/{experiment_id}/share": {"post": {
            "summary": "share your experiment with one of your groups (group null: private again)",
            "parameters": [eid], "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["group"], "properties": {"group": {"type": ["string", "null"]}}}}}},
            "responses": {"200": ok, **err(400, 401, 404, 503)}}},
        "/jobs/{job_id}/runs": {"get": {"summary": "experiment data of a job: the runs it logged",
                                        "parameters": [jid], "responses": {"200": ok, **err(401, 404, 503)}}},
        "/jobs/{job_id}/runs.csv": {"get": {"summary": "experiment data of a job as CSV", "parameters": [jid],
                                            "responses": {"200": csv, **err(401, 404, 503)}}},
        "/runs/delete": {"post": {
            "summary": "delete runs (yours, or in your experiments; soft delete as in MLflow)",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["run_ids"], "properties": {"run_ids": {
                    "type": "array", "items": {"type": "string", "pattern": RUN_ID.pattern}}}}}}},
            "responses": {"200": ok, "403": {"description": "not yours to delete", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                **err(400, 401, 404, 503)}}},
        "/runs/compare": {"get": {"summary": "metric curves over steps of several runs",
                                  "parameters": [run_ids, {"name": "keys", "in": "query", "required": False,
                                                           "schema": {"type": "string"},
                                                           "description": "metric keys, comma-separated"}],
                                  "responses": {"200": ok, **err(400, 401, 404, 503)}}},
        "/runs/compare.svg": {"get": {"summary": "one metric's curves over steps as an SVG chart",
                                      "parameters": [run_ids, {"name": "key", "in": "query", "required": True,
                                                               "schema": {"type": "string"}}],
                                      "responses": {"200": {"description": "SVG", "content": {
                                          "image/svg+xml": {"schema": {"type": "string"}}}},
                                          **err(400, 401, 404, 503)}}},
    }
    for ops in paths.values():  # tagged: these answer from the tracking server (503 without it)
        for op in ops.values():
            op["tags"] = [OPENAPI_TAG]
    return paths
