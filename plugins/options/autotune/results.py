"""A study's results: best value(s) and parameters (the Pareto front for several directions),
the trial table with states, and plots as files in the job directory (tune/*.html, offline:
plotly.js is written once beside them instead of being loaded from a CDN, FAQ 13)."""

from __future__ import annotations

import csv
import fcntl
import json
import math
import os
import shutil
import tempfile
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import optuna
from optuna.trial import TrialState

RESULTS = "results.json"
LOCK = ".write.lock"


def _num(v: float | None) -> float | None:
    return None if v is None or (isinstance(v, float) and (math.isnan(v) or math.isinf(v))) else v


def _trial_row(t: optuna.trial.FrozenTrial, names: list[str]) -> dict[str, Any]:
    dur = (t.datetime_complete - t.datetime_start).total_seconds() \
        if t.datetime_complete and t.datetime_start else None
    steps = sorted(t.intermediate_values)
    return {"number": t.number, "state": t.state.name,
            "values": dict(zip(names, [_num(v) for v in t.values])) if t.values else {},
            "params": t.params, "duration_s": dur,
            "last_step": steps[-1] if steps else None,
            "retry_of": t.system_attrs.get("failed_trial"),
            "fail_reason": t.user_attrs.get("fail_reason")}


def summarize(study: optuna.Study, names: list[str]) -> dict[str, Any]:
    trials = study.get_trials(deepcopy=False)
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    best: list[dict[str, Any]] = []
    if any(t.state == TrialState.COMPLETE for t in trials):
        front = study.best_trials if len(study.directions) > 1 else [study.best_trial]
        for t in front:  # the best trial, or the Pareto front
            best.append({"number": t.number, "values": dict(zip(names, t.values)), "params": t.params})
    return {"study": study.study_name, "directions": [d.name.lower() for d in study.directions],
            "metric_names": names, "pareto": len(study.directions) > 1, "counts": counts,
            "best": best, "trials": [_trial_row(t, names) for t in trials],
            "notes": study.user_attrs.get("mapping_notes", []),
            "updated": datetime.now().isoformat(timespec="seconds")}


def write_summary(summary: dict[str, Any], out: Path) -> None:
    # Array tasks of one job share tune/: each file is written aside and renamed into place,
    # so readers (and the other worker) never see half a file.
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{RESULTS}.{os.getpid()}"
    tmp.write_text(json.dumps(summary, indent=2, default=str))
    tmp.replace(out / RESULTS)
    tmp = out / f".trials.csv.{os.getpid()}"
    with open(tmp, "w", newline="") as f:
        names = summary["metric_names"]
        params = sorted({k for t in summary["trials"] for k in t["params"]})
        w = csv.writer(f)
        w.writerow(["number", "state", *names, *params, "duration_s", "last_step"])
        for t in summary["trials"]:
            w.writerow([t["number"], t["state"], *[t["values"].get(n) for n in names],
                        *[t["params"].get(p) for p in params], t["duration_s"], t["last_step"]])
    tmp.replace(out / "trials.csv")


def plots(study: optuna.Study, names: list[str]) -> dict[str, Callable[[], Any]]:
    import optuna.visualization as vis

    multi = len(study.directions) > 1
    out: dict[str, Callable[[], Any]] = {}
    if multi:
        out["pareto_front"] = lambda: vis.plot_pareto_front(study, target_names=names)
        for i, n in enumerate(names):
            out[f"optimization_history_{n}"] = (lambda i=i, n=n: vis.plot_optimization_history(
                study, target=lambda t: t.values[i], target_name=n))
            out[f"param_importances_{n}"] = (lambda i=i, n=n: vis.plot_param_importances(
                study, target=lambda t: t.values[i], target_name=n))
    else:
        out["optimization_history"] = lambda: vis.plot_optimization_history(study, target_name=names[0])
        out["param_importances"] = lambda: vis.plot_param_importances(study, target_name=names[0])
        out["intermediate_values"] = lambda: vis.plot_intermediate_values(study)
    return out


def write_results(study: optuna.Study, summary: dict[str, Any], out: Path,
                  say: Callable[[str], None]) -> None:
    """Plots and the final results.json. The array tasks of one job share `out`: one at a time
    (a lock), each reading the study once it holds the lock, so the last one to write has seen
    every trial and nobody's older view lands over it."""
    names = summary["metric_names"]
    out.mkdir(parents=True, exist_ok=True)
    with open(out / LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        written = _draw(study, names, out, say)
        write_summary({**summarize(study, names), "plots": written}, out)
    say(f"results in {out}: {RESULTS}, trials.csv" + (", " + ", ".join(written) if written else ""))


def _draw(study: optuna.Study, names: list[str], out: Path, say: Callable[[str], None]) -> list[str]:
    written = []
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    aside = Path(tempfile.mkdtemp(prefix=".plots-", dir=out))  # see write_summary
    for name, make in plots(study, names).items():
        if "importances" in name and (len(complete) < 2 or len(study.best_trials[0].params) < 2
                                      if complete else True):
            say(f"plot {name}: skipped (needs 2 completed trials and 2 hyper-parameters)")
            continue
        if name == "intermediate_values" and not any(t.intermediate_values for t in study.trials):
            say(f"plot {name}: skipped (no trial reported intermediate values; use a pruning callback)")
            continue
        try:
            fig = make()
            fig.write_html(aside / f"{name}.html", include_plotlyjs="directory", full_html=True)
            written.append(f"{name}.html")
        except Exception as exc:  # noqa: BLE001 - one plot that cannot be drawn is not fatal
            say(f"plot {name}: skipped ({exc})")
    for f in sorted(aside.iterdir(), key=lambda f: f.suffix != ".js"):  # the script before its pages
        f.replace(out / f.name)
    shutil.rmtree(aside, ignore_errors=True)
    return written


def job_report(job: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """What `hpcai tune show` prints: the live study when its storage answers, else the last
    results.json the job wrote (a study kept in a job directory's journal is always live)."""
    from core.config import load_config
    from plugins.options.autotune.settings import load_settings
    from plugins.options.autotune.tuner import open_storage

    job_dir = Path(job["job_dir"])
    out = job_dir / "tune"
    names = _names(options)
    summary: dict[str, Any] | None = None
    source = "study"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    try:
        settings = load_settings(load_config())
        kind = options["autotune_storage"]
        journal = out / "study.journal"
        if kind == "rdb" and settings.storage_url or kind == "journal" and journal.exists():
            storage = open_storage(kind, settings.storage_url, str(journal), settings.heartbeat_s,
                                   settings.grace_s, settings.max_retry)
            try:
                study = optuna.load_study(study_name=options["autotune_study_name"], storage=storage)
                summary = summarize(study, names)
            finally:  # the portal asks on every job page: no pool left behind per request
                engine = getattr(storage, "engine", None)
                if engine is not None:
                    engine.dispose()
    except KeyError:  # the study was not created yet (job queued)
        summary = None
    except Exception as exc:  # noqa: BLE001 - fall back on the file the job wrote
        source = f"results.json (study storage: {exc.__class__.__name__}: {str(exc).splitlines()[0]})"
    if summary is None and (out / RESULTS).exists():
        summary = json.loads((out / RESULTS).read_text())
        source = source if source != "study" else "results.json"
    if summary is None:
        summary = {"study": options["autotune_study_name"], "counts": {}, "best": [], "trials": [],
                   "metric_names": names, "directions": options["autotune_study"]["directions"],
                   "pareto": len(options["autotune_study"]["directions"]) > 1, "notes": []}
        source = "nothing yet (the job has not started its study)"
    summary["plots"] = sorted(str(p) for p in out.glob("*.html")) if out.is_dir() else []
    summary["source"] = source
    summary["job"] = {"id": job["id"], "name": job["name"], "state": job["state"], "job_dir": str(job_dir)}
    summary["view"] = view(summary, job_dir)
    return summary


PLOT_TITLES = {"pareto_front": "Pareto front", "optimization_history": "Optimisation history",
               "param_importances": "Parameter importances", "intermediate_values": "Intermediate values"}


def _plot_title(stem: str) -> str:
    for key, title in PLOT_TITLES.items():
        if stem == key:
            return title
        if stem.startswith(key + "_"):  # one per objective: optimization_history_accuracy
            return f"{title}: {stem[len(key) + 1:]}"
    return stem.replace("_", " ")


def _cell(v: Any) -> Any:
    return f"{v:.6g}" if isinstance(v, float) else ("-" if v is None else v)


def _short(text: str | None, limit: int = 160) -> str:
    line = (text or "").strip().splitlines()[-1:] or [""]  # a traceback's last line says what broke
    return line[0] if len(line[0]) <= limit else line[0][:limit - 1] + "…"


def view(summary: dict[str, Any], job_dir: Path) -> list[dict[str, Any]]:
    """The report as the portal's generic blocks (core.api.JobOption.report): the study, the
    best trial or Pareto front, every trial with its state, and the plot pages."""
    names = summary["metric_names"]
    params = sorted({k for t in summary["trials"] for k in t["params"]})
    counts = summary["counts"]
    study = [["Study", summary["study"]], ["Directions", ", ".join(summary["directions"])],
             ["Trials", ", ".join(f"{k.lower()} {v}" for k, v in sorted(counts.items())) or "none yet"],
             ["Read from", summary["source"]]]
    study += [["Mapping", note] for note in summary.get("notes", [])]
    blocks: list[dict[str, Any]] = [{"kind": "fields", "title": "Study", "items": study}]
    if summary["best"]:
        blocks.append({"kind": "table",
                       "title": "Pareto front" if summary["pareto"] else "Best trial",
                       "columns": ["trial", *names, *params],
                       "rows": [[b["number"], *[_cell(b["values"].get(n)) for n in names],
                                 *[_cell(b["params"].get(p)) for p in params]] for b in summary["best"]]})
    why = any(t.get("fail_reason") for t in summary["trials"])
    blocks.append({"kind": "table", "title": "Trials",
                   "columns": ["trial", "state", *names, *params, "seconds", "last step", "retry of",
                               *(["why it failed"] if why else [])],
                   "rows": [[t["number"], t["state"], *[_cell(t["values"].get(n)) for n in names],
                             *[_cell(t["params"].get(p)) for p in params],
                             "-" if t["duration_s"] is None else f"{t['duration_s']:.1f}",
                             _cell(t["last_step"]), _cell(t.get("retry_of")),
                             *([_short(t.get("fail_reason"))] if why else [])] for t in summary["trials"]]})
    order = ("pareto_front", "optimization_history", "param_importances", "intermediate_values")
    plots = sorted(summary["plots"], key=lambda p: ([i for i, o in enumerate(order) if Path(p).stem.startswith(o)]
                                                    or [len(order)], p))
    pages = [{"title": _plot_title(Path(p).stem), "path": os.path.relpath(p, job_dir)} for p in plots]
    if pages:
        blocks.append({"kind": "pages", "title": "Plots", "files": pages})
    return blocks


def _names(options: dict[str, Any]) -> list[str]:
    names = options["autotune_study"]["metric_names"]
    return [n or (f"value_{i}" if len(names) > 1 else "value") for i, n in enumerate(names)]
