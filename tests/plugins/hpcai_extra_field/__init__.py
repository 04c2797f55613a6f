"""A third-party plugin used by the portal tests: one job-option field, nothing else.

It is installed into a test's sys.path with a dist-info (entry point group `hpcai`), exactly
as `pip install` would, to show that a field appears in the form, the API and the job without
any change to the portal.
"""

from __future__ import annotations

from typing import Any

from core.api import JobOption
from core.hookspecs import hookimpl


class ExperimentTag(JobOption):
    name = "experiment_tag"
    title = "Experiment tag"
    description = "A label stored with the job."

    def option_schema(self) -> dict[str, Any]:
        return {"type": "object", "properties": {
            "experiment_tag": {"type": "string", "title": "Experiment tag", "maxLength": 40,
                               "pattern": "^[A-Za-z0-9_-]*$", "x-order": 12,
                               "x-visible-if": {"create_exec_dir": True},
                               "description": "labels the job's execution directory copy; "
                                              "letters, digits, _ and - (extra_field plugin)",
                               "x-fix": "use letters, digits, _ and -"}}}


@hookimpl
def hpcai_job_options() -> list[JobOption]:
    return [ExperimentTag()]
