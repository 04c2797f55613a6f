"""The Apptainer (Singularity) runtime, the HPC sites' standard, through spython: one
`apptainer exec` per rank. Apptainer runs as the calling user (the job's, never root inside),
shares the host's network; `--contain --cleanenv` keeps the host's home, /tmp and environment
out, so only the job's paths are bound (at the same absolute paths, F10) and only the rank's
environment enters (as APPTAINERENV_/SINGULARITYENV_ variables, never on the command line).
`--nv` brings the NVIDIA driver; the rank's CUDA_VISIBLE_DEVICES (its slice, MIG by UUID)
limits it to that rank's GPUs. An image is a SIF file, or `docker://`/`oci://` to pull one.
Apptainer shares the node's /dev/shm: the job's shm size is passed on as HPCAI_SHM_MB.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from core.api import Image
from core.containers.rank import ContainerSpec, RankContext, run_rank
from core.containers.runtime import ContainerRuntime
from core.hookspecs import hookimpl

PROGRAMS = ("apptainer", "singularity")  # spython's client calls `singularity`; Apptainer ships both


def engine_command(spec: ContainerSpec, ctx: RankContext) -> list[str]:
    """The rank's `apptainer exec`, its first words from spython's client (pure; golden-tested)."""
    from spython.main import Client

    Client.quiet = True
    argv = Client._init_command("exec") + ["--contain", "--cleanenv", "--pwd", ctx.workdir]
    for source, target, readonly in ctx.mounts:
        argv += ["--bind", f"{source}:{target}:{'ro' if readonly else 'rw'}"]
    if ctx.gpu_devices:
        argv.append("--nv")
    return argv + [spec.image, *ctx.argv]


def build_command(target_sif: str, source: str) -> list[str]:
    """`apptainer build` of a SIF from a definition file or a registry image (pure; golden-tested).
    An unprivileged user builds with --fakeroot (user namespaces), as sites set it up."""
    from spython.main import Client

    Client.quiet = True
    origin = source if source.startswith("/") or "://" in source else f"docker://{source}"
    return Client._init_command("build") + ["--fakeroot", "--force", target_sif, origin]


def engine_env(spec: ContainerSpec, ctx: RankContext) -> dict[str, str]:
    """What enters the container, as Apptainer reads it from the launching process."""
    env = dict(ctx.env)
    if ctx.gpu_devices:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(ctx.gpu_devices)
    if spec.shm_mb:
        env["HPCAI_SHM_MB"] = str(spec.shm_mb)
    return {f"{prefix}ENV_{k}": v for k, v in sorted(env.items()) for prefix in ("APPTAINER", "SINGULARITY")}


class Apptainer(ContainerRuntime):
    name = "apptainer"
    title = "Apptainer / Singularity containers"
    program = Path(__file__).resolve().parent

    def engine_missing(self) -> str | None:
        try:
            from spython.utils import check_install
        except ImportError:
            return "the apptainer runtime needs spython (pip install 'hpcai[containers]')"
        if not check_install("singularity"):
            found = [p for p in PROGRAMS if shutil.which(p)]
            return ("Apptainer is not installed on this host (no `singularity` command"
                    + (f"; found {found[0]}" if found else "") + "); install Apptainer or SingularityCE "
                    "on the nodes, or choose the podman or docker runtime")
        return None

    def engine_reference(self, image: Image) -> str:
        ref = image.reference
        if ref.startswith(("/", "docker://", "oci://", "library://")):
            return ref
        return f"docker://{ref}"  # a registry image: Apptainer pulls and converts it

    def image_missing(self, reference: str) -> str | None:
        if reference.startswith("/") and not Path(reference).exists():
            return f"image file {reference} does not exist; build it (`hpcai images build`) or pull one"
        return None

    def run(self, spec: ContainerSpec, ctx: RankContext) -> int:
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("APPTAINERENV_", "SINGULARITYENV_"))}
        return run_rank(engine_command(spec, ctx), None, {**keep, **engine_env(spec, ctx)})


@hookimpl
def hpcai_runtimes() -> list[ContainerRuntime]:
    return [Apptainer()]
