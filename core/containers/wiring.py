"""The image library on the platform's store, catalog and job service (the narrow interfaces
core.containers.library asks for); the Platform facade calls this, the library never sees it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.containers.library import ImageLibrary, RegistrySettings
from core.errors import ValidationError
from core.plan import RoleGroup
from core.store import JobRow
from core.types import JobRequest


def image_library(p: Any) -> ImageLibrary:
    def submit_build(user: str, name: str, script: str, workdir: str, spec_name: str | None,
                     source: str = "image-build") -> str:
        groups = p.jobs.groups_of(user)
        if spec_name:
            spec = p.specs.get_visible(spec_name, user, groups, "resource_spec")
        else:  # a build needs no GPU: the first CPU spec the user may use
            cpu = [s for s in p.specs.visible(user, groups) if s.kind == "cpu"]
            if not cpu:
                raise ValidationError("no CPU resource spec is visible to you", field="resource_spec",
                                      fix="give --resource-spec (see `hpcai specs`)")
            spec = cpu[0]
        req = JobRequest(user=user, command="", workdir=workdir, mode="standalone", name=name,
                         batch_script=script, source=source, runtime="host",
                         groups=[RoleGroup(1, spec.to_request())])
        return p.jobs.submit(req).uuid

    def job_state(job_uuid: str) -> str | None:
        p.jobs.refresh()
        with p.store.session() as s:
            row = s.scalars(select(JobRow).where(JobRow.uuid == job_uuid)).first()
            return row.state if row is not None else None

    def job_dir_of(user: str, job: str) -> str:
        return p.jobs.get(job, user).job_dir

    return ImageLibrary(p.store, lambda: list(p.images.images), RegistrySettings.from_config(p.config.raw),
                        submit_build, job_state, job_dir_of)
