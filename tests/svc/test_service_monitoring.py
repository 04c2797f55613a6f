"""Resource monitoring of a service (F247): CPU and memory of the server's process tree,
sampled on the node by hooks/svcrun into usage.json, shown on the detail page and by the API;
GPUs through NVML, which on a machine without a GPU degrades to a note, never an error.

The service is a real local-scheduler job: a small HTTP server that spins one thread for a few
seconds, with a child process holding 96 MB, so the numbers can only be right when the whole
tree is summed and CPU time is really measured.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Iterator

import pytest

from core import gpus
from core.config import load_config
from core.platform import Platform
from tests.svc.helpers import CPU_SPECS_OK, app_client, scratch, site_config, wait_for

pytestmark = [pytest.mark.integration]

SERVER = (
    "import http.server, os, threading, time\n"
    "def spin():\n"
    "    end = time.time() + 4\n"
    "    while time.time() < end:\n"
    "        sum(i * i for i in range(10000))\n"
    "threading.Thread(target=spin, daemon=True).start()\n"
    "http.server.HTTPServer((os.environ['HOST'], int(os.environ['PORT'])),"
    " http.server.SimpleHTTPRequestHandler).serve_forever()\n"
)
HOLDER = "import time; block = b'x' * (96 << 20); time.sleep(3600)"


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[Platform, Any]]:
    d = scratch("service-monitoring")
    config = site_config(d, usage_interval_s=1)
    p = Platform(load_config({"HPCAI_DATA_DIR": str(d), "HPCAI_CONFIG": str(config), **CPU_SPECS_OK}))
    p.store.migrate()
    p.specs.sync()
    p.accounts.create("alice", "alicepass12")
    (d / "server.py").write_text(SERVER)
    (d / "holder.py").write_text(HOLDER)
    c = app_client(p)
    yield p, c
    for row in p.services.list("alice"):
        if "stop" in p.services.lifecycle_actions(row):  # a stopped one may not be stopped (F249)
            p.services.stop(row.alias, "alice")


def _refresh(p: Platform, c: Any, alias: str) -> dict[str, Any]:
    p.jobs.refresh()
    return c.get(f"/api/v1/services/{alias}").get_json()


def test_cpu_and_memory_of_a_running_service(site: tuple[Platform, Any]) -> None:
    p, c = site
    d = p.config.data_dir
    command = f"{sys.executable} {d / 'holder.py'} & exec {sys.executable} {d / 'server.py'}"
    r = c.post("/api/v1/services", json={"name": "busy", "type": "custom", "resource_spec": "cpu-1",
                                         "command": command})
    assert r.status_code == 201, r.get_data(as_text=True)
    alias = r.get_json()["alias"]
    v = wait_for(lambda: (lambda x: x if x["state"] in ("running", "failed") else None)(_refresh(p, c, alias)),
                 120, "the service to run")
    assert v["state"] == "running", v["log_tail"]
    assert v["can_access"] is True  # a custom service has a web UI (F241)
    # enough samples to cover the spinning thread (one a second) and the child's 96 MB
    usage = wait_for(lambda: (lambda u: u if len(u.get("history", [])) >= 6 and u["rss_mb"] >= 96 else None)(
        c.get(f"/api/v1/services/{alias}/usage").get_json()["usage"]), 120, "six usage samples")
    assert usage["processes"] >= 2  # the server and the child it inherited from the shell
    assert usage["cpu_seconds"] > 0.5
    assert max(h["cpu_percent"] or 0 for h in usage["history"]) > 5
    assert [h["at"] for h in usage["history"]] == sorted(h["at"] for h in usage["history"])
    assert usage["gpus"] == [] and usage["gpu_note"] == "no GPU granted"
    detail = _refresh(p, c, alias)["usage"]
    assert detail["rss_mb"] >= 96 and "history" not in detail
    page = c.get(f"/services/{alias}").get_data(as_text=True)
    assert 'id="monitoring"' in page and "MB resident" in page and "no GPU granted" in page
    assert c.post(f"/api/v1/services/{alias}/stop").status_code == 200
    assert c.get(f"/api/v1/services/{alias}/usage").get_json()["usage"] == {}


def test_gpu_usage_without_a_gpu_is_a_note_not_an_error() -> None:
    """This machine has no GPU: NVML (nvidia-ml-py) is installed but finds no driver."""
    if gpus.inventory():
        pytest.skip("this machine has a GPU: the no-GPU path is not reachable here")
    assert gpus.usage(None, [os.getpid()]) == ([], "no GPU granted")
    found, note = gpus.usage("0", [os.getpid()])
    assert found == [] and note.startswith("no GPU (")
