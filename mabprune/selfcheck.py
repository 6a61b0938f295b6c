"""find_arms' self-check: masking a group's channels must equal Torch-Pruning's removal."""

from __future__ import annotations

import copy

import torch
from torch import nn

from . import batch, graph
from .arms import ArmSet, Masker


def self_check(model: nn.Module, arms: ArmSet, example_inputs, strict: bool) -> None:
    """Masked output == removed output for the first and last channel of every group.

    A group that fails is named in a ValueError when ``strict`` (the user named its layers);
    otherwise it is dropped from the arms and listed in ``arms.rejected`` with the reason.
    """
    single = {layer.name: "one channel: it can be neither removed nor checked against removal"
              for layer in arms.layers if layer.n_units < 2}
    if single:
        if strict:
            name = next(iter(single))
            raise ValueError(f"group {name!r}: {single[name]}; list it in ignored_layers")
        _drop(arms, single)
    chosen = [a for layer in arms.layers for a in _probe(layer)]
    if mismatch(model, arms, example_inputs, chosen) is None:
        return
    bad = {}
    for layer in arms.layers:   # name the group(s) at fault
        err = mismatch(model, arms, example_inputs, _probe(layer))
        if err is not None:
            bad[layer.name] = f"masking does not equal Torch-Pruning's removal on the example batch ({err})"
            if strict:
                raise ValueError(f"group {layer.name!r} (layers {layer.members}): {bad[layer.name]}; "
                                 "list it in ignored_layers")
    if not bad:
        raise ValueError("masking several groups together does not equal their removal by Torch-Pruning")
    _drop(arms, bad)


def _drop(arms, bad: dict) -> None:
    """Leave the groups of ``bad`` out of the arms, listed in ``arms.rejected`` with the reason."""
    arms.rejected.update(bad)
    kept, offset = [], 0
    for layer in arms.layers:
        if layer.name not in bad:
            layer.offset, offset = offset, offset + layer.n_units
            kept.append(layer)
    if not kept:
        raise ValueError(f"the model has no prunable layer: every group is inexact or too small ({bad})")
    arms.layers = kept


def _probe(layer) -> list[int]:
    """The channels checked: the first and the last, but never every channel (removal must not
    empty the group; one-channel groups were left out before)."""
    return sorted({layer.offset, layer.offset + layer.n_units - 1}) if layer.n_units > 2 else [layer.offset]


def mismatch(model, arms, example_inputs, arm_ids) -> str | None:
    with batch.eval_mode(model):
        with torch.no_grad(), Masker(model, arms) as masker:
            masker.set(arm_ids)
            masked = batch.call(model, example_inputs)
        pruned = copy.deepcopy(model)
        try:
            graph.remove(pruned, example_inputs, arms.per_group(arm_ids))
            with torch.no_grad():
                removed = batch.call(pruned.eval(), example_inputs)
        except (RuntimeError, ValueError) as exc:
            return f"the removed model fails: {type(exc).__name__}: {str(exc)[:200]}"
    if masked.shape != removed.shape:
        return f"output shapes {tuple(masked.shape)} vs {tuple(removed.shape)}"
    scale = max(1.0, float(masked.abs().max()))
    diff = float((masked - removed).abs().max())
    return None if diff <= 1e-5 * scale else f"largest difference {diff:.3g} at output scale {scale:.3g}"
