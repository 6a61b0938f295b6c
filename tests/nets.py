"""Small networks shared by the tests (BatchNorm with non-trivial statistics)."""

import torch
from torch import nn


def _randomise_batchnorm(model):
    # Non-trivial running statistics and shifts, so a zeroed pre-BN output would NOT be removal.
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g))
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.randn(m.num_features, generator=g))
            m.bias.data.copy_(torch.randn(m.num_features, generator=g))
    return model.eval()


def mlp_bn():
    torch.manual_seed(0)
    return _randomise_batchnorm(nn.Sequential(
        nn.Linear(6, 12), nn.BatchNorm1d(12), nn.ReLU(),
        nn.Linear(12, 10), nn.Tanh(),
        nn.Linear(10, 8), nn.Sigmoid(),   # sigmoid(0) != 0: the mask must come after it
        nn.Linear(8, 3)))


def cnn_bn():
    torch.manual_seed(0)
    return _randomise_batchnorm(nn.Sequential(
        nn.Conv2d(2, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 5, 3, padding=1), nn.BatchNorm2d(5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(5 * 2 * 2, 7), nn.ReLU(), nn.Linear(7, 4)))
