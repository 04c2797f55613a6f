"""A tiny PyTorch training on CPU (standalone): a small MLP on synthetic data for a few steps.

Writes result.json (first/last loss, steps) into --out (default: the current directory).
"""

import argparse
import json
import os

import torch
import torch.nn as nn


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--out", default=".")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    losses = []
    for step in range(args.steps):
        x = torch.randn(64, 16)
        loss = nn.functional.mse_loss(model(x), x.sum(dim=1, keepdim=True))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        print(f"step {step} loss {loss.item():.4f}", flush=True)
    with open(os.path.join(args.out, "result.json"), "w") as f:
        json.dump({"framework": "pytorch", "steps": args.steps, "first_loss": losses[0],
                   "last_loss": losses[-1], "torch": torch.__version__}, f)


if __name__ == "__main__":
    main()
