"""Named pruning protocols and the removal curve (issue 8 §3).

Three protocols, recorded by name in every experiment record:

``companion``
    The book's default: every hidden layer's units are arms, ΔL of the task loss on reward
    mini-batches sampled from the validation split (at most a quarter of it), the ``unit``
    reward, removal in steps with fine-tuning on the training split, scored on the test split.
``authors``
    The protocol of the authors' public code (``SalemAmeen/banditsbook_Prune_many_one_play``):
    arms are the units of one hidden Dense layer; a pull masks one unit and measures Δaccuracy
    on the whole evaluation split; the reward is ``max(0, Δacc + 0.2)`` (:func:`make_reward`
    ``"margin"``); one arm per pull; arms are ranked by cumulative reward; units are removed
    one at a time in that order (the removal curve); no fine-tuning. The rewards *and* the
    reported score use the same split, the **test** split, and the reported number is the best
    point of the removal curve. This is reproduced to measure what it does: it is **leaky**
    (units and removal count are chosen on the split that is scored).
``authors-honest``
    The same, except that the rewards and the choice of the removal count use the
    **validation** split; the score is the test metric at that count.

For regression the pull measures ΔL of the squared error on standardised targets (the
accuracy signal needs class scores), with the same ``margin`` transform, and the metric is R².
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from mabprune import policies
from mabprune.arms import find_arms
from mabprune.masks import Masker
from mabprune.pruning import prune
from mabprune.rewards import MARGIN_TAU

__all__ = ["PROTOCOLS", "AUTHORS_SETTINGS", "ProtocolResult", "authors_layer", "removal_curve", "run_authors"]

#: The named protocols; ``companion`` is the default of every profile.
PROTOCOLS = ("companion", "authors", "authors-honest")
#: The authors' settings (from their public code): reward, ranking, one arm per pull, a
#: horizon of ``pulls_per_unit`` pulls per unit of the layer (they used 2-7), no fine-tuning.
AUTHORS_SETTINGS = {"reward": "margin", "margin": MARGIN_TAU, "rank_by": "cumulative", "arms_per_round": 1,
                    "pulls_per_unit": 4, "steps": 1, "calibration_batches": 1, "fine_tune": False}


@dataclass
class ProtocolResult:
    """What :func:`run_authors` returns.

    Attributes
    ----------
    protocol : str
        ``authors`` or ``authors-honest``.
    layer : str
        The one layer whose units are the arms.
    ranking : np.ndarray
        Units of ``layer`` in removal order (safest first).
    curve_select, curve_test : np.ndarray
        The metric after removing ``0, 1, ..., max_units`` units, on the selection split
        (test for ``authors``, validation for ``authors-honest``) and on the test split.
    n_removed : int
        The chosen removal count (≥ 1): the best point of ``curve_select``.
    score : float
        ``curve_test[n_removed]``: the reported number.
    score_unpruned : float
        The test metric before any removal (``curve_test[0]``).
    pulls : int
        Arm pulls of the bandit (0 for a baseline).
    leaky : bool
        True when the units and the count were chosen on the scored split (``authors``).
    """

    protocol: str
    layer: str
    ranking: np.ndarray
    curve_select: np.ndarray
    curve_test: np.ndarray
    n_removed: int
    score: float
    score_unpruned: float
    pulls: int
    leaky: bool
    clipped_fraction: float = float("nan")


def authors_layer(model: nn.Module, example: torch.Tensor) -> str:
    """The layer the authors prune: the last hidden ``nn.Linear`` (the one before the output).

    Raises
    ------
    ValueError
        When the network has no hidden ``nn.Linear`` layer.
    """
    arms = find_arms(model, example)
    dense = [layer.name for layer in arms.layers if isinstance(arms.modules[layer.name], nn.Linear)]
    if not dense:
        raise ValueError(f"the authors' protocol prunes one hidden nn.Linear layer, but this network's prunable "
                         f"layers are {[layer.name for layer in arms.layers]} (none is nn.Linear)")
    return dense[-1]


def removal_curve(model: nn.Module, layer: str, order: Sequence[int], X: torch.Tensor, y: torch.Tensor,
                  metric: Callable[[nn.Module, torch.Tensor, torch.Tensor], float], max_units: int) -> np.ndarray:
    """The metric after removing the first ``0, 1, ..., max_units`` units of ``order`` from ``layer``.

    A unit is removed by masking its output at the layer's mask point (a zero there is what
    physical removal gives), so the curve needs no copies of the network.

    Parameters
    ----------
    model : nn.Module
        The network (unchanged: the masks are removed afterwards).
    layer : str
        Module name of the pruned layer.
    order : sequence of int
        Unit indices of ``layer``, in removal order.
    X, y : Tensor
        The split on which the metric is measured.
    metric : callable
        ``metric(model, X, y) -> float`` (higher is better).
    max_units : int
        Last count of the curve, at most ``len(order)``.

    Returns
    -------
    np.ndarray
        ``max_units + 1`` values, the unpruned metric first.

    Examples
    --------
    >>> model = nn.Sequential(nn.Linear(1, 3), nn.ReLU(), nn.Linear(3, 1))
    >>> with torch.no_grad():
    ...     _ = model[0].weight.fill_(1.0), model[0].bias.zero_(), model[2].bias.zero_()
    ...     _ = model[2].weight.copy_(torch.tensor([[1.0, 2.0, 4.0]]))
    >>> out = lambda m, X, y: float(m(X).detach().sum())
    >>> removal_curve(model, "0", [2, 0, 1], torch.ones(1, 1), None, out, 3).tolist()
    [7.0, 3.0, 2.0, 0.0]
    """
    order = [int(u) for u in order]
    if not 0 <= max_units <= len(order):
        raise ValueError(f"max_units must be in [0, {len(order)}] (the units of layer {layer!r}), got {max_units}")
    arms = find_arms(model, X[:2], layers=[layer])
    out = []
    with Masker(model, arms) as masker:
        for count in range(max_units + 1):
            masker.set(order[:count])
            out.append(float(metric(model, X, y)))
    return np.array(out)


def _best_count(curve: np.ndarray) -> int:
    """The smallest count ≥ 1 with the best metric (NaN never wins)."""
    tail = np.where(np.isfinite(curve[1:]), curve[1:], -np.inf)
    return int(np.argmax(tail)) + 1


def run_authors(model: nn.Module, splits: dict[str, tuple[torch.Tensor, torch.Tensor]], *, method: str,
                protocol: str = "authors", amount: float = 0.5, task: str = "classification",
                layer: str | None = None, seed: int = 0, device: str = "cpu",
                metric: Callable[[nn.Module, torch.Tensor, torch.Tensor], float],
                pulls_per_unit: int = AUTHORS_SETTINGS["pulls_per_unit"], **prune_kwargs: Any) -> ProtocolResult:
    """Rank one layer's units with ``method`` under the authors' reward, then read the removal curve.

    Parameters
    ----------
    model : nn.Module
        The trained network (not modified).
    splits : dict
        ``{"val": (X, y), "test": (X, y)}`` as tensors (targets standardised for regression).
    method : str
        A policy or baseline of :func:`mabprune.prune`; ``none`` reports the unpruned model.
    protocol : {"authors", "authors-honest"}
        Where the rewards and the removal count are chosen: the test split (leaky) or the
        validation split.
    amount : float, default=0.5
        The curve runs up to ``round(amount · units)`` removals (their ``MaxofPrune``).
    task : {"classification", "regression"}
        Classification pulls measure Δaccuracy; regression ΔL of the squared error.
    layer : str, optional
        The layer to prune; default :func:`authors_layer`.
    metric : callable
        ``metric(model, X, y) -> float``, e.g. accuracy or R².
    pulls_per_unit : int, default=4
        Bandit horizon per unit of the layer (one arm per pull), besides the calibration pass.
    **prune_kwargs
        Passed on to :func:`mabprune.prune` (e.g. ``policy_params``).

    Returns
    -------
    ProtocolResult
    """

    if protocol not in PROTOCOLS[1:]:
        raise ValueError(f"run_authors runs the protocols {PROTOCOLS[1:]}, not {protocol!r}")
    X_sel, y_sel = splits["test" if protocol == "authors" else "val"]
    X_test, y_test = splits["test"]
    layer = layer or authors_layer(model, X_test[:2])
    n_units = find_arms(model, X_test[:2], layers=[layer]).n_arms
    max_units = min(max(1, round(amount * n_units)), n_units - 1)
    if method == "none":
        base = float(metric(model, X_test, y_test))
        return ProtocolResult(protocol, layer, np.arange(n_units), np.array([base]), np.array([base]), 0, base, base,
                              0, protocol == "authors")
    with warnings.catch_warnings():  # their protocol pulls on the whole split by design
        warnings.filterwarnings("ignore", message="the reward mini-batch")
        res = prune(model, (X_sel, y_sel), method=method, amount=max_units / n_units, layers=[layer], steps=1,
                    fine_tune=None, reward=AUTHORS_SETTINGS["reward"], margin=AUTHORS_SETTINGS["margin"],
                    rank_by=AUTHORS_SETTINGS["rank_by"], arms_per_round=AUTHORS_SETTINGS["arms_per_round"],
                    rounds=pulls_per_unit * n_units, batch_size=len(X_sel),
                    calibration_batches=AUTHORS_SETTINGS["calibration_batches"],
                    reward_signal="accuracy" if task == "classification" else "loss",
                    loss_fn="cross_entropy" if task == "classification" else "mse", seed=seed, device=device,
                    **prune_kwargs)
    ranking = np.asarray(res.ranking)
    work = model.to(X_test.device)
    curve_sel = removal_curve(work, layer, ranking, X_sel, y_sel, metric, max_units)
    curve_test = curve_sel if protocol == "authors" else removal_curve(work, layer, ranking, X_test, y_test,
                                                                       metric, max_units)
    count = _best_count(curve_sel)
    return ProtocolResult(protocol, layer, ranking, curve_sel, curve_test, count, float(curve_test[count]),
                          float(curve_test[0]), res.pulls if method in policies.POLICIES else 0, protocol == "authors",
                          res.clipped_fraction)
