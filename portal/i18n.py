"""Portal UI language: English source strings, translated per request by a catalog (zh-CN).

The locale is the account's choice, else the site's default, else English. Catalogs are plain
JSON files portal/locales/<locale>.json mapping the English text to its translation; a text
missing from a catalog shows in English (so new pages work before they are translated).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from flask import g

from core.userprefs import DEFAULT_LOCALE, LOCALES, UserPrefs

_DIR = Path(__file__).parent / "locales"


@lru_cache(maxsize=None)
def catalog(locale: str) -> dict[str, str]:
    path = _DIR / f"{locale}.json"
    if locale == DEFAULT_LOCALE or not path.exists():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def current_locale() -> str:
    """Chosen on first use in a request (API calls and proxied requests never ask)."""
    if "locale" not in g:
        g.locale = choose_locale()
    return str(g.locale)


def gettext(text: str, **values: object) -> str:
    """The current locale's text for `text`, with {name} placeholders filled from values."""
    if not text:
        return text
    translated = catalog(current_locale()).get(text, text)
    return translated.format(**values) if values else translated


def choose_locale() -> str:
    """The account's language, else the site's, else English (once per request)."""
    from portal.web import platform

    account = g.get("account")
    mine = UserPrefs(platform().store).locale(account.name) if account is not None else None
    site = platform().settings.locale()
    return mine or (site if site in LOCALES else DEFAULT_LOCALE)


def init(flask_app: object) -> None:
    """`_()`, current_locale() and locales() in templates."""
    flask_app.add_template_global(gettext, "_")  # type: ignore[attr-defined]
    flask_app.add_template_global(current_locale, "current_locale")  # type: ignore[attr-defined]
    flask_app.add_template_global(lambda: LOCALES, "locales")  # type: ignore[attr-defined]
