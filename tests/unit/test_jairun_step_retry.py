"""hooks/jairun tells "srun could not reach slurmctld" (retry the step) from every other srun
failure (fail at once), on srun's real stderr captured from the test cluster
(tests/fixtures/slurm/README.md says how each file was made)."""

from __future__ import annotations

import importlib.util
from importlib.machinery import SourceFileLoader
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "slurm" / "srun"


def jairun() -> ModuleType:
    loader = SourceFileLoader("jairun_retry", str(REPO / "hooks" / "jairun"))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


# fixture -> (controller unreachable?, nodes not back after a restart?)
CASES = {
    "ctld-stopped": (True, False), "ctld-hung": (True, False),
    "immediate-nodes-busy": (False, True),
    "bad-command": (False, False), "rank-exit-3": (False, False), "rank-killed": (False, False),
    "rank-prints-controller-words": (False, False), "too-many-tasks": (False, False),
    "expired-job": (False, False),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_controller_errors_are_told_from_launch_failures(name: str) -> None:
    text = (FIXTURES / f"{name}.err").read_text()
    module = jairun()
    assert (module.controller_unreachable(text), module.nodes_not_back(text)) == CASES[name]


def test_every_fixture_is_classified() -> None:
    assert {p.stem for p in FIXTURES.glob("*.err")} == set(CASES)


@pytest.mark.parametrize("value, window", [(None, 120.0), ("30", 30.0), ("-5", 0.0), ("soon", 120.0)])
def test_retry_window_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, value: str | None,
                                                 window: float) -> None:
    if value is None:
        monkeypatch.delenv("HPCAI_STEP_RETRY_SECONDS", raising=False)
    else:
        monkeypatch.setenv("HPCAI_STEP_RETRY_SECONDS", value)
    assert jairun().retry_window() == window
