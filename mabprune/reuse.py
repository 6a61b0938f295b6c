"""What no mask can change, computed once per pull: the general path's reuse of activations.

The batched engine's general path (:meth:`mabprune.engine.BatchedEngine._pull_general`)
replicates the mini-batch K times and masks arm k in copy k at the readers' pre-hooks. Nothing
that runs before the first reader of a pulled group (the *frontier*) can see a mask, so in
every copy it computes what the unmasked pass computed. This module records the tensor
operations of a forward (a :class:`~torch.overrides.TorchFunctionMode`), and replays the
replicated passes with every operation before the frontier either

- **served**: its output is the unmasked pass's, repeated K times along its batch dim (the
  values the frontier needs: for head arms of an LSTM classifier, the dense layer's
  activations after its ReLU);
- **skipped** (*dead*): nothing after the frontier reads it, directly or through another
  operation, so it returns a zero-stride tensor of the right shape without computing (the
  embedding, the LSTM, the pooling under those activations);
- or **run** as before (sizes, values turned into Python numbers, anything not proven).

A plan (:func:`plan`) is proven on two probe forwards of 2 and 3 samples, inside the masker
so that its hooks are part of the traced forward. Each operation's inputs are traced to the
operations that made them and to every earlier in-place write to their storage (a view
shares its base's storage), so a value is dead only if no later reader, write or Python
value depends on it. The probes must agree operation for operation; the one dim of an output
that follows the batch (2, then 3) is its batch dim, and the recording on the real batch
checks it again. The plan is refused (the pull takes the old path) when the forward writes
to its parameters or buffers, changes a tensor outside the traced operations, or reads a
tensor that no traced operation made and that is not the same object in both probes (a
scripted function or ``torch.from_numpy``: a producer the tape cannot see).

What the tape cannot see is a C++ extension function (pybind11) that reads a tensor's values
without a torch operation and returns no tensor; every torch route to the values (``item``,
``tolist``, ``numpy``, ``__array__``, ``data_ptr``, ``__dlpack__``, ``torch.ops``) is traced and
runs on real values.

Each replayed pass is checked as it runs: the same operation at each step until the frontier,
which must come at the same step; no run operation, nothing after the frontier and not the
output may receive a skipped tensor; a run operation must alias its inputs as recorded. A
pass that fails raises :class:`Diverged`, and the engine recomputes that chunk, and the rest
of the pull, the old way. Served outputs are copies of contiguous tensors, so their layout is
the one the probe saw.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from . import inputs

PROBE_SIZES = (2, 3)   # two batch sizes: the one dim of an output whose size follows them is its batch dim
CONST = -1             # an output whose shape does not depend on the batch size
RUN, META, SERVE, SKIP = "run", "meta", "serve", "skip"
# Operations that read only a tensor's metadata, which a skipped (zero-stride) tensor has right.
_META_CALLS = frozenset({"size", "dim", "ndimension", "numel", "nelement", "__len__", "element_size",
                         "is_floating_point", "is_complex", "get_device"})
_META_PROPERTIES = frozenset({"shape", "dtype", "device", "ndim", "is_cuda", "layout", "requires_grad",
                              "is_sparse", "is_quantized", "is_meta"})
_NONE, _VALUE, _OLD = ("none",), ("value",), ("old",)   # output leaves that are not a new tensor


class Diverged(Exception):
    """A replayed forward left the recorded sequence of operations; the chunk is recomputed."""


# ------------------------------------------------------------------ values as leaves

def flatten(value) -> tuple[list, object]:
    """``(leaves, spec)`` of nested tuples and lists (``torch.return_types`` included).

    Examples
    --------
    >>> import torch
    >>> leaves, spec = flatten((torch.zeros(2), [1, None]))
    >>> len(leaves), unflatten(spec, leaves)[1]
    (3, [1, None])
    """
    if isinstance(value, (tuple, list)) and (type(value) in (tuple, list)
                                             or type(value).__module__ == "torch.return_types"):
        leaves, specs = [], []
        for item in value:
            inner, s = flatten(item)
            leaves += inner
            specs.append(s)
        return leaves, (type(value), tuple(specs))
    return [value], None


def unflatten(spec, leaves: list):
    """The value :func:`flatten` took apart, with these leaves."""
    it = iter(leaves)

    def build(s):
        return next(it) if s is None else s[0]([build(part) for part in s[1]])
    return build(spec)


def _tensors(value) -> list[torch.Tensor]:
    """Every tensor in nested tuples, lists and dicts, in order."""
    if isinstance(value, torch.Tensor):
        return [value]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, (tuple, list)) else ()
    return [t for item in items for t in _tensors(item)]


def _version(t: torch.Tensor) -> int | None:
    """The in-place version counter; None where it is not kept (inference tensors): nothing provable."""
    try:
        return t._version
    except RuntimeError:
        return None


def _storage(t: torch.Tensor) -> int | None:
    """Address of the tensor's storage (views share it); None where there is none (sparse, ...)."""
    try:
        return t.untyped_storage().data_ptr()
    except (RuntimeError, NotImplementedError, TypeError):
        return None


def _same_aliasing(leaves: list, kinds: tuple, ins: list[torch.Tensor]) -> bool:
    """Output leaves that are inputs, new tensors, values or None where the trace had them."""
    if len(leaves) != len(kinds):
        return False
    ids = {id(t) for t in ins}
    for leaf, k in zip(leaves, kinds):
        if k[0] == "arg":
            ok = leaf is ins[k[1]]
        elif k[0] == "new":
            ok = type(leaf) is torch.Tensor and id(leaf) not in ids
        else:
            ok = (leaf is None) == (k == _NONE)
        if not ok:
            return False
    return True


def signature(x) -> tuple:
    """What a plan depends on in the inputs: their structure, per-sample shapes, dtypes and devices.

    Examples
    --------
    >>> import torch
    >>> signature(torch.zeros(5, 3)) == signature(torch.ones(8, 3)), signature({"a": torch.zeros(2, 1)})
    (True, ('dict', ('a', ('tensor', (1,), torch.float32, device(type='cpu')))))
    """
    def one(v):
        return ("tensor", tuple(v.shape[1:]), v.dtype, v.device) if isinstance(v, torch.Tensor) else ("value", repr(v))
    if isinstance(x, dict):
        return ("dict",) + tuple((k, one(v)) for k, v in x.items())
    if isinstance(x, (tuple, list)):
        return ("tuple",) + tuple(one(v) for v in x)
    return (one(x),)


def _is_meta(func) -> bool:
    name = getattr(func, "__name__", "")
    if name == "__get__":   # a property of Tensor: the method-wrapper of its descriptor
        return getattr(getattr(func, "__self__", None), "__name__", "") in _META_PROPERTIES
    return name in _META_CALLS


# ------------------------------------------------------------------ one traced forward

@dataclass(frozen=True)
class Op:
    """One tensor operation of a traced forward: what it read and made, never the values."""

    func: object
    n_in: int                     # tensors among its arguments
    reads: frozenset[int]         # operations it depends on: makers of its inputs, earlier writes to their storage
    x_reads: frozenset[int]       # the model's input tensors it reads
    spec: object                  # nesting of its output (see flatten)
    kinds: tuple                  # per output leaf: _NONE, _VALUE, _OLD, ("arg", k) or ("new", dtype, device)
    writes: bool                  # it changed an input in place
    fresh: bool                   # its new tensors have storage of their own (no view of anything seen)
    meta: bool                    # it reads metadata only


class _Trace(TorchFunctionMode):
    """Records every tensor operation of one forward (see :class:`Op`), the operation count at
    the first start of each reader, and what the prediction depends on."""

    def __init__(self, x_leaves: list[torch.Tensor], readers: Iterable[nn.Module]):
        super().__init__()
        self.ops: list[Op] = []
        self.shapes: list[tuple] = []           # per op, per leaf: shape of a new tensor, else None
        self.contiguous: list[bool] = []        # per op: its new tensors are contiguous
        self.maker: dict[int, int] = {}         # id(tensor) -> index of the operation that made it
        self.x_index = {id(t): k for k, t in enumerate(x_leaves)}
        self.writers: dict[int | None, list[int]] = {}
        self.version: dict[int, int | None] = {}
        self.on_storage: dict[int | None, list[torch.Tensor]] = {}   # views share their base's version counter
        self.external: dict[int, torch.Tensor] = {}   # read, made by no traced operation (parameters, masks, ...)
        self.storages = {_storage(t) for t in x_leaves}
        self.keep: list = list(x_leaves)        # every tensor seen stays alive, so that ids stay unique
        self.valid = True
        self.starts: dict[int, int] = {}
        self.final: tuple[frozenset, frozenset] = (frozenset(), frozenset())
        self._readers = {id(r): r for r in readers}
        self._handles: list = []

    def __enter__(self):
        for r in self._readers.values():   # before the masker's hook: its operations come after the start
            self._handles.append(r.register_forward_pre_hook(self._start, prepend=True))
        return super().__enter__()

    def __exit__(self, *exc):
        for h in self._handles:
            h.remove()
        return super().__exit__(*exc)

    def _start(self, module, args) -> None:
        self.starts.setdefault(id(module), len(self.ops))

    def _sources(self, ts: list[torch.Tensor]) -> tuple[set, set]:
        reads, x_reads = set(), set()
        for t in ts:
            v = _version(t)
            if v is None or self.version.get(id(t), v) != v:
                self.valid = False   # changed outside the traced operations, or not tracked at all
            if id(t) in self.maker:
                reads.add(self.maker[id(t)])
            elif id(t) in self.x_index:
                x_reads.add(self.x_index[id(t)])
            else:
                self.external[id(t)] = t
                self.storages.add(_storage(t))
            reads.update(self.writers.get(_storage(t), ()))
        return reads, x_reads

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        ins = _tensors((args, kwargs))
        reads, x_reads = self._sources(ins)
        before = [_version(t) for t in ins]
        out = func(*args, **kwargs)
        j = len(self.ops)
        written = {_storage(t) for t, b in zip(ins, before) if _version(t) != b}
        if written & {_storage(t) for t in self.external.values()}:
            self.valid = False   # the forward changes a parameter, buffer or mask: skipping would change it
        for s in written:
            self.writers.setdefault(s, []).append(j)
        leaves, spec = flatten(out)
        position: dict[int, int] = {}
        for k, t in enumerate(ins):
            position.setdefault(id(t), k)
        kinds, shapes, own, contiguous = [], [], [], True
        for leaf in leaves:
            shape = None
            if leaf is None:
                kind = _NONE
            elif not isinstance(leaf, torch.Tensor):
                kind = _VALUE
            elif id(leaf) in position:
                kind = ("arg", position[id(leaf)])
            elif type(leaf) is not torch.Tensor or id(leaf) in self.maker or id(leaf) in self.x_index \
                    or id(leaf) in self.external:
                kind = _OLD   # a tensor seen before but not passed in, or a subclass: nothing to rebuild
            else:
                kind, shape = ("new", leaf.dtype, leaf.device), tuple(leaf.shape)
                own.append(_storage(leaf))
                contiguous = contiguous and leaf.is_contiguous()
                self.maker[id(leaf)] = j
                self.keep.append(leaf)
            kinds.append(kind)
            shapes.append(shape)
        fresh = None not in own and len(set(own)) == len(own) and not set(own) & self.storages
        self.storages.update(own)
        for t in ins + [leaf for leaf in leaves if isinstance(leaf, torch.Tensor)]:
            if id(t) not in self.version:
                self.on_storage.setdefault(_storage(t), []).append(t)
            self.version[id(t)] = _version(t)
        for s in written:   # a write through a view changes the version of every tensor on its storage
            for t in self.on_storage.get(s, ()):
                self.version[id(t)] = _version(t)
        self.keep += ins
        self.ops.append(Op(func, len(ins), frozenset(reads), frozenset(x_reads), spec, tuple(kinds), bool(written),
                           fresh, _is_meta(func)))
        self.shapes.append(tuple(shapes))
        self.contiguous.append(contiguous)
        return out

    def finish(self, output) -> None:
        """What the prediction (all the loss reads) depends on."""
        reads, x_reads = self._sources([inputs.prediction(output)])
        self.final = (frozenset(reads), frozenset(x_reads))


# ------------------------------------------------------------------ the plan of one input signature

@dataclass
class Schedule:
    """What to do with each operation before one frontier (see :meth:`Plan.schedule`)."""

    plan: Plan
    frontier: int                 # operations before the first pulled reader starts
    actions: list[str]            # per operation before the frontier: RUN, META, SERVE or SKIP
    x_needed: tuple[bool, ...]    # per input tensor: read by something that runs


@dataclass
class Plan:
    """The probes' result for one input signature (see :func:`plan`)."""

    ops: list[Op]
    dims: list[tuple]             # per op, per leaf: batch dim, CONST, or None (no new tensor, or not proven)
    shapes: list[tuple]           # per op, per leaf: shape at PROBE_SIZES[0] samples
    contiguous: list[bool]        # per op: its new tensors were contiguous in both probes (servable)
    starts: dict[int, int]        # id(reader module) -> operations before its first start
    final: tuple[frozenset, frozenset]
    n_x: int
    _schedules: dict[int, Schedule | None] = field(default_factory=dict)

    def schedule(self, readers: Iterable[nn.Module]) -> Schedule | None:
        """Serve, skip or run each operation before the first of ``readers``; None when
        nothing would be served or skipped."""
        starts = [self.starts.get(id(r)) for r in readers]
        if not starts or None in starts:
            return None
        f = min(starts)
        if f not in self._schedules:
            self._schedules[f] = self._schedule(f)
        return self._schedules[f]

    def _schedule(self, f: int) -> Schedule | None:
        needed, x_needed = set(self.final[0]), set(self.final[1])
        for op in self.ops[f:]:   # what runs after the frontier reads
            needed |= op.reads
            x_needed |= op.x_reads
        actions = [RUN] * f
        for j in reversed(range(f)):   # every reader of op j comes after it: decided already
            op, dims = self.ops[j], self.dims[j]
            rebuildable = all(k in (_NONE,) or k[0] == "arg" or (k[0] == "new" and d is not None)
                              for k, d in zip(op.kinds, dims))
            if op.meta and _VALUE in op.kinds and all(k in (_VALUE, _NONE) for k in op.kinds):
                actions[j] = META
            elif j in needed and rebuildable and not op.writes and op.fresh and self.contiguous[j] \
                    and all(k[0] == "new" or k == _NONE for k in op.kinds):
                actions[j] = SERVE
            elif j not in needed and rebuildable:
                actions[j] = SKIP
            else:
                needed |= op.reads
                x_needed |= op.x_reads
        if SERVE not in actions and SKIP not in actions:
            return None
        return Schedule(self, f, actions, tuple(k in x_needed for k in range(self.n_x)))


def _batch_dims(a: tuple, b: tuple) -> tuple:
    """Per leaf: the one dim whose size is PROBE_SIZES[0] in ``a`` and PROBE_SIZES[1] in ``b``,
    CONST for equal shapes, None otherwise or for a leaf that is not a new tensor."""
    dims = []
    for sa, sb in zip(a, b):
        if sa is None or sb is None or len(sa) != len(sb):
            dims.append(None)
            continue
        differ = [d for d in range(len(sa)) if sa[d] != sb[d]]
        if not differ:
            dims.append(CONST)
        elif len(differ) == 1 and (sa[differ[0]], sb[differ[0]]) == PROBE_SIZES:
            dims.append(differ[0])
        else:
            dims.append(None)
    return tuple(dims)


def plan(model: nn.Module, x, readers: Iterable[nn.Module]) -> Plan | None:
    """Trace ``model`` (in eval mode, under ``no_grad``, inside the masker if any) on 2 and 3
    samples of ``x``; ``readers`` are every group's readers. None when nothing can be proven.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> class Net(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.rnn, self.fc, self.out = nn.LSTM(3, 4, batch_first=True), nn.Linear(4, 5), nn.Linear(5, 2)
    ...     def forward(self, x):
    ...         return self.out(torch.relu(self.fc(self.rnn(x)[0][:, -1])))
    >>> net = Net().eval()
    >>> with torch.no_grad():
    ...     s = plan(net, torch.randn(8, 6, 3), [net.out]).schedule([net.out])
    >>> [(op.func.__name__, a) for op, a in zip(s.plan.ops, s.actions) if a != "meta"]
    [('zeros', 'skip'), ('zeros', 'skip'), ('lstm', 'skip'), ('__getitem__', 'skip'), ('linear', 'skip'), ('relu', 'serve')]
    """
    readers = list({id(r): r for r in readers}.values())
    n = inputs.length(x)
    traces = []
    for size in PROBE_SIZES:
        sample = inputs.index(x, [i % n for i in range(size)])
        trace = _Trace(inputs.tensors(sample), readers)
        try:
            with trace:
                output = inputs.call(model, sample)
            trace.finish(output)
        except (RuntimeError, ValueError, TypeError, IndexError):
            return None   # the model does not take a probe batch: nothing is reused
        if not trace.valid:
            return None
        traces.append(trace)
    a, b = traces
    if a.ops != b.ops or a.starts != b.starts or a.final != b.final or set(a.external) != set(b.external):
        return None   # the probes disagree: the forward depends on more than the structure of its input
    return Plan(a.ops, [_batch_dims(sa, sb) for sa, sb in zip(a.shapes, b.shapes)], a.shapes,
                [ca and cb for ca, cb in zip(a.contiguous, b.contiguous)], a.starts, a.final, len(inputs.tensors(x)))


# ------------------------------------------------------------------ record, then replay

class _FrontierMode(TorchFunctionMode):
    """Counts the operations of a forward up to the first start of ``readers``."""

    def __init__(self, schedule: Schedule, readers: Iterable[nn.Module]):
        super().__init__()
        self.schedule, self.ops = schedule, schedule.plan.ops
        self.readers = list({id(r): r for r in readers}.values())
        self.j, self.after = 0, False
        self._handles: list = []

    def __enter__(self):
        self.j, self.after = 0, False
        for r in self.readers:   # before the masker's hook, whose operations come after the frontier
            self._handles.append(r.register_forward_pre_hook(self._start, prepend=True))
        return super().__enter__()

    def __exit__(self, *exc):
        for h in self._handles:
            h.remove()
        self._handles.clear()
        return super().__exit__(*exc)

    def _start(self, module, args) -> None:
        if not self.after:
            self._at_frontier()
            self.after = True

    def _at_frontier(self) -> None:
        raise NotImplementedError


class Recording(_FrontierMode):
    """The unmasked pass on the real batch of ``n`` samples: checks it against the plan, keeps
    the shapes of the outputs of the operations before the frontier and copies of the served ones.

    ``ok`` is False when anything differs from the plan; the pull then takes the old path.
    """

    def __init__(self, schedule: Schedule, readers: Iterable[nn.Module], n: int):
        super().__init__(schedule, readers)
        self.n, self.ok = n, True
        self.shapes: list[list] = []
        self.records: dict[int, list] = {}

    def __exit__(self, *exc):
        result = super().__exit__(*exc)
        self.ok = self.ok and self.after
        return result

    def _at_frontier(self) -> None:
        self.ok = self.ok and self.j == self.schedule.frontier

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.after or not self.ok:
            return func(*args, **kwargs)
        j = self.j
        self.j += 1
        ins = _tensors((args, kwargs))
        out = func(*args, **kwargs)
        if j >= self.schedule.frontier or func != self.ops[j].func or len(ins) != self.ops[j].n_in:
            self.ok = False
            return out
        leaves, spec = flatten(out)
        plan = self.schedule.plan
        self.ok = self.ok and spec == self.ops[j].spec and _same_aliasing(leaves, self.ops[j].kinds, ins)
        shapes = []
        for leaf, kind, d, planned in zip(leaves, self.ops[j].kinds, plan.dims[j], plan.shapes[j]):
            if kind[0] != "new" or d is None:   # not a shape the replay makes: such an operation always runs
                shapes.append(None)
                continue
            shape = tuple(leaf.shape)
            expected = planned if d == CONST else planned[:d] + (self.n,) + planned[d + 1:]
            self.ok = self.ok and shape == expected   # e.g. a length read from the data: the probes saw another
            shapes.append(shape)
        self.shapes.append(shapes)
        if self.schedule.actions[j] == SERVE and self.ok:
            self.ok = all(t is None or t.is_contiguous() for t in leaves)
            self.records[j] = [None if t is None else t.clone() for t in leaves]
        return out


class Replay(_FrontierMode):
    """A replicated pass with K copies of the batch (:meth:`copies`): before the frontier, the
    scheduled operations are served from the recording or skipped; raises :class:`Diverged`
    when the pass leaves the recorded sequence."""

    def __init__(self, recording: Recording):
        super().__init__(recording.schedule, recording.readers)
        self.recording = recording
        self.k = 1
        self.fakes: dict[int, torch.Tensor] = {}
        self._zeros: dict[tuple, torch.Tensor] = {}

    def copies(self, k: int, x):
        """Set K for the next pass and return its inputs, built outside the mode: repeated where
        something runs on them, else zero-stride. Run the pass as ``with replay: model(...)``."""
        self.k = k
        needed, position = self.schedule.x_needed, iter(range(len(self.schedule.x_needed)))

        def one(t: torch.Tensor) -> torch.Tensor:
            if needed[next(position)]:
                return t.repeat(k, *([1] * (t.dim() - 1)))
            return self._fake(tuple(t.shape), 0, t.dtype, t.device)
        return inputs.map_tensors(x, one)

    def __exit__(self, *exc):
        reached = self.after
        result = super().__exit__(*exc)
        self.fakes.clear()
        if exc[0] is None and not reached:
            raise Diverged("the forward never reached the first pulled reader")
        return result

    def _at_frontier(self) -> None:
        if self.j != self.schedule.frontier:
            raise Diverged(f"the first pulled reader started after {self.j} operations, not {self.schedule.frontier}")

    def _fake(self, shape: tuple, d, dtype, device) -> torch.Tensor:
        """A zero-stride tensor of the shape the operation has on K copies (never read)."""
        if d not in (None, CONST):
            shape = shape[:d] + (shape[d] * self.k,) + shape[d + 1:]
        key = (dtype, device)
        if key not in self._zeros:
            self._zeros[key] = torch.zeros((), dtype=dtype, device=device)
        fake = self._zeros[key].expand(shape)
        self.fakes[id(fake)] = fake
        return fake

    def check(self, output) -> None:
        """The prediction must not be a skipped tensor."""
        if id(inputs.prediction(output)) in self.fakes:
            raise Diverged("the prediction is a skipped tensor")

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        ins = _tensors((args, kwargs))
        if self.after:
            if any(id(t) in self.fakes for t in ins):
                raise Diverged(f"{getattr(func, '__name__', func)} after the frontier reads a skipped tensor")
            return func(*args, **kwargs)
        j = self.j
        self.j += 1
        if j >= self.schedule.frontier:
            raise Diverged("more operations before the first pulled reader than recorded")
        op, action = self.ops[j], self.schedule.actions[j]
        if func != op.func or len(ins) != op.n_in:
            raise Diverged(f"operation {j} is {getattr(func, '__name__', func)}, not {getattr(op.func, '__name__', op.func)}")
        if action == META:
            return func(*args, **kwargs)
        if action == RUN:
            if any(id(t) in self.fakes for t in ins):
                raise Diverged(f"{getattr(func, '__name__', func)} would run on a skipped tensor")
            out = func(*args, **kwargs)
            leaves, spec = flatten(out)
            if spec != op.spec or not _same_aliasing(leaves, op.kinds, ins):
                raise Diverged(f"{getattr(func, '__name__', func)} aliases its inputs differently than recorded")
            return out
        dims = self.schedule.plan.dims[j]
        if action == SERVE:
            leaves = [None if t is None else t.clone() if d == CONST else t.repeat(
                *[self.k if i == d else 1 for i in range(t.dim())]) for t, d in zip(self.recording.records[j], dims)]
        else:   # SKIP: what it passes through is its argument, what it makes is a placeholder
            leaves = [None if k == _NONE else ins[k[1]] if k[0] == "arg" else self._fake(s, d, k[1], k[2])
                      for k, d, s in zip(op.kinds, dims, self.recording.shapes[j])]
        return unflatten(op.spec, leaves)
