"""Dataset pages in a real headless Chromium (Debian's) via Playwright: the New-dataset form
built from the backend's schema, its draft preview, the table view and the chart view with a
column chooser on dotted column names (FAQ 8), image thumbnails and an audio player."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser.chromium import ARTIFACTS, chromium, expect, logged_in, served
from tests.datasets.conftest import home, make_platform, scratch, write

pytestmark = [pytest.mark.browser, pytest.mark.integration]
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360f80f0000010100005d0a2d4a0000000049454e44ae426082")



@pytest.fixture(scope="module")
def site() -> Iterator[dict]:
    from portal import create_app

    platform = make_platform(scratch("ds-browser"))
    with served(create_app(platform)) as base:
        yield {"platform": platform, "base": base}


def test_new_dataset_table_chart_and_media(site) -> None:
    platform, base = site["platform"], site["base"]
    iris = home(platform, "alice") / "iris"
    write(iris / "a.csv", "sepal.length,sepal.width,species\n5.1,3.5,setosa\n4.9,3.0,setosa\n6.2,3.4,virginica\n")
    media = home(platform, "alice") / "media"
    (media / "cat").mkdir(parents=True)
    (media / "cat" / "1-a.png").write_bytes(PNG)
    (media / "cat" / "2-b.png").write_bytes(PNG)
    with chromium() as browser:
        page = logged_in(browser, base, "alice", "alicepass1", width=1360, height=900)
        page.goto(base + "/datasets")
        page.click("a[data-area=my][data-category=numeric][data-backend=files]")
        page.click("#ds-new")
        page.fill("#ds-name", "iris")
        page.fill("[data-field=directory] input[name=directory]", str(iris))
        page.click("#ds-preview")
        expect(page.locator("#ds-draft-preview li")).to_have_text(["a.csv"])
        page.click("#ds-ok")
        expect(page.locator(".ds-card[data-dataset=iris]")).to_be_visible()
        # A bad directory is refused next to its field, nothing is created.
        page.click("#ds-new")
        page.fill("#ds-name", "etc")
        page.fill("[data-field=directory] input[name=directory]", "/etc")
        page.click("#ds-ok")
        expect(page.locator("#ds-form-msg")).to_contain_text("outside your directories")
        page.screenshot(path=str(ARTIFACTS / "datasets-01-list.png"), full_page=True)

        # Share into the group's area: the dialog proposes a folder there; the copy runs in the background.
        page.click(".ds-card[data-dataset=iris] button:has-text('Share')")
        area = platform.datasets.group_area("team")
        assert page.input_value("#share-directory") == f"{area}/iris-shared"
        page.click("#share-form button[type=submit]")
        expect(page.locator("#share-form")).to_be_hidden()  # the share request answered (as a user waits for it)
        page.click("a[data-area=shared][data-category=numeric][data-backend=files]")
        expect(page.locator(".ds-card[data-dataset=iris-shared]")).to_contain_text("ready", timeout=60_000)
        assert (area / "iris-shared" / "a.csv").exists()
        # Modify from the card: the form comes back filled in; the change is saved.
        page.click("a[data-area=my][data-category=numeric][data-backend=files]")
        page.click(".ds-card[data-dataset=iris] button:has-text('Modify')")
        assert page.input_value("[data-field=directory] input[name=directory]") == str(iris.resolve())
        page.fill("#ds-description", "iris, edited")
        page.click("#ds-ok")
        expect(page.locator(".ds-card[data-dataset=iris]")).to_contain_text("iris, edited")
        page.click(".ds-card[data-dataset=iris] a:has-text('Preview')")
        expect(page.locator("#table-view th")).to_have_text(["sepal.length", "sepal.width", "species"])
        expect(page.locator("#table-view tbody tr")).to_have_count(3)
        page.click("#show-chart")
        # The first two numeric columns are drawn; the chooser adds or removes one by name.
        expect(page.locator("#chart polyline")).to_have_count(2)
        page.uncheck("#chart-columns input[data-column='sepal.length']")
        expect(page.locator("#chart polyline")).to_have_count(1)
        assert page.get_attribute("#chart polyline", "data-column") == "sepal.width"
        page.screenshot(path=str(ARTIFACTS / "datasets-02-chart.png"), full_page=True)

        pics = platform.datasets.create("alice", {"name": "pics", "category": "image", "directory": str(media),
                                                  "annotation": "folder"})
        page.goto(base + f"/datasets/{pics.id}/view")
        expect(page.locator(".thumbs img")).to_have_count(2)
        loaded = "() => [...document.querySelectorAll('.thumbs img')].every(i => i.complete && i.naturalWidth === 1)"
        for _ in range(100):  # the page's CSP forbids the eval that wait_for_function would need
            if page.evaluate(loaded):
                break
            page.wait_for_timeout(100)
        assert page.evaluate(loaded), "thumbnails did not load"
        expect(page.locator(".thumbs figcaption").first).to_contain_text("cat")
        write(media / "voice" / "hello.wav", "RIFF")
        write(media / "notes" / "n.txt", "a <b>text</b> file")
        sounds = platform.datasets.create("alice", {"name": "sounds", "category": "audio",
                                                    "directory": str(media / "voice")})
        page.goto(base + f"/datasets/{sounds.id}/view")
        page.dblclick("li[data-file='hello.wav']")
        expect(page.locator("#media audio[controls]")).to_have_count(1)
        notes = platform.datasets.create("alice", {"name": "notes", "category": "text",
                                                   "directory": str(media / "notes")})
        page.goto(base + f"/datasets/{notes.id}/view")
        page.dblclick("li[data-file='n.txt']")
        expect(page.locator("#media pre")).to_have_text("a <b>text</b> file")  # shown as text, not HTML
