"""From a StudySpec to Optuna objects: samplers, pruners, distributions and storage.

Optuna 5 removed the product's multi-objective sampler classes (and `optuna.multi_objective`);
they map onto today's samplers with `directions=[...]`, and every mapping is reported through
`notes` so the job log says what ran. Imported on the job side only (it imports Optuna).
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from plugins.options.autotune.spec import PRUNER_DEFAULTS, Param, StudySpec

# Product name -> (Optuna class, renamed parameters, why).
SAMPLER_MAP: dict[str, tuple[str, dict[str, str], str]] = {
    "RandomMultiObjectiveSampler": ("RandomSampler", {}, "optuna.multi_objective was removed"),
    "NSGAIIMultiObjectiveSampler": ("NSGAIISampler", {}, "optuna.multi_objective was removed"),
    "MOTPEMultiObjectiveSampler": ("TPESampler", {"n_ehvi_candidates": "n_ei_candidates"},
                                   "optuna.multi_objective was removed; TPESampler handles several directions"),
    "MOTPESampler": ("TPESampler", {"n_ehvi_candidates": "n_ei_candidates"},
                     "MOTPESampler was merged into TPESampler"),
}
PRUNER_RENAMES: dict[str, dict[str, str]] = {"PatientPruner": {"pruner": "wrapped_pruner"}}


class Notes(list[str]):
    """What the job log should say about how the product's settings were mapped."""


def _sampler_by_name(name: str, params: dict[str, Any], spec: StudySpec, notes: Notes) -> optuna.samplers.BaseSampler:
    cls_name, renames, why = SAMPLER_MAP.get(name, (name, {}, ""))
    kwargs: dict[str, Any] = {}
    for key, value in params.items():
        if value is None and key not in ("seed",):
            continue  # "None" in the file: Optuna's own default
        kwargs[renames.get(key, key)] = value
    if renames and any(k in params for k in renames):
        notes.append(f"sampler parameter(s) renamed for {cls_name}: "
                     + ", ".join(f"{k} -> {v}" for k, v in renames.items() if k in params))
    if cls_name != name:
        notes.append(f"sampler {name} -> optuna.samplers.{cls_name}(directions={spec.directions}) ({why})")
    for key in ("independent_sampler",):
        inner = kwargs.get(key)
        if isinstance(inner, str):
            kwargs[key] = _sampler_by_name(inner, {}, spec, notes)
    if cls_name == "GridSampler":
        space = kwargs.get("search_space") or {p.name: p.grid() for p in spec.params}
        kwargs["search_space"] = space
        if not params.get("search_space"):
            notes.append("GridSampler search_space built from the hyper-parameters: "
                         + ", ".join(f"{k}={len(v)} value(s)" for k, v in space.items()))
    if cls_name == "CmaEsSampler" and kwargs.get("restart_strategy"):
        notes.append(f"CmaEsSampler restart_strategy={kwargs['restart_strategy']}: Optuna >= 4.4 ignores "
                     "restart strategies (moved to OptunaHub); plain CMA-ES runs")
        kwargs.setdefault("inc_popsize", 2)  # the product's documented default
    return getattr(optuna.samplers, cls_name)(**kwargs)


def build_sampler(spec: StudySpec, notes: Notes) -> optuna.samplers.BaseSampler:
    return _sampler_by_name(spec.sampler, spec.sampler_params, spec, notes)


def _pruner_by_name(name: str, params: dict[str, Any], notes: Notes) -> optuna.pruners.BasePruner:
    renames = PRUNER_RENAMES.get(name, {})
    kwargs: dict[str, Any] = dict(PRUNER_DEFAULTS.get(name, {}))
    kwargs.update({k: v for k, v in params.items() if v is not None or k in ("pruner", "lower", "upper")})
    if name == "PatientPruner":
        inner = kwargs.pop("pruner", "MedianPruner")
        if isinstance(inner, dict):
            kwargs["pruner"] = _pruner_by_name(inner["type"], inner.get("value", {}), notes)
        else:
            kwargs["pruner"] = _pruner_by_name(inner, {}, notes) if inner else None
        notes.append("PatientPruner parameter pruner -> wrapped_pruner")
    kwargs = {renames.get(k, k): v for k, v in kwargs.items()}
    return getattr(optuna.pruners, name)(**kwargs)


def build_pruner(spec: StudySpec, notes: Notes) -> optuna.pruners.BasePruner:
    if len(spec.directions) > 1 and spec.pruner != "NopPruner":
        notes.append(f"pruner {spec.pruner} -> NopPruner: Optuna cannot prune multi-objective "
                     "studies (Trial.report is single-objective); pruning callbacks do nothing")
        return optuna.pruners.NopPruner()
    return _pruner_by_name(spec.pruner, spec.pruner_params, notes)


def distribution(p: Param) -> BaseDistribution:
    """The product's types on today's API: suggest_int / suggest_float(log, step) / categorical."""
    if p.kind == "categorical":
        return CategoricalDistribution(p.choices)
    if p.kind == "int":
        return IntDistribution(int(p.low), int(p.high), log=p.log, step=int(p.step or 1))
    return FloatDistribution(float(p.low), float(p.high), log=p.log,
                             step=None if p.step is None else float(p.step))


def distribution_notes(spec: StudySpec) -> list[str]:
    out = []
    for p in spec.params:
        if p.kind == "uniform":
            out.append(f"{p.name}: uniform -> suggest_float({p.low}, {p.high})")
        elif p.kind == "loguniform":
            out.append(f"{p.name}: loguniform -> suggest_float({p.low}, {p.high}, log=True)")
        elif p.kind == "discrete_uniform":
            out.append(f"{p.name}: discrete_uniform -> suggest_float({p.low}, {p.high}, step={p.step})")
    return out


def suggest(trial: optuna.Trial, p: Param) -> Any:
    if p.kind == "categorical":
        return trial.suggest_categorical(p.name, p.choices)
    if p.kind == "int":
        return trial.suggest_int(p.name, int(p.low), int(p.high), step=int(p.step or 1), log=p.log)
    return trial.suggest_float(p.name, float(p.low), float(p.high), step=p.step, log=p.log)


# --- storage ------------------------------------------------------------------------------------

OPTUNA_SCHEMA = "optuna"


def _ensure_schema(url: str, schema: str) -> None:
    """Optuna's tables live in their own PostgreSQL schema, never beside hpcai's."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    engine = create_engine(url)
    try:
        for attempt in range(5):
            try:
                with engine.begin() as conn:
                    conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
                return
            except (IntegrityError, ProgrammingError):  # two workers creating it at once
                time.sleep(0.2 * (attempt + 1))
    finally:
        engine.dispose()


def open_storage(kind: str, url: str | None, journal: str | None, heartbeat_s: int,
                 grace_s: int, max_retry: int) -> optuna.storages.BaseStorage:
    """RDB storage (PostgreSQL, with heartbeats and retry of trials whose worker died) or, for
    a one-job study on a machine without PostgreSQL, a journal file in the job directory."""
    if kind == "journal":
        assert journal
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        os.makedirs(os.path.dirname(journal), exist_ok=True)
        return JournalStorage(JournalFileBackend(journal))
    assert url
    engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("postgresql"):
        _ensure_schema(url, OPTUNA_SCHEMA)
        engine_kwargs["connect_args"] = {"options": f"-csearch_path={OPTUNA_SCHEMA}"}
    # Optuna 5 names: RetryHeartbeatStaleTrialCallback / heartbeat_stale_trial_callback (were
    # RetryFailedTrialCallback / failed_trial_callback): a trial whose worker stopped beating is
    # marked failed and re-queued as a WAITING trial with the same parameters.
    retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)
    last: Exception | None = None
    for attempt in range(5):  # workers starting together race on Optuna's table creation
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs,
                                              heartbeat_interval=heartbeat_s, grace_period=grace_s,
                                              heartbeat_stale_trial_callback=retry)
        except Exception as exc:  # noqa: BLE001 - retried, then re-raised
            last = exc
            time.sleep(0.5 * (attempt + 1))
    assert last is not None
    raise last


def trial_counter(n_trials: int) -> Callable[[optuna.Study, optuna.trial.FrozenTrial], None]:
    """Stop this worker once the whole study (all workers) has n_trials finished or running."""
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
              optuna.trial.TrialState.FAIL, optuna.trial.TrialState.RUNNING)

    def callback(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        done = [t for t in study.get_trials(deepcopy=False, states=states)]
        # A failed trial that was re-queued for retry does not use up the budget twice.
        retried = sum(1 for t in done if t.state == optuna.trial.TrialState.FAIL
                      and any(o.system_attrs.get("failed_trial") == t.number for o in study.get_trials(deepcopy=False)))
        if len(done) - retried >= n_trials:
            study.stop()

    return callback
