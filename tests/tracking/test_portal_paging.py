"""The runs table pages with MLflow's own page tokens (F94 "Load more"), on the session's real
MLflow server: the API hands next_page_token back, the page renders the first page with a
"Load more" button, and the rows endpoint renders each next page. Runs are logged straight
through MLflow's REST API (no job needed to have more than one page)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.tracking.conftest import scratch_dir
from tests.tracking.rest import api
from tests.webportal.conftest import login, make_platform

pytestmark = [pytest.mark.integration]
RUNS = 7


@pytest.fixture(scope="module")
def portal(mlflow_server: str) -> Iterator[dict[str, Any]]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HPCAI_MLFLOW_URI", mlflow_server)  # core.tracking reads the process environment
        yield _portal(mlflow_server)


def _portal(mlflow_server: str) -> dict[str, Any]:
    from portal import create_app

    p = make_platform(scratch_dir(f"paging-{uuid.uuid4().hex[:6]}"))
    p.accounts.create("alice", "alicepass1")
    p.accounts.create("bob", "bobpass12")
    name = f"paging-{uuid.uuid4().hex[:6]}"
    exp = api(mlflow_server, "experiments/create",
              {"name": name, "tags": [{"key": "hpcai.owner", "value": "alice"}]})["experiment_id"]
    start = int(time.time() * 1000) - 60_000
    names = []
    for i in range(RUNS):  # run-0 oldest ... run-6 newest; "epochs" is the same in every run
        run = api(mlflow_server, "runs/create", {"experiment_id": exp, "run_name": f"run-{i}", "start_time": start + i * 1000,
                                                 "tags": [{"key": "mlflow.user", "value": "alice"}]})["run"]
        api(mlflow_server, "runs/log-batch", {
            "run_id": run["info"]["run_id"], "params": [{"key": "lr", "value": str(0.1 * (i + 1))},
                                                         {"key": "epochs", "value": "5"}],
            "metrics": [{"key": "loss", "value": 1.0 / (i + 1), "timestamp": start + i * 1000, "step": 0}]})
        api(mlflow_server, "runs/update", {"run_id": run["info"]["run_id"], "status": "FINISHED",
                                           "end_time": start + i * 1000 + 500})
        names.append(f"run-{i}")
    app = create_app(p, settings={"TESTING": True})
    alice, bob = app.test_client(), app.test_client()
    login(alice, "alice", "alicepass1")
    login(bob, "bob", "bobpass12")
    return {"exp": exp, "alice": alice, "bob": bob, "newest_first": names[::-1]}


def test_api_pages_with_mlflow_tokens(portal: dict[str, Any]) -> None:
    alice, exp = portal["alice"], portal["exp"]
    seen, token, pages = [], None, 0
    while True:
        r = alice.get(f"/api/v1/experiments/{exp}/runs",
                      query_string={"max_results": 3, **({"page_token": token} if token else {})})
        assert r.status_code == 200, r.get_json()
        body = r.get_json()
        assert len(body["runs"]) == (3 if pages < 2 else 1)
        seen += [x["run_name"] for x in body["runs"]]
        pages += 1
        token = body["next_page_token"]
        if token is None:
            break
    assert pages == 3 and seen == portal["newest_first"]  # each run once, newest first
    # a search pages the same way
    body = alice.get(f"/api/v1/experiments/{exp}/runs",
                     query_string={"max_results": 2, "search": "metrics.loss < 0.3"}).get_json()
    assert [x["run_name"] for x in body["runs"]] == ["run-6", "run-5"] and body["next_page_token"]
    # bad input names its field
    for query, field in (({"max_results": 0}, "max_results"), ({"max_results": "x"}, "max_results"),
                         ({"max_results": 1001}, "max_results"), ({"page_token": "not-a-token"}, "page_token")):
        r = alice.get(f"/api/v1/experiments/{exp}/runs", query_string=query)
        assert r.status_code == 400 and r.get_json()["field"] == field, (query, r.get_json())
    assert portal["bob"].get(f"/api/v1/experiments/{exp}/runs").status_code == 404


def test_page_and_load_more(portal: dict[str, Any]) -> None:
    alice, exp = portal["alice"], portal["exp"]
    html = alice.get(f"/experiments/{exp}", query_string={"max_results": 4}).get_data(as_text=True)
    assert re.findall(r'<tr data-run="[0-9a-f]{32}">', html).__len__() == 4
    assert "Showing 4 matching runs" in html
    more = re.search(r'<button type="button" id="load-more" data-url="([^"]+)" data-token="([^"]+)"\s*>', html)
    assert more, "a Load more button with MLflow's token"
    url, token = more.group(1).replace("&amp;", "&"), more.group(2)
    assert url.startswith(f"/experiments/{exp}/rows") and "max_results=4" in url
    # the per-key data the column chooser and "Only show differences" read
    assert 'data-col="params.epochs" data-val="5"' in html and 'data-col="metrics.loss"' in html
    r = alice.get(url + "&page_token=" + token)
    assert r.status_code == 200
    body = r.get_json()
    assert body["count"] == 3 and body["next_page_token"] == ""
    assert re.findall(r">(run-\d)</a></td>", body["html"]) == ["run-2", "run-1", "run-0"]
    # the last page: no button
    html = alice.get(f"/experiments/{exp}").get_data(as_text=True)
    assert "Showing 7 matching runs" in html and re.search(r'id="load-more"[^>]*hidden', html)
    r = alice.get(f"/experiments/{exp}/rows", query_string={"page_token": "garbage"})
    assert r.status_code == 400 and r.get_json()["field"] == "page_token"
    assert portal["bob"].get(f"/experiments/{exp}/rows").status_code == 404
