"""LSTM hidden units as arms: one arm = one unit across its four gates (and both directions),
masked by closing its output gate, which must equal removing it (rows of every gate, its
recurrent column, the readers' input channels) for every unit, alone and batched per row;
models users bring (sequence-first, called twice, a stacked LSTM refused by name)."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from mabprune import graph, inputs, prune, reuse
from mabprune.arms import find_arms
from mabprune.engine import make_engine
from mabprune.masks import Masker
from mabprune.models import HierarchicalRNN, LSTMClassifier

torch.set_num_threads(1)


def _tokens(n, length=9, vocab=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(2, vocab, (n, length), generator=g)
    lengths = torch.randint(3, length + 1, (n,), generator=g)
    tokens[torch.arange(length)[None, :] >= lengths[:, None]] = 0
    return tokens


class SequenceFirst(nn.Module):
    """A user's model: sequence-first LSTM with an initial state, its last step read by a Linear."""

    def __init__(self):
        super().__init__()
        self.lstm, self.fc, self.out = nn.LSTM(3, 6, batch_first=False), nn.Linear(6, 5), nn.Linear(5, 2)
        self.h0 = nn.Parameter(torch.randn(1, 1, 6) * 0.5, requires_grad=False)

    def forward(self, x):                        # x: (B, T, 3)
        seq = x.transpose(0, 1)
        state = (self.h0.expand(1, x.shape[0], 6).contiguous(), torch.zeros(1, x.shape[0], 6))
        return self.out(torch.relu(self.fc(self.lstm(seq)[0][-1])))


class CalledTwice(nn.Module):
    """One LSTM encodes both sentences of a pair (a shared module: its unit is one arm)."""

    def __init__(self):
        super().__init__()
        self.lstm, self.out = nn.LSTM(4, 5, batch_first=True), nn.Linear(5, 2)

    def forward(self, x):                        # x: (B, 2, T, 4)
        a, b = self.lstm(x[:, 0])[0][:, -1], self.lstm(x[:, 1])[0][:, -1]
        return self.out((a - b).abs())


CASES = {
    "lstm": (lambda: LSTMClassifier(40, 3, embed_dim=5, lstm=6, hidden=4), lambda n: _tokens(n), 3, {"lstm"}),
    "bilstm": (lambda: LSTMClassifier(40, 3, embed_dim=5, lstm=6, hidden=4, bidirectional=True),
               lambda n: _tokens(n), 3, {"lstm"}),
    "hrnn": (lambda: HierarchicalRNN((1, 6, 5), 3, row_hidden=4, col_hidden=5, hidden=4),
             lambda n: torch.randn(n, 1, 6, 5), 3, {"rows", "cols"}),
    "sequence_first": (SequenceFirst, lambda n: torch.randn(n, 7, 3), 2, {"lstm"}),
    "called_twice": (CalledTwice, lambda n: torch.randn(n, 2, 6, 4), 2, {"lstm"}),
}


def _case(name, n=10):
    make, data, n_classes, lstms = CASES[name]
    torch.manual_seed(0)
    model = make().eval()
    torch.manual_seed(1)
    return model, data(n), torch.randint(0, n_classes, (n,)), lstms


@pytest.mark.parametrize("name", CASES)
def test_every_lstm_unit_masked_equals_removed(name):
    model, X, _, lstms = _case(name)
    arms = find_arms(model, X[:2])
    assert lstms <= {layer.name for layer in arms.layers if layer.kind == "lstm"}, arms.rejected
    for layer in arms.layers:
        if layer.kind != "lstm":
            continue
        for unit in range(layer.n_units):
            with torch.no_grad(), Masker(model, arms) as masker:
                masker.set([layer.offset + unit])
                masked = model(X)
            removed = copy.deepcopy(model)
            graph.remove(removed, X[:2], {layer.name: [unit]})
            lstm = dict(removed.named_modules())[layer.name]
            assert lstm.hidden_size == layer.n_units - 1
            with torch.no_grad():
                torch.testing.assert_close(removed(X), masked, rtol=1e-5, atol=1e-6)
            with torch.no_grad():   # and the mask changed something: the unit was not dead
                assert not torch.allclose(masked, model(X))


@pytest.mark.parametrize("name", CASES)
def test_batched_per_row_masks_equal_the_naive_loop(name):
    model, X, y, _ = _case(name)
    arms = find_arms(model, X[:2])
    ids = np.arange(arms.n_arms)
    with pytest.warns(RuntimeWarning, match="naive") if name == "hrnn" else _no_warning():
        fast = make_engine("batched", model, arms, max_rows=3 * len(X)).pull(ids, X, y)
    slow = make_engine("naive", model, arms).pull(ids, X, y)
    assert np.abs(slow).max() > 0
    np.testing.assert_allclose(fast, slow, rtol=1e-5, atol=1e-6)


class _no_warning:
    def __enter__(self):
        import warnings
        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("error", RuntimeWarning)

    def __exit__(self, *exc):
        self._catch.__exit__(*exc)


def test_lstm_unit_pulls_reuse_the_embedding_and_run_the_lstm():
    model, X, y, _ = _case("lstm", n=12)
    arms = find_arms(model, X[:2])
    ids = np.arange(arms.n_arms)[arms.layer_slices()["lstm"]]
    eng = make_engine("batched", model, arms, max_rows=3 * len(X))
    eng.pull(ids, X, y)
    plan = eng._plans[reuse.signature(X)]
    actions = dict(zip((getattr(op.func, "__name__", "") for op in plan.ops), plan.schedule(eng._readers(ids)).actions))
    assert actions["embedding"] == reuse.SERVE   # computed once per pull, served to every copy


def test_prune_shrinks_the_lstm_and_the_model_runs():
    model, X, y, _ = _case("bilstm", n=24)
    result = prune(model, (X, y), method="ucb1", amount=0.5, rounds=3, arms_per_round=8, batch_size=8,
                   layers=["lstm"], device="cpu")
    assert result.model.lstm.hidden_size < model.lstm.hidden_size
    assert result.model.dense.in_features == 2 * result.model.lstm.hidden_size
    assert result.macs_after < result.macs_before
    with torch.no_grad():
        assert torch.isfinite(result.model(X)).all()


def test_a_stacked_lstm_is_refused_by_name():
    class Stacked(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm, self.fc, self.out = nn.LSTM(3, 4, num_layers=2, batch_first=True), nn.Linear(4, 4), nn.Linear(4, 2)

        def forward(self, x):
            return self.out(torch.relu(self.fc(self.lstm(x)[0][:, -1])))

    model, x = Stacked().eval(), torch.randn(2, 5, 3)
    arms = find_arms(model, x)
    assert "num_layers=2" in arms.rejected["lstm"]
    with pytest.raises(ValueError, match="'lstm'.*num_layers=2"):
        find_arms(model, x, layers=["lstm"])


def test_mean_replacement_refuses_lstm_units_by_name():
    model, X, y, _ = _case("lstm", n=12)
    with pytest.raises(ValueError, match="LSTM 'lstm'"):
        prune(model, (X, y), method="ucb1", amount=0.3, rounds=2, replacement="mean", device="cpu")


def test_an_error_inside_a_masked_forward_leaves_the_lstm_as_it_was():
    model, X, y, _ = _case("lstm", n=6)
    arms = find_arms(model, X[:2])
    with pytest.raises(ValueError, match="batched"):
        with Masker(model, arms) as masker:
            masker.set([0])
            model.lstm(torch.randn(9, 5))   # an unbatched sequence: the mask cannot say which row it is
    assert "forward" not in vars(model.lstm)
    with torch.no_grad():
        torch.testing.assert_close(model(X), copy.deepcopy(model)(X))


def test_magnitude_of_an_lstm_unit_is_the_norm_of_its_gate_rows():
    model, X, y, _ = _case("bilstm", n=12)
    arms = find_arms(model, X[:2], layers=["lstm"])
    from mabprune.baselines import magnitude_scores
    lstm, H = model.lstm, model.lstm.hidden_size
    rows = [torch.cat([getattr(lstm, f"{k}{s}")[[j + g * H for g in range(4)]].reshape(-1)
                       for k in ("weight_ih", "weight_hh") for s in ("_l0", "_l0_reverse")]) for j in range(H)]
    expected = [-float(r.double().norm()) for r in rows]
    np.testing.assert_allclose(magnitude_scores(arms), expected, rtol=1e-12)
    result = prune(model, (X, y), method="magnitude", amount=0.5, layers=["lstm"], device="cpu")
    assert result.model.lstm.hidden_size == H - H // 2


@pytest.mark.parametrize("method", ["taylor", "activation_variation", "exact", "uniform", "thompson"])
def test_every_kind_of_method_prunes_lstm_units(method):
    model, X, y, _ = _case("lstm", n=24)
    result = prune(model, (X, y), method=method, amount=0.5, rounds=4, arms_per_round=8, batch_size=8,
                   layers=["lstm"], device="cpu")
    assert result.model.lstm.hidden_size == 3 and result.model.dense.in_features == 3
    with torch.no_grad():
        assert torch.isfinite(result.model(X)).all()
