"""Golden renders of the three container runtimes (tests/golden/containers; regenerate with
HPCAI_UPDATE_GOLDEN=1 and review the diff): flags, mounts at the same paths (F10), the rank's
GPU slice, shm (F3), the job's user, the rank's and the product's environment (F239)."""

from __future__ import annotations

import json
import shlex
import os
from pathlib import Path

import pytest

from core.api import Image
from core.containers.rank import ContainerSpec, parse_argv, rank_context
from core.types import Mount
from plugins.runtimes.apptainer import Apptainer, build_command
from plugins.runtimes.apptainer import engine_command as apptainer_command
from plugins.runtimes.apptainer import engine_env as apptainer_env
from plugins.runtimes.docker import Docker, run_kwargs
from plugins.runtimes.podman import Podman
from plugins.runtimes.podman import engine_command as podman_command

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "containers"
IMAGE = Image(name="pytorch-container", runtime="podman",
              reference="192.168.0.153:5000/jhinno/pytorch:2.1.0", env={"OMP_NUM_THREADS": "1"})
MOUNTS = [Mount("/public/share/data", None, True), Mount("/scratch/u1", "/data")]
# The rank's environment as jairun hands it over (captured shape of a 2-rank DDP rank 1).
RANK_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/home/u1", "USER": "u1", "TZ": "Asia/Shanghai",
            "HPCAI_JOB_DIR": "/spool/u1/0f3c2a9e8b7d41c6a5b4", "HPCAI_RANK": "1", "RANK": "1",
            "WORLD_SIZE": "2", "MASTER_ADDR": "10.0.0.5", "MASTER_PORT": "41007", "LOCAL_RANK": "1",
            "VIRTUAL_ENV": "/opt/hpcai/.venv", "LD_LIBRARY_PATH": "/opt/host/lib",
            "CUDA_VISIBLE_DEVICES": "2,MIG-5c1d8e0f-7a4b-4f0e-9b7e-1e2d3c4b5a69"}
CASES = {
    "cpu_rank": dict(gpus=0, shm_mb=None, uid=0, gid=0),
    "gpu_rank_rootless": dict(gpus=2, shm_mb=8192, uid=1001, gid=1001),
}


def _spec(runtime, gpus: int, shm_mb: int | None) -> tuple[ContainerSpec, list[str]]:
    wrapped = runtime.wrap(["python", "train.py", "--lr", "0.1"], IMAGE, MOUNTS, {}, gpus, shm_mb)
    assert wrapped.argv[1] == str(runtime.program) and wrapped.argv[3] == "--"
    return parse_argv(wrapped.argv[2:])


def command_text(argv: list[str]) -> str:
    """One option (with its value) per line, as a reviewer reads a command."""
    return shlex.join(argv).replace(" --", " \\\n  --") + "\n"


def render(runtime_name: str, case: str) -> str:
    c = CASES[case]
    runtime = {"podman": Podman(), "docker": Docker(), "apptainer": Apptainer()}[runtime_name]
    spec, argv = _spec(runtime, c["gpus"], c["shm_mb"])
    ctx = rank_context(spec, argv, RANK_ENV, "/home/u1/project", c["uid"], c["gid"])
    if runtime_name == "podman":
        return command_text(podman_command(spec, ctx))
    if runtime_name == "docker":
        return json.dumps(run_kwargs(spec, ctx), indent=1, sort_keys=True) + "\n"
    return command_text(apptainer_command(spec, ctx)) + "\n" + "\n".join(
        f"{k}={v}" for k, v in apptainer_env(spec, ctx).items()) + "\n"


@pytest.mark.parametrize("runtime", ["podman", "docker", "apptainer"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(runtime: str, case: str) -> None:
    text = render(runtime, case)
    path = GOLDEN / f"{runtime}-{case}.txt"
    if os.environ.get("HPCAI_UPDATE_GOLDEN") == "1" or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert text == path.read_text()


def test_every_runtime_wraps_ranks_the_same_way() -> None:
    for runtime in (Podman(), Docker(), Apptainer()):
        spec, argv = _spec(runtime, 1, 4096)
        ctx = rank_context(spec, argv, RANK_ENV, "/home/u1/project", 1001, 1001)
        targets = [t for _, t, _ in ctx.mounts]
        # request rows, then home, job directory and working directory: all at their own paths
        assert targets == ["/public/share/data", "/data", "/home/u1", "/spool/u1/0f3c2a9e8b7d41c6a5b4",
                           "/home/u1/project"]
        assert ctx.name == "hpcai-0f3c2a9e8b7d-1"
        assert ctx.gpu_devices == ["2", "MIG-5c1d8e0f-7a4b-4f0e-9b7e-1e2d3c4b5a69"]
        for host_only in ("PATH", "VIRTUAL_ENV", "LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES"):
            assert host_only not in ctx.env
        assert ctx.env["RANK"] == "1" and ctx.env["MASTER_PORT"] == "41007"
        assert ctx.env["OMP_NUM_THREADS"] == "1"  # the image's own env
        assert {k: ctx.env[k] for k in ("REMOVE_CONTAINER", "JH_USER_UID", "JH_USER_GID", "JH_SPOOLER", "TZ")} == {
            "REMOVE_CONTAINER": "1", "JH_USER_UID": "1001", "JH_USER_GID": "1001",
            "JH_SPOOLER": "/spool/u1/0f3c2a9e8b7d41c6a5b4", "TZ": "Asia/Shanghai"}


def test_values_never_on_the_podman_command_line() -> None:
    spec, argv = _spec(Podman(), 0, None)
    ctx = rank_context(spec, argv, {**RANK_ENV, "MLFLOW_TRACKING_TOKEN": "s3cret"}, "/w", 0, 0)
    command = podman_command(spec, ctx)
    assert "MLFLOW_TRACKING_TOKEN" in command and not any("s3cret" in a for a in command)


def test_host_runtime_images_are_refused_by_container_runtimes() -> None:
    host_image = Image(name="pytorch", runtime="host", reference="/opt/venv")
    for runtime in (Podman(), Docker(), Apptainer()):
        assert "host environment" in (runtime.check_image(host_image) or "")


def test_absent_engines_are_named_with_the_fix() -> None:
    # Neither Docker nor Apptainer runs on this machine kind (notes/environment.md).
    if not os.path.exists("/var/run/docker.sock") and not os.environ.get("DOCKER_HOST"):
        why = Docker().check_image(IMAGE) or ""
        assert "no Docker engine answers" in why and "podman" in why
    import shutil

    if not shutil.which("singularity"):
        why = Apptainer().check_image(IMAGE) or ""
        assert "Apptainer is not installed" in why


def test_apptainer_builds_from_a_definition_or_a_registry_image() -> None:
    assert build_command("/sif/pytorch.sif", "/home/u1/pytorch.def") == [
        "singularity", "--quiet", "build", "--fakeroot", "--force", "/sif/pytorch.sif", "/home/u1/pytorch.def"]
    assert build_command("/sif/p.sif", "192.168.0.153:5000/jhinno/pytorch:2.1.0")[-1] == (
        "docker://192.168.0.153:5000/jhinno/pytorch:2.1.0")
