"""A/B timing of the batched engine against a git revision, interleaved in one process.

The package as of ``--ref`` (default ``HEAD``) is extracted with ``git archive`` into a
temporary folder and imported as ``mabprune_ref``; each round then times one sweep of every
case with the reference and with the working tree, alternately, on one torch thread with
``time.process_time``, so that a load on the machine hits both alike. Prints the best and
the median CPU seconds per case (wall seconds with ``--threads`` above 1) and the load average; ``--naive`` also times the naive loop
(on ``--naive-arms`` evenly spaced arms, scaled to the sweep) for the ratio.

Usage::

    python benchmarks/profile_ab.py [--ref HEAD] [--rounds 5] [--cases mlp0,mlp,cnn] [--naive] [--threads 1]
"""

from __future__ import annotations

import argparse
import importlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def load_ref(ref: str, into: Path):
    """The ``mabprune`` package of git revision ``ref``, imported as ``mabprune_ref``."""
    data = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "mabprune"], check=True,
                          capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    (into / "mabprune").rename(into / "mabprune_ref")
    sys.path.insert(0, str(into))
    return importlib.import_module("mabprune_ref.arms"), importlib.import_module("mabprune_ref.engine")


def cases(names):
    """(label, model, X, y, layer index or None) of the benchmark's models."""
    from arm_throughput import models
    mlp, cnn = models(resnet=False)
    out = []
    for name in names:
        if name == "mlp0":
            out.append(("mlp first layer", *mlp[1:4], 0))
        elif name == "mlp1":
            out.append(("mlp second layer", *mlp[1:4], 1))
        elif name == "mlp":
            out.append(("mlp whole sweep", *mlp[1:4], None))
        elif name == "cnn":
            out.append(("cnn whole sweep", *cnn[1:4], None))
        elif name.startswith("cnn") and name[3:].isdigit():
            out.append((f"cnn layer {name[3:]}", *cnn[1:4], int(name[3:])))
        else:
            raise ValueError(f"unknown case {name!r}: use mlp0, mlp1, mlp, cnn or cnn<layer index>")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default="HEAD")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cases", default="mlp0,mlp,cnn")
    parser.add_argument("--naive", action="store_true", help="also time the naive loop (working tree)")
    parser.add_argument("--naive-arms", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads; above 1 the figures are wall seconds (perf_counter), not CPU seconds")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    clock = time.process_time if args.threads == 1 else time.perf_counter
    from mabprune.arms import find_arms
    from mabprune.engine import make_engine
    with tempfile.TemporaryDirectory() as tmp:
        ref_arms, ref_engine = load_ref(args.ref, Path(tmp))
        for label, model, X, y, li in cases(args.cases.split(",")):
            model.eval()
            engines = {}
            for tag, fa, me in (("ref", ref_arms.find_arms, ref_engine.make_engine), ("new", find_arms, make_engine)):
                arms = fa(model, X[:2])
                ids = np.arange(arms.n_arms) if li is None else \
                    np.arange(arms.layers[li].offset, arms.layers[li].offset + arms.layers[li].n_units)
                engines[tag] = (me("batched", model, arms), ids)
            times = {tag: [] for tag in engines}
            results = {}
            for tag, (eng, ids) in engines.items():
                eng.pull(ids[:8], X, y)   # warm-up
            for _ in range(args.rounds):
                for tag, (eng, ids) in engines.items():
                    t0 = clock()
                    results[tag] = eng.pull(ids, X, y)
                    times[tag].append(clock() - t0)
            diff = float(np.abs(results["ref"] - results["new"]).max())
            line = "  ".join(f"{tag} best {min(t):.4f} s median {np.median(t):.4f} s" for tag, t in times.items())
            speed = min(times["ref"]) / min(times["new"])
            print(f"{label:18s} {len(ids):5d} arms  {line}  ref/new {speed:.2f}x  max|ref-new| {diff:.2g}  "
                  f"load {os.getloadavg()[0]:.2f}", flush=True)
            if args.naive:
                arms = find_arms(model, X[:2])
                sub = ids[:: max(1, len(ids) // args.naive_arms)]
                naive = make_engine("naive", model, arms)
                naive.pull(sub[:2], X, y)
                t0 = clock()
                naive.pull(sub, X, y)
                t_naive = (clock() - t0) * len(ids) / len(sub)
                print(f"{'':18s} naive {t_naive:.3f} s (scaled from {len(sub)} arms): naive/new "
                      f"{t_naive / min(times['new']):.1f}x, naive/ref {t_naive / min(times['ref']):.1f}x  "
                      f"load {os.getloadavg()[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
