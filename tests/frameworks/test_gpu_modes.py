"""Resource-spec GPU modes on the real test Slurm cluster, whose node gpu1 has fake GPU devices
(tests/services/slurm.sh): the sbatch flags each mode renders are accepted by Slurm, and every
rank sees its own share of the devices Slurm granted in CUDA_VISIBLE_DEVICES. Also CPU and GPU
roles of one job: on one node (local scheduler with 2 GPU slots) and on Slurm, where the roles
become a heterogeneous job (whose components Slurm 22.05 never puts on one node)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.frameworks.conftest import HERE, Site
from tests.frameworks.test_contracts import PROBE

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
def gpu_site(tmp_path_factory, slurm_conf: str):  # type: ignore[no-untyped-def]
    extra = f'[schedulers.slurm]\nslurm_conf = "{slurm_conf}"\nshards_per_gpu = 1\n'
    s = Site(tmp_path_factory.mktemp("slurm-gpu-site"), catalog=HERE / "probe_images.toml", scheduler="slurm",
             extra=extra, specs=HERE / "gpu_specs.toml")
    yield s
    s.close()


def run_probe(site: Site, fw: str, mode: str, **topology):  # type: ignore[no-untyped-def]
    project = site.project(f"gpu-{fw}-{mode}", PROBE)
    row = site.run({"framework": fw, "mode": mode, "image": f"probe-{fw}", "workdir": str(project),
                    "command": f"python probe.py {fw} {mode}", "queue": "gpu", **topology}, timeout=180)
    log = site.log(row)
    assert row.state == "succeeded", log
    seen = {rec["env"]["HPCAI_RANK"]: rec["env"] for rec in site.probes(row).values()}
    return row, seen, log


@pytest.mark.parametrize("spec,flag,devices", [
    ("gpu-exclusive", "--gpus-per-task=tesla:1", [{"0"}, {"1"}]),
    ("gpu-mig", "--gpus-per-task=1g.5gb:1", [{"2"}, {"3"}]),  # the MIG instances' devices
    ("gpu-shared", "--gres=shard:2", [{"0", "1"}, {"0", "1"}]),  # shards of the tesla GPUs
])
def test_each_rank_sees_its_gpus_per_mode(gpu_site: Site, spec: str, flag: str, devices) -> None:  # type: ignore[no-untyped-def]
    row, seen, log = run_probe(gpu_site, "pytorch", "ddp", instances=2, resource_spec=spec)
    assert f"#SBATCH {flag}" in row.script, row.script
    assert sorted(seen) == ["0", "1"], log
    got = [seen[r]["CUDA_VISIBLE_DEVICES"] for r in ("0", "1")]
    for rank, (cvd, allowed) in enumerate(zip(got, devices)):
        assert cvd and set(cvd.split(",")) <= allowed and len(cvd.split(",")) == 1, (rank, got, log)
    if spec != "gpu-shared":
        assert got[0] != got[1], got  # exclusive GPUs / MIG instances are never shared


def test_cpu_server_and_gpu_worker_on_slurm(gpu_site: Site) -> None:
    """PS with a CPU server and a GPU worker: a heterogeneous job, server on cpu1, worker on gpu1."""
    row, seen, log = run_probe(gpu_site, "paddle", "ps", servers=1, server_spec="cpu-node", workers=1,
                               worker_spec="gpu-exclusive", queue="all")
    assert "#SBATCH hetjob" in row.script
    hosts = (Path(row.job_dir) / "nodefile").read_text().split()
    assert hosts == ["cpu1", "gpu1"], hosts
    by_role = {env["HPCAI_ROLE"]: env.get("CUDA_VISIBLE_DEVICES") for env in seen.values()}
    assert by_role["worker"] == "0" and not by_role["server"], (by_role, log)


def test_cpu_server_and_gpu_workers_share_one_node(tmp_path: Path) -> None:
    """Local scheduler with 2 GPU slots: the CPU server placed first on the node takes no GPU,
    and the two 1-GPU workers get GPU 0 and GPU 1 (not 1 and 'all of them')."""
    site = Site(tmp_path / "site", catalog=HERE / "probe_images.toml", specs=HERE / "gpu_specs.toml",
                extra="gpus = 2\n")
    try:
        project = site.project("mixed", PROBE)
        row = site.run({"framework": "paddle", "mode": "ps", "image": "probe-paddle", "workdir": str(project),
                        "command": "python probe.py paddle ps", "servers": 1, "server_spec": "cpu-1",
                        "workers": 2, "worker_spec": "gpu-exclusive"}, timeout=120)
        log = site.log(row)
        assert row.state == "succeeded", log
        got = {(e["env"]["HPCAI_ROLE"], e["env"]["HPCAI_RANK"]): e["env"].get("CUDA_VISIBLE_DEVICES")
               for e in site.probes(row).values()}
        assert got == {("server", "0"): "", ("worker", "1"): "0", ("worker", "2"): "1"}, (got, log)
    finally:
        site.close()
