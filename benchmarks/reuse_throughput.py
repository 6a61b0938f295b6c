"""Pulls per second of the general path on text models, where most of a forward comes before the arms.

The text models of :mod:`mabprune.models` take the batched engine's general path (they are not
plain chains of leaf modules). This script times, on one torch thread, a sweep over the dense
("head") arms and over the hidden units (output gate closed per row) of an LSTM and of a
bidirectional LSTM classifier, and over the filters, the
dense units and every arm of a text CNN, with the batched and the naive engine, and prints
pulls per second of each and the largest difference between them. Sizes follow the standard
recipes of :mod:`mabprune.study.deep_tasks` (vocabulary 20,000, 64 tokens, widths 64,
mini-batch 128 as in :func:`mabprune.prune`); weights are random. A last row sweeps 4 arms of
every group of torchvision's resnet18 at 32×32 (mini-batch 32, as in ``arm_throughput.py``),
where only what comes before the first reader of the pulled groups can be reused.

It runs against whatever ``mabprune`` is importable, so the code before a change is timed by
putting an export of the old sources first on ``PYTHONPATH``::

    git archive <commit> mabprune | tar -x -C /tmp/before
    PYTHONPATH=/tmp/before python benchmarks/reuse_throughput.py
    python benchmarks/reuse_throughput.py

Speed is measured here, never asserted in a test.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torchvision

sys.path.insert(0, str(Path(__file__).resolve().parent))
from arm_throughput import RESNET_ARMS, RESNET_BATCH, _calibrate_batchnorm

import mabprune
from mabprune.arms import find_arms
from mabprune.engine import make_engine
from mabprune.models import LSTMClassifier, TextCNN

VOCAB, LENGTH, WIDTH, BATCH = 20_000, 64, 64, 128


def _tokens(n: int, g: torch.Generator) -> torch.Tensor:
    """Token ids padded at the end (0), lengths 8..64, as the text encoders produce."""
    tokens = torch.randint(2, VOCAB, (n, LENGTH), generator=g)
    lengths = torch.randint(8, LENGTH + 1, (n,), generator=g)
    tokens[torch.arange(LENGTH)[None, :] >= lengths[:, None]] = 0
    return tokens


def cases(resnet: bool = True):
    """(label, model, X, y, arm ids from the arms) of the benchmark."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    X, y = _tokens(BATCH, g), torch.randint(0, 2, (BATCH,), generator=g)
    lstm = LSTMClassifier(VOCAB, 2, embed_dim=WIDTH, lstm=WIDTH, hidden=WIDTH).eval()
    bilstm = LSTMClassifier(VOCAB, 2, embed_dim=WIDTH, lstm=WIDTH, hidden=WIDTH, bidirectional=True).eval()
    cnn = TextCNN(VOCAB, 2, embed_dim=WIDTH, filters=WIDTH, hidden=WIDTH).eval()

    def group(name):
        return lambda arms: np.arange(arms.n_arms)[arms.layer_slices()[name]]

    out = [("lstm head (dense)", lstm, X, y, group("dense")), ("bilstm head (dense)", bilstm, X, y, group("dense")),
           ("lstm units (lstm)", lstm, X, y, group("lstm")), ("bilstm units (lstm)", bilstm, X, y, group("lstm")),
           ("text cnn filters (conv)", cnn, X, y, group("conv")), ("text cnn dense", cnn, X, y, group("dense")),
           ("text cnn every arm", cnn, X, y, lambda arms: np.arange(arms.n_arms))]
    if resnet:
        net = torchvision.models.resnet18(num_classes=10)
        _calibrate_batchnorm(net, torch.randn(64, 3, 32, 32, generator=g))
        Xr, yr = torch.randn(RESNET_BATCH, 3, 32, 32, generator=g), torch.randint(0, 10, (RESNET_BATCH,), generator=g)
        out.append((f"resnet18 {RESNET_ARMS} per group", net.eval(), Xr, yr, lambda arms: np.concatenate(
            [layer.offset + np.unique(np.linspace(0, layer.n_units - 1, RESNET_ARMS).round().astype(int))
             for layer in arms.layers])))
    return out


def _best(engine, ids, X, y, repeats: int) -> tuple[float, np.ndarray]:
    engine.pull(ids[:4], X, y)   # warm-up (and any per-engine set-up)
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = engine.pull(ids, X, y)
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--naive-arms", type=int, default=16, help="arms the naive loop is timed on (scaled)")
    parser.add_argument("--no-resnet", action="store_true", help="skip the resnet18 row")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"mabprune from {os.path.dirname(mabprune.__file__)}; torch {torch.__version__}, 1 thread, "
          f"load average {os.getloadavg()}")
    for label, model, X, y, pick in cases(not args.no_resnet):
        arms = find_arms(model, X[:2])
        ids = pick(arms)
        t_fast, fast = _best(make_engine("batched", model, arms), ids, X, y, args.repeats)
        sub = ids[:: max(1, len(ids) // args.naive_arms)]
        t_slow, slow = _best(make_engine("naive", model, arms), sub, X, y, 1)
        t_slow *= len(ids) / len(sub)
        diff = np.abs(fast[np.searchsorted(ids, sub)] - slow).max()
        print(f"{label:24s} {len(ids):4d} arms  naive {len(ids) / t_slow:8.1f}  batched {len(ids) / t_fast:8.1f} "
              f"pulls/s  ({t_slow / t_fast:5.1f}x)  max |batched - naive| {diff:.2g}", flush=True)
    print(f"load average at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
