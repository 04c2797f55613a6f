"""MLflow run-context provider (entry point `mlflow.run_context_provider` = hpcai): every run
started inside an hpcai job is tagged with the job's identity, so the platform can list a job's
runs ("experiment data") without any platform-specific line in the user's code.

The identity comes from the job's environment (set by hpcai when it submits the job; see
plugins/tracking/mlflow) and from the scheduler's own variables. Keep this module light: MLflow
imports it while MLflow itself is being imported, so it imports nothing of MLflow.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

TAG_PREFIX = "hpcai."
# tag -> environment variables to try, first set wins
_FROM_ENV: dict[str, tuple[str, ...]] = {
    "job_uuid": ("HPCAI_JOB_UUID",),
    "job_id": ("HPCAI_JOB_ID", "SLURM_JOB_ID", "LSB_JOBID", "JOB_ID"),
    "job_name": ("HPCAI_JOB_NAME",),
    "user": ("HPCAI_JOB_USER",),
    "scheduler": ("HPCAI_JOB_SCHEDULER",),
    "framework": ("HPCAI_JOB_FRAMEWORK",),
    "mode": ("HPCAI_JOB_MODE",),
    "rank": ("HPCAI_RANK",),
    "role": ("HPCAI_ROLE",),
}
# plan.json keys for the same facts, when a site runs jobs without the tracking plugin's env
_FROM_PLAN = {"user": "user", "scheduler": "scheduler", "framework": "framework", "mode": "mode",
              "job_name": "name"}


def job_tags(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The hpcai.* tags for the current process ({} outside an hpcai job)."""
    env = os.environ if environ is None else environ
    if not env.get("HPCAI_JOB_UUID"):
        return {}
    tags: dict[str, str] = {}
    for tag, names in _FROM_ENV.items():
        for name in names:
            if env.get(name):
                tags[TAG_PREFIX + tag] = env[name]
                break
    missing = [t for t in _FROM_PLAN if TAG_PREFIX + t not in tags]
    if missing and env.get("HPCAI_JOB_DIR"):
        try:
            plan = json.loads((Path(env["HPCAI_JOB_DIR"]) / "plan.json").read_text())
        except (OSError, ValueError):
            plan = {}
        for tag in missing:
            if plan.get(_FROM_PLAN[tag]):
                tags[TAG_PREFIX + tag] = str(plan[_FROM_PLAN[tag]])
    if TAG_PREFIX + "user" in tags:
        tags["mlflow.user"] = tags[TAG_PREFIX + "user"]  # the product's "User" column
    return tags


class HpcaiRunContextProvider:
    """MLflow's RunContextProvider interface, duck-typed: importing mlflow here would be circular
    when the user's code imports libaiflow.context (or libaiflow) before mlflow."""

    def in_context(self) -> bool:
        return bool(os.environ.get("HPCAI_JOB_UUID"))

    def tags(self) -> dict[str, str]:
        return job_tags()
