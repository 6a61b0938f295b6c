"""Stochastic bandit policies: ε-greedy, softmax (Boltzmann), UCB1 and Thompson sampling.

They assume each arm's rewards are drawn from a fixed distribution and estimate its mean
(sample means, confidence bounds or a posterior). Build them with
:func:`mabprune.policies.make`.

Examples
--------
>>> from mabprune.policies import make
>>> make("ucb1", 4, c=1.0).needs_unit_rewards
True
"""

from __future__ import annotations

import numpy as np

from .base import Policy, SeedLike, _log_softmax, _real, _top_k

__all__ = ["EpsilonGreedy", "Softmax", "UCB1", "Thompson"]


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
