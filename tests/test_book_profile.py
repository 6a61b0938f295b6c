"""The book's profile per family (issue 8 §6): the choice on small stores, the command line,
and the parameters ``book-notebooks`` gives each notebook.

The standard profile is stood in for by the smoke one (its grids take seconds), so the real
2,000-run standard files are never read.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mabprune import cli
from mabprune.study import book_profile
from mabprune.study import profiles
from mabprune.study.runner import run_grid
from mabprune.study.plan import plan_runs
from mabprune.study.profiles import GRID_FAMILIES, grid_spec

REPO = Path(__file__).resolve().parents[1]
MIXED = {"classification": "standard", "regression": "standard", "deep_learning": "quick"}


def _smoke_as_standard(mp: pytest.MonkeyPatch) -> None:
    smoke = profiles.PROFILES["smoke"]
    mp.setitem(profiles.PROFILES, "standard", profiles.Profile("standard", smoke.rule, smoke.datasets, smoke.seeds,
                                                               smoke.settings, smoke.training))


@pytest.fixture(scope="module")
def complete_store(tmp_path_factory):
    """A standard store (smoke-sized) that covers every family's standard grid."""
    store = tmp_path_factory.mktemp("standard")
    with pytest.MonkeyPatch.context() as mp:
        _smoke_as_standard(mp)
        for family in GRID_FAMILIES:
            df = run_grid(grid_spec(family, "standard", device="cpu"), results_dir=store, progress=False)
            assert df.attrs["errors"] == 0
    return store


@pytest.fixture
def store(complete_store, tmp_path, monkeypatch):
    """A fresh copy of the complete store, with smoke standing in for standard."""
    _smoke_as_standard(monkeypatch)
    copy = tmp_path / "standard"
    shutil.copytree(complete_store, copy)
    return copy


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _write(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_a_complete_store_gives_standard_for_every_family(store, capsys):
    assert book_profile.book_profiles(store) == dict.fromkeys(GRID_FAMILIES, "standard")
    assert book_profile.standard_coverage("deep_learning", store) == (0, len(plan_runs(grid_spec(
        "deep_learning", "standard"))))
    assert cli.main(["default-profile", "--results-dir", str(store)]) == 0
    assert capsys.readouterr().out.strip() == "standard"
    assert cli.main(["default-profile", "--results-dir", str(store), "--per-family"]) == 0
    assert capsys.readouterr().out.strip() == ("classification=standard regression=standard "
                                               "deep_learning=standard")


def test_an_empty_store_gives_quick_for_every_family(tmp_path, monkeypatch, capsys):
    _smoke_as_standard(monkeypatch)
    assert book_profile.book_profiles(tmp_path / "nothing") == dict.fromkeys(GRID_FAMILIES, "quick")
    assert cli.main(["default-profile", "--results-dir", str(tmp_path), "--per-family"]) == 0
    assert capsys.readouterr().out.strip() == "classification=quick regression=quick deep_learning=quick"


def test_one_missing_run_makes_only_its_family_quick(store, capsys):
    path = store / "regression.jsonl"
    rows = _lines(path)
    _write(path, rows[:-1])
    assert book_profile.book_profiles(store) == {"classification": "standard", "regression": "quick",
                                                 "deep_learning": "standard"}
    assert book_profile.standard_coverage("regression", store) == (1, len(rows))
    # Scripts that read one word still get quick unless every family is covered.
    assert cli.main(["default-profile", "--results-dir", str(store)]) == 0
    assert cli.main(["default-profile", "--results-dir", str(store), "--per-family"]) == 0
    assert capsys.readouterr().out.split("\n")[:2] == [
        "quick", "classification=standard regression=quick deep_learning=standard"]


def test_one_error_record_makes_its_family_quick(store):
    path = store / "deep_learning.jsonl"
    rows = _lines(path)
    rows[0] = {**rows[0], "status": "error: RuntimeError: out of memory", "metric_after": None}
    _write(path, rows)
    assert book_profile.book_profiles(store)["deep_learning"] == "quick"
    assert book_profile.book_profiles(store)["classification"] == "standard"
    notes = book_profile.profile_notes(book_profile.book_profiles(store), store)
    assert notes["deep_learning"].startswith(f"quick: the standard store holds {len(rows) - 1} of the "
                                             f"{len(rows)} runs")
    assert notes["classification"].startswith("standard: the standard store holds")


def test_extra_records_of_other_keys_neither_cover_nor_spoil(store):
    # Another setting in the same folder (amount 0.3): its keys are not the grid's.
    run_grid(grid_spec("classification", "standard", amount=0.3, sweep_methods=[], device="cpu"),
             results_dir=store, progress=False)
    assert book_profile.book_profiles(store)["classification"] == "standard"
    # ... and they do not stand in for a missing run of the grid.
    planned = {r["key"] for r in plan_runs(grid_spec("classification", "standard"))}
    path = store / "classification.jsonl"
    rows = _lines(path)
    drop = next(r["key"] for r in rows if r["key"] in planned)
    _write(path, [r for r in rows if r["key"] != drop])
    assert book_profile.standard_coverage("classification", store) == (1, len(planned))
    assert book_profile.book_profiles(store)["classification"] == "quick"


def test_the_deep_learning_note_says_why_in_the_profiles_words(tmp_path):
    notes = book_profile.profile_notes(MIXED, tmp_path)
    gpu = [s for s in profiles.PROFILES["standard"].rule.split(". ") if "GPU" in s]
    if gpu:   # a standard deep grid sized for a GPU: the note says so, in the profile's words
        assert gpu[0].rstrip(".") in notes["deep_learning"]
    else:     # sized for 2 CPU cores since issue 17: nothing to excuse
        assert "GPU" not in notes["deep_learning"] and notes["deep_learning"].startswith("quick: the standard store")
    assert "GPU" not in notes["regression"]
    assert notes["classification"].startswith("standard, as asked, though the standard store holds only 0")
    smoke = book_profile.profile_notes({"regression": "smoke", "deep_learning": "smoke"}, tmp_path)
    n = len(plan_runs(grid_spec("regression", "standard")))
    assert smoke["regression"] == f"smoke, as asked (the standard store holds 0 of the {n:,} runs of its " \
        "standard grid with status ok)."
    assert smoke["deep_learning"].startswith("smoke, as asked") and ("GPU" in smoke["deep_learning"]) == bool(gpu)


def test_profile_strings_and_checks():
    line = book_profile.format_profiles(MIXED)
    assert line == "classification=standard regression=standard deep_learning=quick"
    assert book_profile.parse_profiles(line) == MIXED
    assert book_profile.parse_profiles(line.replace(" ", ",")) == MIXED
    with pytest.raises(ValueError, match="unknown profile 'huge' for deep_learning"):
        book_profile.parse_profiles(line.replace("=quick", "=huge"))
    with pytest.raises(ValueError, match="every family"):
        book_profile.parse_profiles("classification=quick")
    with pytest.raises(ValueError, match="'regression'"):
        book_profile.parse_profiles("regression quick")
    assert book_profile.resolve_profiles(None, "smoke") == dict.fromkeys(GRID_FAMILIES, "smoke")
    with pytest.raises(ValueError, match="unknown family 'images'"):
        book_profile.resolve_profiles({"images": "quick"})
    with pytest.raises(ValueError, match="unknown profile 'medium' for regression"):
        book_profile.resolve_profiles({"regression": "medium"})
    with pytest.raises(ValueError, match="profiles must be None or a dict"):
        book_profile.resolve_profiles("quick")


def _notebook_parameters() -> dict[str, dict]:
    import papermill as pm

    return {p.stem: pm.inspect_notebook(str(p)) for p in sorted((REPO / "notebooks").glob("*.ipynb"))}


def test_book_parameters_of_every_notebook_on_a_mix():
    known = _notebook_parameters()
    got = {name: cli.book_parameters(name, k, MIXED) for name, k in known.items()}
    assert got["tabular_classification"] == {"profile": "standard"}
    assert got["tabular_regression"] == {"profile": "standard"}
    assert got["deep_learning"] == {"profile": "quick"}
    for name in ("statistical_analysis", "verdict_matrix", "authors_tables"):
        assert got[name] == {"profiles": MIXED}, name
    assert got["performance"] == got["environment"] == {}
    # One profile for all: a notebook with a `profiles` parameter still gets the mapping (the verdict
    # matrix then applies the book's fallback rule instead of computing a standard matrix); every
    # other notebook that takes a profile gets it.
    same = dict.fromkeys(GRID_FAMILIES, "standard")
    for name, k in known.items():
        params = cli.book_parameters(name, k, same, data_root="/data")
        if "profiles" in k:
            assert params.get("profiles") == same and "profile" not in params, name
        else:
            assert params.get("profile") == ("standard" if "profile" in k else None) and "profiles" not in params
        assert params.get("data_root") == ("/data" if "data_root" in k else None)
    # A chapter that cannot take a mix, and one store for a mix, are refused.
    with pytest.raises(ValueError, match="takes one profile"):
        cli.book_parameters("old_chapter", {"profile": {}}, MIXED)
    with pytest.raises(ValueError, match="--results-dir names one store"):
        cli.book_parameters("deep_learning", known["deep_learning"], MIXED, results_dir="/tmp/x")


def test_book_notebooks_passes_each_notebook_its_profiles(monkeypatch, tmp_path, capsys):
    calls = []
    monkeypatch.setattr(cli, "_execute", lambda nb, out, params: calls.append((nb.stem, out, params)) or 0)
    monkeypatch.setattr(cli, "book_profiles", lambda *a: dict(MIXED))
    assert cli.main(["book-notebooks", "--profile", "auto", "--output-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "book profiles: classification=standard regression=standard deep_learning=quick" in out
    order = [c[0] for c in calls]
    assert order[:4] == ["tabular_classification", "tabular_regression", "deep_learning", "statistical_analysis"]
    params = {c[0]: c[2] for c in calls}
    assert params["deep_learning"] == {"profile": "quick"}
    assert params["verdict_matrix"] == params["authors_tables"] == {"profiles": MIXED}
    assert all(c[1] == tmp_path / f"{c[0]}.ipynb" for c in calls)
    # --profile quick: everything at quick (make book PROFILE=quick), whatever the records cover.
    calls.clear()
    assert cli.main(["book-notebooks", "--profile", "quick", "--output-dir", str(tmp_path)]) == 0
    quick = dict.fromkeys(GRID_FAMILIES, "quick")
    assert {c[0]: c[2] for c in calls}["statistical_analysis"] == {"profiles": quick}
    assert all(c[2].get("profile", "quick") == "quick" and c[2].get("profiles", quick) == quick for c in calls)
    # --profiles: the line default-profile --per-family prints.
    calls.clear()
    line = "classification=quick regression=standard deep_learning=quick"
    assert cli.main(["book-notebooks", "--profiles", line, "--output-dir", str(tmp_path)]) == 0
    assert {c[0]: c[2] for c in calls}["tabular_regression"] == {"profile": "standard"}


def test_book_notebooks_refuses_bad_choices_before_running_anything(monkeypatch, tmp_path, capsys):
    calls = []
    monkeypatch.setattr(cli, "_execute", lambda *a: calls.append(a) or 0)
    for argv in (["--output-dir", str(tmp_path)], ["--profile", "quick", "--profiles", "x=y"]):
        with pytest.raises(SystemExit) as exc:  # one of --profile and --profiles, not both
            cli.main(["book-notebooks", *argv])
        assert exc.value.code == 2 and "--profile" in capsys.readouterr().err
    assert cli.main(["book-notebooks", "--profiles", "classification=quick", "--output-dir", str(tmp_path)]) == 2
    assert "must name every family" in capsys.readouterr().err
    assert cli.main(["book-notebooks", "--profiles", "classification=quick regression=quick deep_learning=standard",
                     "--results-dir", str(tmp_path), "--output-dir", str(tmp_path)]) == 2
    assert "--results-dir names one store" in capsys.readouterr().err
    assert calls == []


def test_the_makefile_renders_per_family_by_default_and_names_what_it_rendered():
    text = (REPO / "Makefile").read_text()
    assert "PROFILE ?= auto" in text
    assert "book-notebooks --profile $(PROFILE)" in text
    assert "default-profile --per-family" in text and "$(RENDERED)" in text
