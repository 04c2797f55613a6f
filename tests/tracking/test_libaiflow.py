"""The libaiflow API against a real MLflow server, read back through MLflow's REST API."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import libaiflow
from tests.tracking import rest
from tests.tracking.conftest import REPO_ROOT, free_port

pytestmark = pytest.mark.integration


def test_reference_examples_round_trip(tracking: str, tmp_path: Path) -> None:
    """Every call of spec 12 §B.1-§B.3, with the reference's own examples."""
    exp = libaiflow.init("experiment_name", {"desc": "123"})
    assert exp.name == "experiment_name" and exp.tags["desc"] == "123"
    assert exp.tags["hpcai.owner"]  # the platform's visibility rule starts here
    with libaiflow.start_run(exp.experiment_id, run_name="r1", tags={"team": "cv"},
                             description="reference examples") as run:
        assert isinstance(run, libaiflow.ActiveRun)
        libaiflow.log_metric("mse", 2500.00)
        libaiflow.log_metrics({"mse": 2500.00, "rmse": 50.00}, step=1)
        libaiflow.log_metric("loss", 0.5, step=2)
        libaiflow.log_param("learning_rate", 0.01)
        libaiflow.log_params({"n_estimators": 10, "depth": None})
        features = tmp_path / "features.txt"
        features.write_text("a,b,c\n")
        libaiflow.log_artifact(str(features), "data")
        (tmp_path / "bundle").mkdir()
        (tmp_path / "bundle" / "x.txt").write_text("x")
        libaiflow.log_artifact(str(tmp_path / "bundle"), "bundle")
        libaiflow.log_text("text1", "file1.txt")
        libaiflow.log_text("text2", "dir/file2.txt")
        libaiflow.log_text("<h1>header</h1>", "index.html")
        libaiflow.log_image(np.random.randint(0, 256, (100, 100, 3), dtype=np.uint8), "image.png")
        from PIL import Image

        libaiflow.log_image(Image.new("RGB", (100, 100)), "pil/image.png")
        libaiflow.set_tag("type", "father")
    got = rest.run(tracking, run.info.run_id)
    assert got["info"]["status"] == "FINISHED" and got["info"]["run_name"] == "r1"
    assert rest.metrics(got) == {"mse": 2500.0, "rmse": 50.0, "loss": 0.5}
    assert rest.history(tracking, run.info.run_id, "mse") == [(0, 2500.0), (1, 2500.0)]
    assert rest.params(got) == {"learning_rate": "0.01", "n_estimators": "10", "depth": "None"}
    t = rest.tags(got)
    assert t["type"] == "father" and t["team"] == "cv" and t["mlflow.note.content"] == "reference examples"
    assert sorted(rest.artifacts(tracking, run.info.run_id)) == [
        "bundle/x.txt", "data/features.txt", "dir/file2.txt", "file1.txt", "image.png", "index.html",
        "pil/image.png"]
    assert rest.download(tracking, run.info.run_id, "dir/file2.txt") == b"text2"
    assert rest.download(tracking, run.info.run_id, "image.png")[:8] == b"\x89PNG\r\n\x1a\n"


def test_nested_runs_and_auto_started_runs(tracking: str, capfd: pytest.CaptureFixture[str]) -> None:
    exp = libaiflow.init("nested_exp")
    father = libaiflow.start_run(exp.experiment_id, "father")
    libaiflow.set_tag("type", "father")
    with pytest.raises(libaiflow.LibaiflowError, match="nested=True"):
        libaiflow.start_run(exp.experiment_id, "oops")
    son = libaiflow.start_run(exp.experiment_id, "son", nested=True)
    libaiflow.set_tag("type", "son")
    libaiflow.end_run()
    libaiflow.end_run()
    son_tags = rest.tags(rest.run(tracking, son.info.run_id))
    assert son_tags["mlflow.parentRunId"] == father.info.run_id and son_tags["type"] == "son"
    assert rest.run(tracking, father.info.run_id)["info"]["status"] == "FINISHED"

    # Logging after end_run starts a new run in the experiment of init, and says so.
    libaiflow.log_metric("after", 1.0)
    run = libaiflow.active_run()
    assert run is not None and run.info.experiment_id == exp.experiment_id
    assert run.info.run_id not in (father.info.run_id, son.info.run_id)
    assert "no active run (the previous run was ended with end_run())" in capfd.readouterr().err
    libaiflow.end_run()
    assert rest.metrics(rest.run(tracking, run.info.run_id)) == {"after": 1.0}


def test_failed_block_marks_the_run_failed(tracking: str) -> None:
    exp = libaiflow.init("failing_exp")
    with pytest.raises(ZeroDivisionError), libaiflow.start_run(exp.experiment_id) as run:
        raise ZeroDivisionError("training failed")
    assert rest.run(tracking, run.info.run_id)["info"]["status"] == "FAILED"


def test_figures(tracking: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import plotly.graph_objects as go

    libaiflow.init("figures_exp")
    with libaiflow.start_run(None) as run:
        fig, ax = plt.subplots()
        ax.plot([0, 1], [2, 3])
        libaiflow.log_figure(fig, "figure.png")
        libaiflow.log_figure(go.Figure(go.Scatter(x=[0, 1], y=[2, 3])), "plots/figure.html")
        with pytest.raises(libaiflow.LibaiflowError, match="matplotlib figure is saved as an image"):
            libaiflow.log_figure(fig, "figure.html")
        with pytest.raises(libaiflow.LibaiflowError, match="matplotlib Figure or a plotly Figure"):
            libaiflow.log_figure("not a figure", "f.png")
    assert rest.download(tracking, run.info.run_id, "figure.png")[:4] == b"\x89PNG"
    html = rest.download(tracking, run.info.run_id, "plots/figure.html").decode()
    # FAQ 13: the chart must render offline, so plotly.js is inside the file, not on a CDN.
    # (plotly.js itself names a CDN only as the default source of geo maps' topojson.)
    assert "<script src=" not in html and 'src="https://cdn.plot.ly' not in html
    assert "Plotly.newPlot" in html and len(html) > 1_000_000


def test_bad_input_has_clear_errors(tracking: str, tmp_path: Path) -> None:
    E = libaiflow.LibaiflowError
    with pytest.raises(E, match="contains ' '"):
        libaiflow.init("bad name")
    with pytest.raises(E, match="limit is 255"):
        libaiflow.init("x" * 256)
    libaiflow.init("bad_input_exp")
    with libaiflow.start_run(None):
        with pytest.raises(E, match="metric key 'a:b' contains ':'"):
            libaiflow.log_metric("a:b", 1)
        with pytest.raises(E, match="limit is 250"):
            libaiflow.log_param("k" * 251, 1)
        with pytest.raises(E, match="limit is 5000"):
            libaiflow.log_param("long", "v" * 5001)
        with pytest.raises(E, match="must be a number"):
            libaiflow.log_metrics({"ok": 1.0, "bad": "x"})
        with pytest.raises(E, match="does not exist"):
            libaiflow.log_artifact(str(tmp_path / "missing.txt"))
        with pytest.raises(E, match="H x W"):
            libaiflow.log_image(np.zeros((2, 2, 2, 2), dtype=np.uint8), "x.png")
        with pytest.raises(E, match="image suffix"):
            libaiflow.log_image(np.zeros((2, 2), dtype=np.uint8), "x.txt")
        libaiflow.log_param("lr", 0.1)
        with pytest.raises(E, match="refused it"):  # MLflow: a logged parameter never changes
            libaiflow.log_param("lr", 0.2)
        run = libaiflow.active_run()
    assert "ok" not in rest.metrics(rest.run(tracking, run.info.run_id))  # nothing half-logged


def test_experiments_belong_to_their_owner(tracking: str) -> None:
    """Another user's experiment name is refused by init (names are unique on the platform)."""
    code = "import libaiflow; libaiflow.init('owned_by_daemon')"
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking, "HPCAI_JOB_USER": "daemon"}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120, cwd=REPO_ROOT)
    assert rest.experiment_by_name(tracking, "owned_by_daemon")["tags"] == [
        {"key": "hpcai.owner", "value": "daemon"}]
    with pytest.raises(libaiflow.LibaiflowError, match="belongs to daemon"):
        libaiflow.init("owned_by_daemon")


def test_server_unreachable_does_not_stop_training(tracking: str, monkeypatch: pytest.MonkeyPatch,
                                                   capfd: pytest.CaptureFixture[str]) -> None:
    import libaiflow.tracking as lt

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    exp = libaiflow.init("offline_exp")  # a stand-in experiment, not an exception
    assert exp.name == "offline_exp" and exp.experiment_id == ""
    with libaiflow.start_run(exp.experiment_id) as run:
        for step in range(3):
            libaiflow.log_metric("loss", 1.0 / (step + 1), step=step)
    assert run.info.run_id == ""
    err = capfd.readouterr().err
    assert "is unreachable after 1 retries; init('offline_exp') was not recorded" in err
    assert "Training goes on" in err and err.count("WARNING") == 1  # one warning per outage
    assert lt._link.dropped >= 4

    # Strict mode: the same outage is an error the training code sees.
    libaiflow.set_strict(True)
    with pytest.raises(libaiflow.ServerUnreachable, match="unreachable after 1 retries; metric 'x'"):
        libaiflow.log_metric("x", 1.0)

    # The server comes back: after the pause libaiflow logs again.
    libaiflow.set_strict(False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking)
    lt._link.down_until = 0
    libaiflow.init("offline_exp")
    with libaiflow.start_run(None) as run:
        libaiflow.log_metric("loss", 0.1)
    assert rest.metrics(rest.run(tracking, run.info.run_id)) == {"loss": 0.1}


@pytest.mark.slow
def test_pytorch_autolog_with_lightning(tracking: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """libaiflow.pytorch.autolog(log_every_n_epoch=2) on a tiny PyTorch Lightning model.
    (Model logging is covered by the Keras sample job; here it would only add MLflow's
    dependency inference, tens of seconds.)"""
    import lightning as L
    import torch

    class Tiny(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(4, 1)

        def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> torch.Tensor:
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.layer(x), y)
            self.log("train_loss", loss, on_epoch=True, on_step=False)
            return loss

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    torch.manual_seed(0)
    x = torch.randn(32, 4)
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, x.sum(1, keepdim=True)), batch_size=8)
    libaiflow.init("lightning_exp")
    monkeypatch.setenv("LIBAIFLOW_AUTOLOG_MODELS", "0")
    libaiflow.pytorch.autolog(log_every_n_epoch=2)
    try:
        with libaiflow.start_run(None) as run:
            L.Trainer(max_epochs=4, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, default_root_dir=str(tmp_path)).fit(Tiny(), data)
    finally:
        import mlflow.pytorch

        mlflow.pytorch.autolog(disable=True)
    got = rest.run(tracking, run.info.run_id)
    assert rest.params(got)["epochs"] == "4" and rest.params(got)["optimizer_name"] == "SGD"
    steps = [s for s, _ in rest.history(tracking, run.info.run_id, "train_loss")]
    assert len(steps) == 2, steps  # epochs 2 and 4 of 4, not every epoch
    assert rest.api(tracking, "logged-models/search", {"experiment_ids": [run.info.experiment_id]})\
        .get("models", []) == []


def test_token_goes_to_mlflow_as_bearer_token(tracking: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """init's `token` (the portal's API token) authenticates through the portal's proxy."""
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN", raising=False)
    libaiflow.init("token_exp", token="t0k3n")
    from mlflow.utils.credentials import get_default_host_creds

    assert get_default_host_creds(tracking).token == "t0k3n"  # sent as "Authorization: Bearer"
