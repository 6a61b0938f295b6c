"""Old import paths, kept for one release: the one alias table of the package.

Before version 0.2 the package was 41 flat modules; the library, :mod:`mabprune.data`,
:mod:`mabprune.study` and :mod:`mabprune.analysis` replaced them. Importing an old module path
(``import mabprune.experiments``) gives a stand-in module whose names are read from their new
homes, with a :class:`MabpruneDeprecationWarning` that names the new path; setting a name on
it (``monkeypatch.setattr(mabprune.experiments, "prune", spy)``) sets it in the new module that
holds the name, so patching an old path patches the code that runs. Names that moved out of a
module that still exists (``mabprune.arms.Masker``) are found the same way through the module's
``__getattr__``.

This module imports nothing of mabprune when it is loaded: the new homes are imported when an
old name is first used.

Examples
--------
>>> import warnings
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     from mabprune.experiments import run_grid
>>> run_grid.__module__, caught[0].category.__name__
('mabprune.study.runner', 'MabpruneDeprecationWarning')
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings
from typing import Any


class MabpruneDeprecationWarning(FutureWarning):
    """An old import path of mabprune was used; the message names the new one."""


_STORE = {"_append": "append_record", "_latest": "latest_records", "_load_store": "load_store", "_locked": "locked",
          "_peek": "peek", "_read": "read_records", "_rewrite": "rewrite"}
_INPUTS = {"_as_tensors": "as_tensors", "_cat": "concat", "_check_inputs": "check_inputs",
           "_check_finite_losses": "check_finite_losses", "_resolve_device": "resolve_device"}
_RUNNER = {"_run_cell": "run_cell", "_store_path": "store_path", "_readable_store": "readable_store"}

#: old module path -> (the new modules that hold its names, in the order searched; renamed names)
MOVED_MODULES: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "mabprune.batch": (("mabprune.inputs",), {}),
    "mabprune.selfcheck": (("mabprune.masks",), {}),
    "mabprune.selection": (("mabprune.removal",), {"_remove": "remove_arms", "_count": "count_macs_params"}),
    "mabprune.prune": (("mabprune.pruning", "mabprune.removal", "mabprune.inputs", "mabprune.baselines"),
                       {"_remove": "remove_arms", "_count": "count_macs_params", "_baseline": "baseline_removal",
                        "_greedy_activation_variation": "greedy_activation_variation", **_INPUTS}),
    "mabprune.policy_base": (("mabprune.policies.base",), {}),
    "mabprune.adversarial": (("mabprune.policies.adversarial",), {}),
    "mabprune.dataset": (("mabprune.data.dataset",), {"_download_allowed": "download_allowed"}),
    "mabprune.pmlbdata": (("mabprune.data.pmlb",), {"_pmlb_summary": "pmlb_summary", "_pmlb_file": "pmlb_file",
                                                    "_pmlb_fetchable": "pmlb_fetchable"}),
    "mabprune.imagedata": (("mabprune.data.images",), {}),
    "mabprune.textdata": (("mabprune.data.text", "mabprune.data.babi", "mabprune.data.dataset"),
                          {"_lines": "read_lines", "_WORD_RE": "WORD_RE"}),
    "mabprune.babidata": (("mabprune.data.babi",), {}),
    "mabprune.corpora": (("mabprune.data.corpora",), {}),
    "mabprune.deep": (("mabprune.study.deep_tasks",), {}),
    "mabprune.profiles": (("mabprune.study.profiles", "mabprune.study.plan", "mabprune.study.comparators",
                           "mabprune.pruning"), {"_standard_pmlb": "standard_pmlb"}),
    "mabprune.plan": (("mabprune.study.plan",), {}),
    "mabprune.experiments": (("mabprune.study.runner", "mabprune.study.cells", "mabprune.study.paths",
                              "mabprune.study.tables", "mabprune.study.store", "mabprune.study.comparators"),
                             {**_RUNNER, **_STORE}),
    "mabprune.store": (("mabprune.study.store",), _STORE),
    "mabprune.tables": (("mabprune.study.tables",), {}),
    "mabprune.cluster": (("mabprune.study.cluster",), {}),
    "mabprune.classifiers": (("mabprune.study.comparators",), {}),
    "mabprune.protocols": (("mabprune.study.protocols",), {}),
    "mabprune.book_profile": (("mabprune.study.book_profile",), {}),
    "mabprune.stats": (("mabprune.analysis.stats",), {}),
    "mabprune.evidence": (("mabprune.analysis.evidence",), {}),
    "mabprune.claims": (("mabprune.analysis.claims",), {}),
    "mabprune._claim_costs": (("mabprune.analysis.costs",), {}),
    "mabprune.verdict": (("mabprune.analysis.verdict",), {}),
}

#: module that still exists -> {old name: "new.module:new_name"}
MOVED_NAMES: dict[str, dict[str, str]] = {
    "mabprune.arms": {n: f"mabprune.masks:{n}" for n in
                      ("Masker", "outgoing_weight", "register_unit_hook", "unit_means", "reader_units")},
    "mabprune.inputs": {old: f"mabprune.inputs:{new}" for old, new in _INPUTS.items()},
    "mabprune.data": {"_read_idx": "mabprune.data.images:read_idx",
                      "_download_allowed": "mabprune.data.dataset:download_allowed",
                      "PMLB_ROWS": "mabprune.data.pmlb:PMLB_ROWS",
                      "PMLB_MAX_FEATURES": "mabprune.data.pmlb:PMLB_MAX_FEATURES"},
}


def _warn(old: str, new: str) -> None:
    # stacklevel 3: past this helper and its caller, to the line that used the old path
    # (the import machinery's own frames are skipped by the warnings module)
    warnings.warn(f"{old} moved to {new}; the old path works until the next release", MabpruneDeprecationWarning,
                  stacklevel=3)


class _OldModule(types.ModuleType):
    """Stand-in for an old module path: reads and writes names in their new modules."""

    def __init__(self, name: str, targets: tuple[str, ...], renamed: dict[str, str]):
        super().__init__(name, f"Moved: see {targets[0]}.")
        object.__setattr__(self, "_targets", targets)
        object.__setattr__(self, "_renamed", renamed)
        object.__setattr__(self, "_originals", {})   # what a set replaced, for a later delete to restore

    def _home(self, name: str) -> tuple[types.ModuleType, str]:
        new = self._renamed.get(name, name)
        modules = [importlib.import_module(t) for t in self._targets]
        return next(((m, new) for m in modules if hasattr(m, new)), (modules[0], new))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        module, new = self._home(name)
        try:
            return getattr(module, new)
        except AttributeError:
            raise AttributeError(f"module {self.__name__!r} (moved to {self._targets[0]}) has no attribute {name!r}") \
                from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("__"):
            object.__setattr__(self, name, value)
            return
        module, new = self._home(name)
        if hasattr(module, new):
            self._originals.setdefault(name, getattr(module, new))
        setattr(module, new, value)

    def __delattr__(self, name: str) -> None:
        # undoing a patch (pytest's monkeypatch deletes what it did not find in the stand-in's
        # own __dict__) restores the new module's original rather than deleting it
        module, new = self._home(name)
        if name in self._originals:
            setattr(module, new, self._originals.pop(name))
        else:
            delattr(module, new)

    def __dir__(self) -> list[str]:
        return sorted({n for t in self._targets for n in dir(importlib.import_module(t))} | set(self._renamed))


class _OldPathFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the old module paths of :data:`MOVED_MODULES` (and nothing else)."""

    def find_spec(self, fullname: str, path=None, target=None):
        return importlib.machinery.ModuleSpec(fullname, self) if fullname in MOVED_MODULES else None

    def create_module(self, spec) -> types.ModuleType:
        targets, renamed = MOVED_MODULES[spec.name]
        warnings.warn(f"{spec.name} moved to {targets[0]}; the old path works until the next release",
                      MabpruneDeprecationWarning, stacklevel=2)
        return _OldModule(spec.name, targets, renamed)

    def exec_module(self, module: types.ModuleType) -> None:
        pass


class _Package(types.ModuleType):
    """The ``mabprune`` package: ``mabprune.prune`` stays the function even after ``import mabprune.prune``
    (an old module path the import system would otherwise bind over it)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, _OldModule) and not isinstance(getattr(self, name, None), (types.ModuleType, type(None))):
            return
        super().__setattr__(name, value)


def moved_name(module: str, name: str) -> Any:
    """A name that moved out of ``module``, read from its new home with a warning (a module's ``__getattr__``)."""
    where = MOVED_NAMES.get(module, {}).get(name)
    if where is None:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    new_module, _, new_name = where.partition(":")
    _warn(f"{module}.{name}", f"{new_module}.{new_name}")
    return getattr(importlib.import_module(new_module), new_name)


def install(package: str) -> None:
    """Make the old module paths importable (once) and protect the package's attributes."""
    sys.modules[package].__class__ = _Package
    if not any(isinstance(f, _OldPathFinder) for f in sys.meta_path):
        sys.meta_path.append(_OldPathFinder())
