"""The host runtime: ranks are plain processes; an image is a Python environment (a prefix)."""

from __future__ import annotations

from pathlib import Path

from core.api import Image, Runtime, Wrapped
from core.errors import ValidationError
from core.hookspecs import hookimpl
from core.types import Mount


class Host(Runtime):
    name = "host"
    title = "Host processes (no container)"

    def check_image(self, image: Image) -> str | None:
        if image.runtime != "host":
            return f"image '{image.name}' is for the {image.runtime} runtime, not host processes"
        python = Path(image.reference) / "bin" / "python"
        if not python.exists():
            return (f"the environment of image '{image.name}' is not built ({python} is missing); "
                    f"run `hpcai images build {image.name}`")
        return None

    def wrap(self, argv: list[str], image: Image | None, mounts: list[Mount],
             env: dict[str, str], gpus: int, shm_mb: int | None) -> Wrapped:
        for m in mounts:
            if m.mount_point != m.source:
                raise ValidationError(
                    f"host processes cannot mount {m.source} at {m.mount_point}", field="mounts",
                    fix="leave the mount point empty (same path) or use a container runtime")
        extra: dict[str, str] = {}
        if image is not None:
            # jairun puts HPCAI_IMAGE_BIN first on PATH, so `python` is the image's python.
            extra = {**image.env, "HPCAI_IMAGE_BIN": str(Path(image.reference) / "bin"),
                     "VIRTUAL_ENV": image.reference}
        if shm_mb:
            # Host processes share the node's /dev/shm; the request is passed on for the code.
            extra["HPCAI_SHM_MB"] = str(shm_mb)
        return Wrapped(argv=list(argv), env=extra)


@hookimpl
def hpcai_runtimes() -> list[Runtime]:
    return [Host()]
