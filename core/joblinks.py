"""Links and actions on a job's detail page and API (spec F113): a framework's dashboard
("Access TensorBoard", "Access VisualDL", "MindInsight dashboard") and whatever enabled plugins
contribute through the `hpcai_job_links` hook ("View experiment data").

A framework names its dashboard's service type (`Framework.dashboard`). When that type is
enabled, the job's owner gets a link that starts, or reuses, one service of that type over the
job's run directory; it is reached through the portal's proxy at /dockerService/<alias>/.
Nothing here knows a concrete framework, service type or plugin.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from core.api import JobLink
from core.errors import NotFound, PermissionDenied, ValidationError
from core.services import PROXY_PREFIX, STARTED
from core.store import JobRow, ServiceRow

if TYPE_CHECKING:
    from core.platform import Platform

log = logging.getLogger(__name__)
#: the option of a dashboard service type that receives the job's run directory
LOGDIR_OPTION = "logdir"
LIVE = STARTED  # the lifecycle table's started states: never start a second one


@dataclass
class LinkView:
    """One link as the job page and /api/v1/jobs/<id>/links show it."""

    id: str
    title: str
    href: str  # where to go now; "" when the dashboard must be started first (POST)
    service: str = ""  # the dashboard's service type, for links that start a service
    alias: str | None = None  # the dashboard service, once it exists
    state: str | None = None  # its state (stopped, queued, starting, running, failed)
    description: str = ""
    icon: str = ""  # see JobLink.icon

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def job_info(row: JobRow) -> dict[str, Any]:
    """What the hooks see of a job (plain data, no store row)."""
    return {"id": row.id, "uuid": row.uuid, "name": row.name, "user": row.user, "framework": row.framework,
            "mode": row.mode, "state": row.state, "job_dir": row.job_dir, "workdir": run_dir(row),
            "request": dict(row.request or {})}


def run_dir(row: JobRow) -> str:
    """The directory the job ran in (its execution directory when one was created)."""
    req, plan = row.request or {}, row.plan or {}
    return str(req.get("cwd") or plan.get("workdir") or req.get("workdir") or row.job_dir)


def dashboard_name(job_id: int, service_type: str) -> str:
    return f"job{job_id}-{service_type}"


class JobLinks:
    def __init__(self, platform: Platform):
        self.p = platform

    def declared(self, row: JobRow) -> list[JobLink]:
        """The job's framework dashboard (when its service type is enabled) + plugins' links."""
        reg = self.p.registry
        links: list[JobLink] = []
        if row.framework in reg.names("framework"):
            fw = reg.get("framework", row.framework)
            if fw.dashboard and fw.dashboard in reg.names("service"):
                title = fw.dashboard_title or f"Access {reg.get('service', fw.dashboard).title}"
                links.append(JobLink(id=f"dashboard-{fw.dashboard}", title=title, service=fw.dashboard,
                                     description=f"{fw.title} training logs of this job", icon="dashboard"))
        info = job_info(row)
        for impl in reg.hook.hpcai_job_links.get_hookimpls():
            try:
                found = impl.function(**({"job": info} if "job" in impl.argnames else {}))
            except Exception:  # a broken plugin must not take the job page down
                log.exception("plugin %s: hpcai_job_links failed for job %s", impl.plugin_name, row.id)
                continue
            links.extend(link for link in found or [] if isinstance(link, JobLink))
        seen: set[str] = set()
        unique = []
        for link in links:
            if link.id not in seen and (not link.service or link.service in reg.names("service")):
                seen.add(link.id)
                unique.append(link)
        return unique

    def for_job(self, row: JobRow, user: str) -> list[LinkView]:
        """The links `user` (who may see the job) gets; dashboards only for the job's owner,
        since the service runs as them and only they may open it."""
        out = []
        for link in self.declared(row):
            if not link.service:
                out.append(LinkView(id=link.id, title=link.title, href=link.href,
                                    description=link.description, icon=link.icon))
                continue
            if user != row.user:
                continue
            svc = self.find_dashboard(row, link.service)
            state = self.p.services.state(svc) if svc is not None else None
            out.append(LinkView(id=link.id, title=link.title, service=link.service,
                                href=f"{PROXY_PREFIX}/{svc.alias}/" if svc is not None and state == "running" else "",
                                alias=svc.alias if svc is not None else None, state=state,
                                description=link.description, icon=link.icon))
        return out

    def find_dashboard(self, row: JobRow, service_type: str) -> ServiceRow | None:
        with self.p.store.session() as s:
            return s.scalars(select(ServiceRow).where(
                ServiceRow.user == row.user, ServiceRow.name == dashboard_name(row.id, service_type),
                ServiceRow.type == service_type)).first()

    def open_dashboard(self, job_ref: int | str, service_type: str, user: str) -> ServiceRow:
        """Start the job's dashboard of this type, or return the one already queued or running."""
        row = self.p.jobs.get(job_ref, user)  # NotFound unless the user may see the job
        link = next((x for x in self.declared(row) if x.service == service_type), None)
        if link is None:
            raise NotFound(f"job {row.id} offers no {service_type} dashboard", field="service",
                           fix="see the job's links: GET /api/v1/jobs/<id>/links")
        if user != row.user:
            raise PermissionDenied(f"only {row.user} may open the dashboards of job {row.id}",
                                   field="service")
        svc = self.find_dashboard(row, service_type)
        if svc is not None:
            if self.p.services.state(svc) in LIVE:
                return svc
            return self.p.services.start(svc.alias, user)
        values = {"name": dashboard_name(row.id, service_type), "type": service_type,
                  "resource_spec": self.dashboard_spec(row.user), LOGDIR_OPTION: run_dir(row),
                  "description": f"{link.title} for job {row.id} ({row.name})"}
        return self.p.services.create(values, user)

    def dashboard_spec(self, owner: str) -> str:
        """[services] dashboard_resource_spec, else the owner's smallest CPU spec (F228)."""
        configured = self.p.config.raw.get("services", {}).get("dashboard_resource_spec")
        if configured:
            return str(configured)
        cpu = [s for s in self.p.specs.visible(owner, self.p.jobs.groups_of(owner)) if s.kind == "cpu"]
        if not cpu:
            raise ValidationError("no CPU resource specification is available for a dashboard",
                                  field="resource_spec",
                                  fix="ask the site admin for a CPU spec or set [services] "
                                      "dashboard_resource_spec in etc/hpcai.toml")
        return min(cpu, key=lambda s: (s.cpus, s.mem_mb or 0, s.name)).name
