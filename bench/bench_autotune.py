"""Benchmark of distributed auto-tuning (not a test): one study definition, 8 trials, run by
1 worker job vs 2 worker jobs sharing the study in PostgreSQL (local scheduler), plus one job
running 2 trials at a time in threads (cpu-2 spec) for comparison. Wall time is from submit to
the last job's end as hpcai sees it; ratios are against the 1-worker run of the same process.

    HPCAI_TEST_PG_URL=postgresql+psycopg://... .venv/bin/python bench/bench_autotune.py [--epochs 60]

Without HPCAI_TEST_PG_URL it starts tests/services/postgres.sh (port HPCAI_TEST_PG_PORT).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.config import load_config  # noqa: E402
from core.platform import Platform  # noqa: E402
from core.types import JobState  # noqa: E402
from core.users import current_user  # noqa: E402

TRIALS = 8


def pg_url() -> str:
    url = os.environ.get("HPCAI_TEST_PG_URL")
    if url:
        return url
    script = ROOT / "tests" / "services" / "postgres.sh"
    subprocess.run(["bash", str(script), "start"], check=True, timeout=120)
    return subprocess.run(["bash", str(script), "url"], check=True, timeout=30, capture_output=True,
                          text=True).stdout.strip()


def run(platform: Platform, project: Path, workers: int, parallelism: int, spec: str, epochs: int) -> float:
    user = current_user()
    values = {"framework": "pytorch", "resource_spec": spec, "workdir": str(project),
              "command": f"python sgd_digits.py --epochs {epochs}", "autotune": True,
              "autotune_file": str(project / "params_tpe.json"), "autotune_trials": TRIALS,
              "autotune_pruner": "NopPruner", "autotune_workers": workers,
              "autotune_parallelism": parallelism, "name": f"bench-w{workers}-p{parallelism}"}
    t0 = time.perf_counter()
    first = platform.jobs.submit(platform.jobs.request_from_values(values, user, "bench"))
    ids = list(range(first.id, first.id + workers))
    while True:
        platform.jobs.refresh()
        rows = [platform.jobs.get(i, user) for i in ids]
        if all(JobState(r.state).terminal for r in rows):
            break
        time.sleep(0.05)
    wall = time.perf_counter() - t0
    bad = [r for r in rows if r.state != "succeeded"]
    if bad:
        raise SystemExit(f"job {bad[0].id} {bad[0].state}: see {bad[0].job_dir}")
    rep = platform.jobs.option_report(first.id, user, "autotune")
    done = sum(rep["counts"].values())
    print(f"  {workers} worker job(s) x {parallelism} thread(s): {wall:6.2f} s, {done} trials, "
          f"best accuracy {rep['best'][0]['values']['accuracy']:.4f}", flush=True)
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=60, help="epochs per trial (trial length)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="hpcai-bench-tune-") as tmp:
        data = Path(tmp) / "data"
        project = Path(tmp) / "project"
        shutil.copytree(ROOT / "examples" / "autotune", project)
        os.environ.update({"HPCAI_DATA_DIR": str(data), "HPCAI_DB_URL": pg_url()})
        os.environ.pop("HPCAI_TUNE_STORAGE", None)
        platform = Platform(load_config())
        print(f"{TRIALS} trials of sgd_digits.py --epochs {args.epochs} (TPE, no pruning), "
              f"{os.cpu_count()} cores, local scheduler, study in PostgreSQL")
        one = run(platform, project, 1, 1, "cpu-1", args.epochs)
        two = run(platform, project, 2, 1, "cpu-1", args.epochs)
        threads = run(platform, project, 1, 2, "cpu-2", args.epochs)
        print(f"speed-up, 2 worker jobs vs 1: {one / two:.2f}x; 1 job with 2 threads vs 1: {one / threads:.2f}x")


if __name__ == "__main__":
    main()
