"""Numeric algorithms of the pipeline designer (spec 10 §3.1): scikit-learn estimators as data.

Each row is one estimator: its class, its task and its properties, whose keys are the
estimator's own keyword arguments (the UI's capitalised labels are titles only). Where the
manual's parameter no longer exists in scikit-learn 1.9 the row maps it onto today's name
(`affinity` -> `metric`, ARD `n_iter` -> `max_iter`) or keeps it as a UI-only field with a note
(`normalize`, removed in 1.2). The job-side code is plugins.pipelines.sklearn.run.
"""

from __future__ import annotations

from typing import Any

from core.hookspecs import hookimpl
from core.pipelines.components import Component, inp, out, prop

CATEGORY, GROUP = "Algorithm library", "Numeric algorithms"
NJOBS = prop("int", None, "n_jobs", description="None = 1, -1 = all cores")
RS = prop("int", None, "random_state")
VERB = prop("int", 0, "verbose")
NORMALIZE = prop("bool", False, "normalize", description="removed in scikit-learn 1.2: standardise before instead")
_W = ("uniform", "distance")
_ALG = ("auto", "ball_tree", "kd_tree", "brute")
_KERNEL = ("linear", "poly", "rbf", "sigmoid")
_GAMMA = prop("any", "scale", "gamma", description="scale, auto or a float (the manual's default auto predates "
                                                  "scikit-learn 0.22)")
_CW = prop("any", None, "class_weight", description="balanced, a dict or None")


def _nb(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    base = {"n_neighbors": prop("int", 5, "n_neighbors", minimum=1), "weights": prop("str", "uniform", enum=_W),
            "algorithm": prop("str", "auto", enum=_ALG), "leaf_size": prop("int", 30, minimum=1),
            "p": prop("float", 2, "p"), "metric": prop("str", "minkowski"), "metric_params": prop("dict", None),
            "n_jobs": NJOBS}
    return {**base, **(extra or {})}


def _radius(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    d = _nb(extra)
    d.pop("n_neighbors")
    return {"radius": prop("float", 1.0, "Radius", minimum=0), **d}


def _svm_common() -> dict[str, Any]:
    return {"kernel": prop("str", "rbf", "Kernel", enum=_KERNEL), "degree": prop("int", 3, "Degree", minimum=0),
            "gamma": _GAMMA, "coef0": prop("float", 0.0), "shrinking": prop("bool", True, "Shrinking"),
            "tol": prop("float", 1e-3, minimum=0), "cache_size": prop("float", 200, "cache_size (MB)"),
            "verbose": prop("bool", False, "Verbose"),
            "max_iter": prop("int", -1, "max_iter", description="-1 = no limit")}


def _svc() -> dict[str, Any]:
    return {**_svm_common(), "probability": prop("bool", False, "Probability", x_only_if_changed=True),
            "class_weight": _CW,
            "decision_function_shape": prop("str", "ovr", enum=("ovr", "ovo")), "random_state": RS}


def _tree(criteria: tuple[str, ...], splitter: str, classifier: bool) -> dict[str, Any]:
    d = {"criterion": prop("str", criteria[0], "Criterion", enum=criteria),
         "splitter": prop("str", splitter, "Splitter", enum=("best", "random")),
         "max_depth": prop("int", None, "max_depth", minimum=1), "min_samples_split": prop("float", 2, minimum=0),
         "min_samples_leaf": prop("float", 1, minimum=0), "min_weight_fraction_leaf": prop("float", 0.0, minimum=0,
                                                                                            maximum=0.5),
         "max_features": prop("any", None, description="int, float, sqrt, log2 or None"), "random_state": RS,
         "max_leaf_nodes": prop("int", None, minimum=2), "min_impurity_decrease": prop("float", 0.0, minimum=0),
         "ccp_alpha": prop("float", 0.0, minimum=0)}
    if classifier:
        d["class_weight"] = _CW
    return d


def _bayes_lin() -> dict[str, Any]:
    return {"max_iter": prop("int", 300, "n_iter", description="n_iter in the manual (max_iter since 1.3)"),
            "tol": prop("float", 1e-3), "alpha_1": prop("float", 1e-6), "alpha_2": prop("float", 1e-6),
            "lambda_1": prop("float", 1e-6), "lambda_2": prop("float", 1e-6), "compute_score": prop("bool", False),
            "fit_intercept": prop("bool", True), "normalize": NORMALIZE, "copy_X": prop("bool", True),
            "verbose": prop("bool", False)}


def _lasso_like() -> dict[str, Any]:
    return {"alpha": prop("float", 1.0, minimum=0), "fit_intercept": prop("bool", True), "normalize": NORMALIZE,
            "precompute": prop("bool", False), "max_iter": prop("int", 1000, minimum=1), "copy_X": prop("bool", True),
            "tol": prop("float", 1e-4), "warm_start": prop("bool", False), "positive": prop("bool", False),
            "random_state": RS, "selection": prop("str", "cyclic", enum=("cyclic", "random"))}


# name -> (sklearn class, task, properties, UI-only keys or renamed keys {prop: kwarg or None})
ESTIMATORS: dict[str, tuple[str, str, dict[str, Any], dict[str, str | None]]] = {
    "KNeighborsClassifier": ("sklearn.neighbors.KNeighborsClassifier", "classification", _nb(), {}),
    "RadiusNeighborsClassifier": ("sklearn.neighbors.RadiusNeighborsClassifier", "classification",
                                  _radius({"outlier_label": prop("any", None)}), {}),
    "NearestCentroid": ("sklearn.neighbors.NearestCentroid", "classification",
                        {"metric": prop("str", "euclidean", "Metric", enum=("euclidean", "manhattan")),
                         "shrink_threshold": prop("float", None)}, {}),
    "KNeighborsRegressor": ("sklearn.neighbors.KNeighborsRegressor", "regression", _nb(), {}),
    "RadiusNeighborsRegressor": ("sklearn.neighbors.RadiusNeighborsRegressor", "regression", _radius(), {}),
    "LinearSVC": ("sklearn.svm.LinearSVC", "classification",
                  {"penalty": prop("str", "l2", enum=("l1", "l2")),
                   "loss": prop("str", "squared_hinge", enum=("hinge", "squared_hinge")),
                   "dual": prop("any", "auto", "Dual", description="True, False or auto"),
                   "tol": prop("float", 1e-4), "C": prop("float", 1.0, minimum=0),
                   "multi_class": prop("str", "ovr", enum=("ovr", "crammer_singer")),
                   "fit_intercept": prop("bool", True), "intercept_scaling": prop("float", 1),
                   "class_weight": _CW, "verbose": VERB, "random_state": RS, "max_iter": prop("int", 1000)}, {}),
    "SVC": ("sklearn.svm.SVC", "classification", {"C": prop("float", 1.0, minimum=0), **_svc()}, {}),
    "NuSVC": ("sklearn.svm.NuSVC", "classification", {"nu": prop("float", 0.5, minimum=0, maximum=1), **_svc()}, {}),
    "LinearSVR": ("sklearn.svm.LinearSVR", "regression",
                  {"epsilon": prop("float", 0.0, "Epsilon"), "tol": prop("float", 1e-4), "C": prop("float", 1.0),
                   "loss": prop("str", "epsilon_insensitive", "Loss",
                                enum=("epsilon_insensitive", "squared_epsilon_insensitive")),
                   "fit_intercept": prop("bool", True), "intercept_scaling": prop("float", 1.0),
                   "dual": prop("any", "auto", "Dual"), "verbose": VERB, "random_state": RS,
                   "max_iter": prop("int", 1000)}, {}),
    "SVR": ("sklearn.svm.SVR", "regression",
            {**_svm_common(), "C": prop("float", 1.0), "epsilon": prop("float", 0.1)}, {}),
    "NuSVR": ("sklearn.svm.NuSVR", "regression", {"nu": prop("float", 0.5, minimum=0, maximum=1),
                                                  "C": prop("float", 1.0), **_svm_common()}, {}),
    "DecisionTreeClassifier": ("sklearn.tree.DecisionTreeClassifier", "classification",
                               _tree(("gini", "entropy", "log_loss"), "best", True), {}),
    "ExtraTreeClassifier": ("sklearn.tree.ExtraTreeClassifier", "classification",
                            _tree(("gini", "entropy", "log_loss"), "random", True), {}),
    "DecisionTreeRegressor": ("sklearn.tree.DecisionTreeRegressor", "regression",
                              _tree(("squared_error", "friedman_mse", "absolute_error", "poisson"), "best", False), {}),
    "ExtraTreeRegressor": ("sklearn.tree.ExtraTreeRegressor", "regression",
                           _tree(("squared_error", "friedman_mse"), "random", False), {}),
    "BernoulliNB": ("sklearn.naive_bayes.BernoulliNB", "classification",
                    {"alpha": prop("float", 1.0, minimum=0), "binarize": prop("float", 0.0),
                     "fit_prior": prop("bool", True), "class_prior": prop("list", None)}, {}),
    "GaussianNB": ("sklearn.naive_bayes.GaussianNB", "classification",
                   {"priors": prop("list", None, "prior"), "var_smoothing": prop("float", 1e-9)}, {}),
    "LogisticRegression": ("sklearn.linear_model.LogisticRegression", "classification",
                           {"penalty": prop("str", "l2", enum=("l1", "l2", "elasticnet"), x_only_if_changed=True),
                            "dual": prop("bool", False, "Dual"), "tol": prop("float", 1e-4),
                            "C": prop("float", 1.0, minimum=0), "fit_intercept": prop("bool", True),
                            "intercept_scaling": prop("float", 1.0), "class_weight": _CW, "random_state": RS,
                            "solver": prop("str", "lbfgs", enum=("lbfgs", "liblinear", "newton-cg", "newton-cholesky",
                                                                 "sag", "saga")),
                            "max_iter": prop("int", 100, minimum=1),
                            "multi_class": prop("str", "auto", enum=("auto", "ovr", "multinomial"),
                                                description="removed from scikit-learn: multinomial is used "
                                                            "for several classes"),
                            "verbose": VERB, "warm_start": prop("bool", False), "n_jobs": NJOBS},
                           {"multi_class": None}),
    "ARDRegression": ("sklearn.linear_model.ARDRegression", "regression",
                      {**_bayes_lin(), "threshold_lambda": prop("float", 10000.0)}, {"normalize": None}),
    "BayesianRidge": ("sklearn.linear_model.BayesianRidge", "regression", _bayes_lin(), {"normalize": None}),
    "ElasticNet": ("sklearn.linear_model.ElasticNet", "regression",
                   {**_lasso_like(), "l1_ratio": prop("float", 0.5, minimum=0, maximum=1)}, {"normalize": None}),
    "Lars": ("sklearn.linear_model.Lars", "regression",
             {"fit_intercept": prop("bool", True), "verbose": prop("bool", False), "normalize": NORMALIZE,
              "precompute": prop("any", "auto"), "n_nonzero_coefs": prop("int", 500, minimum=1),
              "eps": prop("float", 2.220446049250313e-16), "copy_X": prop("bool", True),
              "fit_path": prop("bool", True), "random_state": RS}, {"normalize": None}),
    "Lasso": ("sklearn.linear_model.Lasso", "regression", _lasso_like(), {"normalize": None}),
    "LinearRegression": ("sklearn.linear_model.LinearRegression", "regression",
                         {"fit_intercept": prop("bool", True), "normalize": NORMALIZE, "copy_X": prop("bool", True),
                          "n_jobs": NJOBS}, {"normalize": None}),
    "AgglomerativeClustering": ("sklearn.cluster.AgglomerativeClustering", "clustering",
                                {"n_clusters": prop("int", 2, minimum=1),
                                 "affinity": prop("str", "euclidean", "Affinity",
                                                  enum=("euclidean", "cosine", "l1", "l2", "manhattan")),
                                 "memory": prop("str", None, "Memory"), "compute_full_tree": prop("any", "auto"),
                                 "linkage": prop("str", "ward", "Linkage",
                                                 enum=("ward", "average", "complete", "single")),
                                 "distance_threshold": prop("float", None)}, {"affinity": "metric"}),
    "KMeans": ("sklearn.cluster.KMeans", "clustering",
               {"n_clusters": prop("int", 8, minimum=1), "init": prop("str", "k-means++", enum=("k-means++", "random")),
                "n_init": prop("any", "auto", description="runs with different seeds: an int or auto"),
                "max_iter": prop("int", 300), "tol": prop("float", 1e-4), "verbose": VERB, "random_state": RS,
                "copy_x": prop("bool", True),
                "algorithm": prop("str", "lloyd", "Algorithm", enum=("lloyd", "elkan"),
                                  description="the manual's full/auto are lloyd since scikit-learn 1.1")}, {}),
    "SpectralClustering": ("sklearn.cluster.SpectralClustering", "clustering",
                           {"n_clusters": prop("int", 8, minimum=1),
                            "eigen_solver": prop("str", None, enum=("arpack", "lobpcg", "amg")), "random_state": RS,
                            "n_init": prop("int", 10), "gamma": prop("float", 1.0),
                            "affinity": prop("str", "rbf", enum=("nearest_neighbors", "rbf")),
                            "n_neighbors": prop("int", 10), "eigen_tol": prop("any", "auto"),
                            "assign_labels": prop("str", "kmeans", enum=("kmeans", "discretize", "cluster_qr")),
                            "degree": prop("float", 3), "coef0": prop("float", 1), "kernel_params": prop("dict", None),
                            "n_jobs": NJOBS}, {}),
    "DBSCAN": ("sklearn.cluster.DBSCAN", "clustering",
               {"eps": prop("float", 0.5, minimum=0), "min_samples": prop("int", 5, minimum=1),
                "metric": prop("str", "euclidean", "Metric"), "metric_params": prop("dict", None),
                "algorithm": prop("str", "auto", "Algorithm", enum=_ALG), "leaf_size": prop("int", 30),
                "p": prop("float", None), "n_jobs": NJOBS}, {}),
    "MiniBatchKMeans": ("sklearn.cluster.MiniBatchKMeans", "clustering",
                        {"n_clusters": prop("int", 8, minimum=1),
                         "init": prop("str", "k-means++", enum=("k-means++", "random")),
                         "max_iter": prop("int", 100), "batch_size": prop("int", 1024), "verbose": VERB,
                         "compute_labels": prop("bool", True), "random_state": RS, "tol": prop("float", 0.0),
                         "max_no_improvement": prop("int", 10), "init_size": prop("int", None),
                         "n_init": prop("any", "auto"), "reassignment_ratio": prop("float", 0.01)}, {}),
    "IsolationForest": ("sklearn.ensemble.IsolationForest", "anomaly",
                        {"n_estimators": prop("int", 100, minimum=1), "max_samples": prop("any", "auto"),
                         "contamination": prop("any", "auto"), "max_features": prop("float", 1.0),
                         "bootstrap": prop("bool", False), "n_jobs": NJOBS, "random_state": RS, "verbose": VERB,
                         "warm_start": prop("bool", False)}, {}),
}


def components() -> list[Component]:
    comps = []
    for name, (cls, task, props, args) in ESTIMATORS.items():
        labelled = task in ("classification", "regression")
        comps.append(Component(
            name=name, title=name, category=CATEGORY, group=GROUP, run="plugins.pipelines.sklearn.run:fit",
            description=f"scikit-learn {cls.rsplit('.', 1)[1]} ({task})", target=cls,
            inputs=(inp("data", "table"),), outputs=(out("model", "trained"),),
            properties={"model_name": prop("str", "", "Model name", nullable=False,
                                           description="the name the trained model is saved under"), **props},
            args={"model_name": None, **args}, note="" if labelled else "unlabelled data: labels are ignored"))
    return comps


@hookimpl
def hpcai_pipeline_components() -> list[Component]:
    return components()
