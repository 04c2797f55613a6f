"""Train one RLlib algorithm from a training spec, inside the job's own Ray cluster.

Writes to the output dir: metrics.jsonl (one line per iteration), tensorboard/ (event files),
checkpoint/ (Algorithm.save_to_path), result.json; and to MLflow through libaiflow when
MLFLOW_TRACKING_URI is set. What the job side cannot run yet is refused as a ValidationError
naming the spec field, before any Ray process starts.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.errors import ValidationError
from core.rl.algorithms import CONFIGS, config_calls
from core.rl.trainspec import validate

Log = Callable[[str], None]

#: result.json / metrics.jsonl names -> where RLlib 2.60's new API stack reports them
METRICS = {
    "mean_reward": ("env_runners", "episode_return_mean"),
    "env_steps": ("num_env_steps_sampled_lifetime",),
    "episodes": ("env_runners", "num_episodes_lifetime"),
}
FALLBACKS = {"env_steps": ("env_runners", "num_env_steps_sampled_lifetime")}


def refuse_unsupported(spec: dict[str, Any]) -> None:
    """What the job side does not train yet: refused by field, never half-run."""
    if spec["env"].get("kind") == "sc2":
        raise ValidationError("SC2 (SMAC) training is not wired into the job side yet", field="env.kind",
                              fix="choose a Gym or custom environment")
    if spec["env"].get("agents", 1) > 1:
        raise ValidationError("multi-agent training is not wired into the job side yet", field="env.agents",
                              fix="train with 1 agent")
    if spec.get("custom_model"):
        raise ValidationError("custom models are not wired into the job side yet", field="custom_model",
                              fix="remove the Custom model component")
    if spec.get("offline"):
        raise ValidationError("offline training (BC, CQL, MARWIL) is not wired into the job side yet",
                              field="offline", fix="choose an online algorithm")
    if spec.get("record_offline"):
        # tried: with batch_mode complete_episodes and offline_data(output=...) RLlib 2.60 sampled 0 steps
        raise ValidationError("recording experience is not wired into the job side yet", field="record_offline",
                              fix="turn record_offline off")


def make_custom_env(directory: str, file: str, cls: str, env_config: Any) -> Any:
    """Import the user's class from its template directory and instantiate it.

    Module level and path-based on purpose: RLlib pickles the creator to every env runner,
    which cannot import the user's module by name."""
    name = f"hpcai_custom_env_{abs(hash((directory, file)))}"
    module = sys.modules.get(name)
    if module is None:
        if directory not in sys.path:
            sys.path.insert(0, directory)  # the class may import its siblings
        loader = importlib.util.spec_from_file_location(name, os.path.join(directory, file))
        assert loader is not None and loader.loader is not None
        module = importlib.util.module_from_spec(loader)
        sys.modules[name] = module
        loader.loader.exec_module(module)
    return getattr(module, cls)(dict(env_config or {}))


def env_name(spec: dict[str, Any], sim_ports: list[int]) -> tuple[str, dict[str, Any]]:
    env = spec["env"]
    if env["kind"] == "gym":
        return env["id"], {}
    from ray.tune.registry import register_env

    name = f"hpcai-custom-{env['class']}"
    register_env(name, functools.partial(make_custom_env, env["dir"], env["file"], env["class"]))
    config = dict(env.get("config") or {})
    if sim_ports:
        config["sim_ports"] = sim_ports  # the simulator's ports, the last of $HPCAI_PORTS
    return name, config


def build_config(spec: dict[str, Any], out_dir: Path, sim_ports: list[int] | None = None) -> Any:
    module, cls = CONFIGS[spec["algorithm"]].rsplit(".", 1)
    config = getattr(importlib.import_module("ray.rllib.algorithms." + module), cls)()
    name, env_config = env_name(spec, sim_ports or [])
    config.environment(name, env_config=env_config)
    config.framework("torch")
    # each "parallel training" is one remote env runner (one CPU); the driver only learns
    config.env_runners(num_env_runners=spec["env_runners"])
    for method, kwargs in config_calls(spec["algorithm"], spec["params"]).items():
        args = {}
        for key, value in kwargs.items():
            current = getattr(config, key, None)
            # a dotted sub-key: merge into RLlib's own dict so the keys it does not set keep their values
            args[key] = {**current, **value} if isinstance(value, dict) and isinstance(current, dict) else value
        getattr(config, method)(**args)
    return config


def pick(result: dict[str, Any], name: str) -> float | None:
    for path in (METRICS[name], FALLBACKS.get(name)):
        if not path:
            continue
        value: Any = result
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value)):
            return float(value)
    return None


def stop_reached(stop: dict[str, Any], row: dict[str, Any]) -> str | None:
    """The first criterion met (Tune's semantics: any one ends training), or None."""
    checks = {"mean_reward": "mean_reward", "total_steps": "env_steps", "episodes": "episodes"}
    for key, limit in stop.items():
        value = row.get(checks[key])
        if value is not None and value >= limit:
            return key
    return None


def _active_run() -> bool:
    import mlflow

    return mlflow.active_run() is not None


class Tracker:
    """metrics.jsonl, TensorBoard, and MLflow when the job has a tracking server."""

    def __init__(self, spec: dict[str, Any], out_dir: Path) -> None:
        from tensorboardX import SummaryWriter

        self.jsonl = (out_dir / "metrics.jsonl").open("a")
        self.tb = SummaryWriter(str(out_dir / "tensorboard"))
        self.mlflow = bool(os.environ.get("MLFLOW_TRACKING_URI"))
        self.own_run = False
        if self.mlflow and _active_run():  # inside a pipeline run: its MLflow run gets the metrics
            return
        if self.mlflow:
            import libaiflow

            self.own_run = True
            libaiflow.init(spec.get("experiment") or f"rl-{spec['algorithm']}")
            libaiflow.start_run(None, run_name=spec.get("run_name"), tags={"hpcai.rl": spec["algorithm"]})
            libaiflow.log_params({k: str(v)[:500] for k, v in spec["params"].items()})

    def log(self, row: dict[str, Any]) -> None:
        self.jsonl.write(json.dumps(row) + "\n")
        self.jsonl.flush()
        step = row["iteration"]
        for key, value in row.items():
            if key != "iteration" and isinstance(value, float):
                self.tb.add_scalar(key, value, step)
                if self.mlflow:
                    import libaiflow

                    libaiflow.log_metric(key, value, step=step)

    def close(self) -> None:
        self.jsonl.close()
        self.tb.close()
        if self.own_run:
            import libaiflow

            libaiflow.end_run()


def run_loop(spec: dict[str, Any], out_dir: Path, log: Log, cluster: Any) -> dict[str, Any]:
    started = time.monotonic()
    algo = build_config(spec, out_dir, cluster.layout["simulator"]).build_algo()
    tracker = Tracker(spec, out_dir)
    row: dict[str, Any] = {}
    iteration = 0
    try:
        while True:
            iteration += 1
            result = algo.train()
            row = {"iteration": iteration, **{k: pick(result, k) for k in METRICS}}
            row["seconds"] = round(time.monotonic() - started, 3)
            tracker.log(row)
            log(json.dumps(row))
            why = stop_reached(spec["stop"], row)
            if why:
                log(f"stop: {why} reached")
                break
        checkpoint = out_dir / "checkpoint"
        algo.save_to_path(str(checkpoint))
    finally:
        tracker.close()
        algo.stop()
    summary = {
        "algorithm": spec["algorithm"],
        "env": spec["env"].get("id") or spec["env"].get("class"),
        "iterations": iteration,
        "mean_reward": row.get("mean_reward"),
        "env_steps": row.get("env_steps"),
        "episodes": row.get("episodes"),
        "checkpoint": str(checkpoint),
        "seconds": round(time.monotonic() - started, 3),
        "ray": {"address": cluster.address, "temp_dir": str(cluster.temp_dir)},  # where to look in a post-mortem
    }
    (out_dir / "result.json").write_text(json.dumps(summary, indent=2))
    return summary


def train(spec: dict[str, Any], out_dir: Path, ports: list[int] | None = None, log: Log | None = None) -> dict:
    """Validate, start this job's Ray cluster on its ports, train until a stop criterion, save."""
    from core.rl.jobside.cluster import parse_ports, ray_cluster

    spec = validate(spec)
    refuse_unsupported(spec)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ports = list(ports) if ports is not None else parse_ports(os.environ.get("HPCAI_PORTS"))
    from core.rl.jobside.simulator import running_simulator

    log = log or print
    with ray_cluster(spec, ports) as cluster, \
            running_simulator(spec.get("simulator"), cluster.layout["simulator"], out_dir, log):
        summary = run_loop(spec, out_dir, log, cluster)
    return summary
