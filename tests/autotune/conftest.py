"""Fixtures of the auto-tuning tests: a project holding the example script and parameter files."""

import pathlib
import shutil

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples" / "autotune"


@pytest.fixture
def tune_project(tmp_path: pathlib.Path) -> pathlib.Path:
    d = tmp_path / "tune-project"
    shutil.copytree(EXAMPLES, d)
    return d
