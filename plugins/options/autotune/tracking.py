"""Each trial as an MLflow run nested under the study's run, through libaiflow.

Active only when libaiflow's tracking API is installed and the job knows a tracking server
(MLFLOW_TRACKING_URI, set by the tracking job option). Otherwise every method is a no-op and
the study runs the same. Worker 0 of a distributed study owns the study's run; the other
workers find its id in the study's user attributes and nest their trials under it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import urllib.request
from typing import Any, Callable, Iterator

import optuna

PARENT_ATTR = "mlflow_parent_run_id"


def _libaiflow() -> tuple[Any | None, str]:
    """libaiflow's tracking API when a tracking server answers, else (None, why not)."""
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    if not uri:
        return None, "no MLFLOW_TRACKING_URI (tracking switched off for this job)"
    if uri.startswith("http"):
        try:  # a quick look first: importing MLflow costs seconds, a dead server more
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=3):
                pass
        except (OSError, ValueError) as exc:
            return None, f"the tracking server {uri} does not answer ({exc.__class__.__name__})"
    try:
        import libaiflow.tracking as lt  # the experiment-tracking SDK (issue 6)
    except ImportError as exc:
        return None, f"libaiflow's tracking API cannot be imported ({exc})"
    return lt, ""


class Tracker:
    def __init__(self, experiment: str, study_name: str, study: optuna.Study, index: int):
        self.lt, why = _libaiflow()
        self.study_name = study_name
        self.parent: str | None = None
        self.owner = index == 0
        self.index = index
        self.exp_id = ""
        if self.lt is None:
            print(f"[autotune] experiment tracking: off, trials are not recorded in MLflow: {why}", flush=True)
            return
        lt = self.lt
        self.exp_id = lt.init(experiment).experiment_id
        if self.owner:
            run = lt.start_run(self.exp_id, run_name=study_name, tags={"hpcai.study": study_name,
                                                                        "hpcai.kind": "study"})
            self.parent = run.info.run_id or None
            lt.log_params({"sampler": type(study.sampler).__name__, "pruner": type(study.pruner).__name__,
                           "directions": ",".join(d.name.lower() for d in study.directions)})
            if self.parent:
                study.set_user_attr(PARENT_ATTR, self.parent)
        else:
            deadline = time.time() + 60
            while time.time() < deadline and PARENT_ATTR not in study.user_attrs:
                time.sleep(1)
                study = optuna.load_study(study_name=study.study_name, storage=study._storage)
            self.parent = study.user_attrs.get(PARENT_ATTR)
        print(f"[autotune] experiment tracking: experiment {experiment} ({self.exp_id}), "
              f"study run {self.parent}", flush=True)

    @contextlib.contextmanager
    def trial_run(self, trial: optuna.Trial, params: dict[str, Any]) -> Iterator[Callable[[dict[str, float]], None]]:
        lt = self.lt
        if lt is None or not self.exp_id:
            yield lambda values: None
            return
        tags = {"hpcai.study": self.study_name, "hpcai.kind": "trial", "optuna.trial": str(trial.number),
                "hpcai.worker": str(self.index)}
        if self.parent:
            tags["mlflow.parentRunId"] = self.parent
        lt.start_run(self.exp_id, run_name=f"trial-{trial.number}", nested=True, tags=tags)
        state = "FAIL"
        try:
            lt.log_params(params)
            yield lambda values: lt.log_metrics(values)
            state = "COMPLETE"
        except optuna.TrialPruned:
            state = "PRUNED"
            raise
        finally:
            for step, value in sorted(_intermediate(trial).items()):
                lt.log_metric("intermediate_value", value, step=step)
            lt.set_tag("optuna.state", state)
            lt.end_run()

    def close(self, study: optuna.Study) -> None:
        lt = self.lt
        if lt is None or not self.owner or not self.parent:
            return
        try:
            names = study.user_attrs.get("metric_names") or ["value"]
            if len(study.directions) == 1 and any(t.state.name == "COMPLETE" for t in study.trials):
                lt.log_metrics({f"best_{names[0]}": study.best_value})
                lt.log_params({f"best_{k}": v for k, v in study.best_params.items()})
        except Exception as exc:  # noqa: BLE001 - tracking must not fail the study
            print(f"[autotune] could not log the best trial: {exc}", file=sys.stderr, flush=True)
        lt.end_run()


def _intermediate(trial: optuna.Trial) -> dict[int, float]:
    """The values the pruning callbacks reported for this trial (its learning curve)."""
    try:
        return dict(trial.storage.get_trial(trial._trial_id).intermediate_values)
    except Exception:  # noqa: BLE001 - a curve is nice to have
        return {}
