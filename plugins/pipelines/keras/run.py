"""Job-side code of the Keras components (Keras 3, KERAS_BACKEND=torch).

A `model` port carries a Net: either a sequential list of layers or a functional graph (Keras
tensors from an Input node). Model training turns it into a keras.Model, compiles it with the
[TRAIN] properties and fits it on the training rows, logging every epoch's metrics.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.pipelines.runner import Step, StepError, target
from core.pipelines.values import Table, Trained


@dataclass
class Net:
    layers: list[Any] = field(default_factory=list)  # sequential
    tensor: Any = None  # functional: the current output tensor
    inputs: list[Any] = field(default_factory=list)
    model: Any = None  # a ready keras.Model (base network, custom model)


def _reg(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    import keras

    m = re.fullmatch(r"\s*(l1|l2|l1_l2)\s*\((.*)\)\s*", text)
    if not m:
        raise StepError(f"regularizer {text!r}: write l1(0.01), l2(0.01) or l1_l2(l1=0.01, l2=0.01)")
    args = dict(a.split("=") for a in m.group(2).split(",") if "=" in a)
    if m.group(1) == "l1_l2":
        return keras.regularizers.L1L2(l1=float(args.get("l1", 0.01)), l2=float(args.get("l2", 0.01)))
    value = float(m.group(2) or 0.01)
    return keras.regularizers.L1(value) if m.group(1) == "l1" else keras.regularizers.L2(value)


def layer_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in kwargs.items():
        if k.endswith("_regularizer"):
            v = _reg(v)
        out[k] = v
    return out


def build_layer(step: Step) -> Any:
    cls = target(step.target)
    kwargs = layer_kwargs(step.kwargs)
    if step.component == "Lambda":
        kwargs["function"] = _user_code(step, step.props["code"], step.props["function"])
    if step.component.endswith("Cell"):
        return target("keras.layers.RNN")(cls(**kwargs))
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise StepError(f"{step.title}: {exc}") from exc


def sequential(step: Step) -> dict[str, Any]:
    return {"model": Net()}


def layer(step: Step) -> dict[str, Any]:
    import keras

    prev: list[Net] = step.all("input")
    if step.component == "Input":
        kw = {k: v for k, v in step.kwargs.items() if k in ("shape", "batch_size", "name", "dtype", "sparse", "ragged")}
        kw["shape"] = tuple(kw.get("shape") or ())
        tensor = keras.Input(**kw)
        return {"model": Net(tensor=tensor, inputs=[tensor])}
    if step.component in ("TimeDistributed", "Bidirectional"):
        net = prev[0] if prev else None
        if net is None or not net.layers:
            raise StepError(f"{step.title} wraps the layer connected before it in a Sequential chain")
        inner = net.layers[-1]
        kw = {"merge_mode": step.kwargs.get("merge_mode", "concat")} if step.component == "Bidirectional" else {}
        return {"model": Net(layers=[*net.layers[:-1], target(step.target)(inner, **kw)])}
    lay = build_layer(step)
    shape = step.props.get("input_shape")
    if not prev:  # the first layer of a chain
        start = [keras.Input(shape=tuple(shape))] if shape else []
        return {"model": Net(layers=[*start, lay])}
    if len(prev) == 1 and prev[0].tensor is None:
        net = prev[0]
        start = [keras.Input(shape=tuple(shape))] if shape and not net.layers else []
        return {"model": Net(layers=[*net.layers, *start, lay])}
    tensors = [n.tensor if n.tensor is not None else None for n in prev]
    if any(t is None for t in tensors):
        raise StepError(f"{step.title}: mixing a Sequential chain and an Input graph; start both from Input")
    inputs = [t for n in prev for t in n.inputs]
    if step.component in ("Attention", "AdditiveAttention", "MultiHeadAttention"):
        out = lay(*tensors) if step.component == "MultiHeadAttention" else lay(tensors)
    else:
        out = lay(tensors if len(tensors) > 1 or step.component in ("Concatenate", "Add", "Multiply") else tensors[0])
    return {"model": Net(tensor=out, inputs=list(dict.fromkeys(inputs)))}


def _user_code(step: Step, script: str, name: str) -> Any:
    ns: dict[str, Any] = {}
    exec(compile(script, f"<{step.title} {step.id}>", "exec"), ns)
    if name not in ns:
        raise StepError(f"the script defines no {name!r} (the name must match)")
    return ns[name]


def custom_layer(step: Step) -> dict[str, Any]:
    lay = _user_code(step, step.props["script"], step.props["layer_name"])()
    prev = step.input("input")
    return {"model": Net(layers=[*(prev.layers if prev else []), lay])}


def custom_model(step: Step) -> dict[str, Any]:
    return {"model": Net(model=_user_code(step, step.props["script"], step.props["function"])())}


def application(step: Step) -> dict[str, Any]:
    version = step.props.get("version")
    fn = target(f"keras.applications.{version}") if version else target(step.target)
    kw = dict(step.kwargs)
    kw["input_shape"] = tuple(kw["input_shape"]) if kw.get("input_shape") else None
    kw.setdefault("weights", None)
    try:
        return {"model": Net(model=fn(**kw))}
    except (TypeError, ValueError) as exc:
        raise StepError(f"{step.title}: {exc}") from exc


def to_model(net: Net) -> Any:
    import keras

    if net.model is not None:
        return net.model
    if net.tensor is not None:
        return keras.Model(inputs=net.inputs if len(net.inputs) > 1 else net.inputs[0], outputs=net.tensor)
    if not net.layers:
        raise StepError("the model has no layers: connect layers after Sequential")
    return keras.Sequential(net.layers)


def optimizer(props: dict[str, Any]) -> Any:
    import keras

    sched = props.get("lr_schedule") or "None"
    lr: Any = props.get("learning_rate") or 0.001
    s = keras.optimizers.schedules
    if sched == "CosineDecay":
        lr = s.CosineDecay(props["initial_learning_rate"], props["decay_steps"], alpha=props["alpha"])
    elif sched == "CosineDecayRestarts":
        lr = s.CosineDecayRestarts(props["initial_learning_rate"], props["first_decay_steps"], t_mul=props["t_mul"],
                                   m_mul=props["m_mul"], alpha=props["alpha"])
    elif sched == "ExponentialDecay":
        lr = s.ExponentialDecay(props["initial_learning_rate"], props["decay_steps"], props["decay_rate"],
                                staircase=bool(props["staircase"]))
    elif sched == "InverseTimeDecay":
        lr = s.InverseTimeDecay(props["initial_learning_rate"], props["decay_steps"], props["decay_rate"],
                                staircase=bool(props["staircase"]))
    elif sched == "PiecewiseConstantDecay":
        if len(props["values"]) != len(props["boundaries"]) + 1:
            raise StepError("PiecewiseConstantDecay: values needs one element more than boundaries")
        lr = s.PiecewiseConstantDecay(props["boundaries"], props["values"])
    elif sched == "PolynomialDecay":
        lr = s.PolynomialDecay(props["initial_learning_rate"], props["decay_steps"], props["end_learning_rate"],
                               power=props["power"], cycle=bool(props["cycle"]))
    name = props.get("optimizer") or "Adam"
    per = {"Adam": ("beta_1", "beta_2", "epsilon", "amsgrad"), "AdamW": ("beta_1", "beta_2", "epsilon", "amsgrad"),
           "Adamax": ("beta_1", "beta_2", "epsilon"), "Nadam": ("beta_1", "beta_2", "epsilon"),
           "SGD": ("momentum", "nesterov"), "RMSprop": ("rho", "momentum", "epsilon", "centered"),
           "Adadelta": ("rho", "epsilon"), "Adagrad": ("initial_accumulator_value", "epsilon"),
           "Ftrl": ("learning_rate_power", "initial_accumulator_value", "l1_regularization_strength",
                    "l2_regularization_strength", "l2_shrinkage_regularization_strength", "beta")}[name]
    kw = {k: props[k] for k in per if props.get(k) is not None}
    return getattr(keras.optimizers, name)(learning_rate=lr, **kw)


def _loss_and_metrics(step: Step) -> tuple[Any, list[Any]]:
    import keras

    loss: Any = step.props["loss"]
    if step.props.get("custom_loss"):
        fn = step.ctx.custom_function(step.props["custom_loss"])
        loss = fn() if isinstance(fn, type) else fn
    metrics: list[Any] = []
    for m in step.props.get("metrics") or []:
        metrics.append(getattr(keras.metrics, m)() if m[:1].isupper() else m)
    for name in step.props.get("custom_metrics") or []:
        fn = step.ctx.custom_function(name)
        metrics.append(fn() if isinstance(fn, type) else fn)
    return loss, metrics


def _xy(data: Any, part: str | None, classes: list[Any] | None) -> tuple[np.ndarray, np.ndarray | None]:
    X = data.X(part).to_numpy(dtype="float32")
    y = data.y(part)
    if y is None:
        return X, None
    y = y.to_numpy()
    if classes is not None:
        index = {c: i for i, c in enumerate(classes)}
        y = np.array([index[v] for v in y])
    return X, y.astype("float32") if classes is None else y


class _EpochLogger:
    """A Keras callback that logs every epoch's metrics to MLflow (through the run context)."""

    def __new__(cls, step: Step) -> Any:
        import keras

        class Logger(keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
                for k, v in (logs or {}).items():
                    step.ctx.log_metric(k, float(v), step=epoch)
                print(f"[pipeline] {step.id}: epoch {epoch + 1}: "
                      + " ".join(f"{k}={float(v):.4f}" for k, v in (logs or {}).items()), flush=True)

        return Logger()


def train(step: Step) -> dict[str, Any]:
    import keras

    keras.utils.set_random_seed(int(step.props.get("seed") or 0))
    src = step.input("model")
    model = src.model if isinstance(src, Trained) else to_model(src)
    data = step.input("data")
    loss, metrics = _loss_and_metrics(step)
    labels = data.y() if isinstance(data, Table) and data.labels else None
    numeric = labels is not None and np.issubdtype(np.asarray(labels).dtype, np.number)
    classify = (isinstance(loss, str) and "sparse_categorical" in loss) or (labels is not None and not numeric)
    model.compile(optimizer=optimizer(step.props), loss=loss, metrics=metrics)
    cb = [_EpochLogger(step)]
    epochs, batch = int(step.props["epochs"]), int(step.props["batch_size"])
    if isinstance(data, dict) and "generator" in data:  # an image generator
        history = model.fit(data["generator"], epochs=epochs, callbacks=cb, verbose=2)
        classes = data["classes"]
        rescale = data.get("rescale")
        table = None
    else:
        table, rescale = data, None
        if not isinstance(table, Table) or not table.labels:
            raise StepError("Model training needs data with labels (Select features before it)")
        classes = sorted(set(table.y().tolist()), key=str) if classify else None
        part = "train" if table.has("train") else None
        X, y = _xy(table, part, classes)
        val = _xy(table, "val", classes) if table.has("val") else None
        history = model.fit(X, y, epochs=epochs, batch_size=batch, validation_data=val,
                            validation_split=0.0 if val else float(step.props.get("validation_split") or 0.0),
                            callbacks=cb, verbose=2)
    path = step.dir / f"{step.props.get('model_name') or 'model'}.keras"
    model.save(path)
    (step.dir / "history.json").write_text(json.dumps(history.history))

    def predict(features: Any) -> np.ndarray:
        out = model.predict(np.asarray(features, dtype="float32"), verbose=0)
        if classes is not None:
            return np.array([classes[i] for i in out.argmax(axis=-1)])
        return out.reshape(len(out), -1)[:, 0] if out.ndim > 1 and out.shape[-1] == 1 else out

    return {"model": Trained(model, "keras", "classification" if classes is not None else "regression",
                             step.props.get("model_name") or "model", predict, table, str(path),
                             {"history": history.history, "epochs": epochs, "classes": classes,
                              "rescale": rescale})}


def image_classification(step: Step) -> dict[str, Any]:
    data = step.input("data")
    if not isinstance(data, dict) or "generator" not in data:
        raise StepError("Image classification takes the output of a classification augmentation component")
    name = step.props["classification_model"]
    fn = target(f"keras.applications.{_APP_FN.get(name, name)}")
    shape = tuple(step.props.get("input_shape") or data["x"].shape[1:])
    net = Net(model=fn(weights=None, input_shape=shape, classes=len(data["classes"]),
                       include_top=True, pooling=step.props.get("pooling")))
    step.inputs["model"] = [net]
    step.props.setdefault("loss", "sparse_categorical_crossentropy")
    return train(step)


_APP_FN = {"densenet": "DenseNet121", "efficientnet": "EfficientNetB0", "nasnet": "NASNetMobile", "resnet": "ResNet101",
           "resnet_v2": "ResNet101V2"}


def tensorboard(step: Step) -> dict[str, Any]:
    """Training curves as TensorBoard event files (instance data/tensorboard)."""
    from torch.utils.tensorboard import SummaryWriter

    model: Trained = step.input("model")
    history = model.info.get("history") or {}
    logdir = step.ctx.run_dir / "tensorboard"
    writer = SummaryWriter(str(logdir))
    for name, values in history.items():
        for epoch, value in enumerate(values):
            writer.add_scalar(name, float(value), epoch)
    writer.close()
    print(f"[pipeline] {step.id}: TensorBoard logs in {logdir}", flush=True)
    return {}


def unavailable(step: Step) -> dict[str, Any]:
    raise StepError(f"{step.title} cannot run on this site")
