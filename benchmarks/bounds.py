"""FLOP bound of an exact arm pull, for the throughput benchmark.

An exact pull of arm j needs at least the work downstream of its first reader, on the
samples where j's channel is non-zero at that reader (elsewhere ΔL is exactly 0): the
change the channel makes in the first reader's output (its slice of the reader's weights:
a rank-1 update for a Linear, a single-input-channel convolution for a conv), plus every
Linear/conv executed after that reader, whole. The naive loop spends a full forward per arm
and sample. The *bound ratio* of a set of arms is

    (arms · batch · full-forward MACs per sample) / Σ_arms (active samples · downstream MACs)

the speed-up an engine doing exactly the downstream work and nothing else would reach.
MACs are multiply-accumulates of ``nn.Linear`` and ``nn.Conv*`` only (BatchNorm, pooling and
activations are not counted), per sample, from one traced forward.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from mabprune import inputs
from mabprune.arms import ArmSet, _trace
from mabprune.masks import register_unit_hook

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


def _macs(module: nn.Module, out: torch.Tensor) -> float:
    """MACs of one call, per sample."""
    if isinstance(module, nn.Linear):
        return module.in_features * out[0].numel()
    if isinstance(module, _CONV):
        per_output = module.in_channels // module.groups * int(np.prod(module.kernel_size))
        return per_output * out[0].numel()
    return 0.0


def layer_costs(model: nn.Module, arms: ArmSet, X) -> tuple[float, dict[str, float]]:
    """Full-forward MACs per sample, and per group the downstream MACs of one arm per sample."""
    calls = _trace(model, inputs.index(X, slice(0, 1)))
    macs = [_macs(m, out) if isinstance(out, torch.Tensor) else 0.0 for _, m, _, out in calls]
    full = float(sum(macs))
    first_call = {}
    for i, (name, *_rest) in enumerate(calls):
        first_call.setdefault(name, i)
    down = {}
    for layer in arms.layers:
        readers = sorted(layer.readers, key=lambda r: first_call.get(r.name, len(calls)))
        first = readers[0]
        i = first_call[first.name]
        in_ch = first.module.in_features if isinstance(first.module, nn.Linear) else first.module.in_channels
        per_unit = float((first.channels < layer.n_units).sum()) / layer.n_units   # input channels of one arm
        down[layer.name] = macs[i] / in_ch * per_unit + float(sum(macs[i + 1:]))
    return full, down


def active_counts(model: nn.Module, arms: ArmSet, X) -> dict[str, np.ndarray]:
    """Per group, the number of samples in which each arm's channel is non-zero at its first reader."""
    seen, handles = {}, []
    for layer in arms.layers:
        def fn(values, name=layer.name):
            seen.setdefault(name, values.ne(0).any(-1).sum(0).cpu().numpy())
        handles.append(register_unit_hook(arms, layer, fn))
    try:
        with inputs.eval_mode(model), torch.no_grad():
            inputs.call(model, X)
    finally:
        for h in handles:
            h.remove()
    return seen


def bound_ratio(full: float, down: dict[str, float], active: dict[str, np.ndarray], arms: ArmSet,
                arm_ids: np.ndarray, n_samples: int) -> float:
    """The FLOP-bound speed-up of pulling ``arm_ids`` (see the module docstring)."""
    layer_index, units = arms.locate(np.asarray(arm_ids))
    work = 0.0
    for li, u in zip(layer_index, units):
        layer = arms.layers[li]
        work += float(active[layer.name][u]) * down[layer.name]
    return float(len(arm_ids) * n_samples * full / work) if work > 0 else float("inf")
