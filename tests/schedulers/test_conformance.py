"""Conformance: the same jobs behave the same on every scheduler with a live backend.

Runs once per backend of tests/schedulers/conftest.py (local, slurm). Real processes, real
torch (gloo) for DDP, the real Slurm of tests/services/slurm.sh.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from core.store import JobRow
from tests.schedulers.conftest import Backend, explicit

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable


@pytest.fixture(scope="module")
def overtime(backend: Backend) -> JobRow:
    """A job that outlives its 1-minute limit, submitted with the backend (conftest.py) so
    the wait overlaps every other test."""
    return backend.overtime  # type: ignore[attr-defined, no-any-return]


def test_standalone(backend: Backend, overtime: JobRow) -> None:
    wd = backend.workdir()
    row = backend.submit(backend.request(
        f"{PY} -c \"import os; print('hello from', os.environ['HPCAI_JOB_ID']); open('done', 'w')\"", wd))
    row = backend.finish(row.id)
    assert row.state == "succeeded", (row.state, row.reason, backend.log(row))
    assert row.exit_code == 0
    assert f"hello from {row.scheduler_job_id}" in backend.log(row)
    assert (wd / "done").exists()
    assert (Path(row.job_dir) / "job.sh").read_text() == row.script  # the script is kept


def test_ddp_two_ranks_agree(backend: Backend) -> None:
    wd = backend.workdir()
    (wd / "ddp_train.py").write_text((REPO / "examples" / "pytorch" / "ddp_train.py").read_text())
    req = backend.request("python ddp_train.py --steps 5", wd, mode="ddp",
                          options={"instances": 2, "resource_spec": "cpu-1"})
    row = backend.finish(backend.submit(req).id)
    assert row.state == "succeeded", (row.reason, backend.log(row))
    results = [json.loads((wd / f"ddp_result.{r}.json").read_text()) for r in (0, 1)]
    assert [r["rank"] for r in results] == [0, 1]
    assert {r["world_size"] for r in results} == {2}
    assert results[0]["param_sum"] == results[1]["param_sum"]  # DDP kept the replicas identical
    assert results[0]["params"] == results[1]["params"]
    assert results[0]["master"] == results[1]["master"]
    for rank in (0, 1):
        assert (Path(row.job_dir) / "logs" / f"worker.{rank}.log").exists()


def _ticker(backend: Backend) -> JobRow:
    cmd = "for i in $(seq 1 600); do echo tick $i; sleep 0.5; done"
    row = backend.submit(backend.request(cmd))
    row = backend.wait(row.id, lambda r: r.state == "running" and "tick 2" in backend.log(r))
    assert row.state == "running" and "tick 2" in backend.log(row), (row.state, row.reason)
    return row


def test_logs_while_running_then_kill(backend: Backend) -> None:
    row = _ticker(backend)
    seen = backend.log(row).count("tick")
    row = backend.wait(row.id, lambda r: backend.log(r).count("tick") > seen + 1)
    assert backend.log(row).count("tick") > seen  # the log grows while the job runs
    killed = backend.platform.jobs.kill(row.id, "root")
    row = backend.finish(killed.id)
    assert row.state == "cancelled", (row.state, row.raw_state, row.reason)


def test_suspend_resume(backend: Backend) -> None:
    if "suspend" not in backend.caps:
        pytest.skip(f"{backend.name} cannot suspend jobs")
    row = _ticker(backend)
    jobs = backend.platform.jobs
    row = jobs.suspend(row.id, "root")
    row = backend.wait(row.id, lambda r: r.state == "suspended")
    assert row.state == "suspended", (row.state, row.raw_state)
    frozen = backend.log(row).count("tick")
    row = jobs.resume(row.id, "root")
    row = backend.wait(row.id, lambda r: r.state == "running" and backend.log(r).count("tick") > frozen + 1)
    assert row.state == "running" and backend.log(row).count("tick") > frozen
    jobs.kill(row.id, "root")
    assert backend.finish(row.id).state == "cancelled"


def test_array_of_four(backend: Backend) -> None:
    if "arrays" not in backend.caps:
        pytest.skip(f"{backend.name} does not run job arrays")
    wd = backend.workdir()
    row = backend.submit(backend.request('echo "task $HPCAI_ARRAY_INDEX" > out.$HPCAI_ARRAY_INDEX', wd,
                                         array_size=4))
    row = backend.finish(row.id)
    assert row.state == "succeeded", (row.reason, row.raw_state)
    assert sorted(p.name for p in wd.glob("out.*")) == ["out.0", "out.1", "out.2", "out.3"]
    assert (wd / "out.3").read_text().strip() == "task 3"


def test_nonzero_exit_is_failed_with_its_code(backend: Backend) -> None:
    row = backend.finish(backend.submit(backend.request("echo about to fail; exit 3")).id)
    assert row.state == "failed"
    assert row.exit_code == 3
    assert "3" in (row.reason or "")


def test_oversubscription_waits_queued(backend: Backend) -> None:
    total = backend.platform.registry.scheduler(backend.name).cluster_info(None).total_cpus
    big = dict(mode="standalone", groups=explicit(total), options={})
    first = backend.submit(backend.request("sleep 600", **big))
    second = backend.submit(backend.request("sleep 600", **big))
    row = backend.wait(second.id, lambda r: r.state == "queued" and bool(r.reason))
    assert row.state == "queued", (row.state, row.raw_state)
    assert row.reason  # in words: why it waits
    for job in (second, first):
        backend.platform.jobs.kill(job.id, "root")
    assert backend.finish(second.id).state == "cancelled"
    assert backend.finish(first.id).state == "cancelled"


def test_time_limit_exceeded(backend: Backend, overtime: JobRow) -> None:
    row = backend.finish(overtime.id, limit=300)
    assert row.state == "failed", (row.state, row.raw_state, row.reason)
    assert row.raw_state == "TIMEOUT"
    assert "time limit" in (row.reason or "")


def test_jobs_submitted_at_once_all_succeed(backend: Backend) -> None:
    """Twelve submissions from six threads (more than the local scheduler's 4 CPUs: queued
    supervisors keep polling admit() meanwhile), polled while they start: none is taken for lost (the
    local ledger once held a new entry without its supervisor's pid, and another supervisor or
    the watcher retired it as LOST)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(6) as pool:
        rows = list(pool.map(lambda i: backend.submit(backend.request(f"echo at-once {i}")), range(12)))
    finished = [backend.finish(r.id) for r in rows]
    assert [(r.state, r.raw_state, r.reason) for r in finished] == [("succeeded", r.raw_state, None)
                                                                     for r in finished]
