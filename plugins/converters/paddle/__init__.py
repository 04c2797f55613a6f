"""PaddlePaddle inference model -> ONNX with paddle2onnx (where its image has it), checked in onnxruntime."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from core.errors import ValidationError
from core.hookspecs import hookimpl
from core.models.types import ConversionPlan, Converter


class PaddleConverter(Converter):
    name = "paddle"
    title = "PaddlePaddle (paddle2onnx)"
    framework = "paddle"
    image = "modelstore-paddle"

    def option_schema(self) -> dict[str, Any]:
        return {"type": "object", "required": ["input_shape"], "properties": {
            "model_prefix": {"type": "string", "title": "Inference model prefix", "x-order": 10,
                             "x-fix": "the path without suffix of <prefix>.json/.pdmodel and <prefix>.pdiparams"},
            "input_shape": {"type": "string", "title": "Input shape", "pattern": r"^\s*\d+(\s*,\s*\d+)*\s*$",
                            "x-order": 11},
            "opset": {"type": "integer", "title": "ONNX opset", "minimum": 9, "maximum": 21, "default": 17,
                      "x-order": 12}}}

    def plan(self, options: dict[str, Any], source_dir: Path) -> ConversionPlan:
        prefix = options.get("model_prefix")
        if prefix:
            base = (source_dir / prefix).resolve()
            if not base.is_relative_to(source_dir.resolve()):
                raise ValidationError(f"{prefix} is outside the version", field="model_prefix")
        else:
            found = sorted(source_dir.rglob("*.pdiparams"))
            if len(found) != 1:
                raise ValidationError(f"the version holds {len(found) or 'no'} Paddle inference models (.pdiparams)",
                                      field="model_prefix", fix="save it with paddle.jit.save and name its prefix")
            base = found[0].with_suffix("")
        if not base.with_suffix(".pdiparams").is_file():
            raise ValidationError(f"{base}.pdiparams does not exist", field="model_prefix")
        shape = str(options.get("input_shape") or "")
        if not re.match(r"^\s*\d+(\s*,\s*\d+)*\s*$", shape):
            raise ValidationError(f"'{shape}' is not an input shape", field="input_shape", fix="e.g. 1,3,224,224")
        return ConversionPlan(script=Path(__file__).with_name("convert.py"), image=self.image,
                              args=["--prefix", str(base), "--input-shape", shape.replace(" ", ""),
                                    "--opset", str(options.get("opset") or 17)])


@hookimpl
def hpcai_model_converters() -> list[Converter]:
    return [PaddleConverter()]
