"""The portal pages and the CLI of development environments: thin shells over
core.environments (the rules are tested in test_env_rules.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from core.config import load_config
from core.platform import Platform
from tests.svc.helpers import app_client


@pytest.fixture
def p(tmp_path: Path) -> Platform:
    plat = Platform(load_config({"HPCAI_DATA_DIR": str(tmp_path)}))
    plat.store.migrate()
    plat.accounts.create("alice", "alicepass12")
    plat.accounts.create("bob", "bobpass12")
    return plat


def test_pages_list_form_and_detail(p: Platform) -> None:
    c: Any = app_client(p)
    page = c.get("/environments/new?type=jupyterlab").get_data(as_text=True)
    assert 'value="jupyterlab-1"' in page  # F12: a pre-filled available name
    assert "Custom ports" in page and "SSH connection" in page and "Mount directories" in page
    r = c.get("/environments").get_data(as_text=True)
    assert "No development environments yet" in r
    token = c.environ_base["HTTP_X_CSRF_TOKEN"]
    r = c.post("/environments", data={"type": "webterminal", "name": "t1", "resource_spec": "cpu-1",
                                      "ports": "99999", "csrf_token": token, "action": "save"})
    assert r.status_code == 400 and "out of range" in r.get_data(as_text=True)
    r = c.post("/environments", data={"type": "webterminal", "name": "t1", "resource_spec": "cpu-1",
                                      "ports": "8080", "csrf_token": token, "action": "save"})
    assert r.status_code == 302, r.get_data(as_text=True)
    detail = c.get(r.headers["Location"]).get_data(as_text=True)
    assert "t1" in detail and "stopped" in detail and "Environment log" in detail
    assert "env-connect" not in detail  # Connect only when ready
    listing = c.get("/environments").get_data(as_text=True)
    assert "t1" in listing and 'class="button connect"' not in listing
    # bob's session sees none of it
    b: Any = app_client(p, "bob", "bobpass12")
    assert b.get(r.headers["Location"]).status_code == 404
    assert b.get("/api/v1/environments/t1").status_code == 404


def test_api_types_and_json_errors(p: Platform) -> None:
    c: Any = app_client(p)
    types = c.get("/api/v1/environment-types").get_json()
    assert [t["name"] for t in types] == ["jupyterlab", "vscode", "rstudio", "desktop", "webterminal"]
    rstudio = next(t for t in types if t["name"] == "rstudio")
    assert rstudio["image_tag"] == "RStudio" and ("rserver" in (rstudio["unavailable"] or "") or rstudio["unavailable"] is None)
    r = c.post("/api/v1/environments", json={"type": "webterminal", "name": "x", "resource_spec": "cpu-1",
                                             "mounts": ["rel:/x"], "start": False})
    assert r.status_code == 400 and r.is_json and "mounts" in json.dumps(r.get_json())
    r = c.post("/api/v1/environments/nope/dance")
    assert r.status_code in (400, 404) and r.is_json
    paths = c.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"/environments", "/environments/{ref}", "/environments/{ref}/restart"} <= set(paths)


def test_cli_exits_2_on_bad_input(cli: Any) -> None:  # type: ignore[no-untyped-def]
    r = cli("envs", "create", "--type", "webterminal", "--resource-spec", "cpu-1", "--ports", "0", "--no-start")
    assert r.returncode == 2 and "ports" in r.stderr and "65535" in r.stderr, r.stderr
    r = cli("envs", "create", "--type", "nope", "--resource-spec", "cpu-1")
    assert r.returncode == 2 and "type" in r.stderr, r.stderr
    r = cli("envs", "create", "--type", "webterminal", "--resource-spec", "cpu-1", "--no-start")
    assert r.returncode == 0 and "webterminal-1" in r.stdout, r.stderr
    r = cli("envs", "list")
    assert r.returncode == 0 and "webterminal-1" in r.stdout and "stopped" in r.stdout
    assert cli("envs", "show", "webterminal-1").returncode == 0
    assert cli("envs", "delete", "webterminal-1").returncode == 0
    assert "webterminal-1" not in cli("envs", "list").stdout
