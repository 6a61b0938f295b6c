"""Compare pruning methods over datasets, after Demšar (2006, JMLR 7:1-30).

Rank the methods per dataset, test the mean ranks with Friedman (and Iman–Davenport), then
pairs with Nemenyi (critical difference) and Holm-corrected Wilcoxon signed-rank tests.
:func:`mabprune.analysis.claims.scoreboard` turns these comparisons into verdicts on the paper's claims.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from itertools import combinations
from numbers import Real

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy import stats

from mabprune.baselines import BASELINES  # noqa: F401 - the analysis' lists are the library's (one source)
from mabprune.policies import POLICIES as MAB_POLICIES  # noqa: F401
#: The references (uniform allocation, the exact ranking): shown in the tables beside ``none``
#: and ``random``, never a policy or a baseline of a claim's rule.
from mabprune.pruning import REFERENCES  # noqa: F401
from mabprune.study.comparators import CLASSIFIERS, REGRESSORS  # noqa: F401
from mabprune.study.profiles import FAMILY_ALIASES, GRID_FAMILIES

#: The claim families, in the order of the grid families (their names: :data:`FAMILY_ALIASES`).
FAMILIES = tuple(FAMILY_ALIASES[family] for family in GRID_FAMILIES)
TESTS = ("nemenyi", "wilcoxon")
#: Scores are rounded to this many decimals before any ranking or test: averaging over seeds
#: leaves differences of an ulp or two between methods with identical accuracies, which
#: must tie, not be ranked apart (issue 18 §5).
TIE_DECIMALS = 9


@dataclass(eq=False, repr=False)
class Comparison:
    """The result of :func:`compare`: ranks, omnibus tests and pairwise tests.

    Attributes
    ----------
    scores : pandas.DataFrame
        The scores as given, datasets (rows) by methods (columns).
    higher_is_better : bool
        Whether a larger score is better.
    alpha : float
        Significance level of the pairwise decisions and of the critical difference.
    ranks : pandas.DataFrame
        Per-dataset ranks, 1 = best; tied methods share the average of their ranks.
    mean_ranks : pandas.Series
        Mean rank of each method, sorted best (lowest) first.
    friedman_chi2 : float
        :func:`scipy.stats.friedmanchisquare` statistic. scipy divides by the tie
        correction ``1 - sum(t**3 - t) / (N k (k**2 - 1))``; Demšar's formula does not.
    friedman_p : float
        Its chi-squared p-value, ``k - 1`` degrees of freedom.
    friedman_chi2_demsar : float
        Demšar's chi-squared from the mean ranks, without tie correction (equal to
        ``friedman_chi2`` when no dataset has ties).
    iman_davenport_f : float
        ``F_F = (N - 1) chi2 / (N (k - 1) - chi2)`` with ``chi2 = friedman_chi2_demsar``.
    iman_davenport_p : float
        Its p-value, F with ``(k - 1, (k - 1)(N - 1))`` degrees of freedom.
    nemenyi : pandas.DataFrame
        Methods by methods Nemenyi p-values (scikit-posthocs).
    critical_difference : float
        ``q_alpha sqrt(k (k + 1) / (6 N))``; a pair's Nemenyi p-value is below alpha
        exactly when its mean ranks differ by more than this.
    wilcoxon_holm : pandas.DataFrame
        Per pair: ``method_a, method_b, statistic, p, p_holm, significant, better``
        (``better`` is the method with the lower mean rank, missing on a tie).
    n_datasets : int
        Number of datasets ``N``.
    n_methods : int
        Number of methods ``k``.

    Examples
    --------
    >>> import pandas as pd
    >>> result = compare(pd.DataFrame({"a": [3, 2, 3, 4], "b": [1, 1, 2, 2]}))
    >>> result.mean_ranks.to_dict(), result.significant_pairs()
    ({'a': 1.0, 'b': 2.0}, [('a', 'b')])
    """

    scores: pd.DataFrame
    higher_is_better: bool
    alpha: float
    ranks: pd.DataFrame
    mean_ranks: pd.Series
    friedman_chi2: float
    friedman_p: float
    friedman_chi2_demsar: float
    iman_davenport_f: float
    iman_davenport_p: float
    nemenyi: pd.DataFrame
    critical_difference: float
    wilcoxon_holm: pd.DataFrame
    n_datasets: int
    n_methods: int

    def __repr__(self) -> str:
        return (f"Comparison(n_datasets={self.n_datasets}, n_methods={self.n_methods}, "
                f"best={self.mean_ranks.index[0]!r}, friedman_p={self.friedman_p:.3g}, "
                f"critical_difference={self.critical_difference:.3f}, alpha={self.alpha})")

    def pvalues(self, test: str = "nemenyi") -> pd.DataFrame:
        """Methods by methods p-values: "nemenyi", or "wilcoxon" (Holm-corrected)."""
        _check_test(test)
        if test == "nemenyi":
            return self.nemenyi.copy()
        methods = list(self.scores.columns)
        p = pd.DataFrame(1.0, index=methods, columns=methods)
        for a, b, p_holm in self.wilcoxon_holm[["method_a", "method_b", "p_holm"]].to_numpy():
            p.loc[a, b] = p.loc[b, a] = p_holm
        return p

    def significant_pairs(self, test: str = "nemenyi") -> list[tuple[str, str]]:
        """Pairs ``(better, worse)``, by mean rank, whose ``test`` p-value is below alpha."""
        p = self.pvalues(test)
        order = list(self.mean_ranks.index)
        return [(a, b) for i, a in enumerate(order) for b in order[i + 1:]
                if p.loc[a, b] < self.alpha]

    def better_than(self, a: str, b: str, test: str = "nemenyi") -> bool:
        """Whether ``a`` has the better mean rank and ``test`` separates it from ``b``."""
        _check_test(test)
        for name in (a, b):
            if name not in self.mean_ranks.index:
                raise ValueError(f"unknown method {name!r}; known: {list(self.mean_ranks.index)}")
        return bool(self.mean_ranks[a] < self.mean_ranks[b]
                    and self.pvalues(test).loc[a, b] < self.alpha)


def demsar_friedman(mean_ranks, n_datasets: int) -> tuple[float, float, float]:
    """Friedman chi-squared (Demšar's formula, no tie correction) and Iman–Davenport F.

    ``chi2 = 12 N / (k (k + 1)) * (sum_j R_j**2 - k (k + 1)**2 / 4)`` and
    ``F_F = (N - 1) chi2 / (N (k - 1) - chi2)``, F with ``(k - 1, (k - 1)(N - 1))`` df.

    Parameters
    ----------
    mean_ranks : array-like of shape (k,)
        Mean rank of each of ``k >= 2`` methods.
    n_datasets : int
        Number of datasets ``N >= 2`` the ranks were averaged over.

    Returns
    -------
    tuple of float
        ``(chi2, F_F, p)``, where ``p`` is the F tail probability of ``F_F``; ``F_F`` is
        infinite (``p = 0``) when every dataset ranks the methods alike.

    Examples
    --------
    >>> chi2, f, p = demsar_friedman([3.143, 2.000, 2.893, 1.964], n_datasets=14)
    >>> round(chi2, 2), round(f, 2)
    (9.28, 3.69)
    """
    r = np.asarray(mean_ranks, dtype=float)
    if r.ndim != 1 or r.size < 2:
        raise ValueError(f"mean_ranks must be 1-D with at least 2 methods; got shape {r.shape}")
    _check_count("n_datasets", n_datasets, minimum=2)
    n, k = n_datasets, r.size
    chi2 = float(12 * n / (k * (k + 1)) * (np.sum(r**2) - k * (k + 1) ** 2 / 4))
    denominator = n * (k - 1) - chi2
    if denominator <= 1e-12 * n * k:  # chi2 at its maximum N (k - 1): F diverges
        return chi2, math.inf, 0.0
    f = (n - 1) * chi2 / denominator
    return chi2, float(f), float(stats.f.sf(f, k - 1, (k - 1) * (n - 1)))


def nemenyi_critical_difference(n_methods: int, n_datasets: int, *,
                                alpha: float = 0.05) -> float:
    """Nemenyi critical difference ``q_alpha sqrt(k (k + 1) / (6 N))``.

    ``q_alpha`` is the studentized range quantile (infinite df) divided by ``sqrt(2)``.

    Parameters
    ----------
    n_methods, n_datasets : int
        ``k`` (at least 2) and ``N`` (at least 1).
    alpha : float, default=0.05
        Significance level, in (0, 1).

    Returns
    -------
    float
        The smallest difference of mean ranks that is significant.

    Examples
    --------
    >>> round(nemenyi_critical_difference(4, 14, alpha=0.05), 2)
    1.25
    """
    _check_count("n_methods", n_methods, minimum=2)
    _check_count("n_datasets", n_datasets, minimum=1)
    check_alpha(alpha)
    q = stats.studentized_range.ppf(1 - alpha, n_methods, np.inf) / math.sqrt(2)
    return float(q * math.sqrt(n_methods * (n_methods + 1) / (6 * n_datasets)))


def compare(scores: pd.DataFrame, *, higher_is_better: bool = True,
            alpha: float = 0.05) -> Comparison:
    """Rank methods over datasets; run Friedman, Iman–Davenport, Nemenyi, Wilcoxon–Holm.

    Parameters
    ----------
    scores : pandas.DataFrame
        One row per dataset, one column per method, no missing values.
    higher_is_better : bool, default=True
        ``True`` for accuracy-like scores, ``False`` for errors and losses.
    alpha : float, default=0.05
        Significance level of the pairwise decisions, in (0, 1).

    Returns
    -------
    Comparison
        ``friedman_chi2`` is scipy's tie-corrected statistic; ``friedman_chi2_demsar``,
        Demšar's formula from the mean ranks, has no tie correction and feeds Iman–Davenport.

    Examples
    --------
    >>> import pandas as pd
    >>> scores = pd.DataFrame(
    ...     {"ucb1": [0.91, 0.85, 0.80, 0.88, 0.93],
    ...      "magnitude": [0.89, 0.80, 0.75, 0.86, 0.90],
    ...      "none": [0.90, 0.84, 0.80, 0.87, 0.92]},
    ...     index=["iris", "wine", "cmc", "adult", "voting"])
    >>> result = compare(scores)
    >>> result.mean_ranks.round(2).to_dict()
    {'ucb1': 1.1, 'none': 1.9, 'magnitude': 3.0}
    >>> result.better_than("ucb1", "magnitude")
    True
    """
    _check_scores(scores)
    if not isinstance(higher_is_better, (bool, np.bool_)):
        raise ValueError(f"higher_is_better must be a bool; got {higher_is_better!r}")
    check_alpha(alpha)
    import scikit_posthocs as sp  # deferred: importing it takes about a second

    values = scores.astype(float).round(TIE_DECIMALS)  # equal up to float noise: a tie
    ranks = values.rank(axis=1, ascending=not higher_is_better, method="average")
    n, k = ranks.shape
    mean_ranks = ranks.mean().sort_values(kind="mergesort").rename("mean_rank")
    # Both libraries rank ascending; feeding them our ranks keeps their ranks equal to ours.
    chi2, p = _friedman(ranks.to_numpy())
    chi2_demsar, f, f_p = demsar_friedman(ranks.mean().to_numpy(), n)
    # Rows are blocks (datasets), columns groups (methods); p depends on |delta mean rank| only.
    nemenyi = sp.posthoc_nemenyi_friedman(ranks).loc[ranks.columns, ranks.columns]
    nemenyi.index.name = nemenyi.columns.name = None
    return Comparison(
        scores=scores.copy(), higher_is_better=bool(higher_is_better), alpha=float(alpha),
        ranks=ranks, mean_ranks=mean_ranks, friedman_chi2=chi2, friedman_p=p,
        friedman_chi2_demsar=chi2_demsar, iman_davenport_f=f, iman_davenport_p=f_p,
        nemenyi=nemenyi, critical_difference=nemenyi_critical_difference(k, n, alpha=alpha),
        wilcoxon_holm=_wilcoxon_holm(values, mean_ranks, alpha), n_datasets=n, n_methods=k)


def plot_critical_difference(comparison: Comparison, *, ax: Axes | None = None) -> Figure:
    """Critical difference diagram: mean ranks, Nemenyi cliques, and the CD as a bar.

    Parameters
    ----------
    comparison : Comparison
        The result of :func:`compare`.
    ax : matplotlib.axes.Axes, optional
        Where to draw; by default a new figure, not registered with pyplot.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding the diagram.

    Examples
    --------
    >>> import pandas as pd
    >>> scores = pd.DataFrame({"a": [3, 2, 3, 4], "b": [1, 1, 2, 2], "c": [2, 3, 1, 3]})
    >>> fig = plot_critical_difference(compare(scores))
    >>> [t.get_text() for t in fig.axes[0].texts if t.get_text().startswith("CD")]
    ['CD = 1.66']
    """
    check_comparison(comparison)
    import scikit_posthocs as sp

    c = comparison
    fig, ax = _figure_and_axes(ax, (7.0, 1.6 + 0.3 * c.n_methods))
    sp.critical_difference_diagram(
        c.mean_ranks, c.nemenyi, alpha=c.alpha, ax=ax,
        label_fmt_left="{label} ({rank:.2f})", label_fmt_right="({rank:.2f}) {label}")
    # Our own CD bar, above the rank axis (y = 0): the library's label rounds 1.25 to 1.2.
    start, cd = float(c.mean_ranks.iloc[0]), c.critical_difference
    ax.plot([start, start + cd], [1.1, 1.1], color="k", linewidth=2, marker="|", markersize=8)
    ax.text(start + cd / 2, 1.25, f"CD = {cd:.2f}", ha="center", va="bottom")
    ax.set_ylim(ax.get_ylim()[0], 1.3)
    ax.set_title(f"Mean ranks, Nemenyi at α = {c.alpha:g} (N = {c.n_datasets})", pad=20)
    return fig


def plot_pvalues(comparison: Comparison, *, ax: Axes | None = None,
                 test: str = "nemenyi") -> Figure:
    """Heatmap of pairwise p-values, methods by mean rank; ``*`` marks p < alpha.

    Parameters
    ----------
    comparison : Comparison
        The result of :func:`compare`.
    ax : matplotlib.axes.Axes, optional
        Where to draw; by default a new figure, not registered with pyplot.
    test : {"nemenyi", "wilcoxon"}, default="nemenyi"
        Which p-values; "wilcoxon" shows the Holm-corrected ones.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding the heatmap and its colour bar.

    Examples
    --------
    >>> import pandas as pd
    >>> scores = pd.DataFrame({"a": [3, 2, 3, 4], "b": [1, 1, 2, 2], "c": [2, 3, 1, 3]})
    >>> fig = plot_pvalues(compare(scores), test="wilcoxon")
    >>> [t.get_text() for t in fig.axes[0].get_xticklabels()]
    ['a', 'c', 'b']
    """
    check_comparison(comparison)
    _check_test(test)
    order = list(comparison.mean_ranks.index)
    p = comparison.pvalues(test).loc[order, order].to_numpy(dtype=float)
    k = len(order)
    fig, ax = _figure_and_axes(ax, (1.2 + 0.6 * k, 0.8 + 0.55 * k))
    shade = -np.log10(np.clip(p, 1e-6, 1.0))  # darker = smaller p
    np.fill_diagonal(shade, np.nan)
    image = ax.imshow(shade, cmap="Greens", vmin=0, vmax=max(4.0, np.nanmax(shade, initial=0)))
    for r, s in ((r, s) for r in range(k) for s in range(k) if r != s):
        star = "*" if p[r, s] < comparison.alpha else ""
        ax.text(s, r, _short_p(p[r, s]) + star, ha="center", va="center", fontsize=8,
                color="white" if shade[r, s] > 2.5 else "black")
    ax.set_xticks(range(k), order, rotation=45, ha="right")
    ax.set_yticks(range(k), order)
    name = "Nemenyi" if test == "nemenyi" else "Wilcoxon–Holm"
    ax.set_title(f"{name} p-values (* p < {comparison.alpha:g})")
    fig.colorbar(image, ax=ax, label="-log10 p")
    return fig


# --- internals ------------------------------------------------------------------------------

def _friedman(ranks: np.ndarray) -> tuple[float, float]:
    """Tie-corrected Friedman chi-squared and p: scipy's for k >= 3 (it refuses k = 2)."""
    k = ranks.shape[1]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-tied table gives 0/0
        if k >= 3:
            chi2, p = stats.friedmanchisquare(*ranks.T)
        else:
            chi2 = _tie_corrected_chi2(ranks)
            p = stats.chi2.sf(chi2, k - 1)
    if not np.isfinite(chi2):  # every dataset ties every method: nothing to reject
        return 0.0, 1.0
    return float(chi2), float(p)


def _tie_corrected_chi2(ranks: np.ndarray) -> float:
    n, k = ranks.shape
    ties = sum(float(np.sum(t**3 - t)) for t in
               (np.unique(row, return_counts=True)[1] for row in ranks))
    correction = 1 - ties / (n * k * (k * k - 1))
    chi2 = demsar_friedman(ranks.mean(axis=0), n)[0]
    return chi2 / correction if correction > 0 else math.nan


def holm(p) -> np.ndarray:
    """Holm step-down adjusted p-values of one family of tests.

    Parameters
    ----------
    p : array-like of float
        Raw p-values of the tests of the family (the comparisons a claim names).

    Returns
    -------
    numpy.ndarray
        Adjusted p-values, same order, capped at 1.

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03]).round(2).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p, dtype=float)
    if p.ndim != 1 or p.size == 0 or not (np.isfinite(p).all() and (p >= 0).all()):
        raise ValueError(f"p must be a non-empty 1-D array of p-values; got {p!r}")
    order = np.argsort(p, kind="mergesort")
    stepped = np.maximum.accumulate((p.size - np.arange(p.size)) * p[order])
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


def wilcoxon_min_p(n_datasets: int) -> float:
    """The smallest two-sided p-value the pairwise Wilcoxon test can give on ``n_datasets``.

    Reached when one method wins on every dataset, by differences of distinct sizes; it is
    the test of :func:`compare` applied to that table (exact for n <= 13, normal beyond).
    A family of ``m`` tests corrected by Holm can reject nothing when ``m`` times this value
    is not below alpha, whatever the data.

    Parameters
    ----------
    n_datasets : int
        Number of paired observations, at least 1.

    Returns
    -------
    float
        The smallest attainable p-value.

    Examples
    --------
    >>> wilcoxon_min_p(6), wilcoxon_min_p(2)
    (0.03125, 0.5)
    """
    _check_count("n_datasets", n_datasets, minimum=1)
    return _wilcoxon(np.arange(1.0, n_datasets + 1), np.zeros(n_datasets))[1]


def friedman_min_p(n_datasets: int, n_methods: int) -> float:
    """The smallest Friedman p-value attainable with ``n_methods`` on ``n_datasets``.

    Reached when every dataset ranks the methods in the same order (no ties): the
    statistic is then ``n (k - 1)``, chi-squared with ``k - 1`` degrees of freedom.

    Parameters
    ----------
    n_datasets, n_methods : int
        At least 1 and 2.

    Returns
    -------
    float

    Examples
    --------
    >>> round(friedman_min_p(2, 11), 3), round(friedman_min_p(2, 3), 3)
    (0.029, 0.135)
    """
    _check_count("n_datasets", n_datasets, minimum=1)
    _check_count("n_methods", n_methods, minimum=2)
    return float(stats.chi2.sf(n_datasets * (n_methods - 1), n_methods - 1))


def _wilcoxon(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Two-sided signed-rank test; zero differences count half for each side (Demšar).

    Equals ``scipy.stats.wilcoxon(x, y, zero_method="zsplit")``. For n <= 13 with ties
    scipy runs an exhaustive permutation test calling Python once per sign pattern
    (~0.5 s a pair); the same enumeration, vectorized here, takes milliseconds.
    """
    d = np.asarray(x, dtype=float) - np.asarray(y, dtype=float)
    if d.size > 13:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = stats.wilcoxon(d, zero_method="zsplit")
        return float(res.statistic), float(res.pvalue)
    r = stats.rankdata(np.abs(d))
    zeros = 0.5 * r[d == 0].sum()
    r_plus = r[d > 0].sum() + zeros
    nonzero = r[d != 0]
    signs = (np.arange(2 ** nonzero.size)[:, None] >> np.arange(nonzero.size)) & 1
    null = signs @ nonzero + zeros  # R+ under every sign pattern of the nonzero differences
    tol = 1e-9 * max(1.0, r_plus)
    p = 2 * min(np.mean(null >= r_plus - tol), np.mean(null <= r_plus + tol))
    return float(min(r_plus, r.sum() - r_plus)), float(min(p, 1.0))


def _wilcoxon_holm(values: pd.DataFrame, mean_ranks: pd.Series, alpha: float) -> pd.DataFrame:
    rows = []
    for a, b in combinations(values.columns, 2):
        ra, rb = mean_ranks[a], mean_ranks[b]
        rows.append((a, b, *_wilcoxon(values[a], values[b]),
                     a if ra < rb else b if rb < ra else None))
    table = pd.DataFrame(rows, columns=["method_a", "method_b", "statistic", "p", "better"])
    table.insert(4, "p_holm", holm(table["p"]))
    table.insert(5, "significant", table["p_holm"] < alpha)
    return table


def _short_p(p: float) -> str:
    return "<.001" if p < 0.001 else f"{p:.3f}" if p < 0.01 else f"{p:.2f}"


def _figure_and_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is None:
        # A bare Figure: no pyplot state, so a notebook shows it once, as the return value.
        fig = Figure(figsize=figsize, layout="constrained")
        return fig, fig.add_subplot()
    if not isinstance(ax, Axes):
        raise ValueError(f"ax must be a matplotlib Axes or None; got {type(ax).__name__}")
    fig = ax.figure
    while not isinstance(fig, Figure):  # a SubFigure: climb to the figure that saves
        fig = fig.figure
    return fig, ax


def _check_scores(scores) -> None:
    if not isinstance(scores, pd.DataFrame):
        raise ValueError(f"scores must be a pandas DataFrame (datasets x methods); got "
                         f"{type(scores).__name__}")
    n, k = scores.shape
    if k < 2:
        raise ValueError(f"need at least 2 methods (columns); got {k}: {list(scores.columns)}")
    if n < 2:
        raise ValueError(f"need at least 2 datasets (rows); got {n}: {list(scores.index)}")
    if scores.columns.has_duplicates:
        dup = list(scores.columns[scores.columns.duplicated()])
        raise ValueError(f"method names must be unique; duplicated: {dup}")
    bad = [m for m in scores.columns if not pd.api.types.is_numeric_dtype(scores[m])
           or pd.api.types.is_bool_dtype(scores[m])]
    if bad:
        raise ValueError(f"scores must be numeric; non-numeric methods: {bad}")
    finite = np.isfinite(scores.to_numpy(dtype=float, na_value=np.nan))
    if not finite.all():
        cells = [(scores.index[i], scores.columns[j]) for i, j in zip(*np.nonzero(~finite))]
        more = f" and {len(cells) - 20} more" if len(cells) > 20 else ""
        raise ValueError(f"scores has {len(cells)} missing or non-finite (dataset, method) "
                         f"cells: {cells[:20]}{more}")


def check_alpha(alpha) -> None:
    """A significance level in (0, 1), or a ValueError naming it (shared by the analysis modules)."""
    if not isinstance(alpha, Real) or isinstance(alpha, bool) or not 0 < float(alpha) < 1:
        raise ValueError(f"alpha must be a number in (0, 1); got {alpha!r}")


def _check_count(name: str, value, *, minimum: int) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")


def _check_test(test) -> None:
    if test not in TESTS:
        raise ValueError(f"test must be one of {list(TESTS)}; got {test!r}")


def check_comparison(comparison, what: str = "comparison") -> None:
    """A :class:`Comparison` from :func:`compare`, or a ValueError naming what was given."""
    if not isinstance(comparison, Comparison):
        raise ValueError(f"{what} must be a Comparison from compare(); got "
                         f"{type(comparison).__name__}")
