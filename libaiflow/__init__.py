"""libaiflow: the experiment-tracking SDK of hpcai (spec 12 §B), over an MLflow server.

    import libaiflow
    exp = libaiflow.init("mnist_tf2_cpu", {"desc": "first try"})
    with libaiflow.start_run(exp.experiment_id, run_name="lr-0.01"):
        libaiflow.log_param("learning_rate", 0.01)
        libaiflow.log_metric("loss", 0.25, step=1)

Inside an hpcai job the tracking URI and the job's identity come from the environment; runs are
tagged with the job id, user, scheduler, framework and mode. Outside a job, set
MLFLOW_TRACKING_URI. A lost tracking server never stops training unless strict mode is on
(LIBAIFLOW_STRICT=1 or set_strict(True)).

Datasets (§B.5): get_dataset_by_name, get_dataset_by_id, create_dataset, modify_dataset and
delete_dataset call the portal's REST API with your API token (libaiflow.datasets).

The package imports mlflow lazily: MLflow loads libaiflow.context (its run-context provider)
while MLflow itself is still being imported.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_API = ("init", "start_run", "end_run", "set_tag", "log_metric", "log_metrics", "log_param",
        "log_params", "flush", "log_artifact", "log_text", "log_figure", "log_image", "ActiveRun",
        "active_run", "set_strict", "is_strict")
_SUBMODULES = ("tensorflow", "pytorch", "context", "errors", "limits", "datasets")
# Dataset API (spec 12 §B.5) over the portal's REST API: libaiflow.datasets.
_DATASETS = ("get_dataset_by_name", "get_dataset_by_id", "create_dataset", "modify_dataset", "delete_dataset",
             "Category", "DatasetError", "set_portal")

__all__ = ["init", "start_run", "end_run", "set_tag", "log_metric", "log_metrics", "log_param",
           "log_params", "flush", "log_artifact", "log_text", "log_figure", "log_image", "ActiveRun",
           "active_run", "set_strict", "is_strict", "tensorflow", "pytorch", "LibaiflowError",
           "ServerUnreachable", "datasets", *_DATASETS]


def __getattr__(name: str) -> Any:
    if name in _API:
        value = getattr(importlib.import_module("libaiflow.tracking"), name)
    elif name in _DATASETS:
        value = getattr(importlib.import_module("libaiflow.datasets"), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"libaiflow.{name}")
    elif name in ("LibaiflowError", "ServerUnreachable"):
        value = getattr(importlib.import_module("libaiflow.errors"), name)
    else:
        raise AttributeError(f"module 'libaiflow' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
