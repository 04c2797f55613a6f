"""Bad input to framework jobs: a clear, field-named error (CLI exit 2) and no job left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import HpcaiError
from tests.frameworks.conftest import HERE, Site
from tests.frameworks.contracts import TOPOLOGY


@pytest.fixture(scope="module")
def strict_site(tmp_path_factory):  # type: ignore[no-untyped-def]
    """A site that enforces the product's GPU-only rule and has no GPU spec."""
    s = Site(tmp_path_factory.mktemp("strict"), cpu_ok=False, catalog=HERE / "probe_images.toml")
    yield s
    s.close()


def submit_cli(site: Site, *flags: str) -> tuple[int, str]:
    project = site.project("bad", HERE / "probe.py")
    proc = site.hpcai("submit", "--workdir", str(project), *flags, "--json")
    return proc.returncode, proc.stderr


def no_jobs_left(site: Site) -> None:
    from core.users import current_user

    assert site.platform.jobs.list(current_user())[1] == 0
    spool = Path(site.platform.config.spool)
    assert not spool.exists() or not any(p for p in spool.rglob("plan.json"))


CASES = [
    # (flags, field named in the error, words the message must contain)
    (["--framework", "mxnet", "--mode", "ps", "--image", "probe-mxnet"], "mode",
     "does not offer mode 'ps'"),
    (["--framework", "tensorflow", "--mode", "ps", "--servers", "0", "--workers", "2",
      "--server-spec", "cpu-1", "--worker-spec", "cpu-1", "--image", "probe-tensorflow"], "servers",
     "at least 1"),
    (["--framework", "paddle", "--mode", "ps", "--servers", "1", "--workers", "0",
      "--server-spec", "cpu-1", "--worker-spec", "cpu-1", "--image", "probe-paddle"], "workers",
     "at least 1"),
    (["--framework", "pytorch", "--mode", "ddp", "--instances", "64", "--resource-spec", "cpu-1",
      "--image", "probe-pytorch"], "resource_spec", "this machine has 8"),
    (["--framework", "mindspore", "--mode", "standalone", "--resource-spec", "cpu-1",
      "--image", "probe-mindspore"], "resource_spec", "need a GPU resource spec"),
    (["--framework", "deepspeed", "--mode", "deepspeed", "--instances", "2", "--resource-spec", "cpu-2",
      "--image", "probe-deepspeed"], "resource_spec", "need a GPU resource spec"),
    (["--framework", "tensorflow", "--image", "probe-pytorch", "--resource-spec", "cpu-1"], "image",
     "does not contain TensorFlow"),
    (["--framework", "pytorch", "--image", "probe-pytorch", "--resource-spec", "cpu-1",
      "--env", "A=1,oops"], "env", "'oops' is not KEY=value"),
    (["--framework", "pytorch", "--image", "probe-pytorch", "--resource-spec", "cpu-1",
      "--env", "1BAD=x"], "env", "not a valid environment variable name"),
    (["--framework", "pytorch", "--mode", "ddp", "--instances", "2", "--resource-spec", "cpu-1",
      "--image", "probe-pytorch", "--env", "MASTER_PORT=1234"], "env", "MASTER_PORT is set by framework pytorch"),
    (["--framework", "paddle", "--image", "probe-paddle", "--resource-spec", "cpu-1",
      "--mount", "/tmp:/data"], "mounts", "host processes cannot mount /tmp at /data"),
    (["--framework", "paddle", "--image", "probe-paddle", "--resource-spec", "cpu-1",
      "--mount", "/no/such/dataset"], "mounts", "does not exist"),
    (["--framework", "tensorflow", "--image", "no-such-image", "--resource-spec", "cpu-1"], "image",
     "unknown image 'no-such-image'"),
    (["--framework", "pytorch", "--image", "probe-pytorch", "--resource-spec", "cpu-1",
      "--shm-mb", "0"], "shm_mb", "must be at least 1"),
]


@pytest.mark.parametrize("flags,field,words", CASES, ids=[c[1] + "-" + c[2][:20] for c in CASES])
def test_bad_input_is_refused_with_the_field_named(strict_site: Site, flags, field, words) -> None:  # type: ignore[no-untyped-def]
    code, err = submit_cli(strict_site, *flags, "--", "python", "probe.py")
    assert code == 2, err
    assert f"error: {field}: " in err and words in err, err
    assert "Traceback" not in err
    no_jobs_left(strict_site)


def test_gpu_only_form_says_why_when_the_site_has_no_gpu_spec(strict_site: Site) -> None:
    code, err = submit_cli(strict_site, "--framework", "mindspore", "--resource-spec", "cpu-1",
                           "--image", "probe-mindspore", "--", "python", "probe.py")
    assert code == 2
    # etc/resource_specs.toml has gpu-1, so the fix names it.
    assert "choose a GPU spec: gpu-1" in err, err


def test_site_without_gpu_specs_is_told_why(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    specs = tmp_path / "specs.toml"
    specs.write_text('[[spec]]\nname = "cpu-1"\nkind = "cpu"\ncpus = 1\n')
    monkeypatch.setenv("HPCAI_SPECS", str(specs))
    site = Site(tmp_path / "site", cpu_ok=False, catalog=HERE / "probe_images.toml")
    try:
        site.env["HPCAI_SPECS"] = str(specs)
        code, err = submit_cli(site, "--framework", "deepspeed", "--instances", "2", "--resource-spec", "cpu-1",
                               "--image", "probe-deepspeed", "--", "python", "probe.py")
        assert code == 2
        assert "resource_spec: DeepSpeed deepspeed jobs need a GPU resource spec" in err, err
        assert "this site defines no GPU resource spec you may use" in err, err
        reason = site.platform.jobs.form_schema("deepspeed")["properties"]["resource_spec"]["x-unavailable"]
        assert reason == "this site defines no GPU resource spec; DeepSpeed deepspeed jobs need one (ask the site admin)"
    finally:
        site.close()


def test_untagged_image_warns_but_runs(strict_site: Site) -> None:
    jobs = strict_site.platform.jobs
    project = strict_site.project("untagged", HERE / "probe.py")
    req = jobs.request_from_values({"framework": "pytorch", "image": "untagged", "workdir": str(project),
                                    "command": "python probe.py pytorch standalone", **TOPOLOGY["standalone"]},
                                   "tester", "test")
    prep = jobs.prepare(req)
    assert prep.warnings == ["image 'untagged' is not tagged PyTorch; make sure it contains PyTorch"]


def test_plugins_declaring_the_same_variable_are_refused_with_both_names(strict_site: Site) -> None:
    from core.api import ParallelMode

    reg = strict_site.platform.registry
    ddp = reg.get("mode", "ddp")
    clash = type("Clash", (type(ddp),), {"reserved_env": ("RANK",)})()
    info = next(i for i in reg.infos if i.kind == "mode" and i.name == "ddp")
    original = info.descriptor
    info.descriptor = clash
    try:
        jobs = strict_site.platform.jobs
        project = strict_site.project("clash", HERE / "probe.py")
        req = jobs.request_from_values({"framework": "pytorch", "mode": "ddp", "image": "probe-pytorch",
                                        "workdir": str(project), "command": "true", **TOPOLOGY["ddp"]},
                                       "tester", "test")
        with pytest.raises(HpcaiError) as err:
            jobs.prepare(req)
        assert "RANK is set by both framework pytorch and mode ddp" in err.value.text
        assert isinstance(clash, ParallelMode)
    finally:
        info.descriptor = original


def test_form_marks_gpu_only_spec_pickers(strict_site: Site) -> None:
    schema = strict_site.platform.jobs.form_schema("deepspeed")
    assert schema["properties"]["resource_spec"]["x-spec-kind"] == "gpu"
    assert "x-unavailable" not in schema["properties"]["resource_spec"]  # gpu-1 exists
    assert "x-spec-kind" not in strict_site.platform.jobs.form_schema("pytorch")["properties"]["resource_spec"]
    ms = strict_site.platform.jobs.form_schema("mindspore", "ps")
    assert ms["properties"]["server_spec"]["x-spec-kind"] == ms["properties"]["worker_spec"]["x-spec-kind"] == "gpu"
