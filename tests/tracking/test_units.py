"""libaiflow's limits, the run-context tags, the tracking settings and the job wiring: no server."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.config import load_config
from core.errors import HpcaiError, ValidationError
from core.experiments import RunRow, runs_csv
from core.tracking import job_env, server_argv, settings_from_config
from core.types import JobRequest
from libaiflow import limits
from libaiflow.context import job_tags
from libaiflow.errors import LibaiflowError
from libaiflow.tensorflow import every_n_epochs


@pytest.mark.parametrize("name", ["mnist_tf2_cpu", "A-b_9", "实验一", "x" * 255, "中文_exp-2"])
def test_experiment_names_accepted(name: str) -> None:
    assert limits.experiment_name(name) == name


@pytest.mark.parametrize("name,says", [
    ("my exp", "' '"), ("a/b", "'/'"), ("x" * 256, "limit is 255"), ("", "non-empty"),
    ("naïve", "'ï'"), ("café.v1", "."), (None, "non-empty"),
])
def test_experiment_names_refused(name: object, says: str) -> None:
    with pytest.raises(LibaiflowError, match="experiment_name") as err:
        limits.experiment_name(name)
    assert says in str(err.value)


@pytest.mark.parametrize("key", ["mse", "val/loss", "epoch 1.acc", "a-b_c", "x" * 250, "损失"])
def test_keys_accepted(key: str) -> None:
    assert limits.key(key) == key


@pytest.mark.parametrize("key,says", [
    ("a:b", "':'"), ("x" * 251, "limit is 250"), ("/abs", "not unique"), ("a//b", "not unique"),
    ("../up", "not unique"), ("", "non-empty"), ("a$b", "'$'"),
])
def test_keys_refused(key: str, says: str) -> None:
    with pytest.raises(LibaiflowError) as err:
        limits.key(key, "metric key")
    assert says in str(err.value) and "metric key" in str(err.value)


def test_values_steps_and_paths() -> None:
    import numpy as np

    assert limits.text_value(0.01, "p") == "0.01"
    assert limits.text_value("x" * 5000, "p") == "x" * 5000
    with pytest.raises(LibaiflowError, match="5001 characters long; the limit is 5000"):
        limits.text_value("x" * 5001, "param 'p'")
    assert limits.metric_value(np.float32(0.5), "m") == 0.5
    assert limits.metric_value(3, "m") == 3.0
    for bad in ("0.5", None, True, [1]):
        with pytest.raises(LibaiflowError, match="must be a number"):
            limits.metric_value(bad, "m")
    assert limits.step(None) == 0 and limits.step(np.int64(4)) == 4 and limits.step(2.0) == 2
    for bad in (1.5, "1", True):
        with pytest.raises(LibaiflowError, match="step must be a whole number"):
            limits.step(bad)
    assert limits.artifact_file("dir/./file.png") == "dir/file.png"
    for bad in ("/etc/passwd", "../x.png", "a\\b.png", ""):
        with pytest.raises(LibaiflowError, match="artifact_file"):
            limits.artifact_file(bad)
    with pytest.raises(LibaiflowError, match="tags must be a dict"):
        limits.tags(["a"])


def test_every_n_epochs_thins_epoch_callbacks() -> None:
    class Callback:
        def __init__(self) -> None:
            self.seen: list[int] = []

        def on_epoch_end(self, epoch: int, logs: object = None) -> None:
            self.seen.append(epoch)

    every_n_epochs(Callback, 2)
    cb = Callback()
    for epoch in range(5):
        cb.on_epoch_end(epoch, {})
    assert cb.seen == [1, 3]
    every_n_epochs(Callback, 1)  # back to every epoch, not a wrapper of the wrapper
    cb = Callback()
    for epoch in range(3):
        cb.on_epoch_end(epoch, {})
    assert cb.seen == [0, 1, 2]


def test_autolog_arguments_checked() -> None:
    import libaiflow

    for bad in (0, -1, 1.5, True):
        with pytest.raises(LibaiflowError, match="every_n_iter"):
            libaiflow.tensorflow.autolog(every_n_iter=bad)
        with pytest.raises(LibaiflowError, match="log_every_n_epoch"):
            libaiflow.pytorch.autolog(log_every_n_epoch=bad)


def test_job_tags_from_environment(tmp_path: Path) -> None:
    assert job_tags({}) == {}
    env = {"HPCAI_JOB_UUID": "u-1", "HPCAI_JOB_ID": "17", "HPCAI_JOB_USER": "alice",
           "HPCAI_JOB_SCHEDULER": "local", "HPCAI_JOB_FRAMEWORK": "pytorch", "HPCAI_JOB_MODE": "ddp",
           "HPCAI_RANK": "0"}
    tags = job_tags(env)
    assert tags["hpcai.job_uuid"] == "u-1" and tags["hpcai.job_id"] == "17"
    assert tags["hpcai.user"] == "alice" and tags["mlflow.user"] == "alice"
    assert (tags["hpcai.scheduler"], tags["hpcai.framework"], tags["hpcai.mode"]) == ("local", "pytorch", "ddp")
    # Under Slurm without the tracking plugin's variables: the job id from Slurm, the rest from plan.json.
    (tmp_path / "plan.json").write_text('{"user": "bob", "scheduler": "slurm", "framework": "pytorch", '
                                        '"mode": "standalone", "name": "j"}')
    tags = job_tags({"HPCAI_JOB_UUID": "u-2", "SLURM_JOB_ID": "99", "HPCAI_JOB_DIR": str(tmp_path)})
    assert tags["hpcai.job_id"] == "99" and tags["hpcai.user"] == "bob" and tags["hpcai.scheduler"] == "slurm"


def test_provider_registered_by_entry_point() -> None:
    from mlflow.tracking.context.registry import _run_context_provider_registry

    names = [type(p).__name__ for p in _run_context_provider_registry]
    assert "HpcaiRunContextProvider" in names


def test_settings_defaults_and_overrides(tmp_path: Path) -> None:
    cfg = load_config({"HPCAI_DATA_DIR": str(tmp_path)})
    s = settings_from_config(cfg, {})
    assert s.backend_store_uri == f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    assert s.artifacts_destination == str(tmp_path / "mlflow" / "artifacts")
    assert s.url == "http://127.0.0.1:5000" and job_env(s) == {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000",
                                                                "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}
    argv = server_argv(s)
    assert argv[1:4] == ["-m", "mlflow", "server"] and "--serve-artifacts" in argv
    s = settings_from_config(cfg, {"HPCAI_MLFLOW_BACKEND_STORE_URI": "postgresql://u:p@db/mlflow",
                                   "HPCAI_MLFLOW_HOST": "0.0.0.0", "HPCAI_MLFLOW_PORT": "5600",
                                   "HPCAI_MLFLOW_URI": "http://head:5600/", "HPCAI_MLFLOW_ENABLED": "false"})
    assert s.backend_store_uri == "postgresql+psycopg://u:p@db/mlflow"  # psycopg 3, not psycopg2
    assert s.url == "http://head:5600" and job_env(s) == {}


def test_settings_refuse_the_platform_database(tmp_path: Path) -> None:
    url = "postgresql+psycopg://hpcai:x@db/hpcai"
    cfg = load_config({"HPCAI_DATA_DIR": str(tmp_path), "HPCAI_DB_URL": url})
    with pytest.raises(ValidationError, match="its own database") as err:
        settings_from_config(cfg, {"HPCAI_MLFLOW_BACKEND_STORE_URI": "postgresql://hpcai:x@db/hpcai"})
    assert err.value.field == "tracking.backend_store_uri"
    with pytest.raises(ValidationError, match="port"):
        settings_from_config(cfg, {"HPCAI_MLFLOW_PORT": "fifty"})


def test_tracking_plugin_wires_jobs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from plugins.tracking import mlflow as plugin

    monkeypatch.setenv("HPCAI_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HPCAI_MLFLOW_URI", "http://head:5000")
    req = JobRequest(user="alice", command="python t.py", workdir=str(tmp_path), framework="pytorch",
                     mode="ddp", name="mnist", env={"MLFLOW_TRACKING_URI": "http://mine:1"})
    plugin.hpcai_amend_job(request=req, user="alice")
    assert req.env["MLFLOW_TRACKING_URI"] == "http://mine:1"  # the user's own value wins
    assert req.env["HPCAI_JOB_USER"] == "alice" and req.env["HPCAI_JOB_MODE"] == "ddp"
    assert req.env["HPCAI_JOB_SCHEDULER"] == "local" and req.env["HPCAI_JOB_FRAMEWORK"] == "pytorch"
    req = JobRequest(user="alice", command="x", workdir=str(tmp_path), framework="pytorch")
    plugin.hpcai_amend_job(request=req, user="alice")
    assert req.env["MLFLOW_TRACKING_URI"] == "http://head:5000"
    req = JobRequest(user="alice", command="x", workdir=str(tmp_path), options={"tracking": False})
    plugin.hpcai_amend_job(request=req, user="alice")
    assert req.env == {}


def test_tracking_option_in_the_job_form(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from core.platform import Platform

    monkeypatch.setenv("HPCAI_DATA_DIR", str(tmp_path))
    schema = Platform().jobs.form_schema("pytorch")
    assert schema["properties"]["tracking"]["default"] is True


def test_runs_csv_columns() -> None:
    row = RunRow(run_id="r1", experiment_id="1", job_id=7, job_uuid="u", scheduler_job_id="3",
                 start_time=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), duration_s=12.5,
                 run_name="father", user="alice", source="train.py", version="abc", status="FINISHED",
                 models=["model (m-1)"], metrics={"mae": 0.008, "mse": 0.005}, params={"epochs": "100"},
                 tags={"type": "designer"})
    other = RunRow(run_id="r2", experiment_id="1", job_id=None, job_uuid=None, scheduler_job_id=None,
                   start_time=None, duration_s=None, run_name="b, \"quoted\"", user="bob", source="",
                   version="", status="RUNNING", params={"lr": "0.1"})
    import csv
    import io

    table = list(csv.reader(io.StringIO(runs_csv([row, other]))))
    assert table[0] == ["Job ID", "Run ID", "Start Time", "Duration (s)", "Run Name", "User", "Source",
                        "Version", "Status", "Models", "metrics.mae", "metrics.mse", "params.epochs",
                        "params.lr", "tags.type"]
    assert table[1] == ["7", "r1", "2026-01-02T03:04:05+00:00", "12.500", "father", "alice", "train.py",
                        "abc", "FINISHED", "model (m-1)", "0.008", "0.005", "100", "", "designer"]
    assert table[2][4] == 'b, "quoted"' and table[2][13] == "0.1"


def test_hpcai_error_is_raised_for_a_dead_server_process(tmp_path: Path) -> None:
    """A server that exits at once (bad store URI) is reported with its last log lines."""
    from core.tracking import start_server

    s = settings_from_config(load_config({"HPCAI_DATA_DIR": str(tmp_path)}),
                             {"HPCAI_MLFLOW_BACKEND_STORE_URI": "nosuchdb://x/y", "HPCAI_MLFLOW_PORT": "1"})
    with pytest.raises(HpcaiError, match="port 1") if _port_open(1) else \
            pytest.raises(HpcaiError, match="exited with status") as err:
        start_server(s, wait_s=60)
    assert "server.log" in str(err.value)


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_init_warns_when_a_library_overrode_the_platforms_tracking_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    """Optuna's MLflowCallback and Lightning's MLFlowLogger call mlflow.set_tracking_uri(): runs
    would bypass the platform's server without a word (stop 25's outage-test failure)."""
    import warnings

    import mlflow

    from libaiflow import tracking

    from mlflow.tracking import _tracking_service

    monkeypatch.setattr(tracking, "_GIVEN_URI", "http://127.0.0.1:5999")
    # restored afterwards: mlflow keeps the URI in a module global and rewrites the variable too
    monkeypatch.setattr(_tracking_service.utils, "_tracking_uri", None)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    mlflow.set_tracking_uri("http://127.0.0.1:5999/")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tracking._warn_if_uri_overridden()  # the same server: silent
    mlflow.set_tracking_uri("http://elsewhere:5000")
    with pytest.warns(RuntimeWarning, match="outranks MLFLOW_TRACKING_URI='http://127.0.0.1:5999'"):
        tracking._warn_if_uri_overridden()
