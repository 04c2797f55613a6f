"""The RL algorithm table (core.rl.algorithms) against the real RLlib 2.60 config classes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from core.rl.algorithms import ALGORITHMS, KINDS, rllib_calls

#: every algorithm the manual lists (spec 11 §2.3)
MANUAL = {"A2C", "A3C", "APEX_DDPG", "APEX_DQN", "APPO", "DDPG", "DQN", "IMPALA", "PG", "PPO", "R2D2", "SAC", "TD3",
          "MADDPG", "QMIX", "BC", "CRR", "CQL", "MARWIL"}
RUNNABLE = sorted(a.name for a in ALGORITHMS.values() if a.available)


def test_every_manual_algorithm_is_a_row_and_the_current_rllib_ones_run() -> None:
    assert set(ALGORITHMS) == MANUAL
    assert set(RUNNABLE) == {"APPO", "DQN", "IMPALA", "PPO", "SAC", "BC", "CQL", "MARWIL"}
    assert {a.kind for a in ALGORITHMS.values()} <= set(KINDS)


@pytest.mark.parametrize("name,replacement", [("TD3", "SAC"), ("DDPG", "SAC"), ("A2C", "PPO"), ("PG", "PPO"),
                                              ("QMIX", "PPO"), ("CRR", "CQL")])
def test_a_removed_algorithm_names_its_replacement(name: str, replacement: str) -> None:
    algo = ALGORITHMS[name]
    assert not algo.available and algo.replacement == replacement
    assert f"use {replacement}" in algo.removed and name in algo.removed


def test_the_table_module_does_not_import_ray() -> None:
    code = "import sys, core.rl.algorithms; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "False"


def test_values_map_onto_rllib_calls_with_nested_replay_settings() -> None:
    calls = rllib_calls(ALGORITHMS["DQN"], {"lr": 0.001, "capacity": 5000, "train_batch_size": None})
    assert calls["training"]["lr"] == 0.001 and calls["training"]["replay_buffer_config"]["capacity"] == 5000
    assert "train_batch_size_per_learner" not in calls["training"]  # None keeps RLlib's default
    ppo = rllib_calls(ALGORITHMS["PPO"], {"num_sgd_iter": 5, "sgd_minibatch_size": 64})["training"]
    assert (ppo["num_epochs"], ppo["minibatch_size"], ppo["clip_param"]) == (5, 64, 0.4)  # manual's default


CHECK_ROWS = """
import json, sys
from core.rl.algorithms import ALGORITHMS, build_config
bad = []
for algo in ALGORITHMS.values():
    if not algo.available:
        continue
    config = build_config(algo, {})
    for key, value in algo.defaults().items():
        path = algo.maps.get(key)
        if path is None or value is None:
            continue
        attr, _, sub = path.partition(".")[2].partition(".")
        got = getattr(config, attr)
        if (got[sub] if sub else got) != value:
            bad.append([algo.name, key, path])
print(json.dumps(bad))
"""


def test_each_row_builds_its_real_rllib_config() -> None:
    """Every mapped property reaches the RLlib config under its RLlib name (a wrong name raises).
    In a child process: RLlib's import is heavy and should not change the suite's process."""
    pytest.importorskip("ray.rllib")
    out = subprocess.run([sys.executable, "-c", CHECK_ROWS], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout
