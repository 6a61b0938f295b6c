"""Engines that pull arms: measure ΔL = L(masked) − L(unmasked) on one mini-batch.

Two engines give the same numbers (a test holds them to 1e-5):

``naive``
    The method's literal loop, kept as the reference: for each arm, mask it with a multiply,
    run the full forward pass, restore it.
``batched`` (default)
    Evaluates many arms of one layer in one pass. The activations up to the masked layer are
    computed once; the masked variants are folded into the batch dimension for the layers
    downstream. When the next layer is an ``nn.Linear`` reading the masked tensor, its output
    for a masked variant is the rank-1 update ``z' = z − h_j W[:, j]`` of the unmasked output,
    so that layer's matrix product is not repeated. A sample whose unit already outputs the
    fill value (zero after a ReLU) has ΔL exactly 0 and is skipped.

Both run in eval mode (no dropout, BatchNorm running statistics) under ``torch.no_grad``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .arms import ArmSet, Masker, PrunableLayer

ENGINES = ("batched", "naive")
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def make_loss(loss_fn: str | LossFn = "cross_entropy") -> LossFn:
    """A per-sample loss function: ``(outputs, targets) -> Tensor of shape (batch,)``.

    Parameters
    ----------
    loss_fn : {"cross_entropy", "mse"} or callable
        A name, or a callable that already returns one loss per sample.

    Examples
    --------
    >>> import torch
    >>> make_loss("mse")(torch.tensor([[1.0], [3.0]]), torch.tensor([0.0, 1.0]))
    tensor([1., 4.])
    """
    if callable(loss_fn):
        return loss_fn
    if loss_fn == "cross_entropy":
        return lambda out, y: F.cross_entropy(out, y, reduction="none")
    if loss_fn == "mse":
        return lambda out, y: ((out.reshape(len(out), -1) - y.reshape(len(y), -1).to(out.dtype)) ** 2).mean(1)
    raise ValueError(f"unknown loss_fn {loss_fn!r}: use 'cross_entropy', 'mse' or a callable returning per-sample losses")


class _EvalMode:
    """Eval mode and no_grad for the duration of a pull; restores the training flag."""

    def __init__(self, model: nn.Module):
        self.model = model

    def __enter__(self):
        self.was_training = self.model.training
        self.model.eval()
        self.no_grad = torch.no_grad()
        self.no_grad.__enter__()

    def __exit__(self, *exc):
        self.no_grad.__exit__(*exc)
        self.model.train(self.was_training)


class Engine:
    """Shared set-up of both engines.

    Parameters
    ----------
    model : nn.Module
        The network; it is not copied or modified (hooks are removed after each pull).
    arms : ArmSet
        Its arms, from :func:`mabprune.arms.find_arms`.
    loss_fn : str or callable
        See :func:`make_loss`.
    fill : dict, optional
        Per-layer replacement values of a masked unit (mean-replacement); zeros by default.
    """

    name = "base"

    def __init__(self, model: nn.Module, arms: ArmSet, *, loss_fn: str | LossFn = "cross_entropy",
                 fill: dict[str, torch.Tensor] | None = None):
        self.model, self.arms = model, arms
        self.loss = make_loss(loss_fn)
        self.fill = fill or {}

    def _check_loss(self, losses: torch.Tensor, n: int) -> torch.Tensor:
        if losses.shape != (n,):
            raise ValueError(f"loss_fn must return one loss per sample (shape ({n},)), got shape {tuple(losses.shape)}")
        return losses

    def base_losses(self, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-sample loss of the unmasked model."""
        with _EvalMode(self.model):
            return self._check_loss(self.loss(self.model(X), y), len(X))

    def pull(self, arm_ids, X: torch.Tensor, y: torch.Tensor) -> np.ndarray:
        """ΔL of each arm on the batch ``(X, y)``, in the order given (float64 array)."""
        raise NotImplementedError


class NaiveEngine(Engine):
    """The literal loop: mask one arm, run the full forward pass, restore it."""

    name = "naive"

    def pull(self, arm_ids, X, y):
        arm_ids = np.asarray(arm_ids, dtype=np.int64)
        base = self.base_losses(X, y)
        out = np.empty(len(arm_ids))
        with _EvalMode(self.model), Masker(self.model, self.arms, fill=self.fill) as masker:
            for i, arm in enumerate(arm_ids):
                masker.set([arm])
                out[i] = (self.loss(self.model(X), y) - base).mean().item()
            masker.reset()
        return out


class BatchedEngine(Engine):
    """Many arms per forward pass (see the module docstring).

    Parameters
    ----------
    max_rows : int, optional
        Upper bound on the masked-variant rows pushed through the downstream layers at once
        (the chunk size K times the batch, less the skipped samples). Smaller stays in cache on
        a CPU; larger fills a GPU. Default: 4,096 on CPU, 65,536 on CUDA.
    """

    name = "batched"

    def __init__(self, model, arms, *, loss_fn="cross_entropy", fill=None, max_rows: int | None = None):
        super().__init__(model, arms, loss_fn=loss_fn, fill=fill)
        if max_rows is not None and max_rows < 1:
            raise ValueError(f"max_rows must be a positive integer, got {max_rows!r}")
        self.max_rows = max_rows

    def pull(self, arm_ids, X, y):
        arm_ids = np.asarray(arm_ids, dtype=np.int64)
        out = np.empty(len(arm_ids))
        layer_index, units = self.arms.locate(arm_ids)
        max_rows = self.max_rows or (65536 if X.is_cuda else 4096)
        chunk = max(1, max_rows // max(1, len(X)))
        with _EvalMode(self.model):
            for li in np.unique(layer_index):
                where = np.flatnonzero(layer_index == li)
                for start in range(0, len(where), chunk):
                    sel = where[start:start + chunk]
                    out[sel] = self._pull_layer(self.arms.layers[li], units[sel], X, y)
        return out

    def _pull_layer(self, layer: PrunableLayer, units: np.ndarray, X, y) -> np.ndarray:
        """ΔL of several units of one layer in a single forward pass."""
        device = X.device
        units_t = torch.as_tensor(units, device=device)
        fill = self.fill.get(layer.name)
        state: dict = {}

        def expand(h: torch.Tensor):
            """Rows (sample, arm) whose masked value differs from h, and the change."""
            B = h.shape[0]
            hu = h[:, units_t]                                   # (B, K, ...)
            target = torch.zeros_like(hu) if fill is None else fill[units_t].unsqueeze(0).expand_as(hu)
            delta = target - hu                                  # masked minus unmasked
            active = delta.reshape(B, len(units), -1).ne(0).any(-1)  # (B, K)
            b_idx, k_idx = active.nonzero(as_tuple=True)
            state.update(b_idx=b_idx, k_idx=k_idx)
            return b_idx, k_idx, delta[b_idx, k_idx]

        if layer.rank_one:
            weight = self.arms.modules[layer.consumer].weight     # (m, n)

            def hook(module, inputs, z):
                b_idx, k_idx, dh = expand(inputs[0])
                # z' = z + (masked − unmasked)_j * W[:, j]: the consumer's output for each variant.
                z_var = z[b_idx] + dh.unsqueeze(1) * weight[:, units_t[k_idx]].T
                return torch.cat([z, z_var])
            handle = self.arms.modules[layer.consumer].register_forward_hook(hook)
        else:
            def hook(module, inputs, h):
                b_idx, k_idx, dh = expand(h)
                h_var = h[b_idx].clone()
                h_var[torch.arange(len(b_idx), device=device), units_t[k_idx]] += dh
                return torch.cat([h, h_var])
            handle = self.arms.modules[layer.mask_point].register_forward_hook(hook)
        try:
            outputs = self.model(X)
        finally:
            handle.remove()
        B = len(X)
        b_idx, k_idx = state["b_idx"], state["k_idx"]
        losses = self._check_loss(self.loss(outputs, torch.cat([y, y[b_idx]])), B + len(b_idx))
        diff = (losses[B:] - losses[:B][b_idx]).double()
        delta_l = torch.zeros(len(units), dtype=torch.float64, device=device).index_add_(0, k_idx, diff)
        return (delta_l / B).cpu().numpy()


def make_engine(name: str, model: nn.Module, arms: ArmSet, **kwargs) -> Engine:
    """An engine by name: ``"batched"`` (default elsewhere) or ``"naive"``.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from mabprune.arms import find_arms
    >>> torch.manual_seed(0) and None
    >>> model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
    >>> X, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    >>> arms = find_arms(model, X[:2])
    >>> fast = make_engine("batched", model, arms).pull(range(16), X, y)
    >>> slow = make_engine("naive", model, arms).pull(range(16), X, y)
    >>> bool(abs(fast - slow).max() < 1e-5)
    True
    """
    if name == "naive":
        kwargs.pop("max_rows", None)
        return NaiveEngine(model, arms, **kwargs)
    if name == "batched":
        return BatchedEngine(model, arms, **kwargs)
    raise ValueError(f"unknown engine {name!r}: use one of {ENGINES}")
