"""My services pages over core.services: the create form comes from the type's schema, the
access button appears only for running services, API keys are shown once (Flask test client)."""

from __future__ import annotations

import re
from typing import Any, Iterator

import pytest

from core.config import load_config
from core.platform import Platform
from tests.svc.helpers import CPU_SPECS_OK, scratch


@pytest.fixture(scope="module")
def app() -> Iterator[Any]:
    from portal import create_app

    d = scratch("service-pages")
    p = Platform(load_config({"HPCAI_DATA_DIR": str(d), **CPU_SPECS_OK}))
    p.store.migrate()
    p.specs.sync()
    p.accounts.create("alice", "alicepass12")
    yield create_app(p, settings={"TESTING": True})


@pytest.fixture(scope="module")
def client(app: Any) -> Any:
    c = app.test_client()
    c.get("/login")
    with c.session_transaction() as s:
        token = s["csrf"]
    assert c.post("/login", data={"username": "alice", "password": "alicepass12", "csrf_token": token}).status_code == 302
    with c.session_transaction() as s:
        c.csrf = s["csrf"]  # a new session (and token) after logging in
    return c


def test_create_form_is_generated_from_the_type_schema(client: Any) -> None:
    page = client.get("/services/new?type=torchserve").get_data(as_text=True)
    for name in ("model_name", "deploy_mode", "mar_file", "serialized_file", "handler", "model_file",
                 "extra_files", "requirements_file", "config_file", "auth", "resource_spec", "shm_mb"):
        assert f'name="{name}"' in page, name
    assert 'name="logdir"' not in page
    assert 'name="logdir"' in client.get("/services/new?type=tensorboard").get_data(as_text=True)


def test_create_errors_are_shown_next_to_fields(client: Any) -> None:
    r = client.post("/services/new", data={"csrf_token": client.csrf, "type": "tensorboard", "name": "tb",
                                           "resource_spec": "cpu-1", "logdir": "/no/such/dir", "action": "start"})
    assert r.status_code == 400
    assert re.search(r'id="error-logdir">logs path /no/such/dir does not exist', r.get_data(as_text=True))


def test_stopped_service_has_no_access_button(client: Any) -> None:
    r = client.post("/services/new", data={"csrf_token": client.csrf, "type": "custom", "name": "later",
                                           "resource_spec": "cpu-1", "command": "true", "action": "save"})
    assert r.status_code == 302
    alias = r.headers["Location"].rsplit("/", 1)[-1]
    page = client.get(f"/services/{alias}").get_data(as_text=True)
    assert 'id="state">stopped' in page and 'id="access"' not in page
    assert alias in client.get("/services").get_data(as_text=True)
    r = client.get(f"/dockerService/{alias}/")
    assert r.status_code == 503 and "stopped" in r.get_json()["error"]


def test_api_key_page_shows_a_key_once_and_refuses_the_sixth(client: Any) -> None:
    shown = []
    for i in range(5):
        page = client.post("/services/keys", data={"csrf_token": client.csrf, "name": f"k{i}"}).get_data(as_text=True)
        shown.append(re.search(r'<code id="new-key-value">(hsk_[^<]+)</code>', page).group(1))  # type: ignore[union-attr]
    listing = client.get("/services/keys").get_data(as_text=True)
    assert not any(k in listing for k in shown) and "5 of 5" in listing
    page = client.post("/services/keys", data={"csrf_token": client.csrf, "name": "k6"}).get_data(as_text=True)
    assert "you already have 5 API keys" in page
    r = client.post("/api/v1/service-keys", json={}, headers={"X-CSRF-Token": client.csrf})
    assert r.status_code == 400 and r.get_json()["field"] == "api_key"


def test_service_origins_by_setting(app: Any) -> None:
    """[services] origin: auto (loopback portal -> *.svc.localhost), a site template, or path."""
    from portal.services import origin

    services = app.extensions["hpcai"].config.raw.setdefault("services", {})
    try:
        with app.test_request_context("/", base_url="http://127.0.0.1:8080"):
            o = origin.origins()
            assert o.url("web-a-1") == "http://web-a-1.svc.localhost:8080"
            assert o.alias_of("web-a-1.svc.localhost:8080") == "web-a-1" and o.alias_of("127.0.0.1:8080") is None
        with app.test_request_context("/", base_url="http://login01.example:8080"):
            assert origin.origins().url("web-a-1") is None  # a real name without a template: no wildcard DNS
        services["origin"] = "https://{alias}.svc.hpc.example.edu"
        with app.test_request_context("/", base_url="https://hpc.example.edu"):
            o = origin.origins()
            assert o.url("web-a-1") == "https://web-a-1.svc.hpc.example.edu"
            assert o.alias_of("web-a-1.svc.hpc.example.edu") == "web-a-1"
            assert o.alias_of("web-a-1.svc.hpc.example.edu.evil.test") is None
        services["origin"] = "path"
        with app.test_request_context("/", base_url="http://127.0.0.1:8080"):
            assert origin.origins().url("web-a-1") is None
    finally:
        services.pop("origin", None)
