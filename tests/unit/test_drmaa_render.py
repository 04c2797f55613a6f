"""The drmaa plugin's pure parts: the job script and the native specification (golden files
in tests/golden/drmaa; regenerate with HPCAI_UPDATE_GOLDEN=1 and review the diff)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.api import ScriptContext
from core.errors import ValidationError
from core.plan import LaunchPlan, ResourceRequest, Role
from plugins.schedulers.drmaa import DrmaaScheduler, native_spec

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "drmaa"
SETTINGS = {"parallel_environment": "smp", "queues": {"ai_excl": "all.q"}}
CTX = ScriptContext(job_dir="/spool/bob/u-2", cwd="/home/bob/p", body="/spool/bob/u-2/body.sh",
                    stdout="/spool/bob/u-2/output.%J.txt", stderr=None, job_name="j",
                    env={"HPCAI_JOB_DIR": "/spool/bob/u-2"}, python="/usr/bin/python3")


def plan(roles: list[Role], **kw: object) -> LaunchPlan:
    return LaunchPlan(job_uuid="u-2", name="j", user="bob", roles=roles, workdir="/home/bob/p",
                      scheduler="drmaa", **kw)  # type: ignore[arg-type]


CASES = {
    "ddp_limit_queue": plan([Role("worker", 2, ResourceRequest(cpus=2, mem_mb=4096), ["python"])],
                            queue="ai_excl", time_limit_min=90),
    "array_on_host": plan([Role("main", 1, ResourceRequest(cpus=1, host="node7"), ["x"])], array_size=4),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case: str) -> None:
    s = DrmaaScheduler()
    s.configure(SETTINGS, "/spool")
    text = s.render(CASES[case], CTX)
    path = GOLDEN / f"{case}.sh"
    if os.environ.get("HPCAI_UPDATE_GOLDEN") == "1" or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert text == path.read_text()


def test_native_specification_from_the_request() -> None:
    assert native_spec(CASES["ddp_limit_queue"], SETTINGS) == "-pe smp 4 -q all.q -l s_rt=1:30:00,h_rt=1:30:30"
    with_mem = {**SETTINGS, "memory_resource": "h_vmem", "gpu_resource": "gpu", "native_options": ["-P ai"]}
    gpu = plan([Role("main", 1, ResourceRequest(cpus=2, mem_mb=3000, gpus=1), ["x"])])
    assert native_spec(gpu, with_mem) == "-pe smp 2 -l h_vmem=1500M -l gpu=1 -P ai"
    assert native_spec(CASES["array_on_host"], SETTINGS) == "-pe smp 1 -l hostname=node7"


def test_gpus_refused_without_a_gpu_resource() -> None:
    s = DrmaaScheduler()
    s.configure(SETTINGS, "/spool")
    with pytest.raises(ValidationError, match="no GPU resource"):
        s.check(plan([Role("main", 1, ResourceRequest(cpus=1, gpus=1), ["x"])]))
