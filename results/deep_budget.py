"""The standard deep-learning grid's compute, from measured runs and measured training times.

Two parts, both written to ``results/deep_budget.json``:

1. **Per-run cost** (``python results/deep_budget.py [task ...]``, default one task per model):
   one cell per task with three methods (UCB1, magnitude, none) and no sweep, at the standard
   settings (4 steps, 3 fine-tuning epochs per step, the score without fine-tuning too), in a
   temporary store, from the trained-network cache (trained first when missing). A cell of the
   grid is then estimated as 6 policy runs and the 20 sweep runs of two policies at the UCB1
   time, 4 baselines and the 10 baseline sweep runs at the magnitude time and one `none` run;
   times 3 seeds, summed over the grid's tasks (a model's time stands for its other datasets),
   in ``_grid``.
2. **Training alone** (``_training_budget``, recomputed on every call; ``--summary`` does only
   this and ``_grid``): the seconds to train each network of the standard grid (22 tasks x 3
   seeds), from ``results/deep_training.json`` (seed 0, one thread), against the 60-minute
   budget on 2 cores (7,200 core-seconds), and per model what dominates its cells: training or
   the pruning runs of part 1. A task not in ``deep_training.json`` (KMNIST, MR) takes the
   time of the same model on MNIST / SST-2 scaled by training rows x input length (loaded from
   the data root, ``MABPRUNE_DATA``), and is labelled as scaled.

Run from the repository root with ``MABPRUNE_DATA`` pointing at the data mirror.
"""

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mabprune.study import deep_tasks
from mabprune.study.runner import run_grid
from mabprune.study.profiles import grid_spec

#: 60 minutes on 2 CPU cores, one torch thread per process.
BUDGET_CORE_S = 2 * 3600
DEFAULT_TASKS = ["lenet@vision:mnist", "siamese@vision:mnist", "hrnn@vision:mnist", "resnet20@vision:mnist",
                 "text_cnn@text:sst2", "lstm@text:sst2", "bilstm@text:sst2", "transformer@text:sst2",
                 "mlp@text:ag_news", "memn2n@babi10k:qa1"]
HERE = Path(__file__).parent
OUT, TRAINING = HERE / "deep_budget.json", HERE / "deep_training.json"


def loadavg() -> list[str]:
    return Path("/proc/loadavg").read_text().split()[:3]


def measure(task: str) -> dict:
    """Run one cell of ``task`` (UCB1, magnitude, none; seed 0) and return its timings."""
    spec = grid_spec("deep_learning", "standard", datasets=[task], methods=["ucb1", "magnitude", "none"],
                     sweep_methods=[], seeds=[0])
    load_start, t0 = loadavg(), time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        df = run_grid(spec, results_dir=d, progress=False)
    wall = df.set_index("method")["wall_time_s"].to_dict()
    return {"wall_s": wall, "train_s": float(df["train_time_s"].iloc[0]), "cache_hit": bool(df["cache_hit"].iloc[0]),
            "status": sorted(set(df["status"])), "cell_s_measured": time.perf_counter() - t0,
            "cell_estimate_s": 26 * wall["ucb1"] + 14 * wall["magnitude"] + wall["none"],
            "loadavg_start_end": [load_start, loadavg()],
            "machine": f"{platform.node()} ({os.cpu_count()} CPUs, 1 torch thread, shared)"}


def _work(task: str, cache: dict) -> float:
    """Training rows x input length of ``task``'s standard data (seed 0): what an epoch costs."""
    model, dataset = deep_tasks.parse_task(task)
    key = (deep_tasks.DEEP_MODELS[model][0], dataset, deep_tasks.recipe(task, "standard")["max_rows"])  # same arrays
    if key not in cache:
        ds = deep_tasks.load_task(task, size="standard", seed=0, max_rows=key[2])
        cache[key] = float(len(ds.y_train) * np.prod(ds.X_train.shape[1:]))
    return cache[key]


def training_budget(trained: dict, per_run: dict, tasks: list[str], seeds: int) -> dict:
    """Training seconds of the grid's networks against the budget, and per model what dominates."""
    rows, work = {}, {}
    for task in tasks:
        model = deep_tasks.parse_task(task)[0]
        if task in trained:
            rows[task] = {"model": model, "train_s": trained[task]["network_train_time_s"], "source": "measured"}
            continue
        ref = next((t for t in trained if deep_tasks.parse_task(t)[0] == model), None)
        if ref is None:
            rows[task] = {"model": model, "train_s": None, "source": "no measured network of this model"}
            continue
        scale = _work(task, work) / _work(ref, work)
        rows[task] = {"model": model, "train_s": trained[ref]["network_train_time_s"] * scale,
                      "source": f"scaled from {ref} by training rows x input length ({scale:.3f})"}
    total = seeds * sum(r["train_s"] for r in rows.values() if r["train_s"] is not None)
    models = {}
    for task, r in rows.items():
        m = models.setdefault(r["model"], {"tasks": 0, "training_core_s": 0.0})
        m["tasks"] += 1
        m["training_core_s"] += seeds * (r["train_s"] or 0.0)
    for model, m in models.items():
        m["share_of_training"] = m["training_core_s"] / total
        cell = next((v["cell_estimate_s"] for t, v in per_run.items() if deep_tasks.parse_task(t)[0] == model), None)
        m["pruning_runs_core_s"] = None if cell is None else seeds * m["tasks"] * cell
        m["dominant"] = ("pruning runs not measured" if cell is None
                         else "pruning runs" if m["pruning_runs_core_s"] > m["training_core_s"] else "training")
    return {"tasks": len(tasks), "seeds": seeds, "training_core_s": total, "budget_core_s": BUDGET_CORE_S,
            "training_over_budget": total / BUDGET_CORE_S, "per_task": rows,
            "per_model": dict(sorted(models.items(), key=lambda kv: -kv[1]["training_core_s"])),
            # The same network trained twice (there, and here when the cache lacked it): how much load moves it.
            "training_remeasured_s": {t: {"deep_training": trained[t]["network_train_time_s"], "here": v["train_s"],
                                          "loadavg_here": v.get("loadavg_start_end")}
                                      for t, v in per_run.items() if not v["cache_hit"] and t in trained},
            "note": "training times of results/deep_training.json: seed 0, one thread, on the shared 2-core "
                    "machine (its load was not recorded, see training_remeasured_s); seeds 1 and 2 assumed "
                    "to cost the same"}


def main(argv: list[str]) -> None:
    measured = json.loads(OUT.read_text()) if OUT.exists() else {}
    for task in ([] if argv == ["--summary"] else argv or DEFAULT_TASKS):
        measured[task] = measure(task)
        wall = {k: round(v, 1) for k, v in measured[task]["wall_s"].items()}
        print(task, wall, f"cell ~{measured[task]['cell_estimate_s'] / 60:.1f} min", flush=True)
        OUT.write_text(json.dumps(measured, indent=1) + "\n")
    grid = grid_spec("deep_learning", "standard")
    per_run = {t: v for t, v in measured.items() if not t.startswith("_")}
    per_model = {t.split("@")[0]: v["cell_estimate_s"] for t, v in per_run.items()}
    known = [t for t in grid.datasets if t.split("@")[0] in per_model]
    total = sum(per_model[t.split("@")[0]] for t in known) * len(grid.seeds)
    measured["_grid"] = {"tasks": len(grid.datasets), "tasks_estimated": len(known), "seeds": len(grid.seeds),
                         "unmeasured_models": sorted({t.split("@")[0] for t in grid.datasets} - set(per_model)),
                         "one_worker_s_lower_bound": total, "two_workers_s_lower_bound": total / 2}
    trained = json.loads(TRAINING.read_text())
    measured["_training_budget"] = b = training_budget(trained, per_run, list(grid.datasets), len(grid.seeds))
    OUT.write_text(json.dumps(measured, indent=1) + "\n")
    print(f"standard deep_learning grid, {len(known)} of {len(grid.datasets)} tasks: >= {total / 3600:.1f} h on one "
          f"worker, >= {total / 7200:.1f} h on 2")
    print(f"training alone: {b['training_core_s']:,.0f} core-s = {b['training_over_budget']:.2f} x the "
          f"{BUDGET_CORE_S:,} core-s budget")
    for model, m in b["per_model"].items():
        prune = "–" if m["pruning_runs_core_s"] is None else f"{m['pruning_runs_core_s']:,.0f}"
        print(f"  {model:12s} training {m['training_core_s']:8,.0f} core-s ({m['share_of_training']:.0%}), "
              f"pruning runs {prune:>9s} core-s: {m['dominant']}")


if __name__ == "__main__":
    main(sys.argv[1:])
