"""The experiment protocol, the resumable results store and the tables the notebooks show.

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

import contextlib
import dataclasses
import datetime
import fcntl
import json
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
from .classifiers import CLASSIFIER_PARAMS, fit_score
from .profiles import METHODS, REGRESSOR_PARAMS, GridSpec, _group, _int, plan_runs
from .prune import prune

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

    def fine_tune(m):  # a fresh optimizer on the training split (fit builds one)
        models.fit(m, ds.X_train, y_train, task=ds.task, epochs=spec["fine_tune_epochs"], lr=t["lr"],
                   batch_size=t["train_batch_size"], weight_decay=t["weight_decay"], seed=seed + 1, device=device)

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


# ----------------------------------------------------------------------------- the store

@contextlib.contextmanager
def _locked(path: Path):
    """The store file, opened ``a+b`` under an exclusive lock on the inode the path names now."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fh = open(path, "a+b")
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            same = os.fstat(fh.fileno()).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:  # else a rewrite replaced the file while we waited: lock the new one
            break
        fh.close()
    try:
        yield fh
    finally:
        fh.close()


def _read(fh) -> tuple[list[dict], bool]:
    """Records of an open store; drops a torn last line (the only damage an interrupted append
    can do) by truncating it away. Returns (records, whether a full rewrite is needed)."""
    fh.seek(0)
    raw = fh.read()
    lines = raw.split(b"\n")
    records, bad = [], False
    for line in lines[:-1]:
        try:
            records.append(json.loads(line))
        except ValueError:
            bad = bad or bool(line.strip())
    if lines[-1]:  # no newline at the end: an append was interrupted
        try:
            records.append(json.loads(lines[-1]))
            fh.write(b"\n")  # a complete record that only lacked its newline
        except ValueError:
            fh.truncate(len(raw) - len(lines[-1]))
        fh.flush()
        os.fsync(fh.fileno())
    return records, bad


def _latest(records: Iterable[dict]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for r in records:
        if isinstance(r, dict) and "key" in r:
            out.pop(r["key"], None)  # the last record of a key wins, in the order written
            out[r["key"]] = r
    return out


def _rewrite(path: Path, records: Iterable[dict]) -> None:
    """Replace the store atomically: temp file in the same folder, fsync, os.replace."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as out:
        for r in records:
            out.write(_line(r))
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _line(record: dict) -> bytes:
    return (json.dumps(record, sort_keys=False, separators=(",", ":"), allow_nan=False, default=str) + "\n").encode()


def _load_store(path: Path, *, compact: bool = False) -> dict[str, dict]:
    """Latest record per key of a store file (repairing it); ``compact`` drops superseded lines."""
    if not path.exists():
        return {}
    with _locked(path) as fh:
        records, bad = _read(fh)
        latest = _latest(records)
        if bad or (compact and len(latest) < len(records)):
            _rewrite(path, latest.values())
    return latest


def _append(path: Path, record: dict) -> None:
    line = _line(record)
    with _locked(path) as fh:
        size = fh.seek(0, os.SEEK_END)
        if size:
            fh.seek(size - 1)
            if fh.read(1) != b"\n":
                _read(fh)  # repairs a torn tail left by a killed writer before appending
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


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


def _peek(path: Path) -> dict[str, dict]:
    """Read-only load (no repair), for stores this process may not write."""
    if not path.exists():
        return {}
    out = []
    for line in path.read_bytes().split(b"\n"):
        with contextlib.suppress(ValueError):
            out.append(json.loads(line))
    return _latest(out)


# ----------------------------------------------------------------------------- tables

def load_records(results_dir: str | os.PathLike, family: str | None = None, *, profile: str | None = None,
                 superseded: bool = False) -> pd.DataFrame:
    """The records of a store folder, optionally of one family, or exactly those of a profile's grids.

    Parameters
    ----------
    results_dir : str or path-like
        A store folder such as ``results/quick``.
    family : str, optional
        ``classification``, ``regression`` or ``deep_learning``; default all.
    profile : str, optional
        Keep exactly the runs that this profile's grid of each family plans
        (:func:`mabprune.profiles.plan_runs`), by key: records of other parameter settings
        in the folder (a rerun with another ``amount``, older protocols) are left out, and a
        family whose grid is empty or absent yields no rows. ``superseded`` is then moot.
    superseded : bool, default=False
        Keep records that a later run of the same dataset, method, kind, seed and amount
        (with other parameters, e.g. more rounds) has superseded. By default only the latest
        record of each such run is kept, so that a changed parameter does not mix old and
        new results.

    Returns
    -------
    pandas.DataFrame
        One row per record, in the order written; empty when there is none.
    """
    folder = Path(results_dir)
    files = sorted(folder.glob("*.jsonl")) if family is None else [folder / f"{family}.jsonl"]
    if profile is not None:
        from .profiles import GRID_FAMILIES, grid_spec

        rows = []
        for f in files:
            if f.stem in GRID_FAMILIES:
                store = _peek(f)
                rows += [store[r["key"]] for r in plan_runs(grid_spec(f.stem, profile)) if r["key"] in store]
        return pd.DataFrame(rows)
    rows = [r for f in files for r in _peek(f).values()]
    if not superseded:
        ident = ("family", "dataset", "method", "kind", "seed", "amount")
        latest = {tuple(str(r.get(k)) for k in ident): r for r in rows}  # later records win
        rows = list(latest.values())
    return pd.DataFrame(rows)


def _ok(records: pd.DataFrame) -> pd.DataFrame:
    if records.empty:
        return records
    return records[records["status"] == "ok"]


def score_table(records: pd.DataFrame, *, kind: str = "prune", amount: float | None = None) -> pd.DataFrame:
    """Datasets × methods: the test metric after pruning, mean over seeds, ``ok`` runs only.

    Parameters
    ----------
    records : pandas.DataFrame
        From :func:`run_grid` or :func:`load_records`.
    kind : {"prune", "sweep", "regressor", "classifier"}, default="prune"
        Which runs. With ``"prune"`` the regressors (regression records) or the standard
        classifiers (classification records) are added as further columns.
    amount : float, optional
        Keep only this pruning fraction (required when the records hold several).

    Returns
    -------
    pandas.DataFrame
        Index ``dataset``, one column per method (policies and baselines in the order of
        :data:`mabprune.prune.METHODS`, then the regressors or classifiers).
    """
    ok = _ok(records)
    if ok.empty:
        return pd.DataFrame()
    sel = ok[ok["kind"] == kind]
    if amount is not None:
        sel = sel[np.isclose(sel["amount"].astype(float), amount)]
    elif kind not in ("regressor", "classifier") and sel["amount"].nunique() > 1:
        raise ValueError(f"the records hold several amounts {sorted(sel['amount'].unique())}: pass amount=")
    if kind == "prune":  # fitted, not pruned: one score per cell, whatever the amount
        sel = pd.concat([sel, ok[ok["kind"].isin(["regressor", "classifier"])]])
    table = sel.pivot_table(index="dataset", columns="method", values="metric_after", aggfunc="mean")
    order = [m for m in (*METHODS, *REGRESSOR_PARAMS, *CLASSIFIER_PARAMS) if m in table.columns]
    return table[order + [c for c in table.columns if c not in order]].rename_axis(columns=None)


def mean_ranks(table: pd.DataFrame) -> pd.Series:
    """Mean rank of each method over the datasets of a :func:`score_table` (1 = best).

    Examples
    --------
    >>> t = pd.DataFrame({"a": [0.9, 0.8], "b": [0.7, 0.8]}, index=["x", "y"])
    >>> mean_ranks(t).to_dict()
    {'a': 1.25, 'b': 1.75}
    """
    return table.rank(axis=1, ascending=False, method="average").mean().sort_values()


def sweep_table(records: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds of the test metric per dataset, method and amount.

    The unpruned score is added as amount 0 for every method of the sweep.
    """
    ok = _ok(records)
    if ok.empty or not (ok["kind"] == "sweep").any():
        return pd.DataFrame(columns=["dataset", "method", "amount", "mean", "std", "n"])
    sw = ok[ok["kind"] == "sweep"][["dataset", "method", "seed", "amount", "metric_before", "metric_after"]]
    zero = sw.drop_duplicates(["dataset", "method", "seed"]).assign(amount=0.0, metric_after=lambda d: d.metric_before)
    both = pd.concat([zero, sw]).astype({"amount": float, "metric_after": float})
    out = both.groupby(["dataset", "method", "amount"])["metric_after"].agg(["mean", "std", "count"])
    return out.rename(columns={"count": "n"}).reset_index()


def cost_table(records: pd.DataFrame) -> pd.DataFrame:
    """Per method: mean pruning seconds, training seconds, pulls and pulls per second per run.

    Parameters
    ----------
    records : pandas.DataFrame
        From :func:`run_grid` or :func:`load_records` (``ok`` runs of kind ``prune`` and
        ``regressor`` or ``classifier`` are used).

    Returns
    -------
    pandas.DataFrame
        Index ``method``; columns ``runs``, ``prune_time_s``, ``train_time_s``, ``pulls``,
        ``pulls_per_second``.
    """
    ok = _ok(records)
    if ok.empty:
        return pd.DataFrame()
    sel = ok[ok["kind"].isin(["prune", "regressor", "classifier"])].copy()
    for col in ("prune_time_s", "train_time_s", "pulls", "pulls_per_second"):
        sel[col] = pd.to_numeric(sel.get(col), errors="coerce")
    out = sel.groupby("method").agg(runs=("key", "size"), prune_time_s=("prune_time_s", "mean"),
                                    train_time_s=("train_time_s", "mean"), pulls=("pulls", "mean"),
                                    pulls_per_second=("pulls_per_second", "mean"))
    order = [m for m in (*METHODS, *REGRESSOR_PARAMS, *CLASSIFIER_PARAMS) if m in out.index]
    return out.loc[order]
