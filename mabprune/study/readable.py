"""Tables the book's reader can read: short dataset names with a key, long tables collapsed,
numbers formatted for people.

The chapters display their tables through these helpers:

* :func:`dataset_aliases` gives every dataset a short, unique name (``pmlb:1028_SWD`` ->
  ``1028_SWD``; a name longer than :data:`MAX_ALIAS` is cut with ``…``) and :func:`alias_key`
  the table that says which alias is which dataset;
* :func:`long_table` shows the first rows of a long table and puts the whole table one click
  away (``<details>``), so no page shows more than :data:`VISIBLE_ROWS` rows at once;
* :func:`human` formats one number: integers as integers, other numbers to three significant
  digits.

Examples
--------
>>> dataset_aliases(["pmlb:analcatdata_boxing1", "sklearn:digits"])
{'pmlb:analcatdata_boxing1': 'analcatdata_box…', 'sklearn:digits': 'digits'}
>>> dataset_aliases(["lenet@vision:mnist", "memn2n@babi10k:qa1"])
{'lenet@vision:mnist': 'lenet@mnist', 'memn2n@babi10k:qa1': 'memn2n@qa1'}
>>> human(20.0), human(0.123456), human(1234567)
('20', '0.123', '1,234,567')
"""

from __future__ import annotations

import html
import math
from numbers import Real
from typing import Iterable
from urllib.parse import quote

import pandas as pd

from mabprune.study.profiles import grid_spec

__all__ = ["FULL_SCALE", "MAX_ALIAS", "VISIBLE_ROWS", "alias_key", "dataset_aliases", "human", "long_table",
           "reduced_banner"]

#: Longest alias, in characters.
MAX_ALIAS = 16
#: Rows a table shows before the rest is collapsed.
VISIBLE_ROWS = 15


def _short(name: str) -> str:
    name = str(name)
    if "@" in name:  # a deep-learning task model@family:dataset -> model@dataset
        model, _, dataset = name.partition("@")
        base = f"{model}@{dataset.rsplit(':', 1)[-1]}"
    else:
        base = name.split(":", 1)[1] if ":" in name else name
    return base if len(base) <= MAX_ALIAS else base[:MAX_ALIAS - 1] + "…"


def dataset_aliases(names: Iterable) -> dict:
    """Each name -> a short alias, unique among ``names`` (a clash gains ``~2``, ``~3``...)."""
    out, used = {}, set()
    for name in dict.fromkeys(names):
        alias = _short(name)
        candidate, i = alias, 1
        while candidate in used:
            i += 1
            candidate = f"{alias[:MAX_ALIAS - 2]}~{i}"
        used.add(candidate)
        out[name] = candidate
    return out


def alias_key(aliases: dict) -> pd.DataFrame:
    """The key of :func:`dataset_aliases`: the aliases that differ from their dataset's name.

    >>> alias_key({"pmlb:a": "a"}).to_dict("records")
    [{'alias': 'a', 'dataset': 'pmlb:a'}]
    """
    rows = [{"alias": a, "dataset": str(n)} for n, a in aliases.items() if a != str(n)]
    return pd.DataFrame(rows, columns=["alias", "dataset"])


def human(value) -> str:
    """A number as people read it: integers as integers (thousands separated), others to three
    significant digits; missing values as ``–``.

    >>> human(float("nan")), human(3), human(-0.000123), human(12.345)
    ('–', '3', '-0.000123', '12.3')
    """
    if value is None or isinstance(value, bool):
        return "–" if value is None else str(value)
    if not isinstance(value, Real):
        return str(value)
    if isinstance(value, float) and math.isnan(value):
        return "–"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:.3g}"


def _html(table) -> str:
    if isinstance(table, pd.DataFrame):
        return table.to_html(na_rep="–", formatters=None, float_format=human, border=0,
                             classes="dataframe")
    return table.to_html()  # a pandas Styler


def long_table(table, *, top: int = VISIBLE_ROWS, what: str = "rows", csv_name: str | None = None,
               head=None) -> str:
    """HTML of a table showing its first ``top`` rows, the whole table collapsed below them.

    Parameters
    ----------
    table : pandas.DataFrame or pandas.io.formats.style.Styler
        The whole table (a Styler keeps its formats).
    top : int
        Rows shown open.
    what : str
        What a row is, for the summary line ("pairs", "datasets"...).
    csv_name : str, optional
        When given, the whole table is also offered as a CSV download (a data URL) of that name.
    head : DataFrame or Styler, optional
        The table shown open (default: the first ``top`` rows of ``table``).

    Returns
    -------
    str
        HTML; a table of at most ``top`` rows is returned whole, with nothing collapsed.
    """
    frame = table if isinstance(table, pd.DataFrame) else table.data
    if len(frame) <= top:
        return _html(table)
    if top <= 0:  # nothing open: the whole table one click away
        opened = ""
    elif head is not None:
        opened = _html(head)
    elif isinstance(table, pd.DataFrame):
        opened = _html(table.head(top))
    else:  # a Styler: its formats kept, the rows cut after `top`
        opened = table.to_html(max_rows=top, max_columns=table.data.shape[1] + 1)  # trim rows only
    parts = [opened,
             f'<details class="mabprune-long-table"><summary>All {len(frame):,} {html.escape(what)}</summary>',
             _html(table), "</details>"]
    if csv_name:
        data = quote(frame.to_csv())
        parts.append(f'<p class="mabprune-csv"><a download="{html.escape(csv_name)}" '
                     f'href="data:text/csv;charset=utf-8,{data}">Download the whole table as CSV</a></p>')
    return "\n".join(parts)


#: Profiles whose records are the paper-scale evidence; anything smaller gets a banner.
FULL_SCALE = ("standard", "full")


def reduced_banner(family: str, profile: str) -> str:
    """HTML of the banner of a page computed from a reduced profile ('' at standard or full).

    It names the profile and the datasets actually run, and what the standard profile would run
    instead (both from :func:`mabprune.study.profiles.grid_spec`).

    >>> reduced_banner("classification", "standard")
    ''
    >>> "standard profile" in reduced_banner("deep_learning", "quick")
    True
    """
    if profile in FULL_SCALE:
        return ""
    ran, standard = grid_spec(family, profile), grid_spec(family, "standard")
    names = ", ".join(f"<code>{html.escape(str(d))}</code>" for d in ran.datasets)
    shown = ", ".join(f"<code>{html.escape(str(d))}</code>" for d in standard.datasets[:4])
    more = len(standard.datasets) - min(4, len(standard.datasets))
    return (
        '<div class="admonition warning mabprune-reduced">'
        f'<p class="admonition-title">Reduced profile: {html.escape(profile)}, not the paper-scale experiment</p>'
        f"<p>The numbers on this page come from the <strong>{html.escape(profile)}</strong> profile: "
        f"{len(ran.datasets)} small datasets ({names}) × {len(ran.seeds)} seeds, for a build in minutes. "
        f"The standard profile runs {len(standard.datasets)} datasets ({shown}"
        f"{f' and {more} more' if more else ''}) × {len(standard.seeds)} seeds; its verdicts replace these "
        "once its records are computed (see the rerun chapter). Read the rankings here as a check that "
        "the pipeline runs, not as evidence about the paper's claims.</p></div>")
