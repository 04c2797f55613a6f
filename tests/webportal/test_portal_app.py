"""The portal through Flask's test client, on a real store and the real local scheduler."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from core.types import JobState
from tests.webportal.conftest import login, project_dir


@pytest.fixture()
def alice(app):  # type: ignore[no-untyped-def]
    c = app.test_client()
    c.csrf = login(c, "alice", "alicepass1")
    return c


@pytest.fixture()
def bob(app):  # type: ignore[no-untyped-def]
    c = app.test_client()
    c.csrf = login(c, "bob", "bobpass12")
    return c


@pytest.fixture()
def admin(app):  # type: ignore[no-untyped-def]
    c = app.test_client()
    c.csrf = login(c, "admin", "adminpass1")
    return c


def wait_state(platform, job_id: int, user: str, states: set[str], timeout: float = 120) -> str:  # type: ignore[no-untyped-def]
    end = time.time() + timeout
    while time.time() < end:
        platform.jobs.refresh()
        state = platform.jobs.get(job_id, user).state
        if state in states:
            return state
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} never reached {states}; last {state}")


def test_login_required_and_wrong_password(app) -> None:  # type: ignore[no-untyped-def]
    c = app.test_client()
    assert c.get("/").status_code == 302
    assert c.get("/api/v1/jobs").status_code == 401
    c.get("/login")
    with c.session_transaction() as s:
        token = s["csrf"]
    r = c.post("/login", data={"username": "alice", "password": "nope", "csrf_token": token})
    assert r.status_code == 401 and b"wrong user name or password" in r.data


def test_session_cookie_flags(app) -> None:  # type: ignore[no-untyped-def]
    c = app.test_client()
    c.get("/login")
    with c.session_transaction() as s:
        token = s["csrf"]
    r = c.post("/login", data={"username": "alice", "password": "alicepass1", "csrf_token": token})
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_post_without_csrf_is_refused(alice) -> None:  # type: ignore[no-untyped-def]
    r = alice.post("/apps/training", data={"framework": "pytorch"})
    assert r.status_code == 400
    r = alice.post("/api/v1/presets", json={"name": "x", "values": {}})
    assert r.status_code == 403 and r.get_json()["field"] == "csrf_token"
    r = alice.post("/api/v1/presets", json={"name": "x", "values": {}}, headers={"X-CSRF-Token": alice.csrf})
    assert r.status_code == 201


def test_home_lists_applications(alice, admin) -> None:  # type: ignore[no-untyped-def]
    page = alice.get("/").data.decode()
    assert "AI model training" in page and "My jobs" in page and "app-specs" not in page
    assert "app-specs" in admin.get("/").data.decode()


def test_form_is_generated_from_the_schema(alice, platform) -> None:  # type: ignore[no-untyped-def]
    page = alice.get("/apps/training?framework=pytorch&mode=ddp").data.decode()
    for name in ("project", "name", "framework", "image", "mode", "workdir", "create_exec_dir",
                 "mounts", "command", "env", "shm_mb", "instances", "resource_spec"):
        assert f'id="field-{name}"' in page, name
    assert 'value="pytorch"' in page  # F98: job name defaults to the framework's name
    assert "Application resource monitoring" in page
    standalone = alice.get("/apps/training?framework=pytorch&mode=standalone").data.decode()
    assert 'id="field-instances"' not in standalone


def test_field_errors_appear_next_to_fields(alice) -> None:  # type: ignore[no-untyped-def]
    r = alice.post("/apps/training", data={"csrf_token": alice.csrf, "framework": "pytorch", "mode": "ddp",
                                           "_framework": "pytorch", "instances": "two", "command": ""})
    page = r.data.decode()
    assert r.status_code == 400
    assert 'id="error-instances"' in page and "not a whole number" in page
    r = alice.post("/apps/training", data={"csrf_token": alice.csrf, "framework": "pytorch", "mode": "ddp",
                                           "_framework": "pytorch", "instances": "2", "command": ""})
    page = r.data.decode()
    assert 'id="error-command"' in page and 'id="error-workdir"' in page and 'id="error-resource_spec"' in page


def test_workdir_outside_roots_is_refused(alice) -> None:  # type: ignore[no-untyped-def]
    r = alice.post("/apps/training", data={"csrf_token": alice.csrf, "framework": "pytorch", "mode": "standalone",
                                           "_framework": "pytorch", "workdir": "/etc", "command": "true",
                                           "resource_spec": "cpu-1"})
    assert r.status_code == 400 and "outside your directories" in r.data.decode()


def test_submit_ddp_job_through_the_form(alice, bob, admin, platform) -> None:  # type: ignore[no-untyped-def]
    work = project_dir(platform, "alice")
    r = alice.post("/apps/training", data={
        "csrf_token": alice.csrf, "framework": "pytorch", "_framework": "pytorch", "mode": "ddp",
        "name": "<b>ddp</b>", "project": "default", "image": "pytorch", "workdir": str(work),
        "command": "python ddp_train.py --steps 3", "instances": "2", "resource_spec": "cpu-1",
        "env": "FOO=bar", "mounts.source": "", "mounts.target": ""})
    assert r.status_code == 302, r.data.decode()[-2000:]
    assert "/jobs?new=" in r.headers["Location"]
    job_id = int(r.headers["Location"].split("new=")[1])
    row = platform.jobs.get(job_id, "alice")
    assert row.user == "alice" and row.request["env"] == {"FOO": "bar"}
    assert row.plan["roles"][0]["replicas"] == 2
    state = wait_state(platform, job_id, "alice", {"succeeded", "failed"})
    log = Path(platform.jobs.get(job_id, "alice").stdout_path).read_text()
    assert state == "succeeded", log
    listing = alice.get("/jobs").data.decode()
    assert "&lt;b&gt;ddp&lt;/b&gt;" in listing and "<b>ddp</b>" not in listing
    # Bob cannot see it, by page, stream or API; the admin can.
    assert bob.get(f"/jobs/{job_id}").status_code == 404
    assert bob.get(f"/jobs/{job_id}/log/stream").status_code == 404
    assert bob.get(f"/api/v1/jobs/{job_id}").status_code == 404
    assert bob.post(f"/jobs/{job_id}/delete", data={"csrf_token": bob.csrf}).status_code == 404
    assert str(job_id) not in [str(j["id"]) for j in bob.get("/api/v1/jobs").get_json()["jobs"]]
    assert admin.get(f"/jobs/{job_id}").status_code == 200
    # The log stream (SSE) carries the output and ends with the final state.
    stream = alice.get(f"/jobs/{job_id}/log/stream").data.decode()
    assert "event: end" in stream and '"succeeded"' in stream
    detail = alice.get(f"/jobs/{job_id}").data.decode()
    assert "jairun" in detail and "&lt;b&gt;ddp&lt;/b&gt;" in detail
    # Delete (an ended job) removes it.
    assert alice.post(f"/jobs/{job_id}/delete", data={"csrf_token": alice.csrf}).status_code == 302
    assert alice.get(f"/jobs/{job_id}").status_code == 404


def test_kill_through_api_with_token(app, platform) -> None:  # type: ignore[no-untyped-def]
    token = platform.accounts.create_token("alice", "test")
    h = {"Authorization": f"Bearer {token}"}
    c = app.test_client()
    work = project_dir(platform, "alice")
    r = c.post("/api/v1/jobs", json={"framework": "pytorch", "mode": "standalone", "workdir": str(work),
                                     "command": "echo '<script>alert(1)</script>'; sleep 300",
                                     "resource_spec": "cpu-1", "name": "sleeper"}, headers=h)
    assert r.status_code == 201, r.get_json()
    job_id = r.get_json()["id"]
    wait_state(platform, job_id, "alice", {"running"})
    end = time.time() + 30
    while "<script>" not in c.get(f"/api/v1/jobs/{job_id}/log", headers=h).get_json()["text"]:
        assert time.time() < end
        time.sleep(0.2)
    bob = platform.accounts.create_token("bob", "t")
    assert c.post(f"/api/v1/jobs/{job_id}/kill", headers={"Authorization": f"Bearer {bob}"}).status_code == 404
    r = c.post(f"/api/v1/jobs/{job_id}/kill", headers=h)
    assert r.status_code == 200
    assert wait_state(platform, job_id, "alice", {"cancelled", "failed"}) == "cancelled"
    # The log with HTML is escaped on the page: it is streamed as JSON text and appended as text.
    stream = app.test_client()
    login(stream, "alice", "alicepass1")
    body = stream.get(f"/jobs/{job_id}/log/stream").data.decode()
    assert json.dumps("<script>alert(1)</script>")[1:-1] in body
    assert c.post(f"/api/v1/jobs/{job_id}/kill", headers=h).status_code == 400
    assert c.get("/api/v1/jobs", headers={"Authorization": "Bearer hpcai_wrong"}).status_code == 401


def test_api_errors_name_the_field(alice) -> None:  # type: ignore[no-untyped-def]
    h = {"X-CSRF-Token": alice.csrf}
    r = alice.post("/api/v1/jobs", json={"framework": "pytorch", "mode": "ddp", "instances": 0,
                                         "command": "true", "workdir": "."}, headers=h)
    body = r.get_json()
    assert r.status_code == 400 and {e["field"] for e in body["errors"]} >= {"instances", "resource_spec"}
    r = alice.post("/api/v1/jobs", json={"framework": "nope", "command": "x", "workdir": "."}, headers=h)
    assert r.status_code == 400 and r.get_json()["field"] == "framework"
    r = alice.get("/api/v1/jobs?state=bogus")
    assert r.status_code == 400 and r.get_json()["field"] == "state"


def test_directory_picker_refuses_traversal(alice, platform) -> None:  # type: ignore[no-untyped-def]
    home = platform.workspace.home("alice")
    (home / "proj").mkdir(exist_ok=True)
    r = alice.get("/api/v1/files")
    assert r.status_code == 200 and any(e["name"] == "proj" for e in r.get_json()["entries"])
    for bad in ("/etc", f"{home}/../bob", f"{home}/../../..", "../bob"):
        r = alice.get("/api/v1/files", query_string={"path": bad})
        assert r.status_code in (403, 400), bad
        assert r.get_json()["field"] == "path"
    (home / "escape").symlink_to("/etc")
    assert alice.get("/api/v1/files", query_string={"path": str(home / "escape")}).status_code == 403
    h = {"X-CSRF-Token": alice.csrf}
    import io

    for name in ("../evil.py", "..", "a/b.py"):
        r = alice.post("/api/v1/files/upload", headers=h,
                       data={"path": str(home / "proj"), "file": (io.BytesIO(b"x"), name)})
        assert r.status_code == 400, name
    r = alice.post("/api/v1/files/upload", headers=h, data={"path": "/tmp", "file": (io.BytesIO(b"x"), "a.py")})
    assert r.status_code == 403
    r = alice.post("/api/v1/files/upload", headers=h,
                   data={"path": str(home / "proj"), "file": (io.BytesIO(b"print(1)"), "train.py")})
    assert r.status_code == 201 and (home / "proj" / "train.py").read_text() == "print(1)"


def test_presets_save_default_delete(alice) -> None:  # type: ignore[no-untyped-def]
    r = alice.post("/apps/training", data={"csrf_token": alice.csrf, "action": "save_preset", "preset_name": "mine",
                                           "framework": "pytorch", "_framework": "pytorch", "mode": "ddp",
                                           "instances": "3", "command": "python x.py"})
    assert r.status_code == 200 and "Preset &#39;mine&#39; saved" in r.data.decode()
    presets = alice.get("/api/v1/presets").get_json()
    preset = next(p for p in presets if p["name"] == "mine")
    assert preset["values"]["instances"] == 3
    alice.post(f"/apps/training/presets/{preset['id']}/default", data={"csrf_token": alice.csrf})
    page = alice.get("/apps/training").data.decode()  # the default preset pre-fills the form
    assert 'value="3"' in page and "python x.py" in page
    alice.post(f"/apps/training/presets/{preset['id']}/delete", data={"csrf_token": alice.csrf})
    assert all(p["name"] != "mine" for p in alice.get("/api/v1/presets").get_json())


def test_admin_spec_crud_and_visibility(admin, alice, bob) -> None:  # type: ignore[no-untyped-def]
    r = admin.post("/admin/specs", data={"csrf_token": admin.csrf, "name": "team-gpu", "kind": "gpu", "cpus": "4",
                                         "mem_mb": "8192", "gpus": "1", "gpu_mode": "shared", "gpu_type": "A100",
                                         "node_group": "gpu-nodes", "visible_groups": "team"})
    assert r.status_code == 302
    assert "team-gpu" in [s["name"] for s in alice.get("/api/v1/specs").get_json()]
    assert "team-gpu" not in [s["name"] for s in bob.get("/api/v1/specs").get_json()]
    r = admin.post("/admin/specs", data={"csrf_token": admin.csrf, "name": "bad", "kind": "gpu", "cpus": "1", "gpus": "0"})
    assert r.status_code == 400 and 'id="error-gpus"' in r.data.decode()
    assert alice.get("/admin/specs").status_code == 403
    assert alice.post("/api/v1/specs", json={"name": "x"}, headers={"X-CSRF-Token": alice.csrf}).status_code == 403
    r = admin.post("/admin/specs", data={"csrf_token": admin.csrf, "action": "delete", "name": "team-gpu"})
    assert r.status_code == 302


def test_admin_users_and_plugins(admin, alice) -> None:  # type: ignore[no-untyped-def]
    r = admin.post("/admin/users", data={"csrf_token": admin.csrf, "action": "create", "name": "carol",
                                         "password": "carolpass1", "role": "user", "groups": "team"})
    assert r.status_code == 302
    r = admin.post("/admin/users", data={"csrf_token": admin.csrf, "action": "create", "name": "root",
                                         "password": "whatever12"})
    assert r.status_code == 400 and "reserved" in r.data.decode()
    page = admin.get("/admin/plugins").data.decode()
    assert "pytorch" in page and "ddp" in page and "local" in page
    assert alice.get("/admin/users").status_code == 403


def test_monitor_is_cached(alice, platform) -> None:  # type: ignore[no-untyped-def]
    before = platform.monitor.calls
    for _ in range(5):
        alice.get("/apps/training")
        alice.get("/api/v1/monitor")
    assert platform.monitor.calls - before <= 1


def test_job_list_reads_the_store_only(alice, platform, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    sched = platform.registry.scheduler("local")

    def refuse(*_a, **_k):  # type: ignore[no-untyped-def]
        raise AssertionError("a page asked the scheduler")

    monkeypatch.setattr(sched, "poll", refuse)
    assert alice.get("/jobs").status_code == 200
    assert alice.get("/api/v1/jobs").status_code == 200


def test_openapi_document_carries_the_form_schema(alice) -> None:  # type: ignore[no-untyped-def]
    doc = alice.get("/api/v1/openapi.json").get_json()
    props = doc["components"]["schemas"]["JobValues"]["properties"]
    assert {"command", "workdir", "instances", "resource_spec"} <= set(props)
    assert doc["openapi"].startswith("3.1")


def test_states_enum_is_complete() -> None:
    assert {"queued", "running", "succeeded", "failed", "cancelled"} <= {s.value for s in JobState}
