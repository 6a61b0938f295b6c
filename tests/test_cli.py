"""The ``mabprune`` command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from mabprune import cli
from mabprune.study import profiles
from mabprune.study.runner import run_grid
from mabprune.study.profiles import GRID_FAMILIES, grid_spec

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


@pytest.mark.parametrize("workers", ["0", "-3", "100001", "two"])
def test_plan_rejects_a_bad_worker_count_in_one_short_line(capsys, workers):
    # Regression (issue 22 §4): choices=range(1, 100001) printed all 100,000 allowed values (689 KB).
    with pytest.raises(SystemExit) as exc:
        cli.main(["plan", "--profile", "smoke", "--workers", workers])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and len(err) < 1000
    assert f"argument --workers: must be an integer from 1 to 100000, got {workers!r}" in err


def test_version(capsys):
    from mabprune import __version__

    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"mabprune {__version__}"


def _fake_execute(calls, *, fail_data=False, monkeypatch=None):
    """Stands in for papermill: runs the notebook's grid in-process with the parameters it got."""
    from mabprune.study import cells

    def execute(notebook, output, parameters):
        calls.append((notebook, output, parameters))
        if fail_data:
            monkeypatch.setattr(cells.data, "load", lambda *a, **k: (_ for _ in ()).throw(OSError("no disk")))
        spec = grid_spec("classification", parameters["profile"], amount=parameters.get("amount"))
        run_grid(spec, results_dir=parameters.get("results_dir"), progress=False)
        return 0

    return execute


def test_run_exits_nonzero_naming_the_runs_that_ended_in_an_error(capsys, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(cli, "_execute", _fake_execute(calls, fail_data=True, monkeypatch=monkeypatch))
    code = cli.main(["run", str(REPO / "notebooks" / "tabular_classification.ipynb"), "--profile", "smoke",
                     "-p", "results_dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1
    assert "5 run(s) of the grid ended in an error" in err and "sklearn:iris|ucb1|0|" in err and "no disk" in err


def test_run_with_another_grid_writes_its_own_store_and_its_own_executed_copy(capsys, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(cli, "_execute", _fake_execute(calls))
    monkeypatch.setattr("mabprune.cli.repo_root", lambda: tmp_path)
    code = cli.main(["run", str(REPO / "notebooks" / "tabular_classification.ipynb"), "--profile", "smoke",
                     "-p", "amount", "0.3", "--cluster", "local:2"])
    assert code == 0, capsys.readouterr().err
    _, output, params = calls[0]
    assert output == tmp_path / "runs" / "tabular_classification.ipynb"  # not book/executed/
    assert Path(params["results_dir"]).parent == tmp_path / "results" / "custom"
    assert "amount=0.3" in Path(params["results_dir"]).name and params["cluster"] == "local:2"
    assert not (tmp_path / "results" / "smoke").exists()  # the profile's own store is untouched
    calls.clear()
    assert cli.main(["run", str(REPO / "notebooks" / "tabular_classification.ipynb"), "--profile", "smoke"]) == 0
    assert calls[0][2].get("results_dir") is None  # the profile's grid: the profile's store


def test_run_rejects_a_bad_cluster_address(capsys, tmp_path):
    code = cli.main(["run", str(REPO / "notebooks" / "tabular_classification.ipynb"), "--cluster", "local",
                     "--output", str(tmp_path / "out.ipynb")])
    assert code == 2 and "unknown cluster address 'local'" in capsys.readouterr().err


def test_plan_counts_stored_runs_and_estimates_the_rest(capsys, tmp_path):
    assert cli.main(["plan", "--profile", "smoke", "--family", "classification", "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "smoke/classification: 5 runs" in out and "0 already ok in the store, 5 to compute" in out
    run_grid(grid_spec("classification", "smoke", sweep_methods=[]), results_dir=tmp_path, progress=False)
    assert cli.main(["plan", "--profile", "smoke", "--family", "classification", "--results-dir", str(tmp_path),
                     "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert "3 already ok in the store, 2 to compute" in out
    assert "estimated compute:" in out and "on 2 workers" in out and f"3 ok records of {tmp_path}" in out
