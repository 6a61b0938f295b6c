"""Where ``prune(mlp, data, method="hedge", rounds=4, engine="batched")`` spends its time.

The benchmark's end-to-end case (MLP 784-1024-1024-10, 512 reward samples, mini-batch 256)
on one torch thread: the wall time, the time inside ``BatchedEngine.pull`` (wrapped with a
timer), the rest of the pulling phase (``pull_time_s`` minus the engine), everything outside
the pulling phase, and a cProfile listing of the largest cumulative entries.

Usage::

    python benchmarks/profile_prune.py [--repeats 3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from mabprune import engine as engine_mod, prune  # noqa: E402
from mabprune.models import mlp  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--engine", default="batched")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    model = mlp(784, 10, hidden=(1024, 1024))
    X, y = torch.randn(512, 784, generator=g), torch.randint(0, 10, (512,), generator=g)
    spent = [0.0]
    cls = engine_mod.BatchedEngine if args.engine == "batched" else engine_mod.NaiveEngine
    real = cls.pull

    def timed(self, *a, **k):
        t0 = time.perf_counter()
        try:
            return real(self, *a, **k)
        finally:
            spent[0] += time.perf_counter() - t0
    cls.pull = timed
    call = lambda: prune(model, (X, y), method="hedge", rounds=4, batch_size=256, engine=args.engine, seed=0)  # noqa: E731
    call()
    for _ in range(args.repeats):
        spent[0] = 0.0
        t0, c0 = time.perf_counter(), time.process_time()
        result = call()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(f"wall {wall:.3f} s (cpu {cpu:.3f} s): engine.pull {spent[0]:.3f} s, rest of pulling "
              f"{result.pull_time_s - spent[0]:.3f} s, outside pulling {wall - result.pull_time_s:.3f} s; "
              f"{result.pulls} pulls; load {os.getloadavg()[0]:.2f}", flush=True)
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        call()
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(30)


if __name__ == "__main__":
    main()
