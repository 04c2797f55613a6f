"""The product's auto-tuning parameters (spec 03 §5, spec 12 §D) as data, checked without Optuna.

This module is imported at submit time (CLI, portal), so it imports only the standard library
and core.errors. It turns the product's parameter file (every scalar a string: "None", "True",
"100") or the form's fields into a `StudySpec` of typed values, and refuses anything Optuna
would refuse later, naming the field and the fix. Building the Optuna objects is tuner.py's job.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from core.errors import HpcaiError, ParseError, ValidationError, ValidationErrors

# --- parameter tables ---------------------------------------------------------------------------
# kind of each parameter: int, float, bool, str, auto_int ("auto" or int), sampler (a sampler
# name or None), pruner (a pruner name or None), dict (JSON object or None), none (only None:
# a Python callable or trial list cannot travel in a JSON file). `?` = None allowed.
# The defaults are the product's (spec 12 §D); None means "leave Optuna's default".

_TPE = {"consider_prior": "bool", "prior_weight": "float", "consider_magic_clip": "bool",
        "consider_endpoints": "bool", "n_startup_trials": "int", "seed": "int?"}

SAMPLERS: dict[str, dict[str, str]] = {
    "RandomMultiObjectiveSampler": {"seed": "int?"},
    "NSGAIIMultiObjectiveSampler": {"population_size": "int", "mutation_prob": "float?",
                                    "crossover_prob": "float", "swapping_prob": "float",
                                    "seed": "int?"},
    "MOTPEMultiObjectiveSampler": {**_TPE, "n_ehvi_candidates": "int"},
    "TPESampler": {**_TPE, "n_ei_candidates": "int", "multivariate": "bool", "group": "bool",
                   "warn_independent_sampling": "bool", "constant_liar": "bool",
                   "constraints_func": "none"},
    "QMCSampler": {"qmc_type": "str", "scramble": "bool", "seed": "int?",
                   "independent_sampler": "sampler", "warn_asynchronous_seeding": "bool",
                   "warn_independent_sampling": "bool"},
    "MOTPESampler": {**_TPE, "n_ehvi_candidates": "int"},
    "RandomSampler": {"seed": "int?"},
    "GridSampler": {"search_space": "dict", "seed": "int?"},
    "CmaEsSampler": {"x0": "dict", "sigma0": "float?", "n_startup_trials": "int",
                     "independent_sampler": "sampler", "warn_independent_sampling": "bool",
                     "seed": "int?", "consider_pruned_trials": "bool", "restart_strategy": "str?",
                     "popsize": "int?", "inc_popsize": "int", "use_separable_cma": "bool",
                     "source_trials": "none"},
    "BruteForceSampler": {"seed": "int?"},
}

PRUNERS: dict[str, dict[str, str]] = {
    "NopPruner": {},
    "PercentilePruner": {"percentile": "float", "n_startup_trials": "int", "n_warmup_steps": "int",
                         "interval_steps": "int", "n_min_trials": "int"},
    "HyperbandPruner": {"min_resource": "int", "max_resource": "auto_int", "reduction_factor": "int",
                        "bootstrap_count": "int"},
    "MedianPruner": {"n_startup_trials": "int", "n_warmup_steps": "int", "interval_steps": "int",
                     "n_min_trials": "int"},
    "PatientPruner": {"pruner": "pruner", "patience": "int", "min_delta": "float"},
    "ThresholdPruner": {"lower": "float?", "upper": "float?", "n_warmup_steps": "int",
                        "interval_steps": "int"},
    "SuccessiveHalvingPruner": {"min_resource": "auto_int", "reduction_factor": "int",
                                "min_early_stopping_rate": "int", "bootstrap_count": "int"},
}

# Values the product uses when the user leaves a parameter out and Optuna's own default differs.
PRUNER_DEFAULTS: dict[str, dict[str, Any]] = {
    "PercentilePruner": {"percentile": 25.0},
    "PatientPruner": {"pruner": "MedianPruner", "patience": 1},
}

MULTI_OBJECTIVE_SAMPLERS = {"NSGAIIMultiObjectiveSampler", "MOTPEMultiObjectiveSampler",
                            "RandomMultiObjectiveSampler", "MOTPESampler"}
SINGLE_OBJECTIVE_SAMPLERS = {"CmaEsSampler"}

PARAM_TYPES: dict[str, dict[str, str]] = {
    "int": {"low": "int", "high": "int", "step": "int", "log": "bool"},
    "float": {"low": "float", "high": "float", "step": "float?", "log": "bool"},
    "uniform": {"low": "float", "high": "float"},
    "loguniform": {"low": "float", "high": "float"},
    "discrete_uniform": {"low": "float", "high": "float", "q": "float"},
    "categorical": {"choices": "list"},
}

DIRECTIONS = ("minimize", "maximize")

# The product's default form (F126).
DEFAULT_FILE: dict[str, Any] = {
    "create_study": {
        "experiment_name": "",
        "sampler": {"type": "RandomMultiObjectiveSampler", "value": {"seed": "None"}},
        "pruner": {"type": "MedianPruner", "value": {"n_startup_trials": "5", "n_warmup_steps": "0",
                                                     "interval_steps": "1", "n_min_trials": "1"}},
        "directions": ["maximize"],
        "metric_name": ["None"],
    },
    "optimize": {"n_trials": "100", "timeout": "None", "n_jobs": "1"},
    "parameter_configs": {"int_0": {"type": "int", "value": {"low": "1", "high": "10", "step": "1",
                                                               "log": "False"}}},
}


@dataclass
class Param:
    """One hyper-parameter, typed. `kind` is the product's type name."""

    name: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    step: float | int | None = None
    log: bool = False
    choices: list[Any] = field(default_factory=list)

    def grid(self) -> list[Any] | None:
        """Every value this parameter can take, or None when it is continuous."""
        if self.kind == "categorical":
            return list(self.choices)
        if self.step is None or self.low is None or self.high is None:
            return None
        n = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
        if self.kind == "int":
            return [int(self.low + i * self.step) for i in range(n)]
        return [round(self.low + i * self.step, 12) for i in range(n)]

    def size(self) -> int | None:
        g = self.grid()
        return None if g is None else len(g)


@dataclass
class StudySpec:
    """A validated auto-tuning setup: everything the job side needs to run the study."""

    experiment_name: str
    sampler: str
    sampler_params: dict[str, Any]
    pruner: str
    pruner_params: dict[str, Any]
    directions: list[str]
    metric_names: list[str]
    n_trials: int
    timeout_min: float | None
    n_jobs: int
    params: list[Param]

    def search_space_size(self) -> int | None:
        """Number of distinct combinations, or None when some parameter is continuous."""
        total = 1
        for p in self.params:
            n = p.size()
            if n is None:
                return None
            total *= n
        return total

    def effective_trials(self) -> int:
        size = self.search_space_size()
        return self.n_trials if size is None else min(self.n_trials, size)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "StudySpec":
        data = dict(data)
        data["params"] = [Param(**p) for p in data["params"]]
        return cls(**data)

    def to_file(self) -> dict[str, Any]:
        """The product's parameter-file JSON for this spec (what the form's editor shows)."""
        def s(v: Any) -> Any:
            if isinstance(v, dict):
                return {k: s(x) for k, x in v.items()}
            if isinstance(v, list):
                return [s(x) for x in v]
            return "None" if v is None else str(v)

        configs = {}
        for p in self.params:
            keys = PARAM_TYPES[p.kind]
            value = {k: s(getattr(p, k if k != "q" else "step")) for k in keys}
            if p.kind == "categorical":
                value = {"choices": list(p.choices)}
            configs[p.name] = {"type": p.kind, "value": value}
        return {"create_study": {"experiment_name": self.experiment_name,
                                 "sampler": {"type": self.sampler, "value": s(self.sampler_params)},
                                 "pruner": {"type": self.pruner, "value": s(self.pruner_params)},
                                 "directions": list(self.directions),
                                 "metric_name": [m or "None" for m in self.metric_names]},
                "optimize": {"n_trials": str(self.n_trials), "timeout": s(self.timeout_min),
                             "n_jobs": str(self.n_jobs)},
                "parameter_configs": configs}


# --- reading the product's JSON -------------------------------------------------------------------

def load_json(text: str, source: str) -> Any:
    """JSON with the position of a syntax error (line and column), like an editor shows it."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(f"malformed JSON: {exc.msg}", source, exc.lineno, exc.colno,
                         fix="fix the JSON syntax at that position (a stray comma, a missing quote "
                             "or brace)") from None


class _Errors:
    """Collects every field error of one input, so a form can show them all at once."""

    def __init__(self) -> None:
        self.items: list[HpcaiError] = []

    def add(self, where: str, message: str, fix: str | None = None) -> None:
        self.items.append(ValidationError(message, field=where, fix=fix))

    def raise_if_any(self) -> None:
        if len(self.items) == 1:
            raise self.items[0]
        if self.items:
            raise ValidationErrors(self.items)


def _none(v: Any) -> bool:
    return v is None or (isinstance(v, str) and v.strip() in ("None", "null", ""))


def convert(value: Any, kind: str, where: str, errors: _Errors) -> Any:
    """One scalar of the product's file ("None", "True", "100" ...) to its Python value."""
    optional = kind.endswith("?")
    base = kind.rstrip("?")
    if base == "none":
        if not _none(value):
            errors.add(where, f"cannot be given in a parameter file (got {value!r})",
                       fix="leave it \"None\"; it needs Python code")
        return None
    if _none(value) and (optional or base in ("sampler", "pruner", "dict", "str")):
        return None
    if base == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
        errors.add(where, f"must be True or False, got {value!r}")
        return None
    if base == "auto_int" and str(value).strip().lower() == "auto":
        return "auto"
    if base in ("int", "auto_int"):
        try:
            f = float(value)
            if f != int(f):
                raise ValueError
            return int(f)
        except (TypeError, ValueError, OverflowError):
            errors.add(where, f"must be a whole number{' or auto' if base == 'auto_int' else ''}, "
                              f"got {value!r}")
            return None
    if base == "float":
        try:
            f = float(value)
            if math.isnan(f):
                raise ValueError
            return f
        except (TypeError, ValueError):
            errors.add(where, f"must be a number, got {value!r}")
            return None
    if base in ("str", "sampler", "pruner"):
        if isinstance(value, dict) and base in ("sampler", "pruner"):
            return value  # nested {"type": ..., "value": {...}}
        return str(value).strip()
    if base == "dict":
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                errors.add(where, f"is not a JSON object: {exc.msg} at column {exc.colno}")
                return None
        if not isinstance(value, dict):
            errors.add(where, f"must be a JSON object, got {value!r}")
            return None
        return value
    if base == "list":
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            errors.add(where, f"must be a list, got {value!r}")
            return None
        return value
    raise AssertionError(f"unknown parameter kind {kind}")


def _algorithm(entry: Any, table: dict[str, dict[str, str]], what: str, where: str,
               errors: _Errors) -> tuple[str | None, dict[str, Any]]:
    if isinstance(entry, str):
        entry = {"type": entry, "value": {}}
    if not isinstance(entry, dict) or "type" not in entry:
        errors.add(where, f"must be an object {{\"type\": ..., \"value\": {{...}}}}, got {entry!r}")
        return None, {}
    name = str(entry["type"]).strip()
    if name not in table:
        errors.add(f"{where}.type", f"unknown {what} '{name}'", fix="choose one of: " + ", ".join(table))
        return None, {}
    raw = entry.get("value") or {}
    if not isinstance(raw, dict):
        errors.add(f"{where}.value", f"must be an object of {what} parameters, got {raw!r}")
        return name, {}
    known = table[name]
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            errors.add(f"{where}.value.{key}", f"{name} has no parameter '{key}'",
                       fix="known parameters: " + (", ".join(known) or "none"))
            continue
        out[key] = convert(value, known[key], f"{where}.value.{key}", errors)
    return name, out


def _check_sampler(name: str, p: dict[str, Any], where: str, errors: _Errors) -> None:
    w = f"{where}.value"
    if p.get("qmc_type") not in (None, "sobol", "halton"):
        errors.add(f"{w}.qmc_type", f"'{p['qmc_type']}' is not a QMC sequence", fix="use sobol or halton")
    if p.get("restart_strategy") not in (None, "ipop", "bipop"):
        errors.add(f"{w}.restart_strategy", f"'{p['restart_strategy']}' is not a restart strategy",
                   fix="use None or ipop")
    for k in ("independent_sampler",):
        v = p.get(k)
        if isinstance(v, str) and v not in SAMPLERS:
            errors.add(f"{w}.{k}", f"unknown sampler '{v}'", fix="choose one of: " + ", ".join(SAMPLERS))
    if name == "CmaEsSampler" and p.get("source_trials") is not None and (
            p.get("x0") or p.get("sigma0") is not None or p.get("use_separable_cma")):
        errors.add(f"{w}.source_trials", "cannot be combined with x0, sigma0 or use_separable_cma")
    for k, lo, hi in (("crossover_prob", 0, 1), ("swapping_prob", 0, 1), ("mutation_prob", 0, 1)):
        v = p.get(k)
        if v is not None and not lo <= v <= hi:
            errors.add(f"{w}.{k}", f"must be between {lo} and {hi}, got {v}")
    for k in ("population_size", "n_startup_trials", "n_ei_candidates", "n_ehvi_candidates"):
        v = p.get(k)
        if v is not None and v < (2 if k == "population_size" else 0):
            errors.add(f"{w}.{k}", f"must be at least {2 if k == 'population_size' else 0}, got {v}")


def _check_pruner(name: str, p: dict[str, Any], where: str, errors: _Errors) -> None:
    w = f"{where}.value"
    if "percentile" in p and p["percentile"] is not None and not 0 <= p["percentile"] <= 100:
        errors.add(f"{w}.percentile", f"must be between 0 and 100, got {p['percentile']}")
    for k in ("n_startup_trials", "n_warmup_steps", "bootstrap_count", "min_early_stopping_rate",
              "patience"):
        if p.get(k) is not None and p[k] < 0:
            errors.add(f"{w}.{k}", f"must be 0 or more, got {p[k]}")
    for k in ("interval_steps", "n_min_trials", "min_resource"):
        if isinstance(p.get(k), int) and p[k] < 1:
            errors.add(f"{w}.{k}", f"must be at least 1, got {p[k]}")
    if isinstance(p.get("max_resource"), int) and p["max_resource"] < 1:
        errors.add(f"{w}.max_resource", f"must be at least 1 or auto, got {p['max_resource']}")
    if p.get("reduction_factor") is not None and p["reduction_factor"] < 2:
        errors.add(f"{w}.reduction_factor", f"must be at least 2, got {p['reduction_factor']}")
    if name == "ThresholdPruner" and p.get("lower") is None and p.get("upper") is None:
        errors.add(w, "ThresholdPruner needs lower or upper", fix="give \"lower\" or \"upper\"")
    if name == "ThresholdPruner" and None not in (p.get("lower"), p.get("upper")) \
            and p["lower"] > p["upper"]:
        errors.add(f"{w}.lower", f"lower {p['lower']} is above upper {p['upper']}")
    if name == "PatientPruner":
        inner = p.get("pruner", "MedianPruner")
        if isinstance(inner, dict):
            iname, iparams = _algorithm(inner, PRUNERS, "pruner", f"{w}.pruner", errors)
            if iname:
                _check_pruner(iname, iparams, f"{w}.pruner", errors)
                p["pruner"] = {"type": iname, "value": iparams}
        elif inner is not None and inner not in PRUNERS:
            errors.add(f"{w}.pruner", f"unknown pruner '{inner}'", fix="choose one of: " + ", ".join(PRUNERS))
        elif inner == "PatientPruner":
            errors.add(f"{w}.pruner", "a PatientPruner cannot wrap another PatientPruner")


def _param(name: str, entry: Any, where: str, errors: _Errors) -> Param | None:
    if not isinstance(entry, dict) or "type" not in entry:
        errors.add(where, f"must be an object {{\"type\": ..., \"value\": {{...}}}}, got {entry!r}")
        return None
    kind = str(entry["type"]).strip()
    if kind not in PARAM_TYPES:
        errors.add(f"{where}.type", f"unknown hyper-parameter type '{kind}'",
                   fix="choose one of: " + ", ".join(PARAM_TYPES))
        return None
    raw = entry.get("value") or {}
    if not isinstance(raw, dict):
        errors.add(f"{where}.value", f"must be an object, got {raw!r}")
        return None
    fields = PARAM_TYPES[kind]
    vals: dict[str, Any] = {}
    n_before = len(errors.items)
    for key, value in raw.items():
        if key not in fields:
            errors.add(f"{where}.value.{key}", f"a {kind} hyper-parameter has no field '{key}'",
                       fix="its fields are: " + ", ".join(fields))
            continue
        vals[key] = convert(value, fields[key], f"{where}.value.{key}", errors)
    for key in fields:
        required = key in ("low", "high", "choices", "q")
        if required and vals.get(key) is None and key not in raw:
            errors.add(f"{where}.value.{key}", "is required")
    if len(errors.items) > n_before:
        return None
    w = f"{where}.value"
    if kind == "categorical":
        if not vals["choices"]:
            errors.add(f"{w}.choices", "is empty", fix="give at least one choice, e.g. [1, 2, 3]")
            return None
        return Param(name, kind, choices=list(vals["choices"]))
    low, high = vals["low"], vals["high"]
    log = bool(vals.get("log", False)) or kind == "loguniform"
    step = vals.get("q") if kind == "discrete_uniform" else vals.get("step")
    if kind == "int" and step is None:
        step = 1
    ok = True
    if low >= high:
        errors.add(f"{w}.low", f"low ({low}) must be below high ({high})", fix="swap them or widen the range")
        ok = False
    if step is not None and step <= 0:
        errors.add(f"{w}.{'q' if kind == 'discrete_uniform' else 'step'}", f"must be above 0, got {step}")
        ok = False
    if log and low <= 0:
        errors.add(f"{w}.low", f"a log scale needs low > 0, got {low}",
                   fix="give a positive low, or switch log off")
        ok = False
    if log and kind == "float" and step is not None:
        errors.add(f"{w}.step", "cannot be combined with log=True", fix="set step to None or log to False")
        ok = False
    if log and kind == "int" and step != 1:
        errors.add(f"{w}.step", f"must be 1 when log=True, got {step}")
        ok = False
    if not ok:
        return None
    return Param(name, kind, low=low, high=high, step=step, log=log)


def _str_list(value: Any, where: str, errors: _Errors) -> list[str]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",")]
    if not isinstance(value, list) or not value:
        errors.add(where, f"must be a non-empty list, got {value!r}")
        return []
    return [str(v).strip() for v in value]


def spec_from_file(data: Any, source: str = "parameter file") -> StudySpec:
    """The product's parameter-file object -> StudySpec. Every problem is reported at once."""
    errors = _Errors()
    if not isinstance(data, dict):
        raise ValidationError(f"{source} must hold a JSON object", field=source)
    unknown = set(data) - {"create_study", "optimize", "parameter_configs"}
    for key in sorted(unknown):
        errors.add(key, "is not a section of the parameter file",
                   fix="the sections are create_study, optimize and parameter_configs")
    cs = data.get("create_study") or {}
    opt = data.get("optimize") or {}
    pcs = data.get("parameter_configs")
    if not isinstance(cs, dict) or not isinstance(opt, dict):
        raise ValidationError("create_study and optimize must be JSON objects", field=source)
    for key in sorted(set(cs) - {"experiment_name", "sampler", "pruner", "directions", "metric_name",
                                 "study_name"}):
        errors.add(f"create_study.{key}", "is not a create_study key",
                   fix="keys: experiment_name, sampler, pruner, directions, metric_name")
    for key in sorted(set(opt) - {"n_trials", "timeout", "n_jobs"}):
        errors.add(f"optimize.{key}", "is not an optimize key", fix="keys: n_trials, timeout, n_jobs")

    sampler, sparams = _algorithm(cs.get("sampler", DEFAULT_FILE["create_study"]["sampler"]),
                                  SAMPLERS, "sampler", "create_study.sampler", errors)
    if sampler:
        _check_sampler(sampler, sparams, "create_study.sampler", errors)
    pruner, pparams = _algorithm(cs.get("pruner", DEFAULT_FILE["create_study"]["pruner"]),
                                 PRUNERS, "pruner", "create_study.pruner", errors)
    if pruner:
        _check_pruner(pruner, pparams, "create_study.pruner", errors)

    directions = [d.lower() for d in _str_list(cs.get("directions", ["maximize"]),
                                                "create_study.directions", errors)]
    for i, d in enumerate(directions):
        if d not in DIRECTIONS:
            errors.add(f"create_study.directions[{i}]", f"'{d}' is not a direction", fix="use minimize or maximize")
    names = _str_list(cs.get("metric_name", ["None"] * max(len(directions), 1)),
                      "create_study.metric_name", errors)
    if directions and names and len(names) != len(directions):
        errors.add("create_study.metric_name",
                   f"{len(names)} callback name(s) for {len(directions)} direction(s)",
                   fix="give one callback (metric) name per optimisation direction, in the same order")
    if sampler in SINGLE_OBJECTIVE_SAMPLERS and len(directions) > 1:
        errors.add("create_study.sampler.type", f"{sampler} optimises one objective only",
                   fix="use NSGAIIMultiObjectiveSampler, TPESampler or RandomSampler for several directions")

    n_trials = convert(opt.get("n_trials", "100"), "int", "optimize.n_trials", errors)
    if n_trials is not None and n_trials < 1:
        errors.add("optimize.n_trials", f"must be at least 1, got {n_trials}")
    timeout = convert(opt.get("timeout", "None"), "float?", "optimize.timeout", errors)
    if timeout is not None and timeout <= 0:
        errors.add("optimize.timeout", f"must be above 0 minutes or None, got {timeout}")
    n_jobs = convert(opt.get("n_jobs", "1"), "int", "optimize.n_jobs", errors)
    if n_jobs is not None and n_jobs < 1:
        errors.add("optimize.n_jobs", f"must be at least 1, got {n_jobs}")

    params: list[Param] = []
    if pcs is None or pcs == {}:
        errors.add("parameter_configs", "defines no hyper-parameter",
                   fix="add at least one, e.g. {\"lr\": {\"type\": \"loguniform\", \"value\": "
                       "{\"low\": \"1e-4\", \"high\": \"0.1\"}}}")
    elif not isinstance(pcs, dict):
        errors.add("parameter_configs", f"must be an object of name -> {{type, value}}, got {pcs!r}")
    else:
        for name, entry in pcs.items():
            if not str(name).isidentifier():
                errors.add(f"parameter_configs.{name}", "is not a valid argument name",
                           fix="use letters, digits and _ (it becomes --NAME of parse_arg)")
                continue
            p = _param(str(name), entry, f"parameter_configs.{name}", errors)
            if p:
                params.append(p)
    if sampler == "GridSampler":
        space = sparams.get("search_space")
        if space:
            missing = [p.name for p in params if p.name not in space]
            if missing:
                errors.add("create_study.sampler.value.search_space",
                           f"has no candidates for {', '.join(missing)}",
                           fix="list candidates for every hyper-parameter, or leave it \"None\"")
            for k, v in space.items():
                if not isinstance(v, list) or not v:
                    errors.add(f"create_study.sampler.value.search_space.{k}", "must be a non-empty list")
        else:
            for p in params:
                if p.grid() is None:
                    errors.add(f"parameter_configs.{p.name}",
                               f"a {p.kind} without a step has no finite grid for GridSampler",
                               fix="give step (or q), use categorical, or give search_space")
    errors.raise_if_any()
    assert sampler and pruner and n_trials and n_jobs
    return StudySpec(
        experiment_name=str(cs.get("experiment_name") or "").strip(), sampler=sampler,
        sampler_params=sparams, pruner=pruner, pruner_params=pparams, directions=directions,
        metric_names=["" if _none(n) else n for n in names], n_trials=n_trials, timeout_min=timeout,
        n_jobs=n_jobs, params=params)


def _field_object(text: Any, where: str, not_object: str) -> dict[str, Any] | str:
    """A form field that holds a JSON object (returned as a dict; empty -> {}) or a short form
    (returned as stripped text for the caller to parse)."""
    if text is None or text == "":
        return {}
    if isinstance(text, dict):
        return text
    text = str(text).strip()
    if not text.startswith("{"):
        return text
    data = load_json(text, where)
    if not isinstance(data, dict):
        raise ValidationError(not_object, field=where)
    return data


def parse_kv(text: Any, where: str) -> dict[str, Any]:
    """Algorithm parameters from a field: a JSON object or `key=value,key=value`."""
    data = _field_object(text, where, "must be a JSON object")
    if isinstance(data, dict):
        return data
    text = data
    out: dict[str, Any] = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        if "=" not in item:
            raise ValidationError(f"'{item}' is not key=value", field=where,
                                  fix="write key=value pairs, e.g. seed=42,n_startup_trials=5, or a JSON object")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def parse_params(text: Any, where: str) -> dict[str, Any]:
    """Hyper-parameters from a field: the file's parameter_configs JSON, or the short form
    `lr=loguniform:1e-4:0.1;units=int:8:64:8;act=categorical:relu|tanh` (`;` between items)."""
    data = _field_object(text, where, "must be a JSON object of name -> {type, value}")
    if isinstance(data, dict):
        return data
    text = data
    out: dict[str, Any] = {}
    for item in filter(None, (s.strip() for s in text.split(";"))):
        name, _, rest = item.partition("=")
        parts = rest.split(":")
        kind = parts[0].strip()
        if not name or kind not in PARAM_TYPES:
            raise ValidationError(f"'{item}' is not NAME=TYPE:...", field=where,
                                  fix="e.g. lr=loguniform:1e-4:0.1;units=int:8:64:8;act=categorical:relu|tanh "
                                      "(types: " + ", ".join(PARAM_TYPES) + ")")
        args = parts[1:]
        if kind == "categorical":
            value: dict[str, Any] = {"choices": [c for c in ":".join(args).split("|") if c != ""]}
        else:
            keys = [k for k in PARAM_TYPES[kind]]
            if len(args) > len(keys):
                raise ValidationError(f"'{item}' has {len(args)} values; a {kind} takes {', '.join(keys)}",
                                      field=where)
            value = dict(zip(keys, args))
        out[name.strip()] = {"type": kind, "value": value}
    return out


def merge_fields(base: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """Lay the form's fields over a parameter file (the product's default form when none)."""
    data = json.loads(json.dumps(base))
    cs, opt = data.setdefault("create_study", {}), data.setdefault("optimize", {})
    if fields.get("experiment"):
        cs["experiment_name"] = fields["experiment"]
    for algo in ("sampler", "pruner"):  # a new algorithm replaces the file's; params alone amend it
        params = parse_kv(fields.get(f"{algo}_params"), f"autotune_{algo}_params")
        if fields.get(algo):
            cs[algo] = {"type": fields[algo], "value": params}
        elif params:
            cs.setdefault(algo, {}).setdefault("value", {}).update(params)
    if fields.get("directions"):
        cs["directions"] = [d.strip() for d in str(fields["directions"]).split(",")]
        if not fields.get("metric_names"):
            cs["metric_name"] = ["None"] * len(cs["directions"])
    if fields.get("metric_names"):
        cs["metric_name"] = [d.strip() for d in str(fields["metric_names"]).split(",")]
    for key, name in (("trials", "n_trials"), ("timeout_min", "timeout"), ("parallelism", "n_jobs")):
        if fields.get(key) is not None:
            opt[name] = str(fields[key])
    if fields.get("params"):
        data["parameter_configs"] = parse_params(fields["params"], "autotune_params")
    return data
