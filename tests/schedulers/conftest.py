"""The conformance suite's backends: every live scheduler runs the same tests unchanged.

`backend` is module-scoped and parametrised, so each test module runs its tests grouped per
scheduler (local, slurm). A backend is a Platform whose default scheduler is that one, with
its own spool under the test scratch directory and the real PostgreSQL of tests/services.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from core.config import load_config
from core.plan import ResourceRequest, RoleGroup
from core.platform import Platform
from core.store import JobRow
from core.types import JobRequest, JobState

REPO = Path(__file__).resolve().parents[2]
SCRATCH = Path(os.environ.get("HPCAI_TEST_SCRATCH") or REPO / "var" / "test-scratch")
BACKENDS = ["local", "slurm", "drmaa"]
WAIT_LIMIT = 240.0  # seconds before a wait gives up (hang protection, not a timing assertion)


@dataclass
class Backend:
    name: str
    platform: Platform
    root: Path
    side_queue: str | None = None  # where long jobs go so they do not block the others
    cleanup: list[int] = field(default_factory=list)

    @property
    def caps(self) -> frozenset[str]:
        return self.platform.registry.scheduler(self.name).capabilities

    def workdir(self) -> Path:
        d = self.root / "work" / uuid.uuid4().hex[:8]
        d.mkdir(parents=True)
        os.chmod(d, 0o777)
        return d

    def request(self, command: str, workdir: Path | None = None, **kw: Any) -> JobRequest:
        kw.setdefault("framework", "pytorch")
        kw.setdefault("options", {"resource_spec": "cpu-1"})
        # A user other than root (the platform): jobs run as the harness-made Unix user hpc-tester.
        return JobRequest(user=kw.pop("user", "tester"), command=command,
                          workdir=str(workdir or self.workdir()), source="test", **kw)

    def submit(self, req: JobRequest) -> JobRow:
        row = self.platform.jobs.submit(req)
        self.cleanup.append(row.id)
        return row

    def job(self, job_id: int) -> JobRow:
        self.platform.jobs.refresh([self.name])
        return self.platform.jobs.get(job_id, "root")

    def wait(self, job_id: int, until: Callable[[JobRow], bool], limit: float = WAIT_LIMIT) -> JobRow:
        end = time.monotonic() + limit
        while True:
            row = self.job(job_id)
            if until(row) or time.monotonic() > end:
                return row
            time.sleep(0.5)

    def finish(self, job_id: int, limit: float = WAIT_LIMIT) -> JobRow:
        return self.wait(job_id, lambda r: JobState(r.state).terminal, limit)

    def log(self, row: JobRow) -> str:
        path = Path(row.stdout_path or "")
        return path.read_text(errors="replace") if path.exists() else ""


def make_platform(scheduler: str, root: Path, db_url: str, slurm_conf: str | None = None,
                  env: dict[str, str] | None = None) -> Platform:
    environ = {"HPCAI_DATA_DIR": str(root), "HPCAI_DB_URL": db_url,
               "HPCAI_DEFAULT_SCHEDULER": scheduler, **(env or {})}
    config = load_config(environ)
    config.schedulers.setdefault("local", {})["cpus"] = 4  # room for a long job beside the others
    config.schedulers.setdefault("drmaa", {})["slots"] = os.cpu_count() or 1  # all.q's slots
    slurm = config.schedulers.setdefault("slurm", {})
    if slurm_conf:
        slurm["slurm_conf"] = slurm_conf
        slurm["partitions"] = {**slurm.get("partitions", {}), "ai_excl": "all"}
    return Platform(config)


@pytest.fixture(scope="session")
def backend_pool(request: pytest.FixtureRequest, pg_url: str) -> Iterator[dict[str, Backend | str]]:
    """Every backend this machine can run (else why not), each with its over-time job
    already submitted: the 1-minute time-limit waits of all backends overlap the other tests."""
    pool: dict[str, Backend | str] = {}
    for name in BACKENDS:
        try:
            conf = request.getfixturevalue("slurm_conf") if name == "slurm" else None
            if name == "drmaa":
                request.getfixturevalue("gridengine")
        except pytest.skip.Exception as exc:
            pool[name] = str(exc)
            continue
        root = SCRATCH / f"sched-{name}-{uuid.uuid4().hex[:6]}"
        root.mkdir(parents=True)
        os.chmod(root, 0o755)
        b = Backend(name, make_platform(name, root, pg_url, conf), root,
                    side_queue="gpu" if name == "slurm" else None)
        b.overtime = b.submit(b.request("echo started; sleep 600", time_limit_min=1,  # type: ignore[attr-defined]
                                        queue=b.side_queue))
        pool[name] = b
    yield pool
    for b in pool.values():
        if isinstance(b, str):
            continue
        for job_id in b.cleanup:  # leave no job running behind the suite
            try:
                row = b.platform.jobs.get(job_id, "root")
                if not JobState(row.state).terminal:
                    b.platform.jobs.kill(job_id, "root")
            except Exception:
                pass
        shutil.rmtree(b.root, ignore_errors=True)


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest, backend_pool: dict[str, Backend | str]) -> Backend:
    b = backend_pool[request.param]
    if isinstance(b, str):
        pytest.skip(b)
    return b


def explicit(cpus: int, count: int = 1, gpus: int = 0) -> list[RoleGroup]:
    """A machine-file style topology: `count` instances of `cpus` CPUs (and GPUs)."""
    return [RoleGroup(count, ResourceRequest(cpus=cpus, gpus=gpus))]
