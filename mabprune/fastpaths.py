"""Exact fast paths of the batched engine that avoid building one tensor per masked variant.

:func:`relu_linear_head` handles an arm two layers before the output of a plain chain:
``h → consumer Linear (W₂) → z → ReLU → output Linear (W₃) → logits``. Masking unit ``j``
of sample ``b`` changes ``h_bj`` by ``δ_bj`` (``−h_bj`` for a zero mask) and ``z_b`` by
``δ_bj W₂[:, j]``. Were no unit of ``z`` to change sign, the logits would change by
``δ_bj (W₃ D_b W₂)[:, j]`` with ``D_b`` the diagonal of the active units of ``z_b``: one
matrix product per sample gives every arm at once, compute-bound rather than memory-bound.
The units that do change sign are added exactly: with ``σ = 1 − 2·[z > 0]``, the masked
ReLU output minus its linearisation is ``relu(σ z')`` with ``z' = z + δ W₂[k, j]``, non-zero
only where ``|δ_bj| · max_j |W₂[k, j]| > |z_bk|``. For each sample the arms sorted by
``|δ_bj|`` make those candidates a prefix per unit ``k`` (a ``searchsorted``), so only a few
per cent of the (sample, unit, arm) triples are visited, and only the true flips are
added to the logits. The result is the masked network's logits for every (sample, arm), to
float rounding; no approximation is involved.
"""

from __future__ import annotations

import torch
from torch import nn

# Modules that are the identity in eval mode (between the ReLU and the output Linear).
_IDENTITY = (nn.Identity, nn.Dropout)


def relu_linear_head(downstream: nn.Sequential, consumer: nn.Module):
    """``(batchnorm or None, output Linear)`` when ``downstream`` is ``[BatchNorm1d] → ReLU →
    [Dropout/Identity] → Linear`` (eval mode) and the head is narrow enough for the per-sample
    product ``W₃ D_b W₂`` to pay; else None."""
    mods = list(downstream)
    if not isinstance(consumer, nn.Linear) or len(mods) < 2:
        return None
    bn = None
    if type(mods[0]) is nn.BatchNorm1d and mods[0].running_var is not None:
        bn, mods = mods[0], mods[1:]    # per unit and affine in eval mode: folded into W₂
    if len(mods) < 2 or type(mods[0]) is not nn.ReLU:
        return None
    last = mods[-1]
    if type(last) is not nn.Linear or any(not isinstance(m, _IDENTITY) for m in mods[1:-1]):
        return None
    if last.out_features > 64 or 2 * last.out_features > consumer.out_features:
        return None   # a wide head: W₃ D_b W₂ would cost more than the variants themselves
    return bn, last


def bn_scale(bn: nn.BatchNorm1d | None) -> torch.Tensor | None:
    """The per-unit factor of an eval-mode BatchNorm (None without one)."""
    if bn is None:
        return None
    scale = torch.rsqrt(bn.running_var + bn.eps)
    return scale * bn.weight if bn.weight is not None else scale


def head_logits(z: torch.Tensor, delta: torch.Tensor, w2: torch.Tensor, head: nn.Linear,
                logits: torch.Tensor, budget: int = 2 ** 21) -> torch.Tensor:
    """Logits of every (sample, arm) variant, shape ``(B, J, O)``.

    Parameters
    ----------
    z : Tensor (B, K)
        The consumer's unmasked output (pre-ReLU).
    delta : Tensor (B, J)
        Masked minus unmasked value of each arm's unit in each sample.
    w2 : Tensor (K, J)
        The consumer's weight columns of the arms.
    head : nn.Linear
        The output layer (weight ``W₃`` of shape (O, K)).
    logits : Tensor (B, O)
        The unmasked output.
    """
    B, K = z.shape
    J = delta.shape[1]
    w3 = head.weight
    O = w3.shape[0]
    active = (z > 0).to(z.dtype)
    out = torch.empty(B, J, O, dtype=z.dtype, device=z.device)
    step = max(1, budget // (O * max(K, J)))
    for s in range(0, B, step):
        sl = slice(s, s + step)
        a = (w3.unsqueeze(0) * active[sl].unsqueeze(1)).reshape(-1, K)          # rows of W₃ D_b
        m = (a @ w2).reshape(-1, O, J)                                           # W₃ D_b W₂[:, arms]
        out[sl] = (m * delta[sl].unsqueeze(1)).transpose(1, 2) + logits[sl].unsqueeze(1)
    _add_flips(out, z, delta, w2, w3)
    return out


def _add_flips(out: torch.Tensor, z: torch.Tensor, delta: torch.Tensor, w2: torch.Tensor, w3: torch.Tensor) -> None:
    """Add ``W₃[:, k] · relu(σ_bk z'_bjk)`` for every unit k that changes sign (in place)."""
    B, K = z.shape
    J = delta.shape[1]
    wmax = w2.abs().amax(1)                                                      # (K,)
    absd, perm = delta.abs().sort(1)                                             # ascending per sample
    # A flip needs |δ_bj|·|W₂[k, j]| > |z_bk|, so |δ_bj| > |z_bk| / max_j |W₂[k, j]|; the
    # threshold is lowered by 1e-5 so rounding never hides a candidate (extras add exactly 0).
    thr = torch.where(wmax > 0, z.abs() / wmax.clamp_min(torch.finfo(z.dtype).tiny),
                      torch.full_like(z, float("inf"))) * (1 - 1e-5)
    counts = J - torch.searchsorted(absd.contiguous(), thr.contiguous(), right=True)   # (B, K)
    totals = counts.sum(1).tolist()
    w3t = w3.t().contiguous()                                                    # (K, O)
    w2_flat = w2.contiguous().reshape(-1)
    units = torch.arange(K, device=z.device)
    # One sample at a time: its candidates are a few tens of thousands of triples, so every
    # temporary stays in cache and every gather reads a small source (1-D index_select).
    for b in range(B):
        total = totals[b]
        if not total:
            continue
        c = counts[b]
        k = torch.repeat_interleave(units, c)
        rank = torch.arange(total, device=z.device) - (torch.cumsum(c, 0) - c).index_select(0, k)
        j = perm[b].index_select(0, (J - 1) - rank)                              # rank 0 = largest |δ|
        zv = z[b].index_select(0, k)
        zp = torch.addcmul(zv, delta[b].index_select(0, j), w2_flat.index_select(0, k * J + j))
        e = torch.where(zv > 0, -zp, zp)                                          # σ z'; relu below
        keep = torch.nonzero(e > 0).squeeze(1)
        if len(keep):
            out[b].index_add_(0, j.index_select(0, keep),
                              e.index_select(0, keep).unsqueeze(1) * w3t.index_select(0, k.index_select(0, keep)))
