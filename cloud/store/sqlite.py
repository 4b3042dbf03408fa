"""The frame store on SQLite: index.sqlite3 (WAL) + append-only segment files.

    ROOT/index.sqlite3 (WAL)     one row per (camera_id, seq), UNIQUE
    ROOT/segments/<id>.seg       append-only layer bytes (≤ 64 MiB, segment_log.py)

Write order (group commit, :meth:`SQLiteFrameStore.put_many`): the layers of every new frame
of a batch are appended to the active segment file and fdatasync'ed (a new segment's
directory entry is fsynced when it is created); only then are the index rows, which point at
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

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from polc.cloud.store.interface import (
    FrameRecord,
    RecordRejected,
    StoreFull,
)
from polc.cloud.store.observations_sql import (
    DETECTION_INSERT,
    SQLITE_BACKFILL,
    SQLITE_SCHEMA,
    detection_inserts,
)
from polc.cloud.store.segment_log import SegmentLog
from polc.cloud.store.sql import INSERT_COLUMNS, SqlFrameStore
from polc.shared.errors import ConfigError

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
#: version 2 -> 3 adds the analysis backlog (rows of version 2 are analysed already)
_ANALYSIS_COLUMNS = (
    "ALTER TABLE frames ADD COLUMN analysis_pending INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE frames ADD COLUMN analysis_owner TEXT",
    "ALTER TABLE frames ADD COLUMN analysis_lease_us INTEGER NOT NULL DEFAULT 0",
    "CREATE INDEX IF NOT EXISTS frames_pending ON frames (received_time_us, id) "
    "WHERE analysis_pending",
)
#: version 3 -> 4 adds the detections index (filled from the stored results) and events
SCHEMA_VERSION = "4"
_INSERT = (
    f"INSERT INTO frames ({INSERT_COLUMNS}) VALUES "
    f"({', '.join(['?'] * len(INSERT_COLUMNS.split(',')))})"
)


class SQLiteFrameStore(SqlFrameStore):
    """SQLite index (WAL) + append-once segment files; see the module docstring."""

    def __init__(self, root: str | Path, synchronous: str = "full"):
        self.root = Path(root)
        self.segment_log = SegmentLog(self.root / "segments", str(os.getpid()))
        self._db_path = self.root / "index.sqlite3"
        self._lock = threading.Lock()  # serialises writers (one write connection)
        self._local = threading.local()  # one read connection per thread (WAL: no blocking)
        self._readers: list[sqlite3.Connection] = []
        self._sync = "FULL" if synchronous == "full" else "NORMAL"
        self._db = self._connect()
        self._db.executescript(_SCHEMA)
        version = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if version is not None and version[0] not in ("2", "3", SCHEMA_VERSION):
            raise ConfigError(
                f"store {self.root} has schema version {version[0]}, this "
                f"server needs {SCHEMA_VERSION}"
            )
        if version is None or version[0] == "2":
            for sql in _ANALYSIS_COLUMNS:
                self._db.execute(sql)
        self._db.executescript(SQLITE_SCHEMA)
        if version is not None and version[0] != SCHEMA_VERSION:
            self._db.execute(SQLITE_BACKFILL)
        self._db.execute(
            "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,)
        )
        # one process owns a SQLite store: what the previous process left pending is ours
        self.replica = f"sqlite.{os.getpid()}"
        self._db.execute("UPDATE frames SET analysis_lease_us = 0 WHERE analysis_pending")
        self._closed = False
        self._sweep_orphans()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self._db_path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={self._sync}")
        db.execute("PRAGMA busy_timeout=10000")
        db.execute("PRAGMA foreign_keys=ON")  # detections go with their frame
        return db

    def _reader(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self._connect()
            with self._lock:
                self._readers.append(db)
        return db

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self._reader().execute(sql, params).fetchall()

    # -- segments -------------------------------------------------------------------------
    def _unreferenced(self, segments: set[str]) -> list[str]:
        dead = []
        for seg in segments - {self.segment_log.active_name}:
            used = self._db.execute(
                "SELECT 1 FROM frames WHERE base_segment = ?1 OR enh_segment = ?1 LIMIT 1", (seg,)
            ).fetchone()
            if used is None:
                dead.append(seg)
        return dead

    def _sweep_orphans(self) -> None:
        """Segments a crash left without index rows (written, never committed)."""
        self.segment_log.remove_partial()
        with self._lock:
            for seg in self._unreferenced(self.segment_log.names()):
                self.segment_log.delete(seg)

    # -- writes ---------------------------------------------------------------------------
    def put_many(self, items: Sequence[tuple[FrameRecord, bytes, bytes | None]]) -> list[bool]:
        """Group commit: one segment append + fsync, one transaction for many frames.

        The existence check runs inside the write transaction (BEGIN IMMEDIATE excludes
        every other writer), so it is exact and the rows can go in with one executemany —
        no per-row statement round trip, which matters: this thread shares the GIL with
        the event loop."""
        self._check_rows(items)
        inserted = [False] * len(items)
        with self._lock, self._typed_errors(), self._transaction() as cur:
            existing = self._existing([(r.camera_id, r.seq) for r, _, _ in items])
            todo, seen = [], set()
            for i, (record, _, _) in enumerate(items):
                key = (record.camera_id, record.seq)
                if key not in seen and key not in existing:
                    seen.add(key)
                    todo.append(i)
            if todo:
                cur.executemany(_INSERT, self._rows(items, todo))
                cur.executemany(
                    DETECTION_INSERT,
                    [
                        row
                        for i in todo
                        for row in detection_inserts(
                            items[i][0].camera_id, items[i][0].seq, items[i][0].result
                        )
                    ],
                )
                for i in todo:
                    inserted[i] = True
        return inserted

    def _rollback(self) -> None:
        """Roll back the write transaction if SQLite has not already (it does by itself on
        SQLITE_FULL: a second ROLLBACK would hide that error behind "no transaction")."""
        if self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")

    def _typed_error(self, exc: Exception) -> StoreFull | RecordRejected | None:
        if (
            isinstance(exc, sqlite3.Error)
            and getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
        ):
            return StoreFull(28, f"store full: the index database: {exc}")
        if isinstance(exc, OverflowError):  # a value beyond SQLite's 64-bit INTEGER
            return RecordRejected(f"a value does not fit the index: {exc}")
        return None

    def _existing(self, keys: list[tuple[str, int]]) -> set[tuple[str, int]]:
        """Which (camera_id, seq) keys are stored (caller holds the write transaction)."""
        found: set[tuple[str, int]] = set()
        for start in range(0, len(keys), 400):  # ≤ 800 parameters (old SQLite: 999)
            chunk = keys[start : start + 400]
            values = ", ".join(["(?, ?)"] * len(chunk))
            found.update(
                self._db.execute(
                    f"WITH k(c, s) AS (VALUES {values}) SELECT f.camera_id, f.seq FROM k "
                    "JOIN frames f ON f.camera_id = k.c AND f.seq = k.s",
                    [v for key in chunk for v in key],
                ).fetchall()
            )
        return found

    def _write(self, sql: str, params: Sequence[Any]) -> None:
        self._db.execute(sql, params)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db.cursor()
            self._db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    # -- reads (get, find_at, layers, last_seq, list_frames, list_cameras: SqlFrameStore)

    # -- retention ------------------------------------------------------------------------
    def _delete(self, ids: list[int]) -> None:
        if not ids:
            return
        with self._lock:
            segments: set[str] = set()
            with self._transaction() as cur:
                for i in ids:
                    row = cur.execute(
                        "SELECT base_segment, enh_segment FROM frames WHERE id = ?", (i,)
                    ).fetchone()
                    if row is None:
                        continue
                    segments.update(s for s in row if s)
                    cur.execute("DELETE FROM frames WHERE id = ?", (i,))
            for seg in self._unreferenced(segments):
                self.segment_log.delete(seg)

    def delete_frames(self, camera_id: str, seqs: Sequence[int]) -> int:
        ids = [
            r[0]
            for seq in seqs
            for r in self._query(
                "SELECT id FROM frames WHERE camera_id = ? AND seq = ?", (camera_id, seq)
            )
        ]
        self._delete(ids)
        return len(ids)

    def _delete_where(self, where: str, params: Sequence[Any]) -> int:
        ids = [r[0] for r in self._query(f"SELECT id FROM frames WHERE {where}", params)]
        self._delete(ids)
        return len(ids)

    def _disconnect(self) -> None:
        for db in self._readers:
            db.close()
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._db.close()
