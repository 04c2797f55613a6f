"""What a job leaves in its directory: the lines that write it, reading it back, and folding
array members into one status.

Scheduler plugins share these (plugins never import each other): the exit-code files the job
script writes are the truth about success (DESIGN.md lesson 2), and plan.json says what the
job was asked to be.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

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
