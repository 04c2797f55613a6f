"""Resource specifications: defined by the site admin in etc/ and in the store.

Specs from the file are copied into the store on start (source "etc"); specs an admin adds
through the portal live only in the store (source "admin"). Users see the specs visible to
them or to one of their groups (spec F7).
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, fields
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from core.errors import HpcaiError, ValidationError
from core.store import ResourceSpecRow, Store
from core.types import GPU_MODES, ResourceSpec

_SPEC_FIELDS = {f.name for f in fields(ResourceSpec)}
SYNC_ATTEMPTS = 5  # concurrent first syncs: each retry sees more of the other processes' rows


def check_spec(spec: ResourceSpec) -> None:
    if not spec.name or not spec.name.strip():
        raise ValidationError("is required", field="name", fix="give the spec a name")
    if spec.kind not in ("cpu", "gpu"):
        raise ValidationError(f"'{spec.kind}' is not a spec type", field="kind", fix="use cpu or gpu")
    if spec.cpus < 1:
        raise ValidationError("must be at least 1", field="cpus")
    if spec.mem_mb is not None and spec.mem_mb < 1:
        raise ValidationError("must be a positive number of MB", field="mem_mb")
    if spec.kind == "gpu" and spec.gpus < 1:
        raise ValidationError("a GPU spec needs at least 1 GPU", field="gpus")
    if spec.kind == "cpu" and spec.gpus:
        raise ValidationError("a CPU spec has no GPUs", field="gpus", fix="set kind = \"gpu\" or gpus = 0")
    if spec.gpu_mode is not None and spec.gpu_mode not in GPU_MODES:
        raise ValidationError(f"'{spec.gpu_mode}' is not a GPU mode", field="gpu_mode",
                              fix="use exclusive, shared or mig")


def load_spec_file(path: Path) -> list[ResourceSpec]:
    if not path.exists():
        return []
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise HpcaiError(f"{path}: {exc}", fix="fix the TOML syntax of the resource specs") from exc
    specs = []
    for i, entry in enumerate(data.get("spec", []), 1):
        unknown = set(entry) - _SPEC_FIELDS
        if unknown:
            raise HpcaiError(f"{path}: spec #{i} has unknown keys {sorted(unknown)}",
                             fix=f"use only {sorted(_SPEC_FIELDS)}")
        spec = ResourceSpec(**entry)
        check_spec(spec)
        specs.append(spec)
    return specs


def _row_to_spec(row: ResourceSpecRow) -> ResourceSpec:
    return ResourceSpec(name=row.name, kind=row.kind, cpus=row.cpus, mem_mb=row.mem_mb,
                        node_group=row.node_group, gpu_mode=row.gpu_mode, gpu_type=row.gpu_type,
                        gpus=row.gpus or 0, visible_users=list(row.visible_users or []),
                        visible_groups=list(row.visible_groups or []),
                        description=row.description or "")


class SpecCatalog:
    def __init__(self, store: Store, spec_file: Path):
        self.store = store
        self.spec_file = spec_file
        self._synced = False

    def sync(self) -> None:
        """Copy the file's specs into the store; drop file specs that left the file.

        Processes starting together (two first `hpcai submit`s on a fresh site, portal workers)
        race on the same inserts and deletes: the loser's transaction is rolled back, and it
        applies the file again over the winner's rows.
        """
        file_specs = {s.name: s for s in load_spec_file(self.spec_file)}
        for attempt in range(SYNC_ATTEMPTS):
            try:
                self._apply(file_specs)
                break
            except (IntegrityError, StaleDataError):
                if attempt == SYNC_ATTEMPTS - 1:
                    raise
        self._synced = True

    def _apply(self, file_specs: dict[str, ResourceSpec]) -> None:
        with self.store.session() as s:
            rows = {r.name: r for r in s.scalars(select(ResourceSpecRow))}
            for name, row in rows.items():
                if row.source == "etc" and name not in file_specs:
                    s.delete(row)
            for name, spec in file_specs.items():
                row = rows.get(name)
                if row is not None and row.source != "etc":
                    continue  # an admin's own spec of the same name wins
                values = asdict(spec)
                if row is None:
                    s.add(ResourceSpecRow(source="etc", **values))
                else:
                    for k, v in values.items():
                        setattr(row, k, v)

    def all(self) -> list[ResourceSpec]:
        if not self._synced:
            self.sync()
        with self.store.session() as s:
            return [_row_to_spec(r) for r in s.scalars(select(ResourceSpecRow).order_by(ResourceSpecRow.name))]

    def visible(self, user: str, groups: list[str]) -> list[ResourceSpec]:
        return [s for s in self.all() if s.visible_to(user, groups)]

    def get_visible(self, name: str, user: str, groups: list[str], field: str) -> ResourceSpec:
        visible = self.visible(user, groups)
        for spec in visible:
            if spec.name == name:
                return spec
        names = ", ".join(s.name for s in visible) or "none"
        raise ValidationError(f"no resource spec named '{name}' is available to you", field=field,
                              fix=f"choose one of: {names} (see `hpcai specs`)")

    def save(self, spec: ResourceSpec) -> None:
        check_spec(spec)
        with self.store.session() as s:
            row = s.get(ResourceSpecRow, spec.name)
            if row is None:
                s.add(ResourceSpecRow(source="admin", **asdict(spec)))
            else:
                for k, v in asdict(spec).items():
                    setattr(row, k, v)
                row.source = "admin"

    def delete(self, name: str) -> None:
        with self.store.session() as s:
            row = s.get(ResourceSpecRow, name)
            if row is None:
                raise ValidationError(f"no resource spec named '{name}'", field="name")
            s.delete(row)
