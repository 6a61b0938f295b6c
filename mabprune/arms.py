"""Arms: the prunable units of a model, and masks that remove them.

An *arm* is one output unit of an ``nn.Linear`` or one output channel of an ``nn.Conv2d``.
Every such layer of a model is prunable except the one that produces the model's output.
A mask removes a unit's *whole* output: it is applied after the unit's bias and after any
BatchNorm and activation that follow the layer, so a masked forward equals the forward of the
model with that unit physically removed.

The layout is discovered by running the model once on example inputs with forward hooks,
which gives the execution order of its modules without needing to trace Python code.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import numpy as np
import torch
from torch import nn

PRUNABLE_TYPES = (nn.Linear, nn.Conv2d)

# Modules that act on each unit/channel separately, so the mask can be applied after them.
# Anything else (or a module that reads something other than the previous output) ends the chain.
_PER_UNIT_TYPES = (
    nn.BatchNorm1d, nn.BatchNorm2d, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU,
    nn.Tanh, nn.Sigmoid, nn.Softplus, nn.Hardtanh, nn.Mish, nn.Dropout, nn.Dropout1d,
    nn.Dropout2d, nn.Identity, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d,
)


@dataclass(frozen=True)
class Arm:
    """One prunable unit: a stable integer id and its (layer, unit) address."""

    id: int
    layer: str
    unit: int


@dataclass
class PrunableLayer:
    """A prunable layer and where its units are masked.

    Attributes
    ----------
    name : str
        Module name of the ``nn.Linear`` or ``nn.Conv2d``.
    module : nn.Module
        The layer itself.
    n_units : int
        Output features or output channels: the number of arms it contributes.
    offset : int
        Id of its first arm; its arms are ``offset .. offset + n_units - 1``.
    mask_point : str
        Name of the module whose output is masked (the layer, or the last per-unit module
        after it such as a BatchNorm or an activation).
    mask_shape : tuple of int
        Per-sample shape of the masked tensor, e.g. ``(n_units,)`` or ``(C, H, W)``.
    consumer : str or None
        Name of the next ``Linear``/``Conv2d`` that reads this layer's output.
    rank_one : bool
        True when the consumer reads the masked tensor directly and is linear in it (an
        ``nn.Linear``, or an ungrouped zero-padded ``nn.Conv2d``), so the batched engine can
        update the consumer's output instead of recomputing it: ``z' = z - h_j W[:, j]``, or
        for a conv the single-channel convolution of the change.
    """

    name: str
    module: nn.Module
    n_units: int
    offset: int
    mask_point: str
    mask_shape: tuple[int, ...]
    consumer: str | None = None
    rank_one: bool = False

    @property
    def kind(self) -> str:
        return "linear" if isinstance(self.module, nn.Linear) else "conv"


@dataclass
class ArmSet:
    """All arms of a model, grouped by layer.

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
        """Layer index and unit of each arm id (vectorised)."""
        arm_ids = np.asarray(arm_ids, dtype=np.int64)
        if arm_ids.size and (arm_ids.min() < 0 or arm_ids.max() >= self.n_arms):
            bad = arm_ids[(arm_ids < 0) | (arm_ids >= self.n_arms)][0]
            raise ValueError(f"arm id {bad} is out of range: this model has {self.n_arms} arms")
        offsets = np.array([layer.offset for layer in self.layers])
        layer_index = np.searchsorted(offsets, arm_ids, side="right") - 1
        return layer_index, arm_ids - offsets[layer_index]

    def layer_slices(self) -> dict[str, slice]:
        """The slice of arm ids that belongs to each layer."""
        return {layer.name: slice(layer.offset, layer.offset + layer.n_units) for layer in self.layers}


@dataclass
class _Call:
    name: str
    module: nn.Module
    input: object
    output: object


def _trace(model: nn.Module, example_inputs) -> list[_Call]:
    """Run the model once and record each leaf module call in execution order."""
    calls: list[_Call] = []
    handles = []
    for name, module in model.named_modules():
        if len(list(module.children())) == 0:
            def hook(mod, inputs, output, name=name):
                calls.append(_Call(name, mod, inputs[0] if inputs else None, output))
            handles.append(module.register_forward_hook(hook))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(*example_inputs) if isinstance(example_inputs, tuple) else model(example_inputs)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return calls


def find_arms(model: nn.Module, example_inputs, *, layers: Sequence[str] | None = None) -> ArmSet:
    """Discover the arms of a model.

    Parameters
    ----------
    model : nn.Module
        A trained network.
    example_inputs : Tensor or tuple of Tensor
        A small batch the model accepts; it is run once (eval mode, no gradients) to find the
        execution order of the layers.
    layers : sequence of str, optional
        Names of the layers whose units are arms. By default every ``nn.Linear`` and
        ``nn.Conv2d`` except the output layer.

    Returns
    -------
    ArmSet

    Raises
    ------
    ValueError
        If the model has no prunable layer, a named layer does not exist, is not a
        ``Linear``/``Conv2d``, is the output layer, or a prunable module runs twice.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    >>> layer = find_arms(model, torch.zeros(2, 4)).layers[0]
    >>> layer.mask_point, layer.consumer, layer.rank_one
    ('2', '3', True)
    """
    calls = _trace(model, example_inputs)
    modules = dict(model.named_modules())
    candidates = [i for i, c in enumerate(calls) if isinstance(c.module, PRUNABLE_TYPES)]
    if not candidates:
        raise ValueError("the model has no prunable layer (no nn.Linear or nn.Conv2d ran in its forward)")
    seen: set[str] = set()
    for i in candidates:
        if calls[i].name in seen:
            raise ValueError(f"layer {calls[i].name!r} runs twice in the forward pass; shared layers cannot be pruned")
        seen.add(calls[i].name)
    output_layer = calls[candidates[-1]].name

    if layers is None:
        chosen = [i for i in candidates[:-1] if not _is_grouped(calls[i].module)]
    else:
        by_name = {calls[i].name: i for i in candidates}
        chosen = []
        for name in layers:
            if name not in modules:
                raise ValueError(f"layer {name!r} is not a module of this model")
            if name not in by_name:
                raise ValueError(f"layer {name!r} is a {type(modules[name]).__name__}, not an nn.Linear or nn.Conv2d that runs in forward")
            if name == output_layer:
                raise ValueError(f"layer {name!r} produces the model's output and cannot be pruned")
            if _is_grouped(modules[name]):
                raise ValueError(f"layer {name!r} is a grouped convolution; only groups=1 is supported")
            chosen.append(by_name[name])
        chosen.sort()
    if not chosen:
        raise ValueError("the model has no prunable layer: its only Linear/Conv2d is the output layer")

    result, offset = [], 0
    for i in chosen:
        call = calls[i]
        end = i
        # Walk forward through per-unit modules that read the previous output.
        while end + 1 < len(calls) and isinstance(calls[end + 1].module, _PER_UNIT_TYPES) \
                and calls[end + 1].input is calls[end].output:
            end += 1
        consumer_index = next((j for j in range(end + 1, len(calls)) if isinstance(calls[j].module, PRUNABLE_TYPES)), None)
        consumer = calls[consumer_index] if consumer_index is not None else None
        out = calls[end].output
        n_units = call.module.out_features if isinstance(call.module, nn.Linear) else call.module.out_channels
        rank_one = consumer is not None and consumer.input is out and (
            (isinstance(consumer.module, nn.Linear) and out.dim() == 2)
            or (isinstance(consumer.module, nn.Conv2d) and consumer.module.groups == 1
                and consumer.module.padding_mode == "zeros"))
        result.append(PrunableLayer(
            name=call.name, module=call.module, n_units=n_units, offset=offset,
            mask_point=calls[end].name, mask_shape=tuple(out.shape[1:]),
            consumer=consumer.name if consumer else None, rank_one=rank_one,
        ))
        offset += n_units
    return ArmSet(layers=result, output_layer=output_layer, modules=modules)


def _is_grouped(module: nn.Module) -> bool:
    return isinstance(module, nn.Conv2d) and module.groups != 1


def outgoing_weight(arms: ArmSet, layer: PrunableLayer) -> torch.Tensor | None:
    """The consumer's weights that read each unit, as a tensor of shape ``(n_units, -1)``.

    For a Linear consumer after a flatten, unit ``j`` of a conv layer owns the consecutive
    input columns ``j*S .. (j+1)*S - 1`` (channel-major flattening). Returns None when the
    consumer is unknown or its input does not line up with this layer's units.
    """
    if layer.consumer is None:
        return None
    weight = arms.modules[layer.consumer].weight.detach()
    if isinstance(arms.modules[layer.consumer], nn.Conv2d):
        if weight.shape[1] != layer.n_units:
            return None
        return weight.transpose(0, 1).reshape(layer.n_units, -1)
    if weight.shape[1] % layer.n_units:
        return None
    per_unit = weight.shape[1] // layer.n_units
    return weight.reshape(weight.shape[0], layer.n_units, per_unit).transpose(0, 1).reshape(layer.n_units, -1)


class Masker:
    """Masks arms with a multiply, through forward hooks at each layer's mask point.

    ``mask`` holds one float tensor per layer (1 = kept, 0 = masked) on the model's device;
    ``fill`` holds what a masked unit outputs instead (zeros, or its mean for
    mean-replacement). Nothing loops over units in Python.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> arms = find_arms(model, torch.zeros(2, 4))
    >>> with Masker(model, arms) as masker:
    ...     masker.set([0, 1, 2, 3, 4, 5, 6, 7])
    ...     out = model(torch.randn(3, 4))
    >>> torch.allclose(out, model[2].bias.expand(3, 2))
    True
    """

    def __init__(self, model: nn.Module, arms: ArmSet, *, fill: dict[str, torch.Tensor] | None = None):
        self.model, self.arms = model, arms
        device = next(model.parameters()).device
        self.mask = {layer.name: torch.ones(layer.n_units, device=device) for layer in arms.layers}
        self.fill = fill or {}
        self._handles: list = []

    def __enter__(self) -> "Masker":
        for layer in self.arms.layers:
            self._handles.append(self.arms.modules[layer.mask_point].register_forward_hook(self._hook(layer)))
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _hook(self, layer: PrunableLayer):
        def hook(module, inputs, output):
            mask = self.mask[layer.name].view(1, -1, *([1] * (output.dim() - 2)))
            fill = self.fill.get(layer.name)
            if fill is None:
                return output * mask
            return output * mask + (1 - mask) * fill.view(1, *fill.shape)
        return hook

    def set(self, arm_ids: Sequence[int] | np.ndarray) -> None:
        """Mask exactly these arms (all others kept)."""
        self.reset()
        layer_index, unit = self.arms.locate(np.asarray(arm_ids, dtype=np.int64))
        for li in np.unique(layer_index):
            units = torch.as_tensor(unit[layer_index == li], device=self.mask[self.arms.layers[li].name].device)
            self.mask[self.arms.layers[li].name][units] = 0.0

    def reset(self) -> None:
        """Unmask every arm."""
        for m in self.mask.values():
            m.fill_(1.0)

    @contextlib.contextmanager
    def masked(self, arm_ids: Sequence[int] | np.ndarray) -> Iterator[None]:
        """Temporarily mask these arms."""
        self.set(arm_ids)
        try:
            yield
        finally:
            self.reset()


def unit_means(model: nn.Module, arms: ArmSet, inputs: torch.Tensor, *, batch_size: int = 512) -> dict[str, torch.Tensor]:
    """Mean output of every unit at its mask point over ``inputs`` (for mean-replacement).

    The mean is taken over samples only, so a conv channel's mean is a ``(H, W)`` map.
    """
    sums: dict[str, torch.Tensor] = {}
    handles = []
    for layer in arms.layers:
        def hook(module, inp, output, name=layer.name):
            s = output.detach().double().sum(0)
            sums[name] = sums[name] + s if name in sums else s
        handles.append(arms.modules[layer.mask_point].register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(inputs), batch_size):
                model(inputs[start:start + batch_size])
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return {name: (s / len(inputs)).float() for name, s in sums.items()}
