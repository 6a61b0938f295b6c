"""Tests of the dataset layer (mabprune.data, mabprune.data.text).

Three kinds: embedded datasets (always run), the real-data mirror (``shared_data``, skipped
without it), and real-format files that the tests write themselves in ``tmp_path`` for the
download layouts the mirror lacks (torchvision's MNIST/CIFAR-10 layouts, bAbI, SST-2 ...).
"""

from __future__ import annotations

import csv
import gzip
import pickle
import re
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mabprune import data as D
from mabprune.data import babi, dataset, registry
from mabprune.data import images as image_files
from mabprune.data import text as T

EMBEDDED = list(registry._EMBEDDED)


def _rows(ds):
    return sum(len(y) for y in (ds.y_train, ds.y_val, ds.y_test))


def _with_ids(monkeypatch, y, name="test:ids"):
    """Register a dataset whose single feature is the row id (no preprocessing)."""
    y = np.asarray(y)
    loader = lambda seed: (np.arange(len(y), dtype=float)[:, None], y)  # noqa: E731
    monkeypatch.setitem(registry._EMBEDDED, name, ("classification", "classification", loader, "raw"))
    return name


# --------------------------------------------------------------------------- embedded


@pytest.mark.parametrize("name", EMBEDDED)
def test_embedded_shapes_dtypes(name):
    ds = D.load(name)
    family, task = registry._EMBEDDED[name][:2]
    assert (ds.name, ds.family, ds.task) == (name, family, task)
    assert ds.family in D.FAMILIES and D.is_available(name)
    for X, y in ((ds.X_train, ds.y_train), (ds.X_val, ds.y_val), (ds.X_test, ds.y_test)):
        assert X.dtype == np.float32 and len(X) == len(y) > 0
        assert X.shape[1:] == ds.input_shape
        assert np.isfinite(X).all()
        if task == "classification":
            assert y.dtype == np.int64 and y.min() >= 0 and y.max() < ds.n_classes
        else:
            assert y.dtype == np.float32 and ds.n_classes is None
    assert ds.meta["sizes"] == {"train": len(ds.y_train), "val": len(ds.y_val), "test": len(ds.y_test)}
    if family == "image":
        assert ds.input_shape == (1, 8, 8) and ds.meta["input_shape"] == (1, 8, 8)
    else:
        assert len(ds.input_shape) == 1 and ds.meta["n_features"] == ds.input_shape[0]
    # 60/20/20 of the rows, give or take rounding
    assert abs(len(ds.y_test) / _rows(ds) - 0.2) < 0.01 and abs(len(ds.y_val) / _rows(ds) - 0.2) < 0.01


def test_known_sizes():
    assert _rows(D.load("sklearn:iris")) == 150
    assert _rows(D.load("sklearn:digits")) == 1797
    assert _rows(D.load("make:friedman2")) == D.N_GENERATED
    assert D.load("synthetic:modsum").input_shape == (21,)


def test_splits_disjoint_and_cover_all_rows(monkeypatch):
    name = _with_ids(monkeypatch, np.arange(300) % 3)
    ds = D.load(name, seed=4)
    ids = [X[:, 0].astype(int) for X in (ds.X_train, ds.X_val, ds.X_test)]
    assert sorted(np.concatenate(ids).tolist()) == list(range(300))  # disjoint and complete
    assert [len(i) for i in ids] == [180, 60, 60]
    for X, y in ((ds.X_train, ds.y_train), (ds.X_val, ds.y_val), (ds.X_test, ds.y_test)):
        assert np.array_equal(X[:, 0].astype(int) % 3, y)  # labels stay with their rows


def test_real_embedded_splits_cover_rows():
    from sklearn.datasets import make_regression

    ds = D.load("make:regression", seed=3)
    _, y = make_regression(n_samples=D.N_GENERATED, n_features=20, n_informative=10, noise=10.0, random_state=3)
    got = np.concatenate([ds.y_train, ds.y_val, ds.y_test])
    assert np.array_equal(np.sort(got), np.sort(y.astype(np.float32)))  # raw targets, unscaled


def test_standardisation_uses_train_split_only():
    from sklearn.datasets import make_friedman1

    ds = D.load("make:friedman1", seed=1)
    X, y = make_friedman1(n_samples=D.N_GENERATED, n_features=10, noise=1.0, random_state=1)
    row = {v: i for i, v in enumerate(y.astype(np.float32))}  # continuous targets identify rows
    assert len(row) == len(y)  # (they are unique in float32 for this seed)
    orig = [X[[row[v] for v in part]] for part in (ds.y_train, ds.y_val, ds.y_test)]
    mean, std = orig[0].mean(axis=0), orig[0].std(axis=0)
    for got, raw in zip((ds.X_train, ds.X_val, ds.X_test), orig):
        np.testing.assert_allclose(got, (raw - mean) / std, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ds.X_train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(ds.X_train.std(axis=0), 1, atol=1e-4)
    assert np.abs(ds.X_val.mean(axis=0)).max() > 1e-3  # not refitted on validation


def test_image_normalised_per_channel_on_train():
    ds = D.load("sklearn:digits")
    assert abs(ds.X_train.mean()) < 1e-5 and abs(ds.X_train.std() - 1) < 1e-4
    assert len(ds.meta["mean"]) == len(ds.meta["std"]) == 1
    restored = ds.X_test * ds.meta["std"][0] + ds.meta["mean"][0]
    assert restored.min() > -1e-5 and restored.max() < 1 + 1e-5  # scaled to [0, 1] first


def test_same_seed_same_arrays_different_seed_different_split():
    for name in ("sklearn:iris", "make:classification", "synthetic:parity"):
        a, b, c = D.load(name, seed=7), D.load(name, seed=7), D.load(name, seed=8)
        for k in ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test"):
            assert np.array_equal(getattr(a, k), getattr(b, k))
        assert not np.array_equal(a.X_train, c.X_train)


def test_stratification_keeps_class_proportions():
    ds = D.load("sklearn:breast_cancer", seed=2)
    overall = np.bincount(np.concatenate([ds.y_train, ds.y_val, ds.y_test])) / _rows(ds)
    for y in (ds.y_train, ds.y_val, ds.y_test):
        np.testing.assert_allclose(np.bincount(y) / len(y), overall, atol=0.01)
    sub = D.load("sklearn:breast_cancer", seed=2, max_rows=100)
    assert _rows(sub) == 100 and "subsampled to 100" in sub.meta["note"]
    np.testing.assert_allclose(np.bincount(sub.y_train) / len(sub.y_train), overall, atol=0.03)


def test_tiny_class_falls_back_to_random_split(monkeypatch):
    name = _with_ids(monkeypatch, [0] * 50 + [1] * 49 + [2])  # class 2 has one row
    ds = D.load(name)
    assert "too small to stratify" in ds.meta["note"]
    assert _rows(ds) == 100 and ds.n_classes == 3


def test_synthetic_tasks_are_what_they_say():
    from sklearn.tree import DecisionTreeClassifier

    ds = D.load("synthetic:parity")
    X = np.concatenate([ds.X_train, ds.X_val, ds.X_test])
    y = np.concatenate([ds.y_train, ds.y_val, ds.y_test])
    assert set(np.unique(X)) == {0.0, 1.0}
    assert np.array_equal(y, (X[:, 3] + X[:, 10]) % 2)
    m = D.load("synthetic:modsum")
    digits = m.X_train.reshape(-1, 3, 7).argmax(axis=2)
    assert np.array_equal(digits.sum(axis=1) % 7, m.y_train)
    # learnable: a shallow model that sees the relevant bits solves parity
    tree = DecisionTreeClassifier(max_depth=2, random_state=0).fit(ds.X_train[:, [3, 10]], ds.y_train)
    assert tree.score(ds.X_test[:, [3, 10]], ds.y_test) == 1.0


@pytest.mark.parametrize("kwargs", [
    {"val_size": 0.0}, {"val_size": 1.0}, {"val_size": -0.1}, {"val_size": "0.2"}, {"test_size": 1.5},
    {"val_size": 0.5, "test_size": 0.5}, {"max_rows": 5}, {"max_rows": 10.5}, {"seed": -1}, {"seed": 1.5},
])  # fmt: skip
def test_bad_parameters_raise_value_error(kwargs):
    key = next(iter(kwargs))
    with pytest.raises(ValueError, match=key):
        D.load("sklearn:iris", **kwargs)


def test_unknown_name_lists_close_names(tmp_path):
    with pytest.raises(ValueError, match="sklearn:iris"):
        D.load("sklearn:irs")
    with pytest.raises(ValueError, match="pmlb:ionosphere"):
        D.load("pmlb:ionosfere", root=tmp_path)
    with pytest.raises(ValueError, match="text:sst2"):
        D.is_available("text:sst-2")
    with pytest.raises(ValueError, match="family"):
        D.list_datasets("tabular")
    with pytest.raises(ValueError, match="task"):
        D.pmlb_default("clustering")


def test_data_root_and_download_switch(monkeypatch, tmp_path):
    monkeypatch.delenv("MABPRUNE_DATA", raising=False)
    assert D.data_root() == dataset.project_root() / "data"
    monkeypatch.setenv("MABPRUNE_DATA", str(tmp_path))
    assert D.data_root() == tmp_path
    assert D.data_root(tmp_path / "x") == tmp_path / "x"
    monkeypatch.delenv("MABPRUNE_DOWNLOAD", raising=False)
    assert dataset.download_allowed(None) is False and dataset.download_allowed(True) is True
    monkeypatch.setenv("MABPRUNE_DOWNLOAD", "1")
    assert dataset.download_allowed(None) is True and dataset.download_allowed(False) is False


def test_empty_root_lists_only_embedded(tmp_path):
    assert D.list_datasets(root=tmp_path, download=False) == EMBEDDED
    assert D.list_datasets("reasoning", root=tmp_path, download=False) == ["synthetic:parity", "synthetic:modsum"]
    assert D.pmlb_default("classification", tmp_path, download=False) == []
    everything = D.list_datasets(root=tmp_path, download=True)
    assert "vision:cifar10" in everything and "babi10k:qa3" in everything and "pmlb:iris" in everything


@pytest.mark.parametrize("name, expected", [
    ("vision:cifar10", "cifar-10-batches-py/data_batch_1"),
    ("vision:mnist", "MNIST/raw/train-images-idx3-ubyte"),
    ("text:mr", "sentence_cls/raw/rt-polarity.neg"),
    ("pmlb:iris", "pmlb/iris/iris.tsv.gz"),
    ("babi:qa2", "en/qa2_two-supporting-facts_train.txt"),
])  # fmt: skip
def test_missing_files_name_the_file(monkeypatch, tmp_path, name, expected):
    monkeypatch.delenv("MABPRUNE_DOWNLOAD", raising=False)  # download=None must mean offline
    assert not D.is_available(name, tmp_path)
    with pytest.raises(FileNotFoundError) as err:
        D.load(name, root=tmp_path)
    msg = str(err.value)
    assert expected in msg and str(tmp_path) in msg and "download=True" in msg
    if name == "vision:mnist":
        assert "t10k-images-idx3-ubyte.gz" in msg  # the test-only alternative is named too


# --------------------------------------------------------------------------- bad names and damaged files (issue 22 §4)


def _pmlb_table(root, key="iris", rows=30, extra=None):
    """A small PMLB cache file (gzipped TSV with a ``target`` column) under ``root``; returns its path."""
    df = pd.DataFrame({"a": np.arange(rows, dtype=float), "b": np.arange(rows) % 7, "target": np.arange(rows) % 3})
    for col, values in (extra or {}).items():
        df.insert(0, col, values)
    path = root / "pmlb" / key / f"{key}.tsv.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, sep="\t", index=False, compression="gzip")
    return path


@pytest.mark.parametrize("name", ["pmlb:../../evil", "pmlb:..", "pmlb:/tmp/evil", "pmlb:a/b", "pmlb:a\\b",
                                  "text:../sst2", "vision:..", "babi:qa1/../qa2"])
def test_a_name_cannot_leave_the_data_root(tmp_path, name):
    root = tmp_path / "a" / "b" / "root"
    (root / "pmlb").mkdir(parents=True)
    (tmp_path / "a" / "b" / "evil").mkdir()
    evil = _pmlb_table(tmp_path / "x", "evil")  # where pmlb:../../evil resolves (root/pmlb/../../evil/../../evil...)
    (tmp_path / "a" / "evil.tsv.gz").write_bytes(evil.read_bytes())
    for call in (lambda: D.load(name, root=root, download=False), lambda: D.is_available(name, root)):
        with pytest.raises(ValueError, match=re.escape(f"dataset name {name!r}") + ".*data root"):
            call()


def test_a_truncated_pmlb_file_is_named_and_deleting_it_is_suggested(tmp_path):
    path = _pmlb_table(tmp_path)
    assert D.load("pmlb:iris", root=tmp_path, download=False).n_classes == 3
    whole = path.read_bytes()
    for damaged in (whole[: len(whole) // 2], b"not a gzip file\n"):
        path.write_bytes(damaged)
        with pytest.raises(ValueError, match=re.escape(str(path)) + ".*damaged or truncated.*delete it") as err:
            D.load("pmlb:iris", root=tmp_path, download=False)
        assert "pmlb:iris" in str(err.value)


def test_a_pmlb_text_column_is_named(tmp_path):
    path = _pmlb_table(tmp_path, extra={"colour": ["red", "green", "blue"] * 10})
    with pytest.raises(ValueError, match=re.escape(f"column 'colour' of {path} is not numeric") + ".*'red'"):
        D.load("pmlb:iris", root=tmp_path, download=False)


# --------------------------------------------------------------------------- the mirror


def test_pmlb_classification_and_regression(shared_data):
    manifest = pd.read_csv(shared_data / "pmlb" / "MANIFEST.tsv", sep="\t").set_index("name")
    for name, task in (("ionosphere", "classification"), ("1027_ESL", "regression"), ("german", "classification")):
        ds = D.load(f"pmlb:{name}", root=shared_data, download=False)
        assert ds.family == ds.task == task
        assert _rows(ds) == manifest.loc[name, "n_instances"]
        assert ds.input_shape == (manifest.loc[name, "n_features"],)
        np.testing.assert_allclose(ds.X_train.mean(axis=0), 0, atol=1e-4)
        if task == "classification":
            assert ds.n_classes == manifest.loc[name, "n_classes"] and ds.y_train.dtype == np.int64
        else:
            raw = pd.read_csv(shared_data / "pmlb" / name / f"{name}.tsv.gz", sep="\t")["target"]
            assert np.array_equal(np.sort(np.concatenate([ds.y_train, ds.y_val, ds.y_test])),
                                  np.sort(raw.to_numpy(np.float32)))


def test_pmlb_default_rule_against_recommended(shared_data):
    rec = pd.read_csv(shared_data / "pmlb" / "RECOMMENDED.tsv", sep="\t")
    manifest = pd.read_csv(shared_data / "pmlb" / "MANIFEST.tsv", sep="\t").set_index("name")
    counts = {}
    for task in ("classification", "regression"):
        names = [n.removeprefix("pmlb:") for n in D.pmlb_default(task, shared_data, download=False)]
        counts[task] = len(names)
        sub = rec[rec.task == task]
        inside = set(sub[sub.in_size_criteria].name)
        outside = set(sub[~sub.in_size_criteria].name)
        assert inside <= set(names)  # every recommended set that meets the rule is selected
        assert not outside & set(names)  # those that break it (>20k rows, >100 features) are not
        m = manifest.loc[names]
        assert (m.task == task).all() and m.n_instances.between(100, 20_000).all() and (m.n_features <= 100).all()
        assert all((shared_data / "pmlb" / n / f"{n}.tsv.gz").exists() for n in names)
        assert set(D.pmlb_default(task, shared_data, download=True)) >= {f"pmlb:{n}" for n in names}
    assert counts == {"classification": 129, "regression": 95}
    listed = D.list_datasets("classification", root=shared_data, download=False)
    assert listed[:4] == ["sklearn:iris", "sklearn:wine", "sklearn:breast_cancer", "make:classification"]
    assert len(listed) == 4 + counts["classification"]


@pytest.mark.parametrize("name", ["vision:mnist", "vision:kmnist"])
def test_mirror_test_only_images(shared_data, name):
    assert D.is_available(name, shared_data) and not D.is_available("vision:cifar10", shared_data)
    ds = D.load(name, root=shared_data, download=False)
    assert _rows(ds) == 10_000 and ds.input_shape == (1, 28, 28) and ds.n_classes == 10
    assert set(np.unique(np.concatenate([ds.y_train, ds.y_val, ds.y_test]))) == set(range(10))
    assert "offline" in ds.meta["note"] and "10,000 official test images" in ds.meta["note"]
    assert ds.meta["split"] == "three-way" and abs(float(ds.X_train.mean())) < 1e-3


TEXT_CLASSES = {"sst2": 2, "ag_news": 4, "trec": 6, "sms_spam": 2, "mr": 2, "subj": 2, "cr": 2, "mpqa": 2}
# (pool rows, official test rows) of the files in the mirror; blank lines are dropped, which
# leaves CR 3,771 of its 3,775 lines and MPQA 10,603 of 10,606.
TEXT_ROWS = {"sst2": (67_349, 872), "ag_news": (7_600, None), "trec": (5_452, 500), "sms_spam": (5_574, None),
             "mr": (10_662, None), "subj": (10_000, None), "cr": (3_771, None), "mpqa": (10_603, None)}


@pytest.mark.parametrize("key", list(TEXT_CLASSES))  # the sets of the offline mirror
def test_mirror_text_sets(shared_data, key):
    x, y, tx, ty, classes, _ = T.read_text(key, shared_data)
    n_pool, n_test = TEXT_ROWS[key]
    assert len(x) == len(y) == n_pool and (tx is None if n_test is None else len(tx) == len(ty) == n_test)
    assert len(classes) == TEXT_CLASSES[key] and set(y) == set(range(len(classes)))
    assert all(isinstance(s, str) and s for s in x[:50])
    ds = D.load(f"text:{key}", root=shared_data, max_rows=300, download=False)
    assert ds.family == "text" and ds.n_classes == TEXT_CLASSES[key] and _rows(ds) == 300
    assert ds.X_train.dtype == np.int64 and ds.input_shape == (T.MAX_LEN,)
    assert 2 < ds.meta["vocab_size"] and ds.X_train.max() < ds.meta["vocab_size"]
    assert (ds.X_train[:, 0] > 0).mean() > 0.95  # texts start at position 0, padding at the end
    assert ds.meta["split"] == ("three-way" if n_test is None else "official test")


def test_mirror_babi(shared_data):
    ds = D.load("babi:qa1", root=shared_data, download=False)
    assert (len(ds.y_train) + len(ds.y_val), len(ds.y_test)) == (1000, 1000)
    assert ds.meta["classes"] == ["bathroom", "bedroom", "garden", "hallway", "kitchen", "office"]
    assert ds.X_train.dtype == np.float32 and ds.input_shape == (2 * ds.meta["vocab_size"],)
    path = D.load("babi:qa19", root=shared_data, max_rows=400, download=False)
    assert "n,w" in path.meta["classes"] and all(len(c) == 3 for c in path.meta["classes"])
    assert D.is_available("babi10k:qa1", shared_data) and not D.is_available("babi10k:qa3", shared_data)
    with pytest.raises(FileNotFoundError, match="en-10k/qa3_three-supporting-facts_train.txt"):
        D.load("babi10k:qa3", root=shared_data, download=False)


# --------------------------------------------------------------------------- self-made real formats


def _idx(path: Path, array: np.ndarray, compress: bool = False):
    """Write an idx file as distributed: magic 0x0000 0x08 ndim, big-endian dims, uint8 data."""
    blob = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    blob += array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(blob) if compress else blob)


def _digit_images(labels):
    # each image's pixels hold its label * 20, so image-label alignment survives the checks
    return np.repeat(np.asarray(labels, np.uint8)[:, None, None] * 20, 28 * 28).reshape(-1, 28, 28)


@pytest.mark.parametrize("cls", ["MNIST", "FashionMNIST", "KMNIST"])
def test_torchvision_mnist_layout(tmp_path, cls):
    train_y, test_y = np.arange(60) % 10, np.arange(20) % 10
    raw = tmp_path / cls / "raw"
    _idx(raw / "train-images-idx3-ubyte", _digit_images(train_y))
    _idx(raw / "train-labels-idx1-ubyte", train_y)
    _idx(raw / "t10k-images-idx3-ubyte", _digit_images(test_y))
    _idx(raw / "t10k-labels-idx1-ubyte", test_y)
    key = {"MNIST": "mnist", "FashionMNIST": "fashion_mnist", "KMNIST": "kmnist"}[cls]
    ds = D.load(f"vision:{key}", root=tmp_path, download=False, val_size=0.2)
    assert ds.meta["split"] == "official test" and ds.meta["source"].endswith(f"{cls}/raw")
    assert (len(ds.y_train), len(ds.y_val), len(ds.y_test)) == (48, 12, 20)
    assert ds.n_classes == 10 and ds.input_shape == (1, 28, 28)
    for X, y in ((ds.X_train, ds.y_train), (ds.X_test, ds.y_test)):
        pixels = X[:, 0, 0, 0] * ds.meta["std"][0] + ds.meta["mean"][0]
        np.testing.assert_allclose(pixels, y * 20 / 255, atol=1e-5)


def test_idx_reader_matches_torchvision(tmp_path):
    from torchvision.datasets.mnist import read_image_file, read_label_file

    images, labels = _digit_images([3, 1, 4]), np.array([3, 1, 4])
    _idx(tmp_path / "img", images)
    _idx(tmp_path / "img.gz", images, compress=True)
    _idx(tmp_path / "lab.gz", labels, compress=True)
    _idx(tmp_path / "lab", labels)
    assert np.array_equal(image_files.read_idx(tmp_path / "img.gz"), read_image_file(str(tmp_path / "img")).numpy())
    assert np.array_equal(image_files.read_idx(tmp_path / "lab.gz"), read_label_file(str(tmp_path / "lab")).numpy())


def test_test_only_idx_copy(tmp_path):
    y = np.arange(50) % 10
    _idx(tmp_path / "fashion_mnist" / "t10k-images-idx3-ubyte.gz", _digit_images(y), compress=True)
    _idx(tmp_path / "fashion_mnist" / "t10k-labels-idx1-ubyte.gz", y, compress=True)
    ds = D.load("vision:fashion_mnist", root=tmp_path, download=False)
    assert _rows(ds) == 50 and "50 official test images" in ds.meta["note"]


@pytest.mark.filterwarnings("ignore:MABPRUNE_TRUST_PICKLES=1")
def test_cifar10_pickle_layout(tmp_path, monkeypatch):
    monkeypatch.setenv("MABPRUNE_TRUST_PICKLES", "1")  # the pickles made here are not the official files
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()

    def batch(name, labels):
        # rows are 3072 bytes: the red plane, then green, then blue (1024 each)
        planes = [np.full((len(labels), 1024), v, np.uint8) for v in (0, 100, 200)]
        planes[0] += np.asarray(labels, np.uint8)[:, None] * 10
        entry = {"batch_label": name, "labels": list(labels), "data": np.hstack(planes),
                 "filenames": [f"{i}.png" for i in range(len(labels))]}
        with open(folder / name, "wb") as f:
            pickle.dump(entry, f, protocol=2)

    for b in range(1, 6):
        batch(f"data_batch_{b}", [(b + i) % 10 for i in range(10)])
    batch("test_batch", list(range(10)))
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"class{i}" for i in range(10)], "num_vis": 3072}, f, protocol=2)
    ds = D.load("vision:cifar10", root=tmp_path, download=False)
    assert ds.input_shape == (3, 32, 32) and (len(ds.y_train) + len(ds.y_val), len(ds.y_test)) == (50, 10)
    assert ds.meta["classes"][0] == "class0" and ds.meta["split"] == "official test"
    mean, std = np.array(ds.meta["mean"]), np.array(ds.meta["std"])
    pixels = ds.X_test[:, :, 5, 5] * std + mean
    np.testing.assert_allclose(pixels[:, 0], ds.y_test * 10 / 255, atol=1e-5)
    np.testing.assert_allclose(pixels[:, 1:], np.tile([100 / 255, 200 / 255], (10, 1)), atol=1e-5)


BABI = """1 Mary moved to the bathroom.
2 John went to the hallway.
3 Where is Mary? \tbathroom\t1
4 Daniel went back to the hallway.
5 Where is Daniel? \thallway\t4
1 Sandra journeyed to the garden.
2 Where is Sandra? \tgarden\t1
"""


def test_babi_format(tmp_path):
    path = tmp_path / "qa1.txt"
    path.write_text(BABI)
    s = babi.parse_babi(path)
    assert [a for _, _, a in s] == ["bathroom", "hallway", "garden"]
    assert s[0][0] == [["mary", "moved", "to", "the", "bathroom"], ["john", "went", "to", "the", "hallway"]]
    assert len(s[1][0]) == 3 and s[1][1] == ["where", "is", "daniel"]  # questions not in the story
    assert s[2][0] == [["sandra", "journeyed", "to", "the", "garden"]]  # line 1 reset the story
    f = babi.BabiFeaturizer(decay=0.5).fit(s[:2])
    X = f.transform(s)
    v = f.vocab_
    assert X.shape == (3, 2 * len(v)) and "sandra" not in v  # vocabulary from the fitted samples
    assert X[1, v["daniel"]] == 1.0 and X[1, v["mary"]] == 0.25 and X[1, len(v) + v["daniel"]] == 1.0
    assert X[2, : len(v)].sum() == 2.0  # known words of the new story: to, the (not sandra, garden)


def test_babi_load_from_files(tmp_path):
    train, test = babi.babi_files(1, tmp_path)
    train.parent.mkdir(parents=True)
    train.write_text(BABI * 10)
    test.write_text(BABI)
    ds = D.load("babi:qa1", root=tmp_path, download=False)
    assert (len(ds.y_train) + len(ds.y_val), len(ds.y_test)) == (30, 3)
    assert ds.meta["classes"] == ["bathroom", "garden", "hallway"] and ds.meta["task_name"] == "single-supporting-fact"
    assert ds.y_test.tolist() == [0, 2, 1]


def test_sst2_tsv_and_other_text_formats(tmp_path):
    (tmp_path / "sst2").mkdir()
    (tmp_path / "sst2" / "train.tsv").write_text(
        "sentence\tlabel\n" + "".join(f'a "quoted" film number {i} \t{i % 2}\n' for i in range(40)))
    (tmp_path / "sst2" / "dev.tsv").write_text("sentence\tlabel\nit 's great ! \t1\nbad , bad . \t0\n")
    ds = D.load("text:sst2", root=tmp_path, download=False)
    assert ds.y_test.tolist() == [1, 0] and "dev set is the test set" in ds.meta["note"]
    assert ds.meta["source"].endswith("dev.tsv") and _rows(ds) == 42

    (tmp_path / "ag_news").mkdir()
    with open(tmp_path / "ag_news" / "test.csv", "w", newline="") as f:
        csv.writer(f, quoting=csv.QUOTE_ALL).writerows([["3", 'Oil "spikes"', "Prices rose.\\nMore."], ["1", "T", "D"]])
    x, y, tx, *_ = T.read_text("ag_news", tmp_path)
    assert x == ['Oil "spikes" Prices rose. More.', "T D"] and y == [2, 0] and tx is None

    raw = tmp_path / "sentence_cls" / "raw"
    raw.mkdir(parents=True)
    # latin-1 bytes, one of them 0x85 (U+0085 once decoded: a line break for str.splitlines)
    (raw / "rt-polarity.neg").write_bytes(b"caf\xe9 film\nit \x85 drags\n")
    (raw / "rt-polarity.pos").write_bytes(b"fine\n")
    x, y, *_ = T.read_text("mr", tmp_path)
    assert x == ["café film", "it \x85 drags", "fine"] and y == [0, 0, 1]

    (tmp_path / "trec").mkdir()
    (tmp_path / "trec" / "train_5500.label").write_bytes(b"LOC:city Where is Z\xfcrich ?\nNUM:date When ?\n")
    (tmp_path / "trec" / "TREC_10.label").write_text("HUM:ind Who ?\n")
    x, y, tx, ty, classes, _ = T.read_text("trec", tmp_path)
    assert x == ["Where is Zürich ?", "When ?"] and [classes[i] for i in y + ty] == ["LOC", "NUM", "HUM"]


def test_hugging_face_path_when_downloads_are_allowed(monkeypatch, tmp_path):
    import datasets

    calls = []

    def fake_load_dataset(path, name=None, cache_dir=None):
        calls.append((path, name, cache_dir))
        def rows(n, off):
            return {"text": [f"question {i} ?" for i in range(n)],
                    "coarse_label": [(i + off) % 6 for i in range(n)], "fine_label": [0] * n}
        return datasets.DatasetDict({"train": datasets.Dataset.from_dict(rows(60, 0)),
                                     "test": datasets.Dataset.from_dict(rows(12, 3))})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    monkeypatch.setenv("MABPRUNE_DOWNLOAD", "1")  # download=None follows the environment
    ds = D.load("text:trec", root=tmp_path)
    assert calls == [("CogComp/trec", None, str(tmp_path / "huggingface"))]
    assert ds.meta["source"] == "huggingface:CogComp/trec" and ds.meta["split"] == "official test"
    assert ds.y_test.tolist() == [(i + 3) % 6 for i in range(12)] and len(ds.y_train) + len(ds.y_val) == 60
    monkeypatch.setenv("MABPRUNE_DOWNLOAD", "0")
    with pytest.raises(FileNotFoundError):
        D.load("text:trec", root=tmp_path)
    assert len(calls) == 1


def test_tokenizer_vocab_from_train_only():
    assert T.tokenize("Don't STOP, now!") == ["don't", "stop", ",", "now", "!"]
    vocab = T.build_vocab(["b a b", "a b c"], min_freq=2, max_vocab=10)
    assert vocab == {"b": 2, "a": 3}
    ids = T.encode(["a z b " * 30], vocab, max_len=5)
    assert ids.tolist() == [[3, T.UNK, 2, 3, T.UNK]]
    assert T.build_vocab(["a b c d"] * 3, max_vocab=4) == {"a": 2, "b": 3}


def test_partial_offline_copy_prefers_the_hub_when_allowed(monkeypatch, tmp_path):
    import datasets

    (tmp_path / "ag_news").mkdir()
    (tmp_path / "ag_news" / "test.csv").write_text("".join(f'"{i % 4 + 1}","t{i}","d"\n' for i in range(40)))
    offline = D.load("text:ag_news", root=tmp_path, download=False)
    assert offline.meta["split"] == "three-way" and "120k training file" in offline.meta["note"]

    def fake_load_dataset(path, name=None, cache_dir=None):
        rows = lambda n: {"text": [f"news {i}" for i in range(n)], "label": [i % 4 for i in range(n)]}  # noqa: E731
        return datasets.DatasetDict({"train": datasets.Dataset.from_dict(rows(80)),
                                     "test": datasets.Dataset.from_dict(rows(20))})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    online = D.load("text:ag_news", root=tmp_path, download=True)
    assert online.meta["source"] == "huggingface:fancyzhx/ag_news" and len(online.y_test) == 20


def test_the_project_root_comes_from_the_working_directory_not_the_package(tmp_path, monkeypatch):
    # a second checkout using this checkout's virtual environment must read and write its own files
    other = tmp_path / "clone"
    (other / "notebooks").mkdir(parents=True)
    (other / "pyproject.toml").write_text("")
    monkeypatch.delenv("MABPRUNE_ROOT", raising=False)
    monkeypatch.delenv("MABPRUNE_DATA", raising=False)
    monkeypatch.chdir(other / "notebooks")
    assert dataset.project_root() == other.resolve()
    assert D.data_root() == other.resolve() / "data"
    monkeypatch.setenv("MABPRUNE_ROOT", str(tmp_path))
    assert dataset.project_root() == tmp_path.resolve()
