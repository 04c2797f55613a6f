"""Conversion job: a scikit-learn estimator (joblib/pickle) -> ONNX (skl2onnx), checked in onnxruntime."""

import argparse

import joblib
import numpy as np
from skl2onnx import to_onnx

import onnx_check

p = argparse.ArgumentParser()
onnx_check.common_args(p)
p.add_argument("--model-file", default="")
p.add_argument("--mlflow-model", default="")
p.add_argument("--opset", type=int, default=17)
p.add_argument("--samples", type=int, default=32)
a = p.parse_args()


def load():
    if a.mlflow_model:
        import mlflow.sklearn

        return mlflow.sklearn.load_model(a.mlflow_model)
    if a.model_file.endswith(".skops"):  # the user's own file, loaded in the user's own job
        import skops.io

        return skops.io.load(a.model_file, trusted=skops.io.get_untrusted_types(file=a.model_file))
    return joblib.load(a.model_file)


try:
    est = load()
except Exception as exc:  # noqa: BLE001 - any loading error means "not a model file"
    onnx_check.fail(f"{a.mlflow_model or a.model_file} is not a scikit-learn model ({type(exc).__name__}: {exc})")
if not hasattr(est, "predict") or not hasattr(est, "n_features_in_"):
    onnx_check.fail(f"{a.model_file} holds a {type(est).__name__}, not a fitted scikit-learn estimator")
x = np.random.default_rng(0).normal(size=(a.samples, int(est.n_features_in_))).astype(np.float32)
options = {id(est): {"zipmap": False}} if hasattr(est, "predict_proba") else None
model = to_onnx(est, x[:1], options=options, target_opset=a.opset)
path = onnx_check.write_triton(model, a.out, a.name)
feeds = {model.graph.input[0].name: x}
if hasattr(est, "predict_proba"):  # labels follow from the probabilities; compare those
    onnx_check.check(path, feeds, [est.predict_proba(x)], a.rtol, a.atol, compare=[1])
else:
    onnx_check.check(path, feeds, [np.asarray(est.predict(x)).reshape(len(x), -1)], a.rtol, a.atol)
