"""Real 2-rank DDP training on CPU (gloo) through hpcai, and per-job rendezvous ports."""

import json
import pathlib

import pytest

from tests.helpers import TERMINAL, submit, wait_state

pytestmark = pytest.mark.integration


def ddp(cli, project, out: pathlib.Path, name: str) -> int:  # type: ignore[no-untyped-def]
    out.mkdir()
    return submit(cli, "--framework", "pytorch", "--mode", "ddp", "--instances", "2",
                  "--resource-spec", "cpu-1", "--workdir", str(project), "--name", name,
                  "--", "python", "ddp_train.py", "--steps", "10", "--out", str(out))


def results(out: pathlib.Path) -> list[dict]:
    return [json.loads((out / f"ddp_result.{r}.json").read_text()) for r in (0, 1)]


def test_two_rank_ddp_trains_with_identical_parameters(cli, project):
    out = project / "run"
    jid = ddp(cli, project, out, "ddp2")
    info = wait_state(cli, jid, TERMINAL, timeout=180)
    log = cli("logs", str(jid)).stdout
    assert info["state"] == "succeeded", log
    r0, r1 = results(out)
    assert (r0["rank"], r1["rank"]) == (0, 1)
    assert r0["world_size"] == r1["world_size"] == 2  # counted in processes
    assert (r0["local_rank"], r1["local_rank"]) == (0, 1)
    assert r0["params"] == r1["params"] and r0["param_sum"] == r1["param_sum"]
    # Each rank started from a different seed: equality means DDP really synchronised them.
    assert "[worker/0]" in log and "[worker/1]" in log
    plan = json.loads(cli("show", str(jid), "--json").stdout)["plan"]
    assert r0["master"] == f"127.0.0.1:{plan['ports'][0]}"


def test_two_ddp_jobs_at_once_get_different_ports(cli, project, hpcai_env):
    import subprocess
    import sys

    outs = [project / "a", project / "b"]
    for o in outs:
        o.mkdir()
    # Submit both at the same moment from two processes.
    cmd = lambda o: [str(pathlib.Path(sys.executable).parent / "hpcai"), "submit", "--json",  # noqa: E731
                     "--framework", "pytorch", "--mode", "ddp", "--instances", "1",
                     "--resource-spec", "cpu-1", "--workdir", str(project), "--",
                     "python", "ddp_train.py", "--steps", "3", "--out", str(o)]
    procs = [subprocess.Popen(cmd(o), env=hpcai_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for o in outs]
    ids = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=120)
        assert p.returncode == 0, stderr
        ids.append(json.loads(stdout)["id"])
    ports = []
    for jid in ids:
        info = json.loads(cli("show", str(jid), "--json").stdout)
        ports.append(info["plan"]["ports"][0])
    assert ports[0] != ports[1]
    for jid, o in zip(ids, outs):
        assert wait_state(cli, jid, TERMINAL, timeout=180)["state"] == "succeeded", cli("logs", str(jid)).stdout
    masters = {json.loads((o / "ddp_result.0.json").read_text())["master"] for o in outs}
    assert len(masters) == 2


def test_failing_rank_ends_the_whole_job_and_is_named(cli, project):
    (project / "die.py").write_text(
        "import os, sys, time\n"
        "if os.environ['RANK'] == '1':\n    sys.exit(3)\n"
        "time.sleep(300)\n")
    jid = submit(cli, "--framework", "pytorch", "--mode", "ddp", "--instances", "2",
                 "--resource-spec", "cpu-1", "--workdir", str(project), "--", "python", "die.py")
    info = wait_state(cli, jid, TERMINAL, timeout=60)
    assert (info["state"], info["exit_code"]) == ("failed", 3)
    log = cli("logs", str(jid)).stdout
    assert "rank worker/1 (rank 1" in log and "exited with code 3" in log


def test_a_rank_killed_by_a_signal_leaves_its_python_stack_in_the_log(cli, project):
    (project / "abort.py").write_text(
        "import os, time\n"
        "def crash_inside_the_library():\n    os.abort()  # what a C++ std::terminate looks like\n"
        "if os.environ['RANK'] == '1':\n    crash_inside_the_library()\n"
        "time.sleep(300)\n")
    jid = submit(cli, "--framework", "pytorch", "--mode", "ddp", "--instances", "2",
                 "--resource-spec", "cpu-1", "--workdir", str(project), "--", "python", "abort.py")
    info = wait_state(cli, jid, TERMINAL, timeout=60)
    assert info["state"] == "failed"
    log = cli("logs", str(jid)).stdout
    assert "rank worker/1 (rank 1" in log and "was killed by signal 6" in log
    assert "Fatal Python error: Aborted" in log and "crash_inside_the_library" in log, log
