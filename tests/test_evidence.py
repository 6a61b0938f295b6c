"""Tests of mabprune.analysis.evidence: bootstraps over datasets, the Bayesian signed-rank test, noise."""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest

import mabprune.analysis.evidence as me
from mabprune.analysis.evidence import (bayesian_signed_rank, bootstrap_best_probability,
                               bootstrap_mean_difference, pair_evidence, seed_noise)
from mabprune.analysis.stats import compare


def _scores(n: int = 12, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.5, 0.9, size=(n, 1))
    return pd.DataFrame(base + np.array([0.05, 0.0, 0.001, -0.05]) + rng.normal(0, 0.004, (n, 4)),
                        columns=["a", "b", "c", "d"])


def test_best_probability_certain_and_impossible():
    s = _scores()
    assert bootstrap_best_probability(s, "a") == 1.0  # best on every dataset
    assert bootstrap_best_probability(s, "d") == 0.0  # worst on every dataset
    # b and c are level up to noise: neither is sure, and together they are never the top two.
    p_b, p_c = (bootstrap_best_probability(s.drop(columns="a"), m) for m in "bc")
    assert 0 < p_b < 1 and 0 < p_c < 1 and p_b + p_c <= 1
    # a is first everywhere, so "a and b are the top two" is "b is ahead of c and d"; the
    # same seed draws the same resamples.
    assert bootstrap_best_probability(s, ("a", "b")) == p_b
    assert bootstrap_best_probability(s, ("a", "d")) == 0.0
    # Lower is better: the order flips.
    assert bootstrap_best_probability(s, "d", higher_is_better=False) == 1.0


def test_best_probability_by_hand():
    # Ranks: a 1, 1, 2; c 3, 3, 1. A resample holding the third dataset k times out of 3
    # (probability C(3, k) (1/3)^k (2/3)^(3 - k)) has a strictly ahead at k = 0 and 1, a
    # tie at k = 2 (5/3 each, not counted) and c ahead at k = 3: P = 8/27 + 12/27.
    s = pd.DataFrame({"a": [0.9, 0.9, 0.8], "b": [0.8, 0.8, 0.7], "c": [0.7, 0.7, 0.9]})
    p = bootstrap_best_probability(s, "a", n_boot=40000, seed=1)
    assert p == pytest.approx(20 / 27, abs=0.01)


def test_best_probability_is_seeded():
    s = _scores().drop(columns="a")
    p1 = bootstrap_best_probability(s, "b", seed=5)
    assert p1 == bootstrap_best_probability(s, "b", seed=5)
    assert p1 != bootstrap_best_probability(s, "b", seed=6)


def test_mean_difference_interval():
    x = np.array([0.8, 0.7, 0.9, 0.6, 0.75, 0.85])
    y = x - np.array([0.01, 0.03, 0.02, 0.0, 0.05, 0.01])
    mean, low, high = bootstrap_mean_difference(x, y, n_boot=4000, seed=2)
    assert mean == pytest.approx(0.02)
    assert 0 <= low < mean < high <= 0.05
    # The same numbers by hand: resample the differences with the same generator.
    rng = np.random.default_rng(2)
    d = x - y
    boot = d[rng.integers(0, d.size, size=(4000, d.size))].mean(axis=1)
    assert (low, high) == pytest.approx(tuple(np.quantile(boot, [0.025, 0.975])))
    assert bootstrap_mean_difference(x, y, n_boot=4000, seed=2) == (mean, low, high)
    narrow = bootstrap_mean_difference(x, y, n_boot=4000, seed=2, confidence=0.5)
    assert low < narrow[1] < narrow[2] < high


def test_bayesian_signed_rank_matches_baycomp():
    from baycomp import SignedRankTest

    rng = np.random.default_rng(3)
    x = rng.uniform(0.6, 0.8, 15)
    y = x - 0.005 + rng.normal(0, 0.01, 15)
    p = bayesian_signed_rank(x, y, rope=0.01, nsamples=3000, seed=4)
    assert sum(p) == pytest.approx(1.0)
    ref = SignedRankTest.probs(x - y, np.zeros(15), rope=0.01, nsamples=3000, random_state=4)
    assert p == pytest.approx(tuple(ref))
    assert bayesian_signed_rank(y, x, rope=0.01, nsamples=3000, seed=4) == pytest.approx(
        p[::-1], abs=1e-12)  # swapping the methods mirrors the answer
    clear = bayesian_signed_rank(x + 0.1, x, rope=0.01, nsamples=500)
    assert clear[0] == 1.0
    level = bayesian_signed_rank(x + 0.001, x, rope=0.01, nsamples=500)
    assert level[1] == 1.0  # a 0.001 gain is inside the ROPE


def test_pair_evidence_direction_follows_higher_is_better():
    s = _scores(n=16)
    c = compare(s)
    e = pair_evidence(c, "a", "b", n_boot=500)
    assert e["better"] and not e["worse"] and e["mean_diff"] == pytest.approx(
        (s["a"] - s["b"]).mean())
    assert e["p_a_better"] == 1.0 and e["p_wilcoxon_holm"] < 0.05
    errors = compare(1 - s, higher_is_better=False)  # the same table as errors
    f = pair_evidence(errors, "a", "b", n_boot=500)
    assert f["better"] and f["mean_diff"] == pytest.approx(e["mean_diff"])
    assert pair_evidence(c, "b", "a", n_boot=500)["worse"]
    level = pair_evidence(c, "b", "c", n_boot=500)
    assert not level["better"] and not level["worse"]
    with pytest.raises(ValueError, match="unknown method 'z'"):
        pair_evidence(c, "a", "z")


def _records() -> pd.DataFrame:
    rows = []
    # Two datasets, three seeds; seed offsets -s, 0, +s give a std of exactly s per cell.
    for dataset, spread in (("d0", 0.02), ("d1", 0.04)):
        for method, level in (("ucb1", 0.80), ("thompson", 0.79), ("none", 0.70)):
            for seed, offset in enumerate((-spread, 0.0, spread)):
                rows.append({"family": "classification", "dataset": dataset, "method": method,
                             "seed": seed, "kind": "prune", "status": "ok", "amount": 0.5,
                             "metric_after": level + offset, "metric_before": 0.9})
    rows.append({**rows[0], "status": "error: boom", "metric_after": None})
    rows.append({**rows[0], "kind": "sweep", "amount": 0.3, "metric_after": 0.0})
    return pd.DataFrame(rows)


def test_seed_noise_by_hand():
    table = seed_noise(_records())
    row = table.loc["classification"]
    assert (row["datasets"], row["seeds"]) == (2, 3)
    assert row["noise_median_std"] == pytest.approx(0.03)  # median of 0.02 (x3), 0.04 (x3)
    assert row["policy_range"] == pytest.approx(0.01)  # ucb1 0.80 vs thompson 0.79
    assert row["method_range"] == pytest.approx(0.10)  # ucb1 vs none
    assert row["noise_per_policy_range"] == pytest.approx(3.0)
    before = seed_noise(_records(), metric="metric_before")
    assert before.loc["classification", "noise_median_std"] == 0.0
    with pytest.raises(ValueError, match=r"records lack columns \['score_no_ft'\]"):
        seed_noise(_records(), metric="score_no_ft")
    two = pd.concat([_records(), _records().assign(amount=0.7)])
    with pytest.raises(ValueError, match="several amounts"):
        seed_noise(two)
    assert seed_noise(two, amount=0.7).loc["classification", "datasets"] == 2


@pytest.mark.parametrize("call, match", [
    (lambda: bootstrap_best_probability(_scores(), "zz"), "methods must be distinct columns"),
    (lambda: bootstrap_best_probability(_scores(), list("abcd")), "must leave at least one"),
    (lambda: bootstrap_best_probability(_scores(), "a", n_boot=5), "n_boot must be"),
    (lambda: bootstrap_best_probability(_scores(), "a", seed=2**40), "seed must be"),
    (lambda: bootstrap_mean_difference([1, 2], [1]), "same length"),
    (lambda: bootstrap_mean_difference([1, np.nan], [1, 2]), "finite"),
    (lambda: bootstrap_mean_difference([1, 2], [1, 2], confidence=1.0), "confidence"),
    (lambda: bayesian_signed_rank([1, 2], [1, 2], rope=0), "rope must be a positive"),
    (lambda: seed_noise([1, 2]), "records must be a DataFrame"),
])
def test_bad_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_docstring_examples_run():
    result = doctest.testmod(me, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
