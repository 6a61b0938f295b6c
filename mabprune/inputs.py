"""A model's inputs: tensors, tuples or dicts of tensors, and the reward data read from them.

A model whose ``forward`` takes two inputs (``model(a, b)``) or keyword inputs
(``model(**batch)``) is handled like one that takes a single tensor: every engine and the arm
discovery index, repeat and call through :func:`index`, :func:`repeat` and :func:`call`. A
model's output may be a tensor, a tuple whose first item is the prediction, or an object with
``.logits`` (Hugging Face models).

The reward data of :func:`mabprune.prune` (a pair ``(X, y)`` or a DataLoader) is read by
:func:`as_tensors` and checked by :func:`check_inputs` and :func:`check_finite_losses` before
any compute; every check fails with a message that names the bad value.

Examples
--------
>>> import torch
>>> X, y = as_tensors((torch.zeros(4, 3), [0, 1, 0, 1]))
>>> length(X), y.dtype
(4, torch.int64)
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from . import _deprecated

Inputs = Any  # torch.Tensor | tuple[torch.Tensor, ...] | dict[str, torch.Tensor]


def _map(x: Inputs, fn) -> Inputs:
    if isinstance(x, torch.Tensor):
        return fn(x)
    if isinstance(x, dict):
        return {k: fn(v) if isinstance(v, torch.Tensor) else v for k, v in x.items()}
    if isinstance(x, (tuple, list)):
        return tuple(fn(v) if isinstance(v, torch.Tensor) else v for v in x)
    raise ValueError(f"model x must be a tensor, a tuple of tensors or a dict of tensors, got {type(x).__name__}")


def map_tensors(x: Inputs, fn) -> Inputs:
    """``x`` with ``fn`` applied to each of its tensors, in the order of :func:`tensors`."""
    return _map(x, fn)


def tensors(x: Inputs) -> list[torch.Tensor]:
    """The tensors of ``x``, in order."""
    if isinstance(x, torch.Tensor):
        return [x]
    values = x.values() if isinstance(x, dict) else x
    return [v for v in values if isinstance(v, torch.Tensor)]


def length(x: Inputs) -> int:
    """Number of samples (size of dim 0, which every tensor must share)."""
    sizes = {len(t) for t in tensors(x)}
    if len(sizes) != 1:
        raise ValueError(f"the input tensors disagree on the number of samples (dim 0): {sorted(sizes)}")
    return sizes.pop()


def index(x: Inputs, idx) -> Inputs:
    """Rows ``idx`` of every tensor."""
    return _map(x, lambda t: t[idx])


def repeat(x: Inputs, k: int) -> Inputs:
    """``k`` copies of the batch stacked on dim 0 (row ``i·B + b`` is sample ``b``)."""
    return _map(x, lambda t: t.repeat(k, *([1] * (t.dim() - 1))))


def to(x: Inputs, device) -> Inputs:
    return _map(x, lambda t: t.to(device))


def call(model: nn.Module, x: Inputs) -> torch.Tensor:
    """``model(x)``, ``model(*x)`` or ``model(**x)``, reduced to the prediction tensor."""
    if isinstance(x, dict):
        out = model(**x)
    elif isinstance(x, (tuple, list)):
        out = model(*x)
    else:
        out = model(x)
    return prediction(out)


def prediction(out) -> torch.Tensor:
    """The prediction tensor of a model's output."""
    if isinstance(out, torch.Tensor):
        return out
    if hasattr(out, "logits"):
        return out.logits
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    raise ValueError(f"the model's output is a {type(out).__name__}: expected a tensor, a tuple starting with one, "
                     "or an object with .logits")


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` in eval mode for the block, its train/eval flag restored afterwards (also on error).

    Examples
    --------
    >>> m = nn.Sequential(nn.Dropout(0.5)).train()
    >>> with eval_mode(m):
    ...     m.training
    False
    >>> m.training
    True
    """
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


# ------------------------------------------------------------ the reward data

def as_tensors(data, target: str | int | None = None):
    """The reward data as ``(inputs, targets)``; inputs may be a tensor, a tuple or a dict.

    ``data`` is a pair ``(X, y)`` (``X`` a tensor, array, tuple of tensors or dict of
    tensors), or a DataLoader read once in its own order whose batches are ``(x, y)``,
    ``(x1, ..., xn, y)`` (the last item is the target, unless ``target`` gives its position) or
    dicts (``target`` names the target key; default ``"labels"`` or ``"y"``).
    """
    if isinstance(data, torch.utils.data.DataLoader):
        xs, ys = [], []
        for b in data:
            x, t = _split_batch(b, target)
            xs.append(x)
            ys.append(torch.as_tensor(t))
        if not xs:
            raise ValueError("data is an empty DataLoader: the reward (validation) split has no samples")
        X = concat(xs)
        y = torch.cat(ys)
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        X, y = data
        X = X if isinstance(X, (torch.Tensor, tuple, list, dict)) else torch.as_tensor(np.asarray(X))
        X = tuple(X) if isinstance(X, list) else X
        y = y if isinstance(y, torch.Tensor) else torch.as_tensor(np.asarray(y))
    else:
        raise ValueError(f"data must be a DataLoader or a pair (X, y) of the validation split, got {type(data).__name__}")
    n = length(X)
    if n == 0:
        raise ValueError("data is empty: the reward (validation) split has no samples")
    if n != len(y):
        raise ValueError(f"data has {n} inputs but {len(y)} targets")
    return X, y


def _split_batch(b, target):
    if isinstance(b, dict):
        key = target if target is not None else next((k for k in ("labels", "label", "y", "target") if k in b), None)
        if key not in b:
            raise ValueError(f"a DataLoader batch is a dict with keys {sorted(b)}: name the target key with target=")
        return {k: v for k, v in b.items() if k != key}, b[key]
    if not isinstance(b, (tuple, list)) or len(b) < 2:
        raise ValueError(f"a DataLoader batch must be (inputs..., target) or a dict, got {type(b).__name__}")
    pos = len(b) - 1 if target is None else int(target) % len(b)
    xs = [torch.as_tensor(v) for i, v in enumerate(b) if i != pos]
    return (xs[0] if len(xs) == 1 else tuple(xs)), b[pos]


def concat(xs):
    if isinstance(xs[0], dict):
        return {k: torch.cat([x[k] for x in xs]) for k in xs[0]}
    if isinstance(xs[0], tuple):
        return tuple(torch.cat(parts) for parts in zip(*xs))
    return torch.cat(xs)


def resolve_device(device) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"unknown device {device!r}: use 'auto', 'cpu' or 'cuda'") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(device)!r} but CUDA is not available on this machine: use 'cpu' or 'auto'")
    return device


#: Layers that compute on floating-point inputs only: an integer tensor reaching one of them first
#: fails deep inside torch (an embedding, or a custom layer that indexes, takes integers).
_FLOAT_LAYERS = (nn.Linear, nn.Bilinear, nn.modules.conv._ConvNd, nn.modules.batchnorm._NormBase, nn.LayerNorm,
                 nn.GroupNorm, nn.RNNBase, nn.MultiheadAttention)


class _Reached(Exception):
    """Stops a forward pass at its first layer (see :func:`first_layer`)."""


def first_layer(model: nn.Module, x: Inputs) -> tuple[str, nn.Module, list[torch.Tensor]] | None:
    """``(name, module, tensor inputs)`` of the first layer that ``model(x)`` calls (the forward
    stops there), or None if it calls none. A layer is a leaf module with parameters of its own, or
    a float layer with children (``nn.MultiheadAttention``); a container's own parameters (a
    positional embedding) do not make it the first layer.

    Examples
    --------
    >>> model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    >>> name, module, args = first_layer(model, torch.zeros(1, 2, 2))
    >>> name, type(module).__name__, args[0].shape
    ('1', 'Linear', torch.Size([1, 4]))
    """
    names = {id(m): n for n, m in model.named_modules()}
    reached: list = []

    def hook(module, args):
        reached.append((names.get(id(module), type(module).__name__), module,
                        [a for a in args if isinstance(a, torch.Tensor)]))
        raise _Reached

    layers = [m for m in model.modules() if any(True for _ in m.parameters(recurse=False))
              and (isinstance(m, _FLOAT_LAYERS) or not any(True for _ in m.children()))]
    handles = [m.register_forward_pre_hook(hook) for m in layers]
    try:
        with eval_mode(model), torch.no_grad():
            call(model, x)
    except _Reached:
        pass
    finally:
        for h in handles:
            h.remove()
    return reached[0] if reached else None


def check_parameters_finite(model: nn.Module) -> None:
    """Fail naming the first parameter or floating-point buffer that holds a NaN or an infinity.

    Such a weight makes every masked output NaN, which would otherwise surface as "no prunable layer".

    Examples
    --------
    >>> m = nn.Linear(2, 2)
    >>> with torch.no_grad():
    ...     m.bias[1] = float("nan")
    >>> check_parameters_finite(m)
    Traceback (most recent call last):
    ...
    ValueError: the model's parameter 'bias' holds 1 NaN or infinite value: ...
    """
    for kind, named in (("parameter", model.named_parameters()), ("buffer", model.named_buffers())):
        for name, t in named:
            if t.is_floating_point() and not torch.isfinite(t).all():
                n = int((~torch.isfinite(t)).sum())
                raise ValueError(f"the model's {kind} {name!r} holds {n} NaN or infinite value{'s' if n > 1 else ''}: "
                                 f"pruning needs finite weights (did its training diverge?)")


def _check_input_dtypes(model: nn.Module, X, param: torch.Tensor) -> None:
    for t in tensors(X):
        if t.is_floating_point() and t.dtype != param.dtype:
            raise ValueError(f"an input tensor has dtype {t.dtype} but the model's parameters are {param.dtype}: "
                             f"convert one of them (e.g. X.to({param.dtype}))")
    if all(t.is_floating_point() for t in tensors(X)):
        return
    first = first_layer(model, index(X, slice(0, 2)))
    if first is not None and isinstance(first[1], _FLOAT_LAYERS):
        name, module, args = first
        bad = next((a for a in args if not a.is_floating_point()), None)
        if bad is not None:
            raise ValueError(f"an input tensor has dtype {bad.dtype}, but the model's first layer {name!r} "
                             f"({type(module).__name__}) takes {param.dtype} values, not integers: convert the "
                             f"inputs, e.g. X.float() (integers suit a model whose first layer is an nn.Embedding)")


def check_inputs(model: nn.Module, X, y: torch.Tensor, loss_fn) -> None:
    """Fail before any compute on inputs the model or the loss would misread, naming the value."""
    param = next(model.parameters())
    _check_input_dtypes(model, X, param)
    name = getattr(loss_fn, "__class__", type(None)).__name__ if isinstance(loss_fn, nn.Module) else loss_fn
    with eval_mode(model), torch.no_grad():
        out = call(model, index(X, slice(0, 2)))
    if name in ("cross_entropy", "CrossEntropyLoss", "NLLLoss"):
        if y.is_floating_point() and y.shape == out.shape:
            return   # class probabilities
        if y.is_floating_point():
            raise ValueError(f"loss_fn={name!r} needs integer class labels, got {y.dtype} targets "
                             f"(first values {y.flatten()[:3].tolist()}); use y.long(), or loss_fn='mse' for regression")
        if out.dim() > 1 and tuple(y.shape[1:]) != tuple(out.shape[2:]):
            want = (len(y), *out.shape[2:])
            hint = "y.squeeze(1)" if tuple(y.shape) == (len(y), 1) else "y.reshape" + str(want)
            raise ValueError(f"labels of shape {tuple(y.shape)} for model outputs of {tuple(out.shape[1:])} per sample: "
                             f"loss_fn={name!r} needs one class per sample, shape {want} (use {hint})")
        n_classes = out.shape[1] if out.dim() > 1 else 1
        low, high = int(y.min()), int(y.max())
        ignore = getattr(loss_fn, "ignore_index", -100)
        if (low < 0 and low != ignore) or high >= n_classes:
            raise ValueError(f"labels range over {low}..{high} but the model outputs {n_classes} classes "
                             f"(labels must be in 0..{n_classes - 1})")
    elif name in ("mse", "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss"):
        per_out, per_y = out.shape[1:].numel(), y.shape[1:].numel()
        if per_out != per_y:
            raise ValueError(f"loss_fn={name!r}: the model outputs {tuple(out.shape[1:])} per sample but the target is "
                             f"{tuple(y.shape[1:])} per sample; they would broadcast silently")


def check_finite_losses(model, loss, X, y, batch_size) -> None:
    """Fail before any pull if the unpruned loss is NaN on some batch, naming the """
    with eval_mode(model), torch.no_grad():
        for b, start in enumerate(range(0, length(X), batch_size)):
            values = loss(call(model, index(X, slice(start, start + batch_size))), y[start:start + batch_size])
            if not torch.isfinite(values).all():
                bad = start + int(torch.nonzero(~torch.isfinite(values))[0])
                raise ValueError(f"the loss is NaN or infinite on batch {b} of the reward data "
                                 f"(samples {start}..{start + len(values) - 1}, first at sample {bad})")


def __getattr__(name: str):
    return _deprecated.moved_name(__name__, name)   # the old private names of the reward-data readers
