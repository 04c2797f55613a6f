"""Preset forms (spec 03 §2.1, F109-F110): a user's saved form values per application.

At most one preset per user and application is the default; the form starts from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from core.errors import NotFound, ValidationError
from core.store import PresetRow, Store, id_in_range

# Form values that identify one submission and must not be replayed from a preset.
NOT_SAVED = ("csrf_token",)
MAX_PRESETS = 50


@dataclass
class Preset:
    id: int
    name: str
    app: str
    values: dict[str, Any]
    is_default: bool

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "app": self.app, "values": self.values,
                "is_default": self.is_default}


def _preset(row: PresetRow) -> Preset:
    return Preset(row.id, row.name, row.app, dict(row.values or {}), bool(row.is_default))


class Presets:
    def __init__(self, store: Store):
        self.store = store

    def list(self, user: str, app: str) -> list[Preset]:
        with self.store.session() as s:
            rows = s.scalars(select(PresetRow).where(PresetRow.user == user, PresetRow.app == app)
                             .order_by(PresetRow.name))
            return [_preset(r) for r in rows]

    def save(self, user: str, app: str, name: str, values: dict[str, Any]) -> Preset:
        """Create or overwrite the preset `name` with these values."""
        name = (name or "").strip()
        if not name or len(name) > 128:
            raise ValidationError("is required (at most 128 characters)", field="preset_name",
                                  fix="give the preset a name")
        if not isinstance(values, dict):
            raise ValidationError("must be an object of form values", field="values")
        clean = {k: v for k, v in values.items() if k not in NOT_SAVED}
        with self.store.session() as s:
            row = s.scalars(select(PresetRow).where(PresetRow.user == user, PresetRow.app == app,
                                                    PresetRow.name == name)).first()
            if row is None:
                count = len(list(s.scalars(select(PresetRow.id).where(PresetRow.user == user))))
                if count >= MAX_PRESETS:
                    raise ValidationError(f"you already have {MAX_PRESETS} presets", field="preset_name",
                                          fix="delete one first")
                row = PresetRow(user=user, app=app, name=name, values=clean, is_default=False)
                s.add(row)
            else:
                row.values = clean
            s.flush()
            return _preset(row)

    def _row(self, s: Any, user: str, preset_id: int) -> PresetRow:
        row = s.get(PresetRow, preset_id) if id_in_range(preset_id) else None
        if row is None or row.user != user:
            raise NotFound(f"no preset {preset_id}", field="preset")
        return row

    def get(self, user: str, preset_id: int) -> Preset:
        with self.store.session() as s:
            return _preset(self._row(s, user, preset_id))

    def set_default(self, user: str, preset_id: int) -> Preset:
        with self.store.session() as s:
            row = self._row(s, user, preset_id)
            for other in s.scalars(select(PresetRow).where(PresetRow.user == user, PresetRow.app == row.app)):
                other.is_default = other.id == row.id
            s.flush()
            return _preset(row)

    def delete(self, user: str, preset_id: int) -> None:
        with self.store.session() as s:
            s.delete(self._row(s, user, preset_id))

    def default(self, user: str, app: str) -> Preset | None:
        with self.store.session() as s:
            row = s.scalars(select(PresetRow).where(PresetRow.user == user, PresetRow.app == app,
                                                    PresetRow.is_default.is_(True))).first()
            return _preset(row) if row else None
