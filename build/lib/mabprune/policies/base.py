"""The policies' shared base: the :class:`Policy` interface and bookkeeping, argument checks
and the numerically safe helpers (log-softmax, top-k with random tie-breaks).

Every policy of :mod:`mabprune.policies` subclasses :class:`Policy`; import the policies
from there (this module holds what they share).

Examples
--------
>>> from mabprune.policies.base import _int
>>> _int("k", 3, 1, 2)
Traceback (most recent call last):
...
ValueError: k must be in [1, 2], got 3
"""

from __future__ import annotations

import inspect
import numbers
from typing import Any

import numpy as np

__all__ = ["Policy", "SeedLike"]

SeedLike = int | np.random.Generator | None


def _real(name: str, value: Any, *, low: float | None = None, high: float | None = None,
          strict: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    if low is not None and (value <= low if strict else value < low):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {low}, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value!r}")
    return float(value)


def _int(name: str, value: Any, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an int, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return int(value)


def _log_softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max()  # the largest term is exp(0) = 1: no overflow, no 0/0
    return z - np.log(np.exp(z).sum())


def _top_k(scores: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    # Ties (e.g. unpulled arms at +inf) are broken at random, not by index.
    return np.lexsort((rng.random(scores.size), -scores))[:k].astype(np.int64)


class Policy:
    """Shared bookkeeping of all policies: counts, reward sums, rounds, rng, validation.

    Subclasses implement ``_select(k)`` and, if they learn more than means, ``_update``,
    which sees validated input before ``counts`` and ``t`` move on.

    Parameters
    ----------
    n_arms : int
        Number of arms (neurons), at least 1.
    seed : int, numpy.random.Generator or None, default=None
        Seed of the policy's own ``np.random.default_rng(seed)``; the global NumPy and
        torch generators are never touched.

    Attributes
    ----------
    counts : numpy.ndarray of int64
        Pulls per arm.
    t : int
        Rounds so far (calls of ``update``).
    name : str
        The policy's name in ``POLICIES``.
    needs_unit_rewards : bool
        Whether ``update`` requires rewards in ``[0, 1]``.
    full_information : bool
        Whether the loop must pull and report every arm each round.
    """

    name = "policy"
    needs_unit_rewards = False
    full_information = False

    def __init__(self, n_arms: int, *, seed: SeedLike = None) -> None:
        self.n_arms = _int("n_arms", n_arms, 1)
        self.rng = np.random.default_rng(seed)
        self.counts = np.zeros(self.n_arms, dtype=np.int64)
        self._sums = np.zeros(self.n_arms)
        self.t = 0

    @property
    def estimates(self) -> np.ndarray:
        """Mean observed reward per arm (float64); 0 for arms never pulled."""
        out = np.zeros(self.n_arms)
        return np.divide(self._sums, self.counts, out=out, where=self.counts > 0)

    def get_params(self) -> dict[str, Any]:
        """The policy's hyper-parameters, as passed to :func:`make`."""
        names = inspect.signature(type(self)).parameters
        return {p: getattr(self, p) for p in names if p not in ("n_arms", "seed")}

    def __repr__(self) -> str:
        params = "".join(f", {k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}(n_arms={self.n_arms}{params})"

    def select(self, k: int = 1) -> np.ndarray:
        """Choose arms to pull.

        Parameters
        ----------
        k : int, default=1
            Number of distinct arms, ``1 <= k <= n_arms``.

        Returns
        -------
        numpy.ndarray of int64
            ``k`` distinct arm indices.
        """
        return self._select(_int("k", k, 1, self.n_arms))

    def update(self, arms: np.ndarray, rewards: np.ndarray) -> None:
        """Feed back the rewards of one round; ``t`` advances by one.

        Parameters
        ----------
        arms : array-like of int
            Distinct arm indices in ``[0, n_arms)``, any non-empty subset.
        rewards : array-like of float
            One finite reward per arm (in ``[0, 1]`` if ``needs_unit_rewards``).
        """
        a, r = np.atleast_1d(np.asarray(arms)), np.atleast_1d(np.asarray(rewards, dtype=float))
        # Cheap whole-array checks first (this runs every round); details only on failure.
        if a.ndim != 1 or a.shape != r.shape or a.size == 0:
            raise ValueError(f"arms and rewards must be non-empty, 1-D and of the same length, "
                             f"got shapes {a.shape} and {r.shape}")
        if a.dtype.kind not in "iu":
            raise ValueError(f"arms must be integers, got dtype {a.dtype}")
        if a.min() < 0 or a.max() >= self.n_arms:
            bad = a[(a < 0) | (a >= self.n_arms)][0]
            raise ValueError(f"arm index {bad} out of range [0, {self.n_arms})")
        if a.size > 1 and (np.diff(np.sort(a)) == 0).any():
            raise ValueError(f"arms must be distinct within one update, got {a.tolist()}")
        if not np.isfinite(r).all():
            bad = np.flatnonzero(~np.isfinite(r))
            raise ValueError(f"rewards must be finite: {bad.size} non-finite value(s), first "
                             f"{r[bad[0]]} at position {bad[0]}")
        if self.needs_unit_rewards and (r.min() < 0 or r.max() > 1):
            bad = np.flatnonzero((r < 0) | (r > 1))[0]
            raise ValueError(f"{self.name} needs rewards in [0, 1] (use make_reward('unit')); "
                             f"got {r[bad]} at position {bad}")
        a = a.astype(np.int64)
        self._update(a, r)
        self.counts[a] += 1
        self._sums[a] += r
        self.t += 1

    def _select(self, k: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _update(self, arms: np.ndarray, rewards: np.ndarray) -> None:
        pass  # policies driven by counts and means alone need nothing more
