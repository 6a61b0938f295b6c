"""The standard classifiers of the classification family: plan, records, tables, parameters."""

from __future__ import annotations

import numpy as np
import pytest

from mabprune.study import comparators
from mabprune import study
from mabprune.study.comparators import CLASSIFIERS
from mabprune.study.plan import plan_runs
from mabprune.study.profiles import PROFILES, grid_spec


def test_every_classifier_has_parameters_and_is_seeded_where_random():
    assert set(comparators.CLASSIFIER_PARAMS) == set(CLASSIFIERS)
    for name in CLASSIFIERS:
        est = comparators.make_classifier(name, seed=7)
        if "random_state" in est.get_params():
            # every estimator that draws random numbers gets the cell's seed
            assert comparators.CLASSIFIER_PARAMS[name].get("seeded") and est.random_state == 7, name
    with pytest.raises(ValueError, match="unknown classifier 'svm'"):
        comparators.make_classifier("svm")


def test_a_single_class_training_split_is_refused_with_its_reason():
    X = np.zeros((4, 2))
    with pytest.raises(ValueError, match="single class"):
        comparators.fit_score("logistic_regression", 0, X, np.zeros(4, int), X, np.zeros(4, int))


def test_plan_includes_the_classifiers_with_the_parameters_in_the_key():
    for profile in ("quick", "standard"):
        assert PROFILES[profile].settings["classifiers"] == CLASSIFIERS
    spec = grid_spec("classification", "smoke", classifiers=["knn_classifier", "rbf_svm"])
    runs = plan_runs(spec)
    fitted = [r for r in runs if r["kind"] == "classifier"]
    assert [r["method"] for r in fitted] == ["knn_classifier", "rbf_svm"]
    assert fitted[0]["params"]["classifier"] == {"n_neighbors": 5} and fitted[0]["amount"] is None
    # the networks' keys do not change when classifiers are added
    plain = {r["key"] for r in plan_runs(grid_spec("classification", "smoke"))}
    assert plain <= {r["key"] for r in runs}
    # the parameters are part of the key
    old = dict(comparators.CLASSIFIER_PARAMS["knn_classifier"])
    try:
        comparators.CLASSIFIER_PARAMS["knn_classifier"]["n_neighbors"] = 3
        changed = plan_runs(spec)
    finally:
        comparators.CLASSIFIER_PARAMS["knn_classifier"].clear()
        comparators.CLASSIFIER_PARAMS["knn_classifier"].update(old)
    changed = [r for r in changed if r["kind"] == "classifier"]
    assert changed[0]["key"] != fitted[0]["key"] and changed[1]["key"] == fitted[1]["key"]


def test_classifiers_belong_to_the_classification_family_only():
    with pytest.raises(ValueError, match="classification family only"):
        grid_spec("regression", "smoke", classifiers=["rbf_svm"])
    with pytest.raises(ValueError, match="unknown classifier 'svm'"):
        grid_spec("classification", "smoke", classifiers=["svm"])
    assert grid_spec("regression", "quick").classifiers == ()


def test_a_smoke_run_records_the_classifiers_and_the_score_table_has_their_columns(tmp_path):
    spec = grid_spec("classification", "smoke", classifiers=list(CLASSIFIERS), sweep_methods=[])
    records = study.run_grid(spec, results_dir=tmp_path, progress=False)
    assert records.attrs["errors"] == 0
    fitted = records[records["kind"] == "classifier"]
    assert sorted(fitted["method"]) == sorted(CLASSIFIERS)
    assert (fitted["metric_name"] == "accuracy").all()
    assert (fitted["metric_after"] == fitted["score_no_ft"]).all()  # both metric fields equal
    assert fitted["metric_after"].between(0, 1).all() and (fitted["metric_after"] > 0.5).all()  # iris
    table = study.score_table(records)
    assert list(table.columns) == ["ucb1", "magnitude", "none", *CLASSIFIERS]
    again = study.run_grid(spec, results_dir=tmp_path, progress=False)
    assert again.attrs["computed"] == 0  # cached by key
    cost = study.cost_table(records)
    assert set(CLASSIFIERS) <= set(cost.index) and cost.loc["rbf_svm", "pulls"] == 0
    # the same split as the network's cell: a 1-NN fitted here on data.load's split agrees
    from mabprune import data

    ds = data.load("sklearn:iris", seed=0, max_rows=spec.training["tabular"]["max_rows"])
    expected = comparators.fit_score("knn_classifier", 0, ds.X_train, ds.y_train, ds.X_test, ds.y_test)
    assert fitted.set_index("method").loc["knn_classifier", "metric_after"] == pytest.approx(expected)
