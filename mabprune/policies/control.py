"""Uniform allocation: the control of the bandit policies.

It spends the same pulls as a policy, on the same mini-batches, but allocates them without
looking at the rewards: each round it pulls the arms pulled least so far (ties at random), so
every arm is pulled equally often, within one pull. What a policy identifies better than
uniform allocation, at the same budget, is what its *allocation* buys; what both reach is
what the *measurement* (mask, then measure the loss) buys. Not one of the paper's six policies.

Examples
--------
>>> from mabprune.policies import make
>>> policy = make("uniform", 5, seed=0)
>>> for _ in range(3):
...     arms = policy.select(2)
...     policy.update(arms, [0.5, 0.5])
>>> int(policy.counts.max() - policy.counts.min())
1
"""

from __future__ import annotations

import numpy as np

from .base import Policy, SeedLike, _top_k

__all__ = ["Uniform"]


class Uniform(Policy):
    """Round-robin over the arms: the ``k`` least-pulled arms, ties broken at random.

    Parameters
    ----------
    n_arms, seed
        See :class:`~mabprune.policies.base.Policy` (the generator only breaks ties).
    """

    name = "uniform"

    def __init__(self, n_arms: int, *, seed: SeedLike = None) -> None:
        super().__init__(n_arms, seed=seed)

    def _select(self, k: int) -> np.ndarray:
        return _top_k(-self.counts.astype(float), k, self.rng)
