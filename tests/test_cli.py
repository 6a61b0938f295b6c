"""The ``mabprune`` command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from mabprune import cli, profiles
from mabprune.experiments import run_grid
from mabprune.profiles import GRID_FAMILIES, grid_spec

REPO = Path(__file__).resolve().parents[1]


def test_datasets_lists_the_registry_and_what_is_present(capsys, tmp_path):
    assert cli.main(["datasets", "--family", "classification", "--data-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"data root: {tmp_path}" in out
    assert "sklearn:iris" in out and "present" in out
    assert "pmlb:" not in out or "missing" in out  # file-based sets are listed, marked missing here


def test_datasets_on_the_mirror(capsys, shared_data):
    assert cli.main(["datasets", "--family", "text", "--data-root", str(shared_data), "--available"]) == 0
    out = capsys.readouterr().out
    assert "text:sst2" in out and "missing" not in out


def test_module_entry_point():
    done = subprocess.run([sys.executable, "-m", "mabprune", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "book-notebooks" in done.stdout


def test_run_with_a_bad_parameter_fails_with_its_message(capsys, tmp_path):
    code = cli.main(["run", str(REPO / "notebooks" / "tabular_classification.ipynb"), "--profile", "smoke",
                     "-p", "amount", "1.5", "-p", "results_dir", str(tmp_path / "store"),
                     "--output", str(tmp_path / "out.ipynb")])
    err = capsys.readouterr().err
    assert code == 1
    assert "amount must be a fraction in (0, 1), got 1.5" in err and "cell" in err
    assert not (tmp_path / "store").exists()


def test_run_rejects_an_unknown_parameter_name(capsys, tmp_path):
    code = cli.main(["run", str(REPO / "notebooks" / "tabular_regression.ipynb"), "-p", "amonut", "0.3",
                     "--output", str(tmp_path / "out.ipynb")])
    assert code == 2 and "unknown parameter(s) amonut" in capsys.readouterr().err
    assert not (tmp_path / "out.ipynb").exists()


def _echo_notebook(path: Path, fail: bool = False) -> None:
    cells = [new_code_cell('profile = "x"\nresults_dir = None', metadata={"tags": ["parameters"]}),
             new_code_cell("import json, pathlib\n"
                           "pathlib.Path(results_dir, 'seen.json').write_text(json.dumps(profile))"
                           + ("\nraise RuntimeError('broken chapter')" if fail else ""))]
    nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                            "language": "python"}})
    nbformat.write(nb, path)


def test_book_notebooks_passes_profile_and_results_dir_and_stops_on_error(capsys, tmp_path):
    src, out, store = tmp_path / "nbs", tmp_path / "executed", tmp_path / "store"
    src.mkdir()
    store.mkdir()
    _echo_notebook(src / "tabular_classification.ipynb")
    args = ["book-notebooks", "--profile", "smoke", "--results-dir", str(store), "--notebooks-dir", str(src),
            "--output-dir", str(out)]
    assert cli.main(args) == 0
    assert json.loads((store / "seen.json").read_text()) == "smoke"
    assert (out / "tabular_classification.ipynb").exists()
    _echo_notebook(src / "statistical_analysis.ipynb", fail=True)
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    assert "statistical_analysis.ipynb failed in cell" in err and "broken chapter" in err


def test_default_profile(capsys, tmp_path, monkeypatch):
    assert cli.main(["default-profile", "--results-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == "quick"
    # Stand the standard profile in with the smoke one, run its grids, and the answer flips.
    smoke = profiles.PROFILES["smoke"]
    monkeypatch.setitem(profiles.PROFILES, "standard", profiles.Profile("standard", smoke.rule, smoke.datasets,
                                                                        smoke.seeds, smoke.settings, smoke.training))
    for family in GRID_FAMILIES:
        run_grid(grid_spec(family, "standard"), results_dir=tmp_path, progress=False)
    assert cli.main(["default-profile", "--results-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == "standard"
    path = tmp_path / "regression.jsonl"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-1]))  # one run missing
    assert cli.main(["default-profile", "--results-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == "quick"


@pytest.mark.parametrize("argv", [["run"], ["book-notebooks"], ["datasets", "--family", "tabular"]])
def test_usage_errors(argv):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
