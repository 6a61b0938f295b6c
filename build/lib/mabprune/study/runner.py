"""The grid runner: every run of a grid, resumed from the results store, computed cell by cell.

A cell is one (dataset, seed): one trained network and every run on it
(:mod:`mabprune.study.cells` computes it; :mod:`mabprune.study.cluster` runs cells on Dask).

Every run becomes one JSON record, appended to ``<results_dir>/<family>.jsonl`` (see
``results/README.md`` for the schema) and keyed by dataset, method, seed and a hash of every
parameter that affects its result, so that :func:`run_grid` resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import platform
import subprocess
import threading
import time
from importlib import metadata
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd

import sklearn
import torch
from tqdm.std import tqdm

from mabprune import __version__, data
from mabprune.study import cluster as dask_cluster
from mabprune.study import deep_tasks
from mabprune.study.cells import error_record, run_cell
from mabprune.study.paths import default_results_dir, repo_root
from mabprune.study.plan import plan_runs, training_group
from mabprune.study.profiles import GridSpec, check_int
from mabprune.study.store import append_record, load_store, peek

__all__ = ["MAX_SEED", "missing_runs", "readable_store", "run_grid", "store_path"]


def _provenance(spec: GridSpec) -> dict:
    def version(dist):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    def git(*args):  # None without git or outside a checkout
        try:
            done = subprocess.run(["git", *args], cwd=repo_root(), capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD") or None
    status = git("status", "--porcelain", "--", "mabprune") if commit else None  # the code that ran
    return {"profile": spec.profile, "family": spec.family, "git_commit": commit,
            "git_dirty": None if status is None else bool(status),
            "versions": {"python": platform.python_version(), "torch": torch.__version__, "mabprune": __version__,
                         "torch-pruning": version("torch-pruning"), "numpy": np.__version__,
                         "scikit-learn": sklearn.__version__}}


# ----------------------------------------------------------------------------- the runner

def _queued_cell(job: dict, queue) -> None:
    run_cell(job, queue.put)


def _execute(jobs: list[dict], n_jobs: int, emit: Callable[[dict], None]) -> None:
    """Run cells inline (``n_jobs=1``) or in loky workers that stream each finished record
    back to this process through a queue; only this process writes the store."""
    if not jobs:  # a complete store: nothing to compute (joblib would get n_jobs=0)
        return
    if n_jobs == 1 or len(jobs) == 1:
        for job in jobs:
            run_cell(job, emit)
        return
    import multiprocessing

    from joblib import Parallel, delayed

    failure: list[BaseException] = []
    with multiprocessing.Manager() as manager:
        queue = manager.Queue()

        def produce():
            try:
                Parallel(n_jobs=min(n_jobs, len(jobs)), backend="loky")(delayed(_queued_cell)(j, queue) for j in jobs)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                failure.append(exc)
            finally:
                queue.put(None)

        worker = threading.Thread(target=produce, daemon=True)
        worker.start()
        while (record := queue.get()) is not None:
            emit(record)
        worker.join()
    if failure:
        raise failure[0]


def _check_available(spec: GridSpec, datasets: Iterable[str]) -> None:
    if os.environ.get("MABPRUNE_DOWNLOAD", "") == "1":
        return
    # a deep task "<model>@<dataset>" needs its dataset's files
    names = dict.fromkeys(deep_tasks.parse_task(n)[1] if deep_tasks.is_task(n) else n for n in datasets)
    missing = [n for n in names if not data.is_available(n, spec.data_root)]
    if missing:
        raise ValueError(f"datasets not available under the data root {data.data_root(spec.data_root)}: "
                         f"{', '.join(missing)}. Set MABPRUNE_DATA (or data_root) to a folder that has them, "
                         f"or MABPRUNE_DOWNLOAD=1 to download them.")


#: Seeds seed NumPy's legacy generator among others, which takes 0 .. 2**32 - 1.
MAX_SEED = 2**32 - 1
_DEVICE_TYPES = ("cpu", "cuda")


def _check_runnable(spec: GridSpec) -> None:
    """Seeds and device that every run would fail on, refused before anything is computed."""
    for seed in spec.seeds:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
            raise ValueError(f"seed {seed!r} is out of range: seeds must be integers in 0 .. 2**32 - 1 = {MAX_SEED}")
    device = str(spec.device)
    if device != "auto" and device.split(":")[0] not in _DEVICE_TYPES:
        raise ValueError(f"device {device!r} is not supported: use 'auto', 'cpu' or 'cuda' (or 'cuda:N')")


def _check_writable(path: Path) -> None:
    """The store file can be created or appended to; raised before any compute, naming the path."""
    folder = path.parent
    for parent in (folder, *folder.parents):
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"results_dir {folder} cannot be a store folder: {parent} is a file")
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"results_dir {folder} cannot be created: {exc.strerror or exc}") from None
    if path.exists() and not (path.is_file() and os.access(path, os.W_OK)):
        raise ValueError(f"the store {path} is not a writable file: runs to compute could not be recorded")
    if not path.exists() and not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"results_dir {folder} is not writable: runs to compute could not be recorded")


def store_path(spec: GridSpec, results_dir) -> Path:
    """``<results_dir>/<family>.jsonl``; ``results_dir`` defaults to ``results/<profile>``."""
    return Path(results_dir if results_dir is not None else default_results_dir(spec.profile)) / f"{spec.family}.jsonl"


def readable_store(path: Path) -> dict[str, dict]:
    """Latest record per key: repaired under the lock when writable, else read as it is."""
    if path.is_file() and os.access(path, os.W_OK) and os.access(path.parent, os.W_OK):
        return load_store(path)
    return peek(path)


def run_grid(spec: GridSpec, *, results_dir: str | os.PathLike | None = None, recompute: bool = False,
             n_jobs: int | None = None, progress: bool = True, cluster: str | None = None,
             retries: int = 2) -> pd.DataFrame:
    """Run a grid, reusing the records already in the store, and return its records.

    Parameters
    ----------
    spec : GridSpec
        From :func:`mabprune.study.profiles.grid_spec`.
    results_dir : str or path-like, optional
        The store folder; records go to ``<results_dir>/<family>.jsonl``. Default
        ``results/<profile>`` under the repository root.
    recompute : bool, default=False
        Recompute every run, even those with an ``ok`` record.
    n_jobs : int, optional
        Parallel (dataset, seed) cells (joblib's loky backend); default ``spec.n_jobs``.
        Ignored with ``cluster``.
    progress : bool, default=True
        Show a tqdm progress bar over the runs to compute.
    cluster : str, optional
        Run the cells on Dask (:mod:`mabprune.study.cluster`, the optional ``cluster`` extra):
        ``"local:N"`` starts a local cluster of ``N`` single-threaded worker processes,
        ``"tcp://host:8786"`` connects to a running scheduler. ``None`` (default): this
        machine, with ``n_jobs``. Not part of the cache key.
    retries : int, default=2
        With ``cluster``: how often a cell whose task raised or whose worker died is run
        again elsewhere before its runs are recorded as errors.

    Returns
    -------
    pandas.DataFrame
        One row per run of the grid (the latest record of each key). ``df.attrs`` holds
        ``computed`` (runs computed by this call), ``loaded`` (taken from the store),
        ``errors``, ``path`` and ``wall_time_s``.

    Raises
    ------
    ValueError
        Before any compute: a seed outside 0 .. 2**32 - 1, a device other than ``auto``,
        ``cpu`` or ``cuda``, a bad ``cluster`` address, or a store that cannot be written
        while there are runs to compute (a complete store is read even when read-only).
    ImportError
        ``cluster`` without the ``cluster`` extra installed (the message names it).

    Notes
    -----
    Records are appended one per finished run, with an ``fsync`` each, by this process only;
    a torn last line left by a killed run is dropped when the store is next read, so a
    killed grid loses at most the runs in progress. Runs whose record is an error are not
    cached: the next call retries them.

    Examples
    --------
    >>> import tempfile
    >>> from mabprune.study.profiles import grid_spec
    >>> spec = grid_spec("classification", "smoke", sweep_methods=[], methods=["magnitude"])
    >>> with tempfile.TemporaryDirectory() as d:
    ...     first = run_grid(spec, results_dir=d, progress=False)
    ...     again = run_grid(spec, results_dir=d, progress=False)
    >>> first.attrs["computed"], again.attrs["computed"], again.attrs["loaded"]
    (1, 0, 1)
    """
    if not isinstance(spec, GridSpec):
        raise ValueError(f"spec must be a GridSpec from grid_spec(), got {type(spec).__name__}")
    n_jobs = spec.n_jobs if n_jobs is None else check_int("n_jobs", n_jobs, 1)
    retries = check_int("retries", retries, 0)
    _check_runnable(spec)
    cluster = dask_cluster.check_address(cluster)
    if cluster is not None:
        dask_cluster._distributed()  # the named ImportError now, not after reading the store
    start = time.perf_counter()
    path = store_path(spec, results_dir)
    if path.parent.exists() and not path.parent.is_dir():
        raise ValueError(f"results_dir {path.parent} is a file, not a store folder")
    runs = plan_runs(spec)
    store = readable_store(path)
    done = set() if recompute else {k for k, r in store.items() if r.get("status") == "ok"}
    todo = [r for r in runs if r["key"] not in done]
    if todo:
        _check_writable(path)
    _check_available(spec, (r["dataset"] for r in todo))
    jobs: dict[tuple, dict] = {}
    fields = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec) if f.name != "training"}
    for run in todo:
        cell = (run["dataset"], run["seed"])
        if cell not in jobs:
            jobs[cell] = {"dataset": run["dataset"], "seed": run["seed"], "spec": fields, "device": spec.device,
                          "training": spec.training[training_group(run["dataset"])], "runs": []}
        jobs[cell]["runs"].append(run)
    provenance = _provenance(spec) if todo else {}
    bar = tqdm(total=len(todo), desc=f"{spec.profile}/{spec.family}", unit="run", disable=not progress)
    computed = 0

    def emit(record: dict) -> None:
        nonlocal computed
        record.setdefault("host", platform.node())  # cluster workers set their own
        record.update(provenance, timestamp=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
        append_record(path, record)
        store.pop(record["key"], None)
        store[record["key"]] = record
        computed += 1
        bar.update()

    try:
        if cluster is None:
            _execute(list(jobs.values()), n_jobs, emit)
        else:
            dask_cluster.execute(list(jobs.values()), cluster, emit, retries=retries,
                                 error=lambda run, exc: error_record(run, exc, device=spec.device))
    finally:
        bar.close()
    if computed:
        store = load_store(path, compact=True)  # drop superseded records (reruns of errors, recompute)
    rows = [store[r["key"]] for r in runs if r["key"] in store]
    df = pd.DataFrame(rows)
    df.attrs.update(computed=computed, loaded=len(runs) - len(todo), path=str(path),
                    errors=int(sum(not str(r.get("status")).startswith("ok") for r in rows)),
                    wall_time_s=time.perf_counter() - start)
    return df


def missing_runs(spec: GridSpec, results_dir: str | os.PathLike | None = None) -> list[str]:
    """Keys of the grid without an ``ok`` record in the store (nothing is computed).

    Examples
    --------
    >>> from mabprune.study.profiles import grid_spec
    >>> len(missing_runs(grid_spec("classification", "smoke"), "/nonexistent"))
    5
    """
    store = readable_store(store_path(spec, results_dir))
    return [r["key"] for r in plan_runs(spec) if store.get(r["key"], {}).get("status") != "ok"]
