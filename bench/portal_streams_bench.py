"""Open log streams vs everything else: latency of other requests while N job-log streams
(server-sent events, each holding a server thread) stay open, against the same portal.

    .venv/bin/python bench/portal_streams_bench.py [--streams 0,16,56] [--requests 200]

Starts a real `hpcai serve` (default workers and threads) on a scratch data directory,
submits one long job, then for each N opens N streams of its log and times GET /api/v1/me
(p50/p99, req/s) with 8 concurrent clients. Prints each row and its ratio to N=0 from the
same run. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.svc.helpers import Portal  # noqa: E402


def measure(url: str, cookies: dict[str, str], n: int) -> dict[str, float]:
    def one(_: int) -> float:
        t0 = time.perf_counter()
        r = requests.get(url, cookies=cookies, timeout=120)
        r.raise_for_status()
        return time.perf_counter() - t0

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(16)))
        t0 = time.perf_counter()
        lat = sorted(pool.map(one, range(n)))
        wall = time.perf_counter() - t0
    return {"rps": n / wall, "p50_ms": statistics.median(lat) * 1000,
            "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--streams", default="0,16,56")
    ap.add_argument("--requests", type=int, default=200)
    args = ap.parse_args()
    portal = Portal(Path(tempfile.mkdtemp(prefix="hpcai-bench-streams-"))).start()
    streams: list[requests.Response] = []
    try:
        s = portal.login("alice", "alicepass12")
        r = s.post(f"{portal.url}/api/v1/jobs", json={
            "framework": "pytorch", "mode": "standalone", "resource_spec": "cpu-1",
            "workdir": str(portal.platform.workspace.home("alice")),
            "command": "while true; do echo tick; sleep 1; done"}, timeout=30)
        r.raise_for_status()
        job = r.json()["id"]
        cookies = s.cookies.get_dict()
        rows = []
        for n in [int(x) for x in args.streams.split(",")]:
            while len(streams) < n:
                resp = requests.get(f"{portal.url}/jobs/{job}/log/stream", cookies=cookies, stream=True,
                                    timeout=120)
                resp.raise_for_status()
                streams.append(resp)
            rows.append((n, measure(f"{portal.url}/api/v1/me", cookies, args.requests)))
        base = rows[0][1]
        print(f"GET /api/v1/me, {args.requests} requests, 8 clients, while N log streams are open")
        print(f"{'streams':>8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'req/s vs first':>15}")
        for n, m in rows:
            print(f"{n:8d} {m['rps']:8.1f} {m['p50_ms']:8.2f} {m['p99_ms']:8.2f} {m['rps'] / base['rps']:15.3f}")
        s.post(f"{portal.url}/api/v1/jobs/{job}/kill", timeout=30)
    finally:
        for resp in streams:
            resp.close()
        portal.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
