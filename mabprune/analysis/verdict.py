"""The verdict matrix: the claims scoreboard recomputed under each protocol choice (issue 8 §5).

The abstract of the paper leaves open how a pruned network is scored. Three choices matter
most, and the matrix crosses them:

- the **protocol** (:mod:`mabprune.study.protocols`): ``companion`` (the book's default),
  ``authors-honest`` (the authors' reward and removal curve, chosen on the validation split)
  and ``authors`` (the same, chosen on the test split that is scored: leaky);
- **fine-tuning** after pruning: none (0 epochs) or 3 epochs on the training split;
- the **amount**, the fraction of hidden units removed: 0.3, 0.5 or 0.7 (under the authors'
  protocols, the largest removal count of the removal curve).

The authors' protocols have no fine-tuning by definition (their code fine-tunes nothing), so
the fine-tuning axis does not apply to them: each is one setting per amount, labelled
``ft n/a``, and a setting "authors, 3 epochs" does not exist. That gives
3 amounts × (2 companion + 1 + 1) = 12 settings (:func:`settings`).

Each setting is a :class:`mabprune.study.profiles.GridSpec` (:func:`setting_spec`: the profile's
grid with ``protocol``, ``fine_tune_epochs`` and ``amount`` overridden, no sweep) on a
fixed subset of each family (:func:`subset`, rule in :data:`SUBSET_RULE`), run by
:func:`mabprune.study.runner.run_grid` into its own store, ``results/<profile>/verdict/``
(:func:`default_store`), so that the family stores of the book are not mixed with these
runs. The runs of all settings share that store: a run's key says its setting, and runs that
do not depend on a setting (the standard regressors and classifiers, which are neither
pruned nor fine-tuned) are computed once per protocol.

:func:`verdict_table` applies :func:`mabprune.analysis.claims.scoreboard`, with its rules as they are,
to the records of each setting. On the few datasets of a matrix many rules cannot pass whatever the
scores (a Wilcoxon rule Holm-corrected over m comparisons needs m·2/2^N < alpha); their cells read
"cannot decide", with the number of datasets the rule would need, not "does not hold".
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from mabprune.analysis import claims, stats
from mabprune.study.book_profile import BOOK_FALLBACK
from mabprune.study.paths import default_results_dir
from mabprune.study.plan import plan_runs
from mabprune.study.profiles import GRID_FAMILIES, PROFILES, GridSpec, grid_spec
from mabprune.study.runner import missing_runs, run_grid
from mabprune.study.tables import score_table

__all__ = ["AMOUNTS", "BUILD_FALLBACK", "BUILD_PROFILES", "FINE_TUNE", "PROTOCOL_AXIS", "SIZES", "SUBSET_RULE",
           "Setting", "book_matrix_profiles", "comparisons_of", "default_store", "matrix_sizes",
           "missing_matrix_runs", "run_matrix", "setting_spec", "settings", "subset", "verdict_table"]

#: The protocols of the matrix, in the order of its columns.
PROTOCOL_AXIS = ("companion", "authors-honest", "authors")
#: Fine-tuning epochs after pruning (companion only: the authors' protocols fine-tune nothing).
FINE_TUNE = (0, 3)
#: Fractions of hidden units removed.
AMOUNTS = (0.3, 0.5, 0.7)
#: How the datasets of each family are chosen, in words (the chapter prints it).
SUBSET_RULE = ("the n datasets evenly spaced over the profile's list of the family, in the "
               "profile's order (index round(i·(N−1)/(n−1)) for i = 0 … n−1 of N; all of them "
               "when n ≥ N); the standard profile's tabular lists are sorted by number of rows, "
               "so the subset spans small to large sets. n and the seeds per profile are those "
               "of mabprune.analysis.verdict.SIZES, with the overrides listed there.")
#: Per profile: datasets per family (``n`` of :data:`SUBSET_RULE`), seeds of the matrix and
#: overrides of the profile's grid, sized so that the whole matrix fits its time budget
#: (quick: about 5 minutes at n_jobs=1 on 2 cores, what `make book` computes when records are
#: missing; standard: at most about 90 minutes on 2 cores; see results/README.md).
SIZES = {
    "smoke": {"n": {"classification": 2, "regression": 2, "deep_learning": 2}, "seeds": (0,), "overrides": {}},
    "quick": {"n": {"classification": 2, "regression": 2, "deep_learning": 2}, "seeds": (0,),
              "overrides": {"rounds": 25}},
    "standard": {"n": {"classification": 6, "regression": 6, "deep_learning": 6}, "seeds": (0,),
                 "overrides": {}},
    "full": {"n": {"classification": 20, "regression": 20, "deep_learning": 10}, "seeds": (0, 1, 2),
             "overrides": {}},
}

#: Profiles whose matrix a book build may compute when its records are missing (minutes on 2
#: CPU cores); a larger profile's matrix is computed by hand (results/README.md).
BUILD_PROFILES = ("smoke", "quick")
#: The profile a family's matrix falls back to in the book when its own profile's store is
#: incomplete and that profile is not one of :data:`BUILD_PROFILES`.
BUILD_FALLBACK = BOOK_FALLBACK  # the same fallback as the family chapters (mabprune.study.book_profile)


@dataclass(frozen=True)
class Setting:
    """One column of the verdict matrix.

    Parameters
    ----------
    protocol : str
        One of :data:`PROTOCOL_AXIS`.
    fine_tune_epochs : int or None
        Epochs of fine-tuning after pruning; ``None`` for the authors' protocols, which have
        none by definition (the axis does not apply).
    amount : float
        Fraction of hidden units removed.
    """

    protocol: str
    fine_tune_epochs: int | None
    amount: float

    @property
    def label(self) -> str:
        """Short name, e.g. ``companion · ft 3 · 0.5`` or ``authors · ft n/a · 0.3``."""
        ft = "n/a" if self.fine_tune_epochs is None else str(self.fine_tune_epochs)
        return f"{self.protocol} · ft {ft} · {self.amount:g}"


def settings(protocols: Iterable[str] = PROTOCOL_AXIS, fine_tune: Iterable[int] = FINE_TUNE,
             amounts: Iterable[float] = AMOUNTS) -> list[Setting]:
    """The settings of the matrix: amounts outermost, then protocols, then fine-tuning.

    Parameters
    ----------
    protocols : iterable of str, default=PROTOCOL_AXIS
    fine_tune : iterable of int, default=FINE_TUNE
        Applied to ``companion`` only.
    amounts : iterable of float, default=AMOUNTS

    Returns
    -------
    list of Setting

    Examples
    --------
    >>> [s.label for s in settings(amounts=[0.5])]
    ['companion · ft 0 · 0.5', 'companion · ft 3 · 0.5', 'authors-honest · ft n/a · 0.5', 'authors · ft n/a · 0.5']
    >>> len(settings())
    12
    """
    protocols, fine_tune, amounts = list(protocols), list(fine_tune), list(amounts)
    for p in protocols:
        if p not in PROTOCOL_AXIS:
            raise ValueError(f"unknown protocol {p!r}; use some of {PROTOCOL_AXIS}")
    for e in fine_tune:
        if isinstance(e, bool) or not isinstance(e, (int, np.integer)) or e < 0:
            raise ValueError(f"fine-tuning epochs must be integers >= 0, got {e!r}")
    for a in amounts:
        if isinstance(a, bool) or not isinstance(a, (int, float)) or not 0 < a < 1:
            raise ValueError(f"amounts must be fractions in (0, 1), got {a!r}")
    out = []
    for a in amounts:
        for p in protocols:
            for e in (fine_tune if p == "companion" else [None]):
                out.append(Setting(p, None if e is None else int(e), float(a)))
    return out


def subset(family: str, profile: str, n: int | None = None, *, data_root=None) -> tuple[str, ...]:
    """The fixed datasets of ``family`` in the matrix of ``profile`` (rule: :data:`SUBSET_RULE`).

    Parameters
    ----------
    family : {"classification", "regression", "deep_learning"}
    profile : {"smoke", "quick", "standard", "full"}
    n : int, optional
        Number of datasets; default that of :data:`SIZES`.
    data_root : path-like, optional
        Passed to :func:`mabprune.study.profiles.grid_spec` (only the ``full`` profile's lists
        depend on it).

    Returns
    -------
    tuple of str

    Examples
    --------
    >>> subset("regression", "quick", 3)
    ('sklearn:diabetes', 'make:friedman1', 'make:friedman3')
    """
    if profile not in SIZES:
        raise ValueError(f"unknown profile {profile!r}; use one of {tuple(SIZES)}")
    n = SIZES[profile]["n"][family] if n is None else n
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n must be an integer >= 2 (the tests rank methods over datasets), got {n!r}")
    names = grid_spec(family, profile, data_root=data_root).datasets
    if n >= len(names):
        return tuple(names)
    return tuple(names[int(round(i * (len(names) - 1) / (n - 1)))] for i in range(n))


def setting_spec(family: str, profile: str, setting: Setting, **overrides: Any) -> GridSpec:
    """The grid of one setting: the profile's grid on :func:`subset`, the setting's values, no sweep.

    Parameters
    ----------
    family, profile : str
    setting : Setting
    **overrides
        Further :func:`mabprune.study.profiles.grid_spec` overrides (``datasets`` and ``seeds``
        replace the subset and the seeds of :data:`SIZES`).

    Returns
    -------
    GridSpec

    Examples
    --------
    >>> spec = setting_spec("classification", "smoke", Setting("authors", None, 0.3))
    >>> spec.protocol, spec.fine_tune_epochs, spec.amount, spec.sweep_methods
    ('authors', 0, 0.3, ())
    """
    if not isinstance(setting, Setting):
        raise ValueError(f"setting must be a Setting of settings(), got {setting!r}")
    kw = {"datasets": list(subset(family, profile, data_root=overrides.get("data_root"))),
          "seeds": list(SIZES[profile]["seeds"]), "sweep_methods": [], **SIZES[profile]["overrides"]}
    kw.update({k: v for k, v in overrides.items() if v is not None})
    # The authors' protocols fine-tune nothing whatever the spec says (their runs' keys carry
    # 0 epochs); 0 here keeps the spec honest.
    return grid_spec(family, profile, protocol=setting.protocol, amount=setting.amount,
                     fine_tune_epochs=setting.fine_tune_epochs or 0, **kw)


def default_store(profile: str) -> Path:
    """``results/<profile>/verdict`` under the repository root: the matrix's own store."""
    return default_results_dir(profile) / "verdict"


def missing_matrix_runs(family: str, profile: str, *, matrix: Iterable[Setting] | None = None,
                        results_dir: str | os.PathLike | None = None, **overrides: Any) -> list[str]:
    """Keys of ``family``'s matrix at ``profile`` without an ``ok`` record in the store (nothing
    is computed).

    Parameters
    ----------
    family, profile : str
    matrix : iterable of Setting, optional
        Default :func:`settings`.
    results_dir : path-like, optional
        The store; default :func:`default_store` of ``profile``.
    **overrides
        Passed to :func:`setting_spec`.

    Returns
    -------
    list of str
        Distinct keys, in the order the settings plan them.

    Examples
    --------
    >>> len(missing_matrix_runs("classification", "smoke", results_dir="/nonexistent"))
    36
    """
    matrix = settings() if matrix is None else list(matrix)
    store = Path(results_dir) if results_dir is not None else default_store(profile)
    keys = []
    for s in matrix:
        keys += missing_runs(setting_spec(family, profile, s, **overrides), store)
    return list(dict.fromkeys(keys))


def book_matrix_profiles(profiles: dict[str, str], *, matrix: Iterable[Setting] | None = None,
                         verdict_dir: str | os.PathLike | None = None, fallback: str = BUILD_FALLBACK,
                         **overrides: Any) -> dict[str, dict[str, Any]]:
    """Per family, the profile whose matrix the book shows, and why.

    A family keeps its profile when its matrix store holds every run of that profile's matrix
    with status ``ok``, or when the profile is one of :data:`BUILD_PROFILES` (the build then
    computes what is missing). Otherwise (a ``standard`` or ``full`` matrix not yet computed,
    which takes more than an hour) the family falls back to ``fallback``, which a build may
    compute: the book never starts the long computation, and the chapter says which families
    fell back.

    Parameters
    ----------
    profiles : dict of str to str
        Family -> the family's book profile (see :func:`mabprune.study.book_profile.book_profiles`).
    matrix : iterable of Setting, optional
        Default :func:`settings`.
    verdict_dir : path-like, optional
        One store for every family and profile; default :func:`default_store` of each profile.
    fallback : str, default=BUILD_FALLBACK
        Must be one of :data:`BUILD_PROFILES`.
    **overrides
        Passed to :func:`setting_spec`.

    Returns
    -------
    dict of str to dict
        Family -> ``{"asked", "used", "missing", "planned", "reason"}``.

    Examples
    --------
    >>> out = book_matrix_profiles({"regression": "standard"}, verdict_dir="/nonexistent")
    >>> out["regression"]["used"], out["regression"]["missing"] == out["regression"]["planned"]
    ('quick', True)
    """
    if fallback not in BUILD_PROFILES:
        raise ValueError(f"fallback must be a profile a build may compute {BUILD_PROFILES}, got {fallback!r}")
    matrix = settings() if matrix is None else list(matrix)
    out = {}
    for family, profile in profiles.items():
        if family not in GRID_FAMILIES:
            raise ValueError(f"unknown family {family!r}; use some of {GRID_FAMILIES}")
        if profile not in SIZES:
            raise ValueError(f"unknown profile {profile!r} for {family}; use one of {tuple(SIZES)}")
        store = Path(verdict_dir) if verdict_dir is not None else default_store(profile)
        missing = missing_matrix_runs(family, profile, matrix=matrix, results_dir=store, **overrides)
        planned = len({r["key"] for s in matrix for r in plan_runs(setting_spec(family, profile, s, **overrides))})
        held = f"{planned - len(missing):,} of its {planned:,} runs"
        if not missing:
            used, reason = profile, f"{profile}: the {profile} matrix store holds all {planned:,} of its runs"
        elif profile in BUILD_PROFILES:
            used, reason = profile, (f"{profile}: the store holds {held}; the build computes the rest "
                                     f"(a {profile} matrix takes minutes)")
        else:
            used, reason = fallback, (f"{fallback}: the {profile} matrix store holds only {held}, and a "
                                      f"{profile} matrix is not computed by a book build (results/README.md "
                                      f"gives its time), so the {fallback} matrix stands in")
        out[family] = {"asked": profile, "used": used, "missing": len(missing), "planned": planned,
                       "reason": reason + "."}
    return out


def run_matrix(profile: str = "quick", *, families: Iterable[str] = GRID_FAMILIES,
               matrix: Iterable[Setting] | None = None, results_dir: str | os.PathLike | None = None,
               n_jobs: int = 1, progress: bool = False, **overrides: Any) -> pd.DataFrame:
    """Run (or load) every setting of the matrix and return their records.

    Parameters
    ----------
    profile : str, default="quick"
    families : iterable of str, default=GRID_FAMILIES
    matrix : iterable of Setting, optional
        Default :func:`settings`.
    results_dir : path-like, optional
        The store; default :func:`default_store`.
    n_jobs : int, default=1
        Parallel (dataset, seed) cells of each grid.
    progress : bool, default=False
    **overrides
        Passed to :func:`setting_spec` (e.g. ``device``, ``data_root``, ``methods``).

    Returns
    -------
    pandas.DataFrame
        One row per run and setting, with the records' columns and ``setting``,
        ``setting_protocol``, ``setting_fine_tune``, ``setting_amount``; ``attrs`` holds
        ``computed``, ``loaded``, ``errors``, ``wall_time_s`` (summed over the grids) and
        ``path`` (the store folder).
    """
    matrix = settings() if matrix is None else list(matrix)
    store = Path(results_dir) if results_dir is not None else default_store(profile)
    specs = [(s, setting_spec(f, profile, s, n_jobs=n_jobs, **overrides)) for s in matrix for f in families]
    frames, totals = [], dict(computed=0, loaded=0, errors=0, wall_time_s=0.0)
    for s, spec in specs:  # all specs validated above, before any compute
        df = run_grid(spec, results_dir=store, progress=progress)
        for k in totals:
            totals[k] += df.attrs[k]
        frames.append(df.assign(setting=s.label, setting_protocol=s.protocol,
                                setting_fine_tune="n/a" if s.fine_tune_epochs is None else str(s.fine_tune_epochs),
                                setting_amount=s.amount))
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    out.attrs.update(totals, path=str(store))
    return out


def comparisons_of(records: pd.DataFrame, *, metric: str = "metric_after", alpha: float = 0.05,
                   amount: float | None = None) -> dict[str, stats.Comparison]:
    """The family comparisons of one setting's records, as the statistics chapter builds them.

    Per family: :func:`mabprune.study.tables.score_table` (networks with the regressors or
    classifiers), methods without any score left out, then datasets without a score for every
    method; a family with fewer than 2 datasets or methods gets no comparison.

    Parameters
    ----------
    records : pandas.DataFrame
        Records of one setting (``family`` may be grid or claim names).
    metric : str, default="metric_after"
        The record column compared (``score_no_ft`` for the score before fine-tuning).
    alpha : float, default=0.05
    amount : float, optional
        Passed to :func:`mabprune.study.tables.score_table`.

    Returns
    -------
    dict of str to Comparison
        Keys among :data:`mabprune.analysis.stats.FAMILIES`.
    """
    if records.empty:
        return {}
    rows = records.assign(family=[claims.family_name(str(f)) for f in records["family"]])
    if metric != "metric_after":
        values = pd.to_numeric(rows[metric], errors="coerce")
        rows = rows.assign(metric_after=values.where(~rows["kind"].isin(["regressor", "classifier"]),
                                                     rows["metric_after"]))
    out = {}
    for family in stats.FAMILIES:
        table = score_table(rows[rows["family"] == family], kind="prune", amount=amount)
        if table.empty:
            continue
        table = table.drop(columns=[m for m in table.columns if table[m].isna().all()]).dropna()
        if len(table) >= 2 and table.shape[1] >= 2:
            out[family] = stats.compare(table, higher_is_better=True, alpha=alpha)
    return out


def _costs(records: pd.DataFrame) -> pd.DataFrame:
    """The runs' costs for C10. The authors' protocols record no separate prune time (ranking
    and removal curve are one step): their run's wall time stands for it."""
    costs = records.copy()
    prune_time = pd.to_numeric(costs.get("prune_time_s"), errors="coerce")
    wall = pd.to_numeric(costs.get("wall_time_s"), errors="coerce")
    authors = (costs.get("protocol_name", pd.Series("companion", index=costs.index)) != "companion") \
        & (costs["kind"] == "prune")
    costs["prune_time_s"] = prune_time.where(~authors | prune_time.notna(), wall)
    return costs


def verdict_table(records: pd.DataFrame, *, metric: str = "metric_after", alpha: float = 0.05,
                  threshold: float = 0.9, rope: float = claims.DEFAULT_ROPE, n_boot: int = 2000,
                  seed: int = 0) -> pd.DataFrame:
    """The scoreboard of every setting in ``records`` (from :func:`run_matrix`), one row per claim.

    Parameters
    ----------
    records : pandas.DataFrame
        With a ``setting`` column (and ``setting_protocol``, ``setting_fine_tune``,
        ``setting_amount``).
    metric, alpha, threshold, rope, n_boot, seed
        As in :func:`mabprune.analysis.claims.scoreboard` (``metric`` as in :func:`comparisons_of`).

    Returns
    -------
    pandas.DataFrame
        Columns ``setting, protocol, fine_tune, amount, id, family, claim, verdict, evidence,
        control``, settings in the order they first appear, claims C1–C10 within each.

    Raises
    ------
    ValueError
        When ``records`` has no ``setting`` column or holds no successful run.
    """
    if "setting" not in records.columns:
        raise ValueError("records must come from run_matrix(): they have no 'setting' column")
    ok = records[records["status"] == "ok"]
    if ok.empty:
        raise ValueError("the records hold no successful run: no verdict to compute")
    rows = []
    for label in dict.fromkeys(records["setting"]):
        sel = ok[ok["setting"] == label]
        board = claims.scoreboard(comparisons_of(sel, metric=metric, alpha=alpha), costs=_costs(sel),
                                  alpha=alpha, threshold=threshold, rope=rope, n_boot=n_boot, seed=seed)
        first = records[records["setting"] == label].iloc[0]
        for claim_id, r in board.iterrows():
            rows.append({"setting": label, "protocol": first["setting_protocol"],
                         "fine_tune": first["setting_fine_tune"], "amount": float(first["setting_amount"]),
                         "id": claim_id, "family": r["family"], "claim": r["claim"], "verdict": r["verdict"],
                         "evidence": r["evidence"], "control": r["control"]})
    return pd.DataFrame(rows)


def matrix_sizes(profile: str) -> pd.DataFrame:
    """Per family: the datasets, seeds and runs of the matrix of ``profile`` (nothing computed).

    Examples
    --------
    >>> int(matrix_sizes("smoke").loc["classification", "runs"])
    36
    """
    rows = {}
    for family in GRID_FAMILIES:
        keys = set()
        for s in settings():
            keys |= {r["key"] for r in plan_runs(setting_spec(family, profile, s))}
        rows[family] = {"datasets": ", ".join(subset(family, profile)), "seeds": len(SIZES[profile]["seeds"]),
                        "runs": len(keys)}
    return pd.DataFrame.from_dict(rows, orient="index")


if set(SIZES) != set(PROFILES):  # pragma: no cover - a profile added without a matrix size
    raise ValueError(f"verdict.SIZES must size every profile {sorted(PROFILES)}")
