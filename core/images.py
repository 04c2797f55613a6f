"""The image catalog (etc/images.toml).

An image is what a job's ranks run in. For the `host` runtime it is a Python environment
(a prefix whose bin/ holds python); for container runtimes a container reference. The
product's image references (`192.168.0.153:5000/jhinno/pytorch:2.1.0`) map to catalog
entries through their aliases, ignoring the registry host.
"""

from __future__ import annotations

import os
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

from core.api import Image
from core.errors import HpcaiError, ValidationError

# Pins every image build honours (torch stays the CPU build hpcai itself uses).
CONSTRAINTS = Path(__file__).resolve().parent.parent / "scripts" / "constraints.txt"


def _expand(value: str, home: Path) -> str:
    value = value.replace("{prefix}", sys.prefix).replace("{home}", str(home))
    return os.path.expandvars(os.path.expanduser(value))


def strip_registry(reference: str) -> str:
    """`192.168.0.153:5000/jhinno/pytorch:2.1.0` -> `jhinno/pytorch:2.1.0` (as docker reads it)."""
    first, _, rest = reference.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return rest
    return reference


class ImageCatalog:
    def __init__(self, path: Path, home: Path, images_dir: Path | None = None):
        self.path = path
        self.images_dir = images_dir or home / "var" / "images"
        self.images: list[Image] = []
        if path.exists():
            try:
                data = tomllib.loads(path.read_text())
            except tomllib.TOMLDecodeError as exc:
                raise HpcaiError(f"{path}: {exc}", fix="fix the TOML syntax of the image catalog") from exc
            for entry in data.get("image", []):
                entry = dict(entry)
                entry["reference"] = _expand(entry.get("reference", ""), home)
                try:
                    self.images.append(Image(**entry))
                except TypeError as exc:
                    raise HpcaiError(f"{path}: image {entry.get('name')!r}: {exc}",
                                     fix="see the keys documented at the top of the catalog") from exc
        by_name = {i.name: i for i in self.images}
        for image in self.images:  # buildable images live where their pinned spec says
            if image.build and not image.reference:
                image.reference = self._built_reference(image, self.base_of(image, by_name))
        for image in self.images:
            image.env = {k: v.replace("{reference}", image.reference) for k, v in image.env.items()}

    def base_of(self, image: Image, by_name: dict[str, Image] | None = None) -> Image | None:
        name = image.build.get("base") if image.build else None
        if not name:
            return None
        by_name = by_name or {i.name: i for i in self.images}
        if name not in by_name:
            raise HpcaiError(f"image '{image.name}' is built on unknown image '{name}'",
                             fix="fix `base` in etc/images.toml")
        base = by_name[name]
        if base.build and not base.reference:  # bases are resolved first when they build too
            base.reference = self._built_reference(base, self.base_of(base, by_name))
        return base

    def _built_reference(self, image: Image, base: Image | None) -> str:
        """A host image's environment prefix, or a container image's content-hashed tag."""
        if image.runtime == "host":
            from core.envbuild import env_path

            return str(env_path(self.images_dir, image, base))
        from core.containers.builtin import built_reference

        return built_reference(image, base)

    def tagged(self, tag: str | None) -> list[Image]:
        if not tag:
            return list(self.images)
        return [i for i in self.images if tag.lower() in (t.lower() for t in i.tags)]

    #: the store's container images a user may run (My and shared images; set by the platform)
    user_images: Callable[[str | None], list[Image]] | None = None

    def find(self, reference: str, user: str | None = None) -> Image | None:
        """By catalog name, by alias with or without the registry host, then by repository;
        then the user's own and shared container images, by name or engine reference."""
        if self.user_images is not None:
            for image in self.user_images(user):
                if reference in (image.name, image.reference):
                    return image
        ref = strip_registry(reference)
        for image in self.images:
            if reference == image.name or ref == image.name or ref in image.aliases or reference in image.aliases:
                return image
        repo = ref.rsplit(":", 1)[0] if ":" in ref.rsplit("/", 1)[-1] else ref
        for image in self.images:
            if repo in (a.rsplit(":", 1)[0] for a in image.aliases):
                return image
        return None

    def resolve(self, reference: str, field: str = "image", user: str | None = None) -> Image:
        image = self.find(reference, user)
        if image is None:
            names = ", ".join(i.name for i in self.images) or "none"
            raise ValidationError(f"unknown image '{reference}'", field=field,
                                  fix=f"choose one of: {names} (see `hpcai images list`)")
        return image

    def build(self, name: str, force: bool = False, log=print):  # type: ignore[no-untyped-def]
        """Build an image's environment (and its base's first); see core.envbuild."""
        from core.envbuild import build

        image = self.resolve(name)
        base = self.base_of(image)
        if base is not None and base.build:
            self.build(base.name, log=log)
        if image.runtime != "host":
            from core.containers import builtin

            if not image.build:
                raise ValidationError(f"image '{image.name}' has no [image.build] spec", field="image",
                                      fix="pull it (`hpcai images pull`) or build from a Containerfile")
            return builtin.build(image, base, log=log, force=force)
        return build(image, base, CONSTRAINTS, log=log, force=force)
