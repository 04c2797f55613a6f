"""Domain types shared by the core, the plugins and the shells."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.plan import ResourceRequest, RoleGroup


class JobState(str, enum.Enum):
    """Normalised job states; every scheduler's raw state maps onto one of these."""

    QUEUED = "queued"
    RUNNING = "running"
    SUSPENDED = "suspended"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"

    @property
    def terminal(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)

    def __str__(self) -> str:
        return self.value


LIVE_STATES = (JobState.QUEUED, JobState.RUNNING, JobState.SUSPENDED, JobState.UNKNOWN)

GPU_MODES = ("exclusive", "shared", "mig")


@dataclass
class ResourceSpec:
    """An admin-defined resource specification (spec F4-F8). Users pick one by name."""

    name: str
    kind: str = "cpu"  # cpu | gpu: which group of the picker it appears in
    cpus: int = 1
    mem_mb: int | None = None
    node_group: str | None = None  # node or node group; None = any
    gpu_mode: str | None = None  # exclusive | shared | mig
    gpu_type: str | None = None  # None = any model
    gpus: int = 0
    visible_users: list[str] = field(default_factory=list)  # empty lists = visible to everyone
    visible_groups: list[str] = field(default_factory=list)
    description: str = ""

    def visible_to(self, user: str, groups: list[str] | tuple[str, ...]) -> bool:
        if not self.visible_users and not self.visible_groups:
            return True
        return user in self.visible_users or any(g in self.visible_groups for g in groups)

    def to_request(self) -> ResourceRequest:
        return ResourceRequest(cpus=self.cpus, mem_mb=self.mem_mb, gpus=self.gpus,
                               gpu_type=self.gpu_type, gpu_mode=self.gpu_mode,
                               host=self.node_group, spec=self.name)

    def label(self) -> str:
        """How pickers show it, like the product: `node | 2 cores | mem 4096MB | 1 GPU (any)`."""
        parts = [self.node_group] if self.node_group else []
        parts.append(f"{self.cpus} cores")
        if self.mem_mb:
            parts.append(f"mem {self.mem_mb}MB")
        if self.gpus:
            parts.append(f"{self.gpus} GPU ({self.gpu_type or 'any'}, {self.gpu_mode or 'exclusive'})")
        return " | ".join(parts)


@dataclass
class Mount:
    source: str
    target: str | None = None  # empty mount point = same path as the source (spec 03 §2.1)
    readonly: bool = False

    @property
    def mount_point(self) -> str:
        return self.target or self.source


@dataclass
class JobRequest:
    """Everything a user asked for, whatever shell it came from (form, CLI, #BSUB, API)."""

    user: str
    command: str
    workdir: str
    framework: str | None = None
    mode: str | None = None  # None: the framework's first (default) mode
    image: str | None = None
    runtime: str | None = None
    scheduler: str | None = None
    name: str | None = None
    project: str = "default"
    queue: str | None = None
    app_profile: str | None = None
    create_exec_dir: bool = False
    mounts: list[Mount] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    shm_mb: int | None = None
    time_limit_min: int | None = None
    mem_limit_mb: int | None = None
    extra_ports: int = 0
    array_size: int | None = None  # run the job as an array of this many tasks
    # Plugin-contributed fields (mode topology, job options), validated against merged schemas.
    options: dict[str, Any] = field(default_factory=dict)
    # Explicit topology from a machine file; when set it replaces the mode's spec pickers.
    groups: list[RoleGroup] | None = None
    # The user's own batch script (jsub): run verbatim as the job body instead of our launcher line.
    batch_script: str | None = None
    cwd: str | None = None  # where the batch script starts (#BSUB -cwd / submission dir)
    stdout: str | None = None  # may contain %J (the scheduler's job id)
    stderr: str | None = None
    source: str = "cli"
    classification: str | None = None


@dataclass
class JobStatus:
    """One scheduler observation of one job."""

    state: JobState
    raw_state: str
    reason: str | None = None
    exit_code: int | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    exec_hosts: str | None = None


@dataclass
class ClusterInfo:
    """What the "application resource monitoring" panel shows for one queue."""

    queue: str | None
    free_cpus: int
    total_cpus: int
    queued_jobs: int
    running_jobs: int
    free_gpus: int = 0
