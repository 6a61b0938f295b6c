"""A Torch-Pruning importance that scores channels with the bandit.

Torch-Pruning users keep their pruner and swap the importance::

    import torch_pruning as tp
    from mabprune.torch_pruning import BanditImportance
    imp = BanditImportance(data=(X_val, y_val), method="ucb1", rounds=200, seed=0)
    pruner = tp.pruner.BasePruner(model, example_inputs, importance=imp, pruning_ratio=0.5,
                                  global_pruning=True, iterative_steps=4, ignored_layers=[model.fc])
    for _ in range(4):
        pruner.step()

At the first group Torch-Pruning scores in a step (the model's shapes have changed since the
last bandit run), the bandit is played over every arm of the current model, exactly as one
step of :func:`mabprune.prune` does (same arms, engine, calibration pass, rounds per step,
mini-batch stream and policy seed). A channel's importance is minus its safety estimate, so
the safest channel has the lowest importance and is pruned first; the scores are ΔL-based
and therefore comparable across groups (``global_pruning=True``).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch_pruning as tp
from torch import nn

from . import inputs, policies
from .arms import find_arms
from .bandit import bandit_step
from .engine import make_engine, make_loss
from .rewards import make_reward, reward_batch


class BanditImportance(tp.importance.Importance):
    """Importance = −(bandit safety estimate) of each channel of a Torch-Pruning group.

    Parameters
    ----------
    data : DataLoader or (X, y)
        The reward (validation) data, as for :func:`mabprune.prune`.
    method : str, default="ucb1"
        A bandit policy of :mod:`mabprune.policies`.
    rounds : int, default=200
        Rounds in total; with ``steps`` pruner steps each step plays ``rounds // steps``
        (the first ``rounds % steps`` steps one more), as :func:`mabprune.prune` does.
    steps : int, default=1
        The pruner's ``iterative_steps``.
    arms_per_round, batch_size, reward, rank_by, loss_fn, engine, policy_params, target
        As for :func:`mabprune.prune`.
    margin, calibration_batches, max_batch_fraction
        The reward options of :func:`mabprune.prune`, with its defaults.
    layers, ignored_layers : optional
        Which groups are arms, as for :func:`mabprune.prune`; give the same groups that the
        pruner prunes (a group the bandit did not score raises).
    seed : int, default=0

    Examples
    --------
    >>> import torch, torch_pruning as tp
    >>> from torch import nn
    >>> torch.manual_seed(0) and None
    >>> model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
    >>> X, y = torch.randn(64, 4), torch.randint(0, 3, (64,))
    >>> imp = BanditImportance(data=(X, y), rounds=10, arms_per_round=4)
    >>> pruner = tp.pruner.BasePruner(model, X[:2], importance=imp, pruning_ratio=0.5,
    ...                               global_pruning=True, ignored_layers=[model[2]])
    >>> pruner.step(); model[0].out_features
    8
    """

    def __init__(self, data, *, method: str = "ucb1", rounds: int = 200, steps: int = 1, arms_per_round: int = 32,
                 batch_size: int = 128, reward: str = "unit", rank_by: str = "mean", loss_fn="cross_entropy",
                 engine: str = "batched", policy_params: dict | None = None, seed: int = 0,
                 layers: Sequence[str] | None = None, ignored_layers: Sequence[str | nn.Module] = (),
                 target: str | int | None = None, margin: float | None = None, calibration_batches: int = 4,
                 max_batch_fraction: float | None = None):
        if method not in policies.POLICIES:
            raise ValueError(f"method {method!r} is not a bandit policy: use one of {tuple(policies.POLICIES)}")
        self.X, self.y = inputs.as_tensors(data, target)  # the same reading of the data as prune()
        self.method, self.rounds, self.steps, self.arms_per_round = method, rounds, steps, arms_per_round
        self.batch_size, self.reward, self.rank_by, self.loss = batch_size, reward, rank_by, make_loss(loss_fn)
        self.engine, self.policy_params, self.seed = engine, dict(policy_params or {}), seed
        self.layers, self.ignored_layers = layers, ignored_layers
        self.rng = np.random.default_rng(seed)
        make_reward(reward, margin=margin)  # raises on a bad margin
        self.margin, self.calibration_batches = margin, calibration_batches
        self.n_batch, self.replace = reward_batch(inputs.length(self.X), batch_size, max_batch_fraction)
        self.step = -1
        self._signature = None
        self._scores: dict[nn.Module, torch.Tensor] = {}
        self.pulls = 0

    def _shapes(self, model: nn.Module):
        return tuple(tuple(p.shape) for p in model.parameters())

    def _play(self, model: nn.Module) -> None:
        self.step += 1
        device = next(model.parameters()).device
        X, y = inputs.to(self.X, device), self.y.to(device)
        example = inputs.index(X, slice(0, 2))
        arms = find_arms(model, example, layers=self.layers, ignored_layers=self.ignored_layers, check=self.step == 0)
        eng = make_engine(self.engine, model, arms, loss_fn=self.loss)
        step_rounds = self.rounds // self.steps + (1 if self.step < self.rounds % self.steps else 0)
        _, _, scores, pulls, _ = bandit_step(
            eng, arms.n_arms, X, y, method=self.method, rounds=step_rounds, arms_per_round=self.arms_per_round,
            reward=self.reward, rank_by=self.rank_by, batch_size=self.n_batch, seed=self.seed + self.step,
            step=self.step, rng=self.rng, policy_params=self.policy_params, margin=self.margin,
            calibration_batches=self.calibration_batches, replace=self.replace)
        self.pulls += pulls
        self._scores = {layer.module: -torch.as_tensor(scores[layer.offset:layer.offset + layer.n_units])
                        for layer in arms.layers}
        self._signature = self._shapes(model)

    @torch.no_grad()
    def __call__(self, group) -> torch.Tensor:
        model = group._DG.model
        if self._signature != self._shapes(model):
            self._play(model)
        root = group[0].dep.target.module
        if root not in self._scores:
            raise ValueError(f"the bandit has no scores for group root {type(root).__name__} "
                             f"{group._DG._module2name.get(root)!r}: give BanditImportance the same layers/ignored_layers "
                             "as the pruner")
        idxs = torch.as_tensor(list(group[0].root_idxs), dtype=torch.long)
        return self._scores[root][idxs].float()
