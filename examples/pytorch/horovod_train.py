"""A tiny Horovod training with PyTorch on CPU (Gloo): run under `horovodrun` (hpcai's Horovod
mode starts it). Each rank writes horovod_result.<rank>.json into --out."""

import argparse
import json
import os

import horovod.torch as hvd
import torch
import torch.nn as nn


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out", default=".")
    args = parser.parse_args()
    hvd.init()
    torch.manual_seed(1234 + hvd.rank())
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 1))
    opt = hvd.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.05),
                                   named_parameters=model.named_parameters())
    hvd.broadcast_parameters(model.state_dict(), root_rank=0)
    gen = torch.Generator().manual_seed(hvd.rank())
    losses = []
    for step in range(args.steps):
        x = torch.randn(64, 16, generator=gen)
        loss = nn.functional.mse_loss(model(x), x.sum(dim=1, keepdim=True))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        print(f"rank {hvd.rank()}/{hvd.size()} step {step} loss {loss.item():.4f}", flush=True)
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    with open(os.path.join(args.out, f"horovod_result.{hvd.rank()}.json"), "w") as f:
        json.dump({"rank": hvd.rank(), "size": hvd.size(), "local_rank": hvd.local_rank(),
                   "param_sum": float(flat.sum()), "first_loss": losses[0], "last_loss": losses[-1]}, f)


if __name__ == "__main__":
    main()
