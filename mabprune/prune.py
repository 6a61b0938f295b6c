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
from .arms import ArmSet, find_arms, unit_means
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


def _as_tensors(data) -> tuple[torch.Tensor, torch.Tensor]:
    """The reward data as two tensors (a DataLoader is read once, in its own order)."""
    if isinstance(data, torch.utils.data.DataLoader):
        xs, ys = [], []
        for batch in data:
            xs.append(torch.as_tensor(batch[0]))
            ys.append(torch.as_tensor(batch[1]))
        if not xs:
            raise ValueError("data is an empty DataLoader: the reward (validation) split has no samples")
        return torch.cat(xs), torch.cat(ys)
    if isinstance(data, (tuple, list)) and len(data) == 2:
        X, y = (torch.as_tensor(np.asarray(d)) if not isinstance(d, torch.Tensor) else d for d in data)
        if len(X) == 0:
            raise ValueError("data is empty: the reward (validation) split has no samples")
        if len(X) != len(y):
            raise ValueError(f"data has {len(X)} inputs but {len(y)} targets")
        return X, y
    raise ValueError(f"data must be a DataLoader or a pair (X, y) of the validation split, got {type(data).__name__}")


def _resolve_device(device) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"unknown device {device!r}: use 'auto', 'cpu' or 'cuda'") from exc


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


def _remove(model: nn.Module, arms: ArmSet, removal: np.ndarray, example: torch.Tensor,
            fill: dict | None) -> dict[str, list[int]]:
    """Physically remove arms with Torch-Pruning's dependency graph; returns units per layer."""
    layer_index, units = arms.locate(removal)
    per_layer = {arms.layers[li].name: sorted(units[layer_index == li].tolist()) for li in np.unique(layer_index)}
    if fill:  # mean-replacement: the removed unit's constant output moves into the consumer's bias
        for layer in arms.layers:
            if layer.name in per_layer:
                consumer = arms.modules[layer.consumer]
                idx = torch.as_tensor(per_layer[layer.name], device=consumer.weight.device)
                cols = consumer.weight.shape[1] // layer.n_units
                w = consumer.weight.detach().reshape(consumer.weight.shape[0], layer.n_units, cols)[:, idx]
                with torch.no_grad():
                    consumer.bias += (w * fill[layer.name][idx].reshape(1, len(idx), cols)).sum((1, 2))
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=example, verbose=False)
    for name, idxs in per_layer.items():
        module = arms.modules[name]
        fn = tp.prune_linear_out_channels if isinstance(module, nn.Linear) else tp.prune_conv_out_channels
        graph.get_pruning_group(module, fn, idxs=idxs).prune()
    return per_layer


def _count(model: nn.Module, example: torch.Tensor) -> tuple[int, int]:
    was_training = model.training
    model.eval()
    macs, params = tp.utils.count_ops_and_params(model, example)
    model.train(was_training)
    return int(macs), int(params)


def prune(model: nn.Module, data, *, method: str = "ucb1", amount: float = 0.5,
          loss_fn: str | Callable = "cross_entropy", rounds: int = 200, batch_size: int = 128,
          arms_per_round: int = 32, reward: str = "unit", scope: str = "global", steps: int = 1,
          min_units_per_layer: int = 1, fine_tune: Callable[[nn.Module], Any] | None = None,
          rank_by: str = "mean", layers: Sequence[str] | None = None, replacement: str = "zero",
          seed: int = 0, device: str | torch.device = "auto", engine: str = "batched",
          policy_params: dict | None = None, max_rows: int | None = None,
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
        The reward data: the **validation** split, never the test split.
    method : str, default="ucb1"
        A policy (``epsilon_greedy``, ``softmax``, ``ucb1``, ``thompson``, ``hedge``, ``exp3``)
        or a baseline (``magnitude``, ``activation_variation``, ``taylor``, ``random``,
        ``none``).
    amount : float, default=0.5
        Fraction of the hidden units to remove, in (0, 1).
    loss_fn : {"cross_entropy", "mse"} or callable, default="cross_entropy"
        Per-sample loss; use ``"mse"`` for regression.
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
    if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not 0 < amount < 1:
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
    loss = make_loss(loss_fn)
    pull_loss = zero_one_loss if reward_signal == "accuracy" else loss
    device = _resolve_device(device)
    X, y = _as_tensors(data)
    X, y = X.to(device), y.to(device)
    start_time = time.perf_counter()

    work = copy.deepcopy(model).to(device)
    example = X[:2]
    arms = find_arms(work, example, layers=layers)  # raises when nothing is prunable
    if replacement == "mean":
        for layer in arms.layers:
            consumer = arms.modules.get(layer.consumer) if layer.consumer else None
            if not isinstance(consumer, nn.Linear) or consumer.bias is None:
                raise ValueError(f"replacement='mean' needs an nn.Linear with bias after layer {layer.name!r}; "
                                 f"its next layer is {type(consumer).__name__}")
    _check_finite_losses(work, loss, X, y, batch_size)
    if reward_signal == "accuracy":
        with torch.no_grad():
            zero_one_loss(work.eval()(X[:2]), y[:2])  # raises for outputs that are not class scores
    n_batch, with_replacement = reward_batch(len(X), batch_size, max_batch_fraction)
    if method in policies.POLICIES and n_batch == len(X) and not with_replacement:
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
        arms = find_arms(work, example, layers=layer_names)
        n_step = int(step_quota[step])
        fill = unit_means(work, arms, X) if replacement == "mean" else None
        counts = np.zeros(arms.n_arms, dtype=np.int64)
        if method in policies.POLICIES:
            step_rounds = rounds // steps + (1 if step < rounds % steps else 0)
            eng = make_engine(engine, work, arms, loss_fn=pull_loss, fill=fill, max_rows=max_rows)
            policy = policies.make(method, arms.n_arms, seed=seed + step, **policy_params)
            transform = make_reward(reward, margin=margin)
            t0 = time.perf_counter()
            everything = np.arange(arms.n_arms)
            # The calibration pass over all arms, on several mini-batches, sets the reward scale (the
            # 'unit' transform is fitted on all of it) and is every policy's first observations.
            deltas = [_pull(eng, everything, X, y, rng, n_batch, step, -1, with_replacement)
                      for _ in range(calibration_batches)]
            transform.fit(np.concatenate(deltas))
            for delta in deltas:
                policy.update(everything, transform(delta))
            pulls += arms.n_arms * calibration_batches
            k = min(arms_per_round, arms.n_arms)
            budget = step_rounds * k  # the same pulls for every policy; Hedge pulls all arms a round
            for r in range(step_rounds if not policy.full_information else -(-budget // arms.n_arms)):
                if policy.full_information:
                    left = budget - r * arms.n_arms
                    chosen = everything if left >= arms.n_arms else np.sort(policy.rng.choice(arms.n_arms, left, replace=False))
                else:
                    chosen = policy.select(k)
                rewards = transform(_pull(eng, chosen, X, y, rng, n_batch, step, r, with_replacement))
                policy.update(chosen, rewards)
                pulls += len(chosen)
                history.append({"step": step, "round": r, "arms": chosen.copy(), "rewards": rewards.astype(np.float32)})
            pull_time += time.perf_counter() - t0
            estimates, counts = policy.estimates.copy(), policy.counts.copy()
            n_clipped, n_rewards = n_clipped + transform.n_clipped_, n_rewards + transform.n_rewards_
            scores = estimates
            if rank_by == "lcb":
                scores = estimates - np.sqrt(2 * math.log(max(counts.sum(), 2)) / np.maximum(counts, 1))
                scores[counts == 0] = -np.inf
            elif rank_by == "cumulative":
                scores = estimates * counts
            removal = select_removals(scores, arms, n_step, scope=scope, min_units_per_layer=min_units_per_layer,
                                      rng=policy.rng)
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
    estimates, counts, ranking = first
    return PruneResult(
        model=work, method=method, ranking=ranking, estimates=estimates,
        counts=counts, history=history, removed={k: sorted(v) for k, v in removed.items()},
        params_before=params_before, params_after=params_after, macs_before=macs_before,
        macs_after=macs_after, pulls=pulls, wall_time_s=time.perf_counter() - start_time,
        pull_time_s=pull_time, arm_layers=arm_layers,
        clipped_fraction=n_clipped / n_rewards if n_rewards else float("nan"),
    )


def _pull(eng, arm_ids, X, y, rng, batch_size, step, rnd, replace=False) -> np.ndarray:
    """Pull arms on a freshly sampled mini-batch; a NaN names the batch where it appeared."""
    idx = rng.choice(len(X), size=min(batch_size, len(X)) if not replace else batch_size, replace=replace)
    delta = eng.pull(arm_ids, X[idx], y[idx])
    if not np.all(np.isfinite(delta)):
        where = "the calibration pass" if rnd < 0 else f"round {rnd}"
        raise ValueError(f"non-finite loss change in step {step}, {where}, on the mini-batch of validation "
                         f"samples {sorted(idx.tolist())[:10]}{'...' if len(idx) > 10 else ''}")
    return delta


def _check_finite_losses(model, loss, X, y, batch_size) -> None:
    """Fail before any pull if the unpruned loss is NaN on some batch, naming the batch."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for b, start in enumerate(range(0, len(X), batch_size)):
                values = loss(model(X[start:start + batch_size]), y[start:start + batch_size])
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
