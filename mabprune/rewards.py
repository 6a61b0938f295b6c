"""Reward transforms: turn a change of loss into a bandit reward.

Pulling an arm masks one neuron and measures ``ΔL = L(masked) − L(unmasked)`` on a
mini-batch of the validation split. A small or negative ``ΔL`` means the neuron is safe to
remove, so every transform here is *decreasing* in ``ΔL``: high reward = safe to prune.

- ``raw``: ``reward = −ΔL`` (unbounded);
- ``clipped``: ``reward = max(0, margin − ΔL)`` (non-negative, unbounded above);
- ``unit``: ``reward = clip((hi − ΔL) / (hi − lo), 0, 1)`` (bounded in ``[0, 1]``).

``unit`` is fitted on one initial pass over all arms (see :meth:`RewardTransform.fit`); it
is the transform to use with policies whose ``needs_unit_rewards`` is true (UCB1, EXP3,
Bernoulli Thompson sampling).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np

__all__ = ["REWARDS", "RewardTransform", "make_reward"]

REWARDS = ("raw", "clipped", "unit")


def _finite_delta_losses(delta_losses: np.ndarray) -> np.ndarray:
    """``delta_losses`` as float64, or a ``ValueError`` naming the non-finite entries."""
    d = np.asarray(delta_losses, dtype=np.float64)
    bad = ~np.isfinite(d)
    if bad.any():
        where = [tuple(int(i) for i in idx) for idx in np.argwhere(bad)[:5]]
        where = [w[0] if len(w) == 1 else w for w in where]
        raise ValueError(
            f"delta_losses contains {int(bad.sum())} non-finite value(s) (NaN or inf); "
            f"first at index {where[0]} (up to five: {where})"
        )
    return d


def _check_real(name: str, value: object, *, low: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value!r}")
    return float(value)


@dataclass
class RewardTransform:
    """A monotone-decreasing map from ``ΔL`` to reward.

    Build it with :func:`make_reward`; the fields are validated here as well.

    Parameters
    ----------
    name : {"raw", "clipped", "unit"}
        The transform (see the module docstring).
    margin : float, default=0.0
        Used by ``clipped`` only: ``reward = max(0, margin − ΔL)``, so a neuron whose
        removal *raises* the loss by less than ``margin`` still earns some reward.
    widen : float, default=0.1
        Used by ``unit`` only: the fitted ``[lo, hi]`` is widened by this fraction of the
        fitted range on each side, so later ``ΔL`` values rarely hit the clip.

    Attributes
    ----------
    lo_, hi_ : float or None
        The ``ΔL`` values mapped to rewards 1 and 0 by ``unit``; ``None`` before
        :meth:`fit` (and always for the other transforms).

    Examples
    --------
    >>> import numpy as np
    >>> unit = make_reward("unit").fit(np.array([-1.0, 0.0, 3.0]))
    >>> unit(np.array([-1.0, 1.0, 3.0])).round(3)
    array([0.917, 0.5  , 0.083])
    """

    name: str = "unit"
    margin: float = 0.0
    widen: float = 0.1
    lo_: float | None = field(default=None, init=False)
    hi_: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or self.name not in REWARDS:
            raise ValueError(
                f"unknown reward transform {self.name!r}; valid names: {', '.join(REWARDS)}"
            )
        self.margin = _check_real("margin", self.margin)
        self.widen = _check_real("widen", self.widen, low=0.0)

    @property
    def bounded(self) -> bool:
        """Whether every reward lies in ``[0, 1]`` (true for ``unit`` only)."""
        return self.name == "unit"

    def fit(self, delta_losses: np.ndarray) -> RewardTransform:
        """Fit ``unit`` on the ``ΔL`` of one pass over all arms; a no-op otherwise.

        Parameters
        ----------
        delta_losses : array-like of float
            ``ΔL`` of the fit pass; at least one value, all finite.

        Returns
        -------
        RewardTransform
            ``self``, so that ``make_reward("unit").fit(d)`` chains.
        """
        d = _finite_delta_losses(delta_losses)
        if self.name != "unit":
            return self
        if d.size == 0:
            raise ValueError("cannot fit the 'unit' reward on an empty array of delta_losses")
        lo, hi = float(d.min()), float(d.max())
        if hi > lo:
            pad = self.widen * (hi - lo)
        else:
            # Every ΔL equal: no scale to learn, so map that value to 0.5 on a unit-ish scale.
            pad = max(abs(lo), 1.0)
        if not np.isfinite(hi - lo + 2 * pad):
            raise ValueError(f"delta_losses range [{lo}, {hi}] overflows float64")
        self.lo_, self.hi_ = lo - pad, hi + pad
        return self

    def __call__(self, delta_losses: np.ndarray) -> np.ndarray:
        """Rewards for ``delta_losses`` (float64, same shape).

        Parameters
        ----------
        delta_losses : array-like of float
            ``ΔL = L(masked) − L(unmasked)``, all finite.

        Returns
        -------
        numpy.ndarray
            float64 rewards, decreasing in ``ΔL``.
        """
        d = _finite_delta_losses(delta_losses)
        if self.name == "raw":
            return 0.0 - d  # 0.0 − x avoids the −0.0 that np.negative gives for ΔL = 0
        if self.name == "clipped":
            return np.maximum(0.0, self.margin - d)
        if self.lo_ is None or self.hi_ is None:
            raise ValueError(
                "the 'unit' reward is not fitted: call .fit(delta_losses) on one pass over "
                "all arms before computing rewards"
            )
        return np.clip((self.hi_ - d) / (self.hi_ - self.lo_), 0.0, 1.0)


def make_reward(name: str = "unit", *, margin: float = 0.0, widen: float = 0.1) -> RewardTransform:
    """Build a reward transform by name.

    Parameters
    ----------
    name : {"raw", "clipped", "unit"}, default="unit"
        ``raw``: ``−ΔL``; ``clipped``: ``max(0, margin − ΔL)``; ``unit``: the affine map
        of the fit pass into ``[0, 1]``, clipped.
    margin : float, default=0.0
        Tolerance of ``clipped`` (ignored by the others).
    widen : float, default=0.1
        Fraction of the fitted range added on each side by ``unit`` (ignored by the
        others).

    Returns
    -------
    RewardTransform
        Unfitted; call :meth:`RewardTransform.fit` (needed for ``unit`` only).

    Raises
    ------
    ValueError
        For an unknown name, a non-finite ``margin`` or a negative ``widen``.

    Examples
    --------
    >>> import numpy as np
    >>> d = np.array([-0.5, 0.0, 0.2])
    >>> make_reward("raw")(d)
    array([ 0.5,  0. , -0.2])
    >>> make_reward("clipped", margin=0.1)(d)
    array([0.6, 0.1, 0. ])
    """
    return RewardTransform(name, margin=margin, widen=widen)
