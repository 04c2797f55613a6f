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
import time
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
IMAGES_DIR = REPO / "var" / "images"
SITE_CONFIG = """
[core]
data_dir = "{data}"
images_dir = "{images}"
images = "{catalog}"
port_range = [41000, 41999]
allow_cpu_for_gpu_only = {cpu_ok}

[schedulers.local]
cpus = 8
poll_interval = 0.2
"""


class Site:
    """Environment variables that point hpcai at a scratch site, and helpers to use it."""

    def __init__(self, root: Path, cpu_ok: bool = True, catalog: Path = REPO / "etc" / "images.toml"):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.config = root / "hpcai.toml"
        self.config.write_text(SITE_CONFIG.format(data=root / "data", images=IMAGES_DIR,
                                                  cpu_ok="true" if cpu_ok else "false",
                                                  catalog=catalog))
        self.env = {"HPCAI_CONFIG": str(self.config), "HPCAI_DATA_DIR": str(root / "data")}
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
        req = jobs.request_from_values(values, current_user(), source="test")
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


_built: dict[str, str] = {}


@pytest.fixture(scope="session")
def build_image():  # type: ignore[no-untyped-def]
    """build_image(name) -> prefix: builds on first use (cached under var/images), then instant."""

    def build(name: str) -> str:
        if name not in _built:
            from core.config import load_config
            from core.images import ImageCatalog

            cfg = load_config()
            catalog = ImageCatalog(cfg.images_file, cfg.home, IMAGES_DIR)
            t0 = time.time()
            result = catalog.build(name, log=lambda line: None)
            print(f"\nimage {name}: {'built' if result.built else 'cached'} in {time.time() - t0:.0f} s")
            _built[name] = str(result.prefix)
        return _built[name]

    return build
