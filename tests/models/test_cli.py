"""`hpcai models` on a real store and the session's MLflow server: create, list, show, versions,
deploy --recommend, rm; a mistake is one message naming the field, exit status 2, nothing made."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.main import main
from core.config import load_config
from core.platform import Platform
from core.users import current_user
from tests.fixtures_services import scratch_dir

pytestmark = [pytest.mark.integration]


def test_models_cli(mlflow_server: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    data = scratch_dir("models-cli")
    monkeypatch.setenv("HPCAI_DATA_DIR", str(data))
    monkeypatch.setenv("HPCAI_MLFLOW_URI", mlflow_server)
    monkeypatch.delenv("HPCAI_DB_URL", raising=False)
    p = Platform(load_config({"HPCAI_DATA_DIR": str(data)}))
    p.store.migrate()
    me = current_user()
    d1, d2 = (Path(p.workspace.home(me)) / n for n in ("clf1", "clf2"))
    for d in (d1, d2):
        d.mkdir()
        (d / "model.onnx").write_bytes(b"\x08\x07")

    assert main(["models", "create", "clf", "--dir", str(d1), "--purpose", "machine-learning",
                 "--description", "first"]) == 0
    assert "Model created successfully" in capsys.readouterr().out
    assert main(["models", "create", "clf", "--dir", str(d1)]) == 2  # duplicate name
    assert "error: name: you already have a model named 'clf'" in capsys.readouterr().err
    assert main(["models", "create", "etc", "--dir", "/etc"]) == 2
    assert "model_dir" in capsys.readouterr().err
    assert main(["models", "versions", "clf", "--add", str(d2), "--description", "second"]) == 0
    assert "v2 of clf" in capsys.readouterr().out
    assert main(["models", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["total"] == 1 and listed["models"][0]["tags"] == ["Machine learning"]
    assert main(["models", "show", "clf", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [v["number"] for v in shown["versions"]] == [1, 2] and shown["versions"][1]["description"] == "second"
    assert main(["models", "deploy", "clf", "--version", "v2", "--recommend", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["recommended"][0] in ("triton", "mlserver")  # an .onnx file
    assert main(["models", "convert", "clf", "--type", "nope"]) == 2
    assert "converter: unknown model type 'nope'" in capsys.readouterr().err
    assert main(["models", "rm", "clf", "--version", "2", "--delete-files"]) == 0
    assert not d2.exists() and d1.exists()
    assert main(["models", "rm", "clf"]) == 0
    assert d1.exists()  # without --delete-files the files stay
    assert capsys.readouterr().out.splitlines() == ["deleted v2 of clf and its files", "deleted model clf"]
    assert main(["models", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"total": 0, "models": []}
