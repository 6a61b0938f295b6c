"""BanditImportance inside Torch-Pruning's own pruner removes what mabprune.prune removes."""

import numpy as np
import torch
import torch_pruning as tp
import torchvision
from torch import nn

from mabprune import prune
from mabprune.torch_pruning import BanditImportance
from tests.nets import _randomise_batchnorm

torch.set_num_threads(1)


def test_bandit_importance_matches_prune_on_resnet18():
    torch.manual_seed(0)
    model = _randomise_batchnorm(torchvision.models.resnet18(num_classes=10))
    X, y = torch.randn(24, 3, 16, 16), torch.randint(0, 10, (24,))
    groups = ["conv1", "layer1.0.conv1", "layer1.1.conv1"]
    settings = dict(method="ucb1", rounds=6, arms_per_round=16, batch_size=8, seed=0)
    result = prune(model, (X, y), amount=0.25, steps=2, layers=groups, **settings)

    tp_model = _randomise_batchnorm(torchvision.models.resnet18(num_classes=10))
    tp_model.load_state_dict(model.state_dict())
    names = dict(tp_model.named_modules())
    ignored = [m for n, m in tp_model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear)) and n not in groups
               and n not in ("layer1.0.conv2", "layer1.1.conv2")]   # the residual stream's other producers
    imp = BanditImportance(data=(X, y), steps=2, layers=groups, **settings)
    pruner = tp.pruner.BasePruner(tp_model, X[:2], importance=imp, pruning_ratio=0.25, global_pruning=True,
                                  iterative_steps=2, ignored_layers=ignored)
    for _ in range(2):
        pruner.step()
    for name in groups:
        assert names[name].out_channels == result.model.get_submodule(name).out_channels, name
        torch.testing.assert_close(names[name].weight, result.model.get_submodule(name).weight)
    with torch.no_grad():
        torch.testing.assert_close(tp_model.eval()(X), result.model.eval()(X), rtol=1e-5, atol=1e-5)
    assert imp.pulls == result.pulls
