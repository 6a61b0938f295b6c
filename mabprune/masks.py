"""Masks that equal removal: an arm is masked by zeroing its channel at the input of every
layer that reads it (forward pre-hooks), which is what Torch-Pruning's physical removal does.

:class:`Masker` applies masks (one set of arms, or per-row masks for a replicated batch, which
the batched engine uses); :func:`reader_units`, :func:`register_unit_hook` and
:func:`unit_means` read the units where their readers see them; :func:`self_check` proves on
an example batch that masking a group equals its removal, and :func:`find_arms
<mabprune.arms.find_arms>` runs it on every group it offers.
"""

from __future__ import annotations

import contextlib
import copy
from typing import TYPE_CHECKING, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from . import graph, inputs
from .graph import Reader

#: The extra input that closes a masked LSTM unit's output gate, as a fraction of the dtype's
#: lowest value: the sigmoid of it is exactly 0, whatever the gate's other (finite, far smaller)
#: inputs, and times 0 (an unmasked row) it is exactly 0, never NaN.
CLOSED = 0.25

if TYPE_CHECKING:  # the arms are read here, never built: no import of mabprune.arms at run time
    from .arms import ArmSet, PrunableLayer


def _gather_columns(weight: torch.Tensor, reader: Reader, n_units: int) -> torch.Tensor | None:
    """The reader's weights on each unit's input channels, shape ``(n_units, -1)``."""
    w = weight.detach().transpose(0, 1).reshape(weight.shape[1], -1)      # (in_ch, rest)
    ch = reader.channels.to(w.device)
    keep = ch < n_units
    counts = torch.bincount(ch[keep], minlength=n_units)
    if len(counts) != n_units or not bool((counts == counts[0]).all()) or int(counts[0]) == 0:
        return None
    order = torch.argsort(ch[keep], stable=True)
    return w[keep][order].reshape(n_units, -1)


def outgoing_weight(arms: ArmSet, layer: PrunableLayer) -> torch.Tensor | None:
    """Every reader's weights that read each unit, as a tensor of shape ``(n_units, -1)``.

    A Linear after a flatten reads unit ``j`` of a conv through ``H·W`` columns; all of them
    count. None when no reader's columns line up with the units.
    """
    parts = []
    for reader in layer.readers:
        weights = [reader.module.weight] if hasattr(reader.module, "weight") and isinstance(
            reader.module.weight, torch.Tensor) else [p for n, p in reader.module.named_parameters() if n.startswith("weight_ih")]
        for w in weights:
            cols = _gather_columns(w, reader, layer.n_units)
            if cols is not None:
                parts.append(cols)
    return torch.cat(parts, 1) if parts else None


def incoming_weight(layer: PrunableLayer) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Each unit's incoming weights and bias, shapes ``(n_units, -1)`` and ``(n_units, -1)``
    (None without bias): a Linear's row, a conv's filter, an LSTM unit's rows of the four gates
    in the input and recurrent weights of every direction (its two biases summed, as they act).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from mabprune.arms import find_arms
    >>> class Net(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.lstm, self.out = nn.LSTM(3, 5, batch_first=True), nn.Linear(5, 2)
    ...     def forward(self, x):
    ...         return self.out(self.lstm(x)[0][:, -1])
    >>> w, b = incoming_weight(find_arms(Net(), torch.zeros(2, 4, 3)).layers[0])
    >>> tuple(w.shape), tuple(b.shape)
    ((5, 32), (5, 4))
    """
    module, n = layer.module, layer.n_units
    if isinstance(module, nn.LSTM):
        parts, biases = [], []
        for suffix in ("_l0", "_l0_reverse")[: 2 if module.bidirectional else 1]:
            for kind in ("weight_ih", "weight_hh"):
                w = getattr(module, kind + suffix).detach()                  # (4H, in)
                parts.append(w.reshape(4, n, -1).permute(1, 0, 2).reshape(n, -1))
            if module.bias:
                b = (getattr(module, "bias_ih" + suffix) + getattr(module, "bias_hh" + suffix)).detach()
                biases.append(b.reshape(4, n).t())
        return torch.cat(parts, 1), (torch.cat(biases, 1) if biases else None)
    bias = module.bias.detach().reshape(n, -1) if getattr(module, "bias", None) is not None else None
    return module.weight.detach().reshape(n, -1), bias


def _shape(reader: Reader, x: torch.Tensor, rows: int) -> list[int]:
    """Broadcast shape of a reader mask: rows on the batch dim, channels on the channel dim."""
    shape = [1] * x.dim()
    shape[reader.dim] = x.shape[reader.dim]
    if rows > 1:
        shape[reader.batch_dim] = rows
    return shape


def reader_units(reader: Reader, x: torch.Tensor, n_units: int) -> torch.Tensor:
    """The units' values in a reader's input, shape ``(batch, n_units, positions)``."""
    dim = reader.dim % x.dim()
    xt = x.movedim(reader.batch_dim, 0).movedim(dim if dim > reader.batch_dim else dim + 1, -1) \
        if reader.batch_dim else x.movedim(dim, -1)
    xt = xt.reshape(xt.shape[0], -1, xt.shape[-1])                      # (B, positions, in_ch)
    ch = reader.channels.to(x.device)
    keep = torch.nonzero(ch < n_units).squeeze(1)
    order = keep[torch.argsort(ch[keep], stable=True)]
    vals = xt[:, :, order]                                              # (B, P, n·k) unit-major
    B, P = vals.shape[:2]
    return vals.reshape(B, P, n_units, -1).permute(0, 2, 1, 3).reshape(B, n_units, -1)


class RowMismatch(IndexError):
    """Per-row masks do not line up with a layer's batch (the batched engine then pulls that
    group with the exact naive loop)."""


class Masker:
    """Masks arms with a multiply at the input of every reader (forward pre-hooks).

    ``mask`` holds one float tensor per group: ``(n_units,)`` (1 = kept, 0 = masked), or
    ``(rows, n_units)`` for per-row masks of a replicated inputs. ``fill`` (mean-replacement)
    holds, per group and reader, the value a masked channel reads instead of zero (one
    per-sample tensor of the reader's input shape). Gates that require gradients may be
    passed as ``mask`` (Taylor scores).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> from mabprune.arms import find_arms
    >>> arms = find_arms(model, torch.zeros(2, 4))
    >>> with Masker(model, arms) as masker:
    ...     masker.set([0, 1, 2, 3, 4, 5, 6, 7])
    ...     out = model(torch.randn(3, 4))
    >>> torch.allclose(out, model[2].bias.expand(3, 2))
    True
    """

    def __init__(self, model: nn.Module, arms: ArmSet, *, fill: dict | None = None,
                 mask: dict[str, torch.Tensor] | None = None):
        self.model, self.arms = model, arms
        device = next(model.parameters()).device
        self.mask = mask if mask is not None else {
            layer.name: torch.ones(layer.n_units, device=device) for layer in arms.layers}
        self.fill = fill or {}
        self._handles: list = []
        self._patched: list[nn.Module] = []

    def __enter__(self) -> "Masker":
        for layer in self.arms.layers:
            for reader in layer.readers:
                self._handles.append(reader.module.register_forward_pre_hook(self._hook(layer, reader)))
            if isinstance(layer.module, nn.LSTM):
                if self.fill.get(layer.name):
                    raise ValueError(f"replacement='mean' cannot mask the units of LSTM {layer.name!r}: a unit the "
                                     "LSTM reads back cannot be replaced by its mean")
                layer.module.forward = self._lstm_forward(layer)   # an instance attribute: nn.Module calls it
                self._patched.append(layer.module)
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        for module in self._patched:
            del module.forward
        self._patched.clear()

    def _lstm_forward(self, layer: PrunableLayer):
        """The LSTM's forward with its masked units' output gates closed, per row.

        A masked unit's output gate gets an extra input of ``CLOSED`` times the dtype's lowest value (through one more input
        column, so rows may mask different units in one fused call): the gate is then exactly
        0, so the unit's ``h`` is 0 at every step, in the output, in ``h_n`` and in the
        recurrence, which is what removing it does. Its initial state is zeroed too.
        """
        lstm = layer.module
        plain = type(lstm).forward.__get__(lstm)

        def forward(x, hx=None):
            m = self.mask[layer.name]
            if m.requires_grad or bool((m == 1).all()):
                return plain(x, hx)   # nothing masked (gates for gradients act at the readers)
            if not isinstance(x, torch.Tensor) or x.dim() != 3:
                raise ValueError(f"LSTM {layer.name!r}: its units can be masked on batched (B, T, C) tensors only, "
                                 f"not {type(x).__name__} {tuple(getattr(x, 'shape', ()))}")
            hidden, dirs, bd = lstm.hidden_size, 2 if lstm.bidirectional else 1, 0 if lstm.batch_first else 1
            closed = (m == 0).to(x.dtype)                                   # (H,) or (rows, H)
            if closed.dim() == 1:
                closed = closed.expand(x.shape[bd], hidden)
            if closed.shape[0] != x.shape[bd]:   # e.g. one sequence per image row: which rows belong to which copy is unknown
                raise RowMismatch(f"LSTM {layer.name!r} runs {x.shape[bd]} sequences for {closed.shape[0]} mask rows, "
                                  "not one sequence per sample")
            extra = closed.unsqueeze(1 - bd).expand(*x.shape[:2], hidden) if bd == 0 else \
                closed.unsqueeze(0).expand(x.shape[0], *closed.shape)
            gate = torch.zeros(4 * hidden, hidden, dtype=x.dtype, device=x.device)
            gate[3 * hidden + torch.arange(hidden), torch.arange(hidden)] = CLOSED * torch.finfo(x.dtype).min   # gate order i, f, g, o
            weights = []
            for k, w in enumerate(lstm._flat_weights):
                per_direction = len(lstm._flat_weights) // dirs
                weights.append(torch.cat([w, gate], 1) if k % per_direction == 0 else w)   # weight_ih of each direction
            if hx is None:
                zeros = torch.zeros(dirs, x.shape[bd], hidden, dtype=x.dtype, device=x.device)
                hx = (zeros, zeros)
            keep = (1 - closed).unsqueeze(0)
            hx = (hx[0] * keep, hx[1])
            out, h_n, c_n = torch._VF.lstm(torch.cat([x, extra], -1), hx, weights, lstm.bias, 1, 0.0,
                                           lstm.training, lstm.bidirectional, lstm.batch_first)
            return out, (h_n, c_n * keep)
        return forward

    def _hook(self, layer: PrunableLayer, reader: Reader):
        def hook(module, args):
            x = args[0]
            m = self.mask[layer.name]
            ext = torch.cat([m, torch.ones_like(m[..., :1])], -1)[..., reader.channels]   # (in_ch,) or (rows, in_ch)
            rows = ext.shape[0] if ext.dim() == 2 else 1
            cd = reader.dim % x.dim()
            if rows > 1 and reader.batch_dim > cd:
                ext = ext.t()
            rm = ext.reshape(_shape(reader, x, rows))
            fill = self.fill.get(layer.name, {}).get(reader.name)
            x = x * rm.to(x.dtype) if fill is None else x * rm + (1 - rm) * fill.unsqueeze(reader.batch_dim)
            return (x,) + tuple(args[1:])
        return hook

    def set(self, arm_ids: Sequence[int] | np.ndarray) -> None:
        """Mask exactly these arms (all others kept)."""
        self.reset()
        for name, units in self.arms.per_group(arm_ids).items():
            self.mask[name][torch.as_tensor(units, device=self.mask[name].device)] = 0.0

    def set_rows(self, arm_ids: np.ndarray, rows_per_arm: int) -> None:
        """Per-row masks: rows ``k·rows_per_arm .. (k+1)·rows_per_arm − 1`` mask arm ``arm_ids[k]``.

        A group with no arm among ``arm_ids`` keeps one mask of ones for every row, as after
        :meth:`reset`: its readers compute what they compute unmasked, whatever the batch
        (the batched engine replays them as they ran in the unmasked pass).
        """
        layer_index, units = self.arms.locate(np.asarray(arm_ids, dtype=np.int64))
        device = next(self.model.parameters()).device
        rows = len(arm_ids) * rows_per_arm
        for li, layer in enumerate(self.arms.layers):
            ks = np.flatnonzero(layer_index == li)
            if not len(ks):
                self.mask[layer.name] = torch.ones(layer.n_units, device=device)
                continue
            m = torch.ones(rows, layer.n_units, device=device)
            r = torch.as_tensor(ks, device=device).repeat_interleave(rows_per_arm) * rows_per_arm \
                + torch.arange(rows_per_arm, device=device).repeat(len(ks))
            m[r, torch.as_tensor(units[ks], device=device).repeat_interleave(rows_per_arm)] = 0.0
            self.mask[layer.name] = m

    def reset(self) -> None:
        """Unmask every arm."""
        device = next(self.model.parameters()).device
        for layer in self.arms.layers:
            self.mask[layer.name] = torch.ones(layer.n_units, device=device)

    @contextlib.contextmanager
    def masked(self, arm_ids: Sequence[int] | np.ndarray) -> Iterator[None]:
        """Temporarily mask these arms."""
        self.set(arm_ids)
        try:
            yield
        finally:
            self.reset()


def register_unit_hook(arms: ArmSet, layer: PrunableLayer, fn):
    """Call ``fn(values)`` with the group's units as its first reader sees them, shape
    ``(batch, n_units, positions)``, on every forward (after any Masker entered earlier)."""
    reader = layer.readers[0]
    return reader.module.register_forward_pre_hook(lambda m, args: fn(reader_units(reader, args[0], layer.n_units)))


def unit_means(model: nn.Module, arms: ArmSet, x, *, batch_size: int = 512) -> dict[str, dict[str, torch.Tensor]]:
    """Mean input of every reader over ``x`` (for mean-replacement), per group and reader.

    The mean is over samples only: a per-sample tensor of the reader's input shape.
    """
    sums: dict[tuple[str, str], torch.Tensor] = {}
    handles = []
    for layer in arms.layers:
        for reader in layer.readers:
            def hook(module, args, key=(layer.name, reader.name), bd=reader.batch_dim):
                s = args[0].detach().double().sum(bd)
                sums[key] = sums[key] + s if key in sums else s
            handles.append(reader.module.register_forward_pre_hook(hook))
    n = inputs.length(x)
    try:
        with inputs.eval_mode(model), torch.no_grad():
            for start in range(0, n, batch_size):
                inputs.call(model, inputs.index(x, slice(start, start + batch_size)))
    finally:
        for h in handles:
            h.remove()
    out: dict[str, dict[str, torch.Tensor]] = {}
    for (g, r), s in sums.items():
        out.setdefault(g, {})[r] = (s / n).float()
    return out


# ---------------------------------------------------- masking equals removal

def self_check(model: nn.Module, arms: ArmSet, example_inputs, strict: bool) -> None:
    """Masked output == removed output for the first and last channel of every group.

    A group that fails is named in a ValueError when ``strict`` (the user named its layers);
    otherwise it is dropped from the arms and listed in ``arms.rejected`` with the reason.
    """
    single = {layer.name: "one channel: it can be neither removed nor checked against removal"
              for layer in arms.layers if layer.n_units < 2}
    if single:
        if strict:
            name = next(iter(single))
            raise ValueError(f"group {name!r}: {single[name]}; list it in ignored_layers")
        _drop(arms, single)
    chosen = [a for layer in arms.layers for a in _probe(layer)]
    if mismatch(model, arms, example_inputs, chosen) is None:
        return
    bad = {}
    for layer in arms.layers:   # name the group(s) at fault
        err = mismatch(model, arms, example_inputs, _probe(layer))
        if err is not None:
            bad[layer.name] = f"masking does not equal Torch-Pruning's removal on the example batch ({err})"
            if strict:
                raise ValueError(f"group {layer.name!r} (layers {layer.members}): {bad[layer.name]}; "
                                 "list it in ignored_layers")
    if not bad:
        raise ValueError("masking several groups together does not equal their removal by Torch-Pruning")
    _drop(arms, bad)


def _drop(arms, bad: dict) -> None:
    """Leave the groups of ``bad`` out of the arms, listed in ``arms.rejected`` with the reason."""
    arms.rejected.update(bad)
    kept, offset = [], 0
    for layer in arms.layers:
        if layer.name not in bad:
            layer.offset, offset = offset, offset + layer.n_units
            kept.append(layer)
    if not kept:
        raise ValueError(f"the model has no prunable layer: every group is inexact or too small ({bad})")
    arms.layers = kept


def _probe(layer) -> list[int]:
    """The channels checked: the first and the last, but never every channel (removal must not
    empty the group; one-channel groups were left out before)."""
    return sorted({layer.offset, layer.offset + layer.n_units - 1}) if layer.n_units > 2 else [layer.offset]


def mismatch(model, arms, example_inputs, arm_ids) -> str | None:
    with inputs.eval_mode(model):
        with torch.no_grad(), Masker(model, arms) as masker:
            masker.set(arm_ids)
            masked = inputs.call(model, example_inputs)
        pruned = copy.deepcopy(model)
        try:
            graph.remove(pruned, example_inputs, arms.per_group(arm_ids))
            with torch.no_grad():
                removed = inputs.call(pruned.eval(), example_inputs)
        except (RuntimeError, ValueError) as exc:
            return f"the removed model fails: {type(exc).__name__}: {str(exc)[:200]}"
    if masked.shape != removed.shape:
        return f"output shapes {tuple(masked.shape)} vs {tuple(removed.shape)}"
    scale = max(1.0, float(masked.abs().max()))
    diff = float((masked - removed).abs().max())
    return None if diff <= 1e-5 * scale else f"largest difference {diff:.3g} at output scale {scale:.3g}"
