"""Issue 13 items 4 and 5: proxied services are isolated from the portal and authenticate on
their own port. One real `hpcai serve`; the custom test service (tests/svc/webapp.py) runs as
a local-scheduler job behind svcrun's gate.

- the proxy's target is the port the platform allocated (store), not the job's service.json;
- a browser is handed from the portal's origin to the service's own (`<alias>.svc.localhost`),
  where no portal page answers and the portal's session cookie is never sent;
- the visitor's Authorization and the portal's cookies never reach the service, and the
  service cannot set them;
- another Unix user connecting straight to the service's host:port is refused.
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from core import svcauth
from tests.svc.helpers import WEB_APP, Portal, scratch

pytestmark = [pytest.mark.integration, pytest.mark.slow]
INTRUDER = "hpcai-intruder"


@pytest.fixture(scope="module")
def portal() -> Iterator[Portal]:
    p = Portal(scratch("services-isolation")).start()
    yield p
    p.stop_all_services()
    p.stop()


@pytest.fixture(scope="module")
def alice(portal: Portal) -> requests.Session:
    return portal.login("alice", "alicepass12")


@pytest.fixture(scope="module")
def web(portal: Portal, alice: requests.Session) -> dict:
    r = alice.post(f"{portal.url}/api/v1/services", json={
        "name": "web", "type": "custom", "resource_spec": "cpu-1", "proxy_path": "/api",
        "command": f"exec {sys.executable} {WEB_APP}"}, timeout=30)
    assert r.status_code == 201, r.text
    return portal.wait_state(alice, r.json()["alias"], ("running",))


def _origin(portal: Portal, alias: str) -> str:
    return f"http://{alias}.svc.localhost:{portal.port}"


def test_browser_is_handed_to_the_service_origin(portal: Portal, alice: requests.Session, web: dict) -> None:
    alias = web["alias"]
    r = alice.get(f"{portal.url}/dockerService/{alias}/hello?x=1", allow_redirects=False, timeout=10)
    assert r.status_code == 302, r.text
    to = urlsplit(r.headers["Location"])
    assert (to.scheme, to.netloc, to.path) == ("http", f"{alias}.svc.localhost:{portal.port}", "/_hpcai/auth")
    assert parse_qs(to.query)["next"] == [f"/dockerService/{alias}/hello?x=1"]
    r = alice.get(r.headers["Location"], allow_redirects=False, timeout=10)
    assert r.status_code == 302 and r.headers["Location"] == f"/dockerService/{alias}/hello?x=1"
    assert "hpcai_svc=" in r.headers["Set-Cookie"] and "HttpOnly" in r.headers["Set-Cookie"]
    assert "Domain" not in r.headers["Set-Cookie"]  # this origin's alone
    base = _origin(portal, alias)
    seen = alice.get(base + r.headers["Location"], timeout=10).json()
    assert seen["path"] == "/api/hello?x=1"
    assert seen["auth"] is None and "hpcai_" not in (seen["cookie"] or "")  # nothing of the portal's
    # the service origin serves the proxy of this one service, nothing of the portal
    for path in ("/", "/api/v1/services", "/services", "/login", "/dockerService/custom-alice-00000000/"):
        assert alice.get(base + path, allow_redirects=False, timeout=10).status_code == 404, path
    # a forged token gets no cookie: back to the portal, which checks the session again
    other = requests.get(f"{base}/_hpcai/auth?t=forged&next=/dockerService/{alias}/", allow_redirects=False,
                         timeout=10)
    assert other.status_code == 302 and other.headers["Location"].startswith(portal.url + "/dockerService/")
    assert "Set-Cookie" not in other.headers
    # without the cookie, the service origin sends the visitor to the portal (which logs in first)
    anon = requests.get(f"{base}/dockerService/{alias}/hello", allow_redirects=False, timeout=10)
    assert anon.status_code == 302 and anon.headers["Location"] == f"{portal.url}/dockerService/{alias}/hello"


def test_service_cannot_set_the_portal_cookies(portal: Portal, alice: requests.Session, web: dict) -> None:
    alias = web["alias"]
    alice.get(f"{portal.url}/dockerService/{alias}/", timeout=10)  # the hand-off
    r = alice.get(f"{_origin(portal, alias)}/dockerService/{alias}/cookies", timeout=10)
    cookies = r.raw.headers.getlist("Set-Cookie")
    assert not [c for c in cookies if c.startswith(("hpcai_session=", "hpcai_svc="))], cookies
    assert [c for c in cookies if c.startswith("wide=")] == [f"wide=1; Path=/dockerService/{alias}/"]
    assert any(c.startswith("own=1") for c in cookies)


def test_api_key_answers_on_the_portal_origin_are_sandboxed(portal: Portal, alice: requests.Session,
                                                           web: dict) -> None:
    # A custom service has no API keys: a Bearer on the portal's origin is refused and never forwarded.
    r = requests.get(f"{portal.url}/dockerService/{web['alias']}/hello",
                     headers={"Authorization": "Bearer hsk_nothing"}, allow_redirects=False, timeout=10)
    assert r.status_code == 401


def test_proxy_target_is_the_allocated_port_not_the_job_report(portal: Portal, alice: requests.Session,
                                                               web: dict) -> None:
    alias = web["alias"]
    report_path = Path(web["job_dir"]) / "service.json"
    report = json.loads(report_path.read_text())
    stored = portal.platform.services.job(portal.platform.services.get(alias, "alice"))
    assert stored is not None and web["port"] == stored.plan["ports"][0] == report["port"]
    base = _origin(portal, alias)
    alice.get(f"{portal.url}/dockerService/{alias}/", timeout=10)
    try:  # the job rewrites its report to point the proxy at the portal itself
        forged = {**report, "host": "127.0.0.1", "port": portal.port, "ports": [portal.port]}
        report_path.write_text(json.dumps(forged))
        seen = alice.get(f"{base}/dockerService/{alias}/hello", timeout=10)
        assert seen.status_code == 200 and seen.json()["path"] == "/api/hello", seen.text  # still the service
        assert portal.service(alice, alias)["port"] == web["port"]
    finally:
        report_path.write_text(json.dumps(report))


def _intruder() -> str:
    try:
        pwd.getpwnam(INTRUDER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", INTRUDER],
                       check=True, timeout=30)
    return INTRUDER


def test_another_user_connecting_directly_is_refused(portal: Portal, web: dict) -> None:
    if os.geteuid() != 0:
        pytest.skip("creating the second Unix account needs root (the test harness runs as root)")
    host, port = web["host"], web["port"]
    probe = ("import urllib.request, urllib.error, sys\n"
             f"try:\n    r = urllib.request.urlopen('http://{host}:{port}/api/hello', timeout=10); print(r.status)\n"
             "except urllib.error.HTTPError as e:\n    print(e.code)\n")
    out = subprocess.run(["runuser", "-u", _intruder(), "--", "/usr/bin/python3", "-c", probe],
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "403", out.stdout + out.stderr
    url = f"http://{host}:{port}/api/hello"
    assert requests.get(url, headers={svcauth.HEADER: svcauth.sign("a guess")}, timeout=10).status_code == 403
    secret = portal.platform.services.secret(
        portal.platform.services.job(portal.platform.services.get(web["alias"], "alice")))
    stale = svcauth.sign(secret, now=time.time() - 2 * svcauth.WINDOW_S)
    assert requests.get(url, headers={svcauth.HEADER: stale}, timeout=10).status_code == 403
    # the proof only the proxy holds opens it (the gate is not simply closed)
    ok = requests.get(url, headers={svcauth.HEADER: svcauth.sign(secret)}, timeout=10)
    assert ok.status_code == 200 and ok.json()["path"] == "/api/hello"
    # and the secret is nowhere the users of the service see it
    view = portal.service(portal.login("alice", "alicepass12"), web["alias"])
    assert secret not in json.dumps(view)


@pytest.mark.browser
def test_in_chromium_the_service_page_cannot_use_the_portal(portal: Portal, web: dict) -> None:
    """A real browser: the service's page is on its own origin, and a script there gets nothing
    from the portal (no cookie goes with its requests, CORS keeps the answers from it)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    chromium = "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.skip("Debian chromium is not installed (scripts/setup.sh installs it)")
    artifacts = Path(__file__).resolve().parents[1] / "artifacts"
    artifacts.mkdir(exist_ok=True)
    alias = web["alias"]
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_context(viewport={"width": 1100, "height": 500}).new_page()
            page.set_default_timeout(30_000)
            page.goto(f"{portal.url}/login?next=/dockerService/{alias}/hello")
            page.fill("input[name=username]", "alice")
            page.fill("input[name=password]", "alicepass12")
            page.click("button[type=submit]")
            page.wait_for_url(f"http://{alias}.svc.localhost:{portal.port}/dockerService/{alias}/hello")
            page.screenshot(path=str(artifacts / "svc-isolation-01-service-page.png"))
            seen = json.loads(page.inner_text("body"))
            assert seen["path"] == "/api/hello" and "hpcai_" not in (seen["cookie"] or "")
            stolen = page.evaluate("""async (url) => {
                try { const r = await fetch(url, {credentials: 'include'}); return 'read ' + r.status; }
                catch (e) { return 'blocked'; } }""", f"{portal.url}/api/v1/me")
            assert stolen == "blocked"
            assert "hpcai_session" not in page.evaluate("document.cookie")
            page.set_content(f"<h1>service origin</h1><p>{page.url}</p><p>portal API from here: {stolen}</p>")
            page.screenshot(path=str(artifacts / "svc-isolation-02-portal-out-of-reach.png"))
        finally:
            browser.close()
