"""Experiment management in a real headless Chromium (Debian's, driven by Playwright) against
`hpcai serve` and the session's MLflow server: a TensorFlow job's page offers "View experiment
data" and "Access TensorBoard"; the experiment data table, the comparison charts and TensorBoard
(through the portal's proxy) are opened and photographed into tests/artifacts/."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.config import load_config
from core.platform import Platform
from core.users import chown_tree
from tests.tracking.conftest import REPO_ROOT, free_port, scratch_dir

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
SCRIPT = REPO_ROOT / "tests" / "tracking" / "jobfiles" / "train_sweep.py"
IMAGES = REPO_ROOT / "tests" / "tracking" / "jobfiles" / "images.toml"
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
STEP_MS = 30_000

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect
if not Path(CHROMIUM).exists():
    pytest.skip("Debian chromium is not installed (scripts/setup.sh installs it)", allow_module_level=True)


def api(base: str, token: str, path: str, body: dict[str, Any] | None = None) -> Any:
    req = urllib.request.Request(base + path, method="POST" if body is not None else "GET",
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


@pytest.fixture(scope="module")
def server(mlflow_server: str) -> Iterator[dict[str, Any]]:
    """`hpcai serve` (portal + watcher) on its own data directory, with alice's finished job."""
    data = scratch_dir(f"exp-browser-{uuid.uuid4().hex[:6]}")
    p = Platform(load_config({"HPCAI_DATA_DIR": str(data), "HPCAI_IMAGES": str(IMAGES)}))
    p.accounts.seed_admin("adminpass1")
    p.accounts.create("alice", "alicepass1", full_name="Alice Liddell")
    p.accounts.create("bob", "bobpass12")
    token = p.accounts.create_token("alice", "browser-test")
    work = p.workspace.home("alice") / "tf-sweep"
    work.mkdir(parents=True)
    shutil.copy(SCRIPT, work / "train_sweep.py")
    chown_tree(work, "alice")  # as an upload: the job runs as alice's Unix user and writes logs/ there
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "HPCAI_DB_URL"}
    env.update(HPCAI_DATA_DIR=str(data), HPCAI_MLFLOW_URI=mlflow_server, HPCAI_SECRET_KEY="exp-browser",
               HPCAI_IMAGES=str(IMAGES))
    log = open(data / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--port", str(port)], cwd=REPO_ROOT,
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(base + "/login", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError("hpcai serve did not start:\n" + (data / "serve.log").read_text()) from None
                time.sleep(0.3)
        experiment = f"mnist-sweep-{uuid.uuid4().hex[:6]}"
        job = api(base, token, "/api/v1/jobs", {
            "framework": "tensorflow", "mode": "standalone", "workdir": str(work), "resource_spec": "cpu-1",
            "name": "tf-sweep", "command": f"python train_sweep.py --experiment {experiment} --rates 0.1,0.03,0.01 "
                                           "--tensorboard"})
        deadline = time.monotonic() + 240
        while (state := api(base, token, f"/api/v1/jobs/{job['id']}")["state"]) not in ("succeeded", "failed"):
            assert time.monotonic() < deadline, f"job {job['id']} still {state}"
            time.sleep(0.5)
        assert state == "succeeded", api(base, token, f"/api/v1/jobs/{job['id']}/log")["text"]
        yield {"base": base, "job": job["id"], "experiment": experiment, "platform": p}
    finally:
        for row in p.services.list("admin", all_users=True):
            p.services.stop(row.alias, row.user)
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield b
        b.close()


def login(browser: Any, base: str, user: str, password: str) -> Any:
    ctx = browser.new_context(viewport={"width": 1360, "height": 900})
    ctx.set_default_timeout(STEP_MS)
    page = ctx.new_page()
    page.goto(base + "/")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_selector("#whoami")
    return page


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_experiment_data_compare_and_tensorboard(server: dict[str, Any], browser: Any) -> None:
    base, job = server["base"], server["job"]
    page = login(browser, base, "alice", "alicepass1")
    page.goto(f"{base}/jobs/{job}")
    expect(page.locator("#jobstate")).to_have_text("succeeded")
    expect(page.locator("#link-experiment-data")).to_have_text("View experiment data")
    expect(page.locator("#link-dashboard-tensorboard")).to_have_text("Access TensorBoard")
    shot(page, "exp-01-job-links")

    page.click("#link-experiment-data")
    page.wait_for_url(re.compile(rf".*/jobs/{job}/experiments$"))
    page.wait_for_selector("html[data-exp-ready]")
    expect(page.locator("#runs tbody tr")).to_have_count(3)
    expect(page.locator("#run-count")).to_have_text("Showing 3 matching runs")
    row = page.locator("#runs tbody tr", has_text="lr-0.1")
    expect(row.locator("td.params")).to_contain_text("lr: 0.1")
    expect(row.locator("td.metrics")).to_contain_text("loss: 0.16807")
    expect(row.locator("td >> nth=1")).to_have_text(str(job))
    shot(page, "exp-02-experiment-data")

    with page.expect_download() as dl:
        page.click("#download-csv")
    csv_text = Path(dl.value.path()).read_text()
    assert csv_text.startswith("Job ID,Run ID,Start Time") and csv_text.count("\n") == 4

    page.check("#select-all")
    page.click("#compare")
    page.wait_for_url(re.compile(r".*/experiments/compare\?.*"))
    page.wait_for_selector("html[data-exp-ready]")
    expect(page.locator("svg.chart")).to_have_count(2)
    expect(page.locator("figure[data-metric=loss] polyline")).to_have_count(3)
    expect(page.locator("#legend .legend-item")).to_have_count(3)
    box = page.locator("figure[data-metric=loss] svg").bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 150  # drawn, not collapsed
    shot(page, "exp-03-compare")
    page.click("#only-diff")
    expect(page.locator("#compare-table tr.param th")).to_have_text(["lr"])  # epochs/optimizer are equal

    page.click("nav >> text=Experiments")
    expect(page.locator("#experiments")).to_contain_text(server["experiment"])
    shot(page, "exp-04-experiments")

    # Access TensorBoard: the portal starts a TensorBoard service over the job's directory and
    # opens it through /dockerService/<alias>/ once it runs.
    page.goto(f"{base}/jobs/{job}")
    with page.context.expect_page() as new:
        page.click("#link-dashboard-tensorboard")
    tb = new.value
    tb.wait_for_url(re.compile(r".*/dockerService/tensorboard-alice-[0-9a-f]+/.*"), timeout=120_000)
    expect(tb.locator("body")).to_contain_text("lr-0.1", timeout=60_000)
    expect(tb.locator("body")).to_contain_text("loss", timeout=60_000)
    tb.wait_for_timeout(1500)  # let the charts finish drawing before the picture
    shot(tb, "exp-05-tensorboard")

    # An experiment's runs: search and start-time filter; delete a run (with confirmation).
    page.goto(f"{base}/experiments")
    page.click(f"#experiments a:has-text('{server['experiment']}')")
    page.wait_for_selector("html[data-exp-ready]")
    page.fill("input[name=search]", "metrics.loss < 0.7")
    page.select_option("select[name=since]", "24h")
    page.click("#search-form button[type=submit]")
    page.wait_for_selector("html[data-exp-ready]")
    expect(page.locator("#runs tbody tr")).to_have_count(2)  # 0.7^5 and 0.91^5, not 0.97^5
    page.on("dialog", lambda d: d.accept())
    page.locator("#runs tbody tr", has_text="lr-0.03").locator("input[name=run_ids]").check()
    page.click("#delete-runs")
    expect(page.locator(".flash")).to_contain_text("1 run deleted.")
    expect(page.locator("#runs tbody tr")).to_have_count(1)
    shot(page, "exp-06-experiment-runs")

    bob = login(browser, base, "bob", "bobpass12")
    assert bob.goto(f"{base}/jobs/{job}/experiments").status == 404
    bob.goto(f"{base}/experiments")
    assert server["experiment"] not in bob.content()


def test_runs_table_columns_differences_load_more_and_job_icons(server: dict[str, Any], browser: Any) -> None:
    """F94: the column chooser (kept per user in the browser), "Only show differences" and
    "Load more" (MLflow's page token, one run per page here); F27: My jobs shows the job's links
    as icons. The experiment holds lr-0.1 and lr-0.01 (the test above deleted lr-0.03)."""
    base = server["base"]
    page = login(browser, base, "alice", "alicepass1")
    page.goto(f"{base}/experiments")
    page.click(f"#experiments a:has-text('{server['experiment']}')")
    page.wait_for_selector("html[data-exp-ready]")
    page.goto(page.url.split("?")[0] + "?max_results=1")
    page.wait_for_selector("html[data-exp-ready]")
    rows = page.locator("#runs tbody tr[data-run]")
    expect(rows).to_have_count(1)
    expect(page.locator("#run-count")).to_have_text("Showing 1 matching run")
    page.click("#load-more")
    expect(rows).to_have_count(2)
    expect(page.locator("#run-count")).to_have_text("Showing 2 matching runs")
    expect(page.locator("#load-more")).to_be_hidden()
    expect(rows.nth(0)).to_contain_text("lr-0.01")  # newest first, the loaded page after it
    expect(rows.nth(1)).to_contain_text("lr-0.1")

    page.click("#col-chooser summary")
    menu = page.locator("#col-menu")
    expect(menu.locator("label")).to_contain_text(["Job ID", "Start Time", "Duration", "Run Name", "User", "Source",
                                                   "Version", "Models", "accuracy", "loss", "epochs", "lr",
                                                   "optimizer", "sweep"])
    menu.locator("input[value='params.optimizer']").uncheck()
    menu.locator("input[value='Source']").uncheck()
    expect(page.locator("#runs th[data-col=Source]")).to_be_hidden()
    expect(page.locator("#runs [data-col='params.optimizer']")).to_have_count(2)
    for i in range(2):
        expect(rows.nth(i).locator("[data-col='params.optimizer']")).to_be_hidden()
        expect(rows.nth(i).locator("[data-col='params.lr']")).to_be_visible()
    shot(page, "exp-07-column-chooser")

    # the choice stays (this user's, this experiment's) and applies to rows loaded later too
    page.reload()
    page.wait_for_selector("html[data-exp-ready]")
    page.click("#load-more")
    expect(rows).to_have_count(2)
    expect(page.locator("#runs th[data-col=Source]")).to_be_hidden()
    expect(rows.nth(1).locator("[data-col='params.optimizer']")).to_be_hidden()

    page.check("#runs-only-diff")  # epochs (5) and the sweep tag are the same in both runs; lr is not
    for i in range(2):
        expect(rows.nth(i).locator("[data-col='params.epochs']")).to_be_hidden()
        expect(rows.nth(i).locator("[data-col='tags.sweep']")).to_be_hidden()
        expect(rows.nth(i).locator("[data-col='params.lr']")).to_be_visible()
        expect(rows.nth(i).locator("[data-col='metrics.loss']")).to_be_visible()
    shot(page, "exp-08-only-differences")
    page.uncheck("#runs-only-diff")
    expect(rows.nth(0).locator("[data-col='params.epochs']")).to_be_visible()

    page.goto(f"{base}/jobs")
    tools = page.locator(f"#jobs tr[data-job='{server['job']}'] td.tools")
    expect(tools.locator(".iconbtn")).to_have_count(2)
    expect(tools.locator("[data-link=dashboard-tensorboard]")).to_have_attribute("title", re.compile("^Access TensorBoard"))
    expect(tools.locator("[data-link=experiment-data]")).to_have_attribute("title", re.compile("^View experiment data"))
    tools.locator("[data-link=experiment-data]").hover()
    shot(page, "exp-09-my-jobs-icons")
    tools.locator("[data-link=experiment-data]").click()
    page.wait_for_url(re.compile(rf".*/jobs/{server['job']}/experiments$"))
    expect(page.locator("#runs tbody tr[data-run]")).to_have_count(2)
