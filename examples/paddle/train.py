"""A tiny PaddlePaddle training on CPU (standalone, dynamic graph): a small MLP on synthetic data.

Writes result.json (first/last loss) into --out (default: the current directory).
"""

import argparse
import json
import os

import paddle


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--out", default=".")
    args = parser.parse_args()
    paddle.set_device("cpu")
    paddle.seed(0)
    model = paddle.nn.Sequential(paddle.nn.Linear(16, 32), paddle.nn.ReLU(), paddle.nn.Linear(32, 1))
    opt = paddle.optimizer.SGD(learning_rate=0.05, parameters=model.parameters())
    losses = []
    for step in range(args.steps):
        x = paddle.randn([64, 16])
        loss = paddle.nn.functional.mse_loss(model(x), x.sum(axis=1, keepdim=True))
        loss.backward()
        opt.step()
        opt.clear_grad()
        losses.append(float(loss))
        print(f"step {step} loss {losses[-1]:.4f}", flush=True)
    with open(os.path.join(args.out, "result.json"), "w") as f:
        json.dump({"framework": "paddle", "first_loss": losses[0], "last_loss": losses[-1],
                   "paddle": paddle.__version__}, f)


if __name__ == "__main__":
    main()
