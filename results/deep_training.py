"""Train each standard deep-learning network once (seed 0) and record its accuracy and time.

Writes ``results/deep_training.json``: per task the model, the validation and test accuracy
before pruning, the training seconds, the rows, and the machine. The networks go to the
network cache (:func:`mabprune.deep.cache_dir`), where the standard grid finds them again.

Run from the repository root: ``MABPRUNE_DATA=../shared/data python results/deep_training.py [task ...]``.
"""

import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

from mabprune import deep, models

torch.set_num_threads(1)
TASKS = sys.argv[1:] or [
    "lenet@vision:mnist", "siamese@vision:mnist", "hrnn@vision:mnist", "resnet20@vision:mnist",
    "text_cnn@text:sst2", "lstm@text:sst2", "bilstm@text:sst2", "transformer@text:sst2", "mlp@text:ag_news",
    *(f"memn2n@babi10k:qa{t}" for t in (1, 4, 11, 12, 13, 15, 20)),
]
out = Path(__file__).with_name("deep_training.json")
results = json.loads(out.read_text()) if out.exists() else {}
for task in TASKS:
    r = deep.recipe(task, "standard")
    t0 = time.perf_counter()
    ds = deep.load_task(task, size="standard", seed=0, max_rows=r["max_rows"])
    load_s = time.perf_counter() - t0
    model, info = deep.train_network(task, ds, r, seed=0, data_params=deep.data_params(0.2, 0.2, r["max_rows"]))
    test = models.evaluate(model, ds.X_test, ds.y_test)
    results[task] = {**info, "test_accuracy_before": test, "load_s": load_s, "recipe": r,
                     "n_train": len(ds.y_train), "n_val": len(ds.y_val), "n_test": len(ds.y_test),
                     "machine": f"{platform.node()} ({os.cpu_count()} CPUs, 1 torch thread, shared)"}
    print(f"{task:28s} val {info['val_accuracy_before']:.3f} test {test:.3f} train {info['network_train_time_s']:.0f}s"
          f"{' (cached)' if info['cache_hit'] else ''}", flush=True)
    out.write_text(json.dumps(results, indent=1, default=list) + "\n")
