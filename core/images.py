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
from pathlib import Path

from core.api import Image
from core.errors import HpcaiError, ValidationError


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
    def __init__(self, path: Path, home: Path):
        self.path = path
        self.images: list[Image] = []
        if path.exists():
            try:
                data = tomllib.loads(path.read_text())
            except tomllib.TOMLDecodeError as exc:
                raise HpcaiError(f"{path}: {exc}", fix="fix the TOML syntax of the image catalog") from exc
            for entry in data.get("image", []):
                entry = dict(entry)
                entry["reference"] = _expand(entry.get("reference", ""), home)
                self.images.append(Image(**entry))

    def tagged(self, tag: str | None) -> list[Image]:
        if not tag:
            return list(self.images)
        return [i for i in self.images if tag.lower() in (t.lower() for t in i.tags)]

    def find(self, reference: str) -> Image | None:
        """By catalog name, by alias with or without the registry host, then by repository."""
        ref = strip_registry(reference)
        for image in self.images:
            if reference == image.name or ref == image.name or ref in image.aliases or reference in image.aliases:
                return image
        repo = ref.rsplit(":", 1)[0] if ":" in ref.rsplit("/", 1)[-1] else ref
        for image in self.images:
            if repo in (a.rsplit(":", 1)[0] for a in image.aliases):
                return image
        return None

    def resolve(self, reference: str, field: str = "image") -> Image:
        image = self.find(reference)
        if image is None:
            names = ", ".join(i.name for i in self.images) or "none"
            raise ValidationError(f"unknown image '{reference}'", field=field,
                                  fix=f"choose one of: {names} (see `hpcai images list`)")
        return image
