"""`hpcai labeling`: create, list, items, export, end from the shell; mistakes exit 2 with one line."""

from __future__ import annotations

import json

from cli.main import main
from tests.datasets.conftest import home, make_platform, scratch
from tests.labeling.conftest import images


def test_cli_create_list_items_export_end(monkeypatch, capsys) -> None:
    data = scratch("label-cli")
    p = make_platform(data)
    images(home(p, "alice") / "pics", 3)
    p.datasets.create("alice", {"name": "pics", "category": "image", "directory": str(home(p, "alice") / "pics")})
    monkeypatch.setenv("HPCAI_CONFIG", str(data / "hpcai.toml"))
    monkeypatch.setenv("HPCAI_DATA_DIR", str(data))
    monkeypatch.setenv("HPCAI_USER", "alice")
    assert main(["labeling", "create", "--name", "cli", "--dataset", "pics", "--template",
                 "image-classification", "--labels", "cat,dog"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert (created["state"], created["items"]) == ("ready", 3)
    assert main(["labeling", "list"]) == 0
    assert "cli" in capsys.readouterr().out
    assert main(["labeling", "items", "cli", "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert "img000.png" in out and "next page: --after" in out
    assert main(["labeling", "export", "cli", "--format", "csv", "--directory", str(home(p, "alice"))]) == 0
    assert json.loads(capsys.readouterr().out)["files"] == ["labels.csv"]
    assert main(["labeling", "end", "cli"]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "ended"
    assert main(["labeling", "end", "cli"]) == 2
    assert capsys.readouterr().err.strip() == "hpcai labeling: error: task: task 'cli' is already ended"
    assert main(["labeling", "create", "--name", "x", "--dataset", "pics", "--template", "text-ner"]) == 2
    assert "for text data" in capsys.readouterr().err
