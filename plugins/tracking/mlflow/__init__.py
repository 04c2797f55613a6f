"""Experiment tracking for every job: the tracking server's URI, the job's own user's
credentials for it and the job's identity in its environment, so libaiflow (or plain mlflow) in
the user's code needs no platform-specific line, and the run-context provider
(libaiflow.context) can tag each run with the job.

A user may write only to experiments they created (or that were shared with them), so plain
`mlflow.start_run()` would be refused MLflow's shared "Default" experiment: such runs go to
the user's own `default-<user>` experiment instead (MLFLOW_EXPERIMENT_NAME, which MLflow creates
on first use; `mlflow.set_experiment` and libaiflow.init still choose any other).

A job option (on by default) lets a user opt one job out; a variable the user set wins.
"""

from __future__ import annotations

from typing import Any

from core import tracking
from core.api import JobLink, JobOption
from core.config import load_config
from core.hookspecs import hookimpl
from core.types import JobRequest

FIELD = "tracking"


class Tracking(JobOption):
    name = "tracking"
    title = "Experiment tracking"
    description = "Give the job the MLflow tracking server's address (libaiflow, mlflow)."

    def option_schema(self) -> dict[str, Any]:
        return {"type": "object", "required": [], "properties": {FIELD: {
            "type": "boolean", "title": "Experiment tracking", "default": True, "x-widget": "switch",
            "x-order": 60,
            "description": "set MLFLOW_TRACKING_URI and the job identity for libaiflow"}}}


def identity_env(request: JobRequest, default_scheduler: str) -> dict[str, str]:
    """Who and what the job is, for the run-context provider (HPCAI_JOB_UUID comes from core)."""
    env = {"HPCAI_JOB_USER": request.user, "HPCAI_JOB_NAME": request.name or "",
           "HPCAI_JOB_SCHEDULER": request.scheduler or default_scheduler,
           "HPCAI_JOB_FRAMEWORK": request.framework or "", "HPCAI_JOB_MODE": request.mode or ""}
    return {k: v for k, v in env.items() if v}


@hookimpl
def hpcai_job_options() -> list[JobOption]:
    return [Tracking()]


@hookimpl
def hpcai_job_links(job: dict[str, Any]) -> list[JobLink]:
    """"View experiment data" on every job that had tracking on (F92: runs appear only when
    its code calls libaiflow or mlflow; the page says so when there are none)."""
    if (job.get("request") or {}).get("options", {}).get(FIELD, True) is False:
        return []
    return [JobLink(id="experiment-data", title="View experiment data",
                    href=f"/jobs/{job['id']}/experiments",
                    description="runs this job logged: parameters, metrics, tags, models",
                    icon="experiment")]


@hookimpl
def hpcai_amend_job(request: JobRequest, user: str) -> None:
    if request.options.get(FIELD, True) is False:
        return
    config = load_config()
    settings = tracking.settings_from_config(config)
    added = {**tracking.job_env(settings, request.user), **identity_env(request, config.default_scheduler)}
    if "MLFLOW_TRACKING_USERNAME" in added:
        added["MLFLOW_EXPERIMENT_NAME"] = f"default-{request.user}"
    for key, value in added.items():
        request.env.setdefault(key, value)
