"""bAbI sources of :mod:`mabprune.data`: the task files, the parser of the original
numbered-line format, the reader (with the original archive as download) and the
bag-of-words featurizer of the MLP protocol. The memory network's tensors are built in
:mod:`mabprune.study.deep_tasks` from :func:`parse_babi`'s samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .dataset import missing_files_error
from .text import WORD_RE, read_lines

__all__ = ["BABI_DECAY", "BABI_TASKS", "BabiFeaturizer", "babi_files", "parse_babi", "read_babi"]

# --------------------------------------------------------------------------- bAbI

#: The 20 bAbI v1.2 task names, in task order (``qa1`` is index 0).
BABI_TASKS = (
    "single-supporting-fact", "two-supporting-facts", "three-supporting-facts",
    "two-arg-relations", "three-arg-relations", "yes-no-questions", "counting",
    "lists-sets", "simple-negation", "indefinite-knowledge", "basic-coreference",
    "conjunction", "compound-coreference", "time-reasoning", "basic-deduction",
    "basic-induction", "positional-reasoning", "size-reasoning", "path-finding",
    "agents-motivations",
)  # fmt: skip
_BABI_DIR = "babi/tasks_1-20_v1-2"
_BABI_URLS = (
    "https://s3.amazonaws.com/text-datasets/babi_tasks_1-20_v1-2.tar.gz",
    "http://www.thespermwhale.com/jaseweston/babi/tasks_1-20_v1-2.tar.gz",
)
#: Recency weight of bAbI story features: a sentence ``a`` sentences before the question
#: adds its words with weight ``BABI_DECAY ** a``.
BABI_DECAY = 0.8


def babi_files(task: int, root: Path, *, ten_k: bool = False) -> tuple[Path, Path]:
    """The (train, test) files of bAbI task ``task`` (1..20) under ``root``.

    Parameters
    ----------
    task : int
        Task number, 1 to 20.
    root : Path
        Data root.
    ten_k : bool, default=False
        The 10k-question version (``en-10k/``) instead of the 1k one (``en/``).

    Returns
    -------
    tuple of Path
        Train and test file paths (which may not exist).

    Examples
    --------
    >>> from pathlib import Path
    >>> babi_files(1, Path("/d"))[0].name
    'qa1_single-supporting-fact_train.txt'
    """
    folder = root / _BABI_DIR / ("en-10k" if ten_k else "en")
    stem = f"qa{task}_{BABI_TASKS[task - 1]}"
    return folder / f"{stem}_train.txt", folder / f"{stem}_test.txt"


def parse_babi(path: Path) -> list[tuple[list[list[str]], list[str], str]]:
    """Parse a bAbI file in the original numbered-line format.

    Each line starts with its number within the story; the number going back to 1 starts a
    new story. Question lines hold ``question<TAB>answer<TAB>supporting ids``; the story of
    a question is every statement of its story before it (questions are not added).

    Parameters
    ----------
    path : Path
        A ``qa<N>_<name>_<train|test>.txt`` file.

    Returns
    -------
    list of tuple
        ``(story, question, answer)``: the story as a list of tokenized sentences, the
        tokenized question, and the answer string (``"north,west"`` stays one answer).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "qa1_x_train.txt"
    >>> _ = p.write_text("1 Mary went to the hall.\\n2 Where is Mary? \\thall\\t1\\n")
    >>> parse_babi(p)
    [([['mary', 'went', 'to', 'the', 'hall']], ['where', 'is', 'mary'], 'hall')]
    """
    samples, story = [], []
    for line in read_lines(path):
        number, _, rest = line.partition(" ")
        if int(number) == 1:
            story = []
        if "\t" in rest:
            question, answer = rest.split("\t")[:2]
            samples.append((list(story), WORD_RE.findall(question.lower()), answer.strip()))
        else:
            story.append(WORD_RE.findall(rest.lower()))
    return samples


def read_babi(task: int, root: Path, *, ten_k: bool = False, download: bool = False, name: str | None = None):
    """Read bAbI task ``task``: ``(train samples, test samples, source)``.

    Parameters
    ----------
    task : int
        Task number, 1 to 20.
    root : Path
        Data root; the files are under ``root/babi/tasks_1-20_v1-2/``.
    ten_k : bool, default=False
        Use ``en-10k/``.
    download : bool, default=False
        Fetch and unpack the original archive into ``root/babi`` when a file is missing.
    name : str, optional
        Registry name used in the error message.

    Returns
    -------
    tuple
        Train and test samples as returned by :func:`parse_babi`, and the source paths.

    Raises
    ------
    FileNotFoundError
        When a file is missing and ``download`` is false (``en-10k`` task 3's training file
        is absent from the offline mirror).

    Examples
    --------
    >>> from pathlib import Path
    >>> train, test, _ = read_babi(1, Path("../shared/data"))  # doctest: +SKIP
    """
    files = babi_files(task, root, ten_k=ten_k)
    missing = [p for p in files if not p.exists()]
    if missing and download:
        from torchvision.datasets.utils import download_and_extract_archive

        for url in _BABI_URLS:  # the archive holds tasks_1-20_v1-2/{en,en-10k,...}
            try:
                download_and_extract_archive(url, download_root=str(root / "babi"))
                break
            except Exception:  # noqa: BLE001 - try the next mirror; the check below reports
                continue
        missing = [p for p in files if not p.exists()]
    if missing:
        raise missing_files_error(
            name or f"babi:qa{task}", missing, root, layout="the bAbI v1.2 archive tasks_1-20_v1-2.tar.gz"
        )
    return parse_babi(files[0]), parse_babi(files[1]), f"{files[0]}, {files[1]}"


class BabiFeaturizer:
    """Fixed-size bag-of-words features of bAbI (story, question) pairs for an MLP.

    The vocabulary is fitted on training samples only. A sample becomes the concatenation
    of a recency-weighted bag of words of its story -- the sentence ``a`` statements before
    the question counts ``decay ** a``, so the latest facts dominate and order matters a
    little -- and the plain bag of words of the question: ``2 * len(vocab)`` float32
    features. Words outside the vocabulary are dropped.

    Parameters
    ----------
    decay : float, default=BABI_DECAY
        Recency weight per sentence, in (0, 1]; 1 gives an unweighted bag of words.

    Examples
    --------
    >>> f = BabiFeaturizer(decay=0.5).fit([([["a", "b"], ["c"]], ["a"], "x")])
    >>> f.transform([([["a", "b"], ["c"]], ["a"], "x")]).tolist()
    [[0.5, 0.5, 1.0, 1.0, 0.0, 0.0]]
    """

    def __init__(self, decay: float = BABI_DECAY):
        if not 0 < decay <= 1:
            raise ValueError(f"decay must be in (0, 1], got {decay!r}")
        self.decay = decay

    def fit(self, samples) -> BabiFeaturizer:
        """Build the vocabulary (sorted words) from training ``samples``; returns ``self``."""
        words = {w for story, q, _ in samples for sent in story for w in sent} | {w for _, q, _ in samples for w in q}
        self.vocab_ = {w: i for i, w in enumerate(sorted(words))}
        return self

    def transform(self, samples) -> np.ndarray:
        """Features of ``samples``: ``(N, 2 * len(vocab_))`` float32."""
        v = len(self.vocab_)
        out = np.zeros((len(samples), 2 * v), dtype=np.float32)
        for i, (story, question, _) in enumerate(samples):
            for age, sent in enumerate(reversed(story)):
                weight = self.decay**age
                for w in sent:
                    j = self.vocab_.get(w)
                    if j is not None:
                        out[i, j] += weight
            for w in question:
                j = self.vocab_.get(w)
                if j is not None:
                    out[i, v + j] += 1.0
        return out
