"""Issue 13, item 7 (the portal's medium findings): sessions end when they should, log-in
throttling neither locks everyone behind the site's proxy nor lets anyone lock an account out
from elsewhere, hostile input gets a 4xx (not a 500), CSV exports do not carry formulas."""

from __future__ import annotations

from datetime import timedelta

from core.accounts import LoginPolicy
from core.experiments import RunRow, runs_csv
from tests.webportal.conftest import login
from tests.webportal.test_portal_uploads_login import Clock, post_login


def _copy_cookies(src, dst) -> None:  # type: ignore[no-untyped-def]
    for cookie in src._cookies.values():
        dst.set_cookie(cookie.key, cookie.value, domain=cookie.domain, path=cookie.path)


def test_logout_ends_the_session_for_every_copy_of_its_cookie(app, platform) -> None:  # type: ignore[no-untyped-def]
    platform.accounts.create("sess1", "sess1pass1")
    c = app.test_client()
    csrf = login(c, "sess1", "sess1pass1")
    stolen = app.test_client()
    _copy_cookies(c, stolen)
    assert stolen.get("/api/v1/jobs").status_code == 200  # the copy works while the session lives
    assert c.post("/logout", data={"csrf_token": csrf}).status_code == 302
    assert stolen.get("/api/v1/jobs").status_code == 401
    assert stolen.get("/").status_code == 302


def test_a_password_change_ends_the_accounts_other_sessions(app, platform) -> None:  # type: ignore[no-untyped-def]
    platform.accounts.create("sess2", "sess2pass1")
    here, elsewhere = app.test_client(), app.test_client()
    csrf = login(here, "sess2", "sess2pass1")
    login(elsewhere, "sess2", "sess2pass1")
    r = here.post("/account", data={"csrf_token": csrf, "action": "password", "old_password": "sess2pass1",
                                    "new_password": "sess2pass2"})
    assert r.status_code == 200
    assert here.get("/api/v1/jobs").status_code == 200  # the session that changed it goes on
    assert elsewhere.get("/api/v1/jobs").status_code == 401
    platform.accounts.update("sess2", disabled=True)  # and disabling the account ends that one too
    assert here.get("/api/v1/jobs").status_code == 401


def test_log_in_gives_a_new_session_id(app, platform) -> None:  # type: ignore[no-untyped-def]
    platform.accounts.create("sess3", "sess3pass1")
    c = app.test_client()
    c.get("/login")
    with c.session_transaction() as s:
        s["sid"] = "planted-by-an-attacker"
    login(c, "sess3", "sess3pass1")
    with c.session_transaction() as s:
        assert s["sid"] != "planted-by-an-attacker" and s["user"] == "sess3"


def test_nobody_locks_an_account_out_from_another_address(app, platform) -> None:  # type: ignore[no-untyped-def]
    throttle = platform.accounts.throttle
    clock, saved = Clock(), (throttle.policy, throttle.clock)
    throttle.policy = LoginPolicy(max_failures=3, max_failures_per_address=50, lockout_s=60, lockout_max_s=300)
    throttle.clock = clock
    try:
        for _ in range(3):
            r = post_login(app.test_client(), "admin", "wrong", "10.66.0.1")
        assert r.status_code == 429  # the guessing address is locked out of the account...
        assert post_login(app.test_client(), "admin", "adminpass1", "10.66.0.1").status_code == 429
        assert post_login(app.test_client(), "admin", "adminpass1", "10.66.0.2").status_code == 302  # ...not the admin
        assert "admin" in throttle.locked_accounts()  # the guesser's lock stays (the Users page shows it)
        assert post_login(app.test_client(), "admin", "adminpass1", "10.66.0.1").status_code == 429
    finally:
        throttle.policy, throttle.clock = saved


def test_behind_the_sites_proxy_each_client_is_counted_alone(app, platform) -> None:  # type: ignore[no-untyped-def]
    throttle = platform.accounts.throttle
    clock, saved = Clock(), (throttle.policy, throttle.clock)
    saved_raw = dict(platform.config.raw.get("portal", {}))
    throttle.policy = LoginPolicy(max_failures=50, max_failures_per_address=3, lockout_s=60, lockout_max_s=60)
    throttle.clock = clock
    platform.config.raw.setdefault("portal", {})["trusted_proxies"] = ["10.77.0.1"]
    try:
        def via_proxy(name: str, password: str, client: str):  # type: ignore[no-untyped-def]
            c = app.test_client()
            c.get("/login")
            with c.session_transaction() as s:
                token = s["csrf"]
            return c.post("/login", data={"username": name, "password": password, "csrf_token": token},
                          environ_base={"REMOTE_ADDR": "10.77.0.1"},
                          headers={"X-Forwarded-For": f"6.6.6.6, {client}"})  # a forged first hop is ignored
        codes = [via_proxy(n, "bad", "203.0.113.9").status_code for n in ("g1", "g2", "g3")]
        assert codes == [401, 401, 429]
        # Another client behind the same proxy is not locked with the guesser.
        assert via_proxy("alice", "alicepass1", "203.0.113.10").status_code == 302
        clock.now += timedelta(seconds=61)
    finally:
        throttle.policy, throttle.clock = saved
        platform.config.raw["portal"] = saved_raw


def test_deeply_nested_json_and_a_newline_in_next_are_4xx(app, platform) -> None:  # type: ignore[no-untyped-def]
    token = platform.accounts.create_token("alice")
    body = "[" * 50000 + "]" * 50000
    r = app.test_client().post("/api/v1/jobs", data=body, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert r.status_code == 400 and r.get_json()["field"] == "body"
    c = app.test_client()
    c.get("/login")
    with c.session_transaction() as s:
        csrf = s["csrf"]
    r = c.post("/login?next=/jobs%0d%0aSet-Cookie:%20x=1", data={"username": "alice", "password": "alicepass1",
                                                                "csrf_token": csrf})
    assert r.status_code == 302 and "\n" not in r.headers["Location"] and "x=1" not in r.headers.get("Set-Cookie", "")


def test_csv_exports_neutralise_formulas() -> None:
    row = RunRow(job_id=1, run_id="r1", experiment_id="1", job_uuid=None, scheduler_job_id=None, start_time=None, duration_s=None, run_name="=HYPERLINK(\"http://x\")",
                 user="alice", source="@SUM(A1)", version="+1+2", status="FINISHED", models=[],
                 metrics={"loss": -0.5}, params={"lr": "-3", "cmd": "-2+3+cmd|' /C calc'!A0"}, tags={})
    lines = runs_csv([row]).splitlines()
    cells = lines[1]
    assert "'=HYPERLINK" in cells and "'@SUM(A1)" in cells and "'+1+2" in cells and "'-2+3+cmd" in cells
    assert ",-0.5," in cells or cells.endswith("-0.5") or ",-0.5" in cells  # numbers stay numbers
    assert ",-3," in cells or ",-3" in cells

