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
import numbers
from typing import Any

import numpy as np

__all__ = ["POLICIES", "Policy", "EpsilonGreedy", "Softmax", "UCB1", "Thompson", "Hedge",
           "EXP3", "make"]

POLICIES = ("epsilon_greedy", "softmax", "ucb1", "thompson", "hedge", "exp3")
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


class EpsilonGreedy(Policy):
    """Greedy on the mean reward, exploring uniformly with probability ``ε_t`` per slot.

    Each of the ``k`` slots explores with probability ``ε_t = epsilon / (1 + decay · t)``
    (``epsilon`` when ``decay`` is None): the exploiting slots take the best arms by
    estimate, the exploring ones arms drawn uniformly among those not yet chosen. Unpulled
    arms rank above every pulled one (an optimistic ``+inf`` estimate), so each arm is
    tried before exploitation.

    Parameters
    ----------
    n_arms, seed
        See :class:`Policy`.
    epsilon : float, default=0.1
        Exploration probability in ``[0, 1]``.
    decay : float or None, default=None
        Non-negative decay rate of ``ε_t``; None keeps it constant.

    Examples
    --------
    >>> policy = EpsilonGreedy(4, epsilon=0.0, seed=0)
    >>> policy.update([0, 1, 2, 3], [0.1, 0.9, 0.5, 0.3])
    >>> policy.select(2)
    array([1, 2])
    """

    name = "epsilon_greedy"

    def __init__(self, n_arms: int, *, epsilon: float = 0.1, decay: float | None = None,
                 seed: SeedLike = None) -> None:
        self.epsilon = _real("epsilon", epsilon, low=0.0, high=1.0)
        self.decay = None if decay is None else _real("decay", decay, low=0.0)
        super().__init__(n_arms, seed=seed)

    def _select(self, k: int) -> np.ndarray:
        # Slots are independent, so the greedy ones can go first: k − E best arms, then E
        # arms uniform among the rest, E ~ Binomial(k, ε_t).
        eps = self.epsilon / (1.0 + (self.decay or 0.0) * self.t)
        n_explore = int((self.rng.random(k) < eps).sum())
        ranked = _top_k(np.where(self.counts == 0, np.inf, self.estimates), self.n_arms, self.rng)
        rest = self.rng.choice(ranked[k - n_explore:], size=n_explore, replace=False)
        return np.concatenate([ranked[:k - n_explore], rest]).astype(np.int64)


class Softmax(Policy):
    """Boltzmann exploration: ``k`` arms drawn without replacement from ``softmax(μ̂ / τ)``.

    Uses the Gumbel-top-k trick (the ``k`` largest ``μ̂_i / τ + G_i``, ``G_i ~ Gumbel``),
    exact sampling without replacement computed in log space. Unpulled arms have ``μ̂ = 0``.

    Parameters
    ----------
    n_arms, seed
        See :class:`Policy`.
    temperature : float, default=0.1
        ``τ > 0``; small is greedy, large is uniform.

    Examples
    --------
    >>> policy = Softmax(3, temperature=0.5, seed=0)
    >>> policy.update([0, 1, 2], [0.0, 0.5, 1.0])
    >>> policy.probabilities().round(3)
    array([0.09 , 0.245, 0.665])
    """

    name = "softmax"

    def __init__(self, n_arms: int, *, temperature: float = 0.1, seed: SeedLike = None) -> None:
        self.temperature = _real("temperature", temperature, low=0.0, strict=True)
        super().__init__(n_arms, seed=seed)

    def probabilities(self) -> np.ndarray:
        """The current sampling distribution ``softmax(estimates / temperature)``."""
        return np.exp(_log_softmax(self.estimates / self.temperature))

    def _select(self, k: int) -> np.ndarray:
        logits = self.estimates / self.temperature
        return _top_k(logits + self.rng.gumbel(size=self.n_arms), k, self.rng)


class UCB1(Policy):
    """Upper confidence bound: the ``k`` arms of largest ``μ̂_i + sqrt(c · ln N / n_i)``.

    ``N`` is the total number of pulls and ``n_i`` those of arm ``i``; ``c = 2`` is UCB1 of
    Auer et al. (2002). Unpulled arms have index ``+inf``: each arm is pulled once first.

    Parameters
    ----------
    n_arms, seed
        See :class:`Policy` (the generator only breaks ties).
    c : float, default=2.0
        Non-negative exploration constant.

    Examples
    --------
    >>> policy = UCB1(3, seed=0)
    >>> policy.update([0, 1], [0.2, 0.9])
    >>> policy.select(1)  # arm 2 was never pulled
    array([2])
    """

    name = "ucb1"
    needs_unit_rewards = True

    def __init__(self, n_arms: int, *, c: float = 2.0, seed: SeedLike = None) -> None:
        self.c = _real("c", c, low=0.0)
        super().__init__(n_arms, seed=seed)

    def index(self) -> np.ndarray:
        """The UCB index of every arm (``+inf`` for unpulled arms)."""
        n = self.counts
        with np.errstate(divide="ignore", invalid="ignore"):
            bonus = np.sqrt(self.c * np.log(max(int(n.sum()), 1)) / n)
        return np.where(n == 0, np.inf, self.estimates + bonus)

    def _select(self, k: int) -> np.ndarray:
        return _top_k(self.index(), k, self.rng)


class Thompson(Policy):
    """Thompson sampling: one posterior draw per arm, the ``k`` largest are pulled.

    ``bernoulli``: Beta(1, 1) prior; a reward ``r ∈ [0, 1]`` becomes a Bernoulli(``r``)
    success ``s`` drawn with the policy's generator (Agrawal & Goyal, 2012), then
    ``α += s``, ``β += 1 − s``. ``gaussian``: prior ``N(prior_mean, prior_var)`` on each
    arm's mean, rewards of variance ``σ²``; with ``w = σ² / prior_var`` the posterior is
    ``N((w · prior_mean + S_i) / (w + n_i), σ² / (w + n_i))`` (``S_i``: sum of rewards).
    ``σ² = noise_var`` if given, else the pooled within-arm sample variance of all
    observations (empirical Bayes), ``prior_var`` until some arm has two observations.

    Parameters
    ----------
    n_arms, seed
        See :class:`Policy`.
    likelihood : {"bernoulli", "gaussian"}, default="bernoulli"
        Reward model; ``bernoulli`` needs rewards in ``[0, 1]``.
    prior_mean : float, default=0.0
        Gaussian only: prior mean of each arm's mean.
    prior_var : float, default=1.0
        Gaussian only: prior variance (> 0) of each arm's mean.
    noise_var : float or None, default=None
        Gaussian only: known reward variance (> 0); None estimates it.

    Examples
    --------
    >>> policy = Thompson(2, seed=0)
    >>> policy.update([0, 1], [1.0, 0.0])
    >>> policy.posterior()
    (array([2., 1.]), array([1., 2.]))
    """

    name = "thompson"

    def __init__(self, n_arms: int, *, likelihood: str = "bernoulli", prior_mean: float = 0.0,
                 prior_var: float = 1.0, noise_var: float | None = None,
                 seed: SeedLike = None) -> None:
        if likelihood not in ("bernoulli", "gaussian"):
            raise ValueError(f"likelihood must be 'bernoulli' or 'gaussian', got {likelihood!r}")
        self.likelihood = likelihood
        self.prior_mean = _real("prior_mean", prior_mean)
        self.prior_var = _real("prior_var", prior_var, low=0.0, strict=True)
        self.noise_var = None if noise_var is None else _real("noise_var", noise_var, low=0.0,
                                                              strict=True)
        self.needs_unit_rewards = likelihood == "bernoulli"
        super().__init__(n_arms, seed=seed)
        self.alpha, self.beta = np.ones(self.n_arms), np.ones(self.n_arms)
        self._m2 = np.zeros(self.n_arms)  # per-arm sum of squared deviations (Welford)

    def noise_variance(self) -> float:
        """``σ²`` of the Gaussian model: ``noise_var``, or the pooled estimate."""
        if self.noise_var is not None:
            return self.noise_var
        dof = int(self.counts.sum()) - int(np.count_nonzero(self.counts))
        return float(self._m2.sum() / dof) if dof > 0 else self.prior_var

    def posterior(self) -> tuple[np.ndarray, np.ndarray]:
        """``(alpha, beta)`` (Bernoulli) or ``(mean, variance)`` of each arm's mean (Gaussian)."""
        if self.likelihood == "bernoulli":
            return self.alpha.copy(), self.beta.copy()
        s2, n, seen = self.noise_variance(), self.counts, self.counts > 0
        w = s2 / self.prior_var  # the prior weighs as w observations; s2 = 0 stays finite
        mean, var = np.full(self.n_arms, self.prior_mean), np.full(self.n_arms, self.prior_var)
        mean[seen] = (w * self.prior_mean + self._sums[seen]) / (w + n[seen])
        var[seen] = s2 / (w + n[seen])
        return mean, var

    def _select(self, k: int) -> np.ndarray:
        if self.likelihood == "bernoulli":
            return _top_k(self.rng.beta(self.alpha, self.beta), k, self.rng)
        mean, var = self.posterior()
        return _top_k(self.rng.normal(mean, np.sqrt(var)), k, self.rng)

    def _update(self, arms: np.ndarray, rewards: np.ndarray) -> None:
        if self.likelihood == "bernoulli":
            s = (self.rng.random(arms.size) < rewards).astype(float)
            self.alpha[arms] += s
            self.beta[arms] += 1.0 - s
        else:
            old = self.estimates[arms]
            new = old + (rewards - old) / (self.counts[arms] + 1)
            self._m2[arms] += (rewards - old) * (rewards - new)


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


_CLASSES = {cls.name: cls for cls in (EpsilonGreedy, Softmax, UCB1, Thompson, Hedge, EXP3)}


def make(name: str, n_arms: int, *, seed: SeedLike = None, **params: Any) -> Policy:
    """Build a policy by name.

    Parameters
    ----------
    name : str
        One of ``POLICIES``.
    n_arms : int
        Number of arms, at least 1.
    seed : int, numpy.random.Generator or None, default=None
        Seed of the policy's own generator.
    **params
        Hyper-parameters of that policy (e.g. ``epsilon`` for ``epsilon_greedy``).

    Returns
    -------
    Policy
        A fresh policy.

    Raises
    ------
    ValueError
        For an unknown name or parameter (the message lists the valid ones) or an invalid
        value (the message names it).

    Examples
    --------
    >>> make("ucb1", 10, c=1.0)
    UCB1(n_arms=10, c=1.0)
    >>> make("ucb1", 10, epsilon=0.1)
    Traceback (most recent call last):
    ...
    ValueError: unknown parameter(s) ['epsilon'] for policy 'ucb1'; valid parameters: c
    """
    if not isinstance(name, str) or name not in _CLASSES:
        raise ValueError(f"unknown policy {name!r}; valid names: {', '.join(POLICIES)}")
    cls = _CLASSES[name]
    valid = [p for p in inspect.signature(cls).parameters if p not in ("n_arms", "seed")]
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} for policy {name!r}; "
                         f"valid parameters: {', '.join(valid)}")
    return cls(n_arms, seed=seed, **params)
