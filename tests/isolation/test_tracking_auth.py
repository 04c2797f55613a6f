"""Issue 13, item 6: experiment tracking is authenticated, per user, on the tracking server itself.

The same real multi-user site as test_multiuser (Unix accounts iso-alice and iso-bob, the portal
as root) with the session's real MLflow server, which runs MLflow's basic-auth app with the
platform's derived passwords (core.trackingauth). iso-alice's job logs a metric through
libaiflow; iso-bob's job, as his own Unix user with the credentials the platform gave his job,
tries to read it, write it, grant himself access, sign in without or with forged credentials,
and to claim an experiment for iso-alice with a forged owner tag. Each attempt must fail and
leave iso-alice's data as it was.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.config import load_config
from core.platform import Platform
from tests.helpers import portal_server
from tests.isolation.test_multiuser import ADMIN_PASSWORD, ALICE, BOB, Site, ensure_unix_user
from tests.tracking import rest
from tests.webportal.conftest import scratch

pytestmark = pytest.mark.skipif(os.getuid() != 0, reason="a multi-user site needs root (useradd, the portal as root)")

ALICE_JOB = """
import os, libaiflow
print("user", os.environ.get("MLFLOW_TRACKING_USERNAME"))
exp = libaiflow.init("iso-alice-private")
with libaiflow.start_run(exp.experiment_id, run_name="alice-run") as run:
    libaiflow.log_metric("secret", 42.0)
print("RUN", run.info.run_id, run.info.experiment_id)
"""

BOB_JOB = """
import json, os, sys, requests
import libaiflow
from mlflow import MlflowClient
url, exp_id, run_id = sys.argv[1:4]
me = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
out = {"user": me[0]}
def code(method, path, auth=me, **kw):
    return requests.request(method, url + path, auth=auth, timeout=30, **kw).status_code
out["read_experiment"] = code("GET", "/api/2.0/mlflow/experiments/get", params={"experiment_id": exp_id})
out["read_run"] = code("GET", "/api/2.0/mlflow/runs/get", params={"run_id": run_id})
out["search_runs"] = requests.post(url + "/api/2.0/mlflow/runs/search", auth=me, timeout=30,
                                   json={"experiment_ids": [exp_id]}).json().get("runs", [])
out["write_metric"] = code("POST", "/api/2.0/mlflow/runs/log-metric",
                           json={"run_id": run_id, "key": "secret", "value": -1, "timestamp": 0})
out["grant_self"] = code("POST", "/api/3.0/mlflow/users/permissions/grant", json={
    "username": me[0], "resource_type": "experiment", "resource_id": exp_id, "permission": "MANAGE"})
out["make_admin"] = code("PATCH", "/api/2.0/mlflow/users/update-admin", json={"username": me[0], "is_admin": True})
out["no_credentials"] = code("GET", "/api/2.0/mlflow/experiments/get", auth=None, params={"experiment_id": exp_id})
out["as_alice_with_my_password"] = code("GET", "/api/2.0/mlflow/experiments/get", auth=("iso-alice", me[1]),
                                        params={"experiment_id": exp_id})
out["artifact"] = code("GET", f"/api/2.0/mlflow-artifacts/artifacts/{exp_id}/{run_id}/artifacts/x")
try:
    libaiflow.init("iso-alice-private")
    out["init"] = "logged into alice's experiment"
except Exception as exc:
    out["init"] = str(exc)
# A forged claim: an experiment of bob's that says it is alice's.
forged = MlflowClient().create_experiment("iso-bob-says-alice", tags={"hpcai.owner": "iso-alice"})
# Plain mlflow with no experiment chosen: bob's own default, not MLflow's shared Default one.
import mlflow
with mlflow.start_run() as r:
    mlflow.log_metric("plain", 1.0)
out["forged"], out["plain_experiment"] = forged, r.info.experiment_id
print("RESULT " + json.dumps(out))
"""


@pytest.fixture(scope="module")
def site(mlflow_server: str) -> Iterator[Site]:
    for name in (ALICE, BOB):
        ensure_unix_user(name)
    data = scratch("iso-tracking-site")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HPCAI_", "MLFLOW_"))}
    env.update({"HPCAI_DATA_DIR": str(data), "HPCAI_IDENTITY_AUTO_CREATE": "0",
                "HPCAI_ADMIN_PASSWORD": ADMIN_PASSWORD, "PYTHONUNBUFFERED": "1",
                "HPCAI_MLFLOW_URI": mlflow_server,
                "HPCAI_MLFLOW_AUTH_KEY_FILE": os.environ["HPCAI_MLFLOW_AUTH_KEY_FILE"]})
    p = Platform(load_config(env))
    p.accounts.seed_admin(ADMIN_PASSWORD)
    tokens = {"admin": p.accounts.create_token("admin")}
    for name in (ALICE, BOB):
        p.accounts.create(name, f"{name}-password1")
        tokens[name] = p.accounts.create_token(name)
    with pytest.MonkeyPatch.context() as mp, \
            portal_server(env, data / "serve.log", Path(__file__).resolve().parents[2]) as base:
        mp.setenv("HPCAI_MLFLOW_URI", mlflow_server)  # core.tracking reads it, here as in the portal
        yield Site(data, base, p, tokens)


def _script(site: Site, user: str, name: str, text: str) -> None:
    path = site.p.workspace.home(user) / name
    path.write_text(text)
    st = path.parent.stat()
    os.chown(path, st.st_uid, st.st_gid)


def _line(log: str, prefix: str) -> str:
    return next(ln for ln in log.splitlines() if ln.startswith(prefix))[len(prefix):]


@pytest.fixture(scope="module")
def alice_run(site: Site) -> dict[str, str]:
    _script(site, ALICE, "alice_track.py", ALICE_JOB)
    job = site.wait(ALICE, site.submit(ALICE, "python alice_track.py")["id"], timeout=180)
    log = site.log(job)
    assert job["state"] == "succeeded", log
    assert f"user {ALICE}" in log  # the job signed in as its own user
    run_id, exp_id = _line(log, "RUN ").split()
    return {"run_id": run_id, "experiment_id": exp_id}


def test_another_users_job_can_neither_read_nor_write_nor_grant(site: Site, alice_run: dict[str, str],
                                                                 mlflow_server: str) -> None:
    _script(site, BOB, "bob_attack.py", BOB_JOB)
    job = site.wait(BOB, site.submit(
        BOB, f"python bob_attack.py {mlflow_server} {alice_run['experiment_id']} {alice_run['run_id']}")["id"],
        timeout=180)
    log = site.log(job)
    assert job["state"] == "succeeded", log
    got: dict[str, Any] = json.loads(_line(log, "RESULT "))
    assert got["user"] == BOB
    assert (got["read_experiment"], got["read_run"], got["write_metric"], got["artifact"]) == (403, 403, 403, 403)
    assert got["search_runs"] == []
    assert (got["grant_self"], got["make_admin"]) == (403, 403)  # users and permissions: the platform's
    assert (got["no_credentials"], got["as_alice_with_my_password"]) == (401, 401)
    assert "belongs to another user" in got["init"]
    # iso-alice's run is as she left it
    assert rest.history(mlflow_server, alice_run["run_id"], "secret") == [(0, 42.0)]
    # The portal: alice owns hers; the forged claim makes bob's experiment nobody's, not alice's.
    mine = {e.name: e.owner for e in site.p.experiments.list_experiments(ALICE)}
    assert mine.get("iso-alice-private") == ALICE and "iso-bob-says-alice" not in mine
    bobs = {e.name: e.owner for e in site.p.experiments.list_experiments(BOB)}
    assert "iso-alice-private" not in bobs
    forged = site.p.experiments.get_experiment(got["forged"], "admin")
    assert forged.owner is None
    # plain mlflow went to bob's own default experiment, which the platform records as his
    plain = site.p.experiments.get_experiment(got["plain_experiment"], BOB)
    assert (plain.name, plain.owner) == (f"default-{BOB}", BOB)


def test_a_job_is_given_its_own_users_credentials_only(site: Site) -> None:
    job = site.wait(BOB, site.submit(BOB, "env | grep ^MLFLOW_ | sed 's/PASSWORD=.*/PASSWORD=<set>/'")["id"])
    log = site.log(job)
    assert f"MLFLOW_TRACKING_USERNAME={BOB}" in log and "MLFLOW_TRACKING_PASSWORD=<set>" in log, log
    assert f"MLFLOW_EXPERIMENT_NAME=default-{BOB}" in log
    # the password is the job's alone: not in the store's request and plan the API shows
    status, shown = site.api("admin", "GET", f"/jobs/{job['id']}")
    assert status == 200 and "MLFLOW_TRACKING_USERNAME" in json.dumps(shown)
    assert "MLFLOW_TRACKING_PASSWORD" not in json.dumps(shown)
    # a user's own MLFLOW_TRACKING_* values are refused (they would be preferred by the job side)
    status, body = site.api(BOB, "POST", "/jobs", {
        "framework": "pytorch", "resource_spec": "cpu-1", "command": "true",
        "workdir": str(site.p.workspace.home(BOB)), "env": "MLFLOW_TRACKING_USERNAME=iso-alice"})
    assert status == 400 and "MLFLOW_TRACKING_USERNAME" in json.dumps(body), body
