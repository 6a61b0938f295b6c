"""Model inputs that are a tensor, a tuple of tensors or a dict of tensors (batch on dim 0).

Every engine and the arm discovery go through these helpers, so a model whose ``forward``
takes two inputs (``model(a, b)``) or keyword inputs (``model(**batch)``) is handled like one
that takes a single tensor. A model's output may be a tensor, a tuple whose first item is the
prediction, or an object with ``.logits`` (Hugging Face models).
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import torch
from torch import nn

Inputs = Any  # torch.Tensor | tuple[torch.Tensor, ...] | dict[str, torch.Tensor]


def _map(inputs: Inputs, fn) -> Inputs:
    if isinstance(inputs, torch.Tensor):
        return fn(inputs)
    if isinstance(inputs, dict):
        return {k: fn(v) if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}
    if isinstance(inputs, (tuple, list)):
        return tuple(fn(v) if isinstance(v, torch.Tensor) else v for v in inputs)
    raise ValueError(f"model inputs must be a tensor, a tuple of tensors or a dict of tensors, got {type(inputs).__name__}")


def tensors(inputs: Inputs) -> list[torch.Tensor]:
    """The tensors of ``inputs``, in order."""
    if isinstance(inputs, torch.Tensor):
        return [inputs]
    values = inputs.values() if isinstance(inputs, dict) else inputs
    return [v for v in values if isinstance(v, torch.Tensor)]


def length(inputs: Inputs) -> int:
    """Number of samples (size of dim 0, which every tensor must share)."""
    sizes = {len(t) for t in tensors(inputs)}
    if len(sizes) != 1:
        raise ValueError(f"the input tensors disagree on the number of samples (dim 0): {sorted(sizes)}")
    return sizes.pop()


def index(inputs: Inputs, idx) -> Inputs:
    """Rows ``idx`` of every tensor."""
    return _map(inputs, lambda t: t[idx])


def repeat(inputs: Inputs, k: int) -> Inputs:
    """``k`` copies of the batch stacked on dim 0 (row ``i·B + b`` is sample ``b``)."""
    return _map(inputs, lambda t: t.repeat(k, *([1] * (t.dim() - 1))))


def to(inputs: Inputs, device) -> Inputs:
    return _map(inputs, lambda t: t.to(device))


def call(model: nn.Module, inputs: Inputs) -> torch.Tensor:
    """``model(inputs)``, ``model(*inputs)`` or ``model(**inputs)``, reduced to the prediction tensor."""
    if isinstance(inputs, dict):
        out = model(**inputs)
    elif isinstance(inputs, (tuple, list)):
        out = model(*inputs)
    else:
        out = model(inputs)
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
