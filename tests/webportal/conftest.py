"""Fixtures for the portal tests: a fresh platform (own data dir and database) per test module."""

from __future__ import annotations

import os
import re
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import load_config
from core.platform import Platform

REPO = Path(__file__).resolve().parents[2]
PLUGIN_SRC = REPO / "tests" / "plugins" / "hpcai_extra_field"
EXAMPLE = REPO / "examples" / "pytorch" / "ddp_train.py"


def scratch(name: str) -> Path:
    base = Path(os.environ.get("HPCAI_TEST_SCRATCH") or (REPO / "var" / "test-scratch"))
    path = base / f"{name}-{uuid.uuid4().hex[:8]}"
    path.mkdir(parents=True)
    return path


def install_extra_field(site: Path) -> Path:
    """`pip install` of the test plugin, by hand: the package plus a dist-info with its entry point."""
    site.mkdir(parents=True, exist_ok=True)
    shutil.copytree(PLUGIN_SRC, site / "hpcai_extra_field", dirs_exist_ok=True)
    info = site / "hpcai_extra_field-1.0.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hpcai-extra-field\nVersion: 1.0.0\n")
    (info / "entry_points.txt").write_text("[hpcai]\nextra_field = hpcai_extra_field\n")
    (info / "RECORD").write_text("")
    return site


def make_platform(data: Path, env: dict[str, str] | None = None) -> Platform:
    environ = {"HPCAI_DATA_DIR": str(data), **(env or {})}
    return Platform(load_config(environ))


@pytest.fixture(scope="module")
def data_dir(request: pytest.FixtureRequest) -> Path:
    return scratch(re.sub(r"\W", "_", request.module.__name__.rsplit(".", 1)[-1]))


@pytest.fixture(scope="module")
def platform(data_dir: Path) -> Iterator[Platform]:
    p = make_platform(data_dir)
    p.accounts.seed_admin("adminpass1")
    p.accounts.create("alice", "alicepass1", groups=["team"])
    p.accounts.create("bob", "bobpass12")
    yield p


@pytest.fixture(scope="module")
def app(platform: Platform):  # type: ignore[no-untyped-def]
    from portal import create_app

    app = create_app(platform, settings={"TESTING": True, "LOG_POLL_S": 0.05})
    return app


def login(client, name: str, password: str):  # type: ignore[no-untyped-def]
    client.get("/login")
    with client.session_transaction() as s:
        token = s["csrf"]
    resp = client.post("/login", data={"username": name, "password": password, "csrf_token": token})
    assert resp.status_code == 302, resp.data
    with client.session_transaction() as s:
        return s["csrf"]


def project_dir(platform: Platform, user: str) -> Path:
    """A project directory inside the user's workspace holding the DDP example."""
    d = platform.workspace.home(user) / "ddp"
    d.mkdir(exist_ok=True)
    shutil.copy(EXAMPLE, d / "ddp_train.py")
    return give_to_account(platform, user, d)


def give_to_account(platform: Platform, user: str, *paths: Path) -> Path:
    """What a test (root) wrote in an account's workspace belongs to the account's Unix user,
    as uploads do: jobs run as that user (core/identity.py) and write their results there."""
    owner = platform.workspace.home(user).stat()
    for path in paths:
        for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
            os.chown(p, owner.st_uid, owner.st_gid, follow_symlinks=False)
    return paths[0]


@pytest.fixture(autouse=True, scope="session")
def _no_plugin_leak() -> Iterator[None]:
    yield
    sys.modules.pop("hpcai_extra_field", None)
