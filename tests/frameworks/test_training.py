"""Real training through hpcai on the local scheduler, CPU only, a few steps each.

Each test builds (or reuses, from var/images) the framework's image environment, submits
the example under examples/<framework>/ and checks the job succeeded and the model trained.
Pairs that cannot run on this machine are submitted all the same; their tests pin the real
error the job reports.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.frameworks.conftest import REPO, Site

pytestmark = [pytest.mark.integration, pytest.mark.slow]
EXAMPLES = REPO / "examples"
# What MindSpore 2.10 says when its PS or Open MPI mode (GPU modes in the product) starts on a
# node without a GPU. (With MS_DEVICE=CPU the PS cluster does form, but 2.10 has dropped
# Cell.set_param_ps, and Open MPI ranks fail to build their CPU collective group.)
MINDSPORE_GPU_ERROR = "RuntimeError: Unsupported device target GPU. This process only supports one of the ['CPU']"


def job(site: Site, fw: str, mode: str, script: str, image: str, command: str | None = None,
        **topology) -> dict:  # type: ignore[no-untyped-def]
    project = site.project(f"{fw}-{mode}", EXAMPLES / fw / script)
    return {"framework": fw, "mode": mode, "image": image, "workdir": str(project),
            "command": command or f"python {script}", **topology}


def result(row, name: str = "result.json") -> dict:  # type: ignore[no-untyped-def]
    return json.loads((Path(row.request["workdir"]) / name).read_text())


def assert_trained(site: Site, row, name: str = "result.json") -> dict:  # type: ignore[no-untyped-def]
    log = site.log(row)
    assert row.state == "succeeded", log
    res = result(row, name)
    assert res["last_loss"] < res["first_loss"], res
    return res


def test_pytorch_standalone(site: Site) -> None:
    row = site.run(job(site, "pytorch", "standalone", "train.py", "pytorch", resource_spec="cpu-1"))
    assert_trained(site, row)


def test_pytorch_ddp_two_ranks(site: Site) -> None:
    row = site.run(job(site, "pytorch", "ddp", "ddp_train.py", "pytorch", instances=2, resource_spec="cpu-1"))
    assert row.state == "succeeded", site.log(row)
    ranks = [json.loads((Path(row.request["workdir"]) / f"ddp_result.{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    assert ranks[0]["params"] == ranks[1]["params"]  # gradients were averaged across ranks


def test_tensorflow_standalone(site: Site, build_image) -> None:  # type: ignore[no-untyped-def]
    build_image("tensorflow")
    row = site.run(job(site, "tensorflow", "standalone", "train.py", "tensorflow", resource_spec="cpu-1"))
    assert_trained(site, row)


def test_tensorflow_parameter_server(site: Site, build_image) -> None:  # type: ignore[no-untyped-def]
    build_image("tensorflow")
    row = site.run(job(site, "tensorflow", "ps", "ps_train.py", "tensorflow", servers=1, workers=2,
                       server_spec="cpu-1", worker_spec="cpu-1"))
    res = assert_trained(site, row)
    assert (res["ps"], res["workers"]) == (1, 2)
    assert "stopping the server, worker rank(s)" in site.log(row)


def test_paddle_standalone(site: Site, build_image) -> None:  # type: ignore[no-untyped-def]
    build_image("paddle")
    row = site.run(job(site, "paddle", "standalone", "train.py", "paddle", resource_spec="cpu-1"))
    assert_trained(site, row)


def test_paddle_parameter_server(site: Site, build_image) -> None:  # type: ignore[no-untyped-def]
    build_image("paddle")
    row = site.run(job(site, "paddle", "ps", "ps_train.py", "paddle", servers=1, workers=2,
                       server_spec="cpu-1", worker_spec="cpu-1"))
    assert row.state == "succeeded", site.log(row)
    for trainer in (0, 1):
        res = result(row, f"result.{trainer}.json")
        assert (res["trainers"], res["servers"]) == (2, 1)
        assert res["last_loss"] < res["first_loss"], res


def test_mindspore_standalone(site: Site, build_image) -> None:  # type: ignore[no-untyped-def]
    build_image("mindspore")
    row = site.run(job(site, "mindspore", "standalone", "train.py", "mindspore", resource_spec="cpu-1"))
    assert_trained(site, row)


def test_mxnet_standalone(site: Site, build_image) -> None:  # type: ignore[no-untyped-def]
    build_image("mxnet")
    row = site.run(job(site, "mxnet", "standalone", "train.py", "mxnet", resource_spec="cpu-1"))
    assert_trained(site, row)


def test_deepspeed_two_ranks(site: Site, build_image) -> None:  # type: ignore[no-untyped-def]
    build_image("deepspeed")
    row = site.run(job(site, "deepspeed", "deepspeed", "train.py", "deepspeed", instances=2,
                       resource_spec="cpu-1"))
    log = site.log(row)
    assert row.state == "succeeded", log
    ranks = [result(row, f"ds_result.{r}.json") for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    assert ranks[0]["params"] == ranks[1]["params"]  # ZeRO kept the replicas in step
    assert all(r["last_loss"] < r["first_loss"] for r in ranks)
    # The ops were compiled into the image, not in this job.
    assert "Building extension module" not in log and "ninja" not in log.lower(), log


def assert_horovod_trained(site: Site, row) -> list[dict]:  # type: ignore[no-untyped-def]
    assert row.state == "succeeded", site.log(row)
    ranks = [result(row, f"horovod_result.{r}.json") for r in (0, 1)]
    assert [(r["rank"], r["size"]) for r in ranks] == [(0, 2), (1, 2)]
    assert ranks[0]["param_sum"] == pytest.approx(ranks[1]["param_sum"])  # allreduced gradients
    assert all(r["last_loss"] < r["first_loss"] for r in ranks), ranks
    return ranks


def test_pytorch_horovod_two_ranks(site: Site, horovod_image: str) -> None:
    row = site.run(job(site, "pytorch", "horovod", "horovod_train.py", "pytorch-horovod", instances=2,
                       resource_spec="cpu-1"))
    assert_horovod_trained(site, row)
    assert "rank 1/2 step 19" in site.log(row)  # horovodrun's second rank, in the job's log


def test_mindspore_parameter_server_cannot_run_on_cpu(site: Site, build_image) -> None:  # type: ignore[no-untyped-def]
    build_image("mindspore")
    row = site.run(job(site, "mindspore", "ps", "ps_train.py", "mindspore", servers=1, workers=2,
                       server_spec="cpu-1", worker_spec="cpu-1"), timeout=300)
    log = site.log(row)
    assert row.state == "failed", log
    assert MINDSPORE_GPU_ERROR in log, log


def test_mindspore_open_mpi_cannot_run_on_cpu(site: Site, build_image) -> None:  # type: ignore[no-untyped-def]
    build_image("mindspore")
    row = site.run(job(site, "mindspore", "mpi", "mpi_train.py", "mindspore", instances=2,
                       resource_spec="cpu-1"), timeout=300)
    log = site.log(row)
    assert row.state == "failed", log
    assert MINDSPORE_GPU_ERROR in log and "[jairun] rank worker/0" in log, log
