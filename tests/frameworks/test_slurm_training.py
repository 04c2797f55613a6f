"""Real training through hpcai on the test Slurm cluster (tests/services/slurm.sh), CPU only:
PyTorch Horovod with 2 ranks (Gloo), one rank on each of the cluster's two nodes, and MindSpore
PS, which fails with the same real error as on the local scheduler (no GPU here)."""

from __future__ import annotations

import pytest

from tests.frameworks.conftest import REPO, Site
from tests.frameworks.test_training import MINDSPORE_GPU_ERROR, assert_horovod_trained, job

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def slurm_train_site(tmp_path_factory, slurm_conf: str):  # type: ignore[no-untyped-def]
    extra = f'[schedulers.slurm]\nslurm_conf = "{slurm_conf}"\n'
    s = Site(tmp_path_factory.mktemp("slurm-train"), catalog=REPO / "etc" / "images.toml", scheduler="slurm",
             extra=extra)
    yield s
    s.close()


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
