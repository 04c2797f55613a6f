"""The CLI's remote mode (cli/remote.py): API errors as the CLI's own, a #BSUB request on the wire."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.remote import PortalUnavailable, client, error_from_response
from core.bsubjob import request_from_script, request_from_wire, request_to_wire
from core.errors import NotFound, PermissionDenied, ValidationError, ValidationErrors
from core.identity import CALLER_SOURCES


def body(**data: object) -> bytes:
    return json.dumps(data).encode()


def test_a_field_error_reads_and_exits_like_a_local_one() -> None:
    err = error_from_response(400, body(error="unknown image 'x'", field="image", fix="choose one of: pytorch"))
    assert isinstance(err, ValidationError) and err.exit_code == 2
    assert err.text == "image: unknown image 'x' (choose one of: pytorch)"


def test_several_field_errors_one_line_each() -> None:
    err = error_from_response(400, body(error="...", errors=[{"error": "is required", "field": "name", "fix": None},
                                                             {"error": "too big", "field": "shm_mb", "fix": "less"}]))
    assert isinstance(err, ValidationErrors) and err.text.splitlines() == ["name: is required", "shm_mb: too big (less)"]


def test_status_codes() -> None:
    assert isinstance(error_from_response(404, body(error="no job 9", field="job")), NotFound)
    refused = error_from_response(401, b"")
    assert isinstance(refused, PermissionDenied) and "token" in refused.text and refused.exit_code == 2
    down = error_from_response(502, b"<html>bad gateway</html>")
    assert isinstance(down, PortalUnavailable) and down.exit_code == 1 and "502" in down.text


def test_remote_only_with_both_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HPCAI_PORTAL_URL", raising=False)
    monkeypatch.setenv("HPCAI_API_TOKEN", "hpcai_x")
    assert client() is None
    monkeypatch.setenv("HPCAI_PORTAL_URL", "http://127.0.0.1:1/")
    c = client()
    assert c is not None and c.base == "http://127.0.0.1:1/api/v1"
    with pytest.raises(PortalUnavailable, match="cannot reach the portal"):
        c.jobs()


def test_a_bsub_request_survives_the_wire(tmp_path: Path) -> None:
    (tmp_path / "job.mf").write_text('1*[host:all slots:2 tag:"server"]\n2*[host:all slots:1 tag:"worker"]\n')
    text = ("#BSUB -J w\n#BSUB -q short\n#BSUB -mf job.mf\n#BSUB -W 10\n"
            "jairun djm command --job-type ps --image pytorch --cmd='python t.py'\n")
    req = request_from_script(text, "hpc-alice", tmp_path, "job.sub", {})
    wire = json.loads(json.dumps(request_to_wire(req)))
    back = request_from_wire(wire, "alice")
    # never a caller source: the portal, not the user, runs the process that submits it
    assert back.user == "alice" and back.source == "jsub-api" and back.source not in CALLER_SOURCES
    for name in ("command", "workdir", "image", "mode", "name", "queue", "time_limit_min", "groups",
                 "batch_script", "cwd"):
        assert getattr(back, name) == getattr(req, name), name


@pytest.mark.parametrize("wire, field", [({"batch_script": "true", "user": "root"}, "user"),
                                         ({"batch_script": "true", "time_limit_min": "10"}, "time_limit_min"),
                                         ({"batch_script": "true", "groups": [{"count": 0, "request": {}}]}, "groups"),
                                         ({"batch_script": "true", "groups": [{"count": 1, "request": {"x": 1}}]},
                                          "groups"),
                                         ({"command": "true"}, "batch_script")])
def test_the_wire_is_checked(wire: dict, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        request_from_wire(wire, "alice")
    assert caught.value.field == field


@pytest.mark.parametrize("request_", [{"cpus": "2"}, {"cpus": 1, "mem_mb": "1G"}, {"cpus": 1, "gpus": -1},
                                      {"cpus": 1, "host": 5}])
def test_a_group_is_checked(request_: dict) -> None:
    with pytest.raises(ValidationError, match="a group's"):
        request_from_wire({"batch_script": "true", "groups": [{"count": 1, "request": request_}]}, "alice")
