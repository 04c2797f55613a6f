"""The `local` scheduler with real processes, driven through the CLI as separate processes.

Every command runs in a fresh `hpcai` process, so these also prove there is no daemon of
ours to keep alive: a job started by one process is tracked and controlled by another.
"""

import json
import os
import pathlib
import time

import pytest

from tests.helpers import TERMINAL, show, submit, wait_state, wait_until

pytestmark = pytest.mark.integration

BASE = ("--framework", "pytorch", "--resource-spec", "cpu-1")


def test_job_runs_and_writes_its_files(cli, project):
    jid = submit(cli, *BASE, "--workdir", str(project), "--name", "hello",
                 "--", "python", "-c", "import os,sys; print('hi from', sys.executable, os.environ['HPCAI_JOB_ID'])")
    info = wait_state(cli, jid, TERMINAL)
    assert info["state"] == "succeeded" and info["exit_code"] == 0 and info["raw_state"] == "DONE"
    job_dir = pathlib.Path(info["job_dir"])
    sid = info["scheduler_job_id"]
    assert job_dir.parent.name == info["user"]  # <spool>/<user>/<uuid>/
    assert job_dir.name == info["uuid"]
    out = (job_dir / f"output.{sid}.txt").read_text()
    assert "hi from" in out and out.strip().endswith("all ranks finished successfully")
    assert (job_dir / "exit_code").read_text().strip() == "0"
    assert (job_dir / "logs" / "main.0.log").read_text().startswith("hi from")
    assert "plan.json" in os.listdir(job_dir) and "job.sh" in os.listdir(job_dir)
    assert cli("logs", str(jid)).stdout == out


def test_failing_job_is_failed_with_its_exit_code(cli, project):
    jid = submit(cli, *BASE, "--workdir", str(project), "--", "python", "-c", "import sys; sys.exit(7)")
    info = wait_state(cli, jid, TERMINAL)
    assert (info["state"], info["exit_code"], info["raw_state"]) == ("failed", 7, "EXIT")
    assert "exited with code 7" in info["reason"]


def test_kill_from_another_process(cli, project):
    marker = project / "pid"
    jid = submit(cli, *BASE, "--workdir", str(project), "--",
                 f"python -c \"import os,time; open('{marker}','w').write(str(os.getpid())); time.sleep(300)\"")
    wait_state(cli, jid, {"running"})
    wait_until(marker.exists, what="the job wrote its pid")
    pid = int(marker.read_text())
    res = cli("kill", str(jid))  # a new process: the submitting one is long gone
    assert res.returncode == 0, res.stderr
    info = wait_state(cli, jid, TERMINAL, timeout=30)
    assert info["state"] == "cancelled"
    assert not os.path.exists(f"/proc/{pid}") or "Z" in open(f"/proc/{pid}/stat").read().split()[2]
    assert cli("kill", str(jid)).returncode == 2  # already ended: a clear refusal


def test_suspend_and_resume_stop_and_continue_every_process(cli, project):
    ticks = project / "ticks"
    jid = submit(cli, *BASE, "--workdir", str(project), "--",
                 f"python -c \"import time\nfor i in range(600):\n  open('{ticks}','a').write('.'); time.sleep(0.1)\"")
    wait_state(cli, jid, {"running"})
    wait_until(lambda: ticks.exists() and ticks.stat().st_size >= 3, what="the job ticks")
    assert cli("suspend", str(jid)).returncode == 0
    assert show(cli, jid)["state"] == "suspended"
    size = ticks.stat().st_size
    time.sleep(1.5)
    assert ticks.stat().st_size == size  # stopped: no progress while suspended
    assert cli("resume", str(jid)).returncode == 0
    assert show(cli, jid)["state"] == "running"
    wait_until(lambda: ticks.stat().st_size > size, what="progress after resume")
    assert cli("resume", str(jid)).returncode == 2  # not suspended any more
    cli("kill", str(jid))
    assert wait_state(cli, jid, TERMINAL)["state"] == "cancelled"


def test_oversubscription_waits_queued_fifo(cli, project, hpcai_env):
    cores = os.cpu_count() or 1
    # One job takes every core; the next must wait `queued` until it ends.
    big = submit(cli, "--framework", "pytorch", "--mode", "ddp", "--instances", str(cores),
                 "--resource-spec", "cpu-1", "--workdir", str(project), "--", "sleep", "300")
    wait_state(cli, big, {"running"})
    small = submit(cli, *BASE, "--workdir", str(project), "--", "true")
    time.sleep(1)  # several admission checks of the small job's supervisor
    info = show(cli, small)
    assert info["state"] == "queued" and info["raw_state"] == "PEND"
    assert "CPU slot" in info["reason"]
    jobs = json.loads(cli("jobs", "--json").stdout)["jobs"]
    assert {j["id"]: j["state"] for j in jobs}[small] == "queued"
    assert cli("kill", str(big)).returncode == 0  # frees the cores: the queued job starts
    big_info = show(cli, big)
    done = wait_state(cli, small, TERMINAL, timeout=60)
    assert done["state"] == "succeeded" and big_info["state"] == "cancelled"
    assert done["start_time"] >= big_info["end_time"]


def test_time_limit_is_enforced_and_reported(cli, project):
    jid = submit(cli, *BASE, "--workdir", str(project), "--time-limit-min", "1", "--", "sleep", "600")
    wait_state(cli, jid, {"running"})
    # The limit is minutes; shorten the wait by editing nothing: just wait it out (bounded).
    info = wait_state(cli, jid, TERMINAL, timeout=120)
    assert (info["state"], info["raw_state"]) == ("failed", "TIMEOUT")
    assert "time limit of 1 min exceeded" in info["reason"]


def test_logs_follow_streams_until_the_end(cli, project):
    jid = submit(cli, *BASE, "--workdir", str(project), "--",
                 "python -c \"import time\nfor i in range(3):\n  print('line', i, flush=True); time.sleep(0.5)\"")
    res = cli("logs", "-f", str(jid), timeout=60)
    assert res.returncode == 0
    assert "line 0" in res.stdout and "line 2" in res.stdout


def test_jobs_listing_json_and_filters(cli, project):
    a = submit(cli, *BASE, "--workdir", str(project), "--name", "alpha", "--", "true")
    b = submit(cli, *BASE, "--workdir", str(project), "--name", "beta", "--", "false")
    wait_state(cli, a, TERMINAL)
    wait_state(cli, b, TERMINAL)
    data = json.loads(cli("jobs", "--json", "--name", "alp").stdout)
    assert [j["id"] for j in data["jobs"]] == [a]
    data = json.loads(cli("jobs", "--json", "--state", "failed").stdout)
    assert [j["id"] for j in data["jobs"]] == [b]
    assert cli("jobs", "--state", "bogus").returncode == 2
    table = cli("jobs").stdout.splitlines()
    assert table[0].split()[:4] == ["ID", "NAME", "USER", "STATE"]
