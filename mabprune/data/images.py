"""Image sources of :mod:`mabprune.data`: MNIST-style sets, CIFAR-10/100 and SVHN.

Each reader takes the files in the layout that torchvision downloads (so a data root filled
by torchvision needs no conversion) and reads them as torchvision does. CIFAR's batches are
pickles, which run code when read: they are read only when their MD5 is the one torchvision
ships (tests write small files in the same formats and opt out with
``MABPRUNE_TRUST_PICKLES=1``, see :func:`mabprune.data.dataset.check_official`). With downloads allowed, a missing set
is fetched through ``torchvision.datasets``. MNIST and KMNIST also read the test-only copies
of the offline mirror (idx / npz files), which are then split three ways.

The readers return raw arrays: uint8 images ``(N, C, H, W)`` and int64 labels.
"""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np

from .dataset import check_official, missing_files_error

__all__ = ["VISION_SETS", "cifar_md5", "read_cifar", "read_idx", "read_svhn", "read_vision", "vision_files"]

#: key -> (torchvision class, test-only folder, test-only files)
VISION_SETS = {
    "mnist": ("MNIST", "mnist", ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")),
    "fashion_mnist": ("FashionMNIST", "fashion_mnist", ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")),
    "kmnist": ("KMNIST", "kmnist", ("kmnist-test-imgs.npz", "kmnist-test-labels.npz")),
    "cifar10": ("CIFAR10", None, ()),
    "cifar100": ("CIFAR100", None, ()),
    "svhn": ("SVHN", None, ()),
}
_MNIST_RAW = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_CIFAR10 = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch", "batches.meta")
_CIFAR100 = ("train", "test", "meta")
#: key -> (torchvision's folder, files, label key, class-names key)
_CIFAR = {"cifar10": ("cifar-10-batches-py", _CIFAR10, "labels", "label_names"),
          "cifar100": ("cifar-100-python", _CIFAR100, "fine_labels", "fine_label_names")}
_SVHN = ("train_32x32.mat", "test_32x32.mat")


def vision_files(key: str, root: Path) -> tuple[list[Path], list[Path]]:
    """(files of torchvision's full layout, files of the test-only offline copy) of ``key``.

    Examples
    --------
    >>> from pathlib import Path
    >>> [p.name for p in vision_files("svhn", Path("/d"))[0]]
    ['train_32x32.mat', 'test_32x32.mat']
    """
    cls, folder, test_only = VISION_SETS[key]
    if key in _CIFAR:
        full = [root / _CIFAR[key][0] / f for f in _CIFAR[key][1]]
    elif key == "svhn":
        full = [root / "svhn" / f for f in _SVHN]  # torchvision.datasets.SVHN(root / "svhn")
    else:
        full = [root / cls / "raw" / f for f in _MNIST_RAW]
    return full, [root / folder / f for f in test_only] if folder else []


def read_idx(path: Path) -> np.ndarray:
    """Read an idx file (the MNIST format), gzipped or not: big-endian dims, then data."""
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    dtype = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[data[2]]
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=dtype, offset=4 + 4 * ndim).reshape(dims).astype(dtype[1:])


def cifar_md5(key: str) -> dict[str, str]:
    """File name -> MD5 of the official CIFAR-10 or CIFAR-100 pickles, as torchvision ships them.

    Examples
    --------
    >>> sorted(cifar_md5("cifar100"))
    ['meta', 'test', 'train']
    """
    import torchvision

    cls = getattr(torchvision.datasets, VISION_SETS[key][0])
    return {**dict(cls.train_list), **dict(cls.test_list), cls.meta["filename"]: cls.meta["md5"]}


def read_cifar(folder: Path, key: str = "cifar10") -> tuple:
    """CIFAR-10 or CIFAR-100 from the python pickles: ``(X, y, X_test, y_test, classes)``.

    CIFAR-100 uses the 100 fine labels. Images are uint8 ``(N, 3, 32, 32)``.

    Raises
    ------
    ValueError
        Before anything is unpickled, when a file's MD5 is not torchvision's (naming the file
        and the MD5), unless ``MABPRUNE_TRUST_PICKLES=1``.
    """
    _, files, label_key, names_key = _CIFAR[key]
    official = cifar_md5(key)
    for f in files:  # every file before the first is unpickled
        check_official(folder / f, official[f], algorithm="md5", name=f"vision:{key}")

    def batch(f):
        with open(folder / f, "rb") as fh:
            entry = pickle.load(fh, encoding="latin1")
        return np.asarray(entry["data"], np.uint8).reshape(-1, 3, 32, 32), np.asarray(entry[label_key], np.int64)

    parts = [batch(f) for f in files[:-2]]
    with open(folder / files[-1], "rb") as fh:
        classes = list(pickle.load(fh, encoding="latin1")[names_key])
    X_te, y_te = batch(files[-2])
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), X_te, y_te, classes


def read_svhn(folder: Path) -> tuple:
    """SVHN (cropped digits) from ``train_32x32.mat`` and ``test_32x32.mat``.

    As torchvision reads them: ``X`` is stored ``(32, 32, 3, N)``, label 10 means digit 0.
    Returns ``(X, y, X_test, y_test, classes)`` with uint8 ``(N, 3, 32, 32)`` images.
    """
    import scipy.io

    def part(f):
        mat = scipy.io.loadmat(str(folder / f))
        y = np.asarray(mat["y"], np.int64).reshape(-1)
        y[y == 10] = 0
        return np.transpose(mat["X"], (3, 2, 0, 1)).astype(np.uint8), y

    (X, y), (X_te, y_te) = part(_SVHN[0]), part(_SVHN[1])
    return X, y, X_te, y_te, [str(d) for d in range(10)]


def _download(key: str, root: Path) -> None:
    import torchvision

    cls = getattr(torchvision.datasets, VISION_SETS[key][0])
    if key == "svhn":
        for split in ("train", "test"):
            cls(str(root / "svhn"), split=split, download=True)
    else:
        for train in (True, False):
            cls(str(root), train=train, download=True)


def read_vision(key: str, root: Path, *, download: bool = False, name: str | None = None) -> tuple:
    """Read image set ``key``: ``(X, y, X_test, y_test, classes, source, notes)``.

    ``X_test``/``y_test``/``classes`` are ``None`` for a test-only offline copy, which the
    caller splits three ways (``notes`` says so).

    Raises
    ------
    FileNotFoundError
        When neither layout is present and ``download`` is false; it names the files.
    """

    cls_name = VISION_SETS[key][0]
    full, test_only = vision_files(key, root)
    have_full = all(p.exists() for p in full)
    notes: list[str] = []
    if not have_full and download:
        _download(key, root)
        have_full = all(p.exists() for p in full)
    if have_full and key in _CIFAR:
        return (*read_cifar(root / _CIFAR[key][0], key), str(root / _CIFAR[key][0]), notes)
    if have_full and key == "svhn":
        return (*read_svhn(root / "svhn"), str(root / "svhn"), notes)
    if have_full:
        from torchvision import datasets

        raw = root / cls_name / "raw"
        X, y, X_te, y_te = (read_idx(raw / f) for f in _MNIST_RAW)
        classes = list(getattr(datasets, cls_name).classes)
        return X[:, None], y.astype(np.int64), X_te[:, None], y_te.astype(np.int64), classes, str(raw), notes
    if test_only and all(p.exists() for p in test_only):
        read = read_idx if test_only[0].suffix == ".gz" else (lambda p: np.load(p)["arr_0"])
        X, y = read(test_only[0])[:, None], read(test_only[1]).astype(np.int64)
        notes.append(f"offline: the training images are not available; split three ways from the "
                     f"{len(y):,} official test images")
        return X, y, None, None, None, ", ".join(map(str, test_only)), notes
    layout = f"torchvision.datasets.{cls_name}'s layout"
    if test_only:
        layout += f", or the test-only copy {', '.join(p.name for p in test_only)} in {test_only[0].parent}"
    raise missing_files_error(name or f"vision:{key}", [p for p in full if not p.exists()], root, layout=layout)
