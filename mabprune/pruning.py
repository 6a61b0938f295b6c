"""The pruning loop: score the arms (a bandit or a baseline), choose, remove, fine-tune.

:func:`prune` reads as that loop over steps; each stage is a function of its own here
(:func:`_check_arguments`, :func:`_prepare`, :func:`_bandit_scores`, :func:`_baseline_scores`)
and the bookkeeping of what was removed and pulled is :class:`_Ledger`. The arms are
:mod:`mabprune.arms`, the pulls :mod:`mabprune.engine` and :mod:`mabprune.bandit`, the
baselines :mod:`mabprune.baselines`, the physical removal :mod:`mabprune.removal`.
"""

from __future__ import annotations

import copy
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from . import baselines, inputs, policies
from .arms import ArmSet, find_arms
from .bandit import bandit_step, exploration_params, progress_bar
from .baselines import baseline_removal
from .engine import ENGINES, make_engine, make_loss
from .masks import unit_means
from .removal import count_macs_params, remove_arms, select_removals
from .rewards import REWARD_SIGNALS, REWARDS, make_reward, reward_batch, zero_one_loss

#: Every method of :func:`prune`: the six bandit policies, then the baselines (the one list;
#: the study's grids and the analysis import it from here).
METHODS = tuple(policies.POLICIES) + baselines.BASELINES
#: References beyond the paper: uniform allocation (the control of the policies) and the exact
#: ranking (:mod:`mabprune.truth`). Methods of the standard and full deep-learning grids, shown
#: beside ``none`` and ``random``, never a policy or a baseline of a claim's rule (the one list:
#: the study and the analysis import it from here).
REFERENCES = tuple(policies.CONTROLS) + baselines.REFERENCES


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
    #: The groups of the first step that are not arms, with the reason (``ArmSet.rejected``).
    rejected: dict[str, str] = field(default_factory=dict)
    clipped_fraction: float = float("nan")  # rewards clipped by the 'unit'/'margin' scale (policies only)
    #: Unit-rows the scores cost, summed over the steps: a pull masks one arm on one mini-batch
    #: (pulls × its rows, calibration included); ``exact`` masks every arm on the whole split
    #: (arms × rows per step); 0 for the heuristics, which mask nothing.
    rows_evaluated: int = 0

    @property
    def pulls_per_second(self) -> float:
        return self.pulls / self.pull_time_s if self.pull_time_s > 0 else float("nan")

    @property
    def n_removed(self) -> int:
        return sum(len(units) for units in self.removed.values())


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
          max_batch_fraction: float | None = None, baseline_variant: str = "auto",
          baseline_definition: str = "default", heads: bool = False, progress: bool | None = None) -> PruneResult:
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
        ``none``); or a reference beyond the paper: ``uniform`` (the same pulls allocated
        round-robin, the policies' control) or ``exact`` (the exact single-unit removal effect
        on the whole reward split, :mod:`mabprune.truth`); or a pure-exploration policy beyond
        the paper (``successive_rejects``, ``successive_halving``: :mod:`mabprune.policies.exploration`),
        which spends the step's pulls identifying the units it removes (its ``budget`` and
        ``top_k`` are filled in; ``rank_by="mean"`` only).
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
    baseline_definition : str, default="default"
        Which published formula of Taylor or magnitude (:data:`mabprune.baselines.DEFINITIONS`):
        ``default`` is Molchanov et al. (2019)'s mini-batch-averaged squared first-order term for
        Taylor and the incoming-weight norm for magnitude; ``signed`` or ``abs_split`` (Taylor)
        and ``in_out`` (magnitude) are the earlier ones. Only these two methods take another value.
    heads : bool, default=False
        Make the attention heads of Hugging Face style blocks arms (see
        :func:`mabprune.arms.find_arms`); removal drops whole heads.
    progress : bool, optional
        A tqdm bar of each bandit step's pulls (default: when stderr is a terminal, so logs and
        notebooks run headless stay clean; ``MABPRUNE_PROGRESS=0`` turns it off; no bar without
        tqdm). It only counts: the result is the same with or without it.

    Returns
    -------
    PruneResult

    Raises
    ------
    ValueError
        Before any pull, naming the value: a bad argument (``seed`` included), an ``amount``
        that rounds to no unit of the arms (with the smallest that removes one), data the model
        or the loss would misread (labels of the wrong shape, integer inputs to a model whose
        first layer is not an embedding), a weight that is not finite, or nothing to prune.

    Warns
    -----
    UserWarning
        When ``min_units_per_layer`` left fewer units to remove than ``amount`` asks (with both
        counts).

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
    baseline_variant, baseline_definition = _check_arguments(
        method=method, amount=amount, rounds=rounds, batch_size=batch_size, arms_per_round=arms_per_round,
        steps=steps, min_units_per_layer=min_units_per_layer, calibration_batches=calibration_batches,
        reward=reward, scope=scope, rank_by=rank_by, replacement=replacement, engine=engine, seed=seed,
        reward_signal=reward_signal, baseline_variant=baseline_variant, policy_params=policy_params,
        fine_tune=fine_tune, max_batch_fraction=max_batch_fraction, margin=margin, definition=baseline_definition)
    start_time = time.perf_counter()
    loss, device = make_loss(loss_fn), inputs.resolve_device(device)
    X, y = inputs.as_tensors(data, target)
    X, y = inputs.to(X, device), y.to(device)
    work = copy.deepcopy(model).to(device)
    arms, example, n_batch, with_replacement = _prepare(
        work, X, y, loss_fn=loss_fn, loss=loss, method=method, layers=layers, ignored_layers=ignored_layers,
        heads=heads, replacement=replacement, reward_signal=reward_signal, batch_size=batch_size,
        max_batch_fraction=max_batch_fraction)
    quotas = _step_quotas(_units_to_remove(amount, arms.n_arms), steps)
    ledger = _Ledger(arms, *count_macs_params(work, example))
    bandit = dict(engine=engine, loss=zero_one_loss if reward_signal == "accuracy" else loss, max_rows=max_rows,
                  method=method, rounds=rounds, steps=steps, arms_per_round=arms_per_round, reward=reward,
                  rank_by=rank_by, batch_size=n_batch, replace=with_replacement, seed=seed,
                  policy_params=dict(policy_params or {}), margin=margin, calibration_batches=calibration_batches,
                  scope=scope, min_units_per_layer=min_units_per_layer, rng=np.random.default_rng(seed),
                  progress=progress)
    for step, n_remove in enumerate(quotas):
        if step:  # step 0 plays on the arms found (and self-checked) by _prepare
            arms = find_arms(work, example, layers=ledger.layer_names, ignored_layers=ignored_layers, check=False,
                             heads=heads)
        fill = unit_means(work, arms, X) if replacement == "mean" else None
        if method in policies.PLAYABLE:
            scores, removal = _bandit_scores(work, arms, X, y, step=step, n_remove=n_remove, fill=fill,
                                             ledger=ledger, **bandit)
        else:
            scores, removal = _baseline_scores(work, arms, X, y, method=method, loss=loss, fill=fill, step=step,
                                               n_remove=n_remove, scope=scope, min_units_per_layer=min_units_per_layer,
                                               seed=seed, batch_size=batch_size, variant=baseline_variant,
                                               definition=baseline_definition, ledger=ledger)
        ledger.first_step(scores, seed=seed, step=step)
        if method != "none" and len(removal):
            ledger.remove(work, arms, removal, example, fill)
        if fine_tune is not None:  # after every step, for `none` too: every method gets the same epochs
            fine_tune(work)
    _warn_shortfall(ledger, int(quotas.sum()), method=method, amount=amount, scope=scope,
                    min_units_per_layer=min_units_per_layer)
    work.train(model.training)
    return ledger.result(work, method, *count_macs_params(work, example), time.perf_counter() - start_time)


# ------------------------------------------------------------------------- the steps


def _check_arguments(*, method, amount, rounds, batch_size, arms_per_round, steps, min_units_per_layer,
                     calibration_batches, reward, scope, rank_by, replacement, engine, seed, reward_signal,
                     baseline_variant, policy_params, fine_tune, max_batch_fraction, margin,
                     definition="default") -> tuple[str, str]:
    """Every argument of :func:`prune` checked before any compute; returns the resolved baseline
    variant and definition."""
    if method not in METHODS + REFERENCES + policies.EXPLORATION:
        raise ValueError(f"unknown method {method!r}: use one of {METHODS + REFERENCES + policies.EXPLORATION}")
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")  # numpy's own error names no value
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
    if method in policies.EXPLORATION and rank_by != "mean":
        raise ValueError(f"method {method!r} ranks by its decisions (accepted, then undecided by mean, then "
                         f"rejected): use rank_by='mean', not {rank_by!r}")
    if method in policies.PLAYABLE:
        # raises on unknown or bad parameters (and on the budget or top_k the loop fills in)
        params = exploration_params(method, policy_params, budget=2, n_remove=1)
        probe = policies.make(method, 2, seed=0, **params)
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
    make_reward(reward, margin=margin)  # raises on a bad margin
    definition = baselines.check_definition(method, definition)
    if baseline_variant == "signed" and definition not in ("signed", "molchanov2019"):
        raise ValueError(f"baseline_variant='signed' is the definition 'signed', not baseline_definition {definition!r}")
    if baseline_variant == "signed":
        return "signed", "signed"
    if baseline_variant == "auto":
        return ("normalized" if scope == "global" else "raw"), definition
    return baseline_variant, definition


def _prepare(work: nn.Module, X, y: torch.Tensor, *, loss_fn, loss, method, layers, ignored_layers, heads,
             replacement, reward_signal, batch_size, max_batch_fraction):
    """Check the data against the model, find (and self-check) the arms, size the reward mini-batch.

    Returns ``(arms, example, n_batch, with_replacement)``; raises before any pull.
    """
    inputs.check_inputs(work, X, y, loss_fn)
    example = inputs.index(X, slice(0, 2))
    arms = find_arms(work, example, layers=layers, ignored_layers=ignored_layers, heads=heads)  # raises when nothing is prunable
    if replacement == "mean":
        for layer in arms.layers:
            for reader in layer.readers:
                if not isinstance(reader.module, nn.Linear) or reader.module.bias is None:
                    raise ValueError(f"replacement='mean' needs every reader of group {layer.name!r} to be an nn.Linear "
                                     f"with bias; {reader.name!r} is a {type(reader.module).__name__}")
    inputs.check_finite_losses(work, loss, X, y, batch_size)
    if reward_signal == "accuracy":
        with torch.no_grad():
            zero_one_loss(inputs.call(work.eval(), example), y[:2])  # raises for outputs that are not class scores
    n_batch, with_replacement = reward_batch(inputs.length(X), batch_size, max_batch_fraction)
    if method in policies.PLAYABLE and n_batch == inputs.length(X) and not with_replacement:
        warnings.warn(f"the reward mini-batch ({n_batch} rows) is the whole reward split: every pull sees the same "
                      f"batch, so rewards are deterministic (pass max_batch_fraction, e.g. 0.25, to sample)",
                      stacklevel=3)
    return arms, example, n_batch, with_replacement


def _units_to_remove(amount: float, n_arms: int) -> int:
    """``amount`` of ``n_arms`` as a number of units, refused when it rounds to 0 (nothing would be pruned)."""
    n_total = round(float(amount) * n_arms)
    if n_total == 0:
        raise ValueError(f"amount={amount!r} removes no unit of the {n_arms} arms (round({amount} * {n_arms}) = 0): "
                         f"the smallest amount that removes one is just above 0.5/{n_arms} = {0.5 / n_arms:.4g}")
    return n_total


def _warn_shortfall(ledger: _Ledger, asked: int, *, method: str, amount: float, scope: str,
                    min_units_per_layer: int) -> None:
    """Warn when fewer units were removed than ``amount`` asks: the per-layer floor blocked the rest."""
    removed = sum(len(units) for units in ledger.removed.values())
    if method == "none" or removed >= asked:  # 'none' removes nothing on purpose
        return
    n_arms = sum(n for _, n in ledger.arm_layers)
    why = f"min_units_per_layer={min_units_per_layer} keeps the rest"
    if scope == "layer":
        why += " (or scope='layer' rounded a layer's share down)"
    warnings.warn(f"prune removed {removed} of the {asked} units asked (amount={amount} of {n_arms} arms): {why}",
                  stacklevel=3)


def _step_quotas(n_total: int, steps: int) -> np.ndarray:
    """Units removed per step, adding up to ``n_total``; a step may get 0 (6 over 4 steps: 2, 1, 2, 1)."""
    return np.diff(np.round(np.linspace(0, n_total, steps + 1))).astype(int)


def _bandit_scores(work, arms: ArmSet, X, y, *, step, n_remove, fill, ledger, engine, loss, max_rows, method,
                   rounds, steps, arms_per_round, reward, rank_by, batch_size, replace, seed, policy_params,
                   margin, calibration_batches, scope, min_units_per_layer, rng, progress=None):
    """One bandit step on the survivors: play the policy, then choose the safest ``n_remove`` arms."""
    step_rounds = rounds // steps + (1 if step < rounds % steps else 0)
    eng = make_engine(engine, work, arms, loss_fn=loss, fill=fill, max_rows=max_rows)
    t0 = time.perf_counter()
    k = min(arms_per_round, arms.n_arms)
    bar = progress_bar(progress, arms.n_arms * calibration_batches + step_rounds * k, f"prune step {step}")
    try:   # the bar only counts: the pulls, their order and the generators are the same without it
        estimates, counts, scores, n_pulls, info = bandit_step(
            eng, arms.n_arms, X, y, method=method, rounds=step_rounds, arms_per_round=arms_per_round,
            reward=reward, rank_by=rank_by, batch_size=batch_size, seed=seed + step, step=step, rng=rng,
            policy_params=policy_params, history=ledger.history, margin=margin,
            calibration_batches=calibration_batches, replace=replace, progress=bar and bar.update,
            n_remove=n_remove)
    finally:
        if bar is not None:
            bar.close()
    ledger.pulled(n_pulls, time.perf_counter() - t0, info["n_clipped"], info["n_rewards"], estimates, counts)
    ledger.rows += int(n_pulls) * int(batch_size)
    removal = select_removals(scores, arms, n_remove, scope=scope, min_units_per_layer=min_units_per_layer,
                              rng=info["rng"])
    return scores, removal


def _baseline_scores(work, arms: ArmSet, X, y, *, method, loss, fill, step, n_remove, scope, min_units_per_layer,
                     seed, batch_size, variant, ledger, definition="default"):
    """One baseline step: its safety scores and the arms it removes (no pulls; ``exact`` costs its sweep)."""
    estimates, removal = baseline_removal(method, work, arms, X, y, loss, fill, n_remove, scope,
                                          min_units_per_layer, seed + step, batch_size, variant, definition)
    if method == "exact":
        ledger.rows += arms.n_arms * inputs.length(X)
    ledger.scored(estimates, np.zeros(arms.n_arms, dtype=np.int64))
    return estimates, removal


class _Ledger:
    """What :func:`prune` reports: removed units (as indices of the original model), pulls and
    their time, the round history, and the first step's estimates, counts and ranking."""

    def __init__(self, arms: ArmSet, macs_before: int, params_before: int):
        self.arm_layers = [(layer.name, layer.n_units) for layer in arms.layers]
        self.rejected = dict(arms.rejected)
        self.layer_names = [name for name, _ in self.arm_layers]
        self.survivors = {name: np.arange(n) for name, n in self.arm_layers}
        self.removed: dict[str, list[int]] = {name: [] for name in self.layer_names}
        self.macs_before, self.params_before = macs_before, params_before
        self.history: list[dict] = []
        self.pulls, self.pull_time, self.n_clipped, self.n_rewards, self.rows = 0, 0.0, 0, 0, 0
        self._last: tuple | None = None
        self.first: tuple | None = None

    def pulled(self, n_pulls: int, seconds: float, n_clipped: int, n_rewards: int, estimates, counts) -> None:
        self.pulls, self.pull_time = self.pulls + n_pulls, self.pull_time + seconds
        self.n_clipped, self.n_rewards = self.n_clipped + n_clipped, self.n_rewards + n_rewards
        self._last = (estimates, counts)

    def scored(self, estimates, counts) -> None:
        self._last = (estimates, counts)

    def first_step(self, scores, *, seed: int, step: int) -> None:
        """Keep the first step's estimates, counts and ranking (safest first, ties at random)."""
        if self.first is None:
            tie = np.random.default_rng([seed, step, 2]).random(len(scores))
            self.first = (*self._last, np.lexsort((tie, -np.asarray(scores, float))))

    def remove(self, work: nn.Module, arms: ArmSet, removal: np.ndarray, example, fill) -> None:
        for name, units in remove_arms(work, arms, removal, example, fill).items():
            self.removed[name].extend(self.survivors[name][units].tolist())
            self.survivors[name] = np.delete(self.survivors[name], units)

    def result(self, work: nn.Module, method: str, macs_after: int, params_after: int, wall_time_s: float) -> PruneResult:
        estimates, counts, ranking = self.first
        return PruneResult(
            model=work, method=method, ranking=ranking, estimates=estimates, counts=counts, history=self.history,
            removed={k: sorted(v) for k, v in self.removed.items()}, params_before=self.params_before,
            params_after=params_after, macs_before=self.macs_before, macs_after=macs_after, pulls=self.pulls,
            wall_time_s=wall_time_s, pull_time_s=self.pull_time, arm_layers=self.arm_layers, rejected=self.rejected,
            rows_evaluated=self.rows,
            clipped_fraction=self.n_clipped / self.n_rewards if self.n_rewards else float("nan"))
