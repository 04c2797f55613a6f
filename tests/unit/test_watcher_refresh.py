"""JobService.refresh at scale: one squeue, only changed rows written, in one transaction, ports of
ended jobs released, the state-change hook called once per real change. The Slurm commands replay
the recorded output tests/fixtures/slurm/squeue-O-22.05.8.txt (README.md there)."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import event, select

from core.config import load_config
from core.hookspecs import hookimpl
from core.platform import Platform
from core.store import JobRow, PortAllocation

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "slurm"
JOBS = {"11": "11111111-1111-1111-1111-111111111111", "12": "22222222-2222-2222-2222-222222222222",
        "14": "44444444-4444-4444-4444-444444444444", "15": "55555555-5555-5555-5555-555555555555"}


class Audit:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    @hookimpl
    def hpcai_job_state_changed(self, job: Any, old: Any, new: Any) -> None:
        self.seen.append((job.scheduler_job_id, old.value, new.value))


def platform(tmp_path: Path) -> Platform:
    config = load_config({"HPCAI_DATA_DIR": str(tmp_path), "HPCAI_DEFAULT_SCHEDULER": "slurm"})
    queue, sacct = FIXTURES / "squeue-O-22.05.8.txt", FIXTURES / "sacct-c-O-22.05.8.txt"
    # squeue -O gives no exit status: Slurm's accounting (the recorded sacct -c) gives 11's and 12's.
    config.schedulers.setdefault("slurm", {})["commands"] = {
        "squeue": ["sh", "-c", f'cat "{queue}"', "squeue"], "sacct": ["sh", "-c", f'cat "{sacct}"', "sacct"]}
    recorded = datetime.fromisoformat("2026-12-03T07:43:11").astimezone(timezone.utc).timestamp()
    p = Platform(config)
    with p.store.session() as s:
        for sid, uuid in JOBS.items():
            d = tmp_path / "spool" / uuid
            d.mkdir(parents=True)
            (d / "plan.json").write_text("{}")
            os.utime(d / "plan.json", (recorded, recorded))  # written just before those submissions
            if sid in ("11", "12"):  # what the jobs' users wrote: not what decides
                (d / "exit_code").write_text("7")
            s.add(JobRow(uuid=uuid, user="root", name=sid, mode="standalone", runtime="host", scheduler="slurm",
                         scheduler_job_id=sid, state="queued", job_dir=str(d), request={}, plan={}, script=""))
        s.add(PortAllocation(port=29123, job_uuid=JOBS["11"]))
    return p


def test_one_cycle_writes_changed_rows_once(tmp_path: Path) -> None:
    p = platform(tmp_path)
    audit = Audit()
    p.registry.active.register(audit, name="audit")
    writes: list[str] = []

    @event.listens_for(p.store.engine, "before_cursor_execute")
    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.split()[0] in ("UPDATE", "INSERT", "DELETE"):
            writes.append(statement)

    assert p.jobs.refresh(["slurm"]) == 4  # 14 stays queued but gets its pending reason
    with p.store.session() as s:
        rows = {r.scheduler_job_id: r for r in s.scalars(select(JobRow))}
        ports = list(s.scalars(select(PortAllocation)))
    assert (rows["11"].state, rows["11"].exit_code) == ("succeeded", 0)
    assert (rows["12"].state, rows["12"].exit_code) == ("failed", 3)
    assert rows["14"].state == "queued" and rows["14"].reason == "waiting behind higher-priority jobs"
    assert rows["15"].state == "running" and rows["15"].exec_hosts == "gpu1" and rows["15"].start_time
    assert ports == []  # job 11 ended: its port is free again
    assert sorted(audit.seen) == [("11", "queued", "succeeded"), ("12", "queued", "failed"),
                                  ("15", "queued", "running")]
    # a few statements (one executemany per set of reported fields, one port release), not one per job
    assert len(writes) <= 4 and sum(w.startswith("DELETE") for w in writes) == 1
    writes.clear()
    audit.seen.clear()
    assert p.jobs.refresh(["slurm"]) == 0  # nothing changed: nothing written, no hook
    assert writes == [] and audit.seen == []
