"""Job-side code of Model evaluation and the prediction components."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from core.pipelines.runner import Step, StepError
from core.pipelines.values import Table, Trained


def _part(table: Table, wanted: str) -> str | None:
    if wanted == "all":
        return None
    if wanted != "auto":
        if not table.has(wanted):
            raise StepError(f"the data has no {wanted} rows (add a Data split before the model)")
        return wanted
    return next((p for p in ("test", "val") if table.has(p)), None)


def classification_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    from sklearn import metrics

    return {"accuracy": metrics.accuracy_score(y_true, y_pred),
            "precision_macro": metrics.precision_score(y_true, y_pred, average="macro", zero_division=0),
            "recall_macro": metrics.recall_score(y_true, y_pred, average="macro", zero_division=0),
            "f1_macro": metrics.f1_score(y_true, y_pred, average="macro", zero_division=0)}


def regression_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    from sklearn import metrics

    return {"mse": metrics.mean_squared_error(y_true, y_pred), "mae": metrics.mean_absolute_error(y_true, y_pred),
            "r2": metrics.r2_score(y_true, y_pred)}


def evaluate(step: Step) -> dict[str, Any]:
    from sklearn import metrics

    model: Trained = step.input("model")
    table: Table | None = step.input("data") or model.data
    if table is None:
        raise StepError("no data to evaluate on: connect a data input")
    part = _part(table, step.props.get("part", "auto"))
    X, y = table.X(part), table.y(part)
    pred = model.predict(X)
    report: dict[str, Any] = {"model": model.name, "task": model.task, "rows": part or "all", "n": int(len(X))}
    if model.task == "classification":
        if y is None:
            raise StepError("the data has no labels to evaluate against")
        values = classification_metrics(y, pred)
        labels = sorted(set(np.asarray(y).tolist()) | set(np.asarray(pred).tolist()), key=str)
        report["confusion_matrix"] = {"labels": [str(v) for v in labels],
                                      "matrix": metrics.confusion_matrix(y, pred, labels=labels).tolist()}
    elif model.task == "regression":
        if y is None:
            raise StepError("the data has no labels to evaluate against")
        values = regression_metrics(y, pred)
    else:
        values = {"silhouette": metrics.silhouette_score(X, pred)} if len(set(pred)) > 1 else {}
        values["clusters"] = float(len(set(pred.tolist())))
    report["metrics"] = {k: float(v) for k, v in values.items()}
    for k, v in report["metrics"].items():
        step.ctx.log_metric(k, v)
    (step.dir / "evaluation.json").write_text(json.dumps(report, indent=1))
    print(f"[pipeline] {step.id}: {model.name} on {report['rows']} rows: "
          + ", ".join(f"{k}={v:.4f}" for k, v in report["metrics"].items()), flush=True)
    return {"report": Table(pd.DataFrame([report["metrics"]]))}


def predict(step: Step) -> dict[str, Any]:
    model: Trained = step.input("model")
    images = step.input("images")
    if images is not None:
        return _predict_images(step, model, images)
    table: Table | None = step.input("data") or model.data
    if table is None:
        raise StepError("no data to predict: connect a data input")
    part = _part(table, "auto")
    frame = table.frame.loc[table.rows(part)].copy()
    frame["prediction"] = model.predict(table.X(part))
    path = step.dir / "predictions.csv"
    frame.to_csv(path, index=False)
    print(f"[pipeline] {step.id}: {len(frame)} predictions written to {path.name}", flush=True)
    return {"predictions": Table(frame)}


def custom_predict(step: Step) -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    exec(compile(step.props["script"], f"<{step.title} {step.id}>", "exec"), namespace)
    fn = namespace.get(step.props["function"])
    if not callable(fn):
        raise StepError(f"the script defines no function {step.props['function']!r}")
    model = step.input("model")
    table: Table | None = step.input("data") or (model.data if model else None)
    if table is None:
        raise StepError("no data to predict: connect a data input")
    frame = table.frame.copy()
    frame["prediction"] = list(fn(model.model if model else None, table.X()))
    frame.to_csv(step.dir / "predictions.csv", index=False)
    return {"predictions": Table(frame)}


def load_model(step: Step) -> dict[str, Any]:
    """The registry's file (resolved by the engine into model_path) loaded by its library."""
    from pathlib import Path

    path = Path(step.props.get("model_path") or "")
    if not path.is_file():
        raise StepError(f"model file {path} does not exist")
    if path.suffix == ".keras":
        import keras

        model = keras.saving.load_model(path)
        return {"model": Trained(model, "keras", step.props.get("task") or "regression", path.stem,
                                 lambda X: model.predict(np.asarray(X, dtype="float32"), verbose=0), None, str(path))}
    import joblib

    est = joblib.load(path)
    return {"model": Trained(est, "sklearn", step.props.get("task") or "classification", path.stem,
                             lambda X: np.asarray(est.predict(X)), None, str(path))}


def _predict_images(step: Step, model: Trained, images: dict[str, Any]) -> dict[str, Any]:
    """Image classification models trained here: each image resized to the model's input."""
    import cv2

    shape = getattr(model.model, "input_shape", None)
    if model.kind != "keras" or not shape or len(shape) != 4:
        raise StepError("Image model prediction runs image classification models trained in a pipeline "
                        "(the detectors and segmenters need weights this site cannot fetch)")
    h, w = shape[1], shape[2]
    x = np.stack([cv2.resize(img, (w, h)) for img in images["images"]]).astype("float32")
    if model.info.get("rescale"):
        x *= float(model.info["rescale"])
    probs = np.asarray(model.model.predict(x, verbose=0))
    classes = model.info.get("classes") or list(range(probs.shape[-1]))
    conf = float(step.props.get("confidence") or 0.0)
    frame = pd.DataFrame({"image": images["names"], "prediction": [classes[i] for i in probs.argmax(axis=-1)],
                          "confidence": probs.max(axis=-1)})
    frame.loc[frame["confidence"] < conf, "prediction"] = None
    frame.to_csv(step.dir / "predictions.csv", index=False)
    return {"predictions": Table(frame)}
