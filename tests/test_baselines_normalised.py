"""Issue 8 §1: Molchanov's Taylor criterion, per-layer normalisation, equal budgets, stochastic rewards."""

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from mabprune import baselines
from mabprune.arms import find_arms
from mabprune.policies import POLICIES
from mabprune.pruning import prune
from mabprune.removal import select_removals
from mabprune.rewards import make_reward, reward_batch


def two_layer_net():
    """1 → 2 → 2 → 1, weights set by hand (ReLU is the identity on the positive inputs used)."""
    model = nn.Sequential(nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0], [2.0]]))
        model[0].bias.zero_()
        model[2].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
        model[2].bias.zero_()
        model[4].weight.copy_(torch.tensor([[1.0, 3.0]]))
        model[4].bias.zero_()
    return model


def test_taylor_matches_a_hand_computed_example():
    model = two_layer_net()
    X, y = torch.tensor([[1.0], [2.0]]), torch.tensor([0.0, 0.0])
    mse = lambda o, t: (o.squeeze(1) - t) ** 2
    arms = find_arms(model, X)
    # Layer 0: a = (x, 2x), layer 2: b = a; output o = b1 + 3 b2 = 7x, L = mean(o²) = mean(49 x²).
    # dL/dg for a unit with output u read with weight w downstream: mean(2 o · w · u).
    # a1: mean(2·7x·1·x) = 14·2.5 = 35; a2: mean(2·7x·3·2x) = 84·2.5 = 210; b1 = 35; b2 = 210.
    signed = baselines.taylor_scores(model, arms, X, y, mse, variant="signed")
    np.testing.assert_allclose(signed, [35.0, 210.0, 35.0, 210.0], rtol=1e-6)
    np.testing.assert_allclose(baselines.taylor_scores(model, arms, X, y, mse, variant="raw", definition="abs_split"),
                               [-35.0, -210.0, -35.0, -210.0], rtol=1e-6)
    n = np.hypot(35.0, 210.0)
    np.testing.assert_allclose(baselines.taylor_scores(model, arms, X, y, mse, definition="abs_split"),
                               [-35 / n, -210 / n, -35 / n, -210 / n], rtol=1e-6)
    # The absolute value: a unit whose removal lowers the loss a lot is not "safest".
    with torch.no_grad():
        model[4].weight[0, 1] = -3.0
    signed = baselines.taylor_scores(model, arms, X, y, mse, variant="signed")
    assert signed[1] < 0 < signed[0] or signed[0] < 0 < signed[1]
    raw = baselines.taylor_scores(model, arms, X, y, mse, variant="raw", definition="abs_split")
    np.testing.assert_allclose(raw, -np.abs(signed))


def test_normalised_magnitude_matches_a_hand_computed_example():
    model = two_layer_net()
    arms = find_arms(model, torch.ones(1, 1))
    # Layer 0 unit norms: in (1, 0 bias) + out column (1, 0) -> sqrt(2); (2) + (0, 1) -> sqrt(5).
    # Layer 2: in rows (1, 0), (0, 1) + out 1, 3 -> sqrt(2), sqrt(10).
    raw = baselines.magnitude_scores(arms, definition="in_out")
    np.testing.assert_allclose(raw, -np.sqrt([2, 5, 2, 10]))
    norm = baselines.magnitude_scores(arms, variant="normalized", definition="in_out")
    np.testing.assert_allclose(norm, -np.sqrt([2 / 7, 5 / 7, 2 / 12, 10 / 12]))
    with pytest.raises(ValueError, match="unknown variant 'signed' for baseline 'magnitude'"):
        baselines.magnitude_scores(arms, variant="signed")


def test_normalisation_evens_out_layers_of_different_scale():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    with torch.no_grad():
        model[0].weight.mul_(20)  # the first layer's norms dwarf the second's
    X = torch.randn(64, 4)
    arms = find_arms(model, X[:2])
    raw = select_removals(baselines.magnitude_scores(arms), arms, 7)
    norm = select_removals(baselines.magnitude_scores(arms, variant="normalized"), arms, 7)
    assert (raw >= 8).all()          # raw norms strip only the small-scale layer
    assert (norm < 8).any() and (norm >= 8).any()
    var = baselines.activation_variation_scores(model, arms, X, variant="normalized")
    for sl in arms.layer_slices().values():
        assert np.linalg.norm(var[sl]) == pytest.approx(1.0)


def test_ties_are_broken_at_random_not_by_index():
    arms = find_arms(two_layer_net(), torch.ones(1, 1))
    scores = np.zeros(4)
    firsts = {int(select_removals(scores, arms, 1, rng=np.random.default_rng(s))[0]) for s in range(20)}
    assert firsts == {0, 1, 2, 3}
    assert select_removals(scores, arms, 1)[0] == 0  # without a generator: by index, as before


def _data(n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 6, generator=g), torch.randint(0, 3, (n,), generator=g)


@pytest.mark.parametrize("arms_per_round", [5, 7])
def test_every_policy_makes_the_same_number_of_pulls(arms_per_round):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))
    X, y = _data()
    pulls = {m: prune(model, (X, y), method=m, amount=0.3, rounds=12, arms_per_round=arms_per_round,
                      batch_size=32, steps=2).pulls for m in POLICIES}
    assert len(set(pulls.values())) == 1, pulls
    assert pulls["ucb1"] == 4 * (24 + 20) + 12 * arms_per_round  # calibration over both steps + rounds


def test_none_is_fine_tuned_after_every_step_like_the_others():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    X, y = _data()
    for method in ("none", "magnitude", "ucb1"):
        calls = []
        prune(model, (X, y), method=method, amount=0.5, steps=3, rounds=6, arms_per_round=4, batch_size=32,
              fine_tune=lambda m: calls.append(1))
        assert len(calls) == 3, method


def test_reward_batches_are_samples_and_full_batches_warn():
    assert reward_batch(40, 64, 0.25) == (10, False)
    assert reward_batch(12, 64, 0.25) == (12, True)     # a quarter is 3 rows: a bootstrap sample
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    X, y = _data(40)
    with pytest.warns(UserWarning, match="every pull sees the same batch"):
        prune(model, (X, y), method="ucb1", amount=0.5, rounds=4, arms_per_round=4, batch_size=64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = prune(model, (X, y), method="ucb1", amount=0.5, rounds=4, arms_per_round=4, batch_size=64,
                    max_batch_fraction=0.25)
        prune(model, (X, y), method="magnitude", amount=0.5, batch_size=64)  # baselines use no mini-batches
    rewards = np.concatenate([h["rewards"] for h in res.history])
    assert 0.0 <= res.clipped_fraction <= 1.0 and len(np.unique(rewards)) > 1


def test_unit_scale_counts_what_it_clips():
    unit = make_reward("unit", widen=0.0).fit([0.0, 1.0])
    np.testing.assert_allclose(unit(np.array([-1.0, 0.5, 2.0, 0.25])), [1.0, 0.5, 0.0, 0.75])
    assert (unit.n_rewards_, unit.n_clipped_) == (4, 2) and unit.clipped_fraction == 0.5
    assert np.isnan(make_reward("unit").clipped_fraction)
