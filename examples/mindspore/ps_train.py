"""MindSpore parameter-server training, driven by hpcai's MindSpore PS contract (MS_ROLE,
MS_SCHED_HOST, MS_SCHED_PORT, MS_WORKER_NUM, MS_SERVER_NUM). The scheduler and server
processes run the same script; `init()` turns them into their role.

MindSpore's parameter server runs on GPU/Ascend devices; on a CPU-only node the job fails
with MindSpore's own error (see tests/frameworks/test_training.py).
"""

import argparse
import json
import os

import mindspore as ms
import numpy as np
from mindspore import nn
from mindspore.communication import init


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--device", default=os.environ.get("MS_DEVICE", "GPU"))
    parser.add_argument("--out", default=".")
    args = parser.parse_args()
    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_device(args.device)
    ms.set_ps_context(enable_ps=True)
    init()
    role = os.environ["MS_ROLE"]
    print(f"{role}: initialised", flush=True)
    net = nn.SequentialCell([nn.Dense(16, 32), nn.ReLU(), nn.Dense(32, 1)])
    net.set_param_ps()
    loss_fn = nn.MSELoss()
    opt = nn.Adam(net.trainable_params(), learning_rate=0.01)
    model = ms.train.Model(net, loss_fn, opt)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 16)).astype("float32")
    data = ms.dataset.NumpySlicesDataset({"x": x, "y": x.sum(axis=1, keepdims=True)}, shuffle=False).batch(32)
    losses = []

    class Record(ms.train.Callback):
        def step_end(self, run_context):
            losses.append(float(run_context.original_args().net_outputs.asnumpy()))

    model.train(1, data.take(args.steps), callbacks=[Record()], dataset_sink_mode=False)
    if role == "MS_WORKER" and losses:
        with open(os.path.join(args.out, "result.json"), "w") as f:
            json.dump({"framework": "mindspore", "mode": "ps", "first_loss": losses[0], "last_loss": losses[-1]}, f)


if __name__ == "__main__":
    main()
