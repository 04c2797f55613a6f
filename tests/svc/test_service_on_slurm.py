"""A service as a Slurm job (the private test cluster of tests/services/slurm.sh) on the node
with the fake GPUs: it runs, and its resource monitoring comes from the job side, where Slurm
granted a GPU (CUDA_VISIBLE_DEVICES) but NVML finds no driver: "no GPU (...)", not an error.
The portal host's /proc is not where the numbers come from (usage.json in the job directory)."""

from __future__ import annotations

import os
import sys
from typing import Iterator

import pytest
import requests

from core import svcauth
from core.config import load_config
from core.platform import Platform
from tests.svc.helpers import CPU_SPECS_OK, scratch, site_config, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def platform(slurm_conf: str) -> Iterator[Platform]:
    d = scratch("service-slurm")
    os.chmod(d, 0o755)
    config = load_config({"HPCAI_DATA_DIR": str(d), "HPCAI_DEFAULT_SCHEDULER": "slurm", **CPU_SPECS_OK,
                          "HPCAI_CONFIG": str(site_config(d, usage_interval_s=1))})
    config.schedulers.setdefault("slurm", {}).update(slurm_conf=slurm_conf, gpu_partition="gpu")
    p = Platform(config)
    p.store.migrate()
    p.specs.sync()
    yield p
    for row in p.services.list("root"):
        if "stop" in p.services.lifecycle_actions(row):  # a stopped one may not be stopped (F249)
            p.services.stop(row.alias, "root")


def test_gpu_service_on_slurm_reports_usage_and_no_gpu(platform: Platform) -> None:
    svc = platform.services
    row = svc.create({"type": "custom", "name": "on-slurm", "resource_spec": "gpu-1",
                      "command": f"exec {sys.executable} -m http.server $PORT --bind $HOST"},
                     "tester")  # a user other than the platform's: it runs as the harness-made hpc-tester

    def running() -> dict | None:
        platform.jobs.refresh(["slurm"])
        v = svc.view(svc._row(row.alias))
        assert v.state not in ("failed", "stopped"), v.log_tail
        return v.as_dict() if v.state == "running" and v.usage else None

    v = wait_for(running, 120, "the service to run on Slurm")
    assert v["scheduler_job_id"].isdigit() and "gpu1" in (v["node"] or "")
    url = f"http://{v['host']}:{v['port']}/"
    assert requests.get(url, timeout=10).status_code == 403  # svcrun's gate: only the proxy gets through
    proof = svcauth.sign(svc.secret(svc.job(svc._row(row.alias))))
    assert requests.get(url, headers={svcauth.HEADER: proof}, timeout=10).status_code == 200
    usage = svc.usage(svc.job(svc._row(row.alias)))
    assert usage["processes"] >= 1 and usage["rss_mb"] > 5
    assert usage["gpus"] == [] and usage["gpu_note"].startswith("no GPU (")  # granted, but no driver here
    svc.stop(row.alias, "tester")

    def stopped() -> bool:
        platform.jobs.refresh(["slurm"])
        return svc.view(svc._row(row.alias)).state == "stopped"

    wait_for(stopped, 60, "scancel to end the service")
