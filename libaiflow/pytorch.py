"""libaiflow.pytorch.autolog(log_every_n_epoch=1): params, metrics and the model of PyTorch
Lightning training (spec 12 §B.4), through MLflow's PyTorch autolog."""

from __future__ import annotations

from libaiflow.errors import LibaiflowError


def autolog(log_every_n_epoch: int = 1) -> None:
    n = log_every_n_epoch
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise LibaiflowError(f"log_every_n_epoch must be a whole number >= 1, got {n!r}")
    try:
        import mlflow.pytorch
    except ImportError as exc:
        raise LibaiflowError(f"pytorch.autolog needs torch ({exc})") from None
    mlflow.pytorch.autolog(log_every_n_epoch=n, silent=True)
