"""One supervisor process per local job: wait for slots (FIFO), run the script, record the end.

Started detached (its own session) by `LocalScheduler.submit`, so it outlives the `hpcai`
process that submitted it. The job script runs in a session of its own so that kill, suspend
and resume reach every rank without touching the supervisor.

The supervisor runs as the platform's user (root on a multi-user site) and the job script as the
job's user (its uid, gid and groups, dropped by Popen before exec). Everything the supervisor
does in the job's directory (a directory of the job's user) it does with the job's effective
ids, so a link planted there never makes root write elsewhere. The outcome it records is its
own wait() of the job script, in the platform's ledger.

    python -m plugins.schedulers.local.supervisor LEDGER_DIR JOB_ID
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from core import gpus
from core.identity import RunAs, job_base_env
from plugins.schedulers.local.ledger import Entry, Ledger, pid_alive, process_start, signal_session

GRACE_SECONDS = 10


def _used(entries: list[Entry], me: Entry) -> tuple[int, set[int]]:
    """CPU slots in use, and the GPU slots `me` may not take.

    Exclusive jobs own their GPUs; shared jobs may share a GPU with other shared jobs (never with
    an exclusive one); MIG jobs take MIG instances, a pool of their own.
    """
    cpus, taken = 0, set()
    mine = "mig" if me.gpu_mode == "mig" else "gpu"
    for e in entries:
        if e.id != me.id and e.state == "running" and pid_alive(e.supervisor_pid):
            cpus += e.cpus
            if ("mig" if e.gpu_mode == "mig" else "gpu") != mine:
                continue
            if me.gpu_mode == "shared" and e.gpu_mode == "shared":
                continue
            taken.update(e.gpu_ids)
    return cpus, taken


def admit(ledger: Ledger, job_id: int, total_cpus: int, total_gpus: int, total_migs: int = 0) -> Entry | None:
    """Claim slots when this job is the oldest queued one and they are free (strict FIFO)."""
    with ledger.locked() as data:
        entries = Ledger.entries(data)
        me = next(e for e in entries if e.id == job_id)
        if me.state != "queued":
            return me
        for e in entries:  # supervisors that died leave stale entries: they hold nothing
            if e.state != "done" and e.id != job_id and not pid_alive(e.supervisor_pid):
                e.state = "done"
                e.end_ts = e.end_ts or time.time()
                Ledger.put(data, e)
        queued = sorted((e for e in entries if e.state == "queued"), key=lambda e: e.id)
        if queued[0].id != job_id:
            return None
        used_cpus, used_gpus = _used(entries, me)
        pool = total_migs if me.gpu_mode == "mig" else total_gpus
        free_gpus = [g for g in range(pool) if g not in used_gpus]
        if used_cpus + me.cpus > total_cpus or me.gpus > len(free_gpus):
            return None
        me.state = "running"
        me.start_ts = time.time()
        me.gpu_ids = free_gpus[: me.gpus]
        Ledger.put(data, me)
        return me


@contextmanager
def effective(run_as: RunAs) -> Iterator[None]:
    """File operations in the job's directory with the job's ids (root only; else a no-op)."""
    if os.geteuid() != 0 or run_as.uid == 0:
        yield
        return
    os.setegid(run_as.gid)
    os.seteuid(run_as.uid)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


def job_env(conf: dict[str, Any], run_as: RunAs) -> dict[str, str]:
    env = job_base_env(run_as)
    env.update(conf["env"])
    return env


def _cancelled(ledger: Ledger, job_id: str) -> bool:
    return ledger.snapshot()[job_id].cancelled


def main(ledger_dir: str, job_id: str) -> int:
    ledger = Ledger(Path(ledger_dir))
    jid = int(job_id)
    conf = ledger.read_conf(jid)
    run_as = RunAs.from_dict(conf["run_as"])
    if os.geteuid() not in (0, run_as.uid):  # the plan was made for another user: run nothing
        print(f"supervisor: uid {os.geteuid()} cannot run a job as {run_as.name}", file=sys.stderr)
        return _finish(ledger, jid, None)
    while True:
        if _cancelled(ledger, job_id):
            return _finish(ledger, jid, None)
        admitted = admit(ledger, jid, conf["total_cpus"], conf["total_gpus"], conf.get("total_migs", 0))
        if admitted is not None:
            entry = admitted
            break
        time.sleep(conf.get("poll_interval", 0.5))

    env = job_env(conf, run_as)
    env.update({"HPCAI_JOB_ID": job_id, "LSB_JOBID": job_id,
                "HPCAI_HOSTS": f"127.0.0.1:{max(entry.cpus, 1)}"})
    if entry.gpus:
        env["CUDA_VISIBLE_DEVICES"] = gpus.visible_devices(entry.gpu_mode, entry.gpu_ids,
                                                           gpus.inventory() if entry.gpu_mode == "mig" else [])
    try:
        with effective(run_as):  # the job's own files, opened as the job's user
            stdout_path = Path(conf["stdout"].replace("%J", job_id))
            stdout_path.parent.mkdir(parents=True, exist_ok=True)
            out = open(stdout_path, "ab")
            err = open(conf["stderr"].replace("%J", job_id), "ab") if conf.get("stderr") else subprocess.STDOUT
        drop: dict[str, Any] = {} if os.geteuid() != 0 or run_as.uid == 0 else \
            {"user": run_as.uid, "group": run_as.gid, "extra_groups": list(run_as.groups)}
        proc = subprocess.Popen(["/bin/bash", conf["script"]], cwd=conf["cwd"], env=env,
                                stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                start_new_session=True, **drop)
    except OSError as exc:  # no such directory, or the job's user may not enter it
        print(f"supervisor: the job could not start: {exc}", file=sys.stderr)
        return _finish(ledger, jid, 127, run_as)
    with ledger.locked() as data:
        entry = Entry(**data["jobs"][job_id])
        entry.job_sid = proc.pid
        entry.job_start = process_start(proc.pid)
        Ledger.put(data, entry)
    deadline = entry.start_ts + 60 * entry.time_limit_min if entry.time_limit_min else None
    code = _wait(proc, deadline, ledger, jid, run_as.uid)
    return _finish(ledger, jid, code, run_as)


def _wait(proc: subprocess.Popen, deadline: float | None, ledger: Ledger, job_id: int, uid: int) -> int:
    while True:
        timeout = None if deadline is None else max(deadline - time.time(), 0)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with ledger.locked() as data:
                entry = Entry(**data["jobs"][str(job_id)])
                entry.timed_out = True
                Ledger.put(data, entry)
            signal_session(proc.pid, signal.SIGCONT, uid)
            signal_session(proc.pid, signal.SIGTERM, uid)
            try:
                return proc.wait(timeout=GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                signal_session(proc.pid, signal.SIGKILL, uid)
                deadline = None


def _finish(ledger: Ledger, job_id: int, code: int | None, run_as: RunAs | None = None) -> int:
    """Record the outcome: the exit status this supervisor's wait() saw (the shell's convention
    for a signal), in the ledger. The job's own exit_code file is for the job's user to read."""
    status = None if code is None else (128 - code if code < 0 else code)
    with ledger.locked() as data:
        entry = Entry(**data["jobs"][str(job_id)])
        entry.state = "done"
        entry.end_ts = time.time()
        entry.exit_code = status
        Ledger.put(data, entry)
    ec_file = Path(entry.job_dir) / "exit_code"
    if status is not None and run_as is not None:
        try:
            with effective(run_as):  # killed by a signal, the script could not write it
                if not ec_file.exists():
                    ec_file.write_text(f"{status}\n")
        except OSError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
