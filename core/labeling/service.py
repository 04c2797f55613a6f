"""Labeling tasks (spec 05 §5): create (in the background), modify, end, delete, sub-tasks,
reassign, submit, review with a sampling policy, the data list, annotations, media, exports.

Every rule is checked here (core.labeling.rules), whatever shell asks; a refused request
changes nothing. Files are read through a DatasetSource, never copied into the store.
"""

from __future__ import annotations

import math
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterable, Iterator, Protocol

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from core.datakinds import check_name
from core.errors import Conflict, HpcaiError, NotFound, PermissionDenied, ValidationError
from core.labeling import rules
from core.labeling.api import ExportTask, LabeledItem, LabelExporter, LabelTemplate
from core.labeling.models import LabelItemRow, LabelReviewRow, LabelSubTaskRow, LabelTaskRow
from core.labeling.results import check_result
from core.labeling.sources import DatasetSource, PathPolicy, UserDirectory
from core.users import chown_tree

MODES = ("personal", "collaborative")
POLICIES = ("percent", "count")
MAX_LABELS = 100
MAX_PAGE = 500
COUNT_CAP = 10_000
MAX_PRE_ANNOTATION = 256 * 1024 * 1024
#: items inserted per statement while a task is created
BATCH = 5000
LABEL = re.compile(r"^[^<>&\"\x00-\x1f]{1,64}$")
MODIFIABLE = ("pre_annotation", "pre_annotation_format", "template", "labels", "description")


class Plugins(Protocol):
    def get(self, kind: str, name: str | None, field: str | None = None) -> Any: ...

    def list(self, kind: str | None = None, enabled_only: bool = False) -> list[Any]: ...


@dataclass
class Page:
    items: list[dict[str, Any]]
    next_after: int | None
    total: int  # matching the filter (at most COUNT_CAP when filtered)
    more: bool = False  # more than `total` match


def now() -> datetime:
    return datetime.now(timezone.utc)


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()


class LabelingService:
    def __init__(self, store: Any, source: DatasetSource, users: UserDirectory, paths: PathPolicy,
                 plugins: Callable[[], Plugins]):
        """`plugins` returns the current registry (an administrator may reload it)."""
        self.store, self.source, self.users, self.paths = store, source, users, paths
        self._plugins = plugins
        self._workers: dict[str, threading.Thread] = {}

    # --- plugins --------------------------------------------------------------------------------

    @property
    def plugins(self) -> Plugins:
        return self._plugins()

    def templates(self, category: str | None = None) -> list[LabelTemplate]:
        found = [i.descriptor for i in self.plugins.list("label_template", enabled_only=True)]
        return [t for t in found if category is None or t.category == category]

    def template(self, name: Any, category: str | None = None) -> LabelTemplate:
        tpl: LabelTemplate = self.plugins.get("label_template", str(name or ""), "template")
        if category and tpl.category != category:
            raise ValidationError(f"template '{tpl.name}' is for {tpl.category} data, the dataset holds "
                                  f"{category} data", field="template",
                                  fix="choose one of: " + ", ".join(t.name for t in self.templates(category)))
        return tpl

    def exporters(self) -> list[LabelExporter]:
        return [i.descriptor for i in self.plugins.list("label_exporter", enabled_only=True)]

    def exporter(self, name: Any) -> LabelExporter:
        return self.plugins.get("label_exporter", str(name or ""), "format")

    def config(self, task: LabelTaskRow) -> str:
        return self.template(task.template).config(list(task.labels))

    # --- reading tasks --------------------------------------------------------------------------

    def _task(self, task_id: str) -> LabelTaskRow:
        with self.store.session() as s:
            row = s.get(LabelTaskRow, task_id) if len(task_id) == 36 else None
        if row is None:
            raise NotFound(f"no labeling task '{task_id[:40]}'", field="task", fix="see your labeling tasks")
        return row

    def get(self, user: str, ref: str) -> LabelTaskRow:
        """A task by id (or by the caller's own task name) the user takes part in."""
        text = str(ref or "").strip()
        row = None
        if len(text) == 36:
            with self.store.session() as s:
                row = s.get(LabelTaskRow, text)
        if row is None:
            with self.store.session() as s:
                row = s.scalar(select(LabelTaskRow).where(LabelTaskRow.owner == user, LabelTaskRow.name == text))
        if row is None:
            raise NotFound(f"no labeling task '{text[:40]}'", field="task", fix="see your labeling tasks")
        rules.require_participant(row, user)
        return self._check_stale(row)

    def list(self, user: str) -> list[LabelTaskRow]:
        with self.store.session() as s:
            rows = list(s.scalars(select(LabelTaskRow).order_by(LabelTaskRow.created_at.desc())))
        return [self._check_stale(r) for r in rows if rules.roles(r, user)]

    def counts(self, task_id: str, subtask_ids: list[int] | None = None) -> dict[str, int]:
        q = select(LabelItemRow.status, func.count()).where(LabelItemRow.task_id == task_id)
        if subtask_ids is not None:
            q = q.where(LabelItemRow.subtask_id.in_(subtask_ids or [-1]))
        with self.store.session() as s:
            got = dict(s.execute(q.group_by(LabelItemRow.status)).all())
        return {"total": sum(got.values()), "labeled": got.get("labeled", 0)}

    def info(self, task: LabelTaskRow, user: str) -> dict[str, Any]:
        tpl = self._template_or_none(task.template)
        return {
            "id": task.id, "name": task.name, "owner": task.owner, "dataset": task.dataset_name,
            "dataset_id": task.dataset_id, "category": task.category, "root": task.root,
            "template": task.template, "template_title": tpl.title if tpl else task.template,
            "labels": list(task.labels), "mode": task.mode, "description": task.description,
            "pre_annotation": task.pre_annotation, "state": task.state, "message": task.message,
            "progress": task.progress, "items": task.item_count, "labeled": self.counts(task.id)["labeled"],
            "subtask_size": task.subtask_size, "annotators": list(task.annotators or []),
            "review": task.review, "reviewers": list(task.reviewers or []), "policy": task.policy,
            "policy_value": task.policy_value, "expires_at": iso(task.expires_at),
            "expired": rules.expired(task), "ended_at": iso(task.ended_at), "ended_by": task.ended_by,
            "created_at": iso(task.created_at), "roles": sorted(rules.roles(task, user)),
            "operations": rules.operations(task, user),
        }

    def _template_or_none(self, name: str) -> LabelTemplate | None:
        try:
            return self.template(name)
        except HpcaiError:
            return None

    # --- creating -------------------------------------------------------------------------------

    def _check_users(self, values: Any, field: str, required: bool) -> list[str]:
        if isinstance(values, str):
            values = [v for v in re.split(r"[,\s]+", values) if v]
        if values is None:
            values = []
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ValidationError("must be a list of user names", field=field)
        out = list(dict.fromkeys(v.strip() for v in values if v.strip()))
        if required and not out:
            raise ValidationError("name at least one user", field=field)
        for name in out:
            if not self.users.exists(name):
                raise ValidationError(f"no account '{name[:64]}'", field=field, fix="choose existing users")
        return out

    def _check_labels(self, labels: Any, tpl: LabelTemplate) -> list[str]:
        if labels is None or labels == "" or labels == []:
            labels = list(tpl.default_labels)
        if isinstance(labels, str):
            labels = [v.strip() for v in re.split(r"[,\n]", labels) if v.strip()]
        if not isinstance(labels, list) or not all(isinstance(v, str) for v in labels):
            raise ValidationError("must be a list of label names", field="labels")
        labels = list(dict.fromkeys(v.strip() for v in labels if v.strip()))
        if not labels:
            raise ValidationError("give at least one label", field="labels", fix="e.g. cat, dog")
        if len(labels) > MAX_LABELS:
            raise ValidationError(f"{len(labels)} labels, at most {MAX_LABELS}", field="labels")
        for label in labels:
            if not LABEL.match(label):
                raise ValidationError(f"'{label[:40]}' is not a valid label", field="labels",
                                      fix="use 1-64 characters without < > & or quotes")
        return labels

    def _check_expiry(self, value: Any) -> datetime | None:
        if value in (None, ""):
            return None
        try:
            when = datetime.fromisoformat(str(value))
        except ValueError:
            raise ValidationError(f"'{str(value)[:40]}' is not a date", field="expires_at",
                                  fix="write YYYY-MM-DD or an ISO date-time") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
            if len(str(value)) == 10:  # a date: valid through that day
                when = when.replace(hour=23, minute=59, second=59)
        if when <= now():
            raise ValidationError("lies in the past", field="expires_at", fix="choose a later date")
        return when

    def _check_collab(self, body: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        size = body.get("subtask_size")
        if isinstance(size, bool) or not isinstance(size, (int, str)) or not str(size).strip().isdigit() \
                or not 1 <= int(size) <= 1_000_000:
            raise ValidationError("is the number of files per sub-task: a whole number from 1", field="subtask_size",
                                  fix="e.g. 100")
        out["subtask_size"] = int(size)
        out["annotators"] = self._check_users(body.get("annotators"), "annotators", True)
        review = body.get("review", False)
        if not isinstance(review, bool):
            raise ValidationError("must be true or false", field="review")
        out["review"] = review
        out["reviewers"] = self._check_users(body.get("reviewers"), "reviewers", review) if review else []
        if review:
            policy = body.get("policy") or "percent"
            if policy not in POLICIES:
                raise ValidationError(f"unknown policy {str(policy)[:20]!r}", field="policy",
                                      fix="choose percent or count")
            value = body.get("policy_value", 10 if policy == "percent" else 5)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValidationError("must be a whole number", field="policy_value")
            if policy == "percent" and not 1 <= value <= 100:
                raise ValidationError("a percentage from 1 to 100", field="policy_value")
            if policy == "count" and value < 1:
                raise ValidationError("check at least 1 file per submission", field="policy_value")
            out["policy"], out["policy_value"] = policy, value
        return out

    def _pre_annotation(self, user: str, body: dict[str, Any], task: ExportTask
                        ) -> tuple[str | None, list[tuple[str, list[dict[str, Any]]]]]:
        """Check and parse a pre-annotation file before anything is stored."""
        raw = body.get("pre_annotation")
        if raw in (None, ""):
            return None, []
        if not isinstance(raw, str):
            raise ValidationError("must be a file path", field="pre_annotation")
        path = self.paths.check(user, raw, field="pre_annotation")
        if not path.is_file():
            raise ValidationError(f"{raw} is not a file", field="pre_annotation", fix="choose an annotation file")
        if path.stat().st_size > MAX_PRE_ANNOTATION:
            raise ValidationError(f"larger than {MAX_PRE_ANNOTATION >> 20} MB", field="pre_annotation")
        fmt = body.get("pre_annotation_format") or "auto"
        importers = [e for e in self.exporters() if e.can_import]
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValidationError(f"cannot read {raw}: {exc}", field="pre_annotation") from exc
        if fmt == "auto":
            chosen = [e for e in importers if e.sniff(path.name, text)]
            if not chosen:
                raise ValidationError("the file's format is not recognised", field="pre_annotation",
                                      fix="choose a format: " + ", ".join(e.name for e in importers))
            importer = chosen[0]
        else:
            importer = self.exporter(fmt)
            if not importer.can_import:
                raise ValidationError(f"{importer.title} files cannot be imported", field="pre_annotation_format",
                                      fix="choose one of: " + ", ".join(e.name for e in importers))
        try:
            parsed = list(importer.read(task, text))
        except HpcaiError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
            raise ValidationError(f"{path.name} is not a valid {importer.title} file: {exc}",
                                  field="pre_annotation") from exc
        return str(path), parsed

    def create(self, user: str, body: dict[str, Any], background: bool = True) -> LabelTaskRow:
        if not isinstance(body, dict):
            raise ValidationError("the task must be a JSON object", field="body")
        name = check_name(body.get("name"))
        dataset = self.source.resolve(user, str(body.get("dataset") or ""))
        tpl = self.template(body.get("template"), dataset.category)
        labels = self._check_labels(body.get("labels"), tpl)
        mode = body.get("mode") or "personal"
        if mode not in MODES:
            raise ValidationError(f"unknown task type {str(mode)[:20]!r}", field="mode",
                                  fix="choose personal or collaborative")
        collab = self._check_collab(body) if mode == "collaborative" else {}
        expires = self._check_expiry(body.get("expires_at"))
        description = body.get("description") or ""
        if not isinstance(description, str) or len(description) > 4000:
            raise ValidationError("must be text of at most 4000 characters", field="description")
        with self.store.session() as s:
            if s.scalar(select(LabelTaskRow.id).where(LabelTaskRow.owner == user, LabelTaskRow.name == name)):
                raise Conflict(f"you already have a labeling task '{name}'", field="name", fix="choose another name")
        export_task = ExportTask(name, dataset.category, tpl.name, labels, dataset.root)
        pre_path, pre = self._pre_annotation(user, body, export_task)
        task = LabelTaskRow(id=str(uuid.uuid4()), name=name, owner=user, dataset_id=dataset.id,
                            dataset_name=dataset.name, category=dataset.category, root=dataset.root,
                            template=tpl.name, labels=labels, mode=mode, description=description,
                            pre_annotation=pre_path, state="creating", progress=0.0, expires_at=expires,
                            annotators=collab.get("annotators", []), review=collab.get("review", False),
                            reviewers=collab.get("reviewers", []), policy=collab.get("policy"),
                            policy_value=collab.get("policy_value"), subtask_size=collab.get("subtask_size"))
        try:
            with self.store.session() as s:
                s.add(task)
        except IntegrityError as exc:
            raise Conflict(f"you already have a labeling task '{name}'", field="name",
                           fix="choose another name") from exc
        if background:
            t = threading.Thread(target=self._populate, args=(task.id, pre), name=f"label-{task.id}", daemon=True)
            self._workers[task.id] = t
            t.start()
            return task
        self._populate(task.id, pre)
        done = self._task(task.id)
        if done.state == "failed":
            self._forget(task.id)
            raise ValidationError(f"creating the task failed: {done.message}", field="dataset")
        return done

    def _populate(self, task_id: str, pre: list[tuple[str, list[dict[str, Any]]]]) -> None:
        """List the dataset's files, split them into sub-tasks, store the items (background)."""
        task = self._task(task_id)
        try:
            files = sorted(self.source.files(task.owner, task.dataset_id), key=lambda f: f.path)
            if not files:
                raise ValidationError("the dataset has no files", field="dataset")
            size = task.subtask_size or len(files)
            packages = math.ceil(len(files) / size)
            people = task.annotators if task.mode == "collaborative" else [task.owner]
            with self.store.session() as s:
                subs = [LabelSubTaskRow(task_id=task_id, number=n + 1, annotator=people[n % len(people)],
                                        state="labeling", item_count=min(size, len(files) - n * size))
                        for n in range(packages)]
                s.add_all(subs)
                s.flush()
                sub_ids = [sub.id for sub in subs]
            matched = _match(pre, files)
            stamp = now()
            for start in range(0, len(files), BATCH):
                rows = []
                for n, f in enumerate(files[start:start + BATCH], start=start):
                    result = matched.get(f.path)
                    rows.append({"task_id": task_id, "subtask_id": sub_ids[n // size], "path": f.path,
                                 "name": PurePosixPath(f.path).name, "size": int(f.size),
                                 "file_mtime": datetime.fromtimestamp(f.mtime, timezone.utc) if f.mtime else None,
                                 "status": "labeled" if result else "unlabeled", "result": result,
                                 "labeled_by": "pre-annotation" if result else None,
                                 "labeled_at": stamp if result else None, "lead_time": 0.0, "version": 0})
                with self.store.session() as s:  # Core insert: the ORM's bulk path costs twice as much
                    s.connection().execute(insert(LabelItemRow.__table__), rows)
                    s.execute(update(LabelTaskRow).where(LabelTaskRow.id == task_id).values(
                        progress=min(0.999, (start + len(rows)) / len(files)), updated_at=now()))
            with self.store.session() as s:
                s.execute(update(LabelTaskRow).where(LabelTaskRow.id == task_id).values(
                    state="ready", progress=1.0, item_count=len(files), message=None, updated_at=now()))
        except Exception as exc:  # noqa: BLE001 - recorded on the task for its creator to read
            text = exc.text if isinstance(exc, HpcaiError) else f"{type(exc).__name__}: {exc}"
            with self.store.session() as s:
                s.execute(delete(LabelItemRow).where(LabelItemRow.task_id == task_id))
                s.execute(delete(LabelSubTaskRow).where(LabelSubTaskRow.task_id == task_id))
                s.execute(update(LabelTaskRow).where(LabelTaskRow.id == task_id).values(
                    state="failed", progress=0.0, message=text, updated_at=now()))
        finally:
            self._workers.pop(task_id, None)

    def wait(self, task_id: str, timeout: float = 120) -> LabelTaskRow:
        """Wait for a background creation of this process (tests, CLI, benchmark)."""
        t = self._workers.get(task_id)
        if t is not None:
            t.join(timeout)
        return self._task(task_id)

    def _check_stale(self, task: LabelTaskRow) -> LabelTaskRow:
        """A creation whose process died (portal restart) never finishes: call it failed."""
        if task.state != "creating" or task.id in self._workers:
            return task
        updated = task.updated_at if task.updated_at.tzinfo else task.updated_at.replace(tzinfo=timezone.utc)
        if (now() - updated).total_seconds() > 300:
            with self.store.session() as s:
                s.execute(update(LabelTaskRow).where(LabelTaskRow.id == task.id).values(
                    state="failed", message="creation stopped (the portal was restarted); delete the task "
                                            "and create it again"))
            return self._task(task.id)
        return task

    def _forget(self, task_id: str) -> None:
        with self.store.session() as s:
            s.execute(delete(LabelReviewRow).where(LabelReviewRow.task_id == task_id))
            s.execute(delete(LabelItemRow).where(LabelItemRow.task_id == task_id))
            s.execute(delete(LabelSubTaskRow).where(LabelSubTaskRow.task_id == task_id))
            s.execute(delete(LabelTaskRow).where(LabelTaskRow.id == task_id))

    # --- task operations (F186-F189, F198) ------------------------------------------------------

    def modify(self, user: str, ref: str, body: dict[str, Any]) -> LabelTaskRow:
        """F186: only the pre-annotation file, the template (with its label set) and the description."""
        task = self.get(user, ref)
        rules.require_creator(task, user, "modify the task")
        if task.state == "ended":
            rules.require_open(task)
        if not isinstance(body, dict):
            raise ValidationError("the change must be a JSON object", field="body")
        for key in body:
            if key not in MODIFIABLE:
                raise ValidationError("cannot be changed", field=str(key)[:40],
                                      fix="only the pre-annotation file, the template (and its labels) and "
                                          "the description can be changed; create a new task instead")
        if task.state == "creating":
            raise Conflict("the task is still being created", field="task", state="creating")
        tpl = self.template(body.get("template", task.template), task.category)
        labels = self._check_labels(body.get("labels", task.labels if tpl.name == task.template else None), tpl)
        description = body.get("description", task.description)
        if not isinstance(description, str) or len(description) > 4000:
            raise ValidationError("must be text of at most 4000 characters", field="description")
        pre_path, pre = task.pre_annotation, []
        if "pre_annotation" in body:
            pre_path, pre = self._pre_annotation(user, body, ExportTask(task.name, task.category, tpl.name,
                                                                        labels, task.root))
        with self.store.session() as s:
            row = s.get(LabelTaskRow, task.id)
            row.template, row.labels, row.description, row.pre_annotation = tpl.name, labels, description, pre_path
            if pre:
                self._apply_pre(s, task.id, pre)
        return self._task(task.id)

    def _apply_pre(self, s: Any, task_id: str, pre: list[tuple[str, list[dict[str, Any]]]]) -> None:
        """A new pre-annotation file fills files nobody labeled yet; people's work stays."""
        rows = s.execute(select(LabelItemRow.id, LabelItemRow.path).where(
            LabelItemRow.task_id == task_id, LabelItemRow.status == "unlabeled")).all()
        matched = _match(pre, [_P(path) for _, path in rows])
        stamp = now()
        for item_id, path in rows:
            if path in matched:
                s.execute(update(LabelItemRow).where(LabelItemRow.id == item_id).values(
                    result=matched[path], status="labeled", labeled_by="pre-annotation", labeled_at=stamp))

    def end(self, user: str, ref: str) -> LabelTaskRow:
        """F198: at any stage; afterwards nobody changes anything."""
        task = self.get(user, ref)
        rules.require_creator(task, user, "end the task")
        if task.state == "ended":
            raise Conflict(f"task '{task.name}' is already ended", field="task", state="ended",
                           allowed=["export", "publish", "delete"])
        if task.state == "creating":
            raise Conflict("the task is still being created", field="task", state="creating")
        with self.store.session() as s:
            s.execute(update(LabelTaskRow).where(LabelTaskRow.id == task.id).values(
                state="ended", ended_at=now(), ended_by=user))
        return self._task(task.id)

    def delete(self, user: str, ref: str) -> None:
        """F189: the task and its annotations; the dataset's files stay."""
        task = self.get(user, ref)
        rules.require_creator(task, user, "delete the task")
        if task.state == "creating":
            raise Conflict("the task is still being created", field="task", state="creating",
                           fix="wait until it is ready, then delete it")
        self._forget(task.id)

    # --- sub-tasks (F192-F197) --------------------------------------------------------------------

    def subtasks(self, user: str, ref: str) -> list[dict[str, Any]]:
        task = self.get(user, ref)
        with self.store.session() as s:
            subs = list(s.scalars(select(LabelSubTaskRow).where(LabelSubTaskRow.task_id == task.id)
                                  .order_by(LabelSubTaskRow.number)))
            labeled = dict(s.execute(select(LabelItemRow.subtask_id, func.count()).where(
                LabelItemRow.task_id == task.id, LabelItemRow.status == "labeled").group_by(
                LabelItemRow.subtask_id)).all())
        return [self._sub_info(task, sub, user, labeled.get(sub.id, 0))
                for sub in subs if rules.may_view_subtask(task, sub, user)]

    def _sub_info(self, task: LabelTaskRow, sub: LabelSubTaskRow, user: str, labeled: int) -> dict[str, Any]:
        ops = []
        got = rules.roles(task, user)
        open_ = task.state == "ready" and not rules.expired(task)
        if open_ and sub.annotator == user and sub.state == "labeling":
            ops += ["label", "submit"]
        if open_ and rules.REVIEWER in got and sub.state == "submitted":
            ops.append("review")
        if open_ and rules.CREATOR in got and task.mode == "collaborative" and sub.state in ("labeling", "unassigned"):
            ops.append("reassign")
        return {"id": sub.id, "number": sub.number, "annotator": sub.annotator, "state": sub.state,
                "round": sub.round, "items": sub.item_count, "labeled": labeled,
                # the annotator does not learn which files the reviewer will check
                "sample": list(sub.sample or []) if got & {rules.CREATOR, rules.REVIEWER} else [],
                "reviewed_by": sub.reviewed_by, "verdict": sub.verdict, "comment": sub.comment,
                "submitted_at": iso(sub.submitted_at), "reviewed_at": iso(sub.reviewed_at), "operations": ops}

    def _sub(self, task: LabelTaskRow, number: Any) -> LabelSubTaskRow:
        n = _bounded(number, 1, 2**31 - 1, "subtask")  # an INTEGER column on PostgreSQL
        with self.store.session() as s:
            sub = s.scalar(select(LabelSubTaskRow).where(LabelSubTaskRow.task_id == task.id,
                                                         LabelSubTaskRow.number == n))
        if sub is None:
            raise NotFound(f"no sub-task {n} in task '{task.name}'", field="subtask")
        return sub

    def reassign(self, user: str, ref: str, number: Any, annotator: Any) -> dict[str, Any]:
        task = self.get(user, ref)
        rules.require_creator(task, user, "reassign sub-tasks")
        rules.require_open(task)
        if task.mode != "collaborative":
            raise Conflict("a personal task has no sub-tasks to reassign", field="task", state=task.mode)
        sub = self._sub(task, number)
        if not isinstance(annotator, str) or annotator not in task.annotators:
            raise ValidationError(f"'{str(annotator)[:64]}' is not an annotator of this task", field="annotator",
                                  fix="choose one of: " + ", ".join(task.annotators))
        if sub.state not in ("labeling", "unassigned"):
            raise Conflict(f"sub-task {sub.number} is {sub.state}", field="subtask", state=sub.state,
                           allowed=["view"], fix="reassign it after the review sends it back")
        with self.store.session() as s:
            s.execute(update(LabelSubTaskRow).where(LabelSubTaskRow.id == sub.id).values(
                annotator=annotator, state="labeling"))
        return self._sub_info(task, self._sub(task, sub.number), user, 0)

    def submit(self, user: str, ref: str, number: Any) -> dict[str, Any]:
        task = self.get(user, ref)
        sub = self._sub(task, number)
        rules.require_annotator_of(task, sub, user)
        with self.store.session() as s:
            items = list(s.execute(select(LabelItemRow.id, LabelItemRow.status).where(
                LabelItemRow.subtask_id == sub.id).order_by(LabelItemRow.id)).all())
        missing = sum(1 for _, status in items if status != "labeled")
        if missing:
            raise Conflict(f"{missing} of {len(items)} files of sub-task {sub.number} are not labeled yet",
                           field="subtask", state=sub.state, allowed=["label"], fix="label them, then submit")
        values: dict[str, Any] = {"submitted_at": now()}
        if task.review:
            values.update(state="submitted", sample=review_sample([i for i, _ in items], task.policy or "percent",
                                                                   task.policy_value or 10, f"{sub.id}:{sub.round}"))
        else:
            values["state"] = "done"
        with self.store.session() as s:
            s.execute(update(LabelSubTaskRow).where(LabelSubTaskRow.id == sub.id).values(**values))
        return self._sub_info(task, self._sub(task, sub.number), user, len(items))

    def review(self, user: str, ref: str, number: Any, verdict: Any, comment: Any = "",
               flagged: Any = None) -> dict[str, Any]:
        """F196: has errors (the flagged files go back to the annotator), rejected (the whole
        sub-task goes back) or approved (final)."""
        task = self.get(user, ref)
        sub = self._sub(task, number)
        rules.require_reviewer_of(task, sub, user)
        if verdict not in rules.VERDICTS:
            raise ValidationError(f"unknown verdict {str(verdict)[:20]!r}", field="verdict",
                                  fix="choose has_errors, rejected or approved")
        comment = comment or ""
        if not isinstance(comment, str) or len(comment) > 4000:
            raise ValidationError("must be text of at most 4000 characters", field="comment")
        flagged = flagged or []
        if not isinstance(flagged, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in flagged):
            raise ValidationError("must be a list of file ids", field="flagged")
        with self.store.session() as s:
            ids = set(s.scalars(select(LabelItemRow.id).where(LabelItemRow.subtask_id == sub.id)))
        stray = [i for i in flagged if i not in ids]
        if stray:
            raise ValidationError(f"file {stray[0]} is not in sub-task {sub.number}", field="flagged")
        if verdict == "has_errors" and not flagged:
            raise ValidationError("mark the files that have errors", field="flagged",
                                  fix="flag at least one file, or reject the whole sub-task")
        if verdict == "rejected" and not comment.strip():
            raise ValidationError("say why the sub-task is rejected", field="comment")
        back = verdict != "approved"
        with self.store.session() as s:
            s.add(LabelReviewRow(task_id=task.id, subtask_id=sub.id, round=sub.round, reviewer=user,
                                 verdict=verdict, comment=comment, flagged=flagged))
            s.execute(update(LabelItemRow).where(LabelItemRow.subtask_id == sub.id).values(
                review_mark=None, review_comment=None))
            if flagged:
                s.execute(update(LabelItemRow).where(LabelItemRow.id.in_(flagged)).values(
                    review_mark="has_errors", review_comment=comment or None))
            s.execute(update(LabelSubTaskRow).where(LabelSubTaskRow.id == sub.id).values(
                state="labeling" if back else "approved", round=sub.round + (1 if back else 0),
                verdict=verdict, comment=comment, reviewed_by=user, reviewed_at=now()))
        return self._sub_info(task, self._sub(task, sub.number), user, 0)

    def reviews(self, user: str, ref: str, number: Any) -> list[dict[str, Any]]:
        task = self.get(user, ref)
        sub = self._sub(task, number)
        if not rules.may_view_subtask(task, sub, user):
            raise PermissionDenied(f"sub-task {sub.number} is not yours", field="subtask")
        with self.store.session() as s:
            rows = list(s.scalars(select(LabelReviewRow).where(LabelReviewRow.subtask_id == sub.id)
                                  .order_by(LabelReviewRow.id)))
        return [{"round": r.round, "reviewer": r.reviewer, "verdict": r.verdict, "comment": r.comment,
                 "flagged": list(r.flagged or []), "at": iso(r.created_at)} for r in rows]

    # --- the data list (F190) -------------------------------------------------------------------

    def _visible_subs(self, task: LabelTaskRow, user: str) -> list[int] | None:
        """Sub-task ids whose files the user may see; None: all (the creator)."""
        if rules.CREATOR in rules.roles(task, user):
            return None
        with self.store.session() as s:
            subs = list(s.scalars(select(LabelSubTaskRow).where(LabelSubTaskRow.task_id == task.id)))
        return [sub.id for sub in subs if rules.may_view_subtask(task, sub, user)]

    def items(self, user: str, ref: str, status: str | None = None, name: str | None = None,
              subtask: Any = None, after: Any = None, limit: Any = 50) -> Page:
        """One page of the task's files, keyset-paged by id (constant time at any depth)."""
        task = self.get(user, ref)
        limit = _bounded(limit, 1, MAX_PAGE, "limit")
        after_id = _bounded(after, 0, 2**31 - 1, "after") if after not in (None, "") else 0
        if status not in (None, "", "labeled", "unlabeled"):
            raise ValidationError(f"unknown status {str(status)[:20]!r}", field="status",
                                  fix="choose labeled or unlabeled")
        where = [LabelItemRow.task_id == task.id]
        visible = self._visible_subs(task, user)
        if visible is not None:
            where.append(LabelItemRow.subtask_id.in_(visible or [-1]))
        if subtask not in (None, ""):
            where.append(LabelItemRow.subtask_id == self._sub(task, subtask).id)
        if status:
            where.append(LabelItemRow.status == status)
        if name:
            if len(name) > 255:
                raise ValidationError("at most 255 characters", field="name")
            pattern = "%" + name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append(LabelItemRow.name.like(pattern, escape="\\"))
        with self.store.session() as s:
            rows = list(s.scalars(select(LabelItemRow).where(*where, LabelItemRow.id > after_id)
                                  .order_by(LabelItemRow.id).limit(limit + 1)))
            if status or name:
                # Counting every match of a filter over 100 000 files costs more than the page:
                # count up to COUNT_CAP and say "more" beyond (the way large lists do).
                capped = select(LabelItemRow.id).where(*where).limit(COUNT_CAP + 1).subquery()
                total = s.scalar(select(func.count()).select_from(capped)) or 0
            else:  # the sizes of the visible sub-tasks are known
                q = select(func.coalesce(func.sum(LabelSubTaskRow.item_count), 0)).where(
                    LabelSubTaskRow.task_id == task.id)
                if visible is not None:
                    q = q.where(LabelSubTaskRow.id.in_(visible or [-1]))
                if subtask not in (None, ""):
                    q = q.where(LabelSubTaskRow.number == int(subtask))
                total = s.scalar(q) or 0
        more = len(rows) > limit
        rows = rows[:limit]
        capped_out = bool(status or name) and int(total) > COUNT_CAP
        return Page([self._item_info(task, r) for r in rows], rows[-1].id if more else None,
                    COUNT_CAP if capped_out else int(total), capped_out)

    def _item_info(self, task: LabelTaskRow, row: LabelItemRow) -> dict[str, Any]:
        return {"id": row.id, "name": row.name, "path": row.path, "full_path": _join(task.root, row.path),
                "status": row.status, "labeled_at": iso(row.labeled_at), "labeled_by": row.labeled_by,
                "lead_time": round(row.lead_time or 0.0, 1), "file_mtime": iso(row.file_mtime),
                "size": row.size, "subtask_id": row.subtask_id, "result": row.result,
                "summary": summary(row.result), "review_mark": row.review_mark,
                "review_comment": row.review_comment, "version": row.version}

    # --- one item: read, annotate, media ----------------------------------------------------------

    def _item(self, user: str, item_id: Any) -> tuple[LabelTaskRow, LabelSubTaskRow, LabelItemRow]:
        number = _bounded(item_id, 1, 2**31 - 1, "item")
        with self.store.session() as s:
            item = s.get(LabelItemRow, number)
            sub = s.get(LabelSubTaskRow, item.subtask_id) if item is not None and item.subtask_id else None
            task = s.get(LabelTaskRow, item.task_id) if item is not None else None
        if item is None or sub is None or task is None or not rules.roles(task, user):
            raise NotFound(f"no file {number}", field="item")
        if not rules.may_view_subtask(task, sub, user):
            raise PermissionDenied(f"file {number} belongs to sub-task {sub.number} of "
                                   f"{sub.annotator or 'nobody'}, not to you", field="item")
        return task, sub, item

    def item(self, user: str, item_id: Any) -> dict[str, Any]:
        task, sub, item = self._item(user, item_id)
        info = self._item_info(task, item)
        info.update(task=task.id, subtask=sub.number, draft=item.draft, category=task.category,
                    editable=self._editable(task, sub, user), in_sample=item.id in (sub.sample or []))
        return info

    def _editable(self, task: LabelTaskRow, sub: LabelSubTaskRow, user: str) -> bool:
        try:
            rules.require_annotator_of(task, sub, user)
        except HpcaiError:
            return False
        return True

    def save(self, user: str, item_id: Any, body: dict[str, Any]) -> dict[str, Any]:
        """Save an annotation (or, with draft=true, autosave it without marking the file labeled).
        `version` (optional) guards against two tabs overwriting each other."""
        task, sub, item = self._item(user, item_id)
        rules.require_annotator_of(task, sub, user)
        if not isinstance(body, dict):
            raise ValidationError("the annotation must be a JSON object", field="body")
        result = check_result(body.get("result"))
        draft = body.get("draft", False)
        if not isinstance(draft, bool):
            raise ValidationError("must be true or false", field="draft")
        spent = body.get("lead_time", 0)
        if isinstance(spent, bool) or not isinstance(spent, (int, float)) or not 0 <= spent <= 86400:
            raise ValidationError("seconds spent, from 0 to 86400", field="lead_time")
        version = body.get("version")
        if version is not None and version != item.version:
            raise Conflict(f"file {item.id} was saved elsewhere since you opened it (version {item.version})",
                           field="version", state="changed", allowed=["reload"],
                           fix="reload the file; your draft stays saved")
        with self.store.session() as s:
            if draft:
                s.execute(update(LabelItemRow).where(LabelItemRow.id == item.id).values(draft=result))
            else:
                s.execute(update(LabelItemRow).where(LabelItemRow.id == item.id).values(
                    result=result, draft=None, status="labeled" if result else "unlabeled", labeled_by=user,
                    labeled_at=now(), lead_time=(item.lead_time or 0.0) + float(spent),
                    version=item.version + 1))
        return self.item(user, item.id)

    def media(self, user: str, item_id: Any) -> tuple[LabelTaskRow, LabelItemRow]:
        """The item a participant may see (the portal then streams its bytes by range)."""
        task, _, item = self._item(user, item_id)
        return task, item

    def read(self, task: LabelTaskRow, item: LabelItemRow, start: int, length: int) -> bytes:
        return self.source.read(task.owner, task.dataset_id, item.path, start, length)

    def text_of(self, task: LabelTaskRow, item: LabelItemRow, limit: int = 2 * 1024 * 1024) -> str:
        data = self.read(task, item, 0, min(item.size or limit, limit))
        return data.decode("utf-8", errors="replace")

    # --- exports (F187, F188) ---------------------------------------------------------------------

    def _export_task(self, task: LabelTaskRow) -> ExportTask:
        by_path: dict[str, int] = {}

        def image_size(path: str) -> tuple[int, int] | None:
            with self.store.session() as s:
                item = s.scalar(select(LabelItemRow).where(LabelItemRow.task_id == task.id,
                                                           LabelItemRow.path == path))
            if item is None:
                return None
            by_path[path] = item.id
            return image_dimensions(self.read(task, item, 0, min(item.size or 262144, 262144)))

        return ExportTask(task.name, task.category, task.template, list(task.labels), task.root, image_size)

    def iter_items(self, task: LabelTaskRow, labeled_only: bool = False) -> Iterator[LabeledItem]:
        """Every item of the task in id order, read in pages (an export of 100 000 files streams)."""
        after = 0
        cols = (LabelItemRow.id, LabelItemRow.path, LabelItemRow.status, LabelItemRow.result,
                LabelItemRow.labeled_by, LabelItemRow.labeled_at)
        while True:  # plain rows, not ORM objects: an export of 100 000 files is read, not edited
            q = select(*cols).where(LabelItemRow.task_id == task.id, LabelItemRow.id > after)
            if labeled_only:
                q = q.where(LabelItemRow.status == "labeled")
            with self.store.session() as s:
                rows = s.execute(q.order_by(LabelItemRow.id).limit(BATCH)).all()
            if not rows:
                return
            for item_id, path, status, result, by, at in rows:
                yield LabeledItem(item_id, path, _join(task.root, path), status, list(result or []), by, iso(at))
            after = rows[-1][0]

    def _write(self, user: str, task: LabelTaskRow, fmt: Any, dest: Path) -> dict[str, Any]:
        exporter = self.exporter(fmt)
        kinds = set(self.template(task.template).results)
        if not kinds & set(exporter.accepts):
            raise ValidationError(f"{exporter.title} cannot hold the results of a "
                                  f"'{task.template}' task", field="format",
                                  fix="choose one of: " + ", ".join(e.name for e in self.exporters()
                                                                    if kinds & set(e.accepts)))
        if task.state not in ("ready", "ended"):
            raise Conflict(f"task '{task.name}' is {task.state}", field="task", state=task.state)
        created = not dest.exists()
        dest.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        try:
            files = exporter.export(self._export_task(task), self.iter_items(task), dest)
        except Exception:
            if created:
                import shutil

                shutil.rmtree(dest, ignore_errors=True)
            raise
        chown_tree(dest, user)
        return {"format": exporter.name, "directory": str(dest), "files": files,
                "seconds": round(time.monotonic() - started, 3)}

    def export(self, user: str, ref: str, fmt: Any, directory: Any) -> dict[str, Any]:
        """F188: into a new folder `<task>-<format>` of a directory the user chooses."""
        task = self.get(user, ref)
        rules.require_creator(task, user, "export the task")
        base = self.paths.check(user, str(directory or ""), field="directory")
        if not base.is_dir():
            raise ValidationError(f"{directory} is not a directory", field="directory")
        return self._write(user, task, fmt, _fresh(base / f"{task.name}-{fmt}"))

    def publish(self, user: str, ref: str, fmt: Any) -> dict[str, Any]:
        """F187: beside the labeled data (a sibling folder of the dataset's directory)."""
        task = self.get(user, ref)
        rules.require_creator(task, user, "publish the task")
        root = Path(task.root)
        if not root.is_absolute() or "://" in task.root:
            raise ValidationError("only datasets on the shared file system can be published beside their data",
                                  field="task", fix="export the task to a directory instead")
        return self._write(user, task, fmt, _fresh(root.parent / f"{root.name}-labels-{fmt}"))


@dataclass
class _P:
    path: str


def _match(pre: list[tuple[str, list[dict[str, Any]]]], files: Iterable[Any]) -> dict[str, list[dict[str, Any]]]:
    """Pre-annotations by item path: the file's relative path, else its base name when unique."""
    if not pre:
        return {}
    paths = [f.path for f in files]
    known = set(paths)
    by_base: dict[str, list[str]] = {}
    for p in paths:
        by_base.setdefault(PurePosixPath(p).name, []).append(p)
    out: dict[str, list[dict[str, Any]]] = {}
    for key, result in pre:
        key = key.lstrip("./")
        if key in known:
            target = key
        else:
            same = by_base.get(PurePosixPath(key).name, [])
            if len(same) != 1:
                continue
            target = same[0]
        if result:
            out.setdefault(target, []).extend(result)
    return out


def review_sample(item_ids: list[int], policy: str, value: int, seed: str) -> list[int]:
    """F195: the files a reviewer checks for one submission (by percentage, rounded up, or by
    count), drawn at random but the same for the same submission round."""
    if not item_ids:
        return []
    n = math.ceil(len(item_ids) * value / 100) if policy == "percent" else value
    n = max(1, min(len(item_ids), n))
    return sorted(random.Random(seed).sample(item_ids, n))


def summary(result: list[dict[str, Any]] | None) -> str:
    """The data list's "labeling result" column: labels and counts in words."""
    if not result:
        return "-"
    from collections import Counter

    from core.labeling.results import labels_of

    counts: Counter[str] = Counter()
    for entry in result:
        if entry.get("type") == "textarea":
            texts = (entry.get("value") or {}).get("text") or []
            counts["text: " + " ".join(str(t) for t in texts)[:40]] += 1
            continue
        for label in labels_of(entry):
            counts[label] += 1
    return ", ".join(f"{k} ×{v}" if v > 1 else k for k, v in counts.items()) or "-"


def image_dimensions(head: bytes) -> tuple[int, int] | None:
    """Width and height from an image's first bytes (Pillow reads only the header)."""
    import io

    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a dependency of the tracking extra
        return None
    try:
        with Image.open(io.BytesIO(head)) as img:
            return int(img.width), int(img.height)
    except Exception:  # noqa: BLE001 - not an image Pillow knows: the size stays unknown
        return None


def _join(root: str, path: str) -> str:
    return root.rstrip("/") + "/" + path if root else path


def _fresh(path: Path) -> Path:
    """`path`, or `path-2`, `path-3` ... when it already holds files (nothing is overwritten)."""
    candidate, n = path, 1
    while candidate.exists() and (not candidate.is_dir() or any(candidate.iterdir())):
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


def _bounded(value: Any, low: int, high: int, field: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationError(f"'{str(value)[:20]}' is not a whole number", field=field) from None
    if not low <= number <= high:
        raise ValidationError(f"must be between {low} and {high}", field=field)
    return number
