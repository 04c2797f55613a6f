"""The component catalog: every component of every enabled plugin, by name."""

from __future__ import annotations

from typing import Any

from core.errors import HpcaiError, NotFound
from core.pipelines.components import CATEGORIES, Component


class Catalog:
    """Components collected from `hpcai_pipeline_components()` of the enabled plugins.

    Takes the pluggy manager (the narrow interface), not the Platform."""

    def __init__(self, plugin_manager: Any):
        self._by_name: dict[str, Component] = {}
        for plugin in plugin_manager.get_plugins():
            impl = getattr(plugin, "hpcai_pipeline_components", None)
            if impl is None:
                continue
            owner = plugin_manager.get_name(plugin) or getattr(plugin, "__name__", "?")
            for comp in impl() or []:
                if not isinstance(comp, Component):
                    raise HpcaiError(f"plugin {owner}: hpcai_pipeline_components returned {comp!r}, "
                                     "not a Component", fix="fix or disable the plugin")
                other = self._by_name.get(comp.name)
                if other is not None:
                    raise HpcaiError(f"two plugins provide pipeline component '{comp.name}': "
                                     f"{other.plugin} and {owner}",
                                     fix="disable one of them in [plugins] disable of etc/hpcai.toml")
                comp.plugin = owner
                self._by_name[comp.name] = comp

    def __len__(self) -> int:
        return len(self._by_name)

    def __contains__(self, name: str) -> bool:
        return name in self._by_name

    def all(self) -> list[Component]:
        return list(self._by_name.values())

    def get(self, name: str) -> Component:
        try:
            return self._by_name[name]
        except KeyError:
            raise NotFound(f"unknown pipeline component '{name}'", field="component",
                           fix="see `hpcai pipelines components` for the installed ones") from None

    def categories(self) -> list[str]:
        """The palette's categories: the product's nine first, then any a plugin adds."""
        extra = sorted({c.category for c in self._by_name.values()} - set(CATEGORIES))
        return [*CATEGORIES, *extra]

    def palette(self, search: str = "") -> list[dict[str, Any]]:
        """Categories with their components (matching `search` in name, title or group)."""
        words = search.lower().split()
        out: list[dict[str, Any]] = []
        for cat in self.categories():
            comps = [c for c in self._by_name.values() if c.category == cat
                     and all(w in f"{c.name} {c.title} {c.group}".lower() for w in words)]
            out.append({"category": cat, "components": [c.as_dict() for c in comps]})
        return out
