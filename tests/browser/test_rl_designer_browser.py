"""The RL components in the pipeline designer, in a real headless Chromium: the palette's RL
groups, an algorithm RLlib removed shown as unavailable with its replacement, Gym's scenario
select (default Pendulum-v1), Gym -> PPO -> Model training connected with the mouse until the
pipeline is ready to run. Screenshot in tests/artifacts/rl-designer-01.png."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.chromium import ARTIFACTS, chromium, expect, logged_in, served
from tests.browser.test_pipeline_designer_browser import connect, drag_component
from tests.datasets.conftest import make_platform, scratch

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]

if not (ROOT / "portal" / "static" / "vendor" / "drawflow" / "drawflow.min.js").exists():
    pytest.skip("the node editor is not vendored: run scripts/setup.sh", allow_module_level=True)


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    from portal import create_app

    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("HPCAI_MLFLOW_URI", raising=False)
        with served(create_app(make_platform(scratch("rl-designer-browser")))) as url:
            yield url


def test_rl_palette_and_a_ready_training_pipeline(base: str) -> None:
    with chromium() as browser:
        page = logged_in(browser, base, "alice", "alicepass1", width=1500, height=950)
        page.goto(base + "/pipelines")
        page.click("#pl-new")
        page.fill("#pl-name", "cartpole-ppo")
        page.fill("#pl-type", "reinforcement learning")
        page.click("#pl-create")
        page.wait_for_selector("#pl-designer[data-ready='1']")
        cats = [c.rsplit(" ", 1)[0] for c in page.locator(".pl-cat summary").all_inner_texts()]
        assert "RL data processing" in cats and "RL algorithm design" in cats

        page.fill("#pl-search", "TD3")
        td3 = page.locator(".pl-item[data-component=rl_td3]")
        expect(td3).to_have_class("pl-item unavailable")
        assert "SAC" in td3.get_attribute("title")

        drag_component(page, "rl_gym", 60, 60)  # node-1
        expect(page.locator("#prop-scenario option:checked")).to_have_text("(default: Pendulum-v1)")
        page.select_option("#prop-scenario", label="CartPole-v1")
        drag_component(page, "rl_ppo", 60, 260)  # node-2
        page.fill("#prop-lr", "0.0003")
        drag_component(page, "rl_model_training", 360, 160)  # node-3
        page.click("#pl-props-close")
        connect(page, 1, 3, inp=1)
        connect(page, 2, 3, inp=2)
        expect(page.locator("#pl-status")).to_have_text("Ready to run")
        page.screenshot(path=str(ARTIFACTS / "rl-designer-01.png"))
        doc = page.evaluate("window.plDesigner.toDocument()")
        assert [(e["from"]["port"], e["to"]["port"]) for e in doc["edges"]] == [("env", "env"),
                                                                               ("algorithm", "algorithm")]
        assert doc["nodes"][0]["properties"]["scenario"] == "CartPole-v1"
