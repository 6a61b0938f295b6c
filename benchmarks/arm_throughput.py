"""Arm-pull throughput of the naive and batched engines, against the FLOP bound.

One full sweep over every arm of an MLP 784-1024-1024-10 (2,048 arms) with a mini-batch of
256, of a small CNN, and a sweep over a subset of the arms of torchvision's resnet18 at
32×32 (``--resnet-arms`` per group, mini-batch ``--resnet-batch``), on the CPU and on CUDA
when present. Prints, per layer and for the whole sweep, pulls per second of both engines,
the measured ratio batched/naive, the FLOP-bound ratio (see ``bounds.py``) and their
quotient, the largest difference between the engines, and the end-to-end wall time of
``mabprune.prune(mlp, data, method="hedge", rounds=4)`` with each engine (``--end-to-end``,
on by default). Writes everything to ``benchmarks/results/arm_throughput-<device>-<host>.json``
(read by the book's performance chapter). Speed is measured here, never asserted in a test.

Usage::

    python benchmarks/arm_throughput.py [--device cpu|cuda|all] [--repeats 3] [--max-rows N]
        [--threads N] [--no-end-to-end] [--no-resnet]
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

import sys

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bounds  # noqa: E402  (benchmarks/bounds.py, next to this script)

from mabprune import prune  # noqa: E402
from mabprune.arms import find_arms  # noqa: E402
from mabprune.engine import make_engine  # noqa: E402
from mabprune.models import mlp, small_cnn  # noqa: E402

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


def bench_model(name, model, X, y, device, repeats, max_rows, naive_subsample, per_group=None):
    """Time naive and batched sweeps per layer and over all arms; rows, bound rows, differences.

    ``per_group`` limits the sweep to that many evenly spaced arms of each group (resnet18).
    """
    model = model.to(device).eval()
    X, y = X.to(device), y.to(device)
    arms = find_arms(model, X[:2])
    full, down = bounds.layer_costs(model, arms, X)
    active = bounds.active_counts(model, arms, X)
    rows, bound_rows, diffs, rels = [], [], [], []
    every = np.arange(arms.n_arms)
    if per_group:
        every = np.concatenate([layer.offset + np.unique(np.linspace(0, layer.n_units - 1, per_group).round().astype(int))
                                for layer in arms.layers])
    batched = make_engine("batched", model, arms, max_rows=max_rows)
    naive = make_engine("naive", model, arms)
    base = naive.base_losses(X, y).mean().item()
    layer_index, _ = arms.locate(every)
    for li in list(range(len(arms.layers))) + [None]:
        ids = every if li is None else every[layer_index == li]
        label = "all" if li is None else arms.layers[li].name
        t_fast, fast = _time_sweep(batched, ids, X, y, device, repeats)
        # The naive loop is timed on an evenly spaced subset of the arms (its cost per arm is
        # constant) and scaled to the full sweep; the differences are taken on that subset.
        sub = ids[:: max(1, len(ids) // naive_subsample)] if naive_subsample else ids
        t_slow, slow = _time_sweep(naive, sub, X, y, device, 1)
        t_slow *= len(ids) / len(sub)
        idx = np.searchsorted(ids, sub)
        diffs.append(np.abs(fast[idx] - slow))
        rels.append(np.abs(fast[idx] - slow) / np.maximum(np.abs(slow), base))
        for engine_name, seconds in (("naive", t_slow), ("batched", t_fast)):
            rows.append({"model": name, "engine": engine_name, "layer": label, "arms": int(len(ids)),
                         "batch_size": int(len(X)), "seconds": seconds, "pulls_per_second": len(ids) / seconds})
        measured = t_slow / t_fast
        bound = bounds.bound_ratio(full, down, active, arms, ids, len(X))
        bound_rows.append({"model": name, "layer": label, "arms": int(len(ids)), "batch_size": int(len(X)),
                           "measured_ratio": measured, "bound_ratio": bound, "quotient": measured / bound,
                           "full_macs_per_sample": full,
                           "active_fraction": float(np.mean([active[arms.layers[a].name][u] / len(X) for a, u in
                                                             zip(*arms.locate(ids))]))})
    return rows, bound_rows, float(np.concatenate(diffs).max()), float(np.concatenate(rels).max())


def end_to_end(device: str, repeats: int, *, sizes=(784, 1024, 1024, 10), n: int = 512, batch_size: int = 256) -> dict:
    """Wall time of ``prune(mlp, data, method="hedge", rounds=4)`` with each engine (same seed)."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    model = mlp(sizes[0], sizes[-1], hidden=sizes[1:-1]).to(device)
    X = torch.randn(n, sizes[0], generator=g).to(device)
    y = torch.randint(0, sizes[-1], (n,), generator=g).to(device)
    out = {"model": "mlp-" + "-".join(map(str, sizes)), "reward_samples": n, "batch_size": batch_size,
           "method": "hedge", "rounds": 4}
    kept = {}
    for engine, reps in (("batched", repeats), ("naive", 1)):
        best = float("inf")
        for _ in range(reps):
            _sync(device)
            t0 = time.perf_counter()
            result = prune(model, (X, y), method="hedge", rounds=4, batch_size=batch_size, engine=engine, seed=0)
            _sync(device)
            best = min(best, time.perf_counter() - t0)
        kept[engine] = result.removed
        out[engine] = {"wall_s": best, "pull_s": result.pull_time_s, "pulls": result.pulls,
                       "other_s": best - result.pull_time_s}
        print(f"{device:5s} end to end {engine:8s} {best:8.3f} s wall ({result.pull_time_s:.3f} s pulling, "
              f"{result.pulls} pulls)", flush=True)
    out["ratio"] = out["naive"]["wall_s"] / out["batched"]["wall_s"]
    out["same_removal"] = kept["batched"] == kept["naive"]
    print(f"{device:5s} end to end naive/batched = {out['ratio']:.1f}x (same units removed: {out['same_removal']})")
    return out


def models(resnet: bool):
    """(name, model, X, y, per_group) of the benchmark."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    out = [
        ("mlp-784-1024-1024-10", mlp(784, 10, hidden=(1024, 1024)),
         torch.randn(256, 784, generator=g), torch.randint(0, 10, (256,), generator=g), None),
        ("cnn-1x28x28-c16-c32-d64", small_cnn((1, 28, 28), 10, channels=(16, 32), hidden=64),
         torch.randn(256, 1, 28, 28, generator=g), torch.randint(0, 10, (256,), generator=g), None),
    ]
    if resnet:
        import torchvision
        net = torchvision.models.resnet18(num_classes=10)
        _calibrate_batchnorm(net, torch.randn(64, 3, 32, 32, generator=g))
        out.append(("resnet18-3x32x32", net, torch.randn(RESNET_BATCH, 3, 32, 32, generator=g),
                    torch.randint(0, 10, (RESNET_BATCH,), generator=g), RESNET_ARMS))
    return out


RESNET_BATCH, RESNET_ARMS = 32, 4


def _calibrate_batchnorm(model, X):
    """BatchNorm running statistics from random inputs, so that BN(0) != 0 as in a trained network."""
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        model(X)
    model.eval()


def run(device: str, repeats: int, max_rows: int | None, naive_subsample: int, *, resnet: bool = True,
        e2e: bool | dict = True, model_list=None) -> dict:
    """The whole benchmark on one device; ``model_list`` and ``e2e`` (a dict of
    :func:`end_to_end` keywords) replace the default models and sizes (tests use tiny ones)."""
    results, bound_rows, ratios, max_abs, max_rel = [], [], {}, 0.0, 0.0
    for name, model, X, y, per_group in (model_list if model_list is not None else models(resnet)):
        rows, brows, diff, rel = bench_model(name, model, X, y, device, repeats, max_rows, naive_subsample, per_group)
        max_abs, max_rel = max(max_abs, diff), max(max_rel, rel)
        results += rows
        bound_rows += brows
        for b in brows:
            pps = {r["engine"]: r["pulls_per_second"] for r in rows if r["layer"] == b["layer"]}
            print(f"{device:5s} {name:24s} {b['layer']:>16s} {b['arms']:5d} arms  naive {pps['naive']:9.1f}  "
                  f"batched {pps['batched']:10.1f} pulls/s  measured {b['measured_ratio']:7.1f}x  "
                  f"bound {b['bound_ratio']:8.1f}x  measured/bound {b['quotient']:.3f}", flush=True)
        ratios[name] = next(b["measured_ratio"] for b in brows if b["layer"] == "all")
        print(f"{device:5s} {name:24s} batched/naive = {ratios[name]:.1f}x", flush=True)
    print(f"{device:5s} largest |batched - naive| = {max_abs:.3g} (relative to max(|ΔL|, L): {max_rel:.3g})")
    report = {
        "machine": {"cpu": _cpu_name(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "gpu": torch.cuda.get_device_name(0) if device == "cuda" else None,
                    "platform": platform.platform(), "host": socket.gethostname(),
                    "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None},
        "torch": torch.__version__, "device": device,
        "timestamp": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "results": results, "ratios": ratios, "bounds": bound_rows, "max_abs_diff": max_abs, "max_rel_diff": max_rel,
    }
    if e2e:
        report["end_to_end"] = end_to_end(device, repeats, **(e2e if isinstance(e2e, dict) else {}))
    report["machine"]["load_average_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="all", choices=["cpu", "cuda", "all"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-rows", type=int, default=None, help="batched engine's row budget")
    parser.add_argument("--naive-subsample", type=int, default=256,
                        help="naive arms timed per layer (0 = all; scaled to the full sweep)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    parser.add_argument("--no-end-to-end", action="store_true", help="skip the end-to-end prune() timing")
    parser.add_argument("--no-resnet", action="store_true", help="skip the resnet18 sweep")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    OUT.mkdir(exist_ok=True)
    for device in devices:
        if device == "cuda" and not torch.cuda.is_available():
            print("cuda: not available, skipped")
            continue
        report = run(device, args.repeats, args.max_rows, args.naive_subsample, resnet=not args.no_resnet,
                     e2e=not args.no_end_to_end)
        host = "".join(c if c.isalnum() or c in "-_." else "_" for c in report["machine"]["host"])
        path = OUT / f"arm_throughput-{device}-{host}.json"
        path.write_text(json.dumps(report, indent=1))
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
