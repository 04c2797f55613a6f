"""The product's auto-tuning example script (user manual §2.2.7.3, spec 03 §5.3), kept as close
to the original as Keras 3 allows so that it runs here without TensorFlow (KERAS_BACKEND=torch):

- `import keras` stands for `tensorflow.keras` (same layers, optimizers and callbacks);
- the data are small synthetic digit images (the manual reads ../data/mnist.npz);
- ModelCheckpoint writes `<n>.keras` (Keras 3 wants the extension) and the TensorBoard
  callback is used only when TensorFlow is installed (it writes through tf.summary).

TFKerasPruningCallback comes from the product's spelling libaiflow.intergration.callback and
falls back to Keras 3's callback API when TensorFlow is absent.
"""

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras as tfk  # noqa: E402  (tensorflow.keras in the manual)
import optuna  # noqa: E402

from libaiflow.intergration.callback import TFKerasPruningCallback  # noqa: E402


def parse_arg(args=None):
    parser = argparse.ArgumentParser(description='tensorflow MNIST Example')
    parser.add_argument('--filters', type=int, default=32,
                        help='number of the filters')
    parser.add_argument('--kernel_size', type=int, default=2,
                        help='number of the kernel size')
    parser.add_argument('--strides', type=int, default=1,
                        help='strides size')
    parser.add_argument('--activation', type=str, default='softmax',
                        help='activation function')
    parser.add_argument('--learning_rate', type=float, default=0.01,
                        help='learning rate (default: 0.01)')
    parser.add_argument('--trial', type=object,
                        default=optuna.trial._trial.Trial, help='trial')
    args = parser.parse_args(args)
    return args


def load_data():
    """Synthetic stand-in for mnist.npz: each class is a bright stripe at its own row."""
    import numpy as np

    rng = np.random.default_rng(0)

    def make(n):
        y = rng.integers(0, 10, n)
        x = rng.integers(0, 60, (n, 28, 28)).astype("uint8")
        for i, label in enumerate(y):
            x[i, 2 + 2 * label:4 + 2 * label, 4:24] = 255
        return x, y

    return make(800), make(300)


def main(args):
    from keras.backend import clear_session
    from keras.layers import Conv2D, Dense, Flatten
    from keras.models import Sequential
    from keras.optimizers import RMSprop
    clear_session()

    N_TRAIN_EXAMPLES = 600
    N_VALID_EXAMPLES = 200
    BATCHSIZE = 128
    CLASSES = 10
    EPOCHS = int(os.environ.get("TF_MNIST_EPOCHS", "3"))

    (x_train, y_train), (x_valid, y_valid) = load_data()
    img_x, img_y = x_train.shape[1], x_train.shape[2]
    x_train = x_train.reshape(-1, img_x, img_y, 1)[:N_TRAIN_EXAMPLES].astype("float32") / 255
    x_valid = x_valid.reshape(-1, img_x, img_y, 1)[:N_VALID_EXAMPLES].astype("float32") / 255
    y_train = y_train[:N_TRAIN_EXAMPLES]
    y_valid = y_valid[:N_VALID_EXAMPLES]
    input_shape = (img_x, img_y, 1)

    model = Sequential()
    model.add(tfk.Input(shape=input_shape))
    model.add(
        Conv2D(
            filters=args.filters, kernel_size=args.kernel_size,
            strides=args.strides, activation=args.activation,
        )
    )
    model.add(Flatten())
    model.add(Dense(CLASSES, activation="softmax"))
    model.compile(
        loss="sparse_categorical_crossentropy",
        optimizer=RMSprop(learning_rate=args.learning_rate),
        metrics=["accuracy"],
    )

    checkpoint_dir = 'model'
    if not os.path.exists(checkpoint_dir):
        os.makedirs(checkpoint_dir)

    logdir = os.path.join('logs', str(args.trial.number))
    checkpoint_prefix = os.path.join(checkpoint_dir, str(args.trial.number) + ".keras")

    callbacks = [
        tfk.callbacks.ModelCheckpoint(filepath=checkpoint_prefix, verbose=0, save_best_only=True),
        tfk.callbacks.EarlyStopping(patience=3),
        TFKerasPruningCallback(args.trial, 'val_accuracy'),  # auto-tuning pruning callback
    ]
    try:
        import tensorflow  # noqa: F401
        callbacks.insert(0, tfk.callbacks.TensorBoard(log_dir=logdir))
    except ImportError:
        pass
    model.fit(
        x_train,
        y_train,
        validation_data=(x_valid, y_valid),
        shuffle=True,
        batch_size=BATCHSIZE,
        epochs=EPOCHS,
        verbose=False,
        callbacks=callbacks,
    )
    score = model.evaluate(x_valid, y_valid, verbose=0)
    return score[1]


if __name__ == '__main__':
    args = parse_arg()
    main(args)
