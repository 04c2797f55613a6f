"""A tiny MindSpore training on CPU (standalone): a small dense network on synthetic data.

Writes result.json (first/last loss) into --out (default: the current directory).
"""

import argparse
import json
import os

import mindspore as ms
import numpy as np
from mindspore import nn


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--out", default=".")
    args = parser.parse_args()
    ms.set_context(mode=ms.PYNATIVE_MODE)
    ms.set_device("CPU")
    ms.set_seed(0)
    net = nn.SequentialCell([nn.Dense(16, 32), nn.ReLU(), nn.Dense(32, 1)])
    loss_fn = nn.MSELoss()
    opt = nn.SGD(net.trainable_params(), learning_rate=0.05)

    def forward(x, y):
        return loss_fn(net(x), y)

    grad_fn = ms.value_and_grad(forward, None, opt.parameters)
    rng = np.random.default_rng(0)
    losses = []
    for step in range(args.steps):
        xb = rng.normal(size=(64, 16)).astype("float32")
        x, y = ms.Tensor(xb), ms.Tensor(xb.sum(axis=1, keepdims=True))
        loss, grads = grad_fn(x, y)
        opt(grads)
        losses.append(float(loss.asnumpy()))
        print(f"step {step} loss {losses[-1]:.4f}", flush=True)
    with open(os.path.join(args.out, "result.json"), "w") as f:
        json.dump({"framework": "mindspore", "first_loss": losses[0], "last_loss": losses[-1],
                   "mindspore": ms.__version__}, f)


if __name__ == "__main__":
    main()
