"""Experiment data for the portal and the API: a user's experiments, a job's runs with the
product's columns (spec 02 §2, "experiment data"), run comparison over steps and CSV export.

Who may see what is decided here and kept in the platform's store (ExperimentRecordRow): an
experiment belongs to the user who created it and is seen by that user, by admins (Unix or
platform accounts) and, when its owner shares it, by the members of one group (a Unix group or
a platform group). The `hpcai.owner` tag that libaiflow.init writes is only a claim: where the
tracking server authenticates (core.trackingauth), the platform records it the first time it
sees the experiment, once the server confirms the claimed user created it (only a creator holds
MANAGE) or the platform did. In experiments without an owner (MLflow's Default one, or made
with plain mlflow) a user sees only their own runs. A job's runs are seen by whoever may see the job.

Talks to the tracking server through core.trackingclient (REST over HTTP); the core never imports mlflow.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from core import tracking, trackingauth
from core.errors import NotFound, PermissionDenied, ValidationError
from core.store import JobRow
from core.store.models import ExperimentRecordRow
from core.trackingclient import PAGE, RUNS_PAGE, TrackingClient
from core.users import members_of

if TYPE_CHECKING:
    from core.platform import Platform

OWNER_TAG = "hpcai.owner"
GROUP_TAG = "hpcai.group"
JOB_UUID_TAG = "hpcai.job_uuid"
def _tags(entity: dict[str, Any]) -> dict[str, str]:
    return {t["key"]: t.get("value", "") for t in entity.get("tags", [])}


@dataclass
class Experiment:
    experiment_id: str
    name: str
    owner: str | None
    group: str | None
    tags: dict[str, str]
    creation_time: datetime | None
    last_update_time: datetime | None


@dataclass
class RunRow:
    """One run as the product's "experiment data" table shows it."""

    run_id: str
    experiment_id: str
    job_id: int | None  # the platform's job id (hpcai jobs), when the run came from a job
    job_uuid: str | None
    scheduler_job_id: str | None
    start_time: datetime | None
    duration_s: float | None
    run_name: str
    user: str
    source: str
    version: str
    status: str
    models: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)  # the user's tags (not mlflow.*/hpcai.*)

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "experiment_id": self.experiment_id, "job_id": self.job_id,
                "job_uuid": self.job_uuid, "scheduler_job_id": self.scheduler_job_id,
                "start_time": self.start_time.isoformat() if self.start_time else None,
                "duration_s": self.duration_s, "run_name": self.run_name, "user": self.user,
                "source": self.source, "version": self.version, "status": self.status,
                "models": self.models, "metrics": self.metrics, "params": self.params, "tags": self.tags}


def _ms_of(when: datetime | None) -> int:
    return int(when.timestamp() * 1000) if when else 0


def _ms(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value) / 1000, UTC) if value else None


class ExperimentService:
    def __init__(self, platform: Platform, client: TrackingClient | None = None):
        self.p = platform
        self.client = client or TrackingClient.for_settings(tracking.settings_from_config(platform.config))

    # --- visibility ----------------------------------------------------------------------------

    @staticmethod
    def _experiment(raw: dict[str, Any]) -> Experiment:
        tags = _tags(raw)
        return Experiment(experiment_id=raw["experiment_id"], name=raw["name"],
                          owner=tags.get(OWNER_TAG) or None, group=tags.get(GROUP_TAG) or None,
                          tags={k: v for k, v in tags.items() if not k.startswith("mlflow.")},
                          creation_time=_ms(raw.get("creation_time")),
                          last_update_time=_ms(raw.get("last_update_time")))

    def _recorded(self, exps: list[Experiment]) -> list[Experiment]:
        """Each experiment with the owner and group of the platform's record; one seen for the
        first time (or whose id a restarted tracking server reused) is recorded now."""
        ids = [e.experiment_id for e in exps]
        with self.p.store.session() as s:
            rows = {r.experiment_id: (r.created_ms, r.owner, r.share_group) for r in
                    s.scalars(select(ExperimentRecordRow).where(ExperimentRecordRow.experiment_id.in_(ids)))}
        out = []
        for e in exps:
            known = rows.get(e.experiment_id)
            owner, group = known[1:] if known and known[0] == _ms_of(e.creation_time) else self._record(e)
            out.append(replace(e, owner=owner, group=group))
        return out

    def _record(self, exp: Experiment) -> tuple[str | None, str | None]:
        # plain mlflow in a job logs to the user's own default-<user> (plugins/tracking/mlflow)
        claim = exp.owner or (exp.name[len("default-"):] if exp.name.startswith("default-") else None)
        owner = claim if claim and (not self.client.auth or self._created_by(exp, claim)) else None
        group = exp.group if owner and exp.group and exp.group in self.groups_of(owner) else None
        self._save_record(exp, owner, group)
        return owner, group

    def _save_record(self, exp: Experiment, owner: str | None, group: str | None) -> None:
        with self.p.store.session() as s:
            s.merge(ExperimentRecordRow(experiment_id=exp.experiment_id, created_ms=_ms_of(exp.creation_time),
                                        owner=owner, share_group=group))

    def _created_by(self, exp: Experiment, user: str) -> bool:
        """Did `user` (or the platform, whose tags are its own) create the experiment? Only a
        creator holds MANAGE: users cannot grant permissions (trackingauth.mlflow_app)."""
        return any(self.client.permission(exp.experiment_id, u) == "MANAGE" for u in (user, trackingauth.ADMIN))

    def _one(self, experiment_id: str) -> Experiment:
        return self._recorded([self._experiment(self.client.experiment(str(experiment_id)))])[0]

    def is_admin(self, user: str) -> bool:
        return self.p.jobs.is_admin(user)

    def groups_of(self, user: str) -> list[str]:
        return self.p.jobs.groups_of(user)

    def can_see(self, exp: Experiment, user: str, viewer: tuple[bool, set[str]] | None = None) -> bool:
        """May `user` see every run of this experiment? (`viewer`: their admin flag and groups,
        when the caller checks many experiments)"""
        admin, groups = viewer or (self.is_admin(user), set(self.groups_of(user)))
        return (admin or (exp.owner is not None and exp.owner == user)
                or (exp.group is not None and exp.group in groups))

    def list_experiments(self, user: str) -> list[Experiment]:
        """The experiments `user` owns, those shared with their groups, and ownerless ones in
        which they have runs (all of them for admins)."""
        exps = self._recorded([self._experiment(e) for e in self.client.experiments()])
        viewer = (self.is_admin(user), set(self.groups_of(user)))
        seen = [e for e in exps if self.can_see(e, user, viewer)]
        ownerless = [e.experiment_id for e in exps if e.owner is None and e not in seen]
        mine = {r["info"]["experiment_id"] for r in
                self.client.runs(ownerless, f"tags.`mlflow.user` = {_quote(user)}")}
        return [e for e in exps if e in seen or e.experiment_id in mine]

    def get_experiment(self, experiment_id: str, user: str) -> Experiment:
        exp = self._one(experiment_id)
        if exp.owner is not None and not self.can_see(exp, user):
            raise NotFound(f"no experiment {experiment_id}", field="experiment_id")
        return exp

    def share(self, experiment_id: str, user: str, group: str | None) -> Experiment:
        """Share an experiment with one of the owner's groups (None: stop sharing)."""
        exp = self.get_experiment(experiment_id, user)
        if exp.owner != user and not self.is_admin(user):
            raise PermissionDenied(f"experiment {exp.name} belongs to {exp.owner or 'nobody'}",
                                   field="experiment_id", fix="ask its owner to share it")
        owner_groups = self.groups_of(exp.owner or user)
        if group is not None and group not in owner_groups and not self.is_admin(user):
            raise ValidationError(f"{exp.owner} is not a member of group '{group}'", field="group",
                                  fix="choose one of: " + (", ".join(owner_groups) or "(no groups)"))
        self._save_record(exp, exp.owner, group)
        self._grant_members(exp, exp.group, group)
        self.client.set_experiment_tag(exp.experiment_id, GROUP_TAG, group or "")  # for MLflow's own UI
        return self.get_experiment(experiment_id, user)

    def _grant_members(self, exp: Experiment, old: str | None, new: str | None) -> None:
        """The group's members may log to a shared experiment from their jobs (EDIT, never
        MANAGE: that would make them look like its creator); the old group's lose it."""
        if not self.client.auth:
            return
        keep = set(self._members(new)) if new else set()
        for member in set(self._members(old) if old else []) - keep - {exp.owner}:
            self.client.revoke(exp.experiment_id, member)
        for member in keep - {exp.owner}:
            try:
                self.client.grant(exp.experiment_id, member, "EDIT")
            except NotFound:  # never signed in to the tracking server: has no MLflow user yet
                continue

    def _members(self, group: str) -> list[str]:
        """Whoever groups_of() puts in `group`: its platform members and its Unix ones."""
        return sorted(set(self.p.accounts.groups().get(group, [])) | set(members_of(group)))

    # --- runs ----------------------------------------------------------------------------------

    def experiment_runs(self, experiment_id: str, user: str, search: str = "",
                        started_after: datetime | None = None) -> list[RunRow]:
        """An experiment's runs `user` may see, started after `started_after` (the product's
        time filter); `search` is an MLflow filter expression (e.g. `metrics.rmse < 0.8 and
        params.alpha = '0.5'`). MLflow's grammar has no OR, so AND-ing the visibility condition
        to it can only narrow what it finds. All of them (the CSV); the table pages instead."""
        exp_id, where = self._run_filter(experiment_id, user, search, started_after)
        with _as_search_error():
            return self._rows(self.client.runs([exp_id], where))

    def experiment_runs_page(self, experiment_id: str, user: str, search: str = "",
                             started_after: datetime | None = None, page_token: str = "",
                             max_results: int = RUNS_PAGE) -> tuple[list[RunRow], str]:
        """One page of experiment_runs() and the token of the next ("" after the last): the
        table's first page and each "Load more" (F94)."""
        if not 1 <= max_results <= PAGE:
            raise ValidationError(f"{max_results} is not a page size", field="max_results",
                                  fix=f"give 1 to {PAGE}")
        exp_id, where = self._run_filter(experiment_id, user, search, started_after)
        with _as_search_error(page_token):
            raws, token = self.client.runs_page([exp_id], where, max_results, page_token)
        return self._rows(raws), token

    def _run_filter(self, experiment_id: str, user: str, search: str,
                    started_after: datetime | None) -> tuple[str, str]:
        exp = self.get_experiment(experiment_id, user)
        # The visibility condition comes first: an unbalanced quote in `search` can then only
        # swallow the search's own text, never the condition.
        conds = [] if self.can_see(exp, user) else [f"tags.`mlflow.user` = {_quote(user)}"]
        if started_after is not None:
            conds.append(f"attributes.start_time >= {int(started_after.timestamp() * 1000)}")
        if search.strip():
            conds.append(search.strip())
        return exp.experiment_id, " and ".join(conds)

    def job_runs(self, job_ref: str | int, user: str) -> list[RunRow]:
        """The runs a job made ("experiment data" of a job), newest first."""
        job = self.p.jobs.get(job_ref, user)  # NotFound unless the user may see the job
        exp_ids = [e["experiment_id"] for e in self.client.experiments()]
        return self._rows(self.client.runs(exp_ids, f"tags.`{JOB_UUID_TAG}` = {_quote(job.uuid)}"))

    def runs(self, run_ids: list[str], user: str) -> list[RunRow]:
        """Runs by id, each checked against what `user` may see."""
        raws = []
        exps: dict[str, Experiment] = {}
        for run_id in run_ids:
            raw = self.client.run(run_id)
            exp_id = raw["info"]["experiment_id"]
            if exp_id not in exps:
                exps[exp_id] = self._one(exp_id)
            if not self._may_see_run(exps[exp_id], raw, user):
                raise NotFound(f"no run {run_id}", field="run_ids")
            raws.append(raw)
        return self._rows(raws)

    def delete_runs(self, run_ids: list[str], user: str) -> int:
        """Delete runs (soft, as MLflow's UI does). Each must be the user's own run, or in an
        experiment the user owns; admins may delete any. Checked for all before any is deleted."""
        if not run_ids:
            raise ValidationError("choose at least one run", field="run_ids")
        admin = self.is_admin(user)
        for row in self.runs(run_ids, user):  # NotFound for runs the user may not even see
            exp = self._one(row.experiment_id)
            if not (admin or row.user == user or exp.owner == user):
                raise PermissionDenied(f"run {row.run_name or row.run_id} belongs to {row.user}",
                                       field="run_ids", fix="only its user or the experiment's owner may delete it")
        for run_id in run_ids:
            self.client.delete_run(run_id)
        return len(run_ids)

    def _may_see_run(self, exp: Experiment, raw: dict[str, Any], user: str) -> bool:
        if self.can_see(exp, user):
            return True
        tags = _tags(raw.get("data", {}))
        # A job's runs belong to the job's user; in ownerless experiments, to the run's user.
        run_user = tags.get("hpcai.user") or (tags.get("mlflow.user") if exp.owner is None else None)
        return run_user == user

    def run_page(self, run_id: str, user: str, path: str = "") -> dict[str, Any]:
        """One run as MLflow's run page shows it: the row (params, metrics, tags, models), each
        metric's history, and one level of its artifacts (NotFound unless `user` may see it)."""
        row = self.runs([run_id], user)[0]
        clean = path.strip("/")
        if ".." in clean.split("/"):
            raise ValidationError("an artifact path may not go up", field="path")
        return {"row": row, "curves": self.curves([row])["metrics"], "path": clean,
                "artifacts": self.client.artifacts(run_id, clean)}

    def artifact(self, run_id: str, path: str, user: str) -> Any:
        """An artifact file of a run the user may see, as a readable response."""
        self.runs([run_id], user)
        if not path or ".." in path.split("/"):
            raise ValidationError("give the artifact's path inside the run", field="path")
        return self.client.open_artifact(run_id, path)

    def compare(self, run_ids: list[str], user: str, keys: list[str] | None = None) -> dict[str, Any]:
        """Metric curves over steps for several runs: {runs, metrics: {key: {run_id: [points]}}}."""
        if not run_ids:
            raise ValidationError("choose at least one run", field="run_ids")
        return self.curves(self.runs(run_ids, user), keys)

    def curves(self, rows: list[RunRow], keys: list[str] | None = None) -> dict[str, Any]:
        """compare() for runs already checked against the caller (see runs())."""
        wanted = keys or sorted({k for r in rows for k in r.metrics})
        curves: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for key in wanted:
            for row in rows:
                if key not in row.metrics:
                    continue
                points = sorted(self.client.metric_history(row.run_id, key),
                                key=lambda m: (int(m.get("step", 0)), int(m.get("timestamp", 0))))
                curves.setdefault(key, {})[row.run_id] = [
                    {"step": int(m.get("step", 0)), "value": m.get("value"),
                     "timestamp": int(m.get("timestamp", 0))} for m in points]
        return {"runs": [r.as_dict() for r in rows], "metrics": curves}

    def _rows(self, raws: list[dict[str, Any]]) -> list[RunRow]:
        uuids = {_tags(r.get("data", {})).get(JOB_UUID_TAG) for r in raws} - {None}
        job_ids: dict[str, int] = {}
        if uuids:
            with self.p.store.session() as s:
                job_ids = {row.uuid: row.id for row in s.scalars(select(JobRow).where(JobRow.uuid.in_(uuids)))}
        return [self._row(r, job_ids) for r in raws]

    def _row(self, raw: dict[str, Any], job_ids: dict[str, int]) -> RunRow:
        info, data = raw["info"], raw.get("data", {})
        tags = _tags(data)
        start, end = info.get("start_time"), info.get("end_time")
        duration = (int(end) - int(start)) / 1000 if start and end else None
        models = [m["model_id"] for m in raw.get("outputs", {}).get("model_outputs", [])]
        history = tags.get("mlflow.log-model.history")
        if history:
            try:
                models += [m.get("artifact_path", "") for m in json.loads(history)]
            except ValueError:
                pass
        uuid = tags.get(JOB_UUID_TAG)
        return RunRow(
            run_id=info["run_id"], experiment_id=info["experiment_id"],
            job_id=job_ids.get(uuid) if uuid else None, job_uuid=uuid,
            scheduler_job_id=tags.get("hpcai.job_id"), start_time=_ms(start), duration_s=duration,
            run_name=info.get("run_name") or tags.get("mlflow.runName", ""),
            user=tags.get("hpcai.user") or tags.get("mlflow.user") or info.get("user_id", ""),
            source=tags.get("mlflow.source.name", ""), version=tags.get("mlflow.source.git.commit", ""),
            status=info.get("status", ""), models=models,
            metrics={m["key"]: m["value"] for m in data.get("metrics", [])},
            params={p["key"]: p["value"] for p in data.get("params", [])},
            tags={k: v for k, v in tags.items() if not k.startswith(("mlflow.", "hpcai."))})


@contextmanager
def _as_search_error(page_token: str = "") -> Iterator[None]:
    """MLflow's 400 on a search names the field the user has to fix: the search expression,
    or the page token when MLflow refused that."""
    try:
        yield
    except ValidationError as exc:
        if page_token and "token" in exc.message.lower():
            raise ValidationError(f"not a valid page token: {exc.message}", field="page_token",
                                  fix="pass the next_page_token of the previous page unchanged") from None
        raise ValidationError(f"not a valid search: {exc.message}", field="search",
                              fix="e.g. metrics.rmse < 0.8 and params.alpha = '0.5' "
                                  "and tags.mlflow.runName = 'run1'") from None


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


CSV_COLUMNS = ["Job ID", "Run ID", "Start Time", "Duration (s)", "Run Name", "User", "Source",
               "Version", "Status", "Models"]


def runs_csv(rows: list[RunRow]) -> str:
    """The table as CSV: the product's columns, then one column per metric, parameter and tag."""
    metric_keys = sorted({k for r in rows for k in r.metrics})
    param_keys = sorted({k for r in rows for k in r.params})
    tag_keys = sorted({k for r in rows for k in r.tags})
    out = io.StringIO()
    w = _FormulaSafeWriter(csv.writer(out))
    w.writerow(CSV_COLUMNS + [f"metrics.{k}" for k in metric_keys] + [f"params.{k}" for k in param_keys]
               + [f"tags.{k}" for k in tag_keys])
    for r in rows:
        w.writerow([r.job_id if r.job_id is not None else "", r.run_id,
                    r.start_time.isoformat() if r.start_time else "",
                    "" if r.duration_s is None else f"{r.duration_s:.3f}", r.run_name, r.user, r.source,
                    r.version, r.status, " ".join(r.models)]
                   + [_num(r.metrics.get(k)) for k in metric_keys] + [r.params.get(k, "") for k in param_keys]
                   + [r.tags.get(k, "") for k in tag_keys])
    return out.getvalue()


class _FormulaSafeWriter:
    """Run names, parameters and tags are anyone's text: a cell that a spreadsheet would run as a
    formula (=, +, -, @, tab, CR first; OWASP's CSV injection) is written with a leading ', numbers
    (a negative metric) as they are."""

    def __init__(self, writer: Any):
        self.writer = writer

    @staticmethod
    def cell(value: Any) -> Any:
        if not isinstance(value, str) or not value or value[0] not in "=+-@\t\r":
            return value
        try:
            float(value)
            return value
        except ValueError:
            return "'" + value

    def writerow(self, row: list[Any]) -> None:
        self.writer.writerow([self.cell(v) for v in row])


def _num(value: float | None) -> str:
    return "" if value is None else repr(float(value))
