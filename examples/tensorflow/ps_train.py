"""TensorFlow 2 parameter-server training on CPU, driven by TF_CONFIG (hpcai's PS mode).

ps and worker tasks run a tf.distribute.Server and wait; the chief (coordinator) builds a
ParameterServerStrategy + ClusterCoordinator (Keras 3's fit no longer supports it), trains a
linear model whose variables live on the parameter servers for a few steps on the workers,
and writes result.json into --out; the launcher then stops the servers and workers.
"""

import argparse
import json
import os
import sys

import tensorflow as tf


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--out", default=".")
    args = parser.parse_args()
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    task = resolver.task_type
    print(f"task {task}/{resolver.task_id} cluster {resolver.cluster_spec().as_dict()}", flush=True)
    if task in ("ps", "worker"):
        server = tf.distribute.Server(resolver.cluster_spec(), job_name=task, task_index=resolver.task_id,
                                      protocol="grpc", start=True)
        server.join()  # the launcher ends us when the chief is done
        return
    strategy = tf.distribute.ParameterServerStrategy(resolver)
    coordinator = tf.distribute.coordinator.ClusterCoordinator(strategy)
    with strategy.scope():  # variables live on the parameter servers
        w = tf.Variable(tf.zeros((16, 1)), name="w")
        b = tf.Variable(0.0, name="b")

    def dataset_fn():
        x = tf.random.stateless_normal((256, 16), seed=(1, 2))
        y = tf.reduce_sum(x, axis=1, keepdims=True)
        return tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(32)

    @tf.function
    def train_step(iterator):
        def replica_fn(x, y):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(tf.matmul(x, w) + b - y))
            gw, gb = tape.gradient(loss, [w, b])
            w.assign_sub(0.05 * gw)
            b.assign_sub(0.05 * gb)
            return loss

        x, y = next(iterator)
        return strategy.run(replica_fn, args=(x, y))

    iterator = iter(coordinator.create_per_worker_dataset(dataset_fn))
    losses = []
    for _ in range(args.steps):  # one step at a time so the losses come in order
        remote = coordinator.schedule(train_step, args=(iterator,))
        coordinator.join()
        losses.append(float(remote.fetch()))
        print(f"chief: step {len(losses) - 1} loss {losses[-1]:.4f}", flush=True)
    with open(os.path.join(args.out, "result.json"), "w") as f:
        json.dump({"framework": "tensorflow", "mode": "ps", "first_loss": float(losses[0]),
                   "last_loss": float(losses[-1]),
                   "workers": len(resolver.cluster_spec().as_dict().get("worker", [])),
                   "ps": len(resolver.cluster_spec().as_dict().get("ps", []))}, f)
    print("chief: training done", flush=True)
    sys.stdout.flush()
    os._exit(0)  # servers never return: the coordinator's exit ends the job


if __name__ == "__main__":
    main()
