"""The Docker runtime, through the Docker SDK (`docker` on PyPI) against the engine's socket
(DOCKER_HOST, or /var/run/docker.sock): one container per rank, created with the host's
network, the job's uid:gid, the rank's GPU slice as a device request, `shm_size` from the job,
every path mounted where it is on the host, and removed when the rank ends.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

from core.containers.rank import ContainerSpec, RankContext
from core.containers.runtime import ContainerRuntime
from core.hookspecs import hookimpl

CONNECT_TIMEOUT = 10


def run_kwargs(spec: ContainerSpec, ctx: RankContext) -> dict[str, Any]:
    """The SDK's `containers.create(**kwargs)` for one rank (pure; golden-tested)."""
    env = dict(ctx.env)
    kwargs: dict[str, Any] = {
        "image": spec.image, "command": list(ctx.argv), "name": ctx.name,
        "user": f"{ctx.uid}:{ctx.gid}", "working_dir": ctx.workdir, "network_mode": "host",
        "volumes": {source: {"bind": target, "mode": "ro" if ro else "rw"} for source, target, ro in ctx.mounts},
        "detach": True, "stdin_open": False, "tty": False,
    }
    if spec.shm_mb:
        kwargs["shm_size"] = f"{spec.shm_mb}m"
    if ctx.gpu_devices:  # the NVIDIA container toolkit exposes exactly these, from 0 inside
        kwargs["device_requests"] = [{"Driver": "nvidia", "DeviceIDs": list(ctx.gpu_devices),
                                      "Capabilities": [["gpu"]], "Count": 0, "Options": {}}]
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in range(len(ctx.gpu_devices)))
    kwargs["environment"] = dict(sorted(env.items()))
    return kwargs


def _client():  # type: ignore[no-untyped-def]
    import docker

    return docker.from_env(timeout=CONNECT_TIMEOUT)


class Docker(ContainerRuntime):
    name = "docker"
    title = "Docker containers (Docker SDK)"
    program = Path(__file__).resolve().parent

    def engine_missing(self) -> str | None:
        try:
            import docker
        except ImportError:
            return "the docker runtime needs the Docker SDK (pip install 'hpcai[containers]')"
        try:
            _client().ping()
        except docker.errors.DockerException as exc:
            where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
            return (f"no Docker engine answers at {where} ({exc.__class__.__name__}); start dockerd, "
                    f"set DOCKER_HOST, or choose the podman or apptainer runtime")
        return None

    def image_missing(self, reference: str) -> str | None:
        import docker

        try:
            _client().images.get(reference)
        except docker.errors.ImageNotFound:
            return f"image {reference} is not in the Docker engine's storage; `docker pull {reference}` first"
        except docker.errors.DockerException as exc:
            return f"the Docker engine cannot inspect {reference}: {exc}"
        return None

    def run(self, spec: ContainerSpec, ctx: RankContext) -> int:
        import docker

        try:
            client = _client()
            container = client.containers.create(**run_kwargs(spec, ctx))
            container.start()
        except docker.errors.DockerException as exc:
            print(f"hpcai: docker could not start the container: {exc}", file=sys.stderr, flush=True)
            return 125

        def stop(sig: int, _frame: object) -> None:
            container.remove(force=True)

        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, stop)
        try:
            for chunk in container.logs(stream=True, follow=True):
                sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
            return int(container.wait().get("StatusCode", 1))
        finally:
            try:
                container.remove(force=True)
            except docker.errors.DockerException:
                pass


@hookimpl
def hpcai_runtimes() -> list[ContainerRuntime]:
    return [Docker()]
