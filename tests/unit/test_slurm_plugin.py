"""The slurm plugin without a cluster: golden job scripts and recorded outputs (fixtures).

Golden files: tests/golden/slurm/*.sh (regenerate with HPCAI_UPDATE_GOLDEN=1 and review the
diff). Recorded outputs: tests/fixtures/slurm/ (README.md there says how they were captured);
the plugin reads them through its configurable command names, exactly as it reads Slurm.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from core.api import JobRef, ScriptContext
from core.errors import SchedulerUnavailable
from core.plan import LaunchPlan, ResourceRequest, Role
from core.types import JobState
from plugins.schedulers.slurm import SlurmScheduler, _gpu_count
from plugins.schedulers.slurm.render import components
from plugins.schedulers.slurm.status import parse_sacct, parse_squeue_json, reason_words

HERE = Path(__file__).resolve().parent
GOLDEN = HERE.parent / "golden" / "slurm"
FIXTURES = HERE.parent / "fixtures" / "slurm"
SETTINGS = {"partitions": {"ai_excl": "debug"}, "gpu_partition": "gpu",
            "node_groups": {"tesla": "constraint:tesla"}}


def ctx(**kw: object) -> ScriptContext:
    base = dict(job_dir="/spool/alice/u-1", cwd="/home/alice/proj", body="/spool/alice/u-1/body.sh",
                stdout="/spool/alice/u-1/output.%J.txt", stderr=None, job_name="job",
                env={"HPCAI_JOB_DIR": "/spool/alice/u-1", "HPCAI_PYTHON": "/usr/bin/python3"},
                python="/usr/bin/python3")
    base.update(kw)
    return ScriptContext(**base)  # type: ignore[arg-type]


def plan(roles: list[Role], **kw: object) -> LaunchPlan:
    return LaunchPlan(job_uuid="u-1", name=str(kw.pop("name", "job")), user="alice", roles=roles,
                      workdir="/home/alice/proj", scheduler="slurm", launcher="srun", **kw)  # type: ignore[arg-type]


CPU1 = ResourceRequest(cpus=1, mem_mb=2048, spec="cpu-1")
CASES = {
    "ddp_cpu": (plan([Role("worker", 2, CPU1, ["python", "train.py"])], mode="ddp"), ctx()),
    "standalone_gpu": (plan([Role("main", 1, ResourceRequest(cpus=2, mem_mb=8192, gpus=1, gpu_type="tesla",
                                                             host="tesla"), ["python", "t.py"])],
                            queue="ai_excl", time_limit_min=90), ctx()),
    "gpu_default_partition": (plan([Role("worker", 2, ResourceRequest(cpus=2, gpus=1), ["python"])]), ctx()),
    "ps_hetjob": (plan([Role("server", 1, ResourceRequest(cpus=2, mem_mb=1000), ["ps"]),
                        Role("worker", 2, ResourceRequest(cpus=1, gpus=1, host="cpu1"), ["w"])],
                       mode="ps", time_limit_min=30), ctx()),
    "array_bsub_paths": (plan([Role("main", 1, CPU1, ["x"])], array_size=4, name="sweep"),
                         ctx(stdout="/home/alice/proj/output.%J.txt", stderr="/home/alice/proj/err.%J.txt")),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_scripts(case: str) -> None:
    sched = SlurmScheduler()
    sched.configure(SETTINGS, "/spool")
    p, c = CASES[case]
    text = sched.render(p, c)
    path = GOLDEN / f"{case}.sh"
    if os.environ.get("HPCAI_UPDATE_GOLDEN") == "1" or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert text == path.read_text()
    assert sched.render(p, c) == text  # pure: same inputs, same script


GPU_SETTINGS = {**SETTINGS, "shards_per_gpu": 2, "exclusive_gpu_nodes": True}


def gpu_plan(mode: str, replicas: int, gpu_type: str | None = None) -> LaunchPlan:
    req = ResourceRequest(cpus=2, mem_mb=4096, gpus=1, gpu_mode=mode, gpu_type=gpu_type, spec=f"gpu-{mode}")
    return plan([Role("worker", replicas, req, ["python", "t.py"])], mode="ddp", name=f"gpu_{mode}")


# Resource-spec GPU modes -> Slurm flags; shards_per_gpu=2 and exclusive_gpu_nodes are set.
GPU_CASES = {
    "gpu_exclusive_one_task": gpu_plan("exclusive", 1, "tesla"),
    "gpu_exclusive_two_tasks": gpu_plan("exclusive", 2),
    "gpu_shared_one_task": gpu_plan("shared", 1),
    "gpu_shared_two_tasks": gpu_plan("shared", 2),
    "gpu_mig_two_tasks": gpu_plan("mig", 2, "1g.5gb"),
    "gpu_ps_cpu_server_gpu_workers": plan([Role("server", 1, CPU1, ["ps"]),
                                           Role("worker", 2, ResourceRequest(cpus=1, gpus=1, gpu_mode="shared"),
                                                ["w"])], mode="ps"),
}


@pytest.mark.parametrize("case", sorted(GPU_CASES))
def test_golden_gpu_mode_flags(case: str) -> None:
    sched = SlurmScheduler()
    sched.configure(GPU_SETTINGS, "/spool")
    text = sched.render(GPU_CASES[case], ctx())
    path = GOLDEN / f"{case}.sh"
    if os.environ.get("HPCAI_UPDATE_GOLDEN") == "1" or not path.exists():
        path.write_text(text)
    assert text == path.read_text()


def test_gpu_mode_flags_in_words() -> None:
    """The golden files' key lines, so a regenerated golden cannot silently change them."""
    def sbatch(case: str, settings: dict = GPU_SETTINGS) -> list[str]:  # type: ignore[type-arg]
        sched = SlurmScheduler()
        sched.configure(settings, "/spool")
        return [ln for ln in sched.render(GPU_CASES[case], ctx()).splitlines() if ln.startswith("#SBATCH --")]

    assert {"#SBATCH --gres=gpu:tesla:1", "#SBATCH --exclusive"} <= set(sbatch("gpu_exclusive_one_task"))
    assert "#SBATCH --gpus-per-task=1" in sbatch("gpu_exclusive_two_tasks")
    assert "#SBATCH --exclusive" not in sbatch("gpu_exclusive_two_tasks", SETTINGS)  # off by default
    assert "#SBATCH --gres=shard:2" in sbatch("gpu_shared_one_task")
    assert {"#SBATCH --gres=shard:4", "#SBATCH --nodes=1"} <= set(sbatch("gpu_shared_two_tasks"))
    assert "#SBATCH --gpus-per-task=1g.5gb:1" in sbatch("gpu_mig_two_tasks")
    assert not any("--exclusive" in ln for ln in sbatch("gpu_mig_two_tasks") + sbatch("gpu_shared_one_task"))


def test_mig_spec_without_a_profile_is_refused() -> None:
    from core.errors import ValidationError

    sched = SlurmScheduler()
    sched.configure(SETTINGS, "/spool")
    with pytest.raises(ValidationError) as err:
        sched.check(gpu_plan("mig", 1))
    assert err.value.field == "resource_spec" and "gpu-mig" in err.value.message
    sched.configure({**SETTINGS, "mig_gres_type": "1g.5gb"}, "/spool")
    sched.check(gpu_plan("mig", 1))
    assert "#SBATCH --gres=gpu:1g.5gb:1" in sched.render(gpu_plan("mig", 1), ctx())


def test_step_retry_window_is_exported_only_when_the_site_sets_it() -> None:
    sched = SlurmScheduler()
    p, c = CASES["ddp_cpu"]
    sched.configure(SETTINGS, "/spool")
    assert "HPCAI_STEP_RETRY_SECONDS" not in sched.render(p, c)  # jairun's own default (120 s)
    sched.configure({**SETTINGS, "step_retry_seconds": 300}, "/spool")
    assert "export HPCAI_STEP_RETRY_SECONDS=300\n" in sched.render(p, c)


def test_components_split_roles_that_differ() -> None:
    p, _ = CASES["ps_hetjob"]
    assert [(c.tasks, c.roles) for c in components(p)] == [(1, ["server"]), (2, ["worker"])]
    p, _ = CASES["ddp_cpu"]
    assert len(components(p)) == 1


def replaying(tmp_path: Path, **outputs: tuple[str, int]) -> SlurmScheduler:
    """A scheduler whose commands print recorded outputs (and exit with the recorded status)."""
    commands = {}
    for tool, (text, code) in outputs.items():
        f = tmp_path / f"{tool}.out"
        f.write_text(text)
        to = " >&2" if code else ""  # failures speak on stderr, as Slurm's commands do
        commands[tool] = ["sh", "-c", f'cat "{f}"{to}; exit {code}', tool]
    sched = SlurmScheduler()
    sched.configure({"commands": commands}, str(tmp_path))
    return sched


def job_dir(tmp_path: Path, uuid: str, exit_code: str | None = None, array: int = 0) -> str:
    d = tmp_path / "spool" / uuid
    d.mkdir(parents=True)
    (d / "plan.json").write_text(f'{{"array_size": {array}}}')
    if exit_code is not None:
        (d / "exit_code").write_text(exit_code)
    return str(d)


def test_squeue_json_fixture_parses() -> None:
    jobs = {j.job_id: j for j in parse_squeue_json((FIXTURES / "squeue-22.05.8.json").read_text())}
    assert jobs["25"].state == "COMPLETED" and jobs["25"].exit_status == 0
    assert jobs["26"].state == "FAILED" and jobs["26"].exit_status == 3 << 8
    assert jobs["28"].reason == "Priority"
    assert jobs["30"].array_job_id == "27" and jobs["30"].array_task_id == 0
    assert jobs["25"].comment == "hpcai:11111111-1111-1111-1111-111111111111"


def test_one_squeue_answers_for_all_jobs(tmp_path: Path) -> None:
    text = (FIXTURES / "squeue-22.05.8.json").read_text()
    sched = replaying(tmp_path, squeue=(text, 0), sacct=("", 0))
    refs = [JobRef("25", job_dir(tmp_path, "11111111-1111-1111-1111-111111111111", "0")),
            JobRef("26", job_dir(tmp_path, "22222222-2222-2222-2222-222222222222", "3")),
            JobRef("27", job_dir(tmp_path, "33333333-3333-3333-3333-333333333333", array=4)),
            JobRef("28", job_dir(tmp_path, "44444444-4444-4444-4444-444444444444")),
            JobRef("29", job_dir(tmp_path, "55555555-5555-5555-5555-555555555555"))]
    st = sched.poll(refs)
    assert sched.commands_run == 1
    assert st["25"].state == JobState.SUCCEEDED and st["25"].exit_code == 0
    assert st["26"].state == JobState.FAILED and st["26"].exit_code == 3
    assert st["27"].state == JobState.RUNNING  # two tasks run, two wait
    assert st["28"].state == JobState.QUEUED and st["28"].reason == "waiting behind higher-priority jobs"
    assert st["29"].state == JobState.RUNNING and st["29"].exec_hosts == "gpu1"


def test_reused_id_is_not_our_job(tmp_path: Path) -> None:
    text = (FIXTURES / "squeue-22.05.8.json").read_text()
    sched = replaying(tmp_path, squeue=(text, 0), sacct=("", 0))
    # Job 28 in the queue belongs to 4444...; ours had the same id before a controller reset.
    st = sched.poll([JobRef("28", job_dir(tmp_path, "99999999-9999-9999-9999-999999999999"))])
    assert st["28"].state == JobState.UNKNOWN
    assert sched.commands_run == 2  # squeue, then sacct for the job that left the queue


def test_slurms_record_beats_the_jobs_exit_code_file(tmp_path: Path) -> None:
    """The exit_code file belongs to the job's user (issue 13): Slurm's exit status is the
    outcome whenever Slurm still has it; the file cannot turn one outcome into another."""
    text = (FIXTURES / "squeue-22.05.8.json").read_text()
    sched = replaying(tmp_path, squeue=(text, 0))
    # Slurm says COMPLETED (exit 0); the file, rewritten by the job's user, says 7.
    st = sched.poll([JobRef("25", job_dir(tmp_path, "11111111-1111-1111-1111-111111111111", "7"))])
    assert st["25"].state == JobState.SUCCEEDED and st["25"].exit_code == 0


def test_failed_query_is_unknown_never_finished(tmp_path: Path) -> None:
    down = "squeue: error: Unable to contact slurm controller (connect failure)\n"
    sched = replaying(tmp_path, squeue=(down, 1))
    st = sched.poll([JobRef("28", job_dir(tmp_path, "44444444-4444-4444-4444-444444444444"))])
    assert st["28"].state == JobState.UNKNOWN
    assert "Unable to contact slurm controller" in (st["28"].reason or "")
    assert sched.commands_run == 1
    # backing off: the next cycles do not hammer a controller that is down
    st = sched.poll([JobRef("28", st and job_dir(tmp_path, "55555555-5555-5555-5555-555555555555"))])
    assert st["28"].state == JobState.UNKNOWN and "next try in" in (st["28"].reason or "")
    assert sched.commands_run == 1
    sched._retry_at = 0.0  # the back-off has passed
    sched.poll([JobRef("28", str(tmp_path / "spool" / "44444444-4444-4444-4444-444444444444"))])
    assert sched.commands_run == 2 and sched._backoff == 4.0


def test_gone_from_queue_falls_back_to_jobcomp(tmp_path: Path) -> None:
    disabled = (FIXTURES / "sacct-disabled-22.05.8.txt").read_text()
    sacct_c = (FIXTURES / "sacct-c-22.05.8.txt").read_text()
    empty = '{"meta": {}, "errors": [], "jobs": []}'
    f_dis, f_c = tmp_path / "dis.out", tmp_path / "c.out"
    f_dis.write_text(disabled)
    f_c.write_text(sacct_c)
    script = f'case " $* " in *" -c "*) cat "{f_c}";; *) cat "{f_dis}"; exit 1;; esac'
    sched = replaying(tmp_path, squeue=(empty, 0))
    sched.commands["sacct"] = ["sh", "-c", script, "sacct"]
    refs = [JobRef("25", job_dir(tmp_path, "a1")), JobRef("26", job_dir(tmp_path, "a2"))]
    recorded = datetime.fromisoformat("2026-11-27T06:01:44").astimezone(timezone.utc).timestamp()
    for r in refs:  # our job directories were written just before those submissions
        os.utime(Path(r.job_dir) / "plan.json", (recorded, recorded))
    st = sched.poll(refs)
    assert st["25"].state == JobState.SUCCEEDED
    assert st["26"].state == JobState.FAILED and st["26"].exit_code == 3
    assert sched.accounting == "jobcomp"  # learnt: next cycles go straight to sacct -c
    sched.commands_run = 0
    sched.poll(refs)
    assert sched.commands_run == 2  # squeue + one sacct -c for both jobs


def test_unreachable_submit_is_scheduler_unavailable(tmp_path: Path) -> None:
    from core.plan import LaunchPlan

    sched = replaying(tmp_path, sbatch=("sbatch: error: Batch job submission failed: Unable to contact "
                                        "slurm controller (connect failure)\n", 1))
    import pwd

    from core.identity import RunAs

    p = LaunchPlan(job_uuid="x", name="x", user="root", roles=[], workdir="/",
                   run_as=RunAs.of(pwd.getpwuid(os.getuid())).as_dict())
    with pytest.raises(SchedulerUnavailable, match="unreachable"):
        sched.submit(p, "/dev/null", ctx())


def test_sacct_and_reasons_and_gres() -> None:
    recs = parse_sacct((FIXTURES / "sacct-c-22.05.8.txt").read_text())
    assert recs["26"].exit_code == 3 and recs["26"].state == "FAILED"
    assert reason_words("Resources").startswith("waiting for resources")
    assert reason_words("SomethingNew") == "SomethingNew"
    assert _gpu_count("gpu:tesla:2") == 2 and _gpu_count("(null)") == 0 and _gpu_count("gpu:1(S:0)") == 1


def test_accounting_record_of_an_older_job_with_our_id_is_not_ours(tmp_path: Path) -> None:
    sacct_c = (FIXTURES / "sacct-c-22.05.8.txt").read_text()
    empty = '{"meta": {}, "errors": [], "jobs": []}'
    sched = replaying(tmp_path, squeue=(empty, 0), sacct=(sacct_c, 0))
    sched.accounting = "jobcomp"
    r = JobRef("25", job_dir(tmp_path, "b1"))  # written now, long after job 25 of the record
    assert sched.poll([r])["25"].state == JobState.UNKNOWN
