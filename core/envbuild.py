"""`hpcai images build NAME`: make the Python environment of a catalog image from its pinned spec.

An image's `[image.build]` table (etc/images.toml) says what goes in:

    requirements = ["tensorflow-cpu==2.21.0"]      # pinned, installed with pip -c constraints
    base = "pytorch"                                # optional: layer on another image's packages
    sources = [{package = "horovod==0.28.1", env = {...},   # optional: build from the sdist
                replace = [{file = "CMakeLists.txt", old = "...", new = "..."}]}]
    post = ["python -c 'import x; x.precompile()'"] # optional: run in the new env, e.g. to
                                                    # compile ops once into the image
    env = {NAME = "value"}                          # environment of the build steps

In env values `{prefix}` is the new environment and `{cpus}` the CPUs this process may use
(e.g. `MAKEFLAGS = "-j{cpus}"`: a fixed -j8 thrashes a 2-core node, -j2 wastes a 16-core one).
Compiled sources go through ccache when it is installed (cache in `<images_dir>/.ccache`), so
a build that was stopped (step timeout, a killed CI run) or a spec change that rebuilds the
same sources recompiles only what changed.

The environment lives in `<images_dir>/<name>-<hash>`, the hash covering the spec, the
Python version and the base image, so a changed pin builds a new environment and an
unchanged one is reused at once. A build holds a lock, writes a marker only when every
step succeeded, and removes a half-built environment.

Every built image also gets libaiflow, the platform's tracking SDK (spec F87), whatever its
spec says: see `sdk_requirements` and `expose_sdk`.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.api import Image
from core.errors import HpcaiError, ValidationError

MARKER = ".hpcai-image.json"
STEP_TIMEOUT = 1800  # seconds for one pip install or post step (source builds are slow)
BUILD_KEYS = {"requirements", "base", "sources", "post", "env", "python", "constraints"}
# libaiflow in every built image, so a job in any framework image can log to the platform's
# MLflow server. Its one dependency is the MLflow client, pinned to the server's version
# (scripts/constraints.txt `mlflow==`): mlflow-skinny is that client without the server's
# pandas/scipy/flask/numpy, so an image's numpy/protobuf pins stay its own. It goes into the
# image's own pip resolve, which must honour those pins or fail the build.
SDK_REQUIREMENTS = ("mlflow-skinny==3.17.2",)
SDK_SOURCE = Path(__file__).resolve().parent.parent / "libaiflow"
SDK_DIR = "hpcai-sdk"  # <prefix>/hpcai-sdk holds only libaiflow (a link) and its metadata
SDK_LAYOUT = 1  # how the SDK is exposed; part of the image hash, so a change rebuilds images
SDK_CHECK = "import libaiflow.tracking"  # run in every new image: the SDK and MLflow load there
_current = threading.local()  # .log: this thread's build log, <prefix>.build.log (kept after a failure)


def spec_hash(image: Image, base: Image | None) -> str:
    data = {"build": image.build, "python": sys.version_info[:3],
            "base": [base.name, base.reference, base.build] if base else None,
            "sdk": [list(SDK_REQUIREMENTS), SDK_LAYOUT]}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


def env_path(images_dir: Path, image: Image, base: Image | None) -> Path:
    return images_dir / f"{image.name}-{spec_hash(image, base)}"


def is_built(prefix: str | Path) -> bool:
    return (Path(prefix) / MARKER).exists()


@dataclass
class BuildResult:
    image: str
    prefix: Path
    built: bool  # False: it was already there
    seconds: float


def check_build_spec(image: Image) -> None:
    unknown = set(image.build) - BUILD_KEYS
    if unknown:
        raise HpcaiError(f"image '{image.name}': unknown build keys {sorted(unknown)}",
                         field="build", fix=f"use only {sorted(BUILD_KEYS)}")
    for req in image.build.get("requirements", []):
        if not any(op in req for op in ("==", "<", ">", "~=", "@")):
            raise HpcaiError(f"image '{image.name}': requirement '{req}' is not pinned",
                             field="build.requirements", fix="pin it, e.g. name==1.2.3")


def build(image: Image, base: Image | None, constraints: Path | None, log=print,  # type: ignore[no-untyped-def]
          force: bool = False) -> BuildResult:
    """Build (or reuse) the environment at image.reference."""
    if not image.build:
        raise ValidationError(f"image '{image.name}' has no [image.build] spec", field="image",
                              fix="it is provided by the site as it is; nothing to build")
    check_build_spec(image)
    prefix = Path(image.reference)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    with open(f"{prefix}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second build of the same spec waits, then reuses
        if is_built(prefix) and not force:
            return BuildResult(image.name, prefix, False, time.time() - t0)
        if base is not None and not _python(Path(base.reference)).exists():
            raise ValidationError(f"base image '{base.name}' is not built", field="image",
                                  fix=f"run `hpcai images build {base.name}` first")
        shutil.rmtree(prefix, ignore_errors=True)
        _current.log = Path(f"{prefix}.build.log")
        _current.log.write_text("")
        measures = _Measures()
        try:
            _build_into(prefix, image, base, constraints, log)
        except BaseException:
            shutil.rmtree(prefix, ignore_errors=True)
            raise
        (prefix / MARKER).write_text(json.dumps({"image": image.name, "build": image.build,
                                                 "built_at": time.time(), **measures.done()},
                                                indent=2))
    return BuildResult(image.name, prefix, True, time.time() - t0)


class _Measures:
    """Wall and CPU seconds of a build and the machine's load around it (kept in the marker:
    a build that is slow on a busy node says so)."""

    def __init__(self) -> None:
        self.t0 = time.time()
        self.cpu0 = self._children_cpu()
        self.load0 = os.getloadavg()[0]

    @staticmethod
    def _children_cpu() -> float:
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        return ru.ru_utime + ru.ru_stime

    def done(self) -> dict[str, float]:
        # RUSAGE_CHILDREN is per process: builds running in other threads add to it, so this is
        # an upper bound when images build in parallel.
        return {"seconds": round(time.time() - self.t0, 1),
                "cpu_seconds": round(self._children_cpu() - self.cpu0, 1),
                "load_before": round(self.load0, 2), "load_after": round(os.getloadavg()[0], 2),
                "cpus": usable_cpus()}


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _expand(value: object, prefix: Path) -> str:
    return str(value).replace("{prefix}", str(prefix)).replace("{cpus}", str(usable_cpus()))


def _python(prefix: Path) -> Path:
    return prefix / "bin" / "python"


def _site_packages(python: Path) -> str:
    return subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True, timeout=60).stdout.strip()


def _run(argv: list[str], env: dict[str, str], log, cwd: str | None = None) -> None:  # type: ignore[no-untyped-def]
    log("+ " + " ".join(argv))
    try:
        proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True,
                              timeout=STEP_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise HpcaiError(f"build step timed out after {STEP_TIMEOUT} s: {' '.join(argv)}") from exc
    output = proc.stdout + proc.stderr
    build_log: Path | None = getattr(_current, "log", None)
    if build_log is not None:
        with open(build_log, "a") as f:
            f.write(f"+ {' '.join(argv)}\n{output}\n")
    if proc.returncode != 0:
        lines = output.strip().splitlines()
        # A compiler's first errors say more than the last lines of pip's traceback.
        errors = [ln for ln in lines if "error:" in ln.lower() and "error: subprocess" not in ln][:10]
        text = "\n".join(errors + ["..."] + lines[-15:] if errors else lines[-25:])
        where = f"; full output in {build_log}" if build_log else ""
        raise HpcaiError(f"build step failed (exit {proc.returncode}): {' '.join(argv)}\n{text}",
                         fix=f"see the output above{where}; fix the pins in etc/images.toml")


def sdk_requirements(image: Image) -> list[str]:
    """What the build's one pip resolve installs: the image's pins, then the SDK's."""
    return list(image.build.get("requirements", [])) + list(SDK_REQUIREMENTS)


def expose_sdk(prefix: Path, site_packages: Path, base_site: str | None = None) -> Path:
    """Make libaiflow importable in an environment: a .pth names <prefix>/hpcai-sdk, a directory
    holding only a link to this checkout's libaiflow (never the whole repository on a job's
    sys.path) and a dist-info, so pip and `importlib.metadata` see libaiflow and MLflow finds
    its run-context provider (the job's tags). Linked, not copied: an image runs the
    platform's current libaiflow, and editing libaiflow rebuilds no image."""
    import libaiflow  # light: its submodules (and mlflow) load lazily

    sdk = Path(prefix) / SDK_DIR
    sdk.mkdir(exist_ok=True)
    link = sdk / "libaiflow"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(SDK_SOURCE, target_is_directory=True)
    info = sdk / f"libaiflow-{libaiflow.__version__}.dist-info"
    info.mkdir(exist_ok=True)
    requires = "".join(f"Requires-Dist: {r}\n" for r in SDK_REQUIREMENTS)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: libaiflow\n"
                                   f"Version: {libaiflow.__version__}\n{requires}")
    (info / "INSTALLER").write_text("hpcai\n")
    if not _declares_context_provider(base_site):  # else MLflow would tag every run twice
        (info / "entry_points.txt").write_text(
            "[mlflow.run_context_provider]\nhpcai = libaiflow.context:HpcaiRunContextProvider\n")
    Path(site_packages, f"{SDK_DIR}.pth").write_text(f"{sdk}\n")
    return sdk


def _declares_context_provider(site: str | None) -> bool:
    """Whether a base environment's packages (hpcai's own, for the layered images) already
    register libaiflow's run-context provider."""
    if not site:
        return False
    return any("libaiflow.context:" in ep.read_text(errors="replace")
               for ep in Path(site).glob("*.dist-info/entry_points.txt"))


def _build_into(prefix: Path, image: Image, base: Image | None, constraints: Path | None, log) -> None:  # type: ignore[no-untyped-def]
    spec = image.build
    python_exe = spec.get("python") or getattr(sys, "_base_executable", sys.executable)
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PATH"] = f"{prefix / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.update({k: _expand(v, prefix) for k, v in spec.get("env", {}).items()})
    _run([python_exe, "-m", "venv", str(prefix)], env, log)
    py = _python(prefix)
    site = _site_packages(py)
    base_site = None
    if base is not None:
        # A .pth line puts the base environment's packages after our own on sys.path: torch
        # is shared, not copied, and pip sees it as installed.
        base_site = _site_packages(_python(Path(base.reference)))
        Path(site, "hpcai-base.pth").write_text(base_site + "\n")
    pip = [str(py), "-m", "pip", "install", "-q"]
    with tempfile.TemporaryDirectory() as tmp:
        cons = Path(tmp, "constraints.txt")
        lines = constraints.read_text().splitlines() if constraints and constraints.exists() else []
        lines += list(spec.get("constraints", []))
        cons.write_text("\n".join(lines) + "\n")
        pip += ["-c", str(cons)]
        # One resolve for the image's pins and the SDK's (already satisfied on a base with it).
        _run(pip + sdk_requirements(image), env, log)
        for src in spec.get("sources", []):
            _build_source(src, py, pip, env, Path(tmp), prefix, log)
    expose_sdk(prefix, Path(site), base_site)
    _run([str(py), "-c", SDK_CHECK], env, log, cwd=str(prefix))
    for step in spec.get("post", []):
        _run(["/bin/bash", "-c", step.replace("{prefix}", str(prefix))], env, log, cwd=str(prefix))


def _compiler_cache(prefix: Path, tree: Path) -> dict[str, str]:
    """ccache for CMake/setuptools compiles, when installed; relative paths under the (random)
    temporary source tree so a later build of the same sources hits the cache."""
    ccache = shutil.which("ccache")
    if not ccache:
        return {}
    return {"CMAKE_C_COMPILER_LAUNCHER": ccache, "CMAKE_CXX_COMPILER_LAUNCHER": ccache,
            "CCACHE_DIR": str(prefix.parent / ".ccache"), "CCACHE_BASEDIR": str(tree),
            "CCACHE_NOHASHDIR": "1", "CCACHE_MAXSIZE": "2G"}


def _build_source(src: dict[str, Any], py: Path, pip: list[str], env: dict[str, str], tmp: Path,  # type: ignore[no-untyped-def]
                  prefix: Path, log) -> None:
    """Download a pinned sdist, apply text replacements, install it without build isolation."""
    package = src["package"]
    dl = tmp / "sdist"
    _run([str(py), "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
          "-d", str(dl), package], env, log)
    archive = next(dl.iterdir())
    tree = tmp / "src"
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as z:
            z.extractall(tree)
    else:
        with tarfile.open(archive) as t:
            t.extractall(tree, filter="data")
    root = next(tree.iterdir())
    for rep in src.get("replace", []):
        path = root / rep["file"]
        text = path.read_text()
        if rep["old"] not in text:
            raise HpcaiError(f"source patch for {package}: '{rep['old']}' not found in {rep['file']}",
                             fix="the pinned version changed; update the patch in etc/images.toml")
        path.write_text(text.replace(rep["old"], rep["new"]))
        log(f"patched {rep['file']}: {rep['old']!r} -> {rep['new']!r}")
    build_env = dict(env)
    build_env.update(_compiler_cache(prefix, tree))
    build_env.update({k: _expand(v, prefix) for k, v in src.get("env", {}).items()})
    if src.get("build_requirements"):  # what setup.py imports (no build isolation)
        _run(pip + list(src["build_requirements"]), env, log)
    _run(pip + ["--no-build-isolation", str(root)], build_env, log)
