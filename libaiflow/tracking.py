"""The libaiflow API of spec 12 §B.1-§B.3 over MLflow's fluent API (so MLflow's autologging and
libaiflow share one active run).

What libaiflow adds to MLflow: the documented limits checked before anything is sent (clear
errors), "no active run -> start one" said out loud, a short retry budget, and a tracking-server
outage that costs records, not the training (unless strict mode), per-user experiment ownership,
and plotly figures saved as self-contained HTML that renders offline.

Metric values are queued and sent in batches by a background thread (libaiflow/metric_queue.py):
a log_metric call costs microseconds, not a round trip. They are flushed by end_run, at normal
exit and on SIGTERM (the scheduler's kill); a process killed hard loses at most the values of
the last second (LIBAIFLOW_FLUSH_INTERVAL_S). Strict mode and LIBAIFLOW_ASYNC=0 log each value
synchronously.
"""

from __future__ import annotations

import atexit
import getpass
import grp
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

# Short retries: MLflow's defaults (7 retries, factor 2, 120 s timeout) stall training for minutes.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "0.2")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")

import mlflow
from mlflow.entities import Experiment, Metric, Run, RunData, RunInfo
from mlflow.exceptions import MlflowException, RestException
from mlflow.tracking import MlflowClient

from libaiflow import limits
from libaiflow.errors import LibaiflowError, ServerUnreachable
from libaiflow.metric_queue import MetricQueue, SendFailed, Value

OWNER_TAG = "hpcai.owner"  # who created the experiment (the platform shows it to them only)
GROUP_TAG = "hpcai.group"  # a Unix group the owner shares the experiment with
T = TypeVar("T")


class _Link:
    """The state of this process's connection to the tracking server."""

    def __init__(self) -> None:
        self.strict = os.environ.get("LIBAIFLOW_STRICT", "").lower() in ("1", "true", "yes")
        self.retry_after_s = float(os.environ.get("LIBAIFLOW_RETRY_AFTER_S", "30"))
        self.down_until = 0.0  # while the server is known down, calls are dropped at once
        self.dropped = 0
        self.experiment_name: str | None = None
        self.experiment_tags: dict[str, str] = {}
        self.experiment_id: str | None = None
        self.ended = 0  # runs ended with end_run (to explain an auto-started run)


_link = _Link()


def set_strict(strict: bool = True) -> None:
    """Strict mode: a tracking-server outage raises ServerUnreachable instead of a warning."""
    _link.strict = bool(strict)


def is_strict() -> bool:
    return _link.strict


def _say(message: str) -> None:
    print(f"libaiflow: {message}", file=sys.stderr, flush=True)


def _unreachable(exc: BaseException) -> bool:
    """Did the server fail to answer (as opposed to answering 'no')?"""
    import requests

    if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)):
        return True
    if isinstance(exc, RestException):
        return exc.error_code in ("TEMPORARILY_UNAVAILABLE", "INTERNAL_ERROR")
    if isinstance(exc, MlflowException):
        text = str(exc)
        return ("failed with exception" in text or "Max retries exceeded" in text
                or "error code 5" in text or "Connection" in text)
    return False


def _call(what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """Run one request to the server under libaiflow's outage policy."""
    if not _link.strict and time.monotonic() < _link.down_until:
        _link.dropped += 1
        return None
    try:
        return fn(*args, **kwargs)
    except LibaiflowError:
        raise
    except Exception as exc:
        if not _unreachable(exc):
            if isinstance(exc, MlflowException):
                raise LibaiflowError(f"{what}: the tracking server refused it: {exc.message}") from None
            raise
        retries = os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES")
        msg = (f"the tracking server {mlflow.get_tracking_uri()} is unreachable after {retries} "
               f"retries; {what} was not recorded ({_first_line(exc)})")
        if _link.strict:
            raise ServerUnreachable(msg + " [strict mode]") from None
        _link.dropped += 1
        _link.down_until = time.monotonic() + _link.retry_after_s
        _say(f"WARNING: {msg}. Training goes on; records are dropped for the next "
             f"{_link.retry_after_s:.0f} s, then libaiflow tries again "
             "(LIBAIFLOW_STRICT=1 makes this an error).")
        return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


@atexit.register
def _report_dropped() -> None:
    if _link.dropped:
        _say(f"{_link.dropped} call(s) were not recorded because the tracking server was unreachable")


# --- the metric queue -----------------------------------------------------------------------

def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


_run_uris: dict[str, str] = {}  # run id -> its tracking server (the URI when it was first logged to)


def _send(run_id: str, values: list[Value]) -> None:
    client = MlflowClient(tracking_uri=_run_uris.get(run_id))
    try:
        client.log_batch(run_id, metrics=[Metric(v.key, v.value, v.timestamp_ms, v.step) for v in values])
    except Exception as exc:  # noqa: BLE001 - sorted into "retry later" and "never"
        raise SendFailed(_first_line(exc), retry=_unreachable(exc) or not isinstance(exc, MlflowException)) \
            from None


_queue = MetricQueue(_send, _say, interval_s=_env_float("LIBAIFLOW_FLUSH_INTERVAL_S", 1.0),
                     max_pending=int(_env_float("LIBAIFLOW_MAX_PENDING", 100_000)))


def _queued() -> bool:
    """Metrics go through the queue unless strict mode (errors must reach the caller) or
    LIBAIFLOW_ASYNC=0 asks for one request per call."""
    return not _link.strict and os.environ.get("LIBAIFLOW_ASYNC", "1") not in ("0", "false", "no")


def _enqueue(what: str, metrics: dict[str, float], step: int) -> None:
    run = mlflow.active_run()
    if run is None:
        _call(what, _ensure_run)  # a server that is down: dropped and counted there
        run = mlflow.active_run()
        if run is None:
            return
    run_id = run.info.run_id
    if run_id not in _run_uris:
        _run_uris[run_id] = mlflow.get_tracking_uri()
        _handle_sigterm()
    now = int(time.time() * 1000)
    for k, v in metrics.items():
        _queue.put(run_id, k, v, now, step)


def flush(timeout_s: float | None = None) -> bool:
    """Send the queued metric values now; False when some could not be sent within `timeout_s`
    (default LIBAIFLOW_FLUSH_TIMEOUT_S, 10 s); those stay queued and are tried again."""
    wait = _env_float("LIBAIFLOW_FLUSH_TIMEOUT_S", 10.0) if timeout_s is None else timeout_s
    return _queue.flush(wait)


@atexit.register  # registered after MLflow's own exit hook, so it runs before the run is ended
def _flush_at_exit() -> None:
    if not flush():
        _say(f"WARNING: {_queue.pending} metric value(s) could not be sent before exit "
             "(the tracking server did not answer)")


_previous_term: Any = None


def _handle_sigterm() -> None:
    """On SIGTERM (scancel, bkill, a time limit) send what is queued, then die as before."""
    global _previous_term
    if _previous_term is not None or threading.current_thread() is not threading.main_thread():
        return
    try:
        _previous_term = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError):  # not the main interpreter
        _previous_term = signal.SIG_DFL


def _on_sigterm(signum: int, frame: Any) -> None:
    if not flush(_env_float("LIBAIFLOW_TERM_FLUSH_S", 10.0)):
        _say(f"WARNING: terminated with {_queue.pending} metric value(s) not sent")
    previous = _previous_term
    if callable(previous):
        previous(signum, frame)
    elif previous != signal.SIG_IGN:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)


def _user() -> str:
    return os.environ.get("HPCAI_JOB_USER") or getpass.getuser()


def _user_groups(user: str) -> set[str]:
    try:
        return {g.gr_name for g in grp.getgrall() if user in g.gr_mem}
    except OSError:
        return set()


# --- experiments ----------------------------------------------------------------------------

def init(experiment_name: str, experiment_tags: dict[str, Any] | None = None,
         token: str | None = None) -> Experiment:
    """Make `experiment_name` the active experiment (created when new) and return it.

    `token` is the portal's API token; it is sent as a bearer token when the tracking server
    sits behind the portal's authenticating proxy.
    """
    name = limits.experiment_name(experiment_name)
    tags = limits.tags(experiment_tags, "experiment_tags")
    if token:
        os.environ["MLFLOW_TRACKING_TOKEN"] = str(token)
    _link.experiment_name, _link.experiment_tags = name, tags
    _warn_if_uri_overridden()
    exp = _call(f"init({name!r})", _init, name, tags)
    if exp is None:  # server down, not strict: a stand-in so `exp.experiment_id` still works
        return Experiment(experiment_id="", name=name, artifact_location="",
                          lifecycle_stage="active", tags=tags)
    return exp


_GIVEN_URI = os.environ.get("MLFLOW_TRACKING_URI", "")


def _warn_if_uri_overridden() -> None:
    """MLflow lets a process-wide `mlflow.set_tracking_uri()` (Optuna's MLflowCallback and
    Lightning's MLFlowLogger call it) outrank MLFLOW_TRACKING_URI: the platform's relay is then
    bypassed without a word. Say so once, naming both."""
    given = _GIVEN_URI  # mlflow 3's set_tracking_uri() rewrites the variable too: the value at import
    used = mlflow.get_tracking_uri()
    if given.startswith(("http://", "https://")) and used.rstrip("/") != given.rstrip("/"):
        warnings.warn(f"libaiflow: MLflow's tracking URI was set in this process to {used!r}; it outranks "
                      f"MLFLOW_TRACKING_URI={given!r} that the platform gave this job, so runs go there "
                      f"(call mlflow.set_tracking_uri({given!r}) to use the platform's)", RuntimeWarning, stacklevel=3)


def _init(name: str, tags: dict[str, str]) -> Experiment:
    client = MlflowClient()
    user = _user()
    try:
        exp = client.get_experiment_by_name(name)
    except MlflowException as exc:
        if exc.error_code != "PERMISSION_DENIED":  # the server authenticates: not this user's
            raise
        raise LibaiflowError(f"experiment {name!r} belongs to another user: choose another name "
                             "(experiment names are unique on the platform)") from None
    if exp is None:
        try:
            exp_id = client.create_experiment(name, tags={OWNER_TAG: user, **tags})
        except RestException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":  # another rank created it first
                raise
            exp_id = client.get_experiment_by_name(name).experiment_id
    else:
        exp_id = exp.experiment_id
        if exp.lifecycle_stage == "deleted":
            raise LibaiflowError(f"experiment {name!r} was deleted: restore it in experiment "
                                 "management or choose another name")
        owner = exp.tags.get(OWNER_TAG)
        if owner and owner != user and exp.tags.get(GROUP_TAG) not in _user_groups(user):
            raise LibaiflowError(f"experiment {name!r} belongs to {owner}: choose another name "
                                 "(experiment names are unique on the platform)")
        for k, v in tags.items():
            client.set_experiment_tag(exp_id, k, v)
    mlflow.set_experiment(experiment_id=exp_id)
    _link.experiment_id = exp_id
    return client.get_experiment(exp_id)


# --- runs -----------------------------------------------------------------------------------

class ActiveRun(mlflow.ActiveRun):
    """The run start_run() made active; `with` ends it (FAILED when the block raised)."""

    def __exit__(self, exc_type: object, exc_val: object, exc_tb: object) -> bool:
        if not self.info.run_id:  # the stand-in of an unreachable server
            return exc_type is None
        active = mlflow.active_run()
        if active is not None and active.info.run_id == self.info.run_id:
            _end("FINISHED" if exc_type is None else "FAILED")
        return exc_type is None


def start_run(experiment_id: str | None, run_name: str | None = None, nested: bool = False,
              tags: dict[str, Any] | None = None, description: str | None = None) -> ActiveRun:
    """Start a run in `experiment_id` (None: the experiment of init) and make it active."""
    run_tags = limits.tags(tags)
    if run_name is not None:
        run_name = limits.text_value(run_name, "run_name")
    if description is not None:
        description = limits.text_value(description, "description")
    exp_id = str(experiment_id) if experiment_id not in (None, "") else _link.experiment_id
    current = mlflow.active_run()
    if current is not None and not nested:
        raise LibaiflowError(f"run {current.info.run_id} is still active: call end_run() first, "
                             "or pass nested=True to start a child run")
    run = _call("start_run", _start, exp_id, run_name, nested, run_tags, description)
    if run is None:
        info = RunInfo(run_id="", experiment_id=exp_id or "", user_id=_user(), status="RUNNING",
                       start_time=int(time.time() * 1000), end_time=None, lifecycle_stage="active",
                       run_name=run_name or "")
        return ActiveRun(Run(info, RunData()))
    return run


def _start(exp_id: str | None, run_name: str | None, nested: bool, tags: dict[str, str],
           description: str | None) -> ActiveRun:
    if exp_id is None and _link.experiment_name and _link.experiment_id is None:
        exp_id = _init(_link.experiment_name, _link.experiment_tags).experiment_id
    run = mlflow.start_run(experiment_id=exp_id, run_name=run_name, nested=nested, tags=tags,
                           description=description)
    return ActiveRun(run)


def active_run() -> Run | None:
    return mlflow.active_run()


def end_run() -> None:
    """End the active run (the innermost one of nested runs)."""
    _end("FINISHED")


def _end(status: str) -> None:
    if mlflow.active_run() is None:
        return
    _link.ended += 1
    if not flush():  # the run's values reach the server before it is marked ended
        _say(f"WARNING: {_queue.pending} metric value(s) are still queued (the tracking server does "
             "not answer); libaiflow keeps trying until the process exits")
    # MLflow forgets the run locally before telling the server, so an outage here leaves no
    # stale active run behind.
    _call("end_run", mlflow.end_run, status)


def _ensure_run() -> None:
    """Every log_* call logs to the active run, starting one when there is none (spec 12 §B)."""
    if mlflow.active_run() is not None:
        return
    run = _start(_link.experiment_id, None, False, {}, None)
    why = "the previous run was ended with end_run()" if _link.ended else "start_run() was not called"
    _say(f"no active run ({why}): started run {run.info.run_id} in experiment "
         f"{run.info.experiment_id}")


def _logged(what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    def go() -> None:
        _ensure_run()
        fn(*args, **kwargs)

    _call(what, go)


def set_tag(key: str, value: Any) -> None:
    k = limits.key(key, "tag key")
    _logged(f"tag {k!r}", mlflow.set_tag, k, limits.text_value(value, f"tag {k!r}"))


# --- metrics and parameters -----------------------------------------------------------------

def log_metric(key: str, value: float, step: int | None = None) -> None:
    """Queued and sent in the background (see the module's docstring)."""
    k = limits.key(key, "metric key")
    v, s = limits.metric_value(value, k), limits.step(step)
    if _queued():
        _enqueue(f"metric {k!r}", {k: v}, s)
    else:
        _logged(f"metric {k!r}", mlflow.log_metric, k, v, step=s)


def log_metrics(metrics: dict[str, float], step: int | None = None) -> None:
    """Queued like log_metric; the whole dict shares one timestamp and step."""
    if not isinstance(metrics, dict):
        raise LibaiflowError(f"metrics must be a dict of name -> number, got {type(metrics).__name__}")
    checked = {limits.key(k, "metric key"): limits.metric_value(v, k) for k, v in metrics.items()}
    if not checked:
        return
    if _queued():
        _enqueue(f"{len(checked)} metrics", checked, limits.step(step))
    else:
        _logged(f"{len(checked)} metrics", mlflow.log_metrics, checked, step=limits.step(step))


def log_param(key: str, value: Any) -> None:
    k = limits.key(key, "param key")
    _logged(f"param {k!r}", mlflow.log_param, k, limits.text_value(value, f"param {k!r}"))


def log_params(params: dict[str, Any]) -> None:
    if not isinstance(params, dict):
        raise LibaiflowError(f"params must be a dict of name -> value, got {type(params).__name__}")
    checked = {limits.key(k, "param key"): limits.text_value(v, f"param {k!r}") for k, v in params.items()}
    if checked:
        _logged(f"{len(checked)} params", mlflow.log_params, checked)


# --- files and figures ----------------------------------------------------------------------

def log_artifact(local_path: str, artifact_path: str | None = None) -> None:
    """Record a file, or every file of a directory, under `artifact_path` of the run."""
    path = Path(os.fspath(local_path))
    if not path.exists():
        raise LibaiflowError(f"log_artifact: {path} does not exist")
    dest = limits.artifact_file(artifact_path) if artifact_path else None
    if path.is_dir():
        _logged(f"artifacts of {path}", mlflow.log_artifacts, str(path), dest)
    else:
        _logged(f"artifact {path.name}", mlflow.log_artifact, str(path), dest)


def log_text(text: str, artifact_file: str) -> None:
    if not isinstance(text, str):
        raise LibaiflowError(f"log_text: text must be a string, got {type(text).__name__}")
    dest = limits.artifact_file(artifact_file)
    _logged(f"text {dest}", mlflow.log_text, text, dest)


_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp"}


def log_figure(figure: Any, artifact_file: str) -> None:
    """matplotlib -> an image (or .svg/.pdf); plotly -> self-contained HTML, or an image."""
    dest = limits.artifact_file(artifact_file)
    suffix = Path(dest).suffix.lower()
    kind = _figure_kind(figure)
    if kind == "matplotlib":
        if suffix not in _IMAGE_SUFFIXES | {".svg", ".pdf", ".eps"}:
            raise LibaiflowError(f"log_figure: a matplotlib figure is saved as an image; name the file "
                                 f".png, .jpg, .svg or .pdf, not {dest!r}")
        _logged(f"figure {dest}", mlflow.log_figure, figure, dest)
    elif kind == "plotly":
        if suffix in (".html", ".htm"):
            # plotly.js inlined: the chart renders with no internet (the product's FAQ 13).
            _logged(f"figure {dest}", mlflow.log_figure, figure, dest,
                    save_kwargs={"include_plotlyjs": True, "full_html": True})
        elif suffix in {".png", ".jpeg", ".jpg", ".webp", ".svg", ".pdf"}:
            try:
                figure.to_image(format=suffix.lstrip(".").replace("jpg", "jpeg"), width=16, height=16)
            except (ValueError, ImportError, RuntimeError) as exc:
                raise LibaiflowError(f"log_figure: plotly cannot write {suffix} here ({_first_line(exc)}); "
                                     "install 'kaleido' or log the figure as .html, which renders "
                                     "offline") from None
            _logged(f"figure {dest}", mlflow.log_figure, figure, dest)
        else:
            raise LibaiflowError(f"log_figure: name a plotly figure's file .html (or .png with kaleido), "
                                 f"not {dest!r}")
    else:
        raise LibaiflowError("log_figure: figure must be a matplotlib Figure or a plotly Figure, got "
                             f"{type(figure).__module__}.{type(figure).__name__}")


def _figure_kind(figure: Any) -> str | None:
    if "matplotlib" in sys.modules:
        import matplotlib.figure

        if isinstance(figure, matplotlib.figure.Figure):
            return "matplotlib"
    if "plotly" in sys.modules:
        import plotly.graph_objects as go

        if isinstance(figure, go.Figure):
            return "plotly"
    return None


def log_image(image: Any, artifact_file: str) -> None:
    """A NumPy array (H x W, or H x W x 1/3/4; uint8, or floats in [0, 1]) or a PIL image."""
    dest = limits.artifact_file(artifact_file)
    if Path(dest).suffix.lower() not in _IMAGE_SUFFIXES:
        raise LibaiflowError(f"log_image: name the file with an image suffix such as .png, not {dest!r}")
    module = type(image).__module__
    if module.startswith("PIL."):
        pass
    elif module.startswith("numpy") and hasattr(image, "ndim"):
        if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
            raise LibaiflowError(f"log_image: array of shape {tuple(image.shape)} is not an image; use "
                                 "H x W (grey) or H x W x 1, 3 or 4 channels")
        if image.dtype.kind == "f" and image.size and (image.min() < 0 or image.max() > 1):
            raise LibaiflowError("log_image: float arrays must hold values in [0, 1]; scale them or "
                                 "convert to uint8")
        if image.dtype.kind not in "fiub":
            raise LibaiflowError(f"log_image: array dtype {image.dtype} is not an image type; use uint8")
    else:
        raise LibaiflowError(f"log_image: image must be a numpy array or a PIL image, got {module}."
                             f"{type(image).__name__}")
    _logged(f"image {dest}", mlflow.log_image, image, artifact_file=dest)
