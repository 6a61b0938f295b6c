"""Small networks shared by the tests (BatchNorm with non-trivial statistics)."""

import torch
from torch import nn


def _randomise_batchnorm(model):
    # Non-trivial running statistics and shifts, so a zeroed pre-BN output would NOT be removal.
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g))
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.randn(m.num_features, generator=g))
            m.bias.data.copy_(torch.randn(m.num_features, generator=g))
    return model.eval()


def mlp_bn():
    torch.manual_seed(0)
    return _randomise_batchnorm(nn.Sequential(
        nn.Linear(6, 12), nn.BatchNorm1d(12), nn.ReLU(),
        nn.Linear(12, 10), nn.Tanh(),
        nn.Linear(10, 8), nn.Sigmoid(),   # sigmoid(0) != 0: the mask must come after it
        nn.Linear(8, 3)))


def cnn_bn():
    torch.manual_seed(0)
    return _randomise_batchnorm(nn.Sequential(
        nn.Conv2d(2, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 5, 3, padding=1), nn.BatchNorm2d(5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(5 * 2 * 2, 7), nn.ReLU(), nn.Linear(7, 4)))


def sample_arms(arms, per_group=3, seed=0):
    """``per_group`` arm ids of every group (never a whole group), drawn with ``seed``."""
    import numpy as np
    rng = np.random.default_rng(seed)
    return np.concatenate([layer.offset + rng.choice(layer.n_units, size=min(per_group, layer.n_units - 1),
                                                     replace=False) for layer in arms.layers])


def assert_masked_equals_removed(model, arms, X, example, chosen):
    """Masking ``chosen`` gives Torch-Pruning's removal of them (1e-5 relative), and removal shrinks the model."""
    import copy

    from mabprune import inputs
    from mabprune.masks import Masker
    from mabprune.graph import remove
    with torch.no_grad(), Masker(model, arms) as masker:
        masker.set(chosen)
        masked = inputs.call(model, X)
    pruned = copy.deepcopy(model)
    remove(pruned, example, arms.per_group(chosen))
    with torch.no_grad():
        removed = inputs.call(pruned, X)
    assert sum(p.numel() for p in pruned.parameters()) < sum(p.numel() for p in model.parameters())
    torch.testing.assert_close(masked, removed, rtol=1e-5, atol=1e-5 * max(float(masked.abs().max()), 1.0))


def assert_engines_agree(model, arms, ids, X, y):
    """The batched engine's ΔL equals the naive loop's on ``ids`` (1e-5 of the base loss)."""
    import numpy as np

    from mabprune.engine import make_engine
    fast = make_engine("batched", model, arms).pull(ids, X, y)
    slow = make_engine("naive", model, arms).pull(ids, X, y)
    base = make_engine("naive", model, arms).base_losses(X, y).mean().item()
    np.testing.assert_allclose(fast, slow, rtol=1e-5, atol=1e-5 * base)
