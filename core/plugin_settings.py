"""Plugins switched on or off by an administrator (the portal's Plugins page).

They are kept in the store and override [plugins] enable/disable of etc/hpcai.toml, so every
process (portal, CLI, watcher) sees the same set. The core scheduler plugin in use cannot be
switched off: jobs already submitted to it would lose their watcher.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select

from core.config import Config
from core.errors import ValidationError
from core.store import PluginSettingRow, Store


class PluginSettings:
    def __init__(self, store: Store):
        self.store = store

    def overrides(self) -> dict[str, bool]:
        with self.store.session() as s:
            return {r.plugin: bool(r.enabled) for r in s.scalars(select(PluginSettingRow))}

    def set(self, plugin: str, enabled: bool, by: str, known: list[str], protected: list[str]) -> None:
        if plugin not in known:
            raise ValidationError(f"no installed plugin '{plugin}'", field="plugin",
                                  fix="choose one of: " + ", ".join(sorted(known)))
        if not enabled and plugin in protected:
            raise ValidationError(f"plugin '{plugin}' provides the default scheduler or runtime",
                                  field="plugin", fix="change [core] default_scheduler/default_runtime first")
        with self.store.session() as s:
            row = s.get(PluginSettingRow, plugin)
            if row is None:
                s.add(PluginSettingRow(plugin=plugin, enabled=enabled, changed_by=by))
            else:
                row.enabled, row.changed_by = enabled, by

    def apply(self, config: Config) -> Config:
        """The configuration with the stored switches applied (the file's lists otherwise)."""
        over = self.overrides()
        if not over:
            return config
        enable = [p for p in config.enable if over.get(p, True)] + [p for p, on in over.items() if on]
        disable = [p for p in config.disable if not over.get(p, False)] + [p for p, on in over.items() if not on]
        return replace(config, enable=enable, disable=disable)
