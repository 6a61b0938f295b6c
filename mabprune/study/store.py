"""The resumable results store: one JSON line per run in ``<results_dir>/<family>.jsonl``.

Writes go through an exclusive ``fcntl`` lock on the file, so several processes (or Dask's
driver and a rerun) never interleave lines; a torn last line (a run killed mid-write) is
repaired on the next write and skipped on read. The latest record of a key wins.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path
from typing import Iterable

__all__ = ["append_record", "latest_records", "load_store", "locked", "peek", "read_records", "rewrite"]


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


def read_records(fh) -> tuple[list[dict], bool]:
    """Records of an open store; drops a torn last line (the only damage an interrupted append
    can do) by truncating it away. Returns (records, whether a full rewrite is needed)."""
    fh.seek(0)
    raw = fh.read()
    lines = raw.split(b"\n")
    records, bad = [], False
    for line in lines[:-1]:
        try:
            records.append(json.loads(line))
        except ValueError:
            bad = bad or bool(line.strip())
    if lines[-1]:  # no newline at the end: an append was interrupted
        try:
            records.append(json.loads(lines[-1]))
            fh.write(b"\n")  # a complete record that only lacked its newline
        except ValueError:
            fh.truncate(len(raw) - len(lines[-1]))
        fh.flush()
        os.fsync(fh.fileno())
    return records, bad


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
        records, bad = read_records(fh)
        latest = latest_records(records)
        if bad or (compact and len(latest) < len(records)):
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
