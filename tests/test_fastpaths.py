"""The batched engine's exact fast paths agree with the naive loop (1e-5 relative).

The two-layer head path (``W₃ D_b W₂`` plus the sign-flip corrections, see
:mod:`mabprune.fastpaths`) is checked on MLPs with few and with many planted sign flips,
in-place ReLUs, BatchNorm, mean-replacement, float64, arm subsets, and a chain model of the
zoo; the test also proves the path ran (a spy on ``head_logits``)."""

import functools

import numpy as np
import pytest
import torch
from torch import nn

from mabprune import fastpaths
from mabprune.arms import find_arms
from mabprune.masks import unit_means
from mabprune.engine import make_engine
from tests.nets import _randomise_batchnorm
from tests.zoo import build

torch.set_num_threads(1)


@pytest.fixture
def head_calls(monkeypatch):
    calls = []
    real = fastpaths.head_logits

    def spy(*args, **kwargs):
        calls.append(args[1].shape)
        return real(*args, **kwargs)
    monkeypatch.setattr(fastpaths, "head_logits", spy)
    return calls


def _compare(model, X, y, ids=None, fill=None, rtol=1e-5):
    arms = find_arms(model, X[:2])
    fill = unit_means(model, arms, X) if fill == "mean" else None
    ids = np.arange(arms.n_arms) if ids is None else ids
    fast = make_engine("batched", model, arms, fill=fill).pull(ids, X, y)
    slow = make_engine("naive", model, arms, fill=fill).pull(ids, X, y)
    base = make_engine("naive", model, arms).base_losses(X, y).mean().item()
    assert np.abs(slow).max() > 0
    np.testing.assert_allclose(fast, slow, rtol=rtol, atol=rtol * base)
    return arms


def _mlp(widths=(20, 64, 48, 5), inplace=False, bn=False, dropout=False):
    torch.manual_seed(0)
    layers = []
    for a, b in zip(widths[:-2], widths[1:-1]):
        layers += [nn.Linear(a, b)] + ([nn.BatchNorm1d(b)] if bn else []) + [nn.ReLU(inplace=inplace)]
        layers += [nn.Dropout(0.3)] if dropout else []
    layers.append(nn.Linear(widths[-2], widths[-1]))
    return _randomise_batchnorm(nn.Sequential(*layers))


def _flip_fraction(model, X):
    """Fraction of (sample, arm) pairs of the first layer whose masking flips a unit of the second."""
    i = _second_linear(model)
    with torch.no_grad():
        h = model[:i](X)
        z = model[i](h)
        zp = z[:, None, :] - h[:, :, None] * model[i].weight.t()[None]     # (B, J, K)
        flips = ((zp > 0) != (z[:, None, :] > 0)).any(2) & (h > 0)
    return float(flips.sum() / (h > 0).sum())


def _planted_flips(model, X):
    """Second-layer biases that put its pre-activations near zero and spiky weights: most masks flip units."""
    i = _second_linear(model)
    with torch.no_grad():
        w = model[i].weight
        w.mul_(torch.where(torch.rand_like(w) < 0.1, 8.0, 1.0))
        pre = model[i](model[:i](X)) - model[i].bias
        model[i].bias.copy_(-pre.median(0).values)
    return model


def _second_linear(model):
    return [k for k, m in enumerate(model) if isinstance(m, nn.Linear)][1]


@pytest.mark.parametrize("flips", ["none", "random", "planted"])
def test_head_path_equals_naive_with_and_without_sign_flips(flips, head_calls):
    model = _mlp().eval()
    X, y = torch.randn(64, 20), torch.randint(0, 5, (64,))
    if flips == "none":
        with torch.no_grad():
            model[2].bias.add_(50.0)      # every second-layer unit far above zero: no mask flips one
    if flips == "planted":
        _planted_flips(model, X)
    frac = _flip_fraction(model, X)
    assert frac == 0.0 if flips == "none" else frac > (0.5 if flips == "planted" else 0.0)
    _compare(model, X, y)
    assert head_calls, "the head fast path did not run"


@pytest.mark.parametrize("inplace, bn, dropout, fill", [(True, False, False, None), (True, True, True, None),
                                                         (False, True, False, "mean"), (True, False, True, "mean")])
def test_head_path_inplace_relu_batchnorm_and_mean_fill(inplace, bn, dropout, fill, head_calls):
    model = _mlp(inplace=inplace, bn=bn, dropout=dropout).eval()
    X, y = torch.randn(40, 20), torch.randint(0, 5, (40,))
    _planted_flips(model, X)
    _compare(model, X, y, fill=fill)
    assert head_calls


def test_head_path_on_subsets_in_any_order_and_in_float64(head_calls):
    model = _mlp().double().eval()
    X, y = torch.randn(50, 20, dtype=torch.float64), torch.randint(0, 5, (50,))
    _planted_flips(model, X)
    _compare(model, X, y, rtol=1e-10)
    _compare(model, X, y, ids=np.array([40, 3, 3, 63, 0, 17]), rtol=1e-10)
    _compare(model, X, y, ids=np.arange(5, 30), rtol=1e-10)      # a run of units: taken as a slice
    assert head_calls


def test_head_path_dead_unit_and_zero_input_unit():
    model = _mlp().eval()
    X, y = torch.randn(30, 20), torch.randint(0, 5, (30,))
    with torch.no_grad():
        model[0].bias[7] = -1e3          # unit 7 is never active: ΔL exactly 0
        model[2].weight[:, 9] = 0        # unit 9 reaches nothing: ΔL exactly 0
    arms = find_arms(model, X[:2])
    fast = make_engine("batched", model, arms).pull([7, 9], X, y)
    np.testing.assert_array_equal(fast, [0.0, 0.0])


def test_wide_head_and_deeper_chains_keep_the_general_sliced_path(head_calls):
    model = _mlp(widths=(12, 16, 10, 40)).eval()     # a head wider than half the consumer: not used
    X, y = torch.randn(30, 12), torch.randint(0, 40, (30,))
    _compare(model, X, y)
    assert not head_calls
    deep = _mlp(widths=(12, 32, 24, 16, 4)).eval()  # first layer: two hidden layers after it
    X, y = torch.randn(30, 12), torch.randint(0, 4, (30,))
    _compare(deep, X, y)
    assert len(head_calls) == 1                      # only the second hidden layer is two before the output


def test_zoo_inplace_relu_chain(head_calls):
    model, make, n_classes = build("inplace_relu")
    torch.manual_seed(2)
    X, y = make(40), torch.randint(0, n_classes, (40,))
    _compare(model.eval(), X, y)
    assert head_calls


def test_head_path_small_chunks_and_two_threads_equal_naive(head_calls, monkeypatch):
    # tiny correction blocks (many chunks per block, every block kind) and two torch threads
    # (the products and gathers split across threads) still give the naive loop's numbers
    blocks = []
    real_add = fastpaths._add_flips

    def small(out, z, delta, w2, w3):
        blocks.append(int(delta.shape[1]))
        real_add(out, z, delta, w2, w3, budget=2 ** 10)
    monkeypatch.setattr(fastpaths, "_add_flips", small)
    model = _mlp(widths=(20, 96, 64, 5)).eval()
    X, y = torch.randn(300, 20), torch.randint(0, 5, (300,))
    _planted_flips(model, X)
    _compare(model, X, y)
    torch.set_num_threads(2)
    try:
        _compare(model, X, y)
    finally:
        torch.set_num_threads(1)
    assert head_calls and blocks


class _Chain(nn.Module):
    """A non-Sequential forward; ``twist`` adds an op between or after the leaves."""

    def __init__(self, twist=None):
        super().__init__()
        self.a, self.act, self.b, self.act2, self.out = nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 3)
        self.twist = twist

    def forward(self, x):
        h = self.act(self.a(x))
        if self.twist == "inplace":
            h.mul_(2.0)              # keeps the tensor's identity, changes its values
        z = self.out(self.act2(self.b(h)))
        return z * 2.0 if self.twist == "after" else z


def test_text_classifier_and_plain_forward_chains_take_the_fast_path():
    from mabprune.models import TextClassifier
    torch.manual_seed(0)
    text = TextClassifier(50, 3, embed_dim=8, hidden=16).eval()
    tokens = torch.randint(0, 50, (40, 12))
    tokens[:, 9:] = 0
    arms = _compare(text, tokens, torch.randint(0, 3, (40,)))
    assert arms.chain and arms.layers[0].rank_one and arms.layers[0].consumer == "out"
    X, y = torch.randn(40, 6), torch.randint(0, 3, (40,))
    assert _compare(_Chain().eval(), X, y).chain


@pytest.mark.parametrize("twist", ["inplace", "after"])
def test_forward_that_is_not_the_composition_of_its_leaves_is_no_chain(twist):
    torch.manual_seed(0)
    X, y = torch.randn(40, 6), torch.randint(0, 3, (40,))
    arms = _compare(_Chain(twist).eval(), X, y)
    assert not arms.chain


def _direct_head(z, delta, w2, w3, logits):
    """Every variant's logits by brute force: relu(z + δ_bj W₂[:, j]) through W₃, shape (B, O, J)."""
    zp = z[:, None, :] + delta[:, :, None] * w2.t()[None]                   # (B, J, K)
    return (logits[:, None, :] + (torch.relu(zp) - torch.relu(z)[:, None, :]) @ w3.t()).transpose(1, 2)


@pytest.mark.parametrize("signs", ["zero_fill", "mean_fill"])
def test_head_logits_equal_brute_force_with_wide_and_narrow_blocks(signs):
    # float64, so that any missed or doubled correction shows far above rounding
    g = torch.Generator().manual_seed(7)
    B, K, J, O = 40, 48, 64, 4
    w2 = torch.randn(K, J, generator=g, dtype=torch.float64)
    w2[3] = 0                                                     # a unit no arm reaches (max |W₂| = 0)
    w3 = torch.randn(O, K, generator=g, dtype=torch.float64)
    z = torch.randn(B, K, generator=g, dtype=torch.float64)
    z[:, :6] *= 1e-3                                              # units that almost every arm flips
    z[0, 7] = 0.0                                                 # exactly on the kink
    h = torch.relu(torch.randn(B, J, generator=g, dtype=torch.float64))
    h[:, 10] = h[:, 11]                                           # ties in |δ|
    delta = -h if signs == "zero_fill" else h.mean(0) - h
    head = nn.Linear(K, O, bias=False).double()
    with torch.no_grad():
        head.weight.copy_(w3)
    with torch.no_grad():
        logits = head(torch.relu(z))
    # both kinds of block occur: prefixes of at least J/4 arms (whole rows) and shorter ones (gathered)
    counts = (delta.abs()[:, None, :] * w2.abs().amax(1)[None, :, None] > z.abs()[:, :, None]).sum(2)
    assert counts.max() >= J // 4 and ((counts > 0) & (counts < J // 4)).any()
    direct = _direct_head(z, delta, w2, w3, logits)
    assert not torch.allclose(direct, direct[:, :, :1] * 0 + logits[:, :, None] + torch.einsum(
        "ok,bk,kj,bj->boj", w3, (z > 0).double(), w2, delta), atol=1e-3)   # the sign flips matter here
    out = fastpaths.head_logits(z, delta, w2, head, logits)
    np.testing.assert_allclose(out.numpy(), direct.numpy(), rtol=1e-10, atol=1e-12)
    ref = torch.zeros(B, O, J, dtype=torch.float64)
    fastpaths._add_flips(ref, z, delta, w2, w3)
    for budget in (1, 2 ** 7):                                    # one sample per chunk, and a few
        flips = torch.zeros(B, O, J, dtype=torch.float64)
        fastpaths._add_flips(flips, z, delta, w2, w3, budget=budget)
        np.testing.assert_allclose(flips.numpy(), ref.numpy(), rtol=1e-12, atol=1e-13)


def test_run_chain_pools_and_relus_like_the_modules_on_odd_sizes(monkeypatch):
    # odd sizes (floor mode crops), a ceil-mode pool (left to the module), in-place ReLUs
    torch.manual_seed(3)
    pools = []
    real = fastpaths._max_pool_2x2
    monkeypatch.setattr(fastpaths, "_max_pool_2x2", lambda x: pools.append(tuple(x.shape)) or real(x))
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(inplace=True),
                          nn.MaxPool2d(2, ceil_mode=True), nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(inplace=True),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(6 * 3 * 3, 8), nn.ReLU(), nn.Linear(8, 3))
    model = _randomise_batchnorm(model).eval()
    X, y = torch.randn(30, 1, 13, 13), torch.randint(0, 3, (30,))
    with torch.no_grad():
        np.testing.assert_array_equal(fastpaths.run_chain(model, X.clone()).numpy(), model(X).numpy())
    pools.clear()
    _compare(model, X, y)
    _compare(model, X, y, fill="mean")
    assert pools and all(s[1:] == (6, 7, 7) for s in pools)    # the first group's variants: 7×7 maps, cropped


@pytest.mark.parametrize("negative", [False, True])
def test_batchnorm_relu_before_a_pool_run_after_it_only_with_positive_scales(negative, monkeypatch):
    # BN (positive scales) and ReLU are non-decreasing per channel, so they commute with the
    # max-pool; one negative scale makes the BN decreasing on its channel: kept in order
    torch.manual_seed(5)
    model = _randomise_batchnorm(nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(6 * 4 * 4, 8), nn.ReLU(), nn.Linear(8, 3)))
    with torch.no_grad():
        model[3].weight.abs_().add_(0.1)
        if negative:
            model[3].weight[2] = -0.7
    shapes = []
    real_bn = nn.BatchNorm2d.forward
    monkeypatch.setattr(nn.BatchNorm2d, "forward", lambda self, x: shapes.append(tuple(x.shape[2:])) or real_bn(self, x))
    X, y = torch.randn(30, 1, 9, 9), torch.randint(0, 3, (30,))
    with torch.no_grad():
        np.testing.assert_allclose(fastpaths.run_chain(model, X.clone()).numpy(), model(X).numpy(), rtol=1e-6, atol=1e-7)
    assert shapes[0] == ((9, 9) if negative else (4, 4))          # pooled first (odd 9x9 cropped) unless a scale is < 0
    _compare(model.eval(), X, y)
    _compare(model.eval(), X, y, fill="mean")


@pytest.mark.parametrize("between, fill", [((), None), ((nn.Dropout(0.2),), "mean"), ((nn.Identity(),), None)])
def test_flatten_linear_channel_blocks_equal_naive(between, fill, monkeypatch):
    # a conv group read by a Linear through Flatten: each variant's Linear output is z plus one
    # block product; the spy proves the path ran for that group
    calls = []
    real = fastpaths.add_channel_blocks
    monkeypatch.setattr(fastpaths, "add_channel_blocks", lambda *a: calls.append(a[1].shape[1:]) or real(*a))
    torch.manual_seed(6)
    model = _randomise_batchnorm(nn.Sequential(
        nn.Conv2d(2, 5, 3, padding=1), nn.BatchNorm2d(5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), *between,
        nn.Linear(5 * 5 * 5, 12), nn.ReLU(), nn.Linear(12, 3)))
    X, y = torch.randn(40, 2, 10, 11), torch.randint(0, 3, (40,))
    _compare(model.eval(), X, y, fill=fill)
    assert calls and all(tuple(s) == (5, 5) for s in calls)
    calls.clear()
    _compare(model.eval(), X, y, ids=np.array([4, 0, 2]))
    assert calls
