"""Tests of mabprune.analysis.stats: Demšar's worked example, the tests' consistency, plots."""

from __future__ import annotations

import doctest
import math
import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from scipy import stats as ss  # noqa: E402

import mabprune.analysis.stats as ms  # noqa: E402
from mabprune.analysis.stats import (  # noqa: E402
    compare, demsar_friedman, nemenyi_critical_difference, plot_critical_difference,
    plot_pvalues)

# Demšar (2006), Table 6: AUC of four C4.5 variants on 14 datasets.
DEMSAR_METHODS = ["C4.5", "C4.5+m", "C4.5+cf", "C4.5+m+cf"]
DEMSAR_ROWS = {
    "adult(sample)": (.763, .768, .771, .798),
    "breast cancer": (.599, .591, .590, .569),
    "breast cancer wisconsin": (.954, .971, .968, .967),
    "cmc": (.628, .661, .654, .657),
    "ionosphere": (.882, .888, .886, .898),
    "iris": (.936, .931, .916, .931),
    "liver disorders": (.661, .668, .609, .685),
    "lung cancer": (.583, .583, .563, .625),
    "lymphography": (.775, .838, .866, .875),
    "mushroom": (1.000, 1.000, 1.000, 1.000),
    "primary tumor": (.940, .962, .965, .962),
    "rheum": (.619, .666, .614, .669),
    "voting": (.972, .981, .975, .975),
    "wine": (.957, .978, .946, .970),
}
DEMSAR_PRINTED_RANKS = [3.143, 2.000, 2.893, 1.964]


@pytest.fixture(scope="module")
def demsar() -> pd.DataFrame:
    return pd.DataFrame.from_dict(DEMSAR_ROWS, orient="index", columns=DEMSAR_METHODS)


@pytest.fixture(scope="module")
def demsar_05(demsar):
    return compare(demsar, alpha=0.05)


@pytest.fixture(scope="module")
def demsar_10(demsar):
    return compare(demsar, alpha=0.10)


# --- Demšar's worked example -----------------------------------------------------------------

def test_demsar_mean_ranks(demsar_05):
    ranks = demsar_05.mean_ranks
    assert ranks[DEMSAR_METHODS].round(3).tolist() == [3.143, 2.000, 2.929, 1.929]
    assert list(ranks.index) == ["C4.5+m+cf", "C4.5+m", "C4.5+cf", "C4.5"]  # best first
    assert (demsar_05.ranks.loc["mushroom"] == 2.5).all()  # an all-tie row: average rank
    assert (demsar_05.n_datasets, demsar_05.n_methods) == (14, 4)


def test_demsar_formula_on_printed_ranks():
    chi2, f, p = demsar_friedman(DEMSAR_PRINTED_RANKS, n_datasets=14)
    assert round(chi2, 2) == 9.28
    assert round(f, 2) == 3.69
    assert p == pytest.approx(ss.f.sf(f, 3, 39))
    assert p < 0.05  # Demšar: F(3, 39) critical value 2.85 at 0.05, so the null is rejected
    assert ss.f.ppf(0.95, 3, 39) == pytest.approx(2.85, abs=0.005)


@pytest.mark.parametrize("alpha, q, cd", [(0.05, 2.569, 1.25), (0.10, 2.291, 1.12)])
def test_demsar_critical_difference(demsar, alpha, q, cd):
    assert ss.studentized_range.ppf(1 - alpha, 4, np.inf) / math.sqrt(2) == pytest.approx(
        q, abs=5e-4)
    assert round(nemenyi_critical_difference(4, 14, alpha=alpha), 2) == cd
    assert round(compare(demsar, alpha=alpha).critical_difference, 2) == cd


def test_demsar_nemenyi_decisions(demsar_05, demsar_10):
    assert demsar_05.significant_pairs() == []
    assert demsar_10.significant_pairs() == [("C4.5+m+cf", "C4.5"), ("C4.5+m", "C4.5")]
    assert demsar_10.better_than("C4.5+m", "C4.5")
    assert not demsar_10.better_than("C4.5", "C4.5+m")  # significant, but ranks worse
    assert not demsar_10.better_than("C4.5+m+cf", "C4.5+cf")  # 1.00 < CD 1.12
    assert not demsar_05.better_than("C4.5+m+cf", "C4.5")


def test_friedman_tie_correction(demsar, demsar_05):
    # scipy's statistic on the raw scores (it ranks ascending: chi2 does not care).
    scipy_chi2, scipy_p = ss.friedmanchisquare(*demsar.to_numpy().T)
    assert demsar_05.friedman_chi2 == pytest.approx(scipy_chi2)
    assert demsar_05.friedman_p == pytest.approx(scipy_p)
    # Ties: four 2-ties (iris, lung cancer, primary tumor, voting) and mushroom's 4-tie.
    correction = 1 - (4 * (2**3 - 2) + (4**3 - 4)) / (14 * 4 * (4**2 - 1))
    assert correction == pytest.approx(0.9)
    assert demsar_05.friedman_chi2_demsar == pytest.approx(demsar_05.friedman_chi2 * 0.9)
    chi2, f, p = demsar_friedman(demsar_05.mean_ranks[DEMSAR_METHODS], 14)
    assert demsar_05.friedman_chi2_demsar == pytest.approx(chi2)
    assert (demsar_05.iman_davenport_f, demsar_05.iman_davenport_p) == pytest.approx((f, p))
    assert f == pytest.approx(13 * chi2 / (14 * 3 - chi2))


# --- the tests' consistency ------------------------------------------------------------------

def _random_table(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(3, 25)), int(rng.integers(3, 9))
    # Small integers: many ties; a per-method drift: some significant pairs.
    values = rng.integers(0, 6, size=(n, k)) + rng.integers(0, 4, size=k)
    return pd.DataFrame(values, columns=[f"m{j}" for j in range(k)])


@pytest.mark.parametrize("seed", range(25))
def test_nemenyi_agrees_with_critical_difference(seed):
    table = _random_table(seed)
    for alpha in (0.05, 0.10):
        c = compare(table, alpha=alpha)
        r = c.mean_ranks
        for a in r.index:
            for b in r.index:
                gap = abs(r[a] - r[b])
                if a == b or abs(gap - c.critical_difference) < 1e-9:
                    continue
                assert (c.nemenyi.loc[a, b] < alpha) == (gap > c.critical_difference)
                assert c.better_than(a, b) == (r[a] < r[b] and gap > c.critical_difference)


def test_demsar_nemenyi_agrees_with_critical_difference(demsar_05, demsar_10):
    for c in (demsar_05, demsar_10):
        r = c.mean_ranks
        gaps = np.abs(r.to_numpy()[:, None] - r.to_numpy()[None, :])
        nem = c.nemenyi.loc[r.index, r.index].to_numpy()
        np.testing.assert_array_equal(nem < c.alpha, gaps > c.critical_difference)


def test_nemenyi_orientation_and_values(demsar_05):
    nem = demsar_05.nemenyi
    assert nem.shape == (4, 4)  # methods x methods, not datasets x datasets
    assert list(nem.index) == list(nem.columns) == DEMSAR_METHODS
    np.testing.assert_allclose(nem.to_numpy(), nem.to_numpy().T)
    np.testing.assert_allclose(np.diag(nem), 1.0)
    # By hand: p = P(studentized range > sqrt(2) |dR| / sqrt(k (k + 1) / (6 N))).
    r = demsar_05.mean_ranks
    q = math.sqrt(2) * abs(r["C4.5"] - r["C4.5+m"]) / math.sqrt(4 * 5 / (6 * 14))
    assert nem.loc["C4.5", "C4.5+m"] == pytest.approx(ss.studentized_range.sf(q, 4, np.inf))


def test_tie_corrected_chi2_matches_scipy():
    for seed in range(10):
        table = _random_table(seed)
        ranks = table.rank(axis=1).to_numpy()
        expected = ss.friedmanchisquare(*ranks.T).statistic
        assert ms._tie_corrected_chi2(ranks) == pytest.approx(expected)


def test_two_methods_friedman():
    # scipy refuses k = 2; for two methods the tie-corrected chi2 is (W - L)^2 / (W + L).
    a = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3]
    b = [0.8, 0.7, 0.6, 0.6, 0.6, 0.3, 0.2]  # a wins 5, ties 1, loses 1
    c = compare(pd.DataFrame({"a": a, "b": b}))
    assert c.friedman_chi2 == pytest.approx((5 - 1) ** 2 / 6)
    assert c.friedman_p == pytest.approx(ss.chi2.sf((5 - 1) ** 2 / 6, 1))
    assert c.mean_ranks.to_dict() == {"a": pytest.approx(8.5 / 7), "b": pytest.approx(12.5 / 7)}


def test_all_ties_table():
    c = compare(pd.DataFrame(np.ones((5, 3)), columns=["x", "y", "z"]))
    assert (c.friedman_chi2, c.friedman_p) == (0.0, 1.0)
    assert (c.ranks == 2.0).all().all()
    assert c.significant_pairs() == c.significant_pairs("wilcoxon") == []
    assert c.wilcoxon_holm["p"].eq(1.0).all() and c.wilcoxon_holm["better"].isna().all()


def test_perfect_agreement_gives_infinite_iman_davenport():
    c = compare(pd.DataFrame({"a": [3.0, 4, 5], "b": [2.0, 3, 4], "c": [1.0, 2, 3]}))
    assert c.friedman_chi2_demsar == pytest.approx(3 * 2)  # its maximum, N (k - 1)
    assert (c.iman_davenport_f, c.iman_davenport_p) == (math.inf, 0.0)


# --- ranking, direction, Wilcoxon–Holm ------------------------------------------------------

def test_ties_are_averaged():
    table = pd.DataFrame({"a": [1.0, 5.0], "b": [1.0, 4.0], "c": [0.5, 4.0]}, index=["d1", "d2"])
    c = compare(table)
    assert c.ranks.loc["d1"].tolist() == [1.5, 1.5, 3.0]
    assert c.ranks.loc["d2"].tolist() == [1.0, 2.5, 2.5]
    assert c.mean_ranks.to_dict() == {"a": 1.25, "b": 2.0, "c": 2.75}


def test_lower_is_better_flips_ranks(demsar, demsar_05):
    low = compare(demsar, higher_is_better=False)
    pd.testing.assert_frame_equal(low.ranks, 5 - demsar_05.ranks)
    assert list(low.mean_ranks.index) == list(demsar_05.mean_ranks.index[::-1])
    pd.testing.assert_frame_equal(low.nemenyi, demsar_05.nemenyi)
    assert low.friedman_chi2 == pytest.approx(demsar_05.friedman_chi2)
    np.testing.assert_allclose(low.wilcoxon_holm["p"], demsar_05.wilcoxon_holm["p"])
    flipped = [a if w == b else b for a, b, w in
               demsar_05.wilcoxon_holm[["method_a", "method_b", "better"]].to_numpy()]
    assert low.wilcoxon_holm["better"].tolist() == flipped


def test_wilcoxon_holm_table(demsar, demsar_05):
    table = demsar_05.wilcoxon_holm
    assert list(table.columns) == ["method_a", "method_b", "statistic", "p", "p_holm",
                                   "significant", "better"]
    assert len(table) == 6
    row = table.iloc[0]
    expected = ss.wilcoxon(demsar[row.method_a], demsar[row.method_b], zero_method="zsplit")
    assert (row.statistic, row.p) == pytest.approx((expected.statistic, expected.pvalue))
    assert (table["significant"] == (table["p_holm"] < 0.05)).all()
    for a, b, better in table[["method_a", "method_b", "better"]].to_numpy():
        r = demsar_05.mean_ranks
        assert better == (a if r[a] < r[b] else b)
    pytest.importorskip("statsmodels")
    from statsmodels.stats.multitest import multipletests
    np.testing.assert_allclose(table["p_holm"], multipletests(table["p"], method="holm")[1])
    p = demsar_05.pvalues("wilcoxon")
    assert p.loc[row.method_b, row.method_a] == row.p_holm and p.loc["C4.5", "C4.5"] == 1.0


@pytest.mark.parametrize("seed", range(12))
def test_fast_wilcoxon_matches_scipy(seed):
    # Small tied samples, where scipy runs its (slow) exhaustive permutation test.
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 10))
    x, y = rng.integers(0, 4, n).astype(float), rng.integers(0, 4, n).astype(float)
    if seed == 0:
        x, y = np.ones(5), np.ones(5)  # all differences zero
    if seed == 1:  # the largest size on the fast path: 2**13 sign patterns
        x, y = rng.integers(0, 4, 13).astype(float), rng.integers(0, 4, 13).astype(float)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = ss.wilcoxon(x, y, zero_method="zsplit")
    assert ms._wilcoxon(x, y) == pytest.approx((expected.statistic, expected.pvalue))


def test_fast_wilcoxon_matches_scipy_exact_without_ties():
    x = np.array([0.1, 0.5, 0.9, 1.3, 2.0, 2.2, 3.1, 3.3, 4.0, 4.7, 5.2, 5.9, 6.6])
    y = x - np.array([1, -2, 3, 4, -5, 6, 7, 8, -9, 10, 11, 12, 13]) * 0.01
    expected = ss.wilcoxon(x, y)  # scipy's exact null distribution
    assert ms._wilcoxon(x, y) == pytest.approx((expected.statistic, expected.pvalue))


def test_holm_by_hand():
    np.testing.assert_allclose(ms.holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(ms.holm([0.5, 0.9]), [1.0, 1.0])  # monotone, capped at 1


def test_scores_are_copied(demsar):
    table = demsar.copy()
    c = compare(table)
    table.iloc[0, 0] = 0.0
    assert c.scores.iloc[0, 0] == 0.763
    assert "best='C4.5+m+cf'" in repr(c)


# --- input validation -----------------------------------------------------------------------

OK = pd.DataFrame({"a": [1.0, 2.0], "b": [2.0, 1.0]}, index=["d1", "d2"])


@pytest.mark.parametrize("scores, message", [
    (OK.to_numpy(), "pandas DataFrame.*got ndarray"),
    ({"a": [1, 2], "b": [2, 1]}, "pandas DataFrame.*got dict"),
    (OK[["a"]], r"at least 2 methods \(columns\); got 1: \['a'\]"),
    (OK.iloc[:1], r"at least 2 datasets \(rows\); got 1"),
    (pd.DataFrame([[1.0, 2.0], [2.0, 1.0]], columns=["a", "a"]), r"unique; duplicated: \['a'\]"),
    (OK.assign(b=["x", "y"]), r"non-numeric methods: \['b'\]"),
    (OK.assign(a=[np.nan, 1.0], b=[2.0, np.nan]),
     r"2 missing or non-finite .* \[\('d1', 'a'\), \('d2', 'b'\)\]"),
    (OK.assign(b=pd.array([1.0, None], dtype="Float64")), r"\[\('d2', 'b'\)\]"),
    (OK.assign(a=[np.inf, 1.0]), r"\[\('d1', 'a'\)\]"),
])
def test_bad_scores(scores, message):
    with pytest.raises(ValueError, match=message):
        compare(scores)


@pytest.mark.parametrize("alpha", [0, 1, -0.1, 1.5, float("nan"), "0.05", True, None])
def test_bad_alpha(alpha):
    with pytest.raises(ValueError, match="alpha must be a number in"):
        compare(OK, alpha=alpha)


def test_bad_arguments(demsar_05):
    with pytest.raises(ValueError, match="higher_is_better must be a bool; got 'yes'"):
        compare(OK, higher_is_better="yes")
    with pytest.raises(ValueError, match=r"test must be one of \['nemenyi', 'wilcoxon'\]"):
        demsar_05.significant_pairs(test="tukey")
    with pytest.raises(ValueError, match="unknown method 'J48'"):
        demsar_05.better_than("J48", "C4.5")
    with pytest.raises(ValueError, match="mean_ranks must be 1-D"):
        demsar_friedman([1.0], n_datasets=3)
    with pytest.raises(ValueError, match="n_datasets must be an integer >= 2; got 1"):
        demsar_friedman([1.0, 2.0], n_datasets=1)
    with pytest.raises(ValueError, match="n_methods must be an integer >= 2; got 1"):
        nemenyi_critical_difference(1, 10)
    with pytest.raises(ValueError, match="comparison must be a Comparison"):
        plot_critical_difference(OK)
    with pytest.raises(ValueError, match="ax must be a matplotlib Axes"):
        plot_pvalues(demsar_05, ax="left")
    with pytest.raises(ValueError, match="test must be one of"):
        plot_pvalues(demsar_05, test="dunn")


# --- plots ---------------------------------------------------------------------------------

def test_plot_critical_difference(demsar_05, tmp_path):
    fig = plot_critical_difference(demsar_05)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert "CD = 1.25" in texts
    assert any(name in text for name in DEMSAR_METHODS for text in texts)
    spans = [np.ptp(line.get_xdata()) for line in ax.lines]
    assert any(s == pytest.approx(demsar_05.critical_difference) for s in spans)
    path = tmp_path / "cd.png"
    fig.savefig(path)
    assert path.stat().st_size > 1000


def test_plot_critical_difference_on_given_axes(demsar_10, tmp_path):
    fig = Figure()
    left, _ = fig.subfigures(1, 2)
    ax = left.add_subplot()
    assert plot_critical_difference(demsar_10, ax=ax) is fig  # the root figure, for saving
    assert "CD = 1.12" in [t.get_text() for t in ax.texts]
    fig.savefig(tmp_path / "cd.png")
    assert (tmp_path / "cd.png").stat().st_size > 1000


@pytest.mark.parametrize("test", ["nemenyi", "wilcoxon"])
def test_plot_pvalues(demsar_10, tmp_path, test):
    fig = plot_pvalues(demsar_10, test=test)
    ax = fig.axes[0]
    order = list(demsar_10.mean_ranks.index)
    assert [t.get_text() for t in ax.get_xticklabels()] == order
    assert [t.get_text() for t in ax.get_yticklabels()] == order
    starred = sum(t.get_text().endswith("*") for t in ax.texts)
    assert len(ax.texts) == 12 and starred == 2 * len(demsar_10.significant_pairs(test))
    assert len(fig.axes) == 2  # the heatmap and its colour bar
    fig.savefig(tmp_path / f"{test}.png")
    assert (tmp_path / f"{test}.png").stat().st_size > 1000


def test_docstring_examples_run():
    result = doctest.testmod(ms, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


# --- issue 18: float ties, the smallest attainable p-values, Holm -----------------------------

def test_identical_runs_averaged_in_another_order_tie_exactly():
    # Two methods with the same three seed accuracies, summed in another order: their means
    # differ by one ulp; rounded before ranking they tie, and the Wilcoxon test sees no
    # difference at all.
    runs = [0.803, 0.865, 0.772]
    a = (runs[0] + runs[1] + runs[2]) / 3
    b = (runs[2] + runs[1] + runs[0]) / 3
    assert a != b  # the planted float noise
    scores = pd.DataFrame({"a": [a, 0.5, 0.7, 0.6], "b": [b, 0.5, 0.7, 0.6],
                           "c": [0.9, 0.4, 0.8, 0.65]})
    result = ms.compare(scores)
    assert result.ranks["a"].tolist() == result.ranks["b"].tolist()
    assert result.ranks.loc[0, "a"] == result.ranks.loc[0, "b"] == 2.5
    row = result.wilcoxon_holm.query("method_a == 'a' and method_b == 'b'").iloc[0]
    assert row.p == 1.0


def test_smallest_attainable_p_values():
    assert ms.wilcoxon_min_p(6) == 2 / 2**6 and ms.wilcoxon_min_p(2) == 0.5
    assert ms.wilcoxon_min_p(20) < 1e-4  # normal approximation beyond 13 datasets
    # What the verdict matrix meets at N = 6: one test can pass, six Holm-corrected cannot.
    assert ms.wilcoxon_min_p(6) < 0.05 <= 6 * ms.wilcoxon_min_p(6)
    assert ms.friedman_min_p(2, 3) > 0.05 > ms.friedman_min_p(3, 3)
    with pytest.raises(ValueError, match="n_datasets must be an integer >= 1"):
        ms.wilcoxon_min_p(0)
    with pytest.raises(ValueError, match="n_methods must be an integer >= 2"):
        ms.friedman_min_p(5, 1)


def test_holm_public_and_checked():
    np.testing.assert_allclose(ms.holm([0.02]), [0.02])  # one planned test: uncorrected
    with pytest.raises(ValueError, match="p must be a non-empty 1-D array"):
        ms.holm([])
