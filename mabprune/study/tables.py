"""The tables the notebooks show, read from a results store (see :mod:`mabprune.study.store`)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from mabprune.pruning import METHODS, REFERENCES
from mabprune.study.comparators import CLASSIFIERS, REGRESSORS
from mabprune.study.plan import CURRENT_PROTOCOLS, plan_runs
from mabprune.study.profiles import GRID_FAMILIES, grid_spec
from mabprune.study.store import peek


def load_records(results_dir: str | os.PathLike, family: str | None = None, *, profile: str | None = None,
                 superseded: bool = False) -> pd.DataFrame:
    """The records of a store folder, optionally of one family, or exactly those of a profile's grids.

    Parameters
    ----------
    results_dir : str or path-like
        A store folder such as ``results/quick``.
    family : str, optional
        ``classification``, ``regression`` or ``deep_learning``; default all.
    profile : str, optional
        Keep exactly the runs that this profile's grid of each family plans
        (:func:`mabprune.study.plan.plan_runs`), by key: records of other parameter settings
        in the folder (a rerun with another ``amount``, older protocols) are left out, and a
        family whose grid is empty or absent yields no rows. ``superseded`` is then moot.
    superseded : bool, default=False
        Keep records that a later run of the same dataset, method, kind, seed and amount
        (with other parameters, e.g. more rounds) has superseded. By default only the latest
        record of each such run is kept, so that a changed parameter does not mix old and
        new results; a record of a current protocol (:data:`~mabprune.study.plan.CURRENT_PROTOCOLS`)
        wins over one of another protocol, even one written later.

    Returns
    -------
    pandas.DataFrame
        One row per record, in the order written; empty when there is none.
    """
    folder = Path(results_dir)
    files = sorted(folder.glob("*.jsonl")) if family is None else [folder / f"{family}.jsonl"]
    if profile is not None:
        rows = []
        for f in files:
            if f.stem in GRID_FAMILIES:
                store = peek(f)
                rows += [store[r["key"]] for r in plan_runs(grid_spec(f.stem, profile)) if r["key"] in store]
        return pd.DataFrame(rows)
    rows = [r for f in files for r in peek(f).values()]
    if not superseded:
        ident = ("family", "dataset", "method", "kind", "seed", "amount")
        latest: dict[tuple, dict] = {}
        for r in rows:  # later records win, but an old protocol's rerun never over the current protocol
            run = tuple(str(r.get(k)) for k in ident)
            if run not in latest or _current(r) or not _current(latest[run]):
                latest[run] = r
        rows = list(latest.values())
    return pd.DataFrame(rows)


def _current(record: dict) -> bool:
    """Whether a record was computed under the current protocol (its ``params["protocol"]``)."""
    params = record.get("params")
    return isinstance(params, dict) and params.get("protocol") in CURRENT_PROTOCOLS


def _ok(records: pd.DataFrame) -> pd.DataFrame:
    if records.empty:
        return records
    return records[records["status"] == "ok"]


def score_table(records: pd.DataFrame, *, kind: str = "prune", amount: float | None = None) -> pd.DataFrame:
    """Datasets × methods: the test metric after pruning, mean over seeds, ``ok`` runs only.

    Parameters
    ----------
    records : pandas.DataFrame
        From :func:`run_grid` or :func:`load_records`.
    kind : {"prune", "sweep", "regressor", "classifier"}, default="prune"
        Which runs. With ``"prune"`` the regressors (regression records) or the standard
        classifiers (classification records) are added as further columns.
    amount : float, optional
        Keep only this pruning fraction (required when the records hold several).

    Returns
    -------
    pandas.DataFrame
        Index ``dataset``, one column per method (policies and baselines in the order of
        :data:`mabprune.pruning.METHODS`, the references of :data:`mabprune.pruning.REFERENCES`
        right after ``none`` and ``random``, then the regressors or classifiers).
    """
    ok = _ok(records)
    if ok.empty:
        return pd.DataFrame()
    sel = ok[ok["kind"] == kind]
    if amount is not None:
        sel = sel[np.isclose(sel["amount"].astype(float), amount)]
    elif kind not in ("regressor", "classifier") and sel["amount"].nunique() > 1:
        raise ValueError(f"the records hold several amounts {sorted(sel['amount'].unique())}: pass amount=")
    if kind == "prune":  # fitted, not pruned: one score per cell, whatever the amount
        sel = pd.concat([sel, ok[ok["kind"].isin(["regressor", "classifier"])]])
    table = sel.pivot_table(index="dataset", columns="method", values="metric_after", aggfunc="mean")
    order = [m for m in (*METHODS, *REFERENCES, *REGRESSORS, *CLASSIFIERS) if m in table.columns]
    return table[order + [c for c in table.columns if c not in order]].rename_axis(columns=None)


def mean_ranks(table: pd.DataFrame) -> pd.Series:
    """Mean rank of each method over the datasets of a :func:`score_table` (1 = best).

    Examples
    --------
    >>> t = pd.DataFrame({"a": [0.9, 0.8], "b": [0.7, 0.8]}, index=["x", "y"])
    >>> mean_ranks(t).to_dict()
    {'a': 1.25, 'b': 1.75}
    """
    return table.rank(axis=1, ascending=False, method="average").mean().sort_values()


def sweep_table(records: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds of the test metric per dataset, method and amount.

    The unpruned score is added as amount 0 for every method of the sweep.
    """
    ok = _ok(records)
    if ok.empty or not (ok["kind"] == "sweep").any():
        return pd.DataFrame(columns=["dataset", "method", "amount", "mean", "std", "n"])
    sw = ok[ok["kind"] == "sweep"][["dataset", "method", "seed", "amount", "metric_before", "metric_after"]]
    zero = sw.drop_duplicates(["dataset", "method", "seed"]).assign(amount=0.0, metric_after=lambda d: d.metric_before)
    both = pd.concat([zero, sw]).astype({"amount": float, "metric_after": float})
    out = both.groupby(["dataset", "method", "amount"])["metric_after"].agg(["mean", "std", "count"])
    return out.rename(columns={"count": "n"}).reset_index()


def cost_table(records: pd.DataFrame) -> pd.DataFrame:
    """Per method: mean pruning seconds, training seconds, pulls and pulls per second per run.

    Parameters
    ----------
    records : pandas.DataFrame
        From :func:`run_grid` or :func:`load_records` (``ok`` runs of kind ``prune`` and
        ``regressor`` or ``classifier`` are used).

    Returns
    -------
    pandas.DataFrame
        Index ``method``; columns ``runs``, ``prune_time_s``, ``train_time_s``, ``pulls``,
        ``pulls_per_second`` and ``rows_evaluated`` (unit-rows the scores cost: a policy's or
        uniform allocation's pulls × rows, the exact ranking's sweep; NaN in records without it).
    """
    ok = _ok(records)
    if ok.empty:
        return pd.DataFrame()
    sel = ok[ok["kind"].isin(["prune", "regressor", "classifier"])].copy()
    for col in ("prune_time_s", "train_time_s", "pulls", "pulls_per_second", "rows_evaluated"):
        sel[col] = pd.to_numeric(sel.get(col), errors="coerce")
    out = sel.groupby("method").agg(runs=("key", "size"), prune_time_s=("prune_time_s", "mean"),
                                    train_time_s=("train_time_s", "mean"), pulls=("pulls", "mean"),
                                    pulls_per_second=("pulls_per_second", "mean"),
                                    rows_evaluated=("rows_evaluated", "mean"))
    order = [m for m in (*METHODS, *REFERENCES, *REGRESSORS, *CLASSIFIERS) if m in out.index]
    return out.loc[order]
