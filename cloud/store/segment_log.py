"""Append-only segment files: where both store backends keep the layer bytes.

    <directory>/<time>-<tag>-<n>[-<random>].seg    appended to until full (or too old),
                                                   then a new one is started

A batch of layers is appended to the active segment and fdatasync'ed in one go (a new
segment's directory entry is fsynced when it is created); the caller commits index rows
pointing at (segment, offset) only afterwards. Every restart starts a new segment, so a
torn tail a crash left behind is never appended to. When a write fails (disk full) the
offsets no longer match the file: what it wrote is cut off again (freeing the space), the
segment is closed — even when closing fails too — and the next append starts a new one, so
the first write after space returns succeeds. The index (SQLite or PostgreSQL) decides
which segments are still referenced; this class only owns the files.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from polc.shared.durable import fsync_dir

SEGMENT_BYTES = 64 << 20  # a segment file is closed (and a new one started) beyond this


def _nothing(_name: str) -> None:
    pass


class SegmentLog:
    """The segment files of one store (not thread-safe: the caller holds its write lock).

    ``tag`` goes into every new segment's name (with ``unique_names`` also a random part, for
    directories several processes append to); ``max_age_s`` also rotates a segment appended
    to for that long. ``on_create(name)`` runs before a segment file is created and
    ``on_seal(name)`` after one was closed for good (rotation, failed write, close).
    """

    def __init__(
        self,
        directory: Path,
        tag: str,
        *,
        unique_names: bool = False,
        max_age_s: float | None = None,
        on_create: Callable[[str], None] = _nothing,
        on_seal: Callable[[str], None] = _nothing,
    ):
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.tag, self.unique_names, self.max_age_s = tag, unique_names, max_age_s
        self.on_create, self.on_seal = on_create, on_seal
        self._counter = itertools.count()
        self._file: BinaryIO | None = None  # the segment being appended to
        self.active_name = ""
        self._size, self._since = 0, 0.0

    def _full(self) -> bool:
        return (
            self._file is None
            or self._size >= SEGMENT_BYTES
            or (self.max_age_s is not None and time.monotonic() - self._since > self.max_age_s)
        )

    def seal(self) -> None:
        """Stop appending to the active segment (if any)."""
        if self._file is None:
            return
        f, name = self._file, self.active_name
        self._file, self.active_name = None, ""
        try:
            f.close()
        finally:
            self.on_seal(name)

    def _abandon(self, good_size: int) -> None:
        """After a failed append: close the segment whatever fails (a full buffer cannot be
        flushed) and cut off what the append wrote; the caller re-raises its error."""
        name = self.active_name
        with contextlib.suppress(OSError, ValueError):
            self.seal()
        with contextlib.suppress(OSError):
            os.truncate(self.directory / name, good_size)

    def _start(self) -> None:
        name = f"{time.time_ns():020d}-{self.tag}-{next(self._counter)}"
        name += f"-{uuid.uuid4().hex[:8]}.seg" if self.unique_names else ".seg"
        self.on_create(name)
        self._file = open(self.directory / name, "ab")  # stays open: appended to
        self.active_name, self._size, self._since = name, 0, time.monotonic()
        fsync_dir(self.directory)  # the new file's directory entry is durable

    def append(self, parts: list[bytes]) -> tuple[str, list[int]]:
        """Append ``parts`` durably to the active segment; returns (segment name, offsets).
        A new segment is started when the active one is full and after every restart."""
        if self._full():
            self.seal()
            self._start()
        f = self._file
        assert f is not None
        offsets, good_size = [], self._size
        try:
            for part in parts:
                offsets.append(self._size)
                f.write(part)
                self._size += len(part)
            f.flush()
            os.fdatasync(f.fileno())
        except BaseException:  # e.g. disk full: offsets no longer match, start afresh
            self._abandon(good_size)
            raise
        return self.active_name, offsets

    def read(self, segment: str, offset: int, length: int) -> bytes:
        """``length`` bytes at ``offset`` of a segment (OSError if it is truncated)."""
        with open(self.directory / segment, "rb") as f:
            f.seek(offset)
            data = f.read(length)
        if len(data) != length:
            raise OSError(f"segment {segment} is truncated")
        return data

    def remove_partial(self) -> None:
        """Delete ``*.part`` leftovers (never referenced)."""
        for part in self.directory.glob("*.part"):
            part.unlink(missing_ok=True)

    def names(self) -> set[str]:
        """Every segment file in the directory."""
        return {p.name for p in self.directory.glob("*.seg")}

    def delete(self, name: str) -> None:
        (self.directory / name).unlink(missing_ok=True)
