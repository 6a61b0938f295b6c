"""The paper's claims C1–C10 and the rules that give each a verdict from our records.

The claims are those of the abstract of Ameen and Vadera (arXiv:2606.07615), one per row,
restated in our words. :func:`scoreboard` checks each against the family comparisons of
:func:`mabprune.analysis.stats.compare` and the cost of the runs. A rule never rests on a mean rank
alone: it asks for a significant test *and* a bootstrap interval that excludes zero, or for
a bootstrap probability of ranking best above a threshold (see :data:`RULES`).

Every rule naming a policy is run a second time with ``random`` (random pruning) in place
of that policy. A claim whose rule random pruning passes as well is reported as "holds, but
random pruning passes too": what it credits to the bandit is then no more than pruning
plus fine-tuning gives. No verdict is edited by hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mabprune.analysis.costs import PRACTICAL_RATIO, NotEnoughData as _NotEnoughData, c10 as _c10
from mabprune.analysis.evidence import DEFAULT_ROPE, bootstrap_best_probability, pair_evidence
from mabprune.analysis.stats import (FAMILIES, FAMILY_ALIASES, MAB_POLICIES, REGRESSORS, Comparison, check_alpha,
                                     check_comparison, compare, nemenyi_critical_difference)

__all__ = ["CLAIMS", "CONTROL", "COST_COLUMNS", "FAMILY_ALIASES", "PRACTICAL_RATIO", "RULES",
           "VERDICTS", "family_name", "scoreboard", "verdict_counts"]

#: The four verdicts, in the order the scoreboard counts them.
VERDICTS = ("holds", "holds, but random pruning passes too", "does not hold",
            "not enough data")
#: The method put in place of the claimed policy by the control of every rule.
CONTROL = "random"
#: Columns that ``costs`` must have: one row per run.
COST_COLUMNS = ("method", "prune_time_s", "train_time_s", "pulls")
_MIN_REGRESSORS = 3  # C5: "several" standard regressors
_MIN_POLICIES = 2  # C7–C9: "several" MAB policies

#: The rule of each claim; ``{alpha}``, ``{threshold}``, ``{confidence}`` and ``{rope}`` are
#: filled in by :func:`scoreboard`. "Significantly better" (or worse) means, throughout: the
#: Wilcoxon signed-rank p-value, Holm-corrected over all pairs of the family table, is below
#: alpha *and* the bootstrap interval of the mean paired difference lies above (below) 0.
RULES = {
    "C1": "Friedman p < {alpha} in every family, over all its methods (the control column "
          "gives Friedman over the six MAB policies alone)",
    "C2": "P(ucb1 has the best mean rank of the six policies) > {threshold}, bootstrap over "
          "datasets",
    "C3": "ucb1 significantly better than none (Wilcoxon–Holm p < {alpha} and the "
          "{confidence} bootstrap interval of the mean difference above 0)",
    "C4": "P(ucb1 has the best mean rank of the six policies) > {threshold}, bootstrap over "
          "datasets",
    "C5": "ucb1 not significantly worse than at least half of the regressors (at least 3 "
          "present) and significantly better than random",
    "C6": "P(ucb1 and thompson hold the two best mean ranks of the six policies) > "
          "{threshold}, bootstrap over datasets",
    "C7": "at least 2 MAB policies significantly better than none",
    "C8": "at least 2 MAB policies significantly better than magnitude",
    "C9": "at least 2 MAB policies significantly better than activation_variation",
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
    Wilcoxon–Holm p-value of the pair (Holm over all pairs of the family table) is below
    ``alpha`` and the ``confidence`` percentile bootstrap interval of the mean difference
    of the scores over the datasets lies above 0; "significantly worse" mirrors it. The
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
        control, verdict``, the verdict one of :data:`VERDICTS`.

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
    rows = {}
    for claim_id, (family, claim) in CLAIMS.items():
        rule = RULES[claim_id].format(alpha=f"{alpha:g}", threshold=f"{threshold:g}",
                                      confidence=f"{confidence:.0%}", rope=f"{rope:g}",
                                      ratio=PRACTICAL_RATIO)
        try:
            holds, evidence = _RULES[claim_id](comparisons, costs, o)
            verdict = VERDICTS[0] if holds else VERDICTS[2]
        except _NotEnoughData as reason:
            holds, verdict, evidence = False, VERDICTS[3], str(reason)
        control = "no policy named: no control"
        if claim_id in _CONTROLS:
            try:
                passes, control = _CONTROLS[claim_id](comparisons, costs, o)
                if claim_id != "C1":  # C1's column informs; it is not a random control
                    control = f"{'passes' if passes else 'fails'}: {control}"
                    if holds and passes:
                        verdict = VERDICTS[1]
            except _NotEnoughData as reason:
                control = f"not run: {reason}"
        rows[claim_id] = {"family": family, "claim": claim, "rule": rule,
                          "evidence": evidence, "control": control, "verdict": verdict}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("id")


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


def _describe(a: str, b: str, e: dict, o: _Options) -> str:
    return (f"{a} − {b} = {e['mean_diff']:+.3f} [{e['low']:+.3f}, {e['high']:+.3f}], "
            f"Wilcoxon–Holm p = {e['p_wilcoxon_holm']:.3g}, Nemenyi p = {e['p_nemenyi']:.3g}, "
            f"Bayesian P({a} better / equivalent / {b} better, ROPE {o.rope:g}) = "
            f"{e['p_a_better']:.2f} / {e['p_equivalent']:.2f} / {e['p_b_better']:.2f}")


def _c1(comparisons, costs, o):
    present, notes = {}, []
    for family in FAMILIES:
        try:
            present[family] = _family(comparisons, family)
        except _NotEnoughData as reason:
            notes.append(str(reason))
    if not present:
        raise _NotEnoughData("; ".join(notes))
    parts = [f"{f}: p = {c.friedman_p:.3g} (χ² = {c.friedman_chi2:.2f}, N = {c.n_datasets}, "
             f"k = {c.n_methods})" for f, c in present.items()]
    return all(c.friedman_p < o.alpha for c in present.values()), "; ".join(parts + notes)


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
    def rule(comparisons, costs, o):
        c = _family(comparisons, family, needs=(subject, baseline))
        e = _pair(c, subject, baseline, o)
        r = c.mean_ranks
        return e["better"], (f"{_describe(subject, baseline, e, o)}; mean rank {subject} "
                             f"{r[subject]:.2f} vs {baseline} {r[baseline]:.2f} "
                             f"(N = {c.n_datasets})")
    return rule


def _competitive(c: Comparison, subject: str, o: _Options) -> tuple[bool, str]:
    regressors = [m for m in REGRESSORS if m in c.mean_ranks.index]
    if len(regressors) < _MIN_REGRESSORS:
        raise _NotEnoughData(f"tabular_regression has {len(regressors)} regressor(s) "
                             f"{regressors}; need {_MIN_REGRESSORS}")
    worse = [m for m in regressors if _pair(c, subject, m, o)["worse"]]
    need = math.ceil(len(regressors) / 2)
    fine = len(regressors) - len(worse)
    return fine >= need, (f"{subject} not significantly worse than {fine}/{len(regressors)} "
                          f"regressors (need {need}); significantly worse than {len(worse)}: "
                          f"{', '.join(worse) or '-'}")


def _c5(comparisons, costs, o):
    c = _family(comparisons, "tabular_regression", needs=("ucb1", CONTROL))
    competitive, text = _competitive(c, "ucb1", o)
    e = _pair(c, "ucb1", CONTROL, o)
    return competitive and e["better"], f"{text}; {_describe('ucb1', CONTROL, e, o)}"


def _c5_control(comparisons, costs, o):
    c = _family(comparisons, "tabular_regression", needs=(CONTROL,))
    _, text = _competitive(c, CONTROL, o)
    # Random cannot be significantly better than itself: it cannot pass C5's whole rule.
    return False, f"{text} (the rule's second part, beating random, cannot apply)"


def _beats(baseline: str):
    def rule(comparisons, costs, o):
        c = _family(comparisons, "deep_learning", needs=(baseline,))
        policies = [m for m in c.mean_ranks.index if m in MAB_POLICIES]  # best first
        if len(policies) < _MIN_POLICIES:
            raise _NotEnoughData(f"deep_learning has MAB policies {policies}; "
                                 f"need {_MIN_POLICIES}")
        pairs = {m: _pair(c, m, baseline, o) for m in policies}
        winners = [m for m in policies if pairs[m]["better"]]
        named = ", ".join(f"{m} ({pairs[m]['mean_diff']:+.3f} [{pairs[m]['low']:+.3f}, "
                          f"{pairs[m]['high']:+.3f}], Wilcoxon–Holm p = "
                          f"{pairs[m]['p_wilcoxon_holm']:.2g}, P(better) = "
                          f"{pairs[m]['p_a_better']:.2f})" for m in winners) or "none"
        cd = nemenyi_critical_difference(c.n_methods, c.n_datasets, alpha=o.alpha)
        nem = sum(bool(c.mean_ranks[m] < c.mean_ranks[baseline]
                       and c.nemenyi.loc[m, baseline] < o.alpha) for m in policies)
        return len(winners) >= _MIN_POLICIES, (
            f"{len(winners)}/{len(policies)} policies significantly better than {baseline}: "
            f"{named}; by Nemenyi alone {nem} (mean rank {baseline} "
            f"{c.mean_ranks[baseline]:.2f}, CD = {cd:.2f})")
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
