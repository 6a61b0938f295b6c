"""Profile the head fast path (first-layer arms of the benchmark MLP) on one thread.

Times one sweep over the 1,024 first-layer arms of the MLP 784-1024-1024-10 (mini-batch 256,
the benchmark's model and data) with ``time.process_time`` and breaks it down with cProfile,
so that the GEMMs and the sign-flip corrections can be told apart.

Usage::

    python benchmarks/profile_head.py [--repeats 5] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from arm_throughput import models  # noqa: E402

from mabprune.arms import find_arms  # noqa: E402
from mabprune.engine import make_engine  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print the cProfile breakdown of one sweep")
    args = parser.parse_args()
    torch.set_num_threads(1)
    name, model, X, y, _ = models(resnet=False)[0]
    model.eval()
    arms = find_arms(model, X[:2])
    ids = np.arange(arms.layers[0].n_units)
    engine = make_engine("batched", model, arms)
    engine.pull(ids[:8], X, y)
    times = []
    for _ in range(args.repeats):
        t0 = time.process_time()
        engine.pull(ids, X, y)
        times.append(time.process_time() - t0)
    print(f"{name} first layer, {len(ids)} arms: best {min(times):.3f} s CPU, median {np.median(times):.3f} s "
          f"({len(ids) / min(times):.0f} pulls/s); load {os.getloadavg()}")
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        engine.pull(ids, X, y)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
