"""What a job leaves in its directory: the lines that write it, reading it back, and folding
array members into one status.

Scheduler plugins share these (plugins never import each other): the exit-code files the job
script writes are the truth about success (DESIGN.md lesson 2), and plan.json says what the
job was asked to be.
"""

from __future__ import annotations

import json
import os
import shlex
import stat
from pathlib import Path
from typing import Any, BinaryIO

from core.types import JobState, JobStatus

# Which member state speaks for an array: any live member keeps the whole job live.
_PRECEDENCE = [JobState.RUNNING, JobState.SUSPENDED, JobState.QUEUED, JobState.UNKNOWN,
               JobState.FAILED, JobState.CANCELLED, JobState.SUCCEEDED]


def run_body_lines(cwd: str, body: str, exit_code_file: str) -> list[str]:
    """The end of a job script: run the body in `cwd` and record its exit code in
    `exit_code_file` (a shell word, already quoted) before exiting with it."""
    return [f"cd {shlex.quote(cwd)} || exit 1", f"/bin/bash {shlex.quote(body)}", "ec=$?",
            f'echo "$ec" > {exit_code_file}', 'exit "$ec"', ""]


def read_int(path: Path) -> int | None:
    """An integer file (exit_code ...), or None when it is missing or half-written."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def run_as_uid(plan: dict[str, Any] | None) -> int | None:
    """The uid a job ran as (its plan's run_as), None for plans from before identities."""
    uid = ((plan or {}).get("run_as") or {}).get("uid")
    return int(uid) if uid is not None else None


def open_job_file(path: str | Path, uid: int | None) -> BinaryIO:
    """Open a file of a job's user (its output ...) for the platform to read on their behalf.

    The portal runs as root and the job's directory is the job user's: they could put a link to
    /etc/shadow or to another user's file where their log was. So the file is opened without
    following a final link and, when we are root, must belong to the job's user (a file they
    own is a file they could read anyway). Raises OSError (PermissionError) otherwise."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or (os.geteuid() == 0 and uid not in (None, 0) and st.st_uid != uid):
        os.close(fd)
        raise PermissionError(f"{path} is not the job's own file")
    return os.fdopen(fd, "rb")


def plan_field(job_dir: str | Path, name: str, default: Any) -> Any:
    try:
        return json.loads((Path(job_dir) / "plan.json").read_text()).get(name) or default
    except (OSError, ValueError):
        return default


def combine_statuses(parts: list[JobStatus]) -> JobStatus:
    """The state of an array (or heterogeneous job) from its members' states."""
    best = min(parts, key=lambda s: _PRECEDENCE.index(s.state))
    codes = [p.exit_code for p in parts if p.exit_code]
    starts = [p.start_time for p in parts if p.start_time]
    ends = [p.end_time for p in parts if p.end_time]
    done = sum(1 for p in parts if p.state.terminal)
    reason = best.reason
    if len(parts) > 1:
        reason = f"{done} of {len(parts)} tasks ended" + (f"; {reason}" if reason else "")
    return JobStatus(best.state, best.raw_state, reason,
                     exit_code=max(codes) if codes else (0 if best.state == JobState.SUCCEEDED else best.exit_code),
                     start_time=min(starts) if starts else None,
                     end_time=max(ends) if ends and best.state.terminal else None,
                     exec_hosts=best.exec_hosts)


def rank_names(plan: dict[str, Any] | None) -> list[str]:
    """The job's ranks as users name them ('worker/0', 'server/0' ...), from its plan."""
    names = []
    for role in (plan or {}).get("roles", []):
        names += [f"{role.get('name')}/{n}" for n in range(int(role.get("replicas") or 0))]
    return names


def rank_log(job_dir: str | Path, rank: str) -> Path:
    """The log file of one rank ('worker/1' -> <job dir>/logs/worker.1.log)."""
    return Path(job_dir, "logs", rank.replace("/", ".") + ".log")
