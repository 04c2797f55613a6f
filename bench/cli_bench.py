"""CLI answer times: `hpcai --help`, `hpcai jobs`, `hpcai show`, `jjobs` against `squeue`.

    bash tests/services/slurm.sh start        # for the squeue baseline (skipped without it)
    .venv/bin/python bench/cli_bench.py [--runs 15] [--jobs 30]

A fresh data directory gets --jobs finished jobs (rows written through the platform, as a
submission would), then each command runs --runs times as a new process; the median, and
its ratio to `squeue` (and to a bare `python -c pass`, the floor of any Python CLI), are
printed. `hpcai jobs` is measured twice: with a watcher holding the data directory (what
`hpcai serve` runs; the CLI then reads the store directly) and without one (it asks the
schedulers first). Prints numbers; asserts nothing (benchmarks are not tests).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
BIN = Path(sys.executable).parent


def timed(argv: list[str], env: dict[str, str], runs: int) -> float:
    """Median wall seconds of `runs` fresh processes."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60, check=False)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def seed_jobs(data: Path, count: int) -> None:
    from core.config import load_config
    from core.platform import Platform
    from core.store import JobRow

    p = Platform(load_config({"HPCAI_DATA_DIR": str(data)}))
    p.store.migrate()
    user = os.environ.get("USER") or "root"
    with p.store.session() as s:
        for n in range(count):
            s.add(JobRow(uuid=str(uuid.uuid4()), user=user, name=f"bench-{n}", framework="pytorch",
                         mode="standalone", runtime="host", scheduler="local", scheduler_job_id=str(n + 1),
                         state="succeeded", job_dir=str(data / "spool" / str(n)), request={}, plan={},
                         script="", source="cli", exit_code=0))


def slurm_env() -> dict[str, str] | None:
    try:
        conf = subprocess.run(["bash", str(REPO / "tests/services/slurm.sh"), "conf"], capture_output=True,
                              text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    if not conf or not shutil.which("squeue"):
        return None
    env = dict(os.environ, SLURM_CONF=conf)
    ok = subprocess.run(["squeue", "-h"], env=env, capture_output=True, timeout=30)
    return env if ok.returncode == 0 else None


def hold_watcher_lock(data: Path) -> subprocess.Popen[bytes]:
    """A process holding the watcher lock, as `hpcai serve`'s watcher does (no scheduler polls:
    the commands' own cost is what is measured)."""
    code = ("import fcntl,os,sys,time; fd=os.open(sys.argv[1], os.O_RDWR|os.O_CREAT, 0o600); "
            "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(600)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(data / "watcher.lock")], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"held"
    return proc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--jobs", type=int, default=30)
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp(prefix="hpcai-cli-bench-"))
    try:
        seed_jobs(data, args.jobs)
        env = {k: v for k, v in os.environ.items() if not k.startswith("HPCAI_")}
        env["HPCAI_DATA_DIR"] = str(data)
        hpcai, jjobs = str(BIN / "hpcai"), str(BIN / "jjobs")
        results: dict[str, float] = {"python -c pass": timed([sys.executable, "-c", "pass"], env, args.runs)}
        sl = slurm_env()
        if sl is not None:
            results["squeue"] = timed(["squeue"], sl, args.runs)
        results["hpcai --help"] = timed([hpcai, "--help"], env, args.runs)
        results["hpcai jobs --help"] = timed([hpcai, "jobs", "--help"], env, args.runs)
        results["hpcai jobs (no watcher)"] = timed([hpcai, "jobs"], env, args.runs)
        holder = hold_watcher_lock(data)
        try:
            results["hpcai jobs"] = timed([hpcai, "jobs"], env, args.runs)
            results["hpcai show 1"] = timed([hpcai, "show", "1"], env, args.runs)
            results["jjobs -a"] = timed([jjobs, "-a"], env, args.runs)
        finally:
            holder.kill()
            holder.wait(timeout=10)
        base = results.get("squeue")
        floor = results["python -c pass"]
        print(f"{'command':26} {'median ms':>10} {'x squeue':>9} {'x python':>9}   ({args.runs} runs, "
              f"{args.jobs} jobs, load {os.getloadavg()[0]:.1f})")
        for name, sec in results.items():
            ratio = f"{sec / base:9.2f}" if base else f"{'-':>9}"
            print(f"{name:26} {sec * 1000:10.0f} {ratio} {sec / floor:9.2f}")
        if base is None:
            print("(squeue not measured: start the test cluster with bash tests/services/slurm.sh start)")
    finally:
        shutil.rmtree(data, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
