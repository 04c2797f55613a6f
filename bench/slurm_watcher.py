"""Slurm benchmarks: submit latency and scheduler commands per watcher cycle.

    bash tests/services/slurm.sh start
    .venv/bin/python bench/slurm_watcher.py [--submits 10] [--counts 1,50,200]

1. Submit latency: hpcai's JobService.submit (validation, store row, job directory, render,
   sbatch) and the `hpcai submit` CLI, each against raw `sbatch --wrap` measured in the same run.
2. Watcher cost: with 1, 50 and 200 live jobs, how many scheduler commands one
   `JobService.refresh()` runs (goal: one, whatever the count) and how long it takes, against
   the per-job polling others do (`squeue -j ID` once per job) measured on the same jobs.
Jobs are submitted held (`sbatch -H`) for part 2, so nothing runs; all are cancelled at the end.
Prints ratios; asserts nothing (benchmarks are not tests).
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

from core.config import load_config  # noqa: E402
from core.platform import Platform  # noqa: E402
from core.store import JobRow  # noqa: E402
from core.types import JobRequest  # noqa: E402


def slurm_conf() -> str:
    conf = subprocess.run(["bash", str(REPO / "tests/services/slurm.sh"), "conf"], capture_output=True,
                          text=True, timeout=30).stdout.strip()
    ok = subprocess.run(["bash", str(REPO / "tests/services/slurm.sh"), "status"], capture_output=True, timeout=30)
    if ok.returncode != 0:
        sys.exit("start the test cluster first: bash tests/services/slurm.sh start")
    return conf


def sbatch(env: dict[str, str], *args: str) -> str:
    out = subprocess.run(["sbatch", "--parsable", *args], capture_output=True, text=True, timeout=60, env=env)
    if out.returncode != 0:
        sys.exit(out.stderr)
    return out.stdout.strip().split(";")[0]


def timed(fn, n: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--submits", type=int, default=10)
    ap.add_argument("--counts", default="1,50,200")
    args = ap.parse_args()
    conf = slurm_conf()
    env = {**os.environ, "SLURM_CONF": conf}
    root = Path(tempfile.mkdtemp(prefix="hpcai-bench-"))
    wd = root / "work"
    wd.mkdir()
    environ = {"HPCAI_DATA_DIR": str(root), "HPCAI_DEFAULT_SCHEDULER": "slurm"}
    config = load_config(environ)
    config.schedulers.setdefault("slurm", {})["slurm_conf"] = conf
    platform = Platform(config)
    sched = platform.registry.scheduler("slurm")
    ids: list[str] = []

    def hpcai_submit() -> None:
        req = JobRequest(user="root", command="true", workdir=str(wd), framework="pytorch",
                         options={"resource_spec": "cpu-1"}, source="bench")
        ids.append(platform.jobs.submit(req).scheduler_job_id or "")

    def raw_submit() -> None:
        ids.append(sbatch(env, "--wrap", "true", "-o", "/dev/null"))

    cli_env = {**env, **environ, "HPCAI_CONFIG": str(root / "hpcai.toml")}
    text = (REPO / "etc/hpcai.toml").read_text()
    text = text.replace("[schedulers.slurm]\n", f'[schedulers.slurm]\nslurm_conf = "{conf}"\n', 1)
    (root / "hpcai.toml").write_text(text)

    def cli_submit() -> None:
        subprocess.run([str(Path(sys.executable).parent / "hpcai"), "submit", "--framework", "pytorch",
                        "--resource-spec", "cpu-1", "--workdir", str(wd), "--", "true"],
                       env=cli_env, capture_output=True, timeout=120, check=True)

    hpcai_submit()  # warm: plugin load, schema, migrations
    raw_submit()
    raw = statistics.median(timed(raw_submit, args.submits))
    api = statistics.median(timed(hpcai_submit, args.submits))
    cli = statistics.median(timed(cli_submit, max(3, args.submits // 3)))
    print(f"submit latency (median of {args.submits}): raw sbatch --wrap {raw * 1000:.0f} ms; "
          f"hpcai API {api * 1000:.0f} ms (x{api / raw:.1f}); hpcai CLI {cli * 1000:.0f} ms (x{cli / raw:.1f})")
    platform.jobs.refresh(["slurm"])

    # Part 2: live jobs in the store, held in Slurm. Earlier jobs end first (they are trivial).
    end = time.time() + 120
    while time.time() < end and platform.jobs.list("root", states=["queued", "running", "unknown"])[1]:
        platform.jobs.refresh(["slurm"])
        time.sleep(1)
    held: list[str] = []
    print(f"{'live jobs':>9} {'hpcai cmds/cycle':>17} {'cycle ms':>9} {'per-job cmds':>13} "
          f"{'per-job ms':>11} {'ratio':>6}")
    for count in [int(c) for c in args.counts.split(",")]:
        while len(held) < count:
            jid = sbatch(env, "-H", "--wrap", "true", "-o", "/dev/null")
            held.append(jid)
            job_dir = root / "spool" / "root" / str(uuid.uuid4())
            job_dir.mkdir(parents=True)
            (job_dir / "plan.json").write_text("{}")
            with platform.store.session() as s:
                s.add(JobRow(uuid=job_dir.name, user="root", name="held", mode="standalone", runtime="host",
                             scheduler="slurm", scheduler_job_id=jid, state="queued", job_dir=str(job_dir),
                             request={}, plan={}, script=""))
        before = sched.commands_run
        t0 = time.perf_counter()
        platform.jobs.refresh(["slurm"])
        cycle = time.perf_counter() - t0
        cmds = sched.commands_run - before
        t0 = time.perf_counter()
        for jid in held:  # the per-job way (one squeue per job)
            subprocess.run(["squeue", "-h", "-j", jid, "-o", "%T"], env=env, capture_output=True, timeout=60)
        naive = time.perf_counter() - t0
        print(f"{count:>9} {cmds:>17} {cycle * 1000:>9.0f} {count:>13} {naive * 1000:>11.0f} {naive / cycle:>5.1f}x")
    subprocess.run(["scancel", *held, *ids], env=env, capture_output=True, timeout=120)
    shutil.rmtree(root, ignore_errors=True)
    print(f"(cancelled {len(held) + len(ids)} jobs)")


if __name__ == "__main__":
    main()
