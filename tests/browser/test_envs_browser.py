"""Development environments in Chromium (issue 17): alice opens her environment from the list's
Connect button, through the portal's proxy and the hand-over to the environment's own origin:
the Web terminal (types a command into xterm.js, reads the answer on the screen) and JupyterLab
(runs a notebook cell, reads its output). Screenshots in tests/artifacts."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

import tests.localhost_names  # noqa: F401  (service origins *.svc.localhost for requests, as in browsers)
from tests.browser.chromium import ARTIFACTS, chromium, expect, logged_in, playwright_api
from tests.svc.helpers import Portal, environments_portal, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

SCREEN = "() => { const b = window.hpcaiTerm.buffer.active; let t = '';" \
         " for (let i = 0; i < b.length; i++) t += b.getLine(i).translateToString(true) + '\\n'; return t; }"


@pytest.fixture(scope="module")
def portal() -> Iterator[Portal]:
    with environments_portal("envs-browser") as p:
        yield p


def test_terminal_in_chromium(portal: Portal) -> None:
    alice = portal.login("alice", "alicepass12")
    r = alice.post(f"{portal.url}/api/v1/environments", json={"type": "webterminal", "name": "shell",
                                                              "resource_spec": "cpu-1"}, timeout=60)
    assert r.status_code == 201, r.text
    env_id = r.json()["id"]
    wait_for(lambda: alice.get(f"{portal.url}/api/v1/environments/{env_id}", timeout=10).json()["state"] == "running",
             180, "the terminal to be running", interval=1)
    with chromium() as browser:
        page = logged_in(browser, portal.url, "alice", "alicepass12", width=1200, height=700, timeout_ms=30_000)
        ctx = page.context
        page.goto(portal.url + "/environments")
        row = page.locator(f"tr[data-env='{env_id}']")
        expect(row.locator(".state-running")).to_have_count(1)
        page.screenshot(path=str(ARTIFACTS / "envs-01-list.png"), full_page=True)
        with ctx.expect_page() as opened:
            row.locator("a.connect").click()  # Connect: shown only now that it is running
        term = opened.value
        term.set_default_timeout(30_000)
        term.wait_for_function("() => window.hpcaiTerm !== undefined")
        term.wait_for_function(f"() => ({SCREEN})().includes('$')")  # the prompt
        assert ".svc.localhost" in term.url  # the environment's own origin, not the portal's
        term.keyboard.type("echo WHO=$(id -un)")
        term.keyboard.press("Enter")
        term.wait_for_function(f"() => ({SCREEN})().includes('WHO=hpc-alice')")
        term.screenshot(path=str(ARTIFACTS / "envs-02-terminal.png"))


def test_jupyterlab_runs_a_cell_in_chromium(portal: Portal) -> None:
    alice = portal.login("alice", "alicepass12")
    r = alice.post(f"{portal.url}/api/v1/environments", json={"type": "jupyterlab", "name": "lab",
                                                              "resource_spec": "cpu-1"}, timeout=60)
    assert r.status_code == 201, r.text
    env_id, alias = r.json()["id"], r.json()["alias"]
    wait_for(lambda: alice.get(f"{portal.url}/api/v1/environments/{env_id}", timeout=10).json()["state"] == "running",
             240, "JupyterLab to be running", interval=1)
    # a notebook in the working directory, written through the proxy with Jupyter's contents API
    origin = portal.open_service(alice, alias)
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                     "source": "import os, pwd; print('USER=' + pwd.getpwuid(os.getuid()).pw_name)"}],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    r = alice.put(f"{origin}/dockerService/{alias}/api/contents/who.ipynb",
                  data=json.dumps({"type": "notebook", "format": "json", "content": nb}), timeout=30)
    assert r.status_code in (200, 201), r.text
    with chromium() as browser:
        page = logged_in(browser, portal.url, "alice", "alicepass12", width=1280, height=800, timeout_ms=60_000)
        ctx = page.context
        page.goto(f"{portal.url}/environments/{env_id}")
        with ctx.expect_page() as opened:
            page.click("#env-connect")
        lab = opened.value
        lab.set_default_timeout(90_000)
        lab.goto(lab.url.split("/dockerService/")[0] + f"/dockerService/{alias}/lab/tree/who.ipynb")
        lab.wait_for_selector(".jp-Notebook .jp-Cell .cm-content")
        accept = lab.locator(".jp-Dialog .jp-mod-accept")  # "Select Kernel": take the proposed Python 3
        try:
            accept.click(timeout=20_000)
        except playwright_api.TimeoutError:
            pass  # the notebook's kernelspec started without asking
        lab.click(".jp-Notebook .jp-Cell .cm-content")
        lab.keyboard.press("Shift+Enter")
        out = lab.locator(".jp-OutputArea-output").first
        expect(out).to_contain_text("USER=hpc-alice", timeout=90_000)
        lab.screenshot(path=str(ARTIFACTS / "envs-03-jupyterlab.png"))
