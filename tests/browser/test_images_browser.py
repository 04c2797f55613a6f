"""The Images page in a real headless Chromium (Debian's) via Playwright: built-in, shared and
My images in one list, the tag filter with counts and keyword search with a count (F99), a
malformed pull reference refused with the field and the fix, sharing one of My images."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.datasets.conftest import make_platform, scratch

pytestmark = [pytest.mark.browser, pytest.mark.integration]
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "tests" / "artifacts"

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
if not Path(CHROMIUM).exists():
    pytest.skip("Debian chromium is not installed (scripts/setup.sh installs it)", allow_module_level=True)


@pytest.fixture(scope="module")
def site() -> Iterator[dict]:
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed (scripts/setup.sh installs it)")
    from portal import create_app

    platform = make_platform(scratch("images-browser"))
    platform.images.build("python-container", log=lambda _: None)  # cached: its definition's hash
    # alice's own image: a real engine tag of the built-in one
    platform.containers.tag("alice", "python-container", "alice/py:v1")
    platform.containers.tag("alice", "alice/py:v1", add=["Python", "Demo"])
    server = make_server("127.0.0.1", 0, create_app(platform), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield {"platform": platform, "base": f"http://127.0.0.1:{server.server_port}"}
    server.shutdown()
    platform.containers.remove("alice", "alice/py:v1")


def test_images_page_lists_filters_and_refuses_bad_references(site) -> None:
    platform, base = site["platform"], site["base"]
    total = len(platform.images.images) + 1
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_context(viewport={"width": 1360, "height": 900}).new_page()
        page.set_default_timeout(20_000)
        page.goto(base + "/login")
        page.fill("input[name=username]", "alice")
        page.fill("input[name=password]", "alicepass1")
        page.click("button[type=submit]")
        page.wait_for_selector("#whoami")
        page.goto(base + "/images")
        expect(page.locator("#image-count")).to_have_text(f"{total} of {total} images")
        expect(page.locator("tr[data-name='alice/py:v1'] td").nth(1)).to_have_text("mine")
        page.select_option("#image-tag", "Python")
        page.click("#image-search button[type=submit]")
        expect(page.locator("#images tbody tr")).to_have_count(2)  # python-container + alice's
        expect(page.locator("#image-tag option[value=Python]")).to_have_text("Python (2)")
        page.fill("input[name=keyword]", "alice")
        page.click("#image-search button[type=submit]")
        expect(page.locator("#image-count")).to_have_text(f"1 of {total} images")
        page.click("#scope-mine")
        expect(page.locator("#images tbody tr")).to_have_count(1)
        page.screenshot(path=str(ARTIFACTS / "images-01-mine.png"), full_page=True)
        page.fill("#image-pull input[name=reference]", "Not A/Reference")
        page.click("#image-pull button[type=submit]")
        expect(page.locator(".flash.error")).to_contain_text("reference: 'Not A/Reference' is not an image reference")
        page.click("tr[data-name='alice/py:v1'] button[value=share]")
        expect(page.locator(".flash.ok")).to_contain_text("alice/py:v1: shared")
        page.goto(base + "/images?scope=all")
        page.screenshot(path=str(ARTIFACTS / "images-02-all.png"), full_page=True)
        browser.close()
    assert platform.containers.search("bob", "shared").images[0].image.name == "alice/py:v1"
