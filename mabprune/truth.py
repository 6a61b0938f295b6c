"""Ground truth for the bandits: the exact removal effect of every arm, alone, on a whole split.

A bandit estimates each arm's ΔL = L(arm masked) − L(unmasked) from pulls on sampled
mini-batches. :func:`removal_effects` computes the quantity itself: every arm masked alone on
every row of a split, through the same engines as the pulls (masking at the readers equals
removal, which :func:`mabprune.arms.find_arms` checks), in chunks of arms and rows so that memory
stays bounded. Its cost, ``n_arms × n_rows`` unit-rows, is the yardstick of a bandit's budget:
a policy earns its place only if it ranks the arms well for less than that.

Examples
--------
>>> import torch
>>> from torch import nn
>>> torch.manual_seed(0) and None
>>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
>>> X, y = torch.randn(40, 4), torch.randint(0, 3, (40,))
>>> truth = removal_effects(model, (X, y))
>>> truth.effects.shape, truth.unit_rows
((8,), 320)
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from . import inputs
from .arms import ArmSet, find_arms
from .engine import ENGINES, make_engine, make_loss

__all__ = ["RemovalEffects", "removal_effects"]


@dataclass
class RemovalEffects:
    """What :func:`removal_effects` returns.

    Attributes
    ----------
    effects : np.ndarray
        ΔL of each arm, in arm-id order: the mean change of the per-sample loss over the split
        when that arm alone is removed (negative: the loss falls).
    arm_layers : list of (str, int)
        Each group's root layer and its number of arms, in arm-id order.
    n_rows : int
        Rows of the split.
    unit_rows : int
        ``n_arms × n_rows``: the cost of the exact answer in the unit a bandit's budget is counted in.
    base_loss : float
        Mean loss of the unmasked model on the split.
    """

    effects: np.ndarray
    arm_layers: list[tuple[str, int]] = field(default_factory=list)
    n_rows: int = 0
    base_loss: float = float("nan")

    @property
    def unit_rows(self) -> int:
        return int(len(self.effects) * self.n_rows)

    def ranking(self) -> np.ndarray:
        """Arm ids, safest first (smallest ΔL; ties by arm id)."""
        return np.argsort(self.effects, kind="stable")


def removal_effects(model: nn.Module, data, *, loss_fn: str | Callable = "cross_entropy",
                    layers: Sequence[str] | None = None, ignored_layers: Sequence[str | nn.Module] = (),
                    arms: ArmSet | None = None, engine: str = "batched", batch_size: int = 512,
                    arms_per_chunk: int = 64, device: str | torch.device = "auto",
                    target: str | int | None = None, fill: dict | None = None) -> RemovalEffects:
    """The exact ΔL of removing each arm alone, on every row of ``data``.

    Parameters
    ----------
    model : nn.Module
        A trained network (not modified: the effects are computed on a copy).
    data : DataLoader or (X, y)
        The split, read whole (as for :func:`mabprune.prune`): the selection (validation) split
        for what a bandit estimates, the test split for what it should have found.
    loss_fn : {"cross_entropy", "mse"} or callable, default="cross_entropy"
        Per-sample loss.
    layers, ignored_layers : optional
        Which groups are arms (as for :func:`mabprune.prune`); ignored when ``arms`` is given.
    arms : ArmSet, optional
        The arms of ``model``, from :func:`mabprune.arms.find_arms` on ``model`` itself.
    engine : {"batched", "naive"}, default="batched"
        Both give the same numbers; ``naive`` is the reference loop.
    batch_size : int, default=512
        Rows per engine call; the result is the mean over all rows whatever its value.
    arms_per_chunk : int, default=64
        Arms per engine call.
    device : {"auto", "cpu", "cuda"}, default="auto"
    target : str or int, optional
        Where the target is in a DataLoader's batches (as for :func:`mabprune.prune`).
    fill : dict, optional
        What a removed unit reads instead of zero (mean-replacement, see
        :func:`mabprune.masks.unit_means`); zeros by default.

    Returns
    -------
    RemovalEffects

    Raises
    ------
    ValueError
        Before any compute, for a bad engine, batch size or chunk, and for data the model or
        the loss would misread (as :func:`mabprune.prune` checks them).
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}: use one of {ENGINES}")
    for name, value in (("batch_size", batch_size), ("arms_per_chunk", arms_per_chunk)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    device = inputs.resolve_device(device)
    X, y = inputs.as_tensors(data, target)
    X, y = inputs.to(X, device), y.to(device)
    work = model if arms is not None else copy.deepcopy(model).to(device)
    inputs.check_inputs(work, X, y, loss_fn)
    if arms is None:
        arms = find_arms(work, inputs.index(X, slice(0, 2)), layers=layers, ignored_layers=ignored_layers)
    eng = make_engine(engine, work, arms, loss_fn=loss_fn, fill=fill)
    loss, n = make_loss(loss_fn), inputs.length(X)
    total = np.zeros(arms.n_arms)
    base = 0.0
    with inputs.eval_mode(work), torch.no_grad():
        for start in range(0, n, batch_size):
            rows = slice(start, min(start + batch_size, n))
            Xb, yb = inputs.index(X, rows), y[rows]
            weight = (rows.stop - rows.start) / n   # the engine returns the mean over its rows
            base += weight * float(loss(inputs.call(work, Xb), yb).double().mean())
            for first in range(0, arms.n_arms, arms_per_chunk):
                ids = np.arange(first, min(first + arms_per_chunk, arms.n_arms))
                total[ids] += weight * eng.pull(ids, Xb, yb)
    return RemovalEffects(effects=total, arm_layers=[(layer.name, layer.n_units) for layer in arms.layers],
                          n_rows=n, base_loss=base)
