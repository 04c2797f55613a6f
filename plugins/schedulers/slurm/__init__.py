"""The `slurm` scheduler: sbatch/squeue/sacct/scancel/scontrol/sinfo through their CLIs.

- render: plugins/schedulers/slurm/render.py (pure, golden-tested)
- submit: `sbatch --parsable`, run as the job's user (root submits on a user's behalf with
  runuser); Slurm's refusal reaches the user in words, an unreachable controller is
  SchedulerUnavailable (the core then leaves no job row)
- poll: ONE `squeue --json` for all live jobs; only jobs that left the queue cost one more
  `sacct` (or `sacct -c`, the job-completion log, when accounting is off). A failed query is
  `unknown`; the exit_code file the job script writes is the ground truth for success; an id
  whose --comment names another job (ids reused after a controller reset) is not ours.
- ranks: launcher "srun" — hooks/jairun runs one `srun --kill-on-bad-exit=1` step whose tasks
  each run `jairun rank` and find their rank from SLURM_PROCID.
pyslurm is not used: PyPI has no build for Slurm 22.05 (see `hpcai plugins`).
"""

from __future__ import annotations

import os
import pwd
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from core.api import JobRef, Scheduler, ScriptContext
from core.errors import HpcaiError, SchedulerUnavailable, ValidationError
from core.hookspecs import hookimpl
from core.jobfiles import combine_statuses, plan_field, read_int
from core.plan import LaunchPlan
from core.types import ClusterInfo, JobState, JobStatus
from plugins.schedulers.slurm import render as rendering
from plugins.schedulers.slurm.status import (
    ENDED_WHY,
    SACCT_FIELDS,
    STATES,
    AcctRecord,
    SlurmJob,
    parse_sacct,
    parse_squeue_json,
    reason_words,
)

DEFAULT_COMMANDS = {"sbatch": "sbatch", "squeue": "squeue", "sacct": "sacct", "scancel": "scancel",
                    "scontrol": "scontrol", "sinfo": "sinfo"}
# Words in Slurm's stderr that mean "the controller is not there", not "your job is wrong".
UNREACHABLE = ("Unable to contact slurm controller", "Socket timed out", "Connection refused",
               "Zero Bytes were transmitted", "Unable to establish Slurm connection")


def _pyslurm_note() -> str:
    try:
        import pyslurm  # type: ignore[import-not-found]
    except Exception:
        return "CLI (pyslurm not installed; PyPI has none for Slurm 22.05)"
    return f"CLI (pyslurm {getattr(pyslurm, '__version__', '?')} present, used only when it matches Slurm)"


class SlurmScheduler(Scheduler):
    name = "slurm"
    title = "Slurm"
    description = "Submits through sbatch; one batched squeue per watcher cycle."
    capabilities = frozenset({"arrays", "hetjobs", "suspend", "gpus", "queues"})
    launcher = "srun"

    def configure(self, settings: dict[str, Any], spool: str) -> None:
        super().configure(settings, spool)
        self._arrays: set[str] = set()  # ids this process submitted as arrays (output_path)
        self.commands = {**DEFAULT_COMMANDS, **settings.get("commands", {})}
        self.timeout = float(settings.get("timeout", 30))
        self.cache_seconds = float(settings.get("cluster_info_cache", 10))
        self.accounting = str(settings.get("accounting", "auto"))  # auto | sacct | jobcomp
        self.env = dict(os.environ)
        if settings.get("slurm_conf"):
            self.env["SLURM_CONF"] = str(settings["slurm_conf"])
        self.commands_run = 0  # counted for bench/ (commands per watcher cycle)
        # After a failed squeue, wait 2, 4, 8 ... 60 s before asking again (lesson 1).
        self._retry_at = 0.0
        self._backoff = 0.0
        self._last_error = ""
        self._info_cache: tuple[float, dict[str, Any]] | None = None

    def status_note(self) -> str:
        return _pyslurm_note()

    # --- commands ----------------------------------------------------------------------------

    def _run(self, tool: str, args: list[str], as_user: str | None = None) -> subprocess.CompletedProcess[str]:
        cmd = self.commands[tool]
        argv = (list(cmd) if isinstance(cmd, list) else cmd.split()) + args
        if as_user is not None:
            argv = ["runuser", "-u", as_user, "--"] + argv
        self.commands_run += 1
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout,
                                  env=self.env, stdin=subprocess.DEVNULL)
        except FileNotFoundError as exc:
            raise SchedulerUnavailable(f"{argv[0]} is not installed on this host",
                                       fix="install the Slurm client or set [schedulers.slurm] commands") from exc
        except subprocess.TimeoutExpired as exc:
            raise SchedulerUnavailable(f"`{' '.join(argv[:2])}` did not answer within {self.timeout:.0f} s",
                                       fix="check that slurmctld runs (scontrol ping)") from exc

    @staticmethod
    def _errors(proc: subprocess.CompletedProcess[str]) -> str:
        lines = [ln.split("error:", 1)[-1].strip() for ln in proc.stderr.splitlines() if ln.strip()]
        return "; ".join(dict.fromkeys(lines)) or f"exit status {proc.returncode}"

    def _check(self, proc: subprocess.CompletedProcess[str], what: str) -> str:
        if proc.returncode == 0:
            return proc.stdout
        words = self._errors(proc)
        if any(u in proc.stderr for u in UNREACHABLE):
            raise SchedulerUnavailable(f"Slurm is unreachable ({what}): {words}",
                                       fix="try again when slurmctld is back; nothing was changed")
        raise HpcaiError(f"Slurm refused to {what}: {words}")

    # --- submission --------------------------------------------------------------------------

    def render(self, plan: LaunchPlan, ctx: ScriptContext) -> str:
        return rendering.render(plan, ctx, self.settings)

    def _submit_user(self, user: str) -> str | None:
        """Root submits as the job's user so the job runs under their uid."""
        if os.getuid() != 0 or user == "root":
            return None
        try:
            pwd.getpwnam(user)
        except KeyError:
            raise ValidationError(f"there is no Unix account '{user}' to run the job as", field="user",
                                  fix="jobs run as their submitter; create the account on the cluster") from None
        return user

    def submit(self, plan: LaunchPlan, script_path: str, ctx: ScriptContext) -> str:
        proc = self._run("sbatch", ["--parsable", script_path], as_user=self._submit_user(plan.user))
        if proc.returncode != 0:
            words = self._errors(proc)
            if any(u in proc.stderr for u in UNREACHABLE):
                raise SchedulerUnavailable(f"Slurm is unreachable, the job was not submitted: {words}",
                                           fix="try again when slurmctld is back")
            field = "queue" if "partition" in words.lower() else "resource_spec"
            raise ValidationError(f"Slurm refused the job: {words}", field=field,
                                  fix="choose a queue/partition and resource spec the cluster can run "
                                      "(`sinfo` lists them)")
        job_id = proc.stdout.strip().split(";")[0]
        if not job_id.isdigit():
            raise HpcaiError(f"sbatch answered '{proc.stdout.strip()}' instead of a job id")
        if plan.array_size:
            self._arrays.add(job_id)
        return job_id

    # --- the watcher -------------------------------------------------------------------------

    def poll(self, refs: list[JobRef]) -> dict[str, JobStatus]:
        if not refs:
            return {}
        try:
            if time.monotonic() < self._retry_at:
                raise HpcaiError(f"{self._last_error} (next try in {self._retry_at - time.monotonic():.0f} s)")
            proc = self._run("squeue", ["--json"])
            queue = parse_squeue_json(self._check(proc, "list the queue"))
            self._backoff = 0.0
        except (HpcaiError, ValueError) as exc:
            if time.monotonic() >= self._retry_at:
                self._last_error = str(exc)
                self._backoff = min(max(self._backoff * 2, 2.0), 60.0)
                self._retry_at = time.monotonic() + self._backoff
            # Unknown, never finished (lesson 2) — unless the job itself left its exit code.
            return {r.scheduler_job_id: self._from_files(r) or
                    JobStatus(JobState.UNKNOWN, "QUERY_FAILED", f"Slurm could not be asked: {exc}")
                    for r in refs}
        by_id: dict[str, list[SlurmJob]] = {}
        for j in queue:
            by_id.setdefault(j.array_job_id or j.het_job_id or j.job_id, []).append(j)
        out: dict[str, JobStatus] = {}
        gone: list[JobRef] = []
        for ref in refs:
            members = [m for m in by_id.get(ref.scheduler_job_id, []) if self._ours(m, ref)]
            if members:
                out[ref.scheduler_job_id] = self._from_queue(members, ref)
            else:
                gone.append(ref)
        if gone:
            out.update(self._from_accounting(gone))
        return out

    @staticmethod
    def _uuid(ref: JobRef) -> str:
        return Path(ref.job_dir).name

    def _ours(self, job: SlurmJob, ref: JobRef) -> bool:
        """Ids restart after a controller loses its state: the comment says whose job it is."""
        return not job.comment.startswith("hpcai:") or job.comment == f"hpcai:{self._uuid(ref)}"

    def _one(self, job: SlurmJob, ref: JobRef, plan_limit: str | None) -> JobStatus:
        state = STATES.get(job.state, JobState.UNKNOWN)
        hosts = job.nodes or None
        ec_file = Path(ref.job_dir) / ("exit_code" if job.array_task_id is None else f"exit_code.{job.array_task_id}")
        code = read_int(ec_file)
        if code is None and job.exit_status is not None and state.terminal:
            code = job.exit_status >> 8 if job.exit_status > 255 or job.exit_status % 256 == 0 \
                else 128 + (job.exit_status & 0x7F)
        if state == JobState.QUEUED:
            return JobStatus(state, job.state, reason_words(job.reason))
        if not state.terminal:
            if state == JobState.RUNNING and code is not None and job.state == "COMPLETING":
                state = JobState.SUCCEEDED if code == 0 else JobState.FAILED
            else:
                why = "suspended" if state == JobState.SUSPENDED else None
                return JobStatus(state, job.state, why, start_time=job.start, exec_hosts=hosts)
        if job.state in ("COMPLETED", "FAILED", "COMPLETING") and code is not None:
            state = JobState.SUCCEEDED if code == 0 else JobState.FAILED  # the file is the truth
        why = ENDED_WHY.get(job.state)
        if job.state == "TIMEOUT" and plan_limit:
            why = f"time limit of {plan_limit} exceeded"
        elif state == JobState.FAILED and why is None:
            why = f"exited with code {code}" if code is not None else reason_words(job.reason)
        return JobStatus(state, job.state, why, code, job.start, job.end, hosts)

    def _from_queue(self, members: list[SlurmJob], ref: JobRef) -> JobStatus:
        limit = _time_limit(ref)
        return combine_statuses([self._one(m, ref, limit) for m in members])

    def _from_files(self, ref: JobRef) -> JobStatus | None:
        """The exit_code file(s) alone: the job script wrote them as its last act."""
        files = sorted(Path(ref.job_dir).glob("exit_code*"))
        codes = [c for c in (read_int(f) for f in files) if c is not None]
        if not codes or len(codes) < plan_field(ref.job_dir, "array_size", 0):
            return None  # no file yet, or array tasks still to come
        worst = max(codes)
        if worst == 0:
            return JobStatus(JobState.SUCCEEDED, "COMPLETED", None, 0)
        return JobStatus(JobState.FAILED, "FAILED", f"exited with code {worst}", worst)

    def _accounting_query(self, ids: list[str]) -> dict[str, AcctRecord] | None:
        args = ["-X", "-n", "-P", "-o", SACCT_FIELDS, "-j", ",".join(ids)]
        modes = {"sacct": [[]], "jobcomp": [["-c"]]}.get(self.accounting, [[], ["-c"]])
        for extra in modes:
            proc = self._run("sacct", extra + args)
            if proc.returncode == 0 and "accounting storage is disabled" not in proc.stderr.lower() \
                    and "slurm accounting storage is disabled" not in proc.stdout.lower():
                return parse_sacct(proc.stdout)
            if self.accounting == "auto" and extra == [] and "disabled" in (proc.stderr + proc.stdout).lower():
                self.accounting = "jobcomp"  # remember: this cluster has only the completion log
                continue
        return None

    def _from_accounting(self, refs: list[JobRef]) -> dict[str, JobStatus]:
        """Jobs no longer in the queue: one sacct call for all of them, then their files."""
        try:
            records = self._accounting_query([r.scheduler_job_id for r in refs])
        except HpcaiError:
            records = None
        out: dict[str, JobStatus] = {}
        for ref in refs:
            rec = (records or {}).get(ref.scheduler_job_id)
            if rec is not None and rec.submit is not None and _submitted_before(rec, ref):
                rec = None  # an older job that had the same id
            files = self._from_files(ref)
            if rec is not None:
                job = SlurmJob(rec.job_id, rec.state, None,
                               None if rec.exit_code is None else rec.exit_code << 8, "", rec.nodes,
                               rec.start, rec.end)
                out[ref.scheduler_job_id] = self._one(job, ref, _time_limit(ref))
            elif files is not None:
                out[ref.scheduler_job_id] = files
            else:
                why = "Slurm could not be asked" if records is None else \
                    f"Slurm no longer knows job {ref.scheduler_job_id} and it left no exit code"
                out[ref.scheduler_job_id] = JobStatus(JobState.UNKNOWN, "NOT_FOUND", why)
        return out

    # --- control -----------------------------------------------------------------------------

    def cancel(self, ref: JobRef) -> None:
        self._check(self._run("scancel", [ref.scheduler_job_id]), f"cancel job {ref.scheduler_job_id}")

    def suspend(self, ref: JobRef) -> None:
        self._check(self._run("scontrol", ["suspend", ref.scheduler_job_id]),
                    f"suspend job {ref.scheduler_job_id} (only root or a Slurm operator may)")

    def resume(self, ref: JobRef) -> None:
        self._check(self._run("scontrol", ["resume", ref.scheduler_job_id]),
                    f"resume job {ref.scheduler_job_id} (only root or a Slurm operator may)")

    # --- cluster information -----------------------------------------------------------------

    def _snapshot(self) -> dict[str, Any]:
        """Per partition: CPUs (allocated/idle/other/total), GPUs, and jobs by state. Cached."""
        now = time.monotonic()
        if self._info_cache and now - self._info_cache[0] < self.cache_seconds:
            return self._info_cache[1]
        cpus = self._check(self._run("sinfo", ["-h", "-o", "%P|%C|%G"]), "list partitions")
        jobs = self._check(self._run("squeue", ["-h", "-o", "%P|%T|%b"]), "list the queue")
        parts: dict[str, dict[str, int]] = {}
        for line in cpus.splitlines():
            name, cpu, gres = (line.split("|") + ["", ""])[:3]
            a, i, _o, t = (int(x) for x in cpu.split("/"))
            default = name.endswith("*")  # sinfo marks the default partition with a star
            name = name.rstrip("*")
            p = parts.setdefault(name, {"alloc": 0, "idle": 0, "total": 0, "gpus": 0, "pending": 0,
                                        "running": 0, "gpus_used": 0, "default": 0})
            p["default"] = p["default"] or int(default)
            p["alloc"] += a
            p["idle"] += i
            p["total"] += t
            p["gpus"] += _gpu_count(gres)
        for line in jobs.splitlines():
            name, state, gres = (line.split("|") + ["", ""])[:3]
            for part in name.split(","):
                p = parts.get(part)
                if p is None:
                    continue
                if state == "PENDING":
                    p["pending"] += 1
                elif state in ("RUNNING", "SUSPENDED", "COMPLETING", "CONFIGURING"):
                    p["running"] += 1
                    p["gpus_used"] += _gpu_count(gres)
        self._info_cache = (now, parts)
        return parts

    def cluster_info(self, queue: str | None = None) -> ClusterInfo:
        parts = self._snapshot()
        partition = rendering.partition_for(queue, 0, self.settings)
        if partition is None:  # no queue: where Slurm would put the job
            partition = next((n for n, p in parts.items() if p["default"]), None)
        chosen = [p for n, p in parts.items() if partition is None or n == partition]
        if partition is not None and not chosen:
            raise ValidationError(f"Slurm has no partition '{partition}'", field="queue",
                                  fix="choose one of: " + ", ".join(sorted(parts)))
        total = lambda k: sum(p[k] for p in chosen)  # noqa: E731
        return ClusterInfo(queue=queue, free_cpus=total("idle"), total_cpus=total("total"),
                           queued_jobs=total("pending"), running_jobs=total("running"),
                           free_gpus=max(total("gpus") - total("gpus_used"), 0))

    def output_path(self, pattern: str, scheduler_job_id: str) -> str:
        # An array's tasks write output.<id>_<task>.txt (render.py); the job's output is task 0's.
        sid = f"{scheduler_job_id}_0" if scheduler_job_id in self._arrays else scheduler_job_id
        return pattern.replace("%J", sid).replace("%j", sid)


def _gpu_count(gres: str) -> int:
    """`gpu:tesla:2`, `gpu:2(S:0)`, `gres/gpu:1` ... -> GPUs named (0 for `(null)`)."""
    n = 0
    for item in gres.split(","):
        item = item.split("(")[0]
        if "gpu" not in item:
            continue
        last = item.rsplit(":", 1)[-1]
        n += int(last) if last.isdigit() else 1
    return n




def _time_limit(ref: JobRef) -> str | None:
    minutes = plan_field(ref.job_dir, "time_limit_min", None)
    return f"{minutes} min" if minutes else None


def _submitted_before(rec: AcctRecord, ref: JobRef) -> bool:
    """True when accounting's job of this id was submitted before our job directory existed."""
    try:
        made = datetime.fromtimestamp((Path(ref.job_dir) / "plan.json").stat().st_mtime, timezone.utc)
    except OSError:
        return False
    return rec.submit is not None and (made - rec.submit).total_seconds() > 120


@hookimpl
def hpcai_schedulers() -> list[Scheduler]:
    return [SlurmScheduler()]
