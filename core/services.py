"""My services (spec 06 §services): long-lived servers run as scheduler jobs, reached through
the portal's proxy at /dockerService/<alias>/, optionally protected by API keys.

A service row keeps the type's options; every start submits a new job whose body is
hooks/svcrun with the type's start plan. The platform allocates the job's ports (core.ports)
and a per-instance secret, both kept in the store with the job; svcrun binds those ports and
writes `<job_dir>/service.json` (starting, ready, exited). The proxy's target is the store's
(the bind address or the job's node, and the allocated port), never that file: the job can
rewrite it. Nothing here knows a concrete service type.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
import re
import secrets
import socket
import threading
import uuid as uuidlib
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, func, select

from core import schema as schemas
from core.api import ProxyRules, ServiceContext, ServiceType
from core.jobfiles import open_job_file, run_as_uid
from core.errors import Conflict, HpcaiError, NotFound, PermissionDenied, ValidationError, ValidationErrors
from core.plan import RoleGroup
from core.store import AccountRow, JobRow, ServiceKeyRow, ServiceRow, id_in_range
from core.types import JobRequest, JobState
from core.usage import read_usage

if TYPE_CHECKING:
    from core.platform import Platform

PROXY_PREFIX = "/dockerService"
MAX_KEYS = 5
KEY_PREFIX = "hsk_"
LOG_TAIL_LINES = 20
MAX_DESCRIPTION = 512  # the product's counter "0 / 512" (F233)
#: what Modify may not change (F251): name, type and classification are fixed at creation
IMMUTABLE = ("name", "type", "classification")
#: categories whose UI is opened with "Access service" (F241); serving types show a request example
ACCESS_CATEGORIES = ("visualization", "custom")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

#: options a view never shows: the start plan's alone (an environment's SSH password hash)
PRIVATE_OPTIONS = ("ssh_password_hash", "api_token")
#: core.environments.ssh.HASH_ENV and an environment's API token: in the job's env only
PRIVATE_ENV = ("HPCAI_SSH_PASSWORD_HASH", "HPCAI_API_TOKEN")
#: Where a service was made: in My services, or by a development environment for itself. A
#: non-default origin is kept in the row's options under ORIGIN_KEY (never shown to the type).
ORIGIN_SERVICES, ORIGIN_DEVENV = "services", "devenv"
ORIGINS = (ORIGIN_SERVICES, ORIGIN_DEVENV)
ORIGIN_KEY = "_origin"
#: F252/F253: the owner unmounted the GPUs of a running service (it restarted without them)
GPU_UNMOUNTED_KEY = "_gpu_unmounted"

#: A service's states (ServiceManager.state): the product's "Running" is our queued, starting
#: and running (its job has been started); "not started" is stopped or failed.
STARTED = ("queued", "starting", "running", "suspended", "unknown")
#: The lifecycle table (F248-F250): the states each action may be taken in.
#: - start (F248): only a service that is not started;
#: - stop (F249): a started one (also while queued or starting, else a service stuck in the
#:   queue could only be deleted);
#: - restart (F250): one whose server is on a node (starting or running).
LIFECYCLE: dict[str, tuple[str, ...]] = {
    "start": ("stopped", "failed"),
    "stop": STARTED,
    "restart": ("starting", "running"),
}
#: Actions only for services created in My services: a development environment starts,
#: restarts and changes its own service itself (F248, F250, F251). Stop and delete are for all.
MANAGED_ONLY = ("start", "restart", "modify")
#: How each action is confirmed in the portal (the product's wording, then ours)
CONFIRM = {"start": "是否启动此服务 / Start this service?", "stop": "是否停止此服务 / Stop this service?",
           "restart": "是否重启此服务 / Restart this service?", "delete": "是否删除此服务 / Delete this service?"}
#: What the My services toolbar offers (F226), in its order; each row says which it allows now
OPERATIONS = ("start", "stop", "restart", "modify", "authorize", "delete")

#: fields every service has (the product's create form); each type adds its own
COMMON_FIELDS = ("name", "type", "resource_spec", "image", "shm_mb", "description", "classification")


def common_schema(types: dict[str, str], specs: list[str]) -> dict[str, Any]:
    return {
        "type": "object", "required": ["name", "type", "resource_spec"],
        "properties": {
            "name": {"type": "string", "title": "Name", "x-order": 1, "pattern": NAME.pattern,
                     "x-fix": "letters, digits, . _ - (at most 64), starting with a letter or digit"},
            "type": {"type": "string", "title": "Service type", "enum": sorted(types), "x-order": 2,
                     "x-enum-labels": types},
            "resource_spec": {"type": "string", "title": "Resource specification", "enum": specs,
                              "x-widget": "resource-spec", "x-order": 3},
            "image": {"type": "string", "title": "Image", "x-order": 4,
                      "description": "catalog image (etc/images.toml); empty = the node's own install"},
            "shm_mb": {"type": "integer", "title": "Shared memory (MB)", "minimum": 0, "x-order": 5},
            "description": {"type": "string", "title": "Description", "x-widget": "textarea", "x-order": 90,
                            "maxLength": MAX_DESCRIPTION, "x-fix": f"at most {MAX_DESCRIPTION} characters"},
            "classification": {"type": "string", "title": "Classification", "x-order": 91},
        },
    }


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class ServiceView:
    """Everything the detail page, the API and the proxy need about one service."""

    id: int
    alias: str
    name: str
    type: str
    user: str
    state: str  # stopped | queued | starting | running | failed | unknown
    description: str
    resource_spec: str
    image: str | None
    shm_mb: int | None
    classification: str | None
    options: dict[str, Any]
    authorized: list[str]
    auth: bool
    category: str
    job_id: int | None = None
    scheduler_job_id: str | None = None
    job_dir: str | None = None
    node: str | None = None
    host: str | None = None
    port: int | None = None  # the host port svcrun allocated on the node (F236)
    # the port the server listens on in its runtime (F236): services share the node's network
    # (host processes, Apptainer), so it is the host port, never a fixed one per type (FAQ 26)
    container_port: int | None = None
    ports: list[int] = field(default_factory=list)
    internal_url: str | None = None
    external_path: str = ""
    command: str = ""
    env: dict[str, str] = field(default_factory=dict)
    reason: str | None = None
    log_tail: list[str] = field(default_factory=list)
    log_file: str | None = None
    request_example: str = ""
    usage: dict[str, Any] = field(default_factory=dict)
    created_at: str | None = None
    updated_at: str | None = None
    gpus: int = 0  # cards of its resource spec (the list's GPU column)
    gpu_unmounted: bool = False  # F252: the list shows 已卸载 (unmounted) instead of the cards
    can_access: bool = False  # "Access service" (F241): running, and a type with a web UI
    origin: str = ORIGIN_SERVICES  # made in My services, or by a development environment
    actions: list[str] = field(default_factory=list)  # lifecycle actions its state allows now (LIFECYCLE)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ProxyEntry:
    """What the proxy needs about one service, valid while its `stamp` is unchanged.

    The stamp is everything the answer depends on that can change: the service row's
    updated_at (modify, authorize, start), its job (restart), that job's state and hosts (stop,
    death) and the job side's service.json (ready, port). Checking it costs one small query
    and one stat instead of loading the service, its job and the report on every request.
    """

    alias: str
    owner: str
    authorized: frozenset[str]
    auth: bool
    stamp: tuple[Any, ...]
    host: str = ""
    port: int = 0
    rules: ProxyRules = field(default_factory=ProxyRules)
    error: HpcaiError | None = None  # not running (503) or outside the cluster (403)
    secret: str = ""  # this start's per-instance secret (core.svcauth): only the proxy presents it

    def may_use(self, user: str | None) -> bool:
        return user is not None and (user == self.owner or user in self.authorized)


@dataclass(frozen=True)
class ProxyAccess:
    """Who a proxied request is and whether it may use the service."""

    entry: ProxyEntry
    user: str | None  # the portal session's account, when it exists and is enabled
    granted: bool
    via_key: bool  # granted by an API key (not by the session): the key is not forwarded


class ServiceManager:
    def __init__(self, platform: "Platform"):
        self.p = platform
        self._proxy_cache: dict[str, ProxyEntry] = {}
        self._proxy_lock = threading.Lock()

    # --- types and schema ---------------------------------------------------------------------

    def types(self) -> dict[str, ServiceType]:
        reg = self.p.registry
        return {name: reg.get("service", name) for name in reg.names("service")}

    def type(self, name: str) -> ServiceType:
        """A service type, or a development environment's (an EnvironmentType is one)."""
        kind = "environment" if name in self.p.registry.names("environment") else "service"
        st: ServiceType = self.p.registry.get(kind, name, "type")
        return st

    def form_schema(self, type_name: str | None, user: str) -> dict[str, Any]:
        types = {n: (t.title or n) for n, t in self.types().items()}
        if type_name and type_name not in types and self.type(type_name).category == "environment":
            types[type_name] = self.type(type_name).title or type_name  # a devenv's own service
        specs = [s.name for s in self.p.specs.visible(user, self.p.jobs.groups_of(user))]
        common = common_schema(types, specs)
        # F1: classification only while the site has it on (a choice of its levels); F3: shm default.
        acct = self.p.accounts.find(user)
        prop = self.p.settings.classification_property(acct.classification if acct else None)
        if prop is None:
            common["properties"].pop("classification")
        else:
            common["properties"]["classification"] = dict(prop, **{"x-order": 91})
        shm = self.p.settings.default_shm_mb()
        if shm is not None:
            common["properties"]["shm_mb"]["default"] = shm
        if type_name and self.type(type_name).category == "compose":
            common["properties"].pop("image")  # F233: the compose file names its images
        fragments: list[tuple[str, dict[str, Any]]] = [("core", common)]
        if type_name:
            fragments.append((f"service {type_name}", self.type(type_name).option_schema()))
        merged = schemas.merge(fragments)
        if type_name:
            self._spec_picker(merged["properties"]["resource_spec"], self.type(type_name), user)
        return merged

    def spec_kind(self, st: ServiceType) -> str | None:
        """The kind of resource spec a type runs on: "cpu" (F228), "gpu" (F230, F234) or None (any).

        A GPU-only type takes CPU specs too where the site says so: [services.types.<name>]
        allow_cpu_specs, else [core] allow_cpu_for_gpu_only (a CPU-only test site's switch)."""
        if st.cpu_only:
            return "cpu"
        if st.gpu_only and not self.allows_cpu_specs(st.name):
            return "gpu"
        return None

    def allows_cpu_specs(self, type_name: str) -> bool:
        setting = self.type_settings(type_name).get("allow_cpu_specs")
        return bool(setting) if setting is not None else self.p.config.allow_cpu_for_gpu_only

    def _spec_picker(self, prop: dict[str, Any], st: ServiceType, user: str) -> None:
        """Say on the picker which specs the type takes, and why it is empty when none fits."""
        kind = self.spec_kind(st)
        if kind is None:
            return
        title = st.title or st.name
        prop["x-spec-kind"] = kind
        prop["description"] = f"{kind.upper()} resource specs only ({title})"
        fits = [s for s in self.p.specs.visible(user, self.p.jobs.groups_of(user)) if s.kind == kind]
        if not fits:
            prop["x-unavailable"] = (f"this site defines no {kind.upper()} resource spec you may use; "
                                     f"{title} services need one ({self._no_spec_fix(st, kind)})")

    def _validate(self, values: dict[str, Any], user: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """Flat values -> (common fields, the type's options), every error named at once."""
        type_name = values.get("type")
        if not type_name:
            raise ValidationError("is required", field="type",
                                  fix="choose one of: " + ", ".join(sorted(self.types())))
        st = self.type(type_name)
        if ORIGIN_KEY in values:  # else a request could make its service look like another's kind
            raise ValidationError("is set by the platform, not by a request", field=ORIGIN_KEY,
                                  fix=f"leave {ORIGIN_KEY} out")
        schema = self.form_schema(st.name, user)
        values = {k: v for k, v in values.items() if v is not None and v != ""}
        values = schemas.with_defaults(schema, values)
        errors = schemas.validate(schema, values)
        if errors:
            raise ValidationErrors(errors)
        if values.get("image") and "image" not in schema["properties"]:
            raise ValidationError(f"a {st.title} service takes no image", field="image",
                                  fix="leave it out: the compose file names the images of its services")
        common = {k: values.get(k) for k in COMMON_FIELDS}
        if "classification" not in schema["properties"]:
            common["classification"] = None
        options = {k: v for k, v in values.items() if k not in COMMON_FIELDS}
        if not common.get("image") and st.default_image and self.p.images.find(st.default_image):
            common["image"] = st.default_image
        if common.get("image"):
            self.p.images.resolve(common["image"])  # refused with the catalog's message (FAQ 6)
        self._check_spec_kind(st, common["resource_spec"], user)
        return common, options

    def _check_spec_kind(self, st: ServiceType, spec_name: str, user: str) -> None:
        """F228: visualisation types on CPU specs; F230/F234: serving and custom on GPU specs."""
        kind = self.spec_kind(st)
        if kind is None:
            return
        groups = self.p.jobs.groups_of(user)
        spec = self.p.specs.get_visible(spec_name, user, groups, "resource_spec")
        title = st.title or st.name
        if kind == "cpu" and spec.gpus:
            raise ValidationError(f"{title} runs on CPU resource specs only",
                                  field="resource_spec", fix="choose a specification without GPUs")
        if kind == "gpu" and spec.kind != "gpu":
            fits = [s.name for s in self.p.specs.visible(user, groups) if s.kind == "gpu"]
            fix = ("choose a GPU spec: " + ", ".join(fits)) if fits else self._no_spec_fix(st, kind)
            raise ValidationError(f"{title} runs on GPU resource specs only; '{spec_name}' is a CPU spec",
                                  field="resource_spec", fix=fix)

    @staticmethod
    def _no_spec_fix(st: ServiceType, kind: str) -> str:
        if kind == "gpu":
            return (f"ask the site admin for a GPU spec, or to allow CPU specs for this type: "
                    f"[services.types.{st.name}] allow_cpu_specs = true")
        return "ask the site admin for a CPU spec"

    # --- create / read --------------------------------------------------------------------------

    def create(self, values: dict[str, Any], user: str, start: bool = True,
               origin: str = ORIGIN_SERVICES) -> ServiceRow:
        """A new service; `origin` is ORIGIN_DEVENV when a development environment makes its own."""
        if origin not in ORIGINS:
            raise ValidationError(f"unknown origin '{origin}'", field="origin", fix="one of: " + ", ".join(ORIGINS))
        if origin == ORIGIN_SERVICES and values.get("type") in self.p.registry.names("environment"):
            raise ValidationError(f"'{values['type']}' is a development environment type", field="type",
                                  fix="create it in Development environments (hpcai envs create)")
        common, options = self._validate(values, user)
        if origin != ORIGIN_SERVICES:
            options[ORIGIN_KEY] = origin
        with self.p.store.session() as s:
            if s.scalar(select(ServiceRow.id).where(ServiceRow.user == user,
                                                    ServiceRow.name == common["name"])):
                raise ValidationError(f"you already have a service named '{common['name']}'",
                                      field="name", fix="choose another name")
            alias = f"{common['type']}-{user}-{uuidlib.uuid4().hex[:8]}".lower()
            row = ServiceRow(alias=alias, user=user, name=common["name"], type=common["type"],
                             description=common.get("description") or "",
                             resource_spec=common["resource_spec"], image=common.get("image"),
                             shm_mb=common.get("shm_mb"), options=options, authorized=[],
                             classification=common.get("classification"))
            s.add(row)
        if start:
            return self._launch(self._row(row.alias))
        return row

    def _row(self, ref: str | int) -> ServiceRow:
        text = str(ref).strip()
        with self.p.store.session() as s:
            row = None
            if text.isdigit() and id_in_range(int(text)):
                row = s.get(ServiceRow, int(text))
            if row is None:
                row = s.scalars(select(ServiceRow).where(ServiceRow.alias == text)).first()
        if row is None:
            raise NotFound(f"no service '{ref}'", field="service", fix="see My services for yours")
        return row

    def may_use(self, row: ServiceRow, user: str | None) -> bool:
        return user is not None and (user == row.user or user in (row.authorized or []))

    @staticmethod
    def origin(row: ServiceRow) -> str:
        return str((row.options or {}).get(ORIGIN_KEY) or ORIGIN_SERVICES)

    @staticmethod
    def type_options(row: ServiceRow) -> dict[str, Any]:
        """The type's own options (what its plugin validates, renders and proxies)."""
        return {k: v for k, v in (row.options or {}).items() if k not in (ORIGIN_KEY, GPU_UNMOUNTED_KEY)}

    def get(self, ref: str | int, user: str) -> ServiceRow:
        row = self._row(ref)
        if not (self.may_use(row, user) or self.p.jobs.is_admin(user)):
            raise NotFound(f"no service '{ref}'", field="service", fix="see My services for yours")
        return row

    def list(self, user: str, all_users: bool = False, search: str = "") -> list[ServiceRow]:
        """The user's services (and those shared with them); `search` matches name, alias, type,
        creator, image and description, case-insensitively (the list's global search, F226)."""
        q = select(ServiceRow)
        if not (all_users and self.p.jobs.is_admin(user)):
            q = q.where(ServiceRow.user == user)
        with self.p.store.session() as s:
            rows = list(s.scalars(q.order_by(ServiceRow.id.desc())))
            if not all_users:  # services others authorised this user to use
                rows += [r for r in s.scalars(select(ServiceRow).where(ServiceRow.user != user))
                         if user in (r.authorized or [])]
        needle = search.strip().lower()
        if needle:
            rows = [r for r in rows if any(needle in (x or "").lower() for x in
                                           (r.name, r.alias, r.type, r.user, r.image, r.description))]
        return rows

    def job(self, row: ServiceRow) -> JobRow | None:
        if not row.job_uuid:
            return None
        with self.p.store.session() as s:
            return s.scalars(select(JobRow).where(JobRow.uuid == row.job_uuid)).first()

    @staticmethod
    def report(job: JobRow | None) -> dict[str, Any]:
        """What the job side wrote in service.json (host, ports, starting/ready/exited)."""
        if job is None:
            return {}
        try:
            return json.loads((Path(job.job_dir) / "service.json").read_text())
        except (OSError, ValueError):
            return {}

    def state(self, row: ServiceRow, job: JobRow | None = None, info: dict[str, Any] | None = None) -> str:
        job = job if job is not None else self.job(row)
        if job is None:
            return "stopped"
        js = JobState(job.state)
        if js == JobState.CANCELLED:
            return "stopped"
        if js in (JobState.FAILED, JobState.SUCCEEDED):
            return "failed"  # a server that ends by itself has failed, whatever its exit code
        if js == JobState.QUEUED:
            return "queued"
        if js == JobState.RUNNING:
            info = info if info is not None else self.report(job)
            return "running" if info.get("state") == "ready" else "starting"
        return js.value  # suspended, unknown

    def view(self, row: ServiceRow, external_base: str = "") -> ServiceView:
        st = self.type(row.type)
        job = self.job(row)
        info = self.report(job)
        state = self.state(row, job, info)
        path = f"{PROXY_PREFIX}/{row.alias}"
        options = self.type_options(row)
        v = ServiceView(id=row.id, alias=row.alias, name=row.name, type=row.type, user=row.user,
                        state=state, description=row.description or "", resource_spec=row.resource_spec,
                        image=row.image, shm_mb=row.shm_mb, classification=row.classification,
                        options={k: v for k, v in options.items() if k not in PRIVATE_OPTIONS},
                        authorized=list(row.authorized or []), auth=st.auth_enabled(options), category=st.category,
                        external_path=path + "/",
                        created_at=row.created_at.isoformat() if row.created_at else None,
                        updated_at=row.updated_at.isoformat() if row.updated_at else None,
                        gpus=self._spec_gpus(row.resource_spec),
                        gpu_unmounted=bool((row.options or {}).get(GPU_UNMOUNTED_KEY)),
                        can_access=(state == "running" and st.category in ACCESS_CATEGORIES
                                    and self.origin(row) == ORIGIN_SERVICES))
        v.request_example = st.request_example(f"{external_base}{path}", options)
        v.origin, v.actions = self.origin(row), self.lifecycle_actions(row, state)
        if job is not None:
            v.job_id, v.scheduler_job_id, v.job_dir = job.id, job.scheduler_job_id, job.job_dir
            v.node = job.exec_hosts
            v.reason = job.reason
            v.log_file = f"output.{job.scheduler_job_id}.txt" if job.scheduler_job_id else None
            splan = (job.request or {}).get("options", {}).get("service_plan", {})
            v.command = " ".join(splan.get("argv", []))
            v.env = {k: val for k, val in splan.get("env", {}).items() if k not in PRIVATE_ENV}
            if state in ("starting", "running"):
                v.host, v.ports = self.target_host(job), list((job.plan or {}).get("ports") or [])
                v.port = v.container_port = v.ports[0] if v.ports else None
                v.internal_url = f"http://{v.host}:{v.port}/"
                v.usage = self.usage(job, history=False)
            v.log_tail = self.log_tail(job)  # the reason of a failure, or the log of a running one
        return v

    def _spec_gpus(self, name: str) -> int:
        return next((s.gpus for s in self.p.specs.all() if s.name == name), 0)

    @staticmethod
    def usage(job: JobRow | None, history: bool = True) -> dict[str, Any]:
        """Resource monitoring (F247): what hooks/svcrun sampled on the node in usage.json.

        The latest CPU (percent of one core) and memory of the server's process tree, its
        GPUs through NVML ([] and a note such as "no GPU" where there are none), the server's
        own metrics where its type has them (TorchServe, F246) and, with history, the earlier
        samples (oldest first). {} before the first sample."""
        return read_usage(job.job_dir if job is not None else None, history)

    def log_path(self, job: JobRow) -> Path | None:
        """The service's output, if it is the job user's own file (not a link they planted)."""
        cands = [Path(job.stdout_path)] if job.stdout_path and Path(job.stdout_path).exists() else \
            sorted(Path(job.job_dir).glob("output.*.txt"))
        if not cands:
            return None
        try:
            open_job_file(cands[0], run_as_uid(job.plan)).close()
        except OSError:
            return None
        return cands[0]

    def log_tail(self, job: JobRow, lines: int = LOG_TAIL_LINES) -> list[str]:
        path = self.log_path(job)
        if path is None:
            return []
        try:
            f = open_job_file(path, run_as_uid(job.plan))
        except OSError:
            return []
        with f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 16384))
            return f.read().decode(errors="replace").splitlines()[-lines:]

    # --- lifecycle ------------------------------------------------------------------------------

    def _control_check(self, row: ServiceRow, user: str, action: str) -> None:
        """The creator may do everything; an admin may start, stop and restart others' services."""
        if row.user == user:
            return
        if action in ("start", "stop", "restart") and self.p.jobs.is_admin(user):
            return
        if user in (row.authorized or []) or self.p.jobs.is_admin(user):
            raise PermissionDenied(f"only {row.user} may {action} service {row.alias}", field="service")
        raise NotFound(f"no service '{row.alias}'", field="service")

    def may_control(self, row: ServiceRow, user: str, action: str) -> bool:
        try:
            self._control_check(row, user, action)
        except HpcaiError:
            return False
        return True

    def user_operations(self, row: ServiceRow, user: str, state: str | None = None) -> list[str]:
        """Every toolbar operation (OPERATIONS) `user` may take on the service now: the lifecycle
        actions its state allows, modify (services made in My services) and the creator's
        authorise and delete."""
        state = state if state is not None else self.state(row)
        return [op for op in OPERATIONS if self._refusal(row, op, state) is None and self.may_control(row, user, op)]

    def current_values(self, row: ServiceRow) -> dict[str, Any]:
        """The service's parameters as its create form holds them (the modify form starts here)."""
        common = {"name": row.name, "type": row.type, "resource_spec": row.resource_spec,
                  "image": row.image, "shm_mb": row.shm_mb, "description": row.description,
                  "classification": row.classification}
        return {**common, **self.type_options(row)}

    def check(self, row: ServiceRow) -> ServiceType:
        """Everything that must hold before a start (FAQ 6, 17, 20): refuse with the reason."""
        st = self.type(row.type)
        st.check(self.type_options(row))
        if row.image:
            image = self.p.images.resolve(row.image, user=row.user)
            why = self._runtime(image).check_image(image)
            if why:
                raise ValidationError(why, field="image")
        return st

    def _runtime(self, image: Any) -> Any:
        """A container image runs in its runtime; anything else in the site's default."""
        name = image.runtime if image is not None and image.runtime != "host" else self.p.config.default_runtime
        return self.p.registry.get("runtime", name)

    def lifecycle_actions(self, row: ServiceRow, state: str | None = None) -> list[str]:
        """The lifecycle actions (LIFECYCLE) the service's state and origin allow now."""
        state = state if state is not None else self.state(row)
        return [a for a in LIFECYCLE if self._refusal(row, a, state) is None]

    def _refusal(self, row: ServiceRow, action: str, state: str) -> str | None:
        """Why `action` may not be taken now (None: it may)."""
        if action in MANAGED_ONLY and self.origin(row) != ORIGIN_SERVICES:
            return f"service {row.alias} was started by a development environment, which manages it"
        if action in LIFECYCLE and state not in LIFECYCLE[action]:
            return (f"service {row.alias} is {state}; {action.capitalize()} is only for services that are "
                    + " or ".join(LIFECYCLE[action]))
        return None

    def require(self, row: ServiceRow, action: str, state: str | None = None) -> None:
        """Refuse (409, with the state and what is allowed) an action the lifecycle table forbids."""
        state = state if state is not None else self.state(row)
        why = self._refusal(row, action, state)
        if why is None:
            return
        allowed = self.lifecycle_actions(row, state)
        if action in MANAGED_ONLY and self.origin(row) != ORIGIN_SERVICES:
            fix = "use the development environment that made it" + (
                f"; allowed now: {', '.join(allowed)}" if allowed else "")
        else:
            fix = f"allowed now: {', '.join(allowed)}" if allowed else "wait until its state changes"
        raise Conflict(why, field="service", fix=fix, state=state, allowed=allowed)

    def start(self, ref: str | int, user: str) -> ServiceRow:
        row = self._row(ref)
        self._control_check(row, user, "start")
        self.require(row, "start")
        return self._launch(row)

    def _launch(self, row: ServiceRow) -> ServiceRow:
        """Submit the service's job (the checks of its state are the caller's)."""
        st = self.check(row)
        owner = row.user
        spec = self.p.specs.get_visible(row.resource_spec, owner, self.p.jobs.groups_of(owner), "resource_spec")
        ctx = ServiceContext(alias=row.alias, user=owner, job_dir="{job_dir}",
                             base_path=f"{PROXY_PREFIX}/{row.alias}")
        plan = st.start_plan(self.type_options(row), ctx)
        # The site's environment for this type ([services.types.<type>] env), e.g. the podman
        # configuration a compose service needs on this cluster's nodes; the plan's own wins.
        plan.env = {**self.type_settings(row.type).get("env", {}), **plan.env}
        image = self.p.images.resolve(row.image, user=row.user) if row.image else None
        runtime = self._runtime(image)
        request = spec.to_request()
        if (row.options or {}).get(GPU_UNMOUNTED_KEY):
            request = replace(request, gpus=0)  # F252: the same service, started without its GPUs
        wrapped = runtime.wrap(plan.argv, image, plan.mounts, dict(plan.env), request.gpus, row.shm_mb)
        # The secret only the proxy and the job side know: svcrun's gate (or the server itself,
        # for types with their own auth) refuses any connection that does not prove it.
        splan = {"argv": wrapped.argv, "env": {**wrapped.env, **plan.env}, "ports": plan.ports,
                 "secret": secrets.token_urlsafe(32), "gate": not plan.native_auth,
                 "health_path": plan.health_path, "files": plan.files, "prepare": plan.prepare,
                 "cleanup": plan.cleanup, "metrics_url": plan.metrics_url, "cwd": plan.cwd,
                 "ready_timeout_s": plan.ready_timeout_s,
                 "base_path": ctx.base_path, "bind": self.bind_address(),
                 "usage_interval_s": float(self.p.config.raw.get("services", {}).get("usage_interval_s", 5))}
        body = ('#!/bin/bash\nexec "$HPCAI_PYTHON" "$HPCAI_HOME/hooks/svcrun" <<\'HPCAI_SERVICE_PLAN\'\n'
                + json.dumps(splan, indent=1) + "\nHPCAI_SERVICE_PLAN\n")
        workdir = self.p.workspace.home(owner)
        req = JobRequest(user=owner, command="", workdir=str(workdir), mode="standalone", name=row.alias,
                         batch_script=body, groups=[RoleGroup(1, request)], source="service",
                         extra_ports=plan.ports,
                         shm_mb=row.shm_mb, classification=row.classification,
                         options={"service_plan": splan})
        prep = self.p.jobs.prepare(req)
        job = self.p.jobs.submit_prepared(prep)
        with self.p.store.session() as s:
            r = s.get(ServiceRow, row.id)
            r.job_uuid, r.updated_at = job.uuid, now()
            return r

    def stop(self, ref: str | int, user: str) -> ServiceRow:
        row = self._row(ref)
        self._control_check(row, user, "stop")
        self.require(row, "stop")
        self._stop_job(row)
        self._ended(row)
        return self._row(row.id)

    def _ended(self, row: ServiceRow) -> None:
        """A development environment's service stopped or deleted from My services: the
        environment's session token goes with it (core.environments)."""
        if self.origin(row) == ORIGIN_DEVENV:
            self.p.environments.service_ended(row.alias, row.user)

    def _stop_job(self, row: ServiceRow) -> None:
        job = self.job(row)
        if job is not None and not JobState(job.state).terminal:
            self.p.jobs.kill(job.id, row.user)

    def restart(self, ref: str | int, user: str) -> ServiceRow:
        row = self._row(ref)
        self._control_check(row, user, "restart")
        self.require(row, "restart")
        self._stop_job(row)
        return self._launch(self._row(row.id))

    def set_gpus_mounted(self, ref: str | int, user: str, mounted: bool) -> ServiceRow:
        """F252/F253: unmount the GPUs of one's running GPU service (it restarts without them,
        in a container, so they are really gone), or mount them back (it restarts with them)."""
        row = self._row(ref)
        self._control_check(row, user, "restart")
        self.require(row, "restart")
        if not self._spec_gpus(row.resource_spec):
            raise ValidationError("the service has no GPUs", field="service",
                                  fix="only a service on a GPU resource spec can unmount or mount its GPUs")
        image = self.p.images.resolve(row.image, user=row.user) if row.image else None
        if not getattr(self._runtime(image), "isolates_mounts", False):
            raise ValidationError("a service of host processes cannot give its GPUs back", field="service",
                                  fix="run the service in a container image (podman, docker, apptainer)")
        if bool((row.options or {}).get(GPU_UNMOUNTED_KEY)) == (not mounted):
            raise Conflict(f"the GPUs are already {'mounted' if mounted else 'unmounted'}", field="service",
                           fix="mount them" if not mounted else "unmount them")
        with self.p.store.session() as s:
            live = s.get(ServiceRow, row.id)
            live.options = {**(live.options or {}), GPU_UNMOUNTED_KEY: not mounted}
        self._stop_job(row)
        return self._launch(self._row(row.id))

    def modify(self, ref: str | int, values: dict[str, Any], user: str) -> ServiceRow:
        """New parameters; a running service restarts with them, a stopped one uses them next start."""
        row = self._row(ref)
        self._control_check(row, user, "modify")
        self.require(row, "modify")
        merged = {**self.current_values(row), **values}
        for name in IMMUTABLE:
            if name in values and (values[name] or None) != (getattr(row, name) or None):
                raise ValidationError(f"the {name} of a service cannot change", field=name,
                                      fix=f"create a new service with the other {name}")
        common, options = self._validate(merged, row.user)
        if self.origin(row) != ORIGIN_SERVICES:
            options[ORIGIN_KEY] = self.origin(row)
        was_live = self.state(row) in ("queued", "starting", "running")
        with self.p.store.session() as s:
            r = s.get(ServiceRow, row.id)
            r.name, r.resource_spec, r.image = common["name"], common["resource_spec"], common.get("image")
            r.shm_mb, r.description = common.get("shm_mb"), common.get("description") or ""
            r.classification, r.options, r.updated_at = common.get("classification"), options, now()
        if was_live:
            self._stop_job(row)
            return self._launch(self._row(row.id))
        return self._row(row.id)

    def relaunch(self, ref: str | int, origin: str, values: dict[str, Any] | None = None) -> ServiceRow:
        """For the domain that made a service of a non-default `origin` (a development
        environment): new parameters if given, its job stopped, then started again. The
        owning domain has checked who asks and its own lifecycle."""
        row = self._row(ref)
        if self.origin(row) != origin or origin == ORIGIN_SERVICES:
            raise PermissionDenied(f"service {row.alias} is not managed by {origin}", field="service")
        if values is not None:
            common, options = self._validate({**self.current_values(row), **values}, row.user)
            options[ORIGIN_KEY] = origin
            with self.p.store.session() as s:
                r = s.get(ServiceRow, row.id)
                r.resource_spec, r.image, r.shm_mb = common["resource_spec"], common.get("image"), common.get("shm_mb")
                r.description, r.options, r.updated_at = common.get("description") or "", options, now()
        self._stop_job(row)
        return self._launch(self._row(row.id))

    def authorize(self, ref: str | int, users: list[str], user: str) -> ServiceRow:
        row = self._row(ref)
        self._control_check(row, user, "authorize")
        for name in users:
            if self.p.accounts.find(name) is None:
                raise ValidationError(f"no user '{name}'", field="authorized", fix="give existing user names")
        with self.p.store.session() as s:
            r = s.get(ServiceRow, row.id)
            r.authorized, r.updated_at = sorted(set(users) - {row.user}), now()  # the proxy's stamp
            return r

    def delete(self, ref: str | int, user: str) -> None:
        row = self._row(ref)
        self._control_check(row, user, "delete")
        self._stop_job(row)
        self._ended(row)
        with self.p.store.session() as s:
            s.delete(s.get(ServiceRow, row.id))

    # --- proxy support ---------------------------------------------------------------------------

    def type_settings(self, type_name: str) -> dict[str, Any]:
        settings: dict[str, Any] = self.p.config.raw.get("services", {}).get("types", {}).get(type_name, {})
        return settings

    def bind_address(self) -> str:
        return str(self.p.config.raw.get("services", {}).get("bind", "127.0.0.1"))

    def allowed_hosts(self, job: JobRow | None) -> set[str]:
        """The proxy forwards only to cluster hosts: this host, configured nodes, the job's nodes."""
        hosts = set(_local_names())
        hosts |= set(self.p.config.raw.get("services", {}).get("cluster_hosts", []))
        if job is not None and job.exec_hosts:
            hosts |= {h.split(":")[0].split("*")[-1] for h in re.split(r"[,\s]+", job.exec_hosts) if h}
        return hosts

    def target(self, row: ServiceRow) -> tuple[str, int, ProxyRules]:
        """Where the proxy forwards to, or an error saying why it cannot (not running ...)."""
        job = self.job(row)
        info = self.report(job)
        state = self.state(row, job, info)
        if state != "running":
            raise HpcaiError(f"service {row.alias} is {state}", field="service",
                             fix="start it and wait until it is running")
        assert job is not None  # running
        host, ports = self.target_host(job), (job.plan or {}).get("ports") or [0]
        port = int(ports[0])
        if host not in self.allowed_hosts(job) or not 0 < port < 65536:
            raise PermissionDenied(f"service {row.alias} runs on {host}:{port}, not a host of this cluster",
                                   field="service")
        return host, port, self.type(row.type).proxy_rules(self.type_options(row))

    def target_host(self, job: JobRow) -> str:
        """Where the service listens, from the platform's own record: the site's bind address,
        or (bound to every interface) the first node the scheduler gave the job."""
        bind = self.bind_address()
        if bind not in ("0.0.0.0", "::", ""):
            return bind
        hosts = [h.split(":")[0].split("*")[-1] for h in re.split(r"[,\s]+", job.exec_hosts or "") if h]
        return hosts[0] if hosts else "127.0.0.1"

    @staticmethod
    def secret(job: JobRow | None) -> str:
        """The per-instance secret the platform gave this start of the service (store only)."""
        if job is None:
            return ""
        return str((job.request or {}).get("options", {}).get("service_plan", {}).get("secret", ""))

    def _proxy_probe(self, alias: str, session_user: str | None,
                     digest: str | None) -> tuple[tuple[Any, ...] | None, bool, str | None]:
        """One round trip: the alias's stamp, whether the session's account is enabled, whose key.

        Accounts and keys are read on every request, so a disabled account or a deleted key
        stops at once, in every worker process.
        """
        with self.p.store.engine.connect() as conn:
            got = conn.execute(_PROBE, {"alias": alias, "user": session_user, "digest": digest}).first()
        if got is None:
            return None, False, None
        updated, job_uuid, state, hosts, job_dir, disabled, key_user = got
        report: tuple[int, int] | None = None
        if job_dir:
            try:
                st = os.stat(Path(job_dir) / "service.json")
                report = (st.st_mtime_ns, st.st_size)
            except OSError:
                report = None
        stamp = (updated, job_uuid, state, hosts, job_dir, report)
        return stamp, session_user is not None and disabled is not None and not disabled, key_user

    def _proxy_entry(self, alias: str, stamp: tuple[Any, ...]) -> ProxyEntry:
        row = self._row(alias)
        st = self.type(row.type)
        common = dict(alias=row.alias, owner=row.user, authorized=frozenset(row.authorized or []),
                      auth=st.auth_enabled(self.type_options(row)), stamp=stamp)
        try:
            host, port, rules = self.target(row)
        except HpcaiError as exc:
            return ProxyEntry(**common, error=exc)
        return ProxyEntry(**common, host=host, port=port, rules=rules, secret=self.secret(self.job(row)))

    def proxy_access(self, alias: str, session_user: str | None, key: str | None) -> ProxyAccess:
        """The proxy's check for one request: the same rules as may_access and target, cached.

        The per-alias entry is rebuilt whenever its stamp changes (see ProxyEntry), so a stop,
        restart, modify, delete or re-authorisation is seen by the very next request.
        """
        digest = _key_hash(key) if key and key.startswith(KEY_PREFIX) else None
        stamp, enabled, key_user = self._proxy_probe(alias, session_user, digest)
        if stamp is None:
            with self._proxy_lock:
                self._proxy_cache.pop(alias, None)
            raise NotFound(f"no service '{alias}'", field="service", fix="check the address on the service's page")
        entry = self._proxy_cache.get(alias)
        if entry is None or entry.stamp != stamp:
            entry = self._proxy_entry(alias, stamp)
            with self._proxy_lock:
                self._proxy_cache[alias] = entry
        user = session_user if enabled else None
        if entry.may_use(user):
            return ProxyAccess(entry, user, True, False)
        granted = entry.auth and digest is not None and entry.may_use(key_user)
        return ProxyAccess(entry, user, granted, granted)

    def proxy_targets(self) -> list[ProxyEntry]:
        """Every running service's target, rules and secret: what a front proxy (nginx) is
        configured with. Access is not in it: the front asks proxy_access for each request."""
        with self.p.store.session() as s:
            aliases = list(s.scalars(select(ServiceRow.alias).join(JobRow, JobRow.uuid == ServiceRow.job_uuid)
                                     .where(JobRow.state == JobState.RUNNING.value)))
        out = []
        for alias in aliases:
            try:
                entry = self._proxy_entry(alias, ())
            except NotFound:  # deleted meanwhile
                continue
            if entry.error is None and entry.secret:
                out.append(entry)
        return out

    def forget_proxy_entry(self, alias: str) -> None:
        """The service did not answer at its cached address: look it up afresh next time."""
        with self._proxy_lock:
            self._proxy_cache.pop(alias, None)

    # --- API keys ----------------------------------------------------------------------------------

    def create_key(self, user: str, name: str = "") -> tuple[int, str]:
        """A new API key, returned once (only its hash is stored). At most MAX_KEYS per user."""
        with self.p.store.session() as s:
            count = s.scalar(select(func.count()).select_from(ServiceKeyRow).where(ServiceKeyRow.user == user))
            if (count or 0) >= MAX_KEYS:
                raise ValidationError(f"you already have {MAX_KEYS} API keys, the most allowed",
                                      field="api_key", fix="delete one you no longer use first")
            key = KEY_PREFIX + secrets.token_urlsafe(32)
            row = ServiceKeyRow(user=user, name=name[:128], key_hash=_key_hash(key), prefix=key[:10])
            s.add(row)
            s.flush()
            return row.id, key

    def keys(self, user: str) -> list[ServiceKeyRow]:
        with self.p.store.session() as s:
            return list(s.scalars(select(ServiceKeyRow).where(ServiceKeyRow.user == user)
                                  .order_by(ServiceKeyRow.id)))

    def delete_key(self, user: str, key_id: int) -> None:
        with self.p.store.session() as s:
            row = s.get(ServiceKeyRow, key_id) if id_in_range(key_id) else None
            if row is None or row.user != user:
                raise NotFound(f"no API key {key_id}", field="api_key")
            s.delete(row)

    def key_user(self, key: str) -> str | None:
        """Whose key this is (looked up on every request, so a deleted key stops at once)."""
        if not key.startswith(KEY_PREFIX):
            return None
        digest = _key_hash(key)
        with self.p.store.session() as s:
            row = s.scalars(select(ServiceKeyRow).where(ServiceKeyRow.key_hash == digest)).first()
        return row.user if row is not None and hmac.compare_digest(row.key_hash, digest) else None

    def may_access(self, row: ServiceRow, session_user: str | None, bearer: str | None) -> bool:
        """Owner's or an authorised user's portal session; or, with auth on, any of their keys."""
        if self.may_use(row, session_user):
            return True
        if bearer and self.type(row.type).auth_enabled(self.type_options(row)):
            return self.may_use(row, self.key_user(bearer))
        return False


# The proxy's one query per request, built once (building it is a third of its cost).
_PROBE = (select(ServiceRow.updated_at, ServiceRow.job_uuid, JobRow.state, JobRow.exec_hosts, JobRow.job_dir,
                 select(AccountRow.disabled).where(AccountRow.name == bindparam("user")).scalar_subquery(),
                 select(ServiceKeyRow.user).where(ServiceKeyRow.key_hash == bindparam("digest")).scalar_subquery())
          .outerjoin(JobRow, JobRow.uuid == ServiceRow.job_uuid).where(ServiceRow.alias == bindparam("alias")))


@functools.lru_cache(maxsize=1)
def _local_names() -> tuple[str, ...]:
    """This host's names (getfqdn may ask DNS: once per process, not once per proxied request)."""
    return ("127.0.0.1", "localhost", socket.gethostname(), socket.getfqdn())
