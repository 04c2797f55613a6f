"""Job-side code of the RL components: each node's output is a fragment of the training spec
(core.rl.trainspec); Model training assembles and validates it and trains in this job."""

from __future__ import annotations

import json
import os
from typing import Any

from core.pipelines.runner import Step, StepError


def gym(step: Step) -> dict[str, Any]:
    return {"env": {"kind": "gym", "id": step.props["scenario"]}}


def custom_template(step: Step) -> dict[str, Any]:
    p = step.props
    return {"env": {"kind": "custom", "dir": p["template_dir"], "file": p["env_file"], "class": p["env_class"],
                    "config": p.get("env_config") or {}}}


def simulation_env(step: Step) -> dict[str, Any]:
    return {"simulator": step.props["simulator"]}  # resolved at Run from the registered environment


def offline_dataset(step: Step) -> dict[str, Any]:
    return {"offline": {"path": step.props["path"]}}


def algorithm(step: Step) -> dict[str, Any]:
    from core.rl.algorithms import ALGORITHMS

    algo = next(a for a in ALGORITHMS.values() if a.config and a.config == step.target)
    return {"algorithm": {"algorithm": algo.name,
                          "params": {k: v for k, v in step.props.items() if k in algo.params and v is not None}}}


def _spec(step: Step) -> dict[str, Any]:
    p = step.props
    algo = step.input("algorithm")
    stop = {"mean_reward": p.get("stop_mean_reward"), "total_steps": p.get("stop_total_steps"),
            "episodes": p.get("stop_episodes")}
    spec = {"algorithm": algo["algorithm"], "params": algo["params"], "framework": p.get("framework", "pytorch"),
            "env": step.input("env"), "stop": {k: v for k, v in stop.items() if v is not None},
            "env_runners": int(p.get("parallel_count") or 1), "record_offline": bool(p.get("record_offline")),
            "experiment": step.ctx.pipeline}
    if step.input("simulator"):
        spec["simulator"] = step.input("simulator")
    offline = step.input("offline")
    if offline:
        spec["offline"] = offline
    return spec


def train(step: Step) -> dict[str, Any]:
    from core.errors import HpcaiError
    from core.rl.jobside.cluster import parse_ports
    from core.rl.jobside.train import train as run_training

    spec = _spec(step)
    try:
        summary = run_training(spec, step.dir, ports=parse_ports(os.environ.get("HPCAI_PORTS")),
                               log=lambda line: print(f"[{step.id}] {line}", flush=True))
    except HpcaiError as exc:  # a spec the designer let through: name the node's field
        raise StepError(exc.text) from None
    for key in ("mean_reward", "env_steps", "iterations"):
        if isinstance(summary.get(key), (int, float)):
            step.ctx.log_metric(key, float(summary[key]), step=int(summary.get("iterations") or 0))
    # F149/F150: the platform registers the policy once the run's job has succeeded
    (step.dir / "register.json").write_text(json.dumps({
        "path": summary["checkpoint"], "purpose": "reinforcement-learning",
        "description": f"{summary['algorithm']} on {summary['env']}: mean reward {summary.get('mean_reward')} "
                       f"after {summary.get('env_steps')} steps"}))
    return {"policy": {"checkpoint": summary["checkpoint"], "spec": summary.get("spec") or spec}}


def predict(step: Step) -> dict[str, Any]:
    from pathlib import Path

    from core.rl.jobside.predict import predict as run_prediction

    policy = step.input("policy")
    spec = dict(policy["spec"])
    if step.input("env"):
        spec["env"] = step.input("env")
    result = run_prediction(Path(policy["checkpoint"]), spec, step.dir, episodes=int(step.props["stop_iters"]))
    for key in ("mean_return", "mean_reward"):
        if isinstance(result.get(key), (int, float)):
            step.ctx.log_metric(f"prediction_{key}", float(result[key]))
    return {"predictions": result}
