"""The dataset layer: one :func:`load` for every benchmark of the study, as NumPy arrays.

Every dataset comes back as a :class:`Dataset` with a train, a validation and a test split.
The validation split feeds the bandit's pulls; the test split is touched only for the final
score. All fitted preprocessing (standardisation, image normalisation, text vocabularies,
bAbI vocabularies) is fitted on the training split only.

Registry names (see :func:`list_datasets`):

- embedded, no files: ``sklearn:iris``, ``sklearn:wine``, ``sklearn:breast_cancer``,
  ``sklearn:diabetes``, ``sklearn:digits``, ``make:classification``, ``make:regression``,
  ``make:friedman1``, ``make:friedman2``, ``make:friedman3``, ``synthetic:parity``,
  ``synthetic:modsum``;
- ``pmlb:<name>``: any Penn Machine Learning Benchmarks dataset (:func:`pmlb_default` gives
  the default selection);
- ``vision:mnist``, ``vision:fashion_mnist``, ``vision:kmnist``, ``vision:cifar10``,
  ``vision:cifar100``, ``vision:svhn`` (:mod:`mabprune.data.images`);
- ``text:sst2``, ``text:ag_news``, ``text:trec``, ``text:sms_spam``, ``text:mr``,
  ``text:subj``, ``text:cr``, ``text:mpqa``, ``text:imdb``, ``text:reuters``
  (:mod:`mabprune.data.corpora`);
- ``babi:qa1`` ... ``babi:qa20`` (1k questions) and ``babi10k:qa1`` ... ``babi10k:qa20``.

Files are read from the data root (:func:`data_root`). Downloads happen only when allowed:
``download=True``, or ``download=None`` (the default) with the environment variable
``MABPRUNE_DOWNLOAD=1``. Otherwise a missing file raises one :class:`FileNotFoundError`
that names it.
"""

from __future__ import annotations

import difflib
import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from . import babi, images, text
from .dataset import Dataset, check_name, data_root, download_allowed
from .pmlb import pmlb_default, pmlb_file, pmlb_summary, read_pmlb

__all__ = ["FAMILIES", "N_GENERATED", "N_SYNTHETIC", "dataset_families", "is_available", "list_datasets", "load"]

#: The dataset families of the study.
FAMILIES = ("classification", "regression", "image", "text", "reasoning")
#: Rows of the generated sets (``make:*`` and ``synthetic:*``).
N_GENERATED = 1_000
N_SYNTHETIC = 2_000


# --------------------------------------------------------------------------- registry


def _digits(seed):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return (X / 16.0).reshape(-1, 1, 8, 8), y  # pixel values 0..16 -> [0, 1]


def _sk(loader):
    def load(seed):
        import sklearn.datasets

        return getattr(sklearn.datasets, loader)(return_X_y=True)

    return load


def _make(maker, **kwargs):
    def load(seed):
        import sklearn.datasets

        return getattr(sklearn.datasets, maker)(n_samples=N_GENERATED, random_state=seed, **kwargs)

    return load


def _parity(seed, n_bits=16, relevant=(3, 10)):
    # y = XOR of two fixed bits; the other 14 are distractors. Learnable by a small MLP.
    X = np.random.default_rng(seed).integers(0, 2, size=(N_SYNTHETIC, n_bits))
    return X, X[:, list(relevant)].sum(axis=1) % 2


def _modsum(seed, k=3, m=7):
    # y = (a1 + ... + ak) mod m with each a_i one-hot: k * m binary features, m classes.
    a = np.random.default_rng(seed).integers(0, m, size=(N_SYNTHETIC, k))
    return np.eye(m)[a].reshape(N_SYNTHETIC, k * m), a.sum(axis=1) % m


# name -> (family, task, loader(seed) -> (X, y), preprocessing)
_EMBEDDED: dict[str, tuple[str, str, Any, str]] = {
    "sklearn:iris": ("classification", "classification", _sk("load_iris"), "tabular"),
    "sklearn:wine": ("classification", "classification", _sk("load_wine"), "tabular"),
    "sklearn:breast_cancer": ("classification", "classification", _sk("load_breast_cancer"), "tabular"),
    "make:classification": ("classification", "classification", _make(
        "make_classification", n_features=20, n_informative=8, n_redundant=4, n_classes=3), "tabular"),
    "sklearn:diabetes": ("regression", "regression", _sk("load_diabetes"), "tabular"),
    "make:regression": ("regression", "regression", _make(
        "make_regression", n_features=20, n_informative=10, noise=10.0), "tabular"),
    "make:friedman1": ("regression", "regression", _make("make_friedman1", n_features=10, noise=1.0), "tabular"),
    "make:friedman2": ("regression", "regression", _make("make_friedman2"), "tabular"),
    "make:friedman3": ("regression", "regression", _make("make_friedman3"), "tabular"),
    "sklearn:digits": ("image", "classification", _digits, "image"),
    "synthetic:parity": ("reasoning", "classification", _parity, "raw"),
    "synthetic:modsum": ("reasoning", "classification", _modsum, "raw"),
}  # fmt: skip

def _fixed_names() -> dict[str, str]:
    """Every registry name except PMLB's, mapped to its family."""
    names = {n: spec[0] for n, spec in _EMBEDDED.items()}
    names.update({f"vision:{k}": "image" for k in images.VISION_SETS})
    names.update({f"text:{k}": "text" for k in text.TEXT_SETS})
    for prefix in ("babi", "babi10k"):
        names.update({f"{prefix}:qa{t}": "reasoning" for t in range(1, 21)})
    return names


def _unknown(name: str, root: Path) -> ValueError:
    known = list(_fixed_names()) + [f"pmlb:{n}" for n in pmlb_summary(str(root)).index]
    close = difflib.get_close_matches(str(name), known, n=5, cutoff=0.6)
    hint = f" Did you mean: {', '.join(close)}?" if close else " See mabprune.data.list_datasets()."
    return ValueError(f"unknown dataset {name!r}.{hint}")


def is_available(name: str, root: str | os.PathLike | None = None) -> bool:
    """Whether ``name`` loads without a download.

    Parameters
    ----------
    name : str
        Registry name.
    root : str or path-like, optional
        Data root (see :func:`data_root`).

    Returns
    -------
    bool
        True for embedded datasets; for file-based ones, True when their files are under
        the root (for images, either torchvision's full layout or the test-only copy).

    Raises
    ------
    ValueError
        For an unknown name, or one that would leave the data root (``pmlb:../x``).

    Examples
    --------
    >>> is_available("sklearn:iris")
    True
    """
    check_name(name)
    root = data_root(root)
    ok = lambda paths: bool(paths) and all(p.exists() for p in paths)  # noqa: E731
    if name in _EMBEDDED:
        return True
    prefix, _, key = str(name).partition(":")
    if prefix == "pmlb":
        if pmlb_file(key, root).exists():
            return True
        if key in pmlb_summary(str(root)).index:
            return False
    elif name in _fixed_names():
        if prefix == "vision":
            return any(ok(files) for files in images.vision_files(key, root))
        if prefix == "text":
            return ok(text.text_files(key, root))
        return ok(list(babi.babi_files(int(key[2:]), root, ten_k=prefix == "babi10k")))
    raise _unknown(name, root)


def list_datasets(family: str | None = None, *, root: str | os.PathLike | None = None,
                  download: bool | None = None) -> list[str]:
    """Registry names that :func:`load` can load now, optionally of one family.

    Parameters
    ----------
    family : str, optional
        One of :data:`FAMILIES`; ``None`` lists all.
    root : str or path-like, optional
        Data root (see :func:`data_root`).
    download : bool, optional
        With downloads allowed, file-based datasets are listed whether or not their files
        are present; ``None`` means allowed only if ``MABPRUNE_DOWNLOAD=1``.

    Returns
    -------
    list of str
        The embedded datasets first, then the PMLB default selection
        (:func:`pmlb_default`) and the other file-based datasets, sorted.

    Examples
    --------
    >>> list_datasets("classification", download=False)[:3]
    ['sklearn:iris', 'sklearn:wine', 'sklearn:breast_cancer']
    """
    if family is not None and family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES} or None, got {family!r}")
    root = data_root(root)
    dl = download_allowed(download)
    embedded = [n for n, spec in _EMBEDDED.items() if family in (None, spec[0])]
    files = [n for n, fam in _fixed_names().items()
             if n not in _EMBEDDED and family in (None, fam) and (dl or is_available(n, root))]
    for task in ("classification", "regression"):
        if family in (None, task):
            files += pmlb_default(task, root, download=dl)
    return embedded + sorted(files)


@functools.lru_cache(maxsize=8)
def _families_under(root: str) -> dict[str, str]:
    return {n: f for f in FAMILIES for n in list_datasets(f, root=root, download=True)}


def dataset_families(root: str | os.PathLike | None = None) -> dict[str, str]:
    """Registry name -> dataset family, for every name the package knows (present or not).

    Examples
    --------
    >>> dataset_families()["sklearn:iris"], dataset_families()["vision:mnist"]
    ('classification', 'image')
    """
    return dict(_families_under(str(data_root(root))))


# --------------------------------------------------------------------------- sources


@dataclass
class _Raw:
    """A source before splitting: a pool of rows, and the official test rows if any."""

    family: str
    task: str
    prep: str  # "tabular" | "image" | "text" | "babi" | "raw"
    X: Any
    y: np.ndarray
    X_test: Any = None
    y_test: Any = None
    classes: list | None = None  # set when y is already 0..C-1 in this order
    meta: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)


def _objects(items) -> np.ndarray:
    # Object arrays let texts and bAbI samples be indexed like the numeric arrays.
    out = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):  # item by item: numpy would unpack tuples into columns
        out[i] = item
    return out


def _load_pmlb(name: str, key: str, root: Path, dl: bool) -> _Raw:
    if key not in pmlb_summary(str(root)).index and not pmlb_file(key, root).exists():
        raise _unknown(name, root)
    X, y, task, source = read_pmlb(name, key, root, dl)
    return _Raw(task, task, "tabular", X, y, meta={"source": source})


def _load_vision(name: str, key: str, root: Path, dl: bool) -> _Raw:
    X, y, X_te, y_te, classes, source, notes = images.read_vision(key, root, download=dl, name=name)
    to01 = lambda a: None if a is None else np.asarray(a, np.float32) / 255.0  # noqa: E731
    return _Raw("image", "classification", "image", to01(X), y, to01(X_te), y_te, classes=classes,
                meta={"source": source}, notes=notes)


def _load_text(name: str, key: str, root: Path, dl: bool) -> _Raw:
    x, y, tx, ty, classes, source = text.read_text(key, root, download=dl, name=name)
    notes = []
    if key == "sst2":
        notes.append("GLUE's SST-2 test labels are hidden: the dev set is the test set")
    if key == "ag_news" and tx is None:
        notes.append("offline: the 120k training file is not available; split three ways from the 7,600-item "
                     "test file")
    if key == "reuters":
        notes.append("Keras' Reuters newswires hold one pool (its test split is a seeded shuffle): split three ways")
    y_te = None if ty is None else np.asarray(ty, np.int64)
    return _Raw("text", "classification", "text", _objects(x), np.asarray(y, np.int64),
                None if tx is None else _objects(tx), y_te, classes=classes, meta={"source": source}, notes=notes)


def _load_babi(name: str, prefix: str, key: str, root: Path, dl: bool) -> _Raw:
    task = int(key[2:])
    train, test, source = babi.read_babi(task, root, ten_k=prefix == "babi10k", download=dl, name=name)
    return _Raw("reasoning", "classification", "babi", _objects(train), np.array([s[2] for s in train]),
                _objects(test), np.array([s[2] for s in test]),
                meta={"source": source, "task_name": babi.BABI_TASKS[task - 1]})


def _source(name: str, root: Path, seed: int, dl: bool) -> _Raw:
    if name in _EMBEDDED:
        family, task, loader, prep = _EMBEDDED[name]
        X, y = loader(seed)
        meta = {"source": "embedded (scikit-learn / numpy)"}
        return _Raw(family, task, prep, np.asarray(X), np.asarray(y), meta=meta)
    prefix, _, key = str(name).partition(":")
    if prefix == "pmlb" and key:
        return _load_pmlb(name, key, root, dl)
    if name not in _fixed_names():
        raise _unknown(name, root)
    if prefix == "vision":
        return _load_vision(name, key, root, dl)
    if prefix == "text":
        return _load_text(name, key, root, dl)
    return _load_babi(name, prefix, key, root, dl)


# --------------------------------------------------------------------------- splitting


def _split(idx: np.ndarray, y: np.ndarray, size, seed: int, stratify: bool, notes: list, what: str):
    """Split ``idx`` into (rest, part), ``part`` of ``size`` (fraction or count), stratified if possible."""
    if stratify:
        try:
            return train_test_split(idx, test_size=size, random_state=seed, stratify=y[idx])
        except ValueError:  # a class with too few rows for the requested part
            notes.append(f"{what}: a class is too small to stratify, split at random")
    return train_test_split(idx, test_size=size, random_state=seed)


def _check_params(name, seed, val_size, test_size, max_rows):
    if not isinstance(name, str):
        raise ValueError(f"name must be a registry name (str), got {name!r}")
    check_name(name)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    for label, v in (("val_size", val_size), ("test_size", test_size)):
        if isinstance(v, bool) or not isinstance(v, (float, int, np.floating)) or not 0 < v < 1:
            raise ValueError(f"{label} must be a fraction in (0, 1), got {v!r}")
    if val_size + test_size >= 1:
        raise ValueError(f"val_size + test_size must be < 1 to leave training rows, got {val_size} + {test_size}")
    if max_rows is not None and (isinstance(max_rows, bool) or not isinstance(max_rows, (int, np.integer))
                                 or max_rows < 10):
        raise ValueError(f"max_rows must be None or an int >= 10, got {max_rows!r}")


def load(name: str, *, root: str | os.PathLike | None = None, seed: int = 0, val_size: float = 0.2,
         test_size: float = 0.2, max_rows: int | None = None, download: bool | None = None) -> Dataset:
    """Load a dataset by registry name, split into train, validation and test.

    Where the source has an official test split, it stays the test split and the
    validation split is carved from the official training split (``val_size`` is then a
    fraction of the training split and ``test_size`` is not used). Otherwise the rows are
    split three ways (``val_size`` and ``test_size`` fractions of all rows). Splits are
    stratified for classification (at random, with a note in ``meta["note"]``, where a class
    is too small) and seeded by ``seed``.

    Parameters
    ----------
    name : str
        Registry name, see :func:`list_datasets`.
    root : str or path-like, optional
        Data root (see :func:`data_root`).
    seed : int, default=0
        Seeds the splits, the ``max_rows`` subsample and the generated datasets.
    val_size : float, default=0.2
        Validation fraction, in (0, 1).
    test_size : float, default=0.2
        Test fraction, in (0, 1), with ``val_size + test_size < 1``.
    max_rows : int, optional
        Keep a stratified random subsample of this many rows (at least 10) before
        splitting, official test rows included in proportion; for tests and quick runs.
    download : bool, optional
        Allow downloads of missing files. ``None`` (default): allowed only if the
        environment variable ``MABPRUNE_DOWNLOAD`` is ``"1"``.

    Returns
    -------
    Dataset
        Arrays with train-only preprocessing: standardised tabular features, images scaled
        to [0, 1] then normalised per channel, text token ids over a training vocabulary,
        bAbI bag-of-words features over a training vocabulary.

    Raises
    ------
    ValueError
        For an unknown name (with close names), a name that would leave the data root, an
        invalid parameter, or a damaged file (named).
    FileNotFoundError
        When files are missing and downloads are not allowed; it names the files.

    Examples
    --------
    >>> ds = load("make:friedman1", seed=1, max_rows=200)
    >>> ds.task, ds.X_train.dtype, len(ds.y_train) + len(ds.y_val) + len(ds.y_test)
    ('regression', dtype('float32'), 200)
    """
    _check_params(name, seed, val_size, test_size, max_rows)
    root = data_root(root)
    raw = _source(name, root, int(seed), download_allowed(download))
    clf = raw.task == "classification"
    notes = list(raw.notes)

    y, y_te = raw.y, raw.y_test
    classes = raw.classes
    if clf and classes is None:  # map any labels to 0..C-1 (the label set, not a statistic)
        labels = np.unique(y if y_te is None else np.concatenate([y, y_te]))
        classes = labels.tolist()
        y = np.searchsorted(labels, y)
        y_te = None if y_te is None else np.searchsorted(labels, y_te)
    y = y.astype(np.int64 if clf else np.float32)
    y_te = None if y_te is None else y_te.astype(np.int64 if clf else np.float32)

    n_pool, n_test = len(y), 0 if y_te is None else len(y_te)
    pool, test = np.arange(n_pool), np.arange(n_test)
    if max_rows is not None and max_rows < n_pool + n_test:
        k_test = int(round(max_rows * n_test / (n_pool + n_test)))
        if n_test:
            k_test = min(max(k_test, 2), n_test)
            if k_test < n_test:
                test = np.sort(_split(test, y_te, k_test, seed, clf, notes, "subsample")[1])
        if max_rows - k_test < n_pool:
            pool = np.sort(_split(pool, y, max_rows - k_test, seed, clf, notes, "subsample")[1])
        notes.append(f"subsampled to {max_rows} of {n_pool + n_test} rows")
    if y_te is None:
        rest, te = _split(pool, y, test_size, seed, clf, notes, "test split")
        tr, va = _split(rest, y, val_size / (1 - test_size), seed, clf, notes, "validation split")
        parts = [(raw.X, tr, y), (raw.X, va, y), (raw.X, te, y)]
        split = "three-way"
        if not raw.notes:  # sources that lost their official split say so more precisely
            notes.append("no official test split: rows split three ways")
    else:
        tr, va = _split(pool, y, val_size, seed, clf, notes, "validation split")
        parts = [(raw.X, tr, y), (raw.X, va, y), (raw.X_test, test, y_te)]
        split = "official test"
    Xs = [X[np.sort(i)] for X, i, _ in parts]
    ys = [t[np.sort(i)] for _, i, t in parts]

    meta = dict(raw.meta)
    Xs = _preprocess(raw.prep, Xs, meta)
    meta.update(classes=classes, split=split, seed=int(seed),
                sizes={k: len(v) for k, v in zip(("train", "val", "test"), ys)},
                note="; ".join(dict.fromkeys(notes)))
    if raw.prep in ("tabular", "babi", "raw"):
        meta["n_features"] = int(Xs[0].shape[1])
    else:
        meta["input_shape"] = tuple(Xs[0].shape[1:])
    return Dataset(name, raw.family, raw.task, Xs[0], ys[0], Xs[1], ys[1], Xs[2], ys[2],
                   len(classes) if clf else None, meta)


def _preprocess(prep: str, Xs: list, meta: dict) -> list[np.ndarray]:
    """Fit on ``Xs[0]`` (train) only, transform all three splits."""
    if prep == "text":
        vocab = text.build_vocab(Xs[0])
        meta.update(vocab_size=len(vocab) + 2, max_len=text.MAX_LEN)
        return [text.encode(X, vocab) for X in Xs]
    if prep == "babi":
        feat = babi.BabiFeaturizer().fit(Xs[0])
        meta.update(vocab_size=len(feat.vocab_), decay=feat.decay,
                    features="recency-weighted bag of words of the story + bag of words of the question")
        return [feat.transform(X) for X in Xs]
    if prep == "raw":
        return [np.asarray(X, np.float32) for X in Xs]
    # Images stay float32 (MNIST's 70k images would need 440 MB as float64); the statistics
    # are accumulated in float64 either way.
    Xs = [np.asarray(X, np.float32 if prep == "image" else np.float64) for X in Xs]
    axes = (0,) if prep == "tabular" else (0, 2, 3)  # per feature / per image channel
    mean = Xs[0].mean(axis=axes, keepdims=True, dtype=np.float64)
    std = Xs[0].std(axis=axes, keepdims=True, dtype=np.float64)
    std[std < 1e-12] = 1.0  # constant features stay at 0 instead of dividing by zero
    if prep == "image":
        meta.update(mean=mean.ravel().tolist(), std=std.ravel().tolist())
    return [((X - mean.astype(X.dtype)) / std.astype(X.dtype)).astype(np.float32) for X in Xs]
