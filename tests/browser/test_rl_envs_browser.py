"""Simulation environments page in a real headless Chromium: the Reinforcement learning entry,
the "New simulation environment" card, fields that appear and disappear with the installation
mode and Python built-in, a green package uploaded from the browser, an archive without the start
file refused next to its field, an installed environment, edit description, delete."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator

import pytest

from tests.browser.chromium import ARTIFACTS, chromium, expect, logged_in, served
from tests.datasets.conftest import make_platform, scratch

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture(scope="module")
def site() -> Iterator[dict]:
    from portal import create_app

    platform = make_platform(scratch("rlenvs-browser"))
    platform.store.migrate()
    with served(create_app(platform)) as base:
        yield {"platform": platform, "base": base}


def test_register_green_and_installed_edit_and_delete(site, tmp_path) -> None:
    platform, base = site["platform"], site["base"]
    pkg, wrong = tmp_path / "sim.zip", tmp_path / "other.zip"
    for path, name in ((pkg, "sim/run.sh"), (wrong, "launch.sh")):
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr(name, "#!/bin/sh\necho simulator\n")
    start = platform.workspace.home("alice") / "sim" / "start.sh"
    start.parent.mkdir(parents=True)
    start.write_text("#!/bin/sh\n")
    with chromium() as browser:
        page = logged_in(browser, base, "alice", "alicepass1")
        page.on("dialog", lambda dlg: dlg.accept())
        page.goto(base + "/")
        page.click("#nav-rl")
        expect(page.locator("h1")).to_have_text("Simulation environments")
        page.click("#rl-env-new")
        # green package (the default): package and start file shown, installed fields hidden
        expect(page.locator("#in-install_mode")).to_have_value("green")
        expect(page.locator("#field-archive")).to_be_visible()
        expect(page.locator("#field-start_file")).to_be_visible()
        expect(page.locator("#field-start_path")).to_be_hidden()
        expect(page.locator("#field-python_builtin")).to_be_hidden()
        expect(page.locator("#in-run_mode")).to_have_value("non-exclusive")
        page.fill("#in-name", "cartsim")
        page.set_input_files("#in-archive_file", str(wrong))
        page.fill("#in-start_file", "run.sh")
        page.fill("#in-ports", "6")
        page.click("#rl-env-create")
        expect(page.locator("#error-ports")).to_contain_text("1 to 5")
        page.fill("#in-ports", "2")
        page.set_input_files("#in-archive_file", str(wrong))  # a browser never keeps a file across a post
        page.click("#rl-env-create")
        expect(page.locator("#error-start_file")).to_contain_text("other.zip has no file named 'run.sh'; "
                                                                  "it holds launch.sh")
        page.set_input_files("#in-archive_file", str(pkg))
        page.click("#rl-env-create")
        card = page.locator(".rl-card[data-env=cartsim]")
        expect(card).to_contain_text("sim/run.sh")
        expect(card).to_contain_text("(uploaded)")
        assert platform.rl_envs.resolve("alice", "cartsim")["start_file"] == "sim/run.sh"

        # installed: the green fields go; start path only while Python built-in is off
        page.click("#rl-env-new")
        page.select_option("#in-install_mode", "installed")
        expect(page.locator("#field-archive")).to_be_hidden()
        expect(page.locator("#field-start_file")).to_be_hidden()
        expect(page.locator("#field-python_builtin")).to_be_visible()
        expect(page.locator("#field-start_path")).to_be_visible()
        page.locator("#field-python_builtin .switch").click()
        expect(page.locator("#field-start_path")).to_be_hidden()
        page.locator("#field-python_builtin .switch").click()
        page.screenshot(path=str(ARTIFACTS / "rl-envs-01-form.png"), full_page=True)
        page.fill("#in-name", "cartsim")
        page.fill("#in-start_path", "sim/start.sh")
        page.click("#rl-env-create")
        expect(page.locator("#error-name")).to_contain_text("exists")
        expect(page.locator("#error-start_path")).to_contain_text("not an absolute path")
        expect(page.locator("#field-start_path")).to_be_visible()  # the re-shown form keeps the mode
        page.fill("#in-name", "installed-sim")
        page.fill("#in-start_path", str(start))
        page.select_option("#in-run_mode", "exclusive")
        page.click("#rl-env-create")
        inst = page.locator(".rl-card[data-env=installed-sim]")
        expect(inst).to_contain_text(str(start))
        expect(inst).to_contain_text("Exclusive")

        inst.locator("summary").click()
        inst.locator("textarea").fill("the cart-pole simulator")
        inst.locator("text=Save").click()
        expect(page.locator(".rl-card[data-env=installed-sim] .rl-desc")).to_have_text("the cart-pole simulator")
        page.screenshot(path=str(ARTIFACTS / "rl-envs-02-cards.png"), full_page=True)
        page.locator(".rl-card[data-env=cartsim] button:has-text('Delete')").click()
        expect(page.locator(".rl-card[data-env=cartsim]")).to_have_count(0)
    assert [r.name for r in platform.rl_envs.list("alice")] == ["installed-sim"]
    assert not any((platform.workspace.home("alice") / "simulation-environments").iterdir())
