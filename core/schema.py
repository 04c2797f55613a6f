"""Option schemas: merge plugin fragments, fill defaults, validate with field-named errors.

A fragment is a JSON Schema object. Properties may carry UI hints that the shells read:
`x-widget` (text, textarea, select, resource-spec, directory, mounts, switch, number),
`x-visible-if` ({"other_field": value or [values]}), `x-enum-labels`, `x-order`, `x-cli` (flag
name), `x-fix` (what to tell a user who got the field wrong), and `x-tab` + `x-tab-group` (the
form shows the group's fields on tabs, one per x-tab: alternative ways to give the same thing).
"""

from __future__ import annotations

import copy
from typing import Any

import jsonschema

from core.errors import HpcaiError, ValidationError


def merge(fragments: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Merge schema fragments; a property defined by two owners is refused with both names."""
    merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
    owner_of: dict[str, str] = {}
    for owner, fragment in fragments:
        for name, prop in fragment.get("properties", {}).items():
            if name in owner_of:
                raise HpcaiError(f"field '{name}' is defined by both {owner_of[name]} and {owner}",
                                 fix="rename the field in one of the plugins or disable one")
            owner_of[name] = owner
            prop = copy.deepcopy(prop)
            prop.setdefault("x-owner", owner)
            merged["properties"][name] = prop
        merged["required"].extend(r for r in fragment.get("required", []) if r not in merged["required"])
    return merged


def is_visible(prop: dict[str, Any], values: dict[str, Any]) -> bool:
    rule = prop.get("x-visible-if")
    if not rule:
        return True
    for other, wanted in rule.items():
        allowed = wanted if isinstance(wanted, list) else [wanted]
        if values.get(other) not in allowed:
            return False
    return True


def with_defaults(schema: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    for name, prop in schema.get("properties", {}).items():
        if out.get(name) is None and "default" in prop:
            out[name] = copy.deepcopy(prop["default"])
    return out


def _flag(name: str, prop: dict[str, Any]) -> str:
    return prop.get("x-cli") or "--" + name.replace("_", "-")


def _fix(name: str, prop: dict[str, Any]) -> str | None:
    if "x-fix" in prop:
        return prop["x-fix"]
    if "enum" in prop:
        return "choose one of: " + ", ".join(str(v) for v in prop["enum"])
    return None


def _message(err: jsonschema.ValidationError, prop: dict[str, Any]) -> str:
    v = err.validator
    if v == "minimum":
        return f"must be at least {err.validator_value}, got {err.instance!r}"
    if v == "maximum":
        return f"must be at most {err.validator_value}, got {err.instance!r}"
    if v == "type":
        return f"must be of type {err.validator_value}, got {err.instance!r}"
    if v == "enum":
        return f"{err.instance!r} is not allowed"
    if v == "minLength":
        return "must not be empty"
    if v == "maxLength":
        return f"must be at most {err.validator_value} characters"
    if v == "pattern" and err.validator_value == r"\S":
        return "must not be empty or blank"
    if v == "pattern":
        return f"{err.instance!r} does not match the required pattern {err.validator_value}"
    return err.message


def validate(schema: dict[str, Any], values: dict[str, Any]) -> list[HpcaiError]:
    """Field-named errors for the visible fields; hidden fields are not checked."""
    props = schema.get("properties", {})
    visible = {k: v for k, v in props.items() if is_visible(v, values)}
    checked = {
        "type": "object",
        "properties": visible,
        "required": [r for r in schema.get("required", []) if r in visible],
    }
    # An empty text is no value: a required field then says "is required", not "must not be empty".
    present = {k: v for k, v in values.items() if v is not None and v != "" and k in visible}
    errors: list[HpcaiError] = []
    for err in sorted(jsonschema.Draft202012Validator(checked).iter_errors(present), key=str):
        if err.validator == "required":
            name = err.message.split("'")[1]
            prop = visible.get(name, {})
            errors.append(ValidationError("is required", field=name,
                                          fix=_fix(name, prop) or f"give {_flag(name, prop)}"))
            continue
        name = str(err.absolute_path[0]) if err.absolute_path else "request"
        prop = visible.get(name, {})
        errors.append(ValidationError(_message(err, prop), field=name, fix=_fix(name, prop)))
    return errors
