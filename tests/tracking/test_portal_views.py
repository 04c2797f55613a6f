"""Experiment management in the portal (Flask test client) on the session's real MLflow server:
runs logged by libaiflow from real jobs on the local scheduler, a job's experiment data, the
experiments list, run comparison charts, CSV, per-user/group visibility, and the job links
plugins contribute (F113), with "Access TensorBoard" opening a real TensorBoard on the job's
event files through the portal's proxy."""

from __future__ import annotations

import csv
import io
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.config import load_config
from core.platform import Platform
from tests.tracking import rest
from tests.tracking.conftest import REPO_ROOT, scratch_dir
from tests.webportal.conftest import give_to_account, login

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SCRIPT = REPO_ROOT / "tests" / "tracking" / "jobfiles" / "train_sweep.py"
IMAGES = REPO_ROOT / "tests" / "tracking" / "jobfiles" / "images.toml"
TAG = uuid.uuid4().hex[:6]
ALICE_EXP, BOB_EXP = f"alice-sweep-{TAG}", f"bob-sweep-{TAG}"


@pytest.fixture(scope="module")
def platform(mlflow_server: str) -> Iterator[Platform]:
    data = scratch_dir(f"portal-views-{TAG}")
    with pytest.MonkeyPatch.context() as mp:
        # os.environ too: the tracking plugin and the job read it, as under `hpcai serve`
        mp.setenv("HPCAI_DATA_DIR", str(data))
        mp.setenv("HPCAI_MLFLOW_URI", mlflow_server)
        mp.setenv("HPCAI_IMAGES", str(IMAGES))
        mp.delenv("HPCAI_DB_URL", raising=False)
        p = Platform(load_config())
        p.accounts.seed_admin("adminpass1")
        p.accounts.create("alice", "alicepass1", groups=["team"])
        p.accounts.create("bob", "bobpass12")
        p.accounts.create("carol", "carolpass1", groups=["team"])
        yield p
        for row in p.services.list("admin", all_users=True):
            p.services.stop(row.alias, row.user)


@pytest.fixture(scope="module")
def app(platform: Platform) -> Any:
    from portal import create_app

    return create_app(platform, settings={"TESTING": True})


def client(app: Any, name: str, password: str) -> Any:
    c = app.test_client()
    c.csrf = login(c, name, password)
    return c


@pytest.fixture(scope="module")
def users(app: Any) -> dict[str, Any]:
    return {"alice": client(app, "alice", "alicepass1"), "bob": client(app, "bob", "bobpass12"),
            "carol": client(app, "carol", "carolpass1"), "admin": client(app, "admin", "adminpass1")}


def submit(platform: Platform, c: Any, who: str, framework: str, args: str) -> int:
    work = platform.workspace.home(who) / f"{framework}-sweep"
    work.mkdir(parents=True, exist_ok=True)
    shutil.copy(SCRIPT, work / "train_sweep.py")
    give_to_account(platform, who, work)  # the job runs as the account's Unix user
    r = c.post("/api/v1/jobs", headers={"X-CSRF-Token": c.csrf},
               json={"framework": framework, "mode": "standalone", "resource_spec": "cpu-1",
                     "workdir": str(work), "name": f"{framework}-sweep", "command": f"python train_sweep.py {args}"})
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def wait_job(platform: Platform, job_id: int, who: str, timeout: float = 240) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        platform.jobs.refresh()
        row = platform.jobs.get(job_id, who)
        if row.state in ("succeeded", "failed", "cancelled"):
            log = Path(row.stdout_path).read_text(errors="replace")[-3000:] if row.stdout_path else ""
            assert row.state == "succeeded", f"job {job_id} {row.state}:\n{log}"
            return row
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not end within {timeout} s")


@pytest.fixture(scope="module")
def jobs(platform: Platform, users: dict[str, Any]) -> dict[str, Any]:
    """alice: a TensorFlow job (two runs + TensorBoard event files); bob: a PyTorch job (one run)."""
    tf = submit(platform, users["alice"], "alice", "tensorflow", f"--experiment {ALICE_EXP} --tensorboard")
    pt = submit(platform, users["bob"], "bob", "pytorch", f"--experiment {BOB_EXP} --rates 0.2")
    return {"tf": wait_job(platform, tf, "alice"), "pt": wait_job(platform, pt, "bob")}


def runs_of(c: Any, job_id: int) -> list[dict[str, Any]]:
    r = c.get(f"/api/v1/jobs/{job_id}/runs")
    assert r.status_code == 200, r.get_json()
    return r.get_json()["runs"]


def experiment_id(c: Any, name: str) -> str | None:
    return next((e["experiment_id"] for e in c.get("/api/v1/experiments").get_json() if e["name"] == name), None)


def test_job_page_links(users: dict[str, Any], jobs: dict[str, Any]) -> None:
    alice, bob = users["alice"], users["bob"]
    page = alice.get(f"/jobs/{jobs['tf'].id}").get_data(as_text=True)
    assert 'id="link-dashboard-tensorboard"' in page and "Access TensorBoard" in page
    assert f'href="/jobs/{jobs["tf"].id}/experiments"' in page and "View experiment data" in page
    page = bob.get(f"/jobs/{jobs['pt'].id}").get_data(as_text=True)
    assert "View experiment data" in page and "Access TensorBoard" not in page  # PyTorch declares no dashboard
    links = {x["id"]: x for x in alice.get(f"/api/v1/jobs/{jobs['tf'].id}/links").get_json()}
    assert links["dashboard-tensorboard"]["service"] == "tensorboard" and links["dashboard-tensorboard"]["href"] == ""
    assert links["experiment-data"]["href"] == f"/jobs/{jobs['tf'].id}/experiments"
    assert bob.get(f"/api/v1/jobs/{jobs['tf'].id}/links").status_code == 404


def test_my_jobs_list_shows_the_links_as_icons(users: dict[str, Any], jobs: dict[str, Any]) -> None:
    """F27: each row of My jobs offers its job's links (the same hook as the job page) as icons."""
    def tools(html: str, job_id: int) -> str:
        row = html.split(f'data-job="{job_id}"')[1].split("</tr>")[0]
        return row.split('class="tools"')[1]

    tf, pt = jobs["tf"].id, jobs["pt"].id
    cell = tools(users["alice"].get("/jobs").get_data(as_text=True), tf)
    assert re.search(r'<button type="submit" class="iconbtn" data-link="dashboard-tensorboard" '
                     r'title="Access TensorBoard[^"]*" aria-label="Access TensorBoard">\s*<svg', cell)
    assert f'action="/jobs/{tf}/dashboards/tensorboard"' in cell
    assert re.search(rf'<a class="iconbtn" data-link="experiment-data" href="/jobs/{tf}/experiments" '
                     r'title="View experiment data[^"]*"', cell)
    cell = tools(users["bob"].get("/jobs").get_data(as_text=True), pt)
    assert 'data-link="experiment-data"' in cell and "dashboard" not in cell  # PyTorch names no dashboard
    # an admin listing all users' jobs gets the experiment link but not alice's dashboard (hers to open)
    cell = tools(users["admin"].get("/jobs?all=1").get_data(as_text=True), tf)
    assert 'data-link="experiment-data"' in cell and 'data-link="dashboard-tensorboard"' not in cell


def test_experiment_data_of_a_job(users: dict[str, Any], jobs: dict[str, Any]) -> None:
    alice, job = users["alice"], jobs["tf"]
    runs = runs_of(alice, job.id)
    assert sorted(r["run_name"] for r in runs) == ["lr-0.03", "lr-0.1"]
    for r in runs:
        assert r["job_id"] == job.id and r["user"] == "alice" and r["status"] == "FINISHED"
        assert r["source"].endswith("train_sweep.py") and r["duration_s"] is not None and r["start_time"]
        assert r["params"] == {"lr": r["run_name"][3:], "epochs": "5", "optimizer": "sgd"}
        assert r["tags"] == {"sweep": "lr"}
        lr = float(r["params"]["lr"])
        assert r["metrics"]["loss"] == pytest.approx((1 - 3 * lr) ** 5)
    page = alice.get(f"/jobs/{job.id}/experiments").get_data(as_text=True)
    for column in ("Job ID", "Start Time", "Duration", "Run Name", "User", "Source", "Version", "Models",
                   "Metrics", "Parameters", "Tags"):
        assert re.search(rf"<th( data-col=\"{column}\")?>{column}</th>", page), column
    assert "lr-0.1" in page and "lr-0.03" in page and "<b>optimizer</b>: sgd" in page
    assert "Showing 2 matching runs" in page


def test_csv_download(users: dict[str, Any], jobs: dict[str, Any]) -> None:
    alice, job = users["alice"], jobs["tf"]
    r = alice.get(f"/jobs/{job.id}/experiments.csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert f'filename="job{job.id}-runs.csv"' in r.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert sorted(x["Run Name"] for x in rows) == ["lr-0.03", "lr-0.1"]
    assert list(rows[0])[:10] == ["Job ID", "Run ID", "Start Time", "Duration (s)", "Run Name", "User", "Source",
                                  "Version", "Status", "Models"]
    for x in rows:
        lr = float(x["params.lr"])
        assert x["Job ID"] == str(job.id) and x["User"] == "alice" and x["tags.sweep"] == "lr"
        assert float(x["metrics.loss"]) == pytest.approx((1 - 3 * lr) ** 5)
        assert float(x["metrics.accuracy"]) == pytest.approx(1 - (1 - 3 * lr) ** 5)
    exp_id = experiment_id(alice, ALICE_EXP)
    api_csv = alice.get(f"/api/v1/experiments/{exp_id}/runs.csv").get_data(as_text=True)
    assert sorted(x["Run ID"] for x in csv.DictReader(io.StringIO(api_csv))) == sorted(x["Run ID"] for x in rows)


def test_experiments_list_search_and_bad_input(users: dict[str, Any], jobs: dict[str, Any]) -> None:
    alice = users["alice"]
    exp_id = experiment_id(alice, ALICE_EXP)
    assert exp_id and experiment_id(alice, BOB_EXP) is None
    page = alice.get("/experiments").get_data(as_text=True)
    assert ALICE_EXP in page and BOB_EXP not in page
    page = alice.get(f"/experiments/{exp_id}").get_data(as_text=True)
    assert "Showing 2 matching runs" in page and "Download CSV" in page
    found = alice.get(f"/api/v1/experiments/{exp_id}/runs", query_string={"search": "metrics.loss < 0.5"}).get_json()
    assert [r["run_name"] for r in found["runs"]] == ["lr-0.1"]  # 0.7^5 = 0.17; 0.91^5 = 0.62
    recent = alice.get(f"/api/v1/experiments/{exp_id}/runs", query_string={"since": "1h"}).get_json()["runs"]
    assert len(recent) == 2  # the start-time filter: both ran within the last hour
    bad = alice.get(f"/api/v1/experiments/{exp_id}/runs", query_string={"since": "1y"})
    assert bad.status_code == 400 and bad.get_json()["field"] == "since"
    bad = alice.get(f"/api/v1/experiments/{exp_id}/runs", query_string={"search": "loss <<< 1"})
    assert bad.status_code == 400 and bad.get_json()["field"] == "search"
    assert alice.get(f"/experiments/{exp_id}", query_string={"search": "loss <<< 1"}).status_code == 400
    bad = alice.get("/api/v1/runs/compare", query_string={"run_ids": "not-a-run"})
    assert bad.status_code == 400 and bad.get_json()["field"] == "run_ids"
    assert alice.get("/api/v1/runs/compare").get_json()["field"] == "run_ids"
    assert alice.get("/api/v1/experiments/999999").status_code == 404


def test_compare_runs_with_curves(users: dict[str, Any], jobs: dict[str, Any]) -> None:
    alice = users["alice"]
    runs = {r["run_name"]: r["run_id"] for r in runs_of(alice, jobs["tf"].id)}
    ids = ",".join(runs[n] for n in ("lr-0.1", "lr-0.03"))
    cmp = alice.get("/api/v1/runs/compare", query_string={"run_ids": ids}).get_json()
    assert set(cmp["metrics"]) == {"loss", "accuracy"}
    curve = cmp["metrics"]["loss"][runs["lr-0.03"]]
    assert [p["step"] for p in curve] == [0, 1, 2, 3, 4]
    assert [p["value"] for p in curve] == pytest.approx([0.91 ** (s + 1) for s in range(5)])
    page = alice.get("/experiments/compare", query_string={"run_ids": ids}).get_data(as_text=True)
    charts = re.findall(r'<svg [^>]*data-metric="(\w+)"', page)
    assert sorted(charts) == ["accuracy", "loss"]
    loss_svg = page[page.index('data-metric="loss"><svg'):]
    loss_svg = loss_svg[:loss_svg.index("</svg>")]
    lines = re.findall(r'<polyline points="([^"]+)"', loss_svg)
    assert len(lines) == 2 and all(len(pts.split()) == 5 for pts in lines)
    assert "<td>0.16807</td>" in page  # the table shows each metric's last value: 0.7^5
    diff = alice.get("/experiments/compare", query_string={"run_ids": ids, "diff": "1"}).get_data(as_text=True)
    assert re.search(r"<tr class=\"param\"><th>lr</th>", diff) and not re.search(r"<th>optimizer</th>", diff)
    svg = alice.get("/api/v1/runs/compare.svg", query_string={"run_ids": ids, "key": "loss"})
    assert svg.mimetype == "image/svg+xml" and svg.get_data(as_text=True).count("<polyline") == 2


def test_visibility_between_users(users: dict[str, Any], jobs: dict[str, Any]) -> None:
    """MLflow has no access control; the platform's API shows each user only what is theirs or
    shared with their group."""
    alice, bob, carol, admin = users["alice"], users["bob"], users["carol"], users["admin"]
    exp_id = experiment_id(alice, ALICE_EXP)
    alice_runs = [r["run_id"] for r in runs_of(alice, jobs["tf"].id)]
    bob_run = runs_of(bob, jobs["pt"].id)[0]["run_id"]
    assert experiment_id(bob, ALICE_EXP) is None and experiment_id(bob, BOB_EXP)
    assert experiment_id(admin, ALICE_EXP) and experiment_id(admin, BOB_EXP)  # admins see everything
    for c in (bob, carol):
        assert c.get(f"/api/v1/jobs/{jobs['tf'].id}/runs").status_code == 404
        assert c.get(f"/jobs/{jobs['tf'].id}/experiments").status_code == 404
        assert c.get(f"/jobs/{jobs['tf'].id}/experiments.csv").status_code == 404
        assert c.get(f"/api/v1/experiments/{exp_id}/runs").status_code == 404
        assert c.get(f"/experiments/{exp_id}").status_code == 404
        assert c.get("/api/v1/runs/compare", query_string={"run_ids": alice_runs[0]}).status_code == 404
        assert c.get("/experiments/compare", query_string={"run_ids": alice_runs[0]}).status_code == 404
    both = alice.get("/api/v1/runs/compare", query_string={"run_ids": f"{alice_runs[0]},{bob_run}"})
    assert both.status_code == 404  # one run of someone else spoils the whole comparison

    share = lambda c, group: c.post(f"/api/v1/experiments/{exp_id}/share",  # noqa: E731
                                    json={"group": group}, headers={"X-CSRF-Token": c.csrf})
    assert share(bob, "team").status_code == 404  # not bob's to share (nor to see)
    r = share(alice, "nope")
    assert r.status_code == 400 and r.get_json()["field"] == "group" and "team" in r.get_json()["fix"]
    assert share(alice, "team").get_json()["group"] == "team"
    try:
        assert experiment_id(carol, ALICE_EXP) == exp_id and experiment_id(bob, ALICE_EXP) is None
        assert len(carol.get(f"/api/v1/experiments/{exp_id}/runs").get_json()["runs"]) == 2
        assert carol.get("/api/v1/runs/compare", query_string={"run_ids": ",".join(alice_runs)}).status_code == 200
        assert share(carol, None).status_code == 403  # members see it; only the owner shares
        r = carol.post("/api/v1/runs/delete", json={"run_ids": alice_runs[:1]}, headers={"X-CSRF-Token": carol.csrf})
        assert r.status_code == 403 and r.get_json()["field"] == "run_ids"  # nor deletes its runs
    finally:
        assert share(alice, None).get_json()["group"] is None
    assert experiment_id(carol, ALICE_EXP) is None


def test_openapi_lists_the_endpoints(users: dict[str, Any]) -> None:
    paths = users["alice"].get("/api/v1/openapi.json").get_json()["paths"]
    for path in ("/experiments", "/experiments/{experiment_id}/runs", "/runs/delete", "/experiments/{experiment_id}/runs.csv",
                 "/experiments/{experiment_id}/share", "/jobs/{job_id}/runs", "/jobs/{job_id}/runs.csv",
                 "/runs/compare", "/runs/compare.svg", "/jobs/{job_id}/links", "/jobs/{job_id}/dashboards/{service}"):
        assert path in paths, path


def test_access_tensorboard_opens_the_jobs_event_files(platform: Platform, users: dict[str, Any],
                                                       jobs: dict[str, Any]) -> None:
    alice, bob, job = users["alice"], users["bob"], jobs["tf"]
    assert sorted(p.name for p in (Path(job.plan["workdir"]) / "logs").iterdir()) == ["lr-0.03", "lr-0.1"]
    h = {"X-CSRF-Token": alice.csrf}
    assert bob.post(f"/api/v1/jobs/{job.id}/dashboards/tensorboard",
                    headers={"X-CSRF-Token": bob.csrf}).status_code == 404
    assert alice.post(f"/api/v1/jobs/{jobs['tf'].id}/dashboards/visualdl", headers=h).status_code == 404
    first = alice.post(f"/api/v1/jobs/{job.id}/dashboards/tensorboard", headers=h).get_json()
    alias = first["alias"]
    assert alias.startswith("tensorboard-alice-") and first["url"] == f"/dockerService/{alias}/"
    assert first["service"]["options"]["logdir"] == job.plan["workdir"]
    deadline = time.monotonic() + 120
    while platform.services.view(platform.services.get(alias, "alice")).state != "running":
        assert time.monotonic() < deadline, platform.services.view(platform.services.get(alias, "alice"))
        platform.jobs.refresh()
        time.sleep(0.5)
    again = alice.post(f"/api/v1/jobs/{job.id}/dashboards/tensorboard", headers=h).get_json()
    assert again["alias"] == alias and again["state"] == "running"  # reused, not a second server
    # a browser is handed to the service's own origin (<alias>.svc.localhost) and served there
    alice.allow_subdomain_redirects = True
    runs = alice.get(f"/dockerService/{alias}/data/runs", follow_redirects=True)
    assert runs.request.host.startswith(f"{alias}.svc.localhost")
    assert runs.status_code == 200 and sorted(runs.get_json()) == ["logs/lr-0.03", "logs/lr-0.1"]
    scalars = alice.get(f"/dockerService/{alias}/data/plugin/scalars/scalars", follow_redirects=True,
                        query_string={"run": "logs/lr-0.1", "tag": "loss"}).get_json()
    assert [round(v[2], 6) for v in scalars] == [round(0.7 ** (s + 1), 6) for s in range(5)]
    assert bob.get(f"/dockerService/{alias}/data/runs").status_code == 403
    links = {x["id"]: x for x in alice.get(f"/api/v1/jobs/{job.id}/links").get_json()}
    assert links["dashboard-tensorboard"]["href"] == f"/dockerService/{alias}/"
    page = alice.post(f"/jobs/{job.id}/dashboards/tensorboard", data={"csrf_token": alice.csrf})
    assert page.status_code == 302 and page.headers["Location"].endswith(f"/dockerService/{alias}/")


def test_links_follow_the_installed_plugins(users: dict[str, Any], jobs: dict[str, Any]) -> None:
    """Disable a plugin: its link goes; enable it again: it is back. No portal code names them."""
    alice, admin, job = users["alice"], users["admin"], jobs["tf"]

    def switch(plugin: str, on: bool) -> None:
        r = admin.post(f"/api/v1/plugins/{plugin}", json={"enabled": on}, headers={"X-CSRF-Token": admin.csrf})
        assert r.status_code == 200, r.get_json()

    def link_ids() -> set[str]:
        return {x["id"] for x in alice.get(f"/api/v1/jobs/{job.id}/links").get_json()}

    assert link_ids() == {"dashboard-tensorboard", "experiment-data"}
    try:
        switch("tracking", False)
        assert link_ids() == {"dashboard-tensorboard"}
        assert "View experiment data" not in alice.get(f"/jobs/{job.id}").get_data(as_text=True)
        switch("tensorboard", False)
        assert link_ids() == set()
        assert "Access TensorBoard" not in alice.get(f"/jobs/{job.id}").get_data(as_text=True)
        r = alice.post(f"/api/v1/jobs/{job.id}/dashboards/tensorboard", headers={"X-CSRF-Token": alice.csrf})
        assert r.status_code == 404
    finally:
        switch("tracking", True)
        switch("tensorboard", True)
    assert link_ids() == {"dashboard-tensorboard", "experiment-data"}


def test_a_failing_link_plugin_does_not_break_the_job_page(platform: Platform, users: dict[str, Any],
                                                           jobs: dict[str, Any]) -> None:
    from core.hookspecs import hookimpl

    class Broken:
        @hookimpl
        def hpcai_job_links(self, job: dict[str, Any]) -> list[Any]:
            raise RuntimeError("a third-party plugin's bug")

    manager = platform.registry.active
    manager.register(Broken(), name="broken-links")
    try:
        page = users["alice"].get(f"/jobs/{jobs['tf'].id}")
        assert page.status_code == 200 and "View experiment data" in page.get_data(as_text=True)
    finally:
        manager.unregister(name="broken-links")


def test_ownerless_experiment_shows_each_user_their_runs_only(mlflow_server: str, users: dict[str, Any]) -> None:
    """An experiment made with plain mlflow has no owner: each user sees only their own runs in
    it, whatever they type as a search (the condition cannot be quoted away)."""
    from tests.tracking import rest

    exp_id = rest.api(mlflow_server, "experiments/create", {"name": f"plain-mlflow-{TAG}"})["experiment_id"]
    for who in ("alice", "bob"):
        rest.api(mlflow_server, "runs/create", {"experiment_id": exp_id, "run_name": f"{who}-run",
                                                "tags": [{"key": "mlflow.user", "value": who}]})
    bob = users["bob"]
    assert experiment_id(bob, f"plain-mlflow-{TAG}") == exp_id
    runs = bob.get(f"/api/v1/experiments/{exp_id}/runs").get_json()["runs"]
    assert [r["run_name"] for r in runs] == ["bob-run"]
    for search in ("attributes.run_name = 'alice-run'", "tags.`mlflow.user` = 'alice'", "params.a = 'x",
                   "params.a != 'x' or tags.`mlflow.user` != 'bob'"):
        r = bob.get(f"/api/v1/experiments/{exp_id}/runs", query_string={"search": search})
        assert r.status_code in (200, 400), r.get_json()
        if r.status_code == 200:
            assert {x["user"] for x in r.get_json()["runs"]} <= {"bob"}, search
    assert len(users["admin"].get(f"/api/v1/experiments/{exp_id}/runs").get_json()["runs"]) == 2
    delete = lambda ids: bob.post("/api/v1/runs/delete", json={"run_ids": ids},  # noqa: E731
                                  headers={"X-CSRF-Token": bob.csrf})
    alice_run = next(r["run_id"] for r in users["alice"].get(f"/api/v1/experiments/{exp_id}/runs").get_json()["runs"])
    assert delete([alice_run, runs[0]["run_id"]]).status_code == 404  # not his: nothing is deleted
    assert len(users["admin"].get(f"/api/v1/experiments/{exp_id}/runs").get_json()["runs"]) == 2
    assert delete(["nope"]).get_json()["field"] == "run_ids"
    assert delete([runs[0]["run_id"]]).get_json() == {"deleted": 1}
    assert bob.get(f"/api/v1/experiments/{exp_id}/runs").get_json()["runs"] == []
    assert len(users["admin"].get(f"/api/v1/experiments/{exp_id}/runs").get_json()["runs"]) == 1


def test_run_page_history_charts_and_artifacts(users: dict[str, Any], jobs: dict[str, Any],
                                               mlflow_server: str) -> None:
    """A run name in the runs table opens the run: params, metrics with history charts, tags,
    artifacts browsable and downloadable through the portal (after its visibility check)."""
    import urllib.request

    alice, bob = users["alice"], users["bob"]
    run = runs_of(alice, jobs["tf"].id)[0]
    rid = run["run_id"]
    exp_page = alice.get(f"/experiments/{run['experiment_id']}").get_data(as_text=True)
    assert f'href="/experiments/runs/{rid}"' in exp_page
    info = alice.get(f"/api/v1/experiments/{run['experiment_id']}/runs").get_json()
    assert info  # the API answers for the same experiment
    # An artifact, uploaded the way the MLflow client does through the tracking server.
    raw = rest.api(mlflow_server, "runs/get", run_id=rid)
    root = raw["run"]["info"]["artifact_uri"].split("mlflow-artifacts:/", 1)[1]
    put = urllib.request.Request(f"{mlflow_server}/api/2.0/mlflow-artifacts/artifacts/{root}/notes/readme.txt",
                                 data=b"hello artifact\n", method="PUT", headers=rest.auth_headers())
    urllib.request.urlopen(put).read()
    html = alice.get(f"/experiments/runs/{rid}").get_data(as_text=True)
    for key in run["params"]:
        assert key in html
    assert 'id="run-charts"' in html and "<svg" in html  # the sweep logs its metrics per step
    assert 'class="dir"' in html and ">notes<" in html
    sub = alice.get(f"/experiments/runs/{rid}?path=notes").get_data(as_text=True)
    assert ">readme.txt<" in sub
    got = alice.get(f"/experiments/runs/{rid}/artifact?path=notes/readme.txt")
    assert got.status_code == 200 and got.get_data() == b"hello artifact\n"
    assert bob.get(f"/experiments/runs/{rid}").status_code == 404  # not bob's run
    assert bob.get(f"/experiments/runs/{rid}/artifact?path=notes/readme.txt").status_code == 404
    assert alice.get(f"/experiments/runs/{rid}?path=../x").status_code == 400
