"""The plan of a grid: every run of a :class:`~mabprune.study.profiles.GridSpec`, with the
parameters that determine its result and their hash (the run's cache key).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from mabprune import data, policies
from mabprune.baselines import DEFINITION_SETS
from mabprune.study import deep_tasks
from mabprune.study.comparators import CLASSIFIER_PARAMS, REGRESSOR_PARAMS
from mabprune.study.profiles import GridSpec
from mabprune.study.protocols import AUTHORS_SETTINGS

__all__ = ["CURRENT_PROTOCOLS", "GROUP_OF", "PROTOCOL_VERSION", "plan_runs", "protocol_version", "run_params",
           "training_group"]

#: Training-settings group of each data family: tabular sets share one MLP recipe.
GROUP_OF = {"classification": "tabular", "regression": "tabular", "image": "image", "text": "text",
            "reasoning": "reasoning"}


#: Bumped when the protocol changes what a run computes; part of every cache key.
PROTOCOL_VERSION = 5  # 2: EXP3 ranks by sample mean; 3: every profile prunes in 4 steps;
# 4 (issue 8): Molchanov |Σa·∂L/∂a| Taylor and per-layer-normalised magnitude / activation variation
# under scope="global"; `none` fine-tuned after every step like the others; Hedge cut to the same
# pulls; calibration pass over 4 mini-batches (the 'unit' scale fitted on all of it, clipped
# rewards counted); reward mini-batches at most a quarter of the validation split; ties broken at
# random; a second, unfine-tuned score (`score_no_ft`); the named protocol in every record.
# 5 (issues 18 §6 and 21 §6): Taylor as Molchanov et al. (2019) and magnitude by incoming weights
# (`baseline_definitions="reference"`), and the references `uniform` and `exact` among the methods:
# the standard and full deep-learning grids only, computed after this change. Grids that keep the
# protocol-4 definitions (every other grid: their records are committed) keep protocol 4 in their
# keys, so that those records stay found.
#: The protocols the current code plans: a record of either is current (see :func:`protocol_version`).
CURRENT_PROTOCOLS = (4, PROTOCOL_VERSION)
_ARCH = {"tabular": "mlp", "reasoning": "mlp", "image": "cnn", "text": "embedding_bag"}
_POLICY_ONLY = ("rounds", "arms_per_round", "reward", "rank_by")  # keys that only steer a bandit


def _hash(params: dict) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def training_group(name: str) -> str:
    """The training-settings group of a dataset or deep task (see :data:`GROUP_OF`).

    >>> training_group("sklearn:iris"), training_group("lenet@vision:mnist")
    ('tabular', 'image')
    """
    name = name.rpartition("@")[2]  # a deep task "<model>@<dataset>" trains in its dataset's group
    return GROUP_OF[data.dataset_families().get(name, "classification")]


def protocol_version(spec: GridSpec) -> int:
    """The protocol number of a grid's runs: 4 under the protocol-4 baseline definitions, else 5.

    Examples
    --------
    >>> from mabprune.study.profiles import grid_spec
    >>> protocol_version(grid_spec("classification", "smoke"))
    4
    >>> protocol_version(grid_spec("classification", "smoke", baseline_definitions="reference"))
    5
    """
    if spec.baseline_definitions not in DEFINITION_SETS:
        raise ValueError(f"unknown baseline_definitions {spec.baseline_definitions!r}: use one of "
                         f"{tuple(DEFINITION_SETS)}")
    return 4 if spec.baseline_definitions == "protocol4" else PROTOCOL_VERSION


def run_params(spec: GridSpec, dataset: str, seed: int, kind: str, method: str, amount: float | None) -> dict:
    """Every parameter that affects one run's result (the device, paths and n_jobs do not)."""
    group = training_group(dataset)
    t = spec.training[group]
    p: dict[str, Any] = {"protocol": protocol_version(spec), "protocol_name": spec.protocol, "dataset": dataset, "seed": seed, "kind": kind,
                         "method": method, "data": {"val_size": spec.val_size, "test_size": spec.test_size,
                                                    "max_rows": t["max_rows"]}}
    if spec.family == "regression":
        p["target"] = "standardised with training statistics"
    if kind == "regressor":
        p["regressor"] = REGRESSOR_PARAMS[method]
        return p
    if kind == "classifier":
        p["classifier"] = CLASSIFIER_PARAMS[method]
        return p
    prune_p = {k: getattr(spec, k) for k in ("rounds", "arms_per_round", "batch_size", "reward", "scope", "steps",
                                             "rank_by", "replacement", "min_units_per_layer", "max_batch_fraction")}
    if spec.protocol != "companion":  # one layer, the authors' reward, the removal curve, no fine-tuning
        prune_p = {k: v for k, v in AUTHORS_SETTINGS.items() if k != "fine_tune"}
    if spec.calibration_batches != 4:   # only then: the keys of the grids at the default stay as they were
        prune_p["calibration_batches"] = spec.calibration_batches
    if method not in policies.PLAYABLE:  # these only steer a bandit (uniform allocation plays like one)
        prune_p = {k: v for k, v in prune_p.items() if k not in _POLICY_ONLY + ("max_batch_fraction", "margin",
                                                                                "pulls_per_unit", "calibration_batches")}
    if spec.baseline_definitions != "protocol4" and method in DEFINITION_SETS[spec.baseline_definitions]:
        prune_p["definition"] = DEFINITION_SETS[spec.baseline_definitions][method]  # protocol 4's keys lack it
    model = {"arch": _ARCH[group], "hidden": list(t["hidden"])}
    train = {"epochs": t["epochs"], "lr": t["lr"], "batch_size": t["train_batch_size"], "weight_decay": t["weight_decay"]}
    if deep_tasks.is_task(dataset):  # the task's own network and recipe (mabprune.study.deep_tasks)
        d = deep_tasks.grid_params(dataset, spec.profile)
        model, train, p["data"]["max_rows"] = d["model"], d["train"], d["max_rows"]
    p.update(amount=amount, model=model, train=train,
             prune=prune_p, fine_tune={"epochs": spec.fine_tune_epochs if spec.protocol == "companion" else 0,
                                       "lr": train["lr"]})
    if spec.fine_tune_steps is not None and spec.protocol == "companion" and spec.fine_tune_epochs > 0:
        p["fine_tune"]["steps"] = spec.fine_tune_steps   # only then: the keys of epoch-based grids stay as they were
    return p


def plan_runs(spec: GridSpec) -> list[dict]:
    """The runs of a grid, one dict each (``key``, ``params``, ``params_hash``, ...), in order.

    Parameters
    ----------
    spec : GridSpec
        From :func:`mabprune.study.profiles.grid_spec`.

    Returns
    -------
    list of dict

    Examples
    --------
    >>> from mabprune.study.profiles import grid_spec
    >>> runs = plan_runs(grid_spec("classification", "smoke"))
    >>> len(runs), runs[0]["key"].split("|")[:3]
    (5, ['sklearn:iris', 'ucb1', '0'])
    """
    runs = []
    for dataset in spec.datasets:
        for seed in spec.seeds:
            items = [("prune", m, spec.amount) for m in spec.methods]
            items += [("regressor", r, None) for r in spec.regressors]
            items += [("classifier", c, None) for c in spec.classifiers]
            items += [("sweep", m, a) for m in spec.sweep_methods for a in spec.sweep_amounts]
            for kind, method, amount in items:
                params = run_params(spec, dataset, seed, kind, method, amount)
                h = _hash(params)
                runs.append({"key": f"{dataset}|{method}|{seed}|{h}", "dataset": dataset, "seed": seed,
                             "kind": kind, "method": method, "amount": amount, "params": params, "params_hash": h})
    return runs
