"""Penn Machine Learning Benchmarks sources of :mod:`mabprune.data`: the summary table, the
default selection rule (:func:`pmlb_default`) and the reader (through ``pmlb.fetch_data``,
which reads a file in its cache layout without touching the network)."""

from __future__ import annotations

import functools
import gzip
import io
import os
import zlib
from pathlib import Path

import numpy as np

from .dataset import check_name, data_root, download_allowed, missing_files_error

__all__ = ["PMLB_MAX_FEATURES", "PMLB_ROWS", "pmlb_default", "read_pmlb"]

#: The PMLB default rule: datasets with ``PMLB_ROWS[0] <= rows <= PMLB_ROWS[1]`` and at most
#: ``PMLB_MAX_FEATURES`` features.
PMLB_ROWS = (100, 20_000)
PMLB_MAX_FEATURES = 100


@functools.lru_cache(maxsize=8)
def pmlb_summary(root: str):
    """PMLB's summary table: name -> n_instances, n_features, task.

    The table shipped in the ``pmlb`` package comes first: its names are the ones that
    ``pmlb.fetch_data`` accepts and that its cache layout uses. Rows of a newer table
    (``<root>/pmlb/all_summary_stats.tsv``) are added for names the package lacks.
    """
    import pkgutil

    import pandas as pd

    cols = ["dataset", "n_instances", "n_features", "task"]
    tables = [pd.read_csv(io.BytesIO(pkgutil.get_data("pmlb", "all_summary_stats.tsv")), sep="\t")[cols]]
    newer = Path(root) / "pmlb" / "all_summary_stats.tsv"
    if newer.exists():
        tables.append(pd.read_csv(newer, sep="\t")[cols])
    return pd.concat(tables).drop_duplicates("dataset", keep="first").set_index("dataset")


def pmlb_file(name: str, root: Path) -> Path:
    """Where ``pmlb.fetch_data`` caches dataset ``name`` under the data root."""
    check_name(f"pmlb:{name}")  # a name with '/' or '..' would point outside the root
    return root / "pmlb" / name / f"{name}.tsv.gz"


def pmlb_fetchable(name: str) -> bool:
    """Whether the installed ``pmlb`` package knows ``name`` (so it could download it)."""
    import pmlb

    return name in pmlb.dataset_names


def pmlb_default(task: str, root: str | os.PathLike | None = None, *, download: bool | None = None) -> list[str]:
    """The default PMLB selection of a task, as registry names ``"pmlb:<name>"``.

    The rule: PMLB datasets of ``task`` with 100 to 20,000 rows and at most 100 features,
    from PMLB's summary table; offline, only those whose file is under the root.

    Parameters
    ----------
    task : {"classification", "regression"}
        The PMLB task.
    root : str or path-like, optional
        Data root (see :func:`data_root`).
    download : bool, optional
        With downloads allowed, every dataset that ``pmlb.fetch_data`` can fetch is listed;
        ``None`` means allowed only if ``MABPRUNE_DOWNLOAD=1``.

    Returns
    -------
    list of str
        Sorted registry names.

    Examples
    --------
    >>> names = pmlb_default("regression", download=False)
    >>> all(n.startswith("pmlb:") for n in names)
    True
    """
    if task not in ("classification", "regression"):
        raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")
    root = data_root(root)
    t = pmlb_summary(str(root))
    rule = (t.task == task) & t.n_instances.between(*PMLB_ROWS) & (t.n_features <= PMLB_MAX_FEATURES)
    dl = download_allowed(download)
    keep = [n for n in t.index[rule] if pmlb_file(n, root).exists() or (dl and pmlb_fetchable(n))]
    return sorted(f"pmlb:{n}" for n in keep)


def read_pmlb(name: str, key: str, root: Path, dl: bool):
    """PMLB dataset ``key``: ``(X, y, task, source)``, read through ``pmlb.fetch_data``."""
    table = pmlb_summary(str(root))
    path = pmlb_file(key, root)
    if key not in table.index and not path.exists():
        raise ValueError(f"unknown dataset {name!r}: {key!r} is not a PMLB dataset")
    if not path.exists():
        if not dl:
            raise missing_files_error(name, [path], root, layout="the cache layout of pmlb.fetch_data")
        if not pmlb_fetchable(key):
            raise ValueError(f"{name}: the installed pmlb cannot download {key!r} (a newer PMLB name)")
    import pandas as pd
    import pmlb

    # With the file in local_cache_dir, fetch_data reads it and never touches the network.
    # dropna here rather than in pmlb (whose in-place dropna pandas 3 deprecates).
    try:
        df = pmlb.fetch_data(key, local_cache_dir=str(root / "pmlb"), dropna=False).dropna()
    except (EOFError, gzip.BadGzipFile, zlib.error, UnicodeDecodeError, pd.errors.ParserError,
            pd.errors.EmptyDataError) as exc:  # a download cut short, or not PMLB's gzipped TSV
        raise ValueError(f"{name}: the file {path} is damaged or truncated ({type(exc).__name__}: {exc}): delete it "
                         "so that it is fetched again (load(..., download=True) or MABPRUNE_DOWNLOAD=1)") from None
    _check_table(name, path, df)
    X, y = df.drop(columns="target").to_numpy(np.float64), df["target"].to_numpy()
    if key in table.index:
        task = table.loc[key, "task"]
    else:  # a file from elsewhere: integer targets with few values are classes
        task = "classification" if np.all(y == np.round(y)) and len(np.unique(y)) <= 100 else "regression"
    return X, y, task, str(path)


def _check_table(name: str, path: Path, df) -> None:
    """PMLB's format: a ``target`` column and numbers only; else name the column and a value."""
    from pandas.api.types import is_numeric_dtype

    if "target" not in df.columns:
        raise ValueError(f"{name}: {path} has no 'target' column (columns {list(df.columns)[:10]})")
    for col in df.columns:
        if not is_numeric_dtype(df[col]):
            value = next((v for v in df[col] if not _is_number(v)), df[col].iloc[0])
            raise ValueError(f"{name}: column {col!r} of {path} is not numeric (e.g. {value!r}): PMLB's files "
                             "hold numbers only; encode the column or drop it")


def _is_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
