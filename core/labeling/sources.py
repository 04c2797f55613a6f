"""The narrow interfaces the labeling service depends on, and their adapters onto the core.

Labeling reads a dataset's files (list, byte ranges), checks that accounts exist and that paths
lie in a user's directories. It needs nothing else of the platform, so it takes these three
small objects instead of `core.platform.Platform`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Protocol

from core.api import DataFile
from core.datakinds import ANNOTATED, CATEGORIES
from core.errors import ValidationError

if TYPE_CHECKING:
    from core.datasets import DatasetService


@dataclass
class SourceDataset:
    id: str
    name: str
    owner: str
    category: str
    backend: str
    root: str  # where the files lie, as users write it


class DatasetSource(Protocol):
    def resolve(self, user: str, ref: str) -> SourceDataset: ...

    def files(self, owner: str, dataset_id: str) -> Iterator[DataFile]: ...

    def read(self, owner: str, dataset_id: str, path: str, start: int, length: int) -> bytes: ...


class UserDirectory(Protocol):
    def exists(self, user: str) -> bool: ...


class PathPolicy(Protocol):
    def check(self, user: str, path: str, field: str = ..., must_exist: bool = ...) -> Path: ...


#: no dataset file list is read whole beyond this (a task over more files is refused)
MAX_TASK_FILES = 1_000_000


class Datasets:
    """DatasetSource over the platform's DatasetService: its permission rules apply.

    Reading goes through the task creator's right to use the dataset (checked again on every
    read, so a dataset deleted or unshared later stops serving); the labeling rules decide
    first which participant may see which file."""

    def __init__(self, datasets: "DatasetService"):
        self.ds = datasets

    def resolve(self, user: str, ref: str) -> SourceDataset:
        row, backend, options, ctx = self.ds.source(user, ref, "use")
        if row.category not in ANNOTATED:
            raise ValidationError(f"{CATEGORIES[row.category].lower()} cannot be labeled", field="dataset",
                                  fix="choose an image, video, audio or text dataset")
        return SourceDataset(row.id, row.name, row.owner, row.category, row.backend,
                             backend.location(options, ctx))

    def files(self, owner: str, dataset_id: str) -> Iterator[DataFile]:
        row, backend, options, ctx = self.ds.source(owner, dataset_id, "use")
        files, more = backend.list_files(row.category, options, ctx, MAX_TASK_FILES)
        if more:
            raise ValidationError(f"the dataset has more than {MAX_TASK_FILES} files", field="dataset",
                                  fix="split it into several datasets")
        return iter(files)

    def read(self, owner: str, dataset_id: str, path: str, start: int, length: int) -> bytes:
        _, backend, options, ctx = self.ds.source(owner, dataset_id, "use")
        try:
            return backend.read_range(options, ctx, path, start, length)
        except OSError as exc:  # moved, removed or unreadable since the task was created
            raise ValidationError(f"cannot read {path}: {exc.strerror or exc}", field="item",
                                  fix="ask the task's creator to check the dataset's files") from exc


class Accounts:
    def __init__(self, accounts: object):
        self.accounts = accounts

    def exists(self, user: str) -> bool:
        return self.accounts.find(user) is not None  # type: ignore[attr-defined]
