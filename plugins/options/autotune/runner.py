"""The job side of auto-tuning: run the study over the user's script.

    python -m plugins.options.autotune.runner -- python train.py [fixed args]

Reads the study from $HPCAI_JOB_DIR/plan.json (written at submit time by the autotune option),
imports the script without running its `__main__` block, and for each trial calls
`parse_arg(fixed args + --NAME value ...)`, sets `args.trial` to the Optuna trial and calls
`main(args)`, whose return values (one per direction) are the objectives. Writes the results
and plots into $HPCAI_JOB_DIR/tune/. Exit status: 0 when at least one trial completed, 2 when
the script breaks the contract (no parse_arg/main, wrong number of values), 1 otherwise.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import math
import os
import sys
import threading
import time
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

import optuna

from plugins.options.autotune import tracking
from plugins.options.autotune.spec import Param, StudySpec
from plugins.options.autotune.tuner import (Notes, build_pruner, build_sampler, distribution_notes,
                                            open_storage, suggest, trial_counter)

EXIT_CONTRACT = 2


def say(msg: str) -> None:
    print(f"[autotune] {msg}", flush=True)


class ContractError(Exception):
    """The user's script does not follow the tuner's contract (spec 03 §5.3)."""


def load_script(path: Path) -> ModuleType:
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(f"hpcai_tuned_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ContractError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)  # its `if __name__ == '__main__'` block does not run
    missing = [n for n in ("parse_arg", "main") if not callable(getattr(module, n, None))]
    if missing:
        raise ContractError(f"{path.name} defines no {' and no '.join(missing)}(): the tuner calls "
                            "parse_arg(args) with each trial's values and main(args) for the objective "
                            "value(s) (spec 03 §5.3)")
    return module


def trial_argv(fixed: list[str], values: dict[str, Any]) -> list[str]:
    argv = list(fixed)
    for name, value in values.items():
        argv += [f"--{name}", repr(value) if isinstance(value, float) else str(value)]
    return argv


_parse_lock = threading.Lock()  # stderr is redirected while argparse runs: one thread at a time


def parse(module: ModuleType, argv: list[str]) -> Any:
    err = io.StringIO()
    with _parse_lock, contextlib.redirect_stderr(err):
        try:
            return module.parse_arg(argv)
        except SystemExit:
            said = err.getvalue().strip().splitlines()
            raise ContractError(f"parse_arg rejected {argv}: {said[-1] if said else 'it exited'}; "
                                "every hyper-parameter needs an argument of the same name in "
                                "parse_arg (e.g. parser.add_argument('--lr', type=float))") from None


def check_contract(module: ModuleType, fixed: list[str], params: list[Param]) -> None:
    """Before any trial: parse_arg accepts every hyper-parameter name and declares --trial."""
    sample: dict[str, Any] = {}
    for p in params:
        sample[p.name] = p.choices[0] if p.kind == "categorical" else (
            int(p.low) if p.kind == "int" else float(p.low))
    args = parse(module, trial_argv(fixed, sample))
    if not hasattr(args, "trial"):
        raise ContractError("parse_arg declares no --trial argument; add "
                            "parser.add_argument('--trial', type=object, default=optuna.trial._trial.Trial)")


def objective_values(result: Any, n: int) -> list[float]:
    if isinstance(result, (list, tuple)):
        values = list(result)
    elif result is None:
        raise ContractError(f"main(args) returned None; it must return {n} value(s), one per "
                            "optimisation direction")
    else:
        values = [result]
    if len(values) != n:
        raise ContractError(f"main(args) returned {len(values)} value(s) but the study has {n} "
                            f"direction(s); return one value per direction, in the same order")
    try:
        return [float(v) for v in values]
    except (TypeError, ValueError):
        raise ContractError(f"main(args) returned {values!r}; the objective values must be numbers") from None


def cpu_budget(requested: int, allocated: int | None) -> tuple[int, str | None]:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if allocated:
        cores = min(cores, allocated)
    if requested > cores:
        return cores, f"parallelism {requested} capped at {cores}, the cores of this job"
    return requested, None


class Runner:
    def __init__(self, job_dir: Path, command: list[str]):
        plan = json.loads((job_dir / "plan.json").read_text())
        opts = plan["options"]
        self.job_dir = job_dir
        self.out = job_dir / "tune"
        self.spec = StudySpec.from_dict(opts["autotune_study"])
        self.study_name: str = opts["autotune_study_name"]
        self.storage_kind: str = opts["autotune_storage"]
        self.cpus: int | None = opts.get("autotune_cpus")
        self.index = int(os.environ.get("HPCAI_ARRAY_INDEX") or os.environ.get("SLURM_ARRAY_TASK_ID") or 0)
        self.workers = max(int(plan.get("array_size") or 0), 1)
        self.command = command
        self.contract_error: str | None = None
        self.heartbeat_s = 10.0  # the storage's, once storage() read the settings

    def storage(self) -> optuna.storages.BaseStorage:
        from core.config import load_config
        from plugins.options.autotune.settings import load_settings

        settings = load_settings(load_config())
        self.heartbeat_s = float(settings.heartbeat_s)
        if self.storage_kind == "rdb" and not settings.storage_url:
            raise RuntimeError("the study was planned on PostgreSQL but no storage URL is configured "
                               "on this node (HPCAI_TUNE_STORAGE / [autotune] storage)")
        say(f"storage: {'PostgreSQL schema optuna' if self.storage_kind == 'rdb' else 'journal file'}"
            + (f", heartbeat {settings.heartbeat_s}s, grace {settings.grace_s}s, "
               f"up to {settings.max_retry} retries of a trial whose worker died"
               if self.storage_kind == "rdb" else ""))
        return open_storage(self.storage_kind, settings.storage_url, str(self.out / "study.journal"),
                            settings.heartbeat_s, settings.grace_s, settings.max_retry)

    def run(self) -> int:
        spec = self.spec
        if len(self.command) < 2:
            say("usage: runner -- python SCRIPT.py [ARGS]")
            return EXIT_CONTRACT
        script = Path(self.command[1])
        fixed = self.command[2:]
        self.out.mkdir(parents=True, exist_ok=True)
        try:
            module = load_script(script.resolve())
            check_contract(module, fixed, spec.params)
        except ContractError as exc:
            say(f"ERROR: {exc}")
            return EXIT_CONTRACT
        notes = Notes()
        if self.workers > 1 and spec.sampler_params.get("seed") is not None:
            # Same seed in every worker = the same "random" trials K times over.
            seed = spec.sampler_params["seed"]
            spec.sampler_params["seed"] = seed + self.index
            notes.append(f"seed {seed} + worker index {self.index} = {seed + self.index}" if self.index else
                         f"seed {seed} in worker 1, seed {seed} + i in worker i + 1 of {self.workers} "
                         "(workers must not sample the same points)")
        sampler = build_sampler(spec, notes)
        pruner = build_pruner(spec, notes)
        notes.extend(distribution_notes(spec))
        n_trials = spec.effective_trials()
        if n_trials < spec.n_trials:
            notes.append(f"n_trials {spec.n_trials} capped at {n_trials}, the size of the search space")
        n_jobs, capped = cpu_budget(spec.n_jobs, self.cpus)
        if capped:
            notes.append(capped)
        for note in notes:
            say(note)
        storage = self.storage()
        study = optuna.create_study(storage=storage, sampler=sampler, pruner=pruner,
                                    study_name=self.study_name, directions=spec.directions,
                                    load_if_exists=True)
        if self.index == 0:
            study.set_user_attr("experiment_name", spec.experiment_name)
            study.set_user_attr("metric_names", self.metric_names())
            study.set_user_attr("mapping_notes", list(notes))
        tracker = tracking.Tracker(spec.experiment_name, self.study_name, study, self.index)
        say(f"study {self.study_name}: {n_trials} trial(s), directions {spec.directions}, "
            f"{n_jobs} at a time in this job" + (f", worker {self.index + 1} of {self.workers}"
                                                  if self.workers > 1 else "")
            + (f", timeout {spec.timeout_min} min" if spec.timeout_min else ""))
        objective = self.objective(module, fixed, tracker, study)
        callbacks = [trial_counter(n_trials), self.progress]
        t0 = time.time()
        timeout = spec.timeout_min * 60 if spec.timeout_min else None
        try:
            study.optimize(objective, n_trials=n_trials, timeout=timeout,
                           n_jobs=n_jobs, catch=(Exception,), callbacks=callbacks, gc_after_trial=False)
            if timeout is None or time.time() - t0 < timeout:
                self.settle_other_workers(study, objective, callbacks, n_jobs)
        finally:
            tracker.close(study)
        say(f"optimisation done in {time.time() - t0:.1f}s")
        from plugins.options.autotune.results import summarize, write_results

        summary = summarize(study, self.metric_names())
        write_results(study, summary, self.out, say)
        self.print_summary(summary)
        if self.contract_error:
            say(f"ERROR: {self.contract_error}")
            return EXIT_CONTRACT
        return 0 if summary["counts"].get("COMPLETE", 0) else 1

    def settle_other_workers(self, study: optuna.Study, objective: Any, callbacks: list[Any],
                             n_jobs: int) -> None:
        """Before this worker leaves, every trial other workers hold either ends or goes stale.

        The budget counts running trials, so a worker can reach it while another worker's trial
        still runs; if that worker then dies, nobody alive would ever see its heartbeat stop and
        the trial would stay RUNNING, never retried. So the worker waits: a stale trial is failed
        (its retry queued by the storage's callback) and the queued retries are run here.
        """
        if self.storage_kind != "rdb" or self.workers < 2:
            return  # one worker, or a journal file (no heartbeats): nothing runs elsewhere
        said = 0
        while True:
            optuna.storages.fail_stale_trials(study)
            waiting = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,))
            if waiting:
                say(f"running {len(waiting)} retried trial(s) of a worker that died")
                study.optimize(objective, n_trials=len(waiting), n_jobs=min(n_jobs, len(waiting)),
                               catch=(Exception,), callbacks=callbacks, gc_after_trial=False)
                continue
            running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
            if not running:
                return
            if len(running) != said:
                said = len(running)
                say(f"waiting for {said} trial(s) of other workers to finish (or, if their worker "
                    "died, to go stale and be retried here)")
            time.sleep(self.heartbeat_s)

    def metric_names(self) -> list[str]:
        names = self.spec.metric_names
        return [n or (f"value_{i}" if len(names) > 1 else "value") for i, n in enumerate(names)]

    def objective(self, module: ModuleType, fixed: list[str], tracker: "tracking.Tracker",
                  study: optuna.Study):  # type: ignore[no-untyped-def]
        from libaiflow.integration import callback as callbacks

        n = len(self.spec.directions)

        def run(trial: optuna.Trial) -> float | list[float]:
            values = {p.name: suggest(trial, p) for p in self.spec.params}
            try:
                args = parse(module, trial_argv(fixed, values))
                args.trial = trial
                with callbacks.current_trial(trial), tracker.trial_run(trial, values) as log_values:
                    result = module.main(args)
                    out = objective_values(result, n)
                    log_values(dict(zip(self.metric_names(), out)))
            except ContractError as exc:
                self.contract_error = str(exc)
                trial.set_user_attr("fail_reason", f"ContractError: {exc}")
                study.stop()  # every further trial would fail the same way
                raise
            except optuna.TrialPruned:
                raise
            except Exception as exc:  # Optuna logs it; the trial table shows it too
                trial.set_user_attr("fail_reason", f"{exc.__class__.__name__}: {exc}")
                raise
            return out[0] if n == 1 else out

        return run

    def progress(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        """Keep tune/results.json current while the study runs (hpcai tune show reads it)."""
        from plugins.options.autotune.results import summarize, write_summary

        try:
            write_summary(summarize(study, self.metric_names()), self.out)
        except Exception as exc:  # noqa: BLE001 - a progress file must not stop the study
            say(f"could not update results.json: {exc}")

    def print_summary(self, summary: dict[str, Any]) -> None:
        say("trials: " + ", ".join(f"{k.lower()} {v}" for k, v in sorted(summary["counts"].items())))
        for best in summary["best"]:
            vals = ", ".join(f"{k}={v:.6g}" for k, v in best["values"].items() if not math.isnan(v))
            say(f"best trial {best['number']}: {vals} params {best['params']}")


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--":
        argv = argv[1:]
    job_dir = os.environ.get("HPCAI_JOB_DIR")
    if not job_dir or not Path(job_dir, "plan.json").exists():
        say("this runs inside an hpcai job: HPCAI_JOB_DIR has no plan.json")
        return EXIT_CONTRACT
    optuna.logging.set_verbosity(optuna.logging.INFO)
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeats, retry
    return Runner(Path(job_dir), argv).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
