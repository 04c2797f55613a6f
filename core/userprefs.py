"""Per-account preferences (the portal's language today), over the site's defaults.

The language is the account's choice, else the site's (an administrator's choice in Site
settings, else `[portal] locale` of etc/hpcai.toml), else English.
"""

from __future__ import annotations

from typing import Any

from core.errors import ValidationError
from core.store import Store
from core.store.models import UserPrefRow

LOCALES = {"en": "English", "zh-CN": "简体中文"}
DEFAULT_LOCALE = "en"


def check_locale(locale: str, field: str = "locale") -> str:
    if locale not in LOCALES:
        raise ValidationError(f"'{locale}' is not a language of the portal", field=field,
                              fix="choose one of: " + ", ".join(LOCALES))
    return locale


class UserPrefs:
    def __init__(self, store: Store):
        self.store = store

    def get(self, user: str, key: str) -> Any:
        with self.store.session() as s:
            row = s.get(UserPrefRow, (user, key))
            return None if row is None else row.value

    def set(self, user: str, key: str, value: Any) -> None:
        with self.store.session() as s:
            row = s.get(UserPrefRow, (user, key))
            if value is None:
                if row is not None:
                    s.delete(row)
            elif row is None:
                s.add(UserPrefRow(user=user, key=key, value=value))
            else:
                row.value = value

    def locale(self, user: str) -> str | None:
        value = self.get(user, "locale")
        return value if value in LOCALES else None

    def set_locale(self, user: str, locale: str | None) -> None:
        """None (or "") goes back to the site's language."""
        self.set(user, "locale", check_locale(locale) if locale else None)
