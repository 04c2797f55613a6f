"""libaiflow.pytorch.autolog(log_every_n_epoch=1): params, metrics and the model of PyTorch
Lightning training (spec 12 §B.4), through MLflow's PyTorch autolog.

LIBAIFLOW_AUTOLOG_MODELS=0 logs params and metrics only (saving a model costs MLflow tens of
seconds of dependency inference at the end of training)."""

from __future__ import annotations

import os

from libaiflow.errors import LibaiflowError


def log_models() -> bool:
    return os.environ.get("LIBAIFLOW_AUTOLOG_MODELS", "1").lower() not in ("0", "false", "no")


def autolog(log_every_n_epoch: int = 1) -> None:
    n = log_every_n_epoch
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise LibaiflowError(f"log_every_n_epoch must be a whole number >= 1, got {n!r}")
    try:
        import mlflow.pytorch
    except ImportError as exc:
        raise LibaiflowError(f"pytorch.autolog needs torch ({exc})") from None
    mlflow.pytorch.autolog(log_every_n_epoch=n, log_models=log_models(), silent=True)
