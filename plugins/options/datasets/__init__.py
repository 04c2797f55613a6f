"""Job option `datasets`: a training job names datasets and reads them (spec 05, issue 9 §3).

Every rank gets `HPCAI_DATASETS` (the names) and per dataset `HPCAI_DATASET_<NAME>_*`: the
directory of a data-file dataset, the connection of a database (no password: it lies in the
0600 file `<prefix>_SECRETS_FILE` in the job directory) or the URLs of an HDFS one. With
`dataset_csv`, a database dataset's rows are written as `<job dir>/datasets/<name>.csv`
before the job starts (`<prefix>_CSV`). The rules (who may use which dataset) are the core's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.api import JobOption
from core.hookspecs import hookimpl
from core.plan import LaunchPlan
from core.types import JobRequest


def _names(request: JobRequest) -> list[str]:
    value = request.options.get("datasets") or []
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    return list(value)


def _job_dir(plan: LaunchPlan, request: JobRequest, platform: Any) -> Path:
    return Path(platform.config.spool) / request.user / plan.job_uuid


class Datasets(JobOption):
    name = "datasets"
    title = "Datasets"

    def option_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                "datasets": {"type": ["array", "string"], "items": {"type": "string"}, "title": "Datasets",
                             "x-widget": "datasets", "x-order": 900, "x-cli": "--dataset",
                             "description": "names or ids of datasets the job reads (comma-separated)"},
                "dataset_csv": {"type": "boolean", "title": "Database datasets as CSV", "default": False,
                                "x-widget": "switch", "x-order": 901,
                                "description": "write the rows of database datasets into the job directory"},
            },
            "required": [],
        }

    def prepare(self, request: JobRequest, plan: LaunchPlan, platform: Any) -> None:
        names = _names(request)
        if not names:
            return
        env = platform.datasets.job_env(request.user, names, str(_job_dir(plan, request, platform)),
                                        bool(request.options.get("dataset_csv")))
        plan.env.update(env)

    def populate(self, request: JobRequest, plan: LaunchPlan, job_dir: Any, platform: Any) -> None:
        names = _names(request)
        if names:
            platform.datasets.populate_job(request.user, names, Path(job_dir),
                                           bool(request.options.get("dataset_csv")))


@hookimpl
def hpcai_job_options() -> list[JobOption]:
    return [Datasets()]
