"""Simulation environments (spec 04 §1, F130-F134) on a real store: every registration rule,
real archives made here with zipfile/tarfile, the REST API (JSON and multipart upload) and
`hpcai rl envs`; each mistake names its field and the fix, and leaves nothing behind."""

from __future__ import annotations

import io
import json
import os
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from cli.main import main
from core.errors import HpcaiError, NotFound, PermissionDenied, ValidationError
from core.platform import Platform
from core.rl.simenvs.service import Upload
from core.users import current_user
from tests.datasets.conftest import make_platform, scratch

SCRIPT = b"#!/bin/sh\nexec python3 -m http.server \"${HPCAI_SIM_PORTS%%,*}\"\n"


def zip_pkg(path: Path, files: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def tar_pkg(path: Path, files: dict[str, bytes], mode: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, mode) as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tf.addfile(info, io.BytesIO(data))
    return path


def fails(fn, field: str, kind: type[HpcaiError] = ValidationError) -> HpcaiError:  # type: ignore[no-untyped-def]
    with pytest.raises(kind) as exc:
        fn()
    fields = [e.field for e in getattr(exc.value, "errors", [exc.value])]
    assert field in fields, exc.value
    err = next(e for e in getattr(exc.value, "errors", [exc.value]) if e.field == field)
    assert err.fix, f"{err} says no fix"
    return err


@pytest.fixture
def p() -> Platform:
    platform = make_platform(scratch("rlenvs"))
    platform.store.migrate()
    return platform


def test_green_package_rules_and_resolve(p: Platform) -> None:
    e, home = p.rl_envs, p.workspace.home("alice")
    pkgs = {
        "zip": zip_pkg(home / "pk" / "sim.zip", {"sim/run.sh": SCRIPT, "sim/data.bin": b"x"}),
        "tar": tar_pkg(home / "pk" / "sim.tar", {"run.sh": SCRIPT}, "w"),
        "tar.gz": tar_pkg(home / "pk" / "sim.tar.gz", {"a/run.sh": SCRIPT}, "w:gz"),
        "tar.bz2": tar_pkg(home / "pk" / "sim.tar.bz2", {"run.sh": SCRIPT}, "w:bz2"),
        "tar.xz": tar_pkg(home / "pk" / "sim.tar.xz", {"b/c/run.sh": SCRIPT, "run.sh/x": b""}, "w:xz"),
    }
    for suffix, pkg in pkgs.items():
        row = e.create("alice", {"name": f"sim-{suffix.replace('.', '-')}", "archive": str(pkg),
                                 "start_file": "run.sh", "ports": 2})
        # F131, F134 defaults; no classification while the feature is off (F1)
        assert (row.install_mode, row.run_mode, row.classification, row.uploaded) == \
            ("green", "non-exclusive", None, False)
    sim = e.resolve("alice", "sim-zip")
    assert sim == {"name": "sim-zip", "mode": "green", "archive": str(pkgs["zip"]), "start_file": "sim/run.sh",
                   "start": None, "python_builtin": False, "ports": 2, "exclusive": False}
    assert e.resolve("alice", "sim-tar-xz")["start_file"] == "b/c/run.sh"  # a file, not the folder run.sh/
    assert [r.name for r in e.list("alice")][0] == "sim-tar-xz" and e.list("bob") == []

    before = len(e.list("alice"))
    err = fails(lambda: e.create("bob", {"name": "sim-zip", "archive": "x.zip", "start_file": "run.sh"}), "name")
    assert "exists" in err.message  # F130: unique across the site, whoever registered it
    rar = home / "pk" / "sim.rar"
    rar.write_bytes(b"Rar!")
    err = fails(lambda: e.create("alice", {"name": "s1", "archive": str(rar), "start_file": "run.sh"}), "archive")
    assert "zip" in err.fix and "tar.xz" in err.fix
    err = fails(lambda: e.create("alice", {"name": "s2", "archive": str(pkgs["zip"]), "start_file": "go.sh"}),
                "start_file")
    assert "sim.zip has no file named 'go.sh'; it holds sim/run.sh, sim/data.bin" in err.message
    for bad in ("run.py", "run", "sim/run.sh"):
        fails(lambda: e.create("alice", {"name": "s3", "archive": str(pkgs["zip"]), "start_file": bad}), "start_file")
    for ok in ("run.BAT", "start.cmd", "sim.exe"):
        z = zip_pkg(home / "pk" / f"{ok}.zip", {ok: b"@echo off\n"})
        e.create("alice", {"name": "w-" + ok.replace(".", "-"), "archive": str(z), "start_file": ok})
        e.delete("alice", "w-" + ok.replace(".", "-"))
    for bad_ports in (0, 6, "abc", -1, True, 2.5):
        err = fails(lambda: e.create("alice", {"name": "s4", "archive": str(pkgs["zip"]), "start_file": "run.sh",
                                               "ports": bad_ports}), "ports")
        assert "1 to 5" in err.fix
    fails(lambda: e.create("alice", {"name": "s5", "start_file": "run.sh"}), "archive")
    fails(lambda: e.create("alice", {"name": "s6", "archive": "/etc/passwd.zip", "start_file": "run.sh"}), "archive",
          PermissionDenied)
    fails(lambda: e.create("alice", {"name": "s7", "archive": str(home / "none.zip"), "start_file": "run.sh"}),
          "archive")
    fake = home / "pk" / "fake.tar.gz"
    fake.write_bytes(b"not gzip at all")
    err = fails(lambda: e.create("alice", {"name": "s8", "archive": str(fake), "start_file": "run.sh"}), "archive")
    assert "not a readable tar.gz archive" in err.message
    slip = zip_pkg(home / "pk" / "slip.zip", {"../run.sh": SCRIPT})
    fails(lambda: e.create("alice", {"name": "s9", "archive": str(slip), "start_file": "run.sh"}), "archive")
    fails(lambda: e.create("alice", {"name": "../x", "archive": str(pkgs["zip"]), "start_file": "run.sh"}), "name")
    fails(lambda: e.create("alice", {"name": "s10", "archive": str(pkgs["zip"]), "start_file": "run.sh",
                                     "run_mode": "shared"}), "run_mode")
    # several mistakes at once: each is named (the form shows each next to its field)
    with pytest.raises(ValidationError) as many:
        e.create("alice", {"name": "", "start_file": "x.txt", "ports": 9})
    assert {x.field for x in many.value.errors} >= {"name", "start_file", "ports", "archive"}
    assert len(e.list("alice")) == before

    # owner or administrator: get, modify, delete; another user: not found
    fails(lambda: e.get("bob", "sim-zip"), "name", NotFound)
    fails(lambda: e.resolve("bob", "sim-zip"), "simulation_environment", NotFound)
    fails(lambda: e.resolve("alice", ""), "simulation_environment")
    fails(lambda: e.delete("bob", "sim-zip"), "name", NotFound)
    row = e.modify("admin", "sim-zip", {"description": "by the admin", "run_mode": "exclusive"})
    assert (row.description, row.owner, e.resolve("alice", "sim-zip")["exclusive"]) == ("by the admin", "alice", True)
    fails(lambda: e.modify("alice", "sim-zip", {"name": "other"}), "name")
    fails(lambda: e.modify("alice", "sim-zip", {"start_file": "nope.sh"}), "start_file")
    assert e.get("alice", "sim-zip").start_member == "sim/run.sh"  # a refused change changes nothing
    pkgs["zip"].unlink()  # the package vanished since registration: resolve says so
    fails(lambda: e.resolve("alice", "sim-zip"), "simulation_environment")
    e.delete("alice", "sim-zip")
    assert "sim-zip" not in [r.name for r in e.list("alice")]


def test_installed_environment_rules(p: Platform) -> None:
    e, home = p.rl_envs, p.workspace.home("alice")
    start = home / "sim" / "start.sh"
    start.parent.mkdir()
    start.write_bytes(SCRIPT)
    row = e.create("alice", {"name": "inst", "install_mode": "installed", "start_path": str(start), "ports": "5"})
    assert (row.os, row.python_builtin, row.ports) == ("Linux", False, 5)
    assert e.resolve("alice", "inst") == {"name": "inst", "mode": "installed", "archive": None, "start_file": None,
                                          "start": str(start), "python_builtin": False, "ports": 5,
                                          "exclusive": False}
    py = e.create("alice", {"name": "pyenv", "install_mode": "installed", "python_builtin": True})
    assert e.resolve("alice", py.name) == {"name": "pyenv", "mode": "installed", "archive": None, "start_file": None,
                                           "start": None, "python_builtin": True, "ports": 0, "exclusive": False}
    inst = {"install_mode": "installed"}
    err = fails(lambda: e.create("alice", {"name": "i1", **inst}), "start_path")
    assert "Python built-in" in err.fix
    fails(lambda: e.create("alice", {"name": "i2", **inst, "start_path": "sim/start.sh"}), "start_path")
    fails(lambda: e.create("alice", {"name": "i3", **inst, "start_path": str(home / "sim" / "missing.sh")}),
          "start_path")
    fails(lambda: e.create("alice", {"name": "i4", **inst, "start_path": str(home / "sim")}), "start_path")
    fails(lambda: e.create("alice", {"name": "i5", **inst, "python_builtin": "maybe"}), "python_builtin")
    fails(lambda: e.create("alice", {"name": "i6", **inst, "os": "Windows", "python_builtin": True}), "os")
    # outside the user's directories: only a launcher installed for everyone
    public = Path("/bin/sh").resolve()
    assert e.create("alice", {"name": "i7", **inst, "start_path": str(public)}).start_path == str(public)
    secret = p.config.data_dir / "secret.sh"
    secret.write_bytes(SCRIPT)
    os.chmod(secret, 0o700)
    fails(lambda: e.create("alice", {"name": "i8", **inst, "start_path": str(secret)}), "start_path",
          PermissionDenied)
    # switching the mode: the green fields are checked then
    fails(lambda: e.modify("alice", "inst", {"install_mode": "green"}), "archive")
    assert e.get("alice", "inst").install_mode == "installed"


def test_a_field_without_a_name_is_a_clear_error(p: Platform) -> None:
    """The fuzzer's multipart form: a part named '' and one that reaches the service as None."""
    with pytest.raises(HpcaiError) as err:
        p.rl_envs.create("alice", {"": "null", None: "null"}, None)  # type: ignore[dict-item]
    assert "unknown field" in err.value.text


def test_classification_defaults_to_confidential(p: Platform) -> None:
    p.settings.set_classification(True, "admin")
    e = p.rl_envs
    assert e.form_schema()["properties"]["classification"]["default"] == "confidential"
    row = e.create("alice", {"name": "c1", "install_mode": "installed", "python_builtin": True})
    assert row.classification == "confidential" and e.as_dict(row)["classification"] == "confidential"
    assert e.create("alice", {"name": "c2", "install_mode": "installed", "python_builtin": True,
                              "classification": "public"}).classification == "public"
    fails(lambda: e.create("alice", {"name": "c3", "install_mode": "installed", "python_builtin": True,
                                     "classification": "top"}), "classification")


def test_upload_is_stored_in_the_owners_area_and_deleted_with_it(p: Platform) -> None:
    e = p.rl_envs
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as zf:
        zf.writestr("run.sh", SCRIPT)
    row = e.create("alice", {"name": "up", "start_file": "run.sh"}, Upload("pkg.zip", io.BytesIO(data.getvalue())))
    stored = Path(row.archive)
    assert row.uploaded and stored.is_file() and stored.is_relative_to(p.workspace.home("alice"))
    assert stored.read_bytes() == data.getvalue()
    # a refused upload leaves nothing: the wrong start file, a wrong type
    fails(lambda: e.create("alice", {"name": "up2", "start_file": "go.sh"},
                           Upload("pkg.zip", io.BytesIO(data.getvalue()))), "start_file")
    fails(lambda: e.create("alice", {"name": "up3", "start_file": "run.sh"}, Upload("pkg.7z", io.BytesIO(b"7z"))),
          "archive")
    assert sorted(x.name for x in stored.parent.parent.iterdir()) == ["up"]
    assert e.modify("alice", "up", {"ports": 3}).archive == str(stored)  # the stored package stays
    # a refused new package (same file name, no start file) keeps the stored one as it was
    bad = io.BytesIO()
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("other.sh", SCRIPT)
    fails(lambda: e.modify("alice", "up", {}, Upload("pkg.zip", io.BytesIO(bad.getvalue()))), "start_file")
    assert e.get("alice", "up").archive == str(stored) and stored.read_bytes() == data.getvalue()
    # a new package replaces the stored one, in the same folder, and the old one goes
    new = io.BytesIO()
    with tarfile.open(fileobj=new, mode="w:gz") as tf:
        info = tarfile.TarInfo("run.sh")
        info.size = len(SCRIPT)
        tf.addfile(info, io.BytesIO(SCRIPT))
    replaced = Path(e.modify("alice", "up", {}, Upload("pkg2.tar.gz", io.BytesIO(new.getvalue()))).archive)
    assert replaced.is_file() and replaced.read_bytes() == new.getvalue() and not stored.exists()
    stored = replaced
    e.delete("alice", "up")
    assert not stored.exists() and not stored.parent.exists()


# --- REST -----------------------------------------------------------------------------------------


def test_rest_api(p: Platform) -> None:
    from portal import create_app

    app = create_app(p)
    http = app.test_client()
    tok = {u: {"Authorization": f"Bearer {p.accounts.create_token(u, 't')}"} for u in ("alice", "bob")}
    pkg = zip_pkg(p.workspace.home("alice") / "pk" / "sim.zip", {"run.sh": SCRIPT})
    assert http.get("/api/v1/rl/envs").status_code == 401
    r = http.post("/api/v1/rl/envs", json={"name": "api1", "archive": str(pkg), "start_file": "run.sh",
                                           "ports": 1}, headers=tok["alice"])
    assert r.status_code == 201, r.json
    assert r.json["name"] == "api1" and r.json["start_member"] == "run.sh"
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as tf:
        info = tarfile.TarInfo("pkg/run.sh")
        info.size = len(SCRIPT)
        tf.addfile(info, io.BytesIO(SCRIPT))
    r = http.post("/api/v1/rl/envs", data={"name": "api2", "start_file": "run.sh", "ports": "2",
                                            "archive": (io.BytesIO(data.getvalue()), "sim.tar.gz")},
                  headers=tok["alice"], content_type="multipart/form-data")
    assert r.status_code == 201, r.json
    assert r.json["uploaded"] and r.json["archive"].endswith("/api2/sim.tar.gz") and r.json["ports"] == 2
    assert [x["name"] for x in http.get("/api/v1/rl/envs", headers=tok["alice"]).json] == ["api2", "api1"]
    assert http.get("/api/v1/rl/envs", headers=tok["bob"]).json == []
    assert http.get("/api/v1/rl/envs/api1", headers=tok["bob"]).status_code == 404
    for body, field in (({"name": "api1", "archive": str(pkg), "start_file": "run.sh"}, "name"),
                        ({"name": "b1", "archive": str(pkg), "start_file": "nope.sh"}, "start_file"),
                        ({"name": "b2", "archive": str(pkg), "start_file": "run.sh", "ports": 6}, "ports"),
                        ({"name": "b3", "archive": str(pkg), "start_file": "run.sh", "ports": "abc"}, "ports"),
                        ({"name": "b4", "install_mode": "installed"}, "start_path")):
        r = http.post("/api/v1/rl/envs", json=body, headers=tok["alice"])
        assert r.status_code == 400 and field in [e["field"] for e in r.json.get("errors", [r.json])], r.json
    r = http.post("/api/v1/rl/envs", data="[1]", headers=tok["alice"], content_type="application/json")
    assert r.status_code == 400 and r.json["field"] == "body"
    r = http.patch("/api/v1/rl/envs/api1", json={"description": "d", "run_mode": "exclusive"}, headers=tok["alice"])
    assert r.status_code == 200 and (r.json["description"], r.json["run_mode"]) == ("d", "exclusive")
    assert http.patch("/api/v1/rl/envs/api1", json={"ports": 0}, headers=tok["alice"]).status_code == 400
    assert http.delete("/api/v1/rl/envs/api1", headers=tok["bob"]).status_code == 404
    assert http.delete("/api/v1/rl/envs/api1", headers=tok["alice"]).status_code == 204
    assert http.get("/api/v1/rl/envs/api1", headers=tok["alice"]).status_code == 404
    schema = http.get("/api/v1/rl/envs/schema", headers=tok["alice"]).json
    assert schema["properties"]["start_path"]["x-visible-if"] == {"install_mode": "installed",
                                                                  "python_builtin": False}
    doc = http.get("/api/v1/openapi.json", headers=tok["alice"]).json
    assert {"/rl/envs", "/rl/envs/{name}"} <= set(doc["paths"])


# --- CLI ------------------------------------------------------------------------------------------


def test_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    data = scratch("rlenvs-cli")
    monkeypatch.setenv("HPCAI_DATA_DIR", str(data))
    monkeypatch.delenv("HPCAI_DB_URL", raising=False)
    monkeypatch.delenv("HPCAI_CONFIG", raising=False)
    me = current_user()
    from core.config import load_config

    p = Platform(load_config({"HPCAI_DATA_DIR": str(data)}))
    p.store.migrate()
    pkg = tar_pkg(p.workspace.home(me) / "sim.tar.bz2", {"sim/run.sh": SCRIPT}, "w:bz2")
    assert main(["rl", "envs", "create", "cli1", "--archive", str(pkg), "--start-file", "run.sh",
                 "--ports", "3", "--run-mode", "exclusive", "--description", "first"]) == 0
    assert "Simulation environment cli1 registered" in capsys.readouterr().out
    assert main(["rl", "envs", "create", "cli1", "--archive", str(pkg), "--start-file", "run.sh"]) == 2
    assert "error: name: a simulation environment named 'cli1' exists" in capsys.readouterr().err
    assert main(["rl", "envs", "create", "cli2", "--archive", str(pkg), "--start-file", "go.sh"]) == 2
    assert "start_file: sim.tar.bz2 has no file named 'go.sh'; it holds sim/run.sh" in capsys.readouterr().err
    assert main(["rl", "envs", "create", "cli3", "--archive", str(pkg), "--start-file", "run.sh",
                 "--ports", "0"]) == 2
    assert "ports: must be from 1 to 5" in capsys.readouterr().err
    assert main(["rl", "envs", "create", "cli4", "--installed", "--start-path", "rel/start.sh"]) == 2
    assert "start_path: 'rel/start.sh' is not an absolute path" in capsys.readouterr().err
    assert main(["rl", "envs", "create", "cli5", "--installed", "--python-builtin"]) == 0
    capsys.readouterr()
    assert main(["rl", "envs", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [x["name"] for x in listed["environments"]] == ["cli5", "cli1"]
    assert main(["rl", "envs", "show", "cli1", "--json"]) == 0
    shown: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert (shown["start_member"], shown["ports"], shown["run_mode"]) == ("sim/run.sh", 3, "exclusive")
    assert shown["simulator"]["archive"] == str(pkg)
    assert main(["rl", "envs", "show", "nope"]) == 2
    assert "no simulation environment 'nope'" in capsys.readouterr().err
    assert main(["rl", "envs", "list"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:3] == ["NAME", "MODE", "PORTS"] and "cli1" in out
    assert main(["rl", "envs", "delete", "cli1"]) == 0
    assert main(["rl", "envs", "delete", "cli1"]) == 2
