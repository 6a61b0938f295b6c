"""The ``mabprune`` command: run notebooks through papermill, list datasets, build the book's
notebooks and choose the book's default profile.

Examples
--------
.. code-block:: bash

    mabprune run notebooks/tabular_classification.ipynb --profile quick -p seeds "[0, 1]"
    mabprune datasets --family text
    mabprune book-notebooks --profile quick
    mabprune default-profile
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Sequence

__all__ = ["main"]

#: The experiment notebooks and their results family, executed first, in this order.
FAMILY_NOTEBOOKS = {"tabular_classification": "classification", "tabular_regression": "regression",
                    "deep_learning": "deep_learning"}
#: Notebooks that read the records of the families, executed after them when present.
LATER_NOTEBOOKS = ("statistical_analysis", "performance", "environment")
_PATH_PARAMS = ("results_dir", "data_root")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _yaml_value(text: str):
    """A parameter value as papermill's ``-y`` reads it: a YAML literal (``[0, 1]``, ``0.3``, ``null``)."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _execute(notebook: Path, output: Path, parameters: dict) -> int:
    """Execute one notebook with papermill (cwd = its folder); 0, or 1 with the failing cell shown."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        pm.execute_notebook(str(notebook), str(output), parameters=parameters, kernel_name="python3",
                            cwd=str(notebook.parent), progress_bar=False)
    except PapermillExecutionError as exc:
        tb = _ANSI.sub("", "\n".join(exc.traceback or []))
        print(f"error: {notebook.name} failed in cell {exc.cell_index} (execution count {exc.exec_count}):\n"
              f"{tb}\n{exc.ename}: {exc.evalue}\n(the partly executed notebook is {output})", file=sys.stderr)
        return 1
    return 0


def _parameters_of(notebook: Path) -> dict:
    import papermill as pm

    return pm.inspect_notebook(str(notebook))


def _cmd_run(args) -> int:
    from .experiments import repo_root

    notebook = Path(args.notebook)
    if not notebook.is_file():
        print(f"error: no notebook {args.notebook!r}", file=sys.stderr)
        return 2
    params = {name: _yaml_value(value) for name, value in args.parameter}
    if args.profile is not None:
        params["profile"] = args.profile
    for name in _PATH_PARAMS:  # relative paths are the caller's, not the notebook folder's
        if isinstance(params.get(name), str):
            params[name] = str(Path(params[name]).expanduser().resolve())
    known = _parameters_of(notebook)
    unknown = sorted(set(params) - set(known))
    if unknown:
        print(f"error: unknown parameter(s) {', '.join(unknown)} for {notebook.name}; "
              f"it takes: {', '.join(known)}", file=sys.stderr)
        return 2
    output = Path(args.output) if args.output else repo_root() / "book" / "executed" / notebook.name
    code = _execute(notebook.resolve(), output.resolve(), params)
    if code == 0:
        print(f"executed {notebook} -> {output}")
    return code


def _cmd_datasets(args) -> int:
    from . import data
    from .profiles import _registry

    root = data.data_root(args.data_root)
    print(f"data root: {root}" + ("" if root.is_dir() else " (missing)"))
    names = _registry(str(root))
    families = [args.family] if args.family else list(data.FAMILIES)
    for family in families:
        rows = [(n, data.is_available(n, root)) for n, f in names.items() if f == family]
        if args.available:
            rows = [r for r in rows if r[1]]
        print(f"\n{family} ({sum(a for _, a in rows)} of {len(rows)} present)")
        for name, present in rows:
            print(f"  {name:<40} {'present' if present else 'missing'}")
    return 0


def _cmd_book_notebooks(args) -> int:
    from .experiments import repo_root

    root = repo_root()
    source = Path(args.notebooks_dir) if args.notebooks_dir else root / "notebooks"
    out = Path(args.output_dir) if args.output_dir else root / "book" / "executed"
    present = {p.stem: p for p in sorted(source.glob("*.ipynb"))}
    order = [n for n in (*FAMILY_NOTEBOOKS, *LATER_NOTEBOOKS) if n in present]
    order += [n for n in present if n not in order]
    results_dir = Path(args.results_dir) if args.results_dir else root / "results" / args.profile
    for name in order:
        known = _parameters_of(present[name])
        params = {"profile": args.profile, "results_dir": str(results_dir.resolve()),
                  "data_root": None if args.data_root is None else str(Path(args.data_root).resolve())}
        params = {k: v for k, v in params.items() if k in known and v is not None}
        print(f"executing {name} ({', '.join(f'{k}={v}' for k, v in params.items()) or 'no parameters'})",
              flush=True)
        code = _execute(present[name], out / f"{name}.ipynb", params)
        if code:
            return code
    return 0


def _cmd_default_profile(args) -> int:
    from .experiments import missing_runs, repo_root
    from .profiles import GRID_FAMILIES, grid_spec, plan_runs

    results = Path(args.results_dir) if args.results_dir else repo_root() / "results" / "standard"
    covered = True
    for family in GRID_FAMILIES:
        spec = grid_spec(family, "standard")
        if not plan_runs(spec) or missing_runs(spec, results):
            covered = False
            break
    print("standard" if covered else "quick")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mabprune", description="Structured neuron pruning with multi-armed "
                                     "bandits: run the experiment notebooks, list datasets, build the book's notebooks.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute a notebook with papermill")
    run.add_argument("notebook", help="path of the .ipynb to execute")
    run.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                     help="a notebook parameter; VALUE is read as a YAML literal (repeatable)")
    run.add_argument("--profile", help="shorthand for -p profile P")
    run.add_argument("--output", help="executed copy (default book/executed/<name>.ipynb)")
    run.set_defaults(func=_cmd_run)

    ds = sub.add_parser("datasets", help="list the dataset registry and what is present locally")
    ds.add_argument("--family", choices=("classification", "regression", "image", "text", "reasoning"))
    ds.add_argument("--data-root", help="data root (default MABPRUNE_DATA, else data/)")
    ds.add_argument("--available", action="store_true", help="list only the datasets present")
    ds.set_defaults(func=_cmd_datasets)

    book = sub.add_parser("book-notebooks", help="execute every notebook of notebooks/ into book/executed/")
    book.add_argument("--profile", required=True, choices=("smoke", "quick", "standard", "full"))
    book.add_argument("--data-root", help="data root passed to notebooks that take one")
    book.add_argument("--results-dir", help="store folder (default results/<profile>)")
    book.add_argument("--notebooks-dir", help=argparse.SUPPRESS)
    book.add_argument("--output-dir", help=argparse.SUPPRESS)
    book.set_defaults(func=_cmd_book_notebooks)

    default = sub.add_parser("default-profile",
                             help="print 'standard' if results/standard covers the standard grid, else 'quick'")
    default.add_argument("--results-dir", help="store folder to check (default results/standard)")
    default.set_defaults(func=_cmd_default_profile)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mabprune`` console script; returns the exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        0 on success, 1 when a notebook raised, 2 for a usage error.
    """
    args = _parser().parse_args(argv)
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # quiets a kernel warning in papermill runs
    try:
        return int(args.func(args) or 0)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
