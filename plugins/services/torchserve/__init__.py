"""PyTorch Serving (TorchServe): deploy a ready .mar, or archive one from model files first."""

from __future__ import annotations

import os
import re
from typing import Any

from core.api import ServiceContext, ServiceType, StartPlan
from core.errors import ValidationError
from core.hookspecs import hookimpl

MODEL_NAME = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"
PATH_FIELDS = ("mar_file", "serialized_file", "model_file", "requirements_file", "config_file")


class TorchServe(ServiceType):
    name = "torchserve"
    title = "PyTorch Serving (TorchServe)"
    description = "Serve a PyTorch model archive (.mar) over REST; API keys optional."
    category = "serving"
    api_keys = True
    requires = "torchserve"
    gpu_only = True  # F230: the product offers GPU specs only; a site may allow CPU ones

    def option_schema(self) -> dict[str, Any]:
        mar = {"deploy_mode": ["mar"]}
        files = {"deploy_mode": ["files"]}
        return {"type": "object", "required": ["model_name", "deploy_mode"], "properties": {
            "model_name": {"type": "string", "title": "Model name", "pattern": MODEL_NAME, "x-order": 10},
            "deploy_mode": {"type": "string", "title": "Deploy from", "enum": ["mar", "files"],
                            "default": "mar", "x-order": 11,
                            "x-enum-labels": {"mar": "a ready .mar archive", "files": "model files"}},
            "mar_file": {"type": "string", "title": "Model archive (.mar)", "x-widget": "file",
                         "x-order": 12, "x-visible-if": mar},
            "serialized_file": {"type": "string", "title": "Model file (weights / TorchScript)",
                                "x-widget": "file", "x-order": 13, "x-visible-if": files},
            "handler": {"type": "string", "title": "Handler", "default": "base_handler", "x-order": 14,
                        "x-visible-if": files,
                        "x-fix": "a built-in handler (image_classifier, text_classifier ...) or a .py file"},
            "model_file": {"type": "string", "title": "Model structure file (.py)", "x-widget": "file",
                           "x-order": 15, "x-visible-if": files},
            "extra_files": {"type": "string", "title": "Dependencies (comma-separated files)",
                            "x-order": 16, "x-visible-if": files},
            "requirements_file": {"type": "string", "title": "requirements.txt", "x-widget": "file",
                                  "x-order": 17, "x-visible-if": files},
            "runtime": {"type": "string", "title": "Runtime", "enum": ["python", "python3"],
                        "default": "python", "x-order": 18, "x-visible-if": files},
            "config_file": {"type": "string", "title": "Model config (yaml)", "x-widget": "file",
                            "x-order": 19, "x-visible-if": files},
            "workers": {"type": "integer", "title": "Workers per model", "minimum": 1, "default": 1,
                        "x-order": 20},
            "config": {"type": "string", "title": "config.properties parameters", "x-widget": "textarea",
                       "x-order": 21, "x-fix": "key=value lines, e.g. job_queue_size=100 (addresses and ports "
                                               "are the platform's)"},
            "auth": {"type": "boolean", "title": "Require an API key", "default": False, "x-order": 30}}}

    def check(self, options: dict[str, Any]) -> None:
        _config_lines(options.get("config"))
        if options.get("deploy_mode", "mar") == "mar":
            path = options.get("mar_file") or ""
            if not path:
                raise ValidationError("is required", field="mar_file", fix="give the .mar file to serve")
            if not path.endswith(".mar") or not os.path.isfile(path):
                raise ValidationError(f"model archive {path} does not exist or is not a .mar", field="mar_file")
            return
        for key in ("serialized_file", "model_file", "requirements_file", "config_file"):
            if options.get(key) and not os.path.isfile(options[key]):
                raise ValidationError(f"{options[key]} does not exist", field=key)
        if not options.get("serialized_file"):
            raise ValidationError("is required", field="serialized_file", fix="give the model file")
        handler = options.get("handler") or ""
        if handler.endswith(".py") and not os.path.isfile(handler):
            raise ValidationError(f"handler {handler} does not exist", field="handler")
        for f in _split(options.get("extra_files")):
            if not os.path.exists(f):
                raise ValidationError(f"dependency {f} does not exist", field="extra_files")

    def start_plan(self, options: dict[str, Any], ctx: ServiceContext) -> StartPlan:
        options = {k: (os.path.abspath(v) if k in PATH_FIELDS and v else v) for k, v in options.items()}
        name = options["model_name"]
        store = "{job_dir}/model-store"
        prepare: list[list[str]] = [["mkdir", "-p", store]]
        if options.get("deploy_mode", "mar") == "mar":
            prepare.append(["cp", options["mar_file"], f"{store}/{name}.mar"])
        else:
            handler = options.get("handler") or "base_handler"
            cmd = ["torch-model-archiver", "--model-name", name, "--version", "1.0",
                   "--serialized-file", options["serialized_file"],
                   "--handler", os.path.abspath(handler) if handler.endswith(".py") else handler,
                   "--export-path", store, "--runtime", options.get("runtime") or "python", "--force"]
            for flag, key in (("--model-file", "model_file"), ("--requirements-file", "requirements_file"),
                              ("--config-file", "config_file")):
                if options.get(key):
                    cmd += [flag, options[key]]
            if options.get("extra_files"):
                cmd += ["--extra-files", ",".join(os.path.abspath(f) for f in _split(options["extra_files"]))]
            prepare.append(cmd)
        config = ("inference_address=http://{bind}:{port0}\n"
                  "management_address=http://127.0.0.1:{port1}\n"
                  "metrics_address=http://127.0.0.1:{port2}\n"
                  "metrics_mode=prometheus\n"  # else the metrics API answers empty (service metrics, F246)
                  f"default_workers_per_model={int(options.get('workers') or 1)}\n"
                  "disable_token_authorization=true\nenable_model_api=true\n"
                  "install_py_dep_per_model=true\n"
                  + "".join(f"{k}={v}\n" for k, v in _config_lines(options.get("config"))))
        return StartPlan(argv=["torchserve", "--start", "--foreground", "--ncs", "--disable-token-auth",
                               "--model-store", store, "--models", f"{name}={name}.mar",
                               "--ts-config", "{job_dir}/config.properties"],
                         ports=3, files={"config.properties": config}, prepare=prepare,
                         # TorchServe keeps its pid file and worker sockets in the temp dir: one per service, so
                         # two services on one node do not see each other as "already running"
                         env={"LOG_LOCATION": "{job_dir}/logs", "METRICS_LOCATION": "{job_dir}/logs",
                              "TMPDIR": "{tmp}", "TEMP": "{tmp}"},
                         health_path="/ping", metrics_url="http://127.0.0.1:{port2}/metrics")

    def request_example(self, url: str, options: dict[str, Any]) -> str:
        auth = ' -H "Authorization: Bearer ${YOUR_API_KEY}"' if self.auth_enabled(options) else ""
        return f"curl -X POST{auth} {url}/predictions/{options.get('model_name', 'MODEL')} -T input.json"


#: config.properties keys the platform sets itself (F231: the user gives the other parameters)
RESERVED = re.compile(r"^(inference|management|metrics|grpc_\w+)_address$|_port$|^(disable_token_authorization|"
                      r"enable_model_api|model_store|load_models)$")


def _config_lines(text: str | None) -> list[tuple[str, str]]:
    out = []
    for n, line in enumerate((text or "").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not re.match(r"^[A-Za-z_][A-Za-z0-9_.]*$", key):
            raise ValidationError(f"line {n} '{line}' is not key=value", field="config",
                                  fix="write one config.properties parameter per line, e.g. job_queue_size=100")
        if RESERVED.search(key):
            raise ValidationError(f"{key} is set by the platform (addresses, ports, model store)", field="config",
                                  fix="leave it out; give other parameters such as job_queue_size or "
                                      "default_response_timeout")
        out.append((key, value.strip()))
    return out


def _split(text: str | None) -> list[str]:
    return [f.strip() for f in re.split(r"[,\n]", text or "") if f.strip()]


@hookimpl
def hpcai_service_types() -> list[ServiceType]:
    return [TorchServe()]
