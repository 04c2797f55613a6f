"""Slurm states and outputs -> JobStatus. Pure functions over `squeue -O` (or `--json`) and
`sacct -p`.

Fixtures of real outputs (Slurm 22.05.8, captured from tests/services/slurm.sh) live in
tests/fixtures/slurm/ and pin these parsers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from core.types import JobState

STATES: dict[str, JobState] = {
    "PENDING": JobState.QUEUED, "REQUEUED": JobState.QUEUED, "REQUEUE_HOLD": JobState.QUEUED,
    "REQUEUE_FED": JobState.QUEUED, "CONFIGURING": JobState.RUNNING, "RUNNING": JobState.RUNNING,
    "COMPLETING": JobState.RUNNING, "RESIZING": JobState.RUNNING, "SIGNALING": JobState.RUNNING,
    "STAGE_OUT": JobState.RUNNING, "SUSPENDED": JobState.SUSPENDED, "STOPPED": JobState.SUSPENDED,
    "COMPLETED": JobState.SUCCEEDED, "FAILED": JobState.FAILED, "TIMEOUT": JobState.FAILED,
    "NODE_FAIL": JobState.FAILED, "BOOT_FAIL": JobState.FAILED, "DEADLINE": JobState.FAILED,
    "OUT_OF_MEMORY": JobState.FAILED, "PREEMPTED": JobState.FAILED, "SPECIAL_EXIT": JobState.FAILED,
    "CANCELLED": JobState.CANCELLED, "REVOKED": JobState.CANCELLED,
}

ENDED_WHY = {
    "TIMEOUT": "time limit exceeded",
    "NODE_FAIL": "a node of the job failed",
    "BOOT_FAIL": "a node failed to boot",
    "DEADLINE": "the job's deadline passed",
    "OUT_OF_MEMORY": "the job ran out of memory",
    "PREEMPTED": "preempted by a higher-priority job",
    "CANCELLED": "cancelled",
    "REVOKED": "revoked (federation)",
}

# Slurm's pending reasons (squeue %r / state_reason) in words.
REASONS = {
    "Priority": "waiting behind higher-priority jobs",
    "Resources": "waiting for resources (CPUs, memory or GPUs) to become free",
    "Dependency": "waiting for a job it depends on",
    "DependencyNeverSatisfied": "its dependency can never be satisfied",
    "PartitionConfig": "the request exceeds what the partition allows",
    "PartitionDown": "the partition is down",
    "PartitionInactive": "the partition is inactive",
    "PartitionNodeLimit": "the request needs more nodes than the partition allows",
    "PartitionTimeLimit": "the time limit exceeds the partition's maximum",
    "ReqNodeNotAvail": "a requested node is unavailable (down, drained or reserved)",
    "NodeDown": "a node the job needs is down",
    "BeginTime": "its start time has not come yet",
    "JobHeldUser": "held by the user",
    "JobHeldAdmin": "held by an administrator",
    "BadConstraints": "the constraints cannot be satisfied by any node",
    "InvalidQOS": "the QOS is invalid",
    "QOSMaxCpuPerUserLimit": "the user's CPU limit (QOS) is reached",
    "QOSMaxJobsPerUserLimit": "the user's job limit (QOS) is reached",
    "AssocGrpCpuLimit": "the account's CPU limit is reached",
    "AssocMaxJobsLimit": "the account's job limit is reached",
    "Reservation": "waiting for its reservation",
    "Licenses": "waiting for licenses",
    "launch failed requeued held": "its launch failed; requeued and held",
    "None": "waiting to be scheduled",
}


def reason_words(reason: str | None) -> str | None:
    if not reason or reason == "None":
        return None
    return REASONS.get(reason, reason)


def _ts(value: Any) -> datetime | None:
    try:
        v = int(value)
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(v, timezone.utc) if v > 0 else None


@dataclass
class SlurmJob:
    """One entry of the queue (a plain job, an array task, or a het-job component)."""

    job_id: str
    state: str
    reason: str | None
    exit_status: int | None  # the wait status as Slurm reports it (code << 8 | signal)
    comment: str
    nodes: str
    start: datetime | None
    end: datetime | None
    array_job_id: str | None = None
    array_task_id: int | None = None
    het_job_id: str | None = None


def parse_squeue_json(text: str) -> list[SlurmJob]:
    data = json.loads(text)
    if data.get("errors"):
        raise ValueError("; ".join(str(e.get("error", e)) if isinstance(e, dict) else str(e)
                                   for e in data["errors"]))
    jobs = []
    for j in data.get("jobs", []):
        state = j.get("job_state") or "UNKNOWN"
        if isinstance(state, list):  # openapi v0.0.39+ gives a list of flags
            state = state[0] if state else "UNKNOWN"
        ec = j.get("exit_code")
        if isinstance(ec, dict):  # newer openapi: {"status": ..., "return_code": ...}
            ec = ec.get("return_code", {}).get("number") if isinstance(ec.get("return_code"), dict) \
                else ec.get("return_code")
            ec = None if ec is None else int(ec) << 8
        array_job = j.get("array_job_id") or 0
        het = j.get("het_job_id") or 0
        jobs.append(SlurmJob(
            job_id=str(j["job_id"]), state=str(state), reason=j.get("state_reason"),
            exit_status=int(ec) if ec is not None else None, comment=j.get("comment") or "",
            nodes=j.get("nodes") or "", start=_ts(j.get("start_time")), end=_ts(j.get("end_time")),
            array_job_id=str(array_job) if array_job else None,
            array_task_id=j.get("array_task_id") if isinstance(j.get("array_task_id"), int) else None,
            het_job_id=str(het) if het else None))
    return jobs


# What the watcher asks squeue for: the fields it uses, `|` after each, Comment last (a
# comment may hold `|`). With SLURM_TIME_FORMAT=%s the times are epoch seconds. At 5 000 jobs
# this is ~50x less output than `--json` (which prints ~100 fields per job) and parses in a
# few milliseconds. squeue -O has no exit code in 22.05: the exit_code file, else sacct, has it.
SQUEUE_FIELDS = ("JobID", "ArrayJobID", "ArrayTaskID", "HetJobID", "State", "Reason", "NodeList",
                 "StartTime", "EndTime", "Comment")
SQUEUE_ARGS = ["-h", "-a", "-t", "all", "-O", ",".join(f"{f}:|" for f in SQUEUE_FIELDS)]
SQUEUE_ENV = {"SLURM_TIME_FORMAT": "%s"}
_NONE = ("", "N/A", "NONE", "(null)")


def parse_squeue(text: str) -> list[SlurmJob]:
    """The queue from either output squeue gives (`--json` starts with `{`)."""
    if text.lstrip().startswith("{"):
        return parse_squeue_json(text)
    return parse_squeue_fields(text)


def parse_squeue_fields(text: str) -> list[SlurmJob]:
    """`SLURM_TIME_FORMAT=%s squeue` with SQUEUE_ARGS -> jobs. A line that does not have the
    fields is skipped (its job then counts as gone from the queue and sacct is asked)."""
    jobs = []
    head = len(SQUEUE_FIELDS) - 1
    for line in text.splitlines():
        parts = line.split("|", head)
        if len(parts) <= head or not parts[0].isdigit():
            continue
        jid, array_job, task, het, state, reason, nodes, start, end, comment = parts
        comment = comment[:-1] if comment.endswith("|") else comment
        is_array = task not in _NONE
        jobs.append(SlurmJob(
            job_id=jid, state=state or "UNKNOWN", reason=None if reason in _NONE else reason,
            exit_status=None, comment=comment, nodes="" if nodes in _NONE else nodes,
            start=_ts(start), end=_ts(end),
            array_job_id=array_job if is_array and array_job not in _NONE else None,
            array_task_id=int(task) if is_array and task.isdigit() else None,
            het_job_id=None if het in _NONE else het))
    return jobs


SACCT_FIELDS = "JobID,State,ExitCode,Submit,Start,End,NodeList"


@dataclass
class AcctRecord:
    job_id: str
    state: str
    exit_code: int | None
    submit: datetime | None
    start: datetime | None
    end: datetime | None
    nodes: str


def _iso(value: str) -> datetime | None:
    if not value or value in ("Unknown", "None"):
        return None
    try:
        return datetime.fromisoformat(value).astimezone(timezone.utc)
    except ValueError:
        return None


def parse_sacct(text: str) -> dict[str, AcctRecord]:
    """`sacct [-c] -P -n -o JobID,State,ExitCode,Submit,Start,End,NodeList` -> by job id.

    Steps (123.batch, 123.0) are skipped; for `sacct -c` (job completion log) Submit may be
    empty. ExitCode is `code:signal`. A later line for the same id (a requeue) wins.
    """
    out: dict[str, AcctRecord] = {}
    for line in text.splitlines():
        parts = line.rstrip("|").split("|")
        if len(parts) < 7 or parts[0] == "JobID" or "." in parts[0]:
            continue
        jid, state, ec, submit, start, end, nodes = parts[:7]
        code: int | None = None
        if ec:
            head = ec.split(":")[0]
            code = int(head) if head.isdigit() else None
        out[jid] = AcctRecord(jid, state.split()[0] if state else "UNKNOWN", code, _iso(submit),
                              _iso(start), _iso(end), nodes)
    return out
