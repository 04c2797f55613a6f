"""Job side of every conversion: write the ONNX model in Triton's layout and check it in
onnxruntime against the source model's outputs on the same input.

    <out>/<name>/config.pbtxt
    <out>/<name>/1/model.onnx

Run next to a converter's script (the platform copies both into the job). Exits non-zero with
a one-line reason when the outputs differ beyond the tolerance, so the job fails and says so.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

ONNX_TO_TRITON = {1: "TYPE_FP32", 2: "TYPE_UINT8", 3: "TYPE_INT8", 5: "TYPE_INT16", 6: "TYPE_INT32",
                  7: "TYPE_INT64", 9: "TYPE_BOOL", 10: "TYPE_FP16", 11: "TYPE_FP64", 8: "TYPE_STRING"}


def common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--rtol", type=float, default=1e-3)
    parser.add_argument("--atol", type=float, default=1e-4)


def fail(message: str) -> None:
    print(f"conversion failed: {message}", file=sys.stderr, flush=True)
    sys.exit(3)


def _dims(value_info: Any) -> list[int]:
    return [d.dim_value if d.HasField("dim_value") else -1 for d in value_info.type.tensor_type.shape.dim]


def config_pbtxt(model: Any, name: str) -> str:
    """Triton's model configuration for an ONNX model (platform onnxruntime_onnx, no batching
    dimension of Triton's own: the graph's shapes are used as they are, -1 where dynamic)."""
    init = {i.name for i in model.graph.initializer}

    def block(kind: str, items: list[Any]) -> str:
        rows = []
        for v in items:
            if v.name in init:
                continue
            dtype = ONNX_TO_TRITON.get(v.type.tensor_type.elem_type, "TYPE_FP32")
            dims = ", ".join(str(d) for d in _dims(v)) or "1"
            rows.append(f'  {{\n    name: "{v.name}"\n    data_type: {dtype}\n    dims: [ {dims} ]\n  }}')
        return f"{kind} [\n" + ",\n".join(rows) + "\n]\n"

    return (f'name: "{name}"\nplatform: "onnxruntime_onnx"\nmax_batch_size: 0\n'
            + block("input", list(model.graph.input)) + block("output", list(model.graph.output))
            + "version_policy: { latest: { num_versions: 1 } }\n")


def write_triton(model: Any, out: str, name: str) -> Path:
    import onnx

    onnx.checker.check_model(model)
    version_dir = Path(out) / name / "1"
    version_dir.mkdir(parents=True, exist_ok=True)
    path = version_dir / "model.onnx"
    path.write_bytes(model.SerializeToString())
    (Path(out) / name / "config.pbtxt").write_text(config_pbtxt(model, name))
    return path


def check(path: Path, feeds: dict[str, np.ndarray], expected: list[np.ndarray], rtol: float, atol: float,
          compare: list[int] | None = None) -> dict[str, Any]:
    """Run the ONNX file in onnxruntime; every output listed in `compare` (default: all, in
    order) must equal `expected` within rtol/atol (integers and labels exactly)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, feeds)
    indices = compare if compare is not None else list(range(len(expected)))
    report = {"tolerance": {"rtol": rtol, "atol": atol}, "outputs": []}
    for i, want in zip(indices, expected):
        have = np.asarray(got[i])
        want = np.asarray(want)
        if have.shape != want.shape and have.size == want.size:
            have = have.reshape(want.shape)
        if have.shape != want.shape:
            fail(f"output {i} has shape {list(have.shape)} in onnxruntime but {list(want.shape)} in the source model")
        if want.dtype.kind in "iub" or have.dtype.kind in "iub":
            ok = bool(np.array_equal(have.astype(np.int64), want.astype(np.int64)))
            diff = float(np.abs(have.astype(np.int64) - want.astype(np.int64)).max(initial=0))
        else:
            ok = bool(np.allclose(have, want, rtol=rtol, atol=atol))
            diff = float(np.abs(have.astype(np.float64) - want.astype(np.float64)).max(initial=0))
        report["outputs"].append({"index": i, "shape": list(want.shape), "max_abs_diff": diff, "equal": ok})
        if not ok:
            fail(f"onnxruntime disagrees with the source model on output {i}: max |diff| {diff:.3g} "
                 f"exceeds rtol={rtol}, atol={atol}")
    print("onnxruntime check passed: " + json.dumps(report), flush=True)
    (path.parent.parent / "conversion.json").write_text(json.dumps(report, indent=1))
    return report


def parse_shape(text: str) -> list[int]:
    try:
        dims = [int(x) for x in text.replace("x", ",").split(",") if x.strip()]
    except ValueError:
        fail(f"input shape {text!r} is not comma-separated integers")
    if not dims or any(d <= 0 for d in dims):
        fail(f"input shape {text!r} needs positive dimensions")
    return dims
