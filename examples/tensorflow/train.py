"""A tiny TensorFlow/Keras training on CPU (standalone): a dense model on synthetic data.

Writes result.json (first/last loss) into --out (default: the current directory).
"""

import argparse
import json
import os

import numpy as np
import tensorflow as tf


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", default=".")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 16)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model = tf.keras.Sequential([tf.keras.Input((16,)), tf.keras.layers.Dense(32, activation="relu"),
                                 tf.keras.layers.Dense(1)])
    model.compile(optimizer=tf.keras.optimizers.SGD(0.01), loss="mse")
    hist = model.fit(x, y, batch_size=64, epochs=args.epochs, verbose=2)
    losses = hist.history["loss"]
    with open(os.path.join(args.out, "result.json"), "w") as f:
        json.dump({"framework": "tensorflow", "first_loss": losses[0], "last_loss": losses[-1],
                   "tensorflow": tf.__version__}, f)


if __name__ == "__main__":
    main()
