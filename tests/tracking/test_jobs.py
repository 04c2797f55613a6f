"""Both SDK samples of the product (spec 12 §C) submitted as hpcai jobs on the local scheduler,
then read back through MLflow's REST API and through the platform's experiment data layer."""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.errors import NotFound
from core.experiments import runs_csv
from core.platform import Platform
from core.store import JobRow
from core.users import current_user
from tests.tracking import rest
from tests.tracking.conftest import REPO_ROOT, scratch_dir

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLES = REPO_ROOT / "examples" / "tracking"


@pytest.fixture(scope="module")
def platform(mlflow_server: str) -> Iterator[Platform]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HPCAI_DATA_DIR", str(scratch_dir("tracking-jobs")))
        mp.setenv("HPCAI_MLFLOW_URI", mlflow_server)
        mp.delenv("HPCAI_DB_URL", raising=False)
        yield Platform()


def submit(platform: Platform, example: str, command: str, env: str = "") -> JobRow:
    workdir = scratch_dir("tracking-jobs") / example
    shutil.copytree(EXAMPLES / example, workdir, dirs_exist_ok=True)
    values = {"framework": "pytorch", "mode": "standalone", "resource_spec": "cpu-1",
              "workdir": str(workdir), "command": command, "name": example}
    if env:
        values["env"] = env
    req = platform.jobs.request_from_values(values, current_user(), source="cli")
    return platform.jobs.submit(req)


def wait(platform: Platform, row: JobRow, timeout: float = 400) -> JobRow:
    deadline = time.monotonic() + timeout
    while True:
        platform.jobs.refresh()
        row = platform.jobs.get(row.id, row.user)
        if row.state in ("succeeded", "failed", "cancelled"):
            return row
        if time.monotonic() > deadline:
            pytest.fail(f"job {row.id} still {row.state} after {timeout} s")
        time.sleep(1)


def job_log(row: JobRow) -> str:
    return "\n".join(p.read_text(errors="replace")[-3000:] for p in Path(row.job_dir).rglob("*.log"))


@pytest.fixture(scope="module")
def jobs(platform: Platform) -> dict[str, JobRow]:
    """Both samples run at once (one CPU slot each)."""
    rows = {
        "elasticnet": submit(platform, "elasticnet", "python make_winequality.py && python train.py"),
        "keras_mnist": submit(platform, "keras_mnist", "python make_mnist.py && python train.py",
                              env="KERAS_BACKEND=torch"),
    }
    done = {name: wait(platform, row) for name, row in rows.items()}
    for name, row in done.items():
        assert row.state == "succeeded", f"{name} job {row.id} {row.state}:\n{job_log(row)}"
    return done


def job_run(url: str, experiment: str, row: JobRow) -> dict:
    exp = rest.experiment_by_name(url, experiment)
    runs = rest.search_runs(url, [exp["experiment_id"]], f"tags.`hpcai.job_uuid` = '{row.uuid}'")
    assert len(runs) == 1, runs
    return runs[0]


def test_jobs_get_the_tracking_uri_and_identity(jobs: dict[str, JobRow], mlflow_server: str) -> None:
    env = jobs["elasticnet"].request["env"]
    assert env["MLFLOW_TRACKING_URI"] == mlflow_server
    assert env["HPCAI_JOB_USER"] == jobs["elasticnet"].user and env["HPCAI_JOB_MODE"] == "standalone"


def test_elasticnet_sample(jobs: dict[str, JobRow], mlflow_server: str) -> None:
    row = jobs["elasticnet"]
    run = job_run(mlflow_server, "mnist_tf2_test1", row)
    assert rest.params(run) == {"alpha": "0.5", "l1_ratio": "0.5"}
    metrics = rest.metrics(run)
    assert set(metrics) == {"rmse", "r2", "mae"} and all(math.isfinite(v) for v in metrics.values())
    assert 0 < metrics["mae"] <= metrics["rmse"]
    tags = rest.tags(run)
    assert tags["hpcai.job_uuid"] == row.uuid and tags["hpcai.job_id"] == row.scheduler_job_id
    assert (tags["hpcai.user"], tags["hpcai.scheduler"], tags["hpcai.framework"], tags["hpcai.mode"]) == \
        (row.user, "local", "pytorch", "standalone")
    assert tags["mlflow.user"] == row.user and tags["mlflow.source.name"].endswith("train.py")
    assert run["info"]["status"] == "FINISHED"


def test_keras_mnist_autolog_sample(jobs: dict[str, JobRow], mlflow_server: str) -> None:
    row = jobs["keras_mnist"]
    run = job_run(mlflow_server, "mnist_tf2_cpu", row)
    run_id = run["info"]["run_id"]
    params = rest.params(run)
    assert params["epochs"] == "2" and params["batch_size"] == "100"
    assert float(params["optimizer_learning_rate"]) == pytest.approx(0.01)
    assert [s for s, _ in rest.history(mlflow_server, run_id, "loss")] == [0, 1]  # every_n_iter=1
    assert {"accuracy", "val_accuracy", "val_loss"} <= set(rest.metrics(run))
    assert "model_summary.txt" in rest.artifacts(mlflow_server, run_id)
    models = rest.api(mlflow_server, "logged-models/search",
                      {"experiment_ids": [run["info"]["experiment_id"]],
                       "filter": f"source_run_id = '{run_id}'"})["models"]
    assert len(models) == 1 and models[0]["info"]["status"] == "LOGGED_MODEL_READY"
    assert rest.tags(run)["hpcai.job_uuid"] == row.uuid


def test_experiment_data_of_a_job(jobs: dict[str, JobRow], platform: Platform) -> None:
    ex = platform.experiments
    row = jobs["keras_mnist"]
    (run,) = ex.job_runs(row.id, row.user)
    assert run.job_id == row.id and run.scheduler_job_id == row.scheduler_job_id
    assert run.user == row.user and run.source.endswith("train.py") and run.status == "FINISHED"
    assert run.start_time is not None and run.duration_s and run.duration_s > 0
    assert run.models and run.models[0].startswith("m-")
    assert {"loss", "accuracy"} <= set(run.metrics) and run.params["epochs"] == "2"
    (other,) = ex.job_runs(jobs["elasticnet"].id, row.user)

    cmp = ex.compare([run.run_id, other.run_id], row.user)
    assert [p["step"] for p in cmp["metrics"]["loss"][run.run_id]] == [0, 1]
    assert set(cmp["metrics"]["rmse"]) == {other.run_id}

    csv_text = runs_csv([run, other])
    header, first = csv_text.splitlines()[:2]
    assert header.startswith("Job ID,Run ID,Start Time,Duration (s),Run Name,User,Source,Version")
    assert first.startswith(f"{row.id},{run.run_id},")
    assert "metrics.rmse" in header and "params.alpha" in header


def test_visibility(jobs: dict[str, JobRow], platform: Platform) -> None:
    """MLflow has no access control: the platform shows a user only what is theirs or shared."""
    ex = platform.experiments
    owner = jobs["keras_mnist"].user
    stranger = "daemon"  # a real account that is not an hpcai admin
    with pytest.raises(NotFound):
        ex.job_runs(jobs["keras_mnist"].id, stranger)
    names = {e.name for e in ex.list_experiments(owner)}
    assert {"mnist_tf2_cpu", "mnist_tf2_test1"} <= names
    assert "mnist_tf2_cpu" not in {e.name for e in ex.list_experiments(stranger)}
    exp = next(e for e in ex.list_experiments(owner) if e.name == "mnist_tf2_cpu")
    with pytest.raises(NotFound):
        ex.experiment_runs(exp.experiment_id, stranger)
    ex.share(exp.experiment_id, owner, "daemon")  # daemon's own group
    try:
        assert "mnist_tf2_cpu" in {e.name for e in ex.list_experiments(stranger)}
        assert len(ex.experiment_runs(exp.experiment_id, stranger)) == 1
    finally:
        ex.share(exp.experiment_id, owner, None)
    assert "mnist_tf2_cpu" not in {e.name for e in ex.list_experiments(stranger)}
