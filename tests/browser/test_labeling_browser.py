"""Labeling in a real headless Chromium (Debian's) via Playwright: a task created in the
background (the bottom-right notification), its data list, an annotator drawing rectangles and
polygons in Label Studio's frontend (keyboard shortcuts, undo), autosave surviving a reload,
the export read back by pycocotools and as YOLO, and a text NER task labeled by selection."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.chromium import ARTIFACTS, chromium, expect, log_in, logged_in, served
from tests.datasets.conftest import home, make_platform, scratch

pytestmark = [pytest.mark.browser, pytest.mark.integration]
REPO = Path(__file__).resolve().parents[2]

if not (REPO / "portal" / "static" / "vendor" / "label-studio" / "main.js").exists():
    pytest.skip("the labeling front end is not installed (scripts/setup.sh copies it)", allow_module_level=True)


def street(path: Path, n: int) -> None:
    """A small drawn street scene: a car (rectangle) and a person (triangle) to label."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (320, 240), (120, 170, 220))
    d = ImageDraw.Draw(img)
    d.rectangle([0, 170, 320, 240], fill=(90, 90, 90))
    d.rectangle([30 + n * 10, 120, 150 + n * 10, 180], fill=(200, 40, 40))
    d.polygon([(220, 60), (260, 60), (240, 190)], fill=(250, 210, 60))
    img.save(path)


@pytest.fixture(scope="module")
def site() -> Iterator[dict]:
    from portal import create_app

    platform = make_platform(scratch("label-browser"))
    with served(create_app(platform)) as base:
        yield {"platform": platform, "base": base}


def wait_ready(page) -> None:
    for _ in range(200):  # the page's CSP forbids the eval that wait_for_function would need
        if page.evaluate("() => document.body.dataset.lsReady === '1'"):
            return
        page.wait_for_timeout(100)
    raise AssertionError("Label Studio's frontend did not load")


def word_box(page, word: str) -> dict:
    """Where a word of the labeled text is drawn (a DOM Range over its characters)."""
    return page.evaluate("""(word) => {
      const root = document.querySelector('#label-studio');
      const walk = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
      for (let n = walk.nextNode(); n; n = walk.nextNode()) {
        const at = n.textContent.indexOf(word);
        if (at < 0 || n.textContent.length < 20) continue;
        const r = document.createRange(); r.setStart(n, at); r.setEnd(n, at + word.length);
        const b = r.getBoundingClientRect();
        return {left: b.left, right: b.right, y: b.top + b.height / 2};
      }
      return null;
    }""", word)


def regions(page) -> list[str]:
    return page.evaluate("() => window.hpcaiLabelStudio.annotationStore.selected.serializeAnnotation()"
                         ".map(r => r.type)")


def test_image_task_boxes_polygons_autosave_export(site) -> None:
    from pycocotools.coco import COCO

    platform, base = site["platform"], site["base"]
    pics = home(platform, "alice") / "street"
    pics.mkdir()
    for n in range(3):
        street(pics / f"scene{n}.png", n)
    platform.datasets.create("alice", {"name": "street", "category": "image", "directory": str(pics)})
    with chromium() as browser:
        page = logged_in(browser, base, "alice", "alicepass1", width=1400, height=900)

        # New labeling task, created in the background; the notification says when it is ready.
        page.goto(base + "/labeling")
        page.click("#lt-new")
        page.fill("#lt-name", "street-boxes")
        page.select_option("#lt-template", "image-boxes-polygons")
        page.fill("#lt-labels", "car, person")
        assert page.is_checked("#lt-background")
        page.click("#lt-ok")
        expect(page.locator(".toast")).to_contain_text("street-boxes is ready: 3 files")
        expect(page.locator("#lt-list tr[data-task=street-boxes]")).to_contain_text("0 / 3")
        page.screenshot(path=str(ARTIFACTS / "labeling-01-tasks.png"), full_page=True)

        page.click("#lt-list a:has-text('street-boxes')")
        expect(page.locator("#lt-items tbody tr")).to_have_count(3)
        expect(page.locator("#lt-items tbody tr").first).to_contain_text("Not labeled")
        page.click("#lt-items a:has-text('scene0.png')")
        wait_ready(page)
        canvas = page.locator(".konvajs-content").first.bounding_box()
        x0, y0 = canvas["x"], canvas["y"]
        # Key 1 = "car" rectangle; drag a box over the red car.
        page.keyboard.press("1")
        page.mouse.move(x0 + 30, y0 + 118)
        page.mouse.down()
        page.mouse.move(x0 + 90, y0 + 150, steps=6)
        page.mouse.move(x0 + 152, y0 + 182, steps=6)
        page.mouse.up()
        page.wait_for_timeout(500)
        page.keyboard.press("Escape")
        # Key 4 = "person" polygon (keys 3-4 are the polygon tool's labels); click around, close.
        page.keyboard.press("4")
        for dx, dy in [(218, 58), (262, 58), (240, 192)]:
            page.mouse.click(x0 + dx, y0 + dy)
            page.wait_for_timeout(350)
        page.mouse.click(x0 + 218, y0 + 58)
        page.wait_for_timeout(500)
        assert regions(page) == ["rectanglelabels", "polygonlabels"]
        # A stray box, undone with Ctrl+Z.
        page.keyboard.press("Escape")
        page.wait_for_timeout(300)
        page.keyboard.press("1")
        page.wait_for_timeout(300)
        page.mouse.move(x0 + 10, y0 + 10)
        page.mouse.down()
        page.mouse.move(x0 + 40, y0 + 30, steps=5)
        page.mouse.move(x0 + 80, y0 + 50, steps=5)
        page.mouse.up()
        page.wait_for_timeout(500)
        assert len(regions(page)) == 3
        page.keyboard.press("Escape")
        page.wait_for_timeout(300)
        # Undo walks back through the editor's history (selection steps included) until the box is gone.
        for _ in range(6):
            page.keyboard.press("Control+z")
            page.wait_for_timeout(300)
            if len(regions(page)) == 2:
                break
        assert regions(page) == ["rectanglelabels", "polygonlabels"]
        page.click("button:has-text('Update')")
        expect(page.locator("#ls-status")).to_have_text("Saved")
        page.screenshot(path=str(ARTIFACTS / "labeling-02-boxes-polygons.png"), full_page=True)

        # Next file: a box is autosaved as a draft; a reload (a closed tab) gets it back.
        page.click("#ls-next")
        expect(page.locator("h1")).to_contain_text("scene1.png")
        wait_ready(page)
        canvas = page.locator(".konvajs-content").first.bounding_box()
        page.keyboard.press("1")
        page.mouse.move(canvas["x"] + 40, canvas["y"] + 118)
        page.mouse.down()
        page.mouse.move(canvas["x"] + 162, canvas["y"] + 182, steps=8)
        page.mouse.up()
        expect(page.locator("#ls-status")).to_contain_text("Draft saved", timeout=10_000)
        page.reload()
        wait_ready(page)
        expect(page.locator("#ls-status")).to_have_text("Restored your unsaved draft")
        assert regions(page) == ["rectanglelabels"]
        page.click("button:has-text('Update')")
        expect(page.locator("#ls-status")).to_have_text("Saved")

        # The data list shows what was labeled; export to COCO and YOLO from the task page.
        page.click("h1 a")
        expect(page.locator("#lt-items tbody tr").first).to_contain_text("Labeled")
        expect(page.locator("#lt-items tbody tr").first).to_contain_text("car, person")
        page.select_option("#lf-status", "unlabeled")
        page.click("#lt-filter button")
        expect(page.locator("#lt-items tbody tr")).to_have_count(1)
        page.screenshot(path=str(ARTIFACTS / "labeling-03-data-list.png"), full_page=True)
        out = home(platform, "alice") / "exports"
        out.mkdir()
        for fmt in ("coco", "yolo"):
            page.click("#lt-do-export")
            page.select_option("#lx-format", fmt)
            page.fill("#lx-directory", str(out))
            page.click("#lx-ok")
            expect(page.locator("#lt-msg")).to_contain_text("files written to")
    coco = COCO(str(out / "street-boxes-coco" / "annotations.json"))
    assert len(coco.getAnnIds()) == 3  # scene0: box + polygon, scene1: box
    anns = coco.loadAnns(coco.getAnnIds())
    car = next(a for a in anns if a["category_id"] == 1 and a["image_id"] == min(coco.getImgIds()))
    x, y, w, h = car["bbox"]
    assert 20 < x < 40 and 110 < y < 130 and 110 < w < 130 and 55 < h < 75  # the drawn car (30,120)-(150,180)
    person = next(a for a in anns if a["category_id"] == 2)
    assert len(person["segmentation"][0]) == 6 and coco.annToMask(person).sum() > 0
    yolo = out / "street-boxes-yolo"
    assert sorted(p.name for p in (yolo / "labels").iterdir()) == ["scene0.txt", "scene1.txt"]
    assert (yolo / "labels" / "scene0.txt").read_text().splitlines()[1].startswith("1 ")


def test_text_ner_task_by_selection(site) -> None:
    platform, base = site["platform"], site["base"]
    notes = home(platform, "bob") / "notes"
    notes.mkdir(parents=True)
    (notes / "a.txt").write_text("Ada Lovelace worked with Charles Babbage in London.")
    platform.datasets.create("bob", {"name": "notes", "category": "text", "directory": str(notes)})
    task = platform.labeling.create("bob", {"name": "ner", "dataset": "notes", "template": "text-ner"},
                                    background=False)
    item = platform.labeling.items("bob", task.id).items[0]["id"]
    with chromium() as browser:
        page = logged_in(browser, base, "bob", "bobpass12", width=1300, height=800)
        page.goto(base + f"/labeling/items/{item}/annotate")
        wait_ready(page)
        # Key 3 = LOC, key 1 = PER; then drag the mouse over the word, as an annotator does.
        for key, word in (("3", "London"), ("1", "Lovelace")):
            page.keyboard.press(key)
            page.wait_for_timeout(200)
            box = word_box(page, word)
            page.mouse.move(box["left"] + 1, box["y"])
            page.mouse.down()
            page.mouse.move((box["left"] + box["right"]) / 2, box["y"], steps=4)
            page.mouse.move(box["right"] - 1, box["y"], steps=4)
            page.mouse.up()
            page.wait_for_timeout(400)
        page.click("button:has-text('Update')")
        expect(page.locator("#ls-status")).to_have_text("Saved")
        page.screenshot(path=str(ARTIFACTS / "labeling-04-ner.png"), full_page=True)
    saved = platform.labeling.item("bob", item)["result"]
    spans = sorted((r["value"]["text"], r["value"]["labels"][0]) for r in saved)
    assert spans == [("London", "LOC"), ("Lovelace", "PER")]
    text = "Ada Lovelace worked with Charles Babbage in London."
    assert all(text[r["value"]["start"]:r["value"]["end"]] == r["value"]["text"] for r in saved)


def test_audio_segments_and_video_classification(site) -> None:
    from tests.labeling.test_exports import wav_bytes

    platform, base = site["platform"], site["base"]
    sounds = home(platform, "carol") / "sounds"
    sounds.mkdir(parents=True)
    (sounds / "tone.wav").write_bytes(wav_bytes(8000, 2.0))
    platform.datasets.create("carol", {"name": "sounds", "category": "audio", "directory": str(sounds)})
    audio = platform.labeling.create("carol", {"name": "speech", "dataset": "sounds", "template": "audio-segments"},
                                     background=False)
    clips = home(platform, "carol") / "clips"
    clips.mkdir()
    # Not a decodable film (no encoder here): the player still asks for it by range, and the
    # classification is saved; decoding is the browser's business.
    (clips / "walk.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(5000))
    platform.datasets.create("carol", {"name": "clips", "category": "video", "directory": str(clips)})
    video = platform.labeling.create("carol", {"name": "actions", "dataset": "clips",
                                               "template": "video-classification", "labels": ["walk", "run"]},
                                     background=False)
    audio_item = platform.labeling.items("carol", audio.id).items[0]["id"]
    video_item = platform.labeling.items("carol", video.id).items[0]["id"]
    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1300, "height": 800}).new_page()
        page.set_default_timeout(20_000)
        statuses: list[int] = []
        page.on("response", lambda r: statuses.append(r.status) if "/media" in r.url else None)
        log_in(page, base, "carol", "carolpass1")
        page.goto(base + f"/labeling/items/{audio_item}/annotate")
        wait_ready(page)
        wave = page.locator("wave").first
        wave.wait_for()
        box = wave.bounding_box()
        page.keyboard.press("1")  # "speech"
        page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + box["height"] / 2, steps=5)
        page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2, steps=5)
        page.mouse.up()
        page.wait_for_timeout(500)
        assert regions(page) == ["labels"]
        # The transcription box belongs to the selected segment: select it in the region list.
        page.click("text=speech >> nth=-1")
        page.fill("textarea[name=transcription]", "a steady tone")
        page.keyboard.press("Enter")
        page.wait_for_timeout(300)
        page.click("button:has-text('Update')")
        expect(page.locator("#ls-status")).to_have_text("Saved")
        page.screenshot(path=str(ARTIFACTS / "labeling-05-audio.png"), full_page=True)

        page.goto(base + f"/labeling/items/{video_item}/annotate")
        wait_ready(page)
        expect(page.locator("video")).to_have_count(1)
        page.click("text=run")
        page.click("button:has-text('Update')")
        expect(page.locator("#ls-status")).to_have_text("Saved")
        page.screenshot(path=str(ARTIFACTS / "labeling-06-video.png"), full_page=True)
    result = platform.labeling.item("carol", audio_item)["result"]
    segment = next(r for r in result if r["type"] == "labels")
    assert segment["value"]["labels"] == ["speech"] and 0.2 < segment["value"]["start"] < segment["value"]["end"] < 1.6
    assert any(r["type"] == "textarea" and [t.strip() for t in r["value"]["text"]] == ["a steady tone"]
               for r in result), result
    assert platform.labeling.item("carol", video_item)["summary"] == "run"
    assert 206 in statuses  # the players asked for ranges


def test_collaborative_task_pages(site) -> None:
    from tests.labeling.conftest import images

    platform, base = site["platform"], site["base"]
    platform.accounts.create("dave", "davepass1")
    images(home(platform, "alice") / "team", 4)
    platform.datasets.create("alice", {"name": "team", "category": "image",
                                       "directory": str(home(platform, "alice") / "team")})
    task = platform.labeling.create("alice", {
        "name": "team-boxes", "dataset": "team", "template": "image-detection", "mode": "collaborative",
        "subtask_size": 2, "annotators": ["bob", "carol"], "review": True, "reviewers": ["dave"],
        "policy": "percent", "policy_value": 50}, background=False)
    box = [{"id": "b", "from_name": "box", "to_name": "image", "type": "rectanglelabels",
            "value": {"x": 5, "y": 5, "width": 20, "height": 20, "rotation": 0, "rectanglelabels": ["car"]}}]
    for item in platform.labeling.items("bob", task.id).items:
        platform.labeling.save("bob", item["id"], {"result": box})
    with chromium() as browser:

        def as_user(name: str, password: str):
            page = logged_in(browser, base, name, password, width=1300, height=800)
            page.goto(base + f"/labeling/tasks/{task.id}")
            return page

        bob = as_user("bob", "bobpass12")
        expect(bob.locator("#lt-subtasks tbody tr")).to_have_count(1)  # only his own sub-task
        expect(bob.locator("#lt-items tbody tr")).to_have_count(2)
        expect(bob.locator("#lt-actions button")).to_have_count(0)  # no creator operations
        bob.click("[data-submit='1']")
        expect(bob.locator("#lt-subtasks tr[data-subtask='1']")).to_contain_text("submitted")
        bob.screenshot(path=str(ARTIFACTS / "labeling-07-annotator.png"), full_page=True)

        dave = as_user("dave", "davepass1")
        row = dave.locator("#lt-subtasks tr[data-subtask='1']")
        expect(row.locator("td").nth(5).locator("a")).to_have_count(1)  # 50 % of 2 files
        dave.select_option("[data-verdict-of='1']", "rejected")
        dave.fill("[data-comment-of='1']", "boxes too small")
        dave.click("[data-review='1']")
        expect(row).to_contain_text("rejected: boxes too small")
        expect(row.locator("td").nth(2)).to_have_text("labeling")
        dave.screenshot(path=str(ARTIFACTS / "labeling-08-reviewer.png"), full_page=True)

        alice = as_user("alice", "alicepass1")
        expect(alice.locator("#lt-subtasks tbody tr")).to_have_count(2)
        alice.select_option("[data-reassign-to='2']", "bob")
        alice.click("[data-reassign='2']")
        expect(alice.locator("#lt-subtasks tr[data-subtask='2']")).to_contain_text("bob")
        alice.on("dialog", lambda d: d.accept())
        alice.click("#lt-do-end")
        expect(alice.locator("#lt-state")).to_have_text("ended")
        expect(alice.locator("#lt-do-end")).to_have_count(0)
        alice.screenshot(path=str(ARTIFACTS / "labeling-09-creator-ended.png"), full_page=True)
        bob.reload()
        expect(bob.locator("#lt-subtasks tbody tr")).to_have_count(2)
        expect(bob.locator("[data-submit]")).to_have_count(0)  # ended: nothing to do
