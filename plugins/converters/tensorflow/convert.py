"""Conversion job: a Keras/TensorFlow model -> ONNX (tf2onnx), checked in onnxruntime."""

import argparse
import importlib.util

import numpy as np
import tensorflow as tf
import tf2onnx

import onnx_check

p = argparse.ArgumentParser()
onnx_check.common_args(p)
p.add_argument("--model-file", required=True)
p.add_argument("--input-shape", default="")
p.add_argument("--opset", type=int, default=17)
p.add_argument("--export-model", default="")
a = p.parse_args()

if a.export_model:  # FAQ 20: weights-only models are built by the user's export_model(model_file)
    spec = importlib.util.spec_from_file_location("export_model", a.export_model)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.export_model(a.model_file)
elif a.model_file.endswith((".keras", ".h5")):
    model = tf.keras.models.load_model(a.model_file)
else:
    model = tf.keras.layers.TFSMLayer(a.model_file, call_endpoint="serving_default")
shape = onnx_check.parse_shape(a.input_shape) if a.input_shape else [1, *[d or 1 for d in model.input_shape[1:]]]
x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
want = model(x)
want = [np.asarray(t) for t in (want.values() if isinstance(want, dict) else
                                want if isinstance(want, (list, tuple)) else [want])]
spec = (tf.TensorSpec([None, *shape[1:]], tf.float32, name="input"),)
onnx_model, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=a.opset)
path = onnx_check.write_triton(onnx_model, a.out, a.name)
onnx_check.check(path, {onnx_model.graph.input[0].name: x}, want, a.rtol, a.atol)
