"""libaiflow.log_metric vs the plain mlflow client against the same MLflow server.

    .venv/bin/python bench/tracking_log_metric.py [--url http://127.0.0.1:5000] [-n 1000]

Without --url a managed server (SQLite, like `hpcai mlflow`) is started in a scratch directory
and stopped at the end. For n calls (default 10 000) each contender's cost in the training loop
(per call) and in total (loop + the flush that gets every value to the server), with ratios
against the baseline of the same run, mlflow's synchronous fluent log_metric: MlflowClient,
MLflow's own async logging (synchronous=False) and libaiflow's queue. The values that arrived
are counted through the server afterwards. Then log_metrics with dicts of 10 and one dict.
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
    ap.add_argument("-n", type=int, default=10000, help="log calls per measurement")
    ap.add_argument("--sync-n", type=int, help="calls for the synchronous contenders (default n; they "
                    "take ~10 ms a call, so a loaded machine may want fewer: ratios are per call)")
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
        creds = settings.credentials("bench")  # the server authenticates, as a job's does
        if creds:
            os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"] = creds
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

        # Each contender logs n values of its own key into its own run; "loop" is what the
        # training loop pays per call, "total" adds the flush that gets every value to the server
        # (checked afterwards through the REST API: nothing may be missing).
        def sync_fluent(i: int) -> None:
            mlflow.log_metric("loss", 1 / (i + 1), step=i)

        def async_fluent(i: int) -> None:
            mlflow.log_metric("loss", 1 / (i + 1), step=i, synchronous=False)

        def via_client(i: int) -> None:
            client.log_metric(mlflow.active_run().info.run_id, "loss", 1 / (i + 1), step=i)

        def via_libaiflow(i: int) -> None:
            libaiflow.log_metric("loss", 1 / (i + 1), step=i)

        contenders: dict[str, tuple[Callable[[int], None], Callable[[], object]]] = {
            "mlflow.log_metric (baseline)": (sync_fluent, lambda: None),
            "MlflowClient().log_metric": (via_client, lambda: None),
            "mlflow.log_metric(synchronous=False)": (async_fluent, mlflow.flush_async_logging),
            "libaiflow.log_metric (queued)": (via_libaiflow, libaiflow.flush),
        }
        results: dict[str, tuple[float, float, int]] = {}
        counts = {label: n for label in contenders}
        for label in ("mlflow.log_metric (baseline)", "MlflowClient().log_metric"):
            counts[label] = args.sync_n or n
        print(f"  {'contender':<40} {'calls':>6} {'loop s':>8} {'per call':>10} {'total s':>8} {'arrived':>8}")
        for label, (fn, flush) in contenders.items():
            run_id = fresh_run(label)
            calls = counts[label]
            t0 = time.perf_counter()
            for i in range(calls):
                fn(i)
            loop = time.perf_counter() - t0
            flush()
            total = time.perf_counter() - t0
            arrived = len(client.get_metric_history(run_id, "loss"))
            results[label] = (loop / calls, total / calls, arrived)
            print(f"  {label:<40} {calls:>6} {loop:8.2f} {loop / calls * 1e6:8.1f} us {total:8.2f} {arrived:>8}",
                  flush=True)
        base_loop, base_total, _ = results["mlflow.log_metric (baseline)"]
        print("ratios per call against mlflow.log_metric (loop: in the training loop; total: with the flush)")
        for label, (loop, total, _) in results.items():
            print(f"  {label:<40} loop {loop / base_loop:8.4f}  total {total / base_total:8.4f}")
        lib = results["libaiflow.log_metric (queued)"][0] * n

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
