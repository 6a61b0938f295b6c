"""The package layout (issue 19): layers that import only downward, no import cycles, every module
importable alone, the old import paths as warned aliases, and a wheel that installs.

Layers, lowest first: the library at the top level of ``mabprune`` (with ``models`` and
``policies``), then ``data``, ``study``, ``analysis``, and ``cli`` on top.
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import pkgutil
import re
import shutil
import subprocess
import sys
import textwrap
import warnings
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

import mabprune
from mabprune import _deprecated

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "mabprune"
LAYERS = {"data": 1, "study": 2, "analysis": 3, "cli": 4, "__main__": 4}


def _modules() -> list[str]:
    names = ["mabprune"]
    for info in pkgutil.walk_packages([str(PACKAGE)], prefix="mabprune."):
        names.append(info.name)
    return sorted(names)


def _path(module: str) -> Path:
    parts = module.split(".")[1:]
    folder = PACKAGE.joinpath(*parts)
    return folder / "__init__.py" if folder.is_dir() else folder.with_suffix(".py")


def _layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS.get(parts[1], 0) if len(parts) > 1 else 0


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _imports(module: str) -> list[tuple[str, bool]]:
    """``(imported mabprune module, inside a function)`` for every import of ``module``
    (``if TYPE_CHECKING:`` blocks left out: they never run)."""
    path = _path(module)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((a.name, in_function) for a in child.names if a.name.split(".")[0] == "mabprune")
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[:len(base) - child.level + 1]
                    source = ".".join(base + ([child.module] if child.module else []))
                else:
                    source = child.module or ""
                if source.split(".")[0] != "mabprune":
                    continue
                for alias in child.names:   # `from pkg import submodule` depends on the submodule
                    sub = f"{source}.{alias.name}"
                    found.append((sub if _path(sub).exists() else source, in_function))
            visit(child, inner)

    visit(ast.parse(path.read_text()), False)
    return [(m, f) for m, f in found if m != module]


MODULES = _modules()


def test_the_layout_has_its_layers():
    assert {"mabprune.data", "mabprune.study", "mabprune.analysis", "mabprune.policies", "mabprune.models",
            "mabprune.cli"} <= set(MODULES)
    flat = [p.stem for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__", "_deprecated", "cli")]
    assert len(flat) <= 16, f"the top level is the library a user imports; study code belongs below: {flat}"


@pytest.mark.parametrize("module", MODULES)
def test_imports_point_down_and_not_from_inside_functions(module):
    for target, in_function in _imports(module):
        assert not in_function, f"{module} imports {target} inside a function (to dodge a cycle?)"
        assert _layer(target) <= _layer(module), f"{module} (layer {_layer(module)}) imports {target} " \
                                                 f"(layer {_layer(target)}), a higher layer"


def test_no_import_cycle():
    edges = {m: {t for t, _ in _imports(m) if t in MODULES} for m in MODULES}
    # a package's __init__ may import its own submodules; a submodule never imports its package's __init__
    for module, targets in edges.items():
        for target in targets:   # (the root package is the library's entry point, imported from anywhere)
            assert target == "mabprune" or not module.startswith(target + "."), \
                f"{module} imports its own package {target}"
    state: dict[str, int] = {}

    def walk(m: str, stack: list[str]) -> None:
        state[m] = 1
        for t in sorted(edges[m]):
            if state.get(t) == 1:
                cycle = stack[stack.index(t):] + [t]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if t not in state:
                walk(t, stack + [t])
        state[m] = 2

    for m in MODULES:
        if m not in state:
            walk(m, [m])


def test_a_cycle_is_found(tmp_path, monkeypatch):
    # the checker itself: two modules that import each other are reported
    pkg = tmp_path / "mabprune"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("def f():\n    from .a import x\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", pkg)
    assert _imports("mabprune.b") == [("mabprune.a", True)]
    assert _imports("mabprune.a") == [("mabprune.b", False)]


ALONE = textwrap.dedent("""
    import json, os, sys, traceback
    import numpy, torch, pandas, sklearn, scipy.stats, matplotlib   # third-party, shared by every child
    matplotlib.use("Agg")
    assert not [m for m in sys.modules if m.split(".")[0] == "mabprune"]
    failures = {}
    for name in json.loads(sys.argv[1]):
        pid = os.fork()
        if pid == 0:   # a fresh interpreter as far as mabprune is concerned: import this module alone
            try:
                __import__(name)
            except BaseException:
                traceback.print_exc()
                os._exit(1)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        if status:
            failures[name] = status
    print(json.dumps(failures))
""")


def test_every_module_imports_alone():
    scripts = [m for m in MODULES if not m.endswith("__main__")]   # python -m mabprune runs the command
    done = subprocess.run([sys.executable, "-c", ALONE, json.dumps(scripts)], capture_output=True, text=True,
                          cwd=REPO, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    failures = json.loads(done.stdout.strip().splitlines()[-1])
    assert not failures, f"modules that fail to import alone: {sorted(failures)}\n{done.stderr[-3000:]}"


def test_importing_the_library_loads_only_its_core_dependencies():
    code = ("import sys, mabprune, mabprune.torch_pruning, mabprune.models; "
            "print(sorted({m.split('.')[0] for m in sys.modules}))")
    loaded = set(json.loads(subprocess.run([sys.executable, "-c", code.replace("print(", "import json; print(json.dumps(")
                                            + ")"], capture_output=True, text=True, cwd=REPO,
                                           check=True).stdout))
    assert not loaded & {"pandas", "sklearn", "scipy", "matplotlib", "papermill", "pmlb", "datasets", "joblib"}


@pytest.mark.parametrize("module", [m for m in MODULES if not m.endswith("__main__")])
def test_the_docstring_examples_of_every_module_run(module):
    import doctest

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", _deprecated.MabpruneDeprecationWarning)   # _deprecated's own example
        result = doctest.testmod(importlib.import_module(module), report=False,
                                 optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {module} failed"


# ------------------------------------------------------------------ one source for every list

def test_the_analysis_lists_are_the_librarys():
    from mabprune import baselines, policies
    from mabprune.analysis import claims, costs, stats
    from mabprune.cli import FAMILY_NOTEBOOKS
    from mabprune.pruning import METHODS
    from mabprune.study import comparators, profiles, tables

    assert stats.MAB_POLICIES is policies.POLICIES
    assert stats.BASELINES is baselines.BASELINES
    assert stats.REGRESSORS is comparators.REGRESSORS and stats.CLASSIFIERS is comparators.CLASSIFIERS
    assert METHODS == policies.POLICIES + baselines.BASELINES
    assert claims.FAMILY_ALIASES is profiles.FAMILY_ALIASES is costs.FAMILY_ALIASES
    assert set(FAMILY_NOTEBOOKS.values()) == set(profiles.GRID_FAMILIES)
    assert stats.FAMILIES == tuple(profiles.FAMILY_ALIASES[f] for f in profiles.GRID_FAMILIES)
    assert tables.REGRESSORS is comparators.REGRESSORS and tables.METHODS is METHODS


# ------------------------------------------------------------------ the old import paths

def test_old_module_paths_warn_and_read_the_new_modules(monkeypatch):
    from mabprune.study import cells, runner

    monkeypatch.delitem(sys.modules, "mabprune.experiments", raising=False)   # a fresh import warns

    with pytest.warns(_deprecated.MabpruneDeprecationWarning, match="mabprune.experiments moved to mabprune.study.runner"):
        old = importlib.import_module("mabprune.experiments")
    assert old.run_grid is runner.run_grid and old._run_cell is cells.run_cell
    for name, (targets, renamed) in _deprecated.MOVED_MODULES.items():
        for target in targets:
            importlib.import_module(target)   # every new home exists
        for old_name, new_name in renamed.items():
            assert any(hasattr(importlib.import_module(t), new_name) for t in targets), (name, old_name)


def test_patching_an_old_path_patches_the_new_module(monkeypatch):
    from mabprune.study import cells

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", _deprecated.MabpruneDeprecationWarning)
        old = importlib.import_module("mabprune.experiments")
    spy = object()
    monkeypatch.setattr(old, "prune", spy)
    assert cells.prune is spy
    monkeypatch.undo()
    assert cells.prune is mabprune.prune


def test_moved_names_of_existing_modules_warn():
    from mabprune import arms, masks

    with pytest.warns(_deprecated.MabpruneDeprecationWarning, match="mabprune.masks.Masker"):
        assert arms.Masker is masks.Masker
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        arms.nothing  # noqa: B018


def test_prune_stays_the_function_after_the_old_module_path_is_imported():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", _deprecated.MabpruneDeprecationWarning)
        importlib.import_module("mabprune.prune")
    assert callable(mabprune.prune) and mabprune.prune.__module__ == "mabprune.pruning"


def test_prune_reads_in_one_screen():
    tree = ast.parse((PACKAGE / "pruning.py").read_text())
    prune = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "prune")
    body = prune.body[1:]  # after the docstring
    assert body[-1].end_lineno - body[0].lineno + 1 <= 60


# ------------------------------------------------------------------ the wheel

def _closure(requirements: list[str]) -> set[str]:
    """Distributions needed by ``requirements`` (their own requirements, without extras), recursively."""
    seen: set[str] = set()
    todo = list(requirements)
    while todo:
        name = re.split(r"[ ;<>=!~\[]", todo.pop(), maxsplit=1)[0].lower().replace("_", "-")
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue   # a marker for another platform
        seen.add(name)
        todo += [r for r in (dist.requires or []) if "extra ==" not in r]
    return seen


def _top_level(dist_name: str) -> set[str]:
    dist = metadata.distribution(dist_name)
    names = set()
    for f in dist.files or []:
        first = f.parts[0]
        if first.endswith((".dist-info", ".data")) or first in ("..", "bin"):
            continue
        names.add(first)
    return names


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out, source = tmp_path_factory.mktemp("dist"), tmp_path_factory.mktemp("source")
    # built from a copy, so that setuptools' build/ folder never lands in the checkout
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(PACKAGE, source / "mabprune", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(source)], check=True, capture_output=True, timeout=300)
    return next(out.glob("mabprune-*.whl"))


def _venv(root: Path, wheel: Path, site_dirs: list[Path]) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120)
    python = root / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index",
                    str(wheel)], check=True, capture_output=True, timeout=300)
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "zz_dependencies.pth").write_text("".join(f"{d}\n" for d in site_dirs))
    return python


@pytest.mark.slow
def test_the_wheel_holds_every_subpackage(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in MODULES:
        assert str(_path(module).relative_to(REPO)) in names, module
    meta = next(n for n in names if n.endswith("METADATA"))
    text = zipfile.ZipFile(wheel).read(meta).decode()
    core = [line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("Requires-Dist:")
            and "extra ==" not in line]
    assert sorted(re.split(r"[<>=! ]", c)[0] for c in core) == ["numpy", "torch", "torch-pruning"]
    assert {"study", "analysis", "book", "cluster"} <= {line.split(": ")[1] for line in text.splitlines()
                                                        if line.startswith("Provides-Extra:")}


@pytest.mark.slow
def test_the_core_install_runs_the_readme_resnet18_example(wheel, tmp_path):
    # Only the core dependencies (and torchvision, which the example itself imports) are visible.
    deps = tmp_path / "core-deps"
    deps.mkdir()
    for dist in _closure(["torch", "torch-pruning", "numpy", "torchvision"]):
        for top in _top_level(dist):
            source = Path(metadata.distribution(dist).locate_file(top))
            if source.exists() and not (deps / top).exists():
                (deps / top).symlink_to(source)
    python = _venv(tmp_path / "venv", wheel, [deps])
    readme = (REPO / "README.md").read_text()
    example = next(b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "resnet18" in b)
    example = example.split("# 2.")[0]   # mabprune's entry point (the Torch-Pruning half repeats it, minutes on 2 cores)
    done = subprocess.run([str(python), "-c", "import pandas"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode != 0, "the core environment must not see the study's dependencies"
    done = subprocess.run([str(python), "-c", "import mabprune; print(mabprune.__file__)\n" + example],
                          capture_output=True, text=True, cwd=tmp_path, timeout=900,
                          env={**os.environ, "PYTHONPATH": ""})
    assert done.returncode == 0, done.stderr[-3000:]
    assert str(tmp_path / "venv") in done.stdout.splitlines()[0]
    assert "UCB1: params 11,181,642 -> 10,975,332" in done.stdout


@pytest.mark.slow
def test_the_full_install_runs_the_command_and_imports_every_module(wheel, tmp_path):
    site = Path(metadata.distribution("torch").locate_file(""))
    python = _venv(tmp_path / "venv", wheel, [site])
    done = subprocess.run([str(tmp_path / "venv" / "bin" / "mabprune"), "--help"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300, env={**os.environ, "PYTHONPATH": ""})
    assert done.returncode == 0 and "book-notebooks" in done.stdout, done.stderr[-2000:]
    code = ("import importlib, pkgutil, mabprune; "
            "[importlib.import_module(m.name) for m in pkgutil.walk_packages(mabprune.__path__, 'mabprune.') "
            "if not m.name.endswith('__main__')]; "
            "print(mabprune.__file__)")
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300,
                          env={**os.environ, "PYTHONPATH": ""})
    assert done.returncode == 0, done.stderr[-3000:]
    assert str(tmp_path / "venv") in done.stdout


# ------------------------------------------------------------------ the committed records

@pytest.mark.slow
@pytest.mark.parametrize("family", ["classification", "regression"])
def test_every_committed_standard_record_is_found_by_its_profile(family):
    # The record keys hash the run's parameters; the move of the modules must not change one.
    from mabprune.study import grid_spec, load_records, missing_runs, plan_runs

    folder = REPO / "results" / "standard"
    if not (folder / f"{family}.jsonl").exists():
        pytest.skip(f"no committed standard records of {family}")
    spec = grid_spec(family, "standard", data_root=os.environ.get("MABPRUNE_DATA") or None)
    committed = [json.loads(line) for line in (folder / f"{family}.jsonl").read_text().splitlines() if line.strip()]
    planned = {r["key"] for r in plan_runs(spec)}
    assert {r["key"] for r in committed if r.get("status") == "ok"} == planned
    assert missing_runs(spec, folder) == []
    assert len(load_records(folder, family, profile="standard")) == len(planned)


@pytest.mark.slow
def test_every_committed_verdict_record_is_found_by_its_setting():
    from mabprune.analysis import verdict

    for profile in ("quick", "standard"):
        store = REPO / "results" / profile / "verdict"
        for family_file in sorted(store.glob("*.jsonl")):
            family = family_file.stem
            assert verdict.missing_matrix_runs(family, profile, results_dir=store) == [], (profile, family)
