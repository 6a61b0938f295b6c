"""Train the standard deep-learning networks and record their accuracy and time, per seed.

Writes ``results/deep_training.json``: per task the model, the validation and test accuracy
before pruning, the training seconds, the rows, and the machine, for seed 0 at the top level
(what ``results/deep_budget.py`` reads), and under ``seeds`` one entry per seed trained with
``mean`` and ``range`` (max - min) of the accuracies over them. The networks go to the network
cache (:func:`mabprune.study.deep_tasks.cache_dir`), where the standard grid finds them again.

Run from the repository root: ``MABPRUNE_DATA=../shared/data python results/deep_training.py
[--seeds 0,1,2] [task ...]`` (default: seed 0, every standard task).
"""

import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from mabprune import models
from mabprune.study import deep_tasks

torch.set_num_threads(1)
DEFAULT_TASKS = [
    "lenet@vision:mnist", "siamese@vision:mnist", "hrnn@vision:mnist", "resnet20@vision:mnist",
    "text_cnn@text:sst2", "lstm@text:sst2", "bilstm@text:sst2", "transformer@text:sst2", "mlp@text:ag_news",
    *(f"memn2n@babi10k:qa{t}" for t in (1, 4, 11, 12, 13, 15, 20)),
]
SEED_FIELDS = ("val_accuracy_before", "test_accuracy_before", "train_accuracy_before", "network_train_time_s",
               "cache_hit", "loadavg_start_end")


def train(task: str, seed: int) -> dict:
    """Train (or reload) the standard network of ``task`` at ``seed``; its accuracies and cost."""
    r = deep_tasks.recipe(task, "standard")
    t0 = time.perf_counter()
    ds = deep_tasks.load_task(task, size="standard", seed=seed, max_rows=r["max_rows"])
    load_s = time.perf_counter() - t0
    load_start = Path("/proc/loadavg").read_text().split()[:3]
    model, info = deep_tasks.train_network(task, ds, r, seed=seed, data_params=deep_tasks.data_params(0.2, 0.2, r["max_rows"]))
    return {**info, "test_accuracy_before": models.evaluate(model, ds.X_test, ds.y_test), "load_s": load_s,
            "recipe": r, "n_train": len(ds.y_train), "n_val": len(ds.y_val), "n_test": len(ds.y_test),
            "loadavg_start_end": [load_start, Path("/proc/loadavg").read_text().split()[:3]],
            "machine": f"{platform.node()} ({os.cpu_count()} CPUs, 1 torch thread, shared)"}


def summarise(entry: dict) -> None:
    """``mean`` and ``range`` of the accuracies over the seeds of ``entry["seeds"]``, in place."""
    seeds = entry["seeds"]
    for field in ("val_accuracy_before", "test_accuracy_before"):
        values = np.array([s[field] for s in seeds.values()], float)
        entry[f"{field}_over_seeds"] = {"seeds": sorted(int(k) for k in seeds), "mean": float(values.mean()),
                                        "range": float(values.max() - values.min()),
                                        "min": float(values.min()), "max": float(values.max())}


def main(argv: list[str]) -> None:
    seeds = [0]
    if argv[:1] == ["--seeds"]:
        seeds, argv = [int(s) for s in argv[1].split(",")], argv[2:]
    if any(s < 0 for s in seeds):
        raise ValueError(f"seeds must be >= 0, got {seeds}")
    tasks = argv or DEFAULT_TASKS
    for task in tasks:
        deep_tasks.parse_task(task)  # a bad name stops here, before any training
    out = Path(__file__).with_name("deep_training.json")
    results = json.loads(out.read_text()) if out.exists() else {}
    for task in tasks:
        for seed in seeds:
            rec = train(task, seed)
            entry = results.setdefault(task, {})
            if seed == 0:  # the top level stays seed 0's record
                entry.update(rec)
            entry.setdefault("seeds", {})
            if "0" not in entry["seeds"] and "val_accuracy_before" in entry and seed != 0:
                entry["seeds"]["0"] = {k: entry[k] for k in SEED_FIELDS if k in entry}  # recorded before seeds
            entry["seeds"][str(seed)] = {k: rec[k] for k in SEED_FIELDS if k in rec}
            summarise(entry)
            print(f"{task:28s} seed {seed} val {rec['val_accuracy_before']:.3f} test {rec['test_accuracy_before']:.3f} "
                  f"train {rec['network_train_time_s']:.0f}s{' (cached)' if rec['cache_hit'] else ''}", flush=True)
            out.write_text(json.dumps(results, indent=1, default=list) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
