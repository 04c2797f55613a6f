"""Model registry rules (spec 06 Part A) on a real store and the session's real MLflow server:
names, directories, LoRA base models, version numbering and tags, MLflow mirror and aliases,
delete with/without files, sharing permissions, the version file browser, recommendations and
the converters' checks before any job. No scheduler needed: conversion jobs are tests/svc's."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from core.config import load_config
from core.errors import HpcaiError, NotFound, PermissionDenied, ValidationError
from core.models.files import VersionFiles
from core.models.types import recommend
from core.platform import Platform
from tests.tracking import rest
from tests.fixtures_services import scratch_dir

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
def p(mlflow_server: str) -> Iterator[Platform]:
    data = scratch_dir("models-registry")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HPCAI_MLFLOW_URI", mlflow_server)  # read by core.tracking, as in every process
        platform = Platform(load_config({"HPCAI_DATA_DIR": str(data)}))
        platform.store.migrate()
        for name in ("alice", "bob", "carol"):
            platform.accounts.create(name, f"{name}pass12")
        platform.accounts.create("boss", "bosspass12", role="admin")
        for name in ("alice", "bob"):
            platform.accounts.add_to_group(name, "team")
        yield platform


def folder(p: Platform, user: str, name: str, files: dict[str, bytes] | None = None) -> Path:
    d = p.workspace.home(user) / name
    d.mkdir(parents=True, exist_ok=True)
    for rel, data in (files or {"model.pt": b"PK\x03\x04fake"}).items():
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / rel).write_bytes(data)
    return d


def mlflow_versions(url: str, name: str) -> list[str]:
    r = requests.get(f"{url}/api/2.0/mlflow/model-versions/search", params={"filter": f"name='{name}'"}, timeout=10, auth=rest.auth())
    return sorted(v["version"] for v in r.json().get("model_versions", []))


def fails(fn, field: str, kind: type[HpcaiError] = ValidationError) -> HpcaiError:  # type: ignore[no-untyped-def]
    with pytest.raises(kind) as exc:
        fn()
    assert exc.value.field == field, exc.value
    return exc.value


def test_create_rules_and_bad_input_change_nothing(p: Platform, mlflow_server: str) -> None:
    m = p.models
    d = folder(p, "alice", "resnet")
    row = m.create("alice", {"name": "resnet", "purpose": "deep-learning", "model_dir": str(d), "tags": ["Other"]})
    assert row.tags == ["Deep learning", "Other"]  # the purpose's tag first (F202)
    assert row.mlflow_name == "alice.resnet" and mlflow_versions(mlflow_server, "alice.resnet") == ["1"]
    before = m.list("alice")[1]
    err = fails(lambda: m.create("alice", {"name": "resnet", "model_dir": str(d)}), "name")
    assert "already have a model named 'resnet'" in str(err)
    fails(lambda: m.create("alice", {"name": "x1", "model_dir": "/etc"}), "model_dir", PermissionDenied)
    fails(lambda: m.create("alice", {"name": "x2", "model_dir": str(d / "missing")}), "model_dir")
    fails(lambda: m.create("alice", {"name": "x3", "model_dir": ""}), "model_dir")
    fails(lambda: m.create("alice", {"name": "x4", "purpose": "magic", "model_dir": str(d)}), "purpose")
    fails(lambda: m.create("alice", {"name": "x5", "model_dir": str(d), "tags": ["nosuchtag"]}), "tags")
    fails(lambda: m.create("alice", {"name": "../x", "model_dir": str(d)}), "name")
    assert m.list("alice")[1] == before
    for name in ("x1", "x2", "x3", "x4", "x5"):  # no MLflow leftovers either
        assert requests.get(f"{mlflow_server}/api/2.0/mlflow/registered-models/get", params={"name": f"alice.{name}"}, auth=rest.auth(),
                            timeout=10).status_code == 404
    # another user may use the same name: names are unique per owner
    assert m.create("bob", {"name": "resnet", "model_dir": str(folder(p, "bob", "resnet"))}).owner == "bob"


def test_lora_needs_a_base_model_that_is_no_adapter(p: Platform) -> None:
    m = p.models
    base = m.create("alice", {"name": "llama", "purpose": "text-generation", "model_dir": str(folder(p, "alice", "llama"))})
    adapter_dir = folder(p, "alice", "lora", {"adapter_model.safetensors": b"x"})
    fails(lambda: m.create("alice", {"name": "lora1", "is_lora": True, "model_dir": str(adapter_dir)}), "base_model")
    fails(lambda: m.create("alice", {"name": "lora1", "is_lora": True, "base_model": "nope",
                                     "model_dir": str(adapter_dir)}), "base_model")
    lora = m.create("alice", {"name": "lora1", "is_lora": True, "base_model": "llama", "model_dir": str(adapter_dir)})
    assert lora.base_model_id == base.id and m.as_dict(lora, "alice")["base_model"] == "llama"
    fails(lambda: m.create("alice", {"name": "lora2", "is_lora": True, "base_model": "lora1",
                                     "model_dir": str(adapter_dir)}), "base_model")


def test_versions_count_up_from_the_highest_inherit_tags_and_mirror_mlflow(p: Platform, mlflow_server: str) -> None:
    m = p.models
    m.create("alice", {"name": "bert", "purpose": "embedding", "model_dir": str(folder(p, "alice", "bert1"))})
    m.modify("alice", "bert", {"tags": ["Other"]})
    v2 = m.add_version("alice", "bert", {"model_dir": str(folder(p, "alice", "bert2")), "description": "second"})
    v3 = m.add_version("alice", "bert", {"model_dir": str(folder(p, "alice", "bert3"))})
    assert (v2.number, v3.number) == (2, 3) and v3.tags == ["Embedding", "Other"]  # F208, F209
    m.delete_version("alice", "bert", 2, delete_files=False)
    assert m.add_version("alice", "bert", {"model_dir": str(folder(p, "alice", "bert4"))}).number == 4
    assert [v.number for v in m.versions("alice", "bert")] == [1, 3, 4]
    assert mlflow_versions(mlflow_server, "alice.bert") == ["1", "3", "4"]
    m.set_alias("alice", "bert", 3, "champion")
    assert [v.aliases for v in m.versions("alice", "bert")] == [[], ["champion"], []]
    fails(lambda: m.set_alias("alice", "bert", 3, "latest"), "alias")  # MLflow reserves it
    fails(lambda: m.version("alice", "bert", 2), "version", NotFound)
    assert m.version("alice", "bert")[1].number == 4  # F211: the latest by default
    fails(lambda: m.add_version("bob", "bert", {"model_dir": str(folder(p, "bob", "b"))}), "name", NotFound)


def test_modify_keeps_the_name_and_delete_with_or_without_files(p: Platform, mlflow_server: str) -> None:
    m = p.models
    keep, gone = folder(p, "alice", "keep"), folder(p, "alice", "gone")
    m.create("alice", {"name": "keepme", "model_dir": str(keep)})
    fails(lambda: m.modify("alice", "keepme", {"name": "renamed"}), "name")
    row = m.modify("alice", "keepme", {"purpose": "machine-learning", "description": "d"})
    assert row.tags == ["Machine learning"] and row.description == "d"
    m.delete("alice", "keepme", delete_files=False)
    assert keep.is_dir()  # F206: only the entry
    m.create("alice", {"name": "goneme", "model_dir": str(gone)})
    fails(lambda: m.delete("bob", "goneme", True), "name", NotFound)  # not bob's, not shared: not even visible
    m.delete("alice", "goneme", delete_files=True)
    assert not gone.exists()
    assert requests.get(f"{mlflow_server}/api/2.0/mlflow/registered-models/get", params={"name": "alice.goneme"}, auth=rest.auth(),
                        timeout=10).status_code == 404


def test_sharing_needs_a_group_and_its_area_and_follows_the_permissions_table(p: Platform) -> None:
    m = p.models
    m.create("alice", {"name": "vit", "purpose": "deep-learning", "model_dir": str(folder(p, "alice", "vit"))})
    area = p.datasets.group_area("team")
    (area / "models").mkdir(exist_ok=True)
    fails(lambda: m.share("alice", "vit", 1, {"share_group": "ghosts", "share_dir": "models"}), "share_group")
    fails(lambda: m.share("alice", "vit", 1, {"share_group": "team", "share_dir": "/tmp"}), "share_dir")
    fails(lambda: m.share("alice", "vit", 1, {"share_group": "team", "share_dir": "models", "share_users": "carol"}),
          "share_users")
    fails(lambda: m.share("bob", "vit", 1, {"share_group": "team", "share_dir": "models"}), "name", NotFound)
    assert m.list("bob", area="shared")[1] == 0
    shared = m.share("alice", "vit", 1, {"share_group": "team", "share_dir": "models", "name": "vit-shared"},
                     background=False)
    assert shared.state == "ready" and (area / "models" / "vit-shared-v1" / "model.pt").is_file()
    assert [r.name for r in m.list("bob", area="shared")[0]] == ["vit-shared"]  # F220
    assert m.list("carol", area="shared")[1] == 0  # not in the group
    perms = {u: m.permissions(m.get(u, "vit-shared", "shared"), u) for u in ("alice", "bob", "boss")}
    assert perms["alice"]["modify"] and perms["alice"]["delete"]  # F221: owner
    assert not perms["bob"]["modify"] and not perms["bob"]["delete"] and perms["bob"]["deploy"]  # others: view, deploy
    assert perms["boss"]["delete"] and not perms["boss"]["modify"]  # admin: delete
    fails(lambda: m.delete("bob", "vit-shared", False, area="shared"), "name", PermissionDenied)
    fails(lambda: m.modify("bob", "vit-shared", {"description": "mine now"}), "name", NotFound)
    assert m.deploy_form("bob", "vit-shared")["recommended"][0] == "torchserve"  # F222: deploys like one's own
    m.delete("boss", "vit-shared", delete_files=True, area="shared")
    assert not (area / "models" / "vit-shared-v1").exists() and m.list("bob", area="shared")[1] == 0


def test_file_browser_stays_inside_the_version(p: Platform, tmp_path: Path) -> None:
    root = tmp_path / "v1"
    root.mkdir()
    (root / "a.txt").write_text("a")
    (tmp_path / "secret").write_text("s")
    os.symlink(tmp_path / "secret", root / "link")
    f = VersionFiles(root)
    f.mkdir("", "sub")
    f.upload("sub", "w.bin", io.BytesIO(b"12345"), max_bytes=10)
    fails(lambda: f.upload("sub", "big.bin", io.BytesIO(b"x" * 11), max_bytes=10), "file")
    assert not (root / "sub" / "big.bin").exists() and not (root / "sub" / ".big.bin.upload").exists()
    f.paste(["a.txt"], "sub", move=False)
    f.paste(["sub/w.bin"], "", move=True)
    assert sorted(e.path for e in f.list("sub")) == ["sub/a.txt"] and (root / "w.bin").is_file()
    assert [e.path for e in f.search("a.t")] == ["a.txt", "sub/a.txt"]
    fails(lambda: f.paste(["a.txt"], "sub", move=False), "dest")  # exists already
    fails(lambda: f.paste(["sub"], "sub", move=True), "dest")  # into itself
    fails(lambda: f.list("../"), "path", PermissionDenied)
    fails(lambda: f.file("link"), "path", PermissionDenied)  # a link out of the version
    fails(lambda: f.mkdir("", "../up"), "name")
    assert f.delete(["sub", "w.bin"]) == 2 and sorted(e.path for e in f.list()) == ["a.txt", "link"]
    fails(lambda: f.delete([""]), "paths")


def test_recommendations_follow_purpose_then_files() -> None:
    serving = ["mlserver", "tfserving", "torchserve", "triton"]
    here = {"mlserver": True, "tfserving": True, "torchserve": True, "triton": False}
    everywhere = dict.fromkeys(serving, True)
    assert recommend("machine-learning", [], serving, everywhere) == ["triton", "mlserver"]  # F215
    assert recommend("machine-learning", [], serving, here) == ["mlserver"]  # Triton cannot run: MLServer
    assert recommend("deep-learning", [], serving, everywhere) == ["tfserving", "torchserve", "triton"]
    assert recommend("deep-learning", [Path("m/model.h5")], serving, everywhere)[0] == "tfserving"  # F216
    assert recommend("deep-learning", [Path("m/model.pt")], serving, everywhere)[0] == "torchserve"
    assert recommend("reinforcement-learning", [], serving, everywhere) == serving  # RL: all


def test_converters_refuse_what_they_cannot_convert_before_any_job(p: Platform) -> None:
    conv = p.models.d.converters()
    assert set(conv) == {"pytorch", "sklearn", "tensorflow", "paddle"}
    d = folder(p, "alice", "conv", {"model.pt": b"PK\x03\x04x", "notes.txt": b"hello"})
    fails(lambda: conv["pytorch"].plan({"input_shape": "0,4"}, d), "input_shape")
    assert conv["pytorch"].plan({"input_shape": "1, 4"}, d).args[:4] == ["--model-file", str(d / "model.pt"),
                                                                         "--input-shape", "1,4"]
    fails(lambda: conv["pytorch"].plan({"input_shape": "1,4", "model_file": "../x.pt"}, d), "model_file")
    fails(lambda: conv["pytorch"].plan({"input_shape": "1,4", "model_file": "notes.txt"}, d), "model_file")
    fails(lambda: conv["sklearn"].plan({}, d), "model_file")  # no .joblib/.pkl here
    (d / "model.pkl").write_text("text, not a pickle")
    fails(lambda: conv["sklearn"].plan({}, d), "model_file")
    tf = folder(p, "alice", "tf", {"weights/w.index": b"x", "model.h5": b"x"})
    err = fails(lambda: conv["tensorflow"].plan({}, tf), "model_file")
    assert "export_model.py" in (err.fix or "")  # FAQ 20
    (tf / "export_model.py").write_text("def export_model(model_file): ...\n")
    assert "--export-model" in conv["tensorflow"].plan({}, tf).args
    fails(lambda: conv["paddle"].plan({"input_shape": "1,3"}, tf), "model_prefix")
    m = p.models
    m.create("alice", {"name": "convme", "model_dir": str(d)})
    fails(lambda: m.convert("alice", "convme", 1, "onnx-magic", {}), "converter")
    fails(lambda: m.convert("bob", "convme", 1, "pytorch", {"input_shape": "1,4"}), "name", NotFound)
    assert [v.number for v in m.versions("alice", "convme")] == [1]


def test_admins_maintain_model_tags(p: Platform) -> None:
    """F223: tag categories and tags by administrators; models may then carry them."""
    m = p.models
    fails(lambda: m.add_tag("alice", "Language", "Chinese"), "user", PermissionDenied)
    m.add_tag("boss", "Language", "Chinese")
    fails(lambda: m.add_tag("boss", "Language", "Chinese"), "name")
    assert m.tag_choices()["Language"] == ["Chinese"]
    row = m.create("alice", {"name": "zh", "purpose": "text-generation", "model_dir": str(folder(p, "alice", "zh")),
                             "tags": ["Chinese"]})
    assert row.tags == ["Text generation", "Chinese"]
    assert [r.name for r in m.list("alice", tag="Chinese")[0]] == ["zh"]
    m.delete_tag("boss", "Language", "Chinese")
    fails(lambda: m.create("alice", {"name": "zh2", "model_dir": str(folder(p, "alice", "zh")), "tags": ["Chinese"]}),
          "tags")
