"""What no mask can change, computed once per pull: the general path's reuse of activations.

The batched engine's general path (:meth:`mabprune.engine.BatchedEngine._pull_general`)
replicates the mini-batch K times and masks arm k in copy k at the readers' pre-hooks. A
module whose call completes before the first reader of any group being pulled starts never
sees a masked value: in every copy its output is the unmasked pass's output. This module
proves which modules are such, records their outputs during the unmasked pass, and serves
them, repeated K times along the batch dim, in the replicated passes, so that an LSTM before
a dense layer of arms runs once per pull instead of once per chunk of arms.

A module is served from its record only where that is provably what it would compute:

- it is not the model itself, has no forward hooks (they would run twice on a served
  output), is an ordinary ``nn.Module`` (not scripted, no ``__call__`` of its own), and no
  enclosing module is served already (that one skips it);
- it runs exactly once per forward, and its call ends before the first reader of a pulled
  group starts (a reader of a group not pulled keeps its mask at one, which changes nothing);
- it changes no input in place, nor its own parameters, buffers or plain attributes, and its
  output shares no storage with its inputs or its state (a served copy would break the
  aliasing: ``nn.ReLU(inplace=True)``, ``nn.Identity`` and views stay on the normal path);
- its output is a tensor, ``None`` or a (nested) tuple or list of them, and each tensor has
  exactly one dim that follows the batch size, found by two probe forwards on 2 and 3 samples
  (an LSTM's ``(output, (h_n, c_n))`` has it on dims 0 and 1).

The probe (:func:`plan`) runs once per input signature; every pull's unmasked pass checks the
call count, order and shapes again on the real batch (:class:`Recorder`) and drops any module
that fails. An output that later code changes in place (``relu_`` after a conv) is recorded as
a copy. Anything not proven runs as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator

import torch
from torch import nn
from torch.nn.modules import module as _module_hooks

from . import inputs

PROBE_SIZES = (2, 3)   # two batch sizes: the one dim whose size follows them is the batch dim
_PLAIN = (bool, int, float, str, type(None))


# ------------------------------------------------------------------ outputs as leaves

def flatten(value) -> tuple[list, object] | None:
    """``(leaves, spec)`` of a tensor, ``None`` or a nested tuple/list of them; None for anything else.

    Examples
    --------
    >>> import torch
    >>> leaves, spec = flatten((torch.zeros(2), (torch.ones(1), None)))
    >>> len(leaves), unflatten(spec, leaves)[1][1] is None
    (3, True)
    >>> flatten({"a": torch.zeros(1)}) is None
    True
    """
    if value is None or type(value) is torch.Tensor:   # subclasses (Parameter, ...) are not plain activations
        return [value], None
    if type(value) in (tuple, list):
        leaves, specs = [], []
        for item in value:
            inner = flatten(item)
            if inner is None:
                return None
            leaves += inner[0]
            specs.append(inner[1])
        return leaves, (type(value), tuple(specs))
    return None


def unflatten(spec, leaves: list):
    """The value :func:`flatten` took apart, with these leaves."""
    it = iter(leaves)

    def build(s):
        return next(it) if s is None else s[0](build(part) for part in s[1])
    return build(spec)


def _tensors(value) -> Iterator[torch.Tensor]:
    """Every tensor in nested tuples, lists and dicts."""
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _tensors(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)


def _version(t: torch.Tensor) -> int | None:
    """The in-place version counter; None where it is not kept (inference tensors): nothing provable."""
    try:
        return t._version
    except RuntimeError:
        return None


def _storage(t: torch.Tensor) -> int | None:
    """Address of the tensor's storage; None where it has none (sparse, ...): no aliasing provable."""
    try:
        return t.untyped_storage().data_ptr()
    except (RuntimeError, NotImplementedError, TypeError):
        return None


def _state(module: nn.Module) -> tuple:
    """What a forward without side effects leaves as it was: versions of the parameters and
    buffers and the plain attributes of the module and every submodule."""
    versions = tuple(_version(t) for t in (*module.parameters(), *module.buffers()))
    attrs = tuple(tuple((k, v) for k, v in vars(m).items() if isinstance(v, _PLAIN)) for m in module.modules())
    return versions, attrs


def _servable(module: nn.Module) -> bool:
    """Whether replacing the forward of ``module`` for a pass can only skip its computation."""
    return (not module._forward_hooks and not isinstance(module, torch.jit.ScriptModule)
            and type(module).__call__ is nn.Module.__call__)


def signature(x) -> tuple:
    """What a plan depends on in the inputs: structure, per-sample shapes, dtypes and devices."""
    def sig(v):
        return ("tensor", tuple(v.shape[1:]), v.dtype, v.device) if isinstance(v, torch.Tensor) else ("value", repr(v))
    if isinstance(x, dict):
        return ("dict",) + tuple((k, sig(v)) for k, v in x.items())
    if isinstance(x, (tuple, list)):
        return ("tuple",) + tuple(sig(v) for v in x)
    return (sig(x),)


# ------------------------------------------------------------------ one traced forward

@dataclass
class Call:
    """One module's first call in a traced forward and what the trace proved of it."""

    name: str
    module: nn.Module
    start: int                       # event index of its start (pre-hook) ...
    enclosing: tuple[int, ...]       # ids of the modules running when it started
    end: int = -1                    # ... and of its end (forward hook)
    count: int = 1                   # calls in the forward
    clean: bool = False              # no in-place change of inputs or state, no aliasing, plain output
    spec: object = None
    leaves: list = field(default_factory=list)
    shapes: list = field(default_factory=list)   # per leaf: shape, or None for a None leaf
    versions: list = field(default_factory=list)  # per leaf, at the end of the call
    changed_later: bool = False      # an output was changed in place later in the forward
    _inputs: list = field(default_factory=list, repr=False)
    _state: tuple = ((), ())


class Tracer:
    """Forward pre-hooks and hooks that record the first call of each of ``modules`` (pairs
    ``(name, module)``) in one forward, in one event order, keeping its output leaves (a copy
    where ``copy[name]``: later code changes that output in place)."""

    def __init__(self, modules: Iterable[tuple[str, nn.Module]], *, copy: dict[str, bool] | None = None):
        self.modules = list(modules)
        self.copy = copy or {}
        self.calls: dict[int, Call] = {}
        self.event = 0
        self._stack: list[int] = []
        self._handles: list = []

    def __enter__(self) -> "Tracer":
        for name, module in self.modules:
            self._handles.append(module.register_forward_pre_hook(self._pre(name), with_kwargs=True))
            self._handles.append(module.register_forward_hook(self._post, with_kwargs=True))
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        for call in self.calls.values():   # an in-place change after the call would have altered the record
            if call.clean and not self.copy.get(call.name):
                call.changed_later = any(v is not None and _version(t) != v for t, v in zip(call.leaves, call.versions))

    def _pre(self, name: str):
        def hook(module, args, kwargs):
            self.event += 1
            call = self.calls.get(id(module))
            if call is not None:
                call.count += 1
            else:
                call = self.calls[id(module)] = Call(name, module, self.event, tuple(self._stack))
                call._inputs = [(t, _version(t)) for t in _tensors((args, kwargs))]
                call._state = _state(module)
            self._stack.append(id(module))
        return hook

    def _post(self, module, args, kwargs, output) -> None:
        self.event += 1
        if self._stack and self._stack[-1] == id(module):
            self._stack.pop()
        call = self.calls[id(module)]
        if call.count > 1 or call.end >= 0:
            return
        call.end = self.event
        flat = flatten(output)
        if flat is not None:
            call.spec = flat[1]
            call.shapes = [None if t is None else tuple(t.shape) for t in flat[0]]
            call.clean = self._clean(call, module, [t for t in flat[0] if t is not None])
        if call.clean:
            copy = self.copy.get(call.name)
            call.leaves = [None if t is None else (t.clone() if copy else t) for t in flat[0]]
            call.versions = [None if t is None else _version(t) for t in call.leaves]
        call._inputs, call._state = [], ((), ())

    @staticmethod
    def _clean(call: Call, module: nn.Module, leaves: list[torch.Tensor]) -> bool:
        """No input or state changed in place, and the output's tensors are new storage of their own."""
        if not leaves or not all(v is not None and _version(t) == v for t, v in call._inputs):
            return False
        if None in call._state[0] or _state(module) != call._state:
            return False
        taken = [_storage(t) for t, _ in call._inputs] + [_storage(t) for t in (*module.parameters(), *module.buffers())]
        own = [_storage(t) for t in leaves]
        return None not in taken and None not in own and len(set(own)) == len(own) and not set(taken) & set(own) \
            and all(_version(t) is not None for t in leaves)


# ------------------------------------------------------------------ the plan of one input signature

@dataclass
class Candidate:
    """A module that may be served from its record: where it runs and its output's batch dims."""

    name: str
    module: nn.Module
    start: int
    end: int
    enclosing: tuple[int, ...]
    spec: object
    batch_dims: tuple[int | None, ...]     # per leaf; None for a None leaf
    shapes: tuple                          # per leaf at PROBE_SIZES[0] samples
    copy: bool                             # record a copy: later code changes the output in place


@dataclass
class Plan:
    """The probe's result for one input signature: candidates and where every module starts."""

    candidates: list[Candidate]
    starts: dict[int, int]                 # id(module) -> event index of its first start

    def select(self, readers: Iterable[nn.Module]) -> list[Candidate]:
        """The candidates whose call ends before the first of ``readers`` starts, outermost only."""
        starts = [self.starts.get(id(r)) for r in readers]
        if not starts or None in starts:
            return []
        frontier = min(starts)
        chosen: list[Candidate] = []
        served: set[int] = set()
        for c in sorted(self.candidates, key=lambda c: c.start):
            if c.end < frontier and not served & set(c.enclosing):
                chosen.append(c)
                served.add(id(c.module))
        return chosen


def _batch_dims(a: list, b: list, sizes: tuple[int, int]) -> tuple[int | None, ...] | None:
    """Per leaf, the one dim whose size is ``sizes[0]`` in ``a`` and ``sizes[1]`` in ``b``."""
    dims = []
    for sa, sb in zip(a, b):
        if sa is None or sb is None:
            if sa is not sb:
                return None
            dims.append(None)
            continue
        if len(sa) != len(sb):
            return None
        differ = [d for d in range(len(sa)) if sa[d] != sb[d]]
        if len(differ) != 1 or (sa[differ[0]], sb[differ[0]]) != sizes:
            return None
        dims.append(differ[0])
    return tuple(dims) if len(a) == len(b) else None


def plan(model: nn.Module, x) -> Plan:
    """Probe ``model`` (in eval mode, under ``no_grad``) on 2 and 3 samples of ``x``.

    A probe forward that fails leaves the plan empty: nothing is served.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> class Net(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.rnn, self.fc, self.out = nn.LSTM(3, 4, batch_first=True), nn.Linear(4, 5), nn.Linear(5, 2)
    ...     def forward(self, x):
    ...         return self.out(self.fc(self.rnn(x)[0][:, -1]))
    >>> net = Net().eval()
    >>> with torch.no_grad():
    ...     p = plan(net, torch.randn(8, 6, 3))
    >>> [(c.name, c.batch_dims) for c in p.candidates]
    [('rnn', (0, 1, 1)), ('fc', (0,)), ('out', (0,))]
    >>> [c.name for c in p.select([net.out])]
    ['rnn', 'fc']
    """
    if getattr(_module_hooks, "_global_forward_hooks", None):
        return Plan([], {})   # hooks on every module would run again on a served output
    named = [(n, m) for n, m in model.named_modules() if m is not model]
    n = inputs.length(x)
    traces = []
    try:
        for size in PROBE_SIZES:
            with Tracer(named) as tracer:
                inputs.call(model, inputs.index(x, [i % n for i in range(size)]))
            traces.append(tracer.calls)
    except (RuntimeError, ValueError, TypeError, IndexError):
        return Plan([], {})
    small, large = traces
    candidates = []
    for key, a in small.items():
        b = large.get(key)
        if b is None or not (a.clean and b.clean) or a.count != 1 or b.count != 1 or a.spec != b.spec \
                or (a.start, a.end, a.enclosing) != (b.start, b.end, b.enclosing) or not _servable(a.module):
            continue
        dims = _batch_dims(a.shapes, b.shapes, PROBE_SIZES)
        if dims is not None:
            candidates.append(Candidate(a.name, a.module, a.start, a.end, a.enclosing, a.spec, dims,
                                        tuple(a.shapes), a.changed_later or b.changed_later))
    starts = {key: c.start for key, c in small.items() if large.get(key) is not None and large[key].start == c.start}
    return Plan(candidates, starts)


# ------------------------------------------------------------------ record, then serve

class Recorder(Tracer):
    """The unmasked pass: records the outputs of ``chosen`` on the real batch and checks again
    that each ran once, ended before the first of ``readers`` started, and has the planned shapes."""

    def __init__(self, chosen: list[Candidate], readers: Iterable[nn.Module]):
        self.chosen = chosen
        readers = {id(r): r for r in readers}
        traced = [(c.name, c.module) for c in chosen] + [("", r) for r in readers.values()]
        super().__init__(traced if chosen else [], copy={c.name: c.copy for c in chosen})   # nothing chosen: no hooks
        self.readers = set(readers)

    def records(self, n: int) -> list[tuple[Candidate, list]]:
        """``(candidate, output leaves)`` of every chosen module the checks kept, for ``n`` samples."""
        frontier = min((c.start for key, c in self.calls.items() if key in self.readers), default=None)
        kept = []
        for cand in self.chosen:
            call = self.calls.get(id(cand.module))
            if call is None or frontier is None or not call.clean or call.count != 1 or call.end >= frontier \
                    or call.changed_later or call.spec != cand.spec or not _servable(cand.module):
                continue
            expected = [None if s is None else tuple(n if i == d else s[i] for i in range(len(s)))
                        for s, d in zip(cand.shapes, cand.batch_dims)]
            if call.shapes == expected:
                kept.append((cand, call.leaves))
        return kept


class Replay:
    """Serves recorded outputs, repeated along their batch dims, in place of the modules'
    forwards (restored on exit, also on error); :meth:`copies` sets K before each pass."""

    def __init__(self, records: list[tuple[Candidate, list]]):
        self.records = records
        self.k = 1
        self._served: set[int] = set()
        self._saved: list[tuple[nn.Module, object]] = []

    def copies(self, k: int) -> None:
        """The next pass has ``k`` copies of the batch; each module is served once in it."""
        self.k = k
        self._served.clear()

    def __enter__(self) -> "Replay":
        try:
            for cand, leaves in self.records:
                module = cand.module
                self._saved.append((module, module.__dict__.get("forward")))
                module.forward = self._serve(cand, leaves, module.forward)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        while self._saved:
            module, own = self._saved.pop()
            if own is None:
                del module.forward
            else:
                module.forward = own

    def _serve(self, cand: Candidate, leaves: list, forward):
        def served(*args, **kwargs):
            if id(cand.module) in self._served:   # a second call in one pass: not what was proven, compute it
                return forward(*args, **kwargs)
            self._served.add(id(cand.module))
            return unflatten(cand.spec, [None if t is None else t.repeat(*[self.k if i == d else 1 for i in range(t.dim())])
                                         for t, d in zip(leaves, cand.batch_dims)])
        return served

