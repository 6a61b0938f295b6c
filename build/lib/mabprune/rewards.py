"""Reward transforms: turn a change of loss into a bandit reward.

Pulling an arm masks one neuron and measures ``ΔL = L(masked) − L(unmasked)`` on a
mini-batch of the validation split. A small or negative ``ΔL`` means the neuron is safe to
remove, so every transform here is *decreasing* in ``ΔL``: high reward = safe to prune.

- ``raw``: ``reward = −ΔL`` (unbounded);
- ``clipped``: ``reward = max(0, margin − ΔL)`` (non-negative, unbounded above);
- ``unit``: ``reward = clip((hi − ΔL) / (hi − lo), 0, 1)`` (bounded in ``[0, 1]``);
- ``margin``: ``reward = clip(τ − ΔL, 0, 1)`` with ``τ = margin`` (0.2 by default). With the
  accuracy signal (``ΔL`` = change of the zero-one loss = −Δacc) this is the authors'
  ``max(0, Δacc + 0.2)``; the cap at 1 is ours and binds only when ``Δacc > 1 − τ``.

``unit`` is fitted on the calibration pass over all arms (see :meth:`RewardTransform.fit`);
``unit`` and ``margin`` are the transforms for policies whose ``needs_unit_rewards`` is true
(UCB1, EXP3, Bernoulli Thompson sampling). Both count the rewards they clip
(:attr:`RewardTransform.clipped_fraction`), so a saturated scale shows in the records.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np

__all__ = ["MARGIN_TAU", "MIN_SAMPLE_ROWS", "REWARDS", "REWARD_SIGNALS", "reward_batch", "zero_one_loss", "RewardTransform", "make_reward"]

REWARDS = ("raw", "clipped", "unit", "margin")
#: Default tolerance τ of the ``margin`` transform (the authors' 0.2).
MARGIN_TAU = 0.2


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
    name : {"raw", "clipped", "unit", "margin"}
        The transform (see the module docstring).
    margin : float or None, default=None
        Used by ``clipped`` (``max(0, margin − ΔL)``, default 0) and ``margin``
        (``clip(margin − ΔL, 0, 1)``, default :data:`MARGIN_TAU`): a neuron whose removal
        *raises* the loss by less than ``margin`` still earns some reward.
    widen : float, default=0.1
        Used by ``unit`` only: the fitted ``[lo, hi]`` is widened by this fraction of the
        fitted range on each side, so later ``ΔL`` values rarely hit the clip.

    Attributes
    ----------
    lo_, hi_ : float or None
        The ``ΔL`` values mapped to rewards 1 and 0 by ``unit``; ``None`` before
        :meth:`fit` (and always for the other transforms).
    n_rewards_, n_clipped_ : int
        Rewards computed so far and how many of them the ``unit`` or ``margin`` transform
        clipped into ``[0, 1]``.

    Examples
    --------
    >>> import numpy as np
    >>> unit = make_reward("unit").fit(np.array([-1.0, 0.0, 3.0]))
    >>> unit(np.array([-1.0, 1.0, 3.0])).round(3)
    array([0.917, 0.5  , 0.083])
    """

    name: str = "unit"
    margin: float | None = None
    widen: float = 0.1
    lo_: float | None = field(default=None, init=False)
    hi_: float | None = field(default=None, init=False)
    n_rewards_: int = field(default=0, init=False)
    n_clipped_: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or self.name not in REWARDS:
            raise ValueError(
                f"unknown reward transform {self.name!r}; valid names: {', '.join(REWARDS)}"
            )
        if self.margin is None:
            self.margin = MARGIN_TAU if self.name == "margin" else 0.0
        self.margin = _check_real("margin", self.margin)
        self.widen = _check_real("widen", self.widen, low=0.0)

    @property
    def bounded(self) -> bool:
        """Whether every reward lies in ``[0, 1]`` (``unit`` and ``margin``)."""
        return self.name in ("unit", "margin")

    @property
    def clipped_fraction(self) -> float:
        """Fraction of the rewards computed so far that were clipped (NaN before any)."""
        return self.n_clipped_ / self.n_rewards_ if self.n_rewards_ else float("nan")

    def _clip(self, r: np.ndarray) -> np.ndarray:
        self.n_rewards_ += r.size
        self.n_clipped_ += int(((r < 0.0) | (r > 1.0)).sum())
        return np.clip(r, 0.0, 1.0)

    def fit(self, delta_losses: np.ndarray) -> RewardTransform:
        """Fit ``unit`` on the ``ΔL`` of the calibration pass; a no-op otherwise.

        Parameters
        ----------
        delta_losses : array-like of float
            ``ΔL`` of the calibration pass (every arm, on one or more mini-batches); at
            least one value, all finite.

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
        if self.name == "margin":
            return self._clip(self.margin - d)
        if self.lo_ is None or self.hi_ is None:
            raise ValueError(
                "the 'unit' reward is not fitted: call .fit(delta_losses) on one pass over "
                "all arms before computing rewards"
            )
        return self._clip((self.hi_ - d) / (self.hi_ - self.lo_))


def make_reward(name: str = "unit", *, margin: float | None = None, widen: float = 0.1) -> RewardTransform:
    """Build a reward transform by name.

    Parameters
    ----------
    name : {"raw", "clipped", "unit", "margin"}, default="unit"
        ``raw``: ``−ΔL``; ``clipped``: ``max(0, margin − ΔL)``; ``unit``: the affine map
        of the fit pass into ``[0, 1]``, clipped; ``margin``: ``clip(margin − ΔL, 0, 1)``.
    margin : float or None, default=None
        Tolerance of ``clipped`` (default 0) and ``margin`` (default 0.2); ignored by the
        others.
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
    >>> make_reward("margin")(-np.array([-0.5, 0.0, 0.1]))  # ΔL = −Δacc: max(0, Δacc + 0.2)
    array([0. , 0.2, 0.3])
    """
    return RewardTransform(name, margin=margin, widen=widen)


#: What a pull measures: the change of the task loss, or of the accuracy (zero-one loss).
REWARD_SIGNALS = ("loss", "accuracy")
#: Below this many rows, a reward mini-batch capped at a fraction of the split is drawn with
#: replacement at the full ``batch_size`` (a bootstrap sample) instead.
MIN_SAMPLE_ROWS = 8


def zero_one_loss(outputs, targets):
    """Per-sample zero-one loss ``1[argmax(outputs) ≠ target]``: its ΔL is −Δaccuracy.

    Examples
    --------
    >>> import torch
    >>> zero_one_loss(torch.tensor([[2.0, 1.0], [0.0, 3.0]]), torch.tensor([0, 0]))
    tensor([0., 1.])
    """
    if outputs.dim() != 2 or outputs.shape[1] < 2:
        raise ValueError(f"reward_signal='accuracy' needs class scores of shape (batch, classes >= 2), "
                         f"got outputs of shape {tuple(outputs.shape)} (use reward_signal='loss' for regression)")
    return (outputs.argmax(1) != targets).to(outputs.dtype)


def reward_batch(n_rows: int, batch_size: int, max_fraction: float | None) -> tuple[int, bool]:
    """Size of a reward mini-batch and whether it is drawn with replacement.

    Parameters
    ----------
    n_rows : int
        Rows of the reward (validation) split.
    batch_size : int
        Requested mini-batch size.
    max_fraction : float or None
        Cap the batch at this fraction of the split, so that each pull is a sample of it; when
        the cap is below :data:`MIN_SAMPLE_ROWS` rows, ``min(batch_size, n_rows)`` rows are
        drawn with replacement instead. None: no cap (a batch of the whole split makes every
        pull deterministic; :func:`mabprune.prune` warns).

    Examples
    --------
    >>> reward_batch(1000, 64, 0.25), reward_batch(100, 64, 0.25), reward_batch(20, 64, 0.25)
    ((64, False), (25, False), (20, True))
    >>> reward_batch(50, 64, None)
    (50, False)
    """
    size = min(batch_size, n_rows)
    if max_fraction is None:
        return size, False
    cap = int(max_fraction * n_rows)
    if cap < MIN_SAMPLE_ROWS:
        return size, True
    return min(size, cap), False
