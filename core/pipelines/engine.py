"""The engine: a validated pipeline -> the run plan the job-side runner executes, and the job
that runs it.

A run is one scheduler job through the platform's job-submission path (so it runs as its user,
on whatever scheduler the site uses, with the resource spec asked at Run), in the catalog image
the components need. The run directory (instance data) holds run.json, the custom functions
the pipeline uses, every file the steps write, nodes.json (per-node state) and metrics.json.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

from core.errors import ValidationError, ValidationErrors
from core.pipelines.document import NodeError, Pipeline

DEFAULT_IMAGE = "pytorch"  # hpcai's own environment: Keras 3 (torch backend), scikit-learn, pandas
RUNNER = "core.pipelines.runner"


class ModelSource(Protocol):
    """The seam to the model registry (another issue builds it): a Model library node names a
    registered model and version; the registry answers with the file the run loads."""

    def resolve(self, user: str, name: str, version: str | None) -> dict[str, Any]:
        """{"path": file, "kind": "sklearn" | "keras", "task": ...}; raises HpcaiError if unknown."""

    def register(self, user: str, name: str, directory: str, purpose: str, description: str) -> str:
        """A trained model of a finished run as a new version; returns "name vN" for the log."""


class NoRegistry:
    def register(self, user: str, name: str, directory: str, purpose: str, description: str) -> str:
        return ""  # nothing to register into: the run's files stay in its instance data

    def resolve(self, user: str, name: str, version: str | None) -> dict[str, Any]:
        raise ValidationError("the model registry is not installed on this site yet (it is being built "
                              "as its own issue); Model library cannot pick a model",
                              field="model_name", fix="train the model in this pipeline instead")


@dataclass
class RunSettings:
    """What the Run dialog asks (spec 02 §1.4): resources, and optionally where."""

    resource_spec: str = "cpu-1"
    scheduler: str | None = None
    queue: str | None = None
    experiment: str | None = None  # default: the pipeline's name


def stage_image(pipeline: Pipeline) -> str:
    """The one image every component runs in (a run is one job)."""
    images = {n.component.image or DEFAULT_IMAGE for n in pipeline.nodes}
    if len(images) > 1:
        raise ValidationErrors([NodeError(f"needs image {n.component.image or DEFAULT_IMAGE}, but other components "
                                          f"need {', '.join(sorted(images - {n.component.image or DEFAULT_IMAGE}))}",
                                          n.id, n.component.name,
                                          fix="split the pipeline: one run per image")
                                for n in pipeline.nodes if n.component.image])
    return images.pop()


def compile_plan(pipeline: Pipeline, name: str, instance: str, experiment: str | None = None,
                 resolve: Callable[[Any], dict[str, Any]] | None = None) -> dict[str, Any]:
    """The run plan: steps in topological order with their code, target, properties, library
    kwargs and input wiring. `resolve(node)` may return properties to set at Run (dataset
    files, registry model paths)."""
    steps = []
    for node in pipeline.nodes:
        props = dict(node.properties)
        if resolve is not None:
            props.update(resolve(node))
        comp = node.component
        steps.append({"id": node.id, "component": comp.name, "title": props.get("alias") or comp.title,
                      "run": comp.run, "target": comp.target, "props": props,
                      "kwargs": comp.library_kwargs(props), "env": dict(comp.env),
                      "inputs": {port: [list(ref) for ref in refs]
                                 for port, refs in pipeline.inputs_of(node.id).items()}})
    return {"format": 1, "pipeline": name, "instance": instance, "experiment": experiment or name, "steps": steps}


def ports_needed(pipeline: Pipeline, plan: dict[str, Any]) -> int:
    """Ports the run's job must be allocated: the sum of what its components' `ports_for` ask,
    given each step's properties as resolved at Run (a simulator's port count, say)."""
    import importlib

    props = {step["id"]: step["props"] for step in plan["steps"]}
    total = 0
    for node in pipeline.nodes:
        if node.component.ports_for:
            module, _, func = node.component.ports_for.partition(":")
            total += int(getattr(importlib.import_module(module), func)(dict(props.get(node.id, node.properties))))
    return total


def custom_functions_used(pipeline: Pipeline) -> list[tuple[str, str]]:
    """(kind, name) of every custom loss/metric function the pipeline's properties name."""
    used: list[tuple[str, str]] = []
    for node in pipeline.nodes:
        for key, spec in node.component.properties.items():
            if spec.get("x-widget") != "custom-function":
                continue
            value = node.properties.get(key)
            names = value if isinstance(value, list) else [value] if value else []
            used += [(spec.get("x-kind", "loss"), str(n)) for n in names]
    return used


def write_run_dir(run_dir: Path, plan: dict[str, Any], functions: dict[str, str]) -> Path:
    """run.json and custom/<name>.py for each custom function (imported by the runner)."""
    run_dir.mkdir(parents=True, exist_ok=False)
    if functions:
        custom = run_dir / "custom"
        custom.mkdir()
        for fname, body in functions.items():
            (custom / f"{fname}.py").write_text(body)
    path = run_dir / "run.json"
    path.write_text(json.dumps(plan, indent=1, default=str))
    return path


def runner_command(run_json: Path) -> str:
    return f"python -m {RUNNER} {run_json}"
