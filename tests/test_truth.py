"""The exact removal effect of every arm (issue 21 §1), held to physical removal by Torch-Pruning."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from mabprune import graph, inputs
from mabprune.arms import find_arms
from mabprune.engine import make_loss
from mabprune.truth import removal_effects
from tests.nets import cnn_bn, mlp_bn
from tests.zoo import SkipMLP


def _removed_effects(model, X, y, loss_fn="cross_entropy"):
    """Each arm removed physically, alone, on a copy: the reference the fast sweep must equal."""
    loss = make_loss(loss_fn)
    arms = find_arms(model, inputs.index(X, slice(0, 2)))
    with torch.no_grad():
        base = loss(inputs.call(model.eval(), X), y).double().mean().item()
    out = []
    for arm in arms.arms():
        pruned = copy.deepcopy(model)
        graph.remove(pruned, inputs.index(X, slice(0, 2)), {arm.layer: [arm.unit]})
        with torch.no_grad():
            out.append(loss(inputs.call(pruned.eval(), X), y).double().mean().item() - base)
    return np.array(out), base


@pytest.mark.parametrize("make, shape, classes", [(mlp_bn, (6,), 3), (cnn_bn, (2, 8, 8), 4)],
                         ids=["tabular", "conv"])
def test_the_exact_sweep_equals_physical_removal_on_both_splits(make, shape, classes):
    model = make()
    g = torch.Generator().manual_seed(3)
    for split in range(2):   # the selection split and the test split
        X, y = torch.randn(90, *shape, generator=g), torch.randint(0, classes, (90,), generator=g)
        truth = removal_effects(model, (X, y), batch_size=32, arms_per_chunk=5)
        removed, base = _removed_effects(model, X, y)
        scale = np.abs(removed).max()
        assert np.abs(truth.effects - removed).max() <= 1e-5 * max(1.0, scale)
        assert truth.base_loss == pytest.approx(base, rel=1e-6)
        assert truth.n_rows == 90 and truth.unit_rows == 90 * len(removed)


def test_batched_and_naive_sweeps_agree_on_a_residual_model():
    torch.manual_seed(0)
    model = SkipMLP().eval()   # a residual add: the general path, not the chain fast paths
    X, y = torch.randn(50, 6), torch.randint(0, 3, (50,))
    fast = removal_effects(model, (X, y), batch_size=16)
    slow = removal_effects(model, (X, y), engine="naive", batch_size=50)
    assert np.allclose(fast.effects, slow.effects, rtol=1e-5, atol=1e-7)


def test_the_ranking_is_safest_first_and_the_model_is_untouched():
    model = mlp_bn()
    before = copy.deepcopy(model.state_dict())
    X, y = torch.randn(60, 6), torch.randint(0, 3, (60,))
    truth = removal_effects(model, (X, y))
    order = truth.ranking()
    assert np.all(np.diff(truth.effects[order]) >= 0)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("kwargs, match", [({"engine": "fast"}, "unknown engine 'fast'"),
                                           ({"batch_size": 0}, "batch_size must be a positive integer, got 0"),
                                           ({"arms_per_chunk": 1.5}, "arms_per_chunk must be a positive integer")])
def test_bad_arguments_are_named_before_any_compute(kwargs, match):
    with pytest.raises(ValueError, match=match):
        removal_effects(mlp_bn(), (torch.randn(4, 6), torch.zeros(4, dtype=torch.long)), **kwargs)
