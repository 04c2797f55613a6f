"""VS Code in Chromium (issue 17): alice opens her environment from its page's Connect button,
through the portal's proxy and the hand-over to the environment's own origin; code-server's
workbench shows her working directory in the Explorer, she opens a file there and its text is in
the editor (which took VS Code's remote-agent WebSocket through the proxy); a command typed in its
integrated terminal runs as hpc-alice in that directory, without the instance's secret in its
environment. Screenshots in tests/artifacts."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

import tests.localhost_names  # noqa: F401  (service origins *.svc.localhost for requests, as in browsers)
from tests.browser.chromium import ARTIFACTS, chromium, expect, logged_in
from tests.svc.helpers import Portal, environments_portal, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

TEXT = "hello from hpcai's VS Code"


@pytest.fixture(scope="module")
def portal() -> Iterator[Portal]:
    with environments_portal("vscode-browser") as p:
        yield p


def test_vscode_opens_a_file_in_chromium(portal: Portal) -> None:
    alice = portal.login("alice", "alicepass12")
    r = alice.post(f"{portal.url}/api/v1/environments", json={"type": "vscode", "name": "code",
                                                              "resource_spec": "cpu-1"}, timeout=60)
    assert r.status_code == 201, r.text
    env_id = r.json()["id"]
    wait_for(lambda: alice.get(f"{portal.url}/api/v1/environments/{env_id}", timeout=10).json()["state"] == "running",
             240, "VS Code to be running", interval=1)
    home = portal.platform.workspace.home("alice")
    subprocess.run(["runuser", "-u", "hpc-alice", "--", "sh", "-c", f'printf "%s\\n" "{TEXT}" > "{home}/notes.md"'],
                   check=True, timeout=30)  # a file of hers in the working directory
    with chromium() as browser:
        page = logged_in(browser, portal.url, "alice", "alicepass12", width=1280, height=800, timeout_ms=60_000)
        ctx = page.context
        sockets: list = []  # the WebSockets the workbench opens (registered before it loads)
        ctx.on("page", lambda opened_page: opened_page.on("websocket", lambda w: sockets.append(w)))
        page.goto(f"{portal.url}/environments/{env_id}")
        with ctx.expect_page() as opened:
            page.click("#env-connect")
        code = opened.value
        code.set_default_timeout(90_000)
        assert ".svc.localhost" in code.url and "/dockerService/" in code.url  # its own origin, via the proxy
        code.wait_for_selector(".monaco-workbench")
        item = code.locator(".explorer-folders-view .monaco-list-row", has_text="notes.md")
        item.click()  # the Explorer lists the working directory (read over the WebSocket)
        lines = code.locator(".editor-instance .monaco-editor .view-lines")
        expect(lines).to_contain_text(TEXT, timeout=90_000)
        alias = r.json()["alias"]
        remote = [w for w in sockets if f"/dockerService/{alias}/stable-" in w.url and "?reconnectionToken=" in w.url]
        assert remote and ".svc.localhost" in remote[0].url, [w.url for w in sockets]  # through the proxy
        code.wait_for_timeout(500)  # let the editor finish painting for the screenshot
        code.screenshot(path=str(ARTIFACTS / "envs-04-vscode.png"))
        # VS Code's integrated terminal (node-pty on the node): a shell as hpc-alice in her directory
        (home / "who.txt").unlink(missing_ok=True)
        code.keyboard.press("Control+Backquote")
        code.wait_for_selector(".terminal-wrapper.active .xterm-helper-textarea")
        code.locator(".terminal-wrapper.active .xterm-helper-textarea").focus()
        code.keyboard.type("echo WHO=$(id -un) WD=$(pwd) SECRET=${HASHED_PASSWORD:-unset} > who.txt")
        code.keyboard.press("Enter")
        wait_for(lambda: (home / "who.txt").exists() and (home / "who.txt").read_text().strip() or None, 60,
                 "the terminal's command to write who.txt", interval=0.5)
        # code-server took its password out of the environment its terminals inherit
        assert (home / "who.txt").read_text().strip() == f"WHO=hpc-alice WD={home} SECRET=unset"
        code.screenshot(path=str(ARTIFACTS / "envs-05-vscode-terminal.png"))
