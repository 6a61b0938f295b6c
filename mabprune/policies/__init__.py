"""Bandit policies: one arm per neuron, a high reward means the neuron is safe to remove.

Every policy shares one interface: ``select(k)`` returns ``k`` distinct arms,
``update(arms, rewards)`` feeds back one reward per pulled arm, and ``estimates``,
``counts`` and ``t`` expose what was learned. Two flags tell the pruning loop
how to drive a policy: ``needs_unit_rewards`` (rewards must lie in ``[0, 1]``, use
``make_reward("unit")``; UCB1, EXP3, Bernoulli Thompson) and ``full_information`` (Hedge
only: the loop pulls *every* arm each round and passes all rewards to ``update``).

Examples
--------
>>> import numpy as np
>>> means, env = np.array([0.2, 0.5, 0.8]), np.random.default_rng(0)
>>> policy = make("thompson", 3, seed=0)
>>> for _ in range(300):
...     arms = policy.select(1)
...     policy.update(arms, (env.random(arms.size) < means[arms]).astype(float))
>>> int(policy.counts.argmax())
2
"""

from __future__ import annotations

import inspect
from typing import Any

from .adversarial import EXP3, Hedge
from .base import Policy, SeedLike
from .control import Uniform
from .exploration import SuccessiveHalving, SuccessiveRejects
from .stochastic import UCB1, EpsilonGreedy, Softmax, Thompson

__all__ = ["CONTROLS", "EXPLORATION", "PLAYABLE", "POLICIES", "Policy", "EpsilonGreedy", "Softmax", "UCB1",
           "Thompson", "Hedge", "EXP3", "Uniform", "SuccessiveRejects", "SuccessiveHalving", "make"]

#: The six policies of the paper, in the order the book shows them (the one list: the study's
#: grids and the analysis import it from here).
POLICIES = ("epsilon_greedy", "softmax", "ucb1", "thompson", "hedge", "exp3")
#: Allocations that play like a policy but are not one of the paper's: uniform allocation, the
#: control that says what a policy's allocation adds (:mod:`mabprune.policies.control`).
CONTROLS = ("uniform",)
#: Pure-exploration policies for top-k identification, beyond the paper: they spend a known
#: ``budget`` of pulls to identify the ``top_k`` safest arms (the loop fills both in), not to
#: collect reward while playing (:mod:`mabprune.policies.exploration`). Methods of
#: :func:`mabprune.prune` and of ``BanditImportance``, in no grid.
EXPLORATION = ("successive_rejects", "successive_halving")
#: Everything :func:`make` builds and the pruning loop can play.
PLAYABLE = POLICIES + CONTROLS + EXPLORATION


_CLASSES = {cls.name: cls for cls in (EpsilonGreedy, Softmax, UCB1, Thompson, Hedge, EXP3, Uniform,
                                      SuccessiveRejects, SuccessiveHalving)}


def make(name: str, n_arms: int, *, seed: SeedLike = None, **params: Any) -> Policy:
    """Build a policy by name.

    Parameters
    ----------
    name : str
        One of ``POLICIES``, ``CONTROLS`` or ``EXPLORATION``.
    n_arms : int
        Number of arms, at least 1.
    seed : int, numpy.random.Generator or None, default=None
        Seed of the policy's own generator.
    **params
        Hyper-parameters of that policy (e.g. ``epsilon`` for ``epsilon_greedy``; ``budget`` and
        ``top_k``, required, for the ``EXPLORATION`` policies).

    Returns
    -------
    Policy
        A fresh policy.

    Raises
    ------
    ValueError
        For an unknown name or parameter (the message lists the valid ones), a missing required
        one (the message names it) or an invalid value (the message names it).

    Examples
    --------
    >>> make("ucb1", 10, c=1.0)
    UCB1(n_arms=10, c=1.0)
    >>> make("ucb1", 10, epsilon=0.1)
    Traceback (most recent call last):
    ...
    ValueError: unknown parameter(s) ['epsilon'] for policy 'ucb1'; valid parameters: c
    >>> make("successive_rejects", 10, budget=100)
    Traceback (most recent call last):
    ...
    ValueError: missing parameter(s) ['top_k'] for policy 'successive_rejects'
    """
    if not isinstance(name, str) or name not in _CLASSES:
        raise ValueError(f"unknown policy {name!r}; valid names: {', '.join(PLAYABLE)}")
    cls = _CLASSES[name]
    signature = inspect.signature(cls).parameters
    valid = [p for p in signature if p not in ("n_arms", "seed")]
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} for policy {name!r}; "
                         f"valid parameters: {', '.join(valid)}")
    missing = [p for p in valid if signature[p].default is inspect.Parameter.empty and p not in params]
    if missing:
        raise ValueError(f"missing parameter(s) {missing} for policy {name!r}")
    return cls(n_arms, seed=seed, **params)
