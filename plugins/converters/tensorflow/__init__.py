"""TensorFlow / Keras -> ONNX with tf2onnx (F213/F214), checked in onnxruntime.

FAQ 20: a weights-only model needs `export_model.py` (defining `export_model(model_file)` that
builds the network, loads the weights and returns the model) in the version directory; a
version holding folders that are neither the model nor numbered versions and no
export_model.py is refused before a job is submitted, with the FAQ's fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.errors import ValidationError
from core.hookspecs import hookimpl
from core.models.types import ConversionPlan, Converter

SUFFIXES = (".keras", ".h5")


class TensorflowConverter(Converter):
    name = "tensorflow"
    title = "TensorFlow / Keras (tf2onnx)"
    framework = "tensorflow"
    image = "modelstore-tf"

    def option_schema(self) -> dict[str, Any]:
        return {"type": "object", "properties": {
            "model_file": {"type": "string", "title": "Model (.keras / .h5 / SavedModel folder)", "x-order": 10,
                           "x-fix": "a path inside the version; empty: its .keras/.h5 file or SavedModel"},
            "input_shape": {"type": "string", "title": "Input shape (when the model has none)",
                            "pattern": r"^$|^\s*\d+(\s*,\s*\d+)*\s*$", "x-order": 11},
            "opset": {"type": "integer", "title": "ONNX opset", "minimum": 9, "maximum": 21, "default": 17,
                      "x-order": 12}}}

    def plan(self, options: dict[str, Any], source_dir: Path) -> ConversionPlan:
        model = self._model(source_dir, options.get("model_file"))
        args = ["--model-file", str(model), "--opset", str(options.get("opset") or 17)]
        if options.get("input_shape"):
            args += ["--input-shape", str(options["input_shape"]).replace(" ", "")]
        if (source_dir / "export_model.py").is_file():
            args += ["--export-model", str(source_dir / "export_model.py")]
        return ConversionPlan(script=Path(__file__).with_name("convert.py"), image=self.image, args=args)

    @staticmethod
    def _model(source_dir: Path, given: str | None) -> Path:
        if given:
            p = (source_dir / given).resolve()
            if not p.is_relative_to(source_dir.resolve()) or not p.exists():
                raise ValidationError(f"{given} is not in this version", field="model_file")
            return p
        if (source_dir / "saved_model.pb").is_file():
            return source_dir
        files = sorted(p for p in source_dir.iterdir() if p.is_file() and p.name.endswith(SUFFIXES))
        stray = [d.name for d in source_dir.iterdir() if d.is_dir() and not d.name.isdigit()
                 and not (d / "saved_model.pb").is_file()]
        if stray and not (source_dir / "export_model.py").is_file():  # FAQ 20
            raise ValidationError(f"the version holds folders {', '.join(sorted(stray))} that are neither the model "
                                  "nor numbered versions", field="model_file",
                                  fix="for a weights-only model add export_model.py defining export_model(model_file) "
                                      "that builds the network, loads the weights and returns the model; "
                                      "otherwise delete those folders")
        if len(files) == 1:
            return files[0]
        numbered = sorted((d for d in source_dir.iterdir() if d.is_dir() and d.name.isdigit()
                           and (d / "saved_model.pb").is_file()), key=lambda d: int(d.name))
        if numbered:
            return numbered[-1]
        raise ValidationError(f"the version holds {'no' if not files else len(files)} TensorFlow models",
                              field="model_file", fix="name the model file (.keras, .h5) or SavedModel folder")


@hookimpl
def hpcai_model_converters() -> list[Converter]:
    return [TensorflowConverter()]
