"""Effects with uncertainty for the claim rules: bootstraps over datasets, a Bayesian test, noise.

The rank-based tests of :mod:`mabprune.analysis.stats` say whether methods differ; the claim rules of
:mod:`mabprune.analysis.claims` also need to know how sure a "best rank" is and how large a
difference is. This module gives them:

- :func:`bootstrap_best_probability`: the probability, over a bootstrap of the datasets,
  that a method (or a set of methods) holds the best mean rank(s) of a pool;
- :func:`bootstrap_mean_difference`: the mean paired difference of two methods over the
  datasets and its percentile bootstrap interval;
- :func:`bayesian_signed_rank`: the Bayesian signed-rank test of Benavoli et al. (ICML
  2014), with a region of practical equivalence (ROPE), computed by ``baycomp``;
- :func:`pair_evidence`: all of the above, with the Wilcoxon–Holm and Nemenyi p-values,
  for one pair of methods of a :class:`mabprune.analysis.stats.Comparison`;
- :func:`seed_noise`: per family, the seed-to-seed noise within a dataset next to the
  spread of the methods' family means, from the run records.

Every random draw comes from a generator seeded by the caller: the same seed gives the same
result, whatever else was computed before.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Sequence

import numpy as np
import pandas as pd

from mabprune.analysis.stats import (MAB_POLICIES, TIE_DECIMALS, Comparison, check_alpha,
                                     check_comparison)

__all__ = ["DEFAULT_ROPE", "bayesian_signed_rank", "bootstrap_best_probability",
           "bootstrap_mean_difference", "pair_evidence", "seed_noise"]

#: Width of the region of practical equivalence, in score units (accuracy or R²): two
#: methods whose scores differ by less than one point of accuracy count as equivalent.
DEFAULT_ROPE = 0.01


def bootstrap_best_probability(scores: pd.DataFrame, methods: str | Sequence[str], *,
                               higher_is_better: bool = True, n_boot: int = 2000,
                               seed: int = 0) -> float:
    """Probability over a bootstrap of the datasets that ``methods`` hold the best mean ranks.

    The methods are ranked within each dataset (ties share the average rank; scores equal to
    :data:`mabprune.analysis.stats.TIE_DECIMALS` decimals tie) over the
    columns of ``scores`` only; the datasets (rows) are then resampled with replacement
    ``n_boot`` times and the mean ranks recomputed. A resample counts when the named
    methods hold the ``len(methods)`` best mean ranks *strictly* ahead of every other
    method; a tie with an outsider does not count.

    Parameters
    ----------
    scores : pandas.DataFrame
        Datasets (rows, at least 2) by methods (columns, the pool; at least 2), no missing
        values.
    methods : str or sequence of str
        The method, or the set of methods, claimed to rank best; a proper subset of the
        columns.
    higher_is_better : bool, default=True
        Whether a larger score is better.
    n_boot : int, default=2000
        Number of bootstrap resamples, at least 100.
    seed : int, default=0
        Seed of the resampling generator (:func:`numpy.random.default_rng`).

    Returns
    -------
    float
        The fraction of resamples in which ``methods`` hold the best mean ranks.

    Examples
    --------
    >>> import pandas as pd
    >>> scores = pd.DataFrame({"a": [0.9, 0.8, 0.7, 0.9], "b": [0.8, 0.7, 0.6, 0.8],
    ...                        "c": [0.7, 0.9, 0.5, 0.7]})
    >>> round(bootstrap_best_probability(scores, "a", n_boot=1000, seed=0), 2)
    0.95
    """
    names = [methods] if isinstance(methods, str) else list(methods)
    values = _check_table(scores)
    unknown = [m for m in names if m not in scores.columns]
    if unknown or not names or len(set(names)) != len(names):
        raise ValueError(f"methods must be distinct columns of scores {list(scores.columns)}; "
                         f"got {names}")
    if len(names) >= scores.shape[1]:
        raise ValueError(f"methods {names} must leave at least one other method in the pool "
                         f"{list(scores.columns)}")
    _check_int("n_boot", n_boot, minimum=100)
    _check_seed(seed)
    ranks = pd.DataFrame(values.round(TIE_DECIMALS), columns=scores.columns).rank(
        axis=1, ascending=not higher_is_better, method="average").to_numpy()
    rng = np.random.default_rng(seed)
    index = rng.integers(0, ranks.shape[0], size=(n_boot, ranks.shape[0]))
    mean = ranks[index].mean(axis=1)  # (n_boot, k)
    inside = np.isin(scores.columns, names)
    worst_named = mean[:, inside].max(axis=1)
    best_other = mean[:, ~inside].min(axis=1)
    return float(np.mean(worst_named < best_other - 1e-12))


def bootstrap_mean_difference(x, y, *, n_boot: int = 2000, seed: int = 0,
                              confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean of the paired differences ``x - y`` over datasets, with a bootstrap interval.

    Parameters
    ----------
    x, y : array-like of shape (n,)
        Scores of two methods on the same ``n >= 2`` datasets, finite.
    n_boot : int, default=2000
        Number of resamples of the datasets, at least 100.
    seed : int, default=0
        Seed of the resampling generator.
    confidence : float, default=0.95
        Coverage of the percentile interval, in (0, 1).

    Returns
    -------
    tuple of float
        ``(mean, low, high)``: the observed mean difference and the interval's bounds.

    Examples
    --------
    >>> mean, low, high = bootstrap_mean_difference([3, 4, 5, 6], [1, 2, 3, 4], seed=1)
    >>> mean, low, high
    (2.0, 2.0, 2.0)
    """
    d = _paired(x, y)
    _check_int("n_boot", n_boot, minimum=100)
    _check_seed(seed)
    if not isinstance(confidence, Real) or isinstance(confidence, bool) \
            or not 0 < confidence < 1:
        raise ValueError(f"confidence must be a number in (0, 1); got {confidence!r}")
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, d.size, size=(n_boot, d.size))].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(d.mean()), float(low), float(high)


def bayesian_signed_rank(x, y, *, rope: float = DEFAULT_ROPE, nsamples: int = 2000,
                         seed: int = 0) -> tuple[float, float, float]:
    """Bayesian signed-rank test of two methods over datasets (Benavoli et al., 2014).

    A Dirichlet-process posterior on the paired differences ``x - y``, sampled by
    :class:`baycomp.SignedRankTest`, gives three probabilities: that ``x`` is better by
    more than ``rope``, that the two are practically equivalent (within ``rope``), and that
    ``y`` is better by more than ``rope``. Unlike the mean-rank post-hoc tests, the answer
    depends on these two methods only, not on the others in the comparison.

    Parameters
    ----------
    x, y : array-like of shape (n,)
        Scores (higher is better) of two methods on the same ``n >= 2`` datasets.
    rope : float, default=DEFAULT_ROPE
        Half-width of the region of practical equivalence, in score units; > 0.
    nsamples : int, default=2000
        Posterior samples, at least 100.
    seed : int, default=0
        Seed of baycomp's sampler.

    Returns
    -------
    tuple of float
        ``(p_x_better, p_equivalent, p_y_better)``, summing to 1.

    Examples
    --------
    >>> p = bayesian_signed_rank([0.9, 0.8, 0.85, 0.7, 0.95], [0.8, 0.7, 0.75, 0.6, 0.85])
    >>> p[0] > 0.9
    True
    """
    from baycomp import SignedRankTest  # deferred: only the claim rules need it

    d = _paired(x, y)
    if not isinstance(rope, Real) or isinstance(rope, bool) or not rope > 0 \
            or not np.isfinite(rope):
        raise ValueError(f"rope must be a positive number; got {rope!r}")
    _check_int("nsamples", nsamples, minimum=100)
    _check_seed(seed)
    # baycomp's "left" is x better: its differences are y - x.
    left, equal, right = SignedRankTest.probs(d, np.zeros_like(d), rope=float(rope),
                                              nsamples=int(nsamples), random_state=int(seed))
    return float(left), float(equal), float(right)


def seed_noise(records: pd.DataFrame, *, metric: str = "metric_after", kind: str = "prune",
               amount: float | None = None,
               policies: Sequence[str] | None = None) -> pd.DataFrame:
    """Per family, the seed-to-seed noise within a dataset next to the spread of the methods.

    The noise is the median, over (dataset, method) cells with at least two seeds, of the
    standard deviation (``ddof=1``) of ``metric`` over seeds. The spread is the range (max
    minus min) of the methods' family means, where a family mean averages the per-dataset
    means over seeds; it is given among the MAB policies and among all methods of ``kind``.
    A difference between methods smaller than the noise cannot be told from a reseeding.

    Parameters
    ----------
    records : pandas.DataFrame
        Run records (:func:`mabprune.study.tables.load_records`), with columns ``family,
        dataset, method, seed, kind, status, amount`` and ``metric``; only ``ok`` runs
        count.
    metric : str, default="metric_after"
        The record column to measure.
    kind : str, default="prune"
        Which runs (the main comparison by default; sweeps prune at other fractions).
    amount : float, optional
        Keep only this pruning fraction; required when the runs hold several.
    policies : sequence of str, optional
        The MAB policies; by default :data:`mabprune.analysis.stats.MAB_POLICIES`.

    Returns
    -------
    pandas.DataFrame
        Index ``family``; columns ``datasets, seeds, noise_median_std, policy_range,
        method_range, noise_per_policy_range`` (the last is the noise divided by the
        policies' range; infinite when they do not differ at all).
    """
    policies = list(MAB_POLICIES if policies is None else policies)
    needed = ["family", "dataset", "method", "seed", "kind", "status", "amount", metric]
    if not isinstance(records, pd.DataFrame):
        raise ValueError(f"records must be a DataFrame; got {type(records).__name__}")
    missing = [c for c in needed if c not in records.columns]
    if missing:
        raise ValueError(f"records lack columns {missing}; seed_noise needs {needed}")
    runs = records[(records["status"] == "ok") & (records["kind"] == kind)].copy()
    runs[metric] = pd.to_numeric(runs[metric], errors="coerce")
    runs = runs.dropna(subset=[metric])
    if amount is not None:
        runs = runs[np.isclose(runs["amount"].astype(float), float(amount))]
    elif runs["amount"].nunique() > 1:
        raise ValueError(f"the {kind} runs hold several amounts "
                         f"{sorted(runs['amount'].unique())}: pass amount=")
    rows = {}
    for family, group in runs.groupby("family", sort=False):
        cells = group.groupby(["dataset", "method"])[metric].agg(["std", "count", "mean"])
        std = cells.loc[cells["count"] >= 2, "std"]
        means = cells["mean"].groupby(level="method").mean()
        in_pool = means[means.index.isin(policies)]
        noise = float(std.median()) if len(std) else float("nan")
        spread = float(in_pool.max() - in_pool.min()) if len(in_pool) >= 2 else float("nan")
        rows[family] = {
            "datasets": int(group["dataset"].nunique()), "seeds": int(group["seed"].nunique()),
            "noise_median_std": noise, "policy_range": spread,
            "method_range": float(means.max() - means.min()) if len(means) >= 2 else float("nan"),
            "noise_per_policy_range": (noise / spread if spread > 0 else float("inf"))
            if np.isfinite(noise) and np.isfinite(spread) else float("nan")}
    columns = ["datasets", "seeds", "noise_median_std", "policy_range", "method_range",
               "noise_per_policy_range"]
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns).rename_axis("family")


def pair_evidence(comparison: Comparison, a: str, b: str, *, alpha: float | None = None,
                  rope: float = DEFAULT_ROPE, confidence: float = 0.95, n_boot: int = 2000,
                  seed: int = 0) -> dict:
    """Everything the rules know about one pair of methods of a comparison.

    Parameters
    ----------
    comparison : Comparison
        The family comparison holding both methods.
    a, b : str
        The two methods; differences are ``a - b`` in the "better" direction (a positive
        difference favours ``a``, for errors as for accuracies).
    alpha : float, optional
        Significance level; by default the comparison's own.
    rope, confidence, n_boot, seed
        As in :func:`mabprune.analysis.claims.scoreboard`.

    Returns
    -------
    dict
        ``mean_diff, low, high`` (bootstrap interval), ``p_wilcoxon`` (one planned test,
        uncorrected: the claim rules correct it over their own comparisons),
        ``p_wilcoxon_holm`` (Holm over every pair of the table), ``p_nemenyi``,
        ``p_a_better, p_equivalent, p_b_better`` (Bayesian signed-rank, ROPE ``rope``),
        ``better`` and ``worse`` (``a`` significantly better / worse than ``b`` with Holm over
        the whole table: Wilcoxon–Holm below alpha and the interval clear of 0; the claim
        rules decide with their own correction instead).

    Examples
    --------
    >>> import pandas as pd
    >>> from mabprune.analysis.stats import compare
    >>> c = compare(pd.DataFrame({"a": [0.9, 0.8, 0.7, 0.85], "b": [0.8, 0.7, 0.6, 0.8]}))
    >>> e = pair_evidence(c, "a", "b", n_boot=500)
    >>> round(e["mean_diff"], 4), e["better"]  # 4 datasets: Wilcoxon cannot reach 0.05
    (0.0875, False)
    """
    check_comparison(comparison)
    alpha = comparison.alpha if alpha is None else alpha
    check_alpha(alpha)
    for name in (a, b):
        if name not in comparison.scores.columns:
            raise ValueError(f"unknown method {name!r}; known: {list(comparison.scores.columns)}")
    sign = 1.0 if comparison.higher_is_better else -1.0
    x = sign * comparison.scores[a].to_numpy(dtype=float)
    y = sign * comparison.scores[b].to_numpy(dtype=float)
    mean, low, high = bootstrap_mean_difference(x, y, n_boot=n_boot, seed=seed,
                                                confidence=confidence)
    p_wil = float(comparison.pvalues("wilcoxon").loc[a, b])
    table = comparison.wilcoxon_holm
    pair = ((table["method_a"] == a) & (table["method_b"] == b)) \
        | ((table["method_a"] == b) & (table["method_b"] == a))
    p_raw = float(table.loc[pair, "p"].iloc[0]) if pair.any() else 1.0  # a == b: no test
    bayes = bayesian_signed_rank(x, y, rope=rope, nsamples=n_boot, seed=seed)
    significant = p_wil < alpha
    return {"mean_diff": mean, "low": low, "high": high, "p_wilcoxon": p_raw,
            "p_wilcoxon_holm": p_wil,
            "p_nemenyi": float(comparison.nemenyi.loc[a, b]), "p_a_better": bayes[0],
            "p_equivalent": bayes[1], "p_b_better": bayes[2],
            "better": bool(significant and low > 0), "worse": bool(significant and high < 0)}


# --- checks ---------------------------------------------------------------------------------

def _check_table(scores) -> np.ndarray:
    if not isinstance(scores, pd.DataFrame):
        raise ValueError(f"scores must be a DataFrame (datasets x methods); got "
                         f"{type(scores).__name__}")
    if scores.shape[0] < 2 or scores.shape[1] < 2:
        raise ValueError(f"scores needs at least 2 datasets and 2 methods; got shape "
                         f"{scores.shape}")
    values = scores.to_numpy(dtype=float, na_value=np.nan)
    if not np.isfinite(values).all():
        raise ValueError("scores has missing or non-finite cells")
    return values


def _paired(x, y) -> np.ndarray:
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if a.ndim != 1 or a.shape != b.shape or a.size < 2:
        raise ValueError(f"x and y must be 1-D of the same length >= 2; got shapes {a.shape} "
                         f"and {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("x and y must be finite")
    return a - b


def _check_int(name: str, value, *, minimum: int) -> None:
    if not isinstance(value, Integral) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")


def _check_seed(seed) -> None:
    if not isinstance(seed, Integral) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32); got {seed!r}")
