"""Service types, checks, keys and permissions without starting servers (fast).

The golden files in tests/svc/golden/ are each type's start plan for fixed options: the exact
command, ports, files and health path a node would run (HPCAI_UPDATE_GOLDEN=1 rewrites them
after a deliberate change; review the diff)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Iterator

import pytest

from core.api import ServiceContext
from core.config import load_config
from core.errors import Conflict, HpcaiError, NotFound, PermissionDenied, ValidationError
from core.platform import Platform
from core.store import ServiceKeyRow
from portal.services.proxy import _rewrite_cookie, _rewrite_location
from tests.svc.helpers import CPU_SPECS_OK, scratch

GOLDEN = Path(__file__).parent / "golden"
FIX = "/data/fixtures"  # options name paths; start_plan does not touch the disk
OPTIONS = {
    "tensorboard": {"logdir": f"{FIX}/tb"},
    "visualdl": {"logdir": f"{FIX}/vdl"},
    "mindinsight": {"logdir": f"{FIX}/summaries"},
    "custom": {"command": "python -m http.server $PORT", "entrypoint": "/bin/bash -c",
               "working_dir": f"{FIX}/web", "proxy_path": "/api/", "health_path": "/health"},
    "compose": {"compose_file": f"{FIX}/app/compose.yaml", "extra_args": "--no-build"},
    "torchserve": {"model_name": "mnist", "deploy_mode": "files", "serialized_file": f"{FIX}/mnist.pt",
                   "handler": "image_classifier", "model_file": f"{FIX}/model.py",
                   "extra_files": f"{FIX}/index_to_name.json", "runtime": "python", "workers": 2, "auth": True},
    "tfserving": {"model_name": "half", "model_dir": f"{FIX}/half_plus_two", "auth": True},
    "triton": {"model_repository": f"{FIX}/models", "auth": False},
    "mlserver": {"model_name": "iris", "framework": "sklearn", "model_uri": f"{FIX}/iris.joblib"},
}


@pytest.fixture(scope="module")
def platform() -> Iterator[Platform]:
    d = scratch("service-types")
    p = Platform(load_config({"HPCAI_DATA_DIR": str(d), **CPU_SPECS_OK}))
    p.store.migrate()
    p.specs.sync()
    p.accounts.seed_admin("adminpass1")
    for name in ("alice", "bob", "carol"):
        p.accounts.create(name, f"{name}pass12")
    yield p


def test_every_type_is_a_plugin(platform: Platform) -> None:
    assert sorted(platform.services.types()) == sorted(OPTIONS)
    serving = {n for n, t in platform.services.types().items() if t.api_keys}
    assert serving == {"torchserve", "tfserving", "triton", "mlserver"}


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_start_plan_golden(platform: Platform, name: str) -> None:
    st = platform.services.type(name)
    ctx = ServiceContext(alias=f"{name}-alice-0a1b2c3d", user="alice", job_dir="{job_dir}",
                         base_path=f"/dockerService/{name}-alice-0a1b2c3d")
    opts = OPTIONS[name]
    got = {"plan": asdict(st.start_plan(opts, ctx)), "proxy": asdict(st.proxy_rules(opts)),
           "auth": st.auth_enabled(opts),
           "example": st.request_example(f"https://portal.example/dockerService/{ctx.alias}", opts)}
    path = GOLDEN / f"{name}.json"
    if os.environ.get("HPCAI_UPDATE_GOLDEN") == "1":
        path.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n")
    assert got == json.loads(path.read_text())


def test_form_schema_carries_common_and_type_fields(platform: Platform) -> None:
    schema = platform.services.form_schema("torchserve", "alice")
    for f in ("name", "type", "resource_spec", "image", "shm_mb", "description", "model_name", "mar_file",
              "handler", "model_file", "extra_files", "requirements_file", "runtime", "config_file", "auth"):
        assert f in schema["properties"], f
    assert schema["properties"]["serialized_file"]["x-visible-if"] == {"deploy_mode": ["files"]}


def test_bad_values_name_their_fields(platform: Platform) -> None:
    with pytest.raises(HpcaiError) as e:
        platform.services.create({"type": "tensorboard", "name": "bad name!", "resource_spec": "nope"},
                                 "alice", start=False)
    fields = {err.field for err in getattr(e.value, "errors", [e.value])}
    assert {"name", "resource_spec", "logdir"} <= fields
    with pytest.raises(ValidationError) as e1:
        platform.services.create({"type": "no-such", "name": "x", "resource_spec": "cpu-1"}, "alice")
    assert e1.value.field == "type"
    with pytest.raises(ValidationError) as e2:
        platform.services.create({"type": "custom", "name": "x", "resource_spec": "cpu-1", "command": "true",
                                  "image": "no-such-image"}, "alice")
    assert e2.value.field == "image"


def test_triton_layout_is_checked_before_start(platform: Platform, tmp_path: Path) -> None:
    """FAQ 17: numbered version directories and config.pbtxt."""
    st = platform.services.type("triton")
    repo = tmp_path / "models"
    with pytest.raises(ValidationError, match="does not exist"):
        st.check({"model_repository": str(repo)})
    (repo / "resnet").mkdir(parents=True)
    with pytest.raises(ValidationError, match="config.pbtxt") as e:
        st.check({"model_repository": str(repo)})
    assert e.value.field == "model_repository"
    (repo / "resnet" / "config.pbtxt").write_text('name: "resnet"\nplatform: "onnxruntime_onnx"\n')
    with pytest.raises(ValidationError, match="numbered version"):
        st.check({"model_repository": str(repo)})
    (repo / "resnet" / "1").mkdir()
    st.check({"model_repository": str(repo)})


def test_tfserving_layout_is_checked_before_start(platform: Platform, tmp_path: Path) -> None:
    """FAQ 20: <model_dir>/<version>/saved_model.pb."""
    st = platform.services.type("tfserving")
    (tmp_path / "m").mkdir()
    with pytest.raises(ValidationError, match="numbered version"):
        st.check({"model_name": "m", "model_dir": str(tmp_path / "m")})
    (tmp_path / "m" / "1").mkdir()
    with pytest.raises(ValidationError, match="saved_model.pb"):
        st.check({"model_name": "m", "model_dir": str(tmp_path / "m")})
    (tmp_path / "m" / "1" / "saved_model.pb").write_bytes(b"\x08\x01")
    st.check({"model_name": "m", "model_dir": str(tmp_path / "m")})


def test_start_refuses_missing_model_or_logs(platform: Platform, tmp_path: Path) -> None:
    """FAQ 6: a service whose files are missing does not start; it says which field."""
    row = platform.services.create({"type": "torchserve", "name": "ts", "resource_spec": "cpu-1",
                                     "model_name": "m", "mar_file": str(tmp_path / "gone.mar")},
                                    "alice", start=False)
    with pytest.raises(ValidationError) as e:
        platform.services.start(row.alias, "alice")
    assert e.value.field == "mar_file" and platform.services.view(row).state == "stopped"
    with pytest.raises(ValidationError) as e2:
        platform.services.create({"type": "tensorboard", "name": "tb", "resource_spec": "cpu-1",
                                  "logdir": str(tmp_path / "nothing")}, "alice")
    assert e2.value.field == "logdir"


def test_api_keys_five_at_most_hashed_deleted_at_once(platform: Platform) -> None:
    svc = platform.services
    made = [svc.create_key("carol", f"k{i}") for i in range(5)]
    with pytest.raises(ValidationError, match="5 API keys") as e:
        svc.create_key("carol")
    assert e.value.field == "api_key" and "delete one" in (e.value.fix or "")
    with platform.store.session() as s:
        stored = [r.key_hash for r in s.query(ServiceKeyRow).filter_by(user="carol")]
    assert all(key not in stored for _, key in made) and len(stored) == 5
    assert {svc.key_user(key) for _, key in made} == {"carol"}
    svc.delete_key("carol", made[0][0])
    assert svc.key_user(made[0][1]) is None and svc.key_user(made[1][1]) == "carol"
    with pytest.raises(NotFound):
        svc.delete_key("alice", made[1][0])  # not hers
    svc.create_key("carol")  # room again after a delete


def test_permissions(platform: Platform) -> None:
    svc = platform.services
    row = svc.create({"type": "custom", "name": "perm", "resource_spec": "cpu-1", "command": "true"},
                     "alice", start=False)
    svc.authorize(row.alias, ["bob"], "alice")
    assert svc.may_use(svc._row(row.alias), "bob") and not svc.may_use(svc._row(row.alias), "carol")
    with pytest.raises(PermissionDenied):
        svc.stop(row.alias, "bob")  # authorised to use, not to control
    with pytest.raises(NotFound):
        svc.stop(row.alias, "carol")  # a stranger does not learn it exists
    with pytest.raises(PermissionDenied):
        svc.delete(row.alias, "admin")  # an admin may only start, stop, restart others' services
    with pytest.raises(PermissionDenied):
        svc.modify(row.alias, {"description": "x"}, "admin")
    assert svc.may_control(svc._row(row.alias), "admin", "stop")  # admins may stop others' services ...
    with pytest.raises(Conflict):
        svc.stop(row.alias, "admin")  # ... when they are started (F249)
    assert [r.alias for r in svc.list("bob")] == [row.alias]  # shared with bob
    svc.modify(row.alias, {"command": "sleep 1"}, "alice")  # stopped: applies at next start
    assert svc._row(row.alias).options["command"] == "sleep 1"
    svc.delete(row.alias, "alice")
    with pytest.raises(NotFound):
        svc.get(row.alias, "alice")


def test_only_cluster_hosts_are_allowed(platform: Platform) -> None:
    hosts = platform.services.allowed_hosts(None)
    assert "127.0.0.1" in hosts and "203.0.113.5" not in hosts


@pytest.mark.parametrize("location,strip,upstream,want", [
    ("/api/hello?x=1", True, "/api", "/dockerService/a/hello?x=1"),
    ("http://127.0.0.1:8000/login", True, "", "/dockerService/a/login"),
    ("https://elsewhere.example/", True, "", "https://elsewhere.example/"),
    ("/dockerService/a/#/scalars", False, "", "/dockerService/a/#/scalars"),
    ("next", True, "", "next"),
])
def test_rewrite_location(location: str, strip: bool, upstream: str, want: str) -> None:
    assert _rewrite_location(location, "127.0.0.1", 8000, "/dockerService/a", strip, upstream) == want


def test_rewrite_cookie_path() -> None:
    assert _rewrite_cookie("sid=1; Path=/; HttpOnly", "/dockerService/a") == "sid=1; Path=/dockerService/a/; HttpOnly"
    assert _rewrite_cookie("sid=1", "/dockerService/a") == "sid=1; Path=/dockerService/a/"
    assert _rewrite_cookie("sid=1; path=/dockerService/a/x", "/dockerService/a") == "sid=1; path=/dockerService/a/x"
