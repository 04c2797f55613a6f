"""Slurm benchmarks: submit latency and scheduler commands per watcher cycle.

    bash tests/services/slurm.sh start
    .venv/bin/python bench/slurm_watcher.py [--submits 10] [--counts 1,200,2000,5000]

1. Submit latency: hpcai's JobService.submit (validation, store row, job directory, render,
   sbatch) and the `hpcai submit` CLI, each against raw `sbatch --wrap` measured in the same run.
2. Watcher cost (issue 22): with 1, 200, 2 000 and 5 000 live jobs, how many scheduler commands
   one `JobService.refresh()` runs (goal: one, whatever the count) and how long it takes, split
   into scheduler command, parsing and store, when every row changes and when none does; the
   old path (`squeue --json`, one transaction per job) on the same jobs in the same run; and the
   per-job polling others do (`squeue -j ID` once per job; measured on 200, extrapolated).
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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import select, update  # noqa: E402

from core.api import JobRef  # noqa: E402
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


@dataclass
class Split:
    commands: int
    total: float  # ms
    command: float
    parse: float
    store: float


class CycleClock:
    """Times one cycle and its parts: the scheduler's commands, the rest of poll() (parsing,
    matching, file checks) and the rest of refresh() (reading and writing the store)."""

    def __init__(self, sched: Any) -> None:
        self.sched, self.in_cmd, self.in_poll = sched, 0.0, 0.0
        run, poll = sched._run, sched.poll

        def timed_run(*a: Any, **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return run(*a, **kw)
            finally:
                self.in_cmd += time.perf_counter() - t0

        def timed_poll(*a: Any, **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return poll(*a, **kw)
            finally:
                self.in_poll += time.perf_counter() - t0

        sched._run, sched.poll = timed_run, timed_poll

    def cycle(self, fn: Callable[[], Any]) -> Split:
        self.in_cmd = self.in_poll = 0.0
        before = self.sched.commands_run
        t0 = time.perf_counter()
        fn()
        total = time.perf_counter() - t0
        return Split(self.sched.commands_run - before, total * 1000, self.in_cmd * 1000,
                     (self.in_poll - self.in_cmd) * 1000, (total - self.in_poll) * 1000)


def add_held(platform: Platform, env: dict[str, str], root: Path, held: list[str], count: int) -> None:
    """Submit held jobs (8 sbatch at a time) and give each a live row, until `count` exist."""
    need = count - len(held)
    if need <= 0:
        return
    with ThreadPoolExecutor(8) as pool:
        new = list(pool.map(lambda _: sbatch(env, "-H", "--wrap", "true", "-o", "/dev/null"), range(need)))
    held.extend(new)
    with platform.store.session() as s:
        for jid in new:
            job_dir = root / "spool" / "root" / str(uuid.uuid4())
            job_dir.mkdir(parents=True)
            (job_dir / "plan.json").write_text("{}")
            s.add(JobRow(uuid=job_dir.name, user="root", name="held", mode="standalone", runtime="host",
                         scheduler="slurm", scheduler_job_id=jid, state="queued", job_dir=str(job_dir),
                         request={}, plan={}, script=""))


def mark_unseen(platform: Platform) -> None:
    """Make every live row differ from what the scheduler says, so the next cycle writes all."""
    with platform.store.session() as s:
        s.execute(update(JobRow).where(JobRow.state == "queued").values(raw_state=None, reason=None))


def old_refresh(platform: Platform) -> None:
    """The watcher before issue 22 (its code, kept here): every live row loaded whole, then one
    transaction per job (select by uuid, compare, update)."""
    with platform.store.session() as s:
        rows = list(s.scalars(select(JobRow).where(JobRow.state.in_(["queued", "running", "suspended",
                                                                     "unknown"]))))
    refs = [JobRef(r.scheduler_job_id or "", r.job_dir) for r in rows]
    statuses = platform.registry.scheduler("slurm").poll(refs)
    for row in rows:
        st = statuses.get(row.scheduler_job_id or "")
        if st is None:
            continue
        with platform.store.session() as s:
            r = s.scalars(select(JobRow).where(JobRow.uuid == row.uuid)).one()
            if (r.state, r.raw_state, r.exit_code, r.reason) == (st.state.value, st.raw_state, st.exit_code,
                                                                 st.reason):
                continue
            r.state, r.raw_state, r.reason = st.state.value, st.raw_state, st.reason
            r.exit_code = st.exit_code if st.exit_code is not None else r.exit_code
            r.start_time, r.end_time = st.start_time or r.start_time, st.end_time or r.end_time
            r.exec_hosts = st.exec_hosts or r.exec_hosts

def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--submits", type=int, default=10)
    ap.add_argument("--counts", default="1,200,2000,5000")
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
                         options={"resource_spec": "cpu-1"}, source="cli")
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
    # Interleaved, so the drift of a shared machine hits both alike.
    raw_t: list[float] = []
    api_t: list[float] = []
    for _ in range(args.submits):
        raw_t += timed(raw_submit, 1)
        api_t += timed(hpcai_submit, 1)
    raw, api = statistics.median(raw_t), statistics.median(api_t)
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
    clock = CycleClock(sched)
    print("one watcher cycle (JobService.refresh) by live jobs; ms split into scheduler command / "
          "parsing / store.\n  'changed': every row changes (first sight); 'steady': nothing changed; "
          "'before': squeue --json + one transaction per job (the old path), same jobs, same run.")
    print(f"{'live':>5} {'cmds':>4} | {'changed':>8} {'cmd':>5} {'parse':>5} {'store':>5} | "
          f"{'steady':>7} {'cmd':>5} {'parse':>5} {'store':>5} | {'before':>7} {'ratio':>6} | "
          f"{'per-job squeue':>14}")
    for count in [int(c) for c in args.counts.split(",")]:
        add_held(platform, env, root, held, count)
        mark_unseen(platform)
        changed = clock.cycle(lambda: platform.jobs.refresh(["slurm"]))
        steady = clock.cycle(lambda: platform.jobs.refresh(["slurm"]))
        mark_unseen(platform)
        sched.squeue_output = "json"
        before = clock.cycle(lambda: old_refresh(platform))
        sched.squeue_output = "fields"
        sample = held[:200]  # the per-job way (one squeue per job), extrapolated past 200
        t0 = time.perf_counter()
        for jid in sample:
            subprocess.run(["squeue", "-h", "-j", jid, "-o", "%T"], env=env, capture_output=True, timeout=60)
        naive = (time.perf_counter() - t0) * len(held) / len(sample)
        est = "~" if len(sample) < len(held) else " "
        print(f"{count:>5} {changed.commands:>4} | {changed.total:>8.0f} {changed.command:>5.0f} "
              f"{changed.parse:>5.0f} {changed.store:>5.0f} | {steady.total:>7.0f} {steady.command:>5.0f} "
              f"{steady.parse:>5.0f} {steady.store:>5.0f} | {before.total:>7.0f} "
              f"{before.total / changed.total:>5.1f}x | {est}{naive * 1000:>13.0f}", flush=True)
    subprocess.run(["scancel", *held, *ids], env=env, capture_output=True, timeout=120)
    shutil.rmtree(root, ignore_errors=True)
    print(f"(cancelled {len(held) + len(ids)} jobs)")


if __name__ == "__main__":
    main()
