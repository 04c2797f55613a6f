"""The `lsf` scheduler: IBM Spectrum LSF and LSF-compatible clones, through their CLIs.

- render: a bsub script (#BSUB -J -q -n -R "rusage[mem=...]" -gpu "num=N:mode=..." -m -W -o -e
  -cwd; arrays as -J "name[1-N]"), a pure function golden-tested in tests/golden/lsf.
- submit: `bsub < script`; the job id is read with [schedulers.lsf] submit_pattern.
- poll: ONE `bjobs -json -o "<fields>" -a <ids...>` for all live jobs; records that say ERROR
  (the job left mbatchd's memory) fall back to the exit_code file, else `unknown`.
- cancel/suspend/resume: bkill, bstop, bresume. cluster_info: one bhosts + one bqueues, cached.
Command names (and the submit pattern) come from etc/hpcai.toml, so a clone whose commands are
named differently works without code. No LSF runs on our test machines: the parsers are pinned
by outputs written after the formats in IBM's LSF 10.1 documentation (tests/fixtures/lsf/).
"""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from core.api import JobRef, Scheduler, ScriptContext
from core.errors import HpcaiError, SchedulerUnavailable, ValidationError
from core.hookspecs import hookimpl
from core.identity import RunAs, job_base_env
from core.jobfiles import combine_statuses, plan_field, read_int, run_body_lines
from core.plan import LaunchPlan
from core.types import ClusterInfo, JobState, JobStatus

DEFAULT_COMMANDS = {"bsub": "bsub", "bjobs": "bjobs", "bkill": "bkill", "bstop": "bstop",
                    "bresume": "bresume", "bhosts": "bhosts", "bqueues": "bqueues"}
BJOBS_FIELDS = "jobid jobindex stat exit_code exit_reason exec_host pend_reason start_time finish_time"
STATES = {"PEND": JobState.QUEUED, "WAIT": JobState.QUEUED, "PROV": JobState.QUEUED,
          "RUN": JobState.RUNNING, "PSUSP": JobState.SUSPENDED, "USUSP": JobState.SUSPENDED,
          "SSUSP": JobState.SUSPENDED, "DONE": JobState.SUCCEEDED, "EXIT": JobState.FAILED,
          "UNKWN": JobState.UNKNOWN, "ZOMBI": JobState.UNKNOWN}
UNREACHABLE = ("LSF is down", "batch system daemon not responding", "Cannot connect", "mbatchd")


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60}:{minutes % 60:02d}"


def render(plan: LaunchPlan, ctx: ScriptContext, settings: dict[str, Any]) -> str:
    name = f"{plan.name}[1-{plan.array_size}]" if plan.array_size else plan.name
    out = ctx.stdout.replace("%J", "%J_%I") if plan.array_size else ctx.stdout
    opts = [f"-J {shlex.quote(name)}"]
    if plan.queue:
        opts.append(f"-q {settings.get('queues', {}).get(plan.queue, plan.queue)}")
    opts.append(f"-n {max(plan.total_cpus, 1)}")
    per_slot = [-(-r.request.mem_mb // max(r.request.cpus, 1)) for r in plan.roles if r.request.mem_mb]
    if per_slot:
        opts.append(f'-R "rusage[mem={max(per_slot)}]"')  # MB per slot (LSF_UNIT_FOR_LIMITS=MB)
    if plan.total_gpus:
        mode = {"shared": "shared"}.get(plan.roles[0].request.gpu_mode or "", "exclusive_process")
        per_task = max(r.request.gpus for r in plan.roles)
        gtype = next((r.request.gpu_type for r in plan.roles if r.request.gpu_type), None)
        opts.append(f'-gpu "num={per_task}:mode={mode}' + (f':gmodel={gtype}"' if gtype else '"'))
    hosts = sorted({r.request.host for r in plan.roles if r.request.host})
    if hosts:
        opts.append(f'-m "{" ".join(hosts)}"')
    if plan.time_limit_min:
        opts.append(f"-W {_hhmm(plan.time_limit_min)}")
    opts.append(f"-o {shlex.quote(out)}")
    if ctx.stderr:
        opts.append(f"-e {shlex.quote(ctx.stderr.replace('%J', '%J_%I') if plan.array_size else ctx.stderr)}")
    opts.append(f"-cwd {shlex.quote(ctx.cwd)}")
    opts += [str(o) for o in settings.get("bsub_options", [])]
    lines = ["#!/bin/bash", *[f"#BSUB {o}" for o in opts],
             f"# hpcai job script for LSF: {plan.name} ({plan.job_uuid}); ranks: {plan.world_size}"]
    lines += [f"export {k}={shlex.quote(v)}" for k, v in sorted(ctx.env.items())]
    ec_file = f"{shlex.quote(ctx.job_dir)}/exit_code"
    lines.append('export HPCAI_JOB_ID="${LSB_JOBID}"')
    if plan.array_size:
        lines.append('export HPCAI_ARRAY_INDEX="$((LSB_JOBINDEX - 1))"')  # LSF counts from 1
        ec_file += '."${HPCAI_ARRAY_INDEX}"'
    lines += [
        # LSB_MCPU_HOSTS is "hostA 2 hostB 2": the hosts and slots jairun places ranks on
        'export HPCAI_HOSTS="$(echo $LSB_MCPU_HOSTS | awk \'{for (i = 1; i < NF; i += 2) '
        'printf "%s%s:%s", (i > 1 ? "," : ""), $i, $(i + 1)}\')"',
    ]
    lines += run_body_lines(ctx.cwd, ctx.body, ec_file)
    return "\n".join(lines)


def _lsf_time(value: str) -> datetime | None:
    """bjobs -o times: `Nov 27 06:01` (+ ` L`/` E` flags); the year is the current one."""
    text = re.sub(r"\s+[LEX]$", "", (value or "").strip())
    if not text or text == "-":
        return None
    return _parse_lsf_time(text, datetime.now().year)


@functools.lru_cache(maxsize=8192)
def _parse_lsf_time(text: str, year: int) -> datetime | None:
    """Cached: thousands of jobs of one cycle share a few hundred minute-resolution times, and
    strptime was most of the cost of a 5 000-job cycle."""
    for fmt in ("%b %d %H:%M:%S %Y", "%b %d %H:%M %Y"):
        try:
            return datetime.strptime(f"{text} {year}", fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    return None


def parse_bjobs_json(text: str) -> dict[str, list[dict[str, str]]]:
    """`bjobs -json -o ...` -> records by job id (array elements share their array's id)."""
    data = json.loads(text)
    out: dict[str, list[dict[str, str]]] = {}
    for rec in data.get("RECORDS", []):
        jid = str(rec.get("JOBID", "")).split("[")[0]
        out.setdefault(jid, []).append(rec)
    return out


def status_of(rec: dict[str, str], code_file: int | None, limit_min: int | None) -> JobStatus:
    raw = rec.get("STAT", "UNKWN")
    state = STATES.get(raw, JobState.UNKNOWN)
    hosts = (rec.get("EXEC_HOST") or "").replace("-", "") or None
    start, end = _lsf_time(rec.get("START_TIME", "")), _lsf_time(rec.get("FINISH_TIME", ""))
    ec_text = (rec.get("EXIT_CODE") or "").strip()
    # LSF's record first; the job user's file may only make a DONE job look failed, never better.
    code = int(ec_text) if ec_text.isdigit() else code_file
    if state == JobState.QUEUED:
        reason = (rec.get("PEND_REASON") or "").strip().rstrip(";") or "waiting to be scheduled"
        return JobStatus(state, raw, reason)
    if state in (JobState.RUNNING, JobState.SUSPENDED):
        why = "suspended by the user" if raw in ("PSUSP", "USUSP") else (
            "suspended by LSF (load or preemption)" if raw == "SSUSP" else None)
        return JobStatus(state, raw, why, start_time=start, exec_hosts=hosts)
    exit_reason = rec.get("EXIT_REASON") or ""
    if "RUNLIMIT" in exit_reason:
        return JobStatus(JobState.FAILED, "TIMEOUT", f"time limit of {limit_min} min exceeded"
                         if limit_min else "run limit exceeded", code, start, end, hosts)
    if "TERM_OWNER" in exit_reason or "TERM_ADMIN" in exit_reason or "killed by owner" in exit_reason:
        return JobStatus(JobState.CANCELLED, raw, "killed", code, start, end, hosts)
    if state == JobState.SUCCEEDED and code not in (None, 0):
        state = JobState.FAILED  # the exit_code file is the truth
    if state == JobState.FAILED:
        return JobStatus(state, raw, f"exited with code {code}" if code is not None else exit_reason or None,
                         code, start, end, hosts)
    return JobStatus(state, raw, None, 0 if code is None else code, start, end, hosts)


class LsfScheduler(Scheduler):
    name = "lsf"
    title = "IBM Spectrum LSF (and LSF-compatible clones)"
    description = "bsub/bjobs/bkill/bstop/bresume; one bjobs -json per watcher cycle."
    capabilities = frozenset({"arrays", "suspend", "gpus", "queues"})

    def configure(self, settings: dict[str, Any], spool: str) -> None:
        super().configure(settings, spool)
        self.commands = {**DEFAULT_COMMANDS, **settings.get("commands", {})}
        self.submit_pattern = re.compile(settings.get("submit_pattern", r"Job <(\d+)>"))
        self.timeout = float(settings.get("timeout", 30))
        self.cache_seconds = float(settings.get("cluster_info_cache", 10))
        self.commands_run = 0
        self._cache: tuple[float, ClusterInfo, dict[str, Any]] | None = None

    def _run(self, tool: str, args: list[str], stdin: str | None = None,
             run_as: RunAs | None = None) -> subprocess.CompletedProcess[str]:
        cmd = self.commands[tool]
        argv = (list(cmd) if isinstance(cmd, list) else cmd.split()) + args
        env = None
        if run_as is not None:  # bsub as the job's Unix identity, without the platform's env
            env = job_base_env(run_as)
            if os.getuid() == 0 and run_as.uid != 0:
                argv = ["runuser", "-u", run_as.name, "--"] + argv
        self.commands_run += 1
        try:
            proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=self.timeout,
                                  env=env)
        except FileNotFoundError as exc:
            raise SchedulerUnavailable(f"{argv[0]} is not installed on this host",
                                       fix="source the LSF profile or set [schedulers.lsf] commands") from exc
        except subprocess.TimeoutExpired as exc:
            raise SchedulerUnavailable(f"`{argv[0]}` did not answer within {self.timeout:.0f} s") from exc
        if proc.returncode != 0 and any(u in proc.stderr for u in UNREACHABLE):
            raise SchedulerUnavailable(f"LSF is unreachable: {proc.stderr.strip()}",
                                       fix="try again when mbatchd answers; nothing was changed")
        return proc

    def render(self, plan: LaunchPlan, ctx: ScriptContext) -> str:
        return render(plan, ctx, self.settings)

    def submit(self, plan: LaunchPlan, script_path: str, ctx: ScriptContext) -> str:
        if not plan.run_as:
            raise HpcaiError(f"the job of '{plan.user}' has no Unix identity to run as",
                             fix="submit it through the platform (JobService), which resolves one")
        proc = self._run("bsub", [], stdin=Path(script_path).read_text(), run_as=RunAs.from_dict(plan.run_as))
        m = self.submit_pattern.search(proc.stdout)
        if proc.returncode != 0 or not m:
            words = (proc.stderr or proc.stdout).strip() or f"exit status {proc.returncode}"
            raise ValidationError(f"LSF refused the job: {words}", field="resource_spec",
                                  fix="choose a queue and resource spec the cluster can run (bqueues, bhosts)")
        return m.group(1)

    def poll(self, refs: list[JobRef]) -> dict[str, JobStatus]:
        if not refs:
            return {}
        try:
            proc = self._run("bjobs", ["-json", "-o", BJOBS_FIELDS, "-a"] + [r.scheduler_job_id for r in refs])
            records = parse_bjobs_json(proc.stdout)
        except (HpcaiError, ValueError) as exc:
            return {r.scheduler_job_id: JobStatus(JobState.UNKNOWN, "QUERY_FAILED", f"LSF could not be asked: {exc}")
                    for r in refs}
        out: dict[str, JobStatus] = {}
        for ref in refs:
            recs = [r for r in records.get(ref.scheduler_job_id, []) if "ERROR" not in r]
            if not recs:
                out[ref.scheduler_job_id] = self._from_files(ref, records.get(ref.scheduler_job_id))
                continue
            parts = [self._status(rec, ref) for rec in recs]
            out[ref.scheduler_job_id] = parts[0] if len(parts) == 1 else combine_statuses(parts)
        return out

    @staticmethod
    def _status(rec: dict[str, str], ref: JobRef) -> JobStatus:
        """One record; the job directory's files are read only for a job that ended (a cycle
        over thousands of pending and running jobs reads none)."""
        if not STATES.get(rec.get("STAT", "UNKWN"), JobState.UNKNOWN).terminal:
            return status_of(rec, None, None)
        idx = (rec.get("JOBINDEX") or "0").strip()
        name = f"exit_code.{int(idx) - 1}" if idx.isdigit() and int(idx) > 0 else "exit_code"
        limit = plan_field(ref.job_dir, "time_limit_min", None) if "RUNLIMIT" in (rec.get("EXIT_REASON") or "") \
            else None
        return status_of(rec, read_int(Path(ref.job_dir) / name), limit)

    def _from_files(self, ref: JobRef, recs: list[dict[str, str]] | None) -> JobStatus:
        codes = [c for c in (read_int(f) for f in Path(ref.job_dir).glob("exit_code*")) if c is not None]
        if codes and len(codes) >= plan_field(ref.job_dir, "array_size", 1):
            worst = max(codes)
            if worst == 0:
                return JobStatus(JobState.SUCCEEDED, "DONE", None, 0)
            return JobStatus(JobState.FAILED, "EXIT", f"exited with code {worst}", worst)
        why = recs[0].get("ERROR") if recs else "not in bjobs' answer"
        return JobStatus(JobState.UNKNOWN, "NOT_FOUND", f"LSF no longer knows the job ({why}) and it left no exit code")

    def _control(self, tool: str, ref: JobRef, verb: str) -> None:
        proc = self._run(tool, [ref.scheduler_job_id])
        if proc.returncode != 0:
            words = (proc.stderr or proc.stdout).strip()
            raise HpcaiError(f"LSF refused to {verb} job {ref.scheduler_job_id}: {words}")

    def cancel(self, ref: JobRef) -> None:
        self._control("bkill", ref, "kill")

    def suspend(self, ref: JobRef) -> None:
        self._control("bstop", ref, "suspend")

    def resume(self, ref: JobRef) -> None:
        self._control("bresume", ref, "resume")

    def cluster_info(self, queue: str | None = None) -> ClusterInfo:
        now = time.monotonic()
        if self._cache and now - self._cache[0] < self.cache_seconds:
            hosts, queues = self._cache[1], self._cache[2]
        else:
            h = json.loads(self._run("bhosts", ["-json", "-o", "host_name status max njobs"]).stdout or "{}")
            q = json.loads(self._run("bqueues", ["-json", "-o", "queue_name njobs pend run susp"]).stdout or "{}")
            # hosts that run jobs (full ones included); unavail/unreach/closed_Adm hold no slots
            usable = [r for r in h.get("RECORDS", []) if str(r.get("MAX", "")).isdigit()
                      and str(r.get("STATUS", "")).split("_")[0] in ("ok", "closed")
                      and r.get("STATUS") not in ("closed_Adm", "closed_Lock")]
            total = sum(int(r["MAX"]) for r in usable)
            used = sum(int(r.get("NJOBS") or 0) for r in usable if str(r.get("NJOBS", "")).isdigit())
            hosts = ClusterInfo(queue=None, free_cpus=max(total - used, 0), total_cpus=total, queued_jobs=0,
                                running_jobs=0)
            queues = {r["QUEUE_NAME"]: r for r in q.get("RECORDS", [])}
            self._cache = (now, hosts, queues)
        name = self.settings.get("queues", {}).get(queue, queue) if queue else None
        chosen = [r for n, r in queues.items() if name is None or n == name]
        if name and not chosen:
            raise ValidationError(f"LSF has no queue '{name}'", field="queue",
                                  fix="choose one of: " + ", ".join(queues))
        count = lambda k: sum(int(r.get(k) or 0) for r in chosen)  # noqa: E731
        return ClusterInfo(queue=queue, free_cpus=hosts.free_cpus, total_cpus=hosts.total_cpus,
                           queued_jobs=count("PEND"), running_jobs=count("RUN"))





@hookimpl
def hpcai_schedulers() -> list[Scheduler]:
    return [LsfScheduler()]
