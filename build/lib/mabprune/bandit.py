"""One bandit step: calibrate on every arm, then play the policy for some rounds."""

from __future__ import annotations

import math

import numpy as np
import torch

from . import inputs, policies
from .rewards import make_reward


def bandit_step(eng, n_arms: int, X, y: torch.Tensor, *, method: str, rounds: int, arms_per_round: int,
                reward: str, rank_by: str, batch_size: int, seed: int, step: int, rng: np.random.Generator,
                policy_params: dict | None = None, history: list | None = None, margin: float | None = None,
                calibration_batches: int = 1, replace: bool = False):
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
    """
    policy = policies.make(method, n_arms, seed=seed, **(policy_params or {}))
    transform = make_reward(reward, margin=margin)
    everything = np.arange(n_arms)
    deltas = [_pull(eng, everything, X, y, rng, batch_size, step, -1, replace) for _ in range(calibration_batches)]
    transform.fit(np.concatenate(deltas))
    for delta in deltas:
        policy.update(everything, transform(delta))
    pulls = n_arms * calibration_batches
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
        if history is not None:
            history.append({"step": step, "round": r, "arms": chosen.copy(), "rewards": rewards.astype(np.float32)})
    estimates, counts = policy.estimates.copy(), policy.counts.copy()
    scores = estimates
    if rank_by == "lcb":
        scores = estimates - np.sqrt(2 * math.log(max(counts.sum(), 2)) / np.maximum(counts, 1))
        scores[counts == 0] = -np.inf
    elif rank_by == "cumulative":
        scores = estimates * counts
    info = {"rng": policy.rng, "n_clipped": transform.n_clipped_, "n_rewards": transform.n_rewards_}
    return estimates, counts, scores, pulls, info


def _pull(eng, arm_ids, X, y, rng, batch_size, step, rnd, replace=False) -> np.ndarray:
    """Pull arms on a freshly sampled mini-batch; a NaN names the batch where it appeared."""
    n = inputs.length(X)
    idx = rng.choice(n, size=batch_size if replace else min(batch_size, n), replace=replace)
    delta = eng.pull(arm_ids, inputs.index(X, torch.as_tensor(idx, device=y.device)), y[idx])
    if not np.all(np.isfinite(delta)):
        where = "the calibration pass" if rnd < 0 else f"round {rnd}"
        raise ValueError(f"non-finite loss change in step {step}, {where}, on the mini-batch of validation "
                         f"samples {sorted(idx.tolist())[:10]}{'...' if len(idx) > 10 else ''}")
    return delta


