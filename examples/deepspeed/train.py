"""A tiny DeepSpeed training (ZeRO stage 1) on the CPU accelerator, one process per rank.

hpcai's DeepSpeed mode gives each rank RANK/LOCAL_RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT;
deepspeed.init_distributed() reads them (gloo on CPU). Each rank writes
ds_result.<rank>.json into --out.
"""

import argparse
import json
import os

import deepspeed
import torch
import torch.nn as nn


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out", default=".")
    args = parser.parse_args()
    deepspeed.init_distributed(dist_backend="gloo")
    rank = int(os.environ["RANK"])
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 1))
    config = {"train_micro_batch_size_per_gpu": 32, "gradient_accumulation_steps": 1,
              "optimizer": {"type": "SGD", "params": {"lr": 0.05}},
              "zero_optimization": {"stage": 1}, "zero_allow_untested_optimizer": True,
              "steps_per_print": 1000}
    engine, _, _, _ = deepspeed.initialize(model=model, model_parameters=model.parameters(), config=config)
    x = torch.randn(32, 16, generator=torch.Generator().manual_seed(rank))  # this rank's shard
    losses = []
    for step in range(args.steps):
        loss = nn.functional.mse_loss(engine(x), x.sum(dim=1, keepdim=True))
        engine.backward(loss)
        engine.step()
        losses.append(loss.item())
        print(f"rank {rank} step {step} loss {losses[-1]:.4f}", flush=True)
    flat = torch.cat([p.detach().flatten() for p in engine.module.parameters()])
    with open(os.path.join(args.out, f"ds_result.{rank}.json"), "w") as f:
        json.dump({"rank": rank, "world_size": engine.world_size, "first_loss": losses[0],
                   "last_loss": losses[-1], "params": [float(v) for v in flat[:8]]}, f)


if __name__ == "__main__":
    main()
