"""Pure-exploration policies for top-k identification: successive rejects and successive halving.

Beyond the paper. The six policies of the paper maximise the reward collected while playing
(regret); pruning uses none of that reward, only the final ranking. What the pulls serve is
*identifying* the ``top_k`` safest units (the ``top_k`` arms of highest mean reward) within a
fixed ``budget`` of pulls. These policies are built for that job: they know the budget and
``top_k`` in advance, split the pulls into phases, pull every undecided arm equally within a
phase, and at each phase end *decide* arms for good (accept: among the ``top_k``; reject: not).

- :class:`SuccessiveRejects` is Successive Accepts and Rejects (SAR; Bubeck, Wang &
  Viswanathan 2013), the top-k form of successive rejects (Audibert, Bubeck & Munos 2010).
- :class:`SuccessiveHalving` is successive halving (Karnin, Koren & Somekh 2013) with the
  top-k identification criterion: each round decides the half of the undecided arms whose
  side of the top-k boundary is clearest.

Both fit the loop of :func:`mabprune.bandit.bandit_step`, which fills in ``budget`` (every pull
of the step, the calibration pass included) and ``top_k`` (the units the step removes). The
loop pulls ``k`` distinct arms a round; when fewer than ``k`` arms are undecided the round is
completed with decided arms (the loop's fixed round size), and the schedules count that cost,
so that the last decision falls on the budget's last pulls. ``estimates`` put the accepted arms
above every other arm and the rejected below, each side ordered by mean reward, the undecided
arms by their mean in between: the ``top_k`` highest estimates are the identified set.

References
----------
J.-Y. Audibert, S. Bubeck and R. Munos, "Best arm identification in multi-armed bandits",
COLT 2010. S. Bubeck, T. Wang and N. Viswanathan, "Multiple identifications in multi-armed
bandits", ICML 2013. Z. Karnin, T. Koren and O. Somekh, "Almost optimal exploration in
multi-armed bandits", ICML 2013.

Examples
--------
>>> import numpy as np
>>> from mabprune.policies import make
>>> means, env = np.linspace(0.1, 0.9, 8), np.random.default_rng(0)
>>> policy = make("successive_rejects", 8, budget=400, top_k=3, seed=0)
>>> while policy.counts.sum() < 400:
...     arms = policy.select(2)
...     policy.update(arms, (env.random(arms.size) < means[arms]).astype(float))
>>> sorted(policy.accepted.tolist())
[5, 6, 7]
"""

from __future__ import annotations

import math

import numpy as np

from .base import Policy, SeedLike, _int, _top_k

__all__ = ["SuccessiveRejects", "SuccessiveHalving"]


def _log_bar(m: int) -> float:
    """``1/2 + sum_{i=2}^{m} 1/i``, the normaliser of the successive-rejects schedule."""
    return 0.5 + sum(1.0 / i for i in range(2, m + 1))


class _Identification(Policy):
    """Shared machinery: the budget, the accepted/rejected/undecided arms, round-robin pulls
    over the undecided arms, and a phase that ends when each undecided arm reached its target."""

    def __init__(self, n_arms: int, *, budget: int, top_k: int, seed: SeedLike = None) -> None:
        super().__init__(n_arms, seed=seed)
        self.budget = _int("budget", budget, 1)
        self.top_k = _int("top_k", top_k, 0, self.n_arms)
        self._status = np.zeros(self.n_arms, dtype=np.int8)   # +1 accepted, -1 rejected, 0 undecided
        self._target: int | None = None   # pulls per undecided arm at which the phase ends
        self._round_size: int | None = None   # the k of the last select(k): the loop's round size

    # ---------------------------------------------------------------- what was identified
    @property
    def accepted(self) -> np.ndarray:
        """Arms decided to be among the ``top_k`` (int64, ascending)."""
        return np.flatnonzero(self._status > 0)

    @property
    def rejected(self) -> np.ndarray:
        """Arms decided not to be among the ``top_k`` (int64, ascending)."""
        return np.flatnonzero(self._status < 0)

    @property
    def undecided(self) -> np.ndarray:
        """Arms still in play (int64, ascending)."""
        return np.flatnonzero(self._status == 0)

    @property
    def estimates(self) -> np.ndarray:
        """Mean reward per arm, shifted so that accepted > undecided > rejected.

        Each side keeps the order of the mean rewards; an undecided arm's estimate is its mean
        reward (0 if never pulled). The ``top_k`` highest estimates are the identified set.
        """
        means = super().estimates
        shift = 2.0 * (float(np.abs(means).max()) + 1.0)
        return means + shift * self._status

    @property
    def spent(self) -> int:
        """Pulls made so far (every update's arms, the calibration pass included)."""
        return int(self.counts.sum())

    # ---------------------------------------------------------------- the interface
    def _select(self, k: int) -> np.ndarray:
        if self.spent + k > self.budget:
            raise ValueError(f"{self.name}: {k} more pulls would exceed the budget of {self.budget} "
                             f"({self.spent} spent)")
        self._round_size = k
        self._advance()
        # least-pulled undecided arms first (round-robin within a phase), then the least-pulled
        # decided arms to complete a round of k distinct arms
        priority = np.where(self._status == 0, 0.0, float(self.counts.max()) + 1.0) + self.counts
        return _top_k(-priority, k, self.rng)

    def _update(self, arms: np.ndarray, rewards: np.ndarray) -> None:
        if self.spent + arms.size > self.budget:
            raise ValueError(f"{self.name}: {arms.size} more pulls would exceed the budget of {self.budget} "
                             f"({self.spent} spent)")

    def update(self, arms, rewards) -> None:
        super().update(arms, rewards)
        if self._round_size is not None:   # the phase schedule needs the loop's round size
            self._advance()

    # ---------------------------------------------------------------- the phases
    def _advance(self) -> None:
        """Close every phase whose targets are met, deciding arms; plan the next one."""
        while True:
            self._settle()
            open_ = self.undecided
            if open_.size == 0:
                return
            if self._target is None:
                self._target = max(1, int(self.counts[open_].min()) + self._increment(open_.size))
            if self.counts[open_].min() < self._target:
                return
            self._decide(open_)
            self._target = None

    def _settle(self) -> None:
        """Decide the undecided arms whose side is forced by the slots left."""
        open_ = self.undecided
        slots = self.top_k - int((self._status > 0).sum())
        if open_.size and slots == 0:
            self._status[open_] = -1
        elif open_.size and slots == open_.size:
            self._status[open_] = 1

    def _cost(self, increments: np.ndarray, sizes: np.ndarray) -> int:
        """Pulls the loop spends for cumulative per-arm ``increments`` over phases of ``sizes``
        undecided arms: a round holds ``k`` arms, so a phase of fewer arms costs ``k`` per pull."""
        steps = np.diff(np.concatenate([[0], increments]))
        return int((steps * np.maximum(sizes, self._round_size)).sum())

    def _ranked_open(self, open_: np.ndarray) -> tuple[np.ndarray, int]:
        """Undecided arms by mean reward, best first (ties at random), and the accept slots left."""
        means = super().estimates[open_]
        order = np.lexsort((self.rng.random(open_.size), -means))
        return open_[order], self.top_k - int((self._status > 0).sum())

    def _increment(self, m: int) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def _decide(self, open_: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class SuccessiveRejects(_Identification):
    """Successive Accepts and Rejects (SAR): top-k identification with a fixed budget.

    The undecided arms are pulled round-robin in phases; phase ``p`` of ``K - 1`` ends when every
    undecided arm has ``n_p`` pulls, ``n_p ∝ 1 / (K + 1 - p)`` (the log-bar schedule of
    successive rejects, ``n_p = ⌈(n - K) / (loḡ(K) (K + 1 - p))⌉`` with
    ``loḡ(K) = 1/2 + Σ_{i=2}^{K} 1/i``). At each phase end, with the undecided arms sorted by
    mean reward ``μ̂_(1) ≥ … ≥ μ̂_(m)`` and ``l`` accept slots left, the best arm is accepted if
    ``μ̂_(1) - μ̂_(l+1) > μ̂_(l) - μ̂_(m)``, else the worst arm is rejected: the arm whose side
    of the top-k boundary is clearest is decided. When the slots are all taken (or as many as
    the undecided arms) the rest is decided at once.

    The schedule is scaled to the remaining budget at every phase start, counting what the
    loop's rounds cost (a round of ``k`` arms when fewer than ``k`` are undecided), so the
    calibration pass (every arm's first pulls) and the rounding are absorbed and the last
    phase ends on the budget's last pulls. Beyond the paper.

    Parameters
    ----------
    n_arms, seed
        See :class:`~mabprune.policies.base.Policy` (the generator breaks ties).
    budget : int
        Total pulls, every ``update``'s arms included (the calibration pass too); ``select``
        and ``update`` refuse to go beyond it. :func:`mabprune.prune` fills it in.
    top_k : int
        How many arms to identify (the units to remove), in ``[0, n_arms]``.
        :func:`mabprune.prune` fills it in.

    References
    ----------
    S. Bubeck, T. Wang and N. Viswanathan, "Multiple identifications in multi-armed bandits",
    ICML 2013 (SAR); J.-Y. Audibert, S. Bubeck and R. Munos, "Best arm identification in
    multi-armed bandits", COLT 2010 (successive rejects).

    Examples
    --------
    >>> policy = SuccessiveRejects(4, budget=40, top_k=1, seed=0)
    >>> policy.update([0, 1, 2, 3], [0.1, 0.9, 0.5, 0.3])
    >>> policy.select(2).size, policy.rejected.size
    (2, 0)
    """

    name = "successive_rejects"

    def __init__(self, n_arms: int, *, budget: int, top_k: int, seed: SeedLike = None) -> None:
        super().__init__(n_arms, budget=budget, top_k=top_k, seed=seed)
        self._phases: int | None = None   # K, the undecided arms when the schedule was first planned

    def _increment(self, m: int) -> int:
        if self._phases is None:
            self._phases = m
        K = self._phases
        p = K + 1 - m   # the phase that starts now (1-based): m = K + 1 - p arms are undecided
        sizes = np.arange(m, 1, -1)   # phases p .. K-1 hold m, m-1, ..., 2 arms
        done = 1.0 / (K + 2 - p) if p >= 2 else 0.0   # the share of the schedule already played
        weights = 1.0 / sizes - done   # cumulative per-arm share of phases p .. K-1, from now
        left = self.budget - self.spent
        if left <= 0 or sizes.size == 0:
            return 0
        # cost(s) is within slack of s * per_scale (each ceil adds at most one pull per arm and
        # phase): bisect the largest scale the budget pays for between those bounds
        per_arm = np.maximum(sizes, self._round_size)
        per_scale, slack = float((np.diff(np.concatenate([[0.0], weights])) * per_arm).sum()), float(per_arm.sum())
        lo, hi = max(0.0, (left - slack) / per_scale), (left + slack) / per_scale + 1.0
        for _ in range(30):
            mid = 0.5 * (lo + hi)
            if self._cost(np.ceil(mid * weights).astype(np.int64), sizes) <= left:
                lo = mid
            else:
                hi = mid
        return int(math.ceil(lo * weights[0] - 1e-9))

    def _decide(self, open_: np.ndarray) -> None:
        ranked, slots = self._ranked_open(open_)
        means = super().estimates[ranked]
        if means[0] - means[slots] > means[slots - 1] - means[-1]:
            self._status[ranked[0]] = 1
        else:
            self._status[ranked[-1]] = -1


class SuccessiveHalving(_Identification):
    """Successive halving for top-k identification with a fixed budget.

    ``⌈log2 K⌉`` rounds over the ``K`` arms; each round pulls every undecided arm equally (the
    remaining budget split evenly between the rounds left, as in Karnin et al.), then decides
    the half of the undecided arms whose membership is clearest: with the undecided arms
    sorted by mean reward and ``l`` accept slots left, the boundary is the midpoint of the
    ``l``-th and ``(l+1)``-th means; the ``⌊m/2⌋`` arms farthest from it are accepted (above) or
    rejected (below), the ``⌈m/2⌉`` closest stay in play. With ``top_k = 1`` this keeps the
    better half, as in the original; for a large ``top_k`` (e.g. half the arms) it keeps the
    ambiguous middle instead of re-measuring arms that are clearly in or out. The rounds'
    per-arm pulls count what the loop's rounds cost (a round of ``k`` arms when fewer than
    ``k`` are undecided). Beyond the paper.

    Parameters
    ----------
    n_arms, seed
        See :class:`~mabprune.policies.base.Policy` (the generator breaks ties).
    budget : int
        Total pulls, every ``update``'s arms included (the calibration pass too); ``select``
        and ``update`` refuse to go beyond it. :func:`mabprune.prune` fills it in.
    top_k : int
        How many arms to identify (the units to remove), in ``[0, n_arms]``.
        :func:`mabprune.prune` fills it in.

    References
    ----------
    Z. Karnin, T. Koren and O. Somekh, "Almost optimal exploration in multi-armed bandits",
    ICML 2013.

    Examples
    --------
    >>> import numpy as np
    >>> means, env = np.linspace(0.1, 0.9, 8), np.random.default_rng(0)
    >>> policy = SuccessiveHalving(8, budget=400, top_k=2, seed=0)
    >>> while policy.spent < 400:
    ...     arms = policy.select(2)
    ...     policy.update(arms, (env.random(arms.size) < means[arms]).astype(float))
    >>> sorted(policy.accepted.tolist())
    [6, 7]
    """

    name = "successive_halving"

    def __init__(self, n_arms: int, *, budget: int, top_k: int, seed: SeedLike = None) -> None:
        super().__init__(n_arms, budget=budget, top_k=top_k, seed=seed)

    def _increment(self, m: int) -> int:
        rounds_left = max(1, math.ceil(math.log2(m)))
        left = self.budget - self.spent
        return max(0, left // (rounds_left * max(m, self._round_size)))

    def _decide(self, open_: np.ndarray) -> None:
        ranked, slots = self._ranked_open(open_)
        means = super().estimates[ranked]
        boundary = 0.5 * (means[slots - 1] + means[slots])
        clearest = np.argsort(-np.abs(means - boundary), kind="stable")[:ranked.size // 2]
        above = clearest < slots
        self._status[ranked[clearest[above]]] = 1
        self._status[ranked[clearest[~above]]] = -1
