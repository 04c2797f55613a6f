"""Turn the core's merged form schema into widgets, and posted HTML form data into values.

No field is known here by name except through its `x-widget`: a plugin that adds a field to
the schema gets a widget in the form and a value in the job without a change in this file.
Fields whose schema names an `x-tab` (and an `x-tab-group`) are shown as tabs of that group:
two ways of giving the same thing, e.g. auto-tuning's "Set parameters" and "Parameter file".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import MultiDict

from core.errors import HpcaiError, ValidationError
from core.schema import is_visible
from core.types import ResourceSpec

# Fields the product's form does not show (the CLI and API still accept them).
# Offered only where the site has a choice: one runtime or one scheduler is no question to ask.
CHOICE_ONLY = ("runtime", "scheduler")


def shown_in_form(name: str, prop: dict[str, Any]) -> bool:
    """Not a field the chosen scheduler cannot honour, nor a choice with one answer."""
    if prop.get("x-not-applicable"):
        return False
    return not (name in CHOICE_ONLY and len(prop.get("enum", [])) <= 1)
SELECTORS = ("framework", "mode", "runtime")


@dataclass
class Widget:
    name: str
    kind: str  # text, textarea, select, number, switch, mounts, env, directory, image, resource-spec
    title: str
    value: Any
    required: bool
    description: str = ""
    choices: list[tuple[str, str]] = field(default_factory=list)
    visible: bool = True
    visible_if: str = ""  # JSON for the page's script
    error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    tab: str = ""  # x-tab: the tab of its x-tab-group this field is on
    tab_group: str = ""


@dataclass
class TabGroup:
    """Fields on tabs (one section of the form): tabs in the order their first field comes."""

    name: str
    tabs: list[tuple[str, list[Widget]]]
    active: int  # the tab shown first: the one with an error, else one holding a value
    visible: bool
    visible_if: str  # the fields' own rule when they all share it (the tab bar hides with them)
    kind: str = "tabs"

    @property
    def input_name(self) -> str:
        return tab_input(self.name)


def sections(ws: list[Widget]) -> list[Widget | TabGroup]:
    """The form's widgets with each x-tab-group gathered where its first field stands."""
    out: list[Widget | TabGroup] = []
    groups: dict[str, dict[str, list[Widget]]] = {}
    for w in ws:
        if not (w.tab and w.tab_group):
            out.append(w)
            continue
        if w.tab_group not in groups:
            groups[w.tab_group] = {}
            out.append(TabGroup(name=w.tab_group, tabs=[], active=0, visible=False, visible_if=""))
        groups[w.tab_group].setdefault(w.tab, []).append(w)
    for item in out:
        if isinstance(item, TabGroup):
            tabs = list(groups[item.name].items())
            members = [w for _, tab in tabs for w in tab]
            rules = {w.visible_if for w in members}
            item.tabs = tabs
            item.visible = any(w.visible for w in members)
            item.visible_if = rules.pop() if len(rules) == 1 else ""
            with_error = [i for i, (_, tab) in enumerate(tabs) if any(w.error for w in tab)]
            with_value = [i for i, (_, tab) in enumerate(tabs) if any(w.value not in (None, "") for w in tab)]
            item.active = (with_error or with_value or [0])[0]
    return out


def widget_kind(prop: dict[str, Any]) -> str:
    w = prop.get("x-widget")
    if w:
        return "select" if w == "select" and "enum" not in prop else w
    if "enum" in prop:
        return "select"
    t = prop.get("type")
    if t == "boolean":
        return "switch"
    if t in ("integer", "number"):
        return "number"
    return "text"


def _display(value: Any, kind: str) -> Any:
    if kind == "env" and isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items())
    return value


def widgets(schema: dict[str, Any], values: dict[str, Any], errors: dict[str, str],
            specs: list[ResourceSpec], images: list[Any], image_tag: str) -> list[Widget]:
    props = sorted(schema["properties"].items(), key=lambda kv: (kv[1].get("x-order", 100), kv[0]))
    out = []
    for name, prop in props:
        if not shown_in_form(name, prop):
            continue
        kind = widget_kind(prop)
        value = values.get(name, prop.get("default"))
        w = Widget(name=name, kind=kind, title=prop.get("title", name), value=_display(value, kind),
                   required=name in schema.get("required", []), description=prop.get("description", ""),
                   visible=is_visible(prop, values),
                   visible_if=json.dumps(prop["x-visible-if"]) if prop.get("x-visible-if") else "",
                   error=errors.get(name, ""), tab=str(prop.get("x-tab", "")),
                   tab_group=str(prop.get("x-tab-group", "")))
        if kind == "select":
            labels = prop.get("x-enum-labels", {})
            w.choices = [(str(v), str(labels.get(str(v), v))) for v in prop.get("enum", [])]
            if not w.required and "default" not in prop:
                # else the browser posts the first choice, and the plugin's own default (e.g.
                # auto-tuning's MedianPruner) could never apply
                w.choices.insert(0, ("", "— default —"))
        elif kind == "image":
            w.choices = [(i.name, i.name) for i in images]
            w.extra = {"tags": {i.name: list(i.tags) for i in images}, "tag": image_tag,
                       "descriptions": {i.name: i.description for i in images}}
        elif kind == "resource-spec":
            # the core marks pickers that take one kind of spec only (x-spec-kind) and says why
            # one is empty (x-unavailable): GPU-only frameworks and service types, CPU-only ones
            only = prop.get("x-spec-kind")
            usable = [s for s in specs if only is None or s.kind == only]
            w.extra = {"specs": usable, "node_groups": sorted({s.node_group for s in usable if s.node_group}),
                       "gpu_only": only == "gpu", "cpu_only": only == "cpu",
                       "unavailable": prop.get("x-unavailable", ""),
                       "kind": next((s.kind for s in usable if s.name == value), only or "cpu")}
        elif kind == "mounts":
            rows = value or []
            w.value = [m if isinstance(m, dict) else {"source": str(m), "target": ""} for m in rows]
        out.append(w)
    return out


def parse_form(schema: dict[str, Any], form: MultiDict) -> dict[str, Any]:
    """Posted strings -> typed values for the visible fields (hidden ones are dropped).

    A value that cannot be typed (`abc` for an integer) becomes a field error right here,
    collected with the rest so the form can show them all.
    """
    raw: dict[str, Any] = {}
    errors: list[HpcaiError] = []
    props = schema["properties"]
    for name, prop in props.items():
        kind = widget_kind(prop)
        if kind == "mounts":
            sources = form.getlist(f"{name}.source")
            targets = form.getlist(f"{name}.target")
            raw[name] = [{"source": s.strip(), "target": (t.strip() or None)}
                         for s, t in zip(sources, targets + [""] * len(sources)) if s.strip()]
            continue
        if kind == "switch":
            raw[name] = form.get(name) in ("on", "true", "1", "yes")
            continue
        text = form.get(name)
        if text is None or text.strip() == "":
            continue
        t = prop.get("type")
        if t == "integer":
            try:
                raw[name] = int(text.strip())
            except ValueError:
                errors.append(ValidationError(f"'{text}' is not a whole number", field=name))
        elif t == "number":
            try:
                raw[name] = float(text.strip())
            except ValueError:
                errors.append(ValidationError(f"'{text}' is not a number", field=name))
        else:
            raw[name] = text if kind in ("textarea", "env", "json-file") else text.strip()
    visible = {k: v for k, v in raw.items()
               if is_visible(props.get(k, {}), raw) and on_chosen_tab(props.get(k, {}), form)
               and not props.get(k, {}).get("x-not-applicable")}
    if errors:
        from core.errors import ValidationErrors

        raise ValidationErrors(errors)
    return visible


def tab_input(group: str) -> str:
    """The form input that says which tab of an x-tab-group the user submitted from."""
    return f"_tab.{group}"


def on_chosen_tab(prop: dict[str, Any], form: MultiDict) -> bool:
    """A field on a tab other than the one the form was submitted from is dropped, like a hidden
    field: the tabs are alternative ways, so what a user typed on the other one must not sneak
    in. Without the input (a client without the page's script) every tab's fields count."""
    group, tab = prop.get("x-tab-group"), prop.get("x-tab")
    chosen = form.get(tab_input(str(group))) if group and tab else None
    return not chosen or chosen == tab


def error_map(exc: HpcaiError) -> dict[str, str]:
    """field -> words, for showing each error next to its field."""
    items = getattr(exc, "errors", None) or [exc]
    out: dict[str, str] = {}
    for e in items:
        text = e.message + (f" — {e.fix}" if e.fix else "")
        key = e.field or "form"
        out.setdefault(key, text)  # the first problem of a field is the one to fix first
    return out


_FLAG = re.compile(r"--([a-z][a-z0-9-]*)")


def web_words(text: str, schema: dict[str, Any]) -> str:
    """An error written for the CLI (`--workdir ~/x`) in the form's terms (“Project directory”)."""
    props = schema.get("properties", {})

    def title(m: re.Match[str]) -> str:
        name = m.group(1).replace("-", "_")
        prop = props.get(name) or next((p for p in props.values() if p.get("x-cli") == m.group(0)), None)
        return f"“{prop.get('title', name)}”" if prop else m.group(0)

    return _FLAG.sub(title, text)
