"""Shared fixtures: an isolated hpcai home per test, and the CLI run as a real subprocess."""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

pytest_plugins = ["tests.fixtures_services"]

# Every job runs as its account's Unix user (core/identity.py). The portal accounts tests create
# (alice, bob, admin ...) have none, so the whole run opts into the site choice that gives each
# one an unprivileged Unix user the platform creates with useradd ("hpc-<account>"). A test that
# wants the refusal sets HPCAI_IDENTITY_AUTO_CREATE=0 in its platform's environment.
os.environ.setdefault("HPCAI_IDENTITY_AUTO_CREATE", "1")

BIN = pathlib.Path(sys.executable).parent


class Cli:
    """Runs hpcai's console scripts in a fresh process, against one test's data directory."""

    def __init__(self, env: dict[str, str], cwd: pathlib.Path):
        self.env, self.cwd = env, cwd

    def __call__(self, *args: str, prog: str = "hpcai", input: str | None = None,
                 cwd: pathlib.Path | None = None, timeout: float = 120,
                 env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        exe = BIN / prog
        cmd = [str(exe), *args] if exe.exists() else [sys.executable, "-m", "cli.main", *args]
        return subprocess.run(cmd, env={**self.env, **(env or {})}, cwd=cwd or self.cwd, input=input,
                              capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def hpcai_env(tmp_path: pathlib.Path) -> dict[str, str]:
    data = tmp_path / "hpcai-data"
    # the session's MLflow key (tests/fixtures_services.mlflow_server) is the site's, not a test's
    env = {k: v for k, v in os.environ.items() if not k.startswith("HPCAI_") or k == "HPCAI_MLFLOW_AUTH_KEY_FILE"}
    env.update({"HPCAI_DATA_DIR": str(data), "HPCAI_IDENTITY_AUTO_CREATE": os.environ["HPCAI_IDENTITY_AUTO_CREATE"], "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
                "PYTHONUNBUFFERED": "1"})
    return env


@pytest.fixture
def cli(hpcai_env: dict[str, str], tmp_path: pathlib.Path) -> Cli:
    return Cli(hpcai_env, tmp_path)


@pytest.fixture
def platform(hpcai_env: dict[str, str]):
    """The same platform the CLI sees, in this process (to inspect the store)."""
    from core.config import load_config
    from core.platform import Platform

    return Platform(load_config(hpcai_env))


@pytest.fixture
def project(tmp_path: pathlib.Path) -> pathlib.Path:
    """A project directory holding the examples (the user's code)."""
    d = tmp_path / "project"
    d.mkdir()
    for f in (ROOT / "examples" / "pytorch").glob("*.py"):
        (d / f.name).write_text(f.read_text())
    return d
