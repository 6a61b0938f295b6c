"""One bandit step: calibrate on every arm, then play the policy for some rounds."""

from __future__ import annotations

import math
import os
import sys

import numpy as np
import torch

from . import inputs, policies
from .rewards import make_reward

try:   # tqdm comes with the study extra; the core (numpy, torch, torch-pruning) works without a bar
    from tqdm.auto import tqdm
except ImportError:   # pragma: no cover
    tqdm = None


def progress_enabled(progress: bool | None) -> bool:
    """Whether to draw a bar: ``progress`` if given, else when stderr is a terminal (an
    interactive user waiting, not a log); never when ``MABPRUNE_PROGRESS=0`` or tqdm is missing."""
    if tqdm is None or os.environ.get("MABPRUNE_PROGRESS", "").strip() == "0":
        return False
    return bool(progress) if progress is not None else sys.stderr.isatty()


def progress_bar(progress: bool | None, total: int, desc: str):
    """A tqdm bar of ``total`` pulls, or None when :func:`progress_enabled` says no."""
    return tqdm(total=total, desc=desc, unit="pull") if progress_enabled(progress) else None


def bandit_step(eng, n_arms: int, X, y: torch.Tensor, *, method: str, rounds: int, arms_per_round: int,
                reward: str, rank_by: str, batch_size: int, seed: int, step: int, rng: np.random.Generator,
                policy_params: dict | None = None, history: list | None = None, margin: float | None = None,
                calibration_batches: int = 1, replace: bool = False, calibration_arms: int | None = None,
                progress=None, n_remove: int | None = None):
    """Play ``method`` over ``n_arms`` arms of ``eng``; returns (estimates, counts, scores, pulls, info).

    A calibration pass over all arms, on ``calibration_batches`` mini-batches, fits the reward
    scale (the 'unit' transform is fitted on all of it) and is every policy's first observations,
    so no arm is ranked without ever being pulled. Every policy then gets the same pulls:
    ``rounds * min(arms_per_round, n_arms)``; a full-information policy (Hedge) pulls every arm
    a round, so it plays fewer rounds. ``scores`` are the estimates, their lower confidence
    bound (``rank_by="lcb"``) or the cumulative reward (``"cumulative"``): higher = safer.
    Each mini-batch is drawn from ``rng`` (shared between steps by the caller), with
    replacement when ``replace``. ``info`` holds the policy's generator (``rng``, for breaking
    ties at random) and the clipped and total reward counts (``n_clipped``, ``n_rewards``).

    ``calibration_arms`` (default None: every arm, today's behaviour bit for bit) calibrates on
    that many arms only, drawn at random with ``rng`` and pulled in chunks on each calibration
    mini-batch, so that a budget below one pull per arm is possible. An arm that is never
    pulled (count 0) is scored as the mean estimate of the pulled arms, ranked just below
    (less safe than) a pulled arm of that estimate: with no evidence it is taken as typical,
    and a channel that was never observed is not the first to go. The unseen arms are spread
    in a random order (``seed``) over 1% of the estimates' scale below that mean, so that no
    two tie (Torch-Pruning removes every channel at or below its threshold). ``progress``, if given, is
    called as ``progress(n)`` after every ``n`` pulls (the full calibration pass as one).

    A pure-exploration policy (``policies.EXPLORATION``) gets its ``budget`` here, every pull of
    the step (calibration included), and its ``top_k`` from ``n_remove`` (the units the step
    removes) or, when that is None, from ``policy_params``.
    """
    everything = np.arange(n_arms)
    n_calibrated = n_arms if calibration_arms is None else int(min(max(calibration_arms, 1), n_arms))
    params = exploration_params(method, policy_params, n_remove=n_remove,
                                budget=n_calibrated * calibration_batches + rounds * min(arms_per_round, n_arms))
    policy = policies.make(method, n_arms, seed=seed, **params)
    transform = make_reward(reward, margin=margin)
    if calibration_arms is None:
        calibrated = everything
        deltas = [_pull(eng, everything, X, y, rng, batch_size, step, -1, replace) for _ in range(calibration_batches)]
        if progress is not None:
            progress(n_arms * calibration_batches)
    else:
        m = n_calibrated
        calibrated = everything if m == n_arms else np.sort(rng.choice(n_arms, m, replace=False))
        deltas = [_pull(eng, calibrated, X, y, rng, batch_size, step, -1, replace, progress)
                  for _ in range(calibration_batches)]
    transform.fit(np.concatenate(deltas))
    for delta in deltas:
        policy.update(calibrated, transform(delta))
    pulls = len(calibrated) * calibration_batches
    k = min(arms_per_round, n_arms)
    budget = rounds * k  # the same pulls for every policy
    n_rounds = -(-budget // n_arms) if policy.full_information else rounds
    for r in range(n_rounds):
        if policy.full_information:
            left = budget - r * n_arms
            chosen = everything if left >= n_arms else np.sort(policy.rng.choice(n_arms, left, replace=False))
        else:
            chosen = policy.select(k)
        rewards = transform(_pull(eng, chosen, X, y, rng, batch_size, step, r, replace))
        policy.update(chosen, rewards)
        pulls += len(chosen)
        if progress is not None:
            progress(len(chosen))
        if history is not None:
            history.append({"step": step, "round": r, "arms": chosen.copy(), "rewards": rewards.astype(np.float32)})
    estimates, counts = policy.estimates.copy(), policy.counts.copy()
    if calibration_arms is not None and (counts == 0).any():
        # typical, just below a pulled arm of the same estimate, and never tied: a pruner that
        # removes every channel at or below its threshold would otherwise take all of them at once
        unseen = np.flatnonzero(counts == 0)
        seen = estimates[counts > 0]
        spacing = max(float(seen.std()), abs(float(seen.mean())), 1e-6) * 1e-2 / len(unseen)
        order = np.random.default_rng(seed).permutation(len(unseen))
        estimates[unseen] = np.nextafter(seen.mean(), -np.inf) - spacing * order
    scores = estimates
    if rank_by == "lcb":
        scores = estimates - np.sqrt(2 * math.log(max(counts.sum(), 2)) / np.maximum(counts, 1))
        scores[counts == 0] = -np.inf
    elif rank_by == "cumulative":
        scores = estimates * counts
    info = {"rng": policy.rng, "n_clipped": transform.n_clipped_, "n_rewards": transform.n_rewards_}
    return estimates, counts, scores, pulls, info


def exploration_params(method: str, policy_params: dict | None, *, budget: int, n_remove: int | None) -> dict:
    """``policy_params`` of ``method`` with what the loop fills in for a pure-exploration policy.

    For a method of ``policies.EXPLORATION``: ``budget`` (the step's pulls) is always the loop's,
    so giving it raises; ``top_k`` is ``n_remove`` when that is known (then giving it raises: the
    pruning amount sets it), else it must be in ``policy_params`` (``BanditImportance``, which
    does not know how many channels the pruner removes). Other methods' parameters pass unchanged.

    Examples
    --------
    >>> exploration_params("successive_rejects", None, budget=100, n_remove=8)
    {'budget': 100, 'top_k': 8}
    >>> exploration_params("ucb1", {"c": 1.0}, budget=100, n_remove=8)
    {'c': 1.0}
    """
    params = dict(policy_params or {})
    if method not in policies.EXPLORATION:
        return params
    if "budget" in params:
        raise ValueError(f"policy_params['budget'] is set by the pruning loop for {method!r} (every pull of a "
                         "step, calibration included): give rounds, arms_per_round and calibration_batches instead")
    if n_remove is not None and "top_k" in params:
        raise ValueError(f"policy_params['top_k'] is set by the pruning amount for {method!r} (the units a step "
                         "removes): leave it out")
    if n_remove is None and "top_k" not in params:
        raise ValueError(f"{method!r} needs the number of units to identify: pass policy_params={{'top_k': n}} "
                         "(the channels the pruner removes per step)")
    return {**params, "budget": int(budget), "top_k": int(params.get("top_k", n_remove))}


def _pull(eng, arm_ids, X, y, rng, batch_size, step, rnd, replace=False, progress=None,
          chunk: int = 64) -> np.ndarray:
    """Pull arms on a freshly sampled mini-batch; a NaN names the batch where it appeared.

    With ``progress``, the arms are pulled in chunks of ``chunk`` on that one mini-batch and
    ``progress(len(chunk))`` is called after each (the values are the same)."""
    n = inputs.length(X)
    idx = rng.choice(n, size=batch_size if replace else min(batch_size, n), replace=replace)
    Xb, yb = inputs.index(X, torch.as_tensor(idx, device=y.device)), y[idx]
    if progress is None:
        delta = eng.pull(arm_ids, Xb, yb)
    else:
        delta = np.empty(len(arm_ids))
        for start in range(0, len(arm_ids), chunk):
            delta[start:start + chunk] = eng.pull(arm_ids[start:start + chunk], Xb, yb)
            progress(len(arm_ids[start:start + chunk]))
    if not np.all(np.isfinite(delta)):
        where = "the calibration pass" if rnd < 0 else f"round {rnd}"
        raise ValueError(f"non-finite loss change in step {step}, {where}, on the mini-batch of validation "
                         f"samples {sorted(idx.tolist())[:10]}{'...' if len(idx) > 10 else ''}")
    return delta


