"""Pure-exploration policies for top-k identification (issue 21 §2): successive rejects (SAR) and
successive halving, beyond the paper."""

import numpy as np
import pytest
import torch
import torch_pruning as tp
from torch import nn

from mabprune import prune
from mabprune.bandit import exploration_params
from mabprune.policies import CONTROLS, EXPLORATION, PLAYABLE, POLICIES, make
from mabprune.pruning import METHODS, REFERENCES
from mabprune.torch_pruning import BanditImportance

torch.set_num_threads(1)

# 32 Gaussian arms with evenly spread means (sd 0.5): the top 16 are the units to remove. At 13.5
# pulls per arm (one calibration pull each, then 100 rounds of 4) uniform allocation finds the
# exact top half in about one run in five.
MEANS, TOP_K, ROUND, SD = np.linspace(1.0, -1.0, 32), 16, 4, 0.5
BUDGET = MEANS.size + 100 * ROUND


def _play(name: str, seed: int, means=MEANS, top_k=TOP_K, budget=BUDGET):
    """The pruning loop's shape: one calibration pull per arm, then rounds of ROUND arms."""
    params = {"budget": budget, "top_k": top_k} if name in EXPLORATION else {}
    policy = make(name, means.size, seed=seed, **params)
    env = np.random.default_rng(10_000 + seed)
    policy.update(np.arange(means.size), means + SD * env.standard_normal(means.size))
    for _ in range((budget - means.size) // ROUND):
        arms = policy.select(ROUND)
        policy.update(arms, means[arms] + SD * env.standard_normal(arms.size))
    return policy


def _identified(policy, top_k=TOP_K) -> set:
    return set(np.argsort(-policy.estimates, kind="stable")[:top_k].tolist())


def test_exploration_is_its_own_list_and_changes_no_grid():
    assert EXPLORATION == ("successive_rejects", "successive_halving")
    assert PLAYABLE == POLICIES + CONTROLS + EXPLORATION
    assert not set(EXPLORATION) & set(METHODS + REFERENCES)   # the grids' methods and keys are unchanged


def test_identifies_the_top_k_more_often_than_uniform_allocation_at_the_same_budget():
    truth = set(range(TOP_K))   # MEANS is decreasing
    reps = 30
    rate = {name: np.mean([_identified(_play(name, seed)) == truth for seed in range(reps)])
            for name in ("uniform", *EXPLORATION)}
    print("exact top-k identification over", reps, "runs:", rate)
    assert rate["uniform"] <= 0.4   # the budget binds: uniform allocation often fails
    for name in EXPLORATION:
        assert rate[name] >= rate["uniform"] + 0.15, rate


@pytest.mark.parametrize("name", EXPLORATION)
def test_spends_the_budget_exactly_and_decides_every_arm_on_it(name):
    policy = _play(name, 0)
    assert policy.spent == policy.counts.sum() == BUDGET
    assert policy.accepted.size == TOP_K and policy.rejected.size == MEANS.size - TOP_K
    assert policy.undecided.size == 0
    # the estimates are the decisions: every accepted arm above every other, the rejected below
    assert set(policy.accepted.tolist()) == _identified(policy)
    assert policy.estimates[policy.rejected].max() < policy.estimates[policy.accepted].min()
    with pytest.raises(ValueError, match="exceed the budget"):
        policy.select(1)
    with pytest.raises(ValueError, match="exceed the budget"):
        policy.update([0], [0.0])


@pytest.mark.parametrize("name", EXPLORATION)
def test_same_seed_same_decisions_and_other_seeds_differ(name):
    a, b = _play(name, 3), _play(name, 3)
    assert np.array_equal(a.estimates, b.estimates) and np.array_equal(a.counts, b.counts)
    assert not np.array_equal(a.counts, _play(name, 4).counts)


@pytest.mark.parametrize("name", EXPLORATION)
def test_pulls_the_undecided_arms_more_than_the_decided_ones(name):
    policy = _play(name, 0)
    # the arms nearest the top-k boundary (ranks 16 and 17) are the hardest: they get the most pulls
    assert policy.counts[TOP_K - 1:TOP_K + 1].mean() > 2 * policy.counts[[0, -1]].mean()


@pytest.mark.parametrize("name", EXPLORATION)
def test_bad_hyper_parameters_are_named(name):
    with pytest.raises(ValueError, match=r"missing parameter\(s\) \['top_k'\]"):
        make(name, 5, budget=10)
    with pytest.raises(ValueError, match=r"top_k must be in \[0, 5\], got 6"):
        make(name, 5, budget=10, top_k=6)
    with pytest.raises(ValueError, match="budget must be"):
        make(name, 5, budget=0, top_k=2)
    with pytest.raises(ValueError, match="unknown parameter"):
        make(name, 5, budget=10, top_k=2, c=1.0)
    with pytest.raises(ValueError, match="set by the pruning loop"):
        exploration_params(name, {"budget": 10}, budget=20, n_remove=2)
    with pytest.raises(ValueError, match="needs the number of units"):
        exploration_params(name, None, budget=20, n_remove=None)


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 24), nn.ReLU(), nn.Linear(24, 3))


def _data(n=96):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 6, generator=g), torch.randint(0, 3, (n,), generator=g)


@pytest.mark.parametrize("name", EXPLORATION)
def test_prune_removes_exactly_the_identified_set(name):
    model, (X, y) = _mlp(), _data()
    kw = dict(method=name, amount=0.25, rounds=30, arms_per_round=4, batch_size=32, calibration_batches=1,
              seed=0, progress=False)
    result = prune(model, (X, y), **kw)
    assert result.pulls == 24 + 30 * 4   # the budget the loop filled in, spent exactly
    assert result.model[0].out_features == 18
    identified = np.argsort(-result.estimates, kind="stable")[:6]
    assert result.removed["0"] == sorted(identified.tolist())
    again = prune(model, (X, y), **kw)
    assert again.removed == result.removed and np.array_equal(again.counts, result.counts)


def test_prune_names_what_the_loop_fills_in_and_the_ranking_it_needs():
    model, (X, y) = _mlp(), _data()
    with pytest.raises(ValueError, match="set by the pruning loop"):
        prune(model, (X, y), method="successive_rejects", policy_params={"budget": 50})
    with pytest.raises(ValueError, match="set by the pruning amount"):
        prune(model, (X, y), method="successive_halving", policy_params={"top_k": 3})
    with pytest.raises(ValueError, match="rank_by='mean'"):
        prune(model, (X, y), method="successive_rejects", rank_by="lcb")
    with pytest.raises(ValueError, match="unknown method 'successive_reject'"):
        prune(model, (X, y), method="successive_reject")


@pytest.mark.parametrize("name", EXPLORATION)
def test_bandit_importance_plays_it_in_a_torch_pruning_step(name):
    model, (X, y) = _mlp(), _data()
    imp = BanditImportance(data=(X, y), method=name, rounds=30, arms_per_round=4, batch_size=32,
                           calibration_batches=1, policy_params={"top_k": 12}, progress=False)
    pruner = tp.pruner.BasePruner(model, X[:2], importance=imp, pruning_ratio=0.5, global_pruning=True,
                                  ignored_layers=[model[2]])
    pruner.step()
    assert model[0].out_features == 12 and imp.pulls == 24 + 30 * 4
    with pytest.raises(ValueError, match="needs the number of units"):
        BanditImportance(data=(X, y), method=name, rounds=10)
