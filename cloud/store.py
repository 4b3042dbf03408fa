"""Durable storage of received frames and their results.

    FrameStore (interface, backend-neutral)
      ├─ SQLiteFrameStore:  index.sqlite3 (WAL)         one row per (camera_id, seq), UNIQUE
      │                     segments/<id>.seg           append-only layer bytes (≤ 64 MiB)
      └─ PostgresFrameStore (store_postgres.py): the index in PostgreSQL shared by replicas,
                            per-replica segment files on a shared directory

Write order (group commit, :meth:`FrameStore.put_many`): the layers of every new frame of
a batch are appended to the active segment file and fdatasync'ed (a new segment's directory
entry is fsynced when it is created); only then are the index rows, which point at
(segment, offset), inserted in one transaction and committed (``synchronous=FULL``). The
caller acknowledges frames after ``put_many`` returns, so an acknowledged frame survives a
crash or power loss, and the two fsyncs are shared by every frame of the batch. A crash
between the append and the commit leaves bytes no row references: a torn tail (each
restart starts a new segment, so it is never appended to) or a whole segment without rows,
deleted when the store is opened again; the frames themselves are resent by the edge.
Inserting an existing (camera_id, seq) is a no-op reported as a duplicate. A segment is
deleted when retention has removed every frame that references it.

All methods are synchronous and thread-safe: writes go through one connection under a lock,
reads use one connection per thread (WAL readers never wait for the writer).
"""

from __future__ import annotations

import abc
import itertools
import json
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from polc.shared.durable import fsync_dir
from polc.shared.errors import ConfigError

MAX_SEQ = (1 << 63) - 1  # the index stores seq as a signed 64-bit integer
SEGMENT_BYTES = 64 << 20  # a segment file is closed (and a new one started) beyond this


@dataclass
class FrameRecord:
    """Index entry of one stored frame (what Query returns, without the layer bytes)."""

    camera_id: str
    seq: int
    capture_time_us: int  # edge clock, microseconds since the epoch
    width: int
    height: int
    alpha: float
    fingerprint: str
    base_bytes: int
    enhancement_bytes: int = 0
    received_time_us: int = 0  # set by the store
    result: dict[str, Any] | None = None  # analyzer output (JSON-serialisable)

    @property
    def has_enhancement(self) -> bool:
        return self.enhancement_bytes > 0

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def base_bpp(self) -> float:
        return self.base_bytes * 8 / self.pixels

    @property
    def enhancement_bpp(self) -> float:
        return self.enhancement_bytes * 8 / self.pixels


@dataclass
class CameraSummary:
    camera_id: str
    frame_count: int
    first_seq: int
    last_seq: int
    first_capture_time_us: int
    last_capture_time_us: int
    stored_bytes: int


@dataclass
class StoreStats:
    frames: int = 0
    bytes: int = 0
    deleted: int = field(default=0)


class FrameStore(abc.ABC):
    """What the service needs from a store; backends: SQLite + files (here), PostgreSQL."""

    #: point reads (``get``) are local and cheap enough to run on the event-loop thread
    local_reads: bool = True

    @abc.abstractmethod
    def put(self, record: FrameRecord, base: bytes, enhancement: bytes | None) -> bool:
        """Durably store a frame; False (and nothing written) if (camera_id, seq) exists."""

    def put_many(self, items: Sequence[tuple[FrameRecord, bytes, bytes | None]]) -> list[bool]:
        """Store several frames (backends override this with one group commit)."""
        return [self.put(*item) for item in items]

    @abc.abstractmethod
    def get(self, camera_id: str, seq: int) -> FrameRecord | None:
        """The index entry of a frame, or None."""

    @abc.abstractmethod
    def find_at(self, camera_id: str, time_us: int) -> FrameRecord | None:
        """The latest frame of a camera captured at or before ``time_us``."""

    @abc.abstractmethod
    def read_base(self, camera_id: str, seq: int) -> bytes:
        """The stored base layer (KeyError if the frame is not stored)."""

    @abc.abstractmethod
    def read_enhancement(self, camera_id: str, seq: int) -> bytes | None:
        """The stored enhancement layer, or None when it was not stored."""

    @abc.abstractmethod
    def put_enhancement(self, camera_id: str, seq: int, data: bytes) -> None:
        """Durably add the enhancement layer of a stored frame (KeyError if not stored)."""

    @abc.abstractmethod
    def last_seq(self, camera_id: str) -> int | None:
        """Highest stored seq of a camera, or None."""

    @abc.abstractmethod
    def list_cameras(self) -> list[CameraSummary]:
        """Every camera with stored frames."""

    @abc.abstractmethod
    def list_frames(self, camera_id: str, start_us: int | None = None,
                    end_us: int | None = None, after_seq: int = -1,
                    limit: int = 100) -> list[FrameRecord]:
        """Frames of a camera with capture time in [start, end] and seq > after_seq, by seq."""

    @abc.abstractmethod
    def enforce_retention(self, max_age_s: float | None, max_bytes: int | None,
                          now: int | None = None) -> int:
        """Delete frames older than ``max_age_s`` and then the oldest ones until the total is
        at most ``max_bytes``; returns the number of frames deleted."""

    @abc.abstractmethod
    def stats(self) -> StoreStats:
        """Number of frames and stored layer bytes."""

    @abc.abstractmethod
    def close(self) -> None:
        """Flush and release everything."""


def now_us() -> int:
    return time.time_ns() // 1000


_SCHEMA = """
CREATE TABLE IF NOT EXISTS frames (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    camera_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    capture_time_us INTEGER NOT NULL,
    received_time_us INTEGER NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    alpha REAL NOT NULL,
    fingerprint TEXT NOT NULL,
    base_bytes INTEGER NOT NULL,
    enhancement_bytes INTEGER NOT NULL DEFAULT 0,
    base_bpp REAL NOT NULL,
    enhancement_bpp REAL NOT NULL DEFAULT 0,
    has_enhancement INTEGER NOT NULL DEFAULT 0,
    result_json TEXT,
    base_segment TEXT NOT NULL,
    base_offset INTEGER NOT NULL,
    enh_segment TEXT,
    enh_offset INTEGER,
    UNIQUE (camera_id, seq)
);
CREATE INDEX IF NOT EXISTS frames_capture ON frames (camera_id, capture_time_us);
CREATE INDEX IF NOT EXISTS frames_received ON frames (received_time_us);
CREATE INDEX IF NOT EXISTS frames_base_segment ON frames (base_segment);
CREATE INDEX IF NOT EXISTS frames_enh_segment ON frames (enh_segment);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_COLUMNS = ("camera_id, seq, capture_time_us, received_time_us, width, height, alpha, "
            "fingerprint, base_bytes, enhancement_bytes, result_json")
SCHEMA_VERSION = "2"
_INSERT = ("INSERT INTO frames (camera_id, seq, capture_time_us, received_time_us, width, "
           "height, alpha, fingerprint, base_bytes, enhancement_bytes, base_bpp, "
           "enhancement_bpp, has_enhancement, result_json, base_segment, base_offset, "
           "enh_segment, enh_offset) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


class SqlFrameStore(FrameStore):
    """The reads every SQL backend shares; a backend supplies its parameter placeholder,
    ``_query`` (rows of a statement), ``_read`` (bytes of a segment) and ``_result`` (the
    stored result column as a dict)."""

    PLACEHOLDER = "?"

    @abc.abstractmethod
    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]: ...

    @abc.abstractmethod
    def _read(self, segment: str, offset: int, length: int) -> bytes: ...

    @staticmethod
    def _result(value: Any) -> dict | None:
        return json.loads(value) if value else None

    def _sql(self, sql: str) -> str:
        """``sql`` written with ``?`` placeholders, in this backend's style."""
        return sql.replace("?", self.PLACEHOLDER)

    def _row(self, row: tuple) -> FrameRecord:
        (camera_id, seq, capture, received, width, height, alpha, fp, base_b, enh_b,
         result) = row
        return FrameRecord(camera_id, seq, capture, width, height, alpha, fp, base_b, enh_b,
                           received, self._result(result))

    @abc.abstractmethod
    def _append(self, parts: list[bytes]) -> tuple[str, list[int]]:
        """Append ``parts`` durably to a segment (caller holds the write lock); returns
        (segment name, offsets)."""

    @abc.abstractmethod
    def _write(self, sql: str, params: Sequence[Any]) -> None:
        """Run one committed write statement (caller holds the write lock)."""

    def put_enhancement(self, camera_id: str, seq: int, data: bytes) -> None:
        record = self.get(camera_id, seq)
        if record is None:
            raise KeyError((camera_id, seq))
        with self._lock:
            segment, (offset,) = self._append([data])
            self._write(self._sql(
                "UPDATE frames SET enhancement_bytes = ?, enhancement_bpp = ?, "
                "has_enhancement = TRUE, enh_segment = ?, enh_offset = ? "
                "WHERE camera_id = ? AND seq = ? AND NOT has_enhancement"),
                (len(data), len(data) * 8 / record.pixels, segment, offset, camera_id, seq))

    def _rows(self, items: Sequence[tuple[FrameRecord, bytes, bytes | None]],
              todo: list[int]) -> list[tuple]:
        """Append the layers of ``items[todo]`` durably and return their index rows, in
        the column order of ``frames`` (fills in the records' sizes and received time)."""
        parts: list[bytes] = []
        for i in todo:
            _, base, enh = items[i]
            parts.append(base)
            if enh:
                parts.append(enh)
        segment, offsets = self._append(parts)
        received = now_us()
        rows, k = [], 0
        for i in todo:
            record, base, enh = items[i]
            base_off = offsets[k]
            k += 1
            enh_off = None
            if enh:
                enh_off = offsets[k]
                k += 1
            record.base_bytes, record.enhancement_bytes = len(base), len(enh or b"")
            record.received_time_us = received
            rows.append((
                record.camera_id, record.seq, record.capture_time_us, received,
                record.width, record.height, record.alpha, record.fingerprint,
                record.base_bytes, record.enhancement_bytes, record.base_bpp,
                record.enhancement_bpp, bool(enh),
                json.dumps(record.result) if record.result is not None else None,
                segment, base_off, segment if enh else None, enh_off))
        return rows

    def get(self, camera_id: str, seq: int) -> FrameRecord | None:
        if not 0 <= seq <= MAX_SEQ:
            return None
        rows = self._query(self._sql(
            f"SELECT {_COLUMNS} FROM frames WHERE camera_id = ? AND seq = ?"), (camera_id, seq))
        return self._row(rows[0]) if rows else None

    def find_at(self, camera_id: str, time_us: int) -> FrameRecord | None:
        rows = self._query(self._sql(
            f"SELECT {_COLUMNS} FROM frames WHERE camera_id = ? AND capture_time_us <= ? "
            "ORDER BY capture_time_us DESC, seq DESC LIMIT 1"), (camera_id, time_us))
        return self._row(rows[0]) if rows else None

    def _layer(self, camera_id: str, seq: int, enh: bool) -> bytes | None:
        cols = ("enh_segment, enh_offset, enhancement_bytes" if enh
                else "base_segment, base_offset, base_bytes")
        rows = (self._query(self._sql(f"SELECT {cols} FROM frames WHERE camera_id = ? AND "
                                      "seq = ?"), (camera_id, seq))
                if 0 <= seq <= MAX_SEQ else [])
        if not rows:
            raise KeyError((camera_id, seq))
        segment, offset, length = rows[0]
        return None if segment is None else self._read(segment, offset, length)

    def read_base(self, camera_id: str, seq: int) -> bytes:
        data = self._layer(camera_id, seq, False)
        assert data is not None
        return data

    def read_enhancement(self, camera_id: str, seq: int) -> bytes | None:
        try:
            return self._layer(camera_id, seq, True)
        except KeyError:
            return None

    def last_seq(self, camera_id: str) -> int | None:
        return self._query(self._sql("SELECT MAX(seq) FROM frames WHERE camera_id = ?"),
                           (camera_id,))[0][0]

    def list_frames(self, camera_id: str, start_us: int | None = None,
                    end_us: int | None = None, after_seq: int = -1,
                    limit: int = 100) -> list[FrameRecord]:
        sql = f"SELECT {_COLUMNS} FROM frames WHERE camera_id = ? AND seq > ?"
        params: list[Any] = [camera_id, after_seq]
        if start_us is not None:
            sql += " AND capture_time_us >= ?"
            params.append(start_us)
        if end_us is not None:
            sql += " AND capture_time_us <= ?"
            params.append(end_us)
        sql += " ORDER BY seq LIMIT ?"
        params.append(limit)
        return [self._row(r) for r in self._query(self._sql(sql), tuple(params))]


class SQLiteFrameStore(SqlFrameStore):
    """SQLite index (WAL) + append-once segment files; see the module docstring."""

    def __init__(self, root: str | Path, synchronous: str = "full"):
        self.root = Path(root)
        self.segments = self.root / "segments"
        self.segments.mkdir(parents=True, exist_ok=True)
        self._db_path = self.root / "index.sqlite3"
        self._lock = threading.Lock()  # serialises writers (one write connection)
        self._local = threading.local()  # one read connection per thread (WAL: no blocking)
        self._readers: list[sqlite3.Connection] = []
        self._sync = "FULL" if synchronous == "full" else "NORMAL"
        self._db = self._connect()
        self._db.executescript(_SCHEMA)
        version = self._db.execute(
            "SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if version is not None and version[0] != SCHEMA_VERSION:
            raise ConfigError(f"store {self.root} has schema version {version[0]}, this "
                              f"server needs {SCHEMA_VERSION}")
        self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                         (SCHEMA_VERSION,))
        self._counter = itertools.count()
        self._active: Any = None  # the segment file being appended to
        self._active_name, self._active_size = "", 0
        self._closed = False
        self._sweep_orphans()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self._db_path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={self._sync}")
        db.execute("PRAGMA busy_timeout=10000")
        return db

    def _reader(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self._connect()
            with self._lock:
                self._readers.append(db)
        return db

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        return self._reader().execute(sql, params).fetchall()

    # -- segments -------------------------------------------------------------------------
    def _append(self, parts: list[bytes]) -> tuple[str, list[int]]:
        """Append ``parts`` to the active segment durably (caller holds the write lock);
        returns (segment name, offsets). A new segment is started when the active one is
        full and after every restart (a crash may have left a torn tail in the old one)."""
        if self._active is None or self._active_size >= SEGMENT_BYTES:
            if self._active is not None:
                self._active.close()
            name = f"{time.time_ns():020d}-{os.getpid()}-{next(self._counter)}.seg"
            self._active = open(self.segments / name, "ab")  # stays open: appended to
            self._active_name, self._active_size = name, 0
            fsync_dir(self.segments)  # the new file's directory entry is durable
        f = self._active
        offsets = []
        try:
            for part in parts:
                offsets.append(self._active_size)
                f.write(part)
                self._active_size += len(part)
            f.flush()
            os.fdatasync(f.fileno())
        except BaseException:  # e.g. disk full: offsets no longer match, start afresh
            self._active.close()
            self._active, self._active_name = None, ""
            raise
        return self._active_name, offsets

    def _read(self, segment: str, offset: int, length: int) -> bytes:
        with open(self.segments / segment, "rb") as f:
            f.seek(offset)
            data = f.read(length)
        if len(data) != length:
            raise OSError(f"segment {segment} is truncated")
        return data

    def _unreferenced(self, segments: set[str]) -> list[str]:
        dead = []
        for seg in segments - {self._active_name}:
            used = self._db.execute(
                "SELECT 1 FROM frames WHERE base_segment = ?1 OR enh_segment = ?1 LIMIT 1",
                (seg,)).fetchone()
            if used is None:
                dead.append(seg)
        return dead

    def _sweep_orphans(self) -> None:
        """Segments a crash left without index rows (written, never committed)."""
        for part in self.segments.glob("*.part"):
            part.unlink(missing_ok=True)
        with self._lock:
            names = {p.name for p in self.segments.glob("*.seg")}
            for seg in self._unreferenced(names):
                (self.segments / seg).unlink(missing_ok=True)

    # -- writes ---------------------------------------------------------------------------
    def put(self, record: FrameRecord, base: bytes, enhancement: bytes | None) -> bool:
        return self.put_many([(record, base, enhancement)])[0]

    def put_many(self, items: Sequence[tuple[FrameRecord, bytes, bytes | None]]) -> list[bool]:
        """Group commit: one segment append + fsync, one transaction for many frames.

        The existence check runs inside the write transaction (BEGIN IMMEDIATE excludes
        every other writer), so it is exact and the rows can go in with one executemany —
        no per-row statement round trip, which matters: this thread shares the GIL with
        the event loop."""
        for record, _, _ in items:
            if not 0 <= record.seq <= MAX_SEQ:
                raise ValueError(f"seq {record.seq} out of range")
        inserted = [False] * len(items)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                existing = self._existing([(r.camera_id, r.seq) for r, _, _ in items])
                todo, seen = [], set()
                for i, (record, _, _) in enumerate(items):
                    key = (record.camera_id, record.seq)
                    if key not in seen and key not in existing:
                        seen.add(key)
                        todo.append(i)
                if todo:
                    self._db.executemany(_INSERT, self._rows(items, todo))
                    for i in todo:
                        inserted[i] = True
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return inserted

    def _existing(self, keys: list[tuple[str, int]]) -> set[tuple[str, int]]:
        """Which (camera_id, seq) keys are stored (caller holds the write transaction)."""
        found: set[tuple[str, int]] = set()
        for start in range(0, len(keys), 400):  # ≤ 800 parameters (old SQLite: 999)
            chunk = keys[start:start + 400]
            values = ", ".join(["(?, ?)"] * len(chunk))
            found.update(self._db.execute(
                f"WITH k(c, s) AS (VALUES {values}) SELECT f.camera_id, f.seq FROM k "
                "JOIN frames f ON f.camera_id = k.c AND f.seq = k.s",
                [v for key in chunk for v in key]).fetchall())
        return found

    def _write(self, sql: str, params: Sequence[Any]) -> None:
        self._db.execute(sql, params)

    # -- reads (get, find_at, layers, last_seq, list_frames: SqlFrameStore) -------
    def list_cameras(self) -> list[CameraSummary]:
        rows = self._query(
            "SELECT camera_id, COUNT(*), MIN(seq), MAX(seq), MIN(capture_time_us), "
            "MAX(capture_time_us), SUM(base_bytes + enhancement_bytes) FROM frames "
            "GROUP BY camera_id ORDER BY camera_id")
        return [CameraSummary(*row) for row in rows]

    # -- retention ------------------------------------------------------------------------
    def _delete(self, ids: list[int]) -> None:
        if not ids:
            return
        with self._lock:
            segments: set[str] = set()
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for i in ids:
                    row = self._db.execute(
                        "SELECT base_segment, enh_segment FROM frames WHERE id = ?",
                        (i,)).fetchone()
                    if row is None:
                        continue
                    segments.update(s for s in row if s)
                    self._db.execute("DELETE FROM frames WHERE id = ?", (i,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            for seg in self._unreferenced(segments):
                (self.segments / seg).unlink(missing_ok=True)

    def enforce_retention(self, max_age_s: float | None, max_bytes: int | None,
                          now: int | None = None) -> int:
        deleted = 0
        if max_age_s is not None:
            cutoff = (now if now is not None else now_us()) - int(max_age_s * 1e6)
            ids = [r[0] for r in self._query("SELECT id FROM frames WHERE received_time_us < ?",
                                             (cutoff,))]
            self._delete(ids)
            deleted += len(ids)
        if max_bytes is not None:
            excess = self.stats().bytes - max_bytes
            if excess > 0:
                victims, freed = [], 0
                for row_id, size in self._query(
                        "SELECT id, base_bytes + enhancement_bytes FROM frames "
                        "ORDER BY received_time_us, id"):
                    if freed >= excess:
                        break
                    victims.append(row_id)
                    freed += size
                self._delete(victims)
                deleted += len(victims)
        return deleted

    def stats(self) -> StoreStats:
        count, total = self._query(
            "SELECT COUNT(*), COALESCE(SUM(base_bytes + enhancement_bytes), 0) FROM frames")[0]
        return StoreStats(count, total)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for db in self._readers:
                db.close()
            if self._active is not None:
                self._active.close()
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()


def open_store(path: str | Path, synchronous: str = "full", *, backend: str = "sqlite",
               postgres_dsn: str | None = None, pool_size: int = 8) -> FrameStore:
    """The configured backend: SQLite in ``path``, or PostgreSQL with layer files in
    ``path`` (see :mod:`polc.cloud.store_postgres`)."""
    if backend == "postgres":
        from polc.cloud.store_postgres import PostgresFrameStore

        if not postgres_dsn:
            raise ConfigError("config field 'store.postgres_dsn': needed by backend postgres")
        return PostgresFrameStore(path, postgres_dsn, pool_size=pool_size)
    return SQLiteFrameStore(path, synchronous)
