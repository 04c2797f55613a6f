"""The pipeline designer in a real headless Chromium (Debian's) via Playwright: a new pipeline
card, components dragged from the palette, ports connected with the mouse, properties typed in
the sliding panel, the yellow "!" marker while a required port is open (and after Undo), Run
with a resource spec, the instance drawer with the node states, the log and the evaluation tab.
Screenshots in tests/artifacts/pipelines-*.png."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.chromium import ARTIFACTS, chromium, expect, logged_in, served
from tests.datasets.conftest import home, make_platform, scratch

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]

if not (ROOT / "portal" / "static" / "vendor" / "drawflow" / "drawflow.min.js").exists():
    pytest.skip("the node editor is not vendored: run scripts/setup.sh", allow_module_level=True)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    from core.watcher import Watcher
    from portal import create_app

    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("HPCAI_MLFLOW_URI", raising=False)
        platform = make_platform(scratch("pl-browser"))
        watcher = Watcher(platform, min_delay=0.5, max_delay=2).start()  # what `hpcai serve` runs
        with served(create_app(platform, watcher=watcher)) as base:
            yield {"platform": platform, "base": base}
        watcher.stop()


def drag_component(page, name: str, x: int, y: int) -> None:  # type: ignore[no-untyped-def]
    page.fill("#pl-search", name)
    item = page.locator(f".pl-item[data-component={name}]")
    item.wait_for()
    item.drag_to(page.locator("#pl-canvas"), target_position={"x": x, "y": y})


def connect(page, src: int, dst: int, out: int = 1, inp: int = 1) -> None:  # type: ignore[no-untyped-def]
    a = page.locator(f"#node-{src} .outputs .output_{out}").bounding_box()
    b = page.locator(f"#node-{dst} .inputs .input_{inp}").bounding_box()
    page.mouse.move(a["x"] + a["width"] / 2, a["y"] + a["height"] / 2)
    page.mouse.down()
    page.mouse.move((a["x"] + b["x"]) / 2, (a["y"] + b["y"]) / 2, steps=5)
    page.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2, steps=5)
    page.mouse.up()


def test_build_connect_run_and_open_the_instance(site) -> None:  # type: ignore[no-untyped-def]
    platform, base = site["platform"], site["base"]
    iris = home(platform, "alice") / "iris.csv"
    iris.write_text((ROOT / "examples" / "pipelines" / "iris.csv").read_text())
    platform.pipelines.create_function("alice", "loss", "my_loss", "import keras\n\n\ndef my_loss(y_true, y_pred):\n"
                                       "    return keras.losses.mean_squared_error(y_true, y_pred)\n")
    with chromium() as browser:
        page = logged_in(browser, base, "alice", "alicepass1", width=1500, height=950)

        page.goto(base + "/pipelines")
        page.click("#pl-new")
        page.fill("#pl-name", "iris-designer")
        page.fill("#pl-type", "classification")
        page.click("#pl-create")
        page.wait_for_selector("#pl-designer[data-ready='1']")
        # The palette: the product's nine categories, from the components.
        cats = page.locator(".pl-cat summary").all_inner_texts()
        assert [c.rsplit(" ", 1)[0] for c in cats[:9]] == [
            "Data extraction", "Data loading", "Data pre-processing", "Model design", "Model library",
            "Algorithm library", "Model result visualisation", "Model prediction", "Tools"]

        drag_component(page, "csv_import", 60, 60)  # node-1: the property panel slides in
        expect(page.locator("#pl-props")).to_have_class("pl-props open")
        page.fill("#prop-file", str(iris))
        drag_component(page, "input_features", 60, 200)  # node-2
        page.fill("#prop-features", "[0-3]")
        page.fill("#prop-labels", "[4]")
        drag_component(page, "data_split", 60, 340)  # node-3
        page.fill("#prop-ratio", "7:0:3")
        page.fill("#prop-seed", "7")
        drag_component(page, "KNeighborsClassifier", 330, 200)  # node-4
        page.fill("#prop-n_neighbors", "lots")  # a wrong type: the field and the node say so
        expect(page.locator("#pl-props .field[data-key=n_neighbors] .error")).to_contain_text("must be of type")
        page.fill("#prop-n_neighbors", "7")
        drag_component(page, "model_evaluation", 330, 340)  # node-5
        page.click("#pl-props-close")
        connect(page, 1, 2)
        connect(page, 2, 3)
        connect(page, 3, 4)
        warn = page.locator("#node-5 .pl-warn")
        expect(warn).to_be_visible()  # Model evaluation's model input is still open
        assert "required input is not connected" in warn.get_attribute("title")
        page.screenshot(path=str(ARTIFACTS / "pipelines-01-marker.png"))
        connect(page, 4, 5)
        expect(warn).to_be_hidden()
        expect(page.locator("#pl-status")).to_have_text("Ready to run")
        # Undo takes the last connection away (the marker is back); Redo brings it back.
        page.click("[data-act=undo]")
        marker = page.locator(".pl-node[data-doc-id^=model_evaluation] .pl-warn")
        expect(marker).to_be_visible()
        page.click("[data-act=redo]")
        expect(page.locator("#pl-status")).to_have_text("Ready to run")
        expect(marker).to_be_hidden()
        doc = page.evaluate("window.plDesigner.toDocument()")
        assert [e["to"]["port"] for e in doc["edges"]] == ["data", "data", "data", "model"]
        assert doc["nodes"][3]["properties"] == {"n_neighbors": 7}
        page.screenshot(path=str(ARTIFACTS / "pipelines-02-connected.png"))

        # Model training offers the user's custom loss functions; Delete removes the selected node.
        drag_component(page, "model_training", 600, 60)
        expect(page.locator("#prop-custom_loss option")).to_have_text(["(none)", "my_loss"])
        page.click(".pl-node[data-doc-id^=model_training]")
        page.click("[data-act=delete]")
        expect(page.locator(".pl-node[data-doc-id^=model_training]")).to_have_count(0)
        expect(page.locator("#pl-status")).to_have_text("Ready to run")

        # Run: saves, asks for the resource spec, submits one job.
        page.click("#pl-run")
        page.select_option("#dlg-resource_spec", "cpu-1")
        page.click("#pl-dialog-ok")
        # The designer's bottom drawer lists this pipeline's instances (live); one opens the instance.
        expect(page.locator("#pl-bottom-table .state")).to_have_text("succeeded", timeout=180_000)
        page.screenshot(path=str(ARTIFACTS / "pipelines-02b-run.png"))
        page.click("#pl-bottom-table a")
        page.wait_for_url("**/pipelines/instances?open=*")
        expect(page.locator("#in-drawer")).to_be_visible()
        expect(page.locator("#in-pane .state").first).to_have_text("succeeded", timeout=180_000)
        expect(page.locator("#in-archiving")).to_contain_text("model registry")
        page.screenshot(path=str(ARTIFACTS / "pipelines-03-instance.png"))
        page.click("#in-tabs button[data-tab=log]")
        expect(page.locator("#in-log")).to_contain_text("Model evaluation: done")
        page.click("#in-eval-tab")
        expect(page.locator("#in-pane")).to_contain_text("accuracy")
        expect(page.locator("#in-pane")).to_contain_text("Confusion matrix")
        page.screenshot(path=str(ARTIFACTS / "pipelines-04-evaluation.png"))
    saved = platform.pipelines.get("alice", "iris-designer")
    assert saved.revision >= 2 and len(saved.document["nodes"]) == 5
