"""The model registry as the pipeline designer's Model library (core.pipelines.engine.ModelSource).

A Model library node names a registered model and optionally a version ("v2", "2"; the latest
when empty); the run loads the version's one loadable file. Kept with the registry so the
pipelines domain depends only on its narrow ModelSource protocol.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Protocol

from core.errors import NotFound, ValidationError
from core.models.types import model_files

#: file suffix -> the library the pipeline runner loads it with
LOADABLE = {".keras": "keras", ".joblib": "sklearn", ".pkl": "sklearn"}


class VersionLookup(Protocol):
    def version(self, user: str, name: str, number: int | None = None) -> tuple[Any, Any]: ...
    def versions(self, user: str, name: str) -> list[Any]: ...
    def create(self, user: str, values: dict[str, Any]) -> Any: ...
    def add_version(self, user: str, name: str, values: dict[str, Any]) -> Any: ...


class RegistryModelSource:
    def __init__(self, models: Callable[[], VersionLookup]):
        self._models = models  # a factory: the registry is built only when a run uses it

    @property
    def models(self) -> VersionLookup:
        return self._models()

    def resolve(self, user: str, name: str, version: str | None) -> dict[str, Any]:
        if not name:
            raise ValidationError("is required", field="model_name", fix="pick a model from the registry")
        number = _version_number(version)
        model, row = self.models.version(user, name, number)
        files = [p for p in model_files(row.model_dir) if p.suffix in LOADABLE]
        if len(files) != 1:
            found = ", ".join(p.name for p in files) or "no .keras, .joblib or .pkl file"
            raise ValidationError(f"model {model.name} v{row.number} has {found}; Model library loads exactly one "
                                  "Keras (.keras) or scikit-learn (.joblib/.pkl) file", field="model_name",
                                  fix="register a version that holds one such file (a pipeline's trained model)")
        path: Path = files[0]
        return {"path": str(path), "kind": LOADABLE[path.suffix], "task": None}

    def register(self, user: str, name: str, directory: str, purpose: str, description: str) -> str:
        """A run's trained model as the next version of `name` (the model is created on first use);
        the same directory twice is one version (the watcher may see a job end more than once)."""
        try:
            existing = self.models.versions(user, name)
        except NotFound:
            self.models.create(user, {"name": name, "purpose": purpose, "model_dir": directory,
                                      "description": description, "version_description": description})
            return f"{name} v1"
        if any(v.model_dir == str(directory) for v in existing):
            return f"{name} (already registered)"
        row = self.models.add_version(user, name, {"model_dir": directory, "description": description})
        return f"{name} v{row.number}"


def _version_number(version: str | None) -> int | None:
    text = str(version or "").strip().lower().removeprefix("v")
    if not text:
        return None
    if not text.isdigit():
        raise ValidationError(f"{version!r} is not a version", field="version", fix="e.g. v2, or empty for the latest")
    return int(text)
