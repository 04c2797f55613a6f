"""The portal in a real headless Chromium (Debian's), driven by Playwright, against `hpcai serve`.

Log in, submit a 2-rank DDP job through the generated form, watch its log stream, kill another
job, and check that another user cannot open it. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.chromium import ARTIFACTS, chromium, expect, logged_in
from tests.helpers import portal_server
from tests.webportal.conftest import EXAMPLE, give_to_account, install_extra_field, make_platform, scratch

pytestmark = [pytest.mark.browser, pytest.mark.integration]
REPO = Path(__file__).resolve().parents[2]
TIMEOUT_MS = 90_000
STEP_MS = 20_000



@pytest.fixture(scope="module")
def server() -> Iterator[dict[str, str]]:
    data = scratch("browser")
    p = make_platform(data)
    p.accounts.seed_admin("adminpass1")
    p.accounts.create("alice", "alicepass1", full_name="Alice Liddell")
    p.accounts.create("bob", "bobpass12")
    work = p.workspace.home("alice") / "pytorch-ddp"
    work.mkdir()
    shutil.copy(EXAMPLE, work / "ddp_train.py")
    give_to_account(p, "alice", work)  # the job runs as alice's Unix user and writes there
    token = p.accounts.create_token("alice", "browser-test")
    site = install_extra_field(data / "site-packages")  # a third-party plugin, as pip would install it
    env = dict(os.environ, HPCAI_DATA_DIR=str(data), HPCAI_PLUGINS_ENABLE="extra_field",
               PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    with portal_server(env, data / "serve.log", REPO) as base:
        yield {"base": base, "work": str(work), "token": token, "data": str(data)}


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as b:
        yield b


def login(browser, base: str, user: str, password: str):  # type: ignore[no-untyped-def]
    return logged_in(browser, base, user, password, timeout_ms=STEP_MS, path="/")


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_submit_ddp_watch_log_kill_and_isolation(server, browser) -> None:  # type: ignore[no-untyped-def]
    base = server["base"]
    page = login(browser, base, "alice", "alicepass1")
    assert page.locator("#app-training").is_visible()
    shot(page, "01-desktop")

    page.click("#app-training")
    page.wait_for_selector("html[data-ready] #trainform")
    for select, value in (("#in-framework", "pytorch"), ("#in-mode", "standalone")):
        if page.input_value(select) != value:  # other framework plugins may come first
            with page.expect_navigation():  # the form is redrawn from the new choice's schema
                page.select_option(select, value)
            page.wait_for_selector("html[data-ready] #trainform")
    # Changing the mode re-renders the form from the DDP schema: instances + a spec per instance.
    assert not page.locator("#field-instances").count()
    with page.expect_navigation():
        page.select_option("#in-mode", "ddp")
    page.wait_for_selector("html[data-ready] #field-instances")
    assert re.fullmatch(r"pytorch-\d{4}-\d{6}", page.input_value("#in-name"))  # the framework's name, made unique
    # The plugin's field follows its visible-if rule in the page (no round trip).
    expect(page.locator("#field-experiment_tag")).to_be_hidden()
    page.check("#in-create_exec_dir")
    expect(page.locator("#field-experiment_tag")).to_be_visible()
    page.uncheck("#in-create_exec_dir")
    expect(page.locator("#field-experiment_tag")).to_be_hidden()
    # Field errors next to the fields.
    page.fill("#in-command", "")
    page.click("#btn-ok")
    page.wait_for_selector("html[data-ready] #error-command")
    assert page.locator("#error-workdir").is_visible()
    shot(page, "02-training-errors")

    # The remote directory picker, limited to the user's roots.
    page.click("[data-browse=in-workdir]")
    page.click(".picker .entry:has-text('pytorch-ddp')")
    expect(page.locator(".picker .crumb .mono")).to_have_text(re.compile(r"/pytorch-ddp$"))
    page.click(".picker button:has-text('Select this directory')")
    assert page.input_value("#in-workdir") == server["work"]
    page.fill("#in-command", "python ddp_train.py --steps 30")
    page.fill("#in-instances", "2")
    page.select_option("#in-resource_spec", "cpu-1")
    page.fill("#in-env", "GREETING=<i>hi</i>")
    shot(page, "03-training-form")
    page.click("#btn-ok")
    page.wait_for_url(re.compile(r".*/jobs\?new=\d+"))
    shot(page, "04-my-jobs")
    job_id = int(page.url.split("new=")[1])

    page.click(f"tr[data-job='{job_id}'] td a >> nth=0")
    page.wait_for_selector("html[data-ready] #log")
    # The log follows the job as it grows (SSE) until the watcher records the end.
    expect(page.locator("#log")).to_contain_text("rank 1/2 step", timeout=TIMEOUT_MS)
    expect(page.locator("#jobstate")).to_have_text("succeeded", timeout=TIMEOUT_MS)
    page.wait_for_selector("#btn-delete")  # redrawn once the job ended: summary and actions
    expect(page.locator("#log")).to_contain_text("rank 0/2 step 29", timeout=TIMEOUT_MS)
    expect(page.locator("#log")).to_contain_text("rank 1/2 step 29", timeout=TIMEOUT_MS)
    expect(page.locator("#jobstate")).to_have_text("succeeded")
    shot(page, "05-job-detail")

    # Another job, killed from its page (with confirmation).
    import json
    import urllib.request as rq

    req = rq.Request(base + "/api/v1/jobs", method="POST", data=json.dumps({
        "framework": "pytorch", "mode": "standalone", "workdir": server["work"], "name": "<b>sleeper</b>",
        "command": "echo '<script>document.title=\"pwned\"</script>'; sleep 600", "resource_spec": "cpu-1"}).encode(),
        headers={"Authorization": "Bearer " + server["token"], "Content-Type": "application/json"})
    other = json.loads(rq.urlopen(req, timeout=30).read())["id"]
    page.goto(f"{base}/jobs/{other}")
    page.wait_for_selector("html[data-ready]")
    expect(page.locator("#log")).to_contain_text("<script>", timeout=TIMEOUT_MS)
    assert page.title() != "pwned" and page.text_content("#jobname") == "<b>sleeper</b>"
    page.on("dialog", lambda d: d.accept())
    page.click("#btn-kill")
    page.wait_for_selector(".flash")
    for _ in range(60):
        if page.text_content("#jobstate").strip() == "cancelled":
            break
        time.sleep(1)
        page.reload()
    assert page.text_content("#jobstate").strip() == "cancelled"
    shot(page, "06-job-killed")

    # Bob cannot open Alice's job; he gets the same page as for a job that does not exist.
    bob = login(browser, base, "bob", "bobpass12")
    resp = bob.goto(f"{base}/jobs/{other}")
    assert resp.status == 404
    shot(bob, "07-other-user-404")
    bob.goto(f"{base}/jobs")
    assert "sleeper" not in bob.content()

    admin = login(browser, base, "admin", "adminpass1")
    admin.goto(f"{base}/jobs?all=1")
    assert "sleeper" in admin.text_content("#jobs")
    admin.goto(f"{base}/admin/specs")
    shot(admin, "08-admin-specs")
    admin.goto(f"{base}/admin/plugins")
    shot(admin, "09-admin-plugins")


def test_project_upload_folder_zip_and_site_settings(server, browser, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Local upload of a whole folder and of a zip archive becomes the project directory of a job;
    a zip-slip archive is refused next to the field; the classification switch shows the field."""
    import zipfile

    base = server["base"]
    folder = tmp_path / "folderproj"
    (folder / "pkg").mkdir(parents=True)
    (folder / "train.py").write_text("from pkg.msg import TEXT\nprint(TEXT)\n")
    (folder / "pkg" / "__init__.py").write_text("")
    (folder / "pkg" / "msg.py").write_text("TEXT = 'hello from an uploaded folder'\n")
    good_zip, evil_zip = tmp_path / "zipproj.zip", tmp_path / "evil.zip"
    with zipfile.ZipFile(good_zip, "w") as zf:
        zf.writestr("zipproj/train.py", "print('hello from a zip')\n")
    with zipfile.ZipFile(evil_zip, "w") as zf:
        zf.writestr("../../escaped.py", "print('no')\n")

    page = login(browser, base, "alice", "alicepass1")
    page.goto(base + "/apps/training?framework=pytorch&mode=standalone")
    page.wait_for_selector("html[data-ready] #trainform")
    assert not page.locator("#field-classification").count()  # F1: off by default

    page.set_input_files("[data-upload-zip=in-workdir]", str(evil_zip))
    expect(page.locator("#field-workdir .error")).to_contain_text("not a plain relative path")
    shot(page, "10-training-upload-refused")

    page.set_input_files("[data-upload-zip=in-workdir]", str(good_zip))
    expect(page.locator("#upload-in-workdir")).to_contain_text("1 item(s) uploaded")
    assert page.input_value("#in-workdir").endswith("/workspace/alice/zipproj")
    expect(page.locator("#field-workdir .error")).to_have_count(0)

    page.set_input_files("[data-upload-folder=in-workdir]", str(folder))
    expect(page.locator("#upload-in-workdir")).to_contain_text("3 item(s) uploaded")
    assert page.input_value("#in-workdir").endswith("/workspace/alice/folderproj")
    page.fill("#in-command", "python train.py")
    page.select_option("#in-resource_spec", "cpu-1")
    shot(page, "11-training-upload-folder")
    page.click("#btn-ok")
    page.wait_for_url(re.compile(r".*/jobs\?new=\d+"))  # F112: My jobs opens after submission
    job_id = int(page.url.split("new=")[1])
    assert page.locator(f"tr.new[data-job='{job_id}']").count() == 1
    page.goto(f"{base}/jobs/{job_id}")
    expect(page.locator("#log")).to_contain_text("hello from an uploaded folder", timeout=TIMEOUT_MS)

    # F1: the administrator turns classification on; the field appears in the form, the list
    # and the job page; off again, it is gone everywhere.
    admin = login(browser, base, "admin", "adminpass1")
    admin.goto(base + "/admin/settings")
    admin.on("dialog", lambda d: d.accept())
    admin.click("#toggle-classification")
    expect(admin.locator("#classification-state")).to_have_text("on")
    shot(admin, "12-admin-settings")
    page.goto(base + "/apps/training?framework=pytorch&mode=standalone")
    page.wait_for_selector("html[data-ready] #field-classification")
    shot(page, "13-training-classification")
    page.goto(base + "/jobs")
    expect(page.locator("#col-classification")).to_be_visible()
    admin.click("#toggle-classification")
    expect(admin.locator("#classification-state")).to_have_text("off")
    page.goto(base + "/jobs")
    expect(page.locator("#col-classification")).to_have_count(0)

    # Too many wrong passwords: a clear 429 page (the count is per account and per address).
    ctx = browser.new_context()
    ctx.set_default_timeout(STEP_MS)
    guess = ctx.new_page()
    for _ in range(5):
        guess.goto(base + "/login")
        guess.fill("input[name=username]", "bob")
        guess.fill("input[name=password]", "not-his-password")
        with guess.expect_response(re.compile(r".*/login$")) as resp:
            guess.click("button[type=submit]")
    assert resp.value.status == 429 and int(resp.value.headers["retry-after"]) > 0
    expect(guess.locator("#login-error")).to_contain_text("Too many failed log-ins")
    shot(guess, "14-login-locked")
    ctx.close()


def test_service_buttons_follow_the_lifecycle_with_confirmations(server, browser) -> None:  # type: ignore[no-untyped-def]
    """F248-F250 in the browser: only the allowed buttons, each asks the product's question; the
    create form of a GPU-only type (F230) offers GPU specs only and says so."""
    import json
    import urllib.request as rq

    base = server["base"]
    logs = Path(server["work"]) / "tb-logs"
    logs.mkdir(exist_ok=True)
    req = rq.Request(base + "/api/v1/services", method="POST", data=json.dumps({
        "name": "board", "type": "tensorboard", "resource_spec": "cpu-1", "logdir": str(logs),
        "start": False}).encode(),
        headers={"Authorization": "Bearer " + server["token"], "Content-Type": "application/json"})
    alias = json.loads(rq.urlopen(req, timeout=30).read())["alias"]
    page = login(browser, base, "alice", "alicepass1")
    asked: list[str] = []
    page.on("dialog", lambda d: (asked.append(d.message), d.accept()))
    page.goto(f"{base}/services/{alias}")
    page.wait_for_selector("html[data-ready]")
    expect(page.locator("#btn-start")).to_be_visible()
    expect(page.locator("#btn-stop")).to_have_count(0)
    expect(page.locator("#btn-restart")).to_have_count(0)
    page.click("#btn-start")
    page.wait_for_selector(".flash")
    for _ in range(60):  # F244: a state change shows after a refresh
        if page.text_content("#state").strip() == "running":
            break
        time.sleep(1)
        page.reload()
    assert page.text_content("#state").strip() == "running"
    expect(page.locator("#btn-start")).to_have_count(0)
    expect(page.locator("#btn-restart")).to_be_visible()
    expect(page.locator("#access")).to_be_visible()
    assert page.text_content("#container-port").split()[0].isdigit()
    shot(page, "14-service-running")
    page.click("#btn-stop")
    page.wait_for_selector(".flash")
    expect(page.locator("#state")).to_have_text("stopped")
    expect(page.locator("#btn-start")).to_be_visible()
    assert asked == ["是否启动此服务 / Start this service?", "是否停止此服务 / Stop this service?"]

    # F226: the My services toolbar acts on the picked row, only with what the core allows it now
    page.goto(f"{base}/services")
    page.wait_for_selector("html[data-ready]")
    expect(page.locator("#tb-start")).to_be_disabled()
    page.check(f'input[name="pick"][value="{alias}"]')
    expect(page.locator("#tb-start")).to_be_enabled()
    expect(page.locator("#tb-modify")).to_be_enabled()
    expect(page.locator("#tb-stop")).to_be_disabled()
    expect(page.locator("#tb-restart")).to_be_disabled()
    page.click("#tb-more summary")
    expect(page.locator("#tb-delete")).to_be_enabled()
    shot(page, "16-services-toolbar")
    page.click("#tb-start")
    page.wait_for_selector(".flash")
    assert page.url.endswith("/services") and asked[-1] == "是否启动此服务 / Start this service?"
    page.check(f'input[name="pick"][value="{alias}"]')
    expect(page.locator("#tb-stop")).to_be_enabled()
    page.click("#tb-stop")
    page.wait_for_selector(".flash")
    page.goto(f"{base}/services/{alias}/modify")
    page.wait_for_selector("html[data-ready] #modify-form")
    expect(page.locator("#fixed")).to_contain_text("board")
    expect(page.locator("#in-name")).to_have_count(0)

    page.goto(f"{base}/services/new?type=torchserve")
    page.wait_for_selector("html[data-ready]")
    picker = page.locator("#field-resource_spec")
    expect(picker).to_contain_text("GPU resource specs only (PyTorch Serving (TorchServe))")
    assert [o for o in page.locator("#in-resource_spec option").all_text_contents() if "cpu-" in o] == []
    expect(picker.locator("[data-speckind=cpu]")).to_have_count(0)
    shot(page, "15-service-form-gpu-only")


def test_autotune_switch_reveals_two_tabs(server, browser) -> None:  # type: ignore[no-untyped-def]
    """F115: the auto-tuning switch shows "Set parameters" and "Parameter file" as tabs (drawn from
    the option schema's x-tab hints); a job submitted from the file tab goes in."""
    import json
    import urllib.request as rq

    base = server["base"]
    project = Path(server["work"]).parent / "tune"
    shutil.copytree(REPO / "examples" / "autotune", project)
    page = login(browser, base, "alice", "alicepass1")
    page.goto(f"{base}/apps/training?framework=pytorch&mode=standalone")
    page.wait_for_selector("html[data-ready] #trainform")
    group = page.locator("#tabs-autotune-source")
    expect(group).to_be_hidden()
    page.check("#in-autotune")
    expect(group).to_be_visible()
    expect(group.locator("[role=tab]")).to_have_text(["Set parameters", "Parameter file"])
    expect(group.locator("[role=tab][aria-selected=true]")).to_have_text("Set parameters")
    expect(page.locator("#field-autotune_experiment")).to_be_visible()
    expect(page.locator("#field-autotune_file")).to_be_hidden()
    expect(page.locator("#field-autotune_workers")).to_be_visible()  # outside the tabs: both ways use it
    page.fill("#in-autotune_experiment", "typed_here")
    group.locator("[role=tab]", has_text="Set parameters").scroll_into_view_if_needed()
    shot(page, "07-autotune-set-parameters")

    group.locator("[role=tab]", has_text="Parameter file").click()
    expect(page.locator("#field-autotune_file")).to_be_visible()
    expect(page.locator("#field-autotune_experiment")).to_be_hidden()
    page.set_input_files("[data-load-into=in-autotune_file]", str(project / "params_tpe.json"))
    expect(page.locator("#in-autotune_file")).to_have_value(re.compile('"experiment_name": "digits_tpe"'))
    page.fill("#in-workdir", str(project))
    page.fill("#in-command", "python sgd_digits.py")
    page.select_option("#in-resource_spec", "cpu-1")
    group.locator("[role=tab]", has_text="Parameter file").scroll_into_view_if_needed()
    shot(page, "08-autotune-parameter-file")
    page.click("#btn-ok")
    page.wait_for_url(re.compile(r".*/jobs\?new=\d+"))
    job_id = int(page.url.split("new=")[1])
    auth = {"Authorization": "Bearer " + server["token"], "Content-Type": "application/json"}
    job = json.loads(rq.urlopen(rq.Request(f"{base}/api/v1/jobs/{job_id}", headers=auth), timeout=30).read())
    # the file's name: what was typed on the other tab is dropped, not laid over the file
    assert job["plan"]["options"]["autotune_study"]["experiment_name"] == "digits_tpe"
    rq.urlopen(rq.Request(f"{base}/api/v1/jobs/{job_id}/kill", method="POST", data=b"{}", headers=auth), timeout=30)
