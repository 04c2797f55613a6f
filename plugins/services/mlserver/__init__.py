"""MLServer (Seldon): scikit-learn, XGBoost and ONNX models over the KServe V2 protocol, so
Triton's own client library (tritonclient) calls it. Beyond the product.

The server runs in the `mlserver` catalog image (etc/images.toml, `hpcai images build
mlserver`). MLServer has no ONNX runtime of its own: ours (onnx_runtime.py, on onnxruntime)
is written next to the model settings, where MLServer finds custom runtimes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from core.api import ServiceContext, ServiceType, StartPlan
from core.errors import ValidationError
from core.hookspecs import hookimpl

IMPLEMENTATIONS = {"sklearn": "mlserver_sklearn.SKLearnModel", "xgboost": "mlserver_xgboost.XGBoostModel",
                   "onnx": "onnx_runtime.OnnxModel"}
ONNX_RUNTIME = Path(__file__).with_name("onnx_runtime.py")


class MLServer(ServiceType):
    name = "mlserver"
    title = "MLServer (V2 inference)"
    description = "scikit-learn / XGBoost / ONNX models behind the V2 inference protocol."
    category = "serving"
    api_keys = True
    requires = "mlserver"
    default_image = "mlserver"  # etc/images.toml: MLServer's pins clash with hpcai's own environment

    def option_schema(self) -> dict[str, Any]:
        return {"type": "object", "required": ["model_name", "framework", "model_uri"], "properties": {
            "model_name": {"type": "string", "title": "Model name", "pattern": r"^[A-Za-z][A-Za-z0-9_-]*$",
                           "x-order": 10},
            "framework": {"type": "string", "title": "Model kind", "enum": sorted(IMPLEMENTATIONS),
                          "default": "sklearn", "x-order": 11},
            "model_uri": {"type": "string", "title": "Model file", "x-widget": "file", "x-order": 12,
                          "x-fix": "a joblib file (sklearn), a .json/.ubj booster (xgboost) or a .onnx file"},
            "auth": {"type": "boolean", "title": "Require an API key", "default": False, "x-order": 30}}}

    def check(self, options: dict[str, Any]) -> None:
        if not os.path.isfile(options["model_uri"]):
            raise ValidationError(f"model file {options['model_uri']} does not exist", field="model_uri")

    def start_plan(self, options: dict[str, Any], ctx: ServiceContext) -> StartPlan:
        name = options["model_name"]
        settings = json.dumps({"host": "{bind}", "http_port": "{port0}", "grpc_port": "{port1}",
                               "metrics_port": "{port2}", "debug": False,
                               # in-process inference: its worker pool dies on start with
                               # "no current event loop" under Python 3.11 here
                               "parallel_workers": 0})
        # svcrun fills the ports as text; MLServer's settings want numbers
        settings = settings.replace('"{port0}"', "{port0}").replace('"{port1}"', "{port1}") \
            .replace('"{port2}"', "{port2}")
        model = json.dumps({"name": name, "implementation": IMPLEMENTATIONS[options["framework"]],
                            "parameters": {"uri": os.path.abspath(options["model_uri"])}})
        files = {"models/settings.json": settings, f"models/{name}/model-settings.json": model}
        if options["framework"] == "onnx":
            files[f"models/{name}/onnx_runtime.py"] = ONNX_RUNTIME.read_text()
        return StartPlan(argv=["mlserver", "start", "{job_dir}/models"], ports=3, files=files,
                         health_path=f"/v2/models/{name}/ready")  # server-ready comes before the model

    def request_example(self, url: str, options: dict[str, Any]) -> str:
        auth = ' -H "Authorization: Bearer ${YOUR_API_KEY}"' if self.auth_enabled(options) else ""
        return (f"curl -X POST{auth} {url}/v2/models/{options.get('model_name', 'MODEL')}/infer "
                "-d '{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 4], \"datatype\": \"FP64\", "
                "\"data\": [[5.1, 3.5, 1.4, 0.2]]}]}'")


@hookimpl
def hpcai_service_types() -> list[ServiceType]:
    return [MLServer()]
