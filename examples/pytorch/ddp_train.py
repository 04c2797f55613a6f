"""A tiny DDP training on CPU (gloo): the demo job and the test of the DDP contract.

Reads the variables hpcai gives every rank (MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE ...),
trains a small MLP on synthetic data for a few steps, and writes each rank's final
parameters' checksum to ddp_result.<rank>.json in --out (default: the current directory).
"""

import argparse
import json
import os
import time

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out", default=".")
    args = parser.parse_args()

    t0 = time.time()
    dist.init_process_group("gloo")  # env:// rendezvous from hpcai's variables
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(1234 + rank)  # different init per rank: DDP must broadcast rank 0's
    model = DistributedDataParallel(nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 1)))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    gen = torch.Generator().manual_seed(rank)  # each rank sees its own shard of data
    for step in range(args.steps):
        x = torch.randn(64, 16, generator=gen)
        y = x.sum(dim=1, keepdim=True)
        loss = nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step == 0:
            print(f"rank {rank}: first step done after {time.time() - t0:.2f}s", flush=True)
        if step % 5 == 0 or step == args.steps - 1:
            print(f"rank {rank}/{world} step {step} loss {loss.item():.4f}", flush=True)
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    result = {
        "rank": rank, "world_size": world, "local_rank": int(os.environ["LOCAL_RANK"]),
        "master": f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}",
        "param_sum": float(flat.sum()), "param_norm": float(flat.norm()),
        "params": [float(v) for v in flat[:8]],
    }
    with open(os.path.join(args.out, f"ddp_result.{rank}.json"), "w") as f:
        json.dump(result, f)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
