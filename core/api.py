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

from core.errors import ValidationError
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
    #: place in the form's framework list, lowest first (the product's: TensorFlow, PyTorch, MXNet,
    #: PaddlePaddle, MindSpore, DeepSpeed); the first is the form's default
    order: int = 100
    #: words under the run command in the form (e.g. Paddle's multi-card launcher, F108)
    command_hint: str = ""
    #: modes in which only GPU resource specs are allowed (MindSpore, DeepSpeed)
    gpu_only_modes: tuple[str, ...] = ()
    #: environment variables this plugin sets per mode; conflicts are refused at submit time
    reserved_env: dict[str, tuple[str, ...]] = {}
    #: the service type (by name) that shows this framework's training logs, e.g. "tensorboard";
    #: job details offer it over the job's directory when that service type is enabled (F113)
    dashboard: str = ""
    #: the label of that link on the job page ("Access TensorBoard")
    dashboard_title: str = ""

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
        """Amend the plan for the values this option received (no-op when it is switched off).

        Called by JobService.prepare after the mode built the roles and before the framework
        contract and the runtime wrap each role's argv. Raise ValidationError for bad values:
        nothing has been created yet."""

    def report(self, job: dict[str, Any]) -> dict[str, Any] | None:
        """What this option produced for one job (e.g. a study's results), or None when the job
        did not use it. `job` has the job's `uuid`, `job_dir`, `state`, `plan` and `request`.

        The API and CLI return the dict as it is. Its optional `view` key is what the portal's
        job page shows, in order, with no code of its own per option: a list of blocks
          {"kind": "fields", "title": T, "items": [[label, value], ...]}
          {"kind": "table", "title": T, "columns": [name, ...], "rows": [[cell, ...], ...]}
          {"kind": "pages", "title": T, "files": [{"title": T, "path": P}, ...]}
        where P is an HTML page inside the job directory (relative to it; shown in a sandboxed
        frame, its relative links served from the same directory)."""
        return None

    def prepare(self, request: JobRequest, plan: LaunchPlan, platform: Any) -> None:
        """Called once per job after the plan is built (also by --dry-run): validate this
        option's values against the platform (e.g. that named datasets exist) and amend the
        plan. The default calls `apply`."""
        self.apply(request, plan)

    def populate(self, request: JobRequest, plan: LaunchPlan, job_dir: Any, platform: Any) -> None:
        """Called after the job directory is written and before the scheduler sees the job:
        put files the job needs there (a materialised dataset ...). An error undoes the
        submission."""


@dataclass(frozen=True)
class JobLink:
    """A link or action a plugin adds to a job's detail page and API (hpcai_job_links).

    `href` is a path of the portal (or any URL) to open; `service` names a service type that
    the core starts (or reuses) over the job's directory, opened through /dockerService/."""

    id: str  # stable, unique per job page ("experiment-data", "dashboard-tensorboard")
    title: str
    href: str = ""
    service: str = ""
    description: str = ""
    #: what the job list's icon shows: "dashboard", "experiment", "logs", "link" (portal's set);
    #: empty: the title's first letter
    icon: str = ""


# --- datasets ----------------------------------------------------------------------------------

@dataclass
class DataFile:
    """One file of a dataset as a preview lists it (path relative to the dataset's root)."""

    path: str
    size: int
    label: str | None = None  # from the annotation mode (folder name, file name, label file)
    mtime: float | None = None  # last update (seconds since the epoch), where the backend knows it


@dataclass
class Table:
    """The first rows of a tabular dataset. `rows` hold strings or numbers, as read."""

    columns: list[str]
    rows: list[list[Any]]
    truncated: bool  # more rows exist than were read


@dataclass
class DatasetContext:
    """What the platform hands a backend besides the dataset's options."""

    user: str
    #: resolves a user-given path and refuses it outside the user's allowed roots
    check_path: Callable[[str, str], Any]
    #: [datasets] section of etc/hpcai.toml (hdfs_root, connect_timeout_s, statement_timeout_s)
    settings: dict[str, Any] = field(default_factory=dict)
    classification_enabled: bool = False

    def setting(self, name: str, default: Any) -> Any:
        return self.settings.get(name, default)


class DatasetBackend(Descriptor):
    """A storage backend of datasets (data files, PostgreSQL, HDFS, MySQL ...).

    A dataset is a category (numeric, image, video, audio, text, other) plus the options of
    one backend. Options named in `secret_fields` are stored encrypted and never shown back;
    the platform passes them decrypted to the methods below.
    """

    kind: ClassVar[str] = "dataset_backend"
    #: dataset categories this backend can hold, in the order the portal lists them
    categories: tuple[str, ...] = ()
    #: True: shared by handing out the connection (database, HDFS); False: files are copied
    connection_based: bool = False
    secret_fields: tuple[str, ...] = ()
    #: whether `materialise` can turn the dataset into a CSV for a job
    tabular: bool = False

    def normalise(self, category: str, options: dict[str, Any], ctx: DatasetContext) -> dict[str, Any]:
        """Check the options a user gave (beyond the schema) and return what to store; raise
        ValidationError naming the field. Called before anything is stored."""
        return options

    def test_connection(self, options: dict[str, Any], ctx: DatasetContext) -> str:
        """A sentence saying the source answers; raise ValidationError (field + the server's
        message in words) when it does not. Must return within the configured timeout."""
        return "ok"

    @abstractmethod
    def list_files(self, category: str, options: dict[str, Any], ctx: DatasetContext,
                   limit: int) -> tuple[list[DataFile], bool]:
        """The dataset's files (at most `limit`) and whether more exist. [] for databases."""
        ...

    @abstractmethod
    def preview(self, category: str, options: dict[str, Any], ctx: DatasetContext, rows: int,
                file: str | None = None) -> Table:
        """The first `rows` rows (of `file` for file-based datasets), read as a stream: never
        the whole dataset."""
        ...

    def open_file(self, options: dict[str, Any], ctx: DatasetContext, file: str,
                  max_bytes: int) -> tuple[bytes, bool]:
        """Up to `max_bytes` of one file (thumbnails, players, text) and whether it was cut."""
        raise ValidationError("this backend has no files", field="file")

    def read_range(self, options: dict[str, Any], ctx: DatasetContext, file: str, start: int,
                   length: int) -> bytes:
        """`length` bytes of one file from byte `start` (media players ask by HTTP range). The
        default reads from the beginning; backends that can seek override it."""
        data, _ = self.open_file(options, ctx, file, start + length)
        return data[start:start + length]

    def location(self, options: dict[str, Any], ctx: DatasetContext) -> str:
        """Where the files lie, as users write it (a directory, hdfs://host:port/path): the
        prefix of each file's full path in lists. '' for databases."""
        return ""

    def job_env(self, options: dict[str, Any], prefix: str, ctx: DatasetContext) -> dict[str, str]:
        """Non-secret variables a job that uses this dataset gets (`<prefix>_PATH`, `_HOST` ...)."""
        return {}

    def materialise(self, options: dict[str, Any], ctx: DatasetContext, dest: Any) -> int:
        """Write the dataset's rows as CSV (header first) to the path `dest`; return the row count."""
        raise ValidationError(f"{self.title or self.name} datasets cannot be written as CSV",
                              field="dataset_csv")

    def copy_to(self, category: str, options: dict[str, Any], ctx: DatasetContext, dest: Any,
                progress: Callable[[float], None]) -> dict[str, Any]:
        """Copy the dataset's files into the directory `dest` (sharing, F175), calling
        `progress(fraction)` as it goes; return the options of the copy."""
        raise ValidationError(f"{self.title or self.name} datasets are shared by connection, not copied",
                              field="share_directory")


# --- services (spec 06 §services): long-lived servers run as scheduler jobs ---------------------

@dataclass
class ServiceContext:
    """What a service type knows when it builds its start plan (all job-side paths)."""

    alias: str
    user: str
    job_dir: str  # `{job_dir}` in argv is resolved job-side; this is the same directory
    base_path: str  # the proxy prefix, e.g. /dockerService/tensorboard-alice-1a2b3c4d


@dataclass
class StartPlan:
    """How the job side starts a service. `{port}`, `{port1}`.. `{bind}`, `{job_dir}`,
    `{base_path}` and `{secret}` in argv, env values, `files`, `prepare` and `cleanup` are filled
    in by hooks/svcrun with the ports the platform allocated to the job and its per-instance
    secret. Unless `native_auth`, svcrun puts its authenticating gate on the proxied port and
    the server listens on a private loopback port (`{port}` is then that one)."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    ports: int = 1  # ports allocated to the job; the first is the one the proxy forwards to
    # The server checks `{secret}` itself (a Jupyter token, a code-server or VNC password) and
    # ProxyRules.secret_headers tells the proxy how to present it; otherwise svcrun's gate does.
    native_auth: bool = False
    health_path: str = "/"
    files: dict[str, str] = field(default_factory=dict)  # relative path in job dir -> content
    prepare: list[list[str]] = field(default_factory=list)  # commands run before the server
    # commands run after the server ended or was stopped (e.g. `podman-compose down`: the
    # containers of a compose project outlive the `up` process that a stop signals)
    cleanup: list[list[str]] = field(default_factory=list)
    cwd: str | None = None
    ready_timeout_s: int = 300
    # a Prometheus text endpoint of the server (e.g. TorchServe's metrics API), read job-side
    # with every usage sample: the detail page's "Service metrics" (F246)
    metrics_url: str | None = None
    # directories the runtime mounts into a container image (a development environment's home,
    # working directory and extra mounts); host processes see the node's file system anyway
    mounts: list[Mount] = field(default_factory=list)


@dataclass
class ProxyRules:
    """How /dockerService/<alias>/... maps onto the service."""

    strip_prefix: bool = True  # forward `/x` (True) or `/dockerService/<alias>/x` (False)
    upstream_prefix: str = ""  # prepended to the forwarded path (custom services' proxy path)
    rewrite_redirects: bool = True
    rewrite_cookie_path: bool = True
    request_headers: dict[str, str] = field(default_factory=dict)  # added when absent
    # headers the proxy sends with `{secret}` filled in (types with native_auth), e.g.
    # {"Authorization": "token {secret}"} for Jupyter; never the visitor's own
    secret_headers: dict[str, str] = field(default_factory=dict)


class ServiceType(Descriptor):
    kind: ClassVar[str] = "service"
    #: the product's classification column (visualization, serving, compose, custom)
    category: str = "custom"
    #: model-serving types may be protected by API keys (`auth` option)
    api_keys: bool = False
    #: the binary (or Python module) the type needs on the node; shown by `hpcai plugins`
    requires: str = ""
    #: runs on CPU resource specs only (the product's visualisation types, F228)
    cpu_only: bool = False
    #: runs on GPU resource specs only (PyTorch Serving F230, custom F234). A CPU-only site lets a
    #: type take CPU specs with [services.types.<name>] allow_cpu_specs = true (core.services)
    gpu_only: bool = False
    #: catalog image used when the user picks none (when the catalog has it)
    default_image: str = ""

    def check(self, options: dict[str, Any]) -> None:
        """Pre-start checks (model directory layout, files exist); raise ValidationError."""

    @abstractmethod
    def start_plan(self, options: dict[str, Any], ctx: ServiceContext) -> StartPlan:
        ...

    def proxy_rules(self, options: dict[str, Any]) -> ProxyRules:
        return ProxyRules()

    def auth_enabled(self, options: dict[str, Any]) -> bool:
        return self.api_keys and bool(options.get("auth"))

    def request_example(self, url: str, options: dict[str, Any]) -> str:
        """A ready-to-paste request; `url` is the external URL, keys appear as ${YOUR_API_KEY}."""
        return f"curl {url}/"

    def status_note(self) -> str:
        import shutil

        if self.requires and shutil.which(self.requires) is None:
            return f"{self.requires} is not installed on this host (it must exist on the nodes)"
        return ""


# --- development environments (spec 01): an interactive service job of one user ------------------

#: an environment's PROMPT_COMMAND: the platform's commands (jsub, jjobs, hpcai) stay on the PATH
#: of its interactive shells even after a login profile set PATH anew
PATH_GUARD = ('case ":$PATH:" in *:"$HPCAI_BIN":*) ;; *) '
              '[ -n "$HPCAI_BIN" ] && PATH="$HPCAI_BIN:$PATH" ;; esac')


class EnvironmentType(ServiceType):
    """A kind of development environment (JupyterLab, Web terminal, RStudio ...).

    It is a service type of category "environment" that core.environments creates, starts and
    stops (never My services). A plugin writes `server_plan`; `start_plan` adds what every
    environment has: one more allocated port per custom port (HPCAI_ENV_PORT_<port> = the host
    port). With SSH on, sshd runs as the user in front of the IDE on the last allocated port."""

    kind: ClassVar[str] = "environment"
    category: str = "environment"
    #: the image catalog tag its images carry (F13); "" = any image (the Web terminal)
    image_tag: str = ""
    #: the list's button that opens it (the product's card button: "Jupyter", "RStudio" ...)
    open_title: str = "Open"
    #: position in the type picker
    order: int = 100
    #: the image itself provides sshd (False: only images tagged "SSH" may switch SSH on, F22)
    ssh_builtin: bool = True
    #: ports the IDE's own server takes (server_plan's `ports`; the first is the proxied one);
    #: the custom ports and SSH's follow them in the job's allocation
    server_ports: int = 1

    def check_available(self) -> str | None:
        """Why this type cannot start on this site (its server is not installed), or None."""
        return None

    def check_spec(self, options: dict[str, Any], spec: Any) -> tuple[str, str] | None:
        """(message, fix) when the type's options do not fit the chosen resource spec (a
        Desktop's JH_GPU_MODE, F33), else None; the environment refuses it as resource_spec's."""
        return None

    def open_path(self, base_path: str, secret: str) -> str:
        """What follows the proxy path in the owner's "open" link ("" = the server's root). A
        fragment (`page#...`) reaches the browser only: no server logs it."""
        return ""

    def client_connection(self, host: str, ports: list[int], secret: str) -> dict[str, str] | None:
        """"Open in client": how a native client connects to the running instance (a Desktop's
        VNC `host:port` and password), from the job's allocated ports; shown to the owner only."""
        return None

    @abstractmethod
    def server_plan(self, options: dict[str, Any], ctx: ServiceContext) -> StartPlan:
        """The IDE's own server: argv, env, health path (its port is `{port}`)."""

    def start_plan(self, options: dict[str, Any], ctx: ServiceContext) -> StartPlan:
        why = self.check_available()
        if why:
            raise ValidationError(why, field="type", fix=f"ask the site admin to install {self.requires or self.name}")
        plan = self.server_plan(options, ctx)
        custom = [int(p) for p in options.get("ports") or []]
        for i, port in enumerate(custom, start=plan.ports):
            plan.env[f"HPCAI_ENV_PORT_{port}"] = f"{{port{i}}}"
        plan.ports += len(custom)
        plan.mounts = [Mount(str(m["source"]), m.get("target") or None, bool(m.get("readonly")))
                       for m in options.get("mounts") or []]
        if options.get("workdir"):
            plan.cwd = str(options["workdir"])
        if options.get("ssh"):
            self._with_ssh(plan, options)
        if options.get("api_token"):
            # jsub / jjobs / hpcai in the environment's shells call the portal's API as the user
            # (cli/remote.py); in the env only, never argv (a service's command line is shown)
            plan.env["HPCAI_API_TOKEN"] = str(options["api_token"])
            plan.env["HPCAI_PORTAL_URL"] = str(options.get("portal_url") or "")
            # a login shell's /etc/profile resets PATH: put the platform's bin (svcrun's
            # HPCAI_BIN) back in front before each prompt
            plan.env["PROMPT_COMMAND"] = PATH_GUARD
        return plan

    @staticmethod
    def _with_ssh(plan: StartPlan, options: dict[str, Any]) -> None:
        """sshd as the user in front of the IDE (hooks/envrun), on one more allocated port.

        core.environments gives the login, the password's hash and the home; envrun is standard
        library only, so the node's (or an SSH image's) python3 runs it, from this checkout
        mounted read-only into a container (host processes see it anyway)."""
        from core.environments import ssh

        login, hashed, home = (options.get(k) for k in ("ssh_login", "ssh_password_hash", "ssh_home"))
        if not (login and hashed and home):
            raise ValidationError("SSH is on but the environment has no SSH login", field="ssh",
                                  fix="start the environment from Development environments, which makes one")
        port = f"{{port{plan.ports}}}"
        plan.ports += 1
        plan.env["HPCAI_SSH_PORT"] = port
        plan.env[ssh.HASH_ENV] = str(hashed)  # not in argv: a service's command line is shown
        plan.argv = ssh.envrun_argv(plan.argv, port=port, login=str(login), home=str(home),
                                    workdir=plan.cwd or str(home), python="python3", bind="{listen}")
        plan.mounts.append(Mount(str(ssh.ENVRUN.parents[1]), None, True))
