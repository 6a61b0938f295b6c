"""The study: the paper's experiments as grids of runs, computed into a resumable results store.

- :mod:`~mabprune.study.profiles`: how big a grid is (``smoke``, ``quick``, ``standard``,
  ``full``) and the validated :class:`~mabprune.study.profiles.GridSpec`;
- :mod:`~mabprune.study.plan`: every run of a grid and its cache key;
- :mod:`~mabprune.study.cells`: one (dataset, seed) cell, trained once and pruned by every method;
- :mod:`~mabprune.study.runner`: the grid runner (:func:`run_grid`), on this machine or on Dask
  (:mod:`~mabprune.study.cluster`);
- :mod:`~mabprune.study.store` and :mod:`~mabprune.study.tables`: the records and the tables
  the book shows;
- :mod:`~mabprune.study.deep_tasks`: the deep-learning tasks, their recipes and trained-network cache;
- :mod:`~mabprune.study.protocols`: the authors' protocols and the removal curve;
- :mod:`~mabprune.study.comparators`: the scikit-learn classifiers and regressors;
- :mod:`~mabprune.study.book_profile`: which profile the book shows for each family;
- :mod:`~mabprune.study.paths`: the repository root and the results folders.

Examples
--------
>>> import tempfile
>>> from mabprune.study import grid_spec, run_grid
>>> with tempfile.TemporaryDirectory() as folder:
...     records = run_grid(grid_spec("classification", "smoke", methods=["magnitude"], sweep_methods=[]),
...                        results_dir=folder, progress=False)
>>> records[["dataset", "method", "status"]].values.tolist()
[['sklearn:iris', 'magnitude', 'ok']]
"""

from mabprune.pruning import METHODS
from mabprune.study.comparators import CLASSIFIER_PARAMS, CLASSIFIERS, REGRESSOR_PARAMS, REGRESSORS
from mabprune.study.paths import default_results_dir, repo_relative, repo_root
from mabprune.study.plan import plan_runs
from mabprune.study.profiles import GRID_FAMILIES, PROFILES, GridSpec, grid_spec
from mabprune.study.runner import missing_runs, run_grid
from mabprune.study.tables import cost_table, load_records, mean_ranks, score_table, sweep_table

__all__ = ["CLASSIFIERS", "CLASSIFIER_PARAMS", "GRID_FAMILIES", "METHODS", "PROFILES", "REGRESSORS", "REGRESSOR_PARAMS",
           "GridSpec", "cost_table", "default_results_dir", "grid_spec", "load_records", "mean_ranks", "missing_runs",
           "plan_runs", "repo_relative", "repo_root", "run_grid", "score_table", "sweep_table"]
