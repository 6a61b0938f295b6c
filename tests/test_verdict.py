"""The verdict matrix: settings, the subset rule, the specs, and a smoke matrix end to end."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import papermill as pm
import pytest

from mabprune.analysis import claims
from mabprune.analysis import verdict
from mabprune.study.plan import plan_runs
from mabprune.study.profiles import PROFILES, STANDARD_PMLB, grid_spec

REPO = Path(__file__).resolve().parents[1]
SMOKE_DATASETS = {"classification": ["sklearn:iris", "sklearn:wine"],
                  "regression": ["make:friedman1", "make:friedman2"]}


def test_settings_cross_the_axes_and_the_authors_protocols_have_no_fine_tuning_axis():
    all_ = verdict.settings()
    assert len(all_) == 12 and len({s.label for s in all_}) == 12
    assert {s.amount for s in all_} == {0.3, 0.5, 0.7}
    for a in verdict.AMOUNTS:
        here = [s for s in all_ if s.amount == a]
        assert [(s.protocol, s.fine_tune_epochs) for s in here] == [
            ("companion", 0), ("companion", 3), ("authors-honest", None), ("authors", None)]
    assert verdict.Setting("authors", None, 0.3).label == "authors · ft n/a · 0.3"
    with pytest.raises(ValueError, match="unknown protocol 'author'"):
        verdict.settings(protocols=["author"])
    with pytest.raises(ValueError, match="fractions in \\(0, 1\\), got 1.5"):
        verdict.settings(amounts=[1.5])


def test_the_subset_follows_its_rule():
    names = STANDARD_PMLB["classification"]
    n = verdict.SIZES["standard"]["n"]["classification"]
    expected = tuple(names[round(i * (len(names) - 1) / (n - 1))] for i in range(n))
    assert verdict.subset("classification", "standard") == expected
    assert expected[0] == names[0] and expected[-1] == names[-1]  # smallest and largest by rows
    quick = grid_spec("regression", "quick").datasets
    assert verdict.subset("regression", "quick", 3) == (quick[0], quick[2], quick[4])
    assert verdict.subset("regression", "quick") == (quick[0], quick[-1])
    assert verdict.subset("classification", "smoke") == ("sklearn:iris",)  # n >= N: all of them
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        verdict.subset("regression", "quick", 1)
    assert set(verdict.SIZES) == set(PROFILES)


def test_a_setting_is_the_profiles_grid_with_the_settings_values():
    s = verdict.Setting("companion", 0, 0.7)
    spec = verdict.setting_spec("classification", "quick", s)
    assert (spec.protocol, spec.fine_tune_epochs, spec.amount, spec.sweep_methods) == ("companion", 0, 0.7, ())
    assert spec.datasets == verdict.subset("classification", "quick")
    assert spec.seeds == verdict.SIZES["quick"]["seeds"]
    assert spec.rounds == verdict.SIZES["quick"]["overrides"]["rounds"]
    assert spec.methods == grid_spec("classification", "quick").methods
    honest = verdict.setting_spec("classification", "quick", verdict.Setting("authors-honest", None, 0.7))
    # the classifiers do not depend on the amount or fine-tuning: one run per protocol
    keys = lambda sp, kind: {r["key"] for r in plan_runs(sp) if r["kind"] == kind}  # noqa: E731
    other = verdict.setting_spec("classification", "quick", verdict.Setting("companion", 3, 0.3))
    assert keys(spec, "classifier") == keys(other, "classifier")
    assert not keys(spec, "prune") & keys(other, "prune")
    assert not keys(spec, "classifier") & keys(honest, "classifier")  # the protocol is in every key
    with pytest.raises(ValueError, match="setting must be a Setting"):
        verdict.setting_spec("classification", "quick", "companion")
    assert verdict.default_store("quick").parts[-3:] == ("results", "quick", "verdict")


@pytest.fixture(scope="module")
def smoke_matrix(tmp_path_factory):
    store = tmp_path_factory.mktemp("verdict")
    matrix = verdict.settings(amounts=[0.5])
    frames = [verdict.run_matrix("smoke", families=[f], matrix=matrix, results_dir=store, device="cpu",
                                 datasets=SMOKE_DATASETS.get(f)) for f in ("classification", "regression",
                                                                         "deep_learning")]
    return store, matrix, frames


def test_a_smoke_matrix_runs_end_to_end_into_its_own_store(smoke_matrix):
    import pandas as pd

    store, matrix, frames = smoke_matrix
    records = pd.concat(frames, ignore_index=True)
    assert sum(f.attrs["errors"] for f in frames) == 0
    assert sorted(p.name for p in store.iterdir()) == ["classification.jsonl", "deep_learning.jsonl",
                                                       "regression.jsonl"]
    assert set(records["setting"]) == {s.label for s in matrix}
    assert set(records["protocol_name"]) == {"companion", "authors", "authors-honest"}
    authors = records[(records["setting_protocol"] == "authors") & (records["kind"] == "prune")]
    assert len(authors) and (authors["leaky"] == True).all()  # noqa: E712
    board = verdict.verdict_table(records, n_boot=200)
    assert len(board) == len(matrix) * len(claims.CLAIMS)
    assert set(board["verdict"]) <= set(claims.VERDICTS)
    assert list(board["id"].iloc[:10]) == list(claims.CLAIMS)
    # C1 is decided (two datasets per family) and C10 gets a verdict under every protocol
    assert (board.loc[board["id"] == "C10", "verdict"] != "not enough data").all()
    # the same records through the scoreboard directly give the same verdicts
    one = records[(records["setting"] == matrix[0].label) & (records["status"] == "ok")]
    direct = claims.scoreboard(verdict.comparisons_of(one), costs=verdict._costs(one), n_boot=200)
    assert list(board[board["setting"] == matrix[0].label]["verdict"]) == list(direct["verdict"])
    # companion without fine-tuning == the no-ft score recorded by the fine-tuned runs
    comp = records[(records["setting_protocol"] == "companion") & (records["kind"] == "prune")]
    a = comp[comp["setting_fine_tune"] == "0"].set_index(["dataset", "method"])["metric_after"]
    b = comp[comp["setting_fine_tune"] == "3"].set_index(["dataset", "method"])["score_no_ft"]
    assert len(a) and (a - b.loc[a.index]).abs().max() < 1e-9
    with pytest.raises(ValueError, match="no 'setting' column"):
        verdict.verdict_table(records.drop(columns="setting"))


def test_the_verdict_notebook_runs_on_a_smoke_store(smoke_matrix, tmp_path):
    store, _, _ = smoke_matrix
    source = REPO / "notebooks" / "verdict_matrix.ipynb"
    params = pm.inspect_notebook(str(source))
    assert {"profile", "verdict_dir", "amounts", "datasets"} <= set(params) and "results_dir" not in params
    out = tmp_path / "verdict_matrix.ipynb"
    pm.execute_notebook(str(source), str(out), parameters={
        "profile": "smoke", "verdict_dir": str(store), "device": "cpu", "amounts": [0.5],
        "datasets": SMOKE_DATASETS, "n_boot": 200}, kernel_name="python3", cwd=str(source.parent),
        progress_bar=False)
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs)
    assert " 0 computed now" in text  # the store was complete: nothing recomputed
    glued = {o.metadata["scrapbook"]["name"] for o in outputs if "scrapbook" in o.get("metadata", {})}
    quoted = {k for c in nb.cells if c.cell_type == "markdown" for k in re.findall(r"\{glue:text\}`([^`:]+)`",
                                                                                   c.source)}
    assert quoted and quoted <= glued
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 1  # the heatmap
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "companion · ft 3 · 0.5" in html and "authors · ft n/a · 0.5" in html  # the searchable table
    src = json.loads(source.read_text())
    assert src["cells"][0]["id"] == "install-mabprune"
    assert all(not c.get("outputs") for c in src["cells"] if c["cell_type"] == "code")


def test_the_book_keeps_a_complete_matrix_and_falls_back_to_quick_for_an_incomplete_standard_one(
        tmp_path, monkeypatch):
    from mabprune.study import profiles

    smoke = PROFILES["smoke"]  # stands in for standard: its matrix takes seconds
    monkeypatch.setitem(profiles.PROFILES, "standard", profiles.Profile(
        "standard", smoke.rule, smoke.datasets, smoke.seeds, smoke.settings, smoke.training))
    matrix = [verdict.Setting("companion", 3, 0.5)]
    store = tmp_path / "verdict"
    empty = verdict.book_matrix_profiles({"classification": "standard", "regression": "smoke"}, matrix=matrix,
                                         verdict_dir=store)
    assert empty["classification"]["used"] == "quick" and "holds only 0 of its" in empty["classification"]["reason"]
    assert empty["regression"]["used"] == "smoke"  # a build may compute a smoke (or quick) matrix
    assert empty["classification"]["missing"] == empty["classification"]["planned"] > 0
    verdict.run_matrix("standard", families=["classification"], matrix=matrix, results_dir=store, device="cpu")
    done = verdict.book_matrix_profiles({"classification": "standard"}, matrix=matrix, verdict_dir=store)
    assert done["classification"] == {**done["classification"], "used": "standard", "missing": 0}
    assert verdict.missing_matrix_runs("classification", "standard", matrix=matrix, results_dir=store) == []
    path = store / "classification.jsonl"
    rows = path.read_text().splitlines(keepends=True)
    path.write_text("".join(rows[:-1]))  # one run missing: the book does not compute the rest
    again = verdict.book_matrix_profiles({"classification": "standard"}, matrix=matrix, verdict_dir=store)
    assert again["classification"]["used"] == "quick" and again["classification"]["missing"] == 1
    with pytest.raises(ValueError, match="fallback must be a profile a build may compute"):
        verdict.book_matrix_profiles({"classification": "standard"}, fallback="standard", verdict_dir=store)
    with pytest.raises(ValueError, match="unknown profile 'medium'"):
        verdict.book_matrix_profiles({"classification": "medium"}, verdict_dir=store)


def test_a_verdict_table_on_families_of_different_profiles(smoke_matrix, tmp_path):
    """Tabular families at smoke, deep learning at quick (trimmed): each family is ranked on its own
    records and the claims that span the families (C1, C10) see all three."""
    import pandas as pd

    _, matrix, frames = smoke_matrix
    two = [s for s in matrix if s.protocol in ("companion", "authors-honest") and s.fine_tune_epochs != 0]
    deep = verdict.run_matrix("quick", families=["deep_learning"], matrix=two, results_dir=tmp_path, device="cpu",
                              datasets=["synthetic:parity", "synthetic:modsum"], epochs=2, rounds=5, max_rows=300,
                              methods=["ucb1", "thompson", "magnitude", "none", "random"])
    assert deep.attrs["errors"] == 0
    records = pd.concat([frames[0], frames[1], deep], ignore_index=True)
    assert set(records.loc[records["family"] == "deep_learning", "profile"]) == {"quick"}
    assert set(records.loc[records["family"] != "deep_learning", "profile"]) == {"smoke"}
    board = verdict.verdict_table(records, n_boot=200).set_index(["setting", "id"])
    label = two[0].label
    # Two deep policies at quick (smoke's deep grid has one): C7 is decided on the quick records.
    assert "/2 policies significantly better than none" in board.loc[(label, "C7"), "evidence"]
    c1 = board.loc[(label, "C1"), "evidence"]
    assert "tabular_classification: among its" in c1 and "deep_learning: among its 5 network methods" in c1
    # N = 2 datasets: no rule of Holm-corrected or planned Wilcoxon tests can pass; the cell says so.
    assert board.loc[(label, "C7"), "verdict"] == "cannot decide"
    assert board.loc[(label, "C7"), "evidence"].startswith("cannot decide at N = 2: ")
    assert all(f in board.loc[(label, "C10"), "evidence"] for f in ("tabular_classification", "deep_learning"))
    one = records[(records["setting"] == label) & (records["status"] == "ok")]
    direct = claims.scoreboard(verdict.comparisons_of(one), costs=verdict._costs(one), n_boot=200)
    assert list(board.loc[label, "verdict"]) == list(direct["verdict"])


def test_the_verdict_notebook_takes_the_books_profiles(smoke_matrix, tmp_path):
    store, _, _ = smoke_matrix
    source = REPO / "notebooks" / "verdict_matrix.ipynb"
    assert "profiles" in pm.inspect_notebook(str(source))
    out = tmp_path / "verdict_matrix.ipynb"
    pm.execute_notebook(str(source), str(out), parameters={
        "profiles": dict.fromkeys(("classification", "regression", "deep_learning"), "smoke"),
        "verdict_dir": str(store), "device": "cpu", "amounts": [0.5], "datasets": SMOKE_DATASETS, "n_boot": 200},
        kernel_name="python3", cwd=str(source.parent), progress_bar=False)
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert " 0 computed now" in "".join(o.get("text", "") for o in outputs)  # complete: kept, not recomputed
    glued = {o.metadata["scrapbook"]["name"]: o.data for o in outputs if "scrapbook" in o.get("metadata", {})}
    text = {k: next(iter(v.values())) for k, v in glued.items()}
    assert "smoke" in text["verdict_profile"] and "Every family comes from the same profile" in \
        text["verdict_profile_mix"]
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "why this profile" in html and "the smoke matrix store holds all" in html
    with pytest.raises(pm.PapermillExecutionError, match="unknown profile 'medium' for regression"):
        pm.execute_notebook(str(source), str(tmp_path / "bad.ipynb"), parameters={
            "profiles": {"regression": "medium"}, "verdict_dir": str(store)}, kernel_name="python3",
            cwd=str(source.parent), progress_bar=False)
