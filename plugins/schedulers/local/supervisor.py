"""One supervisor process per local job: wait for slots (FIFO), run the script, record the end.

Started detached (its own session) by `LocalScheduler.submit`, so it outlives the `hpcai`
process that submitted it. The job script runs in a session of its own so that kill, suspend
and resume reach every rank without touching the supervisor.

    python -m plugins.schedulers.local.supervisor LEDGER_DIR JOB_ID
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from core import gpus
from plugins.schedulers.local.ledger import Entry, Ledger, pid_alive, signal_session

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


def main(ledger_dir: str, job_id: str) -> int:
    ledger = Ledger(Path(ledger_dir))
    jid = int(job_id)
    with ledger.locked() as data:
        entry = Entry(**data["jobs"][job_id])
        conf = json.loads(Path(entry.job_dir, "local.json").read_text())
    job_dir = Path(entry.job_dir)
    while True:
        if (job_dir / "cancelled").exists():
            return _finish(ledger, jid, None)
        admitted = admit(ledger, jid, conf["total_cpus"], conf["total_gpus"], conf.get("total_migs", 0))
        if admitted is not None:
            entry = admitted
            break
        time.sleep(conf.get("poll_interval", 0.5))

    env = dict(os.environ)
    env.update(conf["env"])
    env.update({"HPCAI_JOB_ID": job_id, "LSB_JOBID": job_id,
                "HPCAI_HOSTS": f"127.0.0.1:{max(entry.cpus, 1)}"})
    if entry.gpus:
        env["CUDA_VISIBLE_DEVICES"] = gpus.visible_devices(entry.gpu_mode, entry.gpu_ids,
                                                           gpus.inventory() if entry.gpu_mode == "mig" else [])
    stdout_path = Path(conf["stdout"].replace("%J", job_id))
    stdout_path.parent.mkdir(parents=True, exist_ok=True)
    out = open(stdout_path, "ab")
    err = open(conf["stderr"].replace("%J", job_id), "ab") if conf.get("stderr") else subprocess.STDOUT
    proc = subprocess.Popen(["/bin/bash", conf["script"]], cwd=conf["cwd"], env=env,
                            stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                            start_new_session=True, preexec_fn=_as_user(conf.get("uid"), conf.get("gid")))
    with ledger.locked() as data:
        entry = Entry(**data["jobs"][job_id])
        entry.job_sid = proc.pid
        Ledger.put(data, entry)
    deadline = entry.start_ts + 60 * entry.time_limit_min if entry.time_limit_min else None
    code = _wait(proc, deadline, job_dir)
    return _finish(ledger, jid, code)


def _as_user(uid: int | None, gid: int | None):  # type: ignore[no-untyped-def]
    if uid is None or os.getuid() != 0 or uid == 0:
        return None

    def drop() -> None:
        os.setgid(gid)  # type: ignore[arg-type]
        os.setuid(uid)  # type: ignore[arg-type]

    return drop


def _wait(proc: subprocess.Popen, deadline: float | None, job_dir: Path) -> int:
    while True:
        timeout = None if deadline is None else max(deadline - time.time(), 0)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            (job_dir / "time_limit").write_text(f"{time.time()}\n")
            signal_session(proc.pid, signal.SIGCONT)
            signal_session(proc.pid, signal.SIGTERM)
            try:
                return proc.wait(timeout=GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                signal_session(proc.pid, signal.SIGKILL)
                deadline = None


def _finish(ledger: Ledger, job_id: int, code: int | None) -> int:
    with ledger.locked() as data:
        entry = Entry(**data["jobs"][str(job_id)])
        entry.state = "done"
        entry.end_ts = time.time()
        Ledger.put(data, entry)
    ec_file = Path(entry.job_dir) / "exit_code"
    if code is not None and not ec_file.exists():
        # The script could not write it (killed by a signal): record the shell's convention.
        ec_file.write_text(f"{128 - code if code < 0 else code}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
