"""Portal benchmark: job list (API and page) with 10 000 vs 100 jobs in the store, and the
resident memory of an idle `hpcai serve`.

    .venv/bin/python bench/portal_bench.py [--big 10000] [--small 100] [--requests 40]

Uses the embedded SQLite store unless HPCAI_BENCH_DB_URL is a PostgreSQL URL whose role may
create databases (one fresh database per size is created next to it and left for inspection).
Prints times per request and the ratio big/small; the page size
is the same (20) in both runs, so a list that scales with the page, not the store, gives ~1.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.config import load_config  # noqa: E402
from core.platform import Platform  # noqa: E402
from core.store import JobRow  # noqa: E402


def fill(p: Platform, n: int) -> None:
    """n finished jobs of `alice` (plus a few of another user), inserted in batches."""
    now = datetime.now(timezone.utc)
    with p.store.session() as s:
        for i in range(n):
            s.add(JobRow(uuid=str(uuid.uuid4()), user="alice" if i % 10 else "bob", project="default",
                         name=f"job-{i}", framework="pytorch", mode="ddp", runtime="host", image="pytorch",
                         scheduler="local", scheduler_job_id=str(i + 1), state="succeeded", raw_state="DONE",
                         job_dir=f"/nonexistent/{i}", request={"command": "python train.py"}, plan={},
                         script="#!/bin/bash\n", source="bench", submit_time=now))
            if i % 2000 == 1999:
                s.flush()


def platform_with(n: int, root: Path) -> Platform:
    data = root / f"jobs-{n}"
    env = {"HPCAI_DATA_DIR": str(data)}
    if os.environ.get("HPCAI_BENCH_DB_URL"):  # a PostgreSQL URL; one fresh database per size
        from sqlalchemy import create_engine, text

        base = os.environ["HPCAI_BENCH_DB_URL"]
        name = f"hpcai_bench_{n}_{uuid.uuid4().hex[:6]}"
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        env["HPCAI_DB_URL"] = base.rsplit("/", 1)[0] + "/" + name
    p = Platform(load_config(env))
    p.accounts.create("alice", "alicepass1")
    fill(p, n)
    return p


def timed(client, path: str, requests: int, headers: dict[str, str] | None = None) -> float:  # type: ignore[no-untyped-def]
    for _ in range(3):  # warm caches (templates, statement cache)
        assert client.get(path, headers=headers).status_code == 200
    samples = []
    for _ in range(requests):
        t0 = time.perf_counter()
        r = client.get(path, headers=headers)
        samples.append(time.perf_counter() - t0)
        assert r.status_code == 200
    return statistics.median(samples)


def list_times(p: Platform, requests: int) -> tuple[float, float]:
    from portal import create_app

    app = create_app(p, settings={"TESTING": True})
    token = p.accounts.create_token("alice", "bench")
    api = app.test_client()
    page = app.test_client()
    page.get("/login")
    with page.session_transaction() as s:
        csrf = s["csrf"]
    page.post("/login", data={"username": "alice", "password": "alicepass1", "csrf_token": csrf})
    t_api = timed(api, "/api/v1/jobs?page=2&per_page=20", requests, {"Authorization": f"Bearer {token}"})
    t_page = timed(page, "/jobs?page=2", requests)
    return t_api, t_page


def idle_rss_kib(root: Path, wait_s: float) -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, HPCAI_DATA_DIR=str(root / "serve"), HPCAI_ADMIN_PASSWORD="benchpass1")
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--port", str(port), "--no-mlflow"],
                            cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        end = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2)
                break
            except OSError:
                if time.time() > end:
                    raise SystemExit("hpcai serve did not start") from None
                time.sleep(0.3)
        time.sleep(wait_s)
        for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return -1
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--big", type=int, default=10_000)
    ap.add_argument("--small", type=int, default=100)
    ap.add_argument("--requests", type=int, default=40)
    ap.add_argument("--idle-wait", type=float, default=5.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="hpcai-bench-") as tmp:
        root = Path(tmp)
        t0 = time.time()
        small, big = platform_with(args.small, root), platform_with(args.big, root)
        print(f"filled stores in {time.time() - t0:.1f}s ({small.config.db_url.split(':')[0]})")
        s_api, s_page = list_times(small, args.requests)
        b_api, b_page = list_times(big, args.requests)
        print(f"job list API  (20/page): {args.small:>6} jobs {s_api * 1000:7.2f} ms | "
              f"{args.big:>6} jobs {b_api * 1000:7.2f} ms | ratio {b_api / s_api:.2f}")
        print(f"job list page (20/page): {args.small:>6} jobs {s_page * 1000:7.2f} ms | "
              f"{args.big:>6} jobs {b_page * 1000:7.2f} ms | ratio {b_page / s_page:.2f}")
        rss = idle_rss_kib(root, args.idle_wait)
        print(f"idle `hpcai serve` RSS after {args.idle_wait:.0f}s: {rss / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
