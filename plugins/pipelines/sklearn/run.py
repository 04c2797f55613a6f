"""Job-side code of the scikit-learn components: build the row's estimator, fit on the
training rows, save it (joblib) into the node's directory of the instance."""

from __future__ import annotations

from typing import Any

import numpy as np

from core.pipelines.runner import Step, StepError, target
from core.pipelines.values import Table, Trained

TASKS = {"classification", "regression"}


def build(step: Step) -> Any:
    try:
        return target(step.target)(**step.kwargs)
    except (TypeError, ValueError) as exc:
        raise StepError(f"{step.title}: {exc}") from exc


def fit(step: Step) -> dict[str, Any]:
    import joblib

    from sklearn.base import is_classifier, is_regressor

    table: Table = step.input("data")
    est = build(step)
    supervised = is_classifier(est) or is_regressor(est)
    part = "train" if table.has("train") else None
    X = table.X(part)
    y = table.y(part)
    if supervised and y is None:
        raise StepError(f"{step.title} needs labels: choose Sample labels in Select features")
    try:
        est.fit(X, y) if supervised else est.fit(X)
    except ValueError as exc:
        raise StepError(f"{step.title}: {exc}") from exc
    task = "classification" if is_classifier(est) else "regression" if is_regressor(est) else "clustering"
    name = step.props.get("model_name") or step.title
    path = step.dir / f"{name}.joblib"
    joblib.dump(est, path)
    print(f"[pipeline] {step.id}: trained {step.title} on {len(X)} rows, saved {path.name}", flush=True)

    def predict(features: Any) -> np.ndarray:
        if hasattr(est, "predict"):
            return np.asarray(est.predict(features))
        return np.asarray(est.fit_predict(features))  # AgglomerativeClustering, DBSCAN, SpectralClustering

    return {"model": Trained(est, "sklearn", task, name, predict, table, str(path),
                             {"class": step.target, "params": {k: repr(v) for k, v in step.kwargs.items()}})}
