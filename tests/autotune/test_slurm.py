"""A distributed study on the real Slurm of tests/services/slurm.sh (issue 7, points 4-6): one
`hpcai submit --autotune-workers 2` becomes ONE Slurm job array of 2 tasks that share a study in
the real PostgreSQL, each trial an MLflow run (real server) nested under the study's run. The
same finished job is then read back through the portal: the API's reports and the job page in
headless Chromium (screenshot in tests/artifacts/).

The objective is real (scikit-learn SGD on the bundled digits, examples/autotune): the median
pruner stops poor learning curves, and a range wider than scikit-learn accepts (l1_ratio up to
1.02) fails the trials that draw above 1, as a user's mistake would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import TERMINAL, portal_server, show, wait_state

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "autotune"
SCRATCH = Path(os.environ.get("HPCAI_TEST_SCRATCH") or REPO / "var" / "test-scratch")
BIN = Path(sys.executable).parent
ARTIFACTS = REPO / "tests" / "artifacts"
WAIT_S = 300  # hang protection for the whole study, not a timing assertion
TRIALS = 20


def _database(pg_url: str) -> tuple[str, str]:
    import psycopg

    name = f"hpcai_tune_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    return f"{pg_url.rsplit('/', 1)[0]}/{name}", name


def _drop(pg_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(pg_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _site(root: Path, slurm_conf: str, db_url: str, mlflow: str) -> dict[str, str]:
    """A user's shell on a Slurm site: its config (this cluster), the PostgreSQL store, MLflow."""
    conf = root / "hpcai.toml"
    text = (REPO / "etc" / "hpcai.toml").read_text()
    conf.write_text(text.replace("[schedulers.slurm]\n", f'[schedulers.slurm]\nslurm_conf = "{slurm_conf}"\n', 1))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HPCAI_", "MLFLOW_"))}
    env.update({"HPCAI_CONFIG": str(conf), "HPCAI_MLFLOW_AUTH_KEY_FILE": os.environ["HPCAI_MLFLOW_AUTH_KEY_FILE"], "HPCAI_DATA_DIR": str(root / "data"), "HPCAI_DB_URL": db_url,
                "HPCAI_TUNE_STORAGE": db_url, "HPCAI_DEFAULT_SCHEDULER": "slurm", "HPCAI_MLFLOW_URI": mlflow,
                "PATH": f"{BIN}:{env.get('PATH', '')}", "PYTHONUNBUFFERED": "1"})
    return env


def _params(project: Path, experiment: str) -> None:
    data = json.loads((EXAMPLES / "params_tpe.json").read_text())
    data["create_study"]["experiment_name"] = experiment
    # wider than scikit-learn accepts (0..1): the trials that draw l1_ratio > 1 fail
    # (a narrow band: TPE never sees a failed trial, so a wide one would draw it there again and again)
    data["parameter_configs"]["l1_ratio"] = {"type": "uniform", "value": {"low": "0.0", "high": "1.02"}}
    (project / "params_slurm.json").write_text(json.dumps(data, indent=2))


@pytest.fixture(scope="module")
def study(pg_url: str, slurm_conf: str, mlflow_server: str) -> Iterator[dict[str, Any]]:
    """The finished 2-worker study on Slurm (submitted once for every test of this module)."""
    root = SCRATCH / f"tune-slurm-{uuid.uuid4().hex[:6]}"
    project = root / "project"
    shutil.copytree(EXAMPLES, project)
    os.chmod(root, 0o755)
    db_url, db_name = _database(pg_url)
    env = _site(root, slurm_conf, db_url, mlflow_server)
    experiment = f"slurm_tpe_{uuid.uuid4().hex[:6]}"
    _params(project, experiment)

    def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "hpcai"), *args], env=env, cwd=project, capture_output=True, text=True,
                              timeout=timeout)

    res = cli("submit", "--json", "--framework", "pytorch", "--resource-spec", "cpu-1", "--workdir", str(project),
              "--autotune", "--autotune-file", "params_slurm.json", "--autotune-workers", "2",
              "--", "python", "sgd_digits.py", "--epochs", "8")
    assert res.returncode == 0, res.stderr
    jid = json.loads(res.stdout)["id"]
    try:
        info = wait_state(cli, jid, TERMINAL, timeout=WAIT_S)
        yield {"cli": cli, "env": env, "id": jid, "info": info, "root": root, "experiment": experiment,
               "mlflow": mlflow_server, "db_url": db_url}
    finally:
        if show(cli, jid)["state"] not in TERMINAL:
            cli("kill", str(jid))
        _drop(pg_url, db_name)
        shutil.rmtree(root, ignore_errors=True)


def _logs(info: dict[str, Any]) -> dict[int, str]:
    """Each array task's output (Slurm names them output.<array job>_<task>.txt)."""
    job_dir, sid = Path(info["job_dir"]), info["scheduler_job_id"]
    return {int(p.stem.rsplit("_", 1)[1]): p.read_text() for p in job_dir.glob(f"output.{sid}_*.txt")}


def test_two_array_tasks_on_slurm_share_one_study(study: dict[str, Any]) -> None:
    info, cli = study["info"], study["cli"]
    logs = _logs(info)
    assert info["state"] == "succeeded", logs
    assert info["scheduler"] == "slurm"
    # One submission, one Slurm job: an array of two tasks (not two jobs).
    assert [j["id"] for j in json.loads(cli("jobs", "--json").stdout)["jobs"]] == [study["id"]]
    assert "#SBATCH --array=0-1" in Path(info["job_dir"], "job.sh").read_text()
    assert sorted(logs) == [0, 1]
    assert "worker 1 of 2" in logs[0] and "worker 2 of 2" in logs[1]
    assert "storage: PostgreSQL schema optuna" in logs[0]
    assert "seed 7 + worker index 1 = 8" in logs[1]
    log = cli("logs", str(study["id"]))  # the job's output is its first task's
    assert log.returncode == 0 and "worker 1 of 2" in log.stdout, log.stderr

    rep = json.loads(cli("tune", "show", str(study["id"]), "--json").stdout)
    counts = rep["counts"]
    # Workers stop at 20 trials; two deciding at the same moment may each start one more.
    assert rep["source"] == "study" and TRIALS <= sum(counts.values()) <= TRIALS + 1, counts
    assert counts.get("PRUNED", 0) >= 1 and counts.get("COMPLETE", 0) >= 1, counts
    assert set(counts) <= {"COMPLETE", "PRUNED", "FAIL"}
    failed = [t for t in rep["trials"] if t["state"] == "FAIL"]
    assert all(t["params"]["l1_ratio"] > 1 and "'l1_ratio' parameter" in t["fail_reason"] for t in failed), failed
    ran = {i: len(re.findall(r"Trial \d+ (finished|pruned|failed with parameters)", text)) for i, text in logs.items()}
    assert all(n >= 1 for n in ran.values()) and sum(ran.values()) == sum(counts.values()), (ran, counts)
    complete = [t for t in rep["trials"] if t["state"] == "COMPLETE"]
    assert rep["best"][0]["values"]["accuracy"] == max(t["values"]["accuracy"] for t in complete) > 0.85

    # The results files, written by both tasks into the one job directory, are whole.
    tune = Path(info["job_dir"], "tune")
    on_disk = json.loads((tune / "results.json").read_text())
    assert on_disk["counts"] == counts
    assert len((tune / "trials.csv").read_text().splitlines()) == 1 + sum(counts.values())
    for plot in ("optimization_history", "param_importances", "intermediate_values"):
        html = (tune / f"{plot}.html").read_text()
        assert html.rstrip().endswith("</html>") and 'src="plotly.min.js"' in html
    assert not [p.name for p in tune.iterdir() if p.name.startswith((".plots-", ".results", ".trials"))]  # none half-written

    # Every trial is an MLflow run nested under the one study run, from both workers.
    from mlflow.tracking import MlflowClient

    client = MlflowClient(study["mlflow"])
    exp = client.get_experiment_by_name(study["experiment"])
    runs = client.search_runs([exp.experiment_id], max_results=200)
    parents = [r for r in runs if r.data.tags.get("hpcai.kind") == "study"]
    trials = [r for r in runs if r.data.tags.get("hpcai.kind") == "trial"]
    assert len(parents) == 1 and parents[0].info.run_name == rep["study"]
    assert len(trials) == sum(counts.values())
    assert {r.data.tags["mlflow.parentRunId"] for r in trials} == {parents[0].info.run_id}
    assert {r.data.tags["hpcai.worker"] for r in trials} == {"0", "1"}
    by_number = {t["number"]: t for t in rep["trials"]}
    for r in trials:
        t = by_number[int(r.data.tags["optuna.trial"])]
        assert r.data.tags["optuna.state"] == t["state"] and r.data.params["loss"] == t["params"]["loss"]
        if t["state"] == "COMPLETE":
            assert r.data.metrics["accuracy"] == pytest.approx(t["values"]["accuracy"])


# --- the same results in the portal ---------------------------------------------------------------

@pytest.fixture(scope="module")
def portal(study: dict[str, Any]) -> Iterator[dict[str, str]]:
    """`hpcai serve` on the site of the study, with an administrator (the job is root's)."""
    from core.config import load_config
    from core.platform import Platform

    env = study["env"]
    p = Platform(load_config(env))
    p.accounts.seed_admin("adminpass1")
    token = p.accounts.create_token("admin", "tune-test")
    with portal_server(env, study["root"] / "serve.log", REPO) as base:
        yield {"base": base, "token": token}


def _get(portal: dict[str, str], path: str) -> tuple[int, Any]:
    req = urllib.request.Request(portal["base"] + path, headers={"Authorization": f"Bearer {portal['token']}"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_api_serves_the_study_as_a_report_of_the_job(study: dict[str, Any], portal: dict[str, str]) -> None:
    jid = study["id"]
    status, reports = _get(portal, f"/api/v1/jobs/{jid}/reports")
    assert status == 200 and [r["option"] for r in reports] == ["autotune"], reports
    rep = reports[0]["report"]
    assert rep["best"] and rep["counts"].get("PRUNED")
    kinds = [(b["kind"], b["title"]) for b in rep["view"]]
    assert kinds == [("fields", "Study"), ("table", "Best trial"), ("table", "Trials"), ("pages", "Plots")]
    pages = [f["path"] for f in rep["view"][3]["files"]]
    assert pages == ["tune/optimization_history.html", "tune/param_importances.html",
                     "tune/intermediate_values.html"]
    status, one = _get(portal, f"/api/v1/jobs/{jid}/reports/autotune")
    assert status == 200 and one["study"] == rep["study"]
    status, err = _get(portal, f"/api/v1/jobs/{jid}/reports/no-such-option")
    assert status == 400 and err["field"] == "option" and "unknown option" in err["error"]


playwright_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (scripts/setup.sh)")
def test_the_job_page_shows_the_study_and_its_plots_offline(study: dict[str, Any], portal: dict[str, str]) -> None:
    base, jid = portal["base"], study["id"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            ctx = browser.new_context(viewport={"width": 1360, "height": 900})
            ctx.set_default_timeout(30_000)
            outside: list[str] = []  # anything the page or its frames ask of another host
            ctx.on("request", lambda r: outside.append(r.url) if not r.url.startswith((base, "data:", "blob:",
                                                                                        "about:")) else None)
            page = ctx.new_page()
            page.goto(base + "/")
            page.fill("input[name=username]", "admin")
            page.fill("input[name=password]", "adminpass1")
            page.click("button[type=submit]")
            page.wait_for_selector("#whoami")
            page.goto(f"{base}/jobs/{jid}")
            section = page.locator("#report-autotune")
            playwright_api.expect(section.locator("h2")).to_have_text("Auto-tuning")
            playwright_api.expect(section.locator(".repblock-table").first.locator("h3")).to_have_text("Best trial")
            states = section.locator(".repblock-table").nth(1).locator("tbody tr td:nth-child(2)").all_inner_texts()
            assert {"COMPLETE", "PRUNED"} <= set(states) and len(states) >= TRIALS
            frames = section.locator("iframe")
            assert frames.count() == 3
            for i, drawn in enumerate((".scatterlayer .trace", ".barlayer .trace", ".scatterlayer .trace")):
                frames.nth(i).scroll_into_view_if_needed()
                inner = frames.nth(i).content_frame
                inner.locator(drawn).first.wait_for()  # plotly.js drew the data
            page.set_viewport_size({"width": 1360, "height": 3200})  # frames off screen are not painted
            page.evaluate("window.scrollTo(0, 0)")
            section.screenshot(path=str(ARTIFACTS / "autotune-job-report.png"))
            page.screenshot(path=str(ARTIFACTS / "autotune-job-page.png"), full_page=True)
            assert outside == []  # no CDN: the plots render offline
        finally:
            browser.close()
