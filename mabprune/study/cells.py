"""One cell of a grid: train one network on one (dataset, seed), then compute every run of it.

Protocol of a cell: :func:`mabprune.data.load` splits the data three ways; one network
(:func:`mabprune.models.build_model`, or a deep task's network from
:mod:`mabprune.study.deep_tasks`) is trained on the training split; every method then prunes a
copy of the same trained network, with the **validation** split as the reward data, optionally
fine-tunes it on the training split, and is scored once on the **test** split (accuracy, or R²
for regression). Regression targets are standardised with the training split's mean and
standard deviation before training; R² is invariant to an affine rescaling of targets and
predictions together, so it equals the R² on the original scale. The scikit-learn comparators
(:mod:`mabprune.study.comparators`) are fitted on the same splits.

The references of a grid (:data:`mabprune.pruning.REFERENCES`) run like the other methods:
``uniform`` spends the policies' pulls (the same ``rounds``, ``arms_per_round``, mini-batches and
calibration pass), ``exact`` masks every arm on the whole validation split once per step; every
record carries ``rows_evaluated``, the unit-rows its scores cost (:class:`mabprune.pruning.PruneResult`).

The cell runs in this process (:func:`mabprune.study.runner.run_grid`), a joblib worker or a
Dask worker (:mod:`mabprune.study.cluster`); it writes nothing, it emits records.
"""

from __future__ import annotations

import math
import time
import traceback
from typing import Callable

import numpy as np
import torch

from mabprune import data, models, policies
from mabprune.baselines import DEFINITION_SETS
from mabprune.pruning import prune
from mabprune.study import deep_tasks
from mabprune.study.comparators import fit_score, make_regressor
from mabprune.study.protocols import run_authors

__all__ = ["error_record", "run_cell"]


def _finite(x):
    return float(x) if x is not None and math.isfinite(float(x)) else None


def error_record(run: dict, exc: BaseException, **extra) -> dict:
    """The record of a run that raised: its keys, ``status`` naming the error, and the traceback's tail."""
    tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return {**_base(run), **extra, "status": f"error: {type(exc).__name__}: {exc}", "traceback": "".join(tb)[-2000:]}


def _base(run: dict) -> dict:
    return {k: run[k] for k in ("key", "dataset", "method", "kind", "seed", "amount", "params", "params_hash")}


def _authors_record(run, common, model, ds, y_val, y_test, seed, device, before, train_time) -> dict:
    """One run under the ``authors`` or ``authors-honest`` protocol (see :mod:`mabprune.study.protocols`)."""
    dev = next(model.parameters()).device
    as_t = lambda a, dtype: torch.as_tensor(np.asarray(a), dtype=dtype, device=dev)  # noqa: E731
    ydt = torch.float32 if ds.task == "regression" else torch.long
    xdt = torch.long if np.asarray(ds.X_test).dtype.kind in "iu" else torch.float32
    splits = {"val": (as_t(ds.X_val, xdt), as_t(y_val, ydt)), "test": (as_t(ds.X_test, xdt), as_t(y_test, ydt))}
    metric = lambda m, X, y: models.evaluate(m, X, y, task=ds.task)  # noqa: E731
    res = run_authors(model, splits, method=run["method"], protocol=common["protocol_name"], amount=run["amount"],
                      task=ds.task, seed=seed, device=device, metric=metric,
                      **_definition(run["method"], common["baseline_definitions"]))
    return {**_base(run), **common, "status": "ok", "metric_before": _finite(before),
            "metric_after": _finite(res.score), "score_no_ft": _finite(res.score), "fine_tune_epochs_total": 0,
            "leaky": res.leaky, "pruned_layer": res.layer, "n_removed": res.n_removed, "pulls": res.pulls,
            "removal_curve_select": [_finite(v) for v in res.curve_select],
            "removal_curve_test": [_finite(v) for v in res.curve_test],
            "clipped_fraction": _finite(res.clipped_fraction), "train_time_s": train_time, "prune_time_s": None}


def _definition(method: str, definitions: str) -> dict:
    """The ``baseline_definition`` keyword of :func:`mabprune.prune` for ``method`` under a grid's set."""
    chosen = DEFINITION_SETS[definitions]
    return {"baseline_definition": chosen[method]} if method in chosen else {}


def run_cell(job: dict, emit: Callable[[dict], None]) -> None:
    """Train once, then compute every run of ``job`` (one dataset and seed), emitting records.

    ``job`` is one (dataset, seed) cell of :func:`mabprune.study.runner.run_grid`: ``dataset``,
    ``seed``, ``spec`` (the grid's fields), ``device``, ``training`` and its ``runs`` (from
    :func:`mabprune.study.plan.plan_runs`). ``emit`` is called with each run's record as it
    finishes; an error is recorded, never raised, so the grid goes on.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # reproducible reductions, and no oversubscription of shared cores
    try:
        _cell(job, emit)
    finally:
        torch.set_num_threads(threads)


def _cell(job: dict, emit) -> None:
    spec, runs, t, seed = job["spec"], job["runs"], job["training"], job["seed"]
    device = job["device"]
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        if deep_tasks.is_task(job["dataset"]):  # a (model, dataset) task: its data, and its recipe as `t`
            ds, t = deep_tasks.load_cell(job["dataset"], spec, seed)
        else:
            ds = data.load(job["dataset"], root=spec["data_root"], seed=seed, val_size=spec["val_size"],
                           test_size=spec["test_size"], max_rows=t["max_rows"])
    except Exception as exc:  # noqa: BLE001 - recorded, and the grid goes on
        for run in runs:
            emit(error_record(run, exc, device=device))
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
            if deep_tasks.is_task(job["dataset"]):  # trained once per (task, seed, recipe), then cached
                model, info = deep_tasks.train_cell(job["dataset"], ds, t, spec, seed, device)
                common.update(info)
            else:
                model = models.build_model(ds, hidden=t["hidden"], seed=seed)
                models.fit(model, ds.X_train, y_train, task=ds.task, epochs=t["epochs"], lr=t["lr"],
                           batch_size=t["train_batch_size"], weight_decay=t["weight_decay"], seed=seed, device=device)
            train_time = time.perf_counter() - t0
            before = models.evaluate(model, ds.X_test, y_test, task=ds.task)
        except Exception as exc:  # noqa: BLE001
            for run in nets:
                emit(error_record(run, exc, **common))
            nets = []

    # A deep task's recipe may clip gradients (the pixel LSTM diverges without); fine-tuning clips alike.
    clip_norm = t.get("recipe", {}).get("clip_norm")

    # A budget in optimizer steps (the deep family from the standard profile on) or in epochs.
    ft_steps = spec.get("fine_tune_steps") if spec["fine_tune_epochs"] > 0 else None

    def fine_tune(m):  # a fresh optimizer on the training split (fit builds one)
        models.fit(m, ds.X_train, y_train, task=ds.task, epochs=spec["fine_tune_epochs"], steps=ft_steps, lr=t["lr"],
                   batch_size=t["train_batch_size"], weight_decay=t["weight_decay"], seed=seed + 1, device=device,
                   clip_norm=clip_norm)

    # The no-fine-tuning score must not redo work whose result is known (issue 17 §3): with one
    # step, the model just before its only fine-tuning *is* the unfine-tuned pruned model, so it is
    # scored there; a run identical to one already computed in this cell but for its kind (the
    # sweep's point at the main amount) takes that run's results.
    pre_ft: list[float] = []

    def fine_tune_scoring_first(m):
        if not pre_ft:
            pre_ft.append(models.evaluate(m, ds.X_test, y_test, task=ds.task))
        fine_tune(m)

    computed: dict[tuple, dict] = {}
    protocol = spec.get("protocol", "companion")
    common["protocol_name"] = protocol
    common["baseline_definitions"] = spec.get("baseline_definitions", "protocol4")
    for run in nets:
        t0 = time.perf_counter()
        try:
            if protocol != "companion":
                rec = _authors_record(run, common, model, ds, y_val, y_test, seed, device, before, train_time)
                rec["wall_time_s"] = time.perf_counter() - t0
                emit(rec)
                continue
            same = (run["method"], run["amount"])
            if same in computed:
                first = {k: v for k, v in computed[same].items()
                         if run["kind"] == "prune" or k not in ("estimates", "counts")}
                emit({**first, **_base(run), "reused_from": first["key"], "wall_time_s": time.perf_counter() - t0})
                continue
            kw = dict(method=run["method"], amount=run["amount"], rounds=spec["rounds"],
                      loss_fn="mse" if ds.task == "regression" else "cross_entropy",
                      batch_size=spec["batch_size"], arms_per_round=spec["arms_per_round"], reward=spec["reward"],
                      scope=spec["scope"], steps=spec["steps"], min_units_per_layer=spec["min_units_per_layer"],
                      rank_by=spec["rank_by"], replacement=spec["replacement"], seed=seed, device=device,
                      max_batch_fraction=spec.get("max_batch_fraction", 0.25),
                      calibration_batches=spec.get("calibration_batches", 4),
                      **_definition(run["method"], common["baseline_definitions"]))
            one_step = spec["steps"] == 1 and run["method"] != "none"
            pre_ft.clear()
            res = prune(model, (ds.X_val, y_val), **kw, fine_tune=None if spec["fine_tune_epochs"] == 0
                        else fine_tune_scoring_first if one_step else fine_tune)
            after = models.evaluate(res.model, ds.X_test, y_test, task=ds.task)
            # The same pruning without fine-tuning: the second metric (issue 8); `none` is the trained model.
            if spec["fine_tune_epochs"] == 0:
                no_ft = after
            elif run["method"] == "none":
                no_ft = before
            elif one_step:
                no_ft = pre_ft[0]
            else:
                no_ft = models.evaluate(prune(model, (ds.X_val, y_val), **kw).model, ds.X_test, y_test, task=ds.task)
            rec = {**_base(run), **common, "status": "ok", "metric_before": _finite(before),
                   "metric_after": _finite(after), "score_no_ft": _finite(no_ft),
                   "fine_tune_epochs_total": spec["fine_tune_epochs"] * spec["steps"] if ft_steps is None else None,
                   "fine_tune_steps_total": None if ft_steps is None else ft_steps * spec["steps"],
                   "clipped_fraction": _finite(res.clipped_fraction), "params_before": res.params_before,
                   "params_after": res.params_after, "macs_before": res.macs_before, "macs_after": res.macs_after,
                   "n_removed": res.n_removed, "pulls": res.pulls, "rows_evaluated": res.rows_evaluated,
                   "prune_time_s": res.wall_time_s,
                   "pull_time_s": res.pull_time_s, "train_time_s": train_time,
                   "pulls_per_second": _finite(res.pulls_per_second), "wall_time_s": time.perf_counter() - t0,
                   "arm_layers": [list(a) for a in res.arm_layers], "rejected_groups": res.rejected}
            if run["method"] in policies.PLAYABLE and run["kind"] == "prune":
                rec["estimates"] = [float(f"{v:.5g}") for v in np.asarray(res.estimates, float)]
                rec["counts"] = [int(c) for c in res.counts]
            computed[same] = rec
        except Exception as exc:  # noqa: BLE001
            rec = error_record(run, exc, **common, train_time_s=train_time)
        emit(rec)
    for run in (r for r in runs if r["kind"] in ("regressor", "classifier")):
        t0 = time.perf_counter()
        try:
            if run["kind"] == "classifier":  # accuracy on the cell's test split, like the networks
                score = fit_score(run["method"], seed, ds.X_train, y_train, ds.X_test, y_test)
            else:
                est = make_regressor(run["method"], seed).fit(ds.X_train, y_train)
                pred = est.predict(ds.X_test)
                score = 1 - float(((y_test - pred) ** 2).sum()) / float(((y_test - y_test.mean()) ** 2).sum())
            fit_time = time.perf_counter() - t0
            rec = {**_base(run), **common, "status": "ok", "metric_before": None, "metric_after": _finite(score),
                   "score_no_ft": _finite(score),
                   "train_time_s": fit_time, "prune_time_s": None, "wall_time_s": fit_time, "pulls": 0, "n_removed": 0}
        except Exception as exc:  # noqa: BLE001
            rec = error_record(run, exc, **common)
        emit(rec)
