"""Finding, enabling and enumerating plugins.

Every plugin is a module registered under the `hpcai` entry-point group (the built-ins in
hpcai's own setup.cfg, exactly as a third-party package would). Enabled plugins go into the
active pluggy manager; disabled ones into a second manager used only for listing, so
`hpcai plugins` can still show their schemas.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any, Iterable, TypeVar

import pluggy

from core import hookspecs
from core.api import (DatasetBackend, Descriptor, EnvironmentType, Framework, JobOption, ParallelMode, Runtime,
                      Scheduler, ServiceType)
from core.config import Config
from core.errors import HpcaiError, ValidationError
from core.models.types import Converter
from core.labeling.api import LabelExporter, LabelTemplate

GROUP = "hpcai"
BUILTIN_DIST = "hpcai"

# kind -> (registry hook, descriptor class)
KINDS: dict[str, tuple[str, type[Descriptor]]] = {
    "scheduler": ("hpcai_schedulers", Scheduler),
    "framework": ("hpcai_frameworks", Framework),
    "mode": ("hpcai_parallel_modes", ParallelMode),
    "runtime": ("hpcai_runtimes", Runtime),
    "option": ("hpcai_job_options", JobOption),
    "dataset_backend": ("hpcai_dataset_backends", DatasetBackend),
    "service": ("hpcai_service_types", ServiceType),
    "environment": ("hpcai_environment_types", EnvironmentType),
    "converter": ("hpcai_model_converters", Converter),
    "label_template": ("hpcai_labeling_templates", LabelTemplate),
    "label_exporter": ("hpcai_label_exporters", LabelExporter),
}

D = TypeVar("D", bound=Descriptor)


@dataclass
class PluginInfo:
    """One descriptor as `hpcai plugins` lists it."""

    kind: str
    name: str
    title: str
    plugin: str  # entry-point name (what `enable`/`disable` refer to)
    module: str
    distribution: str
    version: str
    enabled: bool
    descriptor: Descriptor
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "title": self.title, "plugin": self.plugin,
                "module": self.module, "distribution": self.distribution,
                "version": self.version, "enabled": self.enabled, "note": self.note,
                "schema": self.descriptor.option_schema()}


def _new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    return pm


def _is_enabled(ep: EntryPoint, dist: str, config: Config) -> bool:
    if ep.name in config.disable:
        return False
    return dist == BUILTIN_DIST or ep.name in config.enable


class Registry:
    """The plugins of one process: descriptors by kind and name, and the policy hooks."""

    def __init__(self, config: Config, eps: Iterable[EntryPoint] | None = None):
        self.config = config
        self.active = _new_manager()
        self.inactive = _new_manager()
        self.infos: list[PluginInfo] = []
        self.load_errors: list[str] = []
        seen: set[str] = set()
        for ep in eps if eps is not None else entry_points(group=GROUP):
            if ep.name in seen:  # the same distribution visible twice on sys.path
                continue
            seen.add(ep.name)
            dist = ep.dist.name if ep.dist else "unknown"
            version = ep.dist.version if ep.dist else "?"
            try:
                module = ep.load()
            except Exception as exc:  # a broken third-party plugin must not take the platform down
                self.load_errors.append(f"plugin {ep.name} ({ep.value}) failed to load: {exc}")
                continue
            enabled = _is_enabled(ep, dist, config)
            (self.active if enabled else self.inactive).register(module, name=ep.name)
            self._collect(ep.name, module, dist, version, enabled)
        for modname in config.site_modules:
            self.active.register(importlib.import_module(modname), name=f"site:{modname}")
        self._check_unique()

    def _collect(self, plugin: str, module: ModuleType, dist: str, version: str,
                 enabled: bool) -> None:
        for kind, (hook, cls) in KINDS.items():
            impl = getattr(module, hook, None)
            if impl is None:
                continue
            for desc in impl() or []:
                if not isinstance(desc, cls):
                    self.load_errors.append(f"plugin {plugin}: {hook} returned {desc!r}, not a {cls.__name__}")
                    continue
                note = desc.status_note() if hasattr(desc, "status_note") else ""
                self.infos.append(PluginInfo(kind, desc.name, desc.title or desc.name, plugin,
                                             module.__name__, dist, version, enabled, desc, note))

    def _check_unique(self) -> None:
        by_key: dict[tuple[str, str], PluginInfo] = {}
        for info in self.infos:
            if not info.enabled:
                continue
            other = by_key.get((info.kind, info.name))
            if other:
                raise HpcaiError(
                    f"two enabled plugins provide {info.kind} '{info.name}': "
                    f"{other.plugin} ({other.distribution}) and {info.plugin} ({info.distribution})",
                    fix="disable one of them in [plugins] disable of etc/hpcai.toml")
            by_key[(info.kind, info.name)] = info

    # --- lookups --------------------------------------------------------------------------

    def list(self, kind: str | None = None, enabled_only: bool = False) -> list[PluginInfo]:
        return [i for i in self.infos
                if (kind is None or i.kind == kind) and (i.enabled or not enabled_only)]

    def names(self, kind: str) -> list[str]:
        return [i.name for i in self.list(kind, enabled_only=True)]

    def get(self, kind: str, name: str | None, field: str | None = None) -> Any:
        field = field or kind
        for info in self.infos:
            if info.kind == kind and info.name == name:
                if not info.enabled:
                    raise ValidationError(
                        f"{kind} '{name}' is installed but disabled", field=field,
                        fix=f"ask the site admin to enable plugin '{info.plugin}' in etc/hpcai.toml")
                return info.descriptor
        known = ", ".join(self.names(kind)) or "none installed"
        raise ValidationError(f"unknown {kind} '{name}'", field=field, fix=f"choose one of: {known}")

    def scheduler(self, name: str) -> Scheduler:
        sched: Scheduler = self.get("scheduler", name, "scheduler")
        # configure() sets `settings` before the rest (the local scheduler's ledger): a thread
        # must not see a half-configured scheduler (the portal's first concurrent requests)
        with _CONFIGURE_LOCK:
            if not hasattr(sched, "settings"):
                sched.configure(self.config.scheduler_settings(name), str(self.config.spool))
        return sched

    @property
    def hook(self) -> Any:
        return self.active.hook


_registry: Registry | None = None
_CONFIGURE_LOCK = threading.Lock()


def get_registry(config: Config) -> Registry:
    """The process-wide registry for this configuration (plugins load once per process)."""
    global _registry
    if _registry is None or _registry.config is not config:
        _registry = Registry(config)
    return _registry
