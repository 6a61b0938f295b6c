"""The paper's claims C1–C10 and the rules that give each a verdict from our records.

The claims are those of the abstract of Ameen and Vadera (arXiv:2606.07615), one per row,
restated in our words. :func:`scoreboard` checks each against the family comparisons of
:func:`mabprune.stats.compare` and the cost of the runs, and says "holds", "does not hold"
or "not enough data", with the numbers behind the verdict as evidence. No verdict is
edited by hand: a claim that does not reproduce is reported as such.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .stats import (FAMILIES, MAB_POLICIES, REGRESSORS, Comparison, _check_alpha,
                    _check_comparison, compare, nemenyi_critical_difference)

__all__ = ["CLAIMS", "COST_COLUMNS", "FAMILY_ALIASES", "PRACTICAL_RATIO", "VERDICTS",
           "family_name", "scoreboard", "verdict_counts"]

#: The three verdicts, in the order the scoreboard counts them.
VERDICTS = ("holds", "does not hold", "not enough data")
#: Columns that ``costs`` must have: one row per run.
COST_COLUMNS = ("method", "prune_time_s", "train_time_s", "pulls")
#: Experiment-grid family names (:data:`mabprune.profiles.GRID_FAMILIES`) to claim families.
FAMILY_ALIASES = {"classification": "tabular_classification",
                  "regression": "tabular_regression", "deep_learning": "deep_learning"}
#: Most MAB prune time per training time that still counts as practical (C10).
PRACTICAL_RATIO = 10.0
_MIN_REGRESSORS = 3  # C5: "several" standard regressors
_MIN_POLICIES = 2  # C7–C9: "several" MAB policies


def family_name(name: str) -> str:
    """The claim family of a records family: grid names are mapped, claim names kept.

    Parameters
    ----------
    name : str
        A family of :data:`mabprune.stats.FAMILIES` or a key of :data:`FAMILY_ALIASES`.

    Returns
    -------
    str
        One of :data:`mabprune.stats.FAMILIES`.

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
               alpha: float = 0.05) -> pd.DataFrame:
    """Verdicts on the paper's claims C1–C10 from family comparisons and run costs.

    Rules ("significant" means p < ``alpha``; a family is a key of ``comparisons``):

    - C1 (all): the Friedman p-value (scipy, tie-corrected) is below alpha in every
      family present, each compared over all its methods.
    - C2 / C4 (tabular_classification / tabular_regression): ucb1 has strictly the best
      mean rank among the six MAB policies, ranks recomputed on those six columns.
    - C3 (tabular_classification): ucb1's mean rank in the family table is better than
      that of ``none`` (unpruned); the evidence adds Nemenyi and Wilcoxon–Holm p-values.
    - C5 (tabular_regression): ucb1 is competitive with a regressor when it ranks better
      or Nemenyi finds no significant difference; the claim holds when ucb1 is
      competitive with at least 3 of the regressors present. The evidence names the
      regressors it is significantly worse than.
    - C6 (deep_learning): ucb1 and thompson hold the two best mean ranks among the six
      MAB policies (recomputed on the six), strictly ahead of the other four.
    - C7 / C8 / C9 (deep_learning): at least 2 MAB policies are significantly better
      (better mean rank and Nemenyi p < alpha) than ``none`` / ``magnitude`` /
      ``activation_variation`` in the family table.
    - C10 (all): in every family of ``costs``, the median prune time of the MAB runs is
      at most 10 times the median training time of the family. A network is trained
      once per (dataset, seed) cell and shared by all the methods of the cell, so the
      training time is taken once per cell when ``costs`` has ``dataset`` and ``seed``
      columns; the regressors' fitting times are not network trainings and are left out.
    - "not enough data", with the reason as evidence, when the family is missing or has
      fewer than 2 datasets, a required method is absent (C2, C4, C6 need all six
      policies; C5 needs 3 regressors; C7–C9 need 2 policies), or ``costs`` is None or
      has no MAB run with both times.

    Parameters
    ----------
    comparisons : dict of str to Comparison
        Family name (one of :data:`mabprune.stats.FAMILIES`) to the comparison over all
        its methods; for tabular_regression, the networks and the regressors together.
    costs : pandas.DataFrame, optional
        One row per run (the records themselves will do), with columns ``method,
        prune_time_s, train_time_s, pulls``. Used when present: ``family`` (C10 is
        checked per family; grid names such as ``classification`` are accepted),
        ``dataset`` and ``seed`` (training time per cell), ``kind`` (prune times from
        ``prune`` runs only; ``regressor`` runs left out of training times) and
        ``status`` (only ``ok`` runs count).
    alpha : float, default=0.05
        Significance level of every decision, in (0, 1).

    Returns
    -------
    pandas.DataFrame
        Index ``id`` (``C1`` to ``C10``); columns ``family, claim, evidence, verdict``,
        the verdict one of :data:`VERDICTS`.

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
        _check_comparison(c, what=f"comparisons[{family!r}]")
    if costs is not None:
        if not isinstance(costs, pd.DataFrame):
            raise ValueError(f"costs must be a DataFrame or None; got {type(costs).__name__}")
        missing = [c for c in COST_COLUMNS if c not in costs.columns]
        if missing:
            raise ValueError(f"costs lacks columns {missing}; needs one row per run with "
                             f"{list(COST_COLUMNS)}")
    _check_alpha(alpha)
    rows = {}
    for claim_id, (family, claim) in CLAIMS.items():
        try:
            holds, evidence = _RULES[claim_id](comparisons, costs, alpha)
            verdict = VERDICTS[0] if holds else VERDICTS[1]
        except _NotEnoughData as reason:
            verdict, evidence = VERDICTS[2], str(reason)
        rows[claim_id] = {"family": family, "claim": claim, "evidence": evidence,
                          "verdict": verdict}
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
    >>> verdict_counts(scoreboard({})).to_dict()
    {'holds': 0, 'does not hold': 0, 'not enough data': 10}
    """
    if not isinstance(board, pd.DataFrame) or "verdict" not in board.columns:
        raise ValueError("board must be the DataFrame of scoreboard(), with a 'verdict' column")
    unknown = sorted(set(board["verdict"]) - set(VERDICTS))
    if unknown:
        raise ValueError(f"unknown verdicts {unknown}; expected among {list(VERDICTS)}")
    return board["verdict"].value_counts().reindex(list(VERDICTS), fill_value=0).astype(int)


# --- claim rules: each returns (holds, evidence) or raises _NotEnoughData(reason) -------------

class _NotEnoughData(Exception):
    pass


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


def _policy_ranks(comparisons: dict, family: str, alpha: float) -> tuple[pd.Series, str]:
    c = _family(comparisons, family, needs=MAB_POLICIES)
    # Among the policies only: baselines or regressors between them must not shift the order.
    sub = compare(c.scores[list(MAB_POLICIES)], higher_is_better=c.higher_is_better, alpha=alpha)
    return sub.mean_ranks, f"policy mean ranks (N = {c.n_datasets}): {_fmt(sub.mean_ranks)}"


def _c1(comparisons, costs, alpha):
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
    return all(c.friedman_p < alpha for c in present.values()), "; ".join(parts + notes)


def _ucb1_best(family):
    def rule(comparisons, costs, alpha):
        ranks, evidence = _policy_ranks(comparisons, family, alpha)
        return bool(ranks["ucb1"] < ranks.drop("ucb1").min()), evidence
    return rule


def _c3(comparisons, costs, alpha):
    c = _family(comparisons, "tabular_classification", needs=("ucb1", "none"))
    r, p_nem = c.mean_ranks, c.nemenyi.loc["ucb1", "none"]
    p_wil = c.pvalues("wilcoxon").loc["ucb1", "none"]

    def sig(p):
        return "significant" if p < alpha else "not significant"
    return bool(r["ucb1"] < r["none"]), (
        f"mean rank ucb1 {r['ucb1']:.2f} vs none {r['none']:.2f} (N = {c.n_datasets}); "
        f"Nemenyi p = {p_nem:.3g} ({sig(p_nem)}), Wilcoxon–Holm p = {p_wil:.3g} ({sig(p_wil)})")


def _c5(comparisons, costs, alpha):
    family = "tabular_regression"
    c = _family(comparisons, family, needs=("ucb1",))
    regressors = [m for m in REGRESSORS if m in c.mean_ranks.index]
    if len(regressors) < _MIN_REGRESSORS:
        raise _NotEnoughData(f"{family} has {len(regressors)} regressor(s) {regressors}; "
                             f"need {_MIN_REGRESSORS}")
    r = c.mean_ranks
    better = [m for m in regressors if r["ucb1"] < r[m]]
    alike = [m for m in regressors if m not in better and c.nemenyi.loc["ucb1", m] >= alpha]
    worse = [m for m in regressors if m not in better + alike]
    competitive = len(better) + len(alike)
    return competitive >= _MIN_REGRESSORS, (
        f"competitive with {competitive}/{len(regressors)} regressors (ranks better than "
        f"{len(better)}, no significant difference from {len(alike)}); significantly worse "
        f"than {len(worse)}: {', '.join(worse) or '-'}")


def _c6(comparisons, costs, alpha):
    ranks, evidence = _policy_ranks(comparisons, "deep_learning", alpha)
    top = max(ranks["ucb1"], ranks["thompson"])
    return bool(top < ranks.drop(["ucb1", "thompson"]).min()), evidence


def _beats(baseline):
    def rule(comparisons, costs, alpha):
        c = _family(comparisons, "deep_learning", needs=(baseline,))
        policies = [m for m in c.mean_ranks.index if m in MAB_POLICIES]  # best first
        if len(policies) < _MIN_POLICIES:
            raise _NotEnoughData(f"deep_learning has MAB policies {policies}; "
                                 f"need {_MIN_POLICIES}")
        r, p = c.mean_ranks, c.nemenyi
        winners = [m for m in policies if r[m] < r[baseline] and p.loc[m, baseline] < alpha]
        named = ", ".join(f"{m} (p = {p.loc[m, baseline]:.2g})" for m in winners) or "none"
        cd = nemenyi_critical_difference(c.n_methods, c.n_datasets, alpha=alpha)
        return len(winners) >= _MIN_POLICIES, (
            f"{len(winners)}/{len(policies)} policies significantly better than {baseline} "
            f"(mean rank {r[baseline]:.2f}, CD = {cd:.2f}): {named}")
    return rule


def _c10(comparisons, costs, alpha):
    if costs is None:
        raise _NotEnoughData("no costs table")
    runs = _cost_runs(costs)
    if "family" in runs.columns:
        order = [f for f in FAMILIES if f in set(runs["family"])]
        order += sorted(set(runs["family"]) - set(order))
        groups = [(f, runs[runs["family"] == f]) for f in order]
    else:
        groups = [(None, runs)]
    ratios, parts, notes = {}, [], []
    for family, rows in groups:
        label = "" if family is None else f"{family}: "
        prune, train = _median_prune(rows), _median_training(rows)
        if not (np.isfinite(prune) and np.isfinite(train) and train > 0):
            notes.append(f"{label}no MAB run with prune and (positive) training times")
            continue
        ratios[family] = prune / train
        parts.append(f"{label}median MAB prune {prune:.3g} s vs training {train:.3g} s "
                     f"(ratio {prune / train:.2g})")
    if not ratios:
        raise _NotEnoughData("costs has no MAB run with prune and (positive) training times")
    pruning = runs[_is_prune(runs)]
    per = pruning.groupby("method")[["prune_time_s", "pulls"]].median()
    policies = "; ".join(f"{m} {per.loc[m, 'prune_time_s']:.3g} s, {per.loc[m, 'pulls']:.0f} "
                         "pulls" for m in MAB_POLICIES if m in per.index)
    base = "; ".join(f"{m} {per.loc[m, 'prune_time_s']:.3g} s"
                     for m in ("magnitude", "activation_variation") if m in per.index)
    return all(r <= PRACTICAL_RATIO for r in ratios.values()), (
        "; ".join(parts + notes) + f"; limit {PRACTICAL_RATIO:g}; median per policy: "
        f"{policies}; baselines: {base or 'absent'}")


def _cost_runs(costs: pd.DataFrame) -> pd.DataFrame:
    """The usable runs of ``costs``, times and pulls numeric, families by claim name."""
    runs = costs
    if "status" in runs.columns:
        runs = runs[runs["status"] == "ok"]
    runs = runs.copy()
    for col in ("prune_time_s", "train_time_s", "pulls"):
        # Records hold None where a quantity does not apply (a regressor has no prune time).
        runs[col] = pd.to_numeric(runs[col], errors="coerce")
    if "family" in runs.columns:
        runs["family"] = [FAMILY_ALIASES.get(f, f) for f in runs["family"].astype(str)]
    return runs


def _is_prune(runs: pd.DataFrame) -> pd.Series:
    # Sweeps prune the same networks at other fractions: the claim is about the main runs.
    return runs["kind"] == "prune" if "kind" in runs.columns else pd.Series(True, runs.index)


def _median_prune(rows: pd.DataFrame) -> float:
    mab = rows[rows["method"].isin(MAB_POLICIES) & _is_prune(rows)]
    return float(mab["prune_time_s"].median())


def _median_training(rows: pd.DataFrame) -> float:
    nets = rows[~rows["method"].isin(REGRESSORS)]
    if "kind" in nets.columns:
        nets = nets[nets["kind"] != "regressor"]
    nets = nets.dropna(subset=["train_time_s"])
    if {"dataset", "seed"} <= set(nets.columns):
        # One training per cell, whatever the number of methods pruning its network.
        return float(nets.groupby(["dataset", "seed"])["train_time_s"].median().median())
    return float(nets["train_time_s"].median())


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

_RULES = {
    "C1": _c1, "C2": _ucb1_best("tabular_classification"), "C3": _c3,
    "C4": _ucb1_best("tabular_regression"), "C5": _c5, "C6": _c6,
    "C7": _beats("none"), "C8": _beats("magnitude"), "C9": _beats("activation_variation"),
    "C10": _c10,
}
