"""Service proxy benchmark: HTTP and WebSocket through each path to the same running service,
in the same run, against the server's own port as the baseline.

    .venv/bin/python bench/services_proxy_bench.py [--requests 2000] [--concurrency 16]
        [--post-bytes 1048576] [--ws-messages 2000] [--ws-mb 64] [--ws-hold 60] [--ws-conns 200]

Starts a real `hpcai serve --front nginx` (gunicorn gthread workers behind nginx; without nginx
only the embedded path is measured) on a scratch data directory and two custom services as
local-scheduler jobs: tests/svc/webapp.py (HTTP) and tests/svc/wsecho.py (WebSocket). Paths:

- direct:   the server's own loopback port (behind svcrun's gate; the baseline)
- gate:     the service's allocated port, with the proxy's proof (svcrun's gate alone)
- embedded: the portal's Python proxy (gunicorn's private port), on the service's origin
- nginx:    nginx in front (auth_request to the portal, cached decision), on the service's origin

Each request through a proxy carries the visitor's service-origin cookie and is checked.
Prints rows and ratios path/direct. Nothing is asserted: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import tests.localhost_names  # noqa: E402,F401  (service origins *.svc.localhost, as browsers resolve them)
from core import svcauth  # noqa: E402
from portal.front import nginx_binary  # noqa: E402
from tests.svc.helpers import REPO as _R, WEB_APP, Portal  # noqa: E402

WS_APP = _R / "tests" / "svc" / "wsecho.py"


def http_run(url: str, n: int, concurrency: int, headers: dict[str, str], body: bytes | None,
             sessions: dict[str, Any]) -> tuple[list[float], float]:
    """n requests from `concurrency` clients with kept-alive connections: latencies, wall time."""
    local = sessions.setdefault(url, threading.local())

    def one(_: int) -> float:
        s = getattr(local, "s", None)
        if s is None:
            s = local.s = requests.Session()
            s.headers.update(headers)
        t0 = time.perf_counter()
        try:
            r = s.post(url, data=body, timeout=60) if body is not None else s.get(url, timeout=60)
            r.raise_for_status()
        except requests.RequestException as exc:
            raise SystemExit(f"{url}: {exc}") from exc
        return time.perf_counter() - t0

    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        t0 = time.perf_counter()
        lat = list(pool.map(one, range(n)))
        return lat, time.perf_counter() - t0


def http_compare(urls: dict[str, tuple[str, dict[str, str]]], n: int, concurrency: int, body: bytes | None,
                 rounds: int = 5) -> dict[str, dict[str, float]]:
    """Every path in turn, `rounds` times (the machine's load drifts: no path gets all the quiet)."""
    sessions: dict[str, Any] = {}
    lat: dict[str, list[float]] = {k: [] for k in urls}
    wall = dict.fromkeys(urls, 0.0)
    for name, (url, headers) in urls.items():  # warm-up: connections, caches
        http_run(url, min(50, n), concurrency, headers, body, sessions)
    for _ in range(rounds):
        for name, (url, headers) in urls.items():
            got, took = http_run(url, max(1, n // rounds), concurrency, headers, body, sessions)
            lat[name] += got
            wall[name] += took
    out = {}
    for name, xs in lat.items():
        xs.sort()
        out[name] = {"rps": len(xs) / wall[name], "p50_ms": statistics.median(xs) * 1000,
                     "p99_ms": xs[min(len(xs) - 1, int(len(xs) * 0.99))] * 1000}
    return out


def ws_run(url: str, headers: dict[str, str], messages: int, mb: int) -> dict[str, float]:
    from websockets.sync.client import connect

    with connect(url, additional_headers=headers, open_timeout=30, max_size=None) as c:
        for _ in range(50):
            c.send("warm")
            c.recv(timeout=30)
        lat = []
        for i in range(messages):
            t0 = time.perf_counter()
            c.send(f"m{i}")
            c.recv(timeout=30)
            lat.append(time.perf_counter() - t0)
        lat.sort()
        frame = b"\x01" * (64 * 1024)  # a noVNC-sized stream: 64 KiB binary frames
        frames = mb * 16
        t0 = time.perf_counter()
        done = threading.Event()

        def reader() -> None:
            for _ in range(frames):
                c.recv(timeout=60)
            done.set()

        threading.Thread(target=reader, daemon=True).start()
        for _ in range(frames):
            c.send(frame)
        done.wait(120)
        wall = time.perf_counter() - t0
    return {"rt_p50_ms": statistics.median(lat) * 1000, "rt_p99_ms": lat[int(len(lat) * 0.99)] * 1000,
            "mb_s": 2 * mb / wall}  # both directions moved mb


def ws_hold(url: str, headers: dict[str, str], conns: int, seconds: float, page: str,
            page_headers: dict[str, str]) -> dict[str, Any]:
    """`conns` WebSockets held open for `seconds`, each echoing every 5 s; meanwhile a page."""
    from websockets.sync.client import connect

    opened, drops, echoes = [], [0], [0]
    lock = threading.Lock()
    for _ in range(conns):
        opened.append(connect(url, additional_headers=headers, open_timeout=30))
    stop = time.monotonic() + seconds

    def keep(c: Any) -> None:
        while time.monotonic() < stop:
            try:
                c.send("ping")
                c.recv(timeout=30)
                with lock:
                    echoes[0] += 1
            except Exception:
                with lock:
                    drops[0] += 1
                return
            time.sleep(5)

    threads = [threading.Thread(target=keep, args=(c,), daemon=True) for c in opened]
    for t in threads:
        t.start()
    lat, errors = [], 0
    s = requests.Session()
    s.headers.update(page_headers)
    while time.monotonic() < stop:
        t0 = time.perf_counter()
        try:
            ok = s.get(page, timeout=30).status_code == 200
        except requests.RequestException:
            ok = False
        lat.append(time.perf_counter() - t0)
        errors += not ok
        time.sleep(0.2)
    for t in threads:
        t.join(60)
    for c in opened:
        c.close()
    lat.sort()
    return {"conns": conns, "seconds": seconds, "echoes": echoes[0], "drops": drops[0],
            "page_p50_ms": statistics.median(lat) * 1000, "page_p99_ms": lat[int(len(lat) * 0.99)] * 1000,
            "page_errors": errors, "page_requests": len(lat)}


def _row(name: str, m: dict[str, float], base: dict[str, float]) -> str:
    return (f"{name:9} {m['rps']:9.1f} {m['p50_ms']:8.2f} {m['p99_ms']:8.2f}   "
            f"x{m['rps'] / base['rps']:.2f} req/s  x{m['p50_ms'] / base['p50_ms']:.2f} p50  "
            f"x{m['p99_ms'] / base['p99_ms']:.2f} p99")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--post-bytes", type=int, default=1 << 20)
    ap.add_argument("--post-requests", type=int, default=300)
    ap.add_argument("--ws-messages", type=int, default=2000)
    ap.add_argument("--ws-mb", type=int, default=64)
    ap.add_argument("--ws-conns", type=int, default=200)
    ap.add_argument("--ws-hold", type=float, default=60, help="seconds to hold --ws-conns WebSockets (0: skip)")
    ap.add_argument("--workers", type=int, default=0, help="hpcai serve --workers (default: its own)")
    args = ap.parse_args()
    front = nginx_binary() is not None
    serve_args: tuple[str, ...] = ("--workers", str(args.workers)) if args.workers else ()
    serve_args += ("--front", "nginx") if front else ()
    portal = Portal(Path(tempfile.mkdtemp(prefix="hpcai-bench-services-")), args=serve_args).start()
    try:
        s = portal.login("alice", "alicepass12")
        made = []
        for name, cmd, extra in (("bench", WEB_APP, {"proxy_path": "/api"}),
                                 ("benchws", WS_APP, {"proxy_path": "/ws", "health_path": "/health"})):
            r = s.post(f"{portal.url}/api/v1/services", json={"name": name, "type": "custom", "resource_spec": "cpu-1",
                       "command": f"exec {sys.executable} {cmd}", **extra}, timeout=30)
            r.raise_for_status()
            made.append(r.json()["alias"])
        web, wsv = (portal.wait_state(s, a, ("running",)) for a in made)
        time.sleep(2.5)  # nginx's configuration follows the running services within a second
        log = (portal.data / "portal.log").read_text()
        m = re.search(r"portal on 127\.0\.0\.1:(\d+)\)", log)
        inner = int(m.group(1)) if m else portal.port  # gunicorn's own port (behind nginx)
        info = {v["alias"]: json.loads((Path(v["job_dir"]) / "service.json").read_text()) for v in (web, wsv)}
        secret = {v["alias"]: portal.platform.services.secret(portal.platform.services.job(
            portal.platform.services.get(v["alias"], "alice"))) for v in (web, wsv)}
        cookie = {}
        for v in (web, wsv):
            portal.open_service(s, v["alias"])
            own = s.cookies.get("hpcai_svc", domain=f"{v['alias']}.svc.localhost")
            cookie[v["alias"]] = {"Cookie": f"hpcai_svc={own}"}

        def bases(v: dict[str, Any], scheme: str = "http") -> dict[str, tuple[str, dict[str, str]]]:
            a, i = v["alias"], info[v["alias"]]
            out = {"direct": (f"{scheme}://127.0.0.1:{i['server_port']}", {}),
                   "gate": (f"{scheme}://127.0.0.1:{i['port']}", {svcauth.HEADER: svcauth.front_proof(secret[a])}),
                   "embedded": (f"{scheme}://{a}.svc.localhost:{inner}/dockerService/{a}", cookie[a])}
            if front:
                out["nginx"] = (f"{scheme}://{a}.svc.localhost:{portal.port}/dockerService/{a}", cookie[a])
            return out

        results: dict[str, Any] = {"front": front}
        post = b"x" * args.post_bytes
        for what, leaf, body, n in (("GET", "hello", None, args.requests),
                                    (f"POST {args.post_bytes} B", "upload", post, args.post_requests)):
            print(f"\n{what}, {n} requests, concurrency {args.concurrency}")
            print(f"{'path':9} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}   ratios to direct")
            urls = {name: (f"{base}{'/api/' if name in ('direct', 'gate') else '/'}{leaf}", headers)
                    for name, (base, headers) in bases(web).items()}
            rows = http_compare(urls, n, args.concurrency, body)
            for name in rows:
                print(_row(name, rows[name], rows["direct"]), flush=True)
            results[what] = rows
        print(f"\nWebSocket: {args.ws_messages} round trips, then {args.ws_mb} MB each way in 64 KiB frames")
        print(f"{'path':9} {'rt p50':>8} {'rt p99':>8} {'MB/s':>8}   ratios to direct")
        rows = {}
        for name, (base, headers) in bases(wsv, "ws").items():
            prefix = "/ws/" if name in ("direct", "gate") else "/"
            rows[name] = m_ = ws_run(f"{base}{prefix}echo", headers, args.ws_messages, args.ws_mb)
            d = rows["direct"]
            print(f"{name:9} {m_['rt_p50_ms']:8.2f} {m_['rt_p99_ms']:8.2f} {m_['mb_s']:8.1f}   "
                  f"x{m_['rt_p50_ms'] / d['rt_p50_ms']:.2f} rt p50  x{m_['rt_p99_ms'] / d['rt_p99_ms']:.2f} rt p99  "
                  f"x{m_['mb_s'] / d['mb_s']:.2f} MB/s", flush=True)
        results["ws"] = rows
        if args.ws_hold > 0:
            name = "nginx" if front else "embedded"
            base, headers = bases(wsv, "ws")[name]
            held = ws_hold(f"{base}/echo", headers, args.ws_conns, args.ws_hold, f"{portal.url}/api/v1/me",
                           {"Cookie": "; ".join(f"{k}={v}" for k, v in s.cookies.get_dict(domain="127.0.0.1").items())})
            print(f"\n{held['conns']} WebSockets through {name} held {held['seconds']:.0f} s: {held['drops']} dropped, "
                  f"{held['echoes']} echoes; portal page meanwhile p50 {held['page_p50_ms']:.1f} ms, "
                  f"p99 {held['page_p99_ms']:.1f} ms, {held['page_errors']}/{held['page_requests']} failed")
            results["hold"] = held
        out = Path(tempfile.gettempdir()) / "services_proxy_bench.json"
        out.write_text(json.dumps(results, indent=1))
        print(f"\n(all numbers in {out})")
    finally:
        portal.stop_all_services()
        portal.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
