"""Descriptor base classes that plugins subclass. A plugin's hook returns instances of these.

Every descriptor has a `name` (unique within its kind), a `title` for people and an option
schema: a JSON Schema object whose properties carry UI hints (`x-widget`, `x-visible-if`,
`x-enum-labels`, `x-order`). The portal form, the CLI flags and the API validation all come
from that one schema.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

from core.plan import LaunchPlan, ResourceRequest, Role, RoleGroup
from core.types import ClusterInfo, JobRequest, JobStatus, Mount


def empty_schema() -> dict[str, Any]:
    return {"type": "object", "properties": {}, "required": []}


class Descriptor(ABC):
    kind: ClassVar[str] = "plugin"
    name: str = ""
    title: str = ""
    description: str = ""

    def option_schema(self) -> dict[str, Any]:
        """JSON Schema fragment of the fields this plugin adds to a job."""
        return empty_schema()


class Framework(Descriptor):
    kind: ClassVar[str] = "framework"
    #: parallel modes this framework offers, in the order the form lists them (first = default)
    modes: tuple[str, ...] = ("standalone",)
    #: tag an image must carry to appear in this framework's image list
    image_tag: str = ""
    #: job name the form pre-fills (spec 03 §2.1)
    default_job_name: str = ""
    #: modes in which only GPU resource specs are allowed (MindSpore, DeepSpeed)
    gpu_only_modes: tuple[str, ...] = ()
    #: environment variables this plugin sets per mode; conflicts are refused at submit time
    reserved_env: dict[str, tuple[str, ...]] = {}

    def contract(self, mode: str, plan: LaunchPlan) -> dict[str, dict[str, str]]:
        """Environment templates per role name (values may use `{{rank}}`, `{{head_host}}` ...)."""
        return {}

    def rewrite_argv(self, mode: str, role: Role, argv: list[str]) -> list[str]:
        return argv

    def adjust_roles(self, mode: str, roles: list[Role]) -> list[Role]:
        """Add the processes this framework needs besides the mode's (a TF chief, a MindSpore
        scheduler). Called after the mode built its roles, before the contract."""
        return roles


class ParallelMode(Descriptor):
    kind: ClassVar[str] = "mode"
    #: rendezvous ports the job needs (allocated per job, never shared by two live jobs)
    ports: int = 0
    #: ports every rank owns (its own endpoint: TF and Paddle PS tasks); `{{rank_port}}`
    rank_ports: int = 0
    reserved_env: tuple[str, ...] = ()
    #: option-schema fields that define the topology (counts, spec pickers); a machine file
    #: (#BSUB -mf) replaces them
    topology_fields: tuple[str, ...] = ()

    @abstractmethod
    def groups_from_options(self, options: dict[str, Any],
                            spec: Callable[[str, str], ResourceRequest]) -> list[RoleGroup]:
        """Turn the form's fields into role groups. `spec(field, name)` resolves a spec name."""
        ...

    @abstractmethod
    def roles(self, groups: list[RoleGroup], argv: list[str]) -> list[Role]:
        """Check the groups make sense for this mode and return the roles to launch."""
        ...

    def env(self, plan: LaunchPlan) -> dict[str, dict[str, str]]:
        """Environment templates per role this mode sets (host lists, hostfiles ...)."""
        return {}


@dataclass
class Image:
    """A catalog entry (etc/images.toml). For the `host` runtime `reference` is a Python prefix."""

    name: str
    runtime: str
    reference: str
    tags: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    description: str = ""
    frameworks: list[str] = field(default_factory=list)
    #: how `hpcai images build` makes this environment (pinned requirements ...); see core.envbuild
    build: dict[str, Any] = field(default_factory=dict)
    #: set for every rank that runs in this image (e.g. where compiled ops are cached)
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Wrapped:
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)


class Runtime(Descriptor):
    kind: ClassVar[str] = "runtime"

    def check_image(self, image: Image) -> str | None:
        """Return why the image cannot run here (missing environment ...), or None."""
        return None

    @abstractmethod
    def wrap(self, argv: list[str], image: Image | None, mounts: list[Mount],
             env: dict[str, str], gpus: int, shm_mb: int | None) -> Wrapped:
        ...


@dataclass
class ScriptContext:
    """What a scheduler needs besides the plan to render its batch script."""

    job_dir: str
    cwd: str  # where the batch script starts
    body: str  # path of the job body (the user's #BSUB script or our launcher line)
    stdout: str  # path, may contain %J
    stderr: str | None
    job_name: str
    env: dict[str, str]
    python: str


@dataclass
class JobRef:
    scheduler_job_id: str
    job_dir: str


class Scheduler(Descriptor):
    kind: ClassVar[str] = "scheduler"
    capabilities: frozenset[str] = frozenset()  # arrays, hetjobs, suspend, gpus, queues
    #: how hooks/jairun starts the ranks inside the allocation: "fork" (processes on the batch
    #: host, placed from HPCAI_HOSTS) or "srun" (one Slurm step; each task places itself)
    launcher: str = "fork"

    def configure(self, settings: dict[str, Any], spool: str) -> None:
        """Receive this scheduler's section of etc/hpcai.toml and the spool directory."""
        self.settings = settings
        self.spool = spool

    def check(self, plan: LaunchPlan) -> None:
        """Refuse (ValidationError) a plan this scheduler can never run: too many CPUs ..."""

    @abstractmethod
    def render(self, plan: LaunchPlan, ctx: ScriptContext) -> str:
        """The batch script, as a pure function of its inputs (golden-tested, shown by --dry-run)."""
        ...

    @abstractmethod
    def submit(self, plan: LaunchPlan, script_path: str, ctx: ScriptContext) -> str:
        """Submit and return the scheduler's job id. Raise SchedulerUnavailable when unreachable."""
        ...

    @abstractmethod
    def poll(self, refs: list[JobRef]) -> dict[str, JobStatus]:
        """One batched query for many jobs. Jobs it could not learn about map to UNKNOWN."""
        ...

    @abstractmethod
    def cancel(self, ref: JobRef) -> None:
        ...

    @abstractmethod
    def suspend(self, ref: JobRef) -> None:
        ...

    @abstractmethod
    def resume(self, ref: JobRef) -> None:
        ...

    @abstractmethod
    def cluster_info(self, queue: str | None = None) -> ClusterInfo:
        ...

    def output_path(self, pattern: str, scheduler_job_id: str) -> str:
        return pattern.replace("%J", scheduler_job_id)


class JobOption(Descriptor):
    kind: ClassVar[str] = "option"

    def apply(self, request: JobRequest, plan: LaunchPlan) -> None:
        """Amend the plan for the values this option received (no-op when it is switched off)."""
