"""LSF watcher cost at scale, replayed (no LSF runs here: it is proprietary).

    .venv/bin/python bench/lsf_watcher_replay.py [--counts 1,200,2000,5000]

One `bjobs -json` answer with N records is built from the records of
tests/fixtures/lsf/bjobs-json-10.1.json (60 % pending, 35 % running, 5 % ended), each with a
job directory; `LsfScheduler.poll` reads it through its configurable command (`cat`), as it reads
bjobs. Prints the cycle in ms split into the command and the parsing, and the old per-job
loop (exit_code and plan.json read for every job, ended or not) on the same answer. Asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.api import JobRef  # noqa: E402
from core.jobfiles import combine_statuses, plan_field, read_int  # noqa: E402
from plugins.schedulers.lsf import LsfScheduler, parse_bjobs_json, status_of  # noqa: E402

FIXTURE = REPO / "tests/fixtures/lsf/bjobs-json-10.1.json"


def answer(root: Path, count: int) -> tuple[Path, list[JobRef]]:
    recs = {r["STAT"]: r for r in json.loads(FIXTURE.read_text())["RECORDS"] if r.get("JOBINDEX") == "0"}
    records, refs = [], []
    for i in range(count):
        kind = "PEND" if i % 20 < 12 else ("RUN" if i % 20 < 19 else "DONE")
        jid = str(100000 + i)
        records.append({**recs[kind], "JOBID": jid})
        d = root / "spool" / f"job-{jid}"
        d.mkdir(parents=True)
        (d / "plan.json").write_text('{"time_limit_min": 60}')
        if kind == "DONE":
            (d / "exit_code").write_text("0")
        refs.append(JobRef(jid, str(d)))
    out = root / f"bjobs-{count}.json"
    out.write_text(json.dumps({"COMMAND": "bjobs", "JOBS": count, "RECORDS": records}))
    return out, refs


def old_loop(text: str, refs: list[JobRef]) -> None:
    """The per-job part of poll() before issue 22: both files read for every job."""
    records = parse_bjobs_json(text)
    for ref in refs:
        limit = plan_field(ref.job_dir, "time_limit_min", None)
        parts = [status_of(rec, read_int(Path(ref.job_dir) / "exit_code"), limit)
                 for rec in records.get(ref.scheduler_job_id, [])]
        combine_statuses(parts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--counts", default="1,200,2000,5000")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="hpcai-lsf-bench-"))
    try:
        print(f"{'live':>5} {'cycle ms':>9} {'command':>8} {'parse':>7} | {'old per-job loop ms':>20}")
        for count in [int(c) for c in args.counts.split(",")]:
            path, refs = answer(root / str(count), count)
            sched = LsfScheduler()
            sched.configure({"commands": {"bjobs": ["sh", "-c", f'cat "{path}"', "bjobs"]}}, str(root))
            cycles, cmds = [], []
            for _ in range(3):
                t0 = time.perf_counter()
                statuses = sched.poll(refs)
                cycles.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                sched._run("bjobs", [])
                cmds.append(time.perf_counter() - t0)
            assert len(statuses) == count
            text = path.read_text()
            olds = []
            for _ in range(3):
                t0 = time.perf_counter()
                old_loop(text, refs)
                olds.append(time.perf_counter() - t0)
            cycle, cmd, old = (statistics.median(x) * 1000 for x in (cycles, cmds, olds))
            print(f"{count:>5} {cycle:>9.0f} {cmd:>8.0f} {cycle - cmd:>7.0f} | {old:>20.0f}", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
