"""Pipeline components: what a plugin declares through `hpcai_pipeline_components()`.

A component is data: its palette place (category, group), typed ports, a property schema
(JSON Schema with the same UI hints as every other form) and the job-side code it contributes
(`run`, "module:function", called by core.pipelines.runner with one Step). Long uniform families
(every Keras layer, every scikit-learn estimator) are rows of a table turned into components by
`prop()`/`Component` here, with `target` naming the library's own class and `args` mapping each
property onto the class's keyword argument.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: The product's nine palette categories (spec 02 §1.2), in palette order. A component may name
#: another category: the palette then shows it after these (the RL issue adds its own).
CATEGORIES = ("Data extraction", "Data loading", "Data pre-processing", "Model design", "Model library",
              "Algorithm library", "Model result visualisation", "Model prediction", "Tools")

#: Port types. An input port lists the types it accepts; an edge is allowed when the output's
#: type is among them.
PORT_TYPES = ("table", "images", "generator", "files", "model", "trained", "predictions", "any",
              "environment", "offline", "algorithm", "policy", "simulator")  # the last five: RL pipelines


@dataclass(frozen=True)
class Port:
    name: str
    types: tuple[str, ...]  # an output port has exactly one type
    required: bool = True
    multiple: bool = False  # an input that takes several edges (Concatenate, Add ...)
    title: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "types": list(self.types), "required": self.required,
                "multiple": self.multiple, "title": self.title or self.name}


def inp(name: str, *types: str, required: bool = True, multiple: bool = False) -> Port:
    return Port(name, tuple(types), required, multiple)


def out(name: str, type_: str) -> Port:
    return Port(name, (type_,))


@dataclass
class Component:
    """One palette entry. `name` is unique over all plugins (the document refers to it)."""

    name: str
    title: str
    category: str
    run: str  # job-side code, "module:function"
    group: str = ""  # sub-heading in the palette (e.g. "Convolution layers")
    description: str = ""
    inputs: tuple[Port, ...] = ()
    outputs: tuple[Port, ...] = ()
    properties: dict[str, Any] = field(default_factory=dict)  # name -> JSON Schema property
    required: tuple[str, ...] = ()
    target: str = ""  # the library's class/function this component maps onto ("keras.layers.Dense")
    args: dict[str, str | None] = field(default_factory=dict)  # property -> library kwarg (None: UI only)
    image: str = ""  # catalog image the step needs ("" = the platform's default image)
    env: dict[str, str] = field(default_factory=dict)  # env the step needs (KERAS_BACKEND=torch)
    #: why this component cannot run here (pretrained weights, data this machine cannot fetch);
    #: validation refuses a run that uses it, with this text. "" = runnable.
    unavailable: str = ""
    note: str = ""  # shown in the property panel (limits, errata of the manual)
    #: "module:function" (props -> int): ports the step needs allocated to the run's job (an RL
    #: step's own Ray cluster); the job gets them in $HPCAI_PORTS. "" = none.
    ports_for: str = ""
    #: a resolver of the platform that fills properties at Run from what the user registered
    #: ("simulation-environment": the simulator a run of the user gets). "" = none.
    resolve: str = ""
    plugin: str = ""  # filled by the catalog: which plugin contributed it

    def option_schema(self) -> dict[str, Any]:
        return {"type": "object", "properties": self.properties, "required": list(self.required)}

    def defaults(self) -> dict[str, Any]:
        return {k: p["default"] for k, p in self.properties.items() if "default" in p}

    def library_kwargs(self, props: dict[str, Any]) -> dict[str, Any]:
        """The properties as the target's keyword arguments (UI-only and None values left out)."""
        out_: dict[str, Any] = {}
        for key, value in props.items():
            if key not in self.properties:
                continue
            arg = self.args.get(key, key)
            if arg is None or value is None:
                continue
            spec = self.properties[key]
            if spec.get("x-only-if-changed") and value == spec.get("default"):
                continue  # deprecated in the library: passing even its default warns
            if self.properties[key].get("x-format") == "tuple" and isinstance(value, list):
                value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
            out_[arg] = value
        return out_

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "category": self.category, "group": self.group,
                "description": self.description, "inputs": [p.as_dict() for p in self.inputs],
                "outputs": [p.as_dict() for p in self.outputs], "schema": self.option_schema(),
                "target": self.target, "image": self.image, "unavailable": self.unavailable,
                "note": self.note, "plugin": self.plugin}


# --- property helpers: the tables' vocabulary ------------------------------------------------

_TYPES = {"int": "integer", "float": "number", "bool": "boolean", "str": "string", "text": "string",
          "code": "string", "list": "array", "dict": "object", "file": "string", "dir": "string"}


def prop(kind: str, default: Any = None, title: str = "", enum: tuple[Any, ...] | list[Any] | None = None,
         minimum: float | None = None, maximum: float | None = None, nullable: bool = True,
         description: str = "", widget: str = "", pattern: str | None = None, **extra: Any) -> dict[str, Any]:
    """One property. `kind`: int, float, bool, str, text, code, list, dict, file, dir, tuple
    (an int or a tuple of ints, written "(2, 2)" or [2, 2]), shape (a tuple that may hold
    None), or any (a literal: number, string, list). `nullable` lets None mean "library default"."""
    if kind in ("tuple", "shape"):
        item = {"type": ["integer", "null"]} if kind == "shape" else {"type": "integer"}
        schema: dict[str, Any] = {"type": ["integer", "array"],
                                  "items": {"anyOf": [item, {"type": "array", "items": item}]},
                                  "x-format": "tuple"}
    elif kind == "any":
        schema = {"type": ["number", "string", "array", "boolean", "object"], "x-format": "literal"}
    elif kind in ("float_or_int",):
        schema = {"type": "number"}
    else:
        schema = {"type": _TYPES[kind]}
    if nullable:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        schema["type"] = [*types, "null"]
    if enum is not None:
        schema["enum"] = list(enum) + ([None] if nullable and None not in enum else [])
        schema["x-widget"] = "select"
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    if default is not None or nullable:
        schema["default"] = default
    if pattern is not None:
        schema["pattern"] = pattern
    if title:
        schema["title"] = title
    if description:
        schema["description"] = description
    widget = widget or {"bool": "switch", "code": "code", "text": "textarea", "file": "file",
                        "dir": "directory"}.get(kind, "")
    if widget and "x-widget" not in schema:
        schema["x-widget"] = widget
    schema.update({"x-" + k.removeprefix("x_").replace("_", "-"): v for k, v in extra.items()})
    return schema


def alias_prop(default: str) -> dict[str, Any]:
    """The display name every component may carry (the manual's `alias`)."""
    return prop("str", default, title="Alias", description="the name shown on the canvas")
