"""Arms: the prunable units of a model, and how they are found.

An *arm* is one channel of a Torch-Pruning group (see :mod:`mabprune.graph`): one output
unit of an ``nn.Linear`` or output channel of a conv together with every channel coupled to
it (a residual stream, a concatenation, the depthwise conv and BatchNorm that follow it).
Coupled channels are one arm. The arms of a group are addressed by ``(group root layer,
channel)``; the output layer is never pruned.

A mask zeroes the arm's channel at the *input* of every layer that reads it (forward
pre-hooks), which is what physical removal does, so no producer, BatchNorm, depthwise conv or
reused activation needs a mask, and a shared module's unit is one arm masked in every call.
:func:`find_arms` checks this on the example batch against Torch-Pruning's removal
(:func:`mabprune.masks.self_check`); the masks themselves are :mod:`mabprune.masks`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from torch import nn

from . import _deprecated, graph, inputs
from .graph import Reader
from .masks import self_check

PRUNABLE_TYPES = graph.ROOT_TYPES

# Modules that act on each unit/channel separately (the batched engine's Sequential fast path).
_PER_UNIT_TYPES = (
    nn.BatchNorm1d, nn.BatchNorm2d, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU,
    nn.Tanh, nn.Sigmoid, nn.Softplus, nn.Hardtanh, nn.Mish, nn.Dropout, nn.Dropout1d,
    nn.Dropout2d, nn.Identity, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d,
)


@dataclass(frozen=True)
class Arm:
    """One prunable unit: a stable integer id and its (group root layer, channel) address."""

    id: int
    layer: str
    unit: int


@dataclass
class PrunableLayer:
    """One pruning group: its root layer, its arms and where they are masked.

    Attributes
    ----------
    name : str
        Module name of the group's root ``nn.Linear``/conv (the arm address).
    module : nn.Module
    n_units : int
        Channels of the group: the number of arms it contributes.
    offset : int
        Id of its first arm; its arms are ``offset .. offset + n_units - 1``.
    readers : list of Reader
        The layers whose input channels carry the group (masked by pre-hooks).
    members : list of str
        Layers whose output channels are removed with the group (the root included).
    mask_point, consumer, rank_one, mask_shape
        Only for a plain chain of leaf modules (None/False otherwise): the last per-unit
        module after the root, the single reader, whether the reader is linear in the masked
        tensor, and that tensor's per-sample shape. The batched engine's fast paths use them.
    """

    name: str
    module: nn.Module
    n_units: int
    offset: int
    readers: list[Reader] = field(default_factory=list)
    members: list[str] = field(default_factory=list)
    mask_point: str | None = None
    consumer: str | None = None
    rank_one: bool = False
    mask_shape: tuple[int, ...] = ()

    @property
    def kind(self) -> str:
        if isinstance(self.module, nn.LSTM):
            return "lstm"
        return "linear" if isinstance(self.module, nn.Linear) else "conv"

    @property
    def frontier(self) -> list[nn.Module]:
        """The modules where a mask first acts: the readers, and an LSTM root itself (it reads its units)."""
        return [r.module for r in self.readers] + ([self.module] if isinstance(self.module, nn.LSTM) else [])


@dataclass
class ArmSet:
    """All arms of a model, grouped by pruning group.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from mabprune.arms import find_arms
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    >>> arms = find_arms(model, torch.zeros(2, 4))
    >>> arms.n_arms, [layer.name for layer in arms.layers], arms.output_layer
    (8, ['0'], '2')
    >>> arms.arm(5)
    Arm(id=5, layer='0', unit=5)
    """

    layers: list[PrunableLayer]
    output_layer: str
    modules: dict[str, nn.Module] = field(repr=False, default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)
    chain: bool = False
    chain_modules: nn.Sequential | None = field(repr=False, default=None)   # the proven chain, in call order
    chain_names: list[str] = field(repr=False, default_factory=list)
    sample_size: int = 1   # largest per-sample activation (elements): the general path's memory bound

    @property
    def n_arms(self) -> int:
        return sum(layer.n_units for layer in self.layers)

    def arm(self, arm_id: int) -> Arm:
        """The arm with this id."""
        layer_index, unit = self.locate(np.array([arm_id]))
        return Arm(int(arm_id), self.layers[int(layer_index[0])].name, int(unit[0]))

    def arms(self) -> list[Arm]:
        """Every arm, in id order."""
        return [Arm(layer.offset + u, layer.name, u) for layer in self.layers for u in range(layer.n_units)]

    def locate(self, arm_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Group index and channel of each arm id (vectorised)."""
        arm_ids = np.asarray(arm_ids, dtype=np.int64)
        if arm_ids.size and (arm_ids.min() < 0 or arm_ids.max() >= self.n_arms):
            bad = arm_ids[(arm_ids < 0) | (arm_ids >= self.n_arms)][0]
            raise ValueError(f"arm id {bad} is out of range: this model has {self.n_arms} arms")
        offsets = np.array([layer.offset for layer in self.layers])
        layer_index = np.searchsorted(offsets, arm_ids, side="right") - 1
        return layer_index, arm_ids - offsets[layer_index]

    def layer_slices(self) -> dict[str, slice]:
        """The slice of arm ids that belongs to each group."""
        return {layer.name: slice(layer.offset, layer.offset + layer.n_units) for layer in self.layers}

    def per_group(self, arm_ids) -> dict[str, list[int]]:
        """Sorted channels of each group among ``arm_ids``."""
        layer_index, units = self.locate(np.asarray(arm_ids, dtype=np.int64))
        return {self.layers[li].name: sorted(units[layer_index == li].tolist()) for li in np.unique(layer_index)}


def _trace(model: nn.Module, example_inputs) -> list[tuple[str, nn.Module, object, object]]:
    """Leaf module calls in execution order: (name, module, first input, output)."""
    calls, handles = [], []
    for name, module in model.named_modules():
        if len(list(module.children())) == 0:
            def hook(mod, args, output, name=name):
                calls.append((name, mod, args[0] if args else None, output))
            handles.append(module.register_forward_hook(hook))
    try:
        with inputs.eval_mode(model), torch.no_grad():
            inputs.call(model, example_inputs)
    finally:
        for h in handles:
            h.remove()
    return calls


def find_arms(model: nn.Module, example_inputs, *, layers: Sequence[str] | None = None,
              ignored_layers: Sequence[str | nn.Module] = (), check: bool = True,
              heads: bool = False) -> ArmSet:
    """Discover the arms of a model from Torch-Pruning's dependency graph.

    Parameters
    ----------
    model : nn.Module
        A trained network.
    example_inputs : Tensor, tuple of Tensor or dict of Tensor
        A small batch the model accepts (``model(x)``, ``model(*x)`` or ``model(**x)``).
    layers : sequence of str, optional
        Layers whose groups are prunable; by default every group that masking removes exactly
        (the others are listed in ``ArmSet.rejected`` with the reason).
    ignored_layers : sequence of str or nn.Module, default=()
        Layers whose output channels are never pruned (the output layer always is).
    check : bool, default=True
        Compare the masked output with Torch-Pruning's removal (on a copy) for two channels
        of every group; raise naming the group if they differ beyond 1e-5 relative.
    heads : bool, default=False
        Offer the attention heads of Hugging Face style blocks as arms (one arm = every
        channel of a head in query, key and value; see :func:`mabprune.graph.groups`). By
        default those query/key/value groups are rejected with the reason.

    Returns
    -------
    ArmSet

    Raises
    ------
    ValueError
        If a parameter is not finite (naming it), nothing is prunable, a named layer does not
        exist, is not a Linear/conv, is the output layer, or belongs to a group masking cannot
        remove exactly (with the reason).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    >>> layer = find_arms(model, torch.zeros(2, 4)).layers[0]
    >>> [r.name for r in layer.readers], layer.members, layer.mask_point
    (['3'], ['0', '1'], '2')
    """
    inputs.check_parameters_finite(model)  # a NaN weight would fail every group's self-check instead
    modules = dict(model.named_modules())
    calls = _trace(model, example_inputs)
    prunable = [c for c in calls if isinstance(c[1], PRUNABLE_TYPES)]
    if not prunable:
        raise ValueError("the model has no prunable layer (no nn.Linear, conv or LSTM ran in its forward)")
    output_layer = prunable[-1][0]
    ignored = [modules[output_layer]]
    for item in ignored_layers:
        if isinstance(item, str) and item not in modules:
            raise ValueError(f"ignored layer {item!r} is not a module of this model")
        ignored.append(modules[item] if isinstance(item, str) else item)
    if layers is not None:
        for name in layers:
            if name not in modules:
                raise ValueError(f"layer {name!r} is not a module of this model")
            if not isinstance(modules[name], PRUNABLE_TYPES):
                raise ValueError(f"layer {name!r} is a {type(modules[name]).__name__}, not an nn.Linear, conv or LSTM")
            if name == output_layer:
                raise ValueError(f"layer {name!r} produces the model's output and cannot be pruned")
    dg = graph.build_graph(model, example_inputs)
    found = [g for g in graph.groups(model, dg, ignored, heads=heads) if g.n_units > 0]
    rejected = {g.name: g.reason for g in found if g.reason}
    if layers is None:
        chosen = [g for g in found if g.reason is None]
    else:
        chosen = []
        for name in layers:
            g = next((g for g in found if name == g.name or name in g.members), None)
            if g is None:
                raise ValueError(f"layer {name!r} is in no prunable group (ignored, or never run)")
            if g.reason:
                raise ValueError(f"layer {name!r} (group {g.name!r}) cannot be masked exactly: {g.reason}")
            if g not in chosen:
                chosen.append(g)
    if not chosen:
        why = "; ".join(f"{k}: {v}" for k, v in rejected.items())
        raise ValueError("the model has no prunable layer: its only Linear/conv is the output layer"
                         + (f" or every group is inexact ({why})" if why else ""))
    order = {c[0]: i for i, c in reversed(list(enumerate(calls)))}
    chosen.sort(key=lambda g: order.get(g.name, len(calls)))
    result, offset = [], 0
    for g in chosen:
        result.append(PrunableLayer(g.name, g.module, g.n_units, offset, g.readers, g.members))
        offset += g.n_units
    arms = ArmSet(result, output_layer, modules, rejected)
    arms.sample_size = max(int(c[3][0].numel()) for c in calls if isinstance(c[3], torch.Tensor) and c[3].dim() > 0)
    _chain_layout(model, arms, calls, example_inputs)
    if check:
        self_check(model, arms, example_inputs, strict=layers is not None)
    return arms


def _chain_layout(model: nn.Module, arms: ArmSet, calls, example_inputs=None) -> None:
    """Mask points and consumers of a plain chain of leaf modules (the fast paths' proof).

    A chain: leaf modules each called once, each reading the previous output, the first the
    model's input tensor and the last giving its output — an ``nn.Sequential`` of leaves, or
    any module whose forward is such a composition (e.g. embedding → Linear → ReLU → Linear),
    proven by the trace and by the composed leaves reproducing the model's output on the
    example batch bit for bit. Each group's coupled layers must be its root and per-unit
    modules up to its single reader. Anything else leaves ``arms.chain`` False and the engine
    takes the general path.
    """
    if isinstance(model, nn.Sequential):
        children = list(model.named_children())
        if not children or any(len(list(m.children())) for _, m in children) or len(calls) != len(children) \
                or [c[0] for c in calls] != [n for n, _ in children]:
            return
        seq = model
    else:
        seq = _leaf_chain(model, calls, example_inputs)
        if seq is None:
            return
    if any(calls[i + 1][2] is not calls[i][3] for i in range(len(calls) - 1)):
        return
    index = {c[0]: i for i, c in enumerate(calls)}
    for layer in arms.layers:
        i = end = index[layer.name]
        while end + 1 < len(calls) and isinstance(calls[end + 1][1], _PER_UNIT_TYPES):
            end += 1
        j = next((k for k in range(end + 1, len(calls)) if isinstance(calls[k][1], PRUNABLE_TYPES)), None)
        between = {c[0] for c in calls[i:end + 1]}
        if j is None or [r.name for r in layer.readers] != [calls[j][0]] or not set(layer.members) <= between:
            return
        if any(not isinstance(c[1], (nn.Flatten, nn.Dropout, nn.Identity)) for c in calls[end + 1:j]):
            return   # something between the mask point and the reader that may not keep zeros
        out, consumer = calls[end][3], calls[j][1]
        layer.mask_point, layer.consumer, layer.mask_shape = calls[end][0], calls[j][0], tuple(out.shape[1:])
        layer.rank_one = j == end + 1 and (
            (isinstance(consumer, nn.Linear) and out.dim() == 2)
            or (isinstance(consumer, nn.Conv2d) and consumer.groups == 1 and consumer.padding_mode == "zeros"))
    arms.chain, arms.chain_modules, arms.chain_names = True, seq, [c[0] for c in calls]


def _leaf_chain(model: nn.Module, calls, example_inputs) -> nn.Sequential | None:
    """The leaves of a non-Sequential model as an ``nn.Sequential``, if its forward is exactly their chain."""
    names = [c[0] for c in calls]
    if not isinstance(example_inputs, torch.Tensor) or not calls or len(set(names)) != len(names) \
            or calls[0][2] is not example_inputs or any(not isinstance(c[3], torch.Tensor) for c in calls):
        return None
    seq = nn.Sequential(*[c[1] for c in calls])
    try:
        with inputs.eval_mode(model), torch.no_grad():
            same = torch.equal(seq(example_inputs), inputs.call(model, example_inputs))
    except (RuntimeError, TypeError, ValueError):
        same = False
    return seq if same else None


def __getattr__(name: str):
    return _deprecated.moved_name(__name__, name)   # Masker & co. moved to mabprune.masks
