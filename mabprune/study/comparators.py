"""The standard scikit-learn classifiers fitted beside the networks in the classification family.

The authors' classification table ranks the pruned networks together with standard
classifiers (k-NN, SVMs, trees, ensembles); the classification grid does the same, on the
same training and test splits as the networks of each (dataset, seed) cell. Hyper-parameters
are scikit-learn's defaults unless :data:`CLASSIFIER_PARAMS` says otherwise; the estimators
that draw random numbers are seeded with the cell's seed. The parameters are part of every
classifier run's cache key (:func:`mabprune.study.plan.plan_runs`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["CLASSIFIERS", "CLASSIFIER_PARAMS", "fit_score", "make_classifier"]

#: The classifiers of the classification family. The names differ from the regressors' so
#: that a method name says which kind of model it is in every table.
CLASSIFIERS = ("knn_classifier", "linear_svm", "rbf_svm", "tree_classifier", "forest_classifier",
               "adaboost", "boosting_classifier", "logistic_regression")
#: Hyper-parameters of each classifier; ``seeded`` marks those given ``random_state=seed``.
#: Features are standardised by :func:`mabprune.data.load` already; ``max_iter`` is raised
#: where scikit-learn's default stops before convergence on the larger PMLB sets.
CLASSIFIER_PARAMS = {
    "knn_classifier": {"n_neighbors": 5},
    "linear_svm": {"C": 1.0, "max_iter": 5000, "seeded": True},
    "rbf_svm": {"C": 1.0, "gamma": "scale", "seeded": True},
    "tree_classifier": {"seeded": True},
    "forest_classifier": {"n_estimators": 100, "seeded": True},
    "adaboost": {"n_estimators": 50, "seeded": True},
    "boosting_classifier": {"n_estimators": 100, "seeded": True},
    "logistic_regression": {"C": 1.0, "max_iter": 1000, "seeded": True},
}


def make_classifier(name: str, seed: int = 0):
    """The unfitted scikit-learn estimator ``name`` of :data:`CLASSIFIERS`, seeded where random.

    Parameters
    ----------
    name : str
        One of :data:`CLASSIFIERS`.
    seed : int, default=0
        ``random_state`` of the estimators marked ``seeded`` in :data:`CLASSIFIER_PARAMS`.

    Returns
    -------
    sklearn.base.ClassifierMixin

    Raises
    ------
    ValueError
        For a name that is not in :data:`CLASSIFIERS`.

    Examples
    --------
    >>> make_classifier("forest_classifier", seed=3).random_state
    3
    """
    from sklearn import ensemble, linear_model, neighbors, svm, tree

    classes = {"knn_classifier": neighbors.KNeighborsClassifier, "linear_svm": svm.LinearSVC,
               "rbf_svm": svm.SVC, "tree_classifier": tree.DecisionTreeClassifier,
               "forest_classifier": ensemble.RandomForestClassifier, "adaboost": ensemble.AdaBoostClassifier,
               "boosting_classifier": ensemble.GradientBoostingClassifier,
               "logistic_regression": linear_model.LogisticRegression}
    if name not in classes:
        raise ValueError(f"unknown classifier {name!r}; use one of {CLASSIFIERS}")
    params = CLASSIFIER_PARAMS[name]
    kw = {k: v for k, v in params.items() if k != "seeded"}
    return classes[name](**kw, **({"random_state": int(seed)} if params.get("seeded") else {}))


def fit_score(name: str, seed: int, X_train, y_train, X_test, y_test) -> float:
    """Fit classifier ``name`` on the training split and return its test accuracy.

    Parameters
    ----------
    name : str
        One of :data:`CLASSIFIERS`.
    seed : int
        Seed of the estimator (see :func:`make_classifier`).
    X_train, y_train, X_test, y_test : array-like
        The cell's splits (those the network of the cell is trained and scored on).

    Returns
    -------
    float
        Fraction of test rows classified correctly.

    Raises
    ------
    ValueError
        For an unknown name, or a training split with a single class (no classifier can be
        fitted on it).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0], [0.1], [1.0], [1.1]]); y = np.array([0, 0, 1, 1])
    >>> fit_score("tree_classifier", 0, X, y, X, y)
    1.0
    """
    y_train = np.asarray(y_train)
    if np.unique(y_train).size < 2:
        raise ValueError(f"classifier {name!r}: the training split has a single class "
                         f"({np.unique(y_train).tolist()}); nothing to fit")
    est = make_classifier(name, seed).fit(np.asarray(X_train, dtype=np.float64), y_train)
    pred = est.predict(np.asarray(X_test, dtype=np.float64))
    return float(np.mean(pred == np.asarray(y_test)))


# ----------------------------------------------------------------------------- regressors

#: The scikit-learn regressors fitted beside the networks in the regression family.
REGRESSORS = ("linear", "ridge", "lasso", "elastic_net", "knn", "decision_tree", "random_forest",
              "gradient_boosting", "svr")
#: Hyper-parameters of the regressors (targets are standardised, hence the small alphas).
REGRESSOR_PARAMS = {
    "linear": {}, "ridge": {"alpha": 1.0}, "lasso": {"alpha": 0.01}, "elastic_net": {"alpha": 0.01, "l1_ratio": 0.5},
    "knn": {"n_neighbors": 5}, "decision_tree": {"seeded": True}, "random_forest": {"n_estimators": 100, "seeded": True},
    "gradient_boosting": {"n_estimators": 100, "seeded": True}, "svr": {"C": 1.0, "epsilon": 0.1},
}  # fmt: skip


def make_regressor(name: str, seed: int = 0):
    """A fresh, unfitted regressor of :data:`REGRESSORS` with the parameters of :data:`REGRESSOR_PARAMS`.

    Examples
    --------
    >>> make_regressor("ridge")
    Ridge()
    """
    from sklearn import ensemble, linear_model, neighbors, svm, tree

    cls = {"linear": linear_model.LinearRegression, "ridge": linear_model.Ridge, "lasso": linear_model.Lasso,
           "elastic_net": linear_model.ElasticNet, "knn": neighbors.KNeighborsRegressor,
           "decision_tree": tree.DecisionTreeRegressor, "random_forest": ensemble.RandomForestRegressor,
           "gradient_boosting": ensemble.GradientBoostingRegressor, "svr": svm.SVR}[name]
    kw = {k: v for k, v in REGRESSOR_PARAMS[name].items() if k != "seeded"}
    return cls(**kw, **({"random_state": seed} if REGRESSOR_PARAMS[name].get("seeded") else {}))
