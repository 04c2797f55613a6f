"""Benchmark of the podman runtime (not a test): what a container costs a job, in one run.

(a) time to the first DDP training step of examples/pytorch/ddp_train.py (2 ranks, gloo)
    through hpcai on the local scheduler, host runtime (the `pytorch` image: hpcai's own
    environment) against the podman runtime (the built-in `pytorch-container` image);
(b) per-rank container start overhead: one rank running `true` through the podman plugin's
    node side (`python plugins/runtimes/podman SPEC -- true`: spec, rank context, podman run
    --rm, removal) against the same `true` as a bare process and as bare `podman run --rm`.
Both printed as ratios. Needs podman and the built image (`hpcai images build pytorch-container`).

    .venv/bin/python bench/containers_bench.py [--repeat 5] [--ddp-repeat 3]
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_local import repeat_args, scratch_site, until_line, wait_done  # noqa: E402
from core.containers.engine import engine_env  # noqa: E402
from core.platform import Platform  # noqa: E402
from core.types import Mount  # noqa: E402
from core.users import current_user  # noqa: E402
from plugins.runtimes.podman import Podman  # noqa: E402


def first_step(platform: Platform, project: Path, image: str) -> float:
    user = current_user()
    t = time.perf_counter()
    req = platform.jobs.request_from_values({"framework": "pytorch", "mode": "ddp", "instances": 2, "image": image,
                                             "resource_spec": "cpu-1", "workdir": str(project),
                                             "command": "python ddp_train.py --steps 5"}, user, "cli")
    row = platform.jobs.submit(req)
    took = until_line(Path(row.stdout_path), t)
    assert wait_done(platform, row.id, user) == "succeeded", Path(row.stdout_path).read_text()
    return took


def timed(argv: list[str], n: int, env: dict[str, str] | None = None, cwd: Path | None = None) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(argv, check=True, env=env, cwd=cwd, capture_output=True, timeout=120)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    args = repeat_args()
    tmp, project, _env, platform = scratch_site("hpcai-ct-bench-")
    try:
        image = platform.images.resolve("pytorch-container")
        if Podman().check_image(image):
            sys.exit(f"containers_bench: {Podman().check_image(image)}")
        host = [first_step(platform, project, "pytorch") for _ in range(args.ddp_repeat)]
        ctr = [first_step(platform, project, "pytorch-container") for _ in range(args.ddp_repeat)]
        h, c = statistics.median(host), statistics.median(ctr)
        print(f"(a) DDP 2 ranks, time to first step: host runtime {h:.2f} s | podman {c:.2f} s "
              f"| ratio podman/host = {c / h:.2f}")
        wrapped = Podman().wrap(["true"], image, [Mount(str(project))], {}, 0, None).argv
        (tmp / "job0123456789ab").mkdir()
        rank_env = {**engine_env(), "HPCAI_JOB_DIR": str(tmp / "job0123456789ab"), "HPCAI_RANK": "0"}
        bare = timed(["true"], args.repeat)
        raw = timed(["podman", "run", "--rm", "--network", "host", image.reference, "true"], args.repeat,
                    env=engine_env())
        ours = timed(wrapped, args.repeat, env=rank_env, cwd=project)
        print(f"(b) one rank running `true`: bare {bare * 1000:.1f} ms | bare podman run --rm {raw * 1000:.0f} ms "
              f"| hpcai podman rank {ours * 1000:.0f} ms | overhead per rank {(ours - bare) * 1000:.0f} ms, "
              f"ratio hpcai/bare-podman = {ours / raw:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
