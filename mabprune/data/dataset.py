"""The :class:`Dataset` container of :mod:`mabprune.data`, the data root, and the checks of what
is read from it: registry names that stay inside it (:func:`check_name`) and pickle files that
are the official ones (:func:`check_official`)."""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["TRUST_PICKLES", "Dataset", "check_name", "check_official", "data_root"]

#: Environment variable: ``1`` reads pickle files whose checksum is not the official one (the
#: small files that tests write in the real formats), with one warning per process.
TRUST_PICKLES = "MABPRUNE_TRUST_PICKLES"
_warned_trust = False  # the warning of TRUST_PICKLES is given once per process



@dataclass(repr=False)
class Dataset:
    """A benchmark split three ways, as NumPy arrays ready for a model.

    Parameters
    ----------
    name : str
        Registry name, e.g. ``"sklearn:iris"``.
    family : str
        One of :data:`FAMILIES`.
    task : str
        ``"classification"`` or ``"regression"``.
    X_train, y_train : numpy.ndarray
        Training split.
    X_val, y_val : numpy.ndarray
        Validation split: the data of the bandit's pulls and of model selection.
    X_test, y_test : numpy.ndarray
        Test split, for the final score only.
    n_classes : int or None
        Number of classes; ``None`` for regression.
    meta : dict
        ``source``, ``n_features`` (tabular, reasoning) or ``input_shape``, ``vocab_size``
        (text), ``classes``, ``split`` (``"official test"`` or ``"three-way"``), ``sizes``,
        ``seed`` and ``note`` (how the splits were made, e.g. offline substitutes).

    Notes
    -----
    Tabular and reasoning ``X`` are float32 ``(N, F)``; images float32 ``(N, C, H, W)``;
    text int64 ``(N, L)`` token ids with 0 for padding and 1 for unknown tokens.
    Classification ``y`` is int64 in ``0..n_classes-1``; regression ``y`` float32, unscaled.

    Examples
    --------
    >>> from mabprune.data import load
    >>> ds = load("sklearn:iris")
    >>> ds.X_train.shape, ds.n_classes
    ((90, 4), 3)
    """

    name: str
    family: str
    task: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int | None
    meta: dict = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple:
        """Shape of one sample of ``X``, e.g. ``(4,)`` or ``(1, 28, 28)``."""
        return tuple(self.X_train.shape[1:])

    def __repr__(self) -> str:
        sizes = f"{len(self.y_train)}/{len(self.y_val)}/{len(self.y_test)}"
        return (
            f"Dataset({self.name!r}, family={self.family!r}, task={self.task!r}, "
            f"train/val/test={sizes}, input_shape={self.input_shape}, n_classes={self.n_classes})"
        )


def project_root() -> Path:
    """The project folder whose ``data/``, ``results/`` and ``notebooks/`` a run uses.

    ``MABPRUNE_ROOT`` if set; else the working directory or its first parent that holds
    ``pyproject.toml`` and ``notebooks/`` (papermill runs the notebooks from ``notebooks/``);
    else the working directory. Never the folder the package happens to be installed from: a
    checkout that uses another checkout's virtual environment reads and writes its own records.

    Examples
    --------
    >>> (project_root() / "pyproject.toml").is_file()
    True
    """
    if os.environ.get("MABPRUNE_ROOT"):
        return Path(os.environ["MABPRUNE_ROOT"]).expanduser().resolve()
    cwd = Path.cwd().resolve()
    for base in (cwd, *cwd.parents):
        if (base / "pyproject.toml").is_file() and (base / "notebooks").is_dir():
            return base
    return cwd


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The folder datasets are read from (and downloaded to).

    Parameters
    ----------
    root : str or path-like, optional
        Explicit root; wins over everything else.

    Returns
    -------
    Path
        ``root`` if given, else the ``MABPRUNE_DATA`` environment variable, else the
        project's ``data/`` folder (:func:`project_root`). The folder need not exist.

    Examples
    --------
    >>> data_root("/tmp/x")
    PosixPath('/tmp/x')
    """
    if root is None:
        root = os.environ.get("MABPRUNE_DATA") or project_root() / "data"
    return Path(root).expanduser()


def download_allowed(download: bool | None) -> bool:
    """Whether a missing file may be downloaded: ``download``, or when it is None the environment
    variable ``MABPRUNE_DOWNLOAD=1`` (offline-safe default: a run never touches the network unless asked to)."""
    if download is None:
        return os.environ.get("MABPRUNE_DOWNLOAD", "") == "1"
    return bool(download)


def missing_files_error(name: str, missing: list[Path], root: Path, *, layout: str = "") -> FileNotFoundError:
    """Build the one error raised when a dataset's files are not under the data root.

    Parameters
    ----------
    name : str
        Registry name of the dataset, e.g. ``"vision:cifar10"``.
    missing : list of Path
        The files that were looked for and not found.
    root : Path
        The data root that was searched.
    layout : str, default=""
        One sentence on which tool writes that layout (appended to the message).

    Returns
    -------
    FileNotFoundError
        The error, for the caller to raise.

    Examples
    --------
    >>> from pathlib import Path
    >>> err = missing_files_error("text:trec", [Path("/d/trec/TREC_10.label")], Path("/d"))
    >>> "TREC_10.label" in str(err)
    True
    """
    files = "\n".join(f"  {p}" for p in missing)
    return FileNotFoundError(
        f"{name}: file(s) not found under the data root {root}:\n{files}\n"
        f"Put them there{(' (' + layout + ')') if layout else ''}, or point MABPRUNE_DATA at a "
        "folder that has them. load(..., download=True) or MABPRUNE_DOWNLOAD=1 fetches them "
        "instead, which needs a network connection."
    )


def check_name(name: str) -> None:
    """Refuse a registry name whose key (after ``prefix:``) could name a path outside the data root.

    Keys become file and folder names under the root (``pmlb:<key>`` is read from
    ``<root>/pmlb/<key>/<key>.tsv.gz``), so a key must be one plain name: no path separator,
    not ``.`` or ``..``, nothing absolute.

    Raises
    ------
    ValueError
        Naming the name.

    Examples
    --------
    >>> check_name("pmlb:1027_ESL")
    >>> check_name("pmlb:../../etc/passwd")
    Traceback (most recent call last):
    ...
    ValueError: dataset name 'pmlb:../../etc/passwd' would leave the data root: ...
    """
    key = str(name).partition(":")[2]
    if any(sep in key for sep in ("/", "\\", "\0")) or ".." in key or key == "." or os.path.isabs(key):
        raise ValueError(f"dataset name {name!r} would leave the data root: the part after ':' must be one plain "
                         "name (no '/', '\\', '..' or absolute path)")


def _digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm, usedforsecurity=False)  # MD5 names a file here; FIPS builds refuse it otherwise
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_official(path: Path, expected: str, *, algorithm: str, name: str) -> None:
    """Refuse a pickle-bearing file whose checksum is not the official one, before it is unpickled.

    Unpickling a file runs whatever code it names, so a file put in the data root by someone
    else must be the published one. Files made on purpose in the real format (tests) are read
    when the environment variable ``MABPRUNE_TRUST_PICKLES`` is ``"1"``; the first such file
    of the process is then named in a warning.

    Parameters
    ----------
    path : Path
        The file.
    expected : str
        Its official hex digest (from the distribution's own loader: torchvision, Keras).
    algorithm : str
        A :mod:`hashlib` name, ``"md5"`` or ``"sha256"``.
    name : str
        Registry name of the dataset, for the message.

    Raises
    ------
    ValueError
        Naming the file and the expected checksum.
    """
    global _warned_trust
    if _digest(path, algorithm) == expected:
        return
    if os.environ.get(TRUST_PICKLES, "") == "1":
        if not _warned_trust:
            _warned_trust = True
            warnings.warn(f"{TRUST_PICKLES}=1: reading {path}, which is not the official file of {name}, although "
                          f"unpickling it runs code it names; other such files of this process are read without a "
                          f"warning. Unset {TRUST_PICKLES} unless you made these files yourself", stacklevel=3)
        return
    label = {"md5": "MD5", "sha256": "SHA-256"}.get(algorithm, algorithm)
    raise ValueError(f"{name}: refused to read {path}: its {label} is not the official {expected}, and reading "
                     f"this format (a pickle) runs code the file names. Delete it and put the official file there "
                     f"(load(..., download=True) fetches it), or set {TRUST_PICKLES}=1 if you made it yourself")
