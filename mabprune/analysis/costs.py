"""Claim C10 (MAB pruning is computationally practical): its rule on the cost of the runs.

Its own module beside :mod:`mabprune.analysis.claims` (which uses :data:`PRACTICAL_RATIO`) to keep each
module short; :func:`mabprune.analysis.claims.scoreboard` is the public entry point.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mabprune.analysis.stats import FAMILIES, FAMILY_ALIASES, MAB_POLICIES, REFERENCES
from mabprune.study.comparators import CLASSIFIERS, REGRESSORS

#: Most MAB prune time per training time that still counts as practical (C10).
PRACTICAL_RATIO = 10.0
_FITTED = ("regressor", "classifier")  # kinds of fitted standard models: no network trained


class NotEnoughData(Exception):
    """The records cannot decide a rule; the message says why."""


def c10(comparisons, costs, o):
    """C10's verdict: (holds, evidence), or :class:`NotEnoughData`."""
    if costs is None:
        raise NotEnoughData("no costs table")
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
        raise NotEnoughData("costs has no MAB run with prune and (positive) training times")
    pruning = runs[_is_prune(runs)]
    per = pruning.groupby("method")[["prune_time_s", "pulls"]].median()
    policies = "; ".join(f"{m} {per.loc[m, 'prune_time_s']:.3g} s, {per.loc[m, 'pulls']:.0f} "
                         "pulls" for m in MAB_POLICIES if m in per.index)
    base = "; ".join(f"{m} {per.loc[m, 'prune_time_s']:.3g} s"
                     for m in ("magnitude", "activation_variation") if m in per.index)
    # The references are shown, never part of the MAB median the rule compares.
    refs = "; ".join(f"{m} {per.loc[m, 'prune_time_s']:.3g} s" + _rows(pruning, m) for m in REFERENCES
                     if m in per.index)
    return all(r <= PRACTICAL_RATIO for r in ratios.values()), (
        "; ".join(parts + notes) + f"; limit {PRACTICAL_RATIO:g}; median per policy: "
        f"{policies}; baselines: {base or 'absent'}" + (f"; references (not in the rule): {refs}" if refs else ""))


def _rows(runs: pd.DataFrame, method: str) -> str:
    """", median N unit-rows" of ``method``'s runs (what its scores cost), or "" when not recorded."""
    if "rows_evaluated" not in runs.columns:
        return ""
    rows = pd.to_numeric(runs.loc[runs["method"] == method, "rows_evaluated"], errors="coerce").median()
    return f", {rows:.3g} unit-rows" if np.isfinite(rows) else ""


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
    nets = rows[~rows["method"].isin(REGRESSORS + CLASSIFIERS)]
    if "kind" in nets.columns:
        nets = nets[~nets["kind"].isin(_FITTED)]
    nets = nets.dropna(subset=["train_time_s"])
    if {"dataset", "seed"} <= set(nets.columns):
        # One training per cell, whatever the number of methods pruning its network.
        return float(nets.groupby(["dataset", "seed"])["train_time_s"].median().median())
    return float(nets["train_time_s"].median())
