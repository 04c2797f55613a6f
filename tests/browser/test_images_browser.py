"""The Images page in a real headless Chromium (Debian's) via Playwright: built-in, shared and
My images in one list, the tag filter with counts and keyword search with a count (F99), a
malformed pull reference refused with the field and the fix, sharing one of My images."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.browser.chromium import ARTIFACTS, chromium, expect, logged_in, served
from tests.datasets.conftest import make_platform, scratch

pytestmark = [pytest.mark.browser, pytest.mark.integration]



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
    with served(create_app(platform)) as base:
        yield {"platform": platform, "base": base}
    platform.containers.remove("alice", "alice/py:v1")


def test_images_page_lists_filters_and_refuses_bad_references(site) -> None:
    platform, base = site["platform"], site["base"]
    total = len(platform.images.images) + 1
    with chromium() as browser:
        page = logged_in(browser, base, "alice", "alicepass1", width=1360, height=900)
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
    assert platform.containers.search("bob", "shared").images[0].image.name == "alice/py:v1"
