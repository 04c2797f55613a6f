"""Site settings an administrator changes in the portal, over the defaults of etc/hpcai.toml.

Today: the security-classification feature (F1: the field exists only while it is on; F2: a
job's level defaults to its owner's) and the node's Docker default shm size (F3).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.config import Config
from core.errors import ValidationError
from core.store import SiteSettingRow, Store

log = logging.getLogger(__name__)

# The product's levels, lowest first: public, internal, secret, confidential (公开 内部 秘密 机密).
DEFAULT_LEVELS = ["public", "internal", "secret", "confidential"]
DAEMON_JSON = "/etc/docker/daemon.json"
CACHE_S = 1.0  # another process's switch is seen within this long
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)i?b?\s*$", re.I)
_UNIT_MB = {"": 1 / 2**20, "b": 1 / 2**20, "k": 1 / 2**10, "m": 1, "g": 2**10, "t": 2**20}


def docker_size_mb(value: Any) -> int | None:
    """Docker's size syntax (`64m`, `1g`, `67108864` bytes) in whole MB; None when unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        return None
    m = _SIZE.match(text)
    if not m:
        return None
    mb = float(m.group(1)) * _UNIT_MB[m.group(2).lower()]
    return max(int(round(mb)), 1) if mb > 0 else None


class SiteSettings:
    def __init__(self, store: Store, config: Config):
        self.store = store
        self.config = config
        self._cache: dict[str, tuple[float, Any]] = {}
        self._shm: tuple[tuple[str, int, int] | None, int | None] = (None, None)

    # --- stored switches ----------------------------------------------------------------------

    def _stored(self, key: str) -> Any:
        """The stored value, re-read at most once a second (lists ask once per row)."""
        hit = self._cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < CACHE_S:
            return hit[1]
        with self.store.session() as s:
            row = s.get(SiteSettingRow, key)
            value = None if row is None else row.value
        self._cache[key] = (time.monotonic(), value)
        return value

    def _store(self, key: str, value: Any, by: str) -> None:
        self._cache.pop(key, None)
        with self.store.session() as s:
            row = s.get(SiteSettingRow, key)
            if row is None:
                s.add(SiteSettingRow(key=key, value=value, changed_by=by))
            else:
                row.value, row.changed_by = value, by

    # --- the portal's language ------------------------------------------------------------------

    def locale(self) -> str:
        """The site's UI language: an administrator's choice, else [portal] locale, else en."""
        stored = self._stored("locale")
        return str(stored or self.config.raw.get("portal", {}).get("locale") or "en")

    def set_locale(self, locale: str, by: str) -> None:
        from core.userprefs import check_locale

        self._store("locale", check_locale(locale), by)

    # --- classification (F1, F2) --------------------------------------------------------------

    def classification_enabled(self) -> bool:
        """The administrator's switch, else [core] classification of etc/hpcai.toml (off)."""
        stored = self._stored("classification")
        if isinstance(stored, bool):
            return stored
        return bool(self.config.raw.get("core", {}).get("classification", False))

    def set_classification(self, enabled: bool, by: str) -> None:
        if not isinstance(enabled, bool):
            raise ValidationError("must be true or false", field="classification")
        self._store("classification", enabled, by)

    def classification_levels(self) -> list[str]:
        levels = self.config.raw.get("core", {}).get("classification_levels") or DEFAULT_LEVELS
        return [str(x) for x in levels]

    def check_level(self, level: str | None, field: str = "classification") -> str | None:
        if level in (None, ""):
            return None
        levels = self.classification_levels()
        if level not in levels:
            raise ValidationError(f"'{level}' is not a classification level", field=field,
                                  fix="choose one of: " + ", ".join(levels))
        return level

    def classification_property(self, default: str | None) -> dict[str, Any] | None:
        """The form field (F1), or None while the feature is off: then no form shows it."""
        if not self.classification_enabled():
            return None
        levels = self.classification_levels()
        return {"type": "string", "title": "Security classification", "enum": levels, "x-widget": "select",
                "default": default if default in levels else levels[0], "x-order": 2.5,
                "description": "defaults to your own level"}

    # --- node groups (F8) -----------------------------------------------------------------------

    def node_groups(self, specs: Sequence[Any] = ()) -> list[str]:
        """Node groups the site's schedulers know ([schedulers.X.node_groups]) and those specs use."""
        known = {str(name) for settings in self.config.schedulers.values() if isinstance(settings, dict)
                 for name in (settings.get("node_groups") or {})}
        return sorted(known | {s.node_group for s in specs if getattr(s, "node_group", None)})

    # --- Docker's default shm size (F3) -------------------------------------------------------

    def daemon_json(self) -> Path:
        core = self.config.raw.get("core", {})
        return Path(core.get("docker_daemon_config") or DAEMON_JSON)

    def default_shm_mb(self) -> int | None:
        """`default-shm-size` of the node's Docker daemon.json in MB; None (the runtime's own
        default) when the file is absent, unreadable or holds no usable value."""
        path = self.daemon_json()
        try:
            st = path.stat()
        except OSError:
            return None
        key = (str(path), st.st_mtime_ns, st.st_size)
        if self._shm[0] == key:
            return self._shm[1]
        value: int | None = None
        try:
            data = json.loads(path.read_text())
            raw = data.get("default-shm-size") if isinstance(data, dict) else None
            value = docker_size_mb(raw) if raw is not None else None
            if raw is not None and value is None:
                log.warning("%s: default-shm-size %r is not a size; no shm default", path, raw)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            log.warning("%s is not readable JSON (%s); no shm default", path, exc)
        self._shm = (key, value)
        return value
