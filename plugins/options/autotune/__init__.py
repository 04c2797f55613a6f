"""Auto-tuning (spec 03 §5): a job option that turns a training job into an Optuna study.

Its fields join every training form, CLI and API through the schema mechanism. When switched on,
`apply` validates the whole setup (the product's parameter file or the fields) before anything
is submitted, and rewrites the job's command so that the job side runs
`python -m plugins.options.autotune.runner -- <the user's command>`: the runner imports the
user's script, calls `parse_arg(args)` with each trial's values and `main(args)` for the
objective values. With `autotune_workers` = K > 1 the job becomes K scheduler jobs (an array
where the scheduler has arrays) sharing one study in PostgreSQL.

This module is loaded by every hpcai process: it must not import Optuna.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

from core.api import JobOption
from core.config import load_config
from core.errors import HpcaiError, ParseError, ValidationError, ValidationErrors
from core.hookspecs import hookimpl
from core.plan import LaunchPlan
from core.types import JobRequest

from plugins.options.autotune.settings import load_settings
from plugins.options.autotune.spec import (DEFAULT_FILE, PARAM_TYPES, PRUNERS, SAMPLERS, StudySpec, load_json,
                                           merge_fields, spec_from_file)

ON = {"autotune": True}
RUNNER = "plugins.options.autotune.runner"
EXPERIMENT_NAME = re.compile(r"^[A-Za-z0-9_\-\u4e00-\u9fff]{1,255}$")
PYTHON = re.compile(r"^(\S*/)?python[0-9.]*$")

# Where a path of the parameter file lands in the form (errors name the field the user edits).
_FIELD_OF = (("create_study.experiment_name", "autotune_experiment"),
             ("create_study.sampler.value", "autotune_sampler_params"),
             ("create_study.sampler", "autotune_sampler"),
             ("create_study.pruner.value", "autotune_pruner_params"),
             ("create_study.pruner", "autotune_pruner"),
             ("create_study.directions", "autotune_directions"),
             ("create_study.metric_name", "autotune_metric_names"),
             ("optimize.n_trials", "autotune_trials"),
             ("optimize.timeout", "autotune_timeout_min"),
             ("optimize.n_jobs", "autotune_parallelism"),
             ("parameter_configs", "autotune_params"))

FIELDS = {"experiment": "autotune_experiment", "sampler": "autotune_sampler",
          "sampler_params": "autotune_sampler_params", "pruner": "autotune_pruner",
          "pruner_params": "autotune_pruner_params", "directions": "autotune_directions",
          "metric_names": "autotune_metric_names", "trials": "autotune_trials",
          "timeout_min": "autotune_timeout_min", "parallelism": "autotune_parallelism",
          "params": "autotune_params"}


#: the form shows the study's two sources as tabs of one group (F115); fields of both post
#: together, and fields given override the file (see study_spec)
TAB_GROUP = "autotune-source"
SET_TAB, FILE_TAB = "Set parameters", "Parameter file"


def _prop(order: int, tab: str = SET_TAB, **kw: Any) -> dict[str, Any]:
    tabbed = {"x-tab-group": TAB_GROUP, "x-tab": tab} if tab else {}
    return {"x-order": order, "x-visible-if": dict(ON), **tabbed, **kw}


def _renamed(err: HpcaiError, from_file: str | None) -> HpcaiError:
    """A parameter-file path -> the form field (or the file) the user has to edit."""
    path = err.field or ""
    if from_file is not None:
        return ValidationError(f"{path}: {err.message}" if path else err.message,
                               field="autotune_file", fix=err.fix)
    for prefix, name in _FIELD_OF:
        if path == prefix or path.startswith(prefix + ".") or path.startswith(prefix + "["):
            return ValidationError(f"{path}: {err.message}", field=name, fix=err.fix)
    return err


class AutoTune(JobOption):
    name = "autotune"
    title = "Auto-tuning"
    description = "Run an Optuna hyper-parameter study instead of one training"

    def option_schema(self) -> dict[str, Any]:
        samplers, pruners = list(SAMPLERS), list(PRUNERS)
        return {"type": "object", "required": [], "x-default-file": DEFAULT_FILE, "properties": {
            "autotune": {"type": "boolean", "title": "Auto-tuning", "default": False, "x-widget": "switch",
                         "x-order": 30, "description": "run a hyper-parameter study (Optuna) instead "
                                                       "of one training"},
            "autotune_file": _prop(42, FILE_TAB, type="string", title="Parameter file", **{"x-widget": "json-file"},
                                   description="the product's JSON parameter file: its path, or its JSON "
                                               "text (CLI: --autotune-* flags given as well override it)"),
            "autotune_experiment": _prop(31, type="string", title="Experiment name", maxLength=255,
                                         description="required (here or in the file): letters, digits, _ and -"),
            "autotune_sampler": _prop(32, type="string", title="Search algorithm", enum=samplers,
                                      description="default RandomMultiObjectiveSampler"),
            "autotune_sampler_params": _prop(33, type="string", title="Search algorithm parameters",
                                             description="key=value,... or a JSON object, e.g. seed=42"),
            "autotune_pruner": _prop(34, type="string", title="Pruning algorithm", enum=pruners,
                                     description="default MedianPruner; NopPruner = no pruning"),
            "autotune_pruner_params": _prop(35, type="string", title="Pruning algorithm parameters",
                                            description="key=value,... e.g. n_startup_trials=5,n_warmup_steps=0"),
            "autotune_directions": _prop(36, type="string", title="Optimisation direction(s)",
                                         description="minimize or maximize, comma-separated, one per "
                                                     "objective (default maximize)"),
            "autotune_metric_names": _prop(37, type="string", title="Callback function names",
                                           description="one name per direction, comma-separated"),
            "autotune_trials": _prop(38, type="integer", title="Trial count", minimum=1,
                                     description="default 100; fewer when the search space is smaller"),
            "autotune_timeout_min": _prop(39, type="number", title="Timeout (minutes)", exclusiveMinimum=0,
                                          description="default unlimited"),
            "autotune_parallelism": _prop(40, type="integer", title="Parallelism", minimum=1,
                                          description="trials at once in the job (threads; capped at its "
                                                      "cores), default 1"),
            "autotune_params": _prop(41, type="string", title="Hyper-parameters", **{"x-widget": "autotune-params"},
                                     description="NAME=TYPE:args;... e.g. lr=loguniform:1e-4:0.1;units=int:8:64:8;"
                                                 "act=categorical:relu|tanh (types: " + ", ".join(PARAM_TYPES)
                                                 + "), or the file's parameter_configs JSON"),
            "autotune_workers": _prop(43, "", type="integer", title="Distributed workers", minimum=1,
                                      maximum=256, default=1,
                                      description="scheduler jobs sharing the study (PostgreSQL)"),
        }}

    # --- submit side ---------------------------------------------------------------------------

    def study_spec(self, options: dict[str, Any], base_dir: str | None = None) -> StudySpec:
        """The validated study of a request's options: the file (or the product's default form)
        with the given fields laid over it."""
        path = str(options.get("autotune_file") or "").strip()
        source = None
        base: Any = DEFAULT_FILE
        if path.startswith("{"):  # the file's text itself (the form's editor)
            source = "autotune_file"
            try:
                base = load_json(path, source)
            except ParseError as exc:
                raise ValidationError(f"line {exc.line}, column {exc.column}: {exc.message}",
                                      field="autotune_file", fix=exc.fix) from None
        elif path:
            p = Path(path).expanduser()
            if not p.is_absolute() and not p.is_file() and base_dir:
                p = Path(base_dir) / p  # relative to the project directory (the portal's case)
            if not p.is_file():
                raise ValidationError(f"file {p} does not exist", field="autotune_file",
                                      fix="give the path of the JSON parameter file")
            source = str(p)
            base = load_json(p.read_text(encoding="utf-8"), source)
            if not isinstance(base, dict):
                raise ValidationError(f"{source} must hold a JSON object", field="autotune_file")
        fields = {k: options.get(f) for k, f in FIELDS.items() if options.get(f) not in (None, "")}
        try:
            data = merge_fields(base, fields)
        except HpcaiError as exc:
            raise ValidationError(exc.message, field=exc.field, fix=exc.fix) from None
        try:
            spec = spec_from_file(data, source or "autotune fields")
        except ValidationErrors as exc:
            raise ValidationErrors([_renamed(e, source if not _overridden(e, fields) else None)
                                    for e in exc.errors]) from None
        except ValidationError as exc:
            raise _renamed(exc, source if not _overridden(exc, fields) else None) from None
        if not spec.experiment_name:
            raise ValidationError("is required", field="autotune_experiment",
                                  fix="give --autotune-experiment NAME (or create_study.experiment_name "
                                      "in the parameter file)")
        if not EXPERIMENT_NAME.match(spec.experiment_name):
            raise ValidationError(f"'{spec.experiment_name}' is not a valid experiment name",
                                  field="autotune_experiment",
                                  fix="use letters, digits, _ and - (at most 255 characters)")
        return spec

    def apply(self, request: JobRequest, plan: LaunchPlan) -> None:
        opts = request.options
        if not opts.get("autotune"):
            return
        spec = self.study_spec(opts, request.workdir)
        workers = int(opts.get("autotune_workers") or 1)
        if plan.mode != "standalone" or len(plan.roles) != 1 or plan.roles[0].replicas != 1:
            raise ValidationError(f"auto-tuning runs in standalone mode, not {plan.mode}", field="mode",
                                  fix="choose the standalone run mode; spread trials with "
                                      "--autotune-workers or --autotune-parallelism instead")
        words = _command_words(request.command)
        python, script = words[0], words[1]
        script_path = Path(request.workdir) / script
        if not script_path.is_file():
            raise ValidationError(f"script {script} not found in {request.workdir}", field="command",
                                  fix="the run command must be `python SCRIPT.py [ARGS]` with SCRIPT.py "
                                      "in the project directory")
        settings = load_settings(load_config())
        if workers > 1 and not settings.storage_url:
            raise ValidationError(f"{workers} workers need a shared study in PostgreSQL, and this site "
                                  "has none", field="autotune_workers",
                                  fix="an administrator sets [autotune] storage to a PostgreSQL database for "
                                      "studies (not the platform's own) in etc/hpcai.toml; or use 1 worker "
                                      "with --autotune-parallelism")
        plan.options["autotune_study"] = spec.to_dict()
        plan.options["autotune_study_name"] = f"{spec.experiment_name}-{plan.job_uuid[:8]}"
        plan.options["autotune_storage"] = "rdb" if settings.storage_url else "journal"
        if settings.storage_url:  # the trials run in the job, as its user: they open the study there
            plan.env["HPCAI_TUNE_STORAGE"] = settings.storage_url
        plan.options["autotune_cpus"] = plan.roles[0].request.cpus
        plan.array_size = workers if workers > 1 else 0
        # The job side runs our runner in the user's Python (the image's), with hpcai importable.
        line = (f'PYTHONPATH="$HPCAI_HOME${{PYTHONPATH:+:$PYTHONPATH}}" exec {shlex.quote(python)} '
                f"-m {RUNNER} -- {request.command}")
        plan.roles[0].argv = ["/bin/bash", "-c", line]

    # --- results -------------------------------------------------------------------------------

    def report(self, job: dict[str, Any]) -> dict[str, Any] | None:
        options = (job.get("plan") or {}).get("options") or {}
        if "autotune_study" not in options:
            return None
        from plugins.options.autotune.results import job_report  # imports Optuna

        return job_report(job, options)


def _overridden(err: HpcaiError, fields: dict[str, Any]) -> bool:
    """Did a form field (rather than the file) supply the value this error is about?"""
    path = err.field or ""
    for prefix, name in _FIELD_OF:
        if path == prefix or path.startswith(prefix + ".") or path.startswith(prefix + "["):
            key = next(k for k, f in FIELDS.items() if f == name)
            related = {"sampler_params": "sampler", "pruner_params": "pruner"}
            return key in fields or related.get(key, "") in fields
    return False


def _command_words(command: str) -> list[str]:
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise ValidationError(f"cannot be split into words: {exc}", field="command") from None
    if len(words) < 2 or not PYTHON.match(words[0]) or not words[1].endswith(".py"):
        raise ValidationError("auto-tuning runs a Python script that defines parse_arg and main",
                              field="command",
                              fix="write the run command as `python SCRIPT.py [ARGS]`, e.g. python train.py")
    return words


@hookimpl
def hpcai_job_options() -> list[JobOption]:
    return [AutoTune()]
