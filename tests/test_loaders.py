"""The loaders of the authors' original sets on small files written here in the real formats:
IMDB's aclImdb folders, the Keras Reuters files, SVHN's .mat files (scipy.io.savemat, as the
originals are MATLAB files), CIFAR-10's and CIFAR-100's python pickles. Nothing is downloaded.

The pickle-bearing files (CIFAR's batches, Reuters' npz) are refused unless their checksum is the
official one (issue 22 §4): the tests that read the small files made here opt out with
``MABPRUNE_TRUST_PICKLES=1`` (the ``trusted`` fixture), and others check the refusal."""

import json
import pickle
import re
import warnings

import numpy as np
import pytest

from mabprune import data as D
from mabprune.data import dataset, images
from mabprune.data import text

TRUST = "MABPRUNE_TRUST_PICKLES"


@pytest.fixture
def trusted(monkeypatch):
    """Read the pickle files made here although their checksums are not the official ones."""
    monkeypatch.setenv(TRUST, "1")
    monkeypatch.setattr(dataset, "_warned_trust", False)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=f"{TRUST}=1")
        yield


@pytest.fixture
def untrusted(monkeypatch):
    monkeypatch.delenv(TRUST, raising=False)


class _Payload:
    """Unpickling this runs code: it creates ``marker`` (a stand-in for anything worse)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def _imdb(root, n=6):
    for split in ("train", "test"):
        for label in ("neg", "pos"):
            folder = root / "aclImdb" / split / label
            folder.mkdir(parents=True)
            for i in range(n):
                word = "awful dull" if label == "neg" else "great fun"
                (folder / f"{i}_{3 if label == 'neg' else 8}.txt").write_text(
                    f"Review {i} of a {word} film.<br /><br />Really {word}.", encoding="utf-8")
    (root / "aclImdb" / "train" / "unsup").mkdir()  # the unlabelled reviews are not read
    (root / "aclImdb" / "train" / "unsup" / "0_0.txt").write_text("unlabelled")


def test_imdb_folder_layout(tmp_path):
    _imdb(tmp_path)
    assert D.is_available("text:imdb", tmp_path)
    x, y, tx, ty, classes, source = text.read_text("imdb", tmp_path)
    assert len(x) == len(tx) == 12 and y == [0] * 6 + [1] * 6 and ty == y and classes == ["negative", "positive"]
    assert "<br" not in x[0] and "awful dull" in x[0] and "unlabelled" not in " ".join(x)
    ds = D.load("text:imdb", root=tmp_path, download=False, val_size=0.25)
    assert ds.meta["split"] == "official test" and (len(ds.y_train), len(ds.y_val), len(ds.y_test)) == (9, 3, 12)
    assert ds.X_train.dtype == np.int64 and ds.n_classes == 2


def test_imdb_missing_folder_is_named(tmp_path):
    _imdb(tmp_path)
    for f in (tmp_path / "aclImdb" / "test" / "pos").iterdir():
        f.unlink()
    (tmp_path / "aclImdb" / "test" / "pos").rmdir()
    assert not D.is_available("text:imdb", tmp_path)
    with pytest.raises(FileNotFoundError, match="aclImdb/test/pos"):
        D.load("text:imdb", root=tmp_path, download=False)


def _reuters(root, n=40):
    folder = root / "reuters"
    folder.mkdir()
    words = ["oil", "price", "wheat", "rose", "fell", "bank", "rate"]
    index = {w: i + 1 for i, w in enumerate(words)}
    rng = np.random.default_rng(0)
    x = np.empty(n, dtype=object)
    y = np.arange(n) % 4
    for i in range(n):  # topic t always mentions word t, so the labels are learnable
        x[i] = [int(y[i]) + 1] + [int(r) for r in rng.integers(1, len(words) + 1, size=5)]
    np.savez(folder / "reuters.npz", x=x, y=y)
    (folder / "reuters_word_index.json").write_text(json.dumps(index))
    return x, y, words


def test_reuters_keras_files(tmp_path, trusted):
    x, y, words = _reuters(tmp_path)
    texts, labels, tx, ty, classes, _ = text.read_text("reuters", tmp_path)
    assert tx is None and labels == y.tolist() and len(classes) == 46
    assert texts[0].split() == [words[r - 1] for r in x[0]]
    ds = D.load("text:reuters", root=tmp_path, download=False)
    assert ds.meta["split"] == "three-way" and "one pool" in ds.meta["note"]
    assert len(ds.y_train) + len(ds.y_val) + len(ds.y_test) == 40


def test_svhn_mat_files(tmp_path):
    import scipy.io

    folder = tmp_path / "svhn"
    folder.mkdir()
    for name, labels in (("train_32x32.mat", [10, 1, 2, 3, 10, 5, 6, 7, 8, 9] * 2), ("test_32x32.mat", [10, 4, 2])):
        labels = np.asarray(labels)
        X = np.zeros((32, 32, 3, len(labels)), np.uint8)
        for i, lab in enumerate(labels):  # pixel (0, 0) of channel c holds 10 * label + c
            X[0, 0, :, i] = (lab % 10) * 10 + np.arange(3)
        scipy.io.savemat(folder / name, {"X": X, "y": labels.reshape(-1, 1)})
    X, y, X_te, y_te, classes = images.read_svhn(folder)
    assert X.shape == (20, 3, 32, 32) and y[0] == 0 and y_te.tolist() == [0, 4, 2]  # 10 means digit 0
    assert (X[:, :, 0, 0] == y[:, None] * 10 + np.arange(3)).all()
    ds = D.load("vision:svhn", root=tmp_path, download=False, val_size=0.25)
    assert ds.meta["split"] == "official test" and ds.input_shape == (3, 32, 32) and ds.n_classes == 10
    assert len(ds.y_test) == 3 and len(ds.y_train) + len(ds.y_val) == 20


def test_crafted_reuters_npz_is_refused_before_it_is_unpickled(tmp_path, untrusted):
    _reuters(tmp_path)
    npz = tmp_path / "reuters" / "reuters.npz"
    marker = tmp_path / "ran"
    x = np.empty(1, dtype=object)
    x[0] = _Payload(marker)
    np.savez(npz, x=x, y=np.array([0]))
    expected = re.escape(f"{npz}: its SHA-256 is not the official d6586e694ee56d7a4e65172e12b3e987c03096cb01eab997")
    for call in (lambda: text.read_text("reuters", tmp_path), lambda: D.load("text:reuters", root=tmp_path)):
        with pytest.raises(ValueError, match=expected + ".*" + TRUST):
            call()
    assert not marker.exists()


def test_trusting_pickles_says_so_once(tmp_path, untrusted, monkeypatch):
    _reuters(tmp_path)
    monkeypatch.setenv(TRUST, "1")
    monkeypatch.setattr(dataset, "_warned_trust", False)
    with pytest.warns(UserWarning, match=f"{TRUST}=1.*reuters.npz.*runs code") as record:
        text.read_text("reuters", tmp_path)
        text.read_text("reuters", tmp_path)
    assert len([w for w in record if TRUST in str(w.message)]) == 1


def _pickle(path, obj):
    with open(path, "wb") as fh:
        pickle.dump(obj, fh)


def _cifar(tmp_path, key):
    """Small CIFAR-10 or CIFAR-100 pickles in torchvision's layout: ``(folder, n_classes)``."""
    n_classes = 10 if key == "cifar10" else 100
    label_key = "labels" if key == "cifar10" else "fine_labels"
    folder = tmp_path / ("cifar-10-batches-py" if key == "cifar10" else "cifar-100-python")
    folder.mkdir()

    def batch(labels):
        labels = np.asarray(labels)
        data = np.zeros((len(labels), 3 * 32 * 32), np.uint8)
        data[:, 0] = labels  # the first red pixel holds the label
        entry = {"data": data, label_key: labels.tolist()}
        if key == "cifar100":
            entry["coarse_labels"] = (labels // 5).tolist()
        return entry

    train_files = [f"data_batch_{i}" for i in range(1, 6)] if key == "cifar10" else ["train"]
    per = 2 * n_classes // len(train_files)
    for i, f in enumerate(train_files):
        _pickle(folder / f, batch((np.arange(per) + i * per) % n_classes))
    _pickle(folder / ("test_batch" if key == "cifar10" else "test"), batch(np.arange(n_classes)))
    names_key = "label_names" if key == "cifar10" else "fine_label_names"
    _pickle(folder / ("batches.meta" if key == "cifar10" else "meta"), {names_key: [f"c{i}" for i in range(n_classes)]})
    return folder, n_classes


@pytest.mark.parametrize("key", ["cifar10", "cifar100"])
def test_cifar_pickles(tmp_path, key, trusted):
    folder, n_classes = _cifar(tmp_path, key)
    X, y, X_te, y_te, classes = images.read_cifar(folder, key)
    assert X.shape == (2 * n_classes, 3, 32, 32) and (X[:, 0, 0, 0] == y).all() and classes[1] == "c1"
    ds = D.load(f"vision:{key}", root=tmp_path, download=False, val_size=0.1)
    assert ds.meta["split"] == "official test" and ds.n_classes == n_classes and len(ds.y_test) == n_classes
    assert ds.meta["classes"] == [f"c{i}" for i in range(n_classes)]


@pytest.mark.parametrize("key", ["cifar10", "cifar100"])
def test_crafted_cifar_pickles_are_refused_before_they_are_unpickled(tmp_path, key, untrusted):
    import torchvision

    folder, _ = _cifar(tmp_path, key)
    cls = getattr(torchvision.datasets, images.VISION_SETS[key][0])
    first, md5 = cls.train_list[0]  # the checksums torchvision ships
    marker = tmp_path / "ran"
    _pickle(folder / first, _Payload(marker))
    expected = re.escape(f"{folder / first}: its MD5 is not the official {md5}")
    for call in (lambda: images.read_cifar(folder, key), lambda: D.load(f"vision:{key}", root=tmp_path)):
        with pytest.raises(ValueError, match=expected + ".*" + TRUST):
            call()
    assert not marker.exists()


def test_full_profile_names_the_originals(tmp_path):
    names = D.list_datasets(root=tmp_path, download=True)
    for name in ("text:imdb", "text:reuters", "vision:cifar10", "vision:cifar100", "vision:svhn", "vision:mnist"):
        assert name in names
        assert not D.is_available(name, tmp_path)
