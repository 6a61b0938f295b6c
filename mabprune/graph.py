"""Pruning groups from Torch-Pruning's dependency graph, their readers, and physical removal.

A *group* is what Torch-Pruning removes together when one output channel of its root layer
is removed: the root's channel and every coupled channel (the other producers of a residual
stream, BatchNorms, depthwise convs, concatenation slices) and the input channels of every
layer that reads them. Its *readers* are the group items whose handler prunes the **input**
channels of an ``nn.Conv*``, ``nn.Linear`` or ``nn.LSTM``: removal means that no reader sees
the channel any more, so zeroing the channel at the input of every reader (and nowhere else)
gives the removed network's output exactly, whatever the producers, norms or activations in
between do. Items that would make this inexact (channel-mixing norms, attention, unwrapped
parameters, the model's output) make the group *inexact*, with the reason.

Attention: the hidden units of a transformer's MLP are channel groups like any other. Its
query/key/value projections form one more group (Torch-Pruning couples their channels
through the attention product), whose channels are split into heads: removing one channel
breaks the split, so these groups are rejected by default. With ``groups(..., heads=True)``
such a group of a Hugging Face style attention block (``query``/``key``/``value`` Linears and
an ``attention_head_size``) becomes a *head group*: unit ``h`` is every channel of head ``h``
in q, k and v, masked at the input of the output projection, which equals removing the head
(the other heads' attention is computed separately and unchanged). ``nn.MultiheadAttention``
(torchvision's ViT, ``nn.TransformerEncoderLayer``) has no removable heads in Torch-Pruning
1.6.0 and is reported as such.

Recurrent units: a group rooted at a one-layer ``nn.LSTM`` has one unit per hidden unit, across
its four gates (and both directions of a bidirectional LSTM, whose hidden size they share).
Removing unit ``j`` deletes its gate rows and its recurrent column, so the other units never
see it, and the input channels that carry it in every reader. The LSTM reads its own units,
so a reader pre-hook cannot mask them: :class:`mabprune.masks.Masker` closes the unit's output
gate instead (its ``h`` is then exactly 0 at every step, as if it were absent). Torch-Pruning
1.6.0's LSTM pruner removes the wrong rows and columns and maps a bidirectional LSTM's
output to half its channels, so :func:`remove` removes LSTM units itself
(:func:`remove_lstm_units`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch_pruning as tp
from torch import nn
from torch_pruning import ops

from . import inputs

ROOT_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.LSTM)
_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
# Items that follow a channel one to one (no mask needed, removal deletes the channel there).
_PASS = {ops.OPTYPE.BN, ops.OPTYPE.PRELU, ops.OPTYPE.DEPTHWISE_CONV, ops.OPTYPE.CONCAT, ops.OPTYPE.SPLIT,
         ops.OPTYPE.ELEMENTWISE, ops.OPTYPE.EMBED, ops.OPTYPE.RESHAPE, ops.OPTYPE.IN, ops.OPTYPE.UNBIND,
         ops.OPTYPE.EXPAND, ops.OPTYPE.SLICE}
_WHY = {ops.OPTYPE.LN: "LayerNorm normalises over the channels, so removing one changes the others",
        ops.OPTYPE.GN: "GroupNorm normalises over groups of channels, so removing one changes the others",
        ops.OPTYPE.MHA: "nn.MultiheadAttention reads these channels as its embed_dim, which every head "
                        "shares (Torch-Pruning removes embed_dim channels of all heads at once)",
        ops.OPTYPE.PARAMETER: "an unwrapped nn.Parameter reads or writes the channel outside any layer",
        ops.OPTYPE.OUTPUT: "the channel is part of the model's output",
        ops.OPTYPE.CUSTOMIZED: "a customised layer's handling of the channel is unknown"}


@dataclass
class Reader:
    """A layer that reads a group's channels: where the group's masks are applied.

    Attributes
    ----------
    name : str
        Module name.
    module : nn.Module
    channels : Tensor
        For each input channel of the reader (dim 1 of a conv's input, the last dim of a
        Linear's or LSTM's), the group unit it carries, or ``n_units`` when it carries none.
    dim : int
        The channel dim of the reader's input.
    batch_dim : int
        The sample dim of the reader's input (1 for a sequence-first LSTM).
    """

    name: str
    module: nn.Module
    channels: torch.Tensor
    dim: int
    batch_dim: int = 0


@dataclass
class Group:
    """One Torch-Pruning group: its root layer, size, readers and coupled layers."""

    name: str
    module: nn.Module
    n_units: int
    readers: list[Reader]
    members: list[str]
    reason: str | None = None   # why masking cannot equal removal; None when it does


# Torch-Pruning 1.6.0 prunes nn.MultiheadAttention's embed_dim (coupled to the residual stream,
# num_heads kept, head_dim = embed_dim // num_heads), never whole heads; and out_proj runs inside
# F.multi_head_attention_forward, so no hook can mask one head's output.
MHA_HEADS_REASON = ("heads of nn.MultiheadAttention are not arms: Torch-Pruning 1.6.0 can only shrink its "
                    "embed_dim (the same channels in every head, coupled to the residual stream), never remove "
                    "a head, and out_proj runs inside F.multi_head_attention_forward, where no hook can mask one "
                    "head's output")


def attention_heads(model: nn.Module) -> dict[nn.Module, tuple[str, int]]:
    """The query/key/value Linears of Hugging Face style attention blocks, with the block's
    name and head size (modules with ``query``, ``key``, ``value`` Linears and an integer
    ``attention_head_size``, e.g. ``BertSelfAttention``).

    Examples
    --------
    >>> from transformers import BertConfig, BertModel
    >>> bert = BertModel(BertConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
    ...                             intermediate_size=12, vocab_size=20))
    >>> sorted({v for v in attention_heads(bert).values()})
    [('encoder.layer.0.attention.self', 4)]
    """
    found = {}
    for name, module in model.named_modules():
        size = getattr(module, "attention_head_size", None)
        projections = [getattr(module, a, None) for a in ("query", "key", "value")]
        if isinstance(size, int) and size > 0 and all(isinstance(p, nn.Linear) for p in projections):
            for p in projections:
                found[p] = (name, size)
    return found


def build_graph(model: nn.Module, example_inputs) -> tp.DependencyGraph:
    """Torch-Pruning's dependency graph of ``model`` on ``example_inputs`` (eval mode)."""
    with inputs.eval_mode(model), torch.enable_grad():
        return tp.DependencyGraph().build_dependency(
            model, example_inputs=example_inputs, forward_fn=inputs.call, verbose=False)


def _out_fn(module: nn.Module):
    return tp.prune_linear_out_channels if isinstance(module, nn.Linear) else tp.prune_conv_out_channels


def _in_size(module: nn.Module) -> int:
    if isinstance(module, nn.Linear):
        return module.in_features
    if isinstance(module, nn.LSTM):
        return module.input_size
    return module.in_channels


def groups(model: nn.Module, graph: tp.DependencyGraph, ignored: list[nn.Module], *,
           heads: bool = False) -> list[Group]:
    """Every group rooted at a Conv/Linear not in ``ignored``, with its readers (or a reason).

    With ``heads=True`` the query/key/value group of an attention block found by
    :func:`attention_heads` is a head group (one unit per head, see the module docstring);
    otherwise it is rejected with the reason. Every ``nn.MultiheadAttention`` is listed as a
    rejected group (``MHA_HEADS_REASON``), so that ``find_arms(...).rejected`` says why its
    heads are not arms.
    """
    names = {m: n for n, m in model.named_modules()}
    by_name = dict(model.named_modules())
    attention = attention_heads(model)
    result = []
    for g in graph.get_all_groups(ignored_layers=list(ignored), root_module_types=ROOT_TYPES):
        root = g[0].dep.target.module
        n_units = len(g[0].idxs)
        readers, members, reason = [], [], _lstm_reason(root) if isinstance(root, nn.LSTM) else None
        for item in g.items:
            node, fn = item.dep.target, item.dep.handler
            module, kind = node.module, node.type
            name = names.get(module, str(node.name))
            is_out = graph.is_out_channel_pruning_fn(fn)
            if module is root:
                members.append(name)
                continue
            if kind in (ops.OPTYPE.CONV, ops.OPTYPE.LINEAR, ops.OPTYPE.LSTM) and not is_out:
                if kind == ops.OPTYPE.CONV and module.groups != 1:
                    reason = reason or f"{name!r} is a grouped convolution (groups={module.groups}) reading the channels"
                    continue
                if any(r is None for r in item.root_idxs):
                    reason = reason or f"{name!r} reads the channels through an index mapping without root channels"
                    continue
                channels = torch.full((_in_size(module),), n_units, dtype=torch.long)
                channels[torch.as_tensor(list(item.idxs), dtype=torch.long)] = torch.as_tensor(list(item.root_idxs))
                if isinstance(root, nn.LSTM) and root.bidirectional:
                    channels, why = _bidirectional_channels(root, channels, n_units)
                    reason = reason or (f"{name!r} {why}" if why else None)
                dim = 1 if kind == ops.OPTYPE.CONV else -1
                batch_dim = 1 if kind == ops.OPTYPE.LSTM and not module.batch_first else 0
                readers.append(Reader(name, module, channels.to(_device(module)), dim, batch_dim))
            elif kind in (ops.OPTYPE.CONV, ops.OPTYPE.LINEAR):
                members.append(name)
            elif kind == ops.OPTYPE.LSTM:
                reason = reason or f"{name!r} is an LSTM whose hidden units are coupled to the channels"
            elif kind in _PASS:
                if kind in (ops.OPTYPE.BN, ops.OPTYPE.DEPTHWISE_CONV, ops.OPTYPE.PRELU, ops.OPTYPE.EMBED, ops.OPTYPE.IN):
                    members.append(name)
                    if isinstance(root, nn.LSTM):   # remove_lstm_units removes the LSTM's and its readers' only
                        reason = reason or (f"{name!r} ({type(module).__name__}) follows the LSTM's units; only "
                                            "element-wise operations may stand between an LSTM and its readers")
            else:
                reason = reason or f"{name!r} ({type(module).__name__}): {_WHY.get(kind, f'unsupported item {kind.name}')}"
        if not readers and reason is None:
            reason = "no layer reads its channels (they reach the model's output)"
        group = Group(names[root], root, n_units, readers, members, reason)
        qkv = [by_name[n] for n in members if by_name.get(n) in attention]
        if qkv and reason is None:
            group = _head_group(group, qkv, attention, heads)
        result.append(group)
    for name, module in model.named_modules():
        if isinstance(module, nn.MultiheadAttention) and module not in ignored:
            result.append(Group(name, module, module.num_heads, [], [], MHA_HEADS_REASON))
    return result


def _lstm_reason(lstm: nn.LSTM) -> str | None:
    """Why the hidden units of ``lstm`` cannot be arms, or None."""
    if lstm.num_layers != 1:
        return (f"nn.LSTM with num_layers={lstm.num_layers}: only the last layer's units reach its output, "
                "and the inner layers' cannot be masked per row (use one nn.LSTM per layer)")
    if lstm.proj_size:
        return f"nn.LSTM with proj_size={lstm.proj_size}: its output channels are projections, not hidden units"
    return None


def _bidirectional_channels(lstm: nn.LSTM, channels: torch.Tensor, n_units: int) -> tuple[torch.Tensor, str | None]:
    """A reader's channel map for a bidirectional LSTM's output: unit ``j`` is channel ``j``
    (forward) and ``H + j`` (backward). Torch-Pruning maps only the first half."""
    size = len(channels)
    if size % (2 * n_units) or n_units != lstm.hidden_size:
        return channels, f"reads {size} channels of a bidirectional LSTM of {n_units} units, not a multiple of both halves"
    halves = channels.reshape(-1, 2, n_units)
    if not bool((halves[:, 0] == torch.arange(n_units)).all()) or not bool((halves[:, 1] == n_units).all()):
        return channels, "reads a bidirectional LSTM's output through an index mapping other than (forward, backward)"
    halves = halves.clone()
    halves[:, 1] = halves[:, 0]
    return halves.reshape(-1), None


def _head_group(group: Group, qkv: list[nn.Module], attention: dict, heads: bool) -> Group:
    """The q/k/v group as one unit per head (``heads``), or rejected with the reason."""
    block, size = attention[qkv[0]]
    if not heads:
        group.reason = (f"attention block {block!r}: its query/key/value channels are split into heads of "
                        f"{size} (attention_head_size), so one channel cannot be removed alone; its heads are "
                        "arms only with heads=True")
        return group
    if len(qkv) != 3 or {attention[m][0] for m in qkv} != {block} or group.n_units % size:
        group.reason = (f"attention block {block!r}: the group couples {len(qkv)} projections of "
                        f"{sorted({attention[m][0] for m in qkv})} over {group.n_units} channels, not one "
                        f"block's query/key/value split into heads of {size}")
        return group
    n_heads = group.n_units // size
    readers = [Reader(r.name, r.module, torch.where(r.channels < group.n_units, r.channels // size,
                                                    torch.full_like(r.channels, n_heads)), r.dim, r.batch_dim)
               for r in group.readers]
    return Group(group.name, group.module, n_heads, readers, group.members)


def _device(module: nn.Module) -> torch.device:
    p = next(module.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def remove(model: nn.Module, example_inputs, per_group: dict[str, list[int]]) -> None:
    """Remove these root channels of each named group, one Torch-Pruning call per group.

    The groups of one graph are disjoint in their root channels, so the original indices of
    every root stay valid while the others are pruned (Torch-Pruning updates its concat and
    flatten offsets between calls). For a group rooted at an attention block's query, key or
    value (:func:`attention_heads`) the indices are heads: every channel of each head goes in
    q, k, v and the output projection, and the block's ``num_attention_heads`` and
    ``all_head_size`` follow. Afterwards every module's attributes must match its weights'
    shapes; a mismatch raises.
    """
    modules = dict(model.named_modules())
    attention = attention_heads(model)
    graph = build_graph(model, example_inputs)
    recurrent = {name: idxs for name, idxs in per_group.items() if idxs and isinstance(modules[name], nn.LSTM)}
    if recurrent:   # their readers, found before anything changes
        lstm_groups = {g.name: g for g in groups(model, graph, []) if g.name in recurrent}
    for name, idxs in per_group.items():
        if not idxs or name in recurrent:
            continue
        module = modules[name]
        idxs = sorted(set(int(i) for i in idxs))
        n = module.out_features if isinstance(module, nn.Linear) else module.out_channels
        size, unit = (attention[module][1], "heads") if module in attention else (1, "channels")
        if len(idxs) >= n // size:
            raise ValueError(f"removing {len(idxs)} of the {n // size} {unit} of group {name!r} would empty it")
        idxs = [h * size + i for h in idxs for i in range(size)]   # a head is `size` consecutive channels
        graph.get_pruning_group(module, _out_fn(module), idxs=idxs).prune()
        if module in attention:
            block = modules[attention[module][0]]
            block.all_head_size = module.out_features
            if hasattr(block, "num_attention_heads"):
                block.num_attention_heads = module.out_features // size
    for name, idxs in recurrent.items():
        group = lstm_groups.get(name)
        if group is None or group.reason:
            raise ValueError(f"the units of LSTM {name!r} cannot be removed: "
                             f"{group.reason if group else 'Torch-Pruning finds no group for its output'}")
        remove_lstm_units(group, idxs)
    check_shapes(model)


def remove_lstm_units(group: Group, idxs) -> None:
    """Remove hidden units ``idxs`` of the one-layer ``nn.LSTM`` rooting ``group``: their rows in
    the four gates and their column of the recurrent weights (both directions), and the input
    channels that carry them in every reader of the group.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> class Net(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.lstm, self.out = nn.LSTM(3, 5, batch_first=True), nn.Linear(5, 2)
    ...     def forward(self, x):
    ...         return self.out(self.lstm(x)[0][:, -1])
    >>> net, x = Net(), torch.randn(2, 4, 3)
    >>> group = next(g for g in groups(net, build_graph(net, x), [net.out]) if g.name == "lstm")
    >>> remove_lstm_units(group, [1, 3])
    >>> net.lstm.hidden_size, tuple(net.lstm.weight_hh_l0.shape), net.out.in_features
    (3, (12, 3), 3)
    """
    lstm, hidden = group.module, group.module.hidden_size
    gone = sorted({int(i) for i in idxs})
    if not gone or gone[0] < 0 or gone[-1] >= hidden or len(gone) >= hidden:
        raise ValueError(f"cannot remove units {gone} of LSTM {group.name!r} with {hidden} hidden units")
    keep = torch.tensor([j for j in range(hidden) if j not in set(gone)], device=lstm.weight_hh_l0.device)
    rows = torch.cat([keep + k * hidden for k in range(4)])    # gates i, f, g, o
    with torch.no_grad():
        for suffix in ("_l0", "_l0_reverse")[: 2 if lstm.bidirectional else 1]:
            for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                p = getattr(lstm, kind + suffix, None)
                if p is None:
                    continue
                value = p.detach()[rows]
                if kind == "weight_hh":
                    value = value[:, keep]
                setattr(lstm, kind + suffix, nn.Parameter(value.clone(), requires_grad=p.requires_grad))
    lstm.hidden_size = len(keep)
    lost = torch.as_tensor(gone)
    for reader in group.readers:
        cols = torch.isin(reader.channels.cpu(), lost).nonzero().squeeze(1).tolist()
        if isinstance(reader.module, nn.Linear):
            tp.prune_linear_in_channels(reader.module, cols)
        elif isinstance(reader.module, nn.LSTM):
            _remove_lstm_inputs(reader.module, cols)
        else:
            tp.prune_conv_in_channels(reader.module, cols)


def _remove_lstm_inputs(lstm: nn.LSTM, cols: list[int]) -> None:
    """Remove input channels ``cols`` of a one-layer LSTM (both directions)."""
    keep = torch.tensor([c for c in range(lstm.input_size) if c not in set(cols)], device=lstm.weight_ih_l0.device)
    with torch.no_grad():
        for suffix in ("_l0", "_l0_reverse")[: 2 if lstm.bidirectional else 1]:
            p = getattr(lstm, "weight_ih" + suffix)
            setattr(lstm, "weight_ih" + suffix, nn.Parameter(p.detach()[:, keep].clone(), requires_grad=p.requires_grad))
    lstm.input_size = len(keep)


def check_shapes(model: nn.Module) -> None:
    """Raise if a module's channel attributes disagree with its weights (a corrupt removal)."""
    for name, m in model.named_modules():
        bad = None
        if isinstance(m, nn.Linear) and tuple(m.weight.shape) != (m.out_features, m.in_features):
            bad = f"out_features={m.out_features}, in_features={m.in_features}"
        elif isinstance(m, _CONV) and (m.weight.shape[0] != m.out_channels
                                       or m.weight.shape[1] * m.groups != m.in_channels):
            bad = f"out_channels={m.out_channels}, in_channels={m.in_channels}, groups={m.groups}"
        elif isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None \
                and len(m.running_mean) != m.num_features:
            bad = f"num_features={m.num_features}"
        elif isinstance(m, nn.LSTM) and (m.weight_hh_l0.shape != (4 * m.hidden_size, m.hidden_size)
                                         or m.weight_ih_l0.shape != (4 * m.hidden_size, m.input_size)):
            bad = f"hidden_size={m.hidden_size}, input_size={m.input_size}"
        if bad:
            raise RuntimeError(f"after removal, module {name!r} has {bad} but weights of shape "
                               f"{tuple(m.weight.shape) if hasattr(m, 'weight') else None}")
