"""Auto-tuning with experiment tracking (issues 6 + 7): every trial is an MLflow run nested under
the study's run, with its parameters, its objective values and its Optuna state, read back from
the real MLflow server of this test session."""

import json
import pathlib
import shutil

import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import TERMINAL, submit, wait_state

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples" / "autotune"


def test_trials_are_nested_runs_of_the_study_run(cli, mlflow_server, tmp_path):
    project = tmp_path / "p"
    shutil.copytree(EXAMPLES, project)
    env = {"HPCAI_MLFLOW_URI": mlflow_server}
    jid = submit(lambda *a, **k: cli(*a, env=env, **k), "--framework", "pytorch", "--resource-spec", "cpu-2",
                 "--workdir", str(project), "--autotune", "--autotune-file", "params_tpe.json",
                 "--autotune-experiment", "tune_tracking", "--autotune-trials", "6", "--autotune-parallelism", "2",
                 "--", "python", "sgd_digits.py", "--epochs", "4")
    info = wait_state(lambda *a, **k: cli(*a, env=env, **k), jid, TERMINAL, timeout=240)
    log = pathlib.Path(info["job_dir"], f"output.{info['scheduler_job_id']}.txt").read_text()
    assert info["state"] == "succeeded", log
    assert "View run" not in log and mlflow_server not in log  # no bare-server links, one per trial
    rep = json.loads(cli("tune", "show", str(jid), "--json", env=env).stdout)
    client = MlflowClient(mlflow_server)
    exp = client.get_experiment_by_name("tune_tracking")
    runs = client.search_runs([exp.experiment_id])
    study = [r for r in runs if r.data.tags.get("hpcai.kind") == "study"]
    trials = [r for r in runs if r.data.tags.get("hpcai.kind") == "trial"]
    assert len(study) == 1 and study[0].info.run_name == rep["study"]
    assert study[0].data.params["sampler"] == "TPESampler"
    assert len(trials) == 6
    by_number = {t["number"]: t for t in rep["trials"]}
    for run in trials:
        assert run.data.tags["mlflow.parentRunId"] == study[0].info.run_id
        assert run.data.tags["hpcai.job_uuid"] == info["uuid"]  # the run-context provider's tag
        t = by_number[int(run.data.tags["optuna.trial"])]
        assert run.data.tags["optuna.state"] == t["state"]
        assert run.data.params["loss"] == t["params"]["loss"]
        if t["state"] == "COMPLETE":
            assert run.data.metrics["accuracy"] == pytest.approx(t["values"]["accuracy"])
    best = rep["best"][0]
    assert study[0].data.metrics["best_accuracy"] == pytest.approx(best["values"]["accuracy"])
