"""Adversarial bandit policies: Hedge (full information) and EXP3 (partial information).

They keep exponential weights rather than confidence bounds or posteriors, and make no
assumption that rewards are drawn from fixed distributions. Hedge sees every arm's reward
each round (the pruning loop pulls every arm, ``full_information = True``); EXP3 sees only
the arms it played and corrects for that with importance weights. Both are registered in
:mod:`mabprune.policies` (``make("hedge", ...)``, ``make("exp3", ...)``) and importable
from there.

Examples
--------
>>> from mabprune.policies import make
>>> make("hedge", 3, eta=0.5).full_information
True
"""

from __future__ import annotations

import numpy as np

from .base import Policy, SeedLike, _int, _log_softmax, _real, _top_k

__all__ = ["Hedge", "EXP3"]


class Hedge(Policy):
    """Full-information multiplicative weights: ``log w_i += eta · r_i`` for every arm.

    ``probabilities() = softmax(log w)``; ``select(k)`` draws ``k`` distinct arms from it
    without replacement (Gumbel-top-k). The log-weights are shifted after each update so
    that the largest is 0: the distribution is unchanged and nothing overflows.

    Parameters
    ----------
    n_arms, seed
        See :class:`Policy`.
    eta : float, default=0.1
        Learning rate, > 0.

    Examples
    --------
    >>> policy = Hedge(3, eta=1.0, seed=0)
    >>> policy.update([0, 1, 2], [0.0, 0.0, 1.0])
    >>> policy.probabilities().round(3)
    array([0.212, 0.212, 0.576])
    """

    name = "hedge"
    full_information = True

    def __init__(self, n_arms: int, *, eta: float = 0.1, seed: SeedLike = None) -> None:
        self.eta = _real("eta", eta, low=0.0, strict=True)
        super().__init__(n_arms, seed=seed)
        self.log_weights = np.zeros(self.n_arms)

    def probabilities(self) -> np.ndarray:
        """The current sampling distribution ``softmax(log_weights)``."""
        return np.exp(_log_softmax(self.log_weights))

    def _select(self, k: int) -> np.ndarray:
        return _top_k(self.log_weights + self.rng.gumbel(size=self.n_arms), k, self.rng)

    def _update(self, arms: np.ndarray, rewards: np.ndarray) -> None:
        self.log_weights[arms] += self.eta * rewards
        self.log_weights -= self.log_weights.max()


class EXP3(Policy):
    """EXP3 with multiple plays (Exp3.M, Uchiya et al. 2010; EXP3, Auer et al. 2002).

    Mixed distribution ``p = (1 − γ) · softmax(log w) + γ / n``. The inclusion
    probabilities ``π = k · p`` are capped at 1 as in Exp3.M (the largest weights are
    lowered until no ``π_i`` exceeds 1). ``k`` distinct arms are drawn by systematic
    sampling: on the cumulative sums of ``π`` over a random permutation of the arms, the
    points ``u, u + 1, …, u + k − 1`` (``u ~ U(0, 1)``) pick arm ``i`` with probability
    exactly ``π_i``. ``update`` forms ``r̂_i = r_i / π_i`` for the played arms and sets
    ``log w_i += k · γ · r̂_i / n`` for uncapped ones. ``estimates`` is the per-arm sample
    mean (low variance, for rankings); ``importance_weighted_estimates`` is ``Σ r̂_i / t``.
    Each ``update`` must follow its own ``select`` and report only arms it chose, except
    before the first ``select``: such updates are forced pulls (``π_i = 1``,
    ``k = len(arms)``), e.g. the pruning loop's calibration pass over every arm.

    Parameters
    ----------
    n_arms, seed
        See :class:`Policy`.
    gamma : float, default=0.1
        Exploration rate in ``(0, 1]``.

    Examples
    --------
    >>> policy = EXP3(4, gamma=0.2, seed=0)
    >>> arms = policy.select(2)
    >>> policy.update(arms, [1.0, 0.5])
    >>> policy.inclusion_probabilities(2).round(3)
    array([0.47 , 0.509, 0.552, 0.47 ])
    """

    name = "exp3"
    needs_unit_rewards = True

    def __init__(self, n_arms: int, *, gamma: float = 0.1, seed: SeedLike = None) -> None:
        self.gamma = _real("gamma", gamma, low=0.0, high=1.0, strict=True)
        super().__init__(n_arms, seed=seed)
        self.log_weights = np.zeros(self.n_arms)
        self._iw_sums = np.zeros(self.n_arms)
        self._last: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._selected = False

    @property
    def importance_weighted_estimates(self) -> np.ndarray:
        """Importance-weighted mean reward ``Σ r̂_i / t``: what the weights are built from.

        Unbiased even against an adversary, but its variance grows as ``1 / π_i``: an arm the
        policy rarely plays gets a few large ``r / π`` terms. ``estimates`` (the base class's
        per-arm sample mean, also unbiased for stochastic rewards) is what rankings use.
        """
        return self._iw_sums / self.t if self.t else np.zeros(self.n_arms)

    def probabilities(self) -> np.ndarray:
        """The mixed distribution ``p = (1 − γ) · softmax(log_weights) + γ / n``."""
        return (1 - self.gamma) * np.exp(_log_softmax(self.log_weights)) + self.gamma / self.n_arms

    def inclusion_probabilities(self, k: int = 1) -> np.ndarray:
        """Probability that ``select(k)`` includes each arm: ``k · p`` capped, sums to ``k``."""
        return self._inclusion(_int("k", k, 1, self.n_arms))[0]

    def _inclusion(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        n = self.n_arms
        if k == n:
            return np.ones(n), np.ones(n, dtype=bool)
        floor, capped = k * self.gamma / n, np.zeros(n, dtype=bool)
        while True:
            # Uncapped arms share what the capped ones and the uniform floor leave, in
            # proportion to their weights: Exp3.M's capping, computed from log-weights.
            m, share = int(capped.sum()), np.zeros(n)
            share[~capped] = np.exp(_log_softmax(self.log_weights[~capped]))
            pi = np.where(capped, 1.0, floor + max(k - m - floor * (n - m), 0.0) * share)
            new = ~capped & (pi >= 1.0)
            if not new.any():
                return pi, capped
            capped |= new

    def _select(self, k: int) -> np.ndarray:
        pi, capped = self._inclusion(k)
        # A random order keeps the marginals π but stops fixed neighbours being co-selected.
        perm = self.rng.permutation(self.n_arms)
        cum = np.cumsum(pi[perm])
        cum[-1] = k  # absorb rounding so that the last point always lands on an arm
        while True:
            pos = np.searchsorted(cum, self.rng.random() + np.arange(k), side="right")
            arms = perm[np.minimum(pos, self.n_arms - 1)].astype(np.int64)
            if k == 1 or (np.diff(np.sort(arms)) > 0).all():  # fails only if rounding made
                break  # an interval longer than 1
        self._last, self._selected = (arms.copy(), pi, capped), True
        return arms

    def _update(self, arms: np.ndarray, rewards: np.ndarray) -> None:
        if self._last is None and not self._selected:  # a calibration pass: forced, π = 1
            played, pi, capped = arms, np.ones(self.n_arms), np.zeros(self.n_arms, dtype=bool)
        elif self._last is None:
            raise ValueError("exp3: update must follow select(k), and each select allows one "
                             "update (only updates before the first select are forced pulls)")
        else:
            played, pi, capped = self._last
            chosen = np.zeros(self.n_arms, dtype=bool)
            chosen[played] = True
            stray = arms[~chosen[arms]]
            if stray.size:
                raise ValueError(f"exp3: arms {stray.tolist()} were not chosen by the last "
                                 f"select (which chose {sorted(played.tolist())})")
        r_hat = rewards / pi[arms]
        self._iw_sums[arms] += r_hat
        live = ~capped[arms]
        self.log_weights[arms[live]] += played.size * self.gamma * r_hat[live] / self.n_arms
        self.log_weights -= self.log_weights.max()  # the largest stays 0: finite forever
        self._last = None
