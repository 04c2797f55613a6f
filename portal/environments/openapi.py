"""The development environments' fragment of the OpenAPI document (portal/openapi.py)."""

from __future__ import annotations

from typing import Any


def openapi_paths() -> dict[str, Any]:
    err = {"$ref": "#/components/schemas/Error"}
    obj = {"type": "object"}

    def resp(desc: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"description": desc, **({"content": {"application/json": {"schema": schema}}} if schema else {})}

    def errors(*codes: int) -> dict[str, Any]:
        return {str(c): resp("error (the field is named, with its fix)", err) for c in codes}

    ref = {"name": "ref", "in": "path", "required": True, "schema": {"type": "string"},
           "description": "environment id or name"}
    body = {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["type", "resource_spec"], "additionalProperties": False,
        "properties": {"name": {"type": "string"}, "type": {"type": "string"}, "image": {"type": "string"},
                       "resource_spec": {"type": "string"}, "shm_mb": {"type": "integer"},
                       "ports": {"type": ["array", "string"], "items": {"type": "integer"}},
                       "mounts": {"type": ["array", "string"]}, "workdir": {"type": "string"},
                       "ssh": {"type": "boolean"}, "description": {"type": "string"},
                       "start": {"type": "boolean", "description": "start it now (default true)"}}}}}}
    return {
        "/environment-types": {"get": {"summary": "environment types, their image tag and form schema",
                                       "responses": {"200": resp("types", {"type": "array"}), **errors(401)}}},
        "/environments": {
            "get": {"summary": "your development environments", "responses": {"200": resp("list", {"type": "array"}),
                                                                                **errors(401)}},
            "post": {"summary": "create (and start) an environment", "requestBody": body,
                     "responses": {"201": resp("created", obj), **errors(400, 401)}}},
        "/environments/{ref}": {
            "get": {"summary": "one environment", "parameters": [ref],
                    "responses": {"200": resp("environment", obj), **errors(401, 404)}},
            "patch": {"summary": "modify (applied at the next start or restart)", "parameters": [ref],
                      "requestBody": body, "responses": {"200": resp("pending changes", obj), **errors(400, 401, 404)}},
            "delete": {"summary": "delete (stops it first)", "parameters": [ref],
                       "responses": {"204": resp("deleted"), **errors(401, 404)}}},
        "/environments/{ref}/log": {"get": {"summary": "the environment log", "parameters": [ref],
                                            "responses": {"200": resp("lines", obj), **errors(401, 404)}}},
        **{f"/environments/{{ref}}/{a}": {"post": {"summary": f"{a} the environment", "parameters": [ref],
                                                    "responses": {"200": resp("environment", obj),
                                                                  **errors(400, 401, 404, 409)}}}
           for a in ("start", "stop", "restart")},
    }
