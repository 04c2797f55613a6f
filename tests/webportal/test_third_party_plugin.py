"""A third-party plugin adds a field: it appears in the form and reaches the job, no portal change."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from tests.webportal.conftest import install_extra_field, login, make_platform, project_dir, scratch


@pytest.fixture(scope="module")
def plugged():  # type: ignore[no-untyped-def]
    site = install_extra_field(scratch("site") / "site-packages")
    sys.path.insert(0, str(site))
    try:
        p = make_platform(scratch("extra"), {"HPCAI_PLUGINS_ENABLE": "extra_field"})
        assert "experiment_tag" in p.registry.names("option")
        p.accounts.create("dora", "dorapass1")
        from portal import create_app

        yield p, create_app(p, settings={"TESTING": True})
    finally:
        sys.path.remove(str(site))
        sys.modules.pop("hpcai_extra_field", None)


def test_field_appears_in_form_api_and_job(plugged) -> None:  # type: ignore[no-untyped-def]
    p, app = plugged
    c = app.test_client()
    csrf = login(c, "dora", "dorapass1")
    page = c.get("/apps/training?framework=pytorch&mode=standalone").data.decode()
    assert 'id="field-experiment_tag"' in page and "Experiment tag" in page
    doc = c.get("/api/v1/openapi.json").get_json()
    assert "experiment_tag" in doc["components"]["schemas"]["JobValues"]["properties"]
    base = {"csrf_token": csrf, "framework": "pytorch", "_framework": "pytorch", "mode": "standalone",
            "workdir": str(project_dir(p, "dora")), "command": "true", "resource_spec": "cpu-1",
            "create_exec_dir": "on"}
    bad = c.post("/apps/training", data=dict(base, experiment_tag="no spaces!"))
    assert bad.status_code == 400 and 'id="error-experiment_tag"' in bad.data.decode()
    r = c.post("/apps/training", data=dict(base, experiment_tag="run-42"))
    assert r.status_code == 302, r.data.decode()[-1500:]
    job_id = int(r.headers["Location"].split("new=")[1])
    row = p.jobs.get(job_id, "dora")
    request = json.loads((Path(row.job_dir) / "request.json").read_text())
    assert request["options"]["experiment_tag"] == "run-42"
    # Hidden by its visible-if rule, the field is neither checked nor sent.
    base.pop("create_exec_dir")
    r = c.post("/apps/training", data=dict(base, experiment_tag="no spaces!"))
    assert r.status_code == 302
    hidden = p.jobs.get(int(r.headers["Location"].split("new=")[1]), "dora")
    assert "experiment_tag" not in hidden.request["options"]


def test_its_report_shows_on_the_job_page_and_in_the_api(plugged) -> None:  # type: ignore[no-untyped-def]
    p, app = plugged
    c = app.test_client()
    csrf = login(c, "dora", "dorapass1")
    r = c.post("/api/v1/jobs", json={"framework": "pytorch", "mode": "standalone", "command": "true",
                                     "workdir": str(project_dir(p, "dora")), "resource_spec": "cpu-1",
                                     "create_exec_dir": True, "experiment_tag": "abba"},
               headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201, r.get_json()
    jid = r.get_json()["id"]
    reports = c.get(f"/api/v1/jobs/{jid}/reports").get_json()
    assert [(x["option"], x["title"]) for x in reports] == [("experiment_tag", "Experiment tag")]
    assert c.get(f"/api/v1/jobs/{jid}/reports/experiment_tag").get_json()["tag"] == "abba"
    page = c.get(f"/jobs/{jid}").data.decode()
    section = page.split('id="report-experiment_tag"')[1].split("</section>")[0]
    assert "<dt>tag</dt><dd>abba</dd>" in section
    assert '<td class="cell-a">a</td><td class="cell-2">2</td>' in section
    src = re.search(r'<iframe src="([^"]+)"[^>]*sandbox="allow-scripts"', section).group(1)
    assert src.startswith(f"/jobs/{jid}/files/") and src.endswith("/tag/tag.html")
    # The page and its relative script are served without a session (a sandbox sends none) ...
    anon = app.test_client()
    html = anon.get(src)
    assert html.status_code == 200 and b"<p id='t'>abba</p>" in html.data
    assert html.headers["Content-Security-Policy"].startswith("sandbox allow-scripts;")
    assert anon.get(src.replace("tag.html", "tag.js")).status_code == 200
    # ... but only through the signed key, only for that job, and only inside its directory.
    key = src.split("/")[4]
    assert anon.get(src.replace(key, key[:-2] + "xx")).status_code == 403
    assert anon.get(src.replace(f"/jobs/{jid}/", f"/jobs/{jid + 1}/")).status_code == 403
    assert anon.get(src.replace("tag/tag.html", "../../portal-secret")).status_code == 404
    assert anon.get(src.replace("tag/tag.html", "nothing.html")).status_code == 404
    # Another user does not see the job, nor its reports.
    p.accounts.create("eve", "evepass12")
    eve = app.test_client()
    login(eve, "eve", "evepass12")
    assert eve.get(f"/api/v1/jobs/{jid}/reports").status_code == 404


def test_admin_switches_a_plugin_off_and_on(plugged) -> None:  # type: ignore[no-untyped-def]
    p, app = plugged
    p.accounts.create("boss", "bosspass1", role="admin")
    c = app.test_client()
    csrf = login(c, "boss", "bosspass1")
    assert 'id="toggle-extra_field"' in c.get("/admin/plugins").data.decode()
    r = c.post("/admin/plugins", data={"csrf_token": csrf, "plugin": "extra_field", "enabled": "0"})
    assert r.status_code == 302
    assert "experiment_tag" not in p.registry.names("option")
    assert 'id="field-experiment_tag"' not in c.get("/apps/training").data.decode()
    # Another process (a new Platform on the same store) sees the same switch.
    other = make_platform(p.config.data_dir, {"HPCAI_PLUGINS_ENABLE": "extra_field"})
    assert "experiment_tag" not in other.registry.names("option")
    # The default scheduler cannot be switched off; unknown plugins are named.
    r = c.post("/api/v1/plugins/local", json={"enabled": False}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 400 and r.get_json()["field"] == "plugin"
    r = c.post("/api/v1/plugins/extra_field", json={"enabled": True}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.get_json()[0]["enabled"] is True
    assert 'id="field-experiment_tag"' in c.get("/apps/training").data.decode()
