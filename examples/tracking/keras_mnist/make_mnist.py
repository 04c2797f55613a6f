"""Write a small synthetic stand-in for MNIST as data/mnist.npz (the keys of keras' mnist.npz:
x_train, y_train, x_test, y_test; uint8 28x28 images, labels 0-9).

Each class is a fixed random blob pattern plus noise, so a LeNet learns it in a couple of epochs.

    python make_mnist.py [OUT.npz] [TRAIN] [TEST]
"""

from __future__ import annotations

import os
import sys

import numpy as np


def make(n_train: int = 600, n_test: int = 200, seed: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    prototypes = rng.random((10, 28, 28)) > 0.7

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 10, n)
        x = prototypes[y] * 200 + rng.normal(0, 30, (n, 28, 28))
        return np.clip(x, 0, 255).astype(np.uint8), y.astype(np.uint8)

    x_train, y_train = draw(n_train)
    x_test, y_test = draw(n_test)
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join("data", "mnist.npz")
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    n_train = int(sys.argv[2]) if len(sys.argv) > 2 else 600
    n_test = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    np.savez_compressed(out, **make(n_train, n_test))
    print(f"wrote {out}")
