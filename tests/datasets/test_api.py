"""The dataset REST API and libaiflow's dataset functions against a real portal over HTTP."""

from __future__ import annotations

import threading
import warnings

import pytest
from werkzeug.serving import make_server

from tests.datasets.conftest import home, make_platform, scratch, write
from tests.webportal.conftest import login

IRIS = "sepal.length,species\n5.1,setosa\n4.9,setosa\n"


@pytest.fixture(scope="module")
def portal():
    from portal import create_app

    platform = make_platform(scratch("api"))
    app = create_app(platform, settings={"TESTING": True})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield platform, app, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def sdk(portal):
    import libaiflow

    platform, _, url = portal
    libaiflow.set_portal(url, platform.accounts.create_token("alice", "sdk"))
    yield libaiflow
    libaiflow.set_portal(None, None)


def test_libaiflow_dataset_api_round_trip(portal, sdk):
    platform = portal[0]
    d = home(platform, "alice") / "iris-sdk"
    write(d / "a.csv", IRIS)
    write(d / "b.tsv", IRIS.replace(",", "\t"))
    info = sdk.create_dataset("iris", str(d), ["csv", "tsv"], "the iris data")
    assert info["name"] == "iris" and info["category"] == "numeric" and info["area"] == "my"
    assert info["options"]["file_suffix"] == ["csv", "tsv"] and info["description"] == "the iris data"
    assert sdk.get_dataset_by_name("iris")["id"] == info["id"]
    assert sdk.get_dataset_by_id(info["id"])["name"] == "iris"
    assert sdk.get_dataset_by_name("no-such-dataset") is None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        changed = sdk.modify_dataset("iris", str(d), ["csv"], "csv only", separator=",", title=False)
    assert changed["options"]["file_suffix"] == ["csv"] and changed["description"] == "csv only"
    assert "ignores" in str(caught[0].message)
    with pytest.raises(sdk.DatasetError) as err:
        sdk.create_dataset("iris", str(d))
    assert err.value.field == "name" and "already exists" in str(err.value)
    with pytest.raises(sdk.DatasetError) as err:
        sdk.create_dataset("etc", "/etc")
    assert err.value.field == "directory" and err.value.status == 403
    with pytest.raises(sdk.DatasetError, match="only Category.numerical_file"):
        sdk.create_dataset("x", str(d), category="image_file")
    assert sdk.delete_dataset("iris") is True
    assert sdk.get_dataset_by_name("iris") is None
    sdk.set_portal(portal[2], "hpcai_wrong-token")
    with pytest.raises(sdk.DatasetError) as err:
        sdk.get_dataset_by_name("iris")
    assert err.value.status == 401


def test_rest_api_permissions_preview_raw_and_drafts(portal):
    platform, app, _ = portal
    alice, bob, carol = app.test_client(), app.test_client(), app.test_client()
    h = {"X-CSRF-Token": login(alice, "alice", "alicepass1")}
    hb = {"X-CSRF-Token": login(bob, "bob", "bobpass12")}
    login(carol, "carol", "carolpass1")
    d = home(platform, "alice") / "pics"
    write(d / "cat" / "1-a.svg", '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')
    write(d / "t.csv", IRIS)
    draft = {"name": "pics", "category": "image", "backend": "files", "directory": str(d), "annotation": "filename"}
    r = alice.post("/api/v1/dataset-drafts/files", json=draft, headers=h)
    assert r.status_code == 200 and r.json["files"][0]["label"] == "1"
    r = alice.post("/api/v1/datasets", json=draft, headers=h)
    assert r.status_code == 201, r.json
    pics = r.json["id"]
    raw = alice.get(f"/api/v1/datasets/{pics}/raw?file=cat/1-a.svg")
    assert raw.status_code == 200 and raw.mimetype == "image/svg+xml"
    assert "sandbox" in raw.headers["Content-Security-Policy"] and raw.headers["X-Content-Type-Options"] == "nosniff"
    assert alice.get(f"/api/v1/datasets/{pics}/raw?file=t.csv").status_code == 400  # not one of its files
    r = alice.post("/api/v1/datasets", json={"name": "num", "category": "numeric", "directory": str(d)}, headers=h)
    assert r.status_code == 201
    num = r.json["id"]
    r = alice.get(f"/api/v1/datasets/{num}/preview?rows=1")
    assert r.json == {"columns": ["sepal.length", "species"], "rows": [["5.1", "setosa"]], "truncated": True}
    assert alice.get(f"/api/v1/datasets/{num}/preview?rows=0").json["field"] == "rows"
    # Without a CSRF token a cookie session cannot write; bad bodies are 400 with the field.
    assert alice.post("/api/v1/datasets", json={"name": "x"}).status_code == 403
    r = alice.post("/api/v1/datasets", data="nope", headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json["field"] == "body"
    r = alice.post("/api/v1/datasets", json={"name": "x", "category": "sound", "directory": str(d)}, headers=h)
    assert r.status_code == 400 and r.json["field"] == "category"
    # Personal datasets are invisible to others; sharing opens preview/use to the group.
    assert bob.get(f"/api/v1/datasets/{num}").status_code == 404
    area = platform.datasets.group_area("team")
    r = alice.post(f"/api/v1/datasets/{num}/share", headers=h, json={
        "share_name": "num-team", "share_group": "team", "share_directory": str(area / "num"), "background": False})
    assert r.status_code == 201 and r.json["state"] == "ready", r.json
    shared = r.json["id"]
    assert bob.get(f"/api/v1/datasets/{shared}/preview").status_code == 200
    assert bob.put(f"/api/v1/datasets/{shared}", json={"description": "x"}, headers=hb).status_code == 403
    assert bob.delete(f"/api/v1/datasets/{shared}", headers=hb).status_code == 403
    assert carol.get(f"/api/v1/datasets/{shared}").status_code == 404
    assert [x["name"] for x in bob.get("/api/v1/datasets?area=shared").json] == ["num-team"]
    # Pages render for the owner and are refused for strangers.
    page = alice.get("/datasets")
    assert page.status_code == 200 and b"datasets.js" in page.data
    assert alice.get(f"/datasets/{num}/view").status_code == 200
    assert carol.get(f"/datasets/{num}/view").status_code == 404
    doc = alice.get("/api/v1/openapi.json").json
    assert "/datasets/{ref}/preview" in doc["paths"] and "/dataset-drafts/{action}" in doc["paths"]
    assert alice.get("/api/v1/datasets/catalog").json["groups"] == ["team"]
