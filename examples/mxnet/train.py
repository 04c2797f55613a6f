"""A tiny MXNet (Gluon) training on CPU (standalone): a small dense network on synthetic data.

Writes result.json (first/last loss) into --out (default: the current directory).
"""

import argparse
import json
import os

import mxnet as mx
from mxnet import autograd, gluon, nd


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--out", default=".")
    args = parser.parse_args()
    mx.random.seed(0)
    net = gluon.nn.Sequential()
    net.add(gluon.nn.Dense(32, activation="relu"), gluon.nn.Dense(1))
    net.initialize(mx.init.Xavier(), ctx=mx.cpu())
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.05})
    loss_fn = gluon.loss.L2Loss()
    losses = []
    for step in range(args.steps):
        x = nd.random.normal(shape=(64, 16))
        y = x.sum(axis=1, keepdims=True)
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(64)
        losses.append(float(loss.mean().asscalar()))
        print(f"step {step} loss {losses[-1]:.4f}", flush=True)
    with open(os.path.join(args.out, "result.json"), "w") as f:
        json.dump({"framework": "mxnet", "first_loss": losses[0], "last_loss": losses[-1],
                   "mxnet": mx.__version__}, f)


if __name__ == "__main__":
    main()
