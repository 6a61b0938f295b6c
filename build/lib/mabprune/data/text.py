"""Text sources of :mod:`mabprune.data`: file readers, tokenizer, vocabularies and encoders.

This module holds the parts of the dataset layer that read *text*: the eight sentence and
document classification sets, the tokenizer and the vocabulary and encoders (the bAbI
reasoning tasks are :mod:`mabprune.data.babi`). :func:`mabprune.data.load` is the public entry point; the
functions here return raw texts (or parsed stories) and integer labels, and the encoders
that :func:`mabprune.data.load` fits on the training split only.

Offline, every reader takes the original files under the data root (the layouts listed in
``data/README.md``); with downloads allowed, a missing text set comes from the Hugging Face
hub through :func:`datasets.load_dataset` and missing bAbI files from the original archive.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import corpora
from .corpora import IMDB_FILES, REUTERS_FILES
from .dataset import missing_files_error

__all__ = ["TEXT_SETS", "tokenize", "build_vocab", "encode", "read_text", "text_files"]

#: Longest token sequence kept per text; longer texts are truncated, shorter ones padded.
MAX_LEN = 64
#: Largest vocabulary (ids 0 and 1 included) built from a training split.
MAX_VOCAB = 20_000
#: A token enters the vocabulary when it occurs at least this often in the training split.
MIN_FREQ = 2
#: Padding and unknown-token ids.
PAD, UNK = 0, 1

# Lowercase words (with inner apostrophes: "it's", "n't") and single punctuation marks; the
# marks are kept because "!" and "?" carry sentiment and question-type signal.
_TOKEN_RE = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*|'[a-z]+|[^\sa-z0-9]")
WORD_RE = re.compile(r"[a-z]+")


# --------------------------------------------------------------------------- tokenizer


def tokenize(text: str) -> list[str]:
    """Split a text into lowercase word and punctuation tokens.

    Parameters
    ----------
    text : str
        Any text.

    Returns
    -------
    list of str
        Tokens: runs of letters/digits (apostrophe contractions kept whole) and single
        punctuation marks.

    Examples
    --------
    >>> tokenize("It's GREAT, isn't it?")
    ["it's", 'great', ',', "isn't", 'it', '?']
    """
    return _TOKEN_RE.findall(text.lower())


def build_vocab(texts, *, max_vocab: int = MAX_VOCAB, min_freq: int = MIN_FREQ) -> dict[str, int]:
    """Map the most frequent tokens of ``texts`` to ids ``2, 3, ...``.

    Ids 0 and 1 are reserved for padding and unknown tokens. Ties in frequency are broken
    alphabetically so the vocabulary does not depend on the order of the texts.

    Parameters
    ----------
    texts : iterable of str
        The training texts (never the validation or test texts).
    max_vocab : int, default=MAX_VOCAB
        Size cap, the two reserved ids included.
    min_freq : int, default=MIN_FREQ
        Minimum number of occurrences for a token to get its own id.

    Returns
    -------
    dict
        Token to id.

    Examples
    --------
    >>> build_vocab(["a b b", "b c a"], min_freq=2)
    {'b': 2, 'a': 3}
    """
    counts = Counter(tok for text in texts for tok in tokenize(text))
    ranked = sorted((tok for tok, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
    return {tok: i + 2 for i, tok in enumerate(ranked[: max(max_vocab - 2, 0)])}


def encode(texts, vocab: dict[str, int], *, max_len: int = MAX_LEN) -> np.ndarray:
    """Turn texts into a padded ``(N, max_len)`` int64 array of token ids.

    Parameters
    ----------
    texts : sequence of str
        Texts to encode.
    vocab : dict
        Token to id, as returned by :func:`build_vocab`.
    max_len : int, default=MAX_LEN
        Sequence length; longer texts keep their first ``max_len`` tokens.

    Returns
    -------
    numpy.ndarray
        int64 ids, 0 for padding and 1 for tokens outside ``vocab``.

    Examples
    --------
    >>> encode(["b a z"], {"b": 2, "a": 3}, max_len=4)
    array([[2, 3, 1, 0]])
    """
    out = np.zeros((len(texts), max_len), dtype=np.int64)
    for i, text in enumerate(texts):
        ids = [vocab.get(tok, UNK) for tok in tokenize(text)[:max_len]]
        out[i, : len(ids)] = ids
    return out


# --------------------------------------------------------------------------- text sets


@dataclass(frozen=True)
class _TextSet:
    files: tuple[str, ...]  # paths under the root that the offline reader needs
    classes: tuple[str, ...]  # class names in label-id order (the same for both sources)
    hf: tuple | None  # None: downloaded from the original archive; else (path, config, text columns, label column, pool splits, test split or None)
    layout: str
    complete: tuple[str, ...] = ()  # files without which the offline copy is partial


_KIM = "Kim (2014) distribution, one sentence per line, one file per class"

#: The text classification sets: registry key -> files, classes and Hugging Face source.
TEXT_SETS: dict[str, _TextSet] = {
    "sst2": _TextSet(
        ("sst2/train.tsv", "sst2/dev.tsv"), ("negative", "positive"),
        ("nyu-mll/glue", "sst2", ("sentence",), "label", ("train",), "validation"),
        "GLUE SST-2 TSV files with a 'sentence<TAB>label' header",
    ),
    "ag_news": _TextSet(
        ("ag_news/test.csv",), ("World", "Sports", "Business", "Sci/Tech"),
        ("fancyzhx/ag_news", None, ("text",), "label", ("train",), "test"),
        "the original CSV files: class index 1-4, title, description",
        complete=("ag_news/train.csv",),
    ),
    "trec": _TextSet(
        ("trec/train_5500.label", "trec/TREC_10.label"), ("ABBR", "ENTY", "DESC", "HUM", "LOC", "NUM"),
        ("CogComp/trec", None, ("text",), "coarse_label", ("train",), "test"),
        "the original 'COARSE:fine question' files",
    ),
    "sms_spam": _TextSet(
        ("sms_spam/SMSSpamCollection",), ("ham", "spam"),
        ("ucirvine/sms_spam", None, ("sms",), "label", ("train",), None),
        "the original 'label<TAB>text' file",
    ),
    "mr": _TextSet(
        ("sentence_cls/raw/rt-polarity.neg", "sentence_cls/raw/rt-polarity.pos"), ("negative", "positive"),
        ("cornell-movie-review-data/rotten_tomatoes", None, ("text",), "label", ("train", "validation"), "test"),
        _KIM,
    ),
    "subj": _TextSet(
        ("sentence_cls/raw/subj.objective", "sentence_cls/raw/subj.subjective"), ("objective", "subjective"),
        ("SetFit/subj", None, ("text",), "label", ("train",), "test"),
        _KIM,
    ),
    "cr": _TextSet(
        ("sentence_cls/raw/custrev.neg", "sentence_cls/raw/custrev.pos"), ("negative", "positive"),
        ("SetFit/SentEval-CR", None, ("text",), "label", ("train",), "test"),
        _KIM,
    ),
    "mpqa": _TextSet(
        ("sentence_cls/raw/mpqa.neg", "sentence_cls/raw/mpqa.pos"), ("negative", "positive"),
        ("SetFit/mpqa", None, ("text",), "label", ("train",), "test"),
        _KIM,
    ),
    # The authors' document sets, in their own formats (mabprune.data.corpora); downloads from the
    # original archives, not the hub, so the hub entry is None.
    "imdb": _TextSet(
        IMDB_FILES, ("negative", "positive"), None,
        "the original aclImdb folder: {train,test}/{pos,neg}/<id>_<rating>.txt",
    ),
    "reuters": _TextSet(
        REUTERS_FILES, tuple(str(t) for t in range(46)), None,
        "the Keras distribution: reuters/reuters.npz and reuters/reuters_word_index.json",
    ),
}


def read_lines(path: Path) -> list[str]:
    # Blank lines are dropped (CR has 4, MPQA 3: 3,771 and 10,603 sentences remain).
    # Some originals are latin-1 (rt-polarity, subj.subjective, train_5500.label). Split on
    # "\n" only: str.splitlines() would also split at U+0085, a latin-1 byte inside MR lines.
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return [line.strip() for line in text.split("\n") if line.strip()]


def text_files(key: str, root: Path) -> list[Path]:
    """The files the offline reader of text set ``key`` needs under ``root``.

    Parameters
    ----------
    key : str
        A key of :data:`TEXT_SETS`, e.g. ``"trec"``.
    root : Path
        Data root.

    Returns
    -------
    list of Path
        Required files (AG News also uses ``ag_news/train.csv`` when it is present).

    Examples
    --------
    >>> from pathlib import Path
    >>> [p.name for p in text_files("mr", Path("/d"))]
    ['rt-polarity.neg', 'rt-polarity.pos']
    """
    return [root / f for f in TEXT_SETS[key].files]


def _read_files(key: str, root: Path):
    """Offline reader: (pool texts, pool labels, test texts or None, test labels or None, source)."""
    spec = TEXT_SETS[key]
    paths = text_files(key, root)
    test_x = test_y = None
    if key in ("imdb", "reuters"):
        return corpora.read_imdb(root) if key == "imdb" else corpora.read_reuters(root)
    if key == "sst2":
        # GLUE's SST-2 test labels are hidden: dev (872 labelled sentences) is the test set.
        def tsv(p):
            rows = [line.split("\t") for line in read_lines(p)[1:]]
            return [r[0] for r in rows], [int(r[1]) for r in rows]

        x, y = tsv(paths[0])
        test_x, test_y = tsv(paths[1])
    elif key == "ag_news":
        def agcsv(p):
            with open(p, newline="", encoding="utf-8") as f:
                rows = list(csv.reader(f))
            # Title + description; the files escape newlines as a literal backslash-n.
            return [f"{t} {d}".replace("\\n", " ") for _, t, d in rows], [int(c) - 1 for c, _, _ in rows]

        train = root / "ag_news" / "train.csv"
        if train.exists():
            x, y = agcsv(train)
            test_x, test_y = agcsv(paths[0])
            paths = [train, paths[0]]
        else:
            x, y = agcsv(paths[0])
    elif key == "trec":
        def trec(p):
            pairs = [line.split(" ", 1) for line in read_lines(p)]
            return [q for _, q in pairs], [spec.classes.index(lab.split(":")[0]) for lab, _ in pairs]

        x, y = trec(paths[0])
        test_x, test_y = trec(paths[1])
    elif key == "sms_spam":
        pairs = [line.split("\t", 1) for line in read_lines(paths[0])]
        x, y = [t for _, t in pairs], [spec.classes.index(lab) for lab, _ in pairs]
    else:  # one file per class, in class order
        x, y = [], []
        for label, p in enumerate(paths):
            sentences = read_lines(p)
            x += sentences
            y += [label] * len(sentences)
    return x, y, test_x, test_y, ", ".join(str(p) for p in paths)


def _read_hub(key: str, root: Path):
    """Download reader through Hugging Face ``datasets`` (cached under ``root/huggingface``)."""
    from datasets import load_dataset  # imported here: slow, and only needed with a network

    path, config, text_cols, label_col, pool_splits, test_split = TEXT_SETS[key].hf
    ds = load_dataset(path, config, cache_dir=str(root / "huggingface"))

    def take(split):
        part = ds[split]
        texts = [" ".join(parts) for parts in zip(*(part[c] for c in text_cols))]
        return texts, [int(v) for v in part[label_col]]

    x, y = [], []
    for split in pool_splits:
        tx, ty = take(split)
        x += tx
        y += ty
    test_x, test_y = take(test_split) if test_split else (None, None)
    return x, y, test_x, test_y, f"huggingface:{path}" + (f"/{config}" if config else "")


def read_text(key: str, root: Path, *, download: bool = False, name: str | None = None):
    """Read text set ``key``: the original files when present, else the Hugging Face hub.

    Parameters
    ----------
    key : str
        A key of :data:`TEXT_SETS`.
    root : Path
        Data root.
    download : bool, default=False
        Allow :func:`datasets.load_dataset` when the files are missing, or when the
        offline copy is partial (AG News without ``ag_news/train.csv``).
    name : str, optional
        Registry name used in the error message (default ``"text:" + key``).

    Returns
    -------
    tuple
        ``(texts, labels, test_texts, test_labels, classes, source)``; the test entries are
        ``None`` where the source has a single split. Labels are ints ``0..C-1`` in the
        order of ``classes``.

    Raises
    ------
    FileNotFoundError
        When the files are missing and ``download`` is false.

    Examples
    --------
    >>> from pathlib import Path
    >>> read_text("trec", Path("/nonexistent"))  # doctest: +SKIP
    """
    spec = TEXT_SETS[key]
    missing = [p for p in text_files(key, root) if not p.exists()]
    # A partial offline copy (AG News without its training file) is used only offline.
    partial = any(not (root / f).exists() for f in spec.complete)
    if not missing and not (download and partial):
        x, y, tx, ty, source = _read_files(key, root)
    elif download and spec.hf is None:  # the original archive
        (corpora.download_imdb if key == "imdb" else corpora.download_reuters)(root)
        x, y, tx, ty, source = _read_files(key, root)
    elif download:
        x, y, tx, ty, source = _read_hub(key, root)
    else:
        raise missing_files_error(name or f"text:{key}", missing, root, layout=spec.layout)
    return x, y, tx, ty, list(spec.classes), source

