"""The deep-learning chapter's "without and with fine-tuning, against the seed-to-seed noise"
section (issue 8): executed with papermill on a smoke store of two seeds, its tables hold both
metrics per task and per method, the noise is computed, and the prose quotes only glued values."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import papermill as pm
import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "notebooks" / "deep_learning.ipynb"
CAPTIONS = {"per_task": "per task: before pruning, and each method without and with fine-tuning",
            "per_method": "per method: mean over tasks of the per-task mean over seeds",
            "noise": "seed-to-seed noise and the range of the methods, over all tasks",
            "task_noise": "per task: seed-to-seed noise"}


def _execute(tmp_path: Path, **parameters) -> tuple[list[dict], dict[str, str], dict[str, str]]:
    """Run the chapter; return the store's records, each captioned table's HTML and the glued texts."""
    out = tmp_path / "deep_learning.ipynb"
    pm.execute_notebook(str(SOURCE), str(out), parameters={"profile": "smoke", "seeds": [0, 1], "device": "cpu",
                                                           "results_dir": str(tmp_path / "store"), **parameters},
                        kernel_name="python3", cwd=str(SOURCE.parent), progress_bar=False)
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    tables = {}
    for name, caption in CAPTIONS.items():
        found = [h for h in html if caption in h]
        assert len(found) == 1, f"table {name!r} ({caption!r}) not rendered once"
        tables[name] = found[0]
    glued = {o.metadata["scrapbook"]["name"]: next(v for k, v in o["data"].items() if k.endswith("text/plain"))
             .strip("'\"") for o in outputs if "scrapbook" in o.get("metadata", {})}  # papermill-prefixed mime
    quoted = {k for c in nb.cells if c.cell_type == "markdown" for k in re.findall(r"\{glue:text\}`([^`:]+)`", c.source)}
    assert quoted <= set(glued), f"quoted but not glued: {sorted(quoted - set(glued))}"
    records = [json.loads(x) for x in (tmp_path / "store" / "deep_learning.jsonl").read_text().splitlines()]
    assert records and all(r["status"] == "ok" for r in records)
    return records, tables, glued


def _mean(records: list[dict], dataset: str, method: str, field: str) -> float:
    values = [r[field] for r in records if r["kind"] == "prune" and r["dataset"] == dataset and r["method"] == method]
    assert len(values) == 2  # one per seed
    return sum(values) / len(values)


def test_both_metrics_and_the_seed_noise_on_the_smoke_store(tmp_path):
    methods = ["ucb1", "thompson", "magnitude", "none"]  # two policies: their range is defined
    records, tables, glued = _execute(tmp_path, methods=methods)
    for name in ("per_task", "per_method"):
        assert all(tables[name].count(label) >= (len(methods) if name == "per_task" else 1)
                   for label in ("without fine-tuning", "with fine-tuning"))
    for dataset in ("sklearn:digits", "synthetic:parity"):
        assert dataset in tables["per_task"] and dataset in tables["task_noise"]
        for method in methods:  # every cell of both metrics is the mean of the two seeds' records
            for field in ("score_no_ft", "metric_after"):
                assert f"{_mean(records, dataset, method, field):.3f}" in tables["per_task"]
    # `none` removes nothing: without fine-tuning it is the trained network itself
    assert _mean(records, "sklearn:digits", "none", "score_no_ft") == _mean(records, "sklearn:digits", "none",
                                                                           "metric_before")
    for label in ("ft", "no_ft"):  # two seeds: the noise and the ranges are numbers
        for key in ("noise", "policy_range", "method_range"):
            assert re.fullmatch(r"\d+\.\d{3}", glued[f"deep_{key}_{label}"]), (key, label, glued[f"deep_{key}_{label}"])
        assert 0 <= int(glued[f"deep_n_tasks_above_noise_{label}"]) <= 2
    assert glued["deep_n_tasks_noise"] == "2"
    assert "noise_median_std" in tables["noise"] and "noise_per_policy_range" in tables["noise"]


@pytest.mark.slow
def test_deep_tasks_show_the_network_both_metrics_and_the_authors_rows(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("MABPRUNE_CACHE", str(tmp_path / "cache"))
    tasks = ["lenet@vision:mnist", "mlp@text:ag_news"]
    records, tables, glued = _execute(tmp_path, datasets=tasks, data_root=str(shared_data))
    assert "LeNet5" in tables["per_task"] and "MLP" in tables["per_task"]
    for task in tasks:
        before = sum(r["metric_before"] for r in records if r["dataset"] == task and r["method"] == "none") / 2
        assert f"{before:.3f}" in tables["per_task"]
        assert f"{_mean(records, task, 'ucb1', 'metric_after'):.3f}" in tables["per_task"]
    if (REPO.parent / "shared" / "paper" / "authors" / "deep_learning.csv").is_file():
        out = nbformat.read(tmp_path / "deep_learning.ipynb", as_version=4)
        text = json.dumps([o for c in out.cells if c.cell_type == "code" for o in c.outputs])
        assert "LeCun (MNIST)" in text and "MLP (Reuters)" in text
        assert "ours: UCB1 (ft)" in text and "ours: magnitude (no ft)" in text
