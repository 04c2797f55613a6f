"""Bad input gets a clear, field-named error, exit status 2, and leaves nothing behind."""

import pathlib

import pytest
from sqlalchemy import func, select

from core.store import JobRow

pytestmark = pytest.mark.integration

SPECS = """
[[spec]]
name = "cpu-1"
kind = "cpu"
cpus = 1

[[spec]]
name = "secret"
kind = "cpu"
cpus = 1
visible_users = ["somebody-else"]
"""


@pytest.fixture
def env(hpcai_env, tmp_path):
    specs = tmp_path / "specs.toml"
    specs.write_text(SPECS)
    hpcai_env["HPCAI_SPECS"] = str(specs)
    return hpcai_env


def nothing_left(platform, hpcai_env) -> None:
    with platform.store.session() as s:
        assert s.scalar(select(func.count()).select_from(JobRow)) == 0
    spool = pathlib.Path(hpcai_env["HPCAI_DATA_DIR"]) / "spool"
    jobdirs = [p for p in spool.glob("*/*") if p.parent.name != ".local"] if spool.exists() else []
    assert jobdirs == []


OK = ["--framework", "pytorch", "--resource-spec", "cpu-1"]

CASES = {
    "unknown framework": (["--framework", "nosuch", "--resource-spec", "cpu-1"], "framework: unknown framework 'nosuch'", "paddle, pytorch, tensorflow"),
    "unknown mode": ([*OK, "--mode", "warp"], "mode: framework pytorch does not offer mode 'warp'", "choose one of: standalone, ddp"),
    "unknown runtime": ([*OK, "--runtime", "vm"], "runtime: unknown runtime 'vm'", "choose one of: apptainer, docker, host, podman"),
    "unknown scheduler": ([*OK, "--scheduler", "pbs"], "scheduler: unknown scheduler 'pbs'", "local"),
    "empty command": ([*OK, "--command", "  "], "command: must not be empty or blank", "give the command to run"),
    "missing command": ([*OK], "command: is required", "give the command to run"),
    "missing workdir": ([*OK, "--workdir", "/no/such/dir"], "workdir: directory /no/such/dir does not exist", "give an existing project directory"),
    "instances < 1": (["--framework", "pytorch", "--mode", "ddp", "--instances", "0", "--resource-spec", "cpu-1"], "instances: must be at least 1, got 0", "--instances 2"),
    "unknown spec": (["--framework", "pytorch", "--resource-spec", "huge"], "resource_spec: no resource spec named 'huge' is available to you", "choose one of: cpu-1"),
    "invisible spec": (["--framework", "pytorch", "--resource-spec", "secret"], "resource_spec: no resource spec named 'secret' is available to you", "choose one of: cpu-1"),
    "missing spec": (["--framework", "pytorch"], "resource_spec: is required", "hpcai specs"),
    "bad env list": ([*OK, "--env", "A=1,oops"], "env: 'oops' is not KEY=value", "ENV1=test1,ENV2=test2"),
    "reserved env": (["--framework", "pytorch", "--mode", "ddp", "--resource-spec", "cpu-1", "--env", "RANK=3"], "env: RANK is set by framework pytorch", "remove RANK"),
    "more than the machine has": (["--framework", "pytorch", "--mode", "ddp", "--instances", "999", "--resource-spec", "cpu-1"], "the job needs 999 CPU slots", "fewer instances"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_submit_refuses_bad_input(case, cli, env, platform, hpcai_env, project):
    args, message, fix = CASES[case]
    if "--workdir" not in args:
        args = [*args, "--workdir", str(project)]
    if "--command" not in args and case != "missing command":
        args = [*args, "--", "python train.py"]
    res = cli("submit", *args, env=env)
    assert res.returncode == 2, res.stdout + res.stderr
    assert message in res.stderr and fix in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    nothing_left(platform, hpcai_env)


def test_dry_run_submits_nothing(cli, env, platform, hpcai_env, project):
    res = cli("submit", *OK, "--workdir", str(project), "--dry-run", "--", "python", "x.py", env=env)
    assert res.returncode == 0, res.stderr
    assert '"mode": "standalone"' in res.stdout and "#!/bin/bash" in res.stdout
    nothing_left(platform, hpcai_env)


BSUB_CASES = {
    "unknown directive": ("#!/bin/sh\n#BSUB -J x\n#BSUB -R 'rusage[mem=1]'\njairun djm command --job-type standalone --image pytorch --cmd=true\n",
                          "<stdin>:3:7: unknown #BSUB option '-R'", "-J, -q"),
    "malformed -n": ("#BSUB -n two\njairun djm command --job-type standalone --image pytorch --cmd=true\n",
                     "<stdin>:1:10:", "-n"),
    "malformed -W": ("#BSUB -W 1:75\ntrue\n", "<stdin>:1:10:", "-W"),
    "jairun without --cmd": ("#!/bin/sh\njairun djm command --job-type standalone --image pytorch\n",
                             "is missing --cmd", "--cmd"),
    "unknown image": ("#BSUB -J x\njairun djm command --job-type standalone --image reg:5000/acme/nothing:1 --cmd=true\n",
                      "image: unknown image 'reg:5000/acme/nothing:1'", "choose one of: pytorch"),
    "missing machine file": ("#BSUB -mf nosuch.mf\njairun djm command --job-type standalone --image pytorch --cmd=true\n",
                             "-mf: machine file", "relative to where you run jsub"),
}


@pytest.mark.parametrize("case", sorted(BSUB_CASES))
def test_jsub_refuses_bad_scripts(case, cli, env, platform, hpcai_env, tmp_path):
    text, message, fix = BSUB_CASES[case]
    res = cli(prog="jsub", input=text, env=env, cwd=tmp_path)
    assert res.returncode == 2, res.stdout + res.stderr
    assert message in res.stderr and fix in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    nothing_left(platform, hpcai_env)


def test_machine_file_error_shows_line_and_column(cli, env, platform, hpcai_env, tmp_path):
    (tmp_path / "bad.mf").write_text("1*[host:all slots:2 tag:\"server\"]\n1*[host:all slots:x]\n")
    text = "#BSUB -mf bad.mf\njairun djm command --job-type ps --image pytorch --cmd=true\n"
    res = cli(prog="jsub", input=text, env=env, cwd=tmp_path)
    assert res.returncode == 2
    assert f"{tmp_path / 'bad.mf'}:2:" in res.stderr and "slots" in res.stderr, res.stderr
    nothing_left(platform, hpcai_env)
