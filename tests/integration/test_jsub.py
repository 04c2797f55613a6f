"""The product's batch-script path: #BSUB scripts, machine files, jairun, jjobs & co."""

import json
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.helpers import TERMINAL, show, wait_state

pytestmark = pytest.mark.integration
SEED = ROOT / "examples" / "seed"


@pytest.fixture
def home(tmp_path):
    """A user's home with the manual's ${HOME}/example/pytorch layout."""
    h = tmp_path / "home"
    (h / "example" / "pytorch").mkdir(parents=True)
    for f in (ROOT / "examples" / "pytorch").glob("*.py"):
        (h / "example" / "pytorch" / f.name).write_text(f.read_text())
    return h


def job_of(cli, sched_id: str) -> dict:  # type: ignore[no-untyped-def]
    jobs = json.loads(cli("jobs", "--json").stdout)["jobs"]
    return next(j for j in jobs if j["scheduler_job_id"] == sched_id)


def test_seed_pytorch_standalone_script_runs_to_completion(cli, home, tmp_path, hpcai_env):
    """The manual's pytorch_standalone_cpu.sub + standalone_cpu.mf, verbatim, via `jsub <`."""
    sub = tmp_path / "submit"
    sub.mkdir()
    for f in ("pytorch_standalone_cpu.sub", "standalone_cpu.mf"):
        (sub / f).write_text((SEED / f).read_text())
    profile = cli("profile").stdout
    script = f"{profile}\njsub < pytorch_standalone_cpu.sub\n"
    res = subprocess.run(["bash", "-c", script], cwd=sub, env={**hpcai_env, "HOME": str(home)},
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    m = re.fullmatch(r"Job <(\d+)> is submitted to queue <ai_excl>\.\n", res.stdout)
    assert m, res.stdout
    job = job_of(cli, m.group(1))
    assert (job["name"], job["framework"], job["mode"], job["image"]) == \
        ("pytorch_standalone_cpu", "pytorch", "standalone", "pytorch")
    info = wait_state(cli, job["id"], TERMINAL, timeout=180)
    out = (sub / f"output.{m.group(1)}.txt").read_text()  # -o output.%J.txt, in the submit dir
    assert info["state"] == "succeeded", out
    assert "Train Epoch: 2" in out and "final accuracy" in out
    # The job directory links to the same output, so `hpcai logs` works for jsub jobs too.
    assert cli("logs", str(job["id"])).stdout == out


def test_the_manuals_unescaped_line_breaks_are_joined(cli, home, tmp_path):
    """The manual prints the jairun options on lines without trailing backslashes."""
    text = (SEED / "pytorch_standalone_cpu.sub").read_text().replace(" \\\n", "  \n")
    text = text.replace("mnist_torch.py'", "mnist_torch.py --epochs 1'")
    (tmp_path / "standalone_cpu.mf").write_text("[host:all slots:1]\n")
    res = cli(prog="jsub", input=text, env={"HOME": str(home)})
    assert res.returncode == 0, res.stderr
    assert "joined this --option line onto the jairun call" in res.stderr
    sched_id = re.search(r"Job <(\d+)>", res.stdout).group(1)
    info = wait_state(cli, job_of(cli, sched_id)["id"], TERMINAL, timeout=180)
    assert info["state"] == "succeeded"


def test_plain_batch_script_and_jjobs_columns_and_lsf_control(cli, tmp_path):
    text = ("#!/bin/sh\n#BSUB -J sleeper\n#BSUB -q normal\n#BSUB -n 1\n#BSUB -o out.%J.txt\n#BSUB -e err.%J.txt\n"
            "echo start\necho oops >&2\nsleep 300\n")
    (tmp_path / "sleeper.sub").write_text(text)
    res = cli("sleeper.sub", prog="jsub")  # jsub FILE as well as jsub < FILE
    assert res.returncode == 0, res.stderr
    sid = re.search(r"Job <(\d+)>", res.stdout).group(1)
    job = job_of(cli, sid)
    wait_state(cli, job["id"], {"running"})
    lines = cli(prog="jjobs").stdout.splitlines()
    assert lines[0].split() == ["JOBID", "USER", "STAT", "QUEUE", "FROM_HOST", "EXEC_HOST", "JOB_NAME", "SUBMIT_TIME"]
    row = next(ln for ln in lines[1:] if ln.split()[0] == sid).split()
    assert row[2] == "RUN" and row[3] == "normal" and row[6] == "sleeper"
    assert cli(sid, prog="jstop").returncode == 0
    assert cli(prog="jjobs").stdout.count("SSUSP") == 1
    assert cli(sid, prog="jresume").returncode == 0
    assert show(cli, job["id"])["state"] == "running"
    res = cli(sid, prog="jkill")
    assert res.returncode == 0 and f"Job <{sid}> is being terminated" in res.stdout
    wait_state(cli, job["id"], TERMINAL)
    assert "No unfinished job found" in cli(prog="jjobs").stdout
    done = next(ln for ln in cli("-a", prog="jjobs").stdout.splitlines() if ln.split()[0] == sid)
    assert done.split()[2] == "EXIT"
    assert (tmp_path / f"out.{sid}.txt").read_text().startswith("start")
    assert (tmp_path / f"err.{sid}.txt").read_text() == "oops\n"  # -e keeps stderr apart
    assert cli("999", prog="jkill").returncode == 2


def test_profile_gives_working_jhscheduler_top(cli, tmp_path, hpcai_env):
    profile = cli("profile").stdout
    assert "JHSCHEDULER_TOP=" in profile and "profile.unischeduler" in profile
    check = subprocess.run(["bash", "-c", profile + "\ncommand -v jsub && test -x ${JHSCHEDULER_TOP}/scripts/jhai/service/jairun"],
                           env={**hpcai_env, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip().endswith("/jsub")


def test_jairun_outside_a_job_says_how_to_use_it(tmp_path):
    res = subprocess.run([str(ROOT / "hooks/jhscheduler/scripts/jhai/service/jairun"), "djm", "command",
                          "--job-type", "standalone", "--image", "x", "--cmd", "true"],
                         env={"PATH": "/usr/bin:/bin", "HPCAI_PYTHON": sys.executable},
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 2 and "must be submitted with jsub" in res.stdout
