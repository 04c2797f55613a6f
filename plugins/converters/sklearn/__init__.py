"""scikit-learn -> ONNX with skl2onnx (F213/F214), checked in onnxruntime against predict/predict_proba."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.errors import ValidationError
from core.hookspecs import hookimpl
from core.models.types import JOBLIB_MAGIC, ZIP_MAGIC, ConversionPlan, Converter, check_magic

SUFFIXES = (".joblib", ".pkl", ".pickle", ".skops")


class SklearnConverter(Converter):
    name = "sklearn"
    title = "scikit-learn (skl2onnx)"
    framework = "sklearn"
    image = "modelstore"

    def option_schema(self) -> dict[str, Any]:
        return {"type": "object", "properties": {
            "model_file": {"type": "string", "title": "Model file (.joblib / .pkl)", "x-order": 10,
                           "x-fix": "a path inside the version; empty: the one .joblib/.pkl file it holds"},
            "opset": {"type": "integer", "title": "ONNX opset", "minimum": 9, "maximum": 21, "default": 17,
                      "x-order": 11},
            "samples": {"type": "integer", "title": "Check rows", "minimum": 1, "maximum": 10000, "default": 32,
                        "x-order": 12}}}

    def plan(self, options: dict[str, Any], source_dir: Path) -> ConversionPlan:
        common = ["--opset", str(options.get("opset") or 17), "--samples", str(options.get("samples") or 32)]
        script = Path(__file__).with_name("convert.py")
        mlmodel = source_dir / "MLmodel"
        if not options.get("model_file") and mlmodel.is_file():
            # a model logged with mlflow.sklearn.log_model (MLflow 3 saves it with skops): MLflow loads it
            if "\n  sklearn:" not in mlmodel.read_text(errors="replace"):
                raise ValidationError("the version's MLflow model has no sklearn flavour", field="converter",
                                      fix="choose the converter of the model's framework")
            return ConversionPlan(script=script, image=self.image, args=["--mlflow-model", str(source_dir), *common])
        model = pick_file(source_dir, options.get("model_file"), SUFFIXES,
                          "a scikit-learn model (.joblib / .pkl / .skops)")
        check_magic(model, ZIP_MAGIC if model.suffix == ".skops" else JOBLIB_MAGIC, "a joblib, pickle or skops file")
        return ConversionPlan(script=script, image=self.image, args=["--model-file", str(model), *common])


def pick_file(source_dir: Path, given: str | None, suffixes: tuple[str, ...], what: str) -> Path:
    """The model file of a version: the one given (inside the version) or the only candidate."""
    if given:
        p = (source_dir / given).resolve()
        if not p.is_relative_to(source_dir.resolve()):
            raise ValidationError(f"{given} is outside the version's directory", field="model_file")
        if not p.is_file():
            raise ValidationError(f"{given} is not a file of this version", field="model_file",
                                  fix="pick a file listed under the version's Model files")
        if not p.name.endswith(suffixes):
            raise ValidationError(f"{given} is not {what}", field="model_file",
                                  fix="pick a file ending in " + " or ".join(suffixes))
        return p
    found = sorted(p for p in source_dir.rglob("*") if p.is_file() and p.name.endswith(suffixes))
    if len(found) != 1:
        raise ValidationError(f"the version holds {'no' if not found else len(found)} {what} files",
                              field="model_file",
                              fix=("name the model file" if found else "choose the converter of the model's "
                                   "framework, or add the model file to the version"))
    return found[0]


@hookimpl
def hpcai_model_converters() -> list[Converter]:
    return [SklearnConverter()]
