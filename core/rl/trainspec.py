"""The training spec (a JSON dict) of one RL run: validation and the ports its job needs.

H3's pipeline components build the dict; `python -m core.rl.jobside train SPEC.json OUT` runs it.
Every problem a user can cause is reported here, before a job is submitted, with the spec key at
fault as the field ("algorithm", "env.id", "params.lr", "stop.total_steps" ...). Ray-free.
"""

from __future__ import annotations

import importlib.util
import keyword
import os
import sys
from pathlib import Path
from typing import Any

from core.errors import HpcaiError, ValidationError, ValidationErrors
from core.rl.algorithms import ALGORITHMS, Algorithm

FRAMEWORKS = ("pytorch", "tensorflow")
ENV_KINDS = ("gym", "custom", "sc2")
SC2_MAPS = ("3m", "8m", "5m_vs_6m", "8m_vs_9m", "MMM", "2s3z", "3s_vs_3z")
ARCHIVES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
START_FILES = (".sh", ".bat", ".cmd", ".exe")
WINDOWS_ONLY = (".bat", ".cmd", ".exe")
MAX_SIM_PORTS = 5
MAX_ENV_RUNNERS = 256

#: Ray's listening ports, every one pinned from $HPCAI_PORTS (jobside/cluster.py), never Ray's defaults:
#: once per job the GCS, the Ray client server and the autoscaler's metrics (its default 44217 is fixed);
#: on each node the node manager, object manager, dashboard agent (HTTP and gRPC), runtime-env agent
#: and metrics export, plus one port per worker process (driver, env runners, idle workers, Ray Data tasks).
HEAD_PORTS = ("gcs", "client_server", "autoscaler_metrics")
NODE_PORTS = ("node_manager", "object_manager", "agent_listen", "agent_grpc", "runtime_env_agent", "metrics_export")
SPARE_WORKER_PORTS = 12

DEFAULT_STOP = {"mean_reward": 50, "total_steps": 1000, "episodes": 10}  # the manual's Model training defaults


def _err(errors: list[HpcaiError], message: str, field: str, fix: str | None = None) -> None:
    errors.append(ValidationError(message, field=field, fix=fix))


def _check_param(errors: list[HpcaiError], algo: Algorithm, key: str, value: Any) -> None:
    field = f"params.{key}"
    schema = algo.params.get(key)
    if schema is None:
        _err(errors, f"{algo.name} has no parameter {key!r}", field, fix="one of " + ", ".join(sorted(algo.params)))
        return
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    ok = {
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "string": isinstance(value, str),
        "array": isinstance(value, list),
        "object": isinstance(value, dict),
        "null": value is None,
    }
    if not any(ok.get(t, False) for t in types):
        _err(errors, f"{value!r} is not a {' or '.join(types)}", field, fix=f"default {schema.get('default')!r}")
        return
    if "enum" in schema and value not in schema["enum"]:
        _err(errors, f"{value!r} is not one of {schema['enum']}", field)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            _err(errors, f"{value} is below the minimum {schema['minimum']}", field)
        if "maximum" in schema and value > schema["maximum"]:
            _err(errors, f"{value} is above the maximum {schema['maximum']}", field)


def _check_gym(errors: list[HpcaiError], env: dict[str, Any], algo: Algorithm | None) -> None:
    import gymnasium

    env_id = env.get("id")
    if not isinstance(env_id, str) or not env_id:
        _err(errors, "a Gym scenario is required", "env.id", fix="e.g. CartPole-v1 or Pendulum-v1")
        return
    if env_id not in gymnasium.envs.registry:
        close = sorted(k for k in gymnasium.envs.registry if k.split("-")[0].lower() == env_id.split("-")[0].lower())
        _err(
            errors,
            f"unknown Gym scenario {env_id!r}",
            "env.id",
            fix=("did you mean " + ", ".join(close)) if close else "pick one of gymnasium's registered scenarios",
        )
        return
    try:
        made = gymnasium.make(env_id)
    except Exception as exc:  # a registered scenario whose extra (box2d, atari) is missing
        _err(
            errors,
            f"{env_id} cannot be created here: {exc}",
            "env.id",
            fix="install the scenario's extra in the image or pick another scenario",
        )
        return
    space = "discrete" if isinstance(made.action_space, gymnasium.spaces.Discrete) else "continuous"
    made.close()
    if algo is not None and space not in algo.actions:
        _err(
            errors,
            f"{algo.name} needs {' or '.join(algo.actions)} actions; {env_id} has {space} ones",
            "env.id",
            fix="PPO handles both" if algo.name != "PPO" else None,
        )


def _check_custom(errors: list[HpcaiError], env: dict[str, Any]) -> None:
    d = env.get("dir")
    if not isinstance(d, str) or not os.path.isabs(d):
        _err(errors, "the template directory must be an absolute path", "env.dir")
        return
    if not Path(d).is_dir():
        _err(errors, f"{d} is not a directory", "env.dir")
        return
    f = env.get("file")
    if not isinstance(f, str) or not f.endswith(".py") or "/" in f:
        _err(errors, "the environment file must be a .py file name inside the template directory", "env.file")
    elif not (Path(d) / f).is_file():
        _err(errors, f"{f} is not in {d}", "env.file")
    cls = env.get("class")
    if not isinstance(cls, str) or not cls.isidentifier() or keyword.iskeyword(cls):
        _err(errors, "the environment class name must be a Python identifier", "env.class")
    if not isinstance(env.get("config", {}), dict):
        _err(errors, "the environment config must be an object", "env.config")


def _check_sc2(errors: list[HpcaiError], env: dict[str, Any]) -> None:
    if env.get("map_name", "3m") not in SC2_MAPS:
        _err(errors, f"{env.get('map_name')!r} is not an SC2 map", "env.map_name", fix="one of " + ", ".join(SC2_MAPS))
    if not (importlib.util.find_spec("pysc2") and importlib.util.find_spec("smac")):
        _err(
            errors,
            "SC2 needs StarCraft II and SMAC on the node",
            "env.kind",
            fix="run it on an image with StarCraft II, pysc2 and smac, or choose a Gym or custom environment",
        )


def _check_simulator(errors: list[HpcaiError], sim: dict[str, Any]) -> None:
    mode = sim.get("mode")
    if mode not in ("green", "installed"):
        _err(errors, f"{mode!r} is not an installation mode", "simulator.mode", fix="green or installed")
        return
    start = sim.get("start_file") if mode == "green" else sim.get("start")
    runs_file = mode == "green" or not sim.get("python_builtin")
    if mode == "green":
        archive = str(sim.get("archive") or "")
        if not archive.endswith(ARCHIVES):
            _err(
                errors, "the program package must be a zip, tar, tar.gz, tar.bz2 or tar.xz archive", "simulator.archive"
            )
        elif not Path(archive).is_file():
            _err(errors, f"{archive} does not exist", "simulator.archive")
    if runs_file:
        field = "simulator.start_file" if mode == "green" else "simulator.start"
        if not isinstance(start, str) or not start.endswith(START_FILES):
            _err(errors, "the start file must end in .sh, .bat, .cmd or .exe", field)
        elif start.endswith(WINDOWS_ONLY) and sys.platform != "win32":
            _err(
                errors,
                f"{start} is a Windows program; this cluster's nodes run Linux",
                field,
                fix="package a .sh start file",
            )
        elif mode == "installed" and not (os.path.isabs(start) and Path(start).is_file()):
            _err(errors, f"{start} is not an existing absolute path", field)
    ports = sim.get("ports", 1 if runs_file else 0)
    low = 1 if runs_file else 0
    if not isinstance(ports, int) or isinstance(ports, bool) or not low <= ports <= MAX_SIM_PORTS:
        _err(errors, f"port count must be a whole number from {low} to {MAX_SIM_PORTS}", "simulator.ports")


def _check_stop(errors: list[HpcaiError], stop: Any) -> dict[str, Any]:
    if stop is None:
        return dict(DEFAULT_STOP)
    if not isinstance(stop, dict):
        _err(errors, "stop must be an object with mean_reward, total_steps and/or episodes", "stop")
        return {}
    out: dict[str, Any] = {}
    for key, value in stop.items():
        field = f"stop.{key}"
        if key not in DEFAULT_STOP:
            _err(errors, f"unknown stop criterion {key!r}", field, fix="mean_reward, total_steps or episodes")
        elif value is None:
            continue
        elif key == "mean_reward":  # may be negative: Pendulum's returns are
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                _err(errors, f"{value!r} is not a number", field)
            else:
                out[key] = value
        elif not isinstance(value, int) or isinstance(value, bool) or value < 1:
            _err(errors, f"{value!r} must be a positive whole number", field)
        else:
            out[key] = value
    if not errors and not out:
        _err(
            errors, "give at least one stop criterion, or training would never end", "stop", fix="e.g. total_steps 1000"
        )
    return out


def validate(spec: Any) -> dict[str, Any]:
    """The spec with defaults filled in, or ValidationErrors listing every field at fault."""
    if not isinstance(spec, dict):
        raise ValidationError("the training spec must be a JSON object", field="spec")
    errors: list[HpcaiError] = []
    name = spec.get("algorithm")
    algo = ALGORITHMS.get(name) if isinstance(name, str) else None
    if algo is None:
        _err(errors, f"unknown algorithm {name!r}", "algorithm", fix="one of " + ", ".join(ALGORITHMS))
    elif algo.removed:
        _err(errors, algo.removed, "algorithm", fix=f"choose {algo.replacement}")
        algo = None
    params = spec.get("params") or {}
    if not isinstance(params, dict):
        _err(errors, "params must be an object", "params")
    elif algo is not None:
        for key, value in params.items():
            _check_param(errors, algo, key, value)
    framework = spec.get("framework", "pytorch")
    if framework not in FRAMEWORKS:
        _err(errors, f"{framework!r} is not a framework", "framework", fix="pytorch or tensorflow")
    elif framework == "tensorflow":
        _err(errors, "RLlib 2.60's API stack trains with PyTorch only", "framework", fix="choose pytorch")

    env = spec.get("env")
    if not isinstance(env, dict) or env.get("kind") not in ENV_KINDS:
        _err(
            errors,
            "the environment must be a Gym scenario, a custom class or SC2",
            "env.kind",
            fix="connect a Gym, Custom development template or SC2 component",
        )
        env = {}
    elif env["kind"] == "gym":
        _check_gym(errors, env, algo)
    elif env["kind"] == "custom":
        _check_custom(errors, env)
    else:
        _check_sc2(errors, env)
    agents = env.get("agents", 1)
    if not isinstance(agents, int) or isinstance(agents, bool) or agents < 1:
        _err(errors, "agents must be a positive whole number", "env.agents")
    elif agents > 1 and algo is not None and not algo.multi_agent:
        _err(
            errors,
            f"{algo.name} does not train multi-agent in RLlib 2.60",
            "env.agents",
            fix="use PPO, APPO, IMPALA, DQN or SAC",
        )

    sim = spec.get("simulator")
    if sim is not None:
        if not isinstance(sim, dict):
            _err(errors, "simulator must be an object", "simulator")
        else:
            _check_simulator(errors, sim)
            if env.get("kind") == "gym":
                _err(
                    errors,
                    "a simulator is driven by a custom environment class, not a Gym scenario",
                    "simulator",
                    fix="connect a Custom development template that talks to it (env_config['sim_ports'])",
                )

    offline = spec.get("offline")
    if algo is not None and algo.offline:
        path = offline.get("path") if isinstance(offline, dict) else None
        if not path:
            _err(
                errors,
                f"{algo.name} is an offline algorithm: it needs offline data",
                "offline",
                fix="connect an Offline dataset selection component",
            )
        elif not (os.path.isabs(path) and Path(path).exists()):
            _err(errors, f"{path} does not exist (an absolute path is required)", "offline.path")
        if spec.get("custom_model"):
            _err(
                errors,
                "offline algorithms do not support custom models",
                "custom_model",
                fix="remove the Custom model component or choose an online algorithm",
            )
        if spec.get("record_offline"):
            _err(errors, "an offline algorithm samples no experience to record", "record_offline")
    elif offline and algo is not None:
        _err(errors, f"{algo.name} is an online algorithm: offline data is for BC, CQL and MARWIL", "offline")

    model = spec.get("custom_model")
    if model:
        script = model.get("script") if isinstance(model, dict) else None
        if not isinstance(script, str) or not script.strip():
            _err(errors, "the custom model script is empty", "custom_model.script")
        else:
            try:
                compile(script, "custom_model.py", "exec")
            except SyntaxError as exc:
                _err(errors, f"line {exc.lineno}: {exc.msg}", "custom_model.script")

    stop = _check_stop(errors, spec.get("stop"))
    runners = spec.get("env_runners", 1)
    if not isinstance(runners, int) or isinstance(runners, bool) or not 1 <= runners <= MAX_ENV_RUNNERS:
        _err(errors, f"parallel training count must be a whole number from 1 to {MAX_ENV_RUNNERS}", "env_runners")
    if not isinstance(spec.get("record_offline", False), bool):
        _err(errors, "record_offline must be true or false", "record_offline")
    if errors:
        raise ValidationErrors(errors)
    return {
        **spec,
        "algorithm": algo.name,
        "params": dict(params),
        "framework": framework,
        "env": env,
        "simulator": sim,
        "offline": offline if algo.offline else None,
        "custom_model": model or None,
        "stop": stop,
        "env_runners": runners,
        "record_offline": bool(spec.get("record_offline", False)),
    }


def worker_ports(spec: dict[str, Any]) -> int:
    """Worker ports per node: one per env runner, and spares for the rest."""
    return int(spec.get("env_runners", 1) or 1) + SPARE_WORKER_PORTS


def sim_ports(spec: dict[str, Any]) -> int:
    sim = spec.get("simulator") or {}
    return int(sim.get("ports", 0 if sim.get("python_builtin") else 1)) if sim else 0


def ports_needed(spec: dict[str, Any], nodes: int = 1) -> int:
    """Ports the job must be allocated ($HPCAI_PORTS) on an allocation of `nodes` nodes:
    Ray's first (the head's, then one block per node: nodes of a test cluster may share a host),
    the simulator's last."""
    per_node = len(NODE_PORTS) + worker_ports(spec)
    return len(HEAD_PORTS) + nodes * per_node + sim_ports(spec)


def port_layout(ports: list[int], spec: dict[str, Any], nodes: int = 1) -> dict[str, Any]:
    """$HPCAI_PORTS split as ports_needed counts them: {"head": {...}, "nodes": [{..., "workers": [...]}],
    "simulator": [...]}. Too few ports is the platform's mistake, not the user's: RuntimeError."""
    need = ports_needed(spec, nodes)
    if len(ports) < need:
        raise RuntimeError(
            f"the job has {len(ports)} port(s) in HPCAI_PORTS, it needs {need}: "
            "submit it with extra ports = core.rl.trainspec.ports_needed(spec, nodes)"
        )
    it = iter(ports)
    head = {name: next(it) for name in HEAD_PORTS}
    blocks = []
    for _ in range(nodes):
        block: dict[str, Any] = {name: next(it) for name in NODE_PORTS}
        block["workers"] = [next(it) for _ in range(worker_ports(spec))]
        blocks.append(block)
    sim = ports[len(ports) - sim_ports(spec) :] if sim_ports(spec) else []
    return {"head": head, "nodes": blocks, "simulator": sim}
