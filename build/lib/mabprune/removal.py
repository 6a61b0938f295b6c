"""Removal: which arms to remove (:func:`select_removals`), their physical removal with
Torch-Pruning (:func:`remove_arms`), and the parameter and MAC counts around it
(:func:`count_macs_params`)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch_pruning as tp
from torch import nn

from . import graph, inputs
from .arms import ArmSet


def select_removals(scores: np.ndarray, arms: ArmSet, n_remove: int, *, scope: str = "global",
                    min_units_per_layer: int = 1, exclude: Sequence[int] = (),
                    rng: np.random.Generator | None = None) -> np.ndarray:
    """The arms to remove: the highest scores, keeping at least ``min_units_per_layer`` per layer.

    With ``scope="global"`` one ranking spans all layers; with ``scope="layer"`` each layer
    loses ``n_remove / n_arms`` of its own units. Ties are broken at random with ``rng``
    (by arm index without one).
    """
    if n_remove <= 0:  # a step whose quota is 0 removes nothing (it used to strip every layer)
        return np.zeros(0, dtype=np.int64)
    layer_index, _ = arms.locate(np.arange(arms.n_arms))
    left = np.array([layer.n_units for layer in arms.layers])
    excluded = np.zeros(arms.n_arms, bool)
    excluded[list(exclude)] = True
    np.subtract.at(left, layer_index[excluded], 1)
    order = np.argsort(-scores, kind="stable") if rng is None else np.lexsort((rng.random(len(scores)), -scores))
    order = order[~excluded[order]]
    if scope == "layer":
        fraction = n_remove / arms.n_arms
        quota = np.array([round(fraction * layer.n_units) for layer in arms.layers])
    chosen = []
    for arm in order:
        li = layer_index[arm]
        if left[li] <= min_units_per_layer or (scope == "layer" and quota[li] <= 0):
            continue
        chosen.append(arm)
        left[li] -= 1
        if scope == "layer":
            quota[li] -= 1
        elif len(chosen) == n_remove:
            break
    return np.array(chosen, dtype=np.int64)


def remove_arms(model: nn.Module, arms: ArmSet, removal: np.ndarray, example,
            fill: dict | None) -> dict[str, list[int]]:
    """Remove arms physically: one Torch-Pruning call per group; returns channels per group.

    With mean-replacement the removed channels' mean input moves into every reader's bias
    first (each reader is an ``nn.Linear`` with a bias on 2-D inputs, checked by :func:`prune`).
    """
    per_group = arms.per_group(removal)
    if fill:
        for layer in arms.layers:
            if layer.name not in per_group:
                continue
            gone = torch.as_tensor(per_group[layer.name])
            for reader in layer.readers:
                cols = torch.isin(reader.channels.cpu(), gone).nonzero().squeeze(1).to(reader.module.weight.device)
                with torch.no_grad():
                    reader.module.bias += reader.module.weight[:, cols] @ fill[layer.name][reader.name][cols]
    graph.remove(model, example, per_group)
    return per_group


def count_macs_params(model: nn.Module, example) -> tuple[int, int]:
    """``(MACs, parameters)`` of ``model`` on ``example``, by Torch-Pruning's counter."""
    with inputs.eval_mode(model):
        if isinstance(example, dict):
            macs, params = tp.utils.count_ops_and_params(model, example)
        else:
            macs, params = tp.utils.count_ops_and_params(model, example if isinstance(example, torch.Tensor) else list(example))
    return int(macs), int(params)
