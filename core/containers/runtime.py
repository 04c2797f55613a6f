"""The part every container runtime plugin shares (plugins/runtimes/{podman,docker,apptainer}).

A plugin subclasses ContainerRuntime and gives its engine's three answers: is the engine
there, is the image there, and the command (or SDK call) that runs one rank. The wrapped argv
starts the plugin's own directory as a program (`python plugins/runtimes/<name> SPEC -- argv`),
whose `__main__` calls `main()` on the node, in the rank's process.
"""

from __future__ import annotations

import os
import sys
from abc import abstractmethod
from pathlib import Path
from typing import ClassVar

from core.api import Image, Runtime, Wrapped
from core.containers.rank import ContainerSpec, RankContext, parse_argv, rank_context
from core.containers.reference import check_reference
from core.errors import HpcaiError
from core.types import Mount


class ContainerRuntime(Runtime):
    #: a container sees only what is mounted, so the core checks mounts against the user's roots
    isolates_mounts: ClassVar[bool] = True
    #: the plugin's package directory (run as a program on the node)
    program: ClassVar[Path]

    @abstractmethod
    def engine_missing(self) -> str | None:
        """Why the engine cannot be used from here (not installed, no daemon), or None."""

    @abstractmethod
    def image_missing(self, reference: str) -> str | None:
        """Why the image cannot be run (not in the engine's storage ...), or None."""

    @abstractmethod
    def run(self, spec: ContainerSpec, ctx: RankContext) -> int:
        """Run one rank in a container on this node; returns its exit status."""

    def engine_reference(self, image: Image) -> str:
        return image.reference

    def check_image(self, image: Image) -> str | None:
        if image.runtime == "host":
            return (f"image '{image.name}' is a host environment, not a container image; choose a "
                    f"container image (`hpcai images list`) or the host runtime")
        why = self.engine_missing()
        if why:
            return why
        try:
            check_reference(image.reference)
        except HpcaiError as exc:
            return exc.message
        return self.image_missing(self.engine_reference(image))

    def wrap(self, argv: list[str], image: Image | None, mounts: list[Mount],
             env: dict[str, str], gpus: int, shm_mb: int | None) -> Wrapped:
        if image is None:
            raise HpcaiError(f"the {self.name} runtime needs an image", field="image",
                             fix="give --image (see `hpcai images list`)")
        spec = ContainerSpec(runtime=self.name, image=self.engine_reference(image),
                             mounts=[{"source": m.source, "target": m.mount_point, "readonly": m.readonly}
                                     for m in mounts],
                             env=dict(image.env), shm_mb=shm_mb, gpus=gpus)
        return Wrapped(argv=[sys.executable, str(self.program), spec.to_json(), "--", *argv])


def main(runtime: ContainerRuntime, argv: list[str]) -> int:
    """The node side: this process's environment is the rank's."""
    spec, command = parse_argv(argv)
    ctx = rank_context(spec, command, dict(os.environ), os.getcwd(), os.getuid(), os.getgid())
    return runtime.run(spec, ctx)
