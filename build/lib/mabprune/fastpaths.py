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
``|δ_bj|`` make those candidates a prefix per unit ``k`` (a ``searchsorted``); the units,
ranked by the length of their prefix, form a staircase that is covered by a few dense
blocks (a few per cent of the (sample, unit, arm) triples), each computed elementwise and
added to the logits by one batched product. The result is the masked network's logits for
every (sample, arm), to float rounding; no approximation is involved.

:func:`run_chain` runs the layers after the masked point on a batch of variants with the
same values as the modules, faster: 2×2 max-pooling as elementwise maxima, ReLUs in place.
"""

from __future__ import annotations

import numpy as np
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


# Modules whose output is a new tensor, and those that return their input or a view of it.
_NEW_OUTPUT = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.BatchNorm1d, nn.BatchNorm2d, nn.MaxPool2d,
               nn.AvgPool2d, nn.AdaptiveAvgPool2d)
_SAME_OR_VIEW = (nn.Flatten, nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d)


def _plain(m: nn.Module) -> bool:
    return not (m._forward_hooks or m._forward_pre_hooks)


def _max_pool_2x2(x: torch.Tensor) -> torch.Tensor:
    """``F.max_pool2d(x, 2)`` (floor mode) as three elementwise maxima of strided views: the same
    values, several times faster than the CPU pooling kernel on (N, C, H, W) variants."""
    H, W = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
    return torch.maximum(torch.maximum(x[..., 0:H:2, 0:W:2], x[..., 0:H:2, 1:W:2]),
                         torch.maximum(x[..., 1:H:2, 0:W:2], x[..., 1:H:2, 1:W:2]))


def _is_pool_2x2(m: nn.Module) -> bool:
    def pair(v):
        return tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    return type(m) is nn.MaxPool2d and pair(m.kernel_size) == (2, 2) and pair(m.stride) == (2, 2) \
        and pair(m.padding) == (0, 0) and pair(m.dilation) == (1, 1) and not m.ceil_mode and not m.return_indices


def run_chain(modules: nn.Sequential, x: torch.Tensor, fresh: bool = True) -> torch.Tensor:
    """``modules(x)`` with 2×2 max-pooling as elementwise maxima and ReLUs in place on tensors
    nothing else holds (``x`` itself only when ``fresh``); same values as the modules.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> seq = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
    >>> x = torch.randn(4, 1, 9, 9)
    >>> with torch.no_grad():
    ...     bool(torch.equal(run_chain(seq, x.clone()), seq(x)))
    True
    """
    # fresh: x is ours (the input when fresh, or a new tensor or a view of one made by a known module)
    mods, i = list(modules), 0
    while i < len(mods):
        m = mods[i]
        run = _increasing_run(mods, i) if x.dim() == 4 else 0
        if run:
            # ReLU and a BatchNorm with positive scales are non-decreasing per channel, also in
            # floating point, so they commute with the max-pool after them: pool first, then
            # map 4x fewer elements (the same values).
            x, fresh = _max_pool_2x2(x), True
            for f in mods[i:i + run]:
                x = torch.relu_(x) if type(f) is nn.ReLU else f(x)
            i += run + 1
            continue
        if type(m) is nn.ReLU and _plain(m) and fresh:
            x = torch.relu_(x)
        elif _is_pool_2x2(m) and _plain(m) and x.dim() == 4:
            x = _max_pool_2x2(x)
        else:
            x = m(x)
            fresh = (fresh and isinstance(m, _SAME_OR_VIEW)) or isinstance(m, _NEW_OUTPUT)
        i += 1
    return x


def _increasing_run(mods: list, i: int) -> int:
    """How many modules from ``i`` on are ReLUs or eval BatchNorm2d with positive scales, all
    followed by a 2×2 max-pool (0 if not so)."""
    j = i
    while j < len(mods) and _plain(mods[j]) and (type(mods[j]) is nn.ReLU or (
            type(mods[j]) is nn.BatchNorm2d and not mods[j].training and mods[j].running_var is not None
            and bool((bn_scale(mods[j]) > 0).all()))):
        j += 1
    return j - i if j > i and j < len(mods) and _is_pool_2x2(mods[j]) and _plain(mods[j]) else 0


def flatten_linear(downstream: nn.Sequential, consumer: nn.Module, mask_shape: tuple) -> int | None:
    """Index of ``consumer`` in ``downstream`` when that starts ``Flatten(1, -1) → [Identity/Dropout]
    → consumer Linear`` on a (C, H, W) mask point: channel j is then the input features
    ``j·H·W .. (j+1)·H·W − 1``, and a variant's consumer output is ``z + W[:, block_j] Δ``."""
    mods = list(downstream)
    if len(mask_shape) < 2 or not mods or type(mods[0]) is not nn.Flatten or mods[0].start_dim != 1 \
            or mods[0].end_dim != -1:
        return None
    k = 1
    while k < len(mods) and isinstance(mods[k], (nn.Identity, nn.Dropout)):   # identities in eval mode
        k += 1
    if k == len(mods) or mods[k] is not consumer or type(consumer) is not nn.Linear \
            or consumer.in_features != int(np.prod(mask_shape)) or not all(_plain(m) for m in mods[:k + 1]):
        return None
    return k


def add_channel_blocks(z_var: torch.Tensor, dh: torch.Tensor, weight: torch.Tensor, units_t: torch.Tensor,
                       k_idx: torch.Tensor) -> torch.Tensor:
    """``z_var[r] += weight[:, block of unit units_t[k_idx[r]]] @ dh[r].flatten()`` in place, for rows
    grouped by arm (each run one product)."""
    P = dh[0].numel()
    ks, runs = torch.unique_consecutive(k_idx, return_counts=True)
    start = 0
    for k, n in zip(ks.tolist(), runs.tolist()):
        j = int(units_t[k])
        z_var[start:start + n].addmm_(dh[start:start + n].reshape(n, P), weight[:, j * P:(j + 1) * P].t())
        start += n
    return z_var


def bn_scale(bn: nn.BatchNorm1d | None) -> torch.Tensor | None:
    """The per-unit factor of an eval-mode BatchNorm (None without one)."""
    if bn is None:
        return None
    scale = torch.rsqrt(bn.running_var + bn.eps)
    return scale * bn.weight if bn.weight is not None else scale


@torch.no_grad()
def head_logits(z: torch.Tensor, delta: torch.Tensor, w2: torch.Tensor, head: nn.Linear,
                logits: torch.Tensor, budget: int = 2 ** 22) -> torch.Tensor:
    """Logits of every (sample, arm) variant, shape ``(B, O, J)`` (arms last).

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
    budget : int
        Elements of the per-chunk operand ``W₃ D_b``.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> torch.manual_seed(0) and None
    >>> w2, head, z = torch.randn(6, 4), nn.Linear(6, 3, bias=False), torch.randn(5, 6)
    >>> delta = -torch.rand(5, 4)                     # masking each of 4 inputs of W₂
    >>> out = head_logits(z, delta, w2, head, head(torch.relu(z)))
    >>> masked = head(torch.relu(z[:, None, :] + delta[:, :, None] * w2.t()))   # (B, J, O), directly
    >>> bool(torch.allclose(out, masked.transpose(1, 2), atol=1e-6))
    True
    """
    B, K = z.shape
    J = delta.shape[1]
    w3 = head.weight
    O = w3.shape[0]
    active = (z > 0).to(z.dtype)
    out = torch.empty(B, O, J, dtype=z.dtype, device=z.device)
    # (b·O, K) @ (K, J) per chunk of samples: wide operands, so the GEMM runs near peak
    step = max(1, budget // (O * K))
    for s in range(0, B, step):
        sl = slice(s, s + step)
        a = (active[sl].unsqueeze(1) * w3.unsqueeze(0)).reshape(-1, K)          # W₃ D_b, stacked
        m = out[sl]
        torch.mm(a, w2, out=m.view(-1, J))                                       # (W₃ D_b W₂)[:, j]
        m.mul_(delta[sl].unsqueeze(1)).add_(logits[sl].unsqueeze(2))
    _add_flips(out, z, delta, w2, w3)
    return out


def _sort_rows(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``x.sort(1)`` (ascending; ties in any order); NumPy's vectorised sort on a CPU is several
    times faster than torch's for rows of a few thousand."""
    if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64, torch.int64):
        return x.sort(1)
    xn = x.numpy()
    idx = np.argsort(xn, axis=1)
    return torch.from_numpy(np.take_along_axis(xn, idx, 1)), torch.from_numpy(idx)


def _add_flips(out: torch.Tensor, z: torch.Tensor, delta: torch.Tensor, w2: torch.Tensor, w3: torch.Tensor,
               budget: int | None = None) -> None:
    """Add ``W₃[:, k] · relu(σ_bk z'_bjk)`` for every unit k that changes sign (in place).

    ``out`` is ``(B, O, J)``. The candidates of a (sample, unit) pair are a prefix of that
    sample's arms sorted by ``|δ|``. Per sample the units are ranked by their number of
    candidates, so that rank r needs at most ``width[r]`` (the widest prefix over the
    samples) arms: the candidates fill a staircase, tiled by blocks of ranks. Every entry of
    a block is the exact correction of its triple (zero where nothing flips), so covering
    more than the candidates changes nothing; a block's entries are computed densely and
    summed into the logits with one batched product ``(O × n)(n × width)`` per chunk. The
    ranks whose prefix is wide (units that most arms flip) form one block that reads
    ``σ W₂[k, :]`` as whole rows in arm order; the narrow ranks, in blocks whose widths stay
    within a factor 2, gather the sorted prefix.
    """
    B, K = z.shape
    J, O = delta.shape[1], w3.shape[0]
    dev = z.device
    if budget is None:
        # Elements per block chunk: cache-sized on one thread; with several, fewer and larger
        # ops, since each is one fork/join of torch's threads (costly on a busy machine).
        budget = 2 ** 24 if dev.type != "cpu" else 2 ** 19 if torch.get_num_threads() == 1 else 2 ** 22
    wmax = w2.abs().amax(1)                                                      # (K,)
    neg_absd, order = _sort_rows(delta.abs().neg_())                             # arms by |δ|, largest first
    # A flip needs |δ_bj|·|W₂[k, j]| > |z_bk|, so |δ_bj| > |z_bk| / max_j |W₂[k, j]|: for each
    # (b, k) a prefix of the arms sorted by |δ_b|. The threshold is lowered by 1e-5 so that
    # rounding never hides a candidate (an extra one adds exactly 0).
    thr = torch.where(wmax > 0, z.abs() / wmax.clamp_min(torch.finfo(z.dtype).tiny),
                      torch.full_like(z, float("inf"))) * (1 - 1e-5)
    counts = torch.searchsorted(neg_absd, thr.neg_())                            # (B, K): #{j: |δ_bj| > thr}
    neg_ranked, units = _sort_rows(counts.neg_())                                # units by candidates
    R = int((neg_ranked < 0).sum(1).max())
    if R == 0:
        return
    width = (-neg_ranked[:, :R].amin(0)).tolist()        # non-increasing in the rank
    units = units[:, :R].to(dev)
    zr = z.gather(1, units)
    # σ z' = −|z| + δ · σW₂[k, j] with σW₂[k, :] the row k + K·[z > 0] of [W₂; −W₂]
    neg_abs = zr.abs().neg_().unsqueeze(2)
    rows = units + K * (zr > 0)
    signed = torch.empty(2 * K, J, dtype=z.dtype, device=dev)
    signed[:K] = w2
    torch.neg(w2, out=signed[K:])
    w3t = w3.t().contiguous()
    order = order.to(dev)
    wide = max(1, J // 4)   # from this prefix width on, whole rows cost less than a gather per entry
    blocks, r0 = [], 0
    while r0 < R:
        r1 = r0 + 1
        if width[r0] >= wide:
            while r1 < R and width[r1] >= wide:
                r1 += 1
        else:
            while r1 < R and 2 * width[r1] > width[r0]:
                r1 += 1
        blocks.append((r0, r1, J if width[r0] >= wide else width[r0]))
        r0 = r1
    steps = [max(1, budget // ((r1 - r0) * w)) for r0, r1, w in blocks]
    buf = torch.empty(max(min(st, B) * (r1 - r0) * w for st, (r0, r1, w) in zip(steps, blocks)),
                      dtype=z.dtype, device=dev)                                 # one scratch for every chunk
    narrow = next((w for _, _, w in blocks if w < J), 0)   # the gathered blocks' widest prefix
    if narrow:
        acc = torch.zeros(B, O, narrow, dtype=z.dtype, device=dev)              # sorted-arm coordinates
        dsorted = delta.gather(1, order[:, :narrow]).unsqueeze(1)
        itype = torch.int32 if signed.numel() < 2 ** 31 else torch.int64
        order_i = order[:, :narrow].to(itype).unsqueeze(1)
        rows_j = (rows * J).to(itype).unsqueeze(2)
    dfull = delta.unsqueeze(1)
    for (r0, r1, W), step in zip(blocks, steps):
        n = r1 - r0
        for s in range(0, B, step):
            sl = slice(s, s + step)
            bs = len(range(B)[sl])
            # W₃[:, k] of the block's units, as (bs, O, n)
            g = w3t.index_select(0, units[sl, r0:r1].reshape(-1)).view(bs, n, O).transpose(1, 2)
            e = buf[:bs * n * W].view(bs, n, W)
            if W == J:
                torch.index_select(signed, 0, rows[sl, r0:r1].reshape(-1), out=e.view(bs * n, J))
                torch.addcmul(neg_abs[sl, r0:r1], e, dfull[sl], out=e).relu_()
                out[sl].baddbmm_(g, e)
            else:
                idx = rows_j[sl, r0:r1] + order_i[sl, :, :W]
                torch.index_select(signed.view(-1), 0, idx.view(-1), out=e.view(-1))
                torch.addcmul(neg_abs[sl, r0:r1], e, dsorted[sl, :, :W], out=e).relu_()
                acc[sl, :, :W] += torch.bmm(g, e)   # (baddbmm_ into a strided slice loops per sample)
    if narrow:
        # rank r of sample b is arm order[b, r]
        out.scatter_add_(2, order[:, :narrow].unsqueeze(1).expand(B, O, narrow), acc)
