"""A third-party plugin used by the portal tests: one job-option field and its report.

It is installed into a test's sys.path with a dist-info (entry point group `hpcai`), exactly
as `pip install` would, to show that a field appears in the form, the API and the job, and its
report (with a page the job directory holds) on the job page, without any change to the portal.
"""

from __future__ import annotations

from pathlib import Path
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

    def populate(self, request: Any, plan: Any, job_dir: Any, platform: Any) -> None:
        tag = request.options.get("experiment_tag")
        if tag:  # a page with a relative script, as plot pages have
            out = Path(job_dir) / "tag"
            out.mkdir()
            (out / "tag.js").write_text("document.getElementById('t').textContent = 'drawn';\n")
            (out / "tag.html").write_text(f"<html><body><p id='t'>{tag}</p><script src='tag.js'></script></body></html>")

    def report(self, job: dict[str, Any]) -> dict[str, Any] | None:
        tag = (job["request"].get("options") or {}).get("experiment_tag")
        if not tag:
            return None
        return {"tag": tag, "view": [
            {"kind": "fields", "title": "Tag", "items": [["tag", tag], ["state", job["state"]]]},
            {"kind": "table", "title": "Letters", "columns": ["letter", "count"],
             "rows": [[c, tag.count(c)] for c in sorted(set(tag))]},
            {"kind": "pages", "title": "Pages", "files": [{"title": "The tag", "path": "tag/tag.html"}]}]}


@hookimpl
def hpcai_job_options() -> list[JobOption]:
    return [ExperimentTag()]
