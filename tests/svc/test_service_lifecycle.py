"""The service lifecycle table (F248-F250) and GPU-only service types (F230, F234).

Start only a service that is not started and was made in My services; stop only a started
one; restart only a running one that no development environment made. The core refuses the
rest with a Conflict (409 in the API, with the state and what is allowed now); the detail page
shows only the allowed buttons, each with the product's confirmation. Real services (a small
HTTP server under the local scheduler), a real portal app (Flask test client).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from core.config import load_config
from core.errors import Conflict, ValidationError
from core.platform import Platform
from core.services import LIFECYCLE, ORIGIN_DEVENV
from tests.svc.helpers import CPU_SPECS_OK, app_client, scratch, site_config, wait_for

SERVER = f"exec {sys.executable} -m http.server $PORT --bind $HOST"


def _platform(d: Path, env: dict[str, str]) -> Platform:
    p = Platform(load_config({"HPCAI_DATA_DIR": str(d), **env}))
    p.store.migrate()
    p.specs.sync()
    if p.accounts.find("alice") is None:
        p.accounts.create("alice", "alicepass12")
    return p


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[Platform, Any]]:
    d = scratch("service-lifecycle")
    p = _platform(d, {"HPCAI_CONFIG": str(site_config(d)), **CPU_SPECS_OK})
    yield p, app_client(p)
    for row in p.services.list("alice"):
        if "stop" in p.services.lifecycle_actions(row):
            p.services.stop(row.alias, "alice")


def _running(p: Platform, alias: str) -> str:
    def state() -> str | None:
        p.jobs.refresh()
        s = p.services.state(p.services._row(alias))
        return s if s in ("running", "failed") else None

    got = wait_for(state, 120, f"{alias} to run")
    assert got == "running", p.services.view(p.services._row(alias)).log_tail
    return got


def test_the_table_names_every_action_and_state() -> None:
    assert LIFECYCLE == {"start": ("stopped", "failed"),
                         "stop": ("queued", "starting", "running", "suspended", "unknown"),
                         "restart": ("starting", "running")}


def test_start_stop_restart_follow_the_state(site: tuple[Platform, Any]) -> None:
    p, c = site
    svc = p.services
    row = svc.create({"type": "custom", "name": "cycle", "resource_spec": "cpu-1", "command": SERVER},
                     "alice", start=False)
    alias, api = row.alias, f"/api/v1/services/{row.alias}"
    assert svc.lifecycle_actions(row) == ["start"]
    for action in ("stop", "restart"):  # F249, F250: not started
        with pytest.raises(Conflict) as e:
            getattr(svc, action)(alias, "alice")
        assert (e.value.state, e.value.allowed, e.value.field) == ("stopped", ["start"], "service")
        assert e.value.status == 409 and e.value.fix == "allowed now: start"
    r = c.post(f"{api}/stop")
    assert r.status_code == 409
    body = r.get_json()
    assert body["state"] == "stopped" and body["allowed"] == ["start"] and body["field"] == "service"
    assert "Stop is only for services that are queued or starting or running" in body["error"]
    page = c.get(f"/services/{alias}").get_data(as_text=True)  # F248: the one button, confirmed
    assert 'data-confirm="是否启动此服务 / Start this service?"' in page and 'id="btn-start"' in page
    assert 'id="btn-stop"' not in page and 'id="btn-restart"' not in page

    assert c.post(f"{api}/start").status_code == 200
    _running(p, alias)
    view = c.get(api).get_json()
    assert view["actions"] == ["stop", "restart"] and view["origin"] == "services" and view["can_access"]
    assert view["container_port"] == view["port"] > 0  # F236: the allocated port, shared network
    r = c.post(f"{api}/start")  # F248: already started
    assert r.status_code == 409 and r.get_json()["state"] == "running"
    assert r.get_json()["allowed"] == ["stop", "restart"]
    page = c.get(f"/services/{alias}").get_data(as_text=True)
    assert 'data-confirm="是否停止此服务 / Stop this service?"' in page
    assert 'data-confirm="是否重启此服务 / Restart this service?"' in page
    assert 'id="btn-start"' not in page
    assert f'id="container-port">{view["port"]} ' in page
    job_before = svc._row(alias).job_uuid
    assert c.post(f"{api}/restart").status_code == 200  # F250: a new job with the same parameters
    assert svc._row(alias).job_uuid != job_before
    _running(p, alias)
    r = c.post(f"/services/{alias}/start", data={"csrf_token": c.environ_base["HTTP_X_CSRF_TOKEN"]})
    assert r.status_code == 302  # the page flashes the refusal and changes nothing
    assert svc._row(alias).job_uuid != job_before and svc.state(svc._row(alias)) == "running"
    assert c.post(f"{api}/stop").status_code == 200
    assert svc.state(svc._row(alias)) == "stopped"
    r = c.post(f"{api}/stop")  # F249: stopped already
    assert r.status_code == 409 and r.get_json()["allowed"] == ["start"]
    svc.delete(alias, "alice")


def test_a_development_environments_service_is_not_started_restarted_or_changed_here(
        site: tuple[Platform, Any]) -> None:
    p, c = site
    svc = p.services
    row = svc.create({"type": "custom", "name": "from-devenv", "resource_spec": "cpu-1", "command": SERVER},
                     "alice", start=True, origin=ORIGIN_DEVENV)
    alias, api = row.alias, f"/api/v1/services/{row.alias}"
    _running(p, alias)
    view = c.get(api).get_json()
    assert view["origin"] == "devenv" and view["actions"] == ["stop"]
    assert view["can_access"] is False  # F241: not for services of a development environment
    assert "_origin" not in view["options"]  # the type never sees it
    r = c.post(f"{api}/restart")  # F250
    assert r.status_code == 409 and r.get_json()["allowed"] == ["stop"]
    assert "started by a development environment" in r.get_json()["error"]
    with pytest.raises(Conflict, match="development environment"):
        svc.modify(alias, {"description": "changed"}, "alice")  # F251
    r = c.post("/api/v1/services", json={"name": "sneaky", "type": "custom", "resource_spec": "cpu-1",
                                         "command": "true", "start": False, "_origin": "devenv"})
    assert r.status_code == 400 and r.get_json()["field"] == "_origin"  # only the platform sets it
    page = c.get(f"/services/{alias}").get_data(as_text=True)
    assert 'id="btn-stop"' in page and 'id="btn-restart"' not in page and 'id="access"' not in page
    assert c.post(f"{api}/stop").status_code == 200
    with pytest.raises(Conflict) as e:  # F248: only services made in My services
        svc.start(alias, "alice")
    assert e.value.state == "stopped" and e.value.allowed == []
    assert svc.origin(svc._row(alias)) == ORIGIN_DEVENV
    svc.delete(alias, "alice")  # F256: every service can be deleted


def test_the_list_toolbar_offers_what_the_core_allows_and_modify_keeps_the_fixed_fields(
        site: tuple[Platform, Any]) -> None:
    """F226: My services has a toolbar (New, Start, Stop, Restart, Modify, More operations,
    API Key) acting on the picked row; each row carries the operations its state allows.
    F251 from the portal: the modify page edits all but name, type and classification."""
    p, c = site
    svc = p.services
    row = svc.create({"type": "custom", "name": "toolbar", "resource_spec": "cpu-1", "command": SERVER,
                      "description": "before"}, "alice", start=False)
    alias = row.alias
    page = c.get("/services").get_data(as_text=True)
    for button in ("new-service", "tb-start", "tb-stop", "tb-restart", "tb-modify", "tb-more", "tb-authorize",
                   "tb-delete", "api-keys"):
        assert f'id="{button}"' in page, button
    pick = re.search(rf'<input type="radio" name="pick" value="{alias}"[^>]*>', page, re.S)
    assert pick and 'data-ops="start modify authorize delete"' in pick.group(0)
    assert svc.user_operations(svc._row(alias), "alice") == ["start", "modify", "authorize", "delete"]
    token = c.environ_base["HTTP_X_CSRF_TOKEN"]
    r = c.post(f"/services/{alias}/start", data={"csrf_token": token, "back": "list"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/services")  # back to the list
    _running(p, alias)
    assert svc.user_operations(svc._row(alias), "alice") == ["stop", "restart", "modify", "authorize", "delete"]
    assert svc.user_operations(svc._row(alias), "nobody") == []

    assert 'id="btn-modify"' in c.get(f"/services/{alias}").get_data(as_text=True)
    form = c.get(f"/services/{alias}/modify").get_data(as_text=True)
    assert 'id="in-description"' in form and ">before</textarea>" in form
    assert 'id="in-name"' not in form and 'name="type"' not in form  # F251: fixed, shown as text
    assert 'id="fixed"' in form and "toolbar" in form
    job_before = svc._row(alias).job_uuid
    r = c.post(f"/services/{alias}/modify", data={"csrf_token": token, "description": "after",
                                                  "resource_spec": "cpu-1", "command": SERVER,
                                                  "name": "renamed"})
    assert r.status_code == 302, r.get_data(as_text=True)[-1500:]
    changed = svc._row(alias)
    assert (changed.description, changed.name) == ("after", "toolbar")
    assert changed.job_uuid != job_before  # running: restarted with the new parameters
    r = c.post(f"/services/{alias}/modify", data={"csrf_token": token, "resource_spec": "no-such-spec",
                                                  "command": SERVER})
    assert r.status_code == 400 and "has-error" in r.get_data(as_text=True)
    assert svc._row(alias).resource_spec == "cpu-1"  # a refused change loses nothing
    r = c.post(f"/services/{alias}/delete", data={"csrf_token": token, "back": "list"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/services")


# --- GPU-only types (F230, F234) ------------------------------------------------------------------

def test_gpu_only_types_refuse_cpu_specs_by_default() -> None:
    p = _platform(scratch("service-gpu-only"), {})
    svc = p.services
    assert {n for n, t in svc.types().items() if t.gpu_only} == {"torchserve", "custom"}
    for values in ({"type": "custom", "command": "true"},
                   {"type": "torchserve", "model_name": "m", "mar_file": "/x.mar"}):
        with pytest.raises(ValidationError) as e:
            svc.create({"name": "on-cpu", "resource_spec": "cpu-1", **values}, "alice", start=False)
        assert e.value.field == "resource_spec" and "runs on GPU resource specs only" in e.value.message
        assert "'cpu-1' is a CPU spec" in e.value.message and e.value.fix == "choose a GPU spec: gpu-1"
    row = svc.create({"name": "on-gpu", "type": "custom", "resource_spec": "gpu-1", "command": "true"},
                     "alice", start=False)
    with pytest.raises(ValidationError, match="GPU resource specs only"):  # Modify checks it too
        svc.modify(row.alias, {"resource_spec": "cpu-2"}, "alice")
    prop = svc.form_schema("torchserve", "alice")["properties"]["resource_spec"]
    assert prop["x-spec-kind"] == "gpu" and "x-unavailable" not in prop
    assert prop["description"] == "GPU resource specs only (PyTorch Serving (TorchServe))"
    assert svc.form_schema("tensorboard", "alice")["properties"]["resource_spec"]["x-spec-kind"] == "cpu"
    assert "x-spec-kind" not in svc.form_schema("mlserver", "alice")["properties"]["resource_spec"]
    page = app_client(p).get("/services/new?type=custom").get_data(as_text=True)
    picker = page[page.index('class="specpicker"'):]
    options = picker[picker.index('id="in-resource_spec"'):]
    options = options[:options.index("</select>")]
    assert 'value="gpu-1"' in options and 'value="cpu-1"' not in options
    assert 'data-speckind="cpu"' not in picker[:picker.index('id="in-resource_spec"')]
    assert "GPU resource specs only (Custom service)" in page


def test_a_site_allows_cpu_specs_per_type() -> None:
    d = scratch("service-cpu-allowed")
    config = site_config(d, extra="[services.types.custom]\nallow_cpu_specs = true\n")
    p = _platform(d, {"HPCAI_CONFIG": str(config)})
    svc = p.services
    row = svc.create({"name": "cpu-ok", "type": "custom", "resource_spec": "cpu-1", "command": "true"},
                     "alice", start=False)
    assert row.resource_spec == "cpu-1"
    assert "x-spec-kind" not in svc.form_schema("custom", "alice")["properties"]["resource_spec"]
    with pytest.raises(ValidationError, match="GPU resource specs only"):  # only the type named
        svc.create({"name": "ts", "type": "torchserve", "resource_spec": "cpu-1", "model_name": "m",
                    "mar_file": "/x.mar"}, "alice", start=False)


def test_a_site_without_gpu_specs_is_told_why(tmp_path: Path) -> None:
    specs = tmp_path / "specs.toml"
    specs.write_text('[[spec]]\nname = "cpu-1"\nkind = "cpu"\ncpus = 1\n')
    p = _platform(scratch("service-no-gpu"), {"HPCAI_SPECS": str(specs)})
    with pytest.raises(ValidationError) as e:
        p.services.create({"name": "ts", "type": "torchserve", "resource_spec": "cpu-1", "model_name": "m",
                           "mar_file": "/x.mar"}, "alice", start=False)
    assert e.value.field == "resource_spec"
    assert e.value.fix == ("ask the site admin for a GPU spec, or to allow CPU specs for this type: "
                           "[services.types.torchserve] allow_cpu_specs = true")
    why = p.services.form_schema("torchserve", "alice")["properties"]["resource_spec"]["x-unavailable"]
    assert why.startswith("this site defines no GPU resource spec you may use; "
                          "PyTorch Serving (TorchServe) services need one (ask the site admin")
    page = app_client(p).get("/services/new?type=torchserve").get_data(as_text=True)
    shown = re.search(r'id="unavailable-resource_spec">([^<]*)<', page)
    assert shown is not None and "this site defines no GPU resource spec" in shown.group(1)
    assert "allow_cpu_specs = true" in shown.group(1)
