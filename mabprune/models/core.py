"""Small reusable models of the tabular protocol and the training helpers for every model."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .. import inputs


def mlp(n_inputs: int, n_outputs: int, *, hidden: Sequence[int] = (64, 64), dropout: float = 0.0,
        batch_norm: bool = False) -> nn.Sequential:
    """A multilayer perceptron: ``Linear → [BatchNorm] → ReLU → [Dropout]`` per hidden layer.

    Examples
    --------
    >>> mlp(4, 3, hidden=(8,))
    Sequential(
      (0): Linear(in_features=4, out_features=8, bias=True)
      (1): ReLU()
      (2): Linear(in_features=8, out_features=3, bias=True)
    )
    """
    if n_inputs < 1 or n_outputs < 1 or any(h < 1 for h in hidden):
        raise ValueError(f"layer sizes must be positive, got inputs={n_inputs}, hidden={tuple(hidden)}, outputs={n_outputs}")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    layers: list[nn.Module] = []
    width = n_inputs
    for h in hidden:
        layers.append(nn.Linear(width, h))
        if batch_norm:
            layers.append(nn.BatchNorm1d(h))
        layers.append(nn.ReLU())
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = h
    layers.append(nn.Linear(width, n_outputs))
    return nn.Sequential(*layers)


def small_cnn(input_shape: Sequence[int], n_classes: int, *, channels: Sequence[int] = (16, 32),
              hidden: int = 64, batch_norm: bool = True) -> nn.Sequential:
    """A small CNN: ``(Conv3×3 → [BN] → ReLU → MaxPool2)`` per block, then a dense head.

    Its conv channels and the dense hidden units are all arms.

    Examples
    --------
    >>> import torch
    >>> small_cnn((1, 28, 28), 10)(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (channels, height, width), got {tuple(input_shape)}")
    c, h, w = input_shape
    layers: list[nn.Module] = []
    for out in channels:
        layers += [nn.Conv2d(c, out, 3, padding=1)]
        if batch_norm:
            layers.append(nn.BatchNorm2d(out))
        layers += [nn.ReLU(), nn.MaxPool2d(2)]
        c, h, w = out, h // 2, w // 2
    if h < 1 or w < 1:
        raise ValueError(f"input {tuple(input_shape)} is too small for {len(channels)} pooling blocks")
    layers += [nn.Flatten(), nn.Linear(c * h * w, hidden), nn.ReLU(), nn.Linear(hidden, n_classes)]
    return nn.Sequential(*layers)


class TextClassifier(nn.Module):
    """Mean of token embeddings (padding ignored) → dense hidden layer → classes.

    The hidden units are the arms; the embedding is kept whole.

    Examples
    --------
    >>> import torch
    >>> TextClassifier(100, 4)(torch.tensor([[5, 6, 0], [7, 0, 0]])).shape
    torch.Size([2, 4])
    """

    def __init__(self, vocab_size: int, n_classes: int, *, embed_dim: int = 64, hidden: int = 64):
        super().__init__()
        self.embedding = nn.EmbeddingBag(vocab_size, embed_dim, mode="mean", padding_idx=0)
        self.hidden = nn.Linear(embed_dim, hidden)
        self.act = nn.ReLU()
        self.out = nn.Linear(hidden, n_classes)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.out(self.act(self.hidden(self.embedding(tokens))))


def build_model(dataset, *, hidden: Sequence[int] = (64, 64), seed: int = 0) -> nn.Module:
    """The protocol's model for a :class:`mabprune.data.Dataset`, seeded.

    MLP for tabular and reasoning data, the small CNN for images, the embedding-bag model for
    text; regression gets one output.
    """
    torch.manual_seed(seed)
    n_out = 1 if dataset.task == "regression" else int(dataset.n_classes)
    if dataset.family == "image":
        return small_cnn(dataset.input_shape, n_out, hidden=hidden[-1])
    if dataset.family == "text":
        return TextClassifier(int(dataset.meta["vocab_size"]), n_out, hidden=hidden[-1])
    return mlp(int(np.prod(dataset.input_shape)), n_out, hidden=hidden)


def _tensor(a, device) -> torch.Tensor:
    return (a if isinstance(a, torch.Tensor) else torch.as_tensor(np.asarray(a))).to(device)


def fit(model: nn.Module, X, y, *, task: str = "classification", epochs: int = 50, lr: float = 1e-3,
        batch_size: int = 64, weight_decay: float = 0.0, seed: int = 0, device: str = "cpu",
        clip_norm: float | None = None, steps: int | None = None) -> nn.Module:
    """Train with Adam on cross-entropy (classification) or mean squared error (regression).

    ``clip_norm`` clips the gradient norm of each step (recurrent networks over long sequences).
    ``steps`` trains for exactly that many optimizer steps instead of ``epochs`` passes
    (mini-batches drawn pass after pass, reshuffled each pass): a budget in samples seen
    (``steps · batch_size``) that does not grow with the training split.
    Returns the model (trained in place). Mini-batches are shuffled with a seeded generator,
    so the same seed gives the same weights on the same device.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0); X = torch.randn(64, 3); y = (X[:, 0] > 0).long()
    >>> model = fit(mlp(3, 2, hidden=(8,)), X, y, epochs=50, lr=1e-2, seed=0)
    >>> evaluate(model, X, y) > 0.8
    True
    """
    if task not in ("classification", "regression"):
        raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")
    if epochs < 0 or batch_size < 1 or lr <= 0:
        raise ValueError(f"need epochs >= 0, batch_size >= 1 and lr > 0, got {epochs}, {batch_size}, {lr}")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 0):
        raise ValueError(f"steps must be a non-negative integer or None, got {steps!r}")
    if steps and len(X) == 0:
        raise ValueError(f"steps={steps} asked, but the training split is empty")
    model.to(device).train()
    X, y = _tensor(X, device), _tensor(y, device)
    if task == "regression":
        y = y.float().reshape(len(y), -1)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    taken, passes = 0, 0
    while (passes < epochs) if steps is None else (taken < steps):
        passes += 1
        order = torch.randperm(len(X), generator=generator).to(device)
        for start in range(0, len(X), batch_size):
            if steps is not None and taken == steps:
                break
            idx = order[start:start + batch_size]
            if len(idx) < 2 and has_bn:
                if steps is not None and len(X) < 2:
                    raise ValueError("cannot take a training step: BatchNorm needs 2 samples, the split has 1")
                continue  # BatchNorm cannot train on a single sample
            out = model(X[idx])
            loss = F.cross_entropy(out, y[idx]) if task == "classification" else F.mse_loss(out, y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clip_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
            optimizer.step()
            taken += 1
    return model.eval()


@torch.no_grad()
def predict(model: nn.Module, X, *, batch_size: int = 1024, device: str | None = None) -> torch.Tensor:
    """Model outputs in eval mode, batched."""
    device = device or next(model.parameters()).device
    X = _tensor(X, device)
    with inputs.eval_mode(model):
        return torch.cat([model(X[s:s + batch_size]) for s in range(0, len(X), batch_size)])


def evaluate(model: nn.Module, X, y, *, task: str = "classification", batch_size: int = 1024) -> float:
    """Accuracy (classification) or R² (regression) of a model on ``(X, y)``."""
    out = predict(model, X, batch_size=batch_size).cpu()
    y = torch.as_tensor(np.asarray(y)) if not isinstance(y, torch.Tensor) else y.cpu()
    if task == "classification":
        return float((out.argmax(1) == y).double().mean())
    if task == "regression":
        pred, target = out.reshape(-1).double(), y.reshape(-1).double()
        ss_res = ((target - pred) ** 2).sum()
        ss_tot = ((target - target.mean()) ** 2).sum()
        return float(1 - ss_res / ss_tot) if ss_tot > 0 else float("nan")
    raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")
