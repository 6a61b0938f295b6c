"""The resumable results store: one JSON line per run in ``<results_dir>/<family>.jsonl``.

Writes go through an exclusive ``fcntl`` lock on the file, so several processes (or Dask's
driver and a rerun) never interleave lines; a torn last line (a run killed mid-write) is
repaired on the next write and skipped on read. The latest record of a key wins. Any other
line that is not a record (damaged, or written by another tool) is moved, before the store is
rewritten without it, to the side file ``<name>.jsonl.rejected`` beside it, with a warning.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import warnings
from pathlib import Path
from typing import Iterable

__all__ = ["append_record", "latest_records", "load_store", "locked", "peek", "read_records", "rejected_path",
           "rewrite", "set_aside"]


@contextlib.contextmanager
def locked(path: Path):
    """The store file, opened ``a+b`` under an exclusive lock on the inode the path names now."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fh = open(path, "a+b")
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            same = os.fstat(fh.fileno()).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:  # else a rewrite replaced the file while we waited: lock the new one
            break
        fh.close()
    try:
        yield fh
    finally:
        fh.close()


def read_records(fh) -> tuple[list[dict], list[bytes]]:
    """Records of an open store, and its lines that are not records (damaged or foreign).

    A torn last line (the only damage an interrupted append can do) is truncated away; a
    complete last line that only lacks its newline gets it. The other lines that are not
    records are returned for :func:`set_aside`: a rewrite must not lose them silently.
    """
    fh.seek(0)
    raw = fh.read()
    lines = raw.split(b"\n")
    records, rejected = [], []
    for line in lines[:-1]:
        if line.strip():
            _sort(line, records, rejected)
    if lines[-1]:  # no newline at the end: an append was interrupted
        try:
            json.loads(lines[-1])
        except ValueError:
            fh.truncate(len(raw) - len(lines[-1]))
        else:  # a complete line that only lacked its newline
            fh.write(b"\n")
            _sort(lines[-1], records, rejected)
        fh.flush()
        os.fsync(fh.fileno())
    return records, rejected


def _sort(line: bytes, records: list[dict], rejected: list[bytes]) -> None:
    """Append the record of ``line`` to ``records``, or the line to ``rejected`` when it is not a
    record (not JSON, or JSON without a ``key``)."""
    try:
        record = json.loads(line)
    except ValueError:
        record = None
    if isinstance(record, dict) and "key" in record:
        records.append(record)
    else:
        rejected.append(line)


def rejected_path(path: Path) -> Path:
    """The side file of a store's lines that are not records: ``<name>.jsonl.rejected``."""
    return path.with_name(path.name + ".rejected")


def set_aside(path: Path, lines: list[bytes]) -> Path:
    """Append ``lines`` to the side file of the store ``path`` (fsynced) and warn naming both."""
    side = rejected_path(path)
    with open(side, "ab") as out:
        out.write(b"".join(line + b"\n" for line in lines))
        out.flush()
        os.fsync(out.fileno())
    n = len(lines)
    warnings.warn(f"{n} unparseable line{'s' if n != 1 else ''} of the results store {path} (not JSON records with "
                  f"a 'key') moved to {side}; the store keeps its {path.name} records", stacklevel=3)
    return side


def latest_records(records: Iterable[dict]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for r in records:
        if isinstance(r, dict) and "key" in r:
            out.pop(r["key"], None)  # the last record of a key wins, in the order written
            out[r["key"]] = r
    return out


def rewrite(path: Path, records: Iterable[dict]) -> None:
    """Replace the store atomically: temp file in the same folder, fsync, os.replace."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as out:
        for r in records:
            out.write(_line(r))
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _line(record: dict) -> bytes:
    return (json.dumps(record, sort_keys=False, separators=(",", ":"), allow_nan=False, default=str) + "\n").encode()


def load_store(path: Path, *, compact: bool = False) -> dict[str, dict]:
    """Latest record per key of a store file (repairing it); ``compact`` drops superseded lines."""
    if not path.exists():
        return {}
    with locked(path) as fh:
        records, rejected = read_records(fh)
        latest = latest_records(records)
        if rejected:  # kept beside the store before the rewrite leaves them out
            set_aside(path, rejected)
        if rejected or (compact and len(latest) < len(records)):
            rewrite(path, latest.values())
    return latest


def append_record(path: Path, record: dict) -> None:
    line = _line(record)
    with locked(path) as fh:
        size = fh.seek(0, os.SEEK_END)
        if size:
            fh.seek(size - 1)
            if fh.read(1) != b"\n":
                read_records(fh)  # repairs a torn tail left by a killed writer before appending
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def peek(path: Path) -> dict[str, dict]:
    """Read-only load (no repair), for stores this process may not write."""
    if not path.exists():
        return {}
    out = []
    for line in path.read_bytes().split(b"\n"):
        with contextlib.suppress(ValueError):
            out.append(json.loads(line))
    return latest_records(out)
