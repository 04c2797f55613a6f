"""Slurm-only behaviour against the real cluster of tests/services/slurm.sh: refusals in
Slurm's words, a controller outage, jobs that run as their submitter, and the product's
#BSUB scripts through `jsub`."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import func, select

from core.errors import ValidationError
from core.store import JobRow
from core.types import JobState
from tests.schedulers.conftest import SCRATCH, Backend, explicit, make_platform

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SLURM_SH = REPO / "tests" / "services" / "slurm.sh"
BIN = Path(sys.executable).parent
TEST_USER = "hpcai-sched-u"


@pytest.fixture(scope="module")
def slurm(pg_url: str, slurm_conf: str) -> Iterator[Backend]:
    root = SCRATCH / f"slurm-live-{uuid.uuid4().hex[:6]}"
    root.mkdir(parents=True)
    os.chmod(root, 0o755)
    b = Backend("slurm", make_platform("slurm", root, pg_url, slurm_conf), root, side_queue="gpu")
    b.conf = slurm_conf  # type: ignore[attr-defined]
    yield b
    for job_id in b.cleanup:
        try:
            if not JobState(b.platform.jobs.get(job_id, "root").state).terminal:
                b.platform.jobs.kill(job_id, "root")
        except Exception:
            pass
    shutil.rmtree(root, ignore_errors=True)


def cli_env(b: Backend) -> dict[str, str]:
    """The environment of a user's shell on this site: its config, store and spool."""
    conf = b.root / "hpcai.toml"
    if not conf.exists():
        text = (REPO / "etc" / "hpcai.toml").read_text()
        text = text.replace('ai_excl = "debug"', 'ai_excl = "all"')
        text = text.replace("[schedulers.slurm]\n", f'[schedulers.slurm]\nslurm_conf = "{b.conf}"\n', 1)  # type: ignore[attr-defined]
        conf.write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPCAI_")}
    env.update({"HPCAI_CONFIG": str(conf), "HPCAI_DATA_DIR": str(b.root),
                "HPCAI_DB_URL": b.platform.config.db_url, "HPCAI_DEFAULT_SCHEDULER": "slurm",
                "PATH": f"{BIN}:{env.get('PATH', '')}"})
    return env


def count_rows(b: Backend) -> int:
    with b.platform.store.session() as s:
        return s.scalar(select(func.count()).select_from(JobRow)) or 0


@pytest.mark.parametrize("change, words", [
    (dict(queue="no-such-partition"), "Invalid partition name"),
    (dict(mode="standalone", groups=explicit(1, gpus=1), options={}, queue="debug"),
     "Requested node configuration is not available"),
    (dict(mode="standalone", groups=explicit(64), options={}), "More processors requested than permitted"),
])
def test_unsatisfiable_requests_are_refused_in_slurms_words(slurm: Backend, change: dict, words: str) -> None:
    before = count_rows(slurm)
    with pytest.raises(ValidationError) as info:
        slurm.submit(slurm.request("true", **change))
    assert words in info.value.text
    assert count_rows(slurm) == before  # no job row, no job directory left behind


def test_gpu_job_sees_its_gpu(slurm: Backend) -> None:
    wd = slurm.workdir()
    row = slurm.submit(slurm.request('echo "gpus=$CUDA_VISIBLE_DEVICES" > gpus.txt', wd,
                                     options={"resource_spec": "gpu-1"}))
    row = slurm.finish(row.id)
    assert row.state == "succeeded", (row.reason, slurm.log(row))
    assert (wd / "gpus.txt").read_text().strip() == "gpus=0"
    assert "--gres=gpu:1" in row.script and "--partition=gpu" in row.script


def test_controller_outage(slurm: Backend) -> None:
    marker = f"sleep 6{uuid.uuid4().int % 100:02d}"  # unique, so pgrep finds only this job's rank
    row = slurm.submit(slurm.request(marker))
    row = slurm.wait(row.id, lambda r: r.state == "running")
    assert row.state == "running"
    # "running" starts with the batch script; this test is about a step that already runs, so
    # stop the controller only once the rank itself runs (an outage before the step exists is
    # test_step_creation_is_retried_through_a_controller_outage).
    deadline = time.monotonic() + 120
    while subprocess.run(["pgrep", "-f", marker], capture_output=True, timeout=10).returncode != 0:
        assert time.monotonic() < deadline, "the job's rank never started"
        time.sleep(0.5)
    subprocess.run(["bash", str(SLURM_SH), "stop-ctld"], check=True, timeout=60)
    try:
        before = count_rows(slurm)
        wd = slurm.workdir()
        proc = subprocess.run([str(BIN / "hpcai"), "submit", "--framework", "pytorch", "--resource-spec",
                               "cpu-1", "--workdir", str(wd), "--", "true"], env=cli_env(slurm),
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1, proc.stderr  # an outage, not a usage error (core/errors.py)
        assert "Slurm is unreachable, the job was not submitted" in proc.stderr
        assert "Traceback" not in proc.stderr
        assert count_rows(slurm) == before
        row = slurm.job(row.id)
        assert row.state == "unknown", (row.state, row.reason)
        assert "Slurm could not be asked" in (row.reason or "")
        recovered = None
    finally:
        subprocess.run(["bash", str(SLURM_SH), "start-ctld"], check=True, timeout=60)
        recovered = slurm.wait(row.id, lambda r: r.state != "unknown")
        slurm.platform.jobs.kill(row.id, "root")  # free its CPU for the next tests, pass or fail
    assert recovered.state == "running", (recovered.state, recovered.reason)  # true state, not "finished"
    assert slurm.finish(row.id).state == "cancelled"


# The batch script holds the job before jairun (a user's setup step) until the test says go,
# so the controller can be stopped while the job is alive but before its srun step exists.
STEP_RETRY_SUB = """#!/bin/sh

#BSUB -J step_retry
#BSUB -q ai_excl
#BSUB -app jhai_command
#BSUB -mf retry.mf
#BSUB -o output.%J.txt

touch WORKDIR/started
while [ ! -e WORKDIR/go ]; do sleep 0.2; done
${JHSCHEDULER_TOP}/scripts/jhai/service/jairun djm command \\
--job-type standalone --image 192.168.0.153:5000/jhinno/pytorch:2.1.0 \\
--cmd='CMD' --workdir=WORKDIR
"""
RETRY_LINE = "[jairun] controller unreachable, retrying step creation in 2 s (attempt 1)"


def await_file(path: Path, what: str, contains: str | None = None, limit: float = 120) -> str:
    """Wait for a file (and a line in it) that the job writes; hang protection only."""
    deadline = time.monotonic() + limit
    while True:
        text = path.read_text(errors="replace") if path.exists() else None
        if text is not None and (contains is None or contains in text):
            return text
        assert time.monotonic() < deadline, f"{what} never happened: {text}"
        time.sleep(0.2)


def test_step_creation_is_retried_through_a_controller_outage(slurm: Backend) -> None:
    """Two jobs wait before jairun; the controller goes down; both start jairun. The first
    retries until the controller is back and succeeds; the second, whose retry window (1 s) is
    shorter than the first backoff, gives up at once and fails in words."""
    wd, short = slurm.workdir(), slurm.workdir()
    row = jsub(slurm, wd, STEP_RETRY_SUB.replace("CMD", "echo the rank ran"), "retry.mf", "[host:all slots:1]\n")
    given_up = jsub(slurm, short, STEP_RETRY_SUB.replace("CMD", "true").replace(
        "touch WORKDIR/started", "export HPCAI_STEP_RETRY_SECONDS=1; touch WORKDIR/started"),
        "retry.mf", "[host:all slots:1]\n")
    for d in (wd, short):
        await_file(d / "started", "the batch script's start")
    subprocess.run(["bash", str(SLURM_SH), "stop-ctld"], check=True, timeout=60)
    out = wd / f"output.{row.scheduler_job_id}.txt"
    short_out = short / f"output.{given_up.scheduler_job_id}.txt"
    try:
        for d in (wd, short):
            (d / "go").touch()  # jairun runs now, while slurmctld is down: srun cannot create the step
        await_file(out, "jairun's retry", RETRY_LINE)
        await_file(short_out, "jairun giving up", "giving up")
    finally:
        subprocess.run(["bash", str(SLURM_SH), "start-ctld"], check=True, timeout=60)
    row = slurm.finish(row.id)
    text = out.read_text(errors="replace")
    assert row.state == "succeeded", (row.state, row.reason, text)
    assert "Unable to contact slurm controller" in text  # srun's own words stay in the log
    assert "the rank ran" in text and "[jairun] all ranks finished successfully" in text
    given_up = slurm.finish(given_up.id)
    text = short_out.read_text(errors="replace")
    assert given_up.state == "failed", (given_up.state, given_up.reason, text)
    assert ("[jairun] the Slurm controller (or, after its restart, the job's nodes) stayed unreachable "
            "for 1 s (HPCAI_STEP_RETRY_SECONDS); no rank was started, giving up") in text
    assert "retrying" not in text
    assert not Path(given_up.job_dir, "ranks-started").exists()  # no rank ever ran


def test_a_failing_rank_is_not_retried(slurm: Backend) -> None:
    wd = slurm.workdir()
    (wd / "go").touch()
    row = jsub(slurm, wd, STEP_RETRY_SUB.replace("CMD", "no-such-command-4711"), "retry.mf", "[host:all slots:1]\n")
    row = slurm.finish(row.id)
    text = (wd / f"output.{row.scheduler_job_id}.txt").read_text(errors="replace")
    assert row.state == "failed", (row.state, row.reason, text)
    assert "(rank 0 on cpu1) exited with code 127" in text, text  # the rank is named
    assert "retrying step creation" not in text


@pytest.fixture(scope="module")
def unix_user() -> Iterator[pwd.struct_passwd]:
    try:
        pwd.getpwnam(TEST_USER)
    except KeyError:
        subprocess.run(["useradd", "-m", "-s", "/bin/bash", TEST_USER], check=True, timeout=30)
    yield pwd.getpwnam(TEST_USER)


def test_job_runs_as_its_submitter(slurm: Backend, unix_user: pwd.struct_passwd) -> None:
    wd = slurm.workdir()
    # A plain batch script (what jsub submits): this machine's Python lives under /root, which
    # an ordinary user cannot execute, so the job's body must not need hpcai's interpreter.
    row = slurm.submit(slurm.request("true", wd, user=TEST_USER, framework=None, mode="standalone",
                                     options={}, groups=explicit(1),
                                     batch_script="#!/bin/sh\nid -u > uid.txt; id -un >> uid.txt\n"))
    row = slurm.finish(row.id)
    assert row.state == "succeeded", (row.reason, slurm.log(row))
    uid, name = (wd / "uid.txt").read_text().split()
    assert (int(uid), name) == (unix_user.pw_uid, TEST_USER)
    assert Path(row.job_dir).stat().st_uid == unix_user.pw_uid
    assert Path(row.job_dir, "exit_code").stat().st_uid == unix_user.pw_uid  # written by the job
    squeue = json.loads(subprocess.run(["squeue", "--json"], env={**os.environ, "SLURM_CONF": slurm.conf},  # type: ignore[attr-defined]
                                       capture_output=True, text=True, timeout=30).stdout)
    mine = [j for j in squeue["jobs"] if str(j["job_id"]) == row.scheduler_job_id]
    assert mine and mine[0]["user_name"] == TEST_USER


STANDALONE_SUB = """#!/bin/sh

#BSUB -J pytorch_standalone_cpu
#BSUB -q ai_excl
#BSUB -app jhai_command
#BSUB -mf standalone_cpu.mf
#BSUB -o output.%J.txt

${JHSCHEDULER_TOP}/scripts/jhai/service/jairun djm command \\
--job-type standalone --image 192.168.0.153:5000/jhinno/pytorch:2.1.0 \\
--cmd='python mnist_torch.py' --workdir=WORKDIR
"""

# The manual's Horovod example (2 x 2 slots); --job-type ddp and our DDP script stand in for
# Horovod, which this machine lacks: the topology and the path through jsub are the same.
HOROVOD_STYLE_SUB = """#!/bin/sh

#BSUB -J pytorch_horovod_cpu
#BSUB -q ai_excl
#BSUB -app jhai_command
#BSUB -mf horovod_cpu.mf
#BSUB -o output.%J.txt
#BSUB -port 2

${JHSCHEDULER_TOP}/scripts/jhai/service/jairun djm command \\
--job-type ddp --image 192.168.0.153:5000/jhinno/pytorch:2.1.0 \\
--cmd='python ddp_train.py --steps 5' \\
--workdir=WORKDIR
"""


def jsub(b: Backend, wd: Path, script: str, mf: str, mf_text: str) -> JobRow:
    (wd / mf).write_text(mf_text)
    text = script.replace("WORKDIR", str(wd))
    proc = subprocess.run([str(BIN / "jsub")], input=text, cwd=wd, env=cli_env(b), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Job <") and "is submitted to queue <ai_excl>" in proc.stdout
    sched_id = proc.stdout.split("<", 1)[1].split(">", 1)[0]
    row = b.platform.jobs.get_by_scheduler_id(sched_id, "root", "slurm")
    b.cleanup.append(row.id)
    return row


def test_jsub_pytorch_standalone_script(slurm: Backend) -> None:
    wd = slurm.workdir()
    (wd / "mnist_torch.py").write_text("import torch\n"
                                       "print('torch', torch.__version__, 'sum', int(torch.ones(3).sum()))\n")
    row = jsub(slurm, wd, STANDALONE_SUB, "standalone_cpu.mf", "[host:all slots:1]\n")
    row = slurm.finish(row.id)
    assert row.state == "succeeded", (row.reason, slurm.log(row))
    out = (wd / f"output.{row.scheduler_job_id}.txt").read_text()
    assert "sum 3" in out
    assert "--partition=all" in row.script


def test_jsub_horovod_style_two_by_two_slots(slurm: Backend) -> None:
    wd = slurm.workdir()
    (wd / "ddp_train.py").write_text((REPO / "examples" / "pytorch" / "ddp_train.py").read_text())
    row = jsub(slurm, wd, HOROVOD_STYLE_SUB, "horovod_cpu.mf", "2*[host:all slots:2]\n")
    row = slurm.finish(row.id)
    out = (wd / f"output.{row.scheduler_job_id}.txt").read_text()
    assert row.state == "succeeded", (row.reason, out)
    results = [json.loads((wd / f"ddp_result.{r}.json").read_text()) for r in (0, 1)]
    assert results[0]["param_sum"] == results[1]["param_sum"]
    assert "--cpus-per-task=2" in row.script and "--ntasks=2" in row.script
    # 2 ranks x 2 slots do not fit one 2-core node: Slurm spread them over cpu1 and gpu1.
    assert set((row.exec_hosts or "").split(",")) == {"cpu1", "gpu1"}, row.exec_hosts


def test_heterogeneous_job_places_each_role_on_its_component(slurm: Backend) -> None:
    """Roles that differ in resources (a PS server and its workers) become one Slurm hetjob;
    one srun step spans the components and every rank finds its own placement. No mode
    plugin of this issue makes such roles, so the plan is built here as a PS mode would."""
    from core.api import JobRef, ScriptContext
    from core.plan import LaunchPlan, ResourceRequest, Role

    wd = slurm.workdir()
    job_dir = slurm.root / "het" / uuid.uuid4().hex
    (job_dir / "logs").mkdir(parents=True)
    argv = ["/bin/bash", "-c", 'echo "{{role}} {{rank}} {{head_host}} {{world_size}} $SLURMD_NODENAME" > out.{{rank}}']
    run_as = slurm.platform.jobs.run_as("tester", "test")  # as JobService resolves it for any job
    os.chown(job_dir, run_as.uid, run_as.gid)
    os.chown(job_dir / "logs", run_as.uid, run_as.gid)
    plan = LaunchPlan(job_uuid=job_dir.name, name="het", user="tester", workdir=str(wd), scheduler="slurm",
                      launcher="srun", queue="all", run_as=run_as.as_dict(),
                      roles=[Role("server", 1, ResourceRequest(cpus=2), argv),
                             Role("worker", 2, ResourceRequest(cpus=1), argv)])
    (job_dir / "plan.json").write_text(plan.to_json())
    (job_dir / "body.sh").write_text('#!/bin/bash\n'
                                     'exec "$HPCAI_PYTHON" "$HPCAI_JAIRUN" run "$HPCAI_JOB_DIR/plan.json"\n')
    ctx = ScriptContext(job_dir=str(job_dir), cwd=str(wd), body=str(job_dir / "body.sh"),
                        stdout=str(job_dir / "output.%J.txt"), stderr=None, job_name="het",
                        env={"HPCAI_JOB_DIR": str(job_dir), "HPCAI_PYTHON": sys.executable,
                             "HPCAI_JAIRUN": str(REPO / "hooks" / "jairun")}, python=sys.executable)
    sched = slurm.platform.registry.scheduler("slurm")
    script = job_dir / "job.sh"
    script.write_text(sched.render(plan, ctx))
    assert "#SBATCH hetjob" in script.read_text()
    ref = JobRef(sched.submit(plan, str(script), ctx), str(job_dir))
    import time

    end = time.monotonic() + 180
    st = sched.poll([ref])[ref.scheduler_job_id]
    while not st.state.terminal and time.monotonic() < end:
        time.sleep(1)
        st = sched.poll([ref])[ref.scheduler_job_id]
    assert st.state == JobState.SUCCEEDED, (st, (job_dir / f"output.{ref.scheduler_job_id}.txt").read_text())
    lines = [(wd / f"out.{r}").read_text().split() for r in range(3)]
    assert [ln[:2] for ln in lines] == [["server", "0"], ["worker", "1"], ["worker", "2"]]
    assert {ln[2] for ln in lines} == {lines[0][4]}  # everyone's head_host is where rank 0 runs
    assert {ln[3] for ln in lines} == {"3"}
    # 2 + 1 + 1 CPUs do not fit one 2-core node: the components got different nodes, and
    # each rank's idea of its host (from the placement) is the node Slurm ran it on.
    assert lines[1][4] == lines[2][4] != lines[0][4]
