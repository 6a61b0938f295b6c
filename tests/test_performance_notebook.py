"""The benchmark's JSON and the performance chapter that reads it stay in step.

The benchmark runs here on tiny models (speed is never asserted), writes its JSON, and the
notebook executes on it and on a record of the older format (no bounds, no end to end)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import nbformat
import papermill as pm
import torch

from mabprune.models import mlp, small_cnn

REPO = Path(__file__).resolve().parents[1]


def _benchmark():
    spec = importlib.util.spec_from_file_location("arm_throughput", REPO / "benchmarks" / "arm_throughput.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_json_feeds_the_performance_notebook(tmp_path):
    torch.set_num_threads(1)
    bench = _benchmark()
    g = torch.Generator().manual_seed(0)
    tiny = [("mlp-tiny", mlp(12, 4, hidden=(24, 16)), torch.randn(32, 12, generator=g),
             torch.randint(0, 4, (32,), generator=g), None),
            ("cnn-tiny", small_cnn((1, 8, 8), 3, channels=(3, 4), hidden=6), torch.randn(32, 1, 8, 8, generator=g),
             torch.randint(0, 3, (32,), generator=g), 2)]
    report = bench.run("cpu", 1, None, 4, model_list=tiny,
                       e2e={"sizes": (12, 24, 16, 4), "n": 64, "batch_size": 32})
    assert report["max_rel_diff"] < 1e-5
    layers = {(b["model"], b["layer"]) for b in report["bounds"]}
    assert ("mlp-tiny", "all") in layers and ("mlp-tiny", "0") in layers and ("cnn-tiny", "all") in layers
    for b in report["bounds"]:
        assert b["bound_ratio"] > 1 and abs(b["quotient"] - b["measured_ratio"] / b["bound_ratio"]) < 1e-12
    e2e = report["end_to_end"]
    assert e2e["same_removal"] and e2e["naive"]["pulls"] == e2e["batched"]["pulls"] > 0
    (tmp_path / "arm_throughput-cpu-test.json").write_text(json.dumps(report))
    old = {k: report[k] for k in ("machine", "torch", "device", "results", "ratios", "max_abs_diff", "max_rel_diff")}
    old["timestamp"] = "2026-01-01T00:00:00+00:00"
    (tmp_path / "arm_throughput-cpu-old.json").write_text(json.dumps(old))

    source = REPO / "notebooks" / "performance.ipynb"
    out = tmp_path / "performance.ipynb"
    pm.execute_notebook(str(source), str(out), parameters={"benchmarks_dir": str(tmp_path)},
                        kernel_name="python3", cwd=str(source.parent), progress_bar=False)
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    glued = {o.metadata["scrapbook"]["name"]: o for o in outputs if "scrapbook" in o.get("metadata", {})}
    quoted = {k for c in nb.cells if c.cell_type == "markdown" for k in re.findall(r"\{glue:text\}`([^`:]+)`", c.source)}
    assert quoted and quoted <= set(glued)
    text = json.dumps([o.get("data", {}) for o in outputs])
    assert "bound_ratio" in text and "naive / batched" in text   # the bound and end-to-end tables were shown
    assert f"{e2e['ratio']:,.1f}×" in str(glued["perf_e2e_cpu"].get("data", {}))
