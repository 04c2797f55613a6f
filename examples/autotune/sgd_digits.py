"""Auto-tuning example: a linear classifier on scikit-learn's bundled digits, trained epoch by
epoch so that the pruner can stop poor trials early. Follows the product's script contract
(spec 03 §5.3): parse_arg(args) with --trial, main(args) returning one value per direction.

    hpcai submit --framework pytorch --resource-spec cpu-1 --workdir . \\
        --autotune --autotune-file params_tpe.json -- python sgd_digits.py --epochs 12
"""

import argparse
import time

import numpy as np
import optuna
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split


def parse_arg(args=None):
    parser = argparse.ArgumentParser(description="SGD on digits")
    parser.add_argument("--alpha", type=float, default=1e-4, help="L2 penalty")
    parser.add_argument("--eta0", type=float, default=0.01, help="initial learning rate")
    parser.add_argument("--loss", type=str, default="hinge", help="hinge, log_loss or modified_huber")
    parser.add_argument("--epochs", type=int, default=10, help="passes over the training set")
    parser.add_argument("--l1_ratio", type=float, default=0.15, help="elastic-net mixing")
    parser.add_argument("--trial", type=object, default=optuna.trial._trial.Trial, help="trial")
    return parser.parse_args(args)


def main(args):
    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    x_train, x_valid, y_train, y_valid = train_test_split(x, y, test_size=0.3, random_state=0)
    model = SGDClassifier(loss=args.loss, alpha=args.alpha, eta0=args.eta0, learning_rate="constant",
                          penalty="elasticnet", l1_ratio=args.l1_ratio, random_state=0)
    classes = np.unique(y)
    t0 = time.time()
    accuracy = 0.0
    for epoch in range(args.epochs):
        model.partial_fit(x_train, y_train, classes=classes)
        accuracy = model.score(x_valid, y_valid)
        trial = args.trial
        if isinstance(trial, optuna.trial.BaseTrial) and len(trial.study.directions) == 1:
            trial.report(accuracy, epoch)  # the learning curve the pruner compares
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {epoch} with accuracy {accuracy:.3f}")
    sparsity = float(np.mean(model.coef_ == 0.0))
    print(f"accuracy {accuracy:.4f} sparsity {sparsity:.3f} in {time.time() - t0:.2f}s", flush=True)
    if getattr(args, "objectives", 1) == 2 or (isinstance(args.trial, optuna.trial.BaseTrial)
                                               and len(args.trial.study.directions) == 2):
        return accuracy, 1.0 - sparsity  # maximise accuracy, minimise the share of non-zero weights
    return accuracy


if __name__ == "__main__":
    print(main(parse_arg()))
