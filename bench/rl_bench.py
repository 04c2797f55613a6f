"""Benchmark of RL training (not a test): PPO on CartPole-v1 through hpcai's job side
(`python -m core.rl.jobside train`: its own Ray cluster on allocated ports, metrics.jsonl,
TensorBoard, checkpoint) vs the same RLlib config run directly (`ray.init()` and PPOConfig written
by hand), each in a fresh process, in the same run. Prints environment steps per second of the
training loop after the first iteration, the whole process's wall time, and the start-up time
(process start to the end of the first iteration: imports, Ray start, algorithm build, one iteration),
with ratios hpcai/direct.

    .venv/bin/python bench/rl_bench.py [--runners 2] [--steps 10000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.rl.trainspec import ports_needed  # noqa: E402

PARAMS = {"lr": 0.0003, "train_batch_size": 2000, "num_sgd_iter": 6}

DIRECT = r'''
import json, sys
import ray
from ray.rllib.algorithms.ppo import PPOConfig
runners, steps = int(sys.argv[1]), int(sys.argv[2])
ray.init(include_dashboard=False, log_to_driver=False)
config = (PPOConfig().environment("CartPole-v1").framework("torch").env_runners(num_env_runners=runners)
          .training(train_batch_size_per_learner=2000, lr=0.0003, gamma=0.99, use_critic=True, use_gae=True,
                    lambda_=1.0, kl_coeff=0.2, minibatch_size=128, num_epochs=6, shuffle_batch_per_epoch=True,
                    vf_loss_coeff=1.0, entropy_coeff=0.0, clip_param=0.4, vf_clip_param=10.0, kl_target=0.01))
algo = config.build_algo()
done, i = 0, 0
while done < steps:
    i += 1
    done = algo.train()["num_env_steps_sampled_lifetime"]
    print(json.dumps({"iteration": i, "env_steps": done}), flush=True)
algo.stop()
ray.shutdown()
'''


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def timed(argv: list[str], env: dict[str, str]) -> dict[str, float]:
    """Run one process, timestamping each iteration line it prints ({"iteration": i, "env_steps": n})."""
    t0 = time.monotonic()
    env = {**env, "PYTHONUNBUFFERED": "1"}  # each line as it is printed: the timestamps are the point
    marks: list[tuple[float, float]] = []
    with tempfile.TemporaryFile("w+") as errf:  # a file, not a pipe: Ray's chatter must not block the child
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=errf, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("{") and '"iteration"' in line:
                marks.append((time.monotonic() - t0, float(json.loads(line)["env_steps"])))
        proc.wait()
        errf.seek(0)
        err = errf.read()
    if proc.returncode != 0 or len(marks) < 2:
        raise SystemExit(f"{argv[:4]} failed ({proc.returncode}):\n{err[-3000:]}")
    (t1, s1), (tn, sn) = marks[0], marks[-1]
    return {"first_iter_s": t1, "steps_per_s": (sn - s1) / (tn - t1), "wall_s": time.monotonic() - t0}


def hpcai_run(runners: int, steps: int, tmp: Path) -> dict[str, float]:
    spec = {"algorithm": "PPO", "env": {"kind": "gym", "id": "CartPole-v1"}, "env_runners": runners,
            "params": PARAMS, "stop": {"total_steps": steps}}
    path = tmp / "spec.json"
    path.write_text(json.dumps(spec))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HPCAI_PORTS": ",".join(map(str, free_ports(ports_needed(spec))))}
    env.pop("MLFLOW_TRACKING_URI", None)
    return timed([sys.executable, "-m", "core.rl.jobside", "train", str(path), str(tmp / f"out-{time.time_ns()}")],
                 env)


def direct_run(runners: int, steps: int) -> dict[str, float]:
    return timed([sys.executable, "-c", DIRECT, str(runners), str(steps)], dict(os.environ))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runners", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    runs: dict[str, list[dict[str, float]]] = {"hpcai": [], "direct": []}
    with tempfile.TemporaryDirectory(prefix="rlbench-") as tmp:
        for i in range(args.repeat):  # interleaved: the machine's load hits both alike
            runs["direct"].append(direct_run(args.runners, args.steps))
            runs["hpcai"].append(hpcai_run(args.runners, args.steps, Path(tmp)))
            print(f"round {i + 1}: direct {runs['direct'][-1]['steps_per_s']:.0f} steps/s, "
                  f"hpcai {runs['hpcai'][-1]['steps_per_s']:.0f} steps/s", flush=True)
    metrics = ("steps_per_s", "first_iter_s", "wall_s")
    med = {k: {m: statistics.median(r[m] for r in v) for m in metrics} for k, v in runs.items()}
    print(f"PPO CartPole-v1, {args.runners} env runners, {args.steps} steps, median of {args.repeat}:")
    for metric, label in zip(metrics, ("env steps/s after iteration 1", "process start to iteration 1, s",
                                       "whole process, s")):
        d, h = med["direct"][metric], med["hpcai"][metric]
        print(f"  {label:34} direct {d:8.2f}   hpcai {h:8.2f}   hpcai/direct {h / d:5.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
