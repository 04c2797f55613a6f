"""Tracking tests: libaiflow pointed at the session's MLflow server (`mlflow_server`, one per test
session for every test directory, lives in tests/fixtures_services.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures_services import free_port, scratch_dir  # noqa: F401 - the tracking tests import them here

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def tracking(mlflow_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """libaiflow in this process pointed at the session server, with a fresh connection state."""
    import mlflow
    from mlflow.tracking._tracking_service import utils as mlflow_uri

    import libaiflow.tracking as lt

    # Optuna's MLflowCallback and Lightning's MLFlowLogger call mlflow.set_tracking_uri() in earlier
    # tests; that process-wide URI outranks MLFLOW_TRACKING_URI and would send this test's values
    # past any relay it puts in between.
    monkeypatch.setattr(mlflow_uri, "_tracking_uri", None)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    for name in ("HPCAI_JOB_UUID", "HPCAI_JOB_USER", "LIBAIFLOW_STRICT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(lt, "_link", lt._Link())
    yield mlflow_server
    while mlflow.active_run() is not None:
        mlflow.end_run()

