"""PipelineService: saved pipelines (cards, save / save-as / publish), runs (instances) and
custom functions. The portal, the CLI and the API call only this.

Narrow dependencies, handed in by the composition root (core.platform): the store, the plugin
manager (for the component catalog), the job service (submit / get / kill / suspend / resume /
delete: every run goes through the platform's job path and so runs as its user), the user's
workspace directory, and the model registry seam.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import shutil
import uuid as uuidlib
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.errors import Conflict, HpcaiError, NotFound, ValidationError
from core.pipelines import document, engine
from core.pipelines.catalog import Catalog
from core.store import id_in_range
from core.store.models import CustomFunctionRow, PipelineRow, PipelineRunRow, utcnow
from core.users import chown_tree

FUNCTION_KINDS = ("loss", "metric")
MAX_LOG = 64 * 1024


def empty_document(name: str = "", type_: str = "", description: str = "") -> dict[str, Any]:
    return {"format": document.FORMAT, "name": name, "type": type_, "description": description,
            "nodes": [], "edges": []}


class PipelineService:
    def __init__(self, store: Any, plugin_manager: Any, jobs: Any, home: Callable[[str], Path],
                 models: engine.ModelSource | None = None, classification: Callable[[str], str | None] | None = None,
                 resolvers: dict[str, Callable[[str, dict[str, Any]], dict[str, Any]]] | None = None):
        self.store = store
        self._pm = plugin_manager
        self.jobs = jobs
        self.home = home
        self.models = models or engine.NoRegistry()
        self.classification = classification or (lambda user: None)
        # Component.resolve -> what fills the node's properties at Run; the registry's is our own
        self.resolvers = {"model-registry": self._registry_model, **(resolvers or {})}
        self._catalog: Catalog | None = None

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = Catalog(self._pm)
        return self._catalog

    def validate(self, doc: Any, for_run: bool = False) -> document.Pipeline:
        return document.validate(doc, self.catalog, for_run=for_run)

    # --- saved pipelines (cards) ---------------------------------------------------------------

    def _check_name(self, name: Any) -> str:
        if not isinstance(name, str) or not name.strip():
            raise ValidationError("is required", field="name", fix="give the pipeline a name")
        if len(name) > 128:
            raise ValidationError("must be at most 128 characters", field="name")
        return name.strip()

    def create(self, user: str, name: Any, type_: str = "", description: str = "",
               classification: str | None = None, doc: dict[str, Any] | None = None) -> PipelineRow:
        """New pipeline (spec 02 §1.1): the name must not equal one of the user's pipelines."""
        name = self._check_name(name)
        body = dict(doc or empty_document())
        body.update(name=name, type=type_ or body.get("type") or "",
                    description=description or body.get("description", ""))
        if doc is not None:
            self._structure(body)
        row = PipelineRow(user=user, name=name, type=body["type"], description=body["description"],
                          classification=classification or self.classification(user), document=body)
        try:
            with self.store.session() as s:
                s.add(row)
        except IntegrityError:
            raise Conflict(f"you already have a pipeline named {name!r}", field="name",
                           fix="choose another name (Save as a copy under a new name)") from None
        return row

    def _structure(self, doc: Any) -> None:
        """Save keeps unfinished pipelines (no lost edits) but not malformed documents."""
        try:
            document.validate(doc, self.catalog)
        except ValidationError as exc:
            errors = getattr(exc, "errors", [exc])
            structural = [e for e in errors if not isinstance(e, document.NodeError)]
            if structural:
                raise

    def get(self, user: str, ref: int | str) -> PipelineRow:
        with self.store.session() as s:
            row = (s.get(PipelineRow, int(ref)) if id_in_range(int(ref)) else None) if str(ref).isdigit() else \
                s.scalars(select(PipelineRow).where(PipelineRow.user == user, PipelineRow.name == str(ref))).first()
        if row is None or (row.user != user and not row.published):
            raise NotFound(f"no pipeline {ref!r}", field="pipeline", fix="see `hpcai pipelines list`")
        return row

    def list(self, user: str, type_: str | None = None) -> list[PipelineRow]:
        q = select(PipelineRow).where((PipelineRow.user == user) | PipelineRow.published.is_(True))
        if type_:
            q = q.where(PipelineRow.type == type_)
        with self.store.session() as s:
            return list(s.scalars(q.order_by(PipelineRow.updated_at.desc())))

    def save(self, user: str, ref: int | str, doc: dict[str, Any], description: str | None = None) -> PipelineRow:
        """Save (F258): name, type and classification stay; the description may change."""
        row = self.get(user, ref)
        if row.user != user:
            raise NotFound(f"no pipeline {ref!r} of yours", field="pipeline", fix="Save as a copy of your own")
        body = dict(doc)
        body.update(name=row.name, type=row.type,
                    description=row.description if description is None else description)
        self._structure(body)
        with self.store.session() as s:
            live = s.get(PipelineRow, row.id)
            live.document, live.description = body, body["description"]
            live.revision += 1
            live.updated_at = utcnow()
            row = live
        return row

    def save_as(self, user: str, doc: dict[str, Any], name: Any, type_: str = "", description: str = "",
                classification: str | None = None) -> PipelineRow:
        """Save as (F258): a new pipeline from the current canvas, saved or not; classification
        and type may change."""
        return self.create(user, name, type_ or doc.get("type", ""), description, classification, doc)

    def publish(self, user: str, ref: int | str, published: bool = True) -> PipelineRow:
        row = self.get(user, ref)
        if row.user != user:
            raise NotFound(f"no pipeline {ref!r} of yours", field="pipeline")
        with self.store.session() as s:
            live = s.get(PipelineRow, row.id)
            live.published = published
            row = live
        return row

    def delete(self, user: str, ref: int | str) -> None:
        row = self.get(user, ref)
        if row.user != user:
            raise NotFound(f"no pipeline {ref!r} of yours", field="pipeline")
        with self.store.session() as s:
            s.delete(s.get(PipelineRow, row.id))

    # --- runs (instances) ----------------------------------------------------------------------

    def _registry_model(self, user: str, props: dict[str, Any]) -> dict[str, Any]:
        """Model library: the registered version's file the run loads."""
        found = self.models.resolve(user, props.get("model_name"), props.get("version"))
        return {"model_path": found["path"], "model_kind": found.get("kind"), "task": found.get("task")}

    def _resolve(self, user: str) -> Callable[[document.Node], dict[str, Any]]:
        def resolve(node: document.Node) -> dict[str, Any]:
            if node.component.resolve:
                resolver = self.resolvers.get(node.component.resolve)
                if resolver is None:
                    raise ValidationError(f"this site cannot resolve {node.component.resolve} yet", field="component",
                                          fix=f"remove the {node.component.title} component")
                return resolver(user, dict(node.properties))
            return {}
        return resolve

    def _functions(self, user: str, pipeline: document.Pipeline) -> dict[str, str]:
        out: dict[str, str] = {}
        for kind, name in engine.custom_functions_used(pipeline):
            with self.store.session() as s:
                row = s.scalars(select(CustomFunctionRow).where(CustomFunctionRow.user == user,
                                                                CustomFunctionRow.kind == kind,
                                                                CustomFunctionRow.name == name)).first()
            if row is None:
                raise ValidationError(f"there is no custom {kind} function {name!r}", field=f"custom_{kind}",
                                      fix="create it under Custom functions or pick another")
            out[name] = row.body
        return out

    def run(self, user: str, doc: dict[str, Any], settings: engine.RunSettings | None = None,
            pipeline_id: int | None = None) -> PipelineRunRow:
        """Validate for a run, write the run directory, submit one job. Nothing is left on error."""
        settings = settings or engine.RunSettings()
        pipeline = self.validate(doc, for_run=True)
        image = engine.stage_image(pipeline)
        name = str(doc.get("name") or "pipeline")
        instance = str(uuidlib.uuid4())
        plan = engine.compile_plan(pipeline, name, instance, settings.experiment, self._resolve(user))
        functions = self._functions(user, pipeline)
        owner = self.jobs.run_as(user, "pipeline")  # refused here, before anything is written
        run_dir = self.home(user) / "pipeline-runs" / instance
        run_json = engine.write_run_dir(run_dir, plan, functions)
        (run_dir / "pipeline.json").write_text(json.dumps(doc, indent=1))
        chown_tree(run_dir, owner, include_parent=True)  # the job writes its results there, as its user
        values = {"framework": "pytorch", "mode": "standalone", "image": image, "workdir": str(run_dir),
                  "command": engine.runner_command(run_json), "name": f"pipeline-{name}"[:120],
                  "resource_spec": settings.resource_spec, "scheduler": settings.scheduler, "queue": settings.queue}
        try:
            req = self.jobs.request_from_values({k: v for k, v in values.items() if v is not None}, user,
                                                source="pipeline")
            ports = engine.ports_needed(pipeline, plan)
            job = self.jobs.submit(replace(req, extra_ports=ports) if ports else req)
        except BaseException:
            shutil.rmtree(run_dir, ignore_errors=True)
            raise
        row = PipelineRunRow(uuid=instance, user=user, pipeline_id=pipeline_id, name=name, job_id=job.id,
                             run_dir=str(run_dir), document=doc, resource_spec=settings.resource_spec)
        with self.store.session() as s:
            s.add(row)
        return row

    def job_ended(self, job: Any) -> list[str]:
        """F149/F150: after a run's job succeeded, each model a step asked to register (its node
        directory's register.json: path, purpose, description) becomes a registry version named
        `<pipeline>-<node>`. Returns what was registered, for the log."""
        with self.store.session() as s:
            row = s.scalars(select(PipelineRunRow).where(PipelineRunRow.job_id == job.id)).first()
        if row is None:
            return []
        done = []
        for path in sorted(Path(row.run_dir).glob("nodes/*/register.json")):
            ask = _read_json(path)
            if not isinstance(ask, dict) or not ask.get("path"):
                continue
            name = re.sub(r"[^A-Za-z0-9_.-]", "-", f"{row.name}-{path.parent.name}").strip("-._")[:128]
            done.append(self.models.register(row.user, name, str(ask["path"]), str(ask.get("purpose") or "other"),
                                             f"{ask.get('description') or ''} (pipeline {row.name}, instance "
                                             f"{row.uuid[:8]})".strip()))
        return [d for d in done if d]

    def instance(self, user: str, ref: int | str) -> PipelineRunRow:
        with self.store.session() as s:
            row = (s.get(PipelineRunRow, int(ref)) if id_in_range(int(ref)) else None) if str(ref).isdigit() else \
                s.scalars(select(PipelineRunRow).where(PipelineRunRow.uuid.startswith(str(ref)))).first()
        if row is None or row.user != user:
            raise NotFound(f"no pipeline instance {ref!r}", field="instance", fix="see `hpcai pipelines instances`")
        return row

    def instances(self, user: str, name: str | None = None, state: str | None = None,
                  pipeline_id: int | None = None) -> list[dict[str, Any]]:
        q = select(PipelineRunRow).where(PipelineRunRow.user == user)
        if name:
            q = q.where(PipelineRunRow.name.contains(name))
        if pipeline_id is not None:
            q = q.where(PipelineRunRow.pipeline_id == pipeline_id)
        with self.store.session() as s:
            rows = list(s.scalars(q.order_by(PipelineRunRow.id.desc()).limit(500)))
        out = [self.summary(user, r) for r in rows]
        return [o for o in out if not state or o["state"] == state]

    def _job(self, user: str, row: PipelineRunRow) -> Any:
        if row.job_id is None:
            return None
        try:
            return self.jobs.get(row.job_id, user)
        except NotFound:
            return None

    def summary(self, user: str, row: PipelineRunRow, job: Any = None) -> dict[str, Any]:
        """The instance list's columns (F66): name, id, state, resources, times, duration."""
        job = job or self._job(user, row)
        start, end = (job.start_time, job.end_time) if job else (None, None)
        return {"id": row.id, "uuid": row.uuid, "name": row.name, "pipeline_id": row.pipeline_id,
                "job_id": row.job_id, "scheduler_job_id": job.scheduler_job_id if job else None,
                "state": job.state if job else "deleted", "resource_spec": row.resource_spec,
                "exec_hosts": job.exec_hosts if job else None,
                "created": row.created_at.isoformat() if row.created_at else None,
                "start_time": start.isoformat() if start else None, "end_time": end.isoformat() if end else None,
                "duration_s": (end - start).total_seconds() if start and end else None, "run_dir": row.run_dir}

    def details(self, user: str, ref: int | str) -> dict[str, Any]:
        """The instance drawer: details, per-node state, log, data files, evaluation reports."""
        row = self.instance(user, ref)
        job = self._job(user, row)
        run_dir = Path(row.run_dir)
        info = self.summary(user, row, job)
        info["nodes"] = _read_json(run_dir / "nodes.json") or {}
        info["metrics"] = _read_json(run_dir / "metrics.json") or {}
        info["files"] = [{"path": str(p.relative_to(run_dir)), "size": p.stat().st_size}
                         for p in sorted(run_dir.rglob("*")) if p.is_file()]
        info["evaluations"] = {p.parent.name: _read_json(p) for p in sorted(run_dir.glob("nodes/*/evaluation.json"))}
        info["datasets"] = [{"node": n["id"], "component": n["component"],
                             "source": (n.get("properties") or {}).get("file")
                             or (n.get("properties") or {}).get("dataset")}
                            for n in row.document.get("nodes", [])
                            if (n.get("properties") or {}).get("file") or (n.get("properties") or {}).get("dataset")]
        info["models"] = [{"node": p.parent.name, "file": str(p.relative_to(run_dir)), "size": p.stat().st_size}
                          for p in sorted(run_dir.glob("nodes/*/*")) if p.suffix in (".keras", ".joblib")]
        info["archiving"] = ("Archiving into the model registry becomes available when the model registry "
                             "is installed on this site (it is being built as its own issue)")
        info["log"] = self.log(user, row.id)
        info["document"] = row.document
        return info

    def log(self, user: str, ref: int | str) -> str:
        row = self.instance(user, ref)
        job = self._job(user, row)
        if job is None or not job.stdout_path or not Path(job.stdout_path).exists():
            return ""
        with open(job.stdout_path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - MAX_LOG))
            return f.read().decode(errors="replace")

    def file(self, user: str, ref: int | str, rel: str) -> Path:
        row = self.instance(user, ref)
        base = Path(row.run_dir).resolve()
        path = (base / rel).resolve()
        if base not in path.parents or not path.is_file():
            raise NotFound(f"no file {rel!r} in this instance", field="file")
        return path

    def control(self, user: str, ref: int | str, action: str) -> dict[str, Any]:
        """terminate | suspend | resume | delete (an ended instance: its job and its data)."""
        row = self.instance(user, ref)
        if action not in ("terminate", "suspend", "resume", "delete"):
            raise ValidationError(f"unknown action {action!r}", field="action",
                                  fix="choose terminate, suspend, resume or delete")
        if action == "delete":
            job = self._job(user, row)
            if job is not None:
                self.jobs.delete(job.id, user)
            shutil.rmtree(row.run_dir, ignore_errors=True)
            with self.store.session() as s:
                s.delete(s.get(PipelineRunRow, row.id))
            return {"id": row.id, "deleted": True}
        if row.job_id is None:
            raise Conflict("this instance has no job", field="instance")
        getattr(self.jobs, {"terminate": "kill", "suspend": "suspend", "resume": "resume"}[action])(row.job_id, user)
        return self.summary(user, row)

    # --- custom functions ------------------------------------------------------------------------

    def check_function(self, kind: str, name: Any, body: Any) -> None:
        """Syntax-checked, entry name defined at top level, imports resolvable. The body is not
        executed here (it is the user's code: it runs only inside their jobs)."""
        if kind not in FUNCTION_KINDS:
            raise ValidationError(f"unknown kind {kind!r}", field="kind", fix="choose loss or metric")
        if not isinstance(name, str) or not name.isidentifier():
            raise ValidationError("must be a Python identifier (the entry function or class name)", field="name")
        if not isinstance(body, str) or not body.strip():
            raise ValidationError("is required", field="body", fix="write the function's code")
        try:
            tree = ast.parse(body, filename=f"{name}.py")
        except SyntaxError as exc:
            raise ValidationError(f"syntax error on line {exc.lineno}: {exc.msg}", field="body") from None
        defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))}
        if name not in defined:
            raise ValidationError(f"the body defines no function or class named {name!r}", field="name",
                                  fix="Name must equal the entry function/class name: "
                                  + (", ".join(sorted(defined)) or "define one"))
        for node in ast.walk(tree):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
            for mod in mods:
                top = mod.split(".")[0]
                if importlib.util.find_spec(top) is None:
                    raise ValidationError(f"imports {mod!r}, which is not installed", field="body",
                                          fix="use keras, numpy or another installed module")

    def create_function(self, user: str, kind: str, name: Any, body: Any, description: str = "",
                        has_params: bool = False) -> CustomFunctionRow:
        self.check_function(kind, name, body)
        row = CustomFunctionRow(user=user, kind=kind, name=name, body=body, description=description or "",
                                has_params=bool(has_params))
        try:
            with self.store.session() as s:
                s.add(row)
        except IntegrityError:
            raise Conflict(f"you already have a {kind} function named {name!r}", field="name") from None
        return row

    def functions(self, user: str, kind: str | None = None) -> list[CustomFunctionRow]:
        q = select(CustomFunctionRow).where(CustomFunctionRow.user == user)
        if kind:
            q = q.where(CustomFunctionRow.kind == kind)
        with self.store.session() as s:
            return list(s.scalars(q.order_by(CustomFunctionRow.id)))

    def delete_function(self, user: str, ref: int) -> None:
        with self.store.session() as s:
            row = s.get(CustomFunctionRow, int(ref)) if id_in_range(int(ref)) else None
            if row is None or row.user != user:
                raise NotFound(f"no custom function {ref}", field="function")
            s.delete(row)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def row_dict(row: PipelineRow, with_document: bool = False) -> dict[str, Any]:
    data = {"id": row.id, "name": row.name, "type": row.type, "description": row.description, "user": row.user,
            "classification": row.classification, "revision": row.revision, "published": bool(row.published),
            "nodes": len(row.document.get("nodes", [])),
            "created": row.created_at.isoformat() if row.created_at else None,
            "updated": row.updated_at.isoformat() if row.updated_at else None}
    if with_document:
        data["document"] = row.document
    return data


def function_dict(row: CustomFunctionRow) -> dict[str, Any]:
    return {"id": row.id, "kind": row.kind, "name": row.name, "has_params": bool(row.has_params),
            "body": row.body, "description": row.description,
            "created": row.created_at.isoformat() if row.created_at else None}


__all__ = ["PipelineService", "HpcaiError", "row_dict", "function_dict", "empty_document"]
