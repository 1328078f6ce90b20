"""The resumable cache: a JSON Lines file, one record per request (see the package docstring).

:func:`parse_cache` reads its bytes (a partial last line is detected and counted, corrupt and duplicate
lines are counted and ignored), :func:`read_cache` reads a file without changing it, and
:class:`_CacheWriter` appends records under an exclusive ``flock`` (flush + fsync per batch).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


@dataclass
class CacheState:
    records: dict[str, dict]
    partial_lines: int = 0  # a last line cut off mid-write (removed from the file)
    corrupt_lines: int = 0  # complete lines that are not a record (kept in the file, ignored)
    duplicate_lines: int = 0  # records whose key an earlier line already holds (the first one counts)


def _record_ok(value) -> bool:
    return isinstance(value, dict) and isinstance(value.get("key"), str) and isinstance(value.get("output"), str)


def parse_cache(data: bytes) -> tuple[CacheState, int, bool]:
    """Read cache bytes: the state, the length of the intact part, and whether a newline must be added.

    Every complete line is a record; a last line without its newline is a record if it parses
    (then only the newline is missing), otherwise a partial write to be cut off."""
    state = CacheState({})
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the data ends with a newline
    for line in lines:
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            value = None
        if not _record_ok(value):
            state.corrupt_lines += 1
        elif value["key"] in state.records:
            state.duplicate_lines += 1
        else:
            state.records[value["key"]] = value
    intact, add_newline = len(data), False
    if tail.strip():
        try:
            value = json.loads(tail)
        except ValueError:
            value = None
        if _record_ok(value):
            if value["key"] not in state.records:
                state.records[value["key"]] = value
            add_newline = True
        else:
            state.partial_lines += 1
            intact = len(data) - len(tail)
    return state, intact, add_newline


def read_cache(path: str | os.PathLike) -> CacheState:
    """The records of a cache file (key -> record), without changing the file."""
    path = Path(path)
    return parse_cache(path.read_bytes())[0] if path.is_file() else CacheState({})


class _CacheWriter:
    """The cache file opened for appending under an exclusive lock, its partial tail cut off."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(path, "a+b")
        try:
            import fcntl

            fcntl.flock(self.file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover - not POSIX
            pass
        except OSError:
            self.file.close()
            raise RuntimeError(f"{path} is being written by another job; wait for it or use another --cache")
        self.file.seek(0)
        self.state, intact, add_newline = parse_cache(self.file.read())
        if self.state.partial_lines:
            self.file.truncate(intact)
        if add_newline:
            self.file.write(b"\n")
        self._sync()

    def append(self, records: Sequence[dict]) -> None:
        self.file.write("".join(_canonical(r) + "\n" for r in records).encode("utf-8"))
        self._sync()

    def _sync(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())

    def close(self) -> None:
        self.file.close()  # releases the lock
