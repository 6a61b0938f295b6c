"""The paper's claims C1–C10 and the rules that give each a verdict from our records.

The claims are those of the abstract of Ameen and Vadera (arXiv:2606.07615), one per row,
restated in our words. :func:`scoreboard` checks each against the family comparisons of
:func:`mabprune.analysis.stats.compare` and the cost of the runs. A rule never rests on a mean rank
alone: it asks for a significant test *and* a bootstrap interval that excludes zero, for a
Bayesian probability of practical equivalence, or for a bootstrap probability of ranking best
above a threshold (see :data:`RULES`).

Each rule names its own comparisons, and the Holm correction runs over those only (C3: one
planned test; C5: ucb1 against each regressor and random; C7–C9: each policy against the
baseline); the Nemenyi test and its critical-difference diagram over the whole family table
stay the descriptive picture. "Competitive with" is an equivalence statement, never a
non-significance. A rule that cannot pass at the number of datasets it is given, whatever
the data (the smallest attainable p after correction is not below alpha), gets "cannot
decide", with the number of datasets it would need (issue 18).

Every rule naming a policy is run a second time with ``random`` (random pruning) in place
of that policy. A claim whose rule random pruning passes as well is reported as "holds, but
random pruning passes too": what it credits to the bandit is then no more than pruning
plus fine-tuning gives. No verdict is edited by hand.

The references (:data:`mabprune.pruning.REFERENCES`: uniform allocation and the exact ranking)
take no part in any rule: :func:`scoreboard` removes their columns before it decides, so that
they count neither as a policy, nor as a baseline, nor among the methods of C1, nor in a
correction over the family table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as _stats

from mabprune.analysis.costs import PRACTICAL_RATIO, NotEnoughData as _NotEnoughData, c10 as _c10
from mabprune.analysis.evidence import DEFAULT_ROPE, bootstrap_best_probability, pair_evidence
from mabprune.analysis.stats import (CLASSIFIERS, FAMILIES, FAMILY_ALIASES, MAB_POLICIES, REFERENCES, REGRESSORS,
                                     Comparison,
                                     check_alpha, check_comparison, compare, friedman_min_p, holm,
                                     nemenyi_critical_difference, wilcoxon_min_p)

__all__ = ["CLAIMS", "CONTROL", "COST_COLUMNS", "FAMILY_ALIASES", "POWER", "PRACTICAL_RATIO", "RULES",
           "VERDICTS", "family_name", "scoreboard", "verdict_counts", "without_references"]

#: The five verdicts, in the order the scoreboard counts them.
VERDICTS = ("holds", "holds, but random pruning passes too", "does not hold",
            "cannot decide", "not enough data")
#: The method put in place of the claimed policy by the control of every rule.
CONTROL = "random"
#: Columns that ``costs`` must have: one row per run.
COST_COLUMNS = ("method", "prune_time_s", "train_time_s", "pulls")
_MIN_REGRESSORS = 3  # C5: "several" standard regressors
_MIN_POLICIES = 2  # C7–C9: "several" MAB policies

#: The power the "needed N" of a "cannot decide" verdict aims at.
POWER = 0.8
#: The rule of each claim; ``{alpha}``, ``{threshold}``, ``{confidence}`` and ``{rope}`` are
#: filled in by :func:`scoreboard`. "Significantly better" (or worse) means, throughout: the
#: Wilcoxon signed-rank p-value, Holm-corrected over the comparisons the rule names (not over
#: every pair of the family table), is below alpha *and* the bootstrap interval of the mean
#: paired difference lies above (below) 0. "Competitive with" means: the Bayesian signed-rank
#: probability that the method is practically equivalent (within the ROPE) or better exceeds
#: the threshold.
RULES = {
    "C1": "Friedman p < {alpha} in every family, over its network methods (pruning methods and "
          "the unpruned network; the classifiers and regressors are shown as context, the "
          "control column gives Friedman over the six MAB policies alone)",
    "C2": "P(ucb1 has the best mean rank of the six policies) > {threshold}, bootstrap over "
          "datasets",
    "C3": "ucb1 significantly better than none: one planned Wilcoxon test, p < {alpha}, and "
          "the {confidence} bootstrap interval of the mean difference above 0",
    "C4": "P(ucb1 has the best mean rank of the six policies) > {threshold}, bootstrap over "
          "datasets",
    "C5": "ucb1 competitive with at least half of the regressors (at least 3 present): "
          "P(ucb1 equivalent within ROPE {rope} or better) > {threshold}, Bayesian signed-rank; "
          "and significantly better than random, Holm over ucb1's comparisons with each "
          "regressor and random",
    "C6": "P(ucb1 and thompson hold the two best mean ranks of the six policies) > "
          "{threshold}, bootstrap over datasets",
    "C7": "at least 2 MAB policies significantly better than none (Holm over the policies)",
    "C8": "at least 2 MAB policies significantly better than magnitude (Holm over the "
          "policies)",
    "C9": "at least 2 MAB policies significantly better than activation_variation (Holm over "
          "the policies)",
    "C10": "in every family, median MAB prune time at most {ratio:g} times the median "
           "training time of a (dataset, seed) cell",
}


@dataclass(frozen=True)
class _Options:
    alpha: float
    threshold: float
    confidence: float
    rope: float
    n_boot: int
    seed: int


def family_name(name: str) -> str:
    """The claim family of a records family: grid names are mapped, claim names kept.

    Parameters
    ----------
    name : str
        A family of :data:`mabprune.analysis.stats.FAMILIES` or a key of :data:`FAMILY_ALIASES`.

    Returns
    -------
    str
        One of :data:`mabprune.analysis.stats.FAMILIES`.

    Examples
    --------
    >>> family_name("regression"), family_name("tabular_regression")
    ('tabular_regression', 'tabular_regression')
    """
    if name in FAMILIES:
        return name
    if name in FAMILY_ALIASES:
        return FAMILY_ALIASES[name]
    raise ValueError(f"unknown family {name!r}; expected one of {list(FAMILIES)} "
                     f"or {list(FAMILY_ALIASES)}")


def scoreboard(comparisons: dict[str, Comparison], *, costs: pd.DataFrame | None = None,
               alpha: float = 0.05, threshold: float = 0.9, confidence: float = 0.95,
               rope: float = DEFAULT_ROPE, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Verdicts on the paper's claims C1–C10, each with its rule, evidence and random control.

    The rules are those of :data:`RULES`. "Significantly better than" ``b`` means: the
    Wilcoxon p-value of the pair, Holm-corrected over the comparisons the rule names (C3 and
    every control: one planned test; C5: ucb1 against each regressor and random; C7–C9:
    each policy against the baseline), is below ``alpha`` and the ``confidence`` percentile
    bootstrap interval of the mean difference of the scores over the datasets lies above 0;
    "significantly worse" mirrors it. "Competitive with" (C5) means that the Bayesian
    signed-rank probability of "equivalent within ``rope``, or better" exceeds ``threshold``:
    not being significantly worse is not enough. C1 is decided among the network methods
    (the pruning methods and the unpruned network); Friedman over all methods, classifiers
    or regressors included, is given beside it. The
    "best rank" claims (C2, C4, C6) hold when the probability, over ``n_boot`` bootstrap
    resamples of the datasets, that the claimed policies hold the best mean ranks among
    the six policies exceeds ``threshold``. Nemenyi p-values and the Bayesian signed-rank
    probabilities (ROPE ``rope``) are reported as evidence beside the decisive tests.

    The control: each rule naming a policy is evaluated again with ``random`` in its
    place (for C6, in place of ucb1 and, separately, of thompson; for C7–C9, random alone
    must be significantly better than the baseline). A claim that holds while its control
    passes too gets "holds, but random pruning passes too". C5 already demands that ucb1
    beat random, which random itself cannot; its control column shows how random fares
    against the regressors. C1 names no policy: its control column gives the Friedman test
    among the six policies alone. C10 has no control.

    C10: in every family of ``costs``, the median prune time of the MAB runs is at most 10
    times the median training time of the family, the training time being taken once per
    (dataset, seed) cell when ``costs`` has ``dataset`` and ``seed`` columns; the
    regressors' fitting times are left out.

    "cannot decide", with the number of datasets the rule would need, when the rule cannot
    pass at the given number of datasets N whatever the data: the smallest Friedman p
    attainable at N (C1), or the smallest Wilcoxon p attainable at N times the number of
    comparisons the rule corrects over (C3, C5, C7–C9), is not below ``alpha``. The "best
    rank" probabilities (C2, C4, C6) reach 1 at any N >= 2 (a policy best on every dataset),
    so they always decide. The N needed at the observed effect uses the normal
    approximation of the Wilcoxon test (asymptotic efficiency 3/π of the paired t) at power
    :data:`POWER`, and for C1 the N at which the observed Kendall's W would reject.

    "not enough data", with the reason as evidence, when the family is missing or has
    fewer than 2 datasets, a required method is absent (C2, C4, C6 need all six policies;
    C5 needs 3 regressors and random; C7–C9 need 2 policies), or ``costs`` is None or has
    no MAB run with both times. A control that cannot be run (no ``random`` column) says
    so and leaves the verdict as the rule gives it.

    Parameters
    ----------
    comparisons : dict of str to Comparison
        Family name (one of :data:`mabprune.analysis.stats.FAMILIES`) to the comparison over all
        its methods; for tabular_regression, the networks and the regressors together.
    costs : pandas.DataFrame, optional
        One row per run (the records themselves will do), with columns ``method,
        prune_time_s, train_time_s, pulls``. Used when present: ``family``, ``dataset``,
        ``seed``, ``kind`` and ``status`` (only ``ok`` runs count).
    alpha : float, default=0.05
        Significance level of every test, in (0, 1).
    threshold : float, default=0.9
        Bootstrap probability that a "best rank" claim must exceed, in (0, 1).
    confidence : float, default=0.95
        Coverage of the bootstrap intervals of mean differences, in (0, 1).
    rope : float, default=DEFAULT_ROPE
        Region of practical equivalence of the Bayesian signed-rank test, in score units.
    n_boot : int, default=2000
        Bootstrap resamples (and Bayesian posterior samples) per quantity.
    seed : int, default=0
        Seed of every resampling: the same seed gives the same board.

    Returns
    -------
    pandas.DataFrame
        Index ``id`` (``C1`` to ``C10``); columns ``family, claim, rule, evidence,
        control, verdict``, the verdict one of :data:`VERDICTS`; the ``control`` of a rule
        naming a policy starts with ``passes``, ``fails`` or ``cannot decide``.

    Examples
    --------
    >>> board = scoreboard({})
    >>> board.loc["C2", "evidence"], board.loc["C2", "verdict"]
    ('no tabular_classification comparison', 'not enough data')
    """
    if not isinstance(comparisons, dict):
        raise ValueError(f"comparisons must be a dict of family -> Comparison; got "
                         f"{type(comparisons).__name__}")
    unknown = sorted(set(comparisons) - set(FAMILIES))
    if unknown:
        raise ValueError(f"unknown families {unknown}; expected keys among {list(FAMILIES)}")
    for family, c in comparisons.items():
        check_comparison(c, what=f"comparisons[{family!r}]")
    if costs is not None:
        if not isinstance(costs, pd.DataFrame):
            raise ValueError(f"costs must be a DataFrame or None; got {type(costs).__name__}")
        missing = [c for c in COST_COLUMNS if c not in costs.columns]
        if missing:
            raise ValueError(f"costs lacks columns {missing}; needs one row per run with "
                             f"{list(COST_COLUMNS)}")
    check_alpha(alpha)
    for name, value in (("threshold", threshold), ("confidence", confidence)):
        if not isinstance(value, (int, float)) or isinstance(value, bool) \
                or not 0 < value < 1:
            raise ValueError(f"{name} must be a number in (0, 1); got {value!r}")
    if not isinstance(rope, (int, float)) or isinstance(rope, bool) or not rope > 0:
        raise ValueError(f"rope must be a positive number; got {rope!r}")
    if not isinstance(n_boot, (int, np.integer)) or isinstance(n_boot, bool) or n_boot < 100:
        raise ValueError(f"n_boot must be an integer >= 100; got {n_boot!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) \
            or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32); got {seed!r}")
    o = _Options(float(alpha), float(threshold), float(confidence), float(rope), int(n_boot),
                 int(seed))
    comparisons = {family: without_references(c) for family, c in comparisons.items()}
    rows = {}
    for claim_id, (family, claim) in CLAIMS.items():
        rule = RULES[claim_id].format(alpha=f"{alpha:g}", threshold=f"{threshold:g}",
                                      confidence=f"{confidence:.0%}", rope=f"{rope:g}",
                                      ratio=PRACTICAL_RATIO)
        try:
            holds, evidence = _RULES[claim_id](comparisons, costs, o)
            verdict = VERDICTS[3] if holds is None else VERDICTS[0] if holds else VERDICTS[2]
        except _NotEnoughData as reason:
            holds, verdict, evidence = False, VERDICTS[4], str(reason)
        control = "no policy named: no control"
        if claim_id in _CONTROLS:
            try:
                passes, control = _CONTROLS[claim_id](comparisons, costs, o)
                if claim_id != "C1":  # C1's column informs; it is not a random control
                    word = "cannot decide" if passes is None else "passes" if passes else "fails"
                    control = f"{word}: {control}"
                    if holds and passes:
                        verdict = VERDICTS[1]
            except _NotEnoughData as reason:
                control = f"not run: {reason}"
        rows[claim_id] = {"family": family, "claim": claim, "rule": rule,
                          "evidence": evidence, "control": control, "verdict": verdict}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("id")


def without_references(comparison: Comparison) -> Comparison:
    """The comparison without the columns of :data:`mabprune.pruning.REFERENCES`, recomputed.

    The rules of :func:`scoreboard` decide among the paper's methods only: a reference in the
    table would shift every mean rank, the Nemenyi critical difference and the set of methods
    of C1.

    Parameters
    ----------
    comparison : Comparison
        From :func:`mabprune.analysis.stats.compare`.

    Returns
    -------
    Comparison
        ``comparison`` itself when it has no reference column.

    Examples
    --------
    >>> import pandas as pd
    >>> c = compare(pd.DataFrame({"ucb1": [0.9, 0.8, 0.7], "none": [0.8, 0.7, 0.7],
    ...                           "exact": [0.95, 0.9, 0.8]}))
    >>> list(without_references(c).scores.columns), c.n_methods
    (['ucb1', 'none'], 3)
    """
    check_comparison(comparison)
    refs = [m for m in comparison.scores.columns if m in REFERENCES]
    if not refs:
        return comparison
    return compare(comparison.scores.drop(columns=refs), higher_is_better=comparison.higher_is_better,
                   alpha=comparison.alpha)


def verdict_counts(board: pd.DataFrame) -> pd.Series:
    """How many claims get each verdict, zeros included, in the order of :data:`VERDICTS`.

    Parameters
    ----------
    board : pandas.DataFrame
        The result of :func:`scoreboard`.

    Returns
    -------
    pandas.Series
        Index :data:`VERDICTS`, integer counts summing to the number of claims.

    Examples
    --------
    >>> verdict_counts(scoreboard({})).to_dict()["not enough data"]
    10
    """
    if not isinstance(board, pd.DataFrame) or "verdict" not in board.columns:
        raise ValueError("board must be the DataFrame of scoreboard(), with a 'verdict' column")
    unknown = sorted(set(board["verdict"]) - set(VERDICTS))
    if unknown:
        raise ValueError(f"unknown verdicts {unknown}; expected among {list(VERDICTS)}")
    return board["verdict"].value_counts().reindex(list(VERDICTS), fill_value=0).astype(int)


# --- claim rules: each returns (holds, evidence) or raises _NotEnoughData(reason) -------------

def _family(comparisons: dict, family: str, needs=()) -> Comparison:
    if family not in comparisons:
        raise _NotEnoughData(f"no {family} comparison")
    c = comparisons[family]
    if c.n_datasets < 2:
        raise _NotEnoughData(f"{family} has {c.n_datasets} dataset(s); need at least 2")
    absent = [m for m in needs if m not in c.mean_ranks.index]
    if absent:
        raise _NotEnoughData(f"{family} lacks methods {absent}")
    return c


def _fmt(mean_ranks: pd.Series) -> str:
    return ", ".join(f"{m} {r:.2f}" for m, r in mean_ranks.items())


def _pair(c: Comparison, a: str, b: str, o: _Options) -> dict:
    return pair_evidence(c, a, b, alpha=o.alpha, rope=o.rope, confidence=o.confidence,
                         n_boot=o.n_boot, seed=o.seed)


def _wilcoxon_n_needed(diffs: np.ndarray, m: int, alpha: float) -> tuple[int, float]:
    """(least N at which m Holm-corrected Wilcoxon tests can reject, N at the observed effect)."""
    n_min = next(n for n in range(1, 10_000) if m * wilcoxon_min_p(n) < alpha)
    sd = float(np.std(diffs, ddof=1)) if diffs.size > 1 else 0.0
    mean = float(np.mean(diffs))
    if mean <= 0:
        return n_min, math.inf
    if sd == 0:
        return n_min, float(n_min)
    z = _stats.norm.ppf(1 - alpha / (2 * m)) + _stats.norm.ppf(POWER)
    return n_min, float(max(n_min, math.ceil((z * sd / mean) ** 2 / (3 / math.pi))))


def _undecidable(c: Comparison, m: int, o: _Options, diffs: np.ndarray) -> str | None:
    """Why m Holm-corrected Wilcoxon tests on c's datasets cannot reject; None when they can."""
    floor = min(1.0, m * wilcoxon_min_p(c.n_datasets))
    if floor < o.alpha:
        return None
    n_min, n_effect = _wilcoxon_n_needed(diffs, m, o.alpha)
    at_effect = ("no N at the observed effect (it favours the other side)"
                 if not math.isfinite(n_effect) else
                 f"about N = {n_effect:.0f} at the observed effect ({POWER:.0%} power)")
    return (f"cannot decide at N = {c.n_datasets}: the smallest attainable p after Holm over "
            f"{m} test(s) is {floor:.3g} >= {o.alpha:g}; it needs N >= {n_min}, {at_effect}")


def _planned(c: Comparison, pairs: list[tuple[str, str]], o: _Options) -> dict:
    """Pair evidence for the comparisons a rule names, Holm-corrected over those alone."""
    evidence = {pair: _pair(c, *pair, o) for pair in pairs}
    adjusted = holm([e["p_wilcoxon"] for e in evidence.values()])
    for e, p in zip(evidence.values(), adjusted):
        e["p_claim"] = float(p)
        e["better"] = bool(p < o.alpha and e["low"] > 0)
        e["worse"] = bool(p < o.alpha and e["high"] < 0)
        e["competitive"] = bool(e["p_a_better"] + e["p_equivalent"] > o.threshold)
    return evidence


def _diffs(c: Comparison, a: str, b: str) -> np.ndarray:
    sign = 1.0 if c.higher_is_better else -1.0
    return sign * (c.scores[a].to_numpy(dtype=float) - c.scores[b].to_numpy(dtype=float))


def _describe(a: str, b: str, e: dict, o: _Options, m: int = 1) -> str:
    test = "one planned Wilcoxon test" if m == 1 else f"Wilcoxon, Holm over {m}"
    return (f"{a} − {b} = {e['mean_diff']:+.3f} [{e['low']:+.3f}, {e['high']:+.3f}], "
            f"{test}: p = {e['p_claim']:.3g} (Holm over the whole table: "
            f"{e['p_wilcoxon_holm']:.3g}), Nemenyi p = {e['p_nemenyi']:.3g}, "
            f"Bayesian P({a} better / equivalent / {b} better, ROPE {o.rope:g}) = "
            f"{e['p_a_better']:.2f} / {e['p_equivalent']:.2f} / {e['p_b_better']:.2f}")


def _network_methods(c: Comparison) -> list[str]:
    return [m for m in c.scores.columns if m not in REGRESSORS and m not in CLASSIFIERS]


def _c1(comparisons, costs, o):
    present, notes = {}, []
    for family in FAMILIES:
        try:
            present[family] = _family(comparisons, family)
        except _NotEnoughData as reason:
            notes.append(str(reason))
    if not present:
        raise _NotEnoughData("; ".join(notes))
    parts, outcomes = [], []
    for family, c in present.items():
        networks = _network_methods(c)
        if len(networks) < 2:
            raise _NotEnoughData(f"{family} has network methods {networks}; need 2")
        sub = compare(c.scores[networks], higher_is_better=c.higher_is_better, alpha=o.alpha)
        text = (f"{family}: among its {sub.n_methods} network methods p = {sub.friedman_p:.3g} "
                f"(χ² = {sub.friedman_chi2:.2f}, N = {sub.n_datasets})")
        if sub.n_methods < c.n_methods:
            text += f" [all {c.n_methods} methods: p = {c.friedman_p:.3g}]"
        floor = friedman_min_p(sub.n_datasets, sub.n_methods)
        if floor >= o.alpha:
            k, n = sub.n_methods, sub.n_datasets
            n_min = next(m for m in range(n, 10_000) if friedman_min_p(m, k) < o.alpha)
            w = sub.friedman_chi2 / (n * (k - 1)) if n * (k - 1) > 0 else 0.0  # Kendall's W
            n_w = next((m for m in range(n_min, 10_000)
                        if _stats.chi2.sf(m * (k - 1) * w, k - 1) < o.alpha), None) if w > 0 else None
            text += (f", cannot decide at N = {n}: the smallest attainable p is {floor:.3g}; "
                     f"it needs N >= {n_min}"
                     + (f", N = {n_w} at the observed W = {w:.2f}" if n_w else ""))
            outcomes.append(None)
        else:
            outcomes.append(sub.friedman_p < o.alpha)
        parts.append(text)
    holds = None if None in outcomes else all(outcomes)
    return holds, "; ".join(parts + notes)


def _c1_policies(comparisons, costs, o):
    parts, rejects = [], []
    for family in FAMILIES:
        try:
            c = _family(comparisons, family, needs=MAB_POLICIES)
        except _NotEnoughData:
            continue
        sub = compare(c.scores[list(MAB_POLICIES)], higher_is_better=c.higher_is_better,
                      alpha=o.alpha)
        rejects.append(sub.friedman_p < o.alpha)
        parts.append(f"{family}: p = {sub.friedman_p:.3g}")
    if not parts:
        raise _NotEnoughData("no family with all six MAB policies")
    return all(rejects), "Friedman among the six MAB policies alone: " + "; ".join(parts)


def _best_probability(comparisons, family: str, subjects: tuple[str, ...], o: _Options,
                      claimed: tuple[str, ...]) -> tuple[float, str]:
    """P(subjects hold the best mean ranks of the six policies, claimed ones swapped)."""
    swap = dict(zip(claimed, subjects))
    pool = [swap.get(m, m) for m in MAB_POLICIES]
    c = _family(comparisons, family, needs=pool)
    sub = compare(c.scores[pool], higher_is_better=c.higher_is_better, alpha=o.alpha)
    p = bootstrap_best_probability(c.scores[pool], subjects,
                                   higher_is_better=c.higher_is_better, n_boot=o.n_boot,
                                   seed=o.seed)
    names = " and ".join(subjects)
    return p, (f"P({names} best of {len(pool)} policies) = {p:.2f} ({o.n_boot} bootstrap "
               f"resamples of N = {c.n_datasets} datasets); mean ranks among them: "
               f"{_fmt(sub.mean_ranks)}")


def _ranks_best(family: str, claimed: tuple[str, ...]):
    def rule(comparisons, costs, o):
        p, evidence = _best_probability(comparisons, family, claimed, o, claimed)
        return p > o.threshold, evidence

    def control(comparisons, costs, o):
        # Random pruning in place of each claimed policy in turn: the control passes when
        # any such substitution passes the rule.
        outcomes = []
        for i in range(len(claimed)):
            subjects = tuple(CONTROL if j == i else m for j, m in enumerate(claimed))
            outcomes.append(_best_probability(comparisons, family, subjects, o, claimed))
        return any(p > o.threshold for p, _ in outcomes), "; ".join(e for _, e in outcomes)
    return rule, control


def _improves_on(family: str, baseline: str, subject: str):
    """One planned test: subject significantly better than baseline (no other comparison)."""
    def rule(comparisons, costs, o):
        c = _family(comparisons, family, needs=(subject, baseline))
        e = _planned(c, [(subject, baseline)], o)[subject, baseline]
        r = c.mean_ranks
        text = (f"{_describe(subject, baseline, e, o)}; mean rank {subject} "
                f"{r[subject]:.2f} vs {baseline} {r[baseline]:.2f} (N = {c.n_datasets})")
        why = _undecidable(c, 1, o, _diffs(c, subject, baseline))
        return (None, f"{why}; {text}") if why else (e["better"], text)
    return rule


def _c5_parts(c: Comparison, subject: str, o: _Options) -> tuple[bool, str, dict, int]:
    """Is subject competitive with half the regressors? Pairs Holm-corrected over the rule's."""
    regressors = [m for m in REGRESSORS if m in c.mean_ranks.index]
    if len(regressors) < _MIN_REGRESSORS:
        raise _NotEnoughData(f"tabular_regression has {len(regressors)} regressor(s) "
                             f"{regressors}; need {_MIN_REGRESSORS}")
    pairs = [(subject, m) for m in regressors]
    if subject != CONTROL:
        pairs.append((subject, CONTROL))
    e = _planned(c, pairs, o)
    close = [m for m in regressors if e[subject, m]["competitive"]]
    worse = [m for m in regressors if e[subject, m]["worse"]]
    need = math.ceil(len(regressors) / 2)
    text = (f"{subject} competitive (P(equivalent within ROPE {o.rope:g} or better) > "
            f"{o.threshold:g}) with {len(close)}/{len(regressors)} regressors (need {need}): "
            f"{', '.join(close) or '-'}; significantly worse (Holm over {len(pairs)}) than "
            f"{len(worse)}/{len(regressors)}: {', '.join(worse) or '-'}; mean {subject} − "
            f"regressor from {min(e[subject, m]['mean_diff'] for m in regressors):+.3f} to "
            f"{max(e[subject, m]['mean_diff'] for m in regressors):+.3f}")
    return len(close) >= need, text, e, len(pairs)


def _c5(comparisons, costs, o):
    c = _family(comparisons, "tabular_regression", needs=("ucb1", CONTROL))
    competitive, text, e, m = _c5_parts(c, "ucb1", o)
    text = f"{text}; {_describe('ucb1', CONTROL, e['ucb1', CONTROL], o, m)}"
    why = _undecidable(c, m, o, _diffs(c, "ucb1", CONTROL))
    if why:
        return None, f"{why}; {text}"
    return competitive and e["ucb1", CONTROL]["better"], text


def _c5_control(comparisons, costs, o):
    c = _family(comparisons, "tabular_regression", needs=(CONTROL,))
    competitive, text, _, _ = _c5_parts(c, CONTROL, o)
    # Random cannot be significantly better than itself: it cannot pass C5's whole rule.
    return False, (f"{text} (the competitive part {'passes' if competitive else 'fails'}; "
                   f"the rule's second part, beating random, cannot apply)")


def _beats(baseline: str):
    def rule(comparisons, costs, o):
        c = _family(comparisons, "deep_learning", needs=(baseline,))
        policies = [m for m in c.mean_ranks.index if m in MAB_POLICIES]  # best first
        if len(policies) < _MIN_POLICIES:
            raise _NotEnoughData(f"deep_learning has MAB policies {policies}; "
                                 f"need {_MIN_POLICIES}")
        pairs = _planned(c, [(m, baseline) for m in policies], o)
        pairs = {a: e for (a, _), e in pairs.items()}
        winners = [m for m in policies if pairs[m]["better"]]
        named = ", ".join(f"{m} ({pairs[m]['mean_diff']:+.3f} [{pairs[m]['low']:+.3f}, "
                          f"{pairs[m]['high']:+.3f}], Wilcoxon–Holm p = "
                          f"{pairs[m]['p_claim']:.2g}, P(better) = "
                          f"{pairs[m]['p_a_better']:.2f})" for m in winners) or "none"
        cd = nemenyi_critical_difference(c.n_methods, c.n_datasets, alpha=o.alpha)
        nem = sum(bool(c.mean_ranks[m] < c.mean_ranks[baseline]
                       and c.nemenyi.loc[m, baseline] < o.alpha) for m in policies)
        text = (f"{len(winners)}/{len(policies)} policies significantly better than {baseline} "
                f"(Holm over {len(policies)}): {named}; by Nemenyi over the whole table "
                f"{nem} (mean rank {baseline} {c.mean_ranks[baseline]:.2f}, CD = {cd:.2f})")
        # The needed N: at the effect of the second-best policy (the rule needs two).
        effects = sorted((_diffs(c, m, baseline) for m in policies),
                         key=lambda d: -np.mean(d) / (np.std(d, ddof=1) or np.inf))
        why = _undecidable(c, len(policies), o, effects[min(1, len(effects) - 1)])
        return (None, f"{why}; {text}") if why else (len(winners) >= _MIN_POLICIES, text)
    return rule


#: Claim id to ``(family, claim in our words)``; the rules are documented in :func:`scoreboard`.
CLAIMS = {
    "C1": ("all", "Methods differ: Friedman rejects equal ranks in every family."),
    "C2": ("tabular_classification", "UCB1 is the best MAB policy."),
    "C3": ("tabular_classification", "UCB1-pruned networks rank above unpruned ones."),
    "C4": ("tabular_regression", "UCB1 is the best MAB policy."),
    "C5": ("tabular_regression", "UCB1 is competitive with standard regressors (R²)."),
    "C6": ("deep_learning", "UCB1 and Thompson sampling are the two best MAB policies."),
    "C7": ("deep_learning", "Two or more MAB policies beat the unpruned network."),
    "C8": ("deep_learning", "Two or more MAB policies beat magnitude pruning."),
    "C9": ("deep_learning", "Two or more MAB policies beat activation-variation pruning."),
    "C10": ("all", "MAB pruning is practical: at most ten trainings' worth of time."),
}

_C2, _C2_CONTROL = _ranks_best("tabular_classification", ("ucb1",))
_C4, _C4_CONTROL = _ranks_best("tabular_regression", ("ucb1",))
_C6, _C6_CONTROL = _ranks_best("deep_learning", ("ucb1", "thompson"))
_RULES = {
    "C1": _c1, "C2": _C2, "C3": _improves_on("tabular_classification", "none", "ucb1"),
    "C4": _C4, "C5": _c5, "C6": _C6,
    "C7": _beats("none"), "C8": _beats("magnitude"), "C9": _beats("activation_variation"),
    "C10": _c10,
}
#: The same rules with random pruning in place of the claimed policy (C1: policies alone).
_CONTROLS = {
    "C1": _c1_policies, "C2": _C2_CONTROL,
    "C3": _improves_on("tabular_classification", "none", CONTROL), "C4": _C4_CONTROL,
    "C5": _c5_control, "C6": _C6_CONTROL,
    **{claim: _improves_on("deep_learning", baseline, CONTROL)
       for claim, baseline in (("C7", "none"), ("C8", "magnitude"),
                               ("C9", "activation_variation"))},
}
