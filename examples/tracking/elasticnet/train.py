"""The product's SDK sample 2 (spec 12 §C): ElasticNet on the red wine-quality data, logged by hand
with libaiflow. The libaiflow lines are the product's; the only change is that the CSV is read from
a local copy (make_winequality.py) instead of being downloaded, which fails on offline clusters.

    python train.py [alpha] [l1_ratio]
"""

import sys
import warnings

import numpy as np
import pandas as pd
from sklearn.linear_model import ElasticNet
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split

import libaiflow


def eval_metrics(actual, pred):
    rmse = np.sqrt(mean_squared_error(actual, pred))
    mae = mean_absolute_error(actual, pred)
    r2 = r2_score(actual, pred)
    return rmse, mae, r2


if __name__ == "__main__":
    warnings.filterwarnings("ignore")
    np.random.seed(40)

    csv_path = "winequality-red.csv"  # local copy of the UCI file
    data = pd.read_csv(csv_path, sep=";")

    # Split the data into training and test sets. (0.75, 0.25) split.
    train, test = train_test_split(data)
    train_x = train.drop(["quality"], axis=1)
    test_x = test.drop(["quality"], axis=1)
    train_y = train[["quality"]]
    test_y = test[["quality"]]

    alpha = float(sys.argv[1]) if len(sys.argv) > 1 else 0.5
    l1_ratio = float(sys.argv[2]) if len(sys.argv) > 2 else 0.5

    expt = libaiflow.init(experiment_name="mnist_tf2_test1")
    with libaiflow.start_run(experiment_id=expt.experiment_id):
        lr = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, random_state=42)
        lr.fit(train_x, train_y)

        predicted_qualities = lr.predict(test_x)
        (rmse, mae, r2) = eval_metrics(test_y, predicted_qualities)

        print("Elasticnet model (alpha=%f, l1_ratio=%f):" % (alpha, l1_ratio))
        print("  RMSE: %s" % rmse)
        print("  MAE: %s" % mae)
        print("  R2: %s" % r2)

        libaiflow.log_param("alpha", alpha)
        libaiflow.log_param("l1_ratio", l1_ratio)
        libaiflow.log_metric("rmse", rmse)
        libaiflow.log_metric("r2", r2)
        libaiflow.log_metric("mae", mae)
