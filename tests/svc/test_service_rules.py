"""Rules of "My services" from the product's checklist (spec 00 §3.15): the description limit
(F233), CPU-only visualisation types (F228), what Modify may not change (F251), the list's
columns and global search (F226, F227), "Access service" only for types with a web UI (F241)."""

from __future__ import annotations

import re
from typing import Any, Iterator

import pytest

from core.config import load_config
from core.errors import ValidationError
from core.platform import Platform
from tests.svc.helpers import CPU_SPECS_OK, app_client, scratch


@pytest.fixture(scope="module")
def platform() -> Iterator[Platform]:
    d = scratch("service-rules")
    p = Platform(load_config({"HPCAI_DATA_DIR": str(d), **CPU_SPECS_OK}))
    p.store.migrate()
    p.specs.sync()
    p.accounts.create("alice", "alicepass12")
    (d / "logs").mkdir()
    yield p


@pytest.fixture(scope="module")
def client(platform: Platform) -> Any:
    return app_client(platform)


def test_description_is_at_most_512_characters(platform: Platform) -> None:
    values = {"type": "custom", "name": "long", "resource_spec": "cpu-1", "command": "true"}
    with pytest.raises(Exception) as e:
        platform.services.create({**values, "description": "x" * 513}, "alice", start=False)
    assert "description" in {err.field for err in getattr(e.value, "errors", [e.value])}
    row = platform.services.create({**values, "description": "x" * 512}, "alice", start=False)
    platform.services.delete(row.alias, "alice")


def test_visualisation_types_take_cpu_specs_only(platform: Platform) -> None:
    logs = str(platform.config.data_dir / "logs")
    with pytest.raises(ValidationError) as e:
        platform.services.create({"type": "tensorboard", "name": "tb-gpu", "resource_spec": "gpu-1", "logdir": logs},
                                 "alice", start=False)
    assert e.value.field == "resource_spec" and "CPU resource specs only" in e.value.message
    row = platform.services.create({"type": "tensorboard", "name": "tb-cpu", "resource_spec": "cpu-1",
                                    "logdir": logs}, "alice", start=False)
    platform.services.delete(row.alias, "alice")


def test_modify_keeps_name_type_and_classification(platform: Platform) -> None:
    platform.settings.set_classification(True, "admin")  # F1: off, the field is absent everywhere
    svc = platform.services
    row = svc.create({"type": "custom", "name": "fixed", "resource_spec": "cpu-1", "command": "true",
                      "classification": "public"}, "alice", start=False)
    for change in ({"name": "renamed"}, {"classification": "secret"}, {"type": "tensorboard"}):
        with pytest.raises(ValidationError) as e:
            svc.modify(row.alias, change, "alice")
        assert e.value.field == next(iter(change))
    svc.modify(row.alias, {"name": "fixed", "description": "now described", "resource_spec": "cpu-2"}, "alice")
    after = svc._row(row.alias)
    assert (after.name, after.classification, after.description, after.resource_spec) == \
        ("fixed", "public", "now described", "cpu-2")
    svc.delete(row.alias, "alice")


def test_list_columns_and_global_search(platform: Platform, client: Any) -> None:
    platform.settings.set_classification(True, "admin")  # its column shows only when switched on
    svc = platform.services
    a = svc.create({"type": "custom", "name": "alpha-web", "resource_spec": "cpu-1", "command": "true",
                    "description": "the shop front"}, "alice", start=False)
    b = svc.create({"type": "mlserver", "name": "beta-model", "resource_spec": "gpu-1", "model_name": "m",
                    "framework": "sklearn", "model_uri": "/x.joblib"}, "alice", start=False)
    assert [r.alias for r in svc.list("alice", search="SHOP")] == [a.alias]
    assert [r.alias for r in svc.list("alice", search="mlserver")] == [b.alias]
    page = client.get("/services").get_data(as_text=True)
    for column in ("Classification", "Creator", "Node", "GPU", "Created", "Last modified", "Authorization",
                   "Image", "Description"):
        assert f"<th>{column}</th>" in page, column
    row_b = re.search(rf'<tr data-service="{b.alias}">(.*?)</tr>', page, re.S).group(1)  # type: ignore[union-attr]
    assert "Unauthorized" in row_b and "<td>1</td>" in row_b  # a serving type; gpu-1 has one card
    found = client.get("/services?q=shop").get_data(as_text=True)
    assert a.alias in found and b.alias not in found
    assert [s["alias"] for s in client.get("/api/v1/services?q=beta").get_json()] == [b.alias]
    assert 'No service matches "nothing-like-it"' in client.get("/services?q=nothing-like-it").get_data(as_text=True)
    for row in (a, b):
        svc.delete(row.alias, "alice")


def test_access_service_only_for_types_with_a_web_ui(platform: Platform) -> None:
    """F241: the view says so; a stopped service never has the button."""
    from core.services import ACCESS_CATEGORIES

    categories = {name: t.category for name, t in platform.services.types().items()}
    assert {n for n, c in categories.items() if c in ACCESS_CATEGORIES} == \
        {"tensorboard", "visualdl", "mindinsight", "custom"}
    row = platform.services.create({"type": "custom", "name": "idle", "resource_spec": "cpu-1", "command": "true"},
                                   "alice", start=False)
    assert platform.services.view(row).can_access is False
    platform.services.delete(row.alias, "alice")


def test_mlserver_runs_in_its_image_by_default(platform: Platform) -> None:
    row = platform.services.create({"type": "mlserver", "name": "default-image", "resource_spec": "cpu-1",
                                    "model_name": "m", "framework": "onnx", "model_uri": "/x.onnx"},
                                   "alice", start=False)
    assert row.image == "mlserver"
    platform.services.delete(row.alias, "alice")


def test_mlserver_onnx_plan_brings_its_runtime(platform: Platform) -> None:
    """MLServer 1.7 has no ONNX runtime: ours is written next to the model's settings."""
    import json

    from core.api import ServiceContext

    st = platform.services.type("mlserver")
    ctx = ServiceContext(alias="mlserver-alice-1", user="alice", job_dir="{job_dir}", base_path="/dockerService/x")
    plan = st.start_plan({"model_name": "m", "framework": "onnx", "model_uri": "/models/m.onnx"}, ctx)
    assert json.loads(plan.files["models/m/model-settings.json"])["implementation"] == "onnx_runtime.OnnxModel"
    assert "class OnnxModel(MLModel)" in plan.files["models/m/onnx_runtime.py"]
    sklearn = st.start_plan({"model_name": "m", "framework": "sklearn", "model_uri": "/models/m.joblib"}, ctx)
    assert "models/m/onnx_runtime.py" not in sklearn.files


def test_compose_has_no_image_field(platform: Platform, tmp_path: Any) -> None:
    """F233: a compose file names its images; the form has no image field and the API refuses one."""
    assert "image" not in platform.services.form_schema("compose", "alice")["properties"]
    assert "image" in platform.services.form_schema("custom", "alice")["properties"]
    compose = tmp_path / "compose.yaml"
    compose.write_text("services: {}\n")
    with pytest.raises(ValidationError) as e:
        platform.services.create({"type": "compose", "name": "c1", "resource_spec": "cpu-1",
                                  "compose_file": str(compose), "image": "pytorch"}, "alice", start=False)
    assert e.value.field == "image" and "compose file" in (e.value.fix or "")
    assert not [r for r in platform.services.list("alice") if r.name == "c1"]


def test_torchserve_config_properties_parameters(platform: Platform, tmp_path: Any) -> None:
    """F231: the user's config.properties parameters join the platform's; addresses and ports stay ours."""
    from core.api import ServiceContext

    st = platform.services.type("torchserve")
    mar = tmp_path / "m.mar"
    mar.write_bytes(b"PK")
    opts = {"model_name": "m", "deploy_mode": "mar", "mar_file": str(mar), "config": "job_queue_size=7\n# note\n"}
    st.check(opts)
    plan = st.start_plan(opts, ServiceContext(alias="a", user="alice", job_dir="{job_dir}", base_path="/x"))
    assert "job_queue_size=7\n" in plan.files["config.properties"]
    for bad in ("inference_address=http://0.0.0.0:80", "grpc_inference_port=1", "no equals sign"):
        with pytest.raises(ValidationError) as e:
            st.check({**opts, "config": bad})
        assert e.value.field == "config"


def test_triton_model_name_is_its_directory_name(platform: Platform, tmp_path: Any) -> None:
    """F232: config.pbtxt's name must be the model directory's; the request example names the model."""
    st = platform.services.type("triton")
    (tmp_path / "iris" / "1").mkdir(parents=True)
    (tmp_path / "iris" / "config.pbtxt").write_text('name: "flowers"\nplatform: "onnxruntime_onnx"\n')
    with pytest.raises(ValidationError) as e:
        st.check({"model_repository": str(tmp_path)})
    assert e.value.field == "model_repository" and "rename" in (e.value.fix or "")
    (tmp_path / "iris" / "config.pbtxt").write_text('name: "iris"\nplatform: "onnxruntime_onnx"\n')
    st.check({"model_repository": str(tmp_path)})
    assert "/v2/models/iris/infer" in st.request_example("http://h", {"model_repository": str(tmp_path)})
