"""Issue 8 §3: the authors' reward, cumulative ranking, the removal curve and the named protocols."""

import doctest

import numpy as np
import pytest
import torch
from torch import nn

from mabprune.study import protocols
from mabprune.arms import find_arms
from mabprune.masks import Masker
from mabprune.models import evaluate
from mabprune.pruning import prune
from mabprune.study.protocols import authors_layer, removal_curve, run_authors


def planted(n_live=6, n_dead=4, seed=0):
    """A 2-class net, inputs → hidden(n_live + n_dead) → 2, whose labels are its own predictions.

    Live unit j reads input j and votes for class j % 2 with a large weight; dead units have
    zero outgoing weights. Accuracy is 1; masking a dead unit changes nothing (Δacc = 0, reward
    0.2), masking a live one flips some predictions (Δacc < 0).
    """
    g = torch.Generator().manual_seed(seed)
    n = n_live + n_dead
    model = nn.Sequential(nn.Linear(n_live, n), nn.ReLU(), nn.Linear(n, 2))
    dead = torch.randperm(n, generator=g)[:n_dead]
    live = [u for u in range(n) if u not in set(dead.tolist())]
    with torch.no_grad():
        model[0].weight.zero_()
        model[0].bias.zero_()
        model[2].weight.zero_()
        model[2].bias.zero_()
        for j, u in enumerate(live):
            model[0].weight[u, j] = 1.0
            model[2].weight[j % 2, u] = 1.0
        for u in dead.tolist():
            model[0].weight[u] = torch.randn(n_live, generator=g)
    X = torch.rand(300, n_live, generator=g)
    with torch.no_grad():
        y = model(X).argmax(1)
    return model, X, y, set(dead.tolist())


def accuracy(m, X, y):
    return evaluate(m, X, y, task="classification")


def test_authors_reward_is_margin_plus_delta_accuracy():
    model, X, y, dead = planted()
    res = prune(model, (X, y), method="epsilon_greedy", amount=0.3, reward="margin", reward_signal="accuracy",
                rank_by="cumulative", rounds=10, arms_per_round=1, batch_size=len(X), calibration_batches=1)
    arms = find_arms(model, X[:2])
    with Masker(model, arms) as masker:
        delta = []
        for u in range(arms.n_arms):
            masker.set([u])
            delta.append(accuracy(model, X, y) - 1.0)
    want = np.clip(0.2 + np.array(delta), 0, 1)
    for h in res.history:
        np.testing.assert_allclose(h["rewards"], want[h["arms"]], atol=1e-6)
    assert all(want[u] == pytest.approx(0.2) for u in dead) and all(want[u] < 0.2 for u in set(range(10)) - dead)
    # Cumulative ranking: the arm with the largest reward sum first.
    sums = res.estimates * res.counts
    assert sums[res.ranking[0]] == sums.max()


@pytest.mark.parametrize("method", ["ucb1", "thompson", "epsilon_greedy"])
def test_authors_protocol_removes_the_planted_dead_units_first(method):
    model, X, y, dead = planted()
    splits = {"val": (X[:150], y[:150]), "test": (X[150:], y[150:])}
    for name in ("authors", "authors-honest"):
        res = run_authors(model, splits, method=method, protocol=name, amount=0.4, metric=accuracy, seed=1)
        assert res.layer == "0" and res.leaky == (name == "authors")
        assert res.pulls == 10 + 4 * 10                     # calibration pass + 4 pulls per unit, one arm each
        assert set(res.ranking[:4].tolist()) == dead
        np.testing.assert_allclose(res.curve_test, 1.0)     # removing dead units never hurts
        assert res.n_removed == 1 and res.score == 1.0 and res.score_unpruned == 1.0


def test_removal_curve_and_the_choice_of_count():
    model, X, y, dead = planted()
    order = sorted(dead) + sorted(set(range(10)) - dead)
    curve = removal_curve(model, "0", order, X, y, accuracy, 9)
    assert len(curve) == 10 and (curve[:5] == 1.0).all() and curve[-1] < 1.0
    assert protocols._best_count(np.array([0.9, 0.8, 0.95, 0.95, np.nan])) == 2
    with pytest.raises(ValueError, match="max_units must be in"):
        removal_curve(model, "0", order, X, y, accuracy, 11)


def test_leaky_protocol_scores_the_split_it_chose_on():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 12), nn.ReLU(), nn.Linear(12, 3))
    X, y = torch.randn(240, 5), torch.randint(0, 3, (240,))
    splits = {"val": (X[:120], y[:120]), "test": (X[120:], y[120:])}
    leaky = run_authors(model, splits, method="random", protocol="authors", amount=0.5, metric=accuracy)
    honest = run_authors(model, splits, method="random", protocol="authors-honest", amount=0.5, metric=accuracy)
    np.testing.assert_array_equal(leaky.ranking, honest.ranking)  # a baseline ignores the split
    assert leaky.score == leaky.curve_test[1:].max()               # the best point of the test curve
    assert honest.score == honest.curve_test[honest.n_removed] <= leaky.score
    none = run_authors(model, splits, method="none", protocol="authors", metric=accuracy)
    assert none.n_removed == 0 and none.score == accuracy(model, *splits["test"])


def test_bad_input_is_named():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 2))
    with pytest.raises(ValueError, match="none is nn.Linear"):
        authors_layer(model, torch.zeros(2, 1, 6, 6))
    m, X, y, _ = planted()
    with pytest.raises(ValueError, match="not 'companion'"):
        run_authors(m, {"val": (X, y), "test": (X, y)}, method="ucb1", protocol="companion", metric=accuracy)
    with pytest.raises(ValueError, match="class scores"):
        prune(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1)), (torch.randn(20, 3), torch.randn(20)),
              method="ucb1", reward_signal="accuracy", loss_fn="mse", rounds=2, max_batch_fraction=0.5)


def test_docstring_examples_run():
    result = doctest.testmod(protocols, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 3 and result.failed == 0


@pytest.mark.parametrize("protocol", ["companion", "authors-honest"])
def test_every_record_names_its_protocol_and_holds_both_metrics(tmp_path, protocol):
    import json

    from mabprune.study.runner import run_grid
    from mabprune.study.profiles import grid_spec

    spec = grid_spec("classification", "smoke", methods=["ucb1", "none"], sweep_methods=[], protocol=protocol)
    run_grid(spec, results_dir=tmp_path, progress=False)
    recs = [json.loads(line) for line in open(tmp_path / "classification.jsonl")]
    recs = {r["method"]: r for r in recs if "key" in r}
    assert set(recs) == {"ucb1", "none"}
    for r in recs.values():
        assert r["status"] == "ok" and r["protocol_name"] == protocol and r["params"]["protocol_name"] == protocol
        assert r["score_no_ft"] is not None and r["metric_after"] is not None
    assert recs["none"]["score_no_ft"] == recs["none"]["metric_before"]
    if protocol == "companion":
        assert recs["ucb1"]["fine_tune_epochs_total"] == recs["none"]["fine_tune_epochs_total"] > 0
        assert 0 <= recs["ucb1"]["clipped_fraction"] <= 1
    else:
        assert recs["ucb1"]["leaky"] is False and recs["ucb1"]["metric_after"] == recs["ucb1"]["score_no_ft"]
        curve = recs["ucb1"]["removal_curve_test"]
        assert recs["ucb1"]["metric_after"] == curve[recs["ucb1"]["n_removed"]]
