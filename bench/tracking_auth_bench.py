"""What authentication costs a job's synchronous MLflow calls: the same calls against a managed
server without auth (baseline), with the platform's (core.trackingauth: an HMAC check) and with
MLflow's stock basic auth (a PBKDF2 password check per request), all started in this run.

    .venv/bin/python bench/tracking_auth_bench.py [-n 300]

Each contender: n `MlflowClient.log_metric` calls (one HTTP request each) and n `get_run` calls,
per-call milliseconds and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(kind: str):  # type: ignore[no-untyped-def]
    import subprocess

    from core import tracking
    from core.config import load_config

    data = tempfile.mkdtemp(prefix=f"hpcai-bench-auth-{kind}-")
    env = {"HPCAI_DATA_DIR": data, "HPCAI_MLFLOW_PORT": str(free_port()),
           "HPCAI_MLFLOW_AUTH": "false" if kind == "none" else "true",
           "HPCAI_MLFLOW_AUTH_KEY_FILE": f"{data}/mlflow/auth-key"}
    settings = tracking.settings_from_config(load_config({**os.environ, **env}), env)
    if kind != "mlflow":
        return settings, tracking.start_server(settings, wait_s=180)
    # MLflow's own check: the same server with the stock authorization function in its ini
    server_env = {**os.environ, **tracking._auth_env(settings)}
    ini = Path(server_env["MLFLOW_AUTH_CONFIG_PATH"])
    ini.write_text(ini.read_text().replace("core.trackingauth.mlflow_app:authenticate",
                                           "mlflow.server.auth:authenticate_request_basic_auth"))
    proc = subprocess.Popen(tracking.server_argv(settings), env=server_env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 180
    while not tracking.is_healthy(settings.url):
        if time.monotonic() > end or proc.poll() is not None:
            raise SystemExit("the stock basic-auth server did not start")
        time.sleep(0.5)
    return settings, tracking.ManagedServer(settings, proc)


def measure(label: str, url: str, creds: tuple[str, str] | None, n: int, base: list[float]) -> list[float]:
    from mlflow.tracking import MlflowClient

    os.environ.pop("MLFLOW_TRACKING_USERNAME", None)
    os.environ.pop("MLFLOW_TRACKING_PASSWORD", None)
    if creds:
        os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"] = creds
    client = MlflowClient(url)
    exp = client.create_experiment(f"auth-bench-{time.time_ns()}")
    run = client.create_run(exp).info.run_id
    out = []
    for what, call in (("log_metric", lambda i: client.log_metric(run, "m", float(i), step=i)),
                       ("get_run", lambda i: client.get_run(run))):
        call(0)
        t0 = time.perf_counter()
        for i in range(n):
            call(i)
        out.append((time.perf_counter() - t0) / n * 1000)
    ratios = "" if not base else "  ratio " + " / ".join(f"{o / b:.2f}x" for o, b in zip(out, base))
    print(f"  {label:<34} log_metric {out[0]:6.2f} ms/call   get_run {out[1]:6.2f} ms/call{ratios}", flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=300)
    args = ap.parse_args()
    from core import trackingauth

    base: list[float] = []
    for kind, label in (("none", "no auth (baseline)"), ("platform", "platform auth (HMAC)"),
                        ("mlflow", "MLflow stock basic auth (PBKDF2)")):
        settings, server = start(kind)
        try:
            creds = settings.credentials("bench") if settings.auth else None
            if kind == "mlflow":  # the stock check needs the user in its table, with that password
                import requests

                admin = settings.credentials(trackingauth.ADMIN)
                requests.post(f"{server.url}/api/2.0/mlflow/users/create", auth=admin, timeout=30,
                              json={"username": "bench", "password": creds[1]}).raise_for_status()
            got = measure(label, server.url, creds, args.n, base)
            base = base or got
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
