"""libaiflow: the user-facing SDK of hpcai (spec 12 §B). This checkout carries its dataset API
(§B.5, libaiflow.datasets); experiment tracking lives in the tracking modules. Names load lazily.

    import libaiflow
    libaiflow.create_dataset("iris", "/home/alice/iris", ["csv"], "the iris data")
    libaiflow.get_dataset_by_name("iris")["id"]
"""

from __future__ import annotations

import importlib
from typing import Any

_DATASETS = ("get_dataset_by_name", "get_dataset_by_id", "create_dataset", "modify_dataset", "delete_dataset",
             "Category", "DatasetError", "set_portal")

__all__ = [*_DATASETS, "datasets"]


def __getattr__(name: str) -> Any:
    if name in _DATASETS:
        value = getattr(importlib.import_module("libaiflow.datasets"), name)
    elif name == "datasets":
        value = importlib.import_module("libaiflow.datasets")
    else:
        raise AttributeError(f"module 'libaiflow' has no attribute {name!r}")
    globals()[name] = value
    return value
