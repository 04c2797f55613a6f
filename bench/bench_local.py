"""Benchmarks of the embedded default (not tests): hpcai's overhead against bare baselines.

(a) a `local` job running `true`, submit -> succeeded as seen by hpcai, against a bare
    subprocess running `true`;
(b) time to the first DDP training step of examples/pytorch/ddp_train.py (2 ranks, gloo)
    through hpcai, against bare `torchrun --nproc_per_node=2` with the same script.
Both are measured in this one run and printed as ratios.

    .venv/bin/python bench/bench_local.py [--repeat 5]
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.config import load_config  # noqa: E402
from core.platform import Platform  # noqa: E402
from core.types import JobState  # noqa: E402
from core.users import current_user  # noqa: E402

FIRST_STEP = "first step done"


def bare_true(n: int) -> list[float]:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(["true"], check=True)
        times.append(time.perf_counter() - t)
    return times


def wait_done(platform: Platform, job_id: int, user: str, timeout: float = 300) -> str:
    end = time.time() + timeout
    while time.time() < end:
        platform.jobs.refresh()
        row = platform.jobs.get(job_id, user)
        if JobState(row.state).terminal:
            return row.state
        time.sleep(0.02)
    raise TimeoutError(job_id)


def hpcai_true(platform: Platform, project: Path, n: int) -> list[float]:
    user, times = current_user(), []
    for _ in range(n):
        t = time.perf_counter()
        req = platform.jobs.request_from_values({"framework": "pytorch", "resource_spec": "cpu-1",
                                                 "workdir": str(project), "command": "true"}, user, "cli")
        row = platform.jobs.submit(req)
        state = wait_done(platform, row.id, user)
        times.append(time.perf_counter() - t)
        assert state == "succeeded", state
    return times


def cli_true(env: dict[str, str], project: Path, n: int) -> list[float]:
    hpcai = str(Path(sys.executable).parent / "hpcai")
    times = []
    for _ in range(n):
        t = time.perf_counter()
        out = subprocess.run([hpcai, "submit", "--json", "--framework", "pytorch", "--resource-spec", "cpu-1",
                              "--workdir", str(project), "--", "true"], env=env, check=True,
                             capture_output=True, text=True).stdout
        import json

        jid = str(json.loads(out)["id"])
        subprocess.run([hpcai, "logs", "-f", jid], env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return times


def until_line(path_or_proc, started: float, timeout: float = 300) -> float:
    end = time.time() + timeout
    while time.time() < end:
        if isinstance(path_or_proc, Path):
            if path_or_proc.exists() and FIRST_STEP in path_or_proc.read_text(errors="replace"):
                return time.perf_counter() - started
            time.sleep(0.01)
        else:
            line = path_or_proc.stdout.readline()
            if FIRST_STEP in line:
                return time.perf_counter() - started
            if not line and path_or_proc.poll() is not None:
                break
    raise TimeoutError("no first step")


def torchrun_first_step(project: Path) -> float:
    torchrun = str(Path(sys.executable).parent / "torchrun")
    t = time.perf_counter()
    proc = subprocess.Popen([torchrun, "--nproc_per_node=2", "--master_port=29123", "ddp_train.py", "--steps", "5",
                             "--out", str(project)], cwd=project, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    took = until_line(proc, t)
    proc.stdout.read()
    proc.wait(timeout=120)
    return took


def hpcai_first_step(platform: Platform, project: Path) -> float:
    user = current_user()
    t = time.perf_counter()
    req = platform.jobs.request_from_values({"framework": "pytorch", "mode": "ddp", "instances": 2,
                                             "resource_spec": "cpu-1", "workdir": str(project),
                                             "command": "python ddp_train.py --steps 5"}, user, "cli")
    row = platform.jobs.submit(req)
    took = until_line(Path(row.stdout_path), t)
    assert wait_done(platform, row.id, user) == "succeeded"
    return took


def scratch_site(prefix: str) -> tuple[Path, Path, dict[str, str], Platform]:
    """A throwaway site: its directory, a project holding the DDP example, the environment that
    points hpcai at the site's data, and a Platform on it (the caller removes the directory)."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    project = tmp / "project"
    project.mkdir()
    shutil.copy(ROOT / "examples" / "pytorch" / "ddp_train.py", project)
    env = {**os.environ, "HPCAI_DATA_DIR": str(tmp / "data")}
    return tmp, project, env, Platform(load_config(env))


def repeat_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--ddp-repeat", type=int, default=3)
    return ap.parse_args()


def main() -> None:
    args = repeat_args()
    tmp, project, env, platform = scratch_site("hpcai-bench-")
    try:
        base = statistics.median(bare_true(args.repeat))
        api = statistics.median(hpcai_true(platform, project, args.repeat))
        cli = statistics.median(cli_true(env, project, args.repeat))
        print(f"(a) `true`: bare subprocess {base * 1000:.1f} ms | hpcai API submit->succeeded "
              f"{api * 1000:.0f} ms (x{api / base:.0f}) | hpcai CLI submit + logs -f {cli * 1000:.0f} ms "
              f"(x{cli / base:.0f})")
        tr = [torchrun_first_step(project) for _ in range(args.ddp_repeat)]
        hp = [hpcai_first_step(platform, project) for _ in range(args.ddp_repeat)]
        t, h = statistics.median(tr), statistics.median(hp)
        print(f"(b) DDP 2 ranks, time to first step: bare torchrun {t:.2f} s | hpcai {h:.2f} s "
              f"| ratio hpcai/torchrun = {h / t:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
