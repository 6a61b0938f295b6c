"""Shared fixtures: the offline data mirror and deterministic torch settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


def _shared_data_root() -> Path | None:
    # The mirror is recognised by its checksum list: MABPRUNE_DATA may also point at the
    # project's own (possibly empty) download cache, which the Makefile exports by default.
    env = os.environ.get("MABPRUNE_DATA")
    for candidate in (env, REPO.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "SHA256SUMS").exists():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real-data mirror (``../shared/data``); skips the test where it is absent."""
    root = _shared_data_root()
    if root is None:
        pytest.skip("no real-data mirror: set MABPRUNE_DATA to ../shared/data")
    return root


@pytest.fixture(autouse=True)
def _deterministic_torch():
    # Tests run on 2 cores; one intra-op thread keeps them reproducible and cheap.
    torch.set_num_threads(1)
    yield
