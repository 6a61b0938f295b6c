"""The three family notebooks execute under papermill at the smoke profile and write records."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import papermill as pm
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = {"tabular_classification": ("classification", "tabclf"), "tabular_regression": ("regression", "tabreg"),
             "deep_learning": ("deep_learning", "deep")}
PARAMETERS = {"profile", "datasets", "methods", "seeds", "amount", "rounds", "device", "data_root", "results_dir",
              "n_jobs", "cluster"}


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_family_notebook_runs_at_smoke_profile(name, tmp_path):
    family, prefix = NOTEBOOKS[name]
    source = REPO / "notebooks" / f"{name}.ipynb"
    assert set(pm.inspect_notebook(str(source))) == PARAMETERS
    out = tmp_path / f"{name}.ipynb"
    pm.execute_notebook(str(source), str(out), parameters={"profile": "smoke", "results_dir": str(tmp_path / "store"),
                                                          "device": "cpu"},
                        kernel_name="python3", cwd=str(source.parent), progress_bar=False)
    records = [json.loads(x) for x in (tmp_path / "store" / f"{family}.jsonl").read_text().splitlines()]
    assert records and all(r["status"] == "ok" and r["profile"] == "smoke" for r in records)
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    glued = {o.metadata["scrapbook"]["name"] for o in outputs if "scrapbook" in o.get("metadata", {})}
    for key in ("profile", "n_datasets", "n_seeds", "n_methods", "commit", "best_method", "ucb1_rank"):
        assert f"{prefix}_{key}" in glued
    # every glue key the prose quotes was glued by this run (the book builds with warnings as errors)
    quoted = {k for c in nb.cells if c.cell_type == "markdown"
              for k in __import__("re").findall(r"\{glue:text\}`([^`:]+)`", c.source)}
    assert quoted and quoted <= glued
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 3  # rank line, sweep, arms
    # a page computed from a reduced profile says so, in a banner, before its first result (issue 20 §2)
    html = [("".join(o["data"]["text/html"]) if isinstance(o["data"]["text/html"], list) else o["data"]["text/html"])
            for o in outputs if "text/html" in o.get("data", {})]
    assert html and "Reduced profile: smoke" in html[0] and "standard profile runs" in html[0]


def test_a_bad_parameter_stops_the_notebook_before_compute(tmp_path):
    source = REPO / "notebooks" / "tabular_classification.ipynb"
    with pytest.raises(pm.PapermillExecutionError, match=r"unknown method 'ucb'"):
        pm.execute_notebook(str(source), str(tmp_path / "out.ipynb"),
                            parameters={"profile": "smoke", "methods": ["ucb"], "results_dir": str(tmp_path / "s")},
                            kernel_name="python3", cwd=str(source.parent), progress_bar=False)
    assert not (tmp_path / "s").exists()
