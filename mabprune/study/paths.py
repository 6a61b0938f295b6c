"""Where the study keeps its files: the repository root and the results folders."""

from __future__ import annotations

import os
from pathlib import Path

from mabprune.data.dataset import project_root

__all__ = ["default_results_dir", "repo_relative", "repo_root"]


def repo_root() -> Path:
    """The project root of the study's files (:func:`mabprune.data.dataset.project_root`): from
    ``MABPRUNE_ROOT`` or the working directory, never from where the package is installed."""
    return project_root()


def repo_relative(path: str | os.PathLike) -> str:
    """``path`` relative to the repository root when it lies below it (what the book prints, so
    that its pages show no path of the machine that built them), else unchanged.

    >>> repo_relative(repo_root() / "results" / "quick")
    'results/quick'
    """
    path = Path(path).resolve()
    try:
        return path.relative_to(repo_root()).as_posix()
    except ValueError:
        return str(path)


def default_results_dir(profile: str) -> Path:
    """``results/<profile>`` under :func:`repo_root`."""
    return repo_root() / "results" / profile
