"""The product's SDK sample 1 (spec 12 §C): a LeNet on MNIST with libaiflow autologging.

The libaiflow lines are the product's. It runs on Keras 3 with any backend (set KERAS_BACKEND=torch
to train with PyTorch, no TensorFlow needed); the tf.data pipeline became the same shuffling and
batching in fit(), `Adam(lr=)` became `learning_rate=` (Keras 3), the checkpoint is saved in the
Keras 3 format (.keras instead of .h5), and the TensorBoard callback is used only with the
tensorflow backend (it writes through tf.summary).
"""

import os

import keras
import numpy as np
from keras import layers

import libaiflow

libaiflow.init(experiment_name="mnist_tf2_cpu")
libaiflow.tensorflow.autolog()

with np.load(os.path.join("data", "mnist.npz")) as f:
    x_train, y_train = f["x_train"], f["y_train"]
    x_test, y_test = f["x_test"], f["y_test"]

x_train = (x_train / 255.0).astype("float32")[..., np.newaxis]
x_test = (x_test / 255.0).astype("float32")[..., np.newaxis]
y_train = keras.utils.to_categorical(y_train, 10)
y_test = keras.utils.to_categorical(y_test, 10)

model = keras.Sequential([
    keras.Input(shape=(28, 28, 1)),
    layers.Conv2D(6, 5, padding="same", activation="relu"),
    layers.MaxPooling2D(pool_size=2, strides=2),
    layers.Conv2D(16, 5, padding="same", activation="relu"),
    layers.MaxPooling2D(pool_size=2, strides=2),
    layers.Flatten(),
    layers.Dense(256, activation="relu"),
    layers.Dense(64, activation="relu"),
    layers.Dense(10),
])
model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01),
              loss=keras.losses.CategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])

os.makedirs("model", exist_ok=True)
callbacks = [keras.callbacks.ModelCheckpoint("./model/my_model.keras")]
if keras.backend.backend() == "tensorflow":
    callbacks.append(keras.callbacks.TensorBoard(log_dir="./logs"))

model.fit(x_train, y_train, batch_size=100, epochs=int(os.environ.get("EPOCHS", "2")), shuffle=True,
          validation_data=(x_test, y_test), validation_freq=1, callbacks=callbacks)
