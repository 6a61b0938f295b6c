"""A mask removes a unit's whole output: masked forward == physically pruned forward."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from mabprune.arms import find_arms
from mabprune.masks import Masker, outgoing_weight, unit_means
from mabprune.removal import remove_arms
from tests.nets import cnn_bn, mlp_bn


CASES = [(mlp_bn, (6,)), (cnn_bn, (2, 8, 8))]


def test_find_arms_layout():
    arms = find_arms(mlp_bn(), torch.zeros(2, 6))
    assert [(layer.name, layer.mask_point, layer.consumer, layer.rank_one) for layer in arms.layers] == [
        ("0", "2", "3", True), ("3", "4", "5", True), ("5", "6", "7", True)]
    assert arms.output_layer == "7" and arms.n_arms == 30
    assert arms.arm(12) .layer == "3" and arms.arm(12).unit == 0
    cnn = find_arms(cnn_bn(), torch.zeros(2, 2, 8, 8))
    assert [layer.mask_point for layer in cnn.layers] == ["3", "7", "10"]
    assert [layer.rank_one for layer in cnn.layers] == [True, False, True]   # conv→conv, conv→flatten, dense
    assert outgoing_weight(cnn, cnn.layers[1]).shape == (5, 7 * 4)   # flatten: 4 columns per channel


@pytest.mark.parametrize("build, shape", CASES)
@pytest.mark.parametrize("replacement", ["zero", "mean"])
def test_masked_forward_equals_removed_model(build, shape, replacement):
    model = build()
    X = torch.randn(32, *shape)
    arms = find_arms(model, X[:2])
    rng = np.random.default_rng(0)
    fill = unit_means(model, arms, X) if replacement == "mean" else None
    if replacement == "mean":
        # Mean-replacement folds into a following Linear's bias: test on the arms that feed one.
        eligible = [a for a in range(arms.n_arms)
                    if isinstance(arms.modules[arms.layers[arms.locate([a])[0][0]].consumer], nn.Linear)]
    else:
        eligible = list(range(arms.n_arms))
    for trial in range(4):
        chosen = rng.choice(eligible, size=len(eligible) // 3, replace=False)
        with Masker(model, arms, fill=fill) as masker, torch.no_grad():
            masker.set(chosen)
            masked = model(X)
        pruned = copy.deepcopy(model)
        pruned_arms = find_arms(pruned, X[:2])
        pruned_fill = fill
        remove_arms(pruned, pruned_arms, np.sort(chosen), X[:2], pruned_fill)
        with torch.no_grad():
            removed = pruned.eval()(X)
        n_params = sum(p.numel() for p in pruned.parameters())
        assert n_params < sum(p.numel() for p in model.parameters())
        torch.testing.assert_close(masked, removed, rtol=1e-5, atol=1e-5)


def test_masking_with_mean_replacement_is_not_zeroing():
    model = mlp_bn()
    X = torch.randn(64, 6)
    arms = find_arms(model, X[:2])
    fill = unit_means(model, arms, X)
    with Masker(model, arms, fill=fill) as masker, torch.no_grad():
        masker.set([0])
        with_mean = model(X)
    with Masker(model, arms) as masker, torch.no_grad():
        masker.set([0])
        with_zero = model(X)
    assert not torch.allclose(with_mean, with_zero)


def test_masker_restores_and_leaves_no_hooks():
    model = mlp_bn()
    X = torch.randn(8, 6)
    with torch.no_grad():
        before = model(X)
    arms = find_arms(model, X[:2])
    with Masker(model, arms) as masker, torch.no_grad():
        with masker.masked([1, 2, 3]):
            assert not torch.allclose(model(X), before)
        torch.testing.assert_close(model(X), before)
    assert all(not m._forward_hooks for m in model.modules())


def test_named_layers_and_errors():
    model = mlp_bn()
    x = torch.zeros(2, 6)
    assert [layer.name for layer in find_arms(model, x, layers=["3"]).layers] == ["3"]
    with pytest.raises(ValueError, match="'nope' is not a module"):
        find_arms(model, x, layers=["nope"])
    with pytest.raises(ValueError, match="'1' is a BatchNorm1d"):
        find_arms(model, x, layers=["1"])
    with pytest.raises(ValueError, match="'7' produces the model's output"):
        find_arms(model, x, layers=["7"])
    with pytest.raises(ValueError, match="no prunable layer"):
        find_arms(nn.Sequential(nn.Linear(3, 2)), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="no prunable layer"):
        find_arms(nn.Sequential(nn.ReLU()), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="out of range"):
        find_arms(model, x).arm(999)
