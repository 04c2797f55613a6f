"""The job side of a pipeline run: `python -m core.pipelines.runner run.json`.

run.json (written by core.pipelines.engine) lists the steps in topological order, each with
its component's code ("module:function"), library target, properties and where its inputs
come from. The runner needs no plugin registry: it imports each step's code by name and
calls it with one Step. Parameters and metrics go to MLflow through libaiflow, the run
tagged `designer`; every node's state goes to nodes.json in the run directory (the instance
drawer reads it), every file the run writes stays in the run directory (instance data, F79).
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable


class StepError(Exception):
    """A problem a component found at run time (bad data, wrong column); the log names the node."""


@dataclass
class RunContext:
    run_dir: Path
    pipeline: str
    instance: str
    tracking: bool = False
    metrics: dict[str, float] = field(default_factory=dict)
    custom_dir: Path | None = None

    def node_dir(self, node_id: str) -> Path:
        d = self.run_dir / "nodes" / node_id
        d.mkdir(parents=True, exist_ok=True)
        return d

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        self.metrics[key] = float(value)
        if self.tracking:
            import libaiflow
            libaiflow.log_metric(key, float(value), step=step)

    def log_params(self, params: dict[str, Any]) -> None:
        if self.tracking and params:
            import libaiflow
            libaiflow.log_params({k: str(v)[:500] for k, v in params.items()})

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        if self.tracking:
            import libaiflow
            libaiflow.log_artifact(str(path), artifact_path)

    def custom_function(self, name: str) -> Any:
        """A custom loss or metric function saved with the pipeline (spec 02 §1.3)."""
        if self.custom_dir is None or not (self.custom_dir / f"{name}.py").exists():
            raise StepError(f"custom function {name!r} is not part of this run")
        if str(self.custom_dir) not in sys.path:
            sys.path.insert(0, str(self.custom_dir))
        module = importlib.import_module(name)
        return getattr(module, name)


@dataclass
class Step:
    id: str
    component: str
    title: str
    target: str
    props: dict[str, Any]
    kwargs: dict[str, Any]
    inputs: dict[str, list[Any]]
    ctx: RunContext

    def input(self, port: str, default: Any = None) -> Any:
        values = self.inputs.get(port) or []
        return values[0] if values else default

    def all(self, port: str) -> list[Any]:
        return list(self.inputs.get(port) or [])

    @property
    def dir(self) -> Path:
        return self.ctx.node_dir(self.id)


def load(ref: str) -> Callable[[Step], dict[str, Any]]:
    module, _, func = ref.partition(":")
    return getattr(importlib.import_module(module), func)


def target(ref: str) -> Any:
    """The library object a table row names ("keras.layers.Dense", "sklearn.svm.SVC")."""
    module, _, name = ref.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _write_states(path: Path, states: dict[str, dict[str, Any]]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(states, indent=1))
    tmp.replace(path)


def run(plan: dict[str, Any], run_dir: Path) -> int:
    for step in plan["steps"]:  # before any library import (KERAS_BACKEND=torch)
        for k, v in step.get("env", {}).items():
            os.environ.setdefault(k, v)
    ctx = RunContext(run_dir=run_dir, pipeline=plan["pipeline"], instance=plan["instance"],
                     custom_dir=run_dir / "custom" if (run_dir / "custom").is_dir() else None)
    states = {s["id"]: {"component": s["component"], "title": s["title"], "state": "waiting"} for s in plan["steps"]}
    states_path = run_dir / "nodes.json"
    _write_states(states_path, states)
    tracking_run = None
    if os.environ.get("MLFLOW_TRACKING_URI"):
        import libaiflow
        libaiflow.init(plan.get("experiment") or plan["pipeline"])
        tracking_run = libaiflow.start_run(None, run_name=f"{plan['pipeline']}-{plan['instance'][:8]}",
                                           tags={"designer": "true", "hpcai.pipeline": plan["pipeline"],
                                                 "hpcai.pipeline_instance": plan["instance"]})
        ctx.tracking = True
    outputs: dict[str, dict[str, Any]] = {}
    code = 0
    try:
        for spec in plan["steps"]:
            nid = spec["id"]
            ctx.log_params({f"{nid}.{k}": v for k, v in spec["props"].items() if v is not None})
            inputs = {port: [outputs[src][sport] for src, sport in refs] for port, refs in spec["inputs"].items()}
            step = Step(nid, spec["component"], spec["title"], spec.get("target", ""), spec["props"],
                        spec.get("kwargs", {}), inputs, ctx)
            states[nid].update(state="running", started=time.time())
            _write_states(states_path, states)
            print(f"[pipeline] {nid} {spec['title']}: start", flush=True)
            try:
                outputs[nid] = load(spec["run"])(step) or {}
            except Exception as exc:
                states[nid].update(state="failed", ended=time.time(), error=f"{type(exc).__name__}: {exc}")
                _write_states(states_path, states)
                print(f"[pipeline] {nid} {spec['title']} ({spec['component']}) failed: {type(exc).__name__}: {exc}",
                      file=sys.stderr, flush=True)
                if not isinstance(exc, StepError):
                    traceback.print_exc()
                code = 1
                break
            states[nid].update(state="succeeded", ended=time.time())
            _write_states(states_path, states)
            print(f"[pipeline] {nid} {spec['title']}: done", flush=True)
        (run_dir / "metrics.json").write_text(json.dumps(ctx.metrics, indent=1))
    finally:
        if tracking_run is not None:
            import libaiflow
            libaiflow.end_run()
    return code


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m core.pipelines.runner RUN.json", file=sys.stderr)
        return 2
    path = Path(args[0]).resolve()
    return run(json.loads(path.read_text()), path.parent)


if __name__ == "__main__":
    sys.exit(main())
