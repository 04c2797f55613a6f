"""The model registry (spec 06 Part A): models, versions, files, conversions, deploys, sharing.

Depends on narrow interfaces (ModelDeps), never on core.platform.Platform: the store, the
user's directories, the job-submission function (so conversions run as the user, like every
job), MLflow's registry client, the converters and serving types the plugins provide, and
the platform's group and service functions.
"""

from __future__ import annotations

import re
import shlex
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select

from core import schema as schemas  # the same validation as every plugin form
from core.errors import HpcaiError, NotFound, PermissionDenied, ValidationError
from core.models.files import VersionFiles
from core.models.jobside import __file__ as _jobside_init
from core.models.mlflow_registry import RegistryClient, files_source
from core.models.tables import ModelRow, ModelServiceRow, ModelTagRow, ModelVersionRow
from core.models.types import ATOL, PURPOSES, RTOL, ConversionPlan, Converter, model_files, recommend
from core.plan import ResourceRequest, RoleGroup
from core.store import JobRow, Store
from core.types import JobRequest
from core.users import chown_tree

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
ONNX_CHECK = Path(_jobside_init).with_name("onnx_check.py")
OWNER_TAG, DIR_TAG = "hpcai.owner", "hpcai.model_dir"
PAGE_MAX = 500


@dataclass
class ModelDeps:
    """What the registry needs from the rest of the platform (each a narrow function)."""

    store: Store
    registry: RegistryClient
    check_path: Callable[..., Path]  # (user, path, field[, must_exist]) -> resolved, inside the user's roots
    home: Callable[[str], Path]  # the user's own workspace
    submit: Callable[[JobRequest], JobRow]  # the job-submission path (runs as the user)
    python_of: Callable[[str], str]  # catalog image -> its python (refuses an unbuilt image)
    resource: Callable[[str, str | None], ResourceRequest]  # (user, spec name or None) -> request
    converters: Callable[[], dict[str, Converter]]
    serving_types: Callable[[], dict[str, bool]]  # serving type -> runs here (binary present)
    create_service: Callable[[dict[str, Any], str], Any]  # (values, user) -> ServiceRow
    service_states: Callable[[list[str], str], list[dict[str, Any]]]  # (aliases, user) -> rows
    is_admin: Callable[[str], bool]
    groups_of: Callable[[str], list[str]]
    group_members: Callable[[str], list[str]]
    group_area: Callable[[str], Path]
    job_dir: Callable[[str, str], Path]  # (job uuid or id, user) -> the job's directory (F73 default)
    upload_max_bytes: int = 1 << 30


@dataclass
class VersionView:
    number: int
    model_dir: str
    description: str
    tags: list[str]
    state: str  # ready | converting | failed
    format: str | None
    source_run_id: str | None
    converted_from: int | None
    conversion_job: int | None
    mlflow_version: str | None
    aliases: list[str] = field(default_factory=list)
    created_at: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class ModelService:
    def __init__(self, deps: ModelDeps):
        self.d = deps
        self._copies: dict[int, threading.Thread] = {}

    # --- vocabulary ------------------------------------------------------------------------

    def tag_choices(self) -> dict[str, list[str]]:
        """Tag categories and their tags: the purposes' tags plus the administrators' (F223)."""
        out: dict[str, list[str]] = {"Purpose": list(PURPOSES.values())}
        with self.d.store.session() as s:
            for row in s.scalars(select(ModelTagRow).order_by(ModelTagRow.category, ModelTagRow.name)):
                out.setdefault(row.category, []).append(row.name)
        return out

    def add_tag(self, user: str, category: str, name: str) -> None:
        self._admin(user)
        for value, fld in ((category, "category"), (name, "name")):
            if not value.strip() or len(value) > 64:
                raise ValidationError("must be 1-64 characters", field=fld)
        with self.d.store.session() as s:
            if s.scalar(select(ModelTagRow.id).where(ModelTagRow.category == category, ModelTagRow.name == name)):
                raise ValidationError(f"tag {category}/{name} exists", field="name")
            s.add(ModelTagRow(category=category.strip(), name=name.strip()))

    def delete_tag(self, user: str, category: str, name: str) -> None:
        self._admin(user)
        with self.d.store.session() as s:
            row = s.scalar(select(ModelTagRow).where(ModelTagRow.category == category, ModelTagRow.name == name))
            if row is None:
                raise NotFound(f"no tag {category}/{name}", field="name")
            s.delete(row)

    def _admin(self, user: str) -> None:
        if not self.d.is_admin(user):
            raise PermissionDenied("only administrators manage model tags", field="user")

    def _tags(self, purpose: str, given: list[str] | None) -> list[str]:
        known = {t for tags in self.tag_choices().values() for t in tags}
        tags = [PURPOSES[purpose]] if purpose in PURPOSES else []
        for t in given or []:
            if t not in known:
                raise ValidationError(f"unknown tag '{t}'", field="tags",
                                      fix="choose built-in tags or ask an administrator to add it")
            if t not in tags:
                tags.append(t)
        return tags

    # --- models ----------------------------------------------------------------------------

    def create(self, user: str, values: dict[str, Any]) -> ModelRow:
        """F200-F204: a new model and its v1 (the model directory)."""
        name = str(values.get("name") or "").strip()
        if not NAME.match(name):
            raise ValidationError(f"'{name}' is not a model name" if name else "is required", field="name",
                                  fix="use letters, digits, '.', '_' or '-' (at most 128), "
                                      "starting with a letter or digit")
        purpose = str(values.get("purpose") or "other")
        if purpose not in PURPOSES:
            raise ValidationError(f"unknown purpose '{purpose}'", field="purpose", fix="one of: " + ", ".join(PURPOSES))
        directory = self._dir(user, values.get("model_dir"), job_uuid=values.get("job_uuid"))
        is_lora = bool(values.get("is_lora"))
        base_id = self._base_model(user, values.get("base_model")) if is_lora else None
        tags = self._tags(purpose, _list(values.get("tags")))
        description = str(values.get("description") or "")
        with self.d.store.session() as s:
            if s.scalar(select(ModelRow.id).where(ModelRow.owner == user, ModelRow.area == "my",
                                                  ModelRow.name == name)):
                raise ValidationError(f"you already have a model named '{name}'", field="name",
                                      fix="choose another name, or add a version to that model")
        mlflow_name = f"{user}.{name}"
        self.d.registry.create_model(mlflow_name, description, {OWNER_TAG: user, "hpcai.purpose": purpose})
        try:
            with self.d.store.session() as s:
                row = ModelRow(owner=user, name=name, area="my", purpose=purpose, tags=tags, model_dir=str(directory),
                               is_lora=is_lora, base_model_id=base_id, description=description,
                               classification=values.get("classification") or None, mlflow_name=mlflow_name,
                               share_users=[])
                s.add(row)
                s.flush()
                model_id = row.id
            self._add_version(model_id, user, directory, str(values.get("version_description") or ""),
                              fmt=values.get("format"), run_id=values.get("run_id"),
                              mlflow_model_id=values.get("mlflow_model_id"), job_uuid=values.get("job_uuid"))
        except BaseException:
            self._forget_model(mlflow_name)
            raise
        return self.get(user, name)

    def _forget_model(self, mlflow_name: str) -> None:
        with self.d.store.session() as s:
            row = s.scalar(select(ModelRow).where(ModelRow.mlflow_name == mlflow_name))
            if row is not None:
                s.delete(row)
        try:
            self.d.registry.delete_model(mlflow_name)
        except HpcaiError:
            pass

    def _dir(self, user: str, path: Any, fld: str = "model_dir", job_uuid: str | None = None,
             must_exist: bool = True) -> Path:
        """A directory of the user's roots, or of the job a model came from (F73's default)."""
        if not str(path or "").strip():
            raise ValidationError("is required", field=fld, fix="choose the directory that holds the model files")
        if job_uuid:
            job_dir = self.d.job_dir(job_uuid, user).resolve()
            p = Path(str(path)).resolve()
            if p.is_relative_to(job_dir):
                if must_exist and not p.is_dir():
                    raise ValidationError(f"{path} is not a directory", field=fld)
                return p
        p = self.d.check_path(user, str(path), fld, must_exist)
        if not must_exist:
            return p
        if not p.is_dir():
            raise ValidationError(f"{path} is not a directory", field=fld, fix="choose the folder of the model files")
        return p

    def _base_model(self, user: str, ref: Any) -> int:
        """F203: a LoRA model names its base model, a non-LoRA model the user may see."""
        if not str(ref or "").strip():
            raise ValidationError("is required for a LoRA model", field="base_model",
                                  fix="choose the base model the adapter was trained on")
        try:
            base = self._visible(user, str(ref))
        except NotFound:
            raise ValidationError(f"no model '{ref}' in the registry", field="base_model",
                                  fix="choose one of your models or a shared one") from None
        if base.is_lora:
            raise ValidationError(f"'{base.name}' is itself a LoRA adapter", field="base_model",
                                  fix="choose the base model the adapter was trained on")
        return base.id

    def modify(self, user: str, name: str, values: dict[str, Any]) -> ModelRow:
        """F205: purpose, tags and description change; the name does not."""
        row = self._owned(user, name, values.get("area", "my"))
        if "name" in values and values["name"] not in (None, "", row.name):
            raise ValidationError("cannot be changed", field="name", fix="create a new model to use another name")
        purpose = str(values.get("purpose") or row.purpose)
        if purpose not in PURPOSES:
            raise ValidationError(f"unknown purpose '{purpose}'", field="purpose", fix="one of: " + ", ".join(PURPOSES))
        given = _list(values["tags"]) if "tags" in values else [t for t in row.tags if t not in PURPOSES.values()]
        tags = self._tags(purpose, given)
        description = str(values["description"]) if values.get("description") is not None else row.description
        self.d.registry.update_model(row.mlflow_name, description)
        self.d.registry.set_model_tag(row.mlflow_name, "hpcai.purpose", purpose)
        with self.d.store.session() as s:
            r = s.get(ModelRow, row.id)
            r.purpose, r.tags, r.description = purpose, tags, description
        return self._row(row.id)

    def delete(self, user: str, name: str, delete_files: bool, area: str = "my") -> None:
        """F206 (and A.8: admins may delete others' shared models)."""
        row = self._visible(user, name, area)
        if row.owner != user and not (row.area == "shared" and self.d.is_admin(user)):
            raise PermissionDenied(f"model {row.name} belongs to {row.owner}", field="name",
                                   fix="only its owner (or, for shared models, an administrator) may delete it")
        versions = self._versions(row.id) if delete_files else []
        for v in versions:  # checked before anything is removed
            self._removable(row, v)
        dirs = [Path(v.model_dir) for v in versions]
        try:
            self.d.registry.delete_model(row.mlflow_name)
        except NotFound:
            pass  # already gone from MLflow (deleted there by hand): the card still goes
        with self.d.store.session() as s:
            for v in s.scalars(select(ModelVersionRow).where(ModelVersionRow.model_id == row.id)):
                s.delete(v)
            for link in s.scalars(select(ModelServiceRow).where(ModelServiceRow.model_id == row.id)):
                s.delete(link)
            s.delete(s.get(ModelRow, row.id))
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)

    def _removable(self, row: ModelRow, v: ModelVersionRow) -> None:
        """Files are deleted only where their owner may write: their roots, the job the model
        came from, or (a shared copy) the group's shared area."""
        directory = Path(v.model_dir)
        if row.area == "shared" and row.share_group:
            area = self.d.group_area(row.share_group)
            if directory.resolve().is_relative_to(area):
                return
        self._dir(row.owner, str(directory), "delete_files", job_uuid=v.source_job_uuid, must_exist=False)

    # --- reading -----------------------------------------------------------------------------

    def _row(self, model_id: int) -> ModelRow:
        with self.d.store.session() as s:
            row = s.get(ModelRow, model_id)
            if row is None:
                raise NotFound(f"no model {model_id}", field="name")
            return row

    def _visible_query(self, user: str) -> Any:
        groups = self.d.groups_of(user)
        shared = (ModelRow.area == "shared") & (ModelRow.share_group.in_(groups) if groups else False)
        if self.d.is_admin(user):
            shared = ModelRow.area == "shared"
        return or_(ModelRow.owner == user, shared)

    def _visible(self, user: str, ref: str, area: str | None = None) -> ModelRow:
        """A model by name (own first, then shared ones) or id, if `user` may see it."""
        with self.d.store.session() as s:
            q = select(ModelRow).where(self._visible_query(user))
            if ref.isdigit():
                q = q.where(ModelRow.id == int(ref))
            else:
                q = q.where(ModelRow.name == ref)
            if area:
                q = q.where(ModelRow.area == area)
            rows = sorted(s.scalars(q), key=lambda r: (r.owner != user, r.area != "my", r.id))
        if not rows:
            raise NotFound(f"no model '{ref}'", field="name", fix="see `hpcai models list`")
        return rows[0]

    def _owned(self, user: str, ref: str, area: str = "my") -> ModelRow:
        row = self._visible(user, ref, area)
        if row.owner != user:
            raise PermissionDenied(f"model {row.name} belongs to {row.owner}", field="name",
                                   fix="only its owner may change it")
        return row

    def get(self, user: str, ref: str, area: str | None = None) -> ModelRow:
        return self._visible(user, ref, area)

    def list(self, user: str, area: str = "my", tag: str | None = None, search: str = "",
             page: int = 1, per_page: int = 50) -> tuple[list[ModelRow], int]:
        """One page of My models (area my) or Shared models (area shared), newest first; total."""
        if area not in ("my", "shared"):
            raise ValidationError(f"unknown area '{area}'", field="area", fix="my or shared")
        if page < 1 or not 1 <= per_page <= PAGE_MAX:
            raise ValidationError(f"page must be >= 1 and per_page 1-{PAGE_MAX}", field="page")
        with self.d.store.session() as s:
            q = select(ModelRow).where(ModelRow.area == area)
            q = q.where(ModelRow.owner == user) if area == "my" else q.where(self._visible_query(user))
            if search:
                q = q.where(ModelRow.name.contains(search, autoescape=True))
            if not tag:  # the common case pages in the database: a page costs the same at any size
                total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
                rows = list(s.scalars(q.order_by(ModelRow.id.desc()).offset((page - 1) * per_page).limit(per_page)))
                return rows, total
            # tags are a JSON list (no portable "contains" across SQLite/PostgreSQL): filtered here
            rows = [r for r in s.scalars(q.order_by(ModelRow.id.desc())) if tag in (r.tags or [])]
        return rows[(page - 1) * per_page: page * per_page], len(rows)

    def permissions(self, row: ModelRow, user: str) -> dict[str, bool]:
        """A.8: owner modifies and deletes; an admin deletes others' shared models; all may deploy."""
        owner = row.owner == user
        return {"modify": owner, "delete": owner or (row.area == "shared" and self.d.is_admin(user)),
                "deploy": True, "convert": owner, "share": owner, "new_version": owner}

    def as_dict(self, row: ModelRow, user: str) -> dict[str, Any]:
        base = self._row(row.base_model_id).name if row.base_model_id else None
        return {"id": row.id, "name": row.name, "owner": row.owner, "area": row.area, "purpose": row.purpose,
                "purpose_title": PURPOSES.get(row.purpose, row.purpose), "tags": list(row.tags or []),
                "model_dir": row.model_dir, "is_lora": row.is_lora, "base_model": base,
                "description": row.description, "classification": row.classification,
                "mlflow_name": row.mlflow_name, "share_group": row.share_group,
                "share_users": list(row.share_users or []), "state": row.state, "progress": row.progress,
                "message": row.message, "created_at": row.created_at.isoformat() if row.created_at else None,
                "permissions": self.permissions(row, user)}

    # --- versions ----------------------------------------------------------------------------

    def _versions(self, model_id: int) -> list[ModelVersionRow]:
        with self.d.store.session() as s:
            return list(s.scalars(select(ModelVersionRow).where(ModelVersionRow.model_id == model_id)
                                  .order_by(ModelVersionRow.number)))

    def _add_version(self, model_pk: int, user: str, directory: Path, description: str, fmt: str | None = None,
                     run_id: str | None = None, mlflow_model_id: str | None = None, job_uuid: str | None = None,
                     converted_from: int | None = None, conversion_job: str | None = None) -> ModelVersionRow:
        """v<highest + 1> inheriting the model's tags (F208, F209). A finished version is
        registered in MLflow at once; a conversion's when its job has succeeded."""
        model = self._row(model_pk)
        with self.d.store.session() as s:
            number = (s.scalar(select(func.max(ModelVersionRow.number))
                               .where(ModelVersionRow.model_id == model.id)) or 0) + 1
            row = ModelVersionRow(model_id=model.id, number=number, model_dir=str(directory), description=description,
                                  tags=list(model.tags or []), format=fmt, source_run_id=run_id,
                                  source_job_uuid=job_uuid, converted_from=converted_from,
                                  conversion_job_uuid=conversion_job, created_by=user)
            s.add(row)
            s.flush()
            version_id = row.id
        if conversion_job is None:
            self._register(version_id, mlflow_model_id)
        with self.d.store.session() as s:
            return s.get(ModelVersionRow, version_id)

    def _register(self, version_id: int, mlflow_model_id: str | None = None) -> None:
        with self.d.store.session() as s:
            v = s.get(ModelVersionRow, version_id)
            m = s.get(ModelRow, v.model_id)
            if v.mlflow_version:
                return
            source = f"models:/{mlflow_model_id}" if mlflow_model_id else files_source(v.model_dir)
            tags = {OWNER_TAG: m.owner, DIR_TAG: v.model_dir, "hpcai.version": f"v{v.number}"}
            if v.format:
                tags["hpcai.format"] = v.format
            try:
                v.mlflow_version = self.d.registry.create_version(
                    m.mlflow_name, source, v.description, tags, run_id=v.source_run_id,
                    model_id=mlflow_model_id)
            except HpcaiError:
                if v.conversion_job_uuid is None:
                    s.delete(v)  # nothing half-made stays: the caller gets the error
                    s.commit()
                raise

    def add_version(self, user: str, name: str, values: dict[str, Any]) -> ModelVersionRow:
        model = self._owned(user, name)
        directory = self._dir(user, values.get("model_dir"))
        return self._add_version(model.id, user, directory, str(values.get("description") or ""),
                                 fmt=values.get("format"))

    def version(self, user: str, name: str, number: int | None = None) -> tuple[ModelRow, ModelVersionRow]:
        model = self._visible(user, name)
        versions = self._versions(model.id)
        if not versions:
            raise NotFound(f"model {model.name} has no versions", field="version")
        if number is None:  # F211: the latest by default
            return model, versions[-1]
        for v in versions:
            if v.number == number:
                return model, v
        raise NotFound(f"model {model.name} has no version v{number}", field="version",
                       fix="versions: " + ", ".join(f"v{v.number}" for v in versions))

    def versions(self, user: str, name: str, page: int | None = None, per_page: int = 50) -> list[VersionView]:
        """All versions (oldest first), or with `page` one page of them, newest first."""
        model = self._visible(user, name)
        try:
            aliases = self.d.registry.aliases(model.mlflow_name)
        except HpcaiError:
            aliases = {}
        out = []
        if page is None:
            rows = self._versions(model.id)
        else:
            with self.d.store.session() as s:
                rows = list(s.scalars(select(ModelVersionRow).where(ModelVersionRow.model_id == model.id)
                                      .order_by(ModelVersionRow.number.desc())
                                      .offset((max(page, 1) - 1) * per_page).limit(per_page)))
        for v in rows:
            state, job_id = self._state(v)
            if state == "ready" and v.conversion_job_uuid and not v.mlflow_version:
                with self.d.store.session() as s:  # registered just now by _state
                    v = s.get(ModelVersionRow, v.id)
            out.append(VersionView(number=v.number, model_dir=v.model_dir, description=v.description,
                                   tags=list(v.tags or []), state=state, format=v.format,
                                   source_run_id=v.source_run_id, converted_from=v.converted_from,
                                   conversion_job=job_id, mlflow_version=v.mlflow_version,
                                   aliases=sorted(a for a, n in aliases.items() if n == v.mlflow_version),
                                   created_at=v.created_at.isoformat() if v.created_at else ""))
        return out

    def _state(self, v: ModelVersionRow) -> tuple[str, int | None]:
        """A conversion's version follows its job; once succeeded it is registered in MLflow."""
        if v.conversion_job_uuid is None:
            return "ready", None
        with self.d.store.session() as s:
            job = s.scalar(select(JobRow).where(JobRow.uuid == v.conversion_job_uuid))
        if job is None:
            return "failed", None
        if job.state == "succeeded":
            if not v.mlflow_version:
                try:
                    self._register(v.id)
                except HpcaiError:
                    return "converting", job.id  # MLflow away: registered on a later look
            return "ready", job.id
        if job.state in ("failed", "cancelled"):
            return "failed", job.id
        return "converting", job.id

    def delete_version(self, user: str, name: str, number: int, delete_files: bool) -> None:
        """A.6.3: the entry, and with `delete_files` the version's directory."""
        model, v = self.version(user, name, number)
        if not self.permissions(model, user)["delete"]:
            raise PermissionDenied(f"model {model.name} belongs to {model.owner}", field="name")
        if delete_files:
            self._removable(model, v)
        if v.mlflow_version:
            try:
                self.d.registry.delete_version(model.mlflow_name, v.mlflow_version)
            except NotFound:
                pass
        with self.d.store.session() as s:
            s.delete(s.get(ModelVersionRow, v.id))
        if delete_files:
            shutil.rmtree(v.model_dir, ignore_errors=True)

    def set_alias(self, user: str, name: str, number: int, alias: str) -> None:
        """MLflow aliases (not the deprecated stages) name a version: `models:/<owner>.<name>@alias`."""
        model, v = self.version(user, name, number)
        if model.owner != user:
            raise PermissionDenied(f"model {model.name} belongs to {model.owner}", field="name")
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$", alias) or alias == "latest" or re.match(r"^v\d+$", alias):
            raise ValidationError(f"'{alias}' is not an alias", field="alias",
                                  fix="letters, digits, '_' and '-', not 'latest' or v<number> (MLflow reserves them)")
        if not v.mlflow_version:
            raise ValidationError(f"v{number} is not registered yet", field="version", fix="wait for its conversion")
        self.d.registry.set_alias(model.mlflow_name, alias, v.mlflow_version)

    # --- F72-F74: a job's model into the registry ----------------------------------------------

    def register_run(self, user: str, run_id: str, values: dict[str, Any]) -> tuple[ModelRow, ModelVersionRow]:
        """A model logged by a run (mlflow.<flavor>.log_model / libaiflow) becomes a new model
        or a new version of one: its files are copied from MLflow into the version directory
        (default `<job dir>/model`, F73) and the MLflow version keeps the lineage (run, logged model)."""
        run = self.d.registry.run(run_id)
        tags = {t["key"]: t.get("value", "") for t in run.get("data", {}).get("tags", [])}
        owner = tags.get("hpcai.user") or tags.get("mlflow.user")
        if owner != user and not self.d.is_admin(user):
            raise NotFound(f"no run {run_id} of yours", field="run_id")
        logged = self.d.registry.run_logged_models(run_id)
        if values.get("artifact_name"):
            logged = [m for m in logged if m.get("info", m).get("name") == values["artifact_name"]]
        if not logged:
            raise ValidationError(f"run {run_id} logged no model", field="run_id",
                                  fix="log one in the job with mlflow.<flavor>.log_model(model, name=...)")
        info = logged[0].get("info", logged[0])
        job_uuid = tags.get("hpcai.job_uuid")
        default = (self.d.job_dir(job_uuid, user) / "model") if job_uuid else self.d.home(user) / "models" / run_id
        target = self._dir(user, values.get("model_dir") or default, job_uuid=job_uuid, must_exist=False)
        if target.exists() and any(target.iterdir()):
            raise ValidationError(f"{target} is not empty", field="model_dir", fix="choose a new or empty directory")
        target.mkdir(parents=True, exist_ok=True)
        try:
            self.d.registry.download(info["artifact_uri"], target)
            chown_tree(target, user)  # the platform fetched them; they are the user's files
            fmt = _flavor(target)
            common = {"run_id": run_id, "mlflow_model_id": info["model_id"], "job_uuid": job_uuid, "format": fmt}
            if values.get("model"):  # F74: a new version of an existing model
                model = self._owned(user, str(values["model"]))
                if model.purpose not in ("machine-learning", "deep-learning") and values.get("strict_purpose"):
                    raise ValidationError("archive into a machine- or deep-learning model", field="model")
                v = self._add_version(model.id, user, target, str(values.get("description") or ""), fmt=fmt,
                                      run_id=run_id, mlflow_model_id=info["model_id"], job_uuid=job_uuid)
                return self._row(model.id), v
            model = self.create(user, {**values, **common, "model_dir": str(target),
                                       "version_description": values.get("description") or ""})
            return model, self._versions(model.id)[-1]
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise

    # --- F213/F214: conversion jobs ----------------------------------------------------------

    def convert(self, user: str, name: str, number: int | None, converter: str,
                options: dict[str, Any], resource_spec: str | None = None) -> tuple[ModelVersionRow, JobRow]:
        """Submit a conversion job (visible in My jobs, runs as the user in the converter's image);
        its result is the next version, in Triton's layout, checked in onnxruntime."""
        model, src = self.version(user, name, number)
        if model.owner != user:
            raise PermissionDenied(f"model {model.name} belongs to {model.owner}", field="name",
                                   fix="share it to yourself or ask its owner to convert it")
        convs = self.d.converters()
        if converter not in convs:
            raise ValidationError(f"unknown model type '{converter}'", field="converter",
                                  fix="one of: " + (", ".join(sorted(convs)) or "(no converter installed)"))
        conv = convs[converter]
        opt_schema = conv.option_schema()
        values = schemas.with_defaults(opt_schema, dict(options))
        errors = schemas.validate(opt_schema, values)
        if errors:
            raise errors[0]
        source_dir = Path(src.model_dir)
        if not source_dir.is_dir():
            raise ValidationError(f"the files of v{src.number} ({source_dir}) are gone", field="version")
        plan: ConversionPlan = conv.plan(values, source_dir)
        python = self.d.python_of(plan.image)
        request = self.d.resource(user, resource_spec)
        with self.d.store.session() as s:
            number_next = (s.scalar(select(func.max(ModelVersionRow.number))
                                    .where(ModelVersionRow.model_id == model.id)) or 0) + 1
        out = self.d.home(user) / "models" / model.name / f"v{number_next}"
        if out.exists() and any(out.iterdir()):
            raise ValidationError(f"{out} already holds files", field="version",
                                  fix="delete that directory or the version that used it")
        triton_name = _triton_name(model.name)
        out.mkdir(parents=True, exist_ok=True)
        tools = out.parent / f".convert-v{number_next}"  # beside the version: its directory stays a Triton repository
        tools.mkdir(exist_ok=True)
        shutil.copy2(ONNX_CHECK, tools / "onnx_check.py")
        shutil.copy2(plan.script, tools / "convert.py")
        chown_tree(out.parent, user)
        argv = [python, str(tools / "convert.py"), *plan.args, "--source", str(source_dir), "--out", str(out),
                "--name", triton_name, "--rtol", str(RTOL), "--atol", str(ATOL)]
        body = ("#!/bin/bash\nset -e\n"
                f"echo 'hpcai: converting {model.name} v{src.number} ({conv.title}) to ONNX; "
                f"check: onnxruntime vs the source model, rtol={RTOL} atol={ATOL}'\n"
                f"cd {_q(str(tools))}\nexec {' '.join(_q(a) for a in argv)}\n")
        req = JobRequest(user=user, command="", workdir=str(out), mode="standalone",
                         name=f"convert-{model.name}-v{src.number}", batch_script=body, image=plan.image,
                         groups=[RoleGroup(1, request)], source="model-convert", classification=model.classification,
                         options={"model_conversion": {"model": model.name, "from": src.number,
                                                       "converter": converter, "options": values}})
        try:
            job = self.d.submit(req)
        except BaseException:
            shutil.rmtree(out, ignore_errors=True)
            shutil.rmtree(tools, ignore_errors=True)
            raise
        v = self._add_version(model.id, user, out, f"ONNX from v{src.number} ({conv.title})", fmt="onnx",
                              converted_from=src.number, conversion_job=job.uuid)
        return v, job

    # --- F215-F218: deploy -----------------------------------------------------------------------

    def deploy_form(self, user: str, name: str, number: int | None = None) -> dict[str, Any]:
        """The recommended serving types (first = default, F215/F216), all others ("More", F217),
        and each type's fields pre-filled from the version's files."""
        model, v = self.version(user, name, number)
        files = model_files(v.model_dir)
        types = self.d.serving_types()
        ranked = recommend(model.purpose, files, sorted(types), types)
        prefill = {t: _prefill(t, model, v, files) for t in types}
        return {"model": model.name, "version": v.number, "recommended": ranked,
                "more": [t for t in sorted(types) if t not in ranked], "prefill": prefill,
                "runnable": types}

    def deploy(self, user: str, name: str, number: int | None, values: dict[str, Any]) -> Any:
        """A service made from the version (pre-filled, the user's values win); listed on the model."""
        model, v = self.version(user, name, number)
        form = self.deploy_form(user, name, v.number)
        stype = values.get("type") or (form["recommended"] or [None])[0]
        if not stype:
            raise ValidationError("no serving type is installed", field="type")
        merged = {**form["prefill"].get(stype, {}), **{k: x for k, x in values.items() if x not in (None, "")}}
        merged["type"] = stype
        service = self.d.create_service(merged, user)
        with self.d.store.session() as s:
            s.add(ModelServiceRow(model_id=model.id, version=v.number, service_alias=service.alias))
        return service

    def services(self, user: str, name: str) -> list[dict[str, Any]]:
        model = self._visible(user, name)
        with self.d.store.session() as s:
            links = list(s.scalars(select(ModelServiceRow).where(ModelServiceRow.model_id == model.id)))
        rows = {r["alias"]: r for r in self.d.service_states([link.service_alias for link in links], user)}
        return [{**rows[link.service_alias], "version": link.version} for link in links if link.service_alias in rows]

    # --- F219-F222: sharing ----------------------------------------------------------------------

    def share(self, user: str, name: str, number: int | None, values: dict[str, Any],
              background: bool = True) -> ModelRow:
        """Copy a version into a folder of a share group's shared area; the copy is a Shared model."""
        model, v = self.version(user, name, number)
        if model.owner != user:
            raise PermissionDenied(f"model {model.name} belongs to {model.owner}", field="name")
        group = str(values.get("share_group") or "")
        if not group:
            raise ValidationError("is required", field="share_group",
                                  fix="choose a share group (My data → Shared data area)")
        members = self.d.group_members(group)
        if group not in self.d.groups_of(user) and not members:
            raise ValidationError(f"share group '{group}' does not exist", field="share_group",
                                  fix="create the share group first (precondition of sharing)")
        if user not in members and group not in self.d.groups_of(user):
            raise PermissionDenied(f"you are not a member of group '{group}'", field="share_group")
        users = _list(values.get("share_users")) or [m for m in members if m != user]
        strangers = [u for u in users if u not in members]
        if strangers:
            raise ValidationError(f"not members of {group}: {', '.join(strangers)}", field="share_users")
        area = self.d.group_area(group)
        folder = str(values.get("share_dir") or "").strip()
        if not folder:
            raise ValidationError("is required", field="share_dir", fix=f"choose one folder inside {area}")
        target_parent = (area / folder.removeprefix(str(area)).lstrip("/")).resolve()
        if not target_parent.is_relative_to(area) or not target_parent.is_dir():
            raise ValidationError(f"{folder} is not a folder of group {group}'s shared data area", field="share_dir",
                                  fix=f"choose an existing folder inside {area}")
        new_name = str(values.get("name") or model.name)
        if not NAME.match(new_name):
            raise ValidationError(f"'{new_name}' is not a model name", field="name")
        target = target_parent / f"{new_name}-v{v.number}"
        if target.exists():
            raise ValidationError(f"{target} exists", field="share_dir", fix="choose another folder or name")
        with self.d.store.session() as s:
            if s.scalar(select(ModelRow.id).where(ModelRow.owner == user, ModelRow.area == "shared",
                                                  ModelRow.name == new_name)):
                raise ValidationError(f"you already shared a model named '{new_name}'", field="name")
        mlflow_name = f"{user}.shared.{new_name}"
        self.d.registry.create_model(mlflow_name, str(values.get("description") or model.description),
                                     {OWNER_TAG: user, "hpcai.shared_group": group})
        with self.d.store.session() as s:
            row = ModelRow(owner=user, name=new_name, area="shared", purpose=model.purpose, tags=list(model.tags),
                           model_dir=str(target), is_lora=model.is_lora, base_model_id=model.base_model_id,
                           description=str(values.get("description") or model.description),
                           classification=model.classification, mlflow_name=mlflow_name, share_group=group,
                           share_users=sorted(set(users)), shared_from=model.id, state="copying", progress=0.0)
            s.add(row)
            s.flush()
            shared_id = row.id
        job = threading.Thread(target=self._copy, args=(shared_id, Path(v.model_dir), target, user, v.format),
                               name=f"model-share-{shared_id}", daemon=True)
        self._copies[shared_id] = job
        job.start()
        if not background:
            job.join()
        return self._row(shared_id)

    def _copy(self, shared_id: int, source: Path, target: Path, user: str, fmt: str | None) -> None:
        files = [p for p in source.rglob("*") if p.is_file()]
        total = sum(p.stat().st_size for p in files) or 1
        done = 0
        try:
            target.mkdir(parents=True)
            for p in files:
                dest = target / p.relative_to(source)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(p, dest)
                done += p.stat().st_size
                with self.d.store.session() as s:
                    s.get(ModelRow, shared_id).progress = round(done / total, 3)
            chown_tree(target, user)
            self._add_version(shared_id, user, target, "shared copy", fmt=fmt)
            with self.d.store.session() as s:
                r = s.get(ModelRow, shared_id)
                r.state, r.progress = "ready", 1.0
        except Exception as exc:  # noqa: BLE001 - recorded on the card for the user
            with self.d.store.session() as s:
                r = s.get(ModelRow, shared_id)
                r.state, r.message = "failed", f"copy failed: {exc}"

    def wait_copy(self, shared_id: int, timeout: float = 600) -> None:
        t = self._copies.get(shared_id)
        if t is not None:
            t.join(timeout)

    # --- files (F212) ------------------------------------------------------------------------

    def files(self, user: str, name: str, number: int | None = None, write: bool = False) -> VersionFiles:
        model, v = self.version(user, name, number)
        if write and model.owner != user:
            raise PermissionDenied(f"model {model.name} belongs to {model.owner}", field="name",
                                   fix="only its owner changes its files")
        return VersionFiles(v.model_dir)


def _list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [t.strip() for t in value.split(",") if t.strip()]
    return [str(t) for t in value]


def _q(text: str) -> str:
    return shlex.quote(text)


def _triton_name(name: str) -> str:
    """Triton's model name is its directory name (F232): keep it a plain identifier."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name) if name[0].isalpha() else "m_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


def _flavor(directory: Path) -> str | None:
    """The MLflow flavour of a downloaded model (its MLmodel file names it)."""
    mlmodel = directory / "MLmodel"
    if not mlmodel.is_file():
        return None
    text = mlmodel.read_text(errors="replace")
    for flavor in ("sklearn", "pytorch", "tensorflow", "keras", "onnx", "xgboost", "paddle"):
        if re.search(rf"^\s+{flavor}:", text, re.M):
            return flavor
    return None


def _prefill(stype: str, model: ModelRow, v: ModelVersionRow, files: list[Path]) -> dict[str, Any]:
    """The service form's fields a version's files answer (the model directory pre-filled, F217)."""
    def first(*suffixes: str) -> str | None:
        return next((str(f) for f in files if f.name.endswith(suffixes)), None)

    name = _triton_name(model.name)
    out: dict[str, Any] = {"description": f"model {model.name} v{v.number}",
                           "name": f"{model.name}-v{v.number}-{stype}"[:64]}
    if stype == "mlserver":
        onnx, skl = first(".onnx"), first(".joblib", ".pkl")
        out.update({"model_name": name, "framework": "onnx" if onnx else "sklearn", "model_uri": onnx or skl or ""})
    elif stype == "triton":
        out["model_repository"] = v.model_dir
    elif stype == "torchserve":
        mar = first(".mar")
        out.update({"model_name": name, "deploy_mode": "mar" if mar else "files"})
        out.update({"mar_file": mar} if mar else {"serialized_file": first(".pt", ".pth") or ""})
    elif stype == "tfserving":
        out.update({"model_name": name, "model_base_path": v.model_dir})
    else:
        out["model_dir"] = v.model_dir
    return out
