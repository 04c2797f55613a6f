"""PyTorch -> ONNX with torch.onnx.export (F213/F214), checked in onnxruntime on the same input."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from core.errors import ValidationError
from core.hookspecs import hookimpl
from core.models.types import PICKLE_MAGIC, ZIP_MAGIC, ConversionPlan, Converter, check_magic

SUFFIXES = (".pt", ".pth")
SHAPE = r"^\s*\d+(\s*,\s*\d+)*\s*$"


class TorchConverter(Converter):
    name = "pytorch"
    title = "PyTorch (torch.onnx)"
    framework = "pytorch"
    image = "modelstore"

    def option_schema(self) -> dict[str, Any]:
        return {"type": "object", "required": ["input_shape"], "properties": {
            "model_file": {"type": "string", "title": "Model file (.pt / .pth)", "x-order": 10,
                           "x-fix": "a TorchScript file, a saved nn.Module, or a state_dict with the class below"},
            "model_class": {"type": "string", "title": "Model class (file.py:Class, for a state_dict)",
                            "pattern": r"^$|^[\w./-]+\.py:[A-Za-z_]\w*$", "x-order": 11},
            "input_shape": {"type": "string", "title": "Input shape", "pattern": SHAPE, "x-order": 12,
                            "x-fix": "comma-separated sizes with the batch first, e.g. 1,3,224,224"},
            "opset": {"type": "integer", "title": "ONNX opset", "minimum": 9, "maximum": 21, "default": 17,
                      "x-order": 13},
            "dynamic_batch": {"type": "boolean", "title": "Dynamic batch size", "default": True, "x-order": 14}}}

    def plan(self, options: dict[str, Any], source_dir: Path) -> ConversionPlan:
        shape = str(options.get("input_shape") or "")
        if not re.match(SHAPE, shape) or any(int(d) == 0 for d in shape.split(",")):
            raise ValidationError(f"'{shape}' is not an input shape", field="input_shape",
                                  fix="give positive sizes with the batch first, e.g. 1,3,224,224")
        model = _pick(source_dir, options.get("model_file"))
        check_magic(model, ZIP_MAGIC + PICKLE_MAGIC, "a PyTorch file (torch.save or TorchScript)")
        args = ["--model-file", str(model), "--input-shape", shape.replace(" ", ""),
                "--opset", str(options.get("opset") or 17)]
        if options.get("model_class"):
            file, cls = str(options["model_class"]).split(":")
            path = (source_dir / file).resolve()
            if not path.is_relative_to(source_dir.resolve()) or not path.is_file():
                raise ValidationError(f"{file} is not a file of this version", field="model_class",
                                      fix="put the model structure .py file in the version")
            args += ["--model-class", f"{path}:{cls}"]
        if options.get("dynamic_batch", True):
            args.append("--dynamic-batch")
        return ConversionPlan(script=Path(__file__).with_name("convert.py"), image=self.image, args=args)


def _pick(source_dir: Path, given: str | None) -> Path:
    if given:
        p = (source_dir / given).resolve()
        if not p.is_relative_to(source_dir.resolve()) or not p.is_file():
            raise ValidationError(f"{given} is not a file of this version", field="model_file",
                                  fix="pick a file listed under the version's Model files")
        return p
    found = sorted(p for p in source_dir.rglob("*") if p.is_file() and p.name.endswith(SUFFIXES))
    if len(found) != 1:
        raise ValidationError(f"the version holds {'no' if not found else len(found)} PyTorch model files (.pt/.pth)",
                              field="model_file", fix="name the model file" if found else
                              "choose the converter of the model's framework, or add the .pt file")
    return found[0]


@hookimpl
def hpcai_model_converters() -> list[Converter]:
    return [TorchConverter()]
