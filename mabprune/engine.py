"""Engines that pull arms: measure ΔL = L(masked) − L(unmasked) on one mini-batch.

Two engines give the same numbers (a test holds them to 1e-5):

``naive``
    The method's literal loop, kept as the reference: for each arm, mask it with a multiply,
    run the full forward pass, restore it.
``batched`` (default)
    Evaluates many arms of one layer in one pass. The activations up to the masked layer are
    computed once; the masked variants are folded into the batch dimension for the layers
    downstream. When the next layer is an ``nn.Linear`` reading the masked tensor, its output
    for a masked variant is the rank-1 update ``z' = z − h_j W[:, j]`` of the unmasked output,
    so that layer's matrix product is not repeated; a conv consumer adds one single-channel
    convolution per arm, and a Linear read through ``Flatten`` adds the product of the
    channel's block of ``H·W`` columns. The layers before the groups run once per pull, and
    the variants' remaining layers run through :func:`mabprune.fastpaths.run_chain` (2×2
    max-pooling as elementwise maxima, ReLUs in place). A sample whose unit already outputs the
    fill value (zero after a ReLU) has ΔL exactly 0 and is skipped. These fast paths run only
    where :func:`mabprune.arms.find_arms` proved the model a plain chain of leaf modules (an
    ``nn.Sequential``, or a forward that composes its leaves exactly, e.g. the embedding-bag
    text model: each module called once, each reading the previous output, every group's single
    reader right after its per-unit modules); in-place modules downstream get a copy. An arm two
    layers before a narrow output (``ReLU → Linear``) gets every arm's logits from one matrix
    product per sample plus exact sign-flip corrections (:mod:`mabprune.fastpaths`). Any other graph takes
    the general path, exact for every graph: the batch is replicated for K arms and per-row
    masks are applied through the same reader pre-hooks as the naive engine, one forward per
    K arms. What that forward computes before the first reader of the pulled groups cannot see
    a mask: it runs once per pull, in the unmasked pass, and the replicated passes replay it
    (:mod:`mabprune.reuse`): the values the readers need are served from that pass, repeated K
    times, what nothing after the readers needs is skipped (an LSTM under a dense layer of arms
    runs once per pull, not once per K arms), and anything not proven runs as before.

Both run in eval mode (no dropout, BatchNorm running statistics) under ``torch.no_grad``.
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from . import fastpaths, inputs, reuse
from .arms import ArmSet, PrunableLayer
from .fastpaths import bn_scale
from .masks import Masker

ENGINES = ("batched", "naive")
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def make_loss(loss_fn="cross_entropy") -> LossFn:
    """A per-sample loss function: ``(outputs, targets) -> Tensor of shape (batch,)``.

    Parameters
    ----------
    loss_fn : {"cross_entropy", "mse"}, a torch.nn loss module, or callable
        A name; a ``torch.nn`` loss module with a ``reduction`` attribute (``nn.CrossEntropyLoss()``,
        ``nn.MSELoss()``, ...), used with ``reduction="none"`` and averaged over any
        non-sample dims; or a callable that already returns one loss per sample.

    Examples
    --------
    >>> import torch
    >>> make_loss("mse")(torch.tensor([[1.0], [3.0]]), torch.tensor([0.0, 1.0]))
    tensor([1., 4.])
    >>> make_loss(torch.nn.MSELoss())(torch.tensor([[1.0], [3.0]]), torch.tensor([[0.0], [1.0]]))
    tensor([1., 4.])
    """
    if isinstance(loss_fn, nn.Module):
        if not hasattr(loss_fn, "reduction"):
            raise ValueError(f"loss_fn {type(loss_fn).__name__} has no 'reduction' attribute: pass a torch.nn loss "
                             "or a callable returning per-sample losses")
        module = copy.copy(loss_fn)
        module.reduction = "none"

        def per_sample(out, y):
            if y.is_floating_point() and y.shape != out.shape and y.numel() == out.numel():
                y = y.reshape(out.shape)   # (n,) targets of an (n, 1) output: no broadcasting
            values = module(out, y)
            return values.reshape(len(values), -1).mean(1) if values.dim() > 1 else values
        per_sample.module = loss_fn
        return per_sample
    if callable(loss_fn):
        return loss_fn
    if loss_fn == "cross_entropy":
        return _cross_entropy
    if loss_fn == "mse":
        return lambda out, y: ((out.reshape(len(out), -1) - y.reshape(len(y), -1).to(out.dtype)) ** 2).mean(1)
    raise ValueError(f"unknown loss_fn {loss_fn!r}: use 'cross_entropy', 'mse', a torch.nn loss module or a callable "
                     "returning per-sample losses")


def _cross_entropy(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample cross-entropy; for class labels on (N, C) outputs as logsumexp − logit, which
    is the same value as ``F.cross_entropy`` and several times faster on a CPU for few classes."""
    if out.dim() == 2 and not y.is_floating_point() and y.dim() == 1 and len(y) and int(y.min()) >= 0:
        return torch.logsumexp(out, 1) - out.gather(1, y.unsqueeze(1)).squeeze(1)
    return F.cross_entropy(out, y, reduction="none")   # probabilities, ignore_index, (N, C, d...) outputs


@contextlib.contextmanager
def _EvalMode(model: nn.Module):
    """Eval mode and no_grad for the duration of a pull; restores the training flag."""
    with inputs.eval_mode(model), torch.no_grad():
        yield


class Engine:
    """Shared set-up of both engines.

    Parameters
    ----------
    model : nn.Module
        The network; it is not copied or modified (hooks are removed after each pull).
    arms : ArmSet
        Its arms, from :func:`mabprune.arms.find_arms`.
    loss_fn : str or callable
        See :func:`make_loss`.
    fill : dict, optional
        Per-layer replacement values of a masked unit (mean-replacement); zeros by default.
    """

    name = "base"

    def __init__(self, model: nn.Module, arms: ArmSet, *, loss_fn: str | LossFn = "cross_entropy",
                 fill: dict[str, torch.Tensor] | None = None):
        self.model, self.arms = model, arms
        self.loss = make_loss(loss_fn)
        self.fill = fill or {}

    def _check_loss(self, losses: torch.Tensor, n: int) -> torch.Tensor:
        if losses.shape != (n,):
            raise ValueError(f"loss_fn must return one loss per sample (shape ({n},)), got shape {tuple(losses.shape)}")
        return losses

    def base_losses(self, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-sample loss of the unmasked model."""
        with _EvalMode(self.model):
            return self._check_loss(self.loss(inputs.call(self.model, X), y), inputs.length(X))

    def pull(self, arm_ids, X: torch.Tensor, y: torch.Tensor) -> np.ndarray:
        """ΔL of each arm on the batch ``(X, y)``, in the order given (float64 array)."""
        raise NotImplementedError


class NaiveEngine(Engine):
    """The literal loop: mask one arm, run the full forward pass, restore it."""

    name = "naive"

    def pull(self, arm_ids, X, y):
        arm_ids = np.asarray(arm_ids, dtype=np.int64)
        base = self.base_losses(X, y)
        out = np.empty(len(arm_ids))
        with _EvalMode(self.model), Masker(self.model, self.arms, fill=self.fill) as masker:
            for i, arm in enumerate(arm_ids):
                masker.set([arm])
                out[i] = (self.loss(inputs.call(self.model, X), y) - base).mean().item()
            masker.reset()
        return out


class BatchedEngine(Engine):
    """Many arms per forward pass (see the module docstring).

    Parameters
    ----------
    max_rows : int, optional
        Upper bound on the masked-variant rows (sample, arm) pushed through the downstream
        layers at once; skipped samples do not count. By default it is set per layer so that a
        chunk's tensor at the hook point holds about 2**21 elements on a CPU (8 MB in float32:
        2,048 rows of a 1,024-wide layer, the best of 256–8,192 rows in ``benchmarks/``) and
        2**26 on CUDA.
    reuse : bool, default=True
        In the general path, compute what runs before the first reader of the pulled groups
        once per pull and replay it for every chunk of arms (:mod:`mabprune.reuse`); False
        recomputes all of it for every chunk (the path before issue 17, for comparisons).
    """

    name = "batched"

    def __init__(self, model, arms, *, loss_fn="cross_entropy", fill=None, max_rows: int | None = None,
                 reuse: bool = True):
        super().__init__(model, arms, loss_fn=loss_fn, fill=fill)
        if max_rows is not None and max_rows < 1:
            raise ValueError(f"max_rows must be a positive integer, got {max_rows!r}")
        self.max_rows = max_rows
        self.reuse = reuse
        self._fell_back: set[str] = set()   # groups already reported as pulled by the naive loop
        self._plans: dict = {}   # reuse plans per input signature (see mabprune.reuse.plan)

    def pull(self, arm_ids, X, y):
        """ΔL of each arm on ``(X, y)``: the one dispatch to the engine's five paths.

        1. general (:meth:`_pull_general`): any graph that is not a proven plain chain of leaf
           modules, or inputs that are a tuple or dict; per-row masks through the readers' hooks
           on K copies of the batch. With ``reuse`` (the default), what runs before the first
           reader of the pulled groups runs once per pull and is served or skipped in the
           copies (:mod:`mabprune.reuse`), for any graph the probe can prove; else all of it
           runs once per chunk of K arms;
        2. head (:meth:`_pull_head`): a chain group two layers before a narrow output
           (``ReLU → Linear``), every arm's logits from one product plus sign-flip corrections;
        3. rank one (:meth:`_pull_sliced`, a Linear or conv consumer right after the mask point):
           the consumer's output updated per arm, ``z − h_j W[:, j]``;
        4. Flatten → Linear (:meth:`_pull_sliced`, :func:`mabprune.fastpaths.flatten_linear`):
           a conv channel read through ``Flatten`` adds its block of ``H·W`` columns;
        5. sliced (:meth:`_pull_sliced`, any other chain group): the masked tensor itself, one
           variant row per (sample, arm) whose unit is not already the fill value.

        Paths 2–5 run the layers before each group once per pull (a prefix cache); path 1 does
        the same through the reuse plan.
        """
        arm_ids = np.asarray(arm_ids, dtype=np.int64)
        out = np.empty(len(arm_ids))
        cuda = inputs.tensors(X)[0].is_cuda
        budget = 2 ** 26 if cuda else 2 ** 21
        layer_index, units = self.arms.locate(arm_ids)
        with _EvalMode(self.model):
            if not (self.arms.chain and isinstance(X, torch.Tensor)):
                return self._pull_general_or_naive(arm_ids, X, y, budget, layer_index)
            prefix = _Prefix(self.arms.chain_modules, X)    # groups in call order: each prefix extends the last
            for li in np.unique(layer_index):
                where = np.flatnonzero(layer_index == li)
                layer = self.arms.layers[li]
                max_rows = self.max_rows or max(1, budget // self._row_size(layer))
                try:
                    out[where] = self._pull_sliced(layer, units[where], y, max_rows, prefix,
                                                   *_sequential_split(self.arms, layer))
                except (IndexError, RuntimeError) as error:
                    out[where] = self._fallback(arm_ids[where], X, y, layer_index[where], error)
        return out

    def _pull_general_or_naive(self, arm_ids, X, y, budget, layer_index) -> np.ndarray:
        """The general path, group by group once one has failed: a group it cannot pull (an
        IndexError: an indexing limit of the engine, e.g. per-row masks that do not line up
        with an LSTM's batch) is pulled by the naive loop, the others stay batched. A
        RuntimeError is the model's own (e.g. on the K-times larger batch) and is raised."""
        slow = np.isin(layer_index, [i for i, layer in enumerate(self.arms.layers) if layer.name in self._fell_back])
        out = np.empty(len(arm_ids))
        if slow.any():
            out[slow] = NaiveEngine(self.model, self.arms, loss_fn=self.loss, fill=self.fill).pull(arm_ids[slow], X, y)
        fast = np.flatnonzero(~slow)
        if not len(fast):
            return out
        try:
            out[fast] = self._pull_general(arm_ids[fast], X, y, budget)
        except IndexError:
            for li in np.unique(layer_index[fast]):
                where = fast[layer_index[fast] == li]
                try:
                    out[where] = self._pull_general(arm_ids[where], X, y, budget)
                except IndexError as group_error:
                    out[where] = self._fallback(arm_ids[where], X, y, layer_index[where], group_error)
        return out

    def _fallback(self, arm_ids, X, y, layer_index, error: Exception) -> np.ndarray:
        """The exact naive loop for arms a fast path failed on, saying so once per group.

        A failure of the model itself fails again here and is raised from the naive loop."""
        names = [self.arms.layers[li].name for li in np.unique(layer_index)]
        new = [n for n in names if n not in self._fell_back]
        if new:
            self._fell_back.update(new)
            warnings.warn(f"the batched engine cannot pull the arms of group(s) {new} ({type(error).__name__}: "
                          f"{error}); they are pulled with the exact naive engine (slower, same values)",
                          RuntimeWarning, stacklevel=3)
        return NaiveEngine(self.model, self.arms, loss_fn=self.loss, fill=self.fill).pull(arm_ids, X, y)

    def _pull_general(self, arm_ids, X, y, budget) -> np.ndarray:
        """Any graph: K copies of the batch, copy k masking arm k through the reader pre-hooks.

        What runs before the first reader of the pulled groups is computed once, in the
        unmasked pass, and replayed for every chunk (:mod:`mabprune.reuse`): the values the
        readers need are served from it, what nothing needs is skipped.
        """
        B = inputs.length(X)
        rows = self.max_rows or max(1, 8 * budget // self.arms.sample_size)
        k = max(1, rows // B)
        readers = self._readers(arm_ids)
        out = np.empty(len(arm_ids))
        with Masker(self.model, self.arms, fill=self.fill) as masker:
            # the unmasked pass: every mask is one, so its losses are the model's own
            schedule = self._schedule(X, readers)
            with reuse.Recording(schedule, readers, B) if schedule else contextlib.nullcontext() as recording:
                outputs = inputs.call(self.model, X)
            base = self._check_loss(self.loss(outputs, y), B)
            replay = reuse.Replay(recording) if schedule and recording.ok else None
            for start in range(0, len(arm_ids), k):
                chunk = arm_ids[start:start + k]
                masker.set_rows(chunk, B)
                outputs = None
                if replay is not None:
                    try:
                        x_rep = replay.copies(len(chunk), X)
                        with replay:
                            outputs = inputs.call(self.model, x_rep)
                            replay.check(outputs)
                    except (reuse.Diverged, RuntimeError, ValueError, TypeError, IndexError):
                        # not the recorded forward (or it failed): this chunk and the rest of the pull
                        # run the old way, which raises again if the model itself fails
                        outputs, replay = None, None
                        self._plans[reuse.signature(X)] = None
                if outputs is None:
                    outputs = inputs.call(self.model, inputs.repeat(X, len(chunk)))
                ys = y.repeat(len(chunk), *([1] * (y.dim() - 1)))
                losses = self._check_loss(self.loss(outputs, ys), B * len(chunk)).reshape(len(chunk), B)
                out[start:start + len(chunk)] = (losses - base).double().mean(1).cpu().numpy()
        return out

    def _readers(self, arm_ids: np.ndarray) -> list[nn.Module]:
        """The reader modules of every group with an arm among ``arm_ids``."""
        layer_index, _ = self.arms.locate(arm_ids)
        return [m for li in np.unique(layer_index) for m in self.arms.layers[li].frontier]

    def _schedule(self, X, readers: list[nn.Module]) -> reuse.Schedule | None:
        """What this pull serves, skips and runs before ``readers`` (None: nothing reused).

        The plan is probed once per input signature, inside the masker (its hooks are part of
        the traced forward)."""
        if not self.reuse or not readers:
            return None
        key = reuse.signature(X)
        if key not in self._plans:
            every = [m for layer in self.arms.layers for m in layer.frontier]
            self._plans[key] = reuse.plan(self.model, X, every)
        plan = self._plans[key]
        return plan.schedule(readers) if plan is not None else None

    def _variants(self, layer: PrunableLayer, h: torch.Tensor, cols):
        """Rows (sample, arm) whose masked value differs from ``h``, and the change there."""
        fill = self._chain_fill(layer)
        hu = h[:, cols]                                                  # (B, K, ...)
        delta = -hu if fill is None else fill[cols].unsqueeze(0) - hu    # masked minus unmasked
        B, K = delta.shape[:2]
        flat = delta.reshape(B * K, -1)
        b_idx, k_idx = flat.ne(0).any(-1).view(B, K).nonzero(as_tuple=True)
        return b_idx, k_idx, flat.index_select(0, b_idx * K + k_idx).view(-1, *delta.shape[2:])

    def _apply(self, layer: PrunableLayer, h, z, units_t, b_idx, k_idx, dh, weight_t):
        """The masked variants' tensor at the hook point (consumer output or mask point)."""
        if layer.rank_one and weight_t is not None:
            # z' = z + (masked − unmasked)_j · W[:, j]: the consumer's output of each variant.
            return torch.addcmul(z.index_select(0, b_idx), dh.unsqueeze(1), weight_t.index_select(0, units_t[k_idx]))
        if layer.rank_one:
            # A conv is linear too: its output changes by the change of channel j convolved
            # with the filters' slice for input channel j (one small conv per arm).
            # Rows come grouped by arm (see _pull_sliced), so each run is a slice.
            conv = self.arms.modules[layer.consumer]
            z_var = z.index_select(0, b_idx)
            ks, runs = torch.unique_consecutive(k_idx, return_counts=True)
            start = 0
            for k, n in zip(ks.tolist(), runs.tolist()):
                j = int(units_t[k])
                z_var[start:start + n] += F.conv2d(dh[start:start + n].unsqueeze(1), conv.weight[:, j:j + 1], None,
                                                   conv.stride, conv.padding, conv.dilation)
                start += n
            return z_var
        h_var = h[b_idx].clone()
        h_var[torch.arange(len(b_idx), device=h.device), units_t[k_idx]] += dh
        return h_var

    def _chain_fill(self, layer: PrunableLayer):
        """Mean-replacement value at the mask point (the reader's input, before any flatten)."""
        per_reader = self.fill.get(layer.name)
        return None if not per_reader else per_reader[layer.consumer].reshape(layer.mask_shape)

    def _row_size(self, layer: PrunableLayer) -> int:
        """Elements per variant row at the hook point (the widest tensor a chunk builds)."""
        consumer = self.arms.modules.get(layer.consumer) if layer.consumer else None
        size = int(np.prod(layer.mask_shape))
        if layer.rank_one and isinstance(consumer, nn.Linear):
            return consumer.out_features   # a variant row is the consumer's output (its change is a scalar times W[:, j])
        if layer.rank_one:  # a conv consumer: its output per sample
            return max(size, size // layer.n_units * consumer.out_channels)
        return size

    def _weight_t(self, layer: PrunableLayer):
        # W[:, j] as contiguous rows, so gathering one per variant reads memory in order.
        consumer = self.arms.modules[layer.consumer] if layer.consumer else None
        return consumer.weight.t().contiguous() if layer.rank_one and isinstance(consumer, nn.Linear) else None

    def _pull_sliced(self, layer, units, y, max_rows, prefix, end, hook_module, downstream):
        """Sequential models: the prefix runs once, each chunk runs only the layers after it."""
        h = prefix.upto(end)
        units_t = torch.as_tensor(units, device=h.device)
        z = prefix.upto(end + 1) if layer.rank_one else None   # the consumer's output (hook_module(h))
        # downstream may start with an in-place module (nn.ReLU(inplace=True)): give it a copy
        logits = fastpaths.run_chain(downstream, (z if layer.rank_one else h).clone())
        base = self._check_loss(self.loss(logits, y), len(h))
        head = fastpaths.relu_linear_head(downstream, hook_module) if layer.rank_one else None
        if head is not None:
            return self._pull_head(layer, units, h, z, y, base, head, logits)
        b_all, k_all, d_all = self._variants(layer, h, _columns(units, h.device))
        weight_t = self._weight_t(layer)
        consumer = self.arms.modules.get(layer.consumer) if layer.consumer else None
        flat = None if layer.rank_one else fastpaths.flatten_linear(downstream, consumer, layer.mask_shape)
        if flat is not None:
            # Flatten → Linear: a variant's Linear output is z + W[:, block_j] Δ (one block of
            # H·W columns per channel), so the Linear is not rerun on whole rows
            z, downstream = consumer(h.flatten(1)), downstream[flat + 1:]
            if self.max_rows is None:   # a row is now the Linear's output, not the masked tensor
                max_rows = max(1, max_rows * int(np.prod(layer.mask_shape)) // consumer.out_features)
        if (layer.rank_one and weight_t is None) or flat is not None:   # one product per arm: rows grouped by arm
            perm = torch.argsort(k_all, stable=True)
            b_all, k_all, d_all = b_all[perm], k_all[perm], d_all.index_select(0, perm)
        delta_l = torch.zeros(len(units), dtype=torch.float64, device=h.device)
        # Chunks of at most max_rows variant rows (ordered by sample, then arm; by arm for a product per arm).
        for start in range(0, len(b_all), max_rows):
            b_idx, k_idx, dh = b_all[start:start + max_rows], k_all[start:start + max_rows], d_all[start:start + max_rows]
            if flat is not None:
                variants = fastpaths.add_channel_blocks(z.index_select(0, b_idx), dh, consumer.weight, units_t, k_idx)
            else:
                variants = self._apply(layer, h, z, units_t, b_idx, k_idx, dh, weight_t)
            out = fastpaths.run_chain(downstream, variants)
            losses = self._check_loss(self.loss(out, y[b_idx]), len(b_idx))
            delta_l.index_add_(0, k_idx, (losses - base[b_idx]).double())
        return (delta_l / len(h)).cpu().numpy()

    def _pull_head(self, layer, units, h, z, y, base, head, logits):
        """Two layers before the output: every arm's logits from ``W₃ D_b W₂`` plus the sign flips
        (:func:`mabprune.fastpaths.head_logits`), no tensor per variant."""
        fill = self._chain_fill(layer)
        cols = _columns(units, h.device)
        hu = h[:, cols]
        delta = (-hu if fill is None else fill[cols].unsqueeze(0) - hu).contiguous()
        bn, head = head
        w2 = self.arms.modules[layer.consumer].weight[:, cols]
        if bn is not None:   # BN(z + Δz) = BN(z) + s·Δz: fold the BatchNorm into W₂
            z, w2 = bn(z), bn_scale(bn).unsqueeze(1) * w2
        out = fastpaths.head_logits(z, delta, w2, head, logits)          # (B, O, J)
        b_idx, k_idx = torch.nonzero(delta != 0, as_tuple=True)        # other samples: ΔL exactly 0
        delta_l = torch.zeros(len(units), dtype=torch.float64, device=h.device)
        if len(b_idx):
            rows = out.transpose(1, 2).reshape(-1, out.shape[1]).index_select(0, b_idx * out.shape[2] + k_idx)
            losses = self._check_loss(self.loss(rows, y[b_idx]), len(b_idx))
            delta_l.index_add_(0, k_idx, (losses - base[b_idx]).double())
        return (delta_l / len(h)).cpu().numpy()


def _sequential_split(arms: ArmSet, layer: PrunableLayer):
    """``(end, hook_module, downstream)`` of a proven plain chain (see ``arms._chain_layout``):
    the prefix is ``seq[:end]``."""
    seq, names = arms.chain_modules, arms.chain_names
    i = names.index(layer.consumer if layer.rank_one else layer.mask_point)
    if layer.rank_one:
        return i, seq[i], seq[i + 1:]
    return i + 1, None, seq[i + 1:]


def _columns(units: np.ndarray, device):
    """A run of consecutive units (a whole layer's sweep) as a slice (views, no gathers), else an index."""
    if len(units) and np.all(np.diff(units) == 1):
        return slice(int(units[0]), int(units[-1]) + 1)
    return torch.as_tensor(units, device=device)


class _Prefix:
    """``seq[:i](X)`` for increasing ``i``, each from the last one: the layers before a group
    run once per pull, not once per group."""

    def __init__(self, seq: nn.Sequential, X: torch.Tensor):
        self.seq, self.X, self.pos, self.value = seq, X, 0, X

    def upto(self, i: int) -> torch.Tensor:
        if i < self.pos:
            self.pos, self.value = 0, self.X
        if i > self.pos:
            # a copy: the next module may be in place (nn.ReLU(inplace=True)), and the caller keeps its tensor
            x = self.value if self.pos == 0 else self.value.clone()
            self.value, self.pos = fastpaths.run_chain(self.seq[self.pos:i], x, fresh=self.pos > 0), i
        return self.value


def make_engine(name: str, model: nn.Module, arms: ArmSet, **kwargs) -> Engine:
    """An engine by name: ``"batched"`` (default elsewhere) or ``"naive"``.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from mabprune.arms import find_arms
    >>> torch.manual_seed(0) and None
    >>> model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
    >>> X, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    >>> arms = find_arms(model, X[:2])
    >>> fast = make_engine("batched", model, arms).pull(range(16), X, y)
    >>> slow = make_engine("naive", model, arms).pull(range(16), X, y)
    >>> bool(abs(fast - slow).max() < 1e-5)
    True
    """
    if name == "naive":
        kwargs.pop("max_rows", None)
        kwargs.pop("reuse", None)
        return NaiveEngine(model, arms, **kwargs)
    if name == "batched":
        return BatchedEngine(model, arms, **kwargs)
    raise ValueError(f"unknown engine {name!r}: use one of {ENGINES}")
