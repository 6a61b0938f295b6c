"""Baseline criteria for choosing which units to remove.

Each function returns a *safety score* per arm, on the same convention as a bandit's reward
estimates: higher means safer to remove. :func:`mabprune.prune` removes the highest-scoring
arms, so every method goes through one selection and one removal path.

Two baselines have several *definitions* in the literature, each kept by name (see
:data:`DEFINITIONS`; the first of each is the default of :func:`mabprune.prune`):

``taylor``
    ``molchanov2019`` (default): Molchanov, Mallya, Tyree, Frosio & Kautz (2019), "Importance
    Estimation for Neural Network Pruning", CVPR, eq. 8 with a gate per unit: the importance of
    a unit is ``(Σ_rows a·∂L/∂a)²`` on one mini-batch (summed over the spatial positions of a
    conv channel, ``L`` the mini-batch's mean loss), averaged over the mini-batches of the
    selection split. ``signed``: the first-order estimate of ΔL itself, ``−Σ a·∂L/∂a`` over the
    whole split (no absolute value: a unit whose removal is predicted to lower the loss ranks
    safest). ``abs_split``: ``|Σ a·∂L/∂a|`` over the whole split (Molchanov, Tyree, Karras,
    Aila & Kautz, 2017, "Pruning Convolutional Neural Networks for Resource Efficient
    Inference", ICLR, eq. 7 on the whole split rather than averaged over mini-batches): the
    definition of protocol 4.
``magnitude``
    ``incoming`` (default): the ℓ2 norm of the unit's incoming weights, its row of ``W`` (its
    filter for a conv), the bias left out, as the neuron/filter norm of Li, Kadav, Durdanovic,
    Samet & Graf (2017), "Pruning Filters for Efficient ConvNets" (who use ℓ1) and Torch-Pruning's
    ``MagnitudeImportance(p=2)``, whose default also leaves the bias out: a bias shifts a unit,
    it does not scale its response to the input. ``in_out``: the norm of the incoming row,
    the bias and the outgoing column together: the definition of protocol 4.

Higher scores are safer to remove for every definition: an importance ``I`` becomes ``−I``.

Under ``scope="global"`` one ranking spans layers of very different fan-in, so by default each
score is *normalised per layer*: divided by the ℓ2 norm of that layer's scores (Molchanov et
al., 2017). ``variant="raw"`` keeps the raw scores; for Taylor, ``variant="signed"`` is the
earlier signed first-order ΔL (no absolute value, no normalisation). See :data:`VARIANTS`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from . import inputs
from .arms import ArmSet
from .masks import Masker, incoming_weight, outgoing_weight, register_unit_hook
from .engine import LossFn
from .removal import select_removals
from .truth import removal_effects

BASELINES = ("magnitude", "activation_variation", "taylor", "random", "none")
#: A reference beyond the paper's baselines: ``exact`` ranks by the exact single-unit removal
#: effect on the reward split (:mod:`mabprune.truth`), what any estimate of it can reach at best.
REFERENCES = ("exact",)
#: Score variants: ``normalized`` (per-layer ℓ2 normalisation, the default under
#: ``scope="global"``), ``raw`` (no normalisation) and, for Taylor only, ``signed``.
VARIANTS = ("normalized", "raw", "signed")
#: The definitions of the baselines that have several, the default first (see the module docstring).
DEFINITIONS = {"taylor": ("molchanov2019", "signed", "abs_split"), "magnitude": ("incoming", "in_out")}
#: Named sets of definitions, one per grid setting (:class:`mabprune.study.profiles.GridSpec`):
#: ``reference`` the defaults above, ``protocol4`` those under which the committed tabular and
#: verdict records were computed (issue 8), kept so that their keys and results stay valid.
DEFINITION_SETS = {"reference": {m: d[0] for m, d in DEFINITIONS.items()},
                   "protocol4": {"taylor": "abs_split", "magnitude": "in_out"}}


def check_definition(method: str, definition: str) -> str:
    """The definition of baseline ``method`` that ``definition`` names (``"default"``: the first).

    Parameters
    ----------
    method : str
        A method of :func:`mabprune.prune`.
    definition : str
        ``"default"``, or one of ``DEFINITIONS[method]``.

    Returns
    -------
    str
        The resolved definition; ``"default"`` for a method with only one.

    Raises
    ------
    ValueError
        Naming the definition, when ``method`` has no such definition.

    Examples
    --------
    >>> check_definition("taylor", "default"), check_definition("magnitude", "in_out")
    ('molchanov2019', 'in_out')
    >>> check_definition("random", "default")
    'default'
    """
    if method not in DEFINITIONS:
        if definition != "default":
            raise ValueError(f"baseline_definition {definition!r} given, but method {method!r} has one definition "
                             f"(definitions exist for {tuple(DEFINITIONS)})")
        return definition
    if definition == "default":
        return DEFINITIONS[method][0]
    if definition not in DEFINITIONS[method]:
        raise ValueError(f"unknown definition {definition!r} of baseline {method!r}: use one of "
                         f"{('default',) + DEFINITIONS[method]}")
    return definition


def normalize_per_layer(scores: np.ndarray, arms: ArmSet) -> np.ndarray:
    """Each layer's scores divided by their ℓ2 norm (a layer of zeros stays zero).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from mabprune.arms import find_arms
    >>> arms = find_arms(nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2), nn.ReLU(),
    ...                                nn.Linear(2, 1)), torch.zeros(1, 2))
    >>> normalize_per_layer(np.array([-3.0, -4.0, -30.0, 0.0]), arms).tolist()
    [-0.6, -0.8, -1.0, 0.0]
    """
    out = np.asarray(scores, dtype=np.float64).copy()
    for sl in arms.layer_slices().values():
        norm = np.linalg.norm(out[sl])
        if norm > 0:
            out[sl] /= norm
    return out


def _check_variant(method: str, variant: str) -> None:
    if variant not in VARIANTS or (variant == "signed" and method != "taylor"):
        allowed = VARIANTS if method == "taylor" else VARIANTS[:2]
        raise ValueError(f"unknown variant {variant!r} for baseline {method!r}: use one of {allowed}")


def magnitude_scores(arms: ArmSet, *, variant: str = "raw", definition: str = "incoming") -> np.ndarray:
    """Minus the ℓ2 norm of each unit's weights: incoming (default) or incoming and outgoing.

    Parameters
    ----------
    arms : ArmSet
        The arms of the network (:func:`mabprune.arms.find_arms`).
    variant : {"raw", "normalized"}, default="raw"
        ``normalized`` divides each layer's norms by their ℓ2 norm
        (:func:`normalize_per_layer`), so that layers of different fan-in compare.
    definition : {"incoming", "in_out"}, default="incoming"
        ``incoming``: ``‖W[u]‖₂``, the unit's row of ``W`` (its filter for a conv; for an LSTM
        unit its rows of the four gates in the input and the recurrent weights), without the
        bias (Li et al., 2017; Torch-Pruning's ``MagnitudeImportance``). ``in_out``:
        ``‖(W[u], b[u], W_next[:, u])‖₂``, the row, the bias and the consumer's columns that
        read the unit (protocol 4).

    Returns
    -------
    np.ndarray
        One safety score per arm (higher = safer to remove).

    Raises
    ------
    ValueError
        For an unknown ``variant`` or ``definition``, naming it.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from mabprune.arms import find_arms
    >>> model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    >>> with torch.no_grad():
    ...     _ = model[0].weight.copy_(torch.tensor([[1.0, 0], [3, 0], [0, 0]])), model[0].bias.zero_()
    ...     _ = model[2].weight.copy_(torch.tensor([[0.0, 4, 0]]))
    >>> arms = find_arms(model, torch.zeros(1, 2))
    >>> magnitude_scores(arms).tolist()
    [-1.0, -3.0, -0.0]
    >>> magnitude_scores(arms, definition="in_out").tolist()
    [-1.0, -5.0, -0.0]
    """
    _check_variant("magnitude", variant)
    definition = check_definition("magnitude", definition)
    scores = []
    for layer in arms.layers:
        w_in, bias = incoming_weight(layer)   # an LSTM unit: its rows of the four gates, input and recurrent
        sq = (w_in.double() ** 2).sum(1)
        if definition == "incoming":
            scores.append(-sq.sqrt().cpu().numpy())
            continue
        if bias is not None:   # a head unit spans several output channels (their biases add up)
            sq += (bias.double() ** 2).sum(1)
        w_out = outgoing_weight(arms, layer)
        if w_out is not None:
            sq += (w_out.double() ** 2).sum(1)
        scores.append(-sq.sqrt().cpu().numpy())
    out = np.concatenate(scores)
    return normalize_per_layer(out, arms) if variant == "normalized" else out


def activation_variation_scores(model: nn.Module, arms: ArmSet, X: torch.Tensor, *, weighted: bool = True,
                                masked: np.ndarray | None = None, fill: dict | None = None,
                                batch_size: int = 512, variant: str = "raw") -> np.ndarray:
    """Minus the variance of each unit's output on ``X``, times ‖outgoing weights‖².

    A unit whose output barely varies carries little information downstream: removing it
    (or replacing it by its mean) changes the next layer little. The variance is over samples
    (and positions, for a conv channel), measured at the unit's mask point, with the arms in
    ``masked`` already masked, so a greedy caller can recompute it after each removal.

    Parameters
    ----------
    weighted : bool, default=True
        Multiply by the squared norm of the outgoing weights; False gives the plain variance.
    variant : {"raw", "normalized"}, default="raw"
        ``normalized`` divides each layer's scores by their ℓ2 norm.
    """
    _check_variant("activation_variation", variant)
    stats: dict[str, list[torch.Tensor]] = {layer.name: [] for layer in arms.layers}
    handles = []
    masker = Masker(model, arms, fill=fill)
    masker.__enter__()  # masking hooks first, so the capture below sees masked outputs
    try:
        for layer in arms.layers:
            def hook(out, name=layer.name):
                o = out.detach().double().transpose(0, 1).reshape(out.shape[1], -1)   # (units, samples·positions)
                stats[name].append(torch.stack([torch.full_like(o[:, 0], o.shape[1]), o.sum(1), (o ** 2).sum(1)]))
            handles.append(register_unit_hook(arms, layer, hook))
        if masked is not None and len(masked):
            masker.set(masked)
        with inputs.eval_mode(model), torch.no_grad():
            for start in range(0, inputs.length(X), batch_size):
                inputs.call(model, inputs.index(X, slice(start, start + batch_size)))
    finally:
        for h in handles:
            h.remove()
        masker.__exit__()
    scores = []
    for layer in arms.layers:
        n, s, ss = torch.stack(stats[layer.name]).sum(0)
        var = (ss / n - (s / n) ** 2).clamp_min(0)
        if weighted:
            w_out = outgoing_weight(arms, layer)
            if w_out is not None:
                var = var * (w_out.double() ** 2).sum(1)
        scores.append(-var.cpu().numpy())
    out = np.concatenate(scores)
    return normalize_per_layer(out, arms) if variant == "normalized" else out


def taylor_scores(model: nn.Module, arms: ArmSet, X: torch.Tensor, y: torch.Tensor, loss: LossFn, *,
                  fill: dict | None = None, batch_size: int = 512, variant: str = "normalized",
                  definition: str = "molchanov2019") -> np.ndarray:
    """First-order (Taylor) safety scores from backward passes through a gate per unit.

    Each unit's output ``a`` is multiplied by a gate ``g = 1``, so ``∂L/∂g = Σ a·∂L/∂a``, the
    sum over the rows (and the positions, for a conv channel) of the loss ``L``; removing the
    unit sets ``g = 0``, so ``ΔL ≈ −∂L/∂g``. Eval mode, like the pulls.

    Parameters
    ----------
    model : nn.Module
        The network.
    arms : ArmSet
        Its arms (:func:`mabprune.arms.find_arms`).
    X, y : Tensor
        The selection split (the reward data).
    loss : callable
        Per-sample loss ``loss(output, y)``.
    fill : dict, optional
        What a masked unit outputs (see :class:`mabprune.masks.Masker`); only the gates' values
        matter here.
    batch_size : int, default=512
        Rows per mini-batch. For ``molchanov2019`` it is the mini-batch over which
        ``Σ a·∂L/∂a`` is taken before squaring (``L`` the mini-batch's mean loss); for the other
        two it only bounds memory (their sum is over the whole split).
    variant : {"normalized", "raw", "signed"}, default="normalized"
        ``normalized``: each layer's scores divided by their ℓ2 norm (Molchanov et al., 2017);
        ``raw``: as they are; ``signed`` is kept as the older spelling of
        ``definition="signed"`` with ``variant="raw"``.
    definition : {"molchanov2019", "signed", "abs_split"}, default="molchanov2019"
        ``molchanov2019``: importance ``mean_b (Σ_{rows of b} a·∂L_b/∂a)²`` over the mini-batches
        ``b`` of ``(X, y)`` in order, each weighted by its rows (a short last batch counts for
        its share); safety is minus it (Molchanov et al., 2019, eq. 8). ``signed``: safety
        ``∂L/∂g = −ΔL`` on the whole split. ``abs_split``: safety ``−|∂L/∂g|`` on the whole
        split (protocol 4).

    Returns
    -------
    np.ndarray
        One safety score per arm (higher = safer to remove).

    Raises
    ------
    ValueError
        For an unknown ``variant`` or ``definition``, naming it.

    Examples
    --------
    A unit ``a = x`` read with weight ``w`` under ``L = mean((w·a − y)²)`` has
    ``∂L/∂g = mean(2 (w·a − y) · w·a)``:

    >>> import torch
    >>> from torch import nn
    >>> from mabprune.arms import find_arms
    >>> model = nn.Sequential(nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 1))
    >>> with torch.no_grad():
    ...     _ = model[0].weight.copy_(torch.tensor([[1.0], [1.0]])), model[0].bias.zero_()
    ...     _ = model[2].weight.copy_(torch.tensor([[1.0, 2.0]])), model[2].bias.zero_()
    >>> X, y = torch.tensor([[1.0], [2.0]]), torch.tensor([1.0, 2.0])
    >>> mse = lambda o, t: (o.squeeze(1) - t) ** 2
    >>> arms = find_arms(model, X)
    >>> taylor_scores(model, arms, X, y, mse, definition="signed", variant="raw").round(3).tolist()
    [10.0, 20.0]
    >>> taylor_scores(model, arms, X, y, mse, definition="abs_split").round(3).tolist()
    [-0.447, -0.894]

    With mini-batches of one row, ``∂L/∂g`` is 4 and 8 on the first, 16 and 32 on the second:

    >>> taylor_scores(model, arms, X, y, mse, batch_size=1, variant="raw").round(3).tolist()
    [-136.0, -544.0]
    """
    _check_variant("taylor", variant)
    if variant == "signed":  # the older spelling
        definition, variant = "signed", "raw"
    definition = check_definition("taylor", definition)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    device = y.device
    gates = {layer.name: torch.ones(layer.n_units, device=device, requires_grad=True) for layer in arms.layers}
    masker = Masker(model, arms, fill=fill, mask=gates)   # the gates multiply every reader's input
    n = inputs.length(X)
    squares = np.zeros(arms.n_arms)
    try:
        with inputs.eval_mode(model), masker:
            for start in range(0, n, batch_size):
                xb, yb = inputs.index(X, slice(start, start + batch_size)), y[start:start + batch_size]
                rows = len(yb)
                if definition == "molchanov2019":  # this mini-batch's own ∂L_b/∂g, squared
                    (loss(inputs.call(model, xb), yb).sum() / rows).backward()
                    grad = _gate_grad(gates, arms)
                    squares += rows * grad ** 2
                    for g in gates.values():
                        g.grad = None
                else:  # the gradients of the whole split's mean loss accumulate
                    (loss(inputs.call(model, xb), yb).sum() / n).backward()
    finally:
        model.zero_grad(set_to_none=True)
    if definition == "molchanov2019":
        importance = squares / n
    else:
        grad = _gate_grad(gates, arms)
        if definition == "signed":
            return normalize_per_layer(grad, arms) if variant == "normalized" else grad
        importance = np.abs(grad)
    return -normalize_per_layer(importance, arms) if variant == "normalized" else -importance


def _gate_grad(gates: dict, arms: ArmSet) -> np.ndarray:
    """The gates' gradients in arm order (zeros for a gate the loss does not reach)."""
    return np.concatenate([np.zeros(layer.n_units) if gates[layer.name].grad is None
                           else gates[layer.name].grad.double().cpu().numpy() for layer in arms.layers])


def exact_scores(model: nn.Module, arms: ArmSet, X, y: torch.Tensor, loss: LossFn, *, fill: dict | None = None,
                 batch_size: int = 512) -> np.ndarray:
    """Minus the exact ΔL of removing each arm alone, on every row of ``(X, y)`` (higher = safer).

    One masked pass per arm over the whole split (:func:`mabprune.truth.removal_effects`): no
    sampling, no allocation. It costs ``n_arms × n_rows`` unit-rows, the yardstick of a bandit's budget.
    """
    return -removal_effects(model, (X, y), loss_fn=loss, arms=arms, batch_size=batch_size, fill=fill).effects


def random_scores(arms: ArmSet, seed: int | None = 0) -> np.ndarray:
    """Uniform random scores: the random-removal baseline."""
    return np.random.default_rng(seed).random(arms.n_arms)


def baseline_removal(method, model, arms: ArmSet, X, y, loss, fill, n_remove, scope, min_units, seed, batch_size,
                     variant="raw", definition="default"):
    """Scores and removal of a baseline method (ties broken at random, seeded).

    ``definition`` (see :data:`DEFINITIONS`) chooses Taylor's and magnitude's formula; Taylor's
    ``molchanov2019`` mini-batches have ``batch_size`` rows (the reward mini-batch size).
    """
    if method == "none":
        return np.zeros(arms.n_arms), np.array([], dtype=np.int64)
    definition = check_definition(method, definition)
    if method == "magnitude":
        scores = magnitude_scores(arms, variant=variant, definition=definition)
    elif method == "taylor":
        if variant == "signed":
            definition, variant = "signed", "raw"
        chunk = batch_size if definition == "molchanov2019" else batch_size * 4
        scores = taylor_scores(model, arms, X, y, loss, fill=fill, batch_size=chunk, variant=variant,
                               definition=definition)
    elif method == "random":
        scores = random_scores(arms, seed)
    elif method == "exact":
        scores = exact_scores(model, arms, X, y, loss, fill=fill, batch_size=batch_size * 4)
    else:
        return greedy_activation_variation(model, arms, X, fill, n_remove, scope, min_units, variant=variant)
    return scores, select_removals(scores, arms, n_remove, scope=scope, min_units_per_layer=min_units,
                                   rng=np.random.default_rng([seed, 1]))


def greedy_activation_variation(model, arms, X, fill, n_remove, scope, min_units, rerankings: int = 32,
                                 variant="raw"):
    """Greedy: re-rank by activation variation after each 1/``rerankings`` of the removals.

    The removed units stay masked while the variances are recomputed, so a unit whose
    variation came from an already-removed unit upstream is seen as it will be. With
    ``scope="layer"`` the units are chosen in one ranking, since per-layer quotas are exact
    only when chosen in one go.
    """
    first_scores = activation_variation_scores(model, arms, X, fill=fill, variant=variant)
    if scope == "layer":
        return first_scores, select_removals(first_scores, arms, n_remove, scope="layer", min_units_per_layer=min_units)
    chunk = max(1, math.ceil(n_remove / rerankings))
    removal, scores = np.array([], dtype=np.int64), first_scores
    while len(removal) < n_remove:
        more = select_removals(scores, arms, min(chunk, n_remove - len(removal)), scope="global",
                               min_units_per_layer=min_units, exclude=removal)
        if len(more) == 0:
            break
        removal = np.concatenate([removal, more])
        if len(removal) < n_remove:
            scores = activation_variation_scores(model, arms, X, masked=removal, fill=fill, variant=variant)
    return first_scores, removal
