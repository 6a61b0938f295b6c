"""The general path reuses what no mask can change (mabprune.reuse), and stays naive-exact.

Every test pulls with several chunks of arms (a small ``max_rows``) so that the replay runs
more than once per pull, and compares ΔL with the naive loop to 1e-5 of the loss.
"""

import numpy as np
import pytest
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from mabprune import inputs, reuse
from mabprune.arms import find_arms
from mabprune.engine import make_engine
from mabprune.masks import unit_means
from mabprune.models import LSTMClassifier, TextCNN
from tests.nets import _randomise_batchnorm
from tests.zoo import build, zoo

ZOO = [name for name in zoo() if name != "resnet50"]   # resnet50: test_zoo covers it; seconds per pull here


def _tokens(n, length=9, vocab=50, seed=0):
    """Token ids padded at the end, as the text encoders give them."""
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(2, vocab, (n, length), generator=g)
    lengths = torch.randint(3, length + 1, (n,), generator=g)
    tokens[torch.arange(length)[None, :] >= lengths[:, None]] = 0
    return tokens


def _agree(model, X, y, ids=None, *, max_rows=None, fill=None, nonzero=True, layers=None, **engine):
    """Batched (reuse on, several chunks) against naive on ``ids``; returns the batched engine
    and the arms (and the naive ΔL when ``nonzero`` is False)."""
    arms = find_arms(model, inputs.index(X, slice(0, 2)), layers=layers)
    ids = np.arange(arms.n_arms) if ids is None else np.asarray(ids)
    fill = unit_means(model, arms, X) if fill == "mean" else fill
    rows = max_rows or 3 * inputs.length(X)   # three arms per chunk
    eng = make_engine("batched", model, arms, max_rows=rows, fill=fill, **engine)
    fast = eng.pull(ids, X, y)
    slow = make_engine("naive", model, arms, fill=fill).pull(ids, X, y)
    base = make_engine("naive", model, arms).base_losses(X, y).mean().item()
    assert np.abs(slow).max() > 0 or not nonzero
    np.testing.assert_allclose(fast, slow, rtol=1e-5, atol=1e-5 * base)
    return (eng, arms) if nonzero else (eng, arms, slow)


def _schedule(eng, arms, X, ids):
    plan = eng._plans.get(reuse.signature(X))
    return None if plan is None else plan.schedule(eng._readers(np.asarray(ids)))


@pytest.mark.parametrize("name", ZOO)
def test_reuse_equals_naive_on_the_zoo_group_by_group(name):
    model, make, n_classes = build(name)
    torch.manual_seed(1)
    for m in model.modules():   # torchvision's ViT head starts at zero: every ΔL would be 0
        if isinstance(m, nn.Linear) and not m.weight.any():
            nn.init.normal_(m.weight, std=0.5)
    X, y = make(10), torch.randint(0, n_classes, (10,))
    arms = find_arms(model, inputs.index(X, slice(0, 2)))
    changed = 0.0
    for layer in arms.layers:   # one group per pull: its own frontier
        ids = layer.offset + np.array(sorted({0, 1, layer.n_units - 1}))
        eng, _, slow = _agree(model, X, y, ids, nonzero=False)
        changed = max(changed, float(np.abs(slow).max()))
        if not arms.chain:   # chains take the fast paths; every other zoo model is replayed
            assert _schedule(eng, arms, X, ids) is not None, layer.name
    assert changed > 0


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("fill", [None, "mean"])
def test_lstm_classifier_head_arms_skip_the_lstm_and_equal_naive(bidirectional, fill):
    torch.manual_seed(2)
    model = LSTMClassifier(50, 3, embed_dim=8, lstm=6, hidden=7, bidirectional=bidirectional).eval()
    X, y = _tokens(12), torch.randint(0, 3, (12,))
    eng, arms = _agree(model, X, y, fill=fill, layers=["dense"])   # the head arms (the LSTM's units: test_recurrent_arms)
    actions = dict(zip((getattr(op.func, "__name__", "") for op in eng._plans[reuse.signature(X)].ops),
                       _schedule(eng, arms, X, range(arms.n_arms)).actions))
    assert actions["lstm"] == reuse.SKIP and actions["embedding"] == reuse.SKIP


@pytest.mark.parametrize("fill", [None, "mean"])
def test_text_cnn_filters_dense_units_and_both_equal_naive(fill):
    torch.manual_seed(3)
    model = TextCNN(50, 3, embed_dim=8, filters=6, hidden=5).eval()
    X, y = _tokens(12), torch.randint(0, 3, (12,))
    arms = find_arms(model, X[:2])
    slices = arms.layer_slices()
    for ids in (np.arange(arms.n_arms)[slices["conv"]], np.arange(arms.n_arms)[slices["dense"]],
                np.arange(arms.n_arms)):
        eng, _ = _agree(model, X, y, ids, fill=fill)
        assert _schedule(eng, arms, X, ids) is not None


class _Truncated(LSTMClassifier):
    """Cuts the batch to its longest sequence: a shape read from the data."""

    def forward(self, tokens):
        return super().forward(tokens[:, : int((tokens != 0).sum(1).max())])


@pytest.mark.parametrize("longest", [0, 2])
def test_a_length_read_from_the_batch(longest):
    """The probes take the first 2 and 3 samples: with the longest sequence first, every shape
    is proven and the LSTM skipped; with it third, the LSTM's output length follows the probe
    batch, no placeholder can be proven and the LSTM runs, exact either way."""
    torch.manual_seed(9)
    model = _Truncated(50, 3, embed_dim=8, lstm=6, hidden=7).eval()
    X, y = _tokens(12, length=12), torch.randint(0, 3, (12,))
    X[:3, 6:] = 0
    X[longest] = torch.arange(2, 14)
    eng, arms = _agree(model, X, y, layers=["dense"])
    schedule = _schedule(eng, arms, X, range(arms.n_arms))
    actions = {getattr(op.func, "__name__", ""): a for op, a in zip(schedule.plan.ops, schedule.actions)}
    assert actions["max"] == reuse.SERVE and actions["__int__"] == reuse.RUN
    assert actions["lstm"] == (reuse.SKIP if longest == 0 else reuse.RUN)


class _Counter(TorchFunctionMode):
    """Counts the executions of one torch function (a replay that skips it never calls it)."""

    def __init__(self, name):
        super().__init__()
        self.name, self.n = name, 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.n += getattr(func, "__name__", "") == self.name
        return func(*args, **(kwargs or {}))


def test_the_lstm_runs_once_per_pull_not_once_per_chunk():
    torch.manual_seed(4)
    model = LSTMClassifier(50, 3, embed_dim=8, lstm=6, hidden=7).eval()
    X, y = _tokens(20), torch.randint(0, 3, (20,))
    arms = find_arms(model, X[:2], layers=["dense"])
    ids = np.arange(arms.n_arms)                        # 7 arms, 3 per chunk: 3 chunks
    for use, expected in ((True, 1), (False, 1 + 3)):   # the unmasked pass, then one per chunk without reuse
        eng = make_engine("batched", model, arms, max_rows=60, reuse=use)
        first = eng.pull(ids, X, y)                     # the first pull also probes the model (2 small forwards)
        with _Counter("lstm") as counter:
            again = eng.pull(ids, X, y)
        assert counter.n == expected
        np.testing.assert_array_equal(first, again)


class _InplaceShared(nn.Module):
    """A conv stem with BatchNorm, one ``nn.ReLU(inplace=True)`` called four times, a residual."""

    def __init__(self):
        super().__init__()
        self.stem, self.bn = nn.Conv2d(2, 6, 3, padding=1), nn.BatchNorm2d(6)
        self.act = nn.ReLU(inplace=True)
        self.conv1, self.conv2 = nn.Conv2d(6, 5, 3, padding=1), nn.Conv2d(5, 6, 3, padding=1)
        self.fc, self.out = nn.Linear(6, 8), nn.Linear(8, 3)

    def forward(self, x):
        h = self.act(self.bn(self.stem(x)))
        h = self.act(self.conv2(self.act(self.conv1(h))) + h)
        return self.out(self.act(self.fc(h.mean((2, 3)))))


def test_inplace_relu_called_several_times_and_batchnorm_equal_naive():
    torch.manual_seed(5)
    model = _randomise_batchnorm(_InplaceShared())
    X, y = torch.randn(10, 2, 6, 6), torch.randint(0, 3, (10,))
    arms = find_arms(model, X[:2])
    assert not arms.chain and len(arms.layers) == 3
    for layer in arms.layers:
        ids = layer.offset + np.arange(layer.n_units)
        eng, _ = _agree(model, X, y, ids)
        assert _schedule(eng, arms, X, ids) is not None
    _agree(model, X, y)


class _ViewWrite(nn.Module):
    """In-place writes through a view of an activation, a Python number read from the batch,
    and a reader whose input is a transposed (non-contiguous) view."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(3, 6, 3, padding=1)
        self.a, self.out = nn.Linear(6, 5), nn.Linear(5, 3)

    def forward(self, x):
        h = torch.relu(self.conv(x))
        h[:, :, :2].mul_(2.0)                    # a write through a view (first positions), after h is made
        scale = float(x.abs().max())             # a Python number read from the batch
        z = torch.relu(self.a(h.transpose(1, 2))) / scale
        return self.out(z).mean(1)


class _WritesBuffer(nn.Module):
    """A forward that changes its own buffer: replaying it would not."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.out = nn.Linear(6, 8), nn.Linear(8, 5), nn.Linear(5, 3)
        self.register_buffer("calls", torch.zeros(()))

    def forward(self, x):
        self.calls.add_(1)
        return self.out(torch.relu(self.b(torch.relu(self.a(x)))))


class _FromNumpy(_WritesBuffer):
    """A tensor made where the tape cannot see it (``torch.from_numpy`` is no torch function)."""

    def forward(self, x):
        shift = torch.from_numpy(np.full(8, 0.5, dtype=np.float32))
        return self.out(torch.relu(self.b(torch.relu(self.a(x)) + shift)))


def test_writes_through_views_python_numbers_and_transposed_readers_equal_naive():
    torch.manual_seed(6)
    model = _ViewWrite().eval()
    X, y = torch.randn(10, 3, 7), torch.randint(0, 3, (10,))
    eng, arms = _agree(model, X, y)
    assert [layer.name for layer in arms.layers] == ["conv", "a"]
    for layer in arms.layers:
        ids = layer.offset + np.arange(layer.n_units)
        eng, _ = _agree(model, X, y, ids)
        schedule = _schedule(eng, arms, X, ids)
        names = [getattr(op.func, "__name__", "") for op in schedule.plan.ops[:schedule.frontier]]
        # conv's reader a sees h after the write: ReLU served, the write made on the copy; a's
        # reader sees only z: the write is skipped with everything under it
        assert schedule.actions[names.index("mul_")] == (reuse.RUN if layer.name == "conv" else reuse.SKIP)
        assert schedule.actions[names.index("relu")] == (reuse.SERVE if layer.name == "conv" else reuse.SKIP)
        # float(x.abs().max()) runs (a Python number), on the max served from the unmasked pass
        assert schedule.actions[names.index("max")] == reuse.SERVE and schedule.x_needed == (False,)


@pytest.mark.parametrize("make", [_WritesBuffer, _FromNumpy])
def test_forwards_the_tape_cannot_prove_take_the_old_path(make):
    torch.manual_seed(7)
    model = make().eval()
    X, y = torch.randn(10, 6), torch.randint(0, 3, (10,))
    eng, arms = _agree(model, X, y)
    assert not arms.chain and eng._plans[reuse.signature(X)] is None


class _SizeBranch(nn.Module):
    """Reads a value after the frontier only on batches of more than 12 rows: the replicated
    pass leaves the path the probes and the unmasked pass took."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.side, self.out = nn.Linear(6, 8), nn.Linear(8, 5), nn.Linear(6, 3), nn.Linear(5, 3)

    def forward(self, x):
        s = torch.tanh(self.side(x))
        z = self.out(torch.relu(self.b(torch.relu(self.a(x)))))
        return z + s if len(x) > 12 else z


def test_a_replay_that_leaves_the_recorded_path_is_recomputed_the_old_way():
    torch.manual_seed(8)
    model = _SizeBranch().eval()
    X, y = torch.randn(10, 6), torch.randint(0, 3, (10,))
    arms = find_arms(model, X[:2])
    ids = np.arange(arms.n_arms)
    eng = make_engine("batched", model, arms, max_rows=30)
    fast = eng.pull(ids, X, y)
    assert eng._plans[reuse.signature(X)] is None                  # diverged: dropped for this input signature
    # The general path sees the replicated batch (30 rows), as it always did: the same numbers.
    np.testing.assert_allclose(fast, make_engine("batched", model, arms, max_rows=30, reuse=False).pull(ids, X, y),
                               rtol=1e-6, atol=1e-9)


def test_an_error_in_a_replayed_pass_leaves_no_mode_or_hook_behind():
    class Fails(_SizeBranch):
        def forward(self, x):
            if len(x) > 12:
                raise RuntimeError("no big batches")
            return super().forward(x)

    model = Fails().eval()
    X, y = torch.randn(10, 6), torch.randint(0, 3, (10,))
    arms = find_arms(model, X[:2])
    hooks = {name: len(m._forward_pre_hooks) + len(m._forward_hooks) for name, m in model.named_modules()}
    with pytest.raises(RuntimeError, match="no big batches"):
        make_engine("batched", model, arms, max_rows=30).pull(np.arange(arms.n_arms), X, y)
    assert not torch._C._is_torch_function_mode_enabled()
    assert hooks == {name: len(m._forward_pre_hooks) + len(m._forward_hooks) for name, m in model.named_modules()}
