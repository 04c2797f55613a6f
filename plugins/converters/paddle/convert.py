"""Conversion job: a Paddle inference model (paddle.jit.save) -> ONNX (paddle2onnx), checked in onnxruntime."""

import argparse
import os

import numpy as np
import onnx
import paddle
import paddle2onnx

import onnx_check

p = argparse.ArgumentParser()
onnx_check.common_args(p)
p.add_argument("--prefix", required=True)
p.add_argument("--input-shape", required=True)
p.add_argument("--opset", type=int, default=17)
a = p.parse_args()

model_file = next((a.prefix + s for s in (".json", ".pdmodel") if os.path.isfile(a.prefix + s)), None)
if model_file is None:
    onnx_check.fail(f"{a.prefix}.json / .pdmodel does not exist")
x = np.random.default_rng(0).normal(size=onnx_check.parse_shape(a.input_shape)).astype(np.float32)
layer = paddle.jit.load(a.prefix)
layer.eval()
want = layer(paddle.to_tensor(x))
want = [np.asarray(t) for t in (want if isinstance(want, (list, tuple)) else [want])]
data = paddle2onnx.export(model_file, a.prefix + ".pdiparams", opset_version=a.opset)
model = onnx.load_from_string(data) if isinstance(data, bytes) else onnx.load(data)
path = onnx_check.write_triton(model, a.out, a.name)
onnx_check.check(path, {model.graph.input[0].name: x}, want, a.rtol, a.atol)
