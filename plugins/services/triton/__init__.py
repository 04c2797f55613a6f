"""Triton Inference Server. No binary here: validated, rendered and golden-tested; runs where
`tritonserver` exists."""

from __future__ import annotations

import os
import re
from typing import Any

from core.api import ServiceContext, ServiceType, StartPlan
from core.errors import ValidationError
from core.hookspecs import hookimpl


class Triton(ServiceType):
    name = "triton"
    title = "Triton Inference Server"
    description = "Serve a Triton model repository (KServe V2 protocol); API keys optional."
    category = "serving"
    api_keys = True
    requires = "tritonserver"

    def option_schema(self) -> dict[str, Any]:
        return {"type": "object", "required": ["model_repository"], "properties": {
            "model_repository": {"type": "string", "title": "Model repository", "x-widget": "directory",
                                 "x-order": 10,
                                 "x-fix": "a directory of models: <model>/config.pbtxt and <model>/1/ ..."},
            "auth": {"type": "boolean", "title": "Require an API key", "default": False, "x-order": 30}}}

    def check(self, options: dict[str, Any]) -> None:
        """FAQ 17: every model needs config.pbtxt and at least one numbered version directory."""
        repo = options["model_repository"]
        if not os.path.isdir(repo):
            raise ValidationError(f"model repository {repo} does not exist", field="model_repository")
        models = sorted(d for d in os.listdir(repo) if os.path.isdir(os.path.join(repo, d)))
        if not models:
            raise ValidationError(f"{repo} holds no model directory", field="model_repository",
                                  fix="put each model in <repository>/<model name>/")
        for m in models:
            d = os.path.join(repo, m)
            if not os.path.isfile(os.path.join(d, "config.pbtxt")):
                raise ValidationError(f"model {m} has no config.pbtxt", field="model_repository",
                                      fix=f"write {d}/config.pbtxt (name, platform/backend, inputs, outputs)")
            named = re.search(r'^\s*name\s*:\s*"([^"]*)"', _read(os.path.join(d, "config.pbtxt")), re.M)
            if named and named.group(1) != m:  # F232: Triton's model name is its directory's name
                raise ValidationError(f"model directory {m} says name \"{named.group(1)}\" in config.pbtxt",
                                      field="model_repository",
                                      fix=f"rename the directory to {named.group(1)} or the name in "
                                          f"config.pbtxt to {m}")
            if not any(v.isdigit() and os.path.isdir(os.path.join(d, v)) for v in os.listdir(d)):
                raise ValidationError(f"model {m} has no numbered version directory", field="model_repository",
                                      fix=f"put the model file in {d}/1/")

    def start_plan(self, options: dict[str, Any], ctx: ServiceContext) -> StartPlan:
        return StartPlan(argv=["tritonserver", f"--model-repository={os.path.abspath(options['model_repository'])}",
                               "--http-address={bind}", "--http-port={port0}", "--grpc-port={port1}",
                               "--metrics-port={port2}", "--allow-grpc=true"],
                         ports=3, health_path="/v2/health/ready")

    def request_example(self, url: str, options: dict[str, Any]) -> str:
        auth = ' -H "Authorization: Bearer ${YOUR_API_KEY}"' if self.auth_enabled(options) else ""
        repo = options.get("model_repository") or ""
        models = sorted(d for d in os.listdir(repo) if os.path.isdir(os.path.join(repo, d))) \
            if os.path.isdir(repo) else []
        return f"curl -X POST{auth} {url}/v2/models/{models[0] if models else 'MODEL'}/infer -d @request.json"


def _read(path: str) -> str:
    try:
        with open(path, errors="replace") as f:
            return f.read(65536)
    except OSError:
        return ""


@hookimpl
def hpcai_service_types() -> list[ServiceType]:
    return [Triton()]
