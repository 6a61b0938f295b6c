"""Where the study keeps its files: the repository root and the results folders."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["default_results_dir", "repo_relative", "repo_root"]


def repo_root() -> Path:
    """The repository root: the package's parent in a source checkout, else the first parent
    of the working directory that has ``pyproject.toml`` and ``notebooks/`` (papermill runs
    notebooks from ``notebooks/``), else the working directory."""
    here = Path(__file__).resolve().parents[2]  # mabprune/study/paths.py -> the checkout
    cwd = Path.cwd().resolve()
    for base in (here, cwd, *cwd.parents):
        if (base / "pyproject.toml").is_file() and (base / "notebooks").is_dir():
            return base
    return Path.cwd().resolve()


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
