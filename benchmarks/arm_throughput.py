"""Arm-pull throughput of the naive and batched engines.

One full sweep over every arm of an MLP 784-1024-1024-10 (2,048 arms) with a mini-batch of
256, and of a small CNN, on the CPU and on CUDA when present. Prints pulls per second, the
batched/naive ratio and the largest difference between the engines, and writes them to
``benchmarks/results/arm_throughput-<device>-<host>.json`` (read by the book's performance
chapter). Speed is measured here, never asserted in a test.

Usage::

    python benchmarks/arm_throughput.py [--device cpu|cuda|all] [--repeats 3] [--max-rows N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import socket
import time
from pathlib import Path

import numpy as np
import torch

from mabprune.arms import find_arms
from mabprune.engine import make_engine
from mabprune.models import mlp, small_cnn

OUT = Path(__file__).resolve().parent / "results"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _time_sweep(engine, arm_ids, X, y, device, repeats) -> tuple[float, np.ndarray]:
    """Best of ``repeats`` wall times of one sweep (after a warm-up pull)."""
    engine.pull(arm_ids[:8], X, y)
    best, delta = float("inf"), None
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        delta = engine.pull(arm_ids, X, y)
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return best, delta


def bench_model(name, model, X, y, device, repeats, max_rows, naive_subsample):
    """Time naive and batched sweeps; per layer and over all arms."""
    model = model.to(device).eval()
    X, y = X.to(device), y.to(device)
    arms = find_arms(model, X[:2])
    rows, diffs = [], []
    every = np.arange(arms.n_arms)
    batched = make_engine("batched", model, arms, max_rows=max_rows)
    naive = make_engine("naive", model, arms)
    base = naive.base_losses(X, y).mean().item()
    totals = {"naive": 0.0, "batched": 0.0}
    for layer in arms.layers + [None]:
        ids = every if layer is None else every[layer.offset:layer.offset + layer.n_units]
        label = "all" if layer is None else layer.name
        t_fast, fast = _time_sweep(batched, ids, X, y, device, repeats)
        # The naive loop is timed on an evenly spaced subset of the arms (its cost per arm is
        # constant) and scaled to the full sweep; the differences are taken on that subset.
        sub = ids[:: max(1, len(ids) // naive_subsample)] if naive_subsample else ids
        t_slow, slow = _time_sweep(naive, sub, X, y, device, 1)
        t_slow *= len(ids) / len(sub)
        if layer is not None:
            idx = np.searchsorted(ids, sub)
            diffs.append(np.abs(fast[idx] - slow))
            diffs_rel = np.abs(fast[idx] - slow) / np.maximum(np.abs(slow), base)
            rows.append({"max_rel": float(diffs_rel.max())})
        for engine_name, seconds in (("naive", t_slow), ("batched", t_fast)):
            yield {"model": name, "engine": engine_name, "layer": label, "arms": int(len(ids)),
                   "batch_size": int(len(X)), "seconds": seconds, "pulls_per_second": len(ids) / seconds}
    yield {"diff": float(np.concatenate(diffs).max()), "rel": max(r["max_rel"] for r in rows)}


def run(device: str, repeats: int, max_rows: int | None, naive_subsample: int) -> dict:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    models = [
        ("mlp-784-1024-1024-10", mlp(784, 10, hidden=(1024, 1024)),
         torch.randn(256, 784, generator=g), torch.randint(0, 10, (256,), generator=g)),
        ("cnn-1x28x28-c16-c32-d64", small_cnn((1, 28, 28), 10, channels=(16, 32), hidden=64),
         torch.randn(256, 1, 28, 28, generator=g), torch.randint(0, 10, (256,), generator=g)),
    ]
    results, ratios, max_abs, max_rel = [], {}, 0.0, 0.0
    for name, model, X, y in models:
        for row in bench_model(name, model, X, y, device, repeats, max_rows, naive_subsample):
            if "diff" in row:
                max_abs, max_rel = max(max_abs, row["diff"]), max(max_rel, row["rel"])
                continue
            results.append(row)
            print(f"{device:5s} {name:26s} {row['layer']:>4s} {row['engine']:8s} {row['arms']:5d} arms "
                  f"{row['seconds']:8.3f} s {row['pulls_per_second']:12.1f} pulls/s", flush=True)
        total = {r["engine"]: r["seconds"] for r in results if r["model"] == name and r["layer"] == "all"}
        ratios[name] = total["naive"] / total["batched"]
        print(f"{device:5s} {name:26s} batched/naive = {ratios[name]:.1f}x", flush=True)
    print(f"{device:5s} largest |batched - naive| = {max_abs:.3g} (relative to max(|ΔL|, L): {max_rel:.3g})")
    return {
        "machine": {"cpu": _cpu_name(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "gpu": torch.cuda.get_device_name(0) if device == "cuda" else None,
                    "platform": platform.platform(), "host": socket.gethostname()},
        "torch": torch.__version__, "device": device,
        "timestamp": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "results": results, "ratios": ratios, "max_abs_diff": max_abs, "max_rel_diff": max_rel,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="all", choices=["cpu", "cuda", "all"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-rows", type=int, default=None, help="batched engine's row budget")
    parser.add_argument("--naive-subsample", type=int, default=256,
                        help="naive arms timed per layer (0 = all; scaled to the full sweep)")
    args = parser.parse_args()
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    OUT.mkdir(exist_ok=True)
    for device in devices:
        if device == "cuda" and not torch.cuda.is_available():
            print("cuda: not available, skipped")
            continue
        report = run(device, args.repeats, args.max_rows, args.naive_subsample)
        host = "".join(c if c.isalnum() or c in "-_." else "_" for c in report["machine"]["host"])
        path = OUT / f"arm_throughput-{device}-{host}.json"
        path.write_text(json.dumps(report, indent=1))
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
