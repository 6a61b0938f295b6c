"""notebooks/authors_tables.ipynb under papermill: the authors' tables re-analysed, or a clear
message when they are absent; our records set beside theirs where both have a dataset."""

from __future__ import annotations

import ast
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as ss

pm = pytest.importorskip("papermill")

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "authors_tables.ipynb"
AUTHORS = REPO / "book" / "authors"   # kept in the repository: every clone shows the chapter
MIRROR = REPO.parent / "shared" / "paper" / "authors"
GLUE_PREFIX = "application/papermill.record/"
needs_tables = pytest.mark.skipif(not (AUTHORS / "deep_learning.csv").is_file(),
                                  reason=f"the authors' tables are not in {AUTHORS}")


@pytest.mark.parametrize("name", ["deep_learning.csv", "classification.csv", "regression.csv"])
def test_the_repositorys_copy_of_the_authors_tables_is_the_mirrors(name):
    assert (AUTHORS / name).is_file(), f"{name} must be kept in book/authors/"
    if not (MIRROR / name).is_file():
        pytest.skip(f"no reference mirror at {MIRROR}")
    assert (AUTHORS / name).read_bytes() == (MIRROR / name).read_bytes()


def test_a_clone_without_the_mirror_finds_the_tables(tmp_path, monkeypatch):
    monkeypatch.delenv("MABPRUNE_PAPER", raising=False)
    nb = _execute(tmp_path, results_dir=str(tmp_path / "no_results"))
    assert _glued(nb)["auth_n_tables"] == "3"


def _execute(tmp: Path, **parameters) -> dict:
    out = tmp / "executed.ipynb"
    pm.execute_notebook(str(NOTEBOOK), str(out), parameters=parameters, kernel_name="python3",
                        cwd=str(NOTEBOOK.parent), progress_bar=False)
    return json.loads(out.read_text())


def _glued(nb: dict) -> dict[str, str]:
    found = {}
    for cell in nb["cells"]:
        for output in cell.get("outputs", []):
            scrap = output.get("metadata", {}).get("scrapbook")
            if scrap:
                assert scrap["name"] not in found, f"glued twice: {scrap['name']}"
                found[scrap["name"]] = ast.literal_eval(output["data"][GLUE_PREFIX + "text/plain"])
    return found


def _quoted(nb: dict) -> set[str]:
    return {k for c in nb["cells"] if c["cell_type"] == "markdown"
            for k in re.findall(r"\{glue:text\}`([^`:]+)`", "".join(c["source"]))}


def _outputs(nb: dict) -> str:
    return json.dumps([c.get("outputs", []) for c in nb["cells"]], ensure_ascii=False)


def _iris_store(folder: Path) -> None:
    """Our records for pmlb:iris, three seeds, as the experiment notebooks write them."""
    folder.mkdir(parents=True)
    rows = [{"key": f"pmlb:iris|{m}|{s}", "dataset": "pmlb:iris", "method": m, "kind": "prune",
             "seed": s, "amount": 0.5, "status": "ok", "family": "classification",
             "metric_name": "accuracy", "metric_after": 0.9 + 0.01 * s, "metric_before": 0.95}
            for m in ("ucb1", "none", "random") for s in range(3)]
    (folder / "classification.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_notebook_is_output_free_with_parameters():
    nb = json.loads(NOTEBOOK.read_text())
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")
    assert set(pm.inspect_notebook(str(NOTEBOOK))) == {"paper_dir", "profile", "profiles", "results_dir",
                                                       "alpha"}


@needs_tables
def test_their_statistics_recomputed(tmp_path):
    # The tables are read from a copy, as MABPRUNE_PAPER or paper_dir would point to one.
    paper = tmp_path / "paper"
    shutil.copytree(AUTHORS, paper / "authors")
    _iris_store(tmp_path / "results")
    nb = _execute(tmp_path, paper_dir=str(paper), results_dir=str(tmp_path / "results"))
    g = _glued(nb)
    assert _quoted(nb) <= set(g), sorted(_quoted(nb) - set(g))
    assert "error" not in {o.get("output_type") for c in nb["cells"] for o in c.get("outputs", [])}
    # Their deep-learning table: chi2 = 99.94 (tie-corrected, as they report), CD = 4.03.
    assert (g["auth_dl_n"], g["auth_dl_k"]) == ("14", "11")
    assert g["auth_dl_chi2"] == "99.94" and g["auth_dl_cd"] == "4.03" == g["auth_their_cd"]
    assert g["auth_dl_best"] == "UCB1"
    # q for k = 11 at 0.05 from scipy's studentized range agrees with theirs to 5 decimals.
    q = ss.studentized_range.ppf(0.95, 11, np.inf) / math.sqrt(2)
    assert g["auth_right_q"] == f"{q:.5f}" == "3.21865" and g["auth_q_verdict"] == "right"
    assert g["auth_classification_k"] == "19" and g["auth_regression_best"] == "UCB1"
    assert int(g["auth_deep_learning_tied"]) > int(g["auth_deep_learning_cells"]) / 2
    assert int(g["auth_classification_tied2"]) >= int(g["auth_classification_tied"])
    # Ours beside theirs: IRIS is in both.
    assert g["auth_n_both"] == "1" and g["auth_both"] == "IRIS"
    out = _outputs(nb)
    assert "pmlb:iris" in out and "ours − theirs" in out
    assert "classification without FACE" in out  # the unfinished runs, analysed both ways
    assert sum("image/png" in o.get("data", {}) for c in nb["cells"]
               for o in c.get("outputs", [])) == 3  # a CD diagram per table


def test_missing_tables_are_said_and_the_notebook_still_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("MABPRUNE_PAPER", str(tmp_path / "nowhere"))
    nb = _execute(tmp_path, results_dir=str(tmp_path / "no_results"))
    g = _glued(nb)
    assert _quoted(nb) <= set(g), sorted(_quoted(nb) - set(g))
    assert g["auth_n_tables"] == "0" and g["auth_dl_chi2"] == "n/a"
    assert g["auth_deep_learning_tied"] == "n/a" and g["auth_n_both"] == "0"
    out = _outputs(nb)
    assert "**The authors' tables were not found**" in out
    assert "deep_learning.csv, classification.csv, regression.csv missing" in out
    assert "*No records of ours in `no_results/`*" in out


def test_bad_alpha_fails_fast(tmp_path):
    with pytest.raises(pm.PapermillExecutionError, match="alpha must be a number in"):
        _execute(tmp_path, alpha=2)


@needs_tables
def test_our_records_per_family_at_the_books_profiles(tmp_path):
    # Classification at quick, regression at smoke, in one folder that also holds records of
    # other keys (pmlb:iris, in no profile's grid): each family keeps its profile's runs only.
    from mabprune.study.plan import plan_runs
    from mabprune.study.profiles import grid_spec

    _iris_store(tmp_path / "results")
    chosen = {"classification": "quick", "regression": "smoke", "deep_learning": "smoke"}
    for family in ("classification", "regression"):
        rows = [{"key": r["key"], "dataset": r["dataset"], "method": r["method"], "kind": r["kind"],
                 "seed": r["seed"], "amount": r["amount"], "status": "ok", "family": family,
                 "profile": chosen[family], "metric_after": 0.5} for r in plan_runs(grid_spec(family, chosen[family]))]
        with open(tmp_path / "results" / f"{family}.jsonl", "a") as f:
            f.write("".join(json.dumps(r) + "\n" for r in rows))
    nb = _execute(tmp_path, paper_dir=str(AUTHORS), results_dir=str(tmp_path / "results"), profiles=chosen)
    g = _glued(nb)
    assert _quoted(nb) <= set(g), sorted(_quoted(nb) - set(g))
    assert g["auth_profiles"] == "classification: quick; regression: smoke; deep learning: no records"
    assert g["auth_profile_mix"] == "The families come from different profiles, each at its own scale."
    assert g["auth_n_both"] == "0"  # pmlb:iris is in no grid of these profiles
    assert "read from the folder passed as results_dir (results/)" in _outputs(nb)
    # Read whole (no profiles), the same folder puts IRIS beside theirs.
    nb = _execute(tmp_path, paper_dir=str(AUTHORS), results_dir=str(tmp_path / "results"))
    assert _glued(nb)["auth_n_both"] == "1"
    with pytest.raises(pm.PapermillExecutionError, match="unknown family 'images'"):
        _execute(tmp_path, profiles={"images": "quick"})
