"""The document sets of the authors' deep-learning table, read in their real distribution
formats: IMDB's ``aclImdb`` folder and the Keras Reuters newswires.

- **IMDB** (Maas et al. 2011), the original archive ``aclImdb_v1.tar.gz`` unpacked under the
  data root: ``aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt``, one review per file
  (the unlabelled ``train/unsup`` reviews are not used). Labels: neg = 0, pos = 1.
- **Reuters** newswires, the distribution of the Keras example that the authors ran
  (``keras.datasets.reuters``): ``reuters/reuters.npz`` (``x``: one list of word ranks per
  newswire, ``y``: topic 0..45; 11,228 newswires) and ``reuters/reuters_word_index.json``
  (word -> rank, 1 = most frequent). The newswires are decoded back to words, so they go
  through the same tokenizer and training-split vocabulary as every text set. Keras' own
  train/test split is a seeded shuffle of this one pool, so the pool is split three ways here.
  ``reuters.npz`` holds pickled object arrays, which run code when read: it is read only when
  its SHA-256 is the one Keras publishes (:data:`REUTERS_SHA256`).

With downloads allowed, a missing set is fetched from its original URL (the Stanford archive;
the Keras files) into the data root. Tests write small files in these formats (and opt out of
the Reuters checksum with ``MABPRUNE_TRUST_PICKLES=1``, see :func:`mabprune.data.dataset.check_official`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from .dataset import check_official

__all__ = ["IMDB_URL", "REUTERS_SHA256", "REUTERS_URLS", "download_imdb", "download_reuters", "read_imdb", "read_reuters"]

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
REUTERS_URLS = ("https://storage.googleapis.com/tensorflow/tf-keras-datasets/reuters.npz",
                "https://storage.googleapis.com/tensorflow/tf-keras-datasets/reuters_word_index.json")
IMDB_FILES = ("aclImdb/train/neg", "aclImdb/train/pos", "aclImdb/test/neg", "aclImdb/test/pos")
REUTERS_FILES = ("reuters/reuters.npz", "reuters/reuters_word_index.json")
#: SHA-256 of the official ``reuters.npz``: the ``file_hash`` that ``keras.datasets.reuters.load_data``
#: checks (keras-team/keras, keras/src/datasets/reuters.py).
REUTERS_SHA256 = "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"
_TAG = re.compile(r"<[^>]+>")  # the reviews hold HTML line breaks (<br />)


def read_imdb(root: Path) -> tuple:
    """IMDB from ``root/aclImdb``: ``(texts, labels, test_texts, test_labels, source)``.

    Files are read in sorted order within each folder, negatives first.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for split in ("train", "test"):
    ...     for label in ("pos", "neg"):
    ...         (root / "aclImdb" / split / label).mkdir(parents=True)
    ...         _ = (root / "aclImdb" / split / label / "0_7.txt").write_text(f"A {label} film.<br />Yes")
    >>> x, y, tx, ty, _ = read_imdb(root)
    >>> x, y
    (['A neg film. Yes', 'A pos film. Yes'], [0, 1])
    """
    def split(name):
        texts, labels = [], []
        for label, folder in enumerate(("neg", "pos")):
            for f in sorted((root / "aclImdb" / name / folder).glob("*.txt")):
                texts.append(_TAG.sub(" ", f.read_text(encoding="utf-8")).replace("  ", " ").strip())
                labels.append(label)
        return texts, labels

    x, y = split("train")
    tx, ty = split("test")
    return x, y, tx, ty, str(root / "aclImdb")


def read_reuters(root: Path) -> tuple:
    """Reuters from the Keras files: ``(texts, labels, None, None, source)``.

    A rank missing from the word index (none in the real files) becomes ``"<unk>"``.

    Raises
    ------
    ValueError
        Before ``reuters.npz`` is unpickled, when its SHA-256 is not :data:`REUTERS_SHA256`
        (naming the file and the checksum), unless ``MABPRUNE_TRUST_PICKLES=1``.

    Examples
    --------
    A file made here is not the official one: it is read only with the opt-out.

    >>> import json, os, pathlib, tempfile
    >>> from unittest import mock
    >>> import numpy as np
    >>> root = pathlib.Path(tempfile.mkdtemp()); (root / "reuters").mkdir()
    >>> x = np.empty(2, dtype=object); x[0], x[1] = [1, 2], [2, 3, 9]
    >>> np.savez(root / "reuters" / "reuters.npz", x=x, y=np.array([3, 0]))
    >>> _ = (root / "reuters" / "reuters_word_index.json").write_text(json.dumps({"oil": 1, "price": 2, "up": 3}))
    >>> read_reuters(root)
    Traceback (most recent call last):
    ...
    ValueError: text:reuters: refused to read .../reuters.npz: its SHA-256 is not the official d6586e69...
    >>> with mock.patch.dict(os.environ, {"MABPRUNE_TRUST_PICKLES": "1"}):
    ...     read_reuters(root)[:2]
    (['oil price', 'price up <unk>'], [3, 0])
    """
    folder = root / "reuters"
    check_official(folder / "reuters.npz", REUTERS_SHA256, algorithm="sha256", name="text:reuters")
    with np.load(folder / "reuters.npz", allow_pickle=True) as npz:  # x is an object array of lists
        xs, ys = npz["x"], npz["y"]
    index = json.loads((folder / "reuters_word_index.json").read_text(encoding="utf-8"))
    words = {int(rank): word for word, rank in index.items()}
    texts = [" ".join(words.get(int(r), "<unk>") for r in seq) for seq in xs]
    return texts, [int(v) for v in ys], None, None, f"{folder / 'reuters.npz'}, {folder / 'reuters_word_index.json'}"


def download_imdb(root: Path) -> None:
    """Fetch and unpack the original IMDB archive into ``root`` (about 80 MB)."""
    from torchvision.datasets.utils import download_and_extract_archive

    download_and_extract_archive(IMDB_URL, download_root=str(root))


def download_reuters(root: Path) -> None:
    """Fetch the Keras Reuters files into ``root/reuters``."""
    from torchvision.datasets.utils import download_url

    for url in REUTERS_URLS:
        download_url(url, str(root / "reuters"))
