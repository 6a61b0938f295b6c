"""Baseline criteria for choosing which units to remove.

Each function returns a *safety score* per arm, on the same convention as a bandit's reward
estimates: higher means safer to remove. :func:`mabprune.prune` removes the highest-scoring
arms, so every method goes through one selection and one removal path.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from . import batch
from .arms import ArmSet, Masker, outgoing_weight, register_unit_hook
from .engine import LossFn

BASELINES = ("magnitude", "activation_variation", "taylor", "random", "none")


def magnitude_scores(arms: ArmSet) -> np.ndarray:
    """Minus the L2 norm of each unit's incoming and outgoing weights.

    The incoming weights are the unit's row of ``W`` (its filter for a conv) and its bias; the
    outgoing weights are the consumer's columns that read the unit.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from mabprune.arms import find_arms
    >>> model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    >>> with torch.no_grad():
    ...     model[0].weight.copy_(torch.tensor([[1.0, 0], [3, 0], [0, 0]])); model[0].bias.zero_()
    ...     model[2].weight.copy_(torch.tensor([[0.0, 4, 0]]))
    >>> magnitude_scores(find_arms(model, torch.zeros(1, 2))).tolist()
    [-1.0, -5.0, -0.0]
    """
    scores = []
    for layer in arms.layers:
        w_in = layer.module.weight.detach().reshape(layer.n_units, -1)
        sq = (w_in.double() ** 2).sum(1)
        if layer.module.bias is not None:
            sq += layer.module.bias.detach().double() ** 2
        w_out = outgoing_weight(arms, layer)
        if w_out is not None:
            sq += (w_out.double() ** 2).sum(1)
        scores.append(-sq.sqrt().cpu().numpy())
    return np.concatenate(scores)


def activation_variation_scores(model: nn.Module, arms: ArmSet, X: torch.Tensor, *, weighted: bool = True,
                                masked: np.ndarray | None = None, fill: dict | None = None,
                                batch_size: int = 512) -> np.ndarray:
    """Minus the variance of each unit's output on ``X``, times ‖outgoing weights‖².

    A unit whose output barely varies carries little information downstream: removing it
    (or replacing it by its mean) changes the next layer little. The variance is over samples
    (and positions, for a conv channel), measured at the unit's mask point, with the arms in
    ``masked`` already masked, so a greedy caller can recompute it after each removal.

    Parameters
    ----------
    weighted : bool, default=True
        Multiply by the squared norm of the outgoing weights; False gives the plain variance.
    """
    stats: dict[str, list[torch.Tensor]] = {layer.name: [] for layer in arms.layers}
    handles = []
    masker = Masker(model, arms, fill=fill)
    masker.__enter__()  # masking hooks first, so the capture below sees masked outputs
    try:
        for layer in arms.layers:
            def hook(out, name=layer.name):
                o = out.detach().double().transpose(0, 1).reshape(out.shape[1], -1)   # (units, samples·positions)
                stats[name].append(torch.stack([torch.full_like(o[:, 0], o.shape[1]), o.sum(1), (o ** 2).sum(1)]))
            handles.append(register_unit_hook(arms, layer, hook))
        if masked is not None and len(masked):
            masker.set(masked)
        was_training = model.training
        model.eval()
        with torch.no_grad():
            for start in range(0, batch.length(X), batch_size):
                batch.call(model, batch.index(X, slice(start, start + batch_size)))
        model.train(was_training)
    finally:
        for h in handles:
            h.remove()
        masker.__exit__()
    scores = []
    for layer in arms.layers:
        n, s, ss = torch.stack(stats[layer.name]).sum(0)
        var = (ss / n - (s / n) ** 2).clamp_min(0)
        if weighted:
            w_out = outgoing_weight(arms, layer)
            if w_out is not None:
                var = var * (w_out.double() ** 2).sum(1)
        scores.append(-var.cpu().numpy())
    return np.concatenate(scores)


def taylor_scores(model: nn.Module, arms: ArmSet, X: torch.Tensor, y: torch.Tensor, loss: LossFn, *,
                  fill: dict | None = None, batch_size: int = 512) -> np.ndarray:
    """First-order estimate of each arm's ΔL from one backward pass over a mask gate.

    Each unit's output is multiplied by a gate ``g = 1``; removing the unit sets ``g = 0``, so
    ``ΔL ≈ −∂L/∂g`` (Molchanov et al., 2017, without the absolute value so that it is on the
    scale of the bandit's pulls). The safety score is ``−ΔL``. Eval mode, like the pulls.
    """
    device = y.device
    gates = {layer.name: torch.ones(layer.n_units, device=device, requires_grad=True) for layer in arms.layers}
    masker = Masker(model, arms, fill=fill, mask=gates)   # the gates multiply every reader's input
    n = batch.length(X)
    was_training = model.training
    model.eval()
    try:
        with masker:
            for start in range(0, n, batch_size):
                xb, yb = batch.index(X, slice(start, start + batch_size)), y[start:start + batch_size]
                (loss(batch.call(model, xb), yb).sum() / n).backward()
    finally:
        model.train(was_training)
        model.zero_grad(set_to_none=True)
    return np.concatenate([gates[layer.name].grad.double().cpu().numpy() for layer in arms.layers])


def random_scores(arms: ArmSet, seed: int | None = 0) -> np.ndarray:
    """Uniform random scores: the random-removal baseline."""
    return np.random.default_rng(seed).random(arms.n_arms)
