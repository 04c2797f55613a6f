"""A throw-away hpcai site per test module: its own data dir, store and config; shared images.

Image environments are built once into <repo>/var/images (keyed by their pinned spec), so
only the first run on a fresh machine pays for `hpcai images build`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
IMAGES_DIR = REPO / "var" / "images"
SITE_CONFIG = """
[core]
default_scheduler = "{scheduler}"
data_dir = "{data}"
images_dir = "{images}"
images = "{catalog}"
port_range = [41000, 41999]
allow_cpu_for_gpu_only = {cpu_ok}

[schedulers.local]
cpus = 8
poll_interval = 0.2
{extra}
"""


class Site:
    """Environment variables that point hpcai at a scratch site, and helpers to use it."""

    def __init__(self, root: Path, cpu_ok: bool = True, catalog: Path = REPO / "etc" / "images.toml",
                 scheduler: str = "local", extra: str = "", specs: Path | None = None):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.config = root / "hpcai.toml"
        self.config.write_text(SITE_CONFIG.format(data=root / "data", images=IMAGES_DIR,
                                                  cpu_ok="true" if cpu_ok else "false",
                                                  catalog=catalog, scheduler=scheduler, extra=extra))
        self.env = {"HPCAI_CONFIG": str(self.config), "HPCAI_DATA_DIR": str(root / "data")}
        if specs is not None:
            self.env["HPCAI_SPECS"] = str(specs)
        for k in ("HPCAI_DB_URL", "HPCAI_IMAGES_DIR", "HPCAI_SPOOL", "HPCAI_ALLOW_CPU_FOR_GPU_ONLY"):
            os.environ.pop(k, None)
        self._saved = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)
        from core.platform import Platform

        self.platform = Platform()

    def close(self) -> None:
        for k, v in self._saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    def project(self, name: str, *files: Path) -> Path:
        """A project directory holding the given files (the job's workdir)."""
        d = self.root / "projects" / name
        d.mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copy(f, d / f.name)
        return d

    def hpcai(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=REPO, text=True,
                              capture_output=True, timeout=timeout, env={**os.environ, **self.env},
                              stdin=subprocess.DEVNULL)

    def submit(self, values: dict[str, Any]):  # type: ignore[no-untyped-def]
        from core.users import current_user

        jobs = self.platform.jobs
        # As `hpcai submit` in the harness's own shell: the caller's jobs run as the caller (identity
        # model: the CLI is the one source whose Unix user the kernel vouches for). These tests pin
        # the frameworks' contracts; tests/isolation and tests/schedulers test the uid drop.
        req = jobs.request_from_values(values, current_user(), source="cli")
        return jobs.submit_prepared(jobs.prepare(req))

    def wait(self, row, timeout: float = 600):  # type: ignore[no-untyped-def]
        from core.types import JobState
        from core.users import current_user

        end = time.time() + timeout
        while time.time() < end:
            self.platform.jobs.refresh()
            row = self.platform.jobs.get(row.id, current_user())
            if JobState(row.state).terminal:
                return row
            time.sleep(0.3)
        raise AssertionError(f"job {row.id} did not end in {timeout} s; log:\n{self.log(row)}")

    def run(self, values: dict[str, Any], timeout: float = 600):  # type: ignore[no-untyped-def]
        return self.wait(self.submit(values), timeout)

    @staticmethod
    def log(row) -> str:  # type: ignore[no-untyped-def]
        p = Path(row.stdout_path or "")
        return p.read_text(errors="replace") if p.exists() else "(no log)"

    @staticmethod
    def probes(row) -> dict[str, dict[str, Any]]:  # type: ignore[no-untyped-def]
        d = Path(row.job_dir) / "probe"
        return {p.stem: json.loads(p.read_text()) for p in sorted(d.glob("*.json"))} if d.exists() else {}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Site:  # type: ignore[no-untyped-def]
    s = Site(tmp_path_factory.mktemp("site"))
    yield s
    s.close()


# Images the training tests use, built in the background from the end of collection so that
# building overlaps the tests that need no image (2 at a time: this is a 2-core machine).
# pytorch-horovod compiles Horovod (minutes): it goes first, and the tests that need it run last.
HOROVOD = "pytorch-horovod"
PREBUILD = ("tensorflow", "paddle", "mindspore", "mxnet", "deepspeed")
_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="image-build")
_builds: dict[str, Future] = {}
_lock = threading.Lock()


@pytest.hookimpl(trylast=True)  # after -m/-k deselection: a run that needs no image starts no build
def pytest_collection_modifyitems(session, config, items) -> None:  # type: ignore[no-untyped-def]
    if config.option.collectonly:
        return
    needs_horovod = [i for i in items if "horovod_image" in getattr(i, "fixturenames", ())]
    if needs_horovod:
        start_build(HOROVOD)
        items[:] = [i for i in items if i not in needs_horovod] + needs_horovod
    if any("container_image" in getattr(i, "fixturenames", ()) for i in items):
        start_build(CONTAINER_IMAGE)  # debootstrap + torch from PyPI: minutes on a fresh machine
    if any("tf_container_image" in getattr(i, "fixturenames", ()) for i in items):
        start_build(TF_CONTAINER_IMAGE)
    modules = {getattr(i.module, "__name__", "") for i in items if getattr(i, "module", None)}
    if any(m.endswith("training") for m in modules) or any(
            "build_image" in getattr(i, "fixturenames", ()) for i in items):
        for name in PREBUILD:
            start_build(name)


def _build(name: str) -> str:
    from core.config import load_config
    from core.images import ImageCatalog

    cfg = load_config({})
    catalog = ImageCatalog(REPO / "etc" / "images.toml", cfg.home, IMAGES_DIR)
    t0 = time.time()
    result = catalog.build(name, log=lambda line: None)
    BUILD_TIMES[name] = (result.built, time.time() - t0)
    return str(getattr(result, "prefix", None) or result.reference)  # an environment's prefix or a container tag


BUILD_TIMES: dict[str, tuple[bool, float]] = {}


def start_build(name: str) -> Future:
    with _lock:
        if name not in _builds:
            _builds[name] = _pool.submit(_build, name)
        return _builds[name]


@pytest.fixture(scope="session", autouse=True)
def report_image_builds():  # type: ignore[no-untyped-def]
    yield
    for name, (built, seconds) in sorted(BUILD_TIMES.items()):
        print(f"\nimage {name}: {'built' if built else 'reused'} in {seconds:.0f} s")


@pytest.fixture(scope="session")
def build_image():  # type: ignore[no-untyped-def]
    """build_image(name) -> prefix: builds on first use (cached under var/images), then instant."""

    def build(name: str) -> str:
        return start_build(name).result(timeout=3600)

    return build


CONTAINER_IMAGE, TF_CONTAINER_IMAGE = "pytorch-container", "tensorflow-container"


def _container_build(name: str) -> str:
    import shutil

    if shutil.which("podman") is None:
        pytest.skip("podman is not installed (scripts/setup.sh installs it)")
    return start_build(name).result(timeout=3600)


@pytest.fixture(scope="session")
def container_image() -> str:
    """The built-in PyTorch container image's podman reference (built once per definition)."""
    return _container_build(CONTAINER_IMAGE)


@pytest.fixture(scope="session")
def tf_container_image() -> str:
    """The built-in TensorFlow container image's podman reference."""
    return _container_build(TF_CONTAINER_IMAGE)


@pytest.fixture(scope="session")
def horovod_image() -> str:
    """The pytorch-horovod image's prefix. Its build started at collection (Horovod compiles
    against torch: about 3 min of two idle cores); tests using this fixture run last."""
    return start_build(HOROVOD).result(timeout=3600)


def horovod_catalog(root: Path, prefix: str) -> Path:
    """The probe catalog plus `probe-horovod`: the built Horovod image running the probe."""
    catalog = root / "horovod_images.toml"
    catalog.write_text((HERE / "probe_images.toml").read_text() + f'''
[[image]]
name = "probe-horovod"
runtime = "host"
reference = "{prefix}"
tags = ["PyTorch", "Horovod"]
frameworks = ["pytorch"]
''')
    return catalog
