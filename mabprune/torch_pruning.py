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

import time
import warnings
import weakref
from typing import Sequence

import numpy as np
import torch
import torch_pruning as tp
from torch import nn

from . import inputs, policies
from .arms import find_arms
from .bandit import bandit_step, exploration_params, progress_bar
from .engine import make_engine, make_loss
from .rewards import make_reward, reward_batch

#: Pulls per arm and pruner step when neither ``rounds`` nor ``pulls_per_arm`` is given: measured
#: so that torchvision resnet18 on 32x32 inputs (2,880 arms, 64 samples, two steps at ratio 0.3)
#: answers in under a minute on 2 CPU cores (``benchmarks/README.md``).
DEFAULT_PULLS_PER_ARM = 0.15

#: Above this estimated time (s) of one step, the estimate is also given as a warning.
ESTIMATE_WARN_S = 30.0


class BanditImportance(tp.importance.Importance):
    """Importance = −(bandit safety estimate) of each channel of a Torch-Pruning group.

    Parameters
    ----------
    data : DataLoader or (X, y)
        The reward (validation) data, as for :func:`mabprune.prune`.
    method : str, default="ucb1"
        A bandit policy of :mod:`mabprune.policies` (``policies.PLAYABLE``: the paper's six,
        ``uniform``, or a pure-exploration policy of ``policies.EXPLORATION``, which needs
        ``policy_params={"top_k": n}``, the channels the pruner removes per step, and plays the
        step's pulls as its budget).
    rounds : int, optional
        Rounds in total; with ``steps`` pruner steps each step plays ``rounds // steps``
        (the first ``rounds % steps`` steps one more), after a calibration pass over every
        arm, exactly as :func:`mabprune.prune` does. Give it or ``pulls_per_arm``, not both.
    pulls_per_arm : float, optional
        The budget of each step in pulls per arm of the current model (it may be below 1),
        calibration included: a step makes ``ceil(pulls_per_arm * n_arms)`` pulls. One
        calibration mini-batch is played on ``min(n_arms, budget)`` arms drawn at random (with
        ``seed``), the rest of the budget goes to rounds of ``arms_per_round`` arms. An arm never
        pulled is scored as the mean of the pulled arms, just below a pulled arm of that
        estimate (taken as typical, and not pruned before an observed arm of equal estimate).
        With neither ``rounds`` nor ``pulls_per_arm``, ``DEFAULT_PULLS_PER_ARM`` (0.15, measured
        to answer on resnet18 at 32x32 in under a minute on 2 cores). Below one pull per arm
        most arms are never observed: on a 112-arm CNN 17 pulls ranked near randomly, hence
        ``min_pulls``.
    min_pulls : int, default=256
        With ``pulls_per_arm``, a step makes at least this many pulls: a small model, whose
        pulls are cheap, is not ranked from a handful of observations.
    progress : bool, optional
        A tqdm bar per step (default: when stderr is a terminal; ``MABPRUNE_PROGRESS=0`` turns
        it off). The estimated time of a step, from its first chunk of pulls, is shown in the
        bar and, above 30 s, given as a warning.
    steps : int, default=1
        The pruner's ``iterative_steps``.
    arms_per_round, batch_size, reward, rank_by, loss_fn, engine, policy_params, target
        As for :func:`mabprune.prune`.
    margin, calibration_batches, max_batch_fraction
        The reward options of :func:`mabprune.prune`, with its defaults.
    layers, ignored_layers : optional
        Which groups are arms, as for :func:`mabprune.prune`; give the same groups that the
        pruner prunes (a group the bandit did not score raises).
    heads : bool, default=False
        Whole attention heads of Hugging Face style blocks as arms, as for :func:`mabprune.prune`.
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

    def __init__(self, data, *, method: str = "ucb1", rounds: int | None = None, steps: int = 1, arms_per_round: int = 32,
                 batch_size: int = 128, reward: str = "unit", rank_by: str = "mean", loss_fn="cross_entropy",
                 engine: str = "batched", policy_params: dict | None = None, seed: int = 0,
                 layers: Sequence[str] | None = None, ignored_layers: Sequence[str | nn.Module] = (),
                 target: str | int | None = None, margin: float | None = None, calibration_batches: int = 4,
                 max_batch_fraction: float | None = None, pulls_per_arm: float | None = None,
                 progress: bool | None = None, heads: bool = False, min_pulls: int = 256):
        if rounds is not None and pulls_per_arm is not None:
            raise ValueError("give rounds (rounds after a full calibration pass, as prune()) or pulls_per_arm "
                             "(a budget that includes the calibration), not both")
        if rounds is None and pulls_per_arm is None:
            pulls_per_arm = DEFAULT_PULLS_PER_ARM
        if pulls_per_arm is not None and not pulls_per_arm > 0:
            raise ValueError(f"pulls_per_arm must be a positive number, got {pulls_per_arm!r}")
        self.pulls_per_arm, self.progress, self.heads = pulls_per_arm, progress, heads
        self.min_pulls = int(min_pulls)
        if method not in policies.PLAYABLE:
            raise ValueError(f"method {method!r} is not a bandit policy: use one of {tuple(policies.PLAYABLE)}")
        if method in policies.EXPLORATION:   # the pruner's count per step is not known here: top_k is given
            exploration_params(method, policy_params, budget=1, n_remove=None)   # raises without top_k
            if rank_by != "mean":
                raise ValueError(f"method {method!r} ranks by its decisions: use rank_by='mean', not {rank_by!r}")
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
        self._scored: dict[nn.Module, int] = {}   # modules scored in the last step, and their widths
        self._seen: set[nn.Module] = set()        # group roots scored since the last play
        self._hook = None                         # checks the first forward after a step

    def _shapes(self, model: nn.Module):
        return tuple(tuple(p.shape) for p in model.parameters())

    def _play(self, model: nn.Module) -> None:
        self._unhook()
        self.step += 1
        device = next(model.parameters()).device
        X, y = inputs.to(self.X, device), self.y.to(device)
        example = inputs.index(X, slice(0, 2))
        arms = find_arms(model, example, layers=self.layers, ignored_layers=self.ignored_layers, check=self.step == 0,
                          heads=self.heads)
        eng = make_engine(self.engine, model, arms, loss_fn=self.loss)
        k = min(self.arms_per_round, arms.n_arms)
        if self.pulls_per_arm is None:
            step_rounds = self.rounds // self.steps + (1 if self.step < self.rounds % self.steps else 0)
            budget = dict(calibration_batches=self.calibration_batches)
            total = arms.n_arms * self.calibration_batches + step_rounds * k
        else:
            total = max(1, int(np.ceil(self.pulls_per_arm * arms.n_arms)), self.min_pulls)
            calibrate = min(arms.n_arms, total)
            step_rounds = (total - calibrate) // k
            budget = dict(calibration_batches=1, calibration_arms=calibrate)
        bar = progress_bar(self.progress, total, f"BanditImportance step {self.step}")
        start, done = time.perf_counter(), [0]

        def advance(n: int) -> None:
            done[0] += n
            if bar is not None:
                bar.update(n)
            if done[0] == n:   # the first chunk: estimate the whole step from it
                estimate = (time.perf_counter() - start) * total / n
                if bar is not None:
                    bar.set_postfix_str(f"~{estimate:.0f} s for {total} pulls")
                if estimate > ESTIMATE_WARN_S:
                    warnings.warn(f"BanditImportance step {self.step}: about {estimate:.0f} s for {total} pulls on "
                                  f"{arms.n_arms} arms (lower pulls_per_arm or rounds for a faster answer)",
                                  RuntimeWarning, stacklevel=4)
        try:
            _, _, scores, pulls, _ = bandit_step(
                eng, arms.n_arms, X, y, method=self.method, rounds=step_rounds, arms_per_round=self.arms_per_round,
                reward=self.reward, rank_by=self.rank_by, batch_size=self.n_batch, seed=self.seed + self.step,
                step=self.step, rng=self.rng, policy_params=self.policy_params, margin=self.margin,
                replace=self.replace, progress=advance if self.pulls_per_arm is not None or bar is not None else None,
                **budget)
        finally:
            if bar is not None:
                bar.close()
        self.pulls += pulls
        self._scores = {layer.module: -torch.as_tensor(scores[layer.offset:layer.offset + layer.n_units])
                        for layer in arms.layers}
        self._scored = {layer.module: _width(layer.module) for layer in arms.layers}
        self._seen = set()
        self._signature = self._shapes(model)
        # The pruner removes channels after its last call here: the model's next forward tells.
        self._hook = model.register_forward_pre_hook(_ShrinkCheck(self))

    def _unhook(self) -> None:
        if self._hook is not None:
            self._hook.remove()
            self._hook = None

    def _check_shrunk(self) -> None:
        """Warn when the pruner asked for scores in a step but none of the scored modules shrank."""
        self._unhook()
        if self._seen and self._scored and all(_width(m) == w for m, w in self._scored.items()):
            warnings.warn(f"BanditImportance scored {len(self._scored)} groups in pruner step {self.step}, but the "
                          "pruner removed none of their channels: the model did not shrink. Check that the pruner's "
                          "pruning_ratio/ignored_layers leave these groups prunable and that BanditImportance gets "
                          "the same layers/ignored_layers", RuntimeWarning, stacklevel=4)

    @torch.no_grad()
    def __call__(self, group) -> torch.Tensor:
        model = group._DG.model
        if self._signature != self._shapes(model):
            self._play(model)
        root = group[0].dep.target.module
        if root in self._seen:   # a group scored twice at the same shapes: a new pruner step, nothing removed
            self._check_shrunk()
            self._seen = set()
        self._seen.add(root)
        if root not in self._scores:
            name = group._DG._module2name.get(root)
            raise ValueError(
                f"the bandit has no scores for group root {type(root).__name__} {name!r}: it is not one of "
                f"BanditImportance's {len(self._scores)} arm groups. Give BanditImportance the same layers= and "
                f"ignored_layers= as the pruner (e.g. ignored_layers=[... , model.get_submodule({name!r})] in both), "
                "or, for the q/k/v projections of a Hugging Face attention block, BanditImportance(..., heads=True) "
                "so that whole heads are arms; mabprune.arms.find_arms(model, example).rejected says why a group is no arm")
        idxs = torch.as_tensor(list(group[0].root_idxs), dtype=torch.long)
        return self._scores[root][idxs].float()


def _width(module: nn.Module) -> int:
    """Output width of a scored module (its first parameter's leading size)."""
    p = next(module.parameters(), None)
    return -1 if p is None else int(p.shape[0])


class _ShrinkCheck:
    """The forward pre-hook that checks, once, whether the pruner shrank the scored modules.

    It holds the importance weakly, and a saved or copied model gets a no-op in its place, so
    that ``torch.save(model)`` and ``copy.deepcopy(model)`` work while it is registered."""

    def __init__(self, importance: BanditImportance):
        self.importance = weakref.ref(importance)

    def __call__(self, *_) -> None:
        importance = self.importance()
        if importance is not None:
            importance._check_shrunk()

    def __reduce__(self):
        return _no_op, ()


class _NoOp:
    def __call__(self, *_) -> None:
        return None


def _no_op() -> _NoOp:
    return _NoOp()
