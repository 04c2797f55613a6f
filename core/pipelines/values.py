"""What flows along a pipeline's edges at run time (job side only: imports numpy and pandas).

Port types map onto these: `table` -> Table, `trained` -> Trained, `predictions` -> Table.
Plugins may pass their own objects for their own port types (the Keras plugin's `model`)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np
import pandas as pd

SPLITS = ("train", "val", "test")


@dataclass
class Table:
    """A data frame with the columns chosen as features and labels and, after Data split,
    the part every row belongs to ("train", "val" or "test")."""

    frame: pd.DataFrame
    features: list[str] | None = None  # None: every column that is not a label
    labels: list[str] = field(default_factory=list)
    split: np.ndarray | None = None

    def feature_columns(self) -> list[str]:
        if self.features is not None:
            return list(self.features)
        return [c for c in self.frame.columns if c not in self.labels]

    def rows(self, part: str | None) -> np.ndarray:
        """Boolean mask of a part; all rows when there is no split or part is None."""
        if part is None or self.split is None:
            return np.ones(len(self.frame), dtype=bool)
        return self.split == part

    def has(self, part: str) -> bool:
        return self.split is not None and bool((self.split == part).any())

    def X(self, part: str | None = None) -> pd.DataFrame:
        return self.frame.loc[self.rows(part), self.feature_columns()]

    def y(self, part: str | None = None) -> pd.Series | pd.DataFrame | None:
        if not self.labels:
            return None
        cols = self.frame.loc[self.rows(part), self.labels]
        return cols.iloc[:, 0] if len(self.labels) == 1 else cols

    def with_frame(self, frame: pd.DataFrame, keep_split: bool = True) -> "Table":
        split = self.split if keep_split and self.split is not None and len(frame) == len(self.frame) else None
        return replace(self, frame=frame, split=None if split is None else split.copy(),
                       features=copy.copy(self.features), labels=list(self.labels))


@dataclass
class Trained:
    """A trained model: the library object, how to predict with it, what it was trained on."""

    model: Any
    kind: str  # "sklearn", "keras" ...
    task: str  # "classification", "regression", "clustering"
    name: str
    predict: Callable[[Any], np.ndarray]
    data: Table | None = None
    path: str = ""  # where the run saved it (instance data, archiving into the registry)
    info: dict[str, Any] = field(default_factory=dict)
