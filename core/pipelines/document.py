"""The pipeline document: a plain, versioned JSON object, its JSON Schema and its validation.

    {"format": 1, "name": "iris", "type": "classification", "description": "",
     "nodes": [{"id": "n1", "component": "csv_import", "properties": {"file": "iris.csv"},
                "position": {"x": 40, "y": 60}}],
     "edges": [{"from": {"node": "n1", "port": "data"}, "to": {"node": "n2", "port": "data"}}]}

The designer edits it, the engine runs it, the CLI and the API accept it. Validation reports
every problem at once; each names the node, its component and the property or port at fault,
so the designer can put its "!" marker on the right node (F48, F60, F61).
"""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from core import schema as schemas
from core.errors import HpcaiError, ValidationError, ValidationErrors
from core.pipelines.catalog import Catalog
from core.pipelines.components import Component

FORMAT = 1

_REF = {"type": "object", "required": ["node", "port"], "additionalProperties": False,
        "properties": {"node": {"type": "string", "minLength": 1}, "port": {"type": "string", "minLength": 1}}}

DOCUMENT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://hpcai.example/schemas/pipeline-1.json",
    "title": "hpcai pipeline",
    "type": "object",
    "required": ["format", "nodes", "edges"],
    "properties": {
        "format": {"const": FORMAT, "description": "version of this document format"},
        "name": {"type": "string", "maxLength": 128},
        "type": {"type": "string", "maxLength": 64, "description": "pipeline type (the product's 方案类型)"},
        "description": {"type": "string"},
        "nodes": {"type": "array", "items": {
            "type": "object", "required": ["id", "component"], "additionalProperties": False,
            "properties": {
                "id": {"type": "string", "pattern": r"^[A-Za-z0-9_.-]{1,64}$"},
                "component": {"type": "string", "minLength": 1},
                "properties": {"type": "object"},
                "position": {"type": "object", "properties": {"x": {"type": "number"}, "y": {"type": "number"}}},
            }}},
        "edges": {"type": "array", "items": {
            "type": "object", "required": ["from", "to"], "additionalProperties": False,
            "properties": {"from": _REF, "to": _REF}}},
    },
    "additionalProperties": True,  # designer state (zoom, canvas offset) rides along
}


class NodeError(ValidationError):
    """A problem of one node (or the whole pipeline when `node` is None)."""

    def __init__(self, message: str, node: str | None = None, component: str | None = None,
                 prop: str | None = None, port: str | None = None, fix: str | None = None):
        self.node, self.component, self.prop, self.port = node, component, prop, port
        where = ""
        if node:
            where = f"component {component or '?'} ({node})"
            if prop:
                where += f", property {prop}"
            elif port:
                where += f", port {port}"
        field_ = ".".join(p for p in ("nodes", node, prop or port) if p) if node else "pipeline"
        super().__init__(f"{where}: {message}" if where else message, field=field_, fix=fix)

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "node": self.node, "component": self.component,
                "property": self.prop, "port": self.port}


@dataclass
class Node:
    id: str
    component: Component
    properties: dict[str, Any]  # defaults filled in, tuples parsed


@dataclass
class Edge:
    src: str
    src_port: str
    dst: str
    dst_port: str


@dataclass
class Pipeline:
    """A validated document: nodes in topological order, edges resolved."""

    doc: dict[str, Any]
    nodes: list[Node]
    edges: list[Edge] = field(default_factory=list)

    def inputs_of(self, node_id: str) -> dict[str, list[tuple[str, str]]]:
        out: dict[str, list[tuple[str, str]]] = {}
        for e in self.edges:
            if e.dst == node_id:
                out.setdefault(e.dst_port, []).append((e.src, e.src_port))
        return out


def parse_literal(text: str) -> Any:
    """A property typed in a text box: "(2, 2)", "[1, 2]", "None", "0.5" -> Python value."""
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        return text


def _to_json(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_to_json(v) for v in value]
    if isinstance(value, list):
        return [_to_json(v) for v in value]
    return value


def normalise(comp: Component, props: dict[str, Any]) -> dict[str, Any]:
    """Defaults filled; text typed for tuple, literal, number or boolean properties parsed
    ("(2, 2)" -> [2, 2], "None" -> None, "0.5" -> 0.5). Plain text properties stay text."""
    out = schemas.with_defaults(comp.option_schema(), props)
    for key, value in list(out.items()):
        spec = comp.properties.get(key, {})
        kinds = spec.get("type", [])
        kinds = set(kinds if isinstance(kinds, list) else [kinds])
        fmt = spec.get("x-format")
        if not isinstance(value, str) or ("string" in kinds and fmt is None):
            continue
        text = value.strip()
        if text in ("", "None") and "null" in kinds:
            out[key] = None
            continue
        out[key] = _to_json(parse_literal(text))
    return out


def validate(doc: Any, catalog: Catalog, for_run: bool = False) -> Pipeline:
    """Check a document against the schema and the installed components; raise every problem
    at once (ValidationErrors of NodeError). `for_run` also refuses unavailable components."""
    if not isinstance(doc, dict):
        raise ValidationError("a pipeline must be a JSON object", field="pipeline",
                              fix="see `hpcai pipelines schema` for the format")
    structural = sorted(jsonschema.Draft202012Validator(DOCUMENT_SCHEMA).iter_errors(doc), key=lambda e: e.path)
    if structural:
        raise ValidationErrors([ValidationError(e.message,
                                                field=".".join(str(p) for p in e.absolute_path) or "pipeline",
                                                fix="see `hpcai pipelines schema` for the format")
                                for e in structural[:20]])
    errors: list[HpcaiError] = []
    if not doc["nodes"]:
        raise ValidationErrors([NodeError("the pipeline has no components (组件不能为空)",
                                          fix="drag at least one component onto the canvas")])
    nodes: dict[str, Node] = {}
    for raw in doc["nodes"]:
        nid, cname = raw["id"], raw["component"]
        if nid in nodes:
            errors.append(NodeError("this id is used by two components", nid, cname,
                                    fix="give every node its own id"))
            continue
        if cname not in catalog:
            errors.append(NodeError(f"unknown component '{cname}'", nid, cname,
                                    fix="install the plugin that provides it or remove the node"))
            continue
        comp = catalog.get(cname)
        given = raw.get("properties") or {}
        for key in given:
            if key not in comp.properties:
                errors.append(NodeError("is not a property of this component", nid, cname, key,
                                        fix="its properties are: " + (", ".join(comp.properties) or "none")))
        props = normalise(comp, {k: v for k, v in given.items() if k in comp.properties})
        for err in schemas.validate(comp.option_schema(), props):
            errors.append(NodeError(err.message, nid, cname, err.field, fix=err.fix))
        if for_run and comp.unavailable:
            errors.append(NodeError(f"cannot run here: {comp.unavailable}", nid, cname,
                                    fix="remove it or run on a site that has what it needs"))
        nodes[nid] = Node(nid, comp, props)
    edges: list[Edge] = []
    fed: dict[tuple[str, str], int] = {}
    for i, raw in enumerate(doc["edges"]):
        src, dst = raw["from"], raw["to"]
        s, d = nodes.get(src["node"]), nodes.get(dst["node"])
        if s is None or d is None:
            missing = src["node"] if s is None else dst["node"]
            if not any(n["id"] == missing for n in doc["nodes"]):
                errors.append(NodeError(f"edge {i} refers to node '{missing}', which is not in the pipeline",
                                        fix="remove the edge"))
            continue
        out_port = next((p for p in s.component.outputs if p.name == src["port"]), None)
        in_port = next((p for p in d.component.inputs if p.name == dst["port"]), None)
        if out_port is None:
            errors.append(NodeError(f"has no output port '{src['port']}'", s.id, s.component.name, port=src["port"],
                                    fix="its outputs: " + (", ".join(p.name for p in s.component.outputs) or "none")))
            continue
        if in_port is None:
            errors.append(NodeError(f"has no input port '{dst['port']}'", d.id, d.component.name, port=dst["port"],
                                    fix="its inputs: " + (", ".join(p.name for p in d.component.inputs) or "none")))
            continue
        if out_port.types[0] not in in_port.types and "any" not in in_port.types:
            errors.append(NodeError(f"takes {' or '.join(in_port.types)}, but {s.component.title} ({s.id}) "
                                    f"gives {out_port.types[0]}", d.id, d.component.name, port=in_port.name,
                                    fix="connect a component whose output fits"))
            continue
        key = (d.id, in_port.name)
        fed[key] = fed.get(key, 0) + 1
        if fed[key] > 1 and not in_port.multiple:
            errors.append(NodeError("takes one connection only", d.id, d.component.name, port=in_port.name,
                                    fix="remove one of the edges into it"))
        edges.append(Edge(s.id, out_port.name, d.id, in_port.name))
    for node in nodes.values():
        for port in node.component.inputs:
            if port.required and (node.id, port.name) not in fed:
                errors.append(NodeError("required input is not connected", node.id, node.component.name,
                                        port=port.name, fix=f"connect a {' or '.join(port.types)} output to it"))
    order = _topological(nodes, edges, errors)
    if errors:
        raise ValidationErrors(errors)
    return Pipeline(copy.deepcopy(doc), [nodes[n] for n in order], edges)


def _topological(nodes: dict[str, Node], edges: list[Edge], errors: list[HpcaiError]) -> list[str]:
    """Kahn's order (stable: document order among ready nodes); a cycle names its nodes."""
    indeg = {n: 0 for n in nodes}
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for e in edges:
        indeg[e.dst] += 1
        succ[e.src].append(e.dst)
    ready = [n for n in nodes if indeg[n] == 0]
    order: list[str] = []
    while ready:
        n = ready.pop(0)
        order.append(n)
        for m in succ[n]:
            indeg[m] -= 1
            if indeg[m] == 0:
                ready.append(m)
    if len(order) < len(nodes):
        loop = [n for n in nodes if n not in order]
        first = nodes[loop[0]]
        errors.append(NodeError("is part of a cycle: " + " -> ".join(loop), first.id, first.component.name,
                                fix="a pipeline is a DAG; remove an edge of the loop"))
    return order


def resolve_paths(doc: dict[str, Any], base: Path, catalog: Catalog) -> dict[str, Any]:
    """A copy whose relative file/directory properties are taken relative to `base` (the
    directory of the JSON file run from the CLI), so a pipeline and its data travel together."""
    out = copy.deepcopy(doc)
    for node in out.get("nodes", []) if isinstance(out.get("nodes"), list) else []:
        if not isinstance(node, dict) or node.get("component") not in catalog:
            continue
        comp = catalog.get(node["component"])
        props = node.get("properties") or {}
        for key, value in props.items():
            widget = comp.properties.get(key, {}).get("x-widget")
            if widget in ("file", "directory") and isinstance(value, str) and value and not Path(value).is_absolute():
                props[key] = str((base / value).resolve())
    return out
