"""Real training through hpcai on the test Slurm cluster (tests/services/slurm.sh), CPU only, the
same examples as test_training.py on local: every pair that trains here, PyTorch Horovod with 2
ranks (Gloo) one on each of the cluster's two nodes, and MindSpore PS, which fails with the same
real error as on the local scheduler (no GPU here). Multi-role jobs use partition `all` (both
nodes); their ranks run in one srun step, parameter servers are stopped when the rest succeeded."""

from __future__ import annotations

import pytest

from tests.frameworks.conftest import REPO, Site
from tests.frameworks.test_training import MINDSPORE_GPU_ERROR, assert_horovod_trained, job, result

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def slurm_train_site(tmp_path_factory, slurm_conf: str):  # type: ignore[no-untyped-def]
    extra = f'[schedulers.slurm]\nslurm_conf = "{slurm_conf}"\n'
    s = Site(tmp_path_factory.mktemp("slurm-train"), catalog=REPO / "etc" / "images.toml", scheduler="slurm",
             extra=extra)
    yield s
    s.close()


# (framework, mode, example, image, topology, result files: one per rank that reports)
RUNS = [
    ("pytorch", "standalone", "train.py", "pytorch", {"resource_spec": "cpu-1"}, ["result.json"]),
    ("pytorch", "ddp", "ddp_train.py", "pytorch", {"instances": 2, "resource_spec": "cpu-1"},
     ["ddp_result.0.json", "ddp_result.1.json"]),
    ("tensorflow", "standalone", "train.py", "tensorflow", {"resource_spec": "cpu-1"}, ["result.json"]),
    ("tensorflow", "ps", "ps_train.py", "tensorflow",
     {"servers": 1, "workers": 2, "server_spec": "cpu-1", "worker_spec": "cpu-1"}, ["result.json"]),
    ("paddle", "standalone", "train.py", "paddle", {"resource_spec": "cpu-1"}, ["result.json"]),
    ("paddle", "ps", "ps_train.py", "paddle",
     {"servers": 1, "workers": 2, "server_spec": "cpu-1", "worker_spec": "cpu-1"}, ["result.0.json", "result.1.json"]),
    ("mindspore", "standalone", "train.py", "mindspore", {"resource_spec": "cpu-1"}, ["result.json"]),
    ("mxnet", "standalone", "train.py", "mxnet", {"resource_spec": "cpu-1"}, ["result.json"]),
    ("deepspeed", "deepspeed", "train.py", "deepspeed", {"instances": 2, "resource_spec": "cpu-1"},
     ["ds_result.0.json", "ds_result.1.json"]),
]


@pytest.mark.parametrize("fw,mode,script,image,topology,results", RUNS, ids=[f"{r[0]}-{r[1]}" for r in RUNS])
def test_trains_on_slurm(slurm_train_site: Site, build_image, fw, mode, script, image, topology, results) -> None:  # type: ignore[no-untyped-def]
    if image != "pytorch":
        build_image(image)
    site = slurm_train_site
    row = site.run(job(site, fw, mode, script, image, queue="all", **topology), timeout=300)
    log = site.log(row)
    assert row.state == "succeeded", log
    reports = [result(row, name) for name in results]
    for rep in reports:
        if "first_loss" in rep:
            assert rep["last_loss"] < rep["first_loss"], rep
    if "params" in reports[0]:  # DDP / ZeRO: gradients were averaged, replicas stayed in step
        assert reports[0]["params"] == reports[1]["params"]
    if mode == "ps":  # the launcher stopped the parameter server(s) after the rest succeeded
        assert "all other ranks finished; stopping server/0" in log, log


def test_pytorch_horovod_two_ranks_on_two_nodes(slurm_train_site: Site, horovod_image: str) -> None:
    site = slurm_train_site
    row = site.run(job(site, "pytorch", "horovod", "horovod_train.py", "pytorch-horovod", instances=2,
                       resource_spec="cpu-2", queue="all"), timeout=300)
    assert row.exec_hosts and set(row.exec_hosts.split(",")) == {"cpu1", "gpu1"}, row.exec_hosts
    ranks = assert_horovod_trained(site, row)
    assert [r["local_rank"] for r in ranks] == [0, 0]  # one rank per node


def test_mindspore_parameter_server_fails_like_on_local(slurm_train_site: Site, build_image) -> None:  # type: ignore[no-untyped-def]
    build_image("mindspore")
    site = slurm_train_site
    row = site.run(job(site, "mindspore", "ps", "ps_train.py", "mindspore", servers=1, workers=2,
                       server_spec="cpu-1", worker_spec="cpu-1", queue="all"), timeout=300)
    log = site.log(row)
    assert row.state == "failed", log
    assert MINDSPORE_GPU_ERROR in log, log


def test_mindspore_open_mpi_fails_like_on_local(slurm_train_site: Site, build_image) -> None:  # type: ignore[no-untyped-def]
    build_image("mindspore")
    site = slurm_train_site
    row = site.run(job(site, "mindspore", "mpi", "mpi_train.py", "mindspore", instances=2, resource_spec="cpu-1",
                       queue="all"), timeout=300)
    log = site.log(row)
    assert row.state == "failed", log
    assert MINDSPORE_GPU_ERROR in log and "[jairun] rank worker/0" in log, log
