"""The dataset layer: one :func:`load` for every benchmark of the study, as NumPy arrays.

Every dataset comes back as a :class:`Dataset` with a train, a validation and a test split
(the validation split feeds the bandit's pulls; the test split is touched only for the final
score). The registry of names and :func:`load` are :mod:`mabprune.data.registry`; the readers
of each source, in their real distribution formats, are :mod:`~mabprune.data.pmlb`,
:mod:`~mabprune.data.images`, :mod:`~mabprune.data.text`, :mod:`~mabprune.data.babi` and
:mod:`~mabprune.data.corpora`.

Examples
--------
>>> from mabprune import data
>>> ds = data.load("sklearn:iris", seed=0)
>>> ds.family, ds.X_train.shape[1], len(ds.y_train) + len(ds.y_val) + len(ds.y_test)
('classification', 4, 150)
"""

from .. import _deprecated
from .dataset import Dataset, data_root
from .registry import FAMILIES, N_GENERATED, N_SYNTHETIC, dataset_families, is_available, list_datasets, load, pmlb_default

__all__ = ["FAMILIES", "N_GENERATED", "N_SYNTHETIC", "Dataset", "data_root", "dataset_families", "is_available",
           "list_datasets", "load", "pmlb_default"]


def __getattr__(name: str):
    return _deprecated.moved_name(__name__, name)   # names of the old flat module mabprune/data.py
