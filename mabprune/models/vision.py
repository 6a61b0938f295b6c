"""Image networks of the deep-learning family: LeNet-5, a VGG-style CNN, a Siamese network,
a hierarchical RNN and a ResNet-20-style residual network.

Each is small and plain PyTorch, so that :func:`mabprune.arms.find_arms` sees its hidden
Linear/Conv layers as arms (channels of Torch-Pruning groups). Every model ends with one
hidden Dense layer before the output layer: the layer the authors pruned in their protocol.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

__all__ = ["HierarchicalRNN", "LeNet5", "ResNet20", "SiameseNet", "VGGNet"]


def _check_shape(input_shape: Sequence[int], min_side: int, model: str) -> tuple[int, int, int]:
    if len(input_shape) != 3 or any(int(s) < 1 for s in input_shape):
        raise ValueError(f"{model}: input_shape must be (channels, height, width), got {tuple(input_shape)}")
    c, h, w = (int(s) for s in input_shape)
    if min(h, w) < min_side:
        raise ValueError(f"{model}: images of {h}x{w} are too small, need at least {min_side}x{min_side}")
    return c, h, w


def _positive(model: str, **widths) -> None:
    for name, value in widths.items():
        values = value if isinstance(value, (list, tuple)) else (value,)
        if not values or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values):
            raise ValueError(f"{model}: {name} must be positive integers, got {value!r}")


class LeNet5(nn.Module):
    """LeNet-5 (LeCun et al. 1998) with ReLU and max pooling, as in the usual modern rendering.

    ``conv 5x5 (6) → pool → conv 5x5 (16) → pool → Dense 120 → Dense 84 → classes``; the first
    conv pads by 2 so that 28x28 MNIST digits give LeNet's 32x32 geometry. The conv channels
    and both hidden Dense layers are arms.

    Parameters
    ----------
    input_shape : tuple of int, default=(1, 28, 28)
    n_classes : int, default=10
    channels : (int, int), default=(6, 16)
    hidden : (int, int), default=(120, 84)

    Examples
    --------
    >>> import torch
    >>> LeNet5()(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """

    def __init__(self, input_shape: Sequence[int] = (1, 28, 28), n_classes: int = 10, *,
                 channels: Sequence[int] = (6, 16), hidden: Sequence[int] = (120, 84)):
        super().__init__()
        c, h, w = _check_shape(input_shape, 16, "LeNet5")
        _positive("LeNet5", channels=tuple(channels), hidden=tuple(hidden), n_classes=n_classes)
        c1, c2 = channels
        self.features = nn.Sequential(nn.Conv2d(c, c1, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(c1, c2, 5), nn.ReLU(), nn.MaxPool2d(2))
        h, w = (h // 2 - 4) // 2, (w // 2 - 4) // 2
        layers: list[nn.Module] = [nn.Flatten()]
        width = c2 * h * w
        for units in hidden:
            layers += [nn.Linear(width, units), nn.ReLU()]
            width = units
        self.classifier = nn.Sequential(*layers, nn.Linear(width, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class VGGNet(nn.Module):
    """The VGG-style CNN of the Keras CIFAR-10 example (``cifar10_cnn.py``).

    Two blocks of ``conv 3x3 → ReLU → conv 3x3 → ReLU → max pool → dropout 0.25`` (32 then 64
    channels), then ``Dense 512 → ReLU → dropout 0.5 → classes``; widths are parameters.

    Examples
    --------
    >>> import torch
    >>> VGGNet((3, 32, 32), 10, channels=(8, 16), hidden=32)(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """

    def __init__(self, input_shape: Sequence[int] = (3, 32, 32), n_classes: int = 10, *,
                 channels: Sequence[int] = (32, 64), hidden: int = 512, dropout: bool = True):
        super().__init__()
        c, h, w = _check_shape(input_shape, 2 ** len(channels), "VGGNet")
        _positive("VGGNet", channels=tuple(channels), hidden=hidden, n_classes=n_classes)
        layers: list[nn.Module] = []
        for out in channels:
            layers += [nn.Conv2d(c, out, 3, padding=1), nn.ReLU(), nn.Conv2d(out, out, 3, padding=1), nn.ReLU(),
                       nn.MaxPool2d(2)] + ([nn.Dropout(0.25)] if dropout else [])
            c, h, w = out, h // 2, w // 2
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, hidden), nn.ReLU(),
                                        *([nn.Dropout(0.5)] if dropout else []), nn.Linear(hidden, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class SiameseNet(nn.Module):
    """A Siamese network (Bromley et al. 1993; the Keras ``mnist_siamese`` example's base MLP).

    One encoder (``Dense 128 → ReLU → Dense 128 → ReLU → Dense 128``) is called on both images
    of a pair; the head classifies ``|e1 − e2|`` as same digit / different digit (pair
    classification instead of Keras' contrastive loss, so that cross-entropy and accuracy
    apply). The input is one tensor ``(B, 2, H, W)``: the two images of each pair as two
    channels, so the engines call ``model(x)``. The encoder's units are arms; a masked unit
    is masked in both calls, as its removal would.

    Examples
    --------
    >>> import torch
    >>> SiameseNet((28, 28), hidden=(16, 8))(torch.zeros(3, 2, 28, 28)).shape
    torch.Size([3, 2])
    """

    def __init__(self, image_shape: Sequence[int] = (28, 28), *, hidden: Sequence[int] = (128, 128, 128),
                 head: int = 64):
        super().__init__()
        if len(image_shape) != 2:
            raise ValueError(f"SiameseNet: image_shape must be (height, width), got {tuple(image_shape)}")
        _positive("SiameseNet", hidden=tuple(hidden), head=head, image_shape=tuple(int(s) for s in image_shape))
        layers: list[nn.Module] = [nn.Flatten()]
        width = int(image_shape[0]) * int(image_shape[1])
        for i, units in enumerate(hidden):
            layers.append(nn.Linear(width, units))
            if i < len(hidden) - 1:
                layers.append(nn.ReLU())
            width = units
        self.encoder = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(width, head), nn.ReLU(), nn.Linear(head, 2))

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        if pairs.dim() != 4 or pairs.shape[1] != 2:
            raise ValueError(f"SiameseNet takes pairs of shape (B, 2, H, W), got {tuple(pairs.shape)}")
        return self.head((self.encoder(pairs[:, 0]) - self.encoder(pairs[:, 1])).abs())


class HierarchicalRNN(nn.Module):
    """The hierarchical RNN of the Keras ``mnist_hierarchical_rnn`` example (after Hihi &
    Bengio 1996): one LSTM encodes every pixel row, a second LSTM runs over the row codes.

    ``rows: LSTM(row_hidden) → columns: LSTM(col_hidden) → Dense hidden → ReLU → classes``.
    The hidden units of both LSTMs and of the Dense layer are arms. Each LSTM's code is the
    last step of its output sequence (equal to its final hidden state ``h_n``), so that the
    units' path to the next layer is in the traced graph Torch-Pruning builds.

    Examples
    --------
    >>> import torch
    >>> HierarchicalRNN((1, 28, 28), 10, row_hidden=8, col_hidden=8, hidden=8)(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """

    def __init__(self, input_shape: Sequence[int] = (1, 28, 28), n_classes: int = 10, *, row_hidden: int = 64,
                 col_hidden: int = 64, hidden: int = 64):
        super().__init__()
        c, h, w = _check_shape(input_shape, 1, "HierarchicalRNN")
        _positive("HierarchicalRNN", row_hidden=row_hidden, col_hidden=col_hidden, hidden=hidden, n_classes=n_classes)
        self.rows = nn.LSTM(c, row_hidden, batch_first=True)
        self.cols = nn.LSTM(row_hidden, col_hidden, batch_first=True)
        self.dense = nn.Linear(col_hidden, hidden)
        self.act = nn.ReLU()
        self.out = nn.Linear(hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        # Each image row is one sequence of w pixels (channels as features) for the row LSTM.
        rows = x.permute(0, 2, 3, 1).reshape(b * h, w, c)
        row_code = self.rows(rows)[0][:, -1]
        code = self.cols(row_code.reshape(b, h, -1))[0][:, -1]
        return self.out(self.act(self.dense(code)))


class _Block(nn.Module):
    """The basic residual block of ResNet (He et al. 2016), projection shortcut when shapes change."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet20(nn.Module):
    """ResNet-20 for small images (He et al. 2016, section 4.2): a 3x3 conv, three stages of
    ``blocks`` basic blocks (16, 32, 64 channels; stride 2 between stages), global average
    pooling, then a hidden Dense layer and the classes. ``blocks=3`` is ResNet-20
    (6·3 + 2 layers); shortcuts between stages are 1x1 projections (option B).

    The arms are the channels of Torch-Pruning's groups: each block's inner channels, and the
    residual stream of each stage (coupled across its blocks), plus the Dense units.

    Examples
    --------
    >>> import torch
    >>> ResNet20((1, 28, 28), 10, widths=(4, 8, 8), blocks=1, hidden=8)(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """

    def __init__(self, input_shape: Sequence[int] = (3, 32, 32), n_classes: int = 10, *,
                 widths: Sequence[int] = (16, 32, 64), blocks: int = 3, hidden: int = 64):
        super().__init__()
        c, _, _ = _check_shape(input_shape, 4, "ResNet20")
        _positive("ResNet20", widths=tuple(widths), blocks=blocks, hidden=hidden, n_classes=n_classes)
        self.stem = nn.Sequential(nn.Conv2d(c, widths[0], 3, padding=1, bias=False), nn.BatchNorm2d(widths[0]),
                                  nn.ReLU())
        stages, c_in = [], widths[0]
        for i, width in enumerate(widths):
            for j in range(blocks):
                stages.append(_Block(c_in, width, 2 if (i > 0 and j == 0) else 1))
                c_in = width
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dense = nn.Linear(c_in, hidden)
        self.out = nn.Linear(hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = torch.flatten(self.pool(self.stages(self.stem(x))), 1)
        return self.out(torch.relu(self.dense(z)))
