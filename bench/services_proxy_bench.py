"""Service proxy benchmark: requests/s and p50/p99 latency through /dockerService/<alias>/
versus straight to the service, measured in the same run against the same running service.

    .venv/bin/python bench/services_proxy_bench.py [--requests 2000] [--concurrency 16] [--bytes 0]

Starts a real `hpcai serve` (gunicorn gthread workers, the watcher) on a scratch data directory,
starts the custom test service (tests/svc/webapp.py) as a local-scheduler job, and sends the
same GET (or, with --bytes N, a POST of N bytes) through each path. Prints both rows and the
ratios proxy/direct. Nothing is asserted: numbers depend on the machine.
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

from tests.svc.helpers import WEB_APP, Portal  # noqa: E402


def run(url: str, n: int, concurrency: int, cookies: dict[str, str], body: bytes | None) -> dict[str, float]:
    local = __import__("threading").local()

    def one(i: int) -> float:
        s = getattr(local, "s", None)
        if s is None:
            s = local.s = requests.Session()
            s.cookies.update(cookies)
        t0 = time.perf_counter()
        r = s.post(url, data=body, timeout=60) if body is not None else s.get(url, timeout=60)
        r.raise_for_status()
        return time.perf_counter() - t0

    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(min(50, n))))  # warm-up: connections, imports
        t0 = time.perf_counter()
        lat = sorted(pool.map(one, range(n)))
        wall = time.perf_counter() - t0
    return {"rps": n / wall, "p50_ms": statistics.median(lat) * 1000,
            "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--bytes", type=int, default=0, help="POST a body of this size instead of a GET")
    ap.add_argument("--workers", type=int, default=0, help="hpcai serve --workers (default: its own)")
    args = ap.parse_args()
    serve_args = ("--workers", str(args.workers)) if args.workers else ()
    portal = Portal(Path(tempfile.mkdtemp(prefix="hpcai-bench-services-")), args=serve_args).start()
    try:
        s = portal.login("alice", "alicepass12")
        r = s.post(f"{portal.url}/api/v1/services", json={
            "name": "bench", "type": "custom", "resource_spec": "cpu-1", "proxy_path": "/api",
            "command": f"exec {sys.executable} {WEB_APP}"}, timeout=30)
        r.raise_for_status()
        v = portal.wait_state(s, r.json()["alias"], ("running",))
        body = b"x" * args.bytes if args.bytes else None
        leaf = "upload" if body is not None else "hello"
        direct = run(f"{v['internal_url']}api/{leaf}", args.requests, args.concurrency, {}, body)
        proxied = run(f"{portal.url}/dockerService/{v['alias']}/{leaf}", args.requests, args.concurrency,
                      s.cookies.get_dict(), body)
        what = f"POST {args.bytes} B" if body is not None else "GET"
        print(f"{what}, {args.requests} requests, concurrency {args.concurrency}")
        print(f"{'path':8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
        for name, m in (("direct", direct), ("proxy", proxied)):
            print(f"{name:8} {m['rps']:9.1f} {m['p50_ms']:8.2f} {m['p99_ms']:8.2f}")
        print(f"ratio proxy/direct: req/s {proxied['rps'] / direct['rps']:.3f}, "
              f"p50 {proxied['p50_ms'] / direct['p50_ms']:.2f}x, p99 {proxied['p99_ms'] / direct['p99_ms']:.2f}x")
    finally:
        portal.stop_all_services()
        portal.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
