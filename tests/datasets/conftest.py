"""Fixtures for the dataset tests: a platform with accounts and groups, data on real files."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.config import load_config
from core.platform import Platform

REPO = Path(__file__).resolve().parents[2]


def scratch(name: str) -> Path:
    base = Path(os.environ.get("HPCAI_TEST_SCRATCH") or (REPO / "var" / "test-scratch"))
    path = base / f"{name}-{uuid.uuid4().hex[:8]}"
    path.mkdir(parents=True)
    return path


def make_platform(data: Path, settings: str = "", db_url: str | None = None) -> Platform:
    """A platform with its own data dir, config file and store; accounts alice, bob (group
    team), carol (no group) and the administrator admin."""
    config = data / "hpcai.toml"
    config.write_text(f'[core]\ndata_dir = "{data}"\n\n[datasets]\n{settings}\n')
    env = {"HPCAI_CONFIG": str(config), "HPCAI_DATA_DIR": str(data)}
    if db_url:
        env["HPCAI_DB_URL"] = db_url
    p = Platform(load_config(env))
    p.accounts.seed_admin("adminpass1")
    p.accounts.create("alice", "alicepass1", groups=["team"])
    p.accounts.create("bob", "bobpass12", groups=["team"])
    p.accounts.create("carol", "carolpass1")
    return p


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    yield make_platform(scratch("ds"))


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def home(platform: Platform, user: str) -> Path:
    return platform.workspace.home(user)
