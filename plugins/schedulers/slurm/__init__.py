"""The `slurm` scheduler: sbatch/squeue/sacct/scancel/scontrol/sinfo through their CLIs.

- render: plugins/schedulers/slurm/render.py (pure, golden-tested)
- submit: `sbatch --parsable`, run as the job's Unix identity (the core resolved it; root submits
  on its behalf with runuser, which sets its groups; the job gets none of the platform's env);
  Slurm's refusal reaches the user in words, an unreachable controller is SchedulerUnavailable
  (the core then leaves no job row)
- poll: ONE `squeue -O <fields>` for all live jobs (`squeue = "json"` in the settings asks
  `--json` instead); only jobs that left the queue, or ended in it (squeue -O gives no exit
  status), cost one more batched `sacct` (or `sacct -c`, the job-completion log, when accounting
  is off). A failed query is `unknown`; Slurm's record of the batch script's exit status is the
  outcome (the exit_code file the job script writes, the job user's, only when Slurm has no
  record left); an id
  whose --comment names another job (ids reused after a controller reset) is not ours.
- ranks: launcher "srun" — hooks/jairun runs one `srun --kill-on-bad-exit=1` step whose tasks
  each run `jairun rank` and find their rank from SLURM_PROCID.
pyslurm is not used: PyPI has no build for Slurm 22.05 (see `hpcai plugins`).
"""

from __future__ import annotations

import os
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from core.api import JobRef, Scheduler, ScriptContext
from core.errors import HpcaiError, SchedulerUnavailable, ValidationError
from core.hookspecs import hookimpl
from core.identity import RunAs, job_base_env
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
    SQUEUE_ARGS,
    SQUEUE_ENV,
    parse_sacct,
    parse_squeue,
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
        self.squeue_output = str(settings.get("squeue", "fields"))  # fields | json
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

    def _run(self, tool: str, args: list[str], as_user: str | None = None,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        cmd = self.commands[tool]
        argv = (list(cmd) if isinstance(cmd, list) else cmd.split()) + args
        if as_user is not None:
            argv = ["runuser", "-u", as_user, "--"] + argv
        self.commands_run += 1
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout,
                                  env=self.env if env is None else env, stdin=subprocess.DEVNULL)
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

    def check(self, plan: LaunchPlan) -> None:
        for role in plan.roles:
            r = role.request
            if r.gpus and r.gpu_mode == "mig" and not rendering.mig_type(r, self.settings):
                raise ValidationError(
                    f"resource spec '{r.spec or role.name}' asks for MIG instances, but Slurm needs "
                    "their profile (a GRES type such as 1g.5gb)", field="resource_spec",
                    fix="give the spec a gpu_type naming the MIG profile, or set "
                        "[schedulers.slurm] mig_gres_type")

    def render(self, plan: LaunchPlan, ctx: ScriptContext) -> str:
        return rendering.render(plan, ctx, self.settings)

    @staticmethod
    def _run_as(plan: LaunchPlan) -> RunAs:
        if not plan.run_as:
            raise HpcaiError(f"the job of '{plan.user}' has no Unix identity to run as",
                             fix="submit it through the platform (JobService), which resolves one")
        return RunAs.from_dict(plan.run_as)

    def submit(self, plan: LaunchPlan, script_path: str, ctx: ScriptContext) -> str:
        run_as = self._run_as(plan)
        as_user = run_as.name if os.getuid() == 0 and run_as.uid != 0 else None
        proc = self._run("sbatch", ["--parsable", script_path], as_user=as_user,
                         env=job_base_env(run_as, self.env))
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
            if self.squeue_output == "json":
                proc = self._run("squeue", ["--json"])
            else:
                proc = self._run("squeue", SQUEUE_ARGS, env={**self.env, **SQUEUE_ENV})
            queue = parse_squeue(self._check(proc, "list the queue"))
            self._backoff = 0.0
        except (HpcaiError, ValueError) as exc:
            if time.monotonic() >= self._retry_at:
                self._last_error = str(exc)
                self._backoff = min(max(self._backoff * 2, 2.0), 60.0)
                self._retry_at = time.monotonic() + self._backoff
            # Unknown, never finished (lesson 2), and never the job's own exit_code file: it is
            # the job user's, and an outage must not let it stand in for Slurm's record.
            return {r.scheduler_job_id: JobStatus(JobState.UNKNOWN, "QUERY_FAILED", f"Slurm could not be asked: {exc}")
                    for r in refs}
        by_id: dict[str, list[SlurmJob]] = {}
        for j in queue:
            by_id.setdefault(j.array_job_id or j.het_job_id or j.job_id, []).append(j)
        out: dict[str, JobStatus] = {}
        gone: list[JobRef] = []
        no_code: list[tuple[JobRef, SlurmJob]] = []
        for ref in refs:
            members = [m for m in by_id.get(ref.scheduler_job_id, []) if self._ours(m, ref)]
            if not members:
                gone.append(ref)
            elif len(members) == 1 and self._needs_exit_code(members[0], ref):
                no_code.append((ref, members[0]))
            else:
                out[ref.scheduler_job_id] = self._from_queue(members, ref)
        if gone or no_code:
            records = self._accounting([r.scheduler_job_id for r in gone] + [r.scheduler_job_id for r, _ in no_code])
            out.update(self._from_accounting(gone, records))
            for ref, job in no_code:  # ended in the queue, no exit_code file: sacct knows the code
                rec = (records or {}).get(ref.scheduler_job_id)
                if rec is not None and rec.exit_code is not None and not _submitted_before(rec, ref):
                    job.exit_status = rec.exit_code << 8
                out[ref.scheduler_job_id] = self._from_queue([job], ref)
        return out

    @staticmethod
    def _needs_exit_code(job: SlurmJob, ref: JobRef) -> bool:
        """An ended job whose exit status squeue did not give (-O has none): sacct has it, once
        per job (an ended job is not polled again). Never the exit_code file: it is the job user's."""
        if job.array_job_id or job.het_job_id or job.exit_status is not None:
            return False  # sacct -X knows array tasks by N only; Slurm's state says how they ended
        return STATES.get(job.state, JobState.UNKNOWN).terminal and job.state != "CANCELLED"

    @staticmethod
    def _uuid(ref: JobRef) -> str:
        return os.path.basename(ref.job_dir.rstrip("/"))  # not Path(): called per job per cycle

    def _ours(self, job: SlurmJob, ref: JobRef) -> bool:
        """Ids restart after a controller loses its state: the comment says whose job it is."""
        return not job.comment.startswith("hpcai:") or job.comment == f"hpcai:{self._uuid(ref)}"

    def _one(self, job: SlurmJob, ref: JobRef) -> JobStatus:
        state = STATES.get(job.state, JobState.UNKNOWN)
        hosts = job.nodes or None
        # Slurm's own record of the batch script's exit status is the outcome: the exit_code file
        # belongs to the job's user, who could rewrite it to turn a failure into a success.
        # A COMPLETING job is still running: its exit status is not final yet (a cancelled job
        # shows 0 there) and neither is any file it wrote.
        code = None
        if job.exit_status is not None and state.terminal:
            code = job.exit_status >> 8 if job.exit_status > 255 or job.exit_status % 256 == 0 \
                else 128 + (job.exit_status & 0x7F)
        if state == JobState.QUEUED:
            return JobStatus(state, job.state, reason_words(job.reason))
        if not state.terminal:
            why = "suspended" if state == JobState.SUSPENDED else None
            return JobStatus(state, job.state, why, start_time=job.start, exec_hosts=hosts)
        if job.state in ("COMPLETED", "FAILED") and code is not None:
            state = JobState.SUCCEEDED if code == 0 else JobState.FAILED
        why = ENDED_WHY.get(job.state)
        plan_limit = _time_limit(ref) if job.state == "TIMEOUT" else None
        if plan_limit:
            why = f"time limit of {plan_limit} exceeded"
        elif state == JobState.FAILED and why is None:
            why = f"exited with code {code}" if code is not None else reason_words(job.reason)
        return JobStatus(state, job.state, why, code, job.start, job.end, hosts)

    def _from_queue(self, members: list[SlurmJob], ref: JobRef) -> JobStatus:
        if len(members) == 1:  # a plain job (most of a big queue): nothing to fold
            return self._one(members[0], ref)
        return combine_statuses([self._one(m, ref) for m in members])

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

    def _accounting(self, ids: list[str]) -> dict[str, AcctRecord] | None:
        """One sacct call for all the ids (None: accounting could not be asked)."""
        try:
            return self._accounting_query(ids)
        except HpcaiError:
            return None

    def _from_accounting(self, refs: list[JobRef], records: dict[str, AcctRecord] | None) -> dict[str, JobStatus]:
        """Jobs no longer in the queue: what accounting recorded, else their files."""
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
                out[ref.scheduler_job_id] = self._one(job, ref)
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
