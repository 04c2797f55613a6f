"""Env contracts of every (framework, mode) pair: planned, resolved by the launcher, and seen
by real ranks of real jobs on the local scheduler (tests/frameworks/probe.py)."""

from __future__ import annotations

import importlib.util
import json
import os
from importlib.machinery import SourceFileLoader
from pathlib import Path

import pytest

from core.plan import LaunchPlan, place
from tests.frameworks.conftest import HERE, REPO, Site, horovod_catalog
from tests.frameworks.contracts import PAIRS, TOPOLOGY, expected, launcher_argv

PROBE = HERE / "probe.py"


def _jairun():
    loader = SourceFileLoader("jairun_module", str(REPO / "hooks" / "jairun"))
    spec = importlib.util.spec_from_loader("jairun_module", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


jairun = _jairun()


@pytest.fixture(scope="module")
def probe_site(tmp_path_factory):  # type: ignore[no-untyped-def]
    s = Site(tmp_path_factory.mktemp("probe-site"), catalog=HERE / "probe_images.toml")
    yield s
    s.close()


def values(site: Site, fw: str, mode: str, **extra) -> dict:  # type: ignore[no-untyped-def]
    project = site.project(f"{fw}-{mode}", PROBE)
    return {"framework": fw, "mode": mode, "image": f"probe-{fw}", "workdir": str(project),
            "command": f"python probe.py {fw} {mode}", **TOPOLOGY[mode], **extra}


def comparable(env: dict[str, str]) -> dict[str, object]:
    return {k: json.loads(v) if k == "TF_CONFIG" else v for k, v in env.items()}


@pytest.mark.parametrize("fw,mode", PAIRS, ids=[f"{f}-{m}" for f, m in PAIRS])
def test_launcher_resolves_the_contract(probe_site: Site, fw: str, mode: str) -> None:
    """Plan at submit time + template resolution at run time = the documented contract."""
    jobs = probe_site.platform.jobs
    prep = jobs.prepare(jobs.request_from_values(values(probe_site, fw, mode), "tester", "test"))
    plan = LaunchPlan.from_json(prep.plan.to_json())
    plan.ports = list(range(42000, 42000 + prep.ports_needed))
    placements = place(plan, [("127.0.0.1", 8)])
    job_dir = "/spool/job"
    want = expected(fw, mode, json.loads(plan.to_json()), job_dir)
    started = {f"{p.role}/{p.role_rank}" for p in placements
               if next(r for r in plan.roles if r.name == p.role).start == "each" or p.role_rank == 0}
    assert len(set(plan.ports)) == len(plan.ports)
    for p in placements:
        label = f"{p.role}/{p.role_rank}"
        if label not in started:
            continue
        env = jairun.rank_env(plan, placements, p, Path(job_dir))
        got = {k: env.get(k) for k in want[label]}
        assert comparable(got) == comparable(want[label]), label
        role = next(r for r in plan.roles if r.name == p.role)
        argv = [jairun.resolve(a, jairun.variables_for(plan, placements, p, Path(job_dir))) for a in role.argv]
        head = launcher_argv(mode, job_dir)
        if head:
            assert argv[: len(head)] == head
            assert started == {"worker/0"}  # horovodrun / mpirun start the other rank
        assert argv[-1] == f"python probe.py {fw} {mode}"
    # Every reserved variable of the framework is set for every started rank.
    fw_desc = probe_site.platform.registry.get("framework", fw)
    for name in fw_desc.reserved_env.get(mode, ()):
        for label in started:
            assert name in want[label] or name in ("PADDLE_TRAINER_ID", "PADDLE_ROLE_RANK", "GROUP_RANK",
                                                    "ROLE_RANK", "ROLE_NAME", "CROSS_RANK"), name


LOCAL_PAIRS = [(f, m) for f, m in PAIRS if m not in ("horovod", "mpi")]


@pytest.mark.integration
@pytest.mark.parametrize("fw,mode", LOCAL_PAIRS, ids=[f"{f}-{m}" for f, m in LOCAL_PAIRS])
def test_probe_sees_the_contract_on_local(probe_site: Site, fw: str, mode: str) -> None:
    """Every job option of the product is used too: execution directory, mounts, ENV list, shm."""
    data = probe_site.root / "dataset"
    data.mkdir(exist_ok=True)
    (data / "part-0.csv").write_text("x,y\n1,2\n")
    options = {"create_exec_dir": True, "mounts": [f"{data}"], "shm_mb": 256,
               "env": f"PROBE_A=test1,PROBE_B=a\\,b,PROBE_MOUNT={data}"}
    row = probe_site.run(values(probe_site, fw, mode, **options), timeout=120)
    log = probe_site.log(row)
    assert row.state == "succeeded", log
    plan = json.loads((Path(row.job_dir) / "plan.json").read_text())
    want = expected(fw, mode, plan, row.job_dir)
    seen = probe_site.probes(row)
    by_label = {}
    for rec in seen.values():
        roles = [p for p in want if p.startswith(rec["env"]["HPCAI_ROLE"] + "/")]
        label = next(lab for lab in roles if want[lab]["HPCAI_RANK"] == rec["env"]["HPCAI_RANK"])
        by_label[label] = rec
    assert sorted(by_label) == sorted(want), log
    for label, rec in by_label.items():
        got = {k: rec["env"].get(k) for k in want[label]}
        assert comparable(got) == comparable(want[label]), label
        assert rec["nodefile"] == "127.0.0.1\n" * len(want)
        assert rec["hostfile"] == f"127.0.0.1 slots={len(want)}\n"
        assert rec["cwd"] == plan["workdir"] == f"{row.job_dir}/exec"  # a copy of the project
        assert "probe.py" in rec["files"]
        assert (rec["env"]["PROBE_A"], rec["env"]["PROBE_B"]) == ("test1", "a,b")
        assert rec["env"]["HPCAI_SHM_MB"] == "256"
        assert rec["mount_listing"] == ["part-0.csv"]


@pytest.mark.integration
def test_two_jobs_on_one_node_never_share_a_port(probe_site: Site) -> None:
    rows = [probe_site.submit(values(probe_site, "tensorflow", "ps")) for _ in range(2)]
    rows += [probe_site.submit(values(probe_site, "pytorch", "ddp"))]
    rows = [probe_site.wait(r, 120) for r in rows]
    ports = []
    for row in rows:
        assert row.state == "succeeded", probe_site.log(row)
        ports += json.loads((Path(row.job_dir) / "plan.json").read_text())["ports"]
        seen = [int(p) for rec in probe_site.probes(row).values()
                for p in rec["env"]["HPCAI_PORTS"].split(",")]
        assert set(seen) <= set(ports)
    assert len(ports) == len(set(ports)) == 2 * (1 + 4) + 1
    lo, hi = 41000, 41999
    assert all(lo <= p <= hi for p in ports)


@pytest.mark.integration
def test_a_dying_rank_ends_the_job_and_is_named(probe_site: Site) -> None:
    project = probe_site.project("dying", PROBE)
    cmd = ('if [ "$HPCAI_ROLE" = server ]; then sleep 1; exit 7; fi; '
           'python probe.py paddle ps && sleep 300')
    row = probe_site.run({"framework": "paddle", "mode": "ps", "image": "probe-paddle",
                          "workdir": str(project), "command": cmd, **TOPOLOGY["ps"]}, timeout=120)
    log = probe_site.log(row)
    assert row.state == "failed" and row.exit_code == 7, log
    assert "rank server/0 (rank 0" in log and "exited with code 7" in log, log
    assert "stopping the other ranks" in log


@pytest.mark.integration
def test_mpirun_starts_every_rank_from_the_hostfile(probe_site: Site) -> None:
    """MindSpore's Open MPI mode: the launcher runs mpirun once; mpirun starts both ranks."""
    row = probe_site.run(values(probe_site, "mindspore", "mpi"), timeout=120)
    log = probe_site.log(row)
    assert row.state == "succeeded", log
    seen = probe_site.probes(row)
    assert sorted(seen) == ["0", "1"], log
    for rank, rec in seen.items():
        env = rec["env"]
        assert env["OMPI_COMM_WORLD_RANK"] == rank and env["OMPI_COMM_WORLD_SIZE"] == "2"
        assert env["HPCAI_ROLE"] == "worker" and env["HPCAI_RANK"] == "0"  # mpirun's, not ours
        assert rec["hostfile"] == "127.0.0.1 slots=2\n"
    plan = json.loads((Path(row.job_dir) / "plan.json").read_text())
    assert plan["roles"][0]["argv"][:5] == ["mpirun", "-np", "{{world_size}}", "--hostfile", "{{hostfile}}"]


@pytest.mark.integration
def test_horovodrun_starts_every_rank(probe_site: Site, horovod_image: str) -> None:
    """Horovod mode: the launcher runs horovodrun (Gloo) once; it starts both ranks."""
    site = Site(probe_site.root / "horovod", catalog=horovod_catalog(probe_site.root, horovod_image))
    try:
        row = site.run({**values(site, "pytorch", "horovod"), "image": "probe-horovod"}, timeout=240)
        log = site.log(row)
        assert row.state == "succeeded", log
        seen = site.probes(row)
        assert sorted(seen) == ["0", "1"], log
        for rank, rec in seen.items():
            env = rec["env"]
            assert (env["HOROVOD_RANK"], env["HOROVOD_SIZE"], env["HOROVOD_LOCAL_RANK"]) == (rank, "2", rank)
            assert env["HOROVOD_HOSTNAME"] == "127.0.0.1"
            assert rec["hostfile"] == "127.0.0.1 slots=2\n"
    finally:
        site.close()
        os.environ.update(probe_site.env)


@pytest.mark.integration
@pytest.mark.parametrize("fw", ["tensorflow", "mxnet"])
def test_horovod_without_horovodrun_in_the_image_fails_clearly(probe_site: Site, fw: str) -> None:
    """The TF and MXNet images have no Horovod (it cannot be built for them here)."""
    row = probe_site.run(values(probe_site, fw, "horovod"), timeout=120)
    log = probe_site.log(row)
    assert row.state == "failed" and row.exit_code == 127, log
    assert "env: 'horovodrun': No such file or directory" in log.replace("\u2018", "'").replace("\u2019", "'"), log
    assert "rank worker/0 (rank 0" in log and "exited with code 127" in log, log


TF_PS_SCRIPT = """#!/bin/sh
#BSUB -J tensorflow_ps_cpu
#BSUB -q ai_excl
#BSUB -app jhai_command
#BSUB -mf ps_cpu.mf
#BSUB -o output.%J.txt
#BSUB -port 2
${JHSCHEDULER_TOP}/scripts/jhai/service/jairun djm command --job-type ps \\
  --image 192.168.0.153:5000/jhinno/tensorflow:2.13 \\
  --cmd='python probe.py tensorflow ps' --workdir=WORKDIR
"""


@pytest.mark.integration
def test_manuals_ps_batch_script_gets_the_tf_contract(probe_site: Site) -> None:
    """03 §4's TF PS script and machine file (server/worker tags) through jsub's path."""
    from core.bsubjob import request_from_script

    project = probe_site.project("jsub-tf-ps", PROBE)
    (project / "ps_cpu.mf").write_text('1*[host:all slots:2 tag:"server"]\n1*[host:all slots:2 tag:"worker"]\n')
    req = request_from_script(TF_PS_SCRIPT.replace("WORKDIR", str(project)), "root", project, "tensorflow_ps_cpu.sub",
                              {"JHSCHEDULER_TOP": "/opt/jhinno", "HOME": str(project)})
    req.framework = None
    jobs = probe_site.platform.jobs
    row = probe_site.wait(jobs.submit_prepared(jobs.prepare(req)), 120)
    assert row.state == "succeeded", probe_site.log(row)
    plan = json.loads((Path(row.job_dir) / "plan.json").read_text())
    assert [(r["name"], r["replicas"], r["request"]["cpus"]) for r in plan["roles"]] == \
        [("chief", 1, 2), ("server", 1, 2), ("worker", 1, 2)]
    assert len(plan["ports"]) == 1 + 2 + 3  # the mode's port, #BSUB -port 2, one per rank
    configs = {rec["env"]["HPCAI_ROLE"]: json.loads(rec["env"]["TF_CONFIG"])
               for rec in probe_site.probes(row).values()}
    assert {k: (v["task"]["type"], len(v["cluster"]["ps"]), len(v["cluster"]["worker"]))
            for k, v in configs.items()} == {"chief": ("chief", 1, 1), "server": ("ps", 1, 1),
                                             "worker": ("worker", 1, 1)}
