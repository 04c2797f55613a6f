"""Reinforcement-learning components of the pipeline designer (spec 11, F135-F143).

Environments (Gym, custom development template) and offline datasets feed Model training with
an algorithm from the algorithm library; Model prediction replays the trained policy. The
algorithm library is core.rl.algorithms' table turned into one component per algorithm: its
properties are the manual's parameter table, and an algorithm RLlib removed since 2.7 is in the
palette with `unavailable` naming its replacement, so the designer says so before any run.
Training runs inside the pipeline's job with its own Ray cluster on the ports the engine
allocates from `ports_for`.
"""

from __future__ import annotations

from typing import Any

from core.hookspecs import hookimpl
from core.pipelines.components import Component, alias_prop, inp, out, prop
from core.rl.algorithms import ALGORITHMS
from core.rl.trainspec import DEFAULT_STOP, FRAMEWORKS, MAX_ENV_RUNNERS, ports_needed, sim_ports

RUN = "plugins.pipelines.rl.run"
DATA = "RL data processing"
ALGO = "RL algorithm design"


def gym_scenarios() -> list[str]:
    """Gymnasium's registered scenarios that need no extra package (Box2D, MuJoCo, Atari are not here)."""
    import gymnasium

    keep = []
    for env_id, spec in gymnasium.envs.registry.items():
        entry = str(spec.entry_point)
        if "classic_control" in entry or "toy_text" in entry:
            keep.append(env_id)
    return sorted(keep)


def training_ports(props: dict[str, Any]) -> int:
    """Ports Model training's Ray cluster needs on one node (core.rl.trainspec.ports_needed)."""
    return ports_needed({"env_runners": int(props.get("parallel_count") or 1)})


def simulator_ports(props: dict[str, Any]) -> int:
    """The simulator's own ports (1-5, as registered; resolved into `simulator` at Run)."""
    return sim_ports({"simulator": props.get("simulator")})


def _algorithm(name: str) -> Component:
    algo = ALGORITHMS[name]
    group = {"online": "Online, single-agent", "multi-agent": "Online, multi-agent", "offline": "Offline"}[algo.kind]
    return Component(
        f"rl_{name.lower()}", name, ALGO, f"{RUN}:algorithm", group=f"Algorithm library: {group}",
        description=algo.note or f"RLlib {name}", outputs=(out("algorithm", "algorithm"),),
        properties={"alias": alias_prop(name), **algo.params}, target=algo.config,
        unavailable=algo.removed, note=algo.note)


@hookimpl
def hpcai_pipeline_components() -> list[Component]:
    env_out = (out("env", "environment"),)
    return [
        Component("rl_gym", "Gym", DATA, f"{RUN}:gym", group="Simulation environment",
                  description="a Gymnasium scenario", outputs=env_out,
                  properties={"alias": alias_prop("Gym"),
                              "scenario": prop("str", "Pendulum-v1", "Scenario", enum=gym_scenarios(),
                                               nullable=False)}),
        Component("rl_simulation_env", "Simulation environment selection", DATA, f"{RUN}:simulation_env",
                  group="Simulation environment",
                  description="a simulator registered under Simulation environments, started by the run on its ports",
                  outputs=(out("simulator", "simulator"),), required=("simulation_environment",),
                  properties={"alias": alias_prop("Simulation environment selection"),
                              "simulation_environment": prop("str", None, "Simulation environment",
                                                             widget="rl-simenv")},
                  resolve="simulation-environment", ports_for=f"{__name__}:simulator_ports",
                  note="drive it with a Custom development template: the class gets env_config['sim_ports']"),
        Component("rl_custom_template", "Custom development template", DATA, f"{RUN}:custom_template",
                  group="Simulation environment",
                  description="your gymnasium.Env class, from a directory (RLlib calls it with env_config)",
                  outputs=env_out, required=("template_dir", "env_file", "env_class"),
                  properties={"alias": alias_prop("Custom development template"),
                              "template_dir": prop("dir", None, "Template directory"),
                              "env_file": prop("str", None, "Environment file name", description="e.g. corridor.py"),
                              "env_class": prop("str", None, "Environment class name"),
                              "env_config": prop("dict", None, "Environment config",
                                                 description="a JSON object handed to the class")}),
        Component("rl_offline_dataset", "Offline dataset selection", DATA, f"{RUN}:offline_dataset",
                  group="Offline datasets", description="experience recorded by an earlier run (Record offline data)",
                  outputs=(out("offline", "offline"),), required=("path",),
                  properties={"alias": alias_prop("Offline dataset selection"),
                              "path": prop("dir", None, "Offline data directory")}),
        *[_algorithm(name) for name in ALGORITHMS],
        Component("rl_model_training", "Model training", ALGO, f"{RUN}:train", group="Training",
                  description="trains the algorithm on the environment until a stop criterion; saves the policy",
                  inputs=(inp("env", "environment"), inp("algorithm", "algorithm"),
                          inp("offline", "offline", required=False), inp("simulator", "simulator", required=False)),
                  outputs=(out("policy", "policy"),), ports_for=f"{__name__}:training_ports",
                  properties={"alias": alias_prop("Model training"),
                              "framework": prop("str", "pytorch", "Framework", enum=FRAMEWORKS, nullable=False),
                              "stop_mean_reward": prop("float", DEFAULT_STOP["mean_reward"], "Stop: mean reward"),
                              "stop_total_steps": prop("int", DEFAULT_STOP["total_steps"], "Stop: total steps",
                                                       minimum=1),
                              "stop_episodes": prop("int", DEFAULT_STOP["episodes"], "Stop: total episodes", minimum=1),
                              "parallel_count": prop("int", 1, "Parallel training count", minimum=1,
                                                     maximum=MAX_ENV_RUNNERS, nullable=False),
                              "record_offline": prop("bool", False, "Record offline data", nullable=False,
                                                     description="write the sampled experience for offline "
                                                                 "algorithms")},
                  note="any stop criterion reached ends training; an empty one takes the manual's default"),
        Component("rl_model_prediction", "Model prediction", ALGO, f"{RUN}:predict", group="Prediction",
                  description="replays the trained policy for stop_iters episodes",
                  inputs=(inp("policy", "policy"), inp("env", "environment", required=False)),
                  outputs=(out("predictions", "predictions"),),
                  properties={"alias": alias_prop("Model prediction"),
                              "stop_iters": prop("int", 10, "stop_iters", minimum=1, nullable=False)},
                  note="without an environment input the training environment is used"),
    ]
