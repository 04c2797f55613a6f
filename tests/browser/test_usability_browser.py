"""Day-one usability of the portal in real headless Chromium, at 1366 px and at 390 px (a phone).

The desktop has a tile per application and a summary of the user's work; under 800 px the
navigation folds behind a menu button and no page scrolls sideways; a running job's page and
My jobs follow the job to its end by themselves, with times in words; a tracking server that
is down is explained in the user's terms. Screenshots go to tests/artifacts/usability-*.png.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.chromium import ARTIFACTS, chromium, expect, logged_in
from tests.helpers import portal_server
from tests.webportal.conftest import make_platform, scratch

pytestmark = [pytest.mark.browser, pytest.mark.integration]
REPO = Path(__file__).resolve().parents[2]
STEP_MS = 20_000
WIDE, PHONE = {"width": 1366, "height": 900}, {"width": 390, "height": 844}



def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens there once the socket is closed


@pytest.fixture(scope="module")
def server() -> Iterator[dict[str, object]]:
    data = scratch("usability")
    p = make_platform(data)
    p.accounts.seed_admin("adminpass1")
    p.accounts.create("alice", "alicepass1", full_name="Alice Liddell")
    work = p.workspace.home("alice") / "project"
    work.mkdir(parents=True)
    # The tracking server is down (an external uri nobody answers on): pages must say so in words.
    env = dict(os.environ, HPCAI_DATA_DIR=str(data), HPCAI_MLFLOW_URI=f"http://127.0.0.1:{closed_port()}")
    env.pop("HPCAI_DB_URL", None)
    with portal_server(env, data / "serve.log", REPO) as base:
        yield {"base": base, "platform": p, "work": str(work)}


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as b:
        yield b


def login(browser, base: str, viewport: dict[str, int], user: str = "alice", password: str = "alicepass1"):  # type: ignore[no-untyped-def]
    return logged_in(browser, base, user, password, width=viewport["width"], height=viewport["height"],
                     timeout_ms=STEP_MS, path="/")


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    page.screenshot(path=str(ARTIFACTS / f"usability-{name}.png"), full_page=True)


def no_sideways_scroll(page) -> None:  # type: ignore[no-untyped-def]
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url} scrolls sideways: {width} px wide"


def submit_job(server: dict[str, object], name: str, seconds: int) -> int:
    p = server["platform"]
    values = {"framework": "pytorch", "mode": "standalone", "resource_spec": "cpu-1", "name": name,
              "workdir": server["work"], "time_limit_min": 5,
              "command": f"python -c 'import time; print(\"step 1\", flush=True); time.sleep({seconds})'"}
    req = p.jobs.request_from_values(values, "alice", source="portal")  # type: ignore[attr-defined]
    return p.jobs.submit_prepared(p.jobs.prepare(req)).id  # type: ignore[attr-defined]


def test_desktop_tiles_and_navigation_at_both_widths(server, browser) -> None:  # type: ignore[no-untyped-def]
    page = login(browser, server["base"], WIDE)
    for app in ("training", "jobs", "datasets", "experiments", "services", "account", "api"):
        expect(page.locator(f"#app-{app}")).to_be_visible()
    expect(page.locator("#sum-running")).to_contain_text("running jobs")
    expect(page.locator("#sum-services")).to_contain_text("active services")
    expect(page.locator("#app-plugins")).to_have_count(0)  # admin tiles only for administrators
    expect(page.locator("#nav-jobs")).to_be_visible()
    expect(page.locator(".menubutton")).to_be_hidden()
    assert page.locator("link[rel=icon]").get_attribute("href").endswith("favicon.svg")
    shot(page, "desktop-1366")

    phone = login(browser, server["base"], PHONE)
    expect(phone.locator("#nav-jobs")).to_be_hidden()
    expect(phone.locator(".menubutton")).to_be_visible()
    no_sideways_scroll(phone)
    shot(phone, "desktop-390")
    phone.click(".menubutton")
    expect(phone.locator("#nav-jobs")).to_be_visible()
    shot(phone, "menu-open-390")
    phone.click("#nav-jobs")
    expect(phone.locator("h1")).to_have_text("My jobs")
    for path in ("/jobs", "/apps/training", "/datasets", "/services", "/account"):
        phone.goto(server["base"] + path)
        no_sideways_scroll(phone)
    shot(phone, "account-390")


def test_job_page_follows_the_job_to_its_end(server, browser) -> None:  # type: ignore[no-untyped-def]
    job = submit_job(server, "usability-sleep", 8)
    page = login(browser, server["base"], WIDE)
    page.goto(f"{server['base']}/jobs/{job}")
    times = page.locator("#jobtimes")
    expect(times).to_contain_text("Time and progress")
    expect(page.locator("#t-limit")).to_contain_text("5m 00s")
    expect(page.locator("#command")).to_contain_text("time.sleep(8)")
    expect(page.locator("#t-submitted")).to_have_text(
        re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$"))  # the site's zone, no microseconds
    expect(page.locator("#usage-memory")).to_contain_text("MB", timeout=30_000)  # sampled on the node
    expect(page.locator("#usage-gpu")).to_contain_text("no GPU")
    shot(page, "job-running-1366")
    # No reload: the page's live regions follow the watcher's state until the job has ended.
    expect(page.locator("#jobstate")).to_have_text("succeeded", timeout=90_000)
    expect(page.locator("#exitcode")).to_have_text("0")
    expect(page.locator("#t-ended")).not_to_have_text("-")
    shot(page, "job-ended-1366")

    phone = login(browser, server["base"], PHONE)
    second = submit_job(server, "usability-rows", 4)
    phone.goto(server["base"] + "/jobs")
    row = phone.locator(f"tr[data-job='{second}']")
    expect(row).to_be_visible()
    no_sideways_scroll(phone)
    expect(row.locator(".state")).to_have_text("succeeded", timeout=90_000)
    shot(phone, "jobs-390")
    phone.goto(f"{server['base']}/jobs/{job}")
    no_sideways_scroll(phone)
    shot(phone, "job-390")


def test_tracking_down_is_explained_in_words(server, browser) -> None:  # type: ignore[no-untyped-def]
    page = login(browser, server["base"], WIDE)
    page.goto(server["base"] + "/experiments")
    card = page.locator(".errorpage")
    expect(card.locator("h1")).to_have_text("Temporarily unavailable")
    expect(card).to_contain_text("Experiment tracking is unavailable right now")
    text = card.inner_text()
    for internal in ("urlopen", "Errno", "hpcai mlflow", "etc/hpcai.toml", "tracking:"):
        assert internal not in text, f"the error page shows '{internal}': {text}"
    shot(page, "tracking-down-1366")


def test_files_page_and_new_folder_in_the_picker(server, browser, tmp_path) -> None:  # type: ignore[no-untyped-def]
    home = Path(server["work"]).parent  # alice's workspace
    page = login(browser, server["base"], WIDE)
    page.click("#nav-files")
    expect(page.locator("h1")).to_have_text("Files")
    page.fill("#mkdir-form input[name=name]", "runs")
    page.click("#mkdir-form button")
    expect(page.locator(".flash")).to_contain_text("Folder runs created")
    assert (home / "runs").is_dir()
    local = tmp_path / "notes.txt"
    local.write_text("first line\n")
    page.set_input_files("#upload-upload input[type=file]", str(local))
    page.click("#upload-upload button")
    expect(page.locator(".flash")).to_contain_text("Uploaded 1 file")
    # Bad input: a name with a slash is refused with the reason, and nothing changes.
    row = page.locator("tr[data-name='notes.txt']")
    row.locator("summary", has_text="Rename").click()
    row.locator("input[name=name]").fill("a/b.txt")
    row.locator("button", has_text="Rename").click()
    expect(page.locator(".flash.error")).to_be_visible()
    assert (home / "notes.txt").is_file()
    # Edit, save, download.
    page.locator("tr[data-name='notes.txt'] a.edit").click()
    page.fill("#content", "first line\nsecond line\n")
    page.click("#editform button[type=submit]")
    expect(page.locator(".flash")).to_contain_text("Saved notes.txt")
    assert (home / "notes.txt").read_text() == "first line\nsecond line\n"
    page.goto(server["base"] + "/files")
    with page.expect_download() as dl:
        page.locator("tr[data-name='notes.txt'] a.download").click()
    assert Path(dl.value.path()).read_text() == "first line\nsecond line\n"
    # Rename, move into the folder, delete.
    row = page.locator("tr[data-name='notes.txt']")
    row.locator("summary", has_text="Rename").click()
    row.locator("input[name=name]").fill("log.txt")
    row.locator("button", has_text="Rename").click()
    row = page.locator("tr[data-name='log.txt']")
    row.locator("summary", has_text="Move").click()
    row.locator("input[name=destination]").fill(str(home / "runs"))
    row.locator("button", has_text="Move").click()
    expect(page.locator(".flash")).to_contain_text("Moved to")
    assert (home / "runs" / "log.txt").is_file()
    shot(page, "files-1366")
    page.once("dialog", lambda d: d.accept())
    page.locator("tr[data-name='runs'] form[data-confirm] button").click()
    expect(page.locator(".flash")).to_contain_text("Deleted runs")
    assert not (home / "runs").exists()

    # "Use as project directory" opens the training form with it; the picker makes a folder.
    page.click("#use-here")
    expect(page.locator("#in-workdir")).to_have_value(str(home))
    page.locator("[data-browse='in-workdir']").click()
    page.once("dialog", lambda d: d.accept("picked"))
    page.locator(".picker .newfolder").click()
    expect(page.locator(".picker .crumb .mono")).to_have_text(str(home / "picked"))
    assert (home / "picked").is_dir()
    shot(page, "picker-new-folder-1366")

    phone = login(browser, server["base"], PHONE)
    phone.goto(server["base"] + "/files")
    no_sideways_scroll(phone)
    shot(phone, "files-390")


def test_training_form_has_the_hpc_essentials(server, browser) -> None:  # type: ignore[no-untyped-def]
    page = login(browser, server["base"], WIDE)
    page.goto(server["base"] + "/apps/training")
    expect(page.locator("#in-name")).to_have_value(re.compile(r"-\d{4}-\d{6}$"))  # unique by default
    expect(page.locator("#field-time_limit_min")).to_be_visible()
    expect(page.locator("#in-scheduler")).to_have_value("local")
    # The local scheduler has neither queues nor arrays: not offered, rather than refused later.
    expect(page.locator("#field-queue")).to_have_count(0)
    expect(page.locator("#field-array_size")).to_have_count(0)
    page.select_option("#in-scheduler", "slurm")
    expect(page.locator("#field-queue")).to_be_visible()
    expect(page.locator("#field-array_size")).to_be_visible()
    expect(page.locator("#field-queue .flabel")).to_have_text("Queue (partition)")
    shot(page, "training-slurm-1366")
    # A web user reads about form fields, never about CLI flags.
    page.select_option("#in-scheduler", "local")
    page.fill("#in-workdir", "")
    page.fill("#in-command", "")
    page.click("button[data-action=submit]")
    errors = page.locator(".error").all_inner_texts()
    assert errors and not any("--" in e for e in errors), errors
    shot(page, "training-errors-1366")
    phone = login(browser, server["base"], PHONE)
    phone.goto(server["base"] + "/apps/training")
    no_sideways_scroll(phone)
    shot(phone, "training-390")


def test_log_viewer_ranks_search_download_and_clone(server, browser) -> None:  # type: ignore[no-untyped-def]
    p = server["platform"]
    values = {"framework": "pytorch", "mode": "ddp", "instances": 2, "resource_spec": "cpu-1",
              "name": "usability-ranks", "workdir": server["work"],
              "command": "python -c 'import os; print(\"hello from rank\", os.environ[\"RANK\"])'"}
    job = p.jobs.submit_prepared(p.jobs.prepare(p.jobs.request_from_values(values, "alice", source="portal"))).id
    page = login(browser, server["base"], WIDE)
    page.goto(f"{server['base']}/jobs/{job}")
    expect(page.locator("#jobstate")).to_have_text("succeeded", timeout=90_000)
    expect(page.locator("#log")).to_contain_text("hello from rank")
    page.select_option("#log-rank", "worker/1")
    expect(page.locator("#log")).to_have_text(re.compile(r"hello from rank 1\s*$"))
    page.select_option("#log-rank", "")
    page.fill("#log-search", "rank 0")
    expect(page.locator("#log-matches")).to_contain_text("matching line")
    expect(page.locator("#log")).not_to_contain_text("starting")
    page.uncheck("#log-wrap")
    expect(page.locator("#log")).to_have_class(re.compile("nowrap"))
    shot(page, "log-viewer-1366")
    page.select_option("#log-rank", "worker/0")
    with page.expect_download() as dl:
        page.click("#log-download")
    assert "hello from rank 0" in Path(dl.value.path()).read_text()
    page.click("#btn-clone")
    expect(page.locator("#in-command")).to_have_value(values["command"])
    expect(page.locator("#in-mode")).to_have_value("ddp")
    expect(page.locator("#in-workdir")).to_have_value(server["work"])
    shot(page, "clone-1366")


def test_api_reference_and_one_place_for_tokens(server, browser) -> None:  # type: ignore[no-untyped-def]
    page = login(browser, server["base"], WIDE)
    hosts: set[str] = set()
    page.on("request", lambda r: hosts.add(r.url.split("/")[2]))
    page.click("#app-api")
    expect(page.locator("#swagger .info .title")).to_contain_text("hpcai", timeout=30_000)
    expect(page.locator("#swagger .opblock").first).to_be_visible()
    assert hosts == {server["base"].split("/")[2]}, f"the API page loaded from elsewhere: {hosts}"  # no CDN
    shot(page, "apidocs-1366")
    page.goto(server["base"] + "/account")
    expect(page.locator("#tokens h2")).to_have_text("Portal API tokens")
    expect(page.locator("#service-keys-info")).to_contain_text("never the portal itself")
    page.click("#service-keys-link")
    expect(page).to_have_url(re.compile(r"/services/keys$"))


def test_chinese_locale_per_user_and_per_site(server, browser) -> None:  # type: ignore[no-untyped-def]
    page = login(browser, server["base"], WIDE)
    page.goto(server["base"] + "/account")
    page.select_option("#my-locale", "zh-CN")
    page.click("#save-locale")
    expect(page.locator("#nav-jobs")).to_have_text("我的作业")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    page.goto(server["base"] + "/")
    expect(page.locator("#app-training .title")).to_have_text("AI 模型训练")
    page.goto(server["base"] + "/jobs")
    expect(page.locator("h1")).to_have_text("我的作业")
    expect(page.locator("#jobs thead")).to_contain_text("提交时间")
    shot(page, "zh-jobs-1366")
    page.goto(server["base"] + "/experiments")  # a core error in the user's language too
    expect(page.locator(".errorpage h1")).to_have_text("暂时不可用")
    expect(page.locator(".errorpage .message")).to_contain_text("实验跟踪暂时不可用")
    phone = page.context.new_page()
    phone.set_viewport_size(PHONE)
    phone.goto(server["base"] + "/files")
    expect(phone.locator("h1")).to_have_text("文件")
    no_sideways_scroll(phone)
    shot(phone, "zh-files-390")
    # Back to the site's language (English), then the administrator makes the site Chinese.
    page.goto(server["base"] + "/account")
    page.select_option("#my-locale", "")
    page.click("#save-locale")
    expect(page.locator("#nav-jobs")).to_have_text("My jobs")
    admin = login(browser, server["base"], WIDE, "admin", "adminpass1")
    admin.goto(server["base"] + "/admin/settings")
    admin.select_option("#site-locale", "zh-CN")
    admin.click("#save-site-locale")
    expect(admin.locator(".flash")).to_have_text("站点语言已保存。")
    page.goto(server["base"] + "/")
    expect(page.locator("#nav-jobs")).to_have_text("我的作业")  # alice follows the site now
    shot(page, "zh-desktop-1366")
    admin.select_option("#site-locale", "en")
    admin.click("#save-site-locale")
    expect(admin.locator("#nav-jobs")).to_have_text("My jobs")
