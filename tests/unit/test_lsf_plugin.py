"""The lsf plugin: golden bsub scripts and LSF outputs replayed through its configurable
command names (tests/fixtures/lsf/README.md says where the outputs come from)."""

from __future__ import annotations

import os
import pwd
from dataclasses import replace
from pathlib import Path

import pytest

from core.api import JobRef, ScriptContext
from core.errors import HpcaiError, SchedulerUnavailable
from core.identity import RunAs
from core.plan import LaunchPlan, ResourceRequest, Role
from core.types import JobState
from plugins.schedulers.lsf import LsfScheduler

HERE = Path(__file__).resolve().parent
GOLDEN = HERE.parent / "golden" / "lsf"
FIX = HERE.parent / "fixtures" / "lsf"
CTX = ScriptContext(job_dir="/spool/carol/u-3", cwd="/home/carol/p", body="/spool/carol/u-3/body.sh",
                    stdout="/home/carol/p/output.%J.txt", stderr="/home/carol/p/error.%J.txt", job_name="j",
                    env={"HPCAI_JOB_DIR": "/spool/carol/u-3"}, python="/usr/bin/python3")


def plan(roles: list[Role], **kw: object) -> LaunchPlan:
    return LaunchPlan(job_uuid="u-3", name=str(kw.pop("name", "train")), user="carol", roles=roles,
                      workdir="/home/carol/p", scheduler="lsf", **kw)  # type: ignore[arg-type]


CASES = {
    "gpu_exclusive": plan([Role("main", 1, ResourceRequest(cpus=2, mem_mb=8192, gpus=1, gpu_mode="exclusive",
                                                           gpu_type="TeslaV100"), ["x"])],
                          queue="ai_excl", time_limit_min=90),
    "ddp_shared_gpus_on_group": plan([Role("worker", 2, ResourceRequest(cpus=2, gpus=2, gpu_mode="shared",
                                                                        host="gpu_hosts"), ["x"])]),
    "array_of_four": plan([Role("main", 1, ResourceRequest(cpus=1, mem_mb=1024), ["x"])], array_size=4,
                          name="sweep"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_bsub_scripts(case: str) -> None:
    s = LsfScheduler()
    s.configure({"queues": {"ai_excl": "ai_excl"}}, "/spool")
    text = s.render(CASES[case], CTX)
    path = GOLDEN / f"{case}.sh"
    if os.environ.get("HPCAI_UPDATE_GOLDEN") == "1" or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert text == path.read_text()


def replay(tmp_path: Path, **outputs: str) -> LsfScheduler:
    """Commands named in settings print the recorded outputs; the argv they got is logged."""
    commands = {}
    for tool, fixture in outputs.items():
        commands[tool] = ["sh", "-c", f'echo "$0 $*" >> "{tmp_path}/argv.log"; cat "{FIX / fixture}"', tool]
    s = LsfScheduler()
    s.configure({"commands": commands, "queues": {"ai": "ai_excl"}}, str(tmp_path))
    return s


def ref(tmp_path: Path, jid: str, code: str | None = None, array: int = 0, limit: int | None = None) -> JobRef:
    d = tmp_path / jid
    d.mkdir()
    (d / "plan.json").write_text(f'{{"array_size": {array}, "time_limit_min": {limit or "null"}}}')
    if code is not None:
        (d / "exit_code").write_text(code)
    return JobRef(jid, str(d))


def test_one_bjobs_for_all_jobs(tmp_path: Path) -> None:
    s = replay(tmp_path, bjobs="bjobs-json-10.1.json")
    refs = [ref(tmp_path, "1201"), ref(tmp_path, "1202"), ref(tmp_path, "1203", "0"), ref(tmp_path, "1204"),
            ref(tmp_path, "1205", limit=1), ref(tmp_path, "1206", array=2), ref(tmp_path, "1207"),
            ref(tmp_path, "1299", "0"), ref(tmp_path, "1300")]
    st = s.poll(refs)
    assert s.commands_run == 1
    argv = (tmp_path / "argv.log").read_text().split()
    assert argv[:2] == ["bjobs", "-json"] and argv[-9:] == [r.scheduler_job_id for r in refs]
    assert st["1201"].state == JobState.RUNNING and st["1201"].exec_hosts == "2*hostA"
    assert st["1202"].state == JobState.QUEUED and st["1202"].reason == "Not enough job slot(s)"
    assert st["1203"].state == JobState.SUCCEEDED
    assert st["1204"].state == JobState.FAILED and st["1204"].exit_code == 3
    assert st["1205"].raw_state == "TIMEOUT" and st["1205"].reason == "time limit of 1 min exceeded"
    assert st["1206"].state == JobState.RUNNING and st["1206"].reason == "1 of 2 tasks ended"
    assert st["1207"].state == JobState.SUSPENDED
    assert st["1299"].state == JobState.SUCCEEDED  # gone from mbatchd; its exit_code file says 0
    assert st["1300"].state == JobState.UNKNOWN  # never finished on a guess


def test_exit_code_file_beats_done(tmp_path: Path) -> None:
    s = replay(tmp_path, bjobs="bjobs-json-10.1.json")
    assert s.poll([ref(tmp_path, "1203", "5")])["1203"].state == JobState.FAILED


def test_submit_reads_the_id_with_the_configured_pattern(tmp_path: Path) -> None:
    s = replay(tmp_path, bsub="bsub-10.1.txt")
    script = tmp_path / "job.sh"
    script.write_text(s.render(CASES["array_of_four"], CTX))
    with pytest.raises(HpcaiError, match="no Unix identity"):  # only JobService's plans (who runs it) go
        s.submit(CASES["array_of_four"], str(script), CTX)
    me = RunAs.of(pwd.getpwuid(os.getuid())).as_dict()  # the job runs as this test's own user
    assert s.submit(replace(CASES["array_of_four"], run_as=me), str(script), CTX) == "1208"


def test_clone_with_other_command_names(tmp_path: Path) -> None:
    s = replay(tmp_path, bjobs="bjobs-json-10.1.json", bkill="bsub-10.1.txt", bstop="bsub-10.1.txt",
               bresume="bsub-10.1.txt")
    for action in ("cancel", "suspend", "resume"):
        getattr(s, action)(JobRef("1201", str(tmp_path)))
    assert [ln.split()[0] for ln in (tmp_path / "argv.log").read_text().splitlines()] == ["bkill", "bstop", "bresume"]


def test_cluster_info_from_bhosts_and_bqueues(tmp_path: Path) -> None:
    s = replay(tmp_path, bhosts="bhosts-json-10.1.json", bqueues="bqueues-json-10.1.json")
    info = s.cluster_info("ai")
    assert (info.total_cpus, info.free_cpus, info.running_jobs, info.queued_jobs) == (16, 6, 8, 0)
    assert s.cluster_info(None).queued_jobs == 3
    assert s.commands_run == 2  # cached


def test_missing_commands_are_unavailable(tmp_path: Path) -> None:
    s = LsfScheduler()
    s.configure({"commands": {"bjobs": "/nonexistent/bjobs"}}, str(tmp_path))
    st = s.poll([ref(tmp_path, "1")])
    assert st["1"].state == JobState.UNKNOWN
    with pytest.raises(SchedulerUnavailable):
        s.cancel(JobRef("1", str(tmp_path)))
