"""The pruning loop: play a bandit over the arms, rank them, remove the safest physically."""

from __future__ import annotations

import copy
import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch_pruning as tp
from torch import nn

from . import baselines, policies
from . import batch, graph
from .arms import ArmSet, find_arms, unit_means
from .bandit import bandit_step
from .engine import ENGINES, make_engine, make_loss
from .rewards import REWARD_SIGNALS, REWARDS, make_reward, reward_batch, zero_one_loss

METHODS = tuple(policies.POLICIES) + baselines.BASELINES


@dataclass
class PruneResult:
    """What :func:`prune` returns.

    Attributes
    ----------
    model : nn.Module
        The pruned network: a smaller dense copy (the input model is left untouched). Build a
        fresh optimizer for it before training it further.
    method : str
        The policy or baseline that chose the units.
    ranking : np.ndarray
        Arm ids of the first step, safest first (by ``rank_by`` for a policy; ties at random).
    estimates, counts : np.ndarray
        Each arm's safety estimate (mean reward for a policy, the score for a baseline) and its
        pull count, for the first step.
    history : list of dict
        One entry per bandit round: ``step``, ``round``, ``arms`` and ``rewards``.
    removed : dict
        Removed units per layer, as unit indices of the original model.
    params_before, params_after, macs_before, macs_after : int
        Parameter and multiply-accumulate counts (Torch-Pruning's counter).
    pulls : int
        Arm pulls, the calibration pass over every arm (the policies' first observation)
        included.
    wall_time_s : float
        Time of the whole call, fine-tuning included.
    pull_time_s : float
        Time spent pulling arms.
    """

    model: nn.Module
    method: str
    ranking: np.ndarray
    estimates: np.ndarray
    counts: np.ndarray
    history: list[dict] = field(repr=False)
    removed: dict[str, list[int]]
    params_before: int
    params_after: int
    macs_before: int
    macs_after: int
    pulls: int
    wall_time_s: float
    pull_time_s: float
    arm_layers: list[tuple[str, int]] = field(default_factory=list)
    clipped_fraction: float = float("nan")  # rewards clipped by the 'unit'/'margin' scale (policies only)

    @property
    def pulls_per_second(self) -> float:
        return self.pulls / self.pull_time_s if self.pull_time_s > 0 else float("nan")

    @property
    def n_removed(self) -> int:
        return sum(len(units) for units in self.removed.values())


def _as_tensors(data, target: str | int | None = None):
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
        X = _cat(xs)
        y = torch.cat(ys)
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        X, y = data
        X = X if isinstance(X, (torch.Tensor, tuple, list, dict)) else torch.as_tensor(np.asarray(X))
        X = tuple(X) if isinstance(X, list) else X
        y = y if isinstance(y, torch.Tensor) else torch.as_tensor(np.asarray(y))
    else:
        raise ValueError(f"data must be a DataLoader or a pair (X, y) of the validation split, got {type(data).__name__}")
    n = batch.length(X)
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


def _cat(xs):
    if isinstance(xs[0], dict):
        return {k: torch.cat([x[k] for x in xs]) for k in xs[0]}
    if isinstance(xs[0], tuple):
        return tuple(torch.cat(parts) for parts in zip(*xs))
    return torch.cat(xs)


def _resolve_device(device) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"unknown device {device!r}: use 'auto', 'cpu' or 'cuda'") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(device)!r} but CUDA is not available on this machine: use 'cpu' or 'auto'")
    return device


def _check_inputs(model: nn.Module, X, y: torch.Tensor, loss_fn) -> None:
    """Fail before any compute on inputs the model or the loss would misread, naming the value."""
    param = next(model.parameters())
    for t in batch.tensors(X):
        if t.is_floating_point() and t.dtype != param.dtype:
            raise ValueError(f"an input tensor has dtype {t.dtype} but the model's parameters are {param.dtype}: "
                             f"convert one of them (e.g. X.to({param.dtype}))")
    name = getattr(loss_fn, "__class__", type(None)).__name__ if isinstance(loss_fn, nn.Module) else loss_fn
    with torch.no_grad():
        was_training = model.training
        model.eval()
        try:
            out = batch.call(model, batch.index(X, slice(0, 2)))
        finally:
            model.train(was_training)
    if name in ("cross_entropy", "CrossEntropyLoss", "NLLLoss"):
        if y.is_floating_point() and y.shape == out.shape:
            return   # class probabilities
        if y.is_floating_point():
            raise ValueError(f"loss_fn={name!r} needs integer class labels, got {y.dtype} targets "
                             f"(first values {y.flatten()[:3].tolist()}); use y.long(), or loss_fn='mse' for regression")
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


def _remove(model: nn.Module, arms: ArmSet, removal: np.ndarray, example,
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


def _count(model: nn.Module, example) -> tuple[int, int]:
    was_training = model.training
    model.eval()
    if isinstance(example, dict):
        macs, params = tp.utils.count_ops_and_params(model, example)
    else:
        macs, params = tp.utils.count_ops_and_params(model, example if isinstance(example, torch.Tensor) else list(example))
    model.train(was_training)
    return int(macs), int(params)


def prune(model: nn.Module, data, *, method: str = "ucb1", amount: float = 0.5,
          loss_fn: str | Callable = "cross_entropy", rounds: int = 200, batch_size: int = 128,
          arms_per_round: int = 32, reward: str = "unit", scope: str = "global", steps: int = 1,
          min_units_per_layer: int = 1, fine_tune: Callable[[nn.Module], Any] | None = None,
          rank_by: str = "mean", layers: Sequence[str] | None = None, replacement: str = "zero",
          seed: int = 0, device: str | torch.device = "auto", engine: str = "batched",
          policy_params: dict | None = None, max_rows: int | None = None,
          ignored_layers: Sequence[str | nn.Module] = (), target: str | int | None = None,
          # --- protocol options (issue 8; implemented in rewards.py and baselines.py) ---
          reward_signal: str = "loss", margin: float | None = None, calibration_batches: int = 4,
          max_batch_fraction: float | None = None, baseline_variant: str = "auto") -> PruneResult:
    """Prune ``amount`` of a network's hidden units with a bandit policy or a baseline.

    Every hidden unit (output unit of an ``nn.Linear``, output channel of an ``nn.Conv2d``,
    the output layer excepted) is an arm. Each round the policy picks ``arms_per_round`` arms;
    each is masked on a fresh mini-batch of ``data`` and its ΔL = L(masked) − L(unmasked)
    becomes a reward; after ``rounds`` rounds the arms are ranked by their estimates and the
    safest are removed physically.

    Parameters
    ----------
    model : nn.Module
        A trained network. It is copied; the original is not modified.
    data : DataLoader or (X, y)
        The reward data: the **validation** split, never the test split. ``X`` may be a
        tensor, a tuple of tensors (``model(*X)``) or a dict (``model(**X)``); a DataLoader
        may yield ``(x, y)``, ``(x1, ..., xn, y)`` or dicts (see ``target``).
    method : str, default="ucb1"
        A policy (``epsilon_greedy``, ``softmax``, ``ucb1``, ``thompson``, ``hedge``, ``exp3``)
        or a baseline (``magnitude``, ``activation_variation``, ``taylor``, ``random``,
        ``none``).
    amount : float, default=0.5
        Fraction of the hidden units to remove, in (0, 1).
    loss_fn : {"cross_entropy", "mse"}, torch.nn loss module or callable, default="cross_entropy"
        Per-sample loss; use ``"mse"`` (or ``nn.MSELoss()``) for regression.
    rounds : int, default=200
        Bandit rounds (in total, shared between the steps).
    batch_size : int, default=128
        Size of each sampled mini-batch.
    arms_per_round : int, default=32
        Arms pulled per round. Hedge, a full-information policy, pulls every arm each round,
        so it gets ``rounds · arms_per_round // n_arms`` rounds (the remainder in one round of
        random arms): every policy makes the same number of pulls.
    reward : {"unit", "raw", "clipped", "margin"}, default="unit"
        Transform of ΔL into a reward (:mod:`mabprune.rewards`); UCB1, EXP3 and Bernoulli
        Thompson need a bounded one (``"unit"`` or ``"margin"``).
    scope : {"global", "layer"}, default="global"
        One ranking over all layers, or ``amount`` of each layer.
    steps : int, default=1
        Prune in this many steps, replaying the bandit on the survivors in between. One step
        is the literal method; several steps guard against removing together many units that
        are each safe alone (each lowers the loss) but not jointly.
    min_units_per_layer : int, default=1
        No layer is pruned below this many units.
    fine_tune : callable, optional
        Called as ``fine_tune(model)`` after each step (e.g. a few epochs on the training split).
    rank_by : {"mean", "lcb", "cumulative"}, default="mean"
        Rank arms by mean estimate, by the lower confidence bound
        ``mean − sqrt(2 ln N / n)`` (N pulls in all, n of this arm), or by cumulative reward
        (the authors' ranking).
    layers : sequence of str, optional
        Module names of the layers to prune; default all but the output layer.
    replacement : {"zero", "mean"}, default="zero"
        What a removed unit outputs: nothing, or its mean on ``data`` (folded into the next
        Linear layer's bias on removal).
    seed : int, default=0
        Seeds the policy, the mini-batch sampling and the random baseline.
    device : {"auto", "cpu", "cuda"}, default="auto"
    engine : {"batched", "naive"}, default="batched"
        How pulls are computed; both give the same ΔL.
    policy_params : dict, optional
        Parameters of the policy (e.g. ``{"c": 1.0}`` for UCB1).
    max_rows : int, optional
        Memory bound of the batched engine (see :class:`mabprune.engine.BatchedEngine`).
    ignored_layers : sequence of str or nn.Module, default=()
        Layers whose output channels are never pruned (as in Torch-Pruning).
    target : str or int, optional
        Where the target is in a DataLoader's batches: a dict key (default ``"labels"``,
        ``"label"``, ``"y"`` or ``"target"``, whichever is present) or a tuple position
        (default the last item).
    reward_signal : {"loss", "accuracy"}, default="loss"
        What a pull measures: ΔL of ``loss_fn``, or of the zero-one loss (−Δaccuracy;
        classification only).
    margin : float, optional
        Tolerance of the ``clipped`` and ``margin`` rewards (see :func:`mabprune.rewards.make_reward`).
    calibration_batches : int, default=4
        Mini-batches of the calibration pass over every arm, which fits the ``unit`` scale and
        is every policy's first observations (counted in ``pulls``).
    max_batch_fraction : float, optional
        Cap the reward mini-batch at this fraction of ``data`` (drawn with replacement when
        that is tiny; see :func:`mabprune.rewards.reward_batch`). Without a cap, a batch of
        the whole split makes every pull the same: a warning says so.
    baseline_variant : {"auto", "normalized", "raw", "signed"}, default="auto"
        Scores of magnitude, activation variation and Taylor: ``auto`` is ``normalized``
        (per-layer ℓ2) under ``scope="global"`` and ``raw`` otherwise; ``signed`` is the
        older signed Taylor score (see :mod:`mabprune.baselines`).

    Returns
    -------
    PruneResult

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from mabprune import prune
    >>> torch.manual_seed(0) and None
    >>> model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
    >>> X, y = torch.randn(64, 4), torch.randint(0, 3, (64,))
    >>> result = prune(model, (X, y), method="ucb1", amount=0.5, rounds=20, arms_per_round=4)
    >>> result.model[0].out_features, result.params_before, result.params_after
    (8, 131, 67)
    """
    # --- validate everything before any compute -------------------------------------------
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: use one of {METHODS}")
    if isinstance(amount, (bool, np.bool_)) or not isinstance(amount, (int, float, np.integer, np.floating)) \
            or not 0 < amount < 1:
        raise ValueError(f"amount must be a fraction in (0, 1), got {amount!r}")
    for name, value, low in (("rounds", rounds, 0), ("batch_size", batch_size, 1), ("arms_per_round", arms_per_round, 1),
                             ("steps", steps, 1), ("min_units_per_layer", min_units_per_layer, 1),
                             ("calibration_batches", calibration_batches, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    for name, value, allowed in (("reward", reward, REWARDS), ("scope", scope, ("global", "layer")),
                                 ("rank_by", rank_by, ("mean", "lcb", "cumulative")),
                                 ("replacement", replacement, ("zero", "mean")), ("engine", engine, ENGINES),
                                 ("reward_signal", reward_signal, REWARD_SIGNALS),
                                 ("baseline_variant", baseline_variant, ("auto",) + baselines.VARIANTS)):
        if value not in allowed:
            raise ValueError(f"unknown {name} {value!r}: use one of {tuple(allowed)}")
    policy_params = dict(policy_params or {})
    if method in policies.POLICIES:
        probe = policies.make(method, 2, seed=0, **policy_params)  # raises on unknown or bad parameters
        if probe.needs_unit_rewards and not make_reward(reward).bounded:
            raise ValueError(f"method {method!r} needs rewards in [0, 1]: use reward='unit' or 'margin', not {reward!r}")
    elif policy_params:
        raise ValueError(f"policy_params {sorted(policy_params)} given, but {method!r} is not a bandit policy")
    if fine_tune is not None and not callable(fine_tune):
        raise ValueError(f"fine_tune must be a callable taking the model, got {type(fine_tune).__name__}")
    if max_batch_fraction is not None and not (isinstance(max_batch_fraction, (int, float))
                                               and not isinstance(max_batch_fraction, bool) and 0 < max_batch_fraction <= 1):
        raise ValueError(f"max_batch_fraction must be a fraction in (0, 1] or None, got {max_batch_fraction!r}")
    if baseline_variant == "signed" and method != "taylor":
        raise ValueError(f"baseline_variant='signed' exists for method 'taylor' only, not {method!r}")
    if baseline_variant == "auto":
        baseline_variant = "normalized" if scope == "global" else "raw"
    make_reward(reward, margin=margin)  # raises on a bad margin
    amount = float(amount)
    loss = make_loss(loss_fn)
    pull_loss = zero_one_loss if reward_signal == "accuracy" else loss
    device = _resolve_device(device)
    X, y = _as_tensors(data, target)
    X, y = batch.to(X, device), y.to(device)
    start_time = time.perf_counter()

    work = copy.deepcopy(model).to(device)
    _check_inputs(work, X, y, loss_fn)
    example = batch.index(X, slice(0, 2))
    arms = find_arms(work, example, layers=layers, ignored_layers=ignored_layers)  # raises when nothing is prunable
    if replacement == "mean":
        for layer in arms.layers:
            for reader in layer.readers:
                if not isinstance(reader.module, nn.Linear) or reader.module.bias is None:
                    raise ValueError(f"replacement='mean' needs every reader of group {layer.name!r} to be an nn.Linear "
                                     f"with bias; {reader.name!r} is a {type(reader.module).__name__}")
    _check_finite_losses(work, loss, X, y, batch_size)
    if reward_signal == "accuracy":
        with torch.no_grad():
            zero_one_loss(batch.call(work.eval(), batch.index(X, slice(0, 2))), y[:2])  # raises for outputs that are not class scores
    n_batch, with_replacement = reward_batch(batch.length(X), batch_size, max_batch_fraction)
    if method in policies.POLICIES and n_batch == batch.length(X) and not with_replacement:
        warnings.warn(f"the reward mini-batch ({n_batch} rows) is the whole reward split: every pull sees the same "
                      f"batch, so rewards are deterministic (pass max_batch_fraction, e.g. 0.25, to sample)",
                      stacklevel=2)
    macs_before, params_before = _count(work, example)
    arm_layers = [(layer.name, layer.n_units) for layer in arms.layers]
    layer_names = [name for name, _ in arm_layers]
    survivors = {name: np.arange(n) for name, n in arm_layers}
    removed: dict[str, list[int]] = {name: [] for name in layer_names}
    n_total = round(amount * arms.n_arms)
    # Per-step quotas that add up to n_total; a step may get 0 (e.g. 6 units over 4 steps: 2, 1, 2, 1).
    step_quota = np.diff(np.round(np.linspace(0, n_total, steps + 1))).astype(int)
    rng = np.random.default_rng(seed)
    history, pulls, pull_time = [], 0, 0.0
    first, n_clipped, n_rewards = None, 0, 0

    for step in range(steps):
        arms = find_arms(work, example, layers=layer_names, ignored_layers=ignored_layers, check=step == 0)
        n_step = int(step_quota[step])
        fill = unit_means(work, arms, X) if replacement == "mean" else None
        counts = np.zeros(arms.n_arms, dtype=np.int64)
        if method in policies.POLICIES:
            step_rounds = rounds // steps + (1 if step < rounds % steps else 0)
            eng = make_engine(engine, work, arms, loss_fn=pull_loss, fill=fill, max_rows=max_rows)
            t0 = time.perf_counter()
            estimates, counts, scores, n_pulls, info = bandit_step(
                eng, arms.n_arms, X, y, method=method, rounds=step_rounds, arms_per_round=arms_per_round,
                reward=reward, rank_by=rank_by, batch_size=n_batch, seed=seed + step, step=step, rng=rng,
                policy_params=policy_params, history=history, margin=margin,
                calibration_batches=calibration_batches, replace=with_replacement)
            pulls += n_pulls
            pull_time += time.perf_counter() - t0
            n_clipped, n_rewards = n_clipped + info["n_clipped"], n_rewards + info["n_rewards"]
            removal = select_removals(scores, arms, n_step, scope=scope, min_units_per_layer=min_units_per_layer,
                                      rng=info["rng"])
        else:
            estimates, removal = _baseline(method, work, arms, X, y, loss, fill, n_step, scope,
                                           min_units_per_layer, seed + step, batch_size, baseline_variant)
        if first is None:
            scores = scores if method in policies.POLICIES else estimates
            tie = np.random.default_rng([seed, step, 2]).random(len(scores))
            first = (estimates, counts, np.lexsort((tie, -np.asarray(scores, float))))
        if method != "none" and len(removal):
            for name, units in _remove(work, arms, removal, example, fill).items():
                removed[name].extend(survivors[name][units].tolist())
                survivors[name] = np.delete(survivors[name], units)
        if fine_tune is not None:  # after every step, for `none` too: every method gets the same epochs
            fine_tune(work)

    macs_after, params_after = _count(work, example)
    work.train(model.training)
    estimates, counts, ranking = first
    return PruneResult(
        model=work, method=method, ranking=ranking, estimates=estimates,
        counts=counts, history=history, removed={k: sorted(v) for k, v in removed.items()},
        params_before=params_before, params_after=params_after, macs_before=macs_before,
        macs_after=macs_after, pulls=pulls, wall_time_s=time.perf_counter() - start_time,
        pull_time_s=pull_time, arm_layers=arm_layers,
        clipped_fraction=n_clipped / n_rewards if n_rewards else float("nan"),
    )


def _check_finite_losses(model, loss, X, y, batch_size) -> None:
    """Fail before any pull if the unpruned loss is NaN on some batch, naming the batch."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for b, start in enumerate(range(0, batch.length(X), batch_size)):
                values = loss(batch.call(model, batch.index(X, slice(start, start + batch_size))), y[start:start + batch_size])
                if not torch.isfinite(values).all():
                    bad = start + int(torch.nonzero(~torch.isfinite(values))[0])
                    raise ValueError(f"the loss is NaN or infinite on batch {b} of the reward data "
                                     f"(samples {start}..{start + len(values) - 1}, first at sample {bad})")
    finally:
        model.train(was_training)


def _baseline(method, model, arms: ArmSet, X, y, loss, fill, n_remove, scope, min_units, seed, batch_size,
              variant="raw"):
    """Scores and removal of a baseline method (ties broken at random, seeded)."""
    if method == "none":
        return np.zeros(arms.n_arms), np.array([], dtype=np.int64)
    if method == "magnitude":
        scores = baselines.magnitude_scores(arms, variant=variant)
    elif method == "taylor":
        scores = baselines.taylor_scores(model, arms, X, y, loss, fill=fill, batch_size=batch_size * 4, variant=variant)
    elif method == "random":
        scores = baselines.random_scores(arms, seed)
    else:
        return _greedy_activation_variation(model, arms, X, fill, n_remove, scope, min_units, variant=variant)
    return scores, select_removals(scores, arms, n_remove, scope=scope, min_units_per_layer=min_units,
                                   rng=np.random.default_rng([seed, 1]))


def _greedy_activation_variation(model, arms, X, fill, n_remove, scope, min_units, rerankings: int = 32,
                                 variant="raw"):
    """Greedy: re-rank by activation variation after each 1/``rerankings`` of the removals.

    The removed units stay masked while the variances are recomputed, so a unit whose
    variation came from an already-removed unit upstream is seen as it will be. With
    ``scope="layer"`` the units are chosen in one ranking, since per-layer quotas are exact
    only when chosen in one go.
    """
    first_scores = baselines.activation_variation_scores(model, arms, X, fill=fill, variant=variant)
    if scope == "layer":
        return first_scores, select_removals(first_scores, arms, n_remove, scope="layer", min_units_per_layer=min_units)
    chunk = max(1, math.ceil(n_remove / rerankings))
    removal, scores = np.array([], dtype=np.int64), first_scores
    while len(removal) < n_remove:
        more = select_removals(scores, arms, min(chunk, n_remove - len(removal)), scope="global",
                               min_units_per_layer=min_units, exclude=removal)
        if len(more) == 0:
            break
        removal = np.concatenate([removal, more])
        if len(removal) < n_remove:
            scores = baselines.activation_variation_scores(model, arms, X, masked=removal, fill=fill, variant=variant)
    return first_scores, removal
