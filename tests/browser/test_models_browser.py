"""Model registry pages in a real headless Chromium (Debian's) via Playwright, against the
session's MLflow server: Create model (the toast, a bad directory refused next to the form),
the tag filter, the details page with its file browser (new folder, search), Create version
(v2), the deploy page with the recommended type and More, Delete with "Delete model files"."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.config import load_config
from core.platform import Platform
from tests.browser.chromium import ARTIFACTS, chromium, expect, logged_in, served
from tests.fixtures_services import scratch_dir

pytestmark = [pytest.mark.browser, pytest.mark.integration]



@pytest.fixture(scope="module")
def site(mlflow_server: str) -> Iterator[dict]:
    from portal import create_app

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HPCAI_MLFLOW_URI", mlflow_server)
        platform = Platform(load_config({"HPCAI_DATA_DIR": str(scratch_dir("models-browser"))}))
        platform.store.migrate()
        platform.specs.sync()
        platform.accounts.create("alice", "alicepass1")
        with served(create_app(platform)) as base:
            yield {"platform": platform, "base": base}


def test_create_browse_version_deploy_and_delete(site) -> None:
    platform, base = site["platform"], site["base"]
    d1 = platform.workspace.home("alice") / "cnn" / "v1"
    d2 = platform.workspace.home("alice") / "cnn" / "v2"
    for d in (d1, d2):
        d.mkdir(parents=True)
        (d / "model.pt").write_bytes(b"PK\x03\x04 torch archive")
    with chromium() as browser:
        page = logged_in(browser, base, "alice", "alicepass1")
        page.on("dialog", lambda dlg: dlg.accept("checkpoints") if dlg.type == "prompt" else dlg.accept())
        page.goto(base + "/models")
        page.click("#create-model")
        page.fill("#m-name", "cnn")
        page.select_option("#m-purpose", "deep-learning")
        page.fill("#m-dir", "/etc")  # outside alice's directories: refused, nothing made
        page.click("#m-ok")
        expect(page.locator("#m-msg")).to_contain_text("outside your directories")
        page.fill("#m-dir", str(d1))
        page.fill("#m-description", "a small CNN")
        page.click("#m-ok")
        expect(page.locator("#models-flash")).to_have_text("Model created successfully")  # F204, after the reload
        expect(page.locator(".model-card[data-name=cnn]")).to_be_visible()
        page.click("a[data-tag='Deep learning']")  # the tag filter (F199)
        expect(page.locator(".model-card")).to_have_count(1)
        page.click("a[data-tag='Text generation']")
        expect(page.locator(".model-card")).to_have_count(0)
        page.goto(base + "/models")
        page.screenshot(path=str(ARTIFACTS / "models-01-list.png"), full_page=True)

        page.click(".model-card[data-name=cnn] h3 a")
        expect(page.locator("#file-table tbody")).to_contain_text("model.pt")
        page.click("#f-new")  # the prompt answers "checkpoints"
        expect(page.locator("#file-table tbody")).to_contain_text("checkpoints/")
        page.fill("#file-search", "model")
        page.press("#file-search", "Enter")
        expect(page.locator("#f-where")).to_have_text("search: model")
        page.click("#new-version-btn")
        page.fill("#v-dir", str(d2))
        page.fill("#v-description", "retrained")
        page.click("#v-ok")
        expect(page.locator("#version-select")).to_have_value("2")
        expect(page.locator("#version-description")).to_contain_text("v2: retrained")
        page.screenshot(path=str(ARTIFACTS / "models-02-detail.png"), full_page=True)

        page.click("#deploy-btn")
        expect(page.locator("#deploy-type-select option").first).to_contain_text("(recommended)")
        expect(page.locator("#deploy-type-select")).to_have_value("torchserve")  # a .pt file
        expect(page.locator("input[name=serialized_file]")).to_have_value(str(d2 / "model.pt"))
        page.click("#deploy-more")  # F217: the other types
        expect(page.locator("#deploy-type-select option")).to_have_count(len(platform.models.deploy_form(
            "alice", "cnn")["recommended"]) + len(platform.models.deploy_form("alice", "cnn")["more"]))
        page.screenshot(path=str(ARTIFACTS / "models-03-deploy.png"), full_page=True)

        page.goto(base + "/models")
        page.click(".model-card[data-name=cnn] .delete-model")
        page.check("#delete-files")
        page.click("#delete-ok")
        expect(page.locator(".model-card")).to_have_count(0)
    assert not d1.exists() and not d2.exists()  # with "Delete model files"
