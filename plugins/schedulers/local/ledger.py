"""The local scheduler's shared state: a JSON ledger under an fcntl lock in the spool.

There is no daemon. Each submitted job gets its own supervisor process that waits for its
turn (FIFO by CPU and GPU slots), runs the job script and records the outcome here. Any
`hpcai` process of the platform's Unix user can read the ledger to learn a job's state, and
signal the job's session to kill, suspend or resume it.

The ledger is the platform's record, not the jobs': its directory is 0700 and its files 0600,
owned by the platform's user (a job's user could otherwise redirect the supervisor's signals to
any process, or mark its own failed job as succeeded). What a job may not rewrite lives here:
its run-as identity and launch settings (jobs/<id>.json), the exit status its supervisor saw,
whether it was cancelled or ran out of time.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

from core.errors import HpcaiError


@dataclass
class Entry:
    id: int
    job_dir: str
    cpus: int
    gpus: int
    submit_ts: float
    state: str = "queued"  # queued | running | done
    supervisor_pid: int | None = None
    job_sid: int | None = None  # session id of the job script (all its ranks live in it)
    start_ts: float | None = None
    end_ts: float | None = None
    suspended: bool = False
    gpu_ids: list[int] = field(default_factory=list)
    gpu_mode: str | None = None  # exclusive (default) | shared | mig: which slots gpu_ids number
    time_limit_min: int | None = None
    uid: int | None = None  # the job's Unix user: only its processes are ever signalled
    job_start: int | None = None  # start time (clock ticks) of the job's session leader: no pid reuse
    exit_code: int | None = None  # what the supervisor's wait() returned: the job's outcome
    cancelled: bool = False
    timed_out: bool = False


class Ledger:
    def __init__(self, directory: Path):
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = self.dir / "ledger.json"
        self.lock_path = self.dir / "ledger.lock"
        self.conf_dir = self.dir / "jobs"
        if self.dir.stat().st_uid == os.geteuid():  # (a ledger of an older release was 1777)
            os.chmod(self.dir, 0o700)
            for f in (self.path, self.lock_path):
                if f.exists():
                    os.chmod(f, 0o600)
            self.conf_dir.mkdir(exist_ok=True, mode=0o700)

    def _refused(self, exc: OSError) -> HpcaiError:
        owner = self.dir.stat().st_uid
        return HpcaiError(f"the local scheduler's state in {self.dir} belongs to uid {owner}, not to you",
                          fix="submit through the portal, or as the platform's Unix user") if \
            isinstance(exc, PermissionError) else HpcaiError(f"the local scheduler's state: {exc}")

    def write_conf(self, job_id: int, conf: dict[str, Any]) -> None:
        fd = os.open(self.conf_dir / f"{job_id}.json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(conf, f, indent=2)

    def read_conf(self, job_id: int) -> dict[str, Any]:
        return json.loads((self.conf_dir / f"{job_id}.json").read_text())

    @contextmanager
    def locked(self) -> Iterator[dict]:
        """Read-modify-write under an exclusive lock; the dict is written back on exit."""
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise self._refused(exc) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            data = self._read()
            before = json.dumps(data, sort_keys=True)
            yield data
            if json.dumps(data, sort_keys=True) != before:
                tmp = self.path.with_suffix(f".tmp{os.getpid()}")
                tfd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(tfd, "w") as f:
                    f.write(json.dumps(data))
                os.replace(tmp, self.path)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _read(self) -> dict:
        if not self.path.exists():
            return {"next_id": 1, "jobs": {}}
        return json.loads(self.path.read_text() or '{"next_id": 1, "jobs": {}}')

    def snapshot(self) -> dict[str, Entry]:
        with self.locked() as data:
            return {k: Entry(**v) for k, v in data["jobs"].items()}

    @staticmethod
    def put(data: dict, entry: Entry) -> None:
        data["jobs"][str(entry.id)] = asdict(entry)

    @staticmethod
    def entries(data: dict) -> list[Entry]:
        return [Entry(**v) for v in data["jobs"].values()]

    def prune(self, keep_seconds: float = 7 * 86400) -> None:
        """Forget finished jobs after a week; their job directories keep the outcome."""
        cutoff = time.time() - keep_seconds
        with self.locked() as data:
            for key, value in list(data["jobs"].items()):
                if value["state"] == "done" and (value.get("end_ts") or 0) < cutoff:
                    del data["jobs"][key]
                    (self.conf_dir / f"{key}.json").unlink(missing_ok=True)


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _stat_fields(pid: int | str) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_start(pid: int) -> int | None:
    """When a process started (clock ticks since boot, proc(5) field 22): tells a reused pid apart."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def _real_uid(pid: int | str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Uid:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def session_pids(sid: int, uid: int | None = None) -> list[int]:
    """Every live process of a session (the job script, jairun, all ranks and their children);
    with `uid`, only those of that Unix user: a job's processes, never anyone else's."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        fields = _stat_fields(name)
        # fields[0] is the state, fields[3] the session id (see proc(5))
        if fields and int(fields[3]) == sid and fields[0] != "Z" and (uid is None or _real_uid(name) == uid):
            pids.append(int(name))
    return pids


def verified_session(sid: int | None, leader_start: int | None, uid: int | None) -> int | None:
    """The job's session id if it is still the job's: its leader, when alive, is the process the
    supervisor started (same start time), so a reused pid never receives the job's signals."""
    if sid is None:
        return None
    start = process_start(sid)
    if start is not None and leader_start is not None and start != leader_start:
        return None
    return sid


def signal_session(sid: int, sig: int, uid: int | None = None) -> int:
    sent = 0
    for pid in session_pids(sid, uid):
        try:
            os.kill(pid, sig)
            sent += 1
        except ProcessLookupError:
            pass
    return sent
