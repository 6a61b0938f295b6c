"""Estimate the standard deep-learning grid's compute from measured runs of each task.

For each task (default: one per model of the standard grid) one cell is run with three methods
(UCB1, magnitude, none) and no sweep, at the standard settings (4 steps, 3 fine-tuning epochs
per step, the score without fine-tuning too), in a temporary store, from the cached network
of ``results/deep_training.py``. A cell of the grid is then estimated as 6 policy runs and the
20 sweep runs of two policies at the UCB1 time, 4 baselines and the 10 baseline sweep runs at the
magnitude time, one `none` run, times 3 seeds; the sum over the grid's tasks (a model's time
stands for its other datasets) is divided by 2 workers. Writes ``results/deep_budget.json``.
"""

import json
import sys
import tempfile
import time
from pathlib import Path

from mabprune.experiments import run_grid
from mabprune.profiles import grid_spec

TASKS = sys.argv[1:] or ["lenet@vision:mnist", "siamese@vision:mnist", "hrnn@vision:mnist", "resnet20@vision:mnist",
                         "text_cnn@text:sst2", "lstm@text:sst2", "bilstm@text:sst2", "transformer@text:sst2",
                         "mlp@text:ag_news", "memn2n@babi10k:qa1"]
out = Path(__file__).with_name("deep_budget.json")
measured = json.loads(out.read_text()) if out.exists() else {}
for task in ([] if TASKS == ["--summary"] else TASKS):
    spec = grid_spec("deep_learning", "standard", datasets=[task], methods=["ucb1", "magnitude", "none"],
                     sweep_methods=[], seeds=[0])
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        df = run_grid(spec, results_dir=d, progress=False)
    wall = df.set_index("method")["wall_time_s"].to_dict()
    measured[task] = {"wall_s": wall, "train_s": float(df["train_time_s"].iloc[0]),
                      "cache_hit": bool(df["cache_hit"].iloc[0]), "status": sorted(set(df["status"])),
                      "cell_s_measured": time.perf_counter() - t0,
                      "cell_estimate_s": 26 * wall["ucb1"] + 14 * wall["magnitude"] + wall["none"]}
    print(task, {k: round(v, 1) for k, v in wall.items()}, f"cell ~{measured[task]['cell_estimate_s'] / 60:.1f} min",
          flush=True)
    out.write_text(json.dumps(measured, indent=1) + "\n")
grid = grid_spec("deep_learning", "standard")
per_model = {t.split("@")[0]: v["cell_estimate_s"] for t, v in measured.items() if not t.startswith("_")}
known = [t for t in grid.datasets if t.split("@")[0] in per_model]
total = sum(per_model[t.split("@")[0]] for t in known) * len(grid.seeds)
measured["_grid"] = {"tasks": len(grid.datasets), "tasks_estimated": len(known), "seeds": len(grid.seeds),
                     "unmeasured_models": sorted({t.split("@")[0] for t in grid.datasets} - set(per_model)),
                     "one_worker_s_lower_bound": total, "two_workers_s_lower_bound": total / 2}
out.write_text(json.dumps(measured, indent=1) + "\n")
print(f"standard deep_learning grid, {len(known)} of {len(grid.datasets)} tasks: >= {total / 3600:.1f} h on one "
      f"worker, >= {total / 7200:.1f} h on 2")
