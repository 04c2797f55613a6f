"""DRMAA-only calls against the real Grid Engine (tests/services/gridengine.sh): wait, and a
native specification the scheduler applies (the slots of the parallel environment)."""

from __future__ import annotations

import shutil
import uuid
from typing import Iterator

import pytest

from core.api import JobRef
from core.types import JobState
from tests.schedulers.conftest import SCRATCH, Backend, make_platform

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ge(pg_url: str, gridengine: None) -> Iterator[Backend]:
    root = SCRATCH / f"drmaa-live-{uuid.uuid4().hex[:6]}"
    root.mkdir(parents=True)
    yield Backend("drmaa", make_platform("drmaa", root, pg_url), root)
    shutil.rmtree(root, ignore_errors=True)


def test_wait_and_native_specification(ge: Backend) -> None:
    wd = ge.workdir()
    row = ge.submit(ge.request('echo "slots=$NSLOTS pe=$PE queue=$QUEUE" > env.txt; sleep 2', wd,
                               mode="ddp", options={"instances": 2, "resource_spec": "cpu-1"},
                               queue="ai_excl"))
    assert "-pe smp 2 -q all.q" in row.script
    sched = ge.platform.registry.scheduler("drmaa")
    st = sched.wait(JobRef(row.scheduler_job_id or "", row.job_dir), timeout=120)
    assert st.state == JobState.SUCCEEDED, (st, ge.log(ge.job(row.id)))
    # both ranks ran under the one PE allocation that the native specification asked for
    assert (wd / "env.txt").read_text().split() == ["slots=2", "pe=smp", "queue=all.q"]
    assert ge.job(row.id).state == "succeeded"


def test_unknown_queue_is_refused_in_the_schedulers_words(ge: Backend) -> None:
    from core.errors import ValidationError

    with pytest.raises(ValidationError) as info:
        ge.submit(ge.request("true", queue="no-such.q"))
    assert "no-such.q" in info.value.text or "queue" in info.value.text.lower()
