"""Pruning callbacks for auto-tuned scripts (spec 03 §5.3, spec 12 §D.4).

    from libaiflow.integration.callback import TFKerasPruningCallback   # or .intergration.
    callbacks = [TFKerasPruningCallback(args.trial, "val_accuracy")]

Each name wraps optuna-integration where it still exists (MXNet and Paddle were dropped from
it, so they are implemented here). Both signatures work: Optuna's, whose first argument is the
trial, and the product's, which leaves the trial out (`KerasPruningCallback("val_loss")`): the
tuner's current trial is used then. Every name imports without its framework; using one whose
framework is missing raises ImportError saying what to install.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import importlib.util
from typing import Any, Iterator

import optuna

# The callbacks of spec 12 §D.4; all but MXNet's are built on first access (module __getattr__).
CALLBACKS = ("KerasPruningCallback", "TFKerasPruningCallback", "TensorFlowPruningHook",
             "MXNetPruningCallback", "PaddlePruningCallback", "TorchDistributedTrial",
             "PyTorchLightningPruningCallback", "OptunaSearchCV")
__all__ = list(CALLBACKS) + ["current_trial", "get_current_trial"]

_current: contextvars.ContextVar[optuna.trial.BaseTrial | None] = contextvars.ContextVar(
    "libaiflow_current_trial", default=None)


@contextlib.contextmanager
def current_trial(trial: optuna.trial.BaseTrial) -> Iterator[None]:
    """Make `trial` the one the product-style signatures use (set by the tuner per trial)."""
    token = _current.set(trial)
    try:
        yield
    finally:
        _current.reset(token)


def get_current_trial() -> optuna.trial.BaseTrial | None:
    return _current.get()


def _with_trial(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Prepend the current trial when the caller used the product's trial-less signature."""
    if "trial" in kwargs or (args and isinstance(args[0], optuna.trial.BaseTrial)):
        return args
    trial = _current.get()
    if trial is None:
        if name == "TorchDistributedTrial":
            return (None, *args)  # a rank that does not own the trial
        raise TypeError(f"{name} needs the trial: pass args.trial first, e.g. "
                        f"{name}(args.trial, ...), or run the script under hpcai auto-tuning")
    return (trial, *args)


def _needs(module: str, name: str, install: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise ImportError(f"{name} needs {module}, which is not installed in this environment: "
                          f"install {install} (or choose an image that has it)")


# (optuna_integration module, class, framework module, what to install)
_WRAPPED = {
    "KerasPruningCallback": ("keras", "KerasPruningCallback", "keras", "keras"),
    "TensorFlowPruningHook": ("tensorflow", "TensorFlowPruningHook", "tensorflow", "tensorflow"),
    "TorchDistributedTrial": ("pytorch_distributed", "TorchDistributedTrial", "torch", "torch"),
    "PyTorchLightningPruningCallback": ("pytorch_lightning", "PyTorchLightningPruningCallback",
                                        "lightning", "lightning (PyTorch Lightning)"),
}


def _wrap(public: str) -> type:
    modname, clsname, framework, install = _WRAPPED[public]
    base = getattr(importlib.import_module(f"optuna_integration.{modname}"), clsname)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        _needs(framework, public, install)
        base.__init__(self, *_with_trial(public, args, kwargs), **kwargs)

    return type(public, (base,), {"__init__": __init__, "__module__": __name__,
                                  "__doc__": base.__doc__})


def _tfkeras() -> type:
    """tf.keras when TensorFlow is installed; else Keras 3 (e.g. on the torch backend), whose
    callback API is the same, so the product's TensorFlow script runs without TensorFlow."""
    if importlib.util.find_spec("tensorflow") is not None:
        from optuna_integration.tfkeras import TFKerasPruningCallback as base

        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            base.__init__(self, *_with_trial("TFKerasPruningCallback", args, kwargs), **kwargs)

        return type("TFKerasPruningCallback", (base,), {"__init__": __init__, "__module__": __name__})
    keras_cb = __getattr__("KerasPruningCallback")

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:  # noqa: F811
        _needs("keras", "TFKerasPruningCallback", "tensorflow (or keras 3 with KERAS_BACKEND=torch)")
        keras_cb.__init__(self, *args, **kwargs)

    return type("TFKerasPruningCallback", (keras_cb,), {"__init__": __init__, "__module__": __name__})


class MXNetPruningCallback:
    """MXNet `epoch_end_callback`/`eval_end_callback`: reports `eval_metric` of each epoch and
    prunes (optuna-integration dropped MXNet; this keeps Optuna 2's semantics)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        args = _with_trial("MXNetPruningCallback", args, kwargs)
        self._trial = kwargs.pop("trial", None) or args[0]
        rest = list(args[1:])
        self._eval_metric = kwargs.pop("eval_metric", None) or (rest[0] if rest else None)
        if not self._eval_metric:
            raise TypeError("MXNetPruningCallback needs eval_metric, e.g. 'accuracy'")

    def __call__(self, param: Any) -> None:
        if getattr(param, "eval_metric", None) is None:
            return
        names, values = param.eval_metric.get()
        if isinstance(names, list) and self._eval_metric in names:
            score = values[names.index(self._eval_metric)]
        elif names == self._eval_metric:
            score = values
        else:
            raise ValueError(f"the metric {self._eval_metric!r} is not in the evaluation metrics "
                             f"{names!r}; give one of them")
        self._trial.report(float(score), step=int(param.epoch))
        if self._trial.should_prune():
            raise optuna.TrialPruned(f"Trial was pruned at epoch {param.epoch}.")


def _paddle() -> type:
    base: type = object
    if importlib.util.find_spec("paddle") is not None:
        from paddle.callbacks import Callback as base  # type: ignore[no-redef]

    class PaddlePruningCallback(base):  # type: ignore[misc, valid-type]
        """paddle.Model.fit callback: reports `monitor` (from the epoch's or the evaluation's
        logs; `val_x` also matches the evaluation's `x`) every `interval` epochs and prunes."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            _needs("paddle", "PaddlePruningCallback", "paddlepaddle")
            super().__init__()
            args = _with_trial("PaddlePruningCallback", args, kwargs)
            self._trial = kwargs.pop("trial", None) or args[0]
            rest = list(args[1:])
            self._monitor = kwargs.pop("monitor", None) or rest.pop(0)
            self._interval = int(kwargs.pop("interval", rest[0] if rest else 1))
            self._epoch = 0

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self._epoch = epoch

        def _check(self, logs: dict[str, Any] | None, prefix: str) -> None:
            if (self._epoch + 1) % self._interval:
                return
            logs = logs or {}
            key = self._monitor[len(prefix):] if prefix and self._monitor.startswith(prefix) else self._monitor
            if key not in logs:
                return
            value = logs[key]
            value = value[0] if isinstance(value, (list, tuple)) else value
            self._trial.report(float(value), step=self._epoch)
            if self._trial.should_prune():
                raise optuna.TrialPruned(f"Trial was pruned at epoch {self._epoch}.")

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self._epoch = epoch
            self._check(logs, "")

        def on_eval_end(self, logs: dict[str, Any] | None = None) -> None:
            self._check(logs, "val_")

    return PaddlePruningCallback


def _search_cv() -> type:
    # Re-exported as is: scikit-learn reads an estimator's parameters from its __init__
    # signature, which a wrapper would hide. Without scikit-learn it raises Optuna's ImportError.
    from optuna_integration.sklearn import OptunaSearchCV

    return OptunaSearchCV


def __getattr__(name: str) -> Any:
    """Load each integration on first use (importing one must not import every framework)."""
    if name in _WRAPPED:
        value = _wrap(name)
    elif name == "TFKerasPruningCallback":
        value = _tfkeras()
    elif name == "PaddlePruningCallback":
        value = _paddle()
    elif name == "OptunaSearchCV":
        value = _search_cv()
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value
