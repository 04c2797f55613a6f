"""Datasets (spec 05 F151-F181): create, modify, delete, list, preview, share, use in jobs.

Every rule lives here, whatever shell asks (portal, REST API, libaiflow, a job option):
who may do what (sharer: modify/preview/use/delete; share-group members: preview/use;
administrators: delete only), unique names, secrets stored encrypted and never shown back,
and nothing half-created when a check fails. What a storage backend does (listing files,
running a read-only query, talking WebHDFS) is the backend plugin's business.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from core import schema as schemas
from core.api import DataFile, DatasetBackend, DatasetContext, Table
from core.datakinds import CATEGORIES, check_category, check_name
from core.dataset_hosts import BUDGET, check_host
from core.errors import HpcaiError, NotFound, PermissionDenied, ValidationError, ValidationErrors
from core.store import DatasetRow

if TYPE_CHECKING:
    from core.platform import Platform

#: body keys that belong to the dataset itself; every other key is a backend option
COMMON = ("name", "category", "backend", "description", "classification", "share_group",
          "share_users", "area", "options")
ACTIONS = ("preview", "use", "modify", "delete")
MAX_PREVIEW_ROWS = 1000
MAX_FILES = 1000
SECRET_MASK = "********"
#: a background copy reports progress every 8 MB at least; silence this long means it died
STALE_COPY_S = 300


class SecretBox:
    """Fernet encryption of dataset passwords; the key is HPCAI_DATASET_KEY or a 0600 file."""

    def __init__(self, key_file: Path):
        self.key_file = key_file
        self._fernet: Any = None

    def _box(self) -> Any:
        if self._fernet is None:
            from cryptography.fernet import Fernet

            key = os.environ.get("HPCAI_DATASET_KEY")
            if not key:
                if not self.key_file.exists():
                    self.key_file.parent.mkdir(parents=True, exist_ok=True)
                    try:
                        fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                        with os.fdopen(fd, "wb") as f:
                            f.write(Fernet.generate_key())
                    except FileExistsError:  # another process made it first
                        pass
                key = self.key_file.read_text().strip()
            self._fernet = Fernet(key.encode() if isinstance(key, str) else key)
        return self._fernet

    def seal(self, secrets: dict[str, str]) -> str | None:
        if not secrets:
            return None
        return self._box().encrypt(json.dumps(secrets).encode()).decode()

    def open(self, token: str | None) -> dict[str, str]:
        if not token:
            return {}
        from cryptography.fernet import InvalidToken

        try:
            return json.loads(self._box().decrypt(token.encode()))
        except InvalidToken as exc:
            raise HpcaiError("the stored dataset password cannot be decrypted with this site's key",
                             field="password",
                             fix="restore the key file (or HPCAI_DATASET_KEY) or enter the password again") from exc


def env_name(name: str) -> str:
    """A dataset name as part of an environment variable name: `iris v2` -> `IRIS_V2`."""
    out = re.sub(r"[^A-Za-z0-9]", "_", name).upper()
    return out if out and not out[0].isdigit() else "_" + out


class DatasetService:
    def __init__(self, platform: "Platform"):
        self.p = platform
        self.settings: dict[str, Any] = dict(platform.config.raw.get("datasets", {}))
        self.box = SecretBox(platform.config.data_dir / "dataset-secret.key")
        self._copies: dict[str, threading.Thread] = {}

    # --- who and where ------------------------------------------------------------------------

    def is_admin(self, user: str) -> bool:
        return self.p.jobs.is_admin(user)

    def groups_of(self, user: str) -> list[str]:
        return self.p.jobs.groups_of(user)

    def group_members(self, group: str) -> list[str]:
        return self.p.accounts.groups().get(group, [])

    def shared_root(self) -> Path:
        raw = self.settings.get("shared_root")
        root = Path(os.path.expanduser(raw)) if raw else self.p.config.data_dir / "shared"
        return root if root.is_absolute() else self.p.config.home / root

    def group_area(self, group: str) -> Path:
        """A group's shared data area (created on first use)."""
        area = self.shared_root() / group
        area.mkdir(parents=True, exist_ok=True)
        return area.resolve()

    def context(self, user: str, group: str | None = None) -> DatasetContext:
        """The backend's view of the caller. With `group`, paths must lie in its shared area."""
        if group is None:
            def check(path: str, field: str) -> Path:
                return self.p.workspace.check(user, path, field=field)
        else:
            area = self.group_area(group)

            def check(path: str, field: str) -> Path:
                text = str(path or "").strip()
                if not text:
                    raise ValidationError("is required", field=field, fix="choose a directory")
                resolved = Path(os.path.expanduser(text)).resolve()
                if not (resolved == area or resolved.is_relative_to(area)):
                    raise PermissionDenied(f"{text} is outside the shared data area of group {group}",
                                           field=field, fix=f"choose a directory inside {area}")
                if not resolved.exists():
                    raise ValidationError(f"{text} does not exist", field=field)
                return resolved
        classification = self.p.settings.classification_enabled()
        return DatasetContext(user=user, check_path=check, settings=self.settings,
                              classification_enabled=classification)

    def backend(self, name: Any) -> DatasetBackend:
        return self.p.registry.get("dataset_backend", name, "backend")

    def backends(self) -> list[DatasetBackend]:
        return [i.descriptor for i in self.p.registry.list("dataset_backend", enabled_only=True)]

    def catalog(self) -> list[dict[str, Any]]:
        """The category tree the portal shows: each category with the backends that hold it."""
        out = []
        for cat, title in CATEGORIES.items():
            out.append({"category": cat, "title": title,
                        "backends": [{"name": b.name, "title": b.title,
                                      "connection_based": b.connection_based, "tabular": b.tabular}
                                     for b in self.backends() if cat in b.categories]})
        return out

    # --- permissions ------------------------------------------------------------------------

    def members(self, row: DatasetRow) -> set[str]:
        """Users a shared dataset is shared with (besides its sharer)."""
        if row.area != "shared":
            return set()
        if row.share_users:
            return set(row.share_users)
        return set(self.group_members(row.share_group)) if row.share_group else set()

    def allowed(self, user: str, row: DatasetRow) -> set[str]:
        if row.owner == user:
            return set(ACTIONS)
        allowed: set[str] = set()
        if user in self.members(row):
            allowed |= {"preview", "use"}
        if self.is_admin(user):
            allowed.add("delete")
        return allowed

    def _visible(self, user: str, row: DatasetRow) -> bool:
        return bool(self.allowed(user, row))

    # --- reading ------------------------------------------------------------------------------

    def _find(self, user: str, ref: str, area: str | None = None) -> DatasetRow:
        text = str(ref or "").strip()
        if not text:
            raise ValidationError("is required", field="dataset", fix="give a dataset name or id")
        with self.p.store.session() as s:
            row = s.get(DatasetRow, text) if len(text) == 36 else None
            if row is not None and self._visible(user, row) and (area is None or row.area == area):
                return row
            q = select(DatasetRow).where(DatasetRow.name == text)
            if area:
                q = q.where(DatasetRow.area == area)
            rows = [r for r in s.scalars(q.order_by(DatasetRow.created_at)) if self._visible(user, r)]
        # One's own personal dataset wins, then one's own shared one, then those shared with one.
        rows.sort(key=lambda r: (r.owner != user, r.area != "my"))
        if not rows:
            raise NotFound(f"no dataset '{text}'", field="dataset", fix="see the list of your datasets")
        if len(rows) > 1 and rows[0].owner != user and rows[1].owner != user:
            owners = ", ".join(sorted({r.owner for r in rows}))
            raise ValidationError(f"several datasets shared with you are called '{text}' (by {owners})",
                                  field="dataset", fix="use the dataset id")
        return rows[0]

    def get(self, user: str, ref: str, action: str = "preview", area: str | None = None) -> DatasetRow:
        row = self._check_stale(self._find(user, ref, area))
        if action not in self.allowed(user, row):
            raise PermissionDenied(f"you may not {action} dataset '{row.name}'", field="dataset",
                                   fix=_why(action, row))
        return row

    def info(self, row: DatasetRow, user: str | None = None) -> dict[str, Any]:
        """The dataset as JSON, never with a secret in it."""
        backend = self._backend_or_none(row.backend)
        options = dict(row.options)
        for name in (backend.secret_fields if backend else ()):
            options[name] = SECRET_MASK if row.secrets else ""
        data: dict[str, Any] = {
            "id": row.id, "name": row.name, "owner": row.owner, "area": row.area,
            "category": row.category, "backend": row.backend, "options": options,
            "description": row.description, "classification": row.classification,
            "share_group": row.share_group, "share_users": list(row.share_users or []),
            "shared_from": row.shared_from, "state": row.state, "progress": row.progress,
            "message": row.message,
            "created_at": row.created_at.isoformat() if row.created_at else None,
            "updated_at": row.updated_at.isoformat() if row.updated_at else None,
        }
        if not self.p.settings.classification_enabled():
            data.pop("classification")  # F1: absent while the feature is off
        if user is not None:
            data["permissions"] = sorted(self.allowed(user, row))
        return data

    def _backend_or_none(self, name: str) -> DatasetBackend | None:
        try:
            return self.backend(name)
        except HpcaiError:
            return None

    def list(self, user: str, area: str | None = None, category: str | None = None,
             backend: str | None = None, all_users: bool = False) -> list[DatasetRow]:
        """Datasets the user may see. Other users' personal datasets only for an administrator
        who asks for them (all_users): they may delete them, nothing else."""
        q = select(DatasetRow)
        if area:
            q = q.where(DatasetRow.area == area)
        if category:
            q = q.where(DatasetRow.category == category)
        if backend:
            q = q.where(DatasetRow.backend == backend)
        if not (all_users and self.is_admin(user)):
            # Personal datasets are their owner's; shared ones need the membership check below.
            q = q.where(or_(DatasetRow.owner == user, DatasetRow.area == "shared"))
        with self.p.store.session() as s:
            rows = list(s.scalars(q.order_by(DatasetRow.area, DatasetRow.name)))
        return [self._check_stale(r) for r in rows if self._visible(user, r)]

    # --- creating -----------------------------------------------------------------------------

    def _split(self, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        if not isinstance(values, dict):
            raise ValidationError("the dataset must be a JSON object", field="body")
        common = {k: values[k] for k in COMMON if k in values}
        options = dict(values.get("options") or {})
        options.update({k: v for k, v in values.items() if k not in COMMON})
        return common, options

    def _check_options(self, backend: DatasetBackend, category: str, options: dict[str, Any],
                       ctx: DatasetContext) -> dict[str, Any]:
        schema = backend.option_schema()
        values = schemas.with_defaults(schema, {**options, "category": category})
        errors = schemas.validate(schema, values)
        if errors:
            raise ValidationErrors(errors)
        values.pop("category", None)
        known = set(schema.get("properties", {}))
        unknown = sorted(str(k) for k in set(values) - known)  # a multipart part may arrive as a None key
        if unknown:
            raise ValidationError(f"unknown field '{unknown[0]}' for {backend.title} datasets",
                                  field=unknown[0], fix="use only " + ", ".join(sorted(known - {"category"})))
        return backend.normalise(category, values, ctx)

    def _resolve(self, user: str, values: dict[str, Any], area: str, current: DatasetRow | None = None
                 ) -> tuple[dict[str, Any], DatasetBackend, dict[str, Any], dict[str, str]]:
        """Check a create/modify body; returns (common fields, backend, options, secrets)."""
        common, options = self._split(values)
        if current is not None:
            for fixed in ("category", "backend"):
                if fixed in common and common[fixed] != getattr(current, fixed):
                    raise ValidationError("cannot be changed", field=fixed,
                                          fix="create a new dataset instead")
            common.setdefault("name", current.name)
            common["category"], common["backend"] = current.category, current.backend
            merged = dict(current.options)
            merged.update(options)
            options = merged
        common["name"] = check_name(common.get("name"))
        category = check_category(common.get("category"))
        backend = self.backend(common.get("backend") or ("files" if category else None))
        common["backend"] = backend.name
        if category not in backend.categories:
            raise ValidationError(f"{backend.title} cannot hold {CATEGORIES[category].lower()}",
                                  field="backend", fix="choose one of: " + ", ".join(
                                      b.name for b in self.backends() if category in b.categories))
        description = common.get("description") or ""
        if not isinstance(description, str) or len(description) > 2000:
            raise ValidationError("must be text of at most 2000 characters", field="description")
        common["description"] = description
        # Secrets: a blank or masked value keeps the stored one (the form never shows it).
        stored = self.box.open(current.secrets) if current is not None else {}
        secrets: dict[str, str] = {}
        for name in backend.secret_fields:
            given = options.get(name)
            if given in (None, "", SECRET_MASK):
                if name in stored:
                    secrets[name] = stored[name]
                    options[name] = stored[name]
            else:
                secrets[name] = str(given)
        group = self._share_target(user, area, backend, common, current)
        ctx = self.context(user, group if area == "shared" and not backend.connection_based else None)
        options = self._check_options(backend, category, options, ctx)
        if backend.connection_based:  # the portal connects from inside the site: no probing through it
            options["host"] = check_host(options.get("host"), self.settings.get("allowed_hosts"))
        public = {k: v for k, v in options.items() if k not in backend.secret_fields}
        return common, backend, public, secrets

    def _share_target(self, user: str, area: str, backend: DatasetBackend, common: dict[str, Any],
                      current: DatasetRow | None) -> str | None:
        """Check share group/users of a shared dataset; returns the group (file-based kinds)."""
        if area != "shared":
            common["share_group"], common["share_users"] = None, []
            return None
        users = common.get("share_users", current.share_users if current else [])
        if isinstance(users, str):
            users = [u for u in re.split(r"[,\s]+", users) if u]
        if not isinstance(users, list) or not all(isinstance(u, str) for u in users):
            raise ValidationError("must be a list of user names", field="share_users")
        if backend.connection_based:
            common["share_group"] = None
            if not users:
                raise ValidationError("choose at least one user to share with", field="share_users",
                                      fix="pick the users who may preview and use this dataset")
            for u in users:
                if self.p.accounts.find(u) is None:
                    raise ValidationError(f"no user '{u}'", field="share_users")
            common["share_users"] = sorted(set(users))
            return None
        group = common.get("share_group", current.share_group if current else None)
        if not group:
            raise ValidationError("is required", field="share_group",
                                  fix="choose one of your groups: " + (", ".join(self.groups_of(user)) or "none"))
        if group not in self.groups_of(user):
            raise PermissionDenied(f"you are not a member of group '{group}'", field="share_group",
                                   fix="choose one of: " + (", ".join(self.groups_of(user)) or "none"))
        members = set(self.group_members(group))
        strangers = sorted(set(users) - members)
        if strangers:
            raise ValidationError(f"'{strangers[0]}' is not a member of group {group}", field="share_users",
                                  fix="choose among: " + ", ".join(sorted(members)))
        common["share_group"], common["share_users"] = group, sorted(set(users))
        return group

    def create(self, user: str, values: dict[str, Any], area: str = "my") -> DatasetRow:
        """A new dataset in My datasets, or directly in Shared datasets (F180, F181)."""
        if area not in ("my", "shared"):
            raise ValidationError(f"unknown area {area!r}", field="area", fix="choose my or shared")
        common, backend, options, secrets = self._resolve(user, values, area)
        row = DatasetRow(id=str(uuid.uuid4()), name=common["name"], owner=user, area=area,
                         category=common["category"], backend=backend.name, options=options,
                         secrets=self.box.seal(secrets), description=common["description"],
                         classification=common.get("classification"),
                         share_group=common.get("share_group"), share_users=common.get("share_users") or [],
                         state="ready", progress=1.0)
        return self._insert(row)

    def _insert(self, row: DatasetRow) -> DatasetRow:
        self._check_unique(row.owner, row.area, row.name)
        try:
            with self.p.store.session() as s:
                s.add(row)
        except IntegrityError as exc:  # a concurrent create took the name between check and insert
            raise self._duplicate(row.name, row.area) from exc
        return row

    def _duplicate(self, name: str, area: str) -> ValidationError:
        where = "your datasets" if area == "my" else "the datasets you shared"
        return ValidationError(f"a dataset called '{name}' already exists in {where}", field="name",
                               fix="choose another name")

    def _check_unique(self, owner: str, area: str, name: str, except_id: str | None = None) -> None:
        with self.p.store.session() as s:
            other = s.scalars(select(DatasetRow).where(DatasetRow.owner == owner, DatasetRow.area == area,
                                                       DatasetRow.name == name)).first()
        if other is not None and other.id != except_id:
            raise self._duplicate(name, area)

    def modify(self, user: str, ref: str, values: dict[str, Any]) -> DatasetRow:
        row = self.get(user, ref, "modify")
        if row.state == "copying":
            raise ValidationError("the dataset is still being copied", field="dataset",
                                  fix="wait until the copy has finished")
        values = dict(values)
        if row.area == "shared":
            values.setdefault("share_group", row.share_group)
            values.setdefault("share_users", row.share_users)
        common, backend, options, secrets = self._resolve(user, values, row.area, current=row)
        self._check_unique(row.owner, row.area, common["name"], except_id=row.id)
        try:
            with self.p.store.session() as s:
                fresh = s.get(DatasetRow, row.id)
                if fresh is None:
                    raise NotFound(f"no dataset '{ref}'", field="dataset")
                fresh.name, fresh.options, fresh.description = common["name"], options, common["description"]
                fresh.secrets = self.box.seal(secrets)
                if "classification" in common:
                    fresh.classification = common["classification"]
                fresh.share_group, fresh.share_users = common.get("share_group"), common.get("share_users") or []
        except IntegrityError as exc:
            raise self._duplicate(common["name"], row.area) from exc
        return self.get(user, row.id, "preview") if row.owner != user else self._reload(row.id)

    def _reload(self, dataset_id: str) -> DatasetRow:
        with self.p.store.session() as s:
            row = s.get(DatasetRow, dataset_id)
        if row is None:
            raise NotFound(f"no dataset '{dataset_id}'", field="dataset")
        return row

    def delete(self, user: str, ref: str) -> None:
        """Forget the dataset. Data files stay where they are (they are the user's)."""
        row = self.get(user, ref, "delete")
        with self.p.store.session() as s:
            fresh = s.get(DatasetRow, row.id)
            if fresh is not None:
                s.delete(fresh)

    # --- connection test and preview -----------------------------------------------------------

    def _draft(self, user: str, values: dict[str, Any],
               area: str) -> tuple[DatasetBackend, str, dict[str, Any], DatasetContext]:
        """An unsaved dataset from a form (Preview / Connection test before OK)."""
        values = dict(values)
        values.setdefault("name", "draft")
        common, backend, options, secrets = self._resolve(user, values, area)
        group = common.get("share_group") if area == "shared" and not backend.connection_based else None
        return backend, common["category"], {**options, **secrets}, self.context(user, group)

    def _stored(self, user: str, ref: str,
                action: str) -> tuple[DatasetRow, DatasetBackend, dict[str, Any], DatasetContext]:
        row = self.get(user, ref, action)
        if row.state != "ready":
            raise ValidationError(f"dataset '{row.name}' is {row.state}" + (f": {row.message}" if row.message else ""),
                                  field="dataset", fix="wait until the copy has finished" if row.state == "copying"
                                  else "share the dataset again")
        backend = self.backend(row.backend)
        options = {**row.options, **self.box.open(row.secrets)}
        if backend.connection_based:  # the site's allow-list as it is now, not as it was
            check_host(options.get("host"), self.settings.get("allowed_hosts"))
        # A stored dataset was checked when it was saved; paths are re-read, not re-authorised,
        # so group members can preview a dataset in a group area that is not among their roots.
        ctx = DatasetContext(user=row.owner, check_path=lambda p, f: Path(p),
                             settings=self.settings, classification_enabled=False)
        return row, backend, options, ctx

    def source(self, user: str, ref: str,
               action: str = "use") -> tuple[DatasetRow, DatasetBackend, dict[str, Any], DatasetContext]:
        """A ready dataset the user may `action`, its backend, options (secrets included) and
        context: what another domain (labeling) reads files through."""
        return self._stored(user, ref, action)

    def test_connection(self, user: str, values: dict[str, Any] | None = None, ref: str | None = None,
                        area: str = "my") -> str:
        backend, _, options, ctx = self._source(user, values, ref, area)
        BUDGET.take(self.p.config.db_url, user, int(self.settings.get("connection_tests_per_minute", 20)))
        return backend.test_connection(options, ctx)

    def _source(self, user: str, values: dict[str, Any] | None, ref: str | None,
                area: str) -> tuple[DatasetBackend, str, dict[str, Any], DatasetContext]:
        """A stored dataset (`ref`) or a form being filled in (`values`), ready to read."""
        if ref is not None:
            row, backend, options, ctx = self._stored(user, ref, "preview")
            return backend, row.category, options, ctx
        return self._draft(user, values or {}, area)

    def files(self, user: str, values: dict[str, Any] | None = None, ref: str | None = None,
              limit: int = 200, area: str = "my") -> tuple[list[DataFile], bool]:
        limit = _bounded(limit, 1, MAX_FILES, "limit")
        backend, category, options, ctx = self._source(user, values, ref, area)
        return backend.list_files(category, options, ctx, limit)

    def table(self, user: str, values: dict[str, Any] | None = None, ref: str | None = None,
              rows: int = 100, file: str | None = None, area: str = "my") -> Table:
        rows = _bounded(rows, 1, MAX_PREVIEW_ROWS, "rows")
        backend, category, options, ctx = self._source(user, values, ref, area)
        if category != "numeric":
            raise ValidationError(f"{CATEGORIES[category].lower()} has no table view", field="file",
                                  fix="open the files one by one")
        return backend.preview(category, options, ctx, rows, file)

    def read_file(self, user: str, ref: str, file: str, max_bytes: int = 50 * 1024 * 1024) -> tuple[bytes, bool]:
        _, backend, options, ctx = self._stored(user, ref, "preview")
        return backend.open_file(options, ctx, file, max_bytes)

    # --- sharing ------------------------------------------------------------------------------

    def share(self, user: str, ref: str, values: dict[str, Any], background: bool = True) -> DatasetRow:
        """Share one of my datasets (F175-F179): file-based ones are copied into a directory
        of the group's shared data area, connection-based ones share their connection."""
        src = self.get(user, ref, "modify", area="my")
        if src.state != "ready":
            raise ValidationError(f"dataset '{src.name}' is {src.state}", field="dataset")
        backend = self.backend(src.backend)
        if not isinstance(values, dict):
            raise ValidationError("the share request must be a JSON object", field="body")
        name = check_name(values.get("share_name") or values.get("name"), field="share_name")
        description = values.get("description", src.description) or ""
        common: dict[str, Any] = {"share_group": values.get("share_group"),
                                  "share_users": values.get("share_users") or []}
        group = self._share_target(user, "shared", backend, common, None)
        self._check_unique(user, "shared", name)
        row = DatasetRow(id=str(uuid.uuid4()), name=name, owner=user, area="shared", category=src.category,
                         backend=src.backend, options=dict(src.options), secrets=src.secrets,
                         description=str(description), classification=src.classification,
                         share_group=common["share_group"], share_users=common["share_users"] or [],
                         shared_from=src.id, state="ready", progress=1.0)
        if backend.connection_based:
            return self._insert(row)
        # File-based: check the share directory, then copy.
        raw = str(values.get("share_directory") or "").strip()
        if not raw:
            raise ValidationError("is required", field="share_directory",
                                  fix=f"choose one folder inside {self.group_area(str(group))}")
        area = self.group_area(str(group))
        dest = Path(os.path.expanduser(raw)).resolve()
        if not dest.is_relative_to(area) or dest == area:
            raise PermissionDenied(f"{raw} is not a folder inside the shared data area of group {group}",
                                   field="share_directory", fix=f"choose a folder inside {area}")
        if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
            raise ValidationError(f"{raw} already holds files", field="share_directory",
                                  fix="choose a new or empty folder")
        row.state, row.progress = "copying", 0.0
        src_ctx = DatasetContext(user=user, check_path=lambda p, f: Path(p), settings=self.settings)
        files, _ = backend.list_files(src.category, src.options, src_ctx, 10**9)
        if not files:
            raise ValidationError("the dataset has no files to share", field="dataset")
        self._insert(row)
        created = not dest.exists()
        dest.mkdir(parents=True, exist_ok=True)
        job = (backend, dict(src.options), src.category, src_ctx, dest, row.id, created)
        if background:
            t = threading.Thread(target=self._copy, args=job, name=f"share-{row.id}", daemon=True)
            self._copies[row.id] = t
            t.start()
            return row
        if not self._copy(*job):
            failed = self._reload(row.id)
            self._forget(row.id)
            raise HpcaiError(f"copying the dataset failed: {failed.message}", field="share_directory",
                             fix="check the free space and permissions of the shared data area")
        return self._reload(row.id)

    def _copy(self, backend: DatasetBackend, options: dict[str, Any], category: str, ctx: DatasetContext,
              dest: Path, dataset_id: str, created: bool) -> bool:
        last = [0.0]

        def progress(fraction: float) -> None:
            now = time.monotonic()
            if now - last[0] >= 0.5 or fraction >= 1.0:  # at most two store writes a second
                last[0] = now
                self._set_state(dataset_id, "copying", min(fraction, 0.999), touch=True)

        try:
            new_options = backend.copy_to(category, options, ctx, dest, progress)
        except Exception as exc:  # noqa: BLE001 - recorded on the dataset for the user to read
            shutil.rmtree(dest, ignore_errors=True) if created else _empty(dest)
            self._set_state(dataset_id, "failed", 0.0, f"{type(exc).__name__}: {exc}")
            return False
        with self.p.store.session() as s:
            row = s.get(DatasetRow, dataset_id)
            if row is not None:
                row.options, row.state, row.progress, row.message = new_options, "ready", 1.0, None
        return True

    def _set_state(self, dataset_id: str, state: str, progress: float, message: str | None = None,
                   touch: bool = False) -> None:
        with self.p.store.session() as s:
            row = s.get(DatasetRow, dataset_id)
            if row is not None:
                row.state, row.progress, row.message = state, progress, message
                if touch:
                    row.updated_at = datetime.now(timezone.utc)

    def _check_stale(self, row: DatasetRow) -> DatasetRow:
        """A copy whose process died (portal restart) stops reporting: call it failed."""
        if row.state != "copying" or row.id in self._copies and self._copies[row.id].is_alive():
            return row
        updated = row.updated_at if row.updated_at.tzinfo else row.updated_at.replace(tzinfo=timezone.utc)
        if datetime.now(timezone.utc) - updated > timedelta(seconds=STALE_COPY_S):
            self._set_state(row.id, "failed", 0.0, f"the copy stopped reporting progress for {STALE_COPY_S} s "
                            "(the portal was probably restarted); share the dataset again")
            return self._reload(row.id)
        return row

    def _forget(self, dataset_id: str) -> None:
        with self.p.store.session() as s:
            row = s.get(DatasetRow, dataset_id)
            if row is not None:
                s.delete(row)

    def wait_copy(self, dataset_id: str, timeout: float = 60) -> None:
        """Wait for a background copy of this process (tests, CLI)."""
        t = self._copies.get(dataset_id)
        if t is not None:
            t.join(timeout)

    # --- jobs ---------------------------------------------------------------------------------

    def for_job(self, user: str, refs: list[str]) -> list[tuple[DatasetRow, DatasetBackend, dict[str, Any]]]:
        """Datasets a job names, checked for the `use` permission; options with secrets."""
        out = []
        seen: set[str] = set()
        for ref in refs:
            row, backend, options, _ = self._stored(user, ref, "use")
            if row.id in seen:
                continue
            seen.add(row.id)
            out.append((row, backend, options))
        return out

    def job_env(self, user: str, refs: list[str], job_dir: str, csv: bool) -> dict[str, str]:
        """Variables a job gets for its datasets (no secret: passwords go to a 0600 file)."""
        env: dict[str, str] = {}
        names = []
        ctx = DatasetContext(user=user, check_path=lambda p, f: Path(p), settings=self.settings)
        for row, backend, options in self.for_job(user, refs):
            prefix = f"HPCAI_DATASET_{env_name(row.name)}"
            names.append(row.name)
            env[f"{prefix}_ID"] = row.id
            env[f"{prefix}_BACKEND"] = row.backend
            env[f"{prefix}_CATEGORY"] = row.category
            env.update(backend.job_env({k: v for k, v in options.items() if k not in backend.secret_fields},
                                       prefix, ctx))
            if backend.secret_fields and any(options.get(k) for k in backend.secret_fields):
                env[f"{prefix}_SECRETS_FILE"] = str(Path(job_dir) / "datasets" / f"{row.id}.secrets.json")
            if csv and backend.tabular and backend.connection_based:
                env[f"{prefix}_CSV"] = str(Path(job_dir) / "datasets" / f"{env_name(row.name).lower()}.csv")
        env["HPCAI_DATASETS"] = ",".join(names)
        return env

    def populate_job(self, user: str, refs: list[str], job_dir: Path, csv: bool) -> None:
        """Write the secrets files and (on request) the query rows as CSV into the job directory."""
        d = Path(job_dir) / "datasets"
        d.mkdir(exist_ok=True)
        for row, backend, options in self.for_job(user, refs):
            secrets = {k: options[k] for k in backend.secret_fields if options.get(k)}
            if secrets:
                path = d / f"{row.id}.secrets.json"
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as f:
                    json.dump(secrets, f)
            if csv and backend.tabular and backend.connection_based:
                ctx = DatasetContext(user=row.owner, check_path=lambda p, f: Path(p), settings=self.settings)
                backend.materialise(options, ctx, d / f"{env_name(row.name).lower()}.csv")
        owner = Path(job_dir).stat()  # the job directory already belongs to the job's Unix user
        if os.getuid() == 0:
            for f in [d, *d.iterdir()]:
                os.chown(f, owner.st_uid, owner.st_gid, follow_symlinks=False)


def _bounded(value: Any, low: int, high: int, field: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationError(f"'{value}' is not a whole number", field=field) from None
    if not low <= number <= high:
        raise ValidationError(f"must be between {low} and {high}", field=field)
    return number


def _why(action: str, row: DatasetRow) -> str:
    if row.area == "my":
        return "only its owner may do that"
    return {"modify": "only the sharer may modify a shared dataset",
            "delete": "only the sharer or an administrator may delete a shared dataset"}.get(
        action, "ask the sharer to add you to the share")


def _empty(path: Path) -> None:
    for child in path.iterdir():
        shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink(missing_ok=True)
