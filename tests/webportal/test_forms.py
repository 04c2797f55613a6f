"""portal.forms: widgets from any schema, visible_if, typed values, errors per field."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from core.errors import ValidationError, ValidationErrors
from portal.forms import TabGroup, error_map, parse_form, sections, widgets

SCHEMA = {
    "type": "object", "required": ["role_count"],
    "properties": {
        "tracking": {"type": "string", "enum": ["off", "mlflow"], "default": "off", "x-order": 1},
        "experiment": {"type": "string", "title": "Experiment", "x-visible-if": {"tracking": "mlflow"}, "x-order": 2},
        "role_count": {"type": "integer", "minimum": 1, "x-order": 3},
        "fast": {"type": "boolean", "x-order": 4},
        "extra": {"type": "array", "x-widget": "mounts", "x-order": 5},
    },
}


def test_visible_if_hides_and_drops_fields() -> None:
    ws = {w.name: w for w in widgets(SCHEMA, {"tracking": "off"}, {}, [], [], "")}
    assert not ws["experiment"].visible and '"tracking": "mlflow"' in ws["experiment"].visible_if
    assert ws["tracking"].kind == "select" and ws["fast"].kind == "switch" and ws["role_count"].kind == "number"
    hidden = parse_form(SCHEMA, MultiDict({"tracking": "off", "experiment": "e1", "role_count": "2"}))
    assert "experiment" not in hidden and hidden["role_count"] == 2 and hidden["fast"] is False
    shown = parse_form(SCHEMA, MultiDict({"tracking": "mlflow", "experiment": "e1", "fast": "on"}))
    assert shown["experiment"] == "e1" and shown["fast"] is True


def test_rows_and_typing_errors() -> None:
    form = MultiDict([("extra.source", "/data"), ("extra.target", ""), ("extra.source", ""), ("extra.target", ""),
                      ("role_count", "x")])
    with pytest.raises(ValidationErrors) as e:
        parse_form(SCHEMA, form)
    assert error_map(e.value) == {"role_count": "'x' is not a whole number"}
    ok = parse_form(SCHEMA, MultiDict([("extra.source", "/data"), ("extra.target", "")]))
    assert ok["extra"] == [{"source": "/data", "target": None}]


def test_error_map_keeps_the_first_error_of_a_field() -> None:
    errs = ValidationErrors([ValidationError("is required", field="command", fix="give it"),
                             ValidationError("does not match", field="command")])
    assert error_map(errs) == {"command": "is required — give it"}


def test_spec_picker_follows_the_cores_spec_kind_and_reason() -> None:
    """GPU-only frameworks and service types: the core marks the picker (x-spec-kind) and says why
    it is empty (x-unavailable); the form shows only that kind and the reason, no CPU/GPU switch."""
    from core.types import ResourceSpec

    specs = [ResourceSpec("cpu-1"), ResourceSpec("gpu-1", kind="gpu", gpus=1)]
    schema = {"type": "object", "properties": {"resource_spec": {"type": "string", "x-widget": "resource-spec"}}}
    any_kind = widgets(schema, {}, {}, specs, [], "")[0].extra
    assert [s.name for s in any_kind["specs"]] == ["cpu-1", "gpu-1"] and not any_kind["gpu_only"]
    schema["properties"]["resource_spec"].update({"x-spec-kind": "gpu", "x-unavailable": "no GPU spec here"})
    gpu = widgets(schema, {}, {}, specs, [], "")[0].extra
    assert [s.name for s in gpu["specs"]] == ["gpu-1"] and gpu["gpu_only"] and gpu["kind"] == "gpu"
    assert gpu["unavailable"] == "no GPU spec here"
    schema["properties"]["resource_spec"]["x-spec-kind"] = "cpu"
    cpu = widgets(schema, {}, {}, specs, [], "")[0].extra
    assert [s.name for s in cpu["specs"]] == ["cpu-1"] and cpu["cpu_only"] and cpu["kind"] == "cpu"


def test_x_tab_fields_become_one_tab_group_where_the_first_stands() -> None:
    """Any schema's x-tab/x-tab-group hints (F115): tabs in the order of their first field; the
    shown tab is the one with an error, else one holding a value, else the first."""
    on = {"x-visible-if": {"use": True}, "x-tab-group": "src"}
    schema = {"type": "object", "properties": {
        "use": {"type": "boolean", "x-order": 1},
        "a": {"type": "string", "x-order": 2, "x-tab": "By hand", **on},
        "b": {"type": "integer", "x-order": 3, "x-tab": "By hand", **on},
        "f": {"type": "string", "x-order": 4, "x-tab": "From a file", **on},
        "after": {"type": "string", "x-order": 5}}}
    out = sections(widgets(schema, {"use": False}, {}, [], [], ""))
    assert [getattr(x, "name") for x in out] == ["use", "src", "after"]
    group = out[1]
    assert isinstance(group, TabGroup)
    assert [(label, [w.name for w in ws]) for label, ws in group.tabs] == [("By hand", ["a", "b"]), ("From a file", ["f"])]
    assert not group.visible and group.visible_if == '{"use": true}' and group.active == 0
    assert sections(widgets(schema, {"use": True, "f": "x.json"}, {}, [], [], ""))[1].active == 1
    assert sections(widgets(schema, {"use": True, "f": "x"}, {"b": "bad"}, [], [], ""))[1].active == 0
    # the page says which tab it was submitted from: the other tabs' fields are dropped
    posted = {"use": "on", "a": "typed", "b": "3", "f": "x.json"}
    assert parse_form(schema, MultiDict({**posted, "_tab.src": "From a file"})) == {"use": True, "f": "x.json"}
    assert parse_form(schema, MultiDict({**posted, "_tab.src": "By hand"})) == {"use": True, "a": "typed", "b": 3}
    # a client without the page's script: every tab's fields count
    assert parse_form(schema, MultiDict(posted)) == {"use": True, "a": "typed", "b": 3, "f": "x.json"}


def test_an_optional_select_without_default_offers_the_default() -> None:
    schema = {"type": "object", "required": ["must"], "properties": {
        "opt": {"type": "string", "enum": ["b", "a"]},
        "must": {"type": "string", "enum": ["x", "y"]},
        "dflt": {"type": "string", "enum": ["p", "q"], "default": "q"}}}
    ws = {w.name: w for w in widgets(schema, {}, {}, [], [], "")}
    assert ws["opt"].choices == [("", "— default —"), ("b", "b"), ("a", "a")]
    assert ws["must"].choices == [("x", "x"), ("y", "y")] and ws["dflt"].choices == [("p", "p"), ("q", "q")]
    assert "opt" not in parse_form(schema, MultiDict({"opt": "", "must": "x"}))
