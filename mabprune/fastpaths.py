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

from concurrent.futures import ThreadPoolExecutor

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
    """Logits of every (arm, sample) variant, shape ``(J, B, O)``.

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
    out = torch.empty(J, B, O, dtype=z.dtype, device=z.device)
    w2t = w2.t()
    step = max(1, budget // (O * max(K, J)))
    for s in range(0, B, step):
        sl = slice(s, s + step)
        a = (active[sl].t().unsqueeze(2) * w3.t().unsqueeze(1)).reshape(K, -1)   # (K, b·O): (W₃ D_b)ᵀ
        m = (w2t @ a).view(J, -1, O)                                              # W₂[:, j]ᵀ D_b W₃ᵀ
        m.mul_(delta[sl].t().unsqueeze(2)).add_(logits[sl].unsqueeze(0))
        out[:, sl] = m
    _add_flips(out, z, delta, w2, w3)
    return out


def _add_flips(out: torch.Tensor, z: torch.Tensor, delta: torch.Tensor, w2: torch.Tensor, w3: torch.Tensor,
               budget: int = 2 ** 17) -> None:
    """Add ``W₃[:, k] · relu(σ_bk z'_bjk)`` for every unit k that changes sign (in place)."""
    B, K = z.shape
    J = delta.shape[1]
    dev = z.device
    wmax = w2.abs().amax(1)                                                      # (K,)
    absd, order = delta.abs().sort(1, descending=True)
    # A flip needs |δ_bj|·|W₂[k, j]| > |z_bk|, so |δ_bj| > |z_bk| / max_j |W₂[k, j]|: for each
    # (b, k) a prefix of the arms sorted by |δ_b|. The threshold is lowered by 1e-5 so that
    # rounding never hides a candidate (an extra one adds exactly 0).
    thr = torch.where(wmax > 0, z.abs() / wmax.clamp_min(torch.finfo(z.dtype).tiny),
                      torch.full_like(z, float("inf"))) * (1 - 1e-5)
    counts = J - torch.searchsorted(absd.flip(1).contiguous(), thr.contiguous(), right=True)   # (B, K)
    per_sample = counts.sum(1).tolist()
    # Per (b, k): −|z| and the row of [W₂; −W₂] that holds σ_bk W₂[k, :] (σ = −1 where z > 0),
    # so that σ z' = −|z| + δ · σW₂ needs no branch per triple.
    signed = torch.cat([w2, -w2]).contiguous().reshape(-1)
    units = torch.arange(K, device=dev)
    rows = ((units + K * (z > 0)) * J).reshape(-1)                              # (B·K,)
    neg_abs = -z.abs().reshape(-1)
    base = (torch.arange(B, device=dev) * J).repeat_interleave(K)               # start of sample b's sorted arms
    order_flat = order.reshape(-1)
    dsorted = delta.gather(1, order).reshape(-1)
    w3t = w3.t().contiguous()
    flat_out = out.view(-1, out.shape[-1])                                       # row j·B + b
    chunks, start = [], 0
    while start < B:
        stop, total = start, 0
        while stop < B and (stop == start or total + per_sample[stop] <= budget):
            total += per_sample[stop]
            stop += 1
        if total:
            chunks.append((start, stop, total))
        start = stop

    def work(start, stop, total):
        if total:
            pairs = slice(start * K, stop * K)
            c = counts[start:stop].reshape(-1)
            first = torch.cumsum(c, 0)
            # index into the sorted arms of each triple's sample: base + rank
            pos = torch.arange(total, device=dev) - torch.repeat_interleave(first - c - base[pairs], c)
            j = order_flat.index_select(0, pos)
            e = torch.addcmul(torch.repeat_interleave(neg_abs[pairs], c), dsorted.index_select(0, pos),
                              signed.index_select(0, torch.repeat_interleave(rows[pairs], c) + j))
            keep = torch.nonzero(e > 0).squeeze(1)                               # the true flips: relu(σ z') > 0
            if len(keep):
                pair = torch.searchsorted(first, keep, right=True) + start * K
                b, k = pair // K, pair % K
                # index_put_ with accumulate: about 3x faster than index_add_ on CPU rows
                flat_out.index_put_((j.index_select(0, keep) * B + b,),
                                    e.index_select(0, keep).unsqueeze(1) * w3t.index_select(0, k), accumulate=True)

    threads = torch.get_num_threads()
    if threads > 1 and z.device.type == "cpu" and len(chunks) > 1:
        # The chunks touch disjoint rows of `out` (their samples differ) and are made of many
        # small ops that torch runs on one thread each: spread them over torch's threads.
        with ThreadPoolExecutor(threads) as pool:
            for f in [pool.submit(work, *c) for c in chunks]:
                f.result()
    else:
        for c in chunks:
            work(*c)

