"""The life of a training job: request -> validation -> plan -> script -> scheduler -> store.

Nothing here knows a concrete framework, mode, runtime or scheduler; they are looked up in
the registry by name and talk to the core through the descriptors of core.api.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import socket
import sys
import uuid as uuidlib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update

from core import schema as schemas
from core.api import Framework, JobRef, ParallelMode, Runtime, Scheduler, ScriptContext
from core.errors import HpcaiError, NotFound, PermissionDenied, SchedulerUnavailable, ValidationError, ValidationErrors
from core.jobschema import CORE_FIELDS, core_schema
from core.plan import LaunchPlan, ResourceRequest, template_names
from core.ports import allocate_ports, release_ports, release_ports_in
from core.store import JobRow, id_in_range
from core.types import LIVE_STATES, JobRequest, JobState, JobStatus, Mount
from core.identity import IdentityMap, RunAs
from core.users import groups_of as unix_groups_of
from core.users import chown_tree
from core.users import is_admin as unix_is_admin
from core.watcher import hint_target

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from core.platform import Platform

SOURCE_ROOT = Path(__file__).resolve().parent.parent
JAIRUN = SOURCE_ROOT / "hooks" / "jairun"
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Variables that say who and what a job is (its id, directory, user, tracking run and token): the
# platform sets them; a user's value would be silently preferred by the job side, so it is refused.
# (MLFLOW_TRACKING_URI stays the user's: logging to a server of their own is their choice.)
PLATFORM_ENV = re.compile(r"^(HPCAI_|LSB_JOBID$|MLFLOW_(TRACKING_(TOKEN|USERNAME|PASSWORD)$|RUN_ID$|EXPERIMENT_))")


def parse_env_list(text: str | dict[str, str] | None, field: str = "env") -> dict[str, str]:
    """`ENV1=a,ENV2=b` (the product's form) -> dict. `\\,` keeps a comma inside a value."""
    if text is None or text == "":
        return {}
    if isinstance(text, dict):
        pairs = list(text.items())
    else:
        pairs = []
        for item in re.split(r"(?<!\\),", text):
            item = item.strip().replace("\\,", ",")
            if not item:
                continue
            if "=" not in item:
                raise ValidationError(f"'{item}' is not KEY=value", field=field,
                                      fix="write comma-separated KEY=value pairs, e.g. ENV1=test1,ENV2=test2")
            key, value = item.split("=", 1)
            pairs.append((key.strip(), value))
    out: dict[str, str] = {}
    for key, value in pairs:
        if not ENV_NAME.match(key):
            raise ValidationError(f"'{key}' is not a valid environment variable name", field=field,
                                  fix="use letters, digits and _ and start with a letter or _")
        out[key] = str(value)
    return out


def parse_mount(text: str, field: str = "mounts") -> Mount:
    """`SRC[:MOUNT_POINT][:ro]` -> Mount."""
    parts = text.split(":")
    if not parts[0]:
        raise ValidationError(f"'{text}' has no mount directory", field=field,
                              fix="write SRC or SRC:MOUNT_POINT, e.g. /data/mnist:/data")
    readonly = len(parts) > 1 and parts[-1] in ("ro", "rw") and parts.pop() == "ro"
    return Mount(source=parts[0], target=parts[1] if len(parts) > 1 and parts[1] else None,
                 readonly=readonly)


@dataclass
class Prepared:
    """A fully validated job, ready to be written and submitted (or shown by --dry-run)."""

    request: JobRequest
    plan: LaunchPlan
    scheduler: Scheduler
    framework: Framework | None
    mode: ParallelMode
    runtime: Runtime
    job_dir: Path
    stdout: str
    stderr: str | None
    body: str
    ports_needed: int
    warnings: list[str] = field(default_factory=list)  # shown to the user; the job still runs

    def context(self, python: str = sys.executable) -> ScriptContext:
        return ScriptContext(job_dir=str(self.job_dir), cwd=self.request.cwd or self.plan.workdir,
                             body=str(self.job_dir / "body.sh"),
                             stdout=self.stdout, stderr=self.stderr, job_name=self.plan.name,
                             env=job_environment(self), python=python)

    def script(self) -> str:
        return self.scheduler.render(self.plan, self.context())


def job_environment(prep: Prepared) -> dict[str, str]:
    """Variables every job's batch script exports (read by hooks/jairun and by users)."""
    return {
        "HPCAI_JOB_UUID": prep.plan.job_uuid,
        "HPCAI_JOB_DIR": str(prep.job_dir),
        "HPCAI_PYTHON": sys.executable,
        "HPCAI_JAIRUN": str(JAIRUN),
        "HPCAI_HOME": str(SOURCE_ROOT),
        "JHSCHEDULER_TOP": str(SOURCE_ROOT / "hooks" / "jhscheduler"),
    }


class JobService:
    def __init__(self, platform: "Platform"):
        self.p = platform

    # --- who ---------------------------------------------------------------------------------

    def is_admin(self, user: str) -> bool:
        """Unix administrators (root, hpcai-admin) and platform accounts with the admin role."""
        return unix_is_admin(user) or self.p.accounts.is_admin(user)

    def run_as(self, user: str, source: str) -> RunAs:
        """The Unix identity `user`'s code runs as (refused when there is none; core.identity)."""
        return IdentityMap(self.p.config.identity).for_job(user, source)

    def groups_of(self, user: str) -> list[str]:
        return sorted(set(unix_groups_of(user)) | set(self.p.accounts.groups_of(user)))

    # --- schema -----------------------------------------------------------------------------

    #: field -> the scheduler capability it needs
    CAPABILITY_FIELDS = {"array_size": ("arrays", "job arrays"), "queue": ("queues", "queues")}

    def _scheduler_fields(self, schema: dict[str, Any], scheduler: str) -> None:
        try:
            caps = getattr(self.p.registry.get("scheduler", scheduler), "capabilities", frozenset())
        except ValidationError:
            return  # an unknown scheduler is refused with its own message at submission
        for name, (cap, words) in self.CAPABILITY_FIELDS.items():
            if name in schema["properties"] and cap not in caps:
                schema["properties"][name]["x-not-applicable"] = f"the {scheduler} scheduler has no {words}"

    def framework_names(self) -> list[str]:
        """Enabled frameworks in the form's order: the site's `[portal] framework_order` first
        (its first is the form's default), then Framework.order, then name."""
        infos = self.p.registry.list("framework", enabled_only=True)
        site = [str(n) for n in self.p.config.raw.get("portal", {}).get("framework_order", [])]
        rank = {name: i for i, name in enumerate(site)}
        return [i.name for i in sorted(infos, key=lambda i: (rank.get(i.name, len(rank)),
                                                             getattr(i.descriptor, "order", 100), i.name))]

    def form_schema(self, framework: str | None = None, mode: str | None = None,
                    runtime: str | None = None, user: str | None = None,
                    scheduler: str | None = None) -> dict[str, Any]:
        """The merged schema of a training form for this framework/mode/runtime choice.

        With `user`, defaults that depend on the user (their classification level) are filled.
        Fields the chosen scheduler cannot honour (arrays, queues) are marked
        `x-not-applicable` with the reason, so a form hides them instead of refusing them later.
        """
        reg = self.p.registry
        fw: Framework | None = reg.get("framework", framework) if framework else None
        installed = reg.names("mode")
        modes = [m for m in fw.modes if m in installed] if fw else installed
        if fw and mode and mode not in modes:
            raise ValidationError(f"framework {fw.name} does not offer mode '{mode}'", field="mode",
                                  fix=f"choose one of: {', '.join(modes)}")
        base = core_schema(self.framework_names(), modes, reg.names("runtime"),
                           reg.names("scheduler"), [i.name for i in self.p.images.images])
        if fw:
            base["properties"]["name"]["default"] = fw.default_job_name or fw.name
            if fw.command_hint:
                base["properties"]["command"]["description"] = fw.command_hint
            base["properties"]["mode"]["default"] = modes[0] if modes else None
            tagged = self.p.images.tagged(fw.image_tag)
            if tagged:
                base["properties"]["image"]["default"] = tagged[0].name
        base["properties"]["framework"]["x-enum-labels"] = {i.name: i.title for i in reg.list("framework", True)}
        base["properties"]["mode"]["x-enum-labels"] = {i.name: i.title for i in reg.list("mode", True)}
        self._site_fields(base, user)
        base["properties"]["runtime"]["default"] = self.p.config.default_runtime
        base["properties"]["scheduler"]["default"] = self.p.config.default_scheduler
        fragments: list[tuple[str, dict[str, Any]]] = [("core", base)]
        if fw:
            fragments.append((f"framework {fw.name}", fw.option_schema()))
        mode_name = mode or (modes[0] if fw and modes else None)
        if mode_name:
            fragments.append((f"mode {mode_name}", reg.get("mode", mode_name).option_schema()))
        rt = reg.get("runtime", runtime or self.p.config.default_runtime)
        fragments.append((f"runtime {rt.name}", rt.option_schema()))
        for opt in reg.list("option", enabled_only=True):
            fragments.append((f"option {opt.name}", opt.descriptor.option_schema()))
        merged = schemas.merge(fragments)
        self._scheduler_fields(merged, scheduler or self.p.config.default_scheduler)
        if fw and mode_name in fw.gpu_only_modes and not self.p.config.allow_cpu_for_gpu_only:
            self._gpu_only_pickers(merged, fw, mode_name)
        return merged

    def _site_fields(self, base: dict[str, Any], user: str | None) -> None:
        """F1: the classification field only while the feature is on; F3: the node's shm default."""
        level = self._user_level(user) if user else None
        prop = self.p.settings.classification_property(level)
        if prop is not None:
            base["properties"]["classification"] = prop
        shm = self.p.settings.default_shm_mb()
        if shm is not None:
            base["properties"]["shm_mb"]["default"] = shm

    def _user_level(self, user: str) -> str | None:
        acct = self.p.accounts.find(user)
        return acct.classification if acct is not None else None

    def _gpu_only_pickers(self, schema: dict[str, Any], fw: Framework, mode: str) -> None:
        """MindSpore and DeepSpeed take GPU specs only (spec 03 §2.1); say so on each picker,
        and say why the form cannot be sent when the site has no GPU spec at all."""
        has_gpu_spec = any(spec.kind == "gpu" for spec in self.p.specs.all())
        for prop in schema["properties"].values():
            if prop.get("x-widget") != "resource-spec":
                continue
            prop["x-spec-kind"] = "gpu"
            prop["description"] = f"GPU resource specs only ({fw.title} {mode})"
            if not has_gpu_spec:
                prop["x-unavailable"] = (f"this site defines no GPU resource spec; {fw.title} {mode} "
                                         f"jobs need one (ask the site admin)")

    def request_from_values(self, values: dict[str, Any], user: str, source: str) -> JobRequest:
        """Flat form/CLI/API values -> JobRequest (core fields typed, the rest as options)."""
        core = {k: values[k] for k in CORE_FIELDS if values.get(k) is not None}
        options = {k: v for k, v in values.items() if k not in CORE_FIELDS and v is not None}
        mounts = [m if isinstance(m, Mount) else
                  (parse_mount(m) if isinstance(m, str) else Mount(**m)) for m in core.pop("mounts", [])]
        env = parse_env_list(core.pop("env", None))
        return JobRequest(user=user, command=core.pop("command", ""), workdir=core.pop("workdir", ""),
                          mounts=mounts, env=env, options=options, source=source, **core)

    # --- validation and planning -------------------------------------------------------------

    def prepare(self, req: JobRequest) -> Prepared:
        """Validate everything and build the plan. No side effects: --dry-run calls only this."""
        reg = self.p.registry
        warnings: list[str] = []
        run_as = self.run_as(req.user, req.source)  # refused first: nothing else matters without one
        scheduler = reg.scheduler(req.scheduler or self.p.config.default_scheduler)
        image = None
        if req.image:
            image = self.p.images.resolve(req.image, user=req.user)
        # per job, else per image (a container image names its runtime), else per site
        runtime: Runtime = reg.get("runtime", req.runtime or (image.runtime if image else None)
                                   or self.p.config.default_runtime)
        if req.framework is None and image is not None and image.frameworks and req.batch_script is not None:
            req.framework = image.frameworks[0]  # a #BSUB script names only the image
        fw: Framework | None = reg.get("framework", req.framework) if req.framework else None
        if fw is None and req.batch_script is None:
            raise ValidationError("is required", field="framework",
                                  fix="choose one of: " + ", ".join(reg.names("framework")))
        mode_name = req.mode or (fw.modes[0] if fw else "standalone")
        mode: ParallelMode = reg.get("mode", mode_name, "mode")
        if fw and mode_name not in fw.modes:
            raise ValidationError(f"framework {fw.name} does not offer mode '{mode_name}'", field="mode",
                                  fix=f"choose one of: {', '.join(fw.modes)}")
        req.mode = mode_name
        if fw and image is None:
            tagged = self.p.images.tagged(fw.image_tag)
            if not tagged:
                raise ValidationError(f"no image in the catalog is tagged {fw.image_tag}", field="image",
                                      fix="add one to etc/images.toml or give --image")
            image = tagged[0]
        if image is not None:
            req.image = image.name
            tagged_for_fw = fw is not None and fw.image_tag.lower() in (t.lower() for t in image.tags)
            if fw and fw.image_tag and image.frameworks and fw.name not in image.frameworks:
                raise ValidationError(f"image '{image.name}' does not contain {fw.title} "
                                      f"(it has {', '.join(image.frameworks)})", field="image",
                                      fix="choose one of: "
                                      + ", ".join(i.name for i in self.p.images.tagged(fw.image_tag)))
            if fw and fw.image_tag and not tagged_for_fw:
                warnings.append(f"image '{image.name}' is not tagged {fw.image_tag}; "
                                f"make sure it contains {fw.title}")
            why = runtime.check_image(image)
            if why:
                raise ValidationError(why, field="image")
        req.name = req.name or (fw.default_job_name if fw else None) or "job"
        if not self.p.settings.classification_enabled():
            req.classification = None  # F1: the feature is off, so no job carries a level
        elif req.classification in (None, ""):
            levels = self.p.settings.classification_levels()
            level = self._user_level(req.user)
            req.classification = level if level in levels else levels[0]  # F2: the owner's level

        # Field-level checks against the merged schema: every error at once, each named.
        values = {k: getattr(req, k) for k in CORE_FIELDS if k not in ("mounts",)}
        values["mounts"] = [asdict(m) for m in req.mounts]
        values.update(req.options)
        values["command"] = req.command if req.command != "" else None
        values["workdir"] = req.workdir or None
        values["scheduler"] = scheduler.name
        values["runtime"] = runtime.name
        schema = self.form_schema(fw.name if fw else None, mode_name, runtime.name)
        if req.groups is not None or req.batch_script is not None:
            # Topology came from a machine file: the mode's spec pickers do not apply.
            for name in mode.topology_fields:
                schema["properties"].pop(name, None)
            schema["required"] = [r for r in schema["required"] if r in schema["properties"]]
        values = schemas.with_defaults(schema, values)
        if fw is None:
            schema["required"] = [r for r in schema["required"] if r != "framework"]
        if req.batch_script is not None and not req.command:
            schema["required"] = [r for r in schema["required"] if r != "command"]
        errors = schemas.validate(schema, values)
        if errors:
            raise ValidationErrors(errors)
        req.options = {k: values[k] for k in values if k not in CORE_FIELDS}

        workdir = Path(os.path.expanduser(req.workdir)) if req.workdir else Path.cwd()
        if not workdir.is_dir():
            raise ValidationError(f"directory {workdir} does not exist", field="workdir",
                                  fix="give an existing project directory (the one holding your code)")
        req.workdir = str(workdir.resolve())
        for m in req.mounts:
            if not Path(m.source).exists():
                raise ValidationError(f"mount directory {m.source} does not exist", field="mounts")
            if getattr(runtime, "isolates_mounts", False):
                self.p.workspace.check(req.user, m.source, field="mounts")

        # Topology: from the machine file, or from the mode's fields and the resource specs.
        user_groups = self.groups_of(req.user)
        gpu_only = bool(fw and mode_name in fw.gpu_only_modes)

        if gpu_only and self.p.config.allow_cpu_for_gpu_only:
            gpu_only = False  # a CPU-only test site runs GPU frameworks on CPU (its choice)

        def spec(field_name: str, name: str) -> ResourceRequest:
            found = self.p.specs.get_visible(name, req.user, user_groups, field_name)
            if gpu_only and found.kind != "gpu":
                gpu_specs = [s.name for s in self.p.specs.visible(req.user, user_groups) if s.kind == "gpu"]
                fix = ("choose a GPU spec: " + ", ".join(gpu_specs)) if gpu_specs else \
                    ("this site defines no GPU resource spec you may use; ask the admin for one "
                     "(a CPU-only test site may set [core] allow_cpu_for_gpu_only = true)")
                raise ValidationError(f"{fw.title} {mode_name} jobs need a GPU resource spec; "
                                      f"'{name}' is a CPU spec", field=field_name, fix=fix)
            return found.to_request()

        groups = req.groups if req.groups is not None else mode.groups_from_options(req.options, spec)
        for g in groups:
            if g.count < 1:
                raise ValidationError("instance count must be at least 1", field="instances")
        argv = ["/bin/bash", "-c", req.command] if req.command else []
        roles = mode.roles(groups, argv)
        if fw:
            roles = fw.adjust_roles(mode_name, roles)

        self._check_env(req, fw, mode)
        reg.hook.hpcai_validate_job(request=req, user=req.user)
        reg.hook.hpcai_amend_job(request=req, user=req.user)

        job_uuid = str(uuidlib.uuid4())
        job_dir = self.p.config.spool / req.user / job_uuid
        plan = LaunchPlan(job_uuid=job_uuid, name=req.name, user=req.user, roles=roles,
                          workdir=str(job_dir / "exec") if req.create_exec_dir else req.workdir,
                          framework=fw.name if fw else None, mode=mode_name, runtime=runtime.name,
                          scheduler=scheduler.name, env=dict(req.env), queue=req.queue,
                          options=dict(req.options),
                          time_limit_min=req.time_limit_min, launcher=scheduler.launcher,
                          array_size=req.array_size or 0, rank_ports=mode.rank_ports,
                          run_as=run_as.as_dict())
        hint = hint_target(self.p.config)
        if hint:  # hooks/jairun tells the watcher when ranks start and end (a wake-up, not a state)
            plan.env.setdefault("HPCAI_WATCHER_HINT", hint)
        if plan.array_size and "arrays" not in scheduler.capabilities:
            raise ValidationError(f"the {scheduler.name} scheduler does not run job arrays",
                                  field="array_size", fix="drop the array size or choose another scheduler")
        for opt in reg.list("option", enabled_only=True):
            opt.descriptor.apply(req, plan)
        self._contract(plan, fw, mode, runtime, image, req)
        for opt in reg.list("option", enabled_only=True):
            opt.descriptor.prepare(req, plan, self.p)
        scheduler.check(plan)
        if req.cwd and not Path(req.cwd).is_dir():
            raise ValidationError(f"directory {req.cwd} does not exist", field="cwd",
                                  fix="give an existing working directory (#BSUB -cwd)")
        base = Path(req.cwd or plan.workdir)
        stdout = str(base / req.stdout) if req.stdout else str(job_dir / "output.%J.txt")
        stderr = str(base / req.stderr) if req.stderr else None
        body = req.batch_script if req.batch_script is not None else \
            '#!/bin/bash\nexec "$HPCAI_PYTHON" "$HPCAI_JAIRUN" run "$HPCAI_JOB_DIR/plan.json"\n'
        return Prepared(request=req, plan=plan, scheduler=scheduler, framework=fw, mode=mode,
                        runtime=runtime, job_dir=job_dir, stdout=stdout, stderr=stderr, body=body,
                        ports_needed=mode.ports + req.extra_ports + mode.rank_ports * plan.world_size,
                        warnings=warnings)

    def _check_env(self, req: JobRequest, fw: Framework | None, mode: ParallelMode) -> None:
        """Framework and mode declare the variables they set; overlaps are refused (lesson 5)."""
        owners: dict[str, str] = {}
        declared = [(f"mode {mode.name}", mode.reserved_env)]
        if fw:
            declared.insert(0, (f"framework {fw.name}", fw.reserved_env.get(mode.name, ())))
        for owner, names in declared:
            for n in names:
                if n in owners:
                    raise HpcaiError(f"environment variable {n} is set by both {owners[n]} and {owner}",
                                     field="mode", fix="disable one of the two plugins or fix their declarations")
                owners[n] = owner
        for n in req.env:
            if PLATFORM_ENV.match(n):
                raise ValidationError(f"{n} is set by the platform for every job", field="env",
                                      fix=f"remove {n}: the job's identity, directory and tracking run "
                                          "are the platform's to say")
            if n in owners:
                raise ValidationError(f"{n} is set by {owners[n]} for every rank", field="env",
                                      fix=f"remove {n} from the environment variables")

    def _contract(self, plan: LaunchPlan, fw: Framework | None, mode: ParallelMode,
                  runtime: Runtime, image: Any, req: JobRequest) -> None:
        """Fill each role's env (framework contract + mode env) and wrap its argv in the runtime."""
        fw_env = fw.contract(plan.mode, plan) if fw else {}
        mode_env = mode.env(plan)
        for role in plan.roles:
            env = dict(mode_env.get(role.name, {}))
            env.update(fw_env.get(role.name, {}))
            if fw:
                role.argv = fw.rewrite_argv(plan.mode, role, role.argv)
            wrapped = runtime.wrap(role.argv, image, req.mounts, env, role.request.gpus, req.shm_mb)
            role.argv = wrapped.argv
            role.env = {**wrapped.env, **env}
            for value in list(role.env.values()) + role.argv:
                for name in template_names(value):
                    base = name.split(".")[0]
                    if base.startswith("port") and base[4:].isdigit() and int(base[4:]) >= mode.ports + req.extra_ports:
                        raise HpcaiError(f"plugin template uses {{{{{name}}}}} but only "
                                         f"{mode.ports + req.extra_ports} port(s) are allocated",
                                         fix="declare the ports the mode needs")

    # --- submission --------------------------------------------------------------------------

    def submit(self, req: JobRequest) -> JobRow:
        prep = self.prepare(req)
        return self.submit_prepared(prep)

    def submit_prepared(self, prep: Prepared) -> JobRow:
        """Submit a prepared job. A plan with array_size K > 1 on a scheduler without arrays
        becomes K jobs (names `name[i]`, env HPCAI_ARRAY_INDEX=i); the first one is returned."""
        size = prep.plan.array_size
        if size <= 1 or "arrays" in prep.scheduler.capabilities:
            return self._submit_one(prep)
        copies = [_array_copy(prep, i, self.p.config.spool) for i in range(size)]
        first = self._submit_one(copies[0])
        for copy in copies[1:]:
            copy.plan.env["HPCAI_ARRAY_FIRST_JOB"] = str(first.id)
            self._submit_one(copy)
        return first

    def _submit_one(self, prep: Prepared) -> JobRow:
        plan, req = prep.plan, prep.request
        store = self.p.store
        with store.session() as s:
            row = JobRow(uuid=plan.job_uuid, user=req.user, project=req.project, name=plan.name,
                         framework=plan.framework, mode=plan.mode, runtime=plan.runtime,
                         image=req.image, scheduler=plan.scheduler, queue=req.queue,
                         state=JobState.QUEUED.value, raw_state="SUBMITTING",
                         job_dir=str(prep.job_dir), request=_jsonable(req), plan={}, script="",
                         source=req.source, from_host=socket.gethostname())
            s.add(row)
        try:
            plan.ports = allocate_ports(store, plan.job_uuid, prep.ports_needed, self.p.config.port_range)
            self._write_job_dir(prep)
            for opt in self.p.registry.list("option", enabled_only=True):
                opt.descriptor.populate(req, plan, prep.job_dir, self.p)
            ctx = prep.context()
            script = prep.scheduler.render(plan, ctx)
            script_path = prep.job_dir / "job.sh"
            script_path.write_text(script)
            script_path.chmod(0o755)
            sched_id = prep.scheduler.submit(plan, str(script_path), ctx)
        except BaseException:
            self._forget(plan.job_uuid, prep.job_dir)
            raise
        with store.session() as s:
            row = s.scalars(select(JobRow).where(JobRow.uuid == plan.job_uuid)).one()
            row.scheduler_job_id = sched_id
            row.raw_state = "SUBMITTED"
            row.plan = _without_unstored(json.loads(plan.to_json()))
            row.script = script
            row.stdout_path = prep.scheduler.output_path(prep.stdout, sched_id)
        self._link_output(prep, sched_id)
        return row

    def _write_job_dir(self, prep: Prepared) -> None:
        d = prep.job_dir
        d.mkdir(parents=True, exist_ok=False)
        (d / "logs").mkdir()
        if prep.request.create_exec_dir:
            shutil.copytree(prep.request.workdir, d / "exec", symlinks=True)
        (d / "plan.json").write_text(prep.plan.to_json())
        (d / "request.json").write_text(json.dumps(_jsonable(prep.request), indent=2))
        body = d / "body.sh"
        body.write_text(prep.body)
        body.chmod(0o755)
        chown_tree(d, RunAs.from_dict(prep.plan.run_as), include_parent=True,
                   mode=self.p.config.identity.job_dir_mode)

    def _link_output(self, prep: Prepared, sched_id: str) -> None:
        """When #BSUB -o put the log elsewhere, the job directory still has output.<id>.txt."""
        out = Path(prep.scheduler.output_path(prep.stdout, sched_id))
        link = prep.job_dir / f"output.{sched_id}.txt"
        if out != link and not link.exists():
            try:
                link.symlink_to(out)
            except OSError:
                pass

    def _forget(self, job_uuid: str, job_dir: Path) -> None:
        """Undo a failed submission: no job row, no ports, no job directory."""
        release_ports(self.p.store, job_uuid)
        with self.p.store.session() as s:
            for row in s.scalars(select(JobRow).where(JobRow.uuid == job_uuid)):
                s.delete(row)
        shutil.rmtree(job_dir, ignore_errors=True)

    # --- reading -----------------------------------------------------------------------------

    def option_report(self, ref: str | int, user: str, option: str) -> dict[str, Any]:
        """What a job option produced for this job (auto-tuning: the study's results)."""
        row = self.get(ref, user)
        desc = self.p.registry.get("option", option, "option")
        report = desc.report(_option_job(row))
        if report is None:
            raise ValidationError(f"job {row.id} did not use {option}", field="job",
                                  fix=f"give a job submitted with --{option}")
        return report

    def option_reports(self, ref: str | int, user: str) -> list[dict[str, Any]]:
        """Every enabled job option's report for this job (those that have one), for the job
        page and the API: [{"option", "title", "report"} or {"option", "title", "error"}]. A
        report that cannot be made (a study database down) is an error entry, not a failure."""
        row = self.get(ref, user)
        out: list[dict[str, Any]] = []
        for name in self.p.registry.names("option"):
            desc = self.p.registry.get("option", name, "option")
            entry: dict[str, Any] = {"option": name, "title": desc.title}
            try:
                report = desc.report(_option_job(row))
            except HpcaiError as exc:
                entry["error"] = exc.message
            except Exception as exc:  # noqa: BLE001 - one option's failure must not hide the job
                log.warning("report of option %s for job %s failed: %s", name, row.id, exc)
                entry["error"] = f"{exc.__class__.__name__}: {exc}"
            else:
                if report is None:
                    continue
                entry["report"] = report
            out.append(entry)
        return out

    def get(self, ref: str | int, user: str) -> JobRow:
        """A job by id, scheduler id (`local:12` or `12` when unambiguous) or uuid prefix."""
        text = str(ref).strip()
        with self.p.store.session() as s:
            row = None
            if text.isdigit() and id_in_range(int(text)):
                row = s.get(JobRow, int(text))
            if row is None and ":" in text:
                sched, sid = text.split(":", 1)
                row = s.scalars(select(JobRow).where(JobRow.scheduler == sched,
                                                     JobRow.scheduler_job_id == sid)
                                .order_by(JobRow.id.desc())).first()  # newest: ids get reused
            if row is None and len(text) >= 6:
                row = s.scalars(select(JobRow).where(JobRow.uuid.startswith(text))).first()
        if row is None:
            raise NotFound(f"no job '{ref}'", field="job", fix="see `hpcai jobs` for your jobs")
        if row.user != user and not self.is_admin(user):
            raise NotFound(f"no job '{ref}'", field="job", fix="see `hpcai jobs` for your jobs")
        return row

    def get_by_scheduler_id(self, sched_id: str, user: str, scheduler: str | None = None) -> JobRow:
        scheduler = scheduler or self.p.config.default_scheduler
        with self.p.store.session() as s:
            # A scheduler reuses ids after it loses its state (Slurm after a reinstall): the
            # newest job with this id is the one the user means.
            row = s.scalars(select(JobRow).where(JobRow.scheduler == scheduler,
                                                 JobRow.scheduler_job_id == sched_id)
                            .order_by(JobRow.id.desc())).first()
        if row is None or (row.user != user and not self.is_admin(user)):
            raise NotFound(f"no job <{sched_id}>", field="job", fix="see `jjobs` for your jobs")
        return row

    def list(self, user: str, all_users: bool = False, states: list[str] | None = None,
             framework: str | None = None, name: str | None = None, limit: int = 100,
             offset: int = 0) -> tuple[list[JobRow], int]:
        q = select(JobRow)
        if not (all_users and self.is_admin(user)):
            q = q.where(JobRow.user == user)
        if states:
            q = q.where(JobRow.state.in_(states))
        if framework:
            q = q.where(JobRow.framework == framework)
        if name:
            q = q.where(JobRow.name.contains(name))
        with self.p.store.session() as s:
            total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
            rows = list(s.scalars(q.order_by(JobRow.id.desc()).limit(limit).offset(offset)))
        return rows, total

    # --- state -------------------------------------------------------------------------------

    def refresh(self, scheduler_names: list[str] | None = None) -> int:
        """Ask each scheduler once about all its live jobs and record what changed.

        A failed query marks jobs `unknown`, never finished (lesson 2). Returns changes made.
        At cluster scale (thousands of live jobs) the cost is one scheduler command, one narrow
        read of the live rows and one transaction holding only the rows whose status changed.
        """
        live = [s.value for s in LIVE_STATES]
        query = select(*_WATCHED).where(JobRow.state.in_(live), JobRow.scheduler_job_id.is_not(None))
        if scheduler_names is not None:
            query = query.where(JobRow.scheduler.in_(scheduler_names))
        with self.p.store.session() as s:
            rows = list(s.execute(query))
        by_sched: dict[str, list[Any]] = {}
        for row in rows:
            by_sched.setdefault(row.scheduler, []).append(row)
        changed: list[tuple[Any, JobStatus]] = []
        for name, jobs in by_sched.items():
            refs = [JobRef(r.scheduler_job_id or "", r.job_dir) for r in jobs]
            try:
                statuses = self.p.registry.scheduler(name).poll(refs)
            except (SchedulerUnavailable, HpcaiError, OSError) as exc:
                statuses = {r.scheduler_job_id: JobStatus(JobState.UNKNOWN, "QUERY_FAILED", str(exc))
                            for r in refs}
            for row in jobs:
                st = statuses.get(row.scheduler_job_id or "")
                if st is not None and not _same_status(row, st):
                    changed.append((row, st))
        return self._record_many(changed)

    def record(self, job_uuid: str, st: JobStatus) -> int:
        """Record one job's status (1 when it changed, else 0)."""
        with self.p.store.session() as s:
            row = s.execute(select(*_WATCHED).where(JobRow.uuid == job_uuid)).first()
        if row is None:
            raise NotFound(f"no job with uuid {job_uuid}", field="job")
        return 0 if _same_status(row, st) else self._record_many([(row, st)])

    def _record_many(self, changes: list[tuple[Any, JobStatus]]) -> int:
        """Write the changed statuses in one transaction (one UPDATE by primary key, executed for
        many rows), release the ports of ended jobs in it, then run the state-change hooks (a
        site's hook must never hold the transaction open)."""
        if not changes:
            return 0
        values: list[dict[str, Any]] = []
        moved: dict[int, tuple[JobState, JobState]] = {}
        for row, st in changes:
            v: dict[str, Any] = {"id": row.id, "state": st.state.value, "raw_state": st.raw_state,
                                 "reason": st.reason}
            # A field the scheduler did not report keeps what was recorded.
            for name in ("exit_code", "start_time", "end_time", "exec_hosts"):
                if getattr(st, name):
                    v[name] = getattr(st, name)
            if st.exit_code == 0:
                v["exit_code"] = 0
            values.append(v)
            if row.state != st.state.value:
                moved[row.id] = (JobState(row.state), st.state)
        ended = [row.uuid for row, st in changes if st.state.terminal]
        with self.p.store.session() as s:
            s.execute(update(JobRow), values)
            release_ports_in(s, ended)
        if moved:
            self._state_changed(moved)
        return len(changes)

    def _state_changed(self, moved: dict[int, tuple[JobState, JobState]]) -> None:
        ids = list(moved)
        with self.p.store.session() as s:
            rows = [r for i in range(0, len(ids), 500)
                    for r in s.scalars(select(JobRow).where(JobRow.id.in_(ids[i:i + 500])))]
        for row in rows:
            old, new = moved[row.id]
            try:
                self.p.registry.hook.hpcai_job_state_changed(job=row, old=old, new=new)
            except Exception as exc:  # a site's notification hook must not break state tracking
                print(f"hpcai: job_state_changed hook failed: {exc}", file=sys.stderr)
            if row.source == "pipeline" and new == JobState.SUCCEEDED:
                try:  # a run's trained models land in the model registry (F149/F150)
                    for what in self.p.pipelines.job_ended(row):
                        print(f"hpcai: job {row.id}: registered model {what}", file=sys.stderr)
                except Exception as exc:  # the job stays succeeded; its files stay in the instance data
                    print(f"hpcai: job {row.id}: registering its models failed: {exc}", file=sys.stderr)

    # --- control -----------------------------------------------------------------------------

    def _control(self, ref: str | int, user: str, action: str) -> JobRow:
        row = self.get(ref, user)
        if row.user != user and not self.is_admin(user):
            raise PermissionDenied(f"job {row.id} belongs to {row.user}", field="job")
        self.refresh([row.scheduler])
        row = self.get(row.id, user)
        state = JobState(row.state)
        if state.terminal:
            raise ValidationError(f"job {row.id} has already ended ({state.value})", field="job")
        if action == "suspend" and state != JobState.RUNNING:
            raise ValidationError(f"job {row.id} is {state.value}; only running jobs can be suspended",
                                  field="job")
        if action == "resume" and state != JobState.SUSPENDED:
            raise ValidationError(f"job {row.id} is {state.value}, not suspended", field="job")
        sched = self.p.registry.scheduler(row.scheduler)
        getattr(sched, action)(JobRef(row.scheduler_job_id or "", row.job_dir))
        self.refresh([row.scheduler])
        return self.get(row.id, user)

    def kill(self, ref: str | int, user: str) -> JobRow:
        return self._control(ref, user, "cancel")

    def suspend(self, ref: str | int, user: str) -> JobRow:
        return self._control(ref, user, "suspend")

    def resume(self, ref: str | int, user: str) -> JobRow:
        return self._control(ref, user, "resume")

    def delete(self, ref: str | int, user: str) -> None:
        """Forget an ended job: its record, ports and job directory. Live jobs are refused."""
        row = self.get(ref, user)
        if not JobState(row.state).terminal:
            raise ValidationError(f"job {row.id} is {row.state}; only ended jobs can be deleted",
                                  field="job", fix="kill it first")
        self._forget(row.uuid, Path(row.job_dir))


# The columns the watcher reads for every live job (not the request, plan and script).
_WATCHED = (JobRow.id, JobRow.uuid, JobRow.scheduler, JobRow.scheduler_job_id, JobRow.job_dir,
            JobRow.state, JobRow.raw_state, JobRow.exit_code, JobRow.reason)


def _same_status(row: Any, st: JobStatus) -> bool:
    return (row.state == st.state.value and row.raw_state == st.raw_state
            and row.exit_code == st.exit_code and row.reason == st.reason)


def _option_job(row: JobRow) -> dict[str, Any]:
    """What JobOption.report sees of a job."""
    return {"id": row.id, "uuid": row.uuid, "name": row.name, "state": row.state,
            "job_dir": row.job_dir, "plan": row.plan or {}, "request": row.request or {}}


def _array_copy(prep: Prepared, index: int, spool: Path) -> Prepared:
    """Copy `index` of an array job, for schedulers without arrays: its own uuid and directory."""
    import copy

    plan = copy.deepcopy(prep.plan)
    plan.env["HPCAI_ARRAY_INDEX"] = str(index)
    plan.env["HPCAI_ARRAY_SIZE"] = str(prep.plan.array_size)
    if index == 0:
        return replace(prep, plan=plan)
    plan.job_uuid = str(uuidlib.uuid4())
    plan.name = f"{prep.plan.name}[{index}]"
    job_dir = spool / prep.request.user / plan.job_uuid
    if prep.request.create_exec_dir:
        plan.workdir = str(job_dir / "exec")
    req = copy.deepcopy(prep.request)
    req.name = plan.name
    old = str(prep.job_dir)
    return replace(prep, request=req, plan=plan, job_dir=job_dir,
                   stdout=prep.stdout.replace(old, str(job_dir)),
                   stderr=prep.stderr.replace(old, str(job_dir)) if prep.stderr else None)


# Secrets the platform adds to a job's env for the job alone (its user's tracking password):
# the job gets them in its own 0700 directory; the stored request, shown by the API, does not.
UNSTORED_ENV = frozenset({"MLFLOW_TRACKING_PASSWORD"})


def _without_unstored(data: dict[str, Any]) -> dict[str, Any]:
    data["env"] = {k: v for k, v in (data.get("env") or {}).items() if k not in UNSTORED_ENV}
    return data


def _jsonable(req: JobRequest) -> dict[str, Any]:
    return _without_unstored(json.loads(json.dumps(asdict(req), default=str)))

