"""libaiflow.log_metric vs the plain mlflow client against the same MLflow server.

    .venv/bin/python bench/tracking_log_metric.py [--url http://127.0.0.1:5000] [-n 1000]

Without --url a managed server (SQLite, like `hpcai mlflow`) is started in a scratch directory
and stopped at the end. Prints seconds per 1000 calls and ratios against the baseline measured in
the same run: mlflow's fluent log_metric (what libaiflow wraps) and MlflowClient.log_metric.
Then log_metrics batching: the same N values sent as N single calls, as dicts of 10, and as one dict.
The contenders run in interleaved blocks of n/20 calls, so a shared machine's drift hits all alike;
mlflow.log_metric and libaiflow.log_metric write different keys of the same active run.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def timed(label: str, n: int, fn: Callable[[int], None]) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        fn(i)
    dt = time.perf_counter() - t0
    print(f"  {label:<46} {dt:7.2f} s  ({dt / n * 1000:6.2f} ms/call)", flush=True)
    return dt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="an MLflow server to use (default: start one)")
    ap.add_argument("-n", type=int, default=1000, help="log calls per measurement")
    args = ap.parse_args()
    server = None
    url = args.url
    if not url:
        from core.config import load_config
        from core.tracking import settings_from_config, start_server

        data = tempfile.mkdtemp(prefix="hpcai-bench-mlflow-")
        env = {"HPCAI_DATA_DIR": data, "HPCAI_MLFLOW_PORT": str(free_port())}
        settings = settings_from_config(load_config({**os.environ, **env}), env)
        t0 = time.perf_counter()
        server = start_server(settings, wait_s=180)
        url = server.url
        print(f"started MLflow at {url} in {time.perf_counter() - t0:.1f} s ({settings.backend_store_uri})")
    os.environ["MLFLOW_TRACKING_URI"] = url
    try:
        import mlflow
        from mlflow.tracking import MlflowClient

        import libaiflow

        n = args.n
        client = MlflowClient()
        exp = libaiflow.init("bench_log_metric")
        print(f"{n} metric values per measurement against {url}")

        def fresh_run(name: str) -> str:
            while mlflow.active_run() is not None:
                mlflow.end_run()
            return mlflow.start_run(experiment_id=exp.experiment_id, run_name=name).info.run_id

        fresh_run("warmup")
        for i in range(50):
            mlflow.log_metric("warm", i, step=i)
            libaiflow.log_metric("warm", i, step=i)

        # Interleaved blocks, so the drift of a shared machine hits every contender alike.
        runs = {"fluent": fresh_run("mlflow-fluent")}
        runs["client"] = client.create_run(exp.experiment_id, run_name="mlflow-client").info.run_id
        contenders: dict[str, Callable[[int], None]] = {
            "mlflow.log_metric (baseline)": lambda i: mlflow.log_metric("loss_a", 1 / (i + 1), step=i),
            "MlflowClient().log_metric": lambda i: client.log_metric(runs["client"], "loss", 1 / (i + 1), step=i),
            "libaiflow.log_metric": lambda i: libaiflow.log_metric("loss_b", 1 / (i + 1), step=i),
        }
        totals = dict.fromkeys(contenders, 0.0)
        rounds = 20
        block = n // rounds
        labels = list(contenders)
        for r in range(rounds):
            for label in labels[r % 3:] + labels[:r % 3]:  # rotate who goes first
                fn = contenders[label]
                t0 = time.perf_counter()
                for i in range(r * block, (r + 1) * block):
                    fn(i)
                totals[label] += time.perf_counter() - t0
        for label, dt in totals.items():
            print(f"  {label:<46} {dt:7.2f} s  ({dt / n * 1000:6.2f} ms/call)")
        base, client_t, lib = totals.values()
        print(f"ratio libaiflow / mlflow.log_metric:   {lib / base:.3f}")
        print(f"ratio libaiflow / MlflowClient:        {lib / client_t:.3f}")

        print("log_metrics batching (same number of values):")
        fresh_run("batch-10")
        b10 = timed(f"libaiflow.log_metrics, {n // 10} calls x 10 keys", n // 10,
                    lambda i: libaiflow.log_metrics({f"m{k}": k * i for k in range(10)}, step=i))
        fresh_run("batch-all")
        b_all = timed(f"libaiflow.log_metrics, 1 call x {n} keys", 1,
                      lambda i: libaiflow.log_metrics({f"m{k}": float(k) for k in range(n)}, step=0))
        print(f"speed-up of dicts of 10 over single calls:   {lib / b10:.1f}x")
        print(f"speed-up of one dict of {n} over single calls: {lib / b_all:.1f}x")
        libaiflow.end_run()
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
