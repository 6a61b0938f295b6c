"""The batched engine agrees with the naive reference loop on every arm."""

import numpy as np
import pytest
import torch
from torch import nn

from mabprune.arms import find_arms
from mabprune.masks import unit_means
from mabprune.engine import make_engine, make_loss
from mabprune.models import TextClassifier, mlp, small_cnn
from tests.nets import cnn_bn, mlp_bn

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _agree(model, X, y, loss="cross_entropy", fill=None, max_rows=None, dtype=torch.float32):
    model = model.to(dtype)
    X = X.to(dtype) if X.is_floating_point() else X
    arms = find_arms(model, X[:2])
    if fill == "mean":
        fill = unit_means(model, arms, X)
    every = np.arange(arms.n_arms)
    fast = make_engine("batched", model, arms, loss_fn=loss, fill=fill, max_rows=max_rows).pull(every, X, y)
    slow = make_engine("naive", model, arms, loss_fn=loss, fill=fill).pull(every, X, y)
    base = make_engine("naive", model, arms, loss_fn=loss).base_losses(X, y).mean().item()
    return fast, slow, base


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("build, shape", [(mlp_bn, (6,)), (cnn_bn, (2, 8, 8)),
                                          (lambda: mlp(20, 5, hidden=(64, 32, 16)), (20,)),
                                          (lambda: small_cnn((1, 12, 12), 4, channels=(4, 6), hidden=10), (1, 12, 12))])
@pytest.mark.parametrize("fill", [None, "mean"])
def test_batched_equals_naive(build, shape, fill, device):
    torch.manual_seed(3)
    model = build().eval().to(device)
    X, y = torch.randn(48, *shape, device=device), torch.randint(0, 3, (48,), device=device)
    fast, slow, base = _agree(model, X, y, fill=fill, max_rows=97)  # odd chunking on purpose
    assert np.abs(slow).max() > 0
    # 1e-5 relative to the scale of the loss: ΔL is a difference of two losses.
    np.testing.assert_allclose(fast, slow, rtol=1e-5, atol=1e-5 * base)


def test_batched_equals_naive_in_float64_to_rounding():
    torch.manual_seed(4)
    X, y = torch.randn(40, 6), torch.randint(0, 3, (40,))
    fast, slow, _ = _agree(mlp_bn(), X, y, dtype=torch.float64)
    np.testing.assert_allclose(fast, slow, rtol=1e-10, atol=1e-12)


def test_batched_equals_naive_for_regression_and_text():
    torch.manual_seed(5)
    X, y = torch.randn(30, 8), torch.randn(30)
    fast, slow, base = _agree(mlp(8, 1, hidden=(16, 16)), X, y, loss="mse")
    np.testing.assert_allclose(fast, slow, rtol=1e-5, atol=1e-5 * base)
    tokens = torch.randint(0, 50, (30, 12))
    tokens[:, 8:] = 0
    fast, slow, base = _agree(TextClassifier(50, 3, embed_dim=8, hidden=16), tokens, torch.randint(0, 3, (30,)))
    np.testing.assert_allclose(fast, slow, rtol=1e-5, atol=1e-5 * base)


def test_pull_order_subsets_and_repeat():
    torch.manual_seed(6)
    model = mlp_bn()
    X, y = torch.randn(32, 6), torch.randint(0, 3, (32,))
    arms = find_arms(model, X[:2])
    eng = make_engine("batched", model, arms)
    full = eng.pull(np.arange(arms.n_arms), X, y)
    picked = np.array([29, 0, 17, 3, 17])
    np.testing.assert_allclose(eng.pull(picked, X, y), full[picked], rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(eng.pull(picked, X, y), eng.pull(picked, X, y))


def test_dead_unit_has_zero_delta():
    model = mlp(5, 2, hidden=(6,)).eval()
    with torch.no_grad():
        model[2].weight[:, 4] = 0
    X, y = torch.randn(20, 5), torch.randint(0, 2, (20,))
    arms = find_arms(model, X[:2])
    for name in ("batched", "naive"):
        assert make_engine(name, model, arms).pull([4], X, y)[0] == 0.0


def test_pulls_run_in_eval_mode_and_restore_training_flag():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 2)).train()
    X, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
    arms = find_arms(model, X[:2])
    eng = make_engine("batched", model, arms)
    a, b = eng.pull(range(8), X, y), eng.pull(range(8), X, y)
    np.testing.assert_array_equal(a, b)   # dropout off: deterministic
    assert model.training


def test_engine_and_loss_errors():
    model = mlp(3, 2, hidden=(4,))
    arms = find_arms(model, torch.zeros(2, 3))
    with pytest.raises(ValueError, match="unknown engine 'fast'"):
        make_engine("fast", model, arms)
    with pytest.raises(ValueError, match="unknown loss_fn 'hinge'"):
        make_loss("hinge")
    with pytest.raises(ValueError, match="one loss per sample"):
        make_engine("naive", model, arms, loss_fn=lambda o, t: o.sum()).pull([0], torch.zeros(4, 3), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="max_rows"):
        make_engine("batched", model, arms, max_rows=0)


class _ResNeXtNet(nn.Module):
    """A stem and two ResNeXt bottlenecks (grouped 3x3 convolution, groups=4) in a residual stream."""

    def __init__(self):
        super().__init__()
        self.stem, self.bn, self.relu = nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU()
        self.blocks = nn.ModuleList(nn.ModuleDict(dict(
            conv1=nn.Conv2d(16, 16, 1, bias=False), bn1=nn.BatchNorm2d(16),
            conv2=nn.Conv2d(16, 16, 3, padding=1, groups=4, bias=False), bn2=nn.BatchNorm2d(16),
            conv3=nn.Conv2d(16, 16, 1, bias=False), bn3=nn.BatchNorm2d(16))) for _ in range(2))
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        x = self.relu(self.bn(self.stem(x)))
        for b in self.blocks:
            o = self.relu(b["bn1"](b["conv1"](x)))
            o = self.relu(b["bn2"](b["conv2"](o)))
            x = self.relu(b["bn3"](b["conv3"](o)) + x)
        return self.fc(x.mean((2, 3)))


def _resnext():
    from tests.nets import _randomise_batchnorm
    torch.manual_seed(0)
    return _randomise_batchnorm(_ResNeXtNet())


def test_grouped_convolution_bottleneck_refused_by_name_and_batched_equals_naive():
    model = _resnext()
    X, y = torch.randn(12, 3, 8, 8), torch.randint(0, 5, (12,))
    arms = find_arms(model, X[:2])
    assert "grouped convolution (groups=4)" in arms.rejected["blocks.0.conv1"]
    assert "blocks.0.conv2" in arms.rejected and "blocks.1.conv2" in arms.rejected
    every = np.arange(arms.n_arms)
    fast = make_engine("batched", model, arms).pull(every, X, y)
    slow = make_engine("naive", model, arms).pull(every, X, y)
    np.testing.assert_allclose(fast, slow, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("build, shape, path", [(cnn_bn, (2, 8, 8), "_pull_sliced"),
                                                (_resnext, (3, 8, 8), "_pull_general")])
def test_a_fast_path_that_fails_falls_back_to_the_naive_loop_saying_so_once(build, shape, path, monkeypatch):
    model = build()
    X, y = torch.randn(16, *shape), torch.randint(0, 4, (16,))
    arms = find_arms(model, X[:2])
    every = np.arange(arms.n_arms)
    slow = make_engine("naive", model, arms).pull(every, X, y)
    eng = make_engine("batched", model, arms)

    def broken(*args, **kwargs):
        raise IndexError("index 7 is out of bounds for dimension 1 with size 4")
    monkeypatch.setattr(type(eng), path, broken)
    with pytest.warns(RuntimeWarning, match=r"cannot pull the arms of group.*naive") as record:
        fast = eng.pull(every, X, y)
        eng.pull(every, X, y)   # the second pull says nothing new
    assert len([w for w in record if "naive" in str(w.message)]) == (1 if path == "_pull_general" else len(arms.layers))
    np.testing.assert_allclose(fast, slow, rtol=1e-5, atol=1e-7)
