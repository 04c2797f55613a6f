"""The services fragments of the OpenAPI document (portal/openapi.py)."""

from __future__ import annotations

from typing import Any

from core.services import LIFECYCLE


# --- OpenAPI ----------------------------------------------------------------------------------------

def service_body_schema(p: Any) -> dict[str, Any]:
    """The create body: the common fields plus the union of every type's own (the forms' schemas)."""
    mgr = p.services
    base = mgr.form_schema(None, "")
    props: dict[str, Any] = {k: dict(v) for k, v in base["properties"].items()}
    props["resource_spec"]["enum"] = [s.name for s in p.specs.all()]
    for name, st in mgr.types().items():
        for key, prop in st.option_schema().get("properties", {}).items():
            props.setdefault(key, dict(prop))
    for prop in props.values():
        prop.pop("default", None)  # the core fills defaults; a client may omit any optional field
    props["start"] = {"type": "boolean", "description": "start it now (default true)"}
    return {"type": "object", "required": list(base["required"]), "properties": props,
            "additionalProperties": True}


def openapi_paths() -> dict[str, Any]:
    """The services, API-key and lifecycle endpoints for portal/openapi.py."""
    err = {"$ref": "#/components/schemas/Error"}
    view = {"$ref": "#/components/schemas/Service"}

    def resp(desc: str, schema: dict[str, Any] | None = None, mime: str = "application/json") -> dict[str, Any]:
        return {"description": desc, **({"content": {mime: {"schema": schema}}} if schema else {})}

    def errors(*codes: int) -> dict[str, Any]:
        return {str(c): resp("error (the field is named)", err) for c in codes}

    conflict = {"type": "object", "properties": {
        "error": {"type": "string"}, "field": {"type": ["string", "null"]}, "fix": {"type": ["string", "null"]},
        "state": {"type": ["string", "null"]}, "allowed": {"type": "array", "items": {"type": "string"}}}}
    ref = {"name": "ref", "in": "path", "required": True, "schema": {"type": "string"},
           "description": "service id or alias"}
    json_body = lambda schema: {"required": True, "content": {"application/json": {"schema": schema}}}  # noqa: E731
    paths: dict[str, Any] = {
        "/service-types": {"get": {"summary": "service types with their form schemas",
                                   "responses": {"200": resp("types", {"type": "array"}), **errors(401)}}},
        "/services": {
            "get": {"summary": "your services and those shared with you (admins: all=1 for everyone's)",
                    "parameters": [{"name": "all", "in": "query", "required": False,
                                    "schema": {"type": "string", "enum": ["0", "1", "true"]}}],
                    "responses": {"200": resp("services", {"type": "array", "items": view}), **errors(401)}},
            "post": {"summary": "create a service (and start it unless start is false)",
                     "requestBody": json_body({"$ref": "#/components/schemas/ServiceValues"}),
                     "responses": {"201": resp("created", view), **errors(400, 401, 403, 503)}}},
        "/services/{ref}": {
            "get": {"summary": "one service: state, addresses, command, log tail", "parameters": [ref],
                    "responses": {"200": resp("the service", view), **errors(401, 404)}},
            "patch": {"summary": "change parameters (a running service restarts with them)", "parameters": [ref],
                      "requestBody": json_body({"type": "object", "additionalProperties": True}),
                      "responses": {"200": resp("the service", view), **errors(400, 401, 403, 404, 503),
                                    "409": resp("made by a development environment", conflict)}},
            "delete": {"summary": "stop and delete a service", "parameters": [ref],
                       "responses": {"204": resp("deleted"), **errors(401, 403, 404, 503)}}},
        "/services/{ref}/authorize": {
            "post": {"summary": "the users who may use the service (replaces the list)", "parameters": [ref],
                     "requestBody": json_body({"type": "object", "required": ["users"], "properties": {
                         "users": {"type": "array", "items": {"type": "string"}}}}),
                     "responses": {"200": resp("the service", view), **errors(400, 401, 403, 404)}}},
        "/services/{ref}/log": {
            "get": {"summary": "the service's log as output.<jobid>.txt", "parameters": [ref],
                    "responses": {"200": resp("the log", {"type": "string"}, "text/plain"),
                                  **errors(401, 404)}}},
        "/service-keys": {
            "get": {"summary": "your service API keys (without secrets)",
                    "responses": {"200": resp("keys", {"type": "array"}), **errors(401)}},
            "post": {"summary": "create a service API key (shown once; at most 5)",
                     "requestBody": {"required": False, "content": {"application/json": {"schema": {
                         "type": "object", "properties": {"name": {"type": "string"}}}}}},
                     "responses": {"201": resp("created", {"type": "object"}), **errors(400, 401)}}},
        "/service-keys/{key_id}": {
            "delete": {"summary": "delete a key: it stops working at once",
                       "parameters": [{"name": "key_id", "in": "path", "required": True,
                                       "schema": {"type": "integer"}}],
                       "responses": {"204": resp("deleted"), **errors(401, 404)}}},
    }
    for action in LIFECYCLE:
        paths[f"/services/{{ref}}/{action}"] = {"post": {
            "summary": f"{action} a service (owner; admins too); only in states {', '.join(LIFECYCLE[action])}",
            "parameters": [ref],
            "responses": {"200": resp("the service", view), **errors(400, 401, 403, 404, 503),
                          "409": resp("not allowed in the service's state (or origin): says the state and "
                                      "the actions allowed now", conflict)}}}
    return paths


def openapi_components(p: Any) -> dict[str, Any]:
    view = {"type": "object", "required": ["id", "alias", "name", "type", "user", "state"], "properties": {
        "id": {"type": "integer"}, "alias": {"type": "string"}, "name": {"type": "string"},
        "type": {"type": "string"}, "user": {"type": "string"},
        "state": {"type": "string", "description": "stopped, queued, starting, running, failed, ..."},
        "external_path": {"type": "string"}, "internal_url": {"type": ["string", "null"]},
        "options": {"type": "object"}, "authorized": {"type": "array", "items": {"type": "string"}},
        "auth": {"type": "boolean"}, "job_id": {"type": ["integer", "null"]},
        "origin": {"type": "string", "description": "services (My services) or devenv (a development environment)"},
        "actions": {"type": "array", "items": {"type": "string"},
                    "description": "start, stop, restart: those the state and origin allow now"},
        "log_tail": {"type": "array", "items": {"type": "string"}}}}
    return {"Service": view, "ServiceValues": service_body_schema(p)}

