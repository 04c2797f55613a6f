"""The product's parameter file and every sampler/pruner name, checked and built for real.

Samplers and pruners are real Optuna 5 objects; no Optuna behaviour is faked.
"""

import json
import pathlib

import optuna
import pytest

from core.errors import ParseError, ValidationError, ValidationErrors
from plugins.options.autotune import AutoTune
from plugins.options.autotune.spec import DEFAULT_FILE, PRUNERS, SAMPLERS, load_json, spec_from_file
from plugins.options.autotune.tuner import (Notes, build_pruner, build_sampler, distribution, distribution_notes,
                                            suggest)

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples" / "autotune"

# The exact file of spec 03 §5.2 (experiment name filled in: the form requires one).
PRODUCT_FILE = """{
  "create_study": {
    "experiment_name": "mnist",
    "sampler": {
      "type": "RandomMultiObjectiveSampler",
      "value": { "seed": "None" }
    },
    "pruner": {
      "type": "MedianPruner",
      "value": {
        "n_startup_trials": "5",
        "n_warmup_steps": "0",
        "interval_steps": "1",
        "n_min_trials": "1"
      }
    },
    "directions": ["maximize"],
    "metric_name": ["None"]
  },
  "optimize": {
    "n_trials": "100",
    "timeout": "None",
    "n_jobs": "1"
  },
  "parameter_configs": {
    "int_0": {
      "type": "int",
      "value": { "low": "1", "high": "10", "step": "1", "log": "False" }
    }
  }
}"""

# Every parameter of spec 12 §D.1/D.2 with a legal value, as strings like the product writes them.
SAMPLER_VALUES = {
    "RandomMultiObjectiveSampler": {"seed": "1"},
    "NSGAIIMultiObjectiveSampler": {"population_size": "10", "mutation_prob": "None", "crossover_prob": "0.9",
                                    "swapping_prob": "0.5", "seed": "1"},
    "MOTPEMultiObjectiveSampler": {"consider_prior": "True", "prior_weight": "1.0", "consider_magic_clip": "True",
                                   "consider_endpoints": "False", "n_startup_trials": "10",
                                   "n_ehvi_candidates": "24", "seed": "1"},
    "TPESampler": {"consider_prior": "True", "prior_weight": "1.0", "consider_magic_clip": "True",
                   "consider_endpoints": "False", "n_startup_trials": "10", "n_ei_candidates": "24", "seed": "1",
                   "multivariate": "False", "group": "False", "warn_independent_sampling": "True",
                   "constant_liar": "False", "constraints_func": "None"},
    "QMCSampler": {"qmc_type": "halton", "scramble": "True", "seed": "1", "independent_sampler": "RandomSampler",
                   "warn_asynchronous_seeding": "True", "warn_independent_sampling": "True"},
    "MOTPESampler": {"consider_prior": "True", "prior_weight": "1.0", "consider_magic_clip": "True",
                     "consider_endpoints": "False", "n_startup_trials": "10", "n_ehvi_candidates": "24",
                     "seed": "1"},
    "RandomSampler": {"seed": "1"},
    "GridSampler": {"search_space": "None", "seed": "1"},
    "CmaEsSampler": {"x0": "None", "sigma0": "None", "n_startup_trials": "1", "independent_sampler": "None",
                     "warn_independent_sampling": "True", "seed": "1", "consider_pruned_trials": "False",
                     "restart_strategy": "None", "popsize": "None", "inc_popsize": "2",
                     "use_separable_cma": "False", "source_trials": "None"},
    "BruteForceSampler": {"seed": "1"},
}
PRUNER_VALUES = {
    "NopPruner": {},
    "PercentilePruner": {"percentile": "25", "n_startup_trials": "5", "n_warmup_steps": "0", "interval_steps": "1"},
    "HyperbandPruner": {"min_resource": "1", "max_resource": "auto", "reduction_factor": "3", "bootstrap_count": "0"},
    "MedianPruner": {"n_startup_trials": "5", "n_warmup_steps": "0", "interval_steps": "1", "n_min_trials": "1"},
    "PatientPruner": {"pruner": "MedianPruner", "patience": "1"},
    "ThresholdPruner": {"lower": "None", "upper": "0.5", "n_warmup_steps": "0", "interval_steps": "1"},
    "SuccessiveHalvingPruner": {"min_resource": "auto", "reduction_factor": "4", "min_early_stopping_rate": "0",
                                "bootstrap_count": "0"},
}
OPTUNA_SAMPLER = {"RandomMultiObjectiveSampler": "RandomSampler", "NSGAIIMultiObjectiveSampler": "NSGAIISampler",
                  "MOTPEMultiObjectiveSampler": "TPESampler", "MOTPESampler": "TPESampler"}


def with_(sampler=None, pruner=None, params=None, **create):
    data = json.loads(PRODUCT_FILE)
    if sampler:
        data["create_study"]["sampler"] = {"type": sampler[0], "value": sampler[1]}
    if pruner:
        data["create_study"]["pruner"] = {"type": pruner[0], "value": pruner[1]}
    if params is not None:
        data["parameter_configs"] = params
    data["create_study"].update(create)
    return data


def test_the_product_file_loads_with_its_string_values():
    spec = spec_from_file(load_json(PRODUCT_FILE, "params.json"))
    assert (spec.sampler, spec.sampler_params) == ("RandomMultiObjectiveSampler", {"seed": None})
    assert spec.pruner_params == {"n_startup_trials": 5, "n_warmup_steps": 0, "interval_steps": 1, "n_min_trials": 1}
    assert (spec.directions, spec.metric_names, spec.n_trials, spec.timeout_min, spec.n_jobs) == \
        (["maximize"], [""], 100, None, 1)
    p = spec.params[0]
    assert (p.name, p.kind, p.low, p.high, p.step, p.log) == ("int_0", "int", 1, 10, 1, False)
    # int 1..10 step 1: 10 combinations, so 10 trials run instead of 100 (F121)
    assert spec.search_space_size() == 10 and spec.effective_trials() == 10
    # and the form can show the loaded file again (same meaning, string-typed)
    assert spec_from_file(spec.to_file()) == spec


def test_the_default_form_is_the_products():
    spec = spec_from_file(DEFAULT_FILE)
    assert spec.sampler == "RandomMultiObjectiveSampler" and spec.pruner == "MedianPruner"
    assert spec.params[0].name == "int_0"


def test_malformed_json_names_line_and_column():
    # the manual's second rendering: a stray comma after metric_name
    text = PRODUCT_FILE.replace('"metric_name": ["None"]\n', '"metric_name": ["None"],\n')
    with pytest.raises(ParseError) as e:
        load_json(text, "params.json")
    assert (e.value.line, e.value.column) == (19, 3)  # the "}" after the stray comma
    assert e.value.field == "params.json:19:3" and "malformed JSON" in e.value.message


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_every_sampler_with_all_its_parameters(name):
    directions = ["maximize", "minimize"] if name in ("NSGAIIMultiObjectiveSampler", "MOTPEMultiObjectiveSampler",
                                                       "RandomMultiObjectiveSampler", "MOTPESampler") else ["maximize"]
    spec = spec_from_file(with_(sampler=(name, SAMPLER_VALUES[name]), pruner=("NopPruner", {}),
                                directions=directions, metric_name=["a", "b"][:len(directions)]))
    notes = Notes()
    sampler = build_sampler(spec, notes)
    assert type(sampler).__name__ == OPTUNA_SAMPLER.get(name, name)
    if name in OPTUNA_SAMPLER:
        assert any(f"sampler {name} -> optuna.samplers.{OPTUNA_SAMPLER[name]}" in n for n in notes)
    # the sampler really drives a study over the product's int_0
    study = optuna.create_study(sampler=sampler, directions=directions)
    study.optimize(lambda t: [float(suggest(t, spec.params[0]))] * len(directions)
                   if len(directions) > 1 else float(suggest(t, spec.params[0])), n_trials=3)
    assert len(study.trials) == 3 and all(1 <= t.params["int_0"] <= 10 for t in study.trials)


def test_old_motpe_parameter_is_renamed():
    spec = spec_from_file(with_(sampler=("MOTPESampler", {"n_ehvi_candidates": "12"})))
    notes = Notes()
    assert build_sampler(spec, notes)._n_ei_candidates == 12
    assert any("n_ehvi_candidates -> n_ei_candidates" in n for n in notes)


@pytest.mark.parametrize("name", list(PRUNERS))
def test_every_pruner_with_all_its_parameters(name):
    spec = spec_from_file(with_(pruner=(name, PRUNER_VALUES[name])))
    pruner = build_pruner(spec, Notes())
    assert type(pruner).__name__ == name
    study = optuna.create_study(pruner=pruner, direction="maximize")

    def objective(trial):
        for step in range(4):
            trial.report(float(trial.number), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return float(trial.number)

    study.optimize(objective, n_trials=4)
    assert len(study.trials) == 4


def test_patient_pruner_wraps_the_named_pruner():
    spec = spec_from_file(with_(pruner=("PatientPruner", {"pruner": "PercentilePruner", "patience": "2"})))
    pruner = build_pruner(spec, Notes())
    assert type(pruner._wrapped_pruner).__name__ == "PercentilePruner" and pruner._patience == 2


def test_pruning_is_off_for_several_directions_and_the_log_says_so():
    spec = spec_from_file(with_(directions=["maximize", "minimize"], metric_name=["acc", "size"]))
    notes = Notes()
    assert type(build_pruner(spec, notes)).__name__ == "NopPruner"
    assert any("multi-objective" in n for n in notes)


def test_old_distribution_types_map_to_todays_suggest_api():
    params = {"a": {"type": "int", "value": {"low": "1", "high": "64", "step": "1", "log": "True"}},
              "b": {"type": "float", "value": {"low": "0", "high": "1", "step": "0.25", "log": "False"}},
              "c": {"type": "uniform", "value": {"low": "-1", "high": "1"}},
              "d": {"type": "loguniform", "value": {"low": "1e-5", "high": "1e-1"}},
              "e": {"type": "discrete_uniform", "value": {"low": "0", "high": "1", "q": "0.5"}},
              "f": {"type": "categorical", "value": {"choices": [1, "x", 2.5]}}}
    spec = spec_from_file(with_(params=params))
    d = {p.name: distribution(p) for p in spec.params}
    assert (d["a"].low, d["a"].high, d["a"].log, d["a"].step) == (1, 64, True, 1)
    assert (d["b"].step, d["b"].log) == (0.25, False)
    assert (d["c"].low, d["c"].high, d["c"].log, d["c"].step) == (-1.0, 1.0, False, None)
    assert (d["d"].log, d["d"].low) == (True, 1e-5)
    assert d["e"].step == 0.5
    assert d["f"].choices == (1, "x", 2.5)
    assert spec.search_space_size() is None  # c and d are continuous: no cap
    notes = distribution_notes(spec)
    assert "d: loguniform -> suggest_float(1e-05, 0.1, log=True)" in notes
    assert "e: discrete_uniform -> suggest_float(0.0, 1.0, step=0.5)" in notes
    study = optuna.create_study()
    study.optimize(lambda t: sum(0.0 if isinstance(v, str) else float(v) for v in
                                 [suggest(t, p) for p in spec.params]), n_trials=5)
    for t in study.trials:
        assert t.distributions == d


def test_finite_space_caps_the_trials():
    params = {"e": {"type": "discrete_uniform", "value": {"low": "0", "high": "1", "q": "0.25"}},
              "f": {"type": "categorical", "value": {"choices": ["a", "b"]}}}
    spec = spec_from_file(with_(params=params))
    assert spec.search_space_size() == 10 and spec.effective_trials() == 10


# --- bad input: each a clear error naming the place and the fix ---------------------------------

def errors_of(data):
    with pytest.raises(ValidationError) as e:
        spec_from_file(data)
    errs = e.value.errors if isinstance(e.value, ValidationErrors) else [e.value]
    return {err.field: err for err in errs}


def test_unknown_sampler_and_pruner():
    errs = errors_of(with_(sampler=("SimulatedAnnealing", {}), pruner=("WilcoxPruner", {})))
    assert "unknown sampler 'SimulatedAnnealing'" in errs["create_study.sampler.type"].message
    assert "TPESampler" in errs["create_study.sampler.type"].fix
    assert "unknown pruner 'WilcoxPruner'" in errs["create_study.pruner.type"].message


def test_unknown_parameter_of_a_sampler_and_of_a_pruner():
    errs = errors_of(with_(sampler=("TPESampler", {"n_ei_candidate": "24"}),
                           pruner=("MedianPruner", {"patience": "3"})))
    e = errs["create_study.sampler.value.n_ei_candidate"]
    assert "TPESampler has no parameter 'n_ei_candidate'" in e.message and "n_ei_candidates" in e.fix
    assert "MedianPruner has no parameter 'patience'" in errs["create_study.pruner.value.patience"].message


@pytest.mark.parametrize("entry, where, words", [
    ({"type": "int", "value": {"low": "10", "high": "1"}}, "low", "must be below high"),
    ({"type": "float", "value": {"low": "0.5", "high": "0.5"}}, "low", "must be below high"),
    ({"type": "int", "value": {"low": "1", "high": "10", "step": "0"}}, "step", "must be above 0"),
    ({"type": "float", "value": {"low": "0", "high": "1", "step": "-0.1"}}, "step", "must be above 0"),
    ({"type": "discrete_uniform", "value": {"low": "0", "high": "1", "q": "0"}}, "q", "must be above 0"),
    ({"type": "loguniform", "value": {"low": "0", "high": "1"}}, "low", "log scale needs low > 0"),
    ({"type": "float", "value": {"low": "-1", "high": "1", "log": "True"}}, "low", "log scale needs low > 0"),
    ({"type": "categorical", "value": {"choices": []}}, "choices", "is empty"),
    ({"type": "int", "value": {"low": "one", "high": "10"}}, "low", "must be a whole number"),
    ({"type": "int", "value": {"low": "1", "high": "10", "log": "maybe"}}, "log", "must be True or False"),
    ({"type": "gaussian", "value": {}}, None, "unknown hyper-parameter type 'gaussian'"),
])
def test_bad_hyper_parameters(entry, where, words):
    errs = errors_of(with_(params={"lr": entry}))
    field = f"parameter_configs.lr.value.{where}" if where else "parameter_configs.lr.type"
    assert field in errs, errs
    assert words in errs[field].message


def test_directions_and_callback_names_of_different_counts():
    errs = errors_of(with_(directions=["maximize", "minimize"], metric_name=["accuracy"]))
    e = errs["create_study.metric_name"]
    assert "1 callback name(s) for 2 direction(s)" in e.message and "one callback" in e.fix


def test_bad_direction_and_optimize_values():
    data = with_(directions=["maximise"])
    data["optimize"] = {"n_trials": "0", "timeout": "-3", "n_jobs": "two"}
    errs = errors_of(data)
    assert "'maximise' is not a direction" in errs["create_study.directions[0]"].message
    assert "must be at least 1" in errs["optimize.n_trials"].message
    assert "above 0 minutes" in errs["optimize.timeout"].message
    assert "whole number" in errs["optimize.n_jobs"].message


def test_sampler_parameter_ranges_and_exclusions():
    errs = errors_of(with_(sampler=("CmaEsSampler", {"x0": '{"int_0": 3}', "source_trials": "[]"})))
    assert "cannot be given in a parameter file" in errs["create_study.sampler.value.source_trials"].message
    errs = errors_of(with_(sampler=("QMCSampler", {"qmc_type": "lattice"})))
    assert "sobol or halton" in errs["create_study.sampler.value.qmc_type"].fix
    errs = errors_of(with_(pruner=("PercentilePruner", {"percentile": "150", "interval_steps": "0"})))
    assert "between 0 and 100" in errs["create_study.pruner.value.percentile"].message
    assert "at least 1" in errs["create_study.pruner.value.interval_steps"].message
    errs = errors_of(with_(pruner=("ThresholdPruner", {})))
    assert "needs lower or upper" in errs["create_study.pruner.value"].message
    errs = errors_of(with_(sampler=("CmaEsSampler", {}), directions=["maximize", "minimize"],
                           metric_name=["a", "b"]))
    assert "one objective only" in errs["create_study.sampler.type"].message


def test_grid_needs_a_finite_grid():
    params = {"lr": {"type": "uniform", "value": {"low": "0", "high": "1"}}}
    errs = errors_of(with_(sampler=("GridSampler", {}), params=params))
    assert "no finite grid" in errs["parameter_configs.lr"].message


def test_fields_map_errors_to_form_fields_and_file_errors_to_the_file(tmp_path):
    opt = AutoTune()
    base = {"autotune": True, "autotune_experiment": "e1", "autotune_params": "lr=loguniform:1e-4:0.1"}
    with pytest.raises(ValidationError) as e:
        opt.study_spec({**base, "autotune_sampler": "TPESampler", "autotune_sampler_params": "n_ei=3"})
    assert e.value.field == "autotune_sampler_params" and "has no parameter 'n_ei'" in e.value.message
    with pytest.raises(ValidationError) as e:
        opt.study_spec({**base, "autotune_params": "lr=loguniform:0:0.1"})
    assert e.value.field == "autotune_params" and "low > 0" in e.value.message
    with pytest.raises(ValidationError) as e:
        opt.study_spec({**base, "autotune_directions": "maximize,minimize", "autotune_metric_names": "acc"})
    assert e.value.field == "autotune_metric_names"
    with pytest.raises(ValidationError) as e:
        opt.study_spec({"autotune": True, "autotune_params": "lr=uniform:0:1"})
    assert e.value.field == "autotune_experiment" and "required" in e.value.message
    bad = tmp_path / "p.json"
    bad.write_text(PRODUCT_FILE.replace('"high": "10"', '"high": "0"'))
    with pytest.raises(ValidationError) as e:
        opt.study_spec({"autotune": True, "autotune_file": str(bad)})
    assert e.value.field == "autotune_file" and "parameter_configs.int_0.value.low" in e.value.message
    # a field given with the file overrides it
    spec = opt.study_spec({"autotune": True, "autotune_file": str(EXAMPLES / "params_tpe.json"),
                           "autotune_trials": 7, "autotune_pruner": "NopPruner"})
    assert (spec.n_trials, spec.pruner, spec.sampler) == (7, "NopPruner", "TPESampler")


def test_short_parameter_syntax():
    spec = AutoTune().study_spec({"autotune": True, "autotune_experiment": "x", "autotune_params":
                                  "lr=loguniform:1e-4:0.1;units=int:8:64:8;act=categorical:relu|tanh"})
    assert [(p.name, p.kind) for p in spec.params] == [("lr", "loguniform"), ("units", "int"), ("act", "categorical")]
    assert spec.params[1].grid() == [8, 16, 24, 32, 40, 48, 56, 64]
    assert spec.params[2].choices == ["relu", "tanh"]


def test_the_examples_are_valid():
    for f in EXAMPLES.glob("params_*.json"):
        spec_from_file(load_json(f.read_text(), f.name))


def test_the_form_editor_sends_the_files_text_itself():
    """The portal's "Parameter file" editor posts the JSON text (loaded from a file, then edited)."""
    opt = AutoTune()
    spec = opt.study_spec({"autotune": True, "autotune_file": PRODUCT_FILE})
    assert spec.experiment_name == "mnist" and spec.sampler == "RandomMultiObjectiveSampler"
    text = PRODUCT_FILE.replace('"metric_name": ["None"]\n', '"metric_name": ["None"],\n')
    with pytest.raises(ValidationError) as e:
        opt.study_spec({"autotune": True, "autotune_file": text})
    assert e.value.field == "autotune_file" and e.value.message.startswith("line 19, column 3: malformed JSON")
    with pytest.raises(ValidationError) as e:
        opt.study_spec({"autotune": True, "autotune_file": PRODUCT_FILE.replace('"low": "1"', '"low": "11"')})
    assert e.value.field == "autotune_file" and "parameter_configs.int_0.value.low" in e.value.message
    # the editor's content and the fields combine as with a file on disk
    spec = opt.study_spec({"autotune": True, "autotune_file": PRODUCT_FILE, "autotune_trials": 3})
    assert spec.n_trials == 3 and spec.effective_trials() == 3


def test_the_report_view_is_generic_blocks(tmp_path):
    from plugins.options.autotune.results import view

    job_dir = tmp_path / "job"
    summary = {"study": "s-1", "directions": ["maximize"], "metric_names": ["accuracy"], "pareto": False,
               "counts": {"COMPLETE": 1, "PRUNED": 1, "FAIL": 1}, "source": "study", "notes": ["n1"],
               "best": [{"number": 0, "values": {"accuracy": 0.9123456789}, "params": {"lr": 0.01}}],
               "trials": [{"number": 0, "state": "COMPLETE", "values": {"accuracy": 0.9123456789},
                           "params": {"lr": 0.01}, "duration_s": 1.5, "last_step": 7, "retry_of": None},
                          {"number": 1, "state": "PRUNED", "values": {}, "params": {"lr": 0.5},
                           "duration_s": 0.5, "last_step": 2, "retry_of": None},
                          {"number": 2, "state": "FAIL", "values": {}, "params": {"lr": 0.1}, "duration_s": 0.1,
                           "last_step": None, "retry_of": None,
                           "fail_reason": "Traceback ...\nValueError: bad loss 'log'"}],
               "plots": [str(job_dir / "tune" / f"{n}.html") for n in
                         ("intermediate_values", "param_importances", "optimization_history")]}
    blocks = view(summary, job_dir)
    assert [(b["kind"], b["title"]) for b in blocks] == [("fields", "Study"), ("table", "Best trial"),
                                                          ("table", "Trials"), ("pages", "Plots")]
    assert ["Trials", "complete 1, fail 1, pruned 1"] in blocks[0]["items"] and ["Mapping", "n1"] in blocks[0]["items"]
    assert blocks[1]["rows"] == [[0, "0.912346", "0.01"]]
    assert blocks[2]["columns"][-1] == "why it failed"
    assert [r[1] for r in blocks[2]["rows"]] == ["COMPLETE", "PRUNED", "FAIL"]
    assert blocks[2]["rows"][2][-1] == "ValueError: bad loss 'log'"
    assert blocks[2]["rows"][0][4:6] == ["1.5", 7]
    assert [f["title"] for f in blocks[3]["files"]] == ["Optimisation history", "Parameter importances",
                                                         "Intermediate values"]
    assert [f["path"] for f in blocks[3]["files"]] == ["tune/optimization_history.html", "tune/param_importances.html",
                                                        "tune/intermediate_values.html"]
