"""PaddlePaddle parameter-server training on CPU (static graph, fleet), driven by the
variables hpcai's Paddle PS contract sets (TRAINING_ROLE, PADDLE_PSERVERS_IP_PORT_LIST ...).

Servers run fleet's parameter server until the launcher ends them; each trainer trains a
linear model for a few steps (its parameters live on the servers) and writes
result.<trainer id>.json into --out.
"""

import argparse
import json
import os

# Paddle 3 builds static programs in PIR by default; the parameter-server passes need the
# classic program representation.
os.environ.setdefault("FLAGS_enable_pir_api", "0")

import numpy as np  # noqa: E402
import paddle  # noqa: E402
import paddle.distributed.fleet as fleet  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out", default=".")
    args = parser.parse_args()
    paddle.enable_static()
    fleet.init(fleet.PaddleCloudRoleMaker(is_collective=False))
    x = paddle.static.data(name="x", shape=[-1, 16], dtype="float32")
    y = paddle.static.data(name="y", shape=[-1, 1], dtype="float32")
    pred = paddle.static.nn.fc(x, size=1)
    loss = paddle.mean(paddle.square(pred - y))
    strategy = fleet.DistributedStrategy()
    strategy.a_sync = True
    # GEO-SGD: trainers update locally and exchange parameter deltas with the servers every
    # k steps (fleet's sync mode crashes on CPU in 2.6.2; plain async never refreshes here).
    strategy.a_sync_configs = {"k_steps": 4}
    opt = fleet.distributed_optimizer(paddle.optimizer.SGD(learning_rate=0.05), strategy)
    opt.minimize(loss)
    if fleet.is_server():
        print(f"server {fleet.server_index()} of {fleet.server_num()} starting", flush=True)
        fleet.init_server()
        fleet.run_server()  # serves until the launcher stops it
        return
    exe = paddle.static.Executor(paddle.CPUPlace())
    exe.run(paddle.static.default_startup_program())
    fleet.init_worker()
    # This trainer's shard: one fixed batch, so its loss shows the shared model learning even
    # though the other trainer's asynchronous updates land in between.
    xb = np.random.default_rng(fleet.worker_index()).normal(size=(64, 16)).astype("float32")
    yb = xb.sum(axis=1, keepdims=True).astype("float32")
    losses = []
    for step in range(args.steps):
        (value,) = exe.run(paddle.static.default_main_program(), feed={"x": xb, "y": yb}, fetch_list=[loss])
        losses.append(float(np.asarray(value)))
        print(f"trainer {fleet.worker_index()} step {step} loss {losses[-1]:.4f}", flush=True)
    with open(os.path.join(args.out, f"result.{fleet.worker_index()}.json"), "w") as f:
        json.dump({"framework": "paddle", "mode": "ps", "trainer": fleet.worker_index(),
                   "trainers": fleet.worker_num(), "servers": fleet.server_num(),
                   "first_loss": losses[0], "last_loss": losses[-1]}, f)
    fleet.stop_worker()


if __name__ == "__main__":
    main()
