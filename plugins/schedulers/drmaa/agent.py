"""The DRMAA side of the `drmaa` scheduler, run as a short-lived child process.

Debian's libdrmaa (Grid Engine 8.1.9) loads only when libjemalloc is preloaded into the
process from its start ("cannot allocate memory in static TLS block" otherwise), so the
platform never loads it in its own process: each operation is one run of

    LD_PRELOAD=... python -m plugins.schedulers.drmaa.agent OP < request.json > answer.json

with one DRMAA session. OP is submit, status (many jobs, one session), control or wait.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import drmaa  # type: ignore[import-untyped]

STATES = {
    drmaa.JobState.UNDETERMINED: "UNDETERMINED",
    drmaa.JobState.QUEUED_ACTIVE: "QUEUED_ACTIVE",
    drmaa.JobState.SYSTEM_ON_HOLD: "SYSTEM_ON_HOLD",
    drmaa.JobState.USER_ON_HOLD: "USER_ON_HOLD",
    drmaa.JobState.USER_SYSTEM_ON_HOLD: "USER_SYSTEM_ON_HOLD",
    drmaa.JobState.RUNNING: "RUNNING",
    drmaa.JobState.SYSTEM_SUSPENDED: "SYSTEM_SUSPENDED",
    drmaa.JobState.USER_SUSPENDED: "USER_SUSPENDED",
    drmaa.JobState.USER_SYSTEM_SUSPENDED: "USER_SYSTEM_SUSPENDED",
    drmaa.JobState.DONE: "DONE",
    drmaa.JobState.FAILED: "FAILED",
}
ACTIONS = {"suspend": drmaa.JobControlAction.SUSPEND, "resume": drmaa.JobControlAction.RESUME,
           "terminate": drmaa.JobControlAction.TERMINATE, "hold": drmaa.JobControlAction.HOLD,
           "release": drmaa.JobControlAction.RELEASE}


def submit(s: drmaa.Session, req: dict[str, Any]) -> dict[str, Any]:
    jt = s.createJobTemplate()
    try:
        jt.remoteCommand = req["command"]
        jt.args = req.get("args", [])
        jt.jobName = req.get("name", "hpcai")
        jt.workingDirectory = req["cwd"]
        jt.nativeSpecification = req.get("native", "")
        jt.outputPath = ":" + req["stdout"]
        if req.get("stderr"):
            jt.errorPath = ":" + req["stderr"]
        else:
            jt.joinFiles = True
        jt.jobEnvironment = req.get("env", {})
        if req.get("array"):
            ids = s.runBulkJobs(jt, 1, int(req["array"]), 1)
            return {"ids": list(ids), "job_id": str(ids[0]).split(".")[0]}
        return {"job_id": str(s.runJob(jt))}
    finally:
        s.deleteJobTemplate(jt)


def status(s: drmaa.Session, req: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for jid in req["ids"]:
        try:
            out[jid] = STATES.get(s.jobStatus(jid), "UNDETERMINED")
        except drmaa.errors.InvalidJobException:
            out[jid] = "GONE"  # no longer known to the qmaster: ended (or never was)
    return {"states": out}


def control(s: drmaa.Session, req: dict[str, Any]) -> dict[str, Any]:
    s.control(req["job_id"], ACTIONS[req["action"]])
    return {}


def wait(s: drmaa.Session, req: dict[str, Any]) -> dict[str, Any]:
    """Block until the job leaves the system (any session's job: DRMAA's own wait only knows
    jobs of its session, so this polls the status)."""
    import time

    end = time.monotonic() + float(req.get("timeout", 60))
    while time.monotonic() < end:
        try:
            state = STATES.get(s.jobStatus(req["job_id"]), "UNDETERMINED")
        except drmaa.errors.InvalidJobException:
            return {"state": "GONE"}
        if state in ("DONE", "FAILED"):
            return {"state": state}
        time.sleep(0.5)
    return {"state": "TIMEOUT"}


OPS = {"submit": submit, "status": status, "control": control, "wait": wait}


def main(op: str) -> int:
    req = json.loads(sys.stdin.read() or "{}")
    s = drmaa.Session()
    try:
        s.initialize()
    except drmaa.errors.DrmaaException as exc:
        json.dump({"error": f"{type(exc).__name__}: {exc}", "unreachable": True}, sys.stdout)
        return 1
    try:
        answer = OPS[op](s, req)
        answer["drms"] = str(s.drmsInfo)
    except drmaa.errors.DrmaaException as exc:
        json.dump({"error": f"{type(exc).__name__}: {exc}"}, sys.stdout)
        return 1
    finally:
        s.exit()
    json.dump(answer, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
