"""MindSpore data-parallel training under Open MPI (hpcai's MPI mode runs `mpirun`).

`init()` reads the rank from Open MPI and uses NCCL (GPU) for collectives. On a CPU-only node
the job fails with MindSpore's own error (see tests/frameworks/test_training.py).
"""

import argparse
import os

import mindspore as ms
import numpy as np
from mindspore import nn
from mindspore.communication import get_group_size, get_rank, init


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--device", default=os.environ.get("MS_DEVICE", "GPU"))
    args = parser.parse_args()
    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_device(args.device)
    init()
    ms.set_auto_parallel_context(parallel_mode=ms.ParallelMode.DATA_PARALLEL, gradients_mean=True)
    print(f"rank {get_rank()} of {get_group_size()}", flush=True)
    net = nn.SequentialCell([nn.Dense(16, 32), nn.ReLU(), nn.Dense(32, 1)])
    model = ms.train.Model(net, nn.MSELoss(), nn.SGD(net.trainable_params(), learning_rate=0.05))
    x = np.random.default_rng(get_rank()).normal(size=(256, 16)).astype("float32")
    data = ms.dataset.NumpySlicesDataset({"x": x, "y": x.sum(axis=1, keepdims=True)}, shuffle=False).batch(32)
    model.train(1, data.take(args.steps), dataset_sink_mode=False)


if __name__ == "__main__":
    main()
