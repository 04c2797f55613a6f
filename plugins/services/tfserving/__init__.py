"""TensorFlow Serving. No binary here: validated, rendered and golden-tested; runs where
`tensorflow_model_server` exists."""

from __future__ import annotations

import os
from typing import Any

from core.api import ServiceContext, ServiceType, StartPlan
from core.errors import ValidationError
from core.hookspecs import hookimpl


class TFServing(ServiceType):
    name = "tfserving"
    title = "TensorFlow Serving"
    description = "Serve a SavedModel over REST (predict API); API keys optional."
    category = "serving"
    api_keys = True
    requires = "tensorflow_model_server"

    def option_schema(self) -> dict[str, Any]:
        return {"type": "object", "required": ["model_name", "model_dir"], "properties": {
            "model_name": {"type": "string", "title": "Model name", "pattern": r"^[A-Za-z][A-Za-z0-9_-]*$",
                           "x-order": 10},
            "model_dir": {"type": "string", "title": "Model directory", "x-widget": "directory", "x-order": 11,
                          "x-fix": "the directory holding numbered versions: 1/saved_model.pb, 2/ ..."},
            "auth": {"type": "boolean", "title": "Require an API key", "default": False, "x-order": 30}}}

    def check(self, options: dict[str, Any]) -> None:
        """FAQ 20: model_dir/<version number>/saved_model.pb, else TF Serving only logs and waits."""
        root = options["model_dir"]
        if not os.path.isdir(root):
            raise ValidationError(f"model directory {root} does not exist", field="model_dir")
        versions = [d for d in os.listdir(root) if d.isdigit() and os.path.isdir(os.path.join(root, d))]
        if not versions:
            raise ValidationError(f"{root} has no numbered version directory", field="model_dir",
                                  fix=f"put the SavedModel in {root}/1/ (saved_model.pb + variables/)")
        missing = [v for v in versions if not os.path.isfile(os.path.join(root, v, "saved_model.pb"))]
        if missing:
            raise ValidationError(f"version {missing[0]} of {root} has no saved_model.pb", field="model_dir",
                                  fix="export with tf.saved_model.save(model, dir/<version>)")

    def start_plan(self, options: dict[str, Any], ctx: ServiceContext) -> StartPlan:
        return StartPlan(argv=["tensorflow_model_server", "--rest_api_port={port0}", "--port={port1}",
                               "--rest_api_timeout_in_ms=60000",
                               f"--model_name={options['model_name']}",
                               f"--model_base_path={os.path.abspath(options['model_dir'])}"],
                         ports=2, health_path=f"/v1/models/{options['model_name']}")

    def request_example(self, url: str, options: dict[str, Any]) -> str:
        auth = ' -H "Authorization: Bearer ${YOUR_API_KEY}"' if self.auth_enabled(options) else ""
        return (f"curl -X POST{auth} {url}/v1/models/{options.get('model_name', 'MODEL')}:predict "
                "-d '{\"instances\": [[1.0, 2.0]]}'")


@hookimpl
def hpcai_service_types() -> list[ServiceType]:
    return [TFServing()]
