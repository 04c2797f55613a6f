"""Replay a trained checkpoint: N episodes with the greedy policy, written to predictions.json.

Loads only the RLModule (the policy network) from the checkpoint and steps the environment in this
process: no Ray cluster and no ports are needed to evaluate a policy on one node.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from core.errors import ValidationError
from core.rl.jobside.train import make_custom_env, refuse_unsupported
from core.rl.trainspec import validate

MODULE_PATH = ("learner_group", "learner", "rl_module", "default_policy")
MAX_STEPS = 100_000  # an episode that never ends (a custom env without truncation) still stops


def load_module(checkpoint: Path) -> Any:
    from ray.rllib.core.rl_module.rl_module import RLModule

    path = Path(checkpoint).joinpath(*MODULE_PATH)
    if not path.is_dir():
        raise ValidationError(f"{checkpoint} is not an RLlib checkpoint (no {'/'.join(MODULE_PATH)})",
                              field="checkpoint")
    return RLModule.from_checkpoint(str(path))


def make_env(spec: dict[str, Any]) -> Any:
    env = spec["env"]
    if env["kind"] == "gym":
        import gymnasium

        return gymnasium.make(env["id"])
    return make_custom_env(env["dir"], env["file"], env["class"], env.get("config"))


def act(module: Any, obs: Any) -> Any:
    import numpy as np
    import torch

    batch = {"obs": torch.as_tensor(np.asarray(obs, dtype=np.float32)[None])}
    with torch.no_grad():
        out = module.forward_inference(batch)
    if "actions" in out:
        return out["actions"][0].numpy()
    dist = module.get_inference_action_dist_cls().from_logits(out["action_dist_inputs"])
    return dist.to_deterministic().sample()[0].numpy()


def predict(checkpoint: Path, spec: dict[str, Any], out_dir: Path, episodes: int = 10) -> dict[str, Any]:
    spec = validate(spec)
    refuse_unsupported(spec)
    if episodes < 1:
        raise ValidationError("episodes must be a positive whole number", field="episodes")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    module = load_module(Path(checkpoint))
    env = make_env(spec)
    returns, lengths = [], []
    for i in range(episodes):
        obs, _ = env.reset(seed=i)
        total, steps, done = 0.0, 0, False
        while not done and steps < MAX_STEPS:
            action = act(module, obs)
            if hasattr(env.action_space, "n"):
                action = int(action)
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            steps += 1
            done = terminated or truncated
        returns.append(total)
        lengths.append(steps)
    env.close()
    result = {
        "checkpoint": str(checkpoint),
        "env": spec["env"].get("id") or spec["env"].get("class"),
        "episodes": episodes,
        "returns": returns,
        "lengths": lengths,
        "mean_return": sum(returns) / len(returns),
        "seconds": round(time.monotonic() - started, 3),
    }
    (out_dir / "predictions.json").write_text(json.dumps(result, indent=2))
    return result
