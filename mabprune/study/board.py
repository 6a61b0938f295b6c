"""The verdicts board of the book: the claims scoreboard made short enough to read first.

:func:`mabprune.analysis.claims.scoreboard` returns one row per claim with its rule, evidence,
random control and verdict, in full sentences: the evidence of record, too wide to be the first
thing a reader sees. This module turns that board (its public columns only) into

* :func:`compact_board`: one row per claim with the claim in a few words, its family, the
  verdict in words (``cannot decide`` with the N it was decided at) and the evidence level,
  the profile whose records decided the row;
* :func:`board_html`: that table as HTML for the landing page and the statistics chapter,
  each claim linking to its evidence;
* :func:`evidence_html`: the full rule, evidence and control of every claim as rows a reader
  expands (``<details>``), each with the anchor the board links to.

Examples
--------
>>> import pandas as pd
>>> board = pd.DataFrame({"family": ["deep_learning"], "claim": ["Two or more MAB policies beat x."],
...                       "rule": ["r"], "evidence": ["cannot decide at N = 3: ..."], "control": ["c"],
...                       "verdict": ["cannot decide"]}, index=pd.Index(["C7"], name="id"))
>>> compact_board(board, {"deep_learning": "quick"}).iloc[0].to_dict()
{'id': 'C7', 'claim': 'policies beat unpruned', 'family': 'deep', 'verdict': 'cannot decide at N = 3', 'evidence level': 'quick'}
"""

from __future__ import annotations

import html
import re
from typing import Mapping

import pandas as pd

__all__ = ["FAMILY_LABELS", "PROFILE_ORDER", "SHORT_CLAIMS", "anchor", "board_html", "compact_board",
           "evidence_html", "evidence_level", "verdict_label"]

#: The claims in a few words (the board's first column); a claim not listed shows its own text.
SHORT_CLAIMS = {
    "C1": "methods differ (Friedman)",
    "C2": "UCB1 best policy",
    "C3": "UCB1 beats unpruned",
    "C4": "UCB1 best policy",
    "C5": "UCB1 ≈ standard regressors",
    "C6": "UCB1, Thompson best two",
    "C7": "policies beat unpruned",
    "C8": "policies beat magnitude",
    "C9": "policies beat act. variation",
    "C10": "pruning cost is practical",
}
#: The claim families in one word; ``all`` spans the three.
FAMILY_LABELS = {"tabular_classification": "classification", "tabular_regression": "regression",
                 "deep_learning": "deep", "all": "all"}
#: The profiles from the smallest to the largest: the weakest evidence first.
PROFILE_ORDER = ("smoke", "quick", "standard", "full")
#: Grid family names as the book's ``profiles`` parameter spells them -> claim families.
_GRID_TO_CLAIM = {"classification": "tabular_classification", "regression": "tabular_regression",
                  "deep_learning": "deep_learning"}
_COLOURS = {"holds": "#c8e6c9", "holds, but random pruning passes too": "#ffe0b2",
            "does not hold": "#ffcdd2", "cannot decide": "#fff9c4", "not enough data": "#e0e0e0"}
_N_AT = re.compile(r"cannot decide at N = (\d+)")
_COLUMNS = ("family", "claim", "evidence", "control", "verdict")


def _check(board: pd.DataFrame) -> None:
    if not isinstance(board, pd.DataFrame):
        raise ValueError(f"board must be the DataFrame of claims.scoreboard(); got {type(board).__name__}")
    missing = [c for c in _COLUMNS if c not in board.columns]
    if missing:
        raise ValueError(f"board lacks the scoreboard columns {missing}")


def _claim_profiles(family_profiles: Mapping[str, str]) -> dict[str, str]:
    """``family_profiles`` keyed by claim family (grid names such as ``classification`` accepted)."""
    out = {}
    for family, profile in family_profiles.items():
        out[_GRID_TO_CLAIM.get(str(family), str(family))] = str(profile)
    return out


def anchor(claim_id: str) -> str:
    """The HTML id of a claim's evidence row: ``claim-c7`` for ``C7``.

    >>> anchor("C10")
    'claim-c10'
    """
    return "claim-" + re.sub(r"[^a-z0-9]+", "-", str(claim_id).lower()).strip("-")


def verdict_label(verdict: str, evidence: str = "") -> str:
    """The verdict in the board's words: ``cannot decide`` gains the N it was decided at.

    >>> verdict_label("cannot decide", "cannot decide at N = 3: the smallest ...")
    'cannot decide at N = 3'
    >>> verdict_label("holds, but random pruning passes too")
    'holds, but random passes too'
    """
    if verdict == "cannot decide":
        match = _N_AT.search(str(evidence))
        return f"cannot decide at N = {match.group(1)}" if match else verdict
    if verdict == "holds, but random pruning passes too":
        return "holds, but random passes too"
    return str(verdict)


def evidence_level(family: str, family_profiles: Mapping[str, str]) -> str:
    """The profile whose records decided a claim of ``family``.

    A claim of one family is decided at that family's profile; a claim of ``all`` combines one
    result per family, so it is named by every profile involved, the weakest first
    (``quick + standard``). A family without a profile gives ``n/a``.

    >>> evidence_level("all", {"classification": "standard", "regression": "standard", "deep_learning": "quick"})
    'quick + standard'
    >>> evidence_level("tabular_regression", {"regression": "standard"})
    'standard'
    """
    profiles = _claim_profiles(family_profiles)
    if family == "all":
        used = set(profiles.values())
    else:
        used = {profiles[family]} if family in profiles else set()
    if not used:
        return "n/a"
    rank = {p: i for i, p in enumerate(PROFILE_ORDER)}
    return " + ".join(sorted(used, key=lambda p: (rank.get(p, len(rank)), p)))


def compact_board(board: pd.DataFrame, family_profiles: Mapping[str, str]) -> pd.DataFrame:
    """One short row per claim: ``id, claim, family, verdict, evidence level``.

    Parameters
    ----------
    board : pandas.DataFrame
        :func:`mabprune.analysis.claims.scoreboard`'s result (index ``id``).
    family_profiles : mapping
        Family -> the profile of the records read for it (grid or claim family names).

    Returns
    -------
    pandas.DataFrame
    """
    _check(board)
    rows = []
    for claim_id, row in board.iterrows():
        rows.append({"id": str(claim_id),
                     "claim": SHORT_CLAIMS.get(str(claim_id), str(row["claim"]).rstrip(".")),
                     "family": FAMILY_LABELS.get(str(row["family"]), str(row["family"]).replace("_", " ")),
                     "verdict": verdict_label(str(row["verdict"]), str(row["evidence"])),
                     "evidence level": evidence_level(str(row["family"]), family_profiles)})
    return pd.DataFrame(rows, columns=["id", "claim", "family", "verdict", "evidence level"])


def board_html(board: pd.DataFrame, family_profiles: Mapping[str, str], href: str = "") -> str:
    """The compact board as an HTML table; each claim links to ``{href}#claim-<id>``.

    ``href`` is the evidence page relative to the page showing the board (empty on the
    statistics chapter itself). Rows decided on a profile below ``standard`` are marked
    ``mabprune-board-reduced`` (the stylesheet sets them apart).
    """
    _check(board)
    short = compact_board(board, family_profiles)
    out = ['<table class="mabprune-board">',
           "<thead><tr><th>claim</th><th>family</th><th>verdict</th><th>evidence level</th></tr></thead>", "<tbody>"]
    rank = {p: i for i, p in enumerate(PROFILE_ORDER)}
    for (claim_id, row), (_, full) in zip(short.iterrows(), board.iterrows()):
        level = row["evidence level"]
        reduced = any(rank.get(p, 99) < rank["standard"] for p in level.split(" + "))
        colour = _COLOURS.get(str(full["verdict"]), "#ffffff")
        title = html.escape(str(full["claim"]), quote=True)
        out.append(
            f'<tr class="mabprune-board-row{" mabprune-board-reduced" if reduced else ""}">'
            f'<td><a href="{html.escape(href)}#{anchor(row["id"])}" title="{title}">'
            f'<strong>{html.escape(row["id"])}</strong> {html.escape(row["claim"])}</a></td>'
            f'<td>{html.escape(row["family"])}</td>'
            f'<td class="mabprune-verdict" style="background-color: {colour}">{html.escape(row["verdict"])}</td>'
            f'<td>{html.escape(level)}</td></tr>')
    out += ["</tbody>", "</table>"]
    return "\n".join(out)


def evidence_html(board: pd.DataFrame, family_profiles: Mapping[str, str]) -> str:
    """Every claim's rule, evidence and control as a row a reader expands (``<details>``).

    The summary line repeats the board's row; the anchor of each row is :func:`anchor`.
    """
    _check(board)
    short = compact_board(board, family_profiles)
    out = ['<div class="mabprune-evidence">']
    for (_, row), (_, full) in zip(short.iterrows(), board.iterrows()):
        colour = _COLOURS.get(str(full["verdict"]), "#ffffff")
        parts = [("claim", full["claim"]), ("rule", full.get("rule", "")), ("evidence", full["evidence"]),
                 ("random control", full["control"]), ("evidence level", row["evidence level"])]
        body = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>" for k, v in parts if str(v))
        out.append(
            f'<details id="{anchor(row["id"])}"><summary><strong>{html.escape(row["id"])}</strong> '
            f'{html.escape(row["claim"])} ({html.escape(row["family"])}): '
            f'<span class="mabprune-verdict" style="background-color: {colour}">{html.escape(row["verdict"])}'
            f'</span></summary><dl>{body}</dl></details>')
    out.append("</div>")
    return "\n".join(out)
