"""The Desktop in Chromium (issue 17): alice opens her desktop from its page's Connect button,
through the portal's proxy and the hand-over to the environment's own origin; noVNC connects
by itself (the password came in the link's fragment) and draws the XFCE desktop on its
canvas. Screenshots in tests/artifacts (envs-10-desktop-page.png, envs-11-desktop.png)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import tests.localhost_names  # noqa: F401  (service origins *.svc.localhost for requests, as in browsers)
from tests.browser.chromium import ARTIFACTS, chromium, logged_in
from tests.svc.helpers import Portal, environments_portal, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

# noVNC's UI marks the document once the RFB session is up (app/ui.js updateVisualState)
CONNECTED = "() => document.documentElement.classList.contains('noVNC_connected')"
# some pixels of the desktop differ from the first one: the canvas shows a picture, not a blank
DRAWN = """() => { const c = document.querySelector('#noVNC_container canvas');
  if (!c || c.width < 100) return false;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
  for (let i = 0; i < d.length; i += 4 * 97) if (d[i] !== d[0] || d[i + 1] !== d[1] || d[i + 2] !== d[2]) n++;
  return n > 50; }"""


@pytest.fixture(scope="module")
def portal() -> Iterator[Portal]:
    with environments_portal("desktop-browser") as p:
        yield p


def test_desktop_in_chromium(portal: Portal) -> None:
    if portal.platform.environments.type("desktop").check_available():
        pytest.skip("the Desktop's Debian packages are not installed (scripts/setup.sh)")
    alice = portal.login("alice", "alicepass12")
    r = alice.post(f"{portal.url}/api/v1/environments", json={"type": "desktop", "name": "desk",
                                                              "resource_spec": "cpu-1"}, timeout=60)
    assert r.status_code == 201, r.text
    env_id = r.json()["id"]
    wait_for(lambda: alice.get(f"{portal.url}/api/v1/environments/{env_id}", timeout=10).json()["state"] == "running",
             240, "the desktop to be running", interval=1)
    with chromium() as browser:
        page = logged_in(browser, portal.url, "alice", "alicepass12", width=1280, height=800, timeout_ms=60_000)
        ctx = page.context
        page.goto(f"{portal.url}/environments/{env_id}")
        vnc = page.locator("#client-vnc").inner_text()
        assert vnc.startswith("127.0.0.1:")  # "open in client": the RFB port for a VNC viewer
        page.screenshot(path=str(ARTIFACTS / "envs-10-desktop-page.png"), full_page=True)
        with ctx.expect_page() as opened:
            page.click("#env-connect")
        desk = opened.value
        desk.set_default_timeout(90_000)
        desk.wait_for_function(CONNECTED)
        assert ".svc.localhost" in desk.url  # the environment's own origin, not the portal's
        assert desk.locator("#noVNC_password_dlg.noVNC_open").count() == 0  # never asked for the password
        desk.wait_for_function(DRAWN)
        desk.wait_for_timeout(3000)  # XFCE's panel and desktop icons finish drawing
        desk.screenshot(path=str(ARTIFACTS / "envs-11-desktop.png"))
