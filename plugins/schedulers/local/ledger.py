"""The local scheduler's shared state: a JSON ledger under an fcntl lock in the spool.

There is no daemon. Each submitted job gets its own supervisor process that waits for its
turn (FIFO by CPU and GPU slots), runs the job script and records the outcome here. Any
`hpcai` process can read the ledger and the job directory to learn a job's state, and signal
the job's session to kill, suspend or resume it.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator


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


class Ledger:
    def __init__(self, directory: Path):
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o1777)  # every user's supervisor records its job here
        self.path = self.dir / "ledger.json"
        self.lock_path = self.dir / "ledger.lock"

    @contextmanager
    def locked(self) -> Iterator[dict]:
        """Read-modify-write under an exclusive lock; the dict is written back on exit."""
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            data = self._read()
            before = json.dumps(data, sort_keys=True)
            yield data
            if json.dumps(data, sort_keys=True) != before:
                tmp = self.path.with_suffix(f".tmp{os.getpid()}")
                tmp.write_text(json.dumps(data))
                os.chmod(tmp, 0o666)
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


def session_pids(sid: int) -> list[int]:
    """Every live process of a session: the job script, jairun and all ranks and their children."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields[0] is the state, fields[3] the session id (see proc(5))
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(name))
    return pids


def signal_session(sid: int, sig: int) -> int:
    sent = 0
    for pid in session_pids(sid):
        try:
            os.kill(pid, sig)
            sent += 1
        except ProcessLookupError:
            pass
    return sent
