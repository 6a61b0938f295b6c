"""The experiment protocol and the grid runner (the store is :mod:`mabprune.store`, the tables
the notebooks show are :mod:`mabprune.tables`; both re-exported here).

Protocol of one (dataset, seed) cell: :func:`mabprune.data.load` splits the data three ways;
one network (:func:`mabprune.models.build_model`) is trained on the training split; every
method then prunes a copy of the same trained network, with the **validation** split as
the reward data, optionally fine-tunes it on the training split, and is scored once on the
**test** split (accuracy, or R² for regression). Regression targets are standardised with
the training split's mean and standard deviation before training; R² is invariant to an
affine rescaling of targets and predictions together, so it equals the R² on the original
scale. The regression family also fits scikit-learn's standard regressors on the same splits.

Every run becomes one JSON record, appended to ``<results_dir>/<family>.jsonl`` (see
``results/README.md`` for the schema) and keyed by dataset, method, seed and a hash of every
parameter that affects its result, so that :func:`run_grid` resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import os
import platform
import subprocess
import threading
import time
import traceback
from importlib import metadata
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from . import data, deep, models, policies
from .classifiers import CLASSIFIER_PARAMS, fit_score  # noqa: F401 - CLASSIFIER_PARAMS used by the notebooks
from .profiles import METHODS, REGRESSOR_PARAMS, GridSpec, _group, _int, plan_runs
from .prune import prune
from .store import _append, _latest, _load_store, _locked, _peek, _read, _rewrite  # noqa: F401 - re-exported
from .tables import cost_table, load_records, mean_ranks, score_table, sweep_table  # noqa: F401 - re-exported

__all__ = ["cost_table", "default_results_dir", "load_records", "mean_ranks", "missing_runs", "repo_root",
           "run_grid", "score_table", "sweep_table"]


def repo_root() -> Path:
    """The repository root: the package's parent in a source checkout, else the first parent
    of the working directory that has ``pyproject.toml`` and ``notebooks/`` (papermill runs
    notebooks from ``notebooks/``), else the working directory."""
    here = Path(__file__).resolve().parents[1]
    cwd = Path.cwd().resolve()
    for base in (here, cwd, *cwd.parents):
        if (base / "pyproject.toml").is_file() and (base / "notebooks").is_dir():
            return base
    return Path.cwd().resolve()


def repo_relative(path: str | os.PathLike) -> str:
    """``path`` relative to the repository root when it lies below it (what the book prints, so
    that its pages show no path of the machine that built them), else unchanged.

    >>> repo_relative(repo_root() / "results" / "quick")
    'results/quick'
    """
    path = Path(path).resolve()
    try:
        return path.relative_to(repo_root()).as_posix()
    except ValueError:
        return str(path)


def default_results_dir(profile: str) -> Path:
    """``results/<profile>`` under :func:`repo_root`."""
    return repo_root() / "results" / profile


# ----------------------------------------------------------------------------- one cell

def _finite(x):
    return float(x) if x is not None and math.isfinite(float(x)) else None


def _regressor(name: str, seed: int):
    from sklearn import ensemble, linear_model, neighbors, svm, tree

    cls = {"linear": linear_model.LinearRegression, "ridge": linear_model.Ridge, "lasso": linear_model.Lasso,
           "elastic_net": linear_model.ElasticNet, "knn": neighbors.KNeighborsRegressor,
           "decision_tree": tree.DecisionTreeRegressor, "random_forest": ensemble.RandomForestRegressor,
           "gradient_boosting": ensemble.GradientBoostingRegressor, "svr": svm.SVR}[name]
    kw = {k: v for k, v in REGRESSOR_PARAMS[name].items() if k != "seeded"}
    return cls(**kw, **({"random_state": seed} if REGRESSOR_PARAMS[name].get("seeded") else {}))


def _error(run: dict, exc: BaseException, **extra) -> dict:
    tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return {**_base(run), **extra, "status": f"error: {type(exc).__name__}: {exc}", "traceback": "".join(tb)[-2000:]}


def _base(run: dict) -> dict:
    return {k: run[k] for k in ("key", "dataset", "method", "kind", "seed", "amount", "params", "params_hash")}


def _authors_record(run, common, model, ds, y_val, y_test, seed, device, before, train_time) -> dict:
    """One run under the ``authors`` or ``authors-honest`` protocol (see :mod:`mabprune.protocols`)."""
    import torch

    from .protocols import run_authors

    dev = next(model.parameters()).device
    as_t = lambda a, dtype: torch.as_tensor(np.asarray(a), dtype=dtype, device=dev)  # noqa: E731
    ydt = torch.float32 if ds.task == "regression" else torch.long
    xdt = torch.long if np.asarray(ds.X_test).dtype.kind in "iu" else torch.float32
    splits = {"val": (as_t(ds.X_val, xdt), as_t(y_val, ydt)), "test": (as_t(ds.X_test, xdt), as_t(y_test, ydt))}
    metric = lambda m, X, y: models.evaluate(m, X, y, task=ds.task)  # noqa: E731
    res = run_authors(model, splits, method=run["method"], protocol=common["protocol_name"], amount=run["amount"],
                      task=ds.task, seed=seed, device=device, metric=metric)
    return {**_base(run), **common, "status": "ok", "metric_before": _finite(before),
            "metric_after": _finite(res.score), "score_no_ft": _finite(res.score), "fine_tune_epochs_total": 0,
            "leaky": res.leaky, "pruned_layer": res.layer, "n_removed": res.n_removed, "pulls": res.pulls,
            "removal_curve_select": [_finite(v) for v in res.curve_select],
            "removal_curve_test": [_finite(v) for v in res.curve_test],
            "clipped_fraction": _finite(res.clipped_fraction), "train_time_s": train_time, "prune_time_s": None}


def _run_cell(job: dict, emit: Callable[[dict], None]) -> None:
    """Train once, then compute every run of ``job`` (one dataset and seed), emitting records."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # reproducible reductions, and no oversubscription of shared cores
    try:
        _cell(job, emit, torch)
    finally:
        torch.set_num_threads(threads)


def _cell(job: dict, emit, torch) -> None:
    spec, runs, t, seed = job["spec"], job["runs"], job["training"], job["seed"]
    device = job["device"]
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        if deep.is_task(job["dataset"]):  # a (model, dataset) task: its data, and its recipe as `t`
            ds, t = deep.load_cell(job["dataset"], spec, seed)
        else:
            ds = data.load(job["dataset"], root=spec["data_root"], seed=seed, val_size=spec["val_size"],
                           test_size=spec["test_size"], max_rows=t["max_rows"])
    except Exception as exc:  # noqa: BLE001 - recorded, and the grid goes on
        for run in runs:
            emit(_error(run, exc, device=device))
        return
    common = {"device": device, "data_family": ds.family, "data_notes": ds.meta.get("note", ""),
              "n_train": len(ds.y_train), "n_val": len(ds.y_val), "n_test": len(ds.y_test),
              "metric_name": "r2" if ds.task == "regression" else "accuracy"}
    ys = [ds.y_train, ds.y_val, ds.y_test]
    if ds.task == "regression":  # training statistics only
        mu, sd = float(ds.y_train.mean()), float(ds.y_train.std()) or 1.0
        ys = [((y - mu) / sd).astype(np.float32) for y in ys]
    y_train, y_val, y_test = ys
    nets = [r for r in runs if r["kind"] not in ("regressor", "classifier")]
    if nets:
        try:
            t0 = time.perf_counter()
            if deep.is_task(job["dataset"]):  # trained once per (task, seed, recipe), then cached
                model, info = deep.train_cell(job["dataset"], ds, t, spec, seed, device)
                common.update(info)
            else:
                model = models.build_model(ds, hidden=t["hidden"], seed=seed)
                models.fit(model, ds.X_train, y_train, task=ds.task, epochs=t["epochs"], lr=t["lr"],
                           batch_size=t["train_batch_size"], weight_decay=t["weight_decay"], seed=seed, device=device)
            train_time = time.perf_counter() - t0
            before = models.evaluate(model, ds.X_test, y_test, task=ds.task)
        except Exception as exc:  # noqa: BLE001
            for run in nets:
                emit(_error(run, exc, **common))
            nets = []

    # A deep task's recipe may clip gradients (the pixel LSTM diverges without); fine-tuning clips alike.
    clip_norm = t.get("recipe", {}).get("clip_norm")

    def fine_tune(m):  # a fresh optimizer on the training split (fit builds one)
        models.fit(m, ds.X_train, y_train, task=ds.task, epochs=spec["fine_tune_epochs"], lr=t["lr"],
                   batch_size=t["train_batch_size"], weight_decay=t["weight_decay"], seed=seed + 1, device=device,
                   clip_norm=clip_norm)

    protocol = spec.get("protocol", "companion")
    common["protocol_name"] = protocol
    for run in nets:
        t0 = time.perf_counter()
        try:
            if protocol != "companion":
                rec = _authors_record(run, common, model, ds, y_val, y_test, seed, device, before, train_time)
                rec["wall_time_s"] = time.perf_counter() - t0
                emit(rec)
                continue
            kw = dict(method=run["method"], amount=run["amount"], rounds=spec["rounds"],
                      loss_fn="mse" if ds.task == "regression" else "cross_entropy",
                      batch_size=spec["batch_size"], arms_per_round=spec["arms_per_round"], reward=spec["reward"],
                      scope=spec["scope"], steps=spec["steps"], min_units_per_layer=spec["min_units_per_layer"],
                      rank_by=spec["rank_by"], replacement=spec["replacement"], seed=seed, device=device,
                      max_batch_fraction=spec.get("max_batch_fraction", 0.25))
            res = prune(model, (ds.X_val, y_val), **kw, fine_tune=fine_tune if spec["fine_tune_epochs"] > 0 else None)
            after = models.evaluate(res.model, ds.X_test, y_test, task=ds.task)
            # The same pruning without fine-tuning: the second metric (issue 8); `none` is the trained model.
            if spec["fine_tune_epochs"] == 0:
                no_ft = after
            elif run["method"] == "none":
                no_ft = before
            else:
                no_ft = models.evaluate(prune(model, (ds.X_val, y_val), **kw).model, ds.X_test, y_test, task=ds.task)
            rec = {**_base(run), **common, "status": "ok", "metric_before": _finite(before),
                   "metric_after": _finite(after), "score_no_ft": _finite(no_ft),
                   "fine_tune_epochs_total": spec["fine_tune_epochs"] * spec["steps"],
                   "clipped_fraction": _finite(res.clipped_fraction), "params_before": res.params_before,
                   "params_after": res.params_after, "macs_before": res.macs_before, "macs_after": res.macs_after,
                   "n_removed": res.n_removed, "pulls": res.pulls, "prune_time_s": res.wall_time_s,
                   "pull_time_s": res.pull_time_s, "train_time_s": train_time,
                   "pulls_per_second": _finite(res.pulls_per_second), "wall_time_s": time.perf_counter() - t0,
                   "arm_layers": [list(a) for a in res.arm_layers]}
            if run["method"] in policies.POLICIES and run["kind"] == "prune":
                rec["estimates"] = [float(f"{v:.5g}") for v in np.asarray(res.estimates, float)]
                rec["counts"] = [int(c) for c in res.counts]
        except Exception as exc:  # noqa: BLE001
            rec = _error(run, exc, **common, train_time_s=train_time)
        emit(rec)
    for run in (r for r in runs if r["kind"] in ("regressor", "classifier")):
        t0 = time.perf_counter()
        try:
            if run["kind"] == "classifier":  # accuracy on the cell's test split, like the networks
                score = fit_score(run["method"], seed, ds.X_train, y_train, ds.X_test, y_test)
            else:
                est = _regressor(run["method"], seed).fit(ds.X_train, y_train)
                pred = est.predict(ds.X_test)
                score = 1 - float(((y_test - pred) ** 2).sum()) / float(((y_test - y_test.mean()) ** 2).sum())
            fit_time = time.perf_counter() - t0
            rec = {**_base(run), **common, "status": "ok", "metric_before": None, "metric_after": _finite(score),
                   "score_no_ft": _finite(score),
                   "train_time_s": fit_time, "prune_time_s": None, "wall_time_s": fit_time, "pulls": 0, "n_removed": 0}
        except Exception as exc:  # noqa: BLE001
            rec = _error(run, exc, **common)
        emit(rec)


def _provenance(spec: GridSpec) -> dict:
    import sklearn
    import torch

    from . import __version__

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
    _run_cell(job, queue.put)


def _execute(jobs: list[dict], n_jobs: int, emit: Callable[[dict], None]) -> None:
    """Run cells inline (``n_jobs=1``) or in loky workers that stream each finished record
    back to this process through a queue; only this process writes the store."""
    if not jobs:  # a complete store: nothing to compute (joblib would get n_jobs=0)
        return
    if n_jobs == 1 or len(jobs) == 1:
        for job in jobs:
            _run_cell(job, emit)
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
    missing = [n for n in dict.fromkeys(datasets) if not data.is_available(n, spec.data_root)]
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


def _store_path(spec: GridSpec, results_dir) -> Path:
    return Path(results_dir if results_dir is not None else default_results_dir(spec.profile)) / f"{spec.family}.jsonl"


def _readable_store(path: Path) -> dict[str, dict]:
    """Latest record per key: repaired under the lock when writable, else read as it is."""
    if path.is_file() and os.access(path, os.W_OK) and os.access(path.parent, os.W_OK):
        return _load_store(path)
    return _peek(path)


def run_grid(spec: GridSpec, *, results_dir: str | os.PathLike | None = None, recompute: bool = False,
             n_jobs: int | None = None, progress: bool = True, cluster: str | None = None,
             retries: int = 2) -> pd.DataFrame:
    """Run a grid, reusing the records already in the store, and return its records.

    Parameters
    ----------
    spec : GridSpec
        From :func:`mabprune.profiles.grid_spec`.
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
        Run the cells on Dask (:mod:`mabprune.cluster`, the optional ``cluster`` extra):
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
    >>> from mabprune.profiles import grid_spec
    >>> spec = grid_spec("classification", "smoke", sweep_methods=[], methods=["magnitude"])
    >>> with tempfile.TemporaryDirectory() as d:
    ...     first = run_grid(spec, results_dir=d, progress=False)
    ...     again = run_grid(spec, results_dir=d, progress=False)
    >>> first.attrs["computed"], again.attrs["computed"], again.attrs["loaded"]
    (1, 0, 1)
    """
    if not isinstance(spec, GridSpec):
        raise ValueError(f"spec must be a GridSpec from grid_spec(), got {type(spec).__name__}")
    n_jobs = spec.n_jobs if n_jobs is None else _int("n_jobs", n_jobs, 1)
    retries = _int("retries", retries, 0)
    _check_runnable(spec)
    from . import cluster as dask_cluster

    cluster = dask_cluster.check_address(cluster)
    if cluster is not None:
        dask_cluster._distributed()  # the named ImportError now, not after reading the store
    start = time.perf_counter()
    path = _store_path(spec, results_dir)
    if path.parent.exists() and not path.parent.is_dir():
        raise ValueError(f"results_dir {path.parent} is a file, not a store folder")
    runs = plan_runs(spec)
    store = _readable_store(path)
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
                          "training": spec.training[_group(run["dataset"])], "runs": []}
        jobs[cell]["runs"].append(run)
    provenance = _provenance(spec) if todo else {}
    from tqdm.std import tqdm

    bar = tqdm(total=len(todo), desc=f"{spec.profile}/{spec.family}", unit="run", disable=not progress)
    computed = 0

    def emit(record: dict) -> None:
        nonlocal computed
        record.setdefault("host", platform.node())  # cluster workers set their own
        record.update(provenance, timestamp=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
        _append(path, record)
        store.pop(record["key"], None)
        store[record["key"]] = record
        computed += 1
        bar.update()

    try:
        if cluster is None:
            _execute(list(jobs.values()), n_jobs, emit)
        else:
            dask_cluster.execute(list(jobs.values()), cluster, emit, retries=retries,
                                 error=lambda run, exc: _error(run, exc, device=spec.device))
    finally:
        bar.close()
    if computed:
        store = _load_store(path, compact=True)  # drop superseded records (reruns of errors, recompute)
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
    >>> from mabprune.profiles import grid_spec
    >>> len(missing_runs(grid_spec("classification", "smoke"), "/nonexistent"))
    5
    """
    store = _readable_store(_store_path(spec, results_dir))
    return [r["key"] for r in plan_runs(spec) if store.get(r["key"], {}).get("status") != "ok"]
