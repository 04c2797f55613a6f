"""The `drmaa` scheduler: any DRMAA 1.0 scheduler through PyPI's `drmaa` (tested on Grid Engine).

- The job is a DRMAA job template whose remote command is our rendered script; the template's
  native specification is built from the request (`native_spec`, pure, shown in the script
  header and golden-tested): `-pe <pe> <slots>`, `-q <queue>`, `-l h_rt/s_rt`, `-l hostname`,
  and site-named resources for memory and GPUs.
- Every DRMAA call runs in a child process (agent.py) started with the LD_PRELOAD and
  SGE_ROOT the site's library needs, with a timeout. One status call asks about all live jobs.
- Submission runs the agent as the job's Unix identity (its uid, gid and groups): Grid Engine
  runs the job as the session's user, never as the platform's.
- A job that left the system is judged by Grid Engine's accounting (`qacct`, when configured:
  the job's user cannot rewrite it), then by the exit_code file its script wrote, and by the
  markers (cancelled: the platform's, in <spool>/.drmaa; time_limit: the script's); otherwise
  it is `unknown`, never finished.
- Time limits: s_rt = the limit (SIGUSR1: the script records `time_limit` and stops the
  body), h_rt = the limit + a grace.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from core.api import JobRef, Scheduler, ScriptContext
from core.errors import HpcaiError, SchedulerUnavailable, ValidationError
from core.hookspecs import hookimpl
from core.identity import RunAs, job_base_env
from core.jobfiles import combine_statuses, plan_field, read_int
from core.plan import LaunchPlan
from core.types import ClusterInfo, JobState, JobStatus

REPO = Path(__file__).resolve().parents[3]
GRACE_SECONDS = 30
STATES = {
    "QUEUED_ACTIVE": JobState.QUEUED, "SYSTEM_ON_HOLD": JobState.QUEUED, "USER_ON_HOLD": JobState.QUEUED,
    "USER_SYSTEM_ON_HOLD": JobState.QUEUED, "RUNNING": JobState.RUNNING,
    "SYSTEM_SUSPENDED": JobState.SUSPENDED, "USER_SUSPENDED": JobState.SUSPENDED,
    "USER_SYSTEM_SUSPENDED": JobState.SUSPENDED, "DONE": JobState.SUCCEEDED, "FAILED": JobState.FAILED,
    "UNDETERMINED": JobState.UNKNOWN,
}
PENDING_WHY = {"QUEUED_ACTIVE": "waiting in the queue for free slots",
               "SYSTEM_ON_HOLD": "held by the system", "USER_ON_HOLD": "held by the user",
               "USER_SYSTEM_ON_HOLD": "held by the user and the system"}


def _hms(seconds: int) -> str:
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def native_spec(plan: LaunchPlan, settings: dict[str, Any]) -> str:
    """The DRMAA native specification for this plan (Grid Engine syntax)."""
    parts: list[str] = []
    slots = max(plan.total_cpus, 1)
    pe = settings.get("parallel_environment", "smp")
    if pe:
        parts.append(f"-pe {pe} {slots}")
    if plan.queue:
        parts.append(f"-q {settings.get('queues', {}).get(plan.queue, plan.queue)}")
    if plan.time_limit_min:
        limit = plan.time_limit_min * 60
        parts.append(f"-l s_rt={_hms(limit)},h_rt={_hms(limit + GRACE_SECONDS)}")
    hosts = {r.request.host for r in plan.roles if r.request.host}
    if hosts:
        parts.append("-l hostname=" + "|".join(sorted(hosts)))
    mem_res = settings.get("memory_resource")  # e.g. h_vmem (per slot) where the site uses it
    mems = [r.request.mem_mb for r in plan.roles if r.request.mem_mb]
    if mem_res and mems:
        per_slot = max(-(-r.request.mem_mb // max(r.request.cpus, 1)) for r in plan.roles if r.request.mem_mb)
        parts.append(f"-l {mem_res}={per_slot}M")
    if plan.total_gpus:
        parts.append(f"-l {settings.get('gpu_resource', 'gpu')}={plan.total_gpus}")
    parts += [str(x) for x in settings.get("native_options", [])]
    return " ".join(parts)


def render(plan: LaunchPlan, ctx: ScriptContext, settings: dict[str, Any]) -> str:
    jd = shlex.quote(ctx.job_dir)
    lines = ["#!/bin/bash",
             f"# hpcai job script for DRMAA (Grid Engine): {plan.name} ({plan.job_uuid})",
             f"# native specification: {native_spec(plan, settings)}",
             f"# ranks: {plan.world_size}; slots: {plan.total_cpus}"
             + (f"; array: {plan.array_size} tasks" if plan.array_size else "")]
    lines += [f"export {k}={shlex.quote(v)}" for k, v in sorted(ctx.env.items())]
    ec_file = f"{jd}/exit_code"
    lines.append('export HPCAI_JOB_ID="${JOB_ID}"')
    if plan.array_size:
        lines.append('export HPCAI_ARRAY_INDEX="$((SGE_TASK_ID - 1))"')  # Grid Engine counts from 1
        ec_file += '."${HPCAI_ARRAY_INDEX}"'
    lines += [
        'export LSB_JOBID="${HPCAI_JOB_ID}"',
        'export HPCAI_HOSTS="$(hostname):${NSLOTS:-1}"',  # one host: the PE gives its slots here
        f"cd {shlex.quote(ctx.cwd)} || exit 1",
        # s_rt sends SIGUSR1 to the job at its time limit: record why, stop the job's processes.
        f"trap 'date +%s > {jd}/time_limit; trap \"\" TERM; kill -TERM 0 2>/dev/null' USR1",
        f"/bin/bash {shlex.quote(ctx.body)} & child=$!",
        "wait $child; ec=$?",
        'while kill -0 "$child" 2>/dev/null; do wait "$child"; ec=$?; done',
        f'echo "$ec" > {ec_file}',
        'exit "$ec"',
        "",
    ]
    return "\n".join(lines)


class DrmaaScheduler(Scheduler):
    name = "drmaa"
    title = "DRMAA (Grid Engine, ...)"
    description = "Any DRMAA 1.0 scheduler through the drmaa library; one status call per cycle."
    capabilities = frozenset({"arrays", "suspend", "queues"})

    def configure(self, settings: dict[str, Any], spool: str) -> None:
        super().configure(settings, spool)
        self.timeout = float(settings.get("timeout", 60))
        env = dict(os.environ)
        env.update({k: str(v) for k, v in settings.get("env", {}).items()})
        if settings.get("library"):
            env["DRMAA_LIBRARY_PATH"] = str(settings["library"])
        if settings.get("preload"):
            env["LD_PRELOAD"] = str(settings["preload"])
        self.env = env
        self.qacct = settings.get("qacct", "qacct")  # "" turns the accounting record off
        # The platform's own markers (cancelled ...): never in the job user's directory.
        self.markers = Path(spool) / ".drmaa"
        self.commands_run = 0
        self._array_sizes: dict[str, int] = {}

    def status_note(self) -> str:
        import importlib.util

        # Importing drmaa here would load libdrmaa without its LD_PRELOAD: only look for it.
        if importlib.util.find_spec("drmaa") is None:
            return "needs the drmaa package (pip install 'hpcai[drmaa]') and the site's libdrmaa"
        return "drmaa library present; calls run in a child process with the site's LD_PRELOAD"

    def _agent(self, op: str, request: dict[str, Any], run_as: RunAs | None = None) -> dict[str, Any]:
        """One DRMAA call in a child process; with `run_as`, the child is that Unix user (a DRMAA
        session submits as its process's user: the job runs as them, not as the platform)."""
        self.commands_run += 1
        env, drop = self.env, {}
        if run_as is not None:
            env = {**job_base_env(run_as, self.env),
                   **{k: self.env[k] for k in ("SGE_ROOT", "SGE_CELL", "DRMAA_LIBRARY_PATH", "LD_PRELOAD")
                      if k in self.env}}
            if os.getuid() == 0 and run_as.uid != 0:
                drop = {"user": run_as.uid, "group": run_as.gid, "extra_groups": list(run_as.groups)}
        try:
            proc = subprocess.run([sys.executable, "-m", "plugins.schedulers.drmaa.agent", op],
                                  input=json.dumps(request), capture_output=True, text=True,
                                  timeout=self.timeout, env=env, cwd=str(REPO), **drop)
        except subprocess.TimeoutExpired as exc:
            raise SchedulerUnavailable(f"the DRMAA {op} call did not answer within {self.timeout:.0f} s") from exc
        try:
            answer = json.loads(proc.stdout or "{}")
        except ValueError:
            answer = {}
        if proc.returncode != 0 or "error" in answer:
            why = answer.get("error") or proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
            why = why if isinstance(why, str) else why[0]
            if answer.get("unreachable") or "DrmCommunication" in why or "library" in why.lower():
                raise SchedulerUnavailable(f"the DRMAA scheduler is unreachable: {why}",
                                           fix="check that the qmaster runs and [schedulers.drmaa] env/library")
            raise HpcaiError(f"the DRMAA scheduler refused to {op}: {why}")
        return answer

    def check(self, plan: LaunchPlan) -> None:
        if plan.total_gpus and not self.settings.get("gpu_resource"):
            raise ValidationError("this DRMAA cluster has no GPU resource configured", field="resource_spec",
                                  fix="choose a CPU spec, or ask the admin to set [schedulers.drmaa] gpu_resource")

    def render(self, plan: LaunchPlan, ctx: ScriptContext) -> str:
        return render(plan, ctx, self.settings)

    def submit(self, plan: LaunchPlan, script_path: str, ctx: ScriptContext) -> str:
        if not plan.run_as:
            raise HpcaiError(f"the job of '{plan.user}' has no Unix identity to run as",
                             fix="submit it through the platform (JobService), which resolves one")
        run_as = RunAs.from_dict(plan.run_as)
        out = ctx.stdout.replace("%J", "$JOB_ID")
        err = ctx.stderr.replace("%J", "$JOB_ID") if ctx.stderr else None
        if plan.array_size:
            out = out.replace("$JOB_ID", "$JOB_ID.$drmaa_incr_ph$")
            err = err.replace("$JOB_ID", "$JOB_ID.$drmaa_incr_ph$") if err else None
        try:
            answer = self._agent("submit", {
                "command": "/bin/bash", "args": [script_path], "name": plan.name, "cwd": ctx.cwd,
                "native": native_spec(plan, self.settings), "stdout": out, "stderr": err,
                "env": {**{k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL") if k in os.environ},
                        **run_as.job_env()},
                "array": plan.array_size}, run_as=run_as)
        except HpcaiError as exc:
            if isinstance(exc, SchedulerUnavailable):
                raise
            raise ValidationError(exc.message.replace("refused to submit", "refused the job"),
                                  field="resource_spec", fix="choose a queue and spec the cluster can run") from exc
        return str(answer["job_id"])

    def poll(self, refs: list[JobRef]) -> dict[str, JobStatus]:
        if not refs:
            return {}
        ids: dict[str, list[str]] = {}
        for ref in refs:
            n = self._array_size(ref)
            ids[ref.scheduler_job_id] = [f"{ref.scheduler_job_id}.{i}" for i in range(1, n + 1)] if n \
                else [ref.scheduler_job_id]
        try:
            states = self._agent("status", {"ids": [i for v in ids.values() for i in v]})["states"]
        except HpcaiError as exc:
            return {r.scheduler_job_id: JobStatus(JobState.UNKNOWN, "QUERY_FAILED", str(exc)) for r in refs}
        out = {}
        for ref in refs:
            parts = [self._one(ref, states.get(i, "UNDETERMINED"), idx if len(ids[ref.scheduler_job_id]) > 1 else None)
                     for idx, i in enumerate(ids[ref.scheduler_job_id])]
            out[ref.scheduler_job_id] = combine_statuses(parts)
        return out

    def _one(self, ref: JobRef, raw: str, index: int | None) -> JobStatus:
        if raw not in ("GONE", "DONE", "FAILED"):  # live: no file to read (thousands per cycle)
            state = STATES.get(raw, JobState.UNKNOWN)
            return JobStatus(state, raw, PENDING_WHY.get(raw) if state == JobState.QUEUED else
                             ("suspended" if state == JobState.SUSPENDED else None))
        d = Path(ref.job_dir)
        code = read_int(d / ("exit_code" if index is None else f"exit_code.{index}"))
        if index is None and self.qacct:
            # Grid Engine's accounting is the outcome; the file is the job user's to rewrite.
            accounted = self._accounted(ref.scheduler_job_id)
            code = accounted if accounted is not None else code
        if (self.markers / f"{ref.scheduler_job_id}.cancelled").exists():
            return JobStatus(JobState.CANCELLED, "CANCELLED", "cancelled", code)
        if (d / "time_limit").exists():
            limit = plan_field(ref.job_dir, "time_limit_min", None)
            return JobStatus(JobState.FAILED, "TIMEOUT", f"time limit of {limit} min exceeded", code)
        if code is None:
            return JobStatus(JobState.UNKNOWN, raw, "the job left the scheduler without an exit code")
        if code == 0:
            return JobStatus(JobState.SUCCEEDED, raw, None, 0)
        return JobStatus(JobState.FAILED, raw, f"exited with code {code}", code)

    def _array_size(self, ref: JobRef) -> int:
        """plan.json's array size, read once per job (it never changes after submission)."""
        n = self._array_sizes.get(ref.job_dir)
        if n is None:
            n = self._array_sizes[ref.job_dir] = int(plan_field(ref.job_dir, "array_size", 0))
        return n

    def _accounted(self, job_id: str) -> int | None:
        """Grid Engine's accounting file, for a job killed before its script could answer."""
        if not self.qacct:
            return None
        try:
            proc = subprocess.run([self.qacct, "-j", job_id], capture_output=True, text=True,
                                  timeout=self.timeout, env=self.env)
        except (OSError, subprocess.TimeoutExpired):
            return None
        self.commands_run += 1
        for line in proc.stdout.splitlines():
            if line.startswith("exit_status"):
                value = line.split()[1]
                return int(value) if value.isdigit() else None
        return None

    def _control(self, ref: JobRef, action: str) -> None:
        self._agent("control", {"job_id": ref.scheduler_job_id, "action": action})

    def cancel(self, ref: JobRef) -> None:
        self.markers.mkdir(mode=0o700, parents=True, exist_ok=True)
        (self.markers / f"{ref.scheduler_job_id}.cancelled").write_text(f"{time.time()}\n")
        self._control(ref, "terminate")

    def suspend(self, ref: JobRef) -> None:
        self._control(ref, "suspend")

    def resume(self, ref: JobRef) -> None:
        self._control(ref, "resume")

    def wait(self, ref: JobRef, timeout: float = 60) -> JobStatus:
        """Block until the job ends (DRMAA wait), then report it like poll does."""
        saved = self.timeout
        self.timeout = timeout + 30
        try:
            self._agent("wait", {"job_id": ref.scheduler_job_id, "timeout": timeout})
        finally:
            self.timeout = saved
        return self.poll([ref])[ref.scheduler_job_id]

    def cluster_info(self, queue: str | None = None) -> ClusterInfo:
        """DRMAA has no cluster query; the slots come from [schedulers.drmaa] slots."""
        slots = int(self.settings.get("slots", os.cpu_count() or 1))
        return ClusterInfo(queue=queue, free_cpus=slots, total_cpus=slots, queued_jobs=0, running_jobs=0)





@hookimpl
def hpcai_schedulers() -> list[Scheduler]:
    return [DrmaaScheduler()]
