"""The algorithm table against RLlib 2.60's real config classes, and the training spec's bad inputs.

Pure and fast: configs are built and validated, nothing trains.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import ValidationError
from core.rl.algorithms import ALGORITHMS, REMOVED, config_calls
from core.rl.trainspec import ports_needed, validate

LISTED = ("A2C A3C APEX_DDPG APEX_DQN APPO DDPG DQN IMPALA PG PPO R2D2 SAC TD3 MADDPG QMIX BC CRR CQL MARWIL").split()
IN_RLLIB = ("APPO", "DQN", "IMPALA", "PPO", "SAC", "BC", "CQL", "MARWIL")


def gym_spec(**over) -> dict:  # type: ignore[no-untyped-def]
    return {
        "algorithm": "PPO",
        "params": {},
        "framework": "pytorch",
        "env": {"kind": "gym", "id": "CartPole-v1"},
        "stop": {"total_steps": 1000},
        "env_runners": 1,
        **over,
    }


def fields(spec: dict) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        validate(spec)
    errs = getattr(info.value, "errors", [info.value])
    return {e.field: e.text for e in errs}


def test_every_listed_algorithm_is_in_the_table() -> None:
    assert sorted(ALGORITHMS) == sorted(LISTED)
    for name in IN_RLLIB:
        assert not ALGORITHMS[name].removed and ALGORITHMS[name].config
    for name, (replacement, _) in REMOVED.items():
        algo = ALGORITHMS[name]
        assert algo.replacement == replacement and replacement in algo.removed and not algo.config
        assert all(v is None for v in algo.maps.values())


def test_manual_defaults_kept() -> None:
    ppo = ALGORITHMS["PPO"].defaults()
    assert (ppo["lr"], ppo["gamma"], ppo["clip_param"], ppo["kl_coeff"], ppo["num_sgd_iter"]) == (
        5e-05,
        0.99,
        0.4,
        0.2,
        30,
    )
    assert ALGORITHMS["MARWIL"].defaults()["beta"] == 1.0 and ALGORITHMS["BC"].defaults()["beta"] == 0.0
    assert ALGORITHMS["CQL"].defaults()["bc_iters"] == 2000
    assert "erratum 1" in ALGORITHMS["DQN"].note
    assert ALGORITHMS["MADDPG"].kind == "multi-agent" and ALGORITHMS["BC"].kind == "offline"
    assert "train_batch_size" not in ALGORITHMS["BC"].params  # the manual lists none for offline ones


@pytest.mark.parametrize("name", IN_RLLIB)
def test_mapping_builds_the_real_config(name: str) -> None:
    """Every mapped key exists on RLlib's config, and the defaults make a config RLlib validates."""
    import gymnasium as gym

    algo = ALGORITHMS[name]
    module, cls = algo.config.rsplit(".", 1)
    config = getattr(importlib.import_module(module), cls)()
    assert config.enable_rl_module_and_learner  # the new API stack
    continuous = "discrete" not in algo.actions
    env = gym.make("Pendulum-v1" if continuous else "CartPole-v1")
    config.environment(observation_space=env.observation_space, action_space=env.action_space)
    for method, kwargs in config_calls(name, {}).items():
        for key, value in kwargs.items():
            assert hasattr(config, key), f"{name}: {method}({key}=...) has no counterpart on {cls}"
            if isinstance(value, dict):
                current = getattr(config, key)
                assert set(value) <= set(current), (name, key, current)
                kwargs[key] = {**current, **value}
        getattr(config, method)(**kwargs)
    mapped = [p for p in algo.maps.values() if p]
    assert mapped and all(p.split(".")[0] == "training" for p in mapped)
    if algo.offline:
        config.offline_data(input_=["/nonexistent/data"], dataset_num_iters_per_learner=1)
    config.validate()
    assert config.lr == (None if name in ("SAC", "CQL") else algo.defaults().get("lr", config.lr))


def test_user_values_reach_the_config_calls() -> None:
    calls = config_calls("PPO", {"lr": 0.001, "sgd_minibatch_size": 64, "train_batch_size": 500})
    assert calls["training"]["lr"] == 0.001 and calls["training"]["minibatch_size"] == 64
    assert calls["training"]["train_batch_size_per_learner"] == 500
    assert config_calls("DQN", {"capacity": 500})["training"]["replay_buffer_config"]["capacity"] == 500
    assert config_calls("BC", {})["training"]["grad_clip"] is None  # 0 = no clipping


def test_importing_the_table_does_not_import_ray() -> None:
    code = "import sys, core.rl.algorithms, core.rl.trainspec; print('ray' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.stdout.strip() == "False", out.stderr


def test_good_spec_gets_defaults() -> None:
    spec = validate({"algorithm": "PPO", "env": {"kind": "gym", "id": "CartPole-v1"}})
    assert spec["stop"] == {"mean_reward": 50, "total_steps": 1000, "episodes": 10}
    assert spec["env_runners"] == 1 and spec["framework"] == "pytorch"


def test_removed_algorithm_names_the_replacement() -> None:
    got = fields(gym_spec(algorithm="TD3", env={"kind": "gym", "id": "Pendulum-v1"}))
    assert "use SAC" in got["algorithm"]
    assert "use PPO" in fields(gym_spec(algorithm="A2C"))["algorithm"]
    assert "multi-agent PPO" in fields(gym_spec(algorithm="QMIX"))["algorithm"]
    assert "CQL" in fields(gym_spec(algorithm="CRR"))["algorithm"]
    assert "unknown algorithm" in fields(gym_spec(algorithm="PPO2"))["algorithm"]


def test_unknown_gym_scenario() -> None:
    got = fields(gym_spec(env={"kind": "gym", "id": "CartPol-v1"}))
    assert "unknown Gym scenario 'CartPol-v1'" in got["env.id"]
    assert "CartPole" in fields(gym_spec(env={"kind": "gym", "id": "cartpole-v9"}))["env.id"]  # suggested


def test_custom_model_with_offline_algorithm(tmp_path: Path) -> None:
    got = fields(gym_spec(algorithm="BC", offline={"path": str(tmp_path)}, custom_model={"script": "x = 1"}))
    assert "offline algorithms do not support custom models" in got["custom_model"]


def test_offline_algorithm_needs_data_and_online_one_refuses_it(tmp_path: Path) -> None:
    assert "needs offline data" in fields(gym_spec(algorithm="MARWIL"))["offline"]
    assert "does not exist" in fields(gym_spec(algorithm="BC", offline={"path": "/no/such/data"}))["offline.path"]
    assert "online algorithm" in fields(gym_spec(offline={"path": str(tmp_path)}))["offline"]


def test_action_space_mismatch() -> None:
    assert "continuous actions" in fields(gym_spec(algorithm="SAC"))["env.id"]
    assert "discrete actions" in fields(gym_spec(algorithm="DQN", env={"kind": "gym", "id": "Pendulum-v1"}))["env.id"]


@pytest.mark.parametrize("runners", [0, -1, 1.5, "2", 10_000])
def test_env_runners_out_of_range(runners) -> None:  # type: ignore[no-untyped-def]
    assert "parallel training count" in fields(gym_spec(env_runners=runners))["env_runners"]


def test_stop_values() -> None:
    got = fields(gym_spec(stop={"total_steps": -5, "episodes": 0, "mean_reward": "high", "iters": 3}))
    assert set(got) == {"stop.total_steps", "stop.episodes", "stop.mean_reward", "stop.iters"}
    assert "at least one stop criterion" in fields(gym_spec(stop={"total_steps": None}))["stop"]
    assert validate(gym_spec(stop={"mean_reward": -200}))["stop"] == {"mean_reward": -200}  # Pendulum's are negative


def test_params_checked_against_the_schema() -> None:
    got = fields(gym_spec(params={"lr": 2.0, "gamma": "high", "clip": 0.1, "num_sgd_iter": 0}))
    assert set(got) == {"params.lr", "params.gamma", "params.clip", "params.num_sgd_iter"}
    assert "above the maximum 1" in got["params.lr"]


def test_framework_and_env_kind() -> None:
    assert "PyTorch only" in fields(gym_spec(framework="tensorflow"))["framework"]
    assert "env.kind" in fields(gym_spec(env={"kind": "mujoco"}))
    sc2 = fields(gym_spec(env={"kind": "sc2", "map_name": "3m"}))
    assert "SC2 needs StarCraft II and SMAC on the node" in sc2["env.kind"]
    assert "env.map_name" in fields(gym_spec(env={"kind": "sc2", "map_name": "4m"}))


def test_custom_env_fields(tmp_path: Path) -> None:
    (tmp_path / "my_env.py").write_text("class MyEnv: pass\n")
    ok = validate(gym_spec(env={"kind": "custom", "dir": str(tmp_path), "file": "my_env.py", "class": "MyEnv"}))
    assert ok["env"]["class"] == "MyEnv"
    got = fields(gym_spec(env={"kind": "custom", "dir": str(tmp_path), "file": "other.py", "class": "my-env"}))
    assert set(got) == {"env.file", "env.class"}
    assert (
        "absolute path"
        in fields(gym_spec(env={"kind": "custom", "dir": "rel", "file": "a.py", "class": "A"}))["env.dir"]
    )


def test_custom_model_syntax_error() -> None:
    assert "line 1" in fields(gym_spec(custom_model={"script": "class (:"}))["custom_model.script"]


def test_simulator_fields(tmp_path: Path) -> None:
    (tmp_path / "my_env.py").write_text("class MyEnv: pass\n")
    env = {"kind": "custom", "dir": str(tmp_path), "file": "my_env.py", "class": "MyEnv"}
    pkg = tmp_path / "sim.tar.gz"
    pkg.write_bytes(b"")
    green = {"name": "s", "mode": "green", "archive": str(pkg), "start_file": "run.sh", "ports": 2}
    assert validate(gym_spec(env=env, simulator=green))["simulator"]["ports"] == 2
    for ports in (0, 6):
        assert "simulator.ports" in fields(gym_spec(env=env, simulator={**green, "ports": ports}))
    assert (
        "Windows program"
        in fields(gym_spec(env=env, simulator={**green, "start_file": "run.exe"}))["simulator.start_file"]
    )
    assert "simulator.archive" in fields(gym_spec(env=env, simulator={**green, "archive": str(tmp_path / "x.rar")}))
    assert "simulator" in fields(gym_spec(simulator=green))  # a Gym scenario cannot drive it
    installed = {"name": "s", "mode": "installed", "python_builtin": True, "ports": 0}
    assert validate(gym_spec(env=env, simulator=installed))["simulator"]["python_builtin"]


def test_multi_agent_only_for_multi_agent_algorithms(tmp_path: Path) -> None:
    assert validate(gym_spec(env={"kind": "gym", "id": "CartPole-v1", "agents": 2}))["env"]["agents"] == 2
    assert "env.agents" in fields(gym_spec(env={"kind": "gym", "id": "CartPole-v1", "agents": 0}))


def test_ports_needed_grows_with_runners_nodes_and_simulator(tmp_path: Path) -> None:
    one = ports_needed(gym_spec())
    assert ports_needed(gym_spec(env_runners=3)) > one
    assert ports_needed(gym_spec(), nodes=2) > one
    assert ports_needed({**gym_spec(), "simulator": {"mode": "green", "ports": 3}}) == one + 3
