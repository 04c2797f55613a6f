"""Development environments benchmark (issue 17 item 7), one run:

- Create -> IDE answering through the proxy: JupyterLab (its /api/status with the kernel
  list ready), VS Code (code-server's workbench page on the working directory) and the Web
  terminal (its page), from the POST to the first proxied 200;
- a proxied WebSocket round trip vs direct: Jupyter kernel_info requests over a kernel's
  channels, through the portal's proxy (service origin, cookie) and straight to JupyterLab's
  own port with the per-instance token (the baseline).

    .venv/bin/python bench/envs_bench.py [--round-trips 200]

Starts a real `hpcai serve` (embedded proxy) on a scratch directory. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import tests.localhost_names  # noqa: E402,F401  (service origins *.svc.localhost)
import websocket  # noqa: E402
from jupyter_client.session import Session  # noqa: E402

from tests.svc.helpers import Portal, scratch, site_config  # noqa: E402


def until_ok(s: Any, url: str, timeout: float = 300) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            if s.get(url, timeout=5, allow_redirects=True).status_code == 200:
                return time.monotonic() - t0
        except Exception:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer in {timeout} s")


def round_trips(url: str, header: list[str], n: int) -> list[float]:
    # TCP_NODELAY: else the client's small frames wait out delayed ACKs (~40 ms a round trip)
    ws = websocket.create_connection(url, header=header, timeout=60,
                                     sockopt=((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),))
    session = Session(key=b"", username="bench")
    times = []
    for _ in range(n):
        msg = session.msg("kernel_info_request", {})
        t0 = time.perf_counter()
        ws.send(json.dumps({**msg, "channel": "shell", "buffers": []}, default=str))
        while True:
            m = json.loads(ws.recv())
            if m.get("msg_type") == "kernel_info_reply" and m["parent_header"].get("msg_id") == msg["header"]["msg_id"]:
                break
        times.append(time.perf_counter() - t0)
    ws.close()
    return times


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--round-trips", type=int, default=200)
    args = ap.parse_args()
    data = scratch("envs-bench")
    # the portal's accounts get unprivileged Unix users the platform creates (hpc-alice), as in tests
    portal = Portal(data, env={"HPCAI_CONFIG": str(site_config(data, cpus=8)),
                               "HPCAI_IDENTITY_AUTO_CREATE": "1"}).start()
    try:
        alice = portal.login("alice", "alicepass12")
        out = {}
        for typ, path in (("jupyterlab", "api/status"), ("vscode", ""), ("webterminal", "")):
            t0 = time.monotonic()
            r = alice.post(f"{portal.url}/api/v1/environments", json={"type": typ, "resource_spec": "cpu-1"},
                           timeout=60)
            assert r.status_code == 201, r.text
            alias = r.json()["alias"]
            origin = portal.open_service(alice, alias)  # the first proxied request hands the session over
            until_ok(alice, f"{origin}/dockerService/{alias}/{path}")
            out[typ] = (alias, time.monotonic() - t0)
            print(f"create -> {typ} answering through the proxy: {out[typ][1]:.1f} s")
        alias = out["jupyterlab"][0]
        origin = portal.origin(alias)
        r = alice.post(f"{origin}/dockerService/{alias}/api/kernels", json={"name": "python3"}, timeout=60)
        kernel = r.json()["id"]
        svc = portal.platform.services
        row = svc.get(alias, "alice")
        port, secret = svc.view(row).port, svc.secret(svc.job(row))
        chan = f"/dockerService/{alias}/api/kernels/{kernel}/channels"
        cookie = "; ".join(f"{c.name}={c.value}" for c in alice.cookies)
        direct = round_trips(f"ws://127.0.0.1:{port}{chan}", [f"Authorization: token {secret}"], args.round_trips)
        proxied = round_trips(f"ws://{alias}.svc.localhost:{portal.port}{chan}", [f"Cookie: {cookie}"],
                              args.round_trips)
        for name, t in (("direct", direct), ("proxied", proxied)):
            print(f"kernel_info round trip {name:8} median {statistics.median(t) * 1e3:6.2f} ms  "
                  f"p95 {sorted(t)[int(len(t) * 0.95) - 1] * 1e3:6.2f} ms")
        print(f"proxied/direct (median): {statistics.median(proxied) / statistics.median(direct):.2f}")
    finally:
        for r in portal.platform.environments.list("alice"):
            try:
                portal.platform.environments.stop(r.id, "alice")
            except Exception as exc:
                print(f"cleanup: {exc}")
        portal.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
