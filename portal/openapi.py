"""The OpenAPI 3.1 document of /api/v1, built from the same schemas the forms use.

The job body is the union of the merged form schemas of every enabled framework x mode, so a
plugin's field shows up here exactly as it shows up in the form and the CLI.
"""

from __future__ import annotations

import copy
from typing import Any

from core import __version__
from core.platform import Platform

ERROR = {"type": "object", "properties": {"error": {"type": "string"}, "field": {"type": ["string", "null"]},
                                          "fix": {"type": ["string", "null"]}}}


def job_body_schema(p: Platform) -> dict[str, Any]:
    props: dict[str, Any] = {}
    reg = p.registry
    for fw in reg.names("framework"):
        for mode in reg.get("framework", fw).modes:
            if mode not in reg.names("mode"):
                continue
            for name, prop in p.jobs.form_schema(fw, mode)["properties"].items():
                props.setdefault(name, copy.deepcopy(prop))
    for prop in props.values():
        prop.pop("default", None)  # defaults are filled by the core; a client may omit any field
    base = p.jobs.form_schema()
    return {"type": "object", "required": list(base["required"]), "properties": props,
            "additionalProperties": True}


def _resp(desc: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": desc}
    if schema is not None:
        out["content"] = {"application/json": {"schema": schema}}
    return out


def _errors(*codes: int) -> dict[str, Any]:
    words = {400: "invalid input (the field is named)", 401: "not authenticated", 403: "not allowed",
             404: "not found (or not yours)", 413: "larger than the site's upload limit",
             429: "too many failed log-ins (see Retry-After)", 503: "scheduler unavailable"}
    return {str(c): _resp(words[c], {"$ref": "#/components/schemas/Error"}) for c in codes}


def _q(name: str, schema: dict[str, Any], desc: str = "") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": desc}


def _p(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema}


def openapi_document(p: Platform) -> dict[str, Any]:
    obj = {"type": "object"}
    job_id = _p("job_id", {"type": "integer", "minimum": 1})
    body = lambda ref: {"required": True, "content": {"application/json": {"schema": {"$ref": ref}}}}  # noqa: E731
    ok = lambda d="OK": _resp(d, obj)  # noqa: E731
    spec_schema = {"type": "object", "required": ["name"], "additionalProperties": False, "properties": {
        "name": {"type": "string"}, "kind": {"type": "string", "enum": ["cpu", "gpu"]},
        "cpus": {"type": "integer"}, "mem_mb": {"type": ["integer", "null"]},
        "node_group": {"type": ["string", "null"]},
        "gpu_mode": {"type": ["string", "null"], "enum": ["exclusive", "shared", "mig", None]},
        "gpu_type": {"type": ["string", "null"]}, "gpus": {"type": "integer"},
        "visible_users": {"type": "array", "items": {"type": "string"}},
        "visible_groups": {"type": "array", "items": {"type": "string"}}, "description": {"type": "string"}}}
    paths: dict[str, Any] = {
        "/me": {"get": {"summary": "the calling account", "responses": {"200": ok(), **_errors(401)}}},
        "/schema": {"get": {"summary": "merged form schema for a framework/mode/runtime",
                            "parameters": [_q("framework", {"type": "string"}), _q("mode", {"type": "string"}),
                                           _q("runtime", {"type": "string"})],
                            "responses": {"200": ok(), **_errors(400, 401)}}},
        "/images": {"get": {"summary": "image catalog, optionally by tag",
                            "parameters": [_q("tag", {"type": "string"})],
                            "responses": {"200": _resp("images", {"type": "array"}), **_errors(401)}}},
        "/specs": {"get": {"summary": "resource specs visible to you",
                           "responses": {"200": _resp("specs", {"type": "array"}), **_errors(401)}},
                   "post": {"summary": "create or replace a spec (admin)",
                            "requestBody": body("#/components/schemas/Spec"),
                            "responses": {"201": ok("saved"), **_errors(400, 401, 403)}}},
        "/specs/{name}": {"delete": {"summary": "delete a spec (admin)", "parameters": [_p("name", {"type": "string"})],
                                     "responses": {"204": _resp("deleted"), **_errors(400, 401, 403)}}},
        "/plugins": {"get": {"summary": "installed plugins", "responses": {"200": _resp("plugins", {"type": "array"}),
                                                                           **_errors(401)}}},
        "/plugins/{plugin}": {"post": {"summary": "enable or disable a plugin (admin)",
                                       "parameters": [_p("plugin", {"type": "string"})],
                                       "requestBody": {"required": True, "content": {"application/json": {"schema": {
                                           "type": "object", "required": ["enabled"],
                                           "properties": {"enabled": {"type": "boolean"}}}}}},
                                       "responses": {"200": ok(), **_errors(400, 401, 403)}}},
        "/monitor": {"get": {"summary": "application resource monitoring (cached)",
                             "parameters": [_q("queue", {"type": "string"})],
                             "responses": {"200": ok(), **_errors(401)}}},
        "/jobs": {
            "get": {"summary": "your jobs (admins: all=1 for everyone's), newest first",
                    "parameters": [_q("state", {"type": "string"}), _q("framework", {"type": "string"}),
                                   _q("name", {"type": "string"}), _q("page", {"type": "integer"}),
                                   _q("per_page", {"type": "integer"}), _q("all", {"type": "string"})],
                    "responses": {"200": ok(), **_errors(400, 401)}},
            "post": {"summary": "submit a training job (dry_run=1: plan and script only)",
                     "parameters": [_q("dry_run", {"type": "string", "enum": ["0", "1"]})],
                     "requestBody": body("#/components/schemas/JobValues"),
                     "responses": {"201": ok("submitted"), "200": ok("dry run"), **_errors(400, 401, 403, 503)}}},
        "/jobs/batch": {"post": {
            "summary": "submit a #BSUB batch script's job, parsed by jsub where the user runs it "
                       "(core.bsubjob.request_to_wire; dry_run=1: plan and script only)",
            "parameters": [_q("dry_run", {"type": "string", "enum": ["0", "1"]})],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["batch_script"],
                "properties": {**{k: {"type": "string"} for k in (
                    "batch_script", "command", "workdir", "cwd", "image", "mode", "name", "queue", "app_profile",
                    "stdout", "stderr")}, **{k: {"type": "integer"} for k in (
                        "time_limit_min", "mem_limit_mb", "extra_ports")},
                    "groups": {"type": "array", "items": {"type": "object"}}}}}}},
            "responses": {"201": ok("submitted"), "200": ok("dry run"), **_errors(400, 401, 403, 503)}}},
        "/jobs/{job_id}": {
            "get": {"summary": "one job with request, plan and script", "parameters": [job_id],
                    "responses": {"200": ok(), **_errors(401, 404)}},
            "delete": {"summary": "delete an ended job", "parameters": [job_id],
                       "responses": {"204": _resp("deleted"), **_errors(400, 401, 404)}}},
        "/jobs/{job_id}/log": {"get": {"summary": "a slice of the job's output",
                                       "parameters": [job_id, _q("offset", {"type": "integer"}),
                                                      _q("limit", {"type": "integer"})],
                                       "responses": {"200": ok(), **_errors(400, 401, 404)}}},
        "/jobs/{job_id}/reports": {"get": {"summary": "what the job's options produced (e.g. an auto-tuning "
                                                      "study's results): [{option, title, report|error}]",
                                           "parameters": [job_id],
                                           "responses": {"200": _resp("reports", {"type": "array"}),
                                                         **_errors(401, 404)}}},
        "/jobs/{job_id}/reports/{option}": {"get": {"summary": "one job option's report for the job",
                                                    "parameters": [job_id, _p("option", {"type": "string"})],
                                                    "responses": {"200": ok(), **_errors(400, 401, 404)}}},
        "/presets": {"get": {"summary": "your preset forms", "parameters": [_q("app", {"type": "string"})],
                             "responses": {"200": _resp("presets", {"type": "array"}), **_errors(401)}},
                     "post": {"summary": "save a preset form", "requestBody": body("#/components/schemas/Preset"),
                              "responses": {"201": ok("saved"), **_errors(400, 401)}}},
        "/presets/{preset_id}/default": {"post": {"summary": "make a preset the default form",
                                                  "parameters": [_p("preset_id", {"type": "integer"})],
                                                  "responses": {"200": ok(), **_errors(401, 404)}}},
        "/presets/{preset_id}": {"delete": {"summary": "delete a preset",
                                            "parameters": [_p("preset_id", {"type": "integer"})],
                                            "responses": {"204": _resp("deleted"), **_errors(401, 404)}}},
        "/files": {"get": {"summary": "list a directory inside your roots",
                           "parameters": [_q("path", {"type": "string"})],
                           "responses": {"200": ok(), **_errors(400, 401, 403)}}},
        "/files/mkdir": {"post": {"summary": "create a directory inside your roots",
                                  "requestBody": {"required": True, "content": {"application/json": {"schema": {
                                      "type": "object", "required": ["path", "name"],
                                      "properties": {"path": {"type": "string"}, "name": {"type": "string"}}}}}},
                                  "responses": {"201": ok("created"), **_errors(400, 401, 403)}}},
        "/files/upload": {"post": {"summary": "upload files into a directory inside your roots; with one "
                                              "relative_path per file, a whole folder (sub-folders kept)",
                                   "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                                       "type": "object", "required": ["file"],
                                       "properties": {"path": {"type": "string"},
                                                      "file": {"type": "array",
                                                               "items": {"type": "string", "format": "binary"}},
                                                      "relative_path": {"type": "array",
                                                                        "items": {"type": "string"}}}}}}},
                                   "responses": {"201": ok("saved: project, saved, files, bytes"),
                                                 **_errors(400, 401, 403, 413)}}},
        "/files/unzip": {"post": {"summary": "upload a .zip archive and unpack it into a project directory "
                                             "(zip-slip, links and oversized archives refused)",
                                  "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                                      "type": "object", "required": ["file"],
                                      "properties": {"path": {"type": "string"},
                                                     "file": {"type": "string", "format": "binary"}}}}}},
                                  "responses": {"201": ok("unpacked: project, saved, files, bytes"),
                                                **_errors(400, 401, 403, 413)}}},
        "/settings": {"get": {"summary": "site settings (classification switch and levels, shm default)",
                              "responses": {"200": ok(), **_errors(401)}},
                      "post": {"summary": "change site settings (admin)",
                               "requestBody": {"required": True, "content": {"application/json": {"schema": {
                                   "type": "object", "properties": {"classification": {"type": "boolean"}}}}}},
                               "responses": {"200": ok(), **_errors(400, 401, 403)}}},
        "/tokens": {"get": {"summary": "your API tokens (without secrets)",
                            "responses": {"200": _resp("tokens", {"type": "array"}), **_errors(401)}},
                    "post": {"summary": "create an API token (shown once)",
                             "requestBody": {"required": False, "content": {"application/json": {"schema": {
                                 "type": "object", "properties": {"label": {"type": "string"}}}}}},
                             "responses": {"201": ok("created"), **_errors(400, 401)}}},
        "/tokens/{token_id}": {"delete": {"summary": "revoke a token",
                                          "parameters": [_p("token_id", {"type": "integer"})],
                                          "responses": {"204": _resp("revoked"), **_errors(401, 404)}}},
        "/users": {"get": {"summary": "accounts (admin)", "responses": {"200": _resp("accounts", {"type": "array"}),
                                                                         **_errors(401, 403)}},
                   "post": {"summary": "create an account (admin)", "requestBody": body("#/components/schemas/NewUser"),
                            "responses": {"201": ok("created"), **_errors(400, 401, 403)}}},
        "/users/{name}": {"delete": {"summary": "delete an account (admin)",
                                     "parameters": [_p("name", {"type": "string"})],
                                     "responses": {"204": _resp("deleted"), **_errors(400, 401, 403, 404)}}},
    }
    from portal.datasets import openapi_paths as dataset_paths
    from portal.services import openapi_components as service_components
    from portal.services import openapi_paths as service_paths

    paths.update(dataset_paths())
    from portal.experiments import openapi_paths as experiment_paths
    from portal.joblinks import openapi_paths as joblink_paths

    paths.update(experiment_paths())
    paths.update(joblink_paths())
    paths.update(service_paths())
    from portal.environments.openapi import openapi_paths as environment_paths

    paths.update(environment_paths())
    from portal.models import openapi_paths as model_paths

    paths.update(model_paths())

    from portal.pipelines import openapi_paths as pipeline_paths

    paths.update(pipeline_paths())

    from portal.labeling import openapi_paths as labeling_paths

    paths.update(labeling_paths())
    from portal.rl_envs import openapi_paths as rl_env_paths

    paths.update(rl_env_paths())
    for action in ("kill", "suspend", "resume"):
        paths[f"/jobs/{{job_id}}/{action}"] = {"post": {"summary": f"{action} a job", "parameters": [job_id],
                                                        "responses": {"200": ok(), **_errors(400, 401, 404, 503)}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "hpcai portal API", "version": __version__,
                 "description": "Authenticate with 'Authorization: Bearer <token>' (Account page)."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": ERROR,
                "JobValues": job_body_schema(p),
                **service_components(p),
                "Spec": spec_schema,
                "Preset": {"type": "object", "required": ["name"], "properties": {
                    "name": {"type": "string"}, "app": {"type": "string"}, "values": {"type": "object"}}},
                "NewUser": {"type": "object", "required": ["name", "password"], "properties": {
                    "name": {"type": "string"}, "password": {"type": "string"},
                    "role": {"type": "string", "enum": ["admin", "user"]}, "full_name": {"type": "string"},
                    "groups": {"type": "array", "items": {"type": "string"}}}},
            },
        },
    }
