"""What the browser tests share: Debian's Chromium driven by Playwright, a portal app served in
this process, and a page logged in as a portal account (the log-in form, as a user does)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "tests" / "artifacts"

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
if not Path(CHROMIUM).exists():
    pytest.skip("Debian chromium is not installed (scripts/setup.sh installs it)", allow_module_level=True)


@contextmanager
def served(app: Any) -> Iterator[str]:
    """`app` on a free loopback port, in a thread of this process; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium; the screenshots' folder exists."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def log_in(page: Any, base: str, user: str, password: str, path: str = "/login") -> None:
    page.goto(base + path)
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_selector("#whoami")


def logged_in(browser: Any, base: str, user: str, password: str, *, width: int = 1360,
              height: int = 900, timeout_ms: int = 20_000, path: str = "/login") -> Any:
    """A page of a new browser context (its own cookies) logged in as `user`."""
    ctx = browser.new_context(viewport={"width": width, "height": height})
    ctx.set_default_timeout(timeout_ms)
    page = ctx.new_page()
    log_in(page, base, user, password, path)
    return page
