"""libaiflow.tensorflow.autolog(every_n_iter=1): params, per-epoch metrics and the model of Keras
training (tf.keras, or Keras 3 on any backend: tensorflow, torch, jax), through MLflow's autolog.

`every_n_iter` counts epochs (spec 12 §B.4): 2 logs the training metrics every second epoch.
MLflow's Keras callback knows only "every epoch" or "every n batches", so libaiflow thins its
per-epoch calls. LIBAIFLOW_AUTOLOG_MODELS=0 logs params and metrics only.
"""

from __future__ import annotations

from typing import Any

from libaiflow.errors import LibaiflowError
from libaiflow.pytorch import log_models


def _positive(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise LibaiflowError(f"{name} must be a whole number >= 1, got {value!r}")
    return value


def every_n_epochs(callback_cls: type, n: int) -> None:
    """Make `callback_cls.on_epoch_end` act on epochs n, 2n, 3n ... (1-based)."""
    original = callback_cls.__dict__.get("_libaiflow_on_epoch_end") or callback_cls.on_epoch_end
    callback_cls._libaiflow_on_epoch_end = original
    if n == 1:
        callback_cls.on_epoch_end = original
        return

    def on_epoch_end(self: Any, epoch: int, logs: Any = None) -> Any:
        if (epoch + 1) % n == 0:
            return original(self, epoch, logs)
        return None

    callback_cls.on_epoch_end = on_epoch_end


def autolog(every_n_iter: int = 1) -> None:
    n = _positive(every_n_iter, "every_n_iter")
    try:
        import keras
    except ImportError as exc:
        raise LibaiflowError("tensorflow.autolog needs Keras: install tensorflow (tf.keras) or keras>=3 "
                             f"({exc})") from None
    if int(keras.__version__.split(".")[0]) >= 3:
        import mlflow.keras
        import mlflow.keras.callback

        mlflow.keras.autolog(log_every_epoch=True, log_models=log_models(), silent=True)
        every_n_epochs(mlflow.keras.callback.MlflowCallback, n)
    else:
        import mlflow.tensorflow
        import mlflow.tensorflow.callback

        mlflow.tensorflow.autolog(log_every_epoch=True, log_models=log_models(), silent=True)
        every_n_epochs(mlflow.tensorflow.callback.MlflowCallback, n)
