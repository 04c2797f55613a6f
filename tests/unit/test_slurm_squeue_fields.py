"""The watcher's `squeue -O` query (issue 22), replayed from a recorded real output.

Fixture: tests/fixtures/slurm/squeue-O-22.05.8.txt (README.md there says how it was captured).
The scheduler reads it through its configurable command names, exactly as it reads Slurm.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from core.api import JobRef
from core.types import JobState
from plugins.schedulers.slurm import SlurmScheduler
from plugins.schedulers.slurm.status import SQUEUE_ARGS, SQUEUE_FIELDS, parse_squeue, parse_squeue_fields

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "slurm"
QUEUE = (FIXTURES / "squeue-O-22.05.8.txt").read_text()
SACCT = (FIXTURES / "sacct-c-O-22.05.8.txt").read_text()


def scheduler(tmp_path: Path, squeue: str, sacct: str = "") -> SlurmScheduler:
    """Commands that print recorded outputs; the sacct replay logs its arguments."""
    (tmp_path / "squeue.out").write_text(squeue)
    (tmp_path / "sacct.out").write_text(sacct)
    log = tmp_path / "sacct.args"
    sched = SlurmScheduler()
    sched.configure({"commands": {
        "squeue": ["sh", "-c", f'echo "$SLURM_TIME_FORMAT $*" > "{tmp_path}/squeue.args"; cat "{tmp_path}/squeue.out"',
                   "squeue"],
        "sacct": ["sh", "-c", f'echo "$*" >> "{log}"; cat "{tmp_path}/sacct.out"', "sacct"]},
        "accounting": "jobcomp"}, str(tmp_path))
    return sched


def job_dir(tmp_path: Path, uuid: str, exit_code: str | None = None, array: int = 0) -> str:
    d = tmp_path / "spool" / uuid
    d.mkdir(parents=True)
    (d / "plan.json").write_text(f'{{"array_size": {array}}}')
    if exit_code is not None:
        (d / "exit_code").write_text(exit_code)
    return str(d)


def test_fields_fixture_parses() -> None:
    jobs = {j.job_id: j for j in parse_squeue_fields(QUEUE)}
    assert jobs["11"].state == "COMPLETED" and jobs["11"].exit_status is None
    assert jobs["11"].comment == "hpcai:11111111-1111-1111-1111-111111111111"
    assert jobs["11"].start is not None and jobs["11"].start.year == 2026
    assert jobs["12"].reason == "NonZeroExitCode"
    assert jobs["13"].array_job_id == "13" and jobs["13"].array_task_id is None  # pending 2-3
    assert jobs["18"].array_job_id == "13" and jobs["18"].array_task_id == 0
    assert jobs["14"].reason == "Priority" and jobs["14"].array_job_id is None
    assert jobs["15"].nodes == "gpu1" and jobs["15"].end is None
    assert jobs["16"].het_job_id == "16" and jobs["17"].het_job_id == "16"
    assert jobs["20"].comment == "not ours | a comment with a bar"  # Comment is last: `|` kept
    assert parse_squeue(QUEUE) == parse_squeue_fields(QUEUE)


def test_the_query_asks_only_the_used_fields() -> None:
    fmt = SQUEUE_ARGS[SQUEUE_ARGS.index("-O") + 1]
    assert fmt.split(",") == [f"{f}:|" for f in SQUEUE_FIELDS] and SQUEUE_FIELDS[-1] == "Comment"
    assert "-h" in SQUEUE_ARGS and SQUEUE_ARGS[SQUEUE_ARGS.index("-t") + 1] == "all"


def test_a_torn_or_foreign_line_is_skipped_not_misread() -> None:
    assert parse_squeue_fields("squeue: error: something\n12|12|N/A\n\n") == []


def test_one_squeue_answers_for_all_jobs(tmp_path: Path) -> None:
    sched = scheduler(tmp_path, QUEUE)
    refs = [JobRef("11", job_dir(tmp_path, "11111111-1111-1111-1111-111111111111", "0")),
            # The job's user wrote 0 over a failure: Slurm's record, not the file, is the outcome.
            JobRef("12", job_dir(tmp_path, "22222222-2222-2222-2222-222222222222", "0")),
            JobRef("13", job_dir(tmp_path, "33333333-3333-3333-3333-333333333333", array=4)),
            JobRef("14", job_dir(tmp_path, "44444444-4444-4444-4444-444444444444")),
            JobRef("15", job_dir(tmp_path, "55555555-5555-5555-5555-555555555555")),
            JobRef("16", job_dir(tmp_path, "66666666-6666-6666-6666-666666666666"))]
    st = sched.poll(refs)
    assert sched.commands_run == 2  # squeue, then ONE sacct for the two that ended in the queue
    assert (tmp_path / "sacct.args").read_text().count("\n") == 1
    assert (tmp_path / "squeue.args").read_text().startswith("%s -h -a -t all -O JobID:|")
    assert st["11"].state == JobState.SUCCEEDED
    assert st["12"].state == JobState.FAILED  # the forged exit_code file was not read
    assert st["13"].state == JobState.RUNNING and "tasks ended" in (st["13"].reason or "")  # 2 run, the pending rest is one line
    assert st["14"].state == JobState.QUEUED and st["14"].reason == "waiting behind higher-priority jobs"
    assert st["15"].state == JobState.RUNNING and st["15"].exec_hosts == "gpu1"
    assert st["16"].state == JobState.QUEUED  # both het components wait


def test_ended_without_exit_code_file_asks_sacct_once_for_all(tmp_path: Path) -> None:
    sched = scheduler(tmp_path, QUEUE, SACCT)
    refs = [JobRef("11", job_dir(tmp_path, "11111111-1111-1111-1111-111111111111")),
            JobRef("12", job_dir(tmp_path, "22222222-2222-2222-2222-222222222222")),
            JobRef("14", job_dir(tmp_path, "44444444-4444-4444-4444-444444444444"))]
    recorded = datetime.fromisoformat("2026-12-03T07:43:11").astimezone(timezone.utc).timestamp()
    for r in refs:  # our job directories were written just before those submissions
        os.utime(Path(r.job_dir) / "plan.json", (recorded, recorded))
    st = sched.poll(refs)
    assert sched.commands_run == 2
    assert "-j 11,12" in (tmp_path / "sacct.args").read_text()
    assert st["11"].state == JobState.SUCCEEDED and st["11"].exit_code == 0
    assert st["12"].state == JobState.FAILED and st["12"].exit_code == 3
    assert st["14"].state == JobState.QUEUED


def test_accounting_down_keeps_the_queue_answer(tmp_path: Path) -> None:
    sched = scheduler(tmp_path, QUEUE)
    sched.commands["sacct"] = ["sh", "-c", "echo 'sacct: error: boom' >&2; exit 1", "sacct"]
    st = sched.poll([JobRef("12", job_dir(tmp_path, "22222222-2222-2222-2222-222222222222"))])
    assert st["12"].state == JobState.FAILED  # squeue said FAILED: not unknown, not succeeded


def test_reused_id_is_not_our_job(tmp_path: Path) -> None:
    sched = scheduler(tmp_path, QUEUE)
    # Job 14 in the queue belongs to 4444...; ours had the same id before a controller reset.
    st = sched.poll([JobRef("14", job_dir(tmp_path, "99999999-9999-9999-9999-999999999999"))])
    assert st["14"].state == JobState.UNKNOWN
    assert sched.commands_run == 2  # squeue, then sacct for the job that left the queue


def test_failed_query_is_unknown(tmp_path: Path) -> None:
    sched = scheduler(tmp_path, QUEUE)
    sched.commands["squeue"] = ["sh", "-c", "echo 'squeue: error: Unable to contact slurm controller' >&2; exit 1",
                                "squeue"]
    st = sched.poll([JobRef("14", job_dir(tmp_path, "44444444-4444-4444-4444-444444444444"))])
    assert st["14"].state == JobState.UNKNOWN and "Unable to contact" in (st["14"].reason or "")


def test_json_output_still_parses_when_configured(tmp_path: Path) -> None:
    text = (FIXTURES / "squeue-22.05.8.json").read_text()
    sched = scheduler(tmp_path, text)
    sched.squeue_output = "json"
    st = sched.poll([JobRef("26", job_dir(tmp_path, "22222222-2222-2222-2222-222222222222"))])
    assert "--json" in (tmp_path / "squeue.args").read_text()
    assert st["26"].state == JobState.FAILED and st["26"].exit_code == 3
