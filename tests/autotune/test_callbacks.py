"""The pruning callbacks under both spellings of the package, with real Optuna trials."""

import importlib
import types

import optuna
import pytest

NAMES = ["KerasPruningCallback", "TFKerasPruningCallback", "TensorFlowPruningHook", "MXNetPruningCallback",
         "PaddlePruningCallback", "TorchDistributedTrial", "PyTorchLightningPruningCallback", "OptunaSearchCV"]


@pytest.mark.parametrize("name", NAMES)
def test_both_spellings_export_the_same_objects(name):
    right = importlib.import_module("libaiflow.integration.callback")
    product = importlib.import_module("libaiflow.intergration.callback")
    assert getattr(right, name) is getattr(product, name)
    assert name in right.__all__


@pytest.mark.parametrize("name, module", [("KerasPruningCallback", "keras"),
                                          ("PaddlePruningCallback", "paddle"),
                                          ("PyTorchLightningPruningCallback", "lightning"),
                                          ("TensorFlowPruningHook", "tensorflow")])
def test_missing_framework_fails_only_when_used_and_says_what_to_install(name, module):
    if importlib.util.find_spec(module) is not None:
        pytest.skip(f"{module} is installed here")
    from libaiflow.intergration import callback

    cls = getattr(callback, name)  # importing works without the framework
    study = optuna.create_study()
    trial = study.ask()
    with pytest.raises(ImportError, match=f"{name} needs {module}.*install"):
        cls(trial, "val_loss")


def test_product_signature_without_trial_uses_the_tuners_current_trial():
    from libaiflow.integration.callback import MXNetPruningCallback, current_trial

    with pytest.raises(TypeError, match="needs the trial"):
        MXNetPruningCallback("accuracy")
    study = optuna.create_study(direction="maximize",
                                pruner=optuna.pruners.ThresholdPruner(lower=0.5))
    trial = study.ask()
    with current_trial(trial):
        cb = MXNetPruningCallback("accuracy")  # spec 12 §D.4 writes it without the trial
    assert cb._trial is trial


class _Metric:  # what mxnet.metric.EvalMetric.get() returns: (names, values)
    def __init__(self, value):
        self.value = value

    def get(self):
        return ["accuracy", "loss"], [self.value, 1 - self.value]


def test_mxnet_callback_reports_and_prunes_a_real_trial():
    from libaiflow.integration.callback import MXNetPruningCallback

    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=0.5))
    trial = study.ask()
    cb = MXNetPruningCallback(trial, "accuracy")
    cb(types.SimpleNamespace(epoch=0, eval_metric=_Metric(0.8)))
    with pytest.raises(optuna.TrialPruned, match="epoch 1"):
        cb(types.SimpleNamespace(epoch=1, eval_metric=_Metric(0.3)))
    assert study._storage.get_trial(trial._trial_id).intermediate_values == {0: 0.8, 1: 0.3}
    with pytest.raises(ValueError, match="not in the evaluation metrics"):
        MXNetPruningCallback(trial, "f1")(types.SimpleNamespace(epoch=2, eval_metric=_Metric(0.9)))


def test_optuna_search_cv_is_the_real_estimator():
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from libaiflow.intergration.callback import OptunaSearchCV

    x, y = load_iris(return_X_y=True)
    search = OptunaSearchCV(LogisticRegression(max_iter=200),
                            {"C": optuna.distributions.FloatDistribution(1e-3, 10, log=True)},
                            n_trials=3, cv=2, random_state=0, verbose=0)
    search.fit(x, y)
    assert len(search.trials_) == 3 and 0 < search.best_score_ <= 1


def test_torch_distributed_trial_wraps_the_current_trial_in_one_process_group(tmp_path):
    import torch.distributed as dist

    from libaiflow.integration.callback import TorchDistributedTrial, current_trial

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rdv'}", rank=0, world_size=1)
    try:
        study = optuna.create_study()
        trial = study.ask()
        with current_trial(trial):
            dtrial = TorchDistributedTrial()  # the product's TorchDistributedTrial(group=None)
        lr = dtrial.suggest_float("lr", 1e-3, 1e-1, log=True)
        assert trial.params["lr"] == pytest.approx(lr, rel=1e-6)  # broadcast as float32
    finally:
        dist.destroy_process_group()
