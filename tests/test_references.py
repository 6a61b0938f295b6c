"""The references beyond the paper (issue 21 §2, §6): uniform allocation and the exact ranking."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mabprune import policies, prune
from mabprune.arms import find_arms
from mabprune.pruning import METHODS, REFERENCES
from mabprune.truth import removal_effects
from tests.nets import mlp_bn


def test_references_are_outside_the_studys_lists():
    # the paper's six policies and the study's 11 methods stay what the analysis compares
    assert REFERENCES == ("uniform", "exact") and not set(REFERENCES) & set(METHODS)
    assert "uniform" not in policies.POLICIES and "uniform" in policies.PLAYABLE


def test_uniform_allocation_pulls_every_arm_equally_with_the_same_budget():
    model = mlp_bn()
    X, y = torch.randn(120, 6), torch.randint(0, 3, (120,))
    kw = dict(amount=0.3, rounds=13, arms_per_round=5, batch_size=16, max_batch_fraction=0.25, seed=2)
    uniform, ucb1 = prune(model, (X, y), method="uniform", **kw), prune(model, (X, y), method="ucb1", **kw)
    assert uniform.pulls == ucb1.pulls
    assert uniform.counts.max() - uniform.counts.min() <= 1
    assert uniform.params_after == ucb1.params_after
    assert prune(model, (X, y), method="uniform", **kw).removed == uniform.removed   # same seed, same result


def test_uniform_selects_the_least_pulled_arms():
    policy = policies.make("uniform", 4, seed=0)
    policy.update(np.array([0, 1]), np.array([1.0, 1.0]))
    assert sorted(policy.select(2).tolist()) == [2, 3]


def test_exact_removes_the_units_of_smallest_exact_effect():
    model = mlp_bn()
    X, y = torch.randn(100, 6), torch.randint(0, 3, (100,))
    result = prune(model, (X, y), method="exact", amount=0.25, steps=1, scope="global", baseline_variant="raw")
    truth = removal_effects(model, (X, y))
    arms = find_arms(model, X[:2])
    chosen = {(a.layer, a.unit) for a in arms.arms() if a.unit in result.removed[a.layer]}
    assert result.estimates == pytest.approx(-truth.effects)
    n = sum(len(v) for v in result.removed.values())
    assert n == round(0.25 * arms.n_arms)
    worst_kept = max(truth.effects[a.id] for a in arms.arms() if (a.layer, a.unit) in chosen)
    others = [truth.effects[a.id] for a in arms.arms() if (a.layer, a.unit) not in chosen]
    # the removed units are the safest but for the floor of one unit per layer
    assert sum(e < worst_kept for e in others) <= len(arms.layers)
