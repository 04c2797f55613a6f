"""Auto-tuning jobs end to end: the CLI submits, the local scheduler runs the study, `hpcai tune
show` reads it back. Real Optuna, real scikit-learn training, real PostgreSQL for shared studies."""

import json
import pathlib

import optuna
import pytest
import sqlalchemy as sa

from tests.helpers import TERMINAL, submit, wait_state, wait_until

pytestmark = pytest.mark.integration

BASE = ("--framework", "pytorch", "--resource-spec", "cpu-1")


def tune_show(cli, jid):
    res = cli("tune", "show", str(jid), "--json")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def log_of(info):
    return pathlib.Path(info["job_dir"], f"output.{info['scheduler_job_id']}.txt").read_text()


def test_tpe_with_median_pruner_prunes_and_reports(cli, tune_project):
    jid = submit(cli, *BASE, "--workdir", str(tune_project), "--autotune", "--autotune-file", "params_tpe.json",
                 "--", "python", "sgd_digits.py", "--epochs", "8")
    info = wait_state(cli, jid, TERMINAL, timeout=180)
    log = log_of(info)
    assert info["state"] == "succeeded", log
    rep = tune_show(cli, jid)
    assert rep["source"] == "study" and rep["directions"] == ["maximize"]
    assert sum(rep["counts"].values()) == 20
    assert rep["counts"]["PRUNED"] >= 1 and rep["counts"]["COMPLETE"] >= 1, rep["counts"]
    best = rep["best"][0]
    complete = [t for t in rep["trials"] if t["state"] == "COMPLETE"]
    assert best["values"]["accuracy"] == max(t["values"]["accuracy"] for t in complete) > 0.85
    assert set(best["params"]) == {"alpha", "eta0", "loss"}
    pruned = [t for t in rep["trials"] if t["state"] == "PRUNED"]
    assert all(t["last_step"] < 7 for t in pruned)  # stopped before the last epoch
    tune_dir = pathlib.Path(info["job_dir"], "tune")
    for plot in ("optimization_history", "param_importances", "intermediate_values"):
        html = (tune_dir / f"{plot}.html").read_text()
        assert "plotly.min.js" in html and "cdn.plot.ly" not in html  # renders offline (FAQ 13)
        assert str(tune_dir / f"{plot}.html") in rep["plots"]
    assert (tune_dir / "plotly.min.js").stat().st_size > 1_000_000
    assert (tune_dir / "trials.csv").read_text().splitlines()[0].startswith("number,state,accuracy,alpha")
    text = cli("tune", "show", str(jid)).stdout
    assert "best: trial" in text and "PRUNED" in text and "COMPLETE" in text


def test_nsga2_two_objectives_gives_a_pareto_front(cli, tune_project):
    jid = submit(cli, *BASE, "--workdir", str(tune_project), "--autotune", "--autotune-file", "params_nsga2.json",
                 "--", "python", "sgd_digits.py")
    info = wait_state(cli, jid, TERMINAL, timeout=180)
    log = log_of(info)
    assert info["state"] == "succeeded", log
    assert "sampler NSGAIIMultiObjectiveSampler -> optuna.samplers.NSGAIISampler(directions=['maximize', " \
           "'minimize'])" in log
    assert "parallelism 2 capped at 1, the cores of this job" in log  # cpu-1 spec: one core
    rep = tune_show(cli, jid)
    assert rep["pareto"] and rep["metric_names"] == ["accuracy", "density"]
    assert rep["counts"] == {"COMPLETE": 12}
    front = rep["best"]
    assert front
    for b in front:  # nobody on the front is dominated by another complete trial
        for t in rep["trials"]:
            v = t["values"]
            assert not (v["accuracy"] >= b["values"]["accuracy"] and v["density"] <= b["values"]["density"]
                        and v != b["values"])
    assert (pathlib.Path(info["job_dir"]) / "tune" / "pareto_front.html").exists()


def test_grid_sampler_stops_at_the_grid_size(cli, tune_project):
    jid = submit(cli, *BASE, "--workdir", str(tune_project), "--autotune", "--autotune-file", "params_grid.json",
                 "--", "python", "sgd_digits.py")
    info = wait_state(cli, jid, TERMINAL, timeout=180)
    log = log_of(info)
    assert info["state"] == "succeeded", log
    assert "n_trials 100 capped at 6, the size of the search space" in log
    rep = tune_show(cli, jid)
    assert rep["counts"] == {"COMPLETE": 6}
    assert sorted((t["params"]["epochs"], t["params"]["loss"]) for t in rep["trials"]) == \
        [(e, loss) for e in (2, 4, 6) for loss in ("hinge", "log_loss")]


def test_fields_instead_of_a_file_and_the_flags_come_from_the_schema(cli, tune_project):
    help_text = cli("submit", "--framework", "pytorch", "--help").stdout
    for flag in ("--autotune", "--autotune-file", "--autotune-sampler", "--autotune-pruner-params",
                 "--autotune-directions", "--autotune-metric-names", "--autotune-trials", "--autotune-timeout-min",
                 "--autotune-parallelism", "--autotune-params", "--autotune-workers"):
        assert flag in help_text
    jid = submit(cli, *BASE, "--workdir", str(tune_project), "--autotune", "--autotune-experiment", "fields",
                 "--autotune-sampler", "RandomSampler", "--autotune-sampler-params", "seed=5",
                 "--autotune-pruner", "NopPruner", "--autotune-trials", "3", "--autotune-metric-names", "acc",
                 "--autotune-params", "alpha=loguniform:1e-5:1e-2;loss=categorical:hinge|log_loss",
                 "--", "python", "sgd_digits.py", "--epochs", "2")
    info = wait_state(cli, jid, TERMINAL, timeout=120)
    assert info["state"] == "succeeded", log_of(info)
    rep = tune_show(cli, jid)
    assert rep["counts"] == {"COMPLETE": 3} and rep["metric_names"] == ["acc"]


# --- bad input: refused before anything runs (exit 2, the field and the fix) -----------------------
# Every case of the issue is a unit test in test_spec.py; these go through the real CLI.

@pytest.mark.parametrize("args, field, words", [
    (("--autotune-experiment", "e", "--autotune-sampler", "Annealing", "--autotune-params", "a=int:1:3"),
     "autotune_sampler", "'Annealing' is not allowed"),
    (("--autotune-experiment", "e", "--autotune-sampler", "TPESampler", "--autotune-sampler-params", "n_ei=3",
      "--autotune-params", "a=int:1:3"), "autotune_sampler_params", "TPESampler has no parameter 'n_ei'"),
    (("--autotune-experiment", "e", "--autotune-params", "a=float:0:1::True"), "autotune_params", "low > 0"),
    (("--autotune-experiment", "e", "--autotune-directions", "maximize,minimize", "--autotune-metric-names", "acc",
      "--autotune-params", "a=int:1:3"), "autotune_metric_names", "1 callback name(s) for 2 direction(s)"),
    (("--autotune-params", "a=int:1:3"), "autotune_experiment", "is required"),
    (("--autotune-experiment", "e", "--autotune-params", "a=int:1:3", "--autotune-workers", "2"),
     "autotune_workers", "need a shared study in PostgreSQL"),
])
def test_bad_input_is_refused_at_submit(cli, tune_project, args, field, words):
    res = cli("submit", *BASE, "--workdir", str(tune_project), "--autotune", *args,
              "--", "python", "sgd_digits.py")
    assert res.returncode == 2, res.stdout + res.stderr
    assert f"{field}: " in res.stderr and words in res.stderr, res.stderr
    assert "Traceback" not in res.stderr
    assert "submitted" not in res.stdout


def test_malformed_parameter_file_names_line_and_column(cli, tune_project):
    text = (tune_project / "params_tpe.json").read_text().replace('"directions": ["maximize"],',
                                                                  '"directions": ["maximize"]')
    (tune_project / "broken.json").write_text(text)
    res = cli("submit", *BASE, "--workdir", str(tune_project), "--autotune", "--autotune-file", "broken.json",
              "--", "python", "sgd_digits.py")
    assert res.returncode == 2
    assert f"{tune_project / 'broken.json'}:13:5: malformed JSON: Expecting ',' delimiter" in res.stderr, res.stderr


def test_command_must_be_a_python_script(cli, tune_project):
    res = cli("submit", *BASE, "--workdir", str(tune_project), "--autotune", "--autotune-file", "params_tpe.json",
              "--", "bash", "run.sh")
    assert res.returncode == 2 and "command: auto-tuning runs a Python script" in res.stderr


@pytest.mark.parametrize("body, words", [
    ("def main(args):\n    return 1.0\n", "defines no parse_arg()"),
    ("import argparse\ndef parse_arg(args=None):\n    p = argparse.ArgumentParser()\n"
     "    p.add_argument('--alpha', type=float)\n    return p.parse_args(args)\n"
     "def main(args):\n    return 1.0\n", "parse_arg declares no --trial argument"),
    ("import argparse\ndef parse_arg(args=None):\n    p = argparse.ArgumentParser()\n"
     "    p.add_argument('--trial', type=object)\n    return p.parse_args(args)\n"
     "def main(args):\n    return 1.0\n", "unrecognized arguments: --alpha"),
    ("import argparse\ndef parse_arg(args=None):\n    p = argparse.ArgumentParser()\n"
     "    p.add_argument('--alpha', type=float)\n    p.add_argument('--trial', type=object)\n"
     "    return p.parse_args(args)\ndef main(args):\n    return 0.5, 0.25\n",
     "main(args) returned 2 value(s) but the study has 1 direction(s)"),
])
def test_scripts_breaking_the_contract_fail_with_a_clear_message(cli, tune_project, body, words):
    (tune_project / "bad.py").write_text(body)
    jid = submit(cli, *BASE, "--workdir", str(tune_project), "--autotune", "--autotune-experiment", "bad",
                 "--autotune-params", "alpha=uniform:0:1", "--autotune-trials", "5", "--", "python", "bad.py")
    info = wait_state(cli, jid, TERMINAL, timeout=120)
    log = log_of(info)
    assert info["state"] == "failed" and info["exit_code"] == 2, log
    assert words in log, log
    if "returned 2" in words:  # the first trial failed, and the study stopped there
        assert "Trial 0 failed" in log and "Trial 1 " not in log


# --- distributed: K scheduler jobs, one study in PostgreSQL ------------------------------------------

def test_two_worker_jobs_share_one_study_in_postgresql(cli, fresh_pg_url, tune_project):
    env = {"HPCAI_DB_URL": fresh_pg_url, "HPCAI_TUNE_STORAGE": fresh_pg_url}
    res = cli("submit", "--json", *BASE, "--workdir", str(tune_project), "--autotune", "--autotune-file",
              "params_tpe.json", "--autotune-trials", "10", "--autotune-workers", "2", "--",
              "python", "sgd_digits.py", "--epochs", "4", env=env)
    assert res.returncode == 0, res.stderr
    first = json.loads(res.stdout)["id"]
    jobs = json.loads(cli("jobs", "--json", env=env).stdout)["jobs"]
    assert sorted(j["name"] for j in jobs) == ["pytorch", "pytorch[1]"]
    infos = [wait_state(lambda *a, **k: cli(*a, env=env, **k), j["id"], TERMINAL, timeout=180) for j in jobs]
    assert all(i["state"] == "succeeded" for i in infos), [log_of(i) for i in infos]
    logs = [log_of(i) for i in infos]
    assert any("worker 1 of 2" in x for x in logs) and any("worker 2 of 2" in x for x in logs)
    assert any("seed 7 + worker index 1 = 8" in x for x in logs)
    rep = json.loads(cli("tune", "show", str(first), "--json", env=env).stdout)
    total = sum(rep["counts"].values())
    # Workers stop once the study holds 10 trials; two that decide at the same moment may each
    # start one more (the race of Optuna's own MaxTrialsCallback): at most K-1 = 1 extra.
    assert rep["source"] == "study" and 10 <= total <= 11, rep["counts"]
    # both jobs ran trials of the same study
    ran = [sum(1 for line in x.splitlines() if "Trial " in line and ("finished" in line or "pruned" in line))
           for x in logs]
    assert all(n >= 1 for n in ran) and sum(ran) == total, ran
    # Optuna's tables live in their own schema, hpcai's stay where they were
    engine = sa.create_engine(fresh_pg_url)
    try:
        tables = sa.inspect(engine)
        assert "trials" in tables.get_table_names(schema="optuna")
        assert "jobs" in tables.get_table_names(schema="public")
        assert "trials" not in tables.get_table_names(schema="public")
    finally:
        engine.dispose()


SLOW_ON_WORKER_1 = '''
import argparse, os, sys, time
import optuna

def parse_arg(args=None):
    p = argparse.ArgumentParser()
    p.add_argument("--x", type=float)
    p.add_argument("--trial", type=object, default=optuna.trial._trial.Trial)
    return p.parse_args(args)

def main(args):
    if os.environ.get("HPCAI_ARRAY_INDEX") == "1" and not os.path.exists("killed-once"):
        open("killed-once", "w").close()
        print("WORKER1-STUCK trial", args.trial.number, flush=True)
        time.sleep(600)  # this job gets killed here
    time.sleep(0.4)
    return (args.x - 0.3) ** 2
'''


def test_a_trial_whose_job_died_is_retried_by_another_worker(cli, fresh_pg_url, tune_project):
    (tune_project / "slow.py").write_text(SLOW_ON_WORKER_1)
    env = {"HPCAI_DB_URL": fresh_pg_url, "HPCAI_TUNE_STORAGE": fresh_pg_url, "HPCAI_TUNE_HEARTBEAT": "1",
           "HPCAI_TUNE_GRACE": "3"}
    c = lambda *a, **k: cli(*a, env=env, **k)  # noqa: E731
    res = c("submit", "--json", *BASE, "--workdir", str(tune_project), "--autotune", "--autotune-experiment", "hb",
            "--autotune-sampler", "RandomSampler", "--autotune-pruner", "NopPruner", "--autotune-directions",
            "minimize", "--autotune-params", "x=uniform:0:1", "--autotune-trials", "16", "--autotune-workers", "2",
            "--", "python", "slow.py")
    assert res.returncode == 0, res.stderr
    first = json.loads(res.stdout)["id"]
    second = first + 1
    info2 = wait_state(c, second, {"running"}, timeout=60)
    out2 = pathlib.Path(info2["job_dir"], f"output.{info2['scheduler_job_id']}.txt")
    wait_until(lambda: out2.exists() and "WORKER1-STUCK" in out2.read_text(), timeout=90,
               what="worker 2 is inside its trial")
    stuck = int(out2.read_text().split("WORKER1-STUCK trial ")[1].split()[0])
    # The budget counts running trials: the first worker reaches it while the stuck trial still
    # runs, and must stay until that trial ends or goes stale (else it stays RUNNING for ever).
    info1 = wait_state(c, first, {"running"}, timeout=60)
    out1 = pathlib.Path(info1["job_dir"], f"output.{info1['scheduler_job_id']}.txt")
    wait_until(lambda: out1.exists() and "waiting for 1 trial(s) of other workers" in out1.read_text(),
               timeout=180, what="worker 1 used up the budget and waits for the stuck trial")
    assert c("kill", str(second)).returncode == 0
    info1 = wait_state(c, first, TERMINAL, timeout=180)
    assert info1["state"] == "succeeded", log_of(info1)
    rep = json.loads(c("tune", "show", str(first), "--json").stdout)
    by_number = {t["number"]: t for t in rep["trials"]}
    assert by_number[stuck]["state"] == "FAIL"  # its heartbeat stopped with the job
    retries = [t for t in rep["trials"] if t["retry_of"] == stuck]
    assert len(retries) == 1 and retries[0]["state"] == "COMPLETE"
    assert retries[0]["params"] == by_number[stuck]["params"]  # the same point, run again
    study = optuna.load_study(study_name=rep["study"], storage=optuna.storages.RDBStorage(
        fresh_pg_url, engine_kwargs={"connect_args": {"options": "-csearch_path=optuna"}}))
    assert len([t for t in study.trials if t.state.name == "COMPLETE"]) >= 14


@pytest.mark.slow
def test_the_products_tensorflow_example_runs_on_keras(cli, tune_project):
    """Spec 03 §5.3's script (tf.keras, TFKerasPruningCallback from libaiflow.intergration) on
    Keras 3 with the torch backend and small synthetic data; the Keras pruning callback prunes."""
    jid = submit(cli, *BASE, "--workdir", str(tune_project), "--no-tracking", "--env", "TF_MNIST_EPOCHS=2",
                 "--autotune", "--autotune-file", "params_tf_mnist.json", "--autotune-trials", "3",
                 "--", "python", "tf_mnist.py")
    info = wait_state(cli, jid, TERMINAL, timeout=300)
    assert info["state"] == "succeeded", log_of(info)
    rep = tune_show(cli, jid)
    assert sum(rep["counts"].values()) == 3 and rep["counts"].get("COMPLETE", 0) >= 1
    assert all(t["last_step"] is not None for t in rep["trials"])  # the callback reported every epoch
    assert (tune_project / "model").is_dir()  # the script's own checkpoints, in the project directory
