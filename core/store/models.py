"""Tables. Changing a model means adding an Alembic revision in core/store/migrations."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class JobRow(Base):
    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, nullable=False)
    user: Mapped[str] = mapped_column(String(64), nullable=False)
    project: Mapped[str] = mapped_column(String(128), default="default")
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    framework: Mapped[str | None] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(64))
    runtime: Mapped[str] = mapped_column(String(64))
    image: Mapped[str | None] = mapped_column(String(255))
    scheduler: Mapped[str] = mapped_column(String(64), nullable=False)
    scheduler_job_id: Mapped[str | None] = mapped_column(String(64))
    queue: Mapped[str | None] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    raw_state: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    exec_hosts: Mapped[str | None] = mapped_column(String(1024))
    from_host: Mapped[str | None] = mapped_column(String(255))
    submit_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    start_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    end_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)
    job_dir: Mapped[str] = mapped_column(String(1024), nullable=False)
    stdout_path: Mapped[str | None] = mapped_column(String(1024))
    request: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    plan: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    script: Mapped[str] = mapped_column(Text, nullable=False)
    source: Mapped[str] = mapped_column(String(16), default="cli")

    __table_args__ = (
        Index("ix_jobs_user_state", "user", "state"),
        Index("ix_jobs_scheduler_state", "scheduler", "state"),
        Index("ix_jobs_user_id", "user", "id"),  # "my jobs, newest first" pages without a sort
    )


class ResourceSpecRow(Base):
    __tablename__ = "resource_specs"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    cpus: Mapped[int] = mapped_column(Integer, nullable=False)
    mem_mb: Mapped[int | None] = mapped_column(Integer)
    node_group: Mapped[str | None] = mapped_column(String(255))
    gpu_mode: Mapped[str | None] = mapped_column(String(16))
    gpu_type: Mapped[str | None] = mapped_column(String(128))
    gpus: Mapped[int] = mapped_column(Integer, default=0)
    visible_users: Mapped[list[str]] = mapped_column(JSON, default=list)
    visible_groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    description: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(16), default="admin")  # etc | admin


class PortAllocation(Base):
    """A port held by a live job. The primary key makes two jobs' claims collide in the DB."""

    __tablename__ = "port_allocations"

    port: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    job_uuid: Mapped[str] = mapped_column(String(36), nullable=False, index=True)
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AccountRow(Base):
    """A portal login. Its name is the owner of the jobs it submits (JobRequest.user)."""

    __tablename__ = "accounts"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False, default="user")  # admin | user
    full_name: Mapped[str] = mapped_column(String(255), default="")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The account's security-classification level (F2: the default of its jobs' classification).
    classification: Mapped[str | None] = mapped_column(String(32))


class GroupMemberRow(Base):
    """Membership of an account in a platform group (groups exist while they have members)."""

    __tablename__ = "account_groups"

    group: Mapped[str] = mapped_column(String(64), primary_key=True)
    user: Mapped[str] = mapped_column(String(64), primary_key=True)


class ApiTokenRow(Base):
    """A personal API token; only its SHA-256 is kept, the token is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    label: Mapped[str] = mapped_column(String(128), default="")
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PresetRow(Base):
    """A saved form (spec 03 "preset forms") of one user for one application."""

    __tablename__ = "presets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user: Mapped[str] = mapped_column(String(64), nullable=False)
    app: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    values: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (UniqueConstraint("user", "app", "name", name="uq_presets_user_app_name"),)


class DatasetRow(Base):
    """A dataset: a category plus one backend's options. Secrets are kept encrypted apart."""

    __tablename__ = "datasets"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # uuid4, the API's dataset_id
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    owner: Mapped[str] = mapped_column(String(64), nullable=False)
    area: Mapped[str] = mapped_column(String(8), nullable=False, default="my")  # my | shared
    category: Mapped[str] = mapped_column(String(16), nullable=False)
    backend: Mapped[str] = mapped_column(String(64), nullable=False)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    secrets: Mapped[str | None] = mapped_column(Text)  # Fernet token of a JSON object
    description: Mapped[str] = mapped_column(Text, default="")
    classification: Mapped[str | None] = mapped_column(String(32))
    share_group: Mapped[str | None] = mapped_column(String(64))
    share_users: Mapped[list[str]] = mapped_column(JSON, default=list)
    shared_from: Mapped[str | None] = mapped_column(String(36))
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="ready")  # copying|ready|failed
    progress: Mapped[float] = mapped_column(Float, default=1.0)
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    __table_args__ = (UniqueConstraint("owner", "area", "name", name="uq_datasets_owner_area_name"),
                      Index("ix_datasets_area_group", "area", "share_group"))


class PluginSettingRow(Base):
    """An administrator's enable/disable of one plugin (entry-point name); wins over etc/."""

    __tablename__ = "plugin_settings"

    plugin: Mapped[str] = mapped_column(String(128), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False)
    changed_by: Mapped[str] = mapped_column(String(64), default="")
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class LoginFailureRow(Base):
    """Failed log-ins counted per account or per client address (core.accounts.LoginThrottle)."""

    __tablename__ = "login_failures"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)  # account:<name> | address:<ip>
    failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    locks: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # locks in a row (escalation)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ExperimentRecordRow(Base):
    """Who owns an MLflow experiment and the group it is shared with: the platform's record,
    made when the platform first sees the experiment (core.experiments), never read from a tag.
    `created_ms` tells a reused id (a tracking server started over) from the experiment recorded."""

    __tablename__ = "experiment_records"

    experiment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_ms: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    owner: Mapped[str | None] = mapped_column(String(64))
    share_group: Mapped[str | None] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class SiteSettingRow(Base):
    """A site setting an administrator changed in the portal; wins over etc/hpcai.toml."""

    __tablename__ = "site_settings"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON, nullable=False)
    changed_by: Mapped[str] = mapped_column(String(64), default="")
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class ServiceRow(Base):
    """A service of "My services": its type's options; each start is a new scheduler job."""

    __tablename__ = "services"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alias: Mapped[str] = mapped_column(String(160), unique=True, nullable=False)  # <type>-<user>-<uuid8>
    user: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    type: Mapped[str] = mapped_column(String(64), nullable=False)
    description: Mapped[str] = mapped_column(Text, default="")
    resource_spec: Mapped[str] = mapped_column(String(128), nullable=False)
    image: Mapped[str | None] = mapped_column(String(255))
    shm_mb: Mapped[int | None] = mapped_column(Integer)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    authorized: Mapped[list[str]] = mapped_column(JSON, default=list)  # users who may use it
    classification: Mapped[str | None] = mapped_column(String(64))
    job_uuid: Mapped[str | None] = mapped_column(String(36))  # the current (last) start
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ServiceKeyRow(Base):
    """A service API key (spec F250): at most 5 per user, only the SHA-256 is kept."""

    __tablename__ = "service_api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class UserPrefRow(Base):
    """One preference of one portal account (today: the UI language); see core/userprefs.py."""

    __tablename__ = "user_prefs"

    user: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON, nullable=False)
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class PortalSessionRow(Base):
    """A logged-in browser session (core.sessions): the signed cookie names it, the row makes it
    live, so logging out, a password change or disabling the account ends it everywhere."""

    __tablename__ = "portal_sessions"

    sid_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the cookie's id
    user: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# Domain packages keep their tables next to their code; importing them here puts them in the
# one metadata Alembic and the store see (they import Base from this module, defined above).
import core.models.tables  # noqa: E402,F401


# --- pipelines (designer): migration 0014_pipelines ------------------------------------------

class PipelineRow(Base):
    """A saved pipeline (方案): its document and the card's fields. Names are unique per user."""

    __tablename__ = "pipelines"
    __table_args__ = (UniqueConstraint("user", "name", name="uq_pipelines_user_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    type: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    classification: Mapped[str | None] = mapped_column(String(64))
    document: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    revision: Mapped[int] = mapped_column(Integer, nullable=False, default=1)  # +1 per save
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PipelineRunRow(Base):
    """A pipeline instance (方案实例): one run of a document, as one scheduler job."""

    __tablename__ = "pipeline_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, nullable=False)
    user: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    pipeline_id: Mapped[int | None] = mapped_column(Integer, index=True)  # None: a file run from the CLI
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    job_id: Mapped[int | None] = mapped_column(Integer)
    run_dir: Mapped[str] = mapped_column(String(1024), nullable=False)
    document: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    resource_spec: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CustomFunctionRow(Base):
    """A custom loss or metrics function (spec 02 §1.3); name = the entry function/class."""

    __tablename__ = "pipeline_functions"
    __table_args__ = (UniqueConstraint("user", "kind", "name", name="uq_pipeline_functions"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # loss | metric
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    has_params: Mapped[bool] = mapped_column(Boolean, default=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ContainerImageRow(Base):
    """A container image a user pulled, built or saved (My images; shared when visibility says so).
    Built-in images stay in etc/images.toml; both lists are one catalog (core.containers.library)."""

    __tablename__ = "container_images"
    __table_args__ = (UniqueConstraint("owner", "name", name="uq_container_images_owner_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False)  # namespace/name:tag (F242)
    reference: Mapped[str] = mapped_column(String(512), nullable=False)  # as the engine knows it
    runtime: Mapped[str] = mapped_column(String(64), nullable=False)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    frameworks: Mapped[list[str]] = mapped_column(JSON, default=list)
    visibility: Mapped[str] = mapped_column(String(16), nullable=False, default="private")  # private|shared
    source: Mapped[str] = mapped_column(String(16), nullable=False)  # pull|build|commit
    description: Mapped[str] = mapped_column(Text, default="")
    job_uuid: Mapped[str | None] = mapped_column(String(36))  # the build job, while it runs
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="ready")  # building|ready|failed
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
