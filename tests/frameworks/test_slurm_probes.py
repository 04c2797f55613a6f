"""The same env-contract probes on the real Slurm test cluster (tests/services/slurm.sh):
ranks are started by jairun's srun launcher, on the nodes Slurm chose."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.frameworks.conftest import HERE, Site, horovod_catalog
from tests.frameworks.contracts import PAIRS, TOPOLOGY, expected
from tests.frameworks.test_contracts import PROBE, comparable, values

pytestmark = [pytest.mark.integration]
# MindSpore PS: its scheduler role has a server's resources, so the job is one component (a
# heterogeneous job needing every CPU of the 2-node cluster stayed pending).
# Horovod and Open MPI: the multi-node tests below (their launcher starts the ranks).
SLURM_PAIRS = [(f, m) for f, m in PAIRS if m not in ("horovod", "mpi")]


@pytest.fixture(scope="module")
def slurm_site(tmp_path_factory, slurm_conf: str):  # type: ignore[no-untyped-def]
    extra = f'[schedulers.slurm]\nslurm_conf = "{slurm_conf}"\n'
    s = Site(tmp_path_factory.mktemp("slurm-site"), catalog=HERE / "probe_images.toml", scheduler="slurm",
             extra=extra)
    yield s
    s.close()


@pytest.mark.parametrize("fw,mode", SLURM_PAIRS, ids=[f"{f}-{m}" for f, m in SLURM_PAIRS])
def test_probe_sees_the_contract_on_slurm(slurm_site: Site, fw: str, mode: str) -> None:
    """With the product's job options too: execution directory, mounts, ENV list, shm."""
    data = slurm_site.root / "dataset"
    data.mkdir(exist_ok=True)
    (data / "part-0.csv").write_text("x,y\n1,2\n")
    options = {"create_exec_dir": True, "mounts": [f"{data}"], "shm_mb": 256,
               "env": f"PROBE_A=test1,PROBE_B=a\\,b,PROBE_MOUNT={data}"}
    row = slurm_site.run(values(slurm_site, fw, mode, queue="all", **options), timeout=240)  # cpu1 + gpu1
    log = slurm_site.log(row)
    assert row.state == "succeeded", log
    plan = json.loads((Path(row.job_dir) / "plan.json").read_text())
    seen = list(slurm_site.probes(row).values())
    hosts = (Path(row.job_dir) / "nodefile").read_text().split()
    want = expected(fw, mode, plan, row.job_dir, hosts)
    assert len(seen) == len(want), log
    for rec in seen:
        label = next(lab for lab, env in want.items() if env["HPCAI_RANK"] == rec["env"]["HPCAI_RANK"])
        got = {k: rec["env"].get(k) for k in want[label]}
        assert comparable(got) == comparable(want[label]), label
        assert rec["cwd"] == plan["workdir"] == f"{row.job_dir}/exec" and "probe.py" in rec["files"]
        assert (rec["env"]["PROBE_A"], rec["env"]["PROBE_B"], rec["env"]["HPCAI_SHM_MB"]) == ("test1", "a,b", "256")
        assert rec["mount_listing"] == ["part-0.csv"]


def test_mpirun_spans_both_nodes_of_the_allocation(slurm_site: Site) -> None:
    """Open MPI mode on a 2-node allocation (2 CPUs a rank: one rank per node)."""
    row = slurm_site.run(values(slurm_site, "mindspore", "mpi", queue="all", resource_spec="cpu-2"), timeout=240)
    log = slurm_site.log(row)
    assert row.state == "succeeded", log
    assert (Path(row.job_dir) / "hostfile").read_text() == "cpu1 slots=1\ngpu1 slots=1\n", log
    seen = slurm_site.probes(row)
    assert sorted(seen) == ["0", "1"], log
    for rank, rec in seen.items():
        assert rec["env"]["OMPI_COMM_WORLD_RANK"] == rank and rec["env"]["OMPI_COMM_WORLD_SIZE"] == "2"
        assert rec["env"]["OMPI_COMM_WORLD_LOCAL_SIZE"] == "1"  # one rank per node
    # mpirun (in the batch step) started its daemons on both nodes with srun.
    assert sorted(rec["env"]["SLURMD_NODENAME"] for rec in seen.values()) == ["cpu1", "gpu1"], log


def test_horovodrun_spans_both_nodes_of_the_allocation(slurm_site: Site, slurm_conf: str,
                                                       horovod_image: str) -> None:
    """Horovod mode on a 2-node allocation: horovodrun gets `-H cpu1:1,gpu1:1` and the hostfile
    the same hosts and slots; each rank is rank 0 of its own node."""
    extra = f'[schedulers.slurm]\nslurm_conf = "{slurm_conf}"\n'
    site = Site(slurm_site.root / "horovod", catalog=horovod_catalog(slurm_site.root, horovod_image),
                scheduler="slurm", extra=extra)
    try:
        row = site.run({**values(site, "pytorch", "horovod", queue="all", resource_spec="cpu-2"),
                        "image": "probe-horovod"}, timeout=240)
        log = site.log(row)
        assert row.state == "succeeded", log
        assert (Path(row.job_dir) / "hostfile").read_text() == "cpu1 slots=1\ngpu1 slots=1\n", log
        plan = json.loads((Path(row.job_dir) / "plan.json").read_text())
        assert plan["roles"][0]["argv"][3:9] == ["horovodrun", "--gloo", "-np", "{{world_size}}", "-H",
                                                 "{{host_slots}}"]
        seen = site.probes(row)
        assert sorted(seen) == ["0", "1"], log
        assert {r: (e["env"]["HOROVOD_HOSTNAME"], e["env"]["HOROVOD_LOCAL_RANK"], e["env"]["HOROVOD_LOCAL_SIZE"],
                    e["env"]["HOROVOD_CROSS_SIZE"]) for r, e in seen.items()} == \
            {"0": ("cpu1", "0", "1", "2"), "1": ("gpu1", "0", "1", "2")}, log
    finally:
        site.close()
        os.environ.update(slurm_site.env)


def test_more_instances_than_the_cluster_has_is_refused_on_slurm(slurm_site: Site) -> None:
    """Point 7 on Slurm: sbatch's refusal becomes a field-named error, and no job is left."""
    from core.users import current_user
    from tests.frameworks.test_bad_input import submit_cli

    def jobs_and_dirs() -> tuple[int, int]:
        spool = Path(slurm_site.platform.config.spool)
        return slurm_site.platform.jobs.list(current_user())[1], len(list(spool.rglob("plan.json")))

    before = jobs_and_dirs()
    code, err = submit_cli(slurm_site, "--framework", "pytorch", "--mode", "ddp", "--instances", "64",
                           "--resource-spec", "cpu-1", "--image", "probe-pytorch", "--queue", "all",
                           "--", "python", "probe.py")
    assert code == 2, err
    assert "error: resource_spec: " in err and "Traceback" not in err, err
    assert jobs_and_dirs() == before


def test_a_dying_rank_ends_the_slurm_job_and_is_named(slurm_site: Site) -> None:
    """srun --kill-on-bad-exit ends the other ranks; the launcher names the failing one."""
    project = slurm_site.project("dying", PROBE)
    cmd = ('if [ "$HPCAI_ROLE" = server ]; then sleep 1; exit 7; fi; '
           'python probe.py paddle ps && sleep 300')
    row = slurm_site.run({"framework": "paddle", "mode": "ps", "image": "probe-paddle", "queue": "all",
                          "workdir": str(project), "command": cmd, **TOPOLOGY["ps"]}, timeout=120)
    log = slurm_site.log(row)
    assert row.state == "failed" and row.exit_code != 0, log
    assert "rank server/0 (rank 0 on cpu1) exited with code 7" in log, log


@pytest.mark.parametrize("fw", ["tensorflow", "mxnet"])
def test_horovod_without_horovodrun_fails_clearly_on_slurm(slurm_site: Site, fw: str) -> None:
    row = slurm_site.run(values(slurm_site, fw, "horovod", queue="all"), timeout=120)
    log = slurm_site.log(row)
    assert row.state == "failed" and row.exit_code == 127, log
    assert "horovodrun" in log and "No such file or directory" in log, log
