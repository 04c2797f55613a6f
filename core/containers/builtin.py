"""Built-in container images, made by the repository from Debian and PyPI packages only.

Two kinds of `[image.build]` table for a container image (etc/images.toml):

    rootfs = "debootstrap"    a Debian root file system (`debootstrap --variant=minbase SUITE`
                              with `packages`), imported into podman's storage (`podman import`)
    containerfile = "PATH"    `podman build` of that Containerfile (relative to the repository)
                              on `base` (another catalog image, passed as the BASE build-arg);
                              its context holds the Containerfile's directory, libaiflow and
                              scripts/constraints.txt

An image's reference is `localhost/hpcai/<name>:<hash>`, the hash taken over its definition,
its base's reference and the files its context copies: podman's storage persists on a node,
so a second build of an unchanged definition is `podman image exists` (instant), and a
changed one builds again (podman's layer cache keeps the unchanged first steps).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.api import Image
from core.containers import engine
from core.errors import HpcaiError, ValidationError

REPO = Path(__file__).resolve().parents[2]
SDK_SOURCE = REPO / "libaiflow"
CONSTRAINTS = REPO / "scripts" / "constraints.txt"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
ROOTFS_TIMEOUT = 900  # debootstrap: ~65 s from a near mirror, minutes from a far one
BUILD_TIMEOUT = 1800  # a Containerfile installing torch from PyPI
BUILD_KEYS = {"rootfs", "suite", "packages", "mirror", "containerfile", "base", "sdk"}
WHEELS = Path("/opt/wheels")  # a site's local wheel mirror, used by builds when present
LOCK_DIR = Path(tempfile.gettempdir()) / "hpcai-image-builds"


@dataclass
class ContainerBuildResult:
    image: str
    reference: str
    built: bool
    seconds: float


def _tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts:
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def definition_hash(image: Image, base: Image | None) -> str:
    """What the image is made of: its build table, its base and the files its context copies."""
    data: dict[str, object] = {"build": image.build, "env": image.env,
                               "base": base.reference if base else None}
    if image.build.get("containerfile"):
        data["context"] = _tree_digest((REPO / image.build["containerfile"]).parent)
        data["constraints"] = hashlib.sha256(CONSTRAINTS.read_bytes()).hexdigest()
        if image.build.get("sdk", True):
            data["sdk"] = _tree_digest(SDK_SOURCE)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


def built_reference(image: Image, base: Image | None) -> str:
    return f"localhost/hpcai/{image.name}:{definition_hash(image, base)}"


def check_spec(image: Image) -> None:
    unknown = set(image.build) - BUILD_KEYS
    if unknown:
        raise HpcaiError(f"image '{image.name}': unknown build keys {sorted(unknown)}", field="build",
                         fix=f"use only {sorted(BUILD_KEYS)}")
    if bool(image.build.get("rootfs")) == bool(image.build.get("containerfile")):
        raise HpcaiError(f"image '{image.name}': give exactly one of rootfs or containerfile", field="build",
                         fix='rootfs = "debootstrap" for a base image, containerfile = "PATH" for a layer')
    if image.build.get("rootfs") not in (None, "debootstrap"):
        raise HpcaiError(f"image '{image.name}': unknown rootfs {image.build['rootfs']!r}", field="build.rootfs",
                         fix='use rootfs = "debootstrap"')


def build(image: Image, base: Image | None, log: Callable[[str], None] = print,
          force: bool = False) -> ContainerBuildResult:
    """Build (or find already built) the image at image.reference in podman's storage."""
    check_spec(image)
    podman = engine.require("podman")
    t0 = time.time()
    LOCK_DIR.mkdir(exist_ok=True)
    with open(LOCK_DIR / f"{image.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test workers building the same image: one builds
        built = force or not engine.image_exists(podman, image.reference)
        if built and image.build.get("rootfs"):
            _build_rootfs(podman, image, log)
        elif built:
            if base is None or not engine.image_exists(podman, base.reference):
                raise ValidationError(f"base image '{image.build.get('base')}' of '{image.name}' is not built",
                                      field="image", fix=f"run `hpcai images build {image.build.get('base')}`")
            _build_containerfile(podman, image, base, log)
        # users' Containerfiles say FROM localhost/hpcai/<name>:latest, whatever the hash
        engine.run([podman, "tag", image.reference, image.reference.rsplit(":", 1)[0] + ":latest"], what="tag")
    return ContainerBuildResult(image.name, image.reference, built, time.time() - t0)


def _build_rootfs(podman: str, image: Image, log: Callable[[str], None]) -> None:
    debootstrap = engine.require("debootstrap", fix="install Debian's debootstrap (scripts/setup.sh does)")
    spec = image.build
    with tempfile.TemporaryDirectory(prefix=f"hpcai-rootfs-{image.name}-") as tmp:
        root = Path(tmp) / "root"
        argv = [debootstrap, "--variant=minbase"]
        if spec.get("packages"):
            argv.append("--include=" + ",".join(spec["packages"]))
        argv += [spec.get("suite", "bookworm"), str(root), spec.get("mirror", DEFAULT_MIRROR)]
        engine.run_logged(argv, log, ROOTFS_TIMEOUT)
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(root / junk, ignore_errors=True)
        changes = ["ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                   "ENV LANG=C.UTF-8", 'CMD ["/bin/bash"]']
        changes += [f"ENV {k}={v}" for k, v in image.env.items()]
        tar = subprocess.Popen(["tar", "-C", str(root), "--numeric-owner", "-c", "."],
                               stdout=subprocess.PIPE)
        argv = [podman, "import", *(a for c in changes for a in ("--change", c)), "-", image.reference]
        log("+ " + " ".join(argv))
        try:
            proc = subprocess.run(argv, stdin=tar.stdout, capture_output=True, text=True, timeout=ROOTFS_TIMEOUT)
        finally:
            tar.wait(timeout=60)
        if proc.returncode != 0 or tar.returncode != 0:
            raise HpcaiError(f"podman import of image '{image.name}' failed: {proc.stderr.strip()}",
                             fix="see podman's message above")


def build_argv(podman: str, image: Image, base: Image, context: Path) -> list[str]:
    """The `podman build` of a catalog image (pure; golden-tested)."""
    argv = [podman, "build", "--network", "host", "--layers", "--build-arg", f"BASE={base.reference}",
            "-t", image.reference, "-f", str(context / "Containerfile")]
    if WHEELS.is_dir():  # local wheels (torch's CPU build here) instead of a download
        argv += ["--volume", f"{WHEELS}:{WHEELS}:ro", "--build-arg", f"PIP_FIND_LINKS={WHEELS}"]
    cert = os.environ.get("PIP_CERT")
    if cert and Path(cert).is_file():  # a site whose HTTPS goes through its own CA (a proxy)
        argv += ["--volume", f"{cert}:/etc/hpcai-pip-ca.crt:ro", "--build-arg", "PIP_CERT=/etc/hpcai-pip-ca.crt"]
    return argv + [str(context)]


def _build_containerfile(podman: str, image: Image, base: Image, log: Callable[[str], None]) -> None:
    source = (REPO / image.build["containerfile"]).parent
    with tempfile.TemporaryDirectory(prefix=f"hpcai-build-{image.name}-") as tmp:
        context = Path(tmp) / "context"
        shutil.copytree(source, context, ignore=shutil.ignore_patterns("__pycache__"))
        (context / "Containerfile").write_text((REPO / image.build["containerfile"]).read_text())
        shutil.copy(CONSTRAINTS, context / "constraints.txt")
        if image.build.get("sdk", True):
            shutil.copytree(SDK_SOURCE, context / "libaiflow", ignore=shutil.ignore_patterns("__pycache__"))
        engine.run_logged(build_argv(podman, image, base, context), log, BUILD_TIMEOUT,
                          env={**os.environ, "BUILDAH_LAYERS": "true"})
