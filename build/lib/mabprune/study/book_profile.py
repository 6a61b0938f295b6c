"""The book's profile per family: ``standard`` where the committed standard records cover a
family's standard grid, else ``quick`` (what ``make book`` renders; issue 8 §6).

:func:`book_profiles` decides, :func:`profile_notes` says why in words (the chapters print it),
:func:`resolve_profiles` checks the ``profiles`` parameter of the chapters, and
:func:`format_profiles` / :func:`parse_profiles` are the one-line form of
``mabprune default-profile --per-family``.

Examples
--------
>>> book_profiles("/nonexistent")
{'classification': 'quick', 'regression': 'quick', 'deep_learning': 'quick'}
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Mapping

from mabprune.study.paths import default_results_dir
from mabprune.study.plan import plan_runs
from mabprune.study.profiles import GRID_FAMILIES, PROFILES, grid_spec
from mabprune.study.runner import missing_runs

__all__ = ["BOOK_FALLBACK", "book_profiles", "format_profiles", "parse_profiles", "profile_notes",
           "resolve_profiles", "standard_coverage"]

#: The profile a family falls back to when the standard records do not cover its grid.
BOOK_FALLBACK = "quick"


def _profile_names() -> tuple[str, ...]:
    return tuple(PROFILES)


def standard_coverage(family: str, standard_dir: str | os.PathLike | None = None) -> tuple[int, int]:
    """How much of ``family``'s standard grid the standard store holds: ``(missing, planned)``.

    Parameters
    ----------
    family : {"classification", "regression", "deep_learning"}
    standard_dir : path-like, optional
        The standard store folder; default ``results/standard`` under the repository root.

    Returns
    -------
    tuple of int
        Planned runs without an ``ok`` record (:func:`mabprune.study.runner.missing_runs`: a
        record with an error counts as missing, records of other keys are ignored), and the
        planned runs of the grid.

    Examples
    --------
    >>> missing, planned = standard_coverage("regression", "/nonexistent")
    >>> missing == planned > 0
    True
    """

    if family not in GRID_FAMILIES:
        raise ValueError(f"unknown family {family!r}; use one of {GRID_FAMILIES}")
    folder = Path(standard_dir) if standard_dir is not None else default_results_dir("standard")
    spec = grid_spec(family, "standard")
    return len(missing_runs(spec, folder)), len(plan_runs(spec))


def book_profiles(standard_dir: str | os.PathLike | None = None) -> dict[str, str]:
    """The book's profile of each family: ``standard`` where the standard records cover the
    family's standard grid, else ``quick``.

    A family is covered when every run that its standard grid plans has a record with status
    ``ok`` in ``<standard_dir>/<family>.jsonl`` (:func:`standard_coverage`); a planned run
    with an error record, or none, makes it ``quick``. Each family is decided alone, so the
    standard tabular records are shown while the deep-learning grid (sized for a GPU) is not
    computed.

    Parameters
    ----------
    standard_dir : path-like, optional
        The standard store folder; default ``results/standard`` under the repository root.

    Returns
    -------
    dict of str to str
        Family of :data:`mabprune.study.profiles.GRID_FAMILIES` -> ``"standard"`` or ``"quick"``.

    Examples
    --------
    >>> book_profiles("/nonexistent")
    {'classification': 'quick', 'regression': 'quick', 'deep_learning': 'quick'}
    """

    out = {}
    for family in GRID_FAMILIES:
        missing, planned = standard_coverage(family, standard_dir)
        out[family] = "standard" if planned and not missing else BOOK_FALLBACK
    return out


def format_profiles(profiles: Mapping[str, str]) -> str:
    """The one-line form ``family=profile ...`` that ``default-profile --per-family`` prints.

    Examples
    --------
    >>> format_profiles({"classification": "standard", "deep_learning": "quick"})
    'classification=standard deep_learning=quick'
    """
    return " ".join(f"{f}={p}" for f, p in profiles.items())


def parse_profiles(text: str) -> dict[str, str]:
    """The inverse of :func:`format_profiles`: ``family=profile`` pairs, separated by spaces or
    commas, checked; every family must be named once.

    Examples
    --------
    >>> parse_profiles("classification=standard,regression=standard deep_learning=quick")
    {'classification': 'standard', 'regression': 'standard', 'deep_learning': 'quick'}
    """

    out: dict[str, str] = {}
    for part in re.split(r"[\s,]+", text.strip()):
        family, sep, profile = part.partition("=")
        if not sep or family in out:
            raise ValueError(f"per-family profiles must be family=profile pairs naming each family once, "
                             f"got {part!r} in {text!r}")
        out[family] = profile
    if set(out) != set(GRID_FAMILIES):
        raise ValueError(f"per-family profiles must name every family {GRID_FAMILIES} once, got {text!r}")
    return resolve_profiles(out)


def resolve_profiles(profiles: Mapping[str, str] | None, profile: str = "quick") -> dict[str, str]:
    """Every family's profile: ``profiles[family]``, else ``profile``; the values are checked.

    What the chapters do with their ``profiles`` parameter (``None``: ``profile`` for every
    family).

    Parameters
    ----------
    profiles : mapping or None
        Family -> profile name (some families may be left out).
    profile : str, default="quick"

    Returns
    -------
    dict of str to str
        In the order of :data:`mabprune.study.profiles.GRID_FAMILIES`.

    Examples
    --------
    >>> resolve_profiles({"deep_learning": "quick"}, "standard")
    {'classification': 'standard', 'regression': 'standard', 'deep_learning': 'quick'}
    """

    names = _profile_names()
    if profile not in names:
        raise ValueError(f"unknown profile {profile!r}; use one of {names}")
    if profiles is None:
        profiles = {}
    if not isinstance(profiles, Mapping):
        raise ValueError(f"profiles must be None or a dict family -> profile, got {profiles!r}")
    for family, value in profiles.items():
        if family not in GRID_FAMILIES:
            raise ValueError(f"unknown family {family!r} in profiles; use some of {GRID_FAMILIES}")
        if value not in names:
            raise ValueError(f"unknown profile {value!r} for {family} in profiles; use one of {names}")
    return {f: str(profiles.get(f, profile)) for f in GRID_FAMILIES}


def _gpu_words() -> str:
    """The sentences of the standard profile's description that say what needs a GPU."""
    sentences = re.split(r"(?<=\.)\s+(?=[A-Z])", PROFILES["standard"].rule)
    return " ".join(s for s in sentences if "GPU" in s)


def profile_notes(profiles: Mapping[str, str], standard_dir: str | os.PathLike | None = None) -> dict[str, str]:
    """Per family, in words: which profile its records come from and why (what the chapters print).

    Parameters
    ----------
    profiles : mapping
        Family -> profile, e.g. from :func:`book_profiles` or :func:`resolve_profiles`.
    standard_dir : path-like, optional
        The standard store folder whose coverage is reported; default ``results/standard``.

    Returns
    -------
    dict of str to str

    Examples
    --------
    >>> notes = profile_notes({"deep_learning": "quick"}, "/nonexistent")
    >>> notes["deep_learning"].startswith("quick: the standard store holds 0 of the")
    True
    """
    out = {}
    for family, profile in profiles.items():
        missing, planned = standard_coverage(family, standard_dir)
        held = f"{planned - missing:,} of the {planned:,} runs of its standard grid with status ok"
        if profile == "standard":
            note = (f"standard: the standard store holds {held}." if not missing else
                    f"standard, as asked, though the standard store holds only {held}.")
        elif profile == BOOK_FALLBACK and missing:
            note = f"{profile}: the standard store holds {held}, so the book shows the {profile} profile."
        else:
            note = f"{profile}, as asked (the standard store holds {held})."
        if family == "deep_learning" and profile != "standard" and missing and _gpu_words():
            note += f" {_gpu_words()}"  # why the standard deep grid is not computed here
        out[family] = note
    return out
