"""The podman runtime: every rank in its own `podman run --rm` container.

Rootful (a root job) or rootless (the job's user after the scheduler dropped privileges; then
`--userns keep-id` keeps the uid inside). The rank's environment enters by name only
(`-e NAME`: podman copies the value from its own environment, so no secret is on a command
line); GPUs of the rank's slice by CDI (`nvidia.com/gpu=<index or UUID>`, MIG by UUID), renumbered
from 0 inside; the host's network (rendezvous ports unchanged); `--shm-size` from the job (F3).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from core.containers import engine
from core.containers.rank import ContainerSpec, RankContext, run_rank
from core.containers.runtime import ContainerRuntime
from core.hookspecs import hookimpl


def engine_command(spec: ContainerSpec, ctx: RankContext, podman: str = "podman") -> list[str]:
    """The rank's `podman run` (pure; golden-tested)."""
    argv = [podman, "run", "--rm", "--pull", "never", "--name", ctx.name, "--network", "host",
            "--user", f"{ctx.uid}:{ctx.gid}", "--workdir", ctx.workdir]
    if ctx.uid != 0:
        argv += ["--userns", "keep-id"]  # rootless: the job's uid maps to itself inside
    if spec.shm_mb:
        argv += ["--shm-size", f"{spec.shm_mb}m"]
    for source, target, readonly in ctx.mounts:
        argv += ["--volume", f"{source}:{target}:{'ro' if readonly else 'rw'}"]
    for device in ctx.gpu_devices:
        argv += ["--device", f"nvidia.com/gpu={device}"]
    for name in sorted(container_env(ctx)):
        argv += ["--env", name]
    return argv + [spec.image, *ctx.argv]


def container_env(ctx: RankContext) -> dict[str, str]:
    env = dict(ctx.env)
    if ctx.gpu_devices:  # CDI gives the container only these, numbered from 0
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in range(len(ctx.gpu_devices)))
        env["NVIDIA_VISIBLE_DEVICES"] = "void"
    return env


class Podman(ContainerRuntime):
    name = "podman"
    title = "Podman containers"
    program = Path(__file__).resolve().parent

    def engine_missing(self) -> str | None:
        try:
            engine.require("podman")
        except Exception as exc:  # noqa: BLE001 - the message is the answer
            return str(exc)
        return None

    def image_missing(self, reference: str) -> str | None:
        if engine.image_exists("podman", reference):
            return None
        return (f"image {reference} is not in podman's storage on this host; "
                f"run `hpcai images pull {reference}` (or `hpcai images build` for a built-in image)")

    def run(self, spec: ContainerSpec, ctx: RankContext) -> int:
        env = engine.engine_env({**os.environ, **container_env(ctx)})
        podman = engine.require("podman")
        stop = [podman, "rm", "-f", "-t", "5", ctx.name]
        code = run_rank(engine_command(spec, ctx, podman), stop, env)
        if code in (125, 126):  # podman or its OCI runtime failed: the command never ran
            print(f"hpcai: podman could not start the container (exit {code}); see podman's message above",
                  flush=True)
        subprocess.run(stop, capture_output=True, timeout=60, env=env)  # --rm, even if podman died
        return code


@hookimpl
def hpcai_runtimes() -> list[ContainerRuntime]:
    return [Podman()]
