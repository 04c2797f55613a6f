"""Deep-learning components of the pipeline designer (spec 10 §2): every Keras layer of the
manual as a table row mapped onto keras.layers.<Class>, the base networks (keras.applications,
random initialisation: ImageNet weights cannot be downloaded here), Custom model, Model training
with the [TRAIN] group and TensorBoard. Runs on Keras 3 with KERAS_BACKEND=torch (no TensorFlow).

Property keys are the Keras constructor's own keyword arguments; where Keras 3 dropped one
(`input_shape` on layers, BatchNormalization `fused`/`adjustment`, Embedding `input_length`) the
row maps it to None (kept in the document, not passed) or the job side turns it into what
Keras 3 expects (an Input layer in front). Job-side code: plugins.pipelines.keras.run.
"""

from __future__ import annotations

from typing import Any

from core.hookspecs import hookimpl
from core.pipelines.components import Component, inp, out, prop

RUN = "plugins.pipelines.keras.run"
ENV = {"KERAS_BACKEND": "torch"}
DESIGN = "Model design"

ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear", "softmax", "softplus", "softsign", "hard_sigmoid", "exponential",
               "elu", "selu", "gelu", "swish")
INITIALIZERS = ("random_normal", "random_uniform", "truncated_normal", "identity", "lecun_uniform", "lecun_normal",
                "orthogonal", "zeros", "glorot_normal", "glorot_uniform", "he_normal", "he_uniform", "ones")
CONSTRAINTS = ("max_norm", "non_neg", "unit_norm", "min_max_norm")
FORMAT = prop("str", "channels_last", "Data Format", enum=("channels_last", "channels_first"), nullable=False)
INPUT_SHAPE = prop("shape", None, "Input Shape", description="only for the first layer, e.g. (12,)")


def act(default: str | None = None, title: str = "Activation") -> dict[str, Any]:
    return prop("str", default, title, enum=ACTIVATIONS, description="None = linear")


def init(default: str) -> dict[str, Any]:
    return prop("str", default, enum=INITIALIZERS, nullable=False)


def reg() -> dict[str, Any]:
    return prop("str", None, description="l1(0.01), l2(0.01), l1_l2(l1=0.01, l2=0.01) or None")


def con() -> dict[str, Any]:
    return prop("str", None, enum=CONSTRAINTS)


def weights(prefix: str = "kernel") -> dict[str, Any]:
    """[W]: bias, initializers, regularizers and constraints of a weighted layer."""
    return {"use_bias": prop("bool", True, "Use Bias", nullable=False),
            f"{prefix}_initializer": init("glorot_uniform"), "bias_initializer": init("zeros"),
            f"{prefix}_regularizer": reg(), "bias_regularizer": reg(), "activity_regularizer": reg(),
            f"{prefix}_constraint": con(), "bias_constraint": con()}


def recurrent(units: int, gated: bool, forget: bool = False, cell: bool = False) -> dict[str, Any]:
    d: dict[str, Any] = {"units": prop("int", units, "Units", minimum=1, nullable=False), "activation": act("tanh")}
    if gated:
        d["recurrent_activation"] = act("sigmoid", "Recurrent Activation")
    d.update({"use_bias": prop("bool", True, nullable=False), "kernel_initializer": init("glorot_uniform"),
              "recurrent_initializer": init("orthogonal"), "bias_initializer": init("zeros"),
              "kernel_regularizer": reg(), "recurrent_regularizer": reg(), "bias_regularizer": reg(),
              "kernel_constraint": con(), "recurrent_constraint": con(), "bias_constraint": con(),
              "dropout": prop("float", 0.0, minimum=0, maximum=1), "recurrent_dropout": prop("float", 0.0, minimum=0,
                                                                                             maximum=1)})
    if forget:
        d["unit_forget_bias"] = prop("bool", True, nullable=False)
    if not cell:
        d["activity_regularizer"] = reg()
        d.update({k: prop("bool", False, nullable=False) for k in
                  ("return_sequences", "return_state", "go_backwards", "stateful", "unroll")})
        d["input_shape"] = INPUT_SHAPE
    return d


def conv(dims: int, transpose: bool = False) -> dict[str, Any]:
    k = 2 if dims == 1 else [2] * dims
    one = 1 if dims == 1 else [1] * dims
    d = {"filters": prop("int", 32, "Filters", minimum=1, nullable=False),
         "kernel_size": prop("tuple", k, "Kernel Size", nullable=False),
         "strides": prop("tuple", one, "Strides", nullable=False),
         "padding": prop("str", "valid", "Padding",
                         enum=("valid", "same", "causal") if dims == 1 else ("valid", "same"),
                         nullable=False),
         "data_format": FORMAT, "dilation_rate": prop("tuple", one, "Dilation Rate", nullable=False),
         "activation": act()}
    if transpose:
        d["output_padding"] = prop("tuple", None, "Output Padding")
    return {**d, **weights(), "input_shape": INPUT_SHAPE}


def pool(dims: int, global_: bool = False) -> dict[str, Any]:
    if global_:
        return {"data_format": FORMAT}
    size = 2 if dims == 1 else [2] * dims
    return {"pool_size": prop("tuple", size, "Pool Size", nullable=False), "strides": prop("tuple", None, "Strides"),
            "padding": prop("str", "valid", "Padding", enum=("valid", "same"), nullable=False), "data_format": FORMAT}


def attention() -> dict[str, Any]:
    return {"use_scale": prop("bool", True, nullable=False), "dropout": prop("float", 0.0, minimum=0, maximum=1),
            "causal": prop("bool", False, description="mask future positions (the manual prints True; Keras: "
                                                      "a call argument use_causal_mask)")}


# Layer rows: class name -> (group, properties, {property: kwarg or None}, inputs: "one" | "many" | "none")
LAYERS: dict[str, tuple[str, dict[str, Any], dict[str, str | None], str]] = {
    "Input": ("Model framework", {"shape": prop("shape", [32], "shape", nullable=False,
                                                description="e.g. (32,); None for a dimension of unknown size"),
                                  "batch_size": prop("int", None), "name": prop("str", None),
                                  "dtype": prop("str", None), "sparse": prop("bool", False),
                                  "tensor": prop("str", None, description="not supported in the designer"),
                                  "ragged": prop("bool", False)}, {"tensor": None}, "none"),
    "Dense": ("Core layers", {"units": prop("int", 32, "Units", minimum=1, nullable=False), "activation": act(),
                              **weights(), "input_shape": INPUT_SHAPE}, {}, "one"),
    "Activation": ("Core layers", {"activation": act("relu")}, {}, "one"),
    "Dropout": ("Core layers", {"rate": prop("float", 0.0, "Dropout Rate", minimum=0, maximum=1, nullable=False),
                                "noise_shape": prop("shape", None), "seed": prop("int", None)}, {}, "one"),
    "Reshape": ("Core layers", {"target_shape": prop("shape", [3, 4], "Target Shape", nullable=False),
                                "input_shape": INPUT_SHAPE}, {}, "one"),
    "LeakyReLU": ("Core layers", {"negative_slope": prop("float", 0.3, "alpha", minimum=0)}, {}, "one"),
    "Embedding": ("Core layers", {"input_dim": prop("int", 1000, "Input Dim", minimum=1, nullable=False),
                                  "output_dim": prop("int", 64, "Output Dim", minimum=1, nullable=False),
                                  "embeddings_initializer": prop("str", "uniform"),
                                  "embeddings_regularizer": reg(), "activity_regularizer": reg(),
                                  "embeddings_constraint": con(), "mask_zero": prop("bool", False),
                                  "input_length": prop("int", None, description="not in Keras 3: give Input shape")},
                  {"input_length": None}, "one"),
    "Masking": ("Core layers", {"mask_value": prop("float", 0.0, "Mask value"), "input_shape": INPUT_SHAPE}, {}, "one"),
    "Lambda": ("Core layers", {"function": prop("str", "fn", "function", description="name of the function defined "
                                                "below"), "output_shape": prop("shape", None),
                               "arguments": prop("dict", None),
                               "code": prop("code", "def fn(x):\n    return x\n", "Function definition")},
               {"function": None, "code": None}, "one"),
    "Concatenate": ("Merge layers", {"axis": prop("int", -1, nullable=False)}, {}, "many"),
    "Add": ("Merge layers", {}, {}, "many"),
    "Multiply": ("Merge layers", {}, {}, "many"),
    "Flatten": ("Core layers", {"data_format": FORMAT}, {}, "one"),
    "RepeatVector": ("Core layers", {"n": prop("int", 1, "Number of Repeat", minimum=1, nullable=False,
                                                description="the manual prints 0, which repeats nothing")}, {}, "one"),
    "TimeDistributed": ("Wrappers", {"input_shape": INPUT_SHAPE}, {}, "one"),
    "Bidirectional": ("Wrappers", {"merge_mode": prop("str", "concat", enum=("sum", "mul", "concat", "ave")),
                                   "input_shape": INPUT_SHAPE}, {}, "one"),
    "Conv1D": ("Convolution layers", conv(1), {}, "one"),
    "Conv2D": ("Convolution layers", conv(2), {}, "one"),
    "Conv2DTranspose": ("Convolution layers", conv(2, True), {}, "one"),
    "Conv3D": ("Convolution layers", conv(3), {}, "one"),
    "Conv3DTranspose": ("Convolution layers", conv(3, True), {}, "one"),
    "DepthwiseConv2D": ("Convolution layers", {"kernel_size": prop("tuple", [2, 2], nullable=False),
                                               "strides": prop("tuple", [1, 1], nullable=False),
                                               "padding": prop("str", "valid", enum=("valid", "same"), nullable=False),
                                               "data_format": FORMAT, "depth_multiplier": prop("int", 1, minimum=1),
                                               "activation": act(), **weights("depthwise")}, {}, "one"),
    "SeparableConv2D": ("Convolution layers", {"filters": prop("int", 32, minimum=1, nullable=False),
                                               "kernel_size": prop("tuple", [2, 2], nullable=False),
                                               "strides": prop("tuple", [1, 1], nullable=False),
                                               "padding": prop("str", "valid", enum=("valid", "same"), nullable=False),
                                               "data_format": FORMAT, "dilation_rate": prop("tuple", [1, 1]),
                                               "depth_multiplier": prop("int", 1, minimum=1), "activation": act(),
                                               **weights("depthwise"), "pointwise_initializer": init("glorot_uniform"),
                                               "pointwise_constraint": con()}, {}, "one"),
    "ZeroPadding1D": ("Padding and cropping", {"padding": prop("tuple", 1, "Padding", nullable=False)}, {}, "one"),
    "ZeroPadding2D": ("Padding and cropping", {"padding": prop("tuple", [1, 1], "Padding", nullable=False),
                                               "data_format": FORMAT}, {}, "one"),
    "Cropping1D": ("Padding and cropping", {"cropping": prop("tuple", [1, 1], "Cropping", nullable=False)}, {}, "one"),
    "Cropping2D": ("Padding and cropping", {"cropping": prop("tuple", [[0, 0], [0, 0]], "Cropping", nullable=False),
                                            "data_format": FORMAT}, {}, "one"),
    "Cropping3D": ("Padding and cropping", {"cropping": prop("tuple", [[1, 1], [1, 1], [1, 1]], "Cropping",
                                                             nullable=False), "data_format": FORMAT}, {}, "one"),
    "UpSampling1D": ("Padding and cropping", {"size": prop("int", 2, "UpSampling Size", minimum=1)}, {}, "one"),
    "UpSampling2D": ("Padding and cropping", {"size": prop("tuple", [2, 2], "UpSampling Size", nullable=False),
                                              "data_format": FORMAT,
                                              "interpolation": prop("str", "nearest", enum=("nearest", "bilinear"),
                                                                    nullable=False)}, {}, "one"),
    "UpSampling3D": ("Padding and cropping", {"size": prop("tuple", [2, 2, 2], "UpSampling Size", nullable=False),
                                              "data_format": FORMAT}, {}, "one"),
    "MaxPooling1D": ("Pooling", pool(1), {}, "one"),
    "MaxPooling2D": ("Pooling", pool(2), {}, "one"),
    "MaxPooling3D": ("Pooling", pool(3), {}, "one"),
    "AveragePooling1D": ("Pooling", pool(1), {}, "one"),
    "AveragePooling2D": ("Pooling", pool(2), {}, "one"),
    "AveragePooling3D": ("Pooling", pool(3), {}, "one"),
    "GlobalAveragePooling1D": ("Pooling", pool(1, True), {}, "one"),
    "GlobalAveragePooling2D": ("Pooling", pool(2, True), {}, "one"),
    "GlobalAveragePooling3D": ("Pooling", pool(3, True), {}, "one"),
    "GlobalMaxPooling1D": ("Pooling", pool(1, True), {}, "one"),
    "GlobalMaxPooling2D": ("Pooling", pool(2, True), {}, "one"),
    "GlobalMaxPooling3D": ("Pooling", pool(3, True), {}, "one"),
    "BatchNormalization": ("Normalisation", {
        "axis": prop("int", -1, "Axis", nullable=False), "momentum": prop("float", 0.99, "Momentum"),
        "epsilon": prop("float", 0.001, "Epsilon"), "center": prop("bool", True, "Center", nullable=False),
        "scale": prop("bool", True, "Scale", nullable=False), "beta_initializer": init("zeros"),
        "gamma_initializer": init("ones"), "moving_mean_initializer": init("zeros"),
        "moving_variance_initializer": init("ones"), "beta_regularizer": reg(), "gamma_regularizer": reg(),
        "beta_constraint": con(), "gamma_constraint": con(), "renorm": prop("bool", False),
        "renorm_clipping": prop("dict", None), "renorm_momentum": prop("float", 0.99),
        "fused": prop("bool", None, description="not in Keras 3: ignored"), "trainable": prop("bool", True),
        "virtual_batch_size": prop("int", None, description="not in Keras 3: ignored"),
        "adjustment": prop("str", None, description="not in Keras 3: ignored"), "name": prop("str", None)},
        {"fused": None, "virtual_batch_size": None, "adjustment": None}, "one"),
    "SimpleRNN": ("Recurrent layers", recurrent(8, False), {}, "one"),
    "GRU": ("Recurrent layers", {**recurrent(8, True), "reset_after": prop("bool", True, nullable=False,
                                                                           description="the manual prints False"),
                                 "implementation": prop("int", 2, enum=(1, 2), description="ignored by Keras 3")},
            {"implementation": None}, "one"),
    "LSTM": ("Recurrent layers", {**recurrent(8, True, forget=True),
                                  "implementation": prop("int", 2, enum=(1, 2), description="ignored by Keras 3")},
             {"implementation": None}, "one"),
    "ConvLSTM2D": ("Recurrent layers", {
        "filters": prop("int", 32, minimum=1, nullable=False), "kernel_size": prop("tuple", [2, 2], nullable=False),
        "strides": prop("tuple", [1, 1], nullable=False),
        "padding": prop("str", "valid", enum=("valid", "same"), nullable=False), "data_format": FORMAT,
        "dilation_rate": prop("tuple", [1, 1]), "activation": act("tanh"),
        "recurrent_activation": act("sigmoid", "Recurrent Activation"), **weights(),
        "recurrent_initializer": init("orthogonal"), "unit_forget_bias": prop("bool", True, nullable=False),
        "return_sequences": prop("bool", False, nullable=False), "go_backwards": prop("bool", False, nullable=False),
        "stateful": prop("bool", False, nullable=False), "dropout": prop("float", 0.0),
        "recurrent_dropout": prop("float", 0.0)}, {}, "one"),
    "SimpleRNNCell": ("Recurrent cells", recurrent(16, False, cell=True), {}, "cell"),
    "GRUCell": ("Recurrent cells", {**recurrent(16, True, cell=True), "reset_after": prop("bool", True)}, {}, "cell"),
    "LSTMCell": ("Recurrent cells", recurrent(8, True, forget=True, cell=True), {}, "cell"),
    "CuDNNGRU": ("Recurrent layers", recurrent(8, True), {}, "one"),
    "CuDNNLSTM": ("Recurrent layers", recurrent(8, True, forget=True), {}, "one"),
    "Attention": ("Attention", attention(), {"causal": None}, "many"),
    "AdditiveAttention": ("Attention", attention(), {"causal": None}, "many"),
    "MultiHeadAttention": ("Attention", {
        "num_heads": prop("int", 2, minimum=1, nullable=False), "key_dim": prop("int", 2, minimum=1, nullable=False),
        "value_dim": prop("int", None), "dropout": prop("float", 0.0), "use_bias": prop("bool", True, nullable=False),
        "output_shape": prop("shape", None), "attention_axes": prop("shape", None),
        "kernel_initializer": init("glorot_uniform"), "bias_initializer": init("zeros"),
        "kernel_regularizer": reg(), "bias_regularizer": reg(), "activity_regularizer": reg(),
        "kernel_constraint": con(), "bias_constraint": con()}, {}, "many"),
}

# Keras 3 has no CuDNN layers: GRU and LSTM pick cuDNN themselves on a GPU.
KERAS_CLASS = {"CuDNNGRU": "GRU", "CuDNNLSTM": "LSTM"}
UI_ONLY_ANYWHERE = ("input_shape",)  # turned into an Input layer in front by the job side

# keras.applications, random initialisation only.
# name -> (function, default input_shape for a small from-scratch run, has classifier_activation, extras)
APPLICATIONS: dict[str, tuple[str, tuple[int, int, int], bool, dict[str, Any]]] = {
    "densenet": ("DenseNet121", (32, 32, 3), False, {"version": prop("str", "DenseNet121",
                                                                     enum=("DenseNet121", "DenseNet169",
                                                                           "DenseNet201"))}),
    "efficientnet": ("EfficientNetB0", (32, 32, 3), True,
                     {"version": prop("str", "EfficientNetB0", enum=tuple(f"EfficientNetB{i}" for i in range(8)))}),
    "InceptionResNetV2": ("InceptionResNetV2", (75, 75, 3), True, {}),
    "InceptionV3": ("InceptionV3", (75, 75, 3), True, {}),
    "MobileNet": ("MobileNet", (32, 32, 3), True, {"alpha": prop("float", 1.0, minimum=0),
                                                   "depth_multiplier": prop("int", 1, minimum=1),
                                                   "dropout": prop("float", 1e-3, "Dropout")}),
    "MobileNetV2": ("MobileNetV2", (32, 32, 3), True, {"alpha": prop("float", 1.0, minimum=0)}),
    "nasnet": ("NASNetMobile", (32, 32, 3), False, {"version": prop("str", "NASNetMobile",
                                                                    enum=("NASNetMobile", "NASNetLarge"))}),
    "resnet": ("ResNet101", (32, 32, 3), False, {"version": prop("str", "ResNet101",
                                                                 enum=("ResNet50", "ResNet101", "ResNet152"))}),
    "resnet_v2": ("ResNet101V2", (32, 32, 3), True, {"version": prop("str", "ResNet101V2",
                                                                     enum=("ResNet50V2", "ResNet101V2",
                                                                           "ResNet152V2"))}),
    "VGG16": ("VGG16", (32, 32, 3), True, {}),
    "VGG19": ("VGG19", (32, 32, 3), True, {}),
    "Xception": ("Xception", (71, 71, 3), True, {}),
}

LOSSES = ("sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy", "mean_squared_error",
          "mean_absolute_error", "mean_absolute_percentage_error", "mean_squared_logarithmic_error", "huber",
          "log_cosh", "hinge", "squared_hinge", "categorical_hinge", "kl_divergence", "poisson", "cosine_similarity")
METRICS = ("accuracy", "sparse_categorical_accuracy", "categorical_accuracy", "binary_accuracy",
           "top_k_categorical_accuracy",
           "mean_squared_error", "mean_absolute_error", "root_mean_squared_error", "AUC", "Precision", "Recall")
OPTIMIZERS = ("Adam", "SGD", "RMSprop", "Adadelta", "Adagrad", "Adamax", "Nadam", "Ftrl", "AdamW")
SCHEDULES = ("None", "CosineDecay", "CosineDecayRestarts", "ExponentialDecay", "InverseTimeDecay",
             "PiecewiseConstantDecay", "PolynomialDecay")


def train_props() -> dict[str, Any]:
    """The [TRAIN] group (spec 10 §0.3) with the manual's defaults (its errata noted)."""
    return {
        "epochs": prop("int", 100, "Epochs", minimum=1, nullable=False),
        "batch_size": prop("int", 32, "Batch size", minimum=1, nullable=False),
        "loss": prop("str", "sparse_categorical_crossentropy", "Loss function", enum=LOSSES, nullable=False),
        "custom_loss": prop("str", None, "Custom loss function", widget="custom-function", x_kind="loss",
                            description="a custom loss function (Custom functions); overrides Loss function"),
        "metrics": prop("list", ["accuracy"], "metrics", description="Keras metric names", x_choices=list(METRICS)),
        "custom_metrics": prop("list", [], "Custom metrics functions", widget="custom-function", x_kind="metric"),
        "optimizer": prop("str", "Adam", "Optimizer", enum=OPTIMIZERS, nullable=False),
        "lr_schedule": prop("str", "None", "LR schedule", enum=SCHEDULES, nullable=False),
        "learning_rate": prop("float", 0.001, minimum=0, maximum=1),
        "initial_learning_rate": prop("float", 0.1, minimum=0, maximum=1),
        "decay_steps": prop("int", 1, minimum=1), "alpha": prop("float", 0.0, minimum=0, maximum=1),
        "first_decay_steps": prop("int", 1, minimum=1), "t_mul": prop("float", 2.0, minimum=0),
        "m_mul": prop("float", 1.0, minimum=0), "decay_rate": prop("float", 0.5, minimum=0),
        "staircase": prop("bool", False), "boundaries": prop("list", [100000, 110000]),
        "values": prop("list", [1.0, 0.5, 0.1]), "end_learning_rate": prop("float", 0.0001, minimum=0,
                                                                          description="the manual prints 0.5"),
        "power": prop("float", 1.0, minimum=0), "cycle": prop("bool", False),
        "rho": prop("float", 0.95, minimum=0), "epsilon": prop("float", 1e-07, minimum=0),
        "initial_accumulator_value": prop("float", 0.1, minimum=0), "beta_1": prop("float", 0.9, minimum=0, maximum=1),
        "beta_2": prop("float", 0.999, minimum=0, maximum=1), "amsgrad": prop("bool", False),
        "centered": prop("bool", False), "momentum": prop("float", 0.0, minimum=0), "nesterov": prop("bool", False),
        "learning_rate_power": prop("float", -0.5, maximum=0, description="Ftrl (the manual's second beta_2)"),
        "l1_regularization_strength": prop("float", 0.0, minimum=0),
        "l2_regularization_strength": prop("float", 0.0, minimum=0),
        "l2_shrinkage_regularization_strength": prop("float", 0.0, minimum=0), "beta": prop("float", 0.0),
        "validation_split": prop("float", 0.0, minimum=0, maximum=0.99,
                                 description="used when the data has no validation rows"),
        "seed": prop("int", 0, "Random seed"),
    }


def _layer_components() -> list[Component]:
    comps = [Component("Sequential", "Sequential", DESIGN, f"{RUN}:sequential", group="Model framework",
                       description="starts a sequential model: connect layers after it",
                       outputs=(out("model", "model"),), target="keras.Sequential", env=ENV)]
    for name, (group, props, args, arity) in LAYERS.items():
        if arity == "none":
            inputs: tuple = ()
        elif arity == "many":
            inputs = (inp("input", "model", multiple=True),)
        else:
            inputs = (inp("input", "model", required=False),)
        comps.append(Component(
            name=name, title=name, category=DESIGN, group=group, run=f"{RUN}:layer",
            description=f"keras.layers.{KERAS_CLASS.get(name, name)}", inputs=inputs,
            outputs=(out("model", "model"),), properties=props, target=f"keras.layers.{KERAS_CLASS.get(name, name)}",
            args={**{k: None for k in UI_ONLY_ANYWHERE}, **args}, env=ENV,
            note="a cell is used inside an RNN layer: it is wrapped in keras.layers.RNN" if arity == "cell" else
            "wraps the layer connected before it" if group == "Wrappers" else ""))
    comps.append(Component(
        "custom_layer", "Custom layer", DESIGN, f"{RUN}:custom_layer", group="Core layers",
        inputs=(inp("input", "model", required=False),), outputs=(out("model", "model"),), env=ENV,
        properties={"layer_name": prop("str", "MyLayer", "Layer name"),
                    "script": prop("code", "import keras\n\n\nclass MyLayer(keras.layers.Layer):\n"
                                   "    def call(self, x):\n        return x\n", "Script")},
        required=("layer_name", "script")))
    return comps


def _application_components() -> list[Component]:
    comps = []
    for name, (fn, shape, has_act, extra) in APPLICATIONS.items():
        props = {**extra,
                 "include_top": prop("bool", True, nullable=False),
                 "weights": prop("str", None, "weights", enum=(None,),
                                 description="random initialisation; 'imagenet' cannot be downloaded on this site"),
                 "input_shape": prop("shape", list(shape), "input_shape", description="small images train from "
                                     "scratch here; the manual's ImageNet sizes work too"),
                 "pooling": prop("str", None, enum=("avg", "max")),
                 "classes": prop("int", 10, "classes", minimum=1, description="the manual's default 1000 is "
                                 "ImageNet's; set it to your number of classes")}
        if has_act:
            props["classifier_activation"] = prop("str", "softmax", enum=ACTIVATIONS)
        comps.append(Component(
            name=f"app_{name}", title=name, category=DESIGN, group="Base networks", run=f"{RUN}:application",
            description=f"keras.applications.{fn} (random initialisation)", outputs=(out("model", "model"),),
            properties=props, target=f"keras.applications.{fn}", args={"version": None}, env=ENV))
    return comps


def _training_components() -> list[Component]:
    data = inp("data", "table", "generator")
    return [
        Component("custom_model", "Custom model", DESIGN, f"{RUN}:custom_model", group="Model design",
                  outputs=(out("model", "model"),), env=ENV,
                  properties={"function": prop("str", "build_model", "Function name"),
                              "script": prop("code", "import keras\n\n\ndef build_model():\n"
                                             "    return keras.Sequential([keras.layers.Dense(10)])\n", "Script")},
                  required=("function", "script")),
        Component("model_training", "Model training", DESIGN, f"{RUN}:train", group="Model design",
                  description="compiles and fits the model on the training rows; logs every epoch's metrics",
                  inputs=(inp("model", "model", "trained"), data), outputs=(out("model", "trained"),),
                  properties={"model_name": prop("str", "model", "Model name", nullable=False), **train_props()},
                  env=ENV),
        Component("tensorboard", "TensorBoard", "Model result visualisation", f"{RUN}:tensorboard",
                  description="writes the training curves as TensorBoard event files into the instance data",
                  inputs=(inp("model", "trained"),), outputs=(),
                  properties={"histogram_freq": prop("int", 0, minimum=0), "write_graph": prop("bool", True),
                              "write_grads": prop("bool", False), "batch_size": prop("int", 32),
                              "write_images": prop("bool", False), "embeddings_freq": prop("int", 0),
                              "embeddings_layer_names": prop("list", None), "embeddings_metadata": prop("dict", None),
                              "embeddings_data": prop("str", None),
                              "update_freq": prop("any", "epoch", description="batch, epoch or an int")},
                  env=ENV, note="event files are written from the training history through PyTorch's SummaryWriter "
                                "(Keras's own callback needs TensorFlow)"),
    ]


def _vision_components() -> list[Component]:
    """§3.2 vision algorithms: present with their properties; only image classification trains
    from scratch here, the detectors and segmenters need weights or data this site cannot fetch."""
    base = {"model_name": prop("str", "", "Model name"), "epochs": prop("int", 100, "Epochs", minimum=1),
            "batch_size": prop("int", 32, "Batch size", minimum=1)}
    comps = [Component(
        "image_classification", "Image classification", "Algorithm library", f"{RUN}:image_classification",
        group="Vision algorithms", inputs=(inp("data", "generator", "images"),), outputs=(out("model", "trained"),),
        properties={**base, "visualisation_3d": prop("bool", False, "3D visualisation"),
                    "classification_model": prop("str", "VGG16", "Classification model", enum=tuple(APPLICATIONS)),
                    "weights": prop("str", None, enum=(None,), description="imagenet cannot be downloaded here"),
                    "input_shape": prop("shape", [32, 32, 3]), "pooling": prop("str", None, enum=("avg",)),
                    "classes": prop("int", 10, minimum=1), **{k: v for k, v in train_props().items()
                                                              if k not in ("epochs", "batch_size")}},
        env=ENV, note="trains a keras.applications network from random initialisation")]
    det = {"ssd": "VOC2007", "yolov3": "coco", "yolov4": "coco", "yolov5": "coco", "m2det": "VOC2007",
           "faster_rcnn": "VOC2007", "centernet": "VOC2007", "maskrcnn": "coco", "Unet": "CamVid", "FPN": "CamVid",
           "PSPNet": "CamVid", "Linknet": "CamVid", "FaceNet": "CASIA-WebFace", "humanpose": "coco"}
    for name, weights_name in det.items():
        props = {**base, "weights": prop("str", None, enum=(None, weights_name)),
                 "learningrate": prop("float", 0.001, minimum=0, maximum=1)}
        if name in ("yolov5", "centernet", "faster_rcnn", "Unet", "FPN", "PSPNet", "Linknet", "FaceNet"):
            props["backbone"] = prop("str", {"faster_rcnn": "resnet50", "FaceNet": "mobilenet"}.get(name, "vgg16"))
        if name in ("Unet", "FPN", "PSPNet", "Linknet"):
            props["CLASSES"] = prop("list", ["Car", "Pedestrian"])
        if name == "FaceNet":
            props["batch_size"] = prop("int", 24, "Batch size", minimum=3, description="a multiple of 3")
            props["optimizer"] = prop("str", "Adam", enum=OPTIMIZERS)
        comps.append(Component(
            name, name, "Algorithm library", f"{RUN}:unavailable", group="Vision algorithms",
            inputs=(inp("data", "images", "generator"),), outputs=(out("model", "trained"),), properties=props,
            unavailable=f"{name} needs its reference implementation with {weights_name} weights or an annotated "
                        f"{weights_name} data set; neither can be fetched on this site"))
    comps.append(Component(
        "meshgraphnets", "meshgraphnets", "Algorithm library", f"{RUN}:unavailable", group="Simulation algorithms",
        inputs=(inp("data", "files", "table"),), outputs=(out("model", "trained"),),
        properties={"model_name": prop("str", ""), "weights": prop("str", None, enum=(None, "w1")),
                    **{k: prop("int", None, minimum=1) for k in ("epochs", "batch_size", "latent_size", "mlp_layers",
                                                                 "message_passing_steps", "forward_only_steps",
                                                                 "max_adapt")},
                    **{k: prop("float", None, minimum=0) for k in ("initial_lr", "end_lr", "power", "epsilon")},
                    "decay_steps": prop("int", None, minimum=1)},
        unavailable="meshgraphnets needs CFD simulation meshes (Fluent/CFD++ results) this machine does not have"))
    return comps


@hookimpl
def hpcai_pipeline_components() -> list[Component]:
    return [*_layer_components(), *_application_components(), *_training_components(), *_vision_components()]
