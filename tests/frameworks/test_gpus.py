"""GPU handling: NVML inventory (degrading to "no GPU"), CUDA_VISIBLE_DEVICES per GPU mode and
rank, the mixed-model refusal (FAQ 18) and NCCL_SOCKET_IFNAME (FAQ 19)."""

from __future__ import annotations

import importlib.util
from importlib.machinery import SourceFileLoader
from pathlib import Path

import pytest

from core import gpus
from core.plan import LaunchPlan, ResourceRequest, Role, interface_for, local_addresses, place
from tests.frameworks.conftest import REPO

H100 = gpus.Gpu(0, "GPU-aaaa", "NVIDIA H100 80GB HBM3", 81559,
                [gpus.MigDevice("MIG-1111", "1g.10gb", 9856), gpus.MigDevice("MIG-2222", "1g.10gb", 9856)])
A100 = gpus.Gpu(1, "GPU-bbbb", "NVIDIA A100-SXM4-40GB", 40960)


def test_inventory_degrades_to_no_gpu_without_a_driver() -> None:
    try:
        import pynvml

        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
        pytest.skip("this machine has an NVIDIA driver")
    except pynvml.NVMLError:
        pass
    assert gpus.inventory() == []


@pytest.mark.gpu
def test_inventory_on_a_real_gpu() -> None:
    found = gpus.inventory()
    if not found:
        pytest.skip("no GPU on this machine")
    assert all(g.model and g.memory_mb > 0 and g.uuid.startswith("GPU-") for g in found)


def test_visible_devices_per_gpu_mode() -> None:
    inv = [H100, A100]
    assert gpus.visible_devices("exclusive", [1], inv) == "1"
    assert gpus.visible_devices("shared", [0, 1], inv) == "0,1"
    assert gpus.visible_devices("mig", [1], inv) == "MIG-2222"  # MIG instances by UUID


def test_each_local_rank_gets_its_own_slice() -> None:
    assert [gpus.rank_devices("0,1,2,3", r, 2) for r in (0, 1)] == ["0,1", "2,3"]
    assert gpus.rank_devices("MIG-1111,MIG-2222", 1, 1) == "MIG-2222"


def test_mixed_gpu_models_are_refused_naming_them() -> None:
    assert gpus.mixed_models({0: H100.model, 1: H100.model}) is None
    why = gpus.mixed_models({0: gpus.model_of("0", [H100, A100]), 1: gpus.model_of("GPU-bbbb", [H100, A100])})
    assert why is not None
    assert "NVIDIA A100-SXM4-40GB: rank(s) 1" in why and "NVIDIA H100 80GB HBM3: rank(s) 0" in why
    assert gpus.model_of("MIG-2222", [H100]) == H100.model


def _jairun():
    loader = SourceFileLoader("jairun_gpu", str(REPO / "hooks" / "jairun"))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader("jairun_gpu", loader))
    loader.exec_module(module)
    return module


def test_gpu_ranks_get_their_devices_and_user_nccl_ifname_is_kept(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    jairun = _jairun()
    req = ResourceRequest(cpus=1, gpus=1, gpu_mode="exclusive")
    plan = LaunchPlan(job_uuid="u", name="n", user="u", workdir="/", ports=[30000],
                      roles=[Role("worker", 2, req, ["true"])])
    placements = place(plan, [("127.0.0.1", 2)])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    envs = [jairun.rank_env(plan, placements, p, Path("/j")) for p in placements]
    assert [e["CUDA_VISIBLE_DEVICES"] for e in envs] == ["2", "3"]
    nics = [n for n in local_addresses() if n != "lo"]
    if len(nics) > 1:  # FAQ 19: chosen for multi-NIC nodes
        assert envs[0]["NCCL_SOCKET_IFNAME"] == "lo"
    else:
        assert "NCCL_SOCKET_IFNAME" not in envs[0]
    monkeypatch.setenv("NCCL_SOCKET_IFNAME", "eth1")  # the user's choice wins
    assert jairun.rank_env(plan, placements, placements[0], Path("/j"))["NCCL_SOCKET_IFNAME"] == "eth1"


def test_interface_towards_an_address() -> None:
    assert interface_for("127.0.0.1") == "lo"
    for nic, addr in local_addresses().items():
        assert interface_for(addr) == "lo"  # our own address stays on this host


def _admit_all(tmp_path: Path, jobs: list[tuple[str | None, int]], total: int, migs: int = 0) -> list[list[int] | None]:
    """Admit jobs (gpu_mode, gpus) one after the other on the local scheduler's real ledger."""
    import os
    import time

    from plugins.schedulers.local.ledger import Entry, Ledger
    from plugins.schedulers.local.supervisor import admit

    ledger = Ledger(tmp_path / "ledger")
    with ledger.locked() as data:
        for i, (mode, n) in enumerate(jobs, 1):
            Ledger.put(data, Entry(id=i, job_dir="/j", cpus=0, gpus=n, submit_ts=time.time(),
                                   supervisor_pid=os.getpid(), gpu_mode=mode))
    out = []
    for i in range(1, len(jobs) + 1):
        got = admit(ledger, i, total_cpus=8, total_gpus=total, total_migs=migs)
        out.append(got.gpu_ids if got is not None else None)
        if got is None:
            with ledger.locked() as data:  # leave the queue so later jobs are considered
                data["jobs"].pop(str(i))
    return out


def test_local_scheduler_gpu_modes(tmp_path: Path) -> None:
    # exclusive jobs never share; shared jobs share with each other but not with exclusive ones
    assert _admit_all(tmp_path / "a", [("exclusive", 1), ("exclusive", 1), ("exclusive", 1)], 2) == [[0], [1], None]
    assert _admit_all(tmp_path / "b", [("shared", 1), ("shared", 1), ("exclusive", 1), ("exclusive", 1)], 2) == \
        [[0], [0], [1], None]
    # MIG instances are a pool of their own
    assert _admit_all(tmp_path / "c", [("mig", 2), ("exclusive", 1), ("mig", 1)], 1, migs=2) == [[0, 1], [0], None]


def _ps_plan(launcher: str, server: ResourceRequest, worker: ResourceRequest) -> LaunchPlan:
    return LaunchPlan(job_uuid="u", name="n", user="u", workdir="/", ports=[30000], launcher=launcher,
                      roles=[Role("server", 1, server, ["true"]), Role("worker", 2, worker, ["true"])])


def test_mixed_cpu_and_gpu_roles_on_one_node_slice_by_gpu_ranks(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A CPU server placed before two 1-GPU workers: the workers get GPU 0 and 1 (not 1 and
    'all'), and the server sees no GPU."""
    jairun = _jairun()
    cpu, gpu = ResourceRequest(cpus=1), ResourceRequest(cpus=1, gpus=1, gpu_mode="exclusive")
    plan = _ps_plan("fork", cpu, gpu)
    placements = place(plan, [("127.0.0.1", 8)])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    envs = [jairun.rank_env(plan, placements, p, Path("/j"))["CUDA_VISIBLE_DEVICES"] for p in placements]
    assert envs == ["", "0", "1"]
    # Two GPU roles, one node: the local scheduler's list holds every GPU of the job.
    plan = _ps_plan("fork", ResourceRequest(cpus=1, gpus=1), ResourceRequest(cpus=2, gpus=2))
    placements = place(plan, [("127.0.0.1", 8)])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3,4")
    envs = [jairun.rank_env(plan, placements, p, Path("/j"))["CUDA_VISIBLE_DEVICES"] for p in placements]
    assert envs == ["0", "1,2", "3,4"]


def test_heterogeneous_slurm_components_slice_their_own_devices(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Under srun each hetjob component has its own CUDA_VISIBLE_DEVICES: the 2-GPU workers
    count only each other, not the 1-GPU server before them."""
    jairun = _jairun()
    plan = _ps_plan("srun", ResourceRequest(cpus=1, gpus=1), ResourceRequest(cpus=2, gpus=2))
    placements = place(plan, [("gpu1", 8)])
    assert [jairun.gpu_offset(plan, placements, p) for p in placements] == [0, 0, 2]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,2,3,4")  # what the worker component's tasks see
    assert jairun.rank_env(plan, placements, placements[2], Path("/j"))["CUDA_VISIBLE_DEVICES"] == "3,4"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")  # Slurm bound the task already (--gpus-per-task)
    assert jairun.rank_env(plan, placements, placements[1], Path("/j"))["CUDA_VISIBLE_DEVICES"] == "3"
