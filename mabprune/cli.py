"""The ``mabprune`` command: run notebooks through papermill, list datasets, build the book's
notebooks and choose the book's default profile.

Examples
--------
.. code-block:: bash

    mabprune run notebooks/tabular_classification.ipynb --profile quick -p seeds "[0, 1]"
    mabprune run notebooks/tabular_regression.ipynb --profile full --cluster tcp://scheduler:8786
    mabprune plan --profile full --family regression
    mabprune datasets --family text
    mabprune book-notebooks --profile quick
    mabprune book-notebooks --profile auto      # each family at its book profile (book_profiles)
    mabprune default-profile
    mabprune default-profile --per-family       # classification=standard regression=standard deep_learning=quick
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path
from typing import Mapping, Sequence

from mabprune import __version__, data
from mabprune.study import cluster
from mabprune.study.book_profile import BOOK_FALLBACK, book_profiles, format_profiles, parse_profiles, resolve_profiles
from mabprune.study.paths import repo_root
from mabprune.study.plan import plan_runs
from mabprune.study.profiles import FAMILY_ALIASES, GRID_FAMILIES, PROFILES, grid_spec
from mabprune.study.runner import readable_store, store_path
from mabprune.study.store import peek

__all__ = ["FAMILY_NOTEBOOKS", "book_parameters", "main"]

#: The experiment notebooks and their results family, executed first, in this order.
FAMILY_NOTEBOOKS = {notebook: family for family, notebook in FAMILY_ALIASES.items()}
#: Notebooks that read the records of the families, executed after them when present.
LATER_NOTEBOOKS = ("statistical_analysis", "verdict_matrix", "performance", "environment")
_PATH_PARAMS = ("results_dir", "data_root")
#: Parameters that change which runs a family notebook plans (and so its default store).
_GRID_PARAMS = ("datasets", "methods", "seeds", "amount", "rounds")
#: Grid parameters of the family notebooks that :func:`mabprune.study.profiles.grid_spec` takes.
_SPEC_PARAMS = (*_GRID_PARAMS, "device", "data_root", "n_jobs")
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


def _custom_store(profile: str, params: dict) -> Path:
    """``results/custom/<profile>-<overrides>``: the store of a run whose grid differs from the profile's."""
    import hashlib
    import json

    parts = [f"{k}={json.dumps(params[k], separators=(',', ':'))}" for k in _GRID_PARAMS if params.get(k) is not None]
    slug = re.sub(r"[^A-Za-z0-9.=,_-]+", "_", "-".join(parts)).strip("_")
    if len(slug) > 60:
        slug = hashlib.sha256(slug.encode()).hexdigest()[:12]
    return repo_root() / "results" / "custom" / f"{profile}-{slug}"


def _grid_errors(notebook: Path, params: dict) -> list[str]:
    """The runs of a family notebook's grid whose record is an error, as ``key: status``."""
    family = FAMILY_NOTEBOOKS.get(notebook.stem)
    if family is None:
        return []
    spec = grid_spec(family, params.get("profile", "quick"), **{k: params.get(k) for k in _SPEC_PARAMS})
    store = readable_store(store_path(spec, params.get("results_dir")))
    return [f"{r['key']}: {store[r['key']].get('status')}" for r in plan_runs(spec)
            if r["key"] in store and store[r["key"]].get("status") != "ok"]


def _cmd_run(args) -> int:

    notebook = Path(args.notebook)
    if not notebook.is_file():
        print(f"error: no notebook {args.notebook!r}", file=sys.stderr)
        return 2
    params = {name: _yaml_value(value) for name, value in args.parameter}
    if args.profile is not None:
        params["profile"] = args.profile
    if args.cluster is not None:
        params["cluster"] = cluster.check_address(args.cluster)
    for name in _PATH_PARAMS:  # relative paths are the caller's, not the notebook folder's
        if isinstance(params.get(name), str):
            params[name] = str(Path(params[name]).expanduser().resolve())
    known = _parameters_of(notebook)
    unknown = sorted(set(params) - set(known))
    if unknown:
        print(f"error: unknown parameter(s) {', '.join(unknown)} for {notebook.name}; "
              f"it takes: {', '.join(known)}", file=sys.stderr)
        return 2
    if (notebook.stem in FAMILY_NOTEBOOKS and "results_dir" in known and params.get("results_dir") is None
            and any(params.get(k) is not None for k in _GRID_PARAMS)):
        # Another grid than the profile's: its own store, so the profile's folder (and the book) stay as they are.
        params["results_dir"] = str(_custom_store(str(params.get("profile", _default(known, "profile"))), params))
        print(f"records of this grid go to {params['results_dir']} (pass -p results_dir DIR to choose)")
    output = Path(args.output) if args.output else repo_root() / "runs" / notebook.name
    code = _execute(notebook.resolve(), output.resolve(), params)
    if code:
        return code
    print(f"executed {notebook} -> {output}")
    errors = _grid_errors(notebook, {"profile": _default(known, "profile"), **params})
    if errors:
        shown = "\n  ".join(errors[:20]) + (f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else "")
        print(f"error: {len(errors)} run(s) of the grid ended in an error:\n  {shown}", file=sys.stderr)
        return 1
    return 0


def _default(known: dict, name: str):
    """A notebook parameter's default value as papermill reads it (``None`` if absent)."""
    text = known.get(name, {}).get("default")
    return None if text is None else _yaml_value(text)


def _cmd_datasets(args) -> int:

    root = data.data_root(args.data_root)
    print(f"data root: {root}" + ("" if root.is_dir() else " (missing)"))
    names = data.dataset_families(root)
    families = [args.family] if args.family else list(data.FAMILIES)
    for family in families:
        rows = [(n, data.is_available(n, root)) for n, f in names.items() if f == family]
        if args.available:
            rows = [r for r in rows if r[1]]
        print(f"\n{family} ({sum(a for _, a in rows)} of {len(rows)} present)")
        for name, present in rows:
            print(f"  {name:<40} {'present' if present else 'missing'}")
    return 0


def _book_profiles_of(args) -> dict[str, str]:
    """The per-family profiles a ``book-notebooks`` call asks for (``--profile auto``, a single
    profile, or ``--profiles``)."""
    if args.profiles is not None:  # argparse allows one of the two, and requires one
        return parse_profiles(args.profiles)
    if args.profile == "auto":
        return book_profiles()
    return resolve_profiles(None, args.profile)


def book_parameters(name: str, known: Mapping, profiles: Mapping[str, str], *, results_dir: str | None = None,
                    data_root: str | None = None) -> dict:
    """The papermill parameters ``book-notebooks`` gives notebook ``name``.

    A family notebook (:data:`FAMILY_NOTEBOOKS`) gets its family's profile; a notebook with a
    ``profiles`` parameter gets the whole mapping, even when the families agree (so that the
    verdict matrix applies the book's rule: a standard matrix not computed falls back to quick,
    never computed by a build); any other gets ``profile`` when every family has the same one.
    ``results_dir`` and ``data_root`` go to the notebooks that take them; only parameters the
    notebook declares (``known``, from papermill's ``inspect_notebook``) are passed.

    Parameters
    ----------
    name : str
        Notebook stem, e.g. ``"statistical_analysis"``.
    known : mapping
        The notebook's parameters (names are what matter).
    profiles : mapping
        Family -> profile for every family (:func:`resolve_profiles`).
    results_dir, data_root : str, optional

    Returns
    -------
    dict

    Examples
    --------
    >>> mixed = {"classification": "standard", "regression": "standard", "deep_learning": "quick"}
    >>> book_parameters("deep_learning", {"profile": {}, "results_dir": {}}, mixed)
    {'profile': 'quick'}
    >>> book_parameters("statistical_analysis", {"profile": {}, "profiles": {}}, mixed)
    {'profiles': {'classification': 'standard', 'regression': 'standard', 'deep_learning': 'quick'}}
    """
    distinct = set(profiles.values())
    if name in FAMILY_NOTEBOOKS:
        params: dict = {"profile": profiles[FAMILY_NOTEBOOKS[name]]}
    elif "profiles" in known:   # the book's rules even when the families agree (a matrix not computed falls back)
        params = {"profiles": dict(profiles)}
    elif len(distinct) == 1:
        params = {"profile": next(iter(distinct))}
    elif "profile" in known:
        raise ValueError(f"{name} takes one profile but the families are at different profiles "
                         f"({format_profiles(profiles)}): give it a 'profiles' parameter, or pass --profile")
    else:
        params = {}
    if len(distinct) > 1 and results_dir is not None:
        raise ValueError(f"--results-dir names one store, but the families are at different profiles "
                         f"({format_profiles(profiles)}): pass --profile with it")
    params.update(results_dir=results_dir, data_root=data_root)
    return {k: v for k, v in params.items() if k in known and v is not None}


def _cmd_book_notebooks(args) -> int:

    profiles = _book_profiles_of(args)
    root = repo_root()
    source = Path(args.notebooks_dir) if args.notebooks_dir else root / "notebooks"
    out = Path(args.output_dir) if args.output_dir else root / "book" / "executed"
    present = {p.stem: p for p in sorted(source.glob("*.ipynb"))}
    order = [n for n in (*FAMILY_NOTEBOOKS, *LATER_NOTEBOOKS) if n in present]
    order += [n for n in present if n not in order]
    # Without --results-dir the notebooks find results/<profile> themselves, so the executed
    # copies (downloadable from the book) hold no path of the machine that built them.
    results_dir = str(Path(args.results_dir).resolve()) if args.results_dir else None
    data_root = None if args.data_root is None else str(Path(args.data_root).resolve())
    print(f"book profiles: {format_profiles(profiles)}", flush=True)
    # Every notebook's parameters are built (and checked) before the first one runs.
    jobs = [(name, book_parameters(name, _parameters_of(present[name]), profiles, results_dir=results_dir,
                                   data_root=data_root)) for name in order]
    times: dict[str, float] = {}
    for name, params in jobs:
        print(f"executing {name} ({', '.join(f'{k}={v}' for k, v in params.items()) or 'no parameters'})",
              flush=True)
        started = time.perf_counter()
        code = _execute(present[name], out / f"{name}.ipynb", params)
        times[name] = time.perf_counter() - started
        print(f"{name}: {times[name]:.1f} s" + (" (failed)" if code else ""), flush=True)
        if code:
            return code
    print(notebook_times(times, profiles), flush=True)
    return 0


def notebook_times(times: Mapping[str, float], profiles: Mapping[str, str]) -> str:
    """The closing lines of ``book-notebooks``: each notebook's wall time, longest first, and the total.

    Examples
    --------
    >>> print(notebook_times({"a": 3.04, "deep_learning": 61.0}, {"deep_learning": "quick"}))
    notebook times (wall clock):
      deep_learning           61.0 s  (profile quick)
      a                        3.0 s
      total                   64.0 s
    """
    lines = ["notebook times (wall clock):"]
    for name, seconds in sorted(times.items(), key=lambda kv: -kv[1]):
        family = FAMILY_NOTEBOOKS.get(name)
        note = f"  (profile {profiles[family]})" if family in profiles else ""
        lines.append(f"  {name:<22}{seconds:>6.1f} s{note}")
    lines.append(f"  {'total':<22}{sum(times.values()):>6.1f} s")
    return "\n".join(lines)


def _plan_family(family: str, profile: str, results_dir: Path | None, data_root) -> dict:
    """Runs and cells of one family's grid, those already ``ok`` in the store, and an
    estimate of the compute time of the rest from recorded times of comparable runs."""
    import statistics

    spec = grid_spec(family, profile, data_root=data_root)
    runs = plan_runs(spec)
    store = readable_store(store_path(spec, results_dir))
    todo = [r for r in runs if store.get(r["key"], {}).get("status") != "ok"]
    cells = {(r["dataset"], r["seed"]) for r in todo if r["kind"] != "regressor"}
    # Comparable runs: the same family, kind and method, from this profile's records if any,
    # else from the largest smaller profile that has some (which then underestimates).
    order = list(PROFILES)
    sources = [(profile, store_path(spec, results_dir))]
    sources += [(p, repo_root() / "results" / p / f"{family}.jsonl") for p in reversed(order[:order.index(profile)])]
    times, train, source = {}, [], None
    for name, path in sources:
        recs = [r for r in peek(path).values() if r.get("status") == "ok" and r.get("family") == family]
        if not recs:
            continue
        for r in recs:
            t = r.get("prune_time_s") if r.get("kind") != "regressor" else r.get("train_time_s")
            if isinstance(t, (int, float)):
                times.setdefault((r.get("kind"), r.get("method")), []).append(float(t))
        train = [float(r["train_time_s"]) for r in recs if r.get("kind") != "regressor"
                 and isinstance(r.get("train_time_s"), (int, float))]
        source = f"{len(recs)} ok records of {path}"
        if name != profile:
            a, b = PROFILES[name].settings, PROFILES[profile].settings
            larger = [f"{k} {a[k]} -> {b[k]}" for k in ("rounds", "arms_per_round", "fine_tune_epochs")
                      if a.get(k) != b.get(k)]
            source += (f" (profile {name!r}, whose runs are smaller: {', '.join(larger) or 'other data'}; "
                       f"a lower bound)")
        break
    everything = [t for ts in times.values() for t in ts]
    fallback = statistics.median(everything) if everything else None
    est, unknown = 0.0, 0
    for r in todo:
        ts = times.get((r["kind"], r["method"]))
        if ts or fallback is not None:
            est += statistics.median(ts) if ts else fallback
        else:
            unknown += 1
    if train:
        est += statistics.median(train) * len(cells)  # one network per (dataset, seed) cell
    return {"family": family, "runs": len(runs), "done": len(runs) - len(todo), "todo": len(todo),
            "cells": len(cells), "estimate_s": est if source else None, "source": source, "unknown": unknown}


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h" if seconds < 72 * 3600 else f"{seconds / 86400:.1f} days"


def _cmd_plan(args) -> int:

    families = [args.family] if args.family else list(GRID_FAMILIES)
    results = Path(args.results_dir) if args.results_dir else None
    total = 0.0
    for family in families:
        p = _plan_family(family, args.profile, results, args.data_root)
        print(f"{args.profile}/{family}: {p['runs']:,} runs in {p['runs'] and p['cells'] or 0:,} cells to train; "
              f"{p['done']:,} already ok in the store, {p['todo']:,} to compute")
        if p["todo"] and p["estimate_s"] is None:
            print("  no recorded runs of this family to estimate the time from (run a smaller profile first)")
        elif p["todo"]:
            total += p["estimate_s"]
            on = f" ({_duration(p['estimate_s'] / args.workers)} on {args.workers} workers)" if args.workers > 1 else ""
            print(f"  estimated compute: {_duration(p['estimate_s'])} on one worker{on}, from the median "
                  f"prune/train seconds per method of {p['source']}")
            if p["unknown"]:
                print(f"  ({p['unknown']} runs had no comparable record and are not counted)")
    if len(families) > 1 and total:
        on = f", {_duration(total / args.workers)} on {args.workers} workers" if args.workers > 1 else ""
        print(f"all families: {_duration(total)} on one worker{on}")
    return 0


def _cmd_default_profile(args) -> int:
    profiles = book_profiles(args.results_dir)
    if args.per_family:
        print(format_profiles(profiles))
    else:  # the single-profile answer of scripts: standard only when every family is covered
        print("standard" if set(profiles.values()) == {"standard"} else BOOK_FALLBACK)
    return 0


#: Upper bound of ``plan --workers``.
MAX_WORKERS = 100_000


def _int_between(low: int, high: int):
    """An argparse type: an int in ``low..high``, refused in one line (``choices=range`` lists every value)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be an integer from {low} to {high}, got {text!r}")
        return value

    return parse


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mabprune", description="Structured neuron pruning with multi-armed "
                                     "bandits: run the experiment notebooks, plan a grid, list datasets, "
                                     "build the book's notebooks.")

    parser.add_argument("--version", action="version", version=f"mabprune {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute a notebook with papermill")
    run.add_argument("notebook", help="path of the .ipynb to execute")
    run.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                     help="a notebook parameter; VALUE is read as a YAML literal (repeatable)")
    run.add_argument("--profile", help="shorthand for -p profile P")
    run.add_argument("--cluster", metavar="ADDRESS",
                     help="run the grid on Dask: 'local:N' (N worker processes here) or a scheduler address "
                          "'tcp://host:8786' (needs: pip install 'mabprune[cluster]')")
    run.add_argument("--output", help="executed copy (default runs/<name>.ipynb; the book's copies in "
                                      "book/executed/ are left alone)")
    run.set_defaults(func=_cmd_run)

    ds = sub.add_parser("datasets", help="list the dataset registry and what is present locally")
    ds.add_argument("--family", choices=("classification", "regression", "image", "text", "reasoning"))
    ds.add_argument("--data-root", help="data root (default MABPRUNE_DATA, else data/)")
    ds.add_argument("--available", action="store_true", help="list only the datasets present")
    ds.set_defaults(func=_cmd_datasets)

    book = sub.add_parser("book-notebooks", help="execute every notebook of notebooks/ into book/executed/")
    which = book.add_mutually_exclusive_group(required=True)
    which.add_argument("--profile", choices=("smoke", "quick", "standard", "full", "auto"),
                      help="the profile of every family; auto: each family at its book profile (standard where "
                           "results/standard covers the family's standard grid, else quick)")
    which.add_argument("--profiles", metavar="PAIRS",
                      help="per-family profiles, as 'default-profile --per-family' prints them: "
                           "'classification=standard regression=standard deep_learning=quick'")
    book.add_argument("--data-root", help="data root passed to notebooks that take one")
    book.add_argument("--results-dir", help="store folder (default results/<profile>; one profile only)")
    book.add_argument("--notebooks-dir", help=argparse.SUPPRESS)
    book.add_argument("--output-dir", help=argparse.SUPPRESS)
    book.set_defaults(func=_cmd_book_notebooks)

    plan = sub.add_parser("plan", help="count a profile's runs, those already stored, and estimate the compute "
                                       "time of the rest")
    plan.add_argument("--profile", required=True, choices=("smoke", "quick", "standard", "full"))
    plan.add_argument("--family", choices=("classification", "regression", "deep_learning"))
    plan.add_argument("--results-dir", help="store folder (default results/<profile>)")
    plan.add_argument("--data-root", help="data root (default MABPRUNE_DATA, else data/)")
    plan.add_argument("--workers", type=_int_between(1, MAX_WORKERS), default=1, metavar="N",
                      help="also show the time on N workers (cells are independent: the time divides by N)")
    plan.set_defaults(func=_cmd_plan)

    default = sub.add_parser("default-profile",
                             help="print 'standard' if results/standard covers the standard grid of every "
                                  "family, else 'quick'; --per-family: each family's choice")
    default.add_argument("--results-dir", help="store folder to check (default results/standard)")
    default.add_argument("--per-family", action="store_true",
                         help="print 'family=profile' for every family, each standard when its own standard "
                              "grid is covered, else quick (what make book renders)")
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
