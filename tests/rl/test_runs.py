"""RL training runs as scheduler jobs through the platform (core.rl.runs), on the local scheduler:
two PPO runs submitted at once on this one node both succeed (each job's Ray cluster on its own
allocated ports, never Ray's defaults), each writes its result, checkpoint and metrics per
iteration; a bad spec is refused before anything is written, and the CLI exits 2 naming the field.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from core.errors import ValidationErrors
from core.platform import Platform
from core.rl.runs import RUNS_DIR, TrainSettings
from core.rl.trainspec import ports_needed
from tests.pipelines.test_runs import make_site

pytestmark = [pytest.mark.integration, pytest.mark.slow]

USER = "rltrainer"  # a portal account: its jobs run as the harness-made Unix user hpc-rltrainer

SPEC = {"algorithm": "PPO", "env": {"kind": "gym", "id": "CartPole-v1"}, "env_runners": 1,
        "params": {"lr": 0.0003, "train_batch_size": 500, "num_sgd_iter": 3, "sgd_minibatch_size": 128},
        "stop": {"total_steps": 1000}}


@pytest.fixture(scope="module")
def site() -> Platform:
    with pytest.MonkeyPatch.context() as mp:
        yield make_site(mp, "rl-runs")


def wait(p: Platform, job_id: int, timeout: float = 400) -> str:
    deadline = time.monotonic() + timeout
    while True:
        p.jobs.refresh()
        job = p.jobs.get(job_id, USER)
        if job.state in ("succeeded", "failed", "cancelled"):
            return job.state
        if time.monotonic() > deadline:
            pytest.fail(f"RL job {job_id} still {job.state} after {timeout} s")
        time.sleep(1)


def log_of(p: Platform, job_id: int) -> str:
    job = p.jobs.get(job_id, USER)
    return "".join(Path(f).read_text(errors="replace")[-4000:] for f in (job.stdout_path, job.stderr_path)
                   if f and Path(f).is_file())


def test_two_ppo_runs_at_once_on_one_node_both_succeed(site: Platform) -> None:
    runs = [site.rl_runs.submit(USER, SPEC, TrainSettings("cpu-1", name=f"rl-both-{i}")) for i in range(2)]
    jobs = [site.jobs.get(r["job_id"], USER) for r in runs]
    assert all(r["ports"] == ports_needed(SPEC) for r in runs)
    states = [wait(site, r["job_id"]) for r in runs]
    assert states == ["succeeded", "succeeded"], "\n".join(log_of(site, j.id) for j in jobs)
    for run in runs:
        data = site.rl_runs.result(USER, run["uuid"])
        result = data["result"]
        assert result["algorithm"] == "PPO" and result["env_steps"] >= 1000
        assert data["iterations"] and data["iterations"][-1]["iteration"] == result["iterations"]
        assert Path(result["checkpoint"]).is_dir()
        assert Path(run["run_dir"]).owner() == "hpc-rltrainer"  # written as the user, not the platform


def test_bad_spec_is_refused_before_anything_is_written(site: Platform, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    root = site.workspace.home(USER) / RUNS_DIR
    before = sorted(root.iterdir()) if root.is_dir() else []
    bad = {**SPEC, "algorithm": "TD3", "env_runners": 0}
    with pytest.raises(ValidationErrors) as caught:
        site.rl_runs.submit(USER, bad)
    fields = {e.field for e in caught.value.errors}
    assert fields == {"algorithm", "env_runners"}
    assert "SAC" in str(caught.value)  # the replacement is named
    assert (sorted(root.iterdir()) if root.is_dir() else []) == before

    from cli.main import main

    spec = tmp_path / "bad.json"
    spec.write_text(json.dumps({**SPEC, "env": {"kind": "gym", "id": "CartPol-v1"}}))
    monkeypatch.setenv("HPCAI_USER", USER)
    assert main(["rl", "train", str(spec)]) == 2
    assert "env.id" in capsys.readouterr().err
