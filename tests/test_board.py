"""The verdicts board (mabprune.study.board): short rows from the public scoreboard."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from mabprune.analysis import claims
from mabprune.study import board as vb

MIXED = {"classification": "standard", "regression": "standard", "deep_learning": "quick"}


def _board(**verdicts):
    rows = {}
    for claim_id, (family, claim) in claims.CLAIMS.items():
        verdict, evidence = verdicts.get(claim_id, ("does not hold", "some evidence"))
        rows[claim_id] = {"family": family, "claim": claim, "rule": "a rule", "evidence": evidence,
                          "control": "fails: x", "verdict": verdict}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("id")


def test_every_claim_gets_a_short_row_with_its_profile():
    short = vb.compact_board(_board(C7=("cannot decide", "cannot decide at N = 3: the smallest p ...")), MIXED)
    assert list(short["id"]) == list(claims.CLAIMS)
    row = short.set_index("id")
    assert row.loc["C7", "verdict"] == "cannot decide at N = 3"
    assert row.loc["C7", "evidence level"] == "quick"
    assert row.loc["C2", "evidence level"] == "standard"
    assert row.loc["C1", "evidence level"] == "quick + standard"
    assert row.loc["C1", "family"] == "all"
    assert all(len(c) <= 40 for c in short["claim"]), "the board's claims must be a few words"


def test_the_real_scoreboard_is_accepted():
    short = vb.compact_board(claims.scoreboard({}), MIXED)
    assert set(short["verdict"]) == {"not enough data"}
    assert len(short) == len(claims.CLAIMS)


def test_random_control_and_unknown_family_profile():
    short = vb.compact_board(_board(C3=("holds, but random pruning passes too", "e")), {"classification": "quick"})
    row = short.set_index("id")
    assert row.loc["C3", "verdict"] == "holds, but random passes too"
    assert row.loc["C4", "evidence level"] == "n/a"


def test_html_links_every_row_to_an_expandable_evidence_row():
    board = _board(C10=("holds", "ratio 0.5"))
    table = vb.board_html(board, MIXED, href="executed/statistical_analysis.html")
    details = vb.evidence_html(board, MIXED)
    links = re.findall(r'href="executed/statistical_analysis\.html#(claim-c\d+)"', table)
    ids = re.findall(r'<details id="(claim-c\d+)"', details)
    assert links == ids == [f"claim-c{i}" for i in range(1, 11)]
    assert table.count("mabprune-board-reduced") == 6  # C1, C10 (all) and C6-C9 rest on quick records
    assert "ratio 0.5" in details and "ratio 0.5" not in table


def test_html_escapes_the_text():
    board = _board(C2=("does not hold", "<script>x</script>"))
    assert "<script>" not in vb.evidence_html(board, MIXED)


def test_a_board_without_the_columns_is_refused():
    with pytest.raises(ValueError, match="lacks"):
        vb.compact_board(pd.DataFrame({"verdict": ["holds"]}), MIXED)


def test_dataset_aliases_are_short_unique_and_keyed():
    from mabprune.study import readable

    names = ["pmlb:GAMETES_Heterogeneity_20atts_1600_Het_0.4_0.2_75_EDM_2_001",
             "pmlb:GAMETES_Heterogeneity_20atts_1600_Het_0.4_0.2_75_EDM_2_002", "pmlb:iris", "lenet@vision:mnist"]
    aliases = readable.dataset_aliases(names)
    assert len(set(aliases.values())) == len(names)
    assert all(len(a) <= readable.MAX_ALIAS for a in aliases.values())
    assert aliases["pmlb:iris"] == "iris" and aliases["lenet@vision:mnist"] == "lenet@mnist"
    key = readable.alias_key(aliases)
    assert set(key["dataset"]) == set(names)  # every shortened name is in the key


def test_long_tables_show_their_top_rows_and_collapse_the_rest():
    from mabprune.study import readable

    frame = pd.DataFrame({"p": [0.5] * 100})
    page = readable.long_table(frame, top=10, what="pairs", csv_name="pairs.csv")
    opened, _, collapsed = page.partition("<details")
    assert opened.count("<tr") == 11  # header and ten rows
    assert "All 100 pairs" in collapsed and collapsed.count("<tr") == 101
    assert 'download="pairs.csv"' in page
    assert "<details" not in readable.long_table(frame.head(5))


def test_reduced_banner_names_both_profiles():
    from mabprune.study import readable

    banner = readable.reduced_banner("deep_learning", "quick")
    assert "quick" in banner and "standard profile runs" in banner and "sklearn:digits" in banner
    assert readable.reduced_banner("deep_learning", "standard") == ""
