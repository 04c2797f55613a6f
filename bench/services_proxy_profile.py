"""Where a proxied request's CPU goes: cProfile of N GETs through /dockerService/<alias>/ in the
portal app itself (Flask test client, no HTTP server in between), against a real running service.

    .venv/bin/python bench/services_proxy_profile.py [--requests 500] [--top 25]

Starts a real `hpcai serve` on a scratch data directory only to run the custom test service
(tests/svc/webapp.py) as a local-scheduler job, then builds the portal app in this process on
the same store and profiles the proxy view. Prints CPU ms per request and the top functions by
cumulative time. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.svc.helpers import WEB_APP, Portal  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--sort", default="cumulative", help="pstats order: cumulative, tottime ...")
    args = ap.parse_args()
    portal = Portal(Path(tempfile.mkdtemp(prefix="hpcai-profile-services-"))).start()
    try:
        s = portal.login("alice", "alicepass12")
        r = s.post(f"{portal.url}/api/v1/services", json={
            "name": "prof", "type": "custom", "resource_spec": "cpu-1", "proxy_path": "/api",
            "command": f"exec {sys.executable} {WEB_APP}"}, timeout=30)
        r.raise_for_status()
        v = portal.wait_state(s, r.json()["alias"], ("running",))
        from portal import create_app

        app = create_app(portal.platform, settings={"TESTING": True})
        client = app.test_client()
        page = client.get("/login").data.decode()
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        client.post("/login", data={"username": "alice", "password": "alicepass12", "csrf_token": token})
        url = f"/dockerService/{v['alias']}/hello"
        client.allow_subdomain_redirects = True  # the hand-off to the service's own origin, once
        assert client.get(url, follow_redirects=True).status_code == 200
        here = f"http://{v['alias']}.svc.localhost"  # then on that origin, as a browser
        for _ in range(20):  # warm-up: imports, pools, caches
            assert client.get(url, base_url=here).status_code == 200
        prof = cProfile.Profile()
        t0, c0 = time.perf_counter(), time.process_time()
        prof.enable()
        for _ in range(args.requests):
            resp = client.get(url, base_url=here)
            resp.get_data()  # read to the end, as a server does
            resp.close()
        prof.disable()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"{args.requests} proxied GETs in-process: {cpu / args.requests * 1000:.2f} ms CPU, "
              f"{wall / args.requests * 1000:.2f} ms wall per request (profiler on)")
        pstats.Stats(prof).sort_stats(args.sort).print_stats(args.top)
    finally:
        portal.stop_all_services()
        portal.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
