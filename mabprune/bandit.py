"""One bandit step: calibrate on every arm, then play the policy for some rounds."""

from __future__ import annotations

import math

import numpy as np
import torch

from . import batch, policies
from .rewards import make_reward


def bandit_step(eng, n_arms: int, X, y: torch.Tensor, *, method: str, rounds: int, arms_per_round: int,
                reward: str, rank_by: str, batch_size: int, seed: int, step: int, rng: np.random.Generator,
                policy_params: dict | None = None, history: list | None = None):
    """Play ``method`` over ``n_arms`` arms of ``eng``; returns (estimates, counts, scores, pulls).

    One pass over all arms sets the reward scale (the 'unit' transform needs it) and is every
    policy's first observation, so no arm is ranked without ever being pulled. ``scores`` are
    the estimates, or their lower confidence bound with ``rank_by="lcb"``: higher = safer.
    Each round's mini-batch is drawn from ``rng`` (shared between steps by the caller).
    """
    policy = policies.make(method, n_arms, seed=seed, **(policy_params or {}))
    transform = make_reward(reward)
    everything = np.arange(n_arms)
    delta = _pull(eng, everything, X, y, rng, batch_size, step, -1)
    policy.update(everything, transform.fit(delta)(delta))
    pulls = n_arms
    for r in range(rounds):
        chosen = everything if policy.full_information else policy.select(min(arms_per_round, n_arms))
        rewards = transform(_pull(eng, chosen, X, y, rng, batch_size, step, r))
        policy.update(chosen, rewards)
        pulls += len(chosen)
        if history is not None:
            history.append({"step": step, "round": r, "arms": chosen.copy(), "rewards": rewards.astype(np.float32)})
    estimates, counts = policy.estimates.copy(), policy.counts.copy()
    scores = estimates
    if rank_by == "lcb":
        scores = estimates - np.sqrt(2 * math.log(max(counts.sum(), 2)) / np.maximum(counts, 1))
        scores[counts == 0] = -np.inf
    return estimates, counts, scores, pulls


def _pull(eng, arm_ids, X, y, rng, batch_size, step, rnd) -> np.ndarray:
    """Pull arms on a freshly sampled mini-batch; a NaN names the batch where it appeared."""
    n = batch.length(X)
    idx = rng.choice(n, size=min(batch_size, n), replace=False)
    delta = eng.pull(arm_ids, batch.index(X, torch.as_tensor(idx, device=y.device)), y[idx])
    if not np.all(np.isfinite(delta)):
        where = "the calibration pass" if rnd < 0 else f"round {rnd}"
        raise ValueError(f"non-finite loss change in step {step}, {where}, on the mini-batch of validation "
                         f"samples {sorted(idx.tolist())[:10]}{'...' if len(idx) > 10 else ''}")
    return delta


