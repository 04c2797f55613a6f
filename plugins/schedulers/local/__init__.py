"""The `local` scheduler: the embedded default, for one machine and zero setup.

Each job is its own detached supervisor (see supervisor.py) that queues FIFO for CPU slots
(and GPU slots when NVML finds GPUs), so no hpcai daemon has to stay up for jobs to run,
and any later hpcai process can report, kill, suspend or resume them.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from core import gpus
from core.api import JobRef, Scheduler, ScriptContext
from core.errors import HpcaiError, ValidationError
from core.hookspecs import hookimpl
from core.jobfiles import read_int, run_body_lines
from core.plan import LaunchPlan
from core.types import ClusterInfo, JobState, JobStatus

from plugins.schedulers.local.ledger import (Entry, Ledger, pid_alive, session_pids, signal_session,
                                             verified_session)

KILL_GRACE_SECONDS = 10.0


def _ts(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, timezone.utc) if value else None


class LocalScheduler(Scheduler):
    name = "local"
    title = "Local machine (embedded default)"
    description = "Runs jobs as process groups on this machine, FIFO by CPU and GPU slots."
    capabilities = frozenset({"suspend", "gpus"})

    def configure(self, settings: dict[str, Any], spool: str) -> None:
        super().configure(settings, spool)
        self.total_cpus = int(settings.get("cpus") or os.cpu_count() or 1)
        found = gpus.inventory() if "gpus" not in settings or "migs" not in settings else []
        self.total_gpus = int(settings["gpus"]) if "gpus" in settings else len(found)
        self.total_migs = int(settings["migs"]) if "migs" in settings else sum(len(g.mig) for g in found)
        self.poll_interval = float(settings.get("poll_interval", 0.5))
        self.ledger = Ledger(Path(spool) / ".local")

    def check(self, plan: LaunchPlan) -> None:
        if plan.total_cpus > self.total_cpus:
            raise ValidationError(
                f"the job needs {plan.total_cpus} CPU slots but this machine has {self.total_cpus}",
                field="resource_spec", fix="choose a smaller spec or fewer instances")
        mig = any(r.request.gpu_mode == "mig" for r in plan.roles if r.request.gpus)
        have = self.total_migs if mig else self.total_gpus
        if plan.total_gpus > have:
            raise ValidationError(
                f"the job needs {plan.total_gpus} {'MIG instances' if mig else 'GPUs'} "
                f"but this machine has {have}",
                field="resource_spec", fix="choose a CPU spec or fewer instances")

    def render(self, plan: LaunchPlan, ctx: ScriptContext) -> str:
        lines = [
            "#!/bin/bash",
            f"# hpcai job script for the local scheduler: {plan.name} ({plan.job_uuid})",
            f"# slots: {plan.total_cpus} CPU, {plan.total_gpus} GPU; ranks: {plan.world_size}"
            + (f"; time limit: {plan.time_limit_min} min" if plan.time_limit_min else ""),
        ]
        lines += [f"export {k}={shlex.quote(v)}" for k, v in sorted(ctx.env.items())]
        lines += run_body_lines(ctx.cwd, ctx.body, f"{shlex.quote(ctx.job_dir)}/exit_code")
        return "\n".join(lines)

    def submit(self, plan: LaunchPlan, script_path: str, ctx: ScriptContext) -> str:
        job_dir = Path(ctx.job_dir)
        if not plan.run_as:  # the core resolves who the job runs as; no identity, no job
            raise HpcaiError(f"the job of '{plan.user}' has no Unix identity to run as",
                             fix="submit it through the platform (JobService), which resolves one")
        # Kept in the platform's ledger directory, not in the job's (the job's user owns that one
        # and could rewrite whom the supervisor runs it as).
        conf = {"script": script_path, "cwd": ctx.cwd, "stdout": ctx.stdout, "stderr": ctx.stderr,
                "env": ctx.env, "total_cpus": self.total_cpus, "total_gpus": self.total_gpus,
                "total_migs": self.total_migs, "poll_interval": self.poll_interval, "run_as": plan.run_as}
        # The supervisor is spawned and its pid recorded under one lock: an entry without a pid
        # looks like a dead supervisor's to other supervisors' admit() and to poll(), which
        # retired it as LOST when two jobs were submitted at once. The new supervisor's first
        # ledger read waits for this lock, so it always finds its entry complete.
        with self.ledger.locked() as data:
            job_id = data["next_id"]
            data["next_id"] = job_id + 1
            self.ledger.write_conf(job_id, conf)
            log = open(self.ledger.conf_dir / f"{job_id}.log", "ab")  # the platform's, not in the job's directory
            try:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "plugins.schedulers.local.supervisor", str(self.ledger.dir), str(job_id)],
                    cwd=str(Path(__file__).resolve().parents[3]), stdin=subprocess.DEVNULL,
                    stdout=log, stderr=log, start_new_session=True)
            except OSError as exc:
                raise HpcaiError(f"could not start the job supervisor: {exc}") from exc
            finally:
                log.close()  # the child holds its own copy
            Ledger.put(data, Entry(id=job_id, job_dir=str(job_dir), cpus=plan.total_cpus,
                                   gpus=plan.total_gpus, submit_ts=time.time(),
                                   gpu_mode=next((r.request.gpu_mode for r in plan.roles if r.request.gpus), None),
                                   time_limit_min=plan.time_limit_min, uid=int(plan.run_as["uid"]),
                                   supervisor_pid=proc.pid))
        return str(job_id)

    def poll(self, refs: list[JobRef]) -> dict[str, JobStatus]:
        entries = self.ledger.snapshot()  # one read for all jobs
        out: dict[str, JobStatus] = {}
        for ref in refs:
            out[ref.scheduler_job_id] = self._status(entries.get(ref.scheduler_job_id), Path(ref.job_dir), entries)
        return out

    def _status(self, e: Entry | None, job_dir: Path, entries: dict[str, Entry]) -> JobStatus:
        if e is None:
            return JobStatus(JobState.UNKNOWN, "UNKNOWN", "the local ledger has no record of this job")
        times = {"start_time": _ts(e.start_ts), "end_time": _ts(e.end_ts),
                 "exec_hosts": "localhost" if e.start_ts else None}
        alive = pid_alive(e.supervisor_pid)
        if e.state != "done" and not alive:
            # The snapshot may predate the supervisor's last act: it records "done" and exits
            # between our read and the liveness check. Read again before calling the job lost.
            e = self.ledger.snapshot().get(str(e.id), e)
        if e.state == "done" or not alive:
            # The supervisor's record is the truth (the job's exit_code file is the job user's and
            # may say anything); a job whose supervisor died without one was lost.
            code = e.exit_code if e.state == "done" else None
            if code is None and e.uid is None:  # recorded by an older release: only its file knows
                code = read_int(job_dir / "exit_code")
            if e.cancelled:
                return JobStatus(JobState.CANCELLED, "CANCELLED", "killed by the user", code, **times)
            if e.timed_out:
                return JobStatus(JobState.FAILED, "TIMEOUT",
                                 f"time limit of {e.time_limit_min} min exceeded", code, **times)
            if code == 0:
                return JobStatus(JobState.SUCCEEDED, "DONE", None, 0, **times)
            if code is None:
                return JobStatus(JobState.FAILED, "LOST",
                                 "the job's supervisor ended without an exit code", None, **times)
            return JobStatus(JobState.FAILED, "EXIT", f"exited with code {code}", code, **times)
        if e.state == "queued":
            return JobStatus(JobState.QUEUED, "PEND", self._pending_reason(e, entries))
        if e.suspended:
            return JobStatus(JobState.SUSPENDED, "USUSP", "suspended by the user", **times)
        return JobStatus(JobState.RUNNING, "RUN", None, **times)

    def _pending_reason(self, e: Entry, entries: dict[str, Entry]) -> str:
        running = [x for x in entries.values() if x.state == "running" and pid_alive(x.supervisor_pid)]
        ahead = [x for x in entries.values() if x.state == "queued" and x.id < e.id]
        free = self.total_cpus - sum(x.cpus for x in running)
        if ahead:
            return f"waiting behind {len(ahead)} earlier job(s) in the queue"
        if e.gpus:
            used = sum(len(x.gpu_ids) for x in running)
            if e.gpus > self.total_gpus - used:
                return f"waiting for {e.gpus} GPU(s); {self.total_gpus - used} free"
        return f"waiting for {e.cpus} CPU slot(s); {max(free, 0)} of {self.total_cpus} free"

    def _entry(self, ref: JobRef) -> Entry:
        e = self.ledger.snapshot().get(ref.scheduler_job_id)
        if e is None:
            raise HpcaiError(f"local job {ref.scheduler_job_id} is not in the ledger")
        return e

    def cancel(self, ref: JobRef) -> None:
        with self.ledger.locked() as data:
            if ref.scheduler_job_id not in data["jobs"]:
                raise HpcaiError(f"local job {ref.scheduler_job_id} is not in the ledger")
            e = Entry(**data["jobs"][ref.scheduler_job_id])
            e.cancelled = True
            Ledger.put(data, e)
        if e.state == "queued":
            # Its supervisor sees the marker and leaves the queue on its next check.
            _wait_until(lambda: not pid_alive(e.supervisor_pid), 5 * self.poll_interval + 2)
            return
        e = self._started(e)
        sid = verified_session(e.job_sid, e.job_start, e.uid)
        if sid is None:
            return
        signal_session(sid, signal.SIGCONT, e.uid)  # a stopped process cannot act on SIGTERM
        signal_session(sid, signal.SIGTERM, e.uid)
        if not _wait_until(lambda: not session_pids(sid, e.uid), KILL_GRACE_SECONDS):
            signal_session(sid, signal.SIGKILL, e.uid)
            _wait_until(lambda: not session_pids(sid, e.uid), 5)
        _wait_until(lambda: not pid_alive(e.supervisor_pid), 5)

    def _started(self, e: Entry) -> Entry:
        if e.job_sid is None and e.state != "done":  # admitted a moment ago: the script is starting
            _wait_until(lambda: self.ledger.snapshot()[str(e.id)].job_sid is not None, 5)
            e = self.ledger.snapshot()[str(e.id)]
        return e

    def _set_suspended(self, ref: JobRef, value: bool) -> None:
        with self.ledger.locked() as data:
            e = Entry(**data["jobs"][ref.scheduler_job_id])
            e.suspended = value
            Ledger.put(data, e)

    def suspend(self, ref: JobRef) -> None:
        e = self._started(self._entry(ref))
        sid = verified_session(e.job_sid, e.job_start, e.uid)
        if sid is None or not signal_session(sid, signal.SIGSTOP, e.uid):
            raise HpcaiError(f"local job {ref.scheduler_job_id} has no running processes to suspend")
        self._set_suspended(ref, True)

    def resume(self, ref: JobRef) -> None:
        e = self._started(self._entry(ref))
        sid = verified_session(e.job_sid, e.job_start, e.uid)
        if sid is not None:
            signal_session(sid, signal.SIGCONT, e.uid)
        self._set_suspended(ref, False)

    def cluster_info(self, queue: str | None = None) -> ClusterInfo:
        entries = list(self.ledger.snapshot().values())
        running = [e for e in entries if e.state == "running" and pid_alive(e.supervisor_pid)]
        queued = [e for e in entries if e.state == "queued" and pid_alive(e.supervisor_pid)]
        used_gpus = sum(len(e.gpu_ids) for e in running)
        return ClusterInfo(queue=queue, free_cpus=max(self.total_cpus - sum(e.cpus for e in running), 0),
                           total_cpus=self.total_cpus, queued_jobs=len(queued), running_jobs=len(running),
                           free_gpus=max(self.total_gpus - used_gpus, 0))



def _wait_until(check, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    end = time.time() + timeout
    while time.time() < end:
        if check():
            return True
        time.sleep(0.05)
    return check()


@hookimpl
def hpcai_schedulers() -> list[Scheduler]:
    return [LocalScheduler()]
