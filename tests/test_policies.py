"""Tests of mabprune.policies: learning on synthetic bandits, EXP3's sampling, numerical
stability over long runs, determinism, RNG hygiene and input validation."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import torch

from mabprune import policies
from mabprune.policies import adversarial, base, stochastic
from mabprune.policies import EXP3, POLICIES, UCB1, EpsilonGreedy, Hedge, Thompson, make

MEANS = np.linspace(0.1, 0.9, 10)  # arm 9 is the unique best, arm gaps 0.089
# Every policy and likelihood, with the rounds that suffice on MEANS. Epsilon-greedy and
# softmax explore a bit more than their defaults so 3000 rounds are enough for Bernoulli
# rewards too (checked over 40 seeds: no failure).
CASES = [
    ("epsilon_greedy", {"epsilon": 0.3}, 3000),
    ("softmax", {"temperature": 0.2}, 3000),
    ("ucb1", {}, 3000),
    ("thompson", {}, 3000),
    ("thompson", {"likelihood": "gaussian"}, 3000),
    ("hedge", {}, 1000),
    ("exp3", {}, 6000),
]


def draw(env: np.random.Generator, arms: np.ndarray, bandit: str, unit: bool) -> np.ndarray:
    if bandit == "bernoulli":
        return (env.random(arms.size) < MEANS[arms]).astype(float)
    r = MEANS[arms] + 0.1 * env.standard_normal(arms.size)
    return np.clip(r, 0.0, 1.0) if unit else r


def play(policy: policies.Policy, k: int, rounds: int, bandit: str, env_seed: int = 1) -> None:
    """The pruning loop in miniature: a calibration pass over every arm, then ``rounds``."""
    env, every = np.random.default_rng(env_seed), np.arange(MEANS.size)
    policy.update(every, draw(env, every, bandit, unit=True))
    for _ in range(rounds):
        arms = every if policy.full_information else policy.select(k)
        policy.update(arms, draw(env, arms, bandit, policy.needs_unit_rewards))


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("bandit", ["bernoulli", "gaussian"])
@pytest.mark.parametrize(("name", "params", "rounds"), CASES,
                         ids=[f"{n}-{p.get('likelihood', '')}" for n, p, _ in CASES])
def test_policy_finds_the_best_arms(name, params, rounds, bandit, k):
    policy = make(name, MEANS.size, seed=0, **params)
    play(policy, k, rounds, bandit)
    top_k = set(range(MEANS.size - k, MEANS.size))
    # Hedge pulls every arm every round, so its preference shows in its distribution.
    score = policy.probabilities() if policy.full_information else policy.counts
    assert set(np.argsort(-score)[:k].tolist()) == top_k  # k = 1: the best is most pulled
    assert int(np.argmax(policy.estimates)) == MEANS.size - 1
    if policy.full_information:
        assert set(policy.select(k).tolist()) == top_k


def test_ucb1_regret_grows_sublinearly():
    T, policy, env = 1000, UCB1(MEANS.size, seed=0), np.random.default_rng(5)
    gaps = np.empty(4 * T)
    for t in range(4 * T):
        arm = policy.select(1)
        policy.update(arm, (env.random(1) < MEANS[arm]).astype(float))
        gaps[t] = MEANS.max() - MEANS[arm[0]]
    regret = np.cumsum(gaps)
    r1, r2, r4 = regret[T - 1], regret[2 * T - 1], regret[4 * T - 1]
    assert r1 / T > r2 / (2 * T) > r4 / (4 * T)
    assert r4 < 0.75 * 4 * r1
    assert r4 < 0.25 * 4 * T * (MEANS.max() - MEANS.mean())  # far below uniform play


def test_ucb1_index_formula():
    policy = UCB1(3, c=2.0, seed=0)
    policy.update([0, 1, 2], [0.5, 0.2, 0.1])
    policy.update([0], [0.7])
    n, mean = np.array([2, 1, 1]), np.array([0.6, 0.2, 0.1])
    np.testing.assert_allclose(policy.index(), mean + np.sqrt(2.0 * np.log(4) / n))
    assert policy.select(1).tolist() == [1]  # less pulled beats a higher mean


@pytest.mark.parametrize("name", ["softmax", "hedge"])
def test_gumbel_top_k_is_sampling_without_replacement(name):
    policy, draws = make(name, 3, seed=0), 20_000
    policy.update([0, 1, 2], [0.0, 0.1, 0.2] if name == "softmax" else [0.0, 10.0, 20.0])
    p = policy.probabilities()  # [0.090, 0.245, 0.665] for both
    np.testing.assert_allclose(p, np.exp([0, 1, 2]) / np.exp([0, 1, 2]).sum())
    # P(i among 2 drawn without replacement) = p_i + sum_{j != i} p_j p_i / (1 - p_j)
    both = p + np.array([sum(p[j] * p[i] / (1 - p[j]) for j in range(3) if j != i)
                         for i in range(3)])
    one, two = np.zeros(3), np.zeros(3)
    for _ in range(draws):
        one[policy.select(1)] += 1
        two[policy.select(2)] += 1
    np.testing.assert_allclose(one / draws, p, atol=0.015)
    np.testing.assert_allclose(two / draws, both, atol=0.015)


def test_hedge_log_weights_stay_finite_over_a_long_run():
    # 10^5 updates with eta * r = 1 build a log-weight gap of 10^5, what 10^6 updates at
    # the default eta = 0.1 would; exp(10^5) overflows float64 a hundred times over.
    policy, arms, rewards = Hedge(2, eta=1.0, seed=0), np.array([0, 1]), np.array([1.0, 0.0])
    for _ in range(100_000):
        policy.update(arms, rewards)
    assert np.isfinite(policy.log_weights).all()
    assert policy.log_weights[0] - policy.log_weights[1] == pytest.approx(1e5)
    p = policy.probabilities()
    assert np.isfinite(p).all() and p.sum() == pytest.approx(1.0) and p[0] == 1.0
    assert set(policy.select(2).tolist()) == {0, 1}


def test_exp3_log_weights_stay_finite_over_a_long_run():
    # Arm 0 always pays 1: its log-weight climbs ~0.4 per round here, so 5 * 10^4 rounds
    # reach a gap of 2 * 10^4 (10^6 rounds at gamma = 0.1 would reach ~5 * 10^4).
    policy = EXP3(2, gamma=0.8, seed=0)
    for _ in range(50_000):
        arm = policy.select(1)
        policy.update(arm, (arm == 0).astype(float))
    assert np.isfinite(policy.log_weights).all()
    assert policy.log_weights[0] - policy.log_weights[1] > 1e4
    p = policy.probabilities()
    assert np.isfinite(p).all() and p.sum() == pytest.approx(1.0)
    assert p[1] == pytest.approx(0.4)  # only the uniform γ/n floor is left
    assert np.isfinite(policy.estimates).all()


@pytest.mark.parametrize("warm", [10, 60])  # 60 forced pulls make arm 0 capped
def test_exp3_inclusion_probabilities_are_exact(warm):
    n, k, draws = 6, 2, 20_000
    policy = EXP3(n, gamma=0.1, seed=3)
    for _ in range(warm):  # updates before the first select are forced pulls, π = 1
        policy.update(np.arange(n), [1.0, 0.5, 0.2, 0.0, 0.0, 0.0])
    pi = policy.inclusion_probabilities(k)
    assert pi.sum() == pytest.approx(k) and (pi <= 1.0).all()
    floor, w = k * policy.gamma / n, np.exp(policy.log_weights)
    free = pi < 1.0
    if warm == 10:
        assert free.all()
        np.testing.assert_allclose(pi, k * policy.probabilities())
    else:
        assert not free[0] and free[1:].all()
    ratio = (pi[free] - floor) / w[free]  # Exp3.M: uncapped arms share in proportion to w
    np.testing.assert_allclose(ratio, ratio[0])
    hits = np.zeros(n)
    for _ in range(draws):
        arms = policy.select(k)
        assert np.unique(arms).size == k
        hits[arms] += 1
    np.testing.assert_allclose(hits / draws, pi, atol=0.015)  # ~4.5 binomial SDs
    if warm == 60:
        assert hits[0] == draws


def test_exp3_update_must_follow_its_select():
    policy = EXP3(5, seed=0)
    policy.update(np.arange(5), np.full(5, 0.5))  # the calibration pass: a forced pull
    np.testing.assert_allclose(policy.estimates, 0.5)
    arms = policy.select(2)
    stray = np.setdiff1d(np.arange(5), arms)[:1]
    with pytest.raises(ValueError, match="not chosen by the last select"):
        policy.update(stray, [0.5])
    policy.update(arms[:1], [1.0])  # a subset of the selection is fine
    with pytest.raises(ValueError, match="must follow select"):
        policy.update(arms[:1], [1.0])


def test_exp3_update_is_importance_weighted():
    n, k, gamma, r0 = 5, 2, 0.2, np.array([0.9, 0.1, 0.5, 0.3, 0.7])
    policy = EXP3(n, gamma=gamma, seed=0)
    policy.update(np.arange(n), r0)  # forced (π = 1, k = n): log w += γ · r, max shifted to 0
    np.testing.assert_allclose(policy.log_weights, gamma * (r0 - r0.max()))
    pi, before = policy.inclusion_probabilities(k), policy.log_weights.copy()
    arms = policy.select(k)
    policy.update(arms, [1.0, 0.5])
    r_hat = np.array([1.0, 0.5]) / pi[arms]
    sums = r0.copy()
    sums[arms] += r_hat
    np.testing.assert_allclose(policy.importance_weighted_estimates, sums / 2)  # Σ r̂ / t
    means = r0.copy()
    means[arms] = (r0[arms] + np.array([1.0, 0.5])) / 2
    np.testing.assert_allclose(policy.estimates, means)  # rankings use the sample mean
    after = before.copy()
    after[arms] += k * gamma * r_hat / n
    np.testing.assert_allclose(policy.log_weights, after - after.max())


def test_unpulled_arms_come_first():
    for policy in (UCB1(6, seed=1), EpsilonGreedy(6, epsilon=0.0, seed=1)):
        seen = []
        for _ in range(3):
            arms = policy.select(2)
            seen += arms.tolist()
            policy.update(arms, [0.9, 0.9])  # high rewards would otherwise be re-pulled
        assert sorted(seen) == list(range(6)), policy.name


def test_epsilon_decay_turns_exploration_off():
    explorer = EpsilonGreedy(5, epsilon=1.0, seed=0)
    decayed = EpsilonGreedy(5, epsilon=1.0, decay=1e9, seed=0)
    for policy in (explorer, decayed):
        policy.update(np.arange(5), [0.1, 0.2, 0.9, 0.3, 0.4])
    assert {int(decayed.select(1)[0]) for _ in range(50)} == {2}
    assert {int(explorer.select(1)[0]) for _ in range(50)} == set(range(5))


def test_thompson_posteriors():
    bern = Thompson(2, seed=0)
    for _ in range(4000):
        bern.update([0, 1], [0.3, 1.0])
    alpha, beta = bern.posterior()
    assert alpha[0] + beta[0] - 2 == bern.counts[0] == 4000
    assert (alpha == np.round(alpha)).all()  # whole Bernoulli successes, not fractions
    assert alpha[0] / (alpha[0] + beta[0]) == pytest.approx(0.3, abs=0.02)  # Bernoulli trick
    assert beta[1] == 1.0
    known = Thompson(2, likelihood="gaussian", noise_var=0.25, seed=0)
    known.update([0], [1.0])
    known.update([0], [2.0])
    mean, var = known.posterior()  # prior N(0, 1): precision 1 + 2 / 0.25 = 9
    np.testing.assert_allclose([mean[0], var[0]], [12 / 9, 1 / 9])
    np.testing.assert_allclose([mean[1], var[1]], [0.0, 1.0])
    pooled = Thompson(2, likelihood="gaussian", seed=0)
    assert pooled.noise_variance() == 1.0  # prior_var until there is a degree of freedom
    for arms, r in (([0, 1], [1.0, 0.0]), ([0, 1], [3.0, 2.0])):
        pooled.update(arms, r)
    assert pooled.noise_variance() == pytest.approx(2.0)  # (2 + 2) / (4 - 2)
    assert not pooled.needs_unit_rewards and bern.needs_unit_rewards


@pytest.mark.parametrize("name", POLICIES)
def test_select_returns_k_distinct_arms_and_bookkeeping(name):
    policy = make(name, 7, seed=0)
    for k in (1, 3, 7):
        arms = policy.select(k)
        assert arms.dtype == np.int64 and arms.shape == (k,)
        assert np.unique(arms).size == k and arms.min() >= 0 and arms.max() < 7
    policy.update(np.array([4, 1]), [0.2, 0.6])
    assert policy.t == 1 and policy.counts.dtype == np.int64
    assert policy.counts.tolist() == [0, 1, 0, 0, 1, 0, 0]
    est = policy.estimates
    assert est.dtype == np.float64 and est[[0, 2, 3, 5, 6]].tolist() == [0.0] * 5
    assert repr(make(name, 7, **policy.get_params())) == repr(policy)


def test_flags():
    unit = {n: make(n, 3).needs_unit_rewards for n in POLICIES}
    assert unit == {"epsilon_greedy": False, "softmax": False, "ucb1": True,
                    "thompson": True, "hedge": False, "exp3": True}
    assert [n for n in POLICIES if make(n, 3).full_information] == ["hedge"]


@pytest.mark.parametrize("name", POLICIES)
def test_seeding_is_reproducible_and_private(name):
    np.random.seed(1234)
    torch.manual_seed(1234)
    np_state, torch_state = np.random.get_state(), torch.random.get_rng_state()

    def run(seed):
        policy, env, out = make(name, 10, seed=seed), np.random.default_rng(0), []
        for _ in range(30):
            chosen = policy.select(3)
            out.append(chosen.tolist())
            arms = np.arange(10) if policy.full_information else chosen
            policy.update(arms, env.random(arms.size))
        return out

    assert run(7) == run(7)
    assert run(7) != run(8)
    after = np.random.get_state()
    assert after[0] == np_state[0] and np.array_equal(after[1], np_state[1])
    assert after[2:] == np_state[2:]
    assert torch.equal(torch.random.get_rng_state(), torch_state)


BAD_MAKE = [
    (("nope", 3), {}, "unknown policy 'nope'; valid names: epsilon_greedy"),
    (("ucb1", 3), {"eps": 0.1}, r"unknown parameter\(s\) \['eps'\].*valid parameters: c"),
    (("epsilon_greedy", 3), {"epsilon": 2}, "epsilon must be <= 1"),
    (("epsilon_greedy", 3), {"epsilon": float("nan")}, "epsilon must be a finite"),
    (("epsilon_greedy", 3), {"epsilon": True}, "epsilon must be a finite"),
    (("epsilon_greedy", 3), {"decay": -1.0}, "decay must be >= 0"),
    (("softmax", 3), {"temperature": 0}, "temperature must be > 0"),
    (("softmax", 3), {"temperature": -1.0}, "temperature must be > 0"),
    (("ucb1", 3), {"c": -1}, "c must be >= 0"),
    (("thompson", 3), {"likelihood": "poisson"}, "likelihood must be 'bernoulli' or"),
    (("thompson", 3), {"prior_var": 0.0}, "prior_var must be > 0"),
    (("thompson", 3), {"noise_var": -1.0}, "noise_var must be > 0"),
    (("hedge", 3), {"eta": 0}, "eta must be > 0"),
    (("exp3", 3), {"gamma": 0}, "gamma must be > 0"),
    (("exp3", 3), {"gamma": 1.5}, "gamma must be <= 1"),
    (("ucb1", 0), {}, "n_arms must be >= 1, got 0"),
    (("ucb1", 2.5), {}, "n_arms must be an int, got 2.5"),
]


@pytest.mark.parametrize(("args", "params", "match"), BAD_MAKE)
def test_make_rejects_bad_input(args, params, match):
    with pytest.raises(ValueError, match=match):
        make(*args, **params)


BAD_CALLS = [
    ("ucb1", lambda p: p.select(0), r"k must be in \[1, 3\], got 0"),
    ("ucb1", lambda p: p.select(4), r"k must be in \[1, 3\], got 4"),
    ("hedge", lambda p: p.select(1.0), "k must be an int"),
    ("hedge", lambda p: p.update([0, 1], [0.5]), "same length"),
    ("hedge", lambda p: p.update([], []), "non-empty"),
    ("hedge", lambda p: p.update([0, 1], [0.5, np.nan]), "non-finite.*position 1"),
    ("softmax", lambda p: p.update([0], [np.inf]), "rewards must be finite"),
    ("softmax", lambda p: p.update([3], [0.5]), r"arm index 3 out of range \[0, 3\)"),
    ("softmax", lambda p: p.update([-1], [0.5]), "arm index -1 out of range"),
    ("softmax", lambda p: p.update([0.0], [0.5]), "arms must be integers"),
    ("softmax", lambda p: p.update([1, 1], [0.5, 0.5]), "distinct"),
    ("thompson", lambda p: p.update([0], [1.5]), r"needs rewards in \[0, 1\].*1.5"),
    ("ucb1", lambda p: p.update([0], [-0.1]), r"needs rewards in \[0, 1\]"),
    ("exp3", lambda p: p.inclusion_probabilities(0), "k must be in"),
]


@pytest.mark.parametrize(("name", "call", "match"), BAD_CALLS)
def test_calls_reject_bad_input_without_changing_state(name, call, match):
    policy = make(name, 3, seed=0)
    with pytest.raises(ValueError, match=match):
        call(policy)
    assert policy.t == 0 and policy.counts.sum() == 0


@pytest.mark.parametrize("module", [policies, base, stochastic, adversarial])
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 2 and result.failed == 0


def test_names_moved_out_of_policies_are_still_importable_from_it():
    # Hedge/EXP3 live in adversarial.py, the stochastic four in stochastic.py, the base in base.py
    assert policies.Hedge is adversarial.Hedge and policies.EXP3 is adversarial.EXP3
    assert policies.UCB1 is stochastic.UCB1 and policies.Thompson is stochastic.Thompson
    assert policies.Policy is base.Policy and issubclass(EXP3, policies.Policy)
    assert set(policies.__all__) >= {"POLICIES", "Policy", "Hedge", "EXP3", "make", "UCB1"}
    assert all(hasattr(policies, name) for name in policies.__all__)
    assert {type(make(name, 3)).__name__.lower().replace("epsilongreedy", "epsilon_greedy")
            for name in POLICIES} == set(POLICIES)
