"""Which models can I prune? Every torchvision classifier and Hugging Face models, prune or refuse.

For every model of ``torchvision.models.list_models(module=torchvision.models)`` (random
weights, 10 classes, BatchNorm affine parameters randomised and running statistics calibrated
on random images, so BN(0) != 0) and a few Hugging Face ``transformers`` models built from a
config (no download), at the smallest of 32, 64, 96, ... pixels the model accepts:

1. ``find_arms`` on the whole model: the arms, the groups and the groups refused with reasons;
2. ``prune(method="magnitude", amount=0.1)`` on every group (no pulls: this exercises the
   removal of the whole model), then the masked loss of the removed units on the original model
   against the loss of the returned model, the reported parameters against the returned
   model's own count, the reported MACs against a recount and torch's FLOP counter;
3. ``prune(method="ucb1")`` with a small pull budget on a few groups chosen so that the pulls
   take about ``--pull-budget`` seconds (the calibration pass plays every arm of the chosen
   groups), with the same checks;
4. pulls per second of the batched and of the naive engine on the same 8 arms, and their
   largest difference relative to the mini-batch's loss (``engines_rel_diff``).

Each model runs in a subprocess with a time limit (``--timeout``) and one torch thread; the
parent appends one row per model to ``benchmarks/results/zoo.csv`` as it finishes, so an
interrupted run resumes where it stopped (rows already there are skipped; ``--redo`` reruns
them). A row's ``status`` is

* ``pruned``: both prunes returned a smaller model, masked == removed, counts real;
* ``refused``: ``prune`` raised a ``ValueError`` before any pull (``names_module`` says
  whether the message names a module of the model);
* ``crashed``: any other exception (type, message and the innermost frame in the library);
* ``silent``: a prune returned but removed nothing, or masked != removed, or a count is not
  the returned model's;
* ``timeout``: the subprocess passed ``--timeout``;
* ``not run``: above ``--max-params`` parameters (torchvision's own count at 1,000 classes);
  ``sibling`` names the narrower model of the family that runs instead.

Usage::

    nice -n 10 python benchmarks/zoo.py [--only resnet18,hf_bert] [--start 0 --stop 20]
        [--timeout 600] [--pull-budget 20] [--max-params 100e6] [--redo] [--out PATH]
    python benchmarks/zoo.py --list        # the models and their order
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "zoo.csv"
COLUMNS = ["model", "source", "family", "input", "params", "macs", "arms", "groups", "groups_refused", "refusals",
           "full_params_after", "full_macs_after", "full_masked_vs_removed", "bandit_groups", "bandit_arms",
           "bandit_params_after", "bandit_masked_vs_removed", "masked_equals_removed", "counts_real",
           "pulls_per_s_batched", "pulls_per_s_naive", "engines_rel_diff", "status", "names_module", "error",
           "sibling", "seconds", "threads", "load_avg"]
SIZES = (32, 64, 96, 128, 160, 192, 224, 256, 299)
N_CLASSES = 10
#: Relative tolerance of "masked loss == removed model's loss" (both computed in float64).
TOLERANCE = 1e-5
#: The narrower model of the same family checked in place of one above ``--max-params``.
SIBLINGS = {"vit_h_14": "vit_b_16", "vit_l_16": "vit_b_16", "vit_l_32": "vit_b_32", "regnet_y_128gf": "regnet_y_16gf",
            "regnet_y_32gf": "regnet_y_16gf", "regnet_x_32gf": "regnet_x_16gf", "convnext_large": "convnext_base",
            "efficientnet_v2_l": "efficientnet_v2_m", "wide_resnet101_2": "wide_resnet50_2",
            **{f"vgg{d}{bn}": "tests/zoo.py vgg11_bn (VGG11-BN's feature blocks, small classifier)"
               for d in (11, 13, 16, 19) for bn in ("", "_bn")}}


# ------------------------------------------------------------------------- the models

def hf_models() -> dict:
    """Hugging Face models built from a config (no download): name -> (build, make_inputs(n, size))."""
    import torch

    def bert():
        from transformers import BertConfig, BertForSequenceClassification
        cfg = BertConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                         intermediate_size=128, max_position_embeddings=64, num_labels=N_CLASSES)
        return BertForSequenceClassification(cfg)

    def vit():
        from transformers import ViTConfig, ViTForImageClassification
        cfg = ViTConfig(image_size=32, patch_size=8, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=128, num_labels=N_CLASSES)
        return ViTForImageClassification(cfg)

    def tokens(n, _size):
        return {"input_ids": torch.randint(0, 1000, (n, 16))}

    def pixels(n, _size):
        return {"pixel_values": torch.randn(n, 3, 32, 32)}

    return {"hf_bert": (bert, tokens, 16), "hf_vit": (vit, pixels, 32)}


def all_models() -> list[str]:
    """Every model of the zoo: the Hugging Face models, then torchvision's, smallest first (so a run
    cut short has covered the most families)."""
    import torchvision
    names = sorted(torchvision.models.list_models(module=torchvision.models), key=torchvision_size)
    try:
        import transformers  # noqa: F401
    except ImportError:
        return names
    return list(hf_models()) + names


def torchvision_size(name: str) -> int:
    """Parameters of torchvision's model ``name`` at 1,000 classes (its weights' metadata; nothing built)."""
    from torchvision.models import get_model_weights
    return int(next(iter(get_model_weights(name))).meta["num_params"])


def _build_torchvision(name: str):
    import torchvision
    kwargs = {"num_classes": N_CLASSES, "weights": None}
    if name.startswith("vit_"):   # position embeddings are sized by image_size: two patches a side
        kwargs["image_size"] = 2 * int(name.rsplit("_", 1)[1])
    if name in ("googlenet", "inception_v3"):
        kwargs["init_weights"] = True   # silences torchvision's warning; same initialisation
    return torchvision.models.get_model(name, **kwargs)


def calibrate(model, make_inputs, size: int, seed: int = 0):
    """Randomise every norm layer's affine parameters, then set BatchNorm's running statistics on
    random inputs (one cumulative pass in train mode), so BN(0) != 0 and activations stay finite.
    Returns the model in eval mode."""
    import torch
    from torch import nn
    g = torch.Generator().manual_seed(seed)
    norms = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm)
    for m in model.modules():
        if isinstance(m, norms) and getattr(m, "weight", None) is not None and m.weight.dim() == 1:
            with torch.no_grad():
                m.weight.copy_(1 + 0.3 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.3 * torch.randn(m.bias.shape, generator=g))
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None   # cumulative average over the calibration pass
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        torch.manual_seed(seed)
        model.train()
        with torch.no_grad():
            _call_any(model, make_inputs(8, size))
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.momentum = 0.1
    return model.eval()


def _call_any(model, x):
    """``model(x)`` whatever the output (train-mode models may return named tuples of several)."""
    return model(**x) if isinstance(x, dict) else model(x)


def build(name: str):
    """``(model, make_inputs(n, size), size)`` of zoo model ``name``: random weights, calibrated norms,
    at the smallest of :data:`SIZES` the model accepts (fixed for the Hugging Face models)."""
    import torch
    torch.manual_seed(0)
    hf = hf_models() if name.startswith("hf_") else {}
    if name in hf:
        make, make_inputs, size = hf[name]
        model = make().eval()
    else:
        model = _build_torchvision(name).eval()
        make_inputs, size = (lambda n, s: torch.randn(n, 3, s, s)), None
        for s in SIZES:
            try:
                with torch.no_grad():
                    _call_any(model, make_inputs(2, s))
                size = s
                break
            except (RuntimeError, ValueError, AssertionError, IndexError):
                continue
        if size is None:
            raise RuntimeError(f"{name} accepts none of the input sizes {SIZES}")
    return calibrate(model, make_inputs, size), make_inputs, size


# ------------------------------------------------------------------------- one model

class _PullCounter:
    """Counts engine pulls (to tell a refusal before any pull from an error after some)."""

    def __init__(self):
        from mabprune import engine
        self.n, self._saved = 0, {}
        for cls in (engine.NaiveEngine, engine.BatchedEngine):
            self._saved[cls] = cls.pull

            def pull(eng, arm_ids, X, y, _orig=cls.pull):
                self.n += 1
                return _orig(eng, arm_ids, X, y)
            cls.pull = pull


def _params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def _flops(model, x) -> int:
    """FLOPs of one forward by torch's own counter (independent of Torch-Pruning's)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        _call_any(model, x)
    return int(counter.get_total_flops())


def _masked_vs_removed(model, result, X, y, example) -> float:
    """Relative difference between the loss of ``model`` with ``result.removed`` masked and the
    loss of the returned (physically smaller) ``result.model``, both in float64 (a random deep
    network's logits reach 1e5, where float32 round-off alone differs by 1e-5 relative)."""
    import copy

    import torch
    from mabprune import inputs
    from mabprune.arms import find_arms
    from mabprune.engine import make_loss
    from mabprune.masks import Masker
    model, pruned = copy.deepcopy(model).double(), copy.deepcopy(result.model).double()
    X, example = (inputs.map_tensors(x, lambda t: t.double() if t.is_floating_point() else t) for x in (X, example))
    arms = find_arms(model, example, layers=[name for name, _ in result.arm_layers], check=False)
    slices = arms.layer_slices()
    ids = [slices[name].start + u for name, units in result.removed.items() for u in units]
    loss = make_loss("cross_entropy")
    with inputs.eval_mode(model), torch.no_grad(), Masker(model, arms) as masker:
        masker.set(ids)
        masked = loss(inputs.call(model, X), y).double().mean().item()
    with inputs.eval_mode(pruned), torch.no_grad():
        removed = loss(inputs.call(pruned, X), y).double().mean().item()
    return abs(masked - removed) / max(abs(masked), 1e-12)


def _choose_groups(arms, cap: int) -> list[str]:
    """Groups for the bandit run: spread over the network (first, last, then halving the gaps),
    their arms adding up to at most ``cap`` (at least the smallest group)."""
    layers = arms.layers
    order, seen = [], set()
    k = 1
    while len(seen) < len(layers) and k <= 2 * len(layers):
        for i in (round(j * (len(layers) - 1) / k) for j in range(k + 1)):
            if i not in seen:
                seen.add(i)
                order.append(i)
        k *= 2
    order += [i for i in range(len(layers)) if i not in seen]
    chosen, total = [], 0
    for i in order:
        if total + layers[i].n_units <= cap:
            chosen.append(layers[i].name)
            total += layers[i].n_units
        if len(chosen) == 3:
            break
    return chosen or [min(layers, key=lambda layer: layer.n_units).name]


def run_one(name: str, *, pull_budget: float, seed: int = 0, built: tuple | None = None) -> dict:
    """Every check of one model; returns its row (without the parent's columns).

    Parameters
    ----------
    name : str
        A zoo model (:func:`all_models`), or any name when ``built`` is given.
    pull_budget : float
        About how many seconds the ucb1 prune's pulls may take (it picks groups to fit).
    seed : int, default=0
    built : tuple, optional
        ``(model, make_inputs(n, size), size)`` to check instead of building ``name`` (the
        tests' narrow members of each family); the model is calibrated here like the zoo's.

    Returns
    -------
    dict
        The row: ``status`` is ``pruned``, ``refused``, ``crashed`` or ``silent`` (see the
        module docstring).
    """
    import numpy as np
    import torch
    from mabprune import inputs, prune
    from mabprune.arms import find_arms
    from mabprune.engine import make_engine
    from mabprune.removal import count_macs_params

    row: dict = {"model": name, "source": "transformers" if name.startswith("hf_") else "torchvision"}
    counter = _PullCounter()
    stage, names = "build", set()
    try:
        if built is None:
            model, make_inputs, size = build(name)
        else:
            model, make_inputs, size = built
            torch.manual_seed(seed)
            model = calibrate(model, make_inputs, size, seed)
        row["input"] = size
        names = {m for m, _ in model.named_modules() if m}
        torch.manual_seed(seed + 1)
        n = 8
        X, y = make_inputs(n, size), torch.randint(0, N_CLASSES, (n,))
        example = inputs.index(X, slice(0, 2))
        row["macs"], row["params"] = count_macs_params(model, example)
        t0 = time.perf_counter()
        with torch.no_grad():
            inputs.call(model, X)
        per_sample = (time.perf_counter() - t0) / n
        stage = "find_arms"
        arms = find_arms(model, example)
        row.update(arms=arms.n_arms, groups=len(arms.layers), groups_refused=len(arms.rejected),
                   refusals=json.dumps(arms.rejected) if arms.rejected else "")

        stage = "prune magnitude (every group)"
        full = prune(model, (X, y), method="magnitude", amount=0.1, batch_size=4, device="cpu", seed=seed)
        row.update(full_params_after=full.params_after, full_macs_after=full.macs_after,
                   full_masked_vs_removed=_masked_vs_removed(model, full, X, y, example))
        stage = "ucb1 (a few groups)"
        batch = 4
        cap = max(16, int(pull_budget / max(per_sample * batch, 1e-6)))
        groups = _choose_groups(arms, cap)
        row["bandit_groups"] = " ".join(groups)
        bandit = prune(model, (X, y), method="ucb1", amount=0.25, layers=groups, rounds=2, arms_per_round=8,
                       batch_size=batch, calibration_batches=1, device="cpu", seed=seed, progress=False)
        row.update(bandit_arms=sum(k for _, k in bandit.arm_layers), bandit_params_after=bandit.params_after,
                   bandit_masked_vs_removed=_masked_vs_removed(model, bandit, X, y, example))
        stage = "engines"
        sub = find_arms(model, example, layers=groups, check=False)
        ids = np.unique(np.linspace(0, sub.n_arms - 1, min(8, sub.n_arms)).round().astype(int))
        Xb, yb = inputs.index(X, slice(0, batch)), y[:batch]
        diffs = {}
        for engine in ("batched", "naive"):
            eng = make_engine(engine, model, sub)
            eng.pull(ids[:1], Xb, yb)   # warm-up (the batched engine's one-off probe)
            t0 = time.perf_counter()
            diffs[engine] = eng.pull(ids, Xb, yb)
            row[f"pulls_per_s_{engine}"] = len(ids) / (time.perf_counter() - t0)
        base = float(make_engine("naive", model, sub).base_losses(Xb, yb).mean())
        row["engines_rel_diff"] = float(np.abs(diffs["batched"] - diffs["naive"]).max()) / max(abs(base), 1.0)

        stage = "counts"
        real = True
        for result in (full, bandit):
            ex = inputs.index(X, slice(0, 2))
            macs, params = count_macs_params(result.model, ex)
            real &= params == result.params_after == _params(result.model) and macs == result.macs_after
            real &= result.params_after < result.params_before and result.macs_after < result.macs_before
            real &= _flops(result.model, ex) < _flops(model, ex)
        row["counts_real"] = bool(real)
        worst = max(row["full_masked_vs_removed"], row["bandit_masked_vs_removed"])
        row["masked_equals_removed"] = bool(worst <= TOLERANCE)
        shrunk = full.n_removed > 0 and bandit.n_removed > 0
        row["status"] = "pruned" if real and shrunk and row["masked_equals_removed"] else "silent"
        if row["status"] == "silent":
            row["error"] = (f"removed {full.n_removed} (magnitude) and {bandit.n_removed} (ucb1) units; masked vs "
                            f"removed {worst:.2g}; counts real: {real}")
    except ValueError as exc:
        msg = str(exc)
        row["names_module"] = any(f"'{m}'" in msg for m in names)
        before_pull = counter.n == 0
        row["status"] = "refused" if before_pull and stage != "engines" else "crashed"
        row["error"] = f"{stage}: ValueError{'' if before_pull else ' after a pull'}: {msg[:600]}"
    except Exception as exc:   # noqa: BLE001  (the row records it: this is what the zoo looks for)
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if "site-packages" in f.filename
                  or "/mabprune/" in f.filename]
        where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno} ({frames[-1].name})" if frames else ""
        row["status"] = "crashed"
        row["error"] = f"{stage}: {type(exc).__name__}{where}: {str(exc)[:600]}"
    return row


# ------------------------------------------------------------------------- the table

def read_rows(path: Path) -> list[dict]:
    """The rows of the zoo table (an empty list when it does not exist)."""
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def append_row(path: Path, row: dict) -> None:
    """Append one row (the header first when the file is new), flushed to disk at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.is_file() or path.stat().st_size == 0
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow({k: _fmt(row.get(k)) for k in COLUMNS})
        f.flush()
        os.fsync(f.fileno())


def _fmt(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return value


def _child(name: str, timeout: float, pull_budget: float, threads: int) -> dict:
    """Run one model in a subprocess (its own torch threads, killed at ``timeout``)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), MABPRUNE_PROGRESS="0")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--pull-budget", str(pull_budget),
           "--threads", str(threads)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=str(ROOT))
    except subprocess.TimeoutExpired:
        return {"model": name, "status": "timeout", "error": f"no answer within {timeout:.0f} s",
                "seconds": time.perf_counter() - t0}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("ZOO-ROW ")]
    if not lines:
        tail = (proc.stderr or "").strip().splitlines()[-3:]
        return {"model": name, "status": "crashed", "error": f"subprocess exit {proc.returncode}: {' | '.join(tail)}",
                "seconds": time.perf_counter() - t0}
    row = json.loads(lines[-1][len("ZOO-ROW "):])
    row["seconds"] = time.perf_counter() - t0
    return row


def family(name: str) -> str:
    """The model's family: its name without the size suffix (``resnet50`` -> ``resnet``)."""
    import re
    if name.startswith("hf_"):
        return name
    for prefix in ("efficientnet_v2", "mobilenet_v2", "mobilenet_v3", "shufflenet_v2", "swin_v2", "regnet_x",
                   "regnet_y", "wide_resnet", "squeezenet", "inception_v3"):
        if name.startswith(prefix):
            return prefix
    return re.sub(r"[\d_].*$", "", name)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated model names")
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--stop", type=int)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--pull-budget", type=float, default=20.0, help="seconds of ucb1 pulls per model (about)")
    parser.add_argument("--max-params", type=float, default=100e6)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--redo", action="store_true", help="rerun models already in the table")
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        import torch
        import warnings
        warnings.simplefilter("ignore")
        torch.set_num_threads(args.threads)
        row = run_one(args.child, pull_budget=args.pull_budget)
        print("ZOO-ROW " + json.dumps(row, default=str), flush=True)
        return 0
    names = all_models()
    if args.list:
        print("\n".join(f"{i:3d} {n}" for i, n in enumerate(names)))
        return 0
    names = args.only.split(",") if args.only else names[args.start:args.stop]
    out = Path(args.out)
    done = {r["model"] for r in read_rows(out)}
    if args.redo and done & set(names):
        kept = [r for r in read_rows(out) if r["model"] not in names]
        out.unlink()
        for r in kept:
            append_row(out, r)
        done -= set(names)
    for name in names:
        if name in done:
            continue
        size = None if name.startswith("hf_") else torchvision_size(name)
        if size is not None and size > args.max_params:
            row = {"model": name, "source": "torchvision", "params": size, "status": "not run",
                   "error": f"{size / 1e6:.0f}M parameters (at 1,000 classes) > {args.max_params / 1e6:.0f}M",
                   "sibling": SIBLINGS.get(name, "")}
        else:
            row = _child(name, args.timeout, args.pull_budget, args.threads)
            row.setdefault("source", "transformers" if name.startswith("hf_") else "torchvision")
        row.update(family=family(name), threads=args.threads, load_avg=os.getloadavg()[0])
        append_row(out, row)
        print(f"{name:<22} {row['status']:<8} {row.get('seconds', 0) or 0:7.1f} s  {str(row.get('error') or '')[:150]}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
