"""Conversion job: a PyTorch model (TorchScript, pickled nn.Module or state_dict + class) -> ONNX."""

import argparse
import importlib.util
import tempfile
from pathlib import Path

import onnx
import torch

import onnx_check

p = argparse.ArgumentParser()
onnx_check.common_args(p)
p.add_argument("--model-file", required=True)
p.add_argument("--model-class", default="")
p.add_argument("--input-shape", required=True)
p.add_argument("--opset", type=int, default=17)
p.add_argument("--dynamic-batch", action="store_true")
a = p.parse_args()


def load() -> torch.nn.Module:
    try:
        return torch.jit.load(a.model_file, map_location="cpu")
    except Exception:  # noqa: BLE001 - not TorchScript: try a pickled module / state_dict
        pass
    try:
        obj = torch.load(a.model_file, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001
        onnx_check.fail(f"{a.model_file} is not a PyTorch model ({type(exc).__name__}: {exc})")
    if isinstance(obj, torch.nn.Module):
        return obj
    if isinstance(obj, dict) and a.model_class:
        file, cls = a.model_class.rsplit(":", 1)
        spec = importlib.util.spec_from_file_location("model_structure", file)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        model = getattr(module, cls)()
        model.load_state_dict(obj)
        return model
    onnx_check.fail(f"{a.model_file} holds a {type(obj).__name__}; a state_dict needs the model class "
                    "(model_class = file.py:Class)")


model = load().eval()
x = torch.randn(*onnx_check.parse_shape(a.input_shape), generator=torch.Generator().manual_seed(0))
with torch.no_grad():
    want = model(x)
want = [t.numpy() for t in (want if isinstance(want, (tuple, list)) else (want,))]
axes = {"input": {0: "batch"}, **{f"output{i}": {0: "batch"} for i in range(len(want))}} if a.dynamic_batch else None
with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "model.onnx"
    # The TorchScript exporter takes every kind of module (TorchScript ones included); the
    # dynamo exporter (torch >= 2.5's default) is the fallback for what it cannot trace.
    try:
        torch.onnx.export(model, (x,), str(path), input_names=["input"],
                          output_names=[f"output{i}" for i in range(len(want))], opset_version=a.opset,
                          dynamic_axes=axes, dynamo=False)
    except Exception as exc:  # noqa: BLE001
        print(f"TorchScript exporter failed ({exc}); trying the dynamo exporter", flush=True)
        torch.onnx.export(model, (x,), str(path), input_names=["input"],
                          output_names=[f"output{i}" for i in range(len(want))], opset_version=a.opset,
                          dynamo=True)
    exported = onnx.load(str(path), load_external_data=True)
out = onnx_check.write_triton(exported, a.out, a.name)
onnx_check.check(out, {exported.graph.input[0].name: x.numpy()}, want, a.rtol, a.atol)
