"""The frame store on PostgreSQL: index and results in the database, layer bytes on a
directory every replica mounts (a ReadWriteMany volume).

    PostgresFrameStore
      ├─ PostgreSQL   frames    one row per (camera_id, seq), UNIQUE — the exactly-once
      │               segments  every segment file, its owner replica and whether it is sealed
      │               schema_migrations
      └─ ROOT/segments/<time>-<replica>-<random>.seg   append-only layer bytes (≤ 64 MiB)

Several replicas share one database and one directory. Each replica appends only to its own
segment files (the name carries the host, the pid and a random part, so two replicas never
write the same file); rows reference (segment, offset). Write order is the SQLite store's:
append the layers of a batch and fdatasync, then insert the rows in one transaction with
``INSERT ... ON CONFLICT (camera_id, seq) DO NOTHING`` — when two replicas race on the same
frame (an edge that reconnected through the balancer to another replica), the UNIQUE
constraint lets exactly one of them store it and the other reports a duplicate (its bytes
stay unreferenced in its segment and go with the segment).

A segment is registered in ``segments`` (committed) before its file is created and sealed
when its replica stops appending to it (rotation, close). Files are deleted only when

* they are sealed and no row references them (retention removed their frames), or
* they are registered, unsealed, unreferenced and older than ``orphan_grace_seconds``
  (a replica appends to a segment for at most a sixth of that, so its replica died), or
* they are not registered at all (never referenced by construction).

so retention running on one replica never deletes a segment another replica is appending to.
Schema changes are numbered migrations applied at start under an advisory lock (replicas
may start together); a database with a newer schema than this code refuses to open.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from polc.cloud.store.interface import (
    FrameRecord,
    RecordRejected,
    StoreFull,
    now_us,
)
from polc.cloud.store.observations_sql import DETECTION_INSERT, detection_inserts
from polc.cloud.store.segment_log import SegmentLog
from polc.cloud.store.sql import INSERT_COLUMNS, SqlFrameStore
from polc.shared.errors import ConfigError

#: (version, description, statements). Append only: never edit an applied migration.
MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "frames index and segment registry",
        [
            """CREATE TABLE frames (
            id BIGSERIAL PRIMARY KEY,
            camera_id TEXT NOT NULL,
            seq BIGINT NOT NULL CHECK (seq >= 0),
            capture_time_us BIGINT NOT NULL,
            received_time_us BIGINT NOT NULL,
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            alpha DOUBLE PRECISION NOT NULL,
            fingerprint TEXT NOT NULL,
            base_bytes BIGINT NOT NULL,
            enhancement_bytes BIGINT NOT NULL DEFAULT 0,
            base_bpp DOUBLE PRECISION NOT NULL,
            enhancement_bpp DOUBLE PRECISION NOT NULL DEFAULT 0,
            has_enhancement BOOLEAN NOT NULL DEFAULT FALSE,
            result_json JSONB,
            base_segment TEXT NOT NULL,
            base_offset BIGINT NOT NULL,
            enh_segment TEXT,
            enh_offset BIGINT,
            UNIQUE (camera_id, seq))""",
            "CREATE INDEX frames_capture ON frames (camera_id, capture_time_us)",
            "CREATE INDEX frames_received ON frames (received_time_us, id)",
            "CREATE INDEX frames_base_segment ON frames (base_segment)",
            "CREATE INDEX frames_enh_segment ON frames (enh_segment)",
            """CREATE TABLE segments (
            name TEXT PRIMARY KEY,
            replica TEXT NOT NULL,
            created_us BIGINT NOT NULL,
            sealed BOOLEAN NOT NULL DEFAULT FALSE)""",
        ],
    ),
    (
        2,
        "analysis backlog: pending frames, their replica and its lease",
        [
            "ALTER TABLE frames ADD COLUMN analysis_pending BOOLEAN NOT NULL DEFAULT FALSE",
            "ALTER TABLE frames ADD COLUMN analysis_owner TEXT",
            "ALTER TABLE frames ADD COLUMN analysis_lease_us BIGINT NOT NULL DEFAULT 0",
            "CREATE INDEX frames_pending ON frames (received_time_us, id) WHERE analysis_pending",
        ],
    ),
    (
        3,
        "detections index (filled from the stored results) and events",
        [
            """CREATE TABLE detections (
            frame_id BIGINT NOT NULL REFERENCES frames (id) ON DELETE CASCADE,
            camera_id TEXT NOT NULL,
            seq BIGINT NOT NULL,
            capture_time_us BIGINT NOT NULL,
            label TEXT NOT NULL,
            score DOUBLE PRECISION NOT NULL,
            x_min DOUBLE PRECISION NOT NULL,
            y_min DOUBLE PRECISION NOT NULL,
            x_max DOUBLE PRECISION NOT NULL,
            y_max DOUBLE PRECISION NOT NULL)""",
            "CREATE INDEX detections_frame ON detections (frame_id)",
            "CREATE INDEX detections_time ON detections (capture_time_us)",
            "CREATE INDEX detections_label_time ON detections (label, capture_time_us)",
            """INSERT INTO detections (frame_id, camera_id, seq, capture_time_us, label, score,
            x_min, y_min, x_max, y_max)
            SELECT f.id, f.camera_id, f.seq, f.capture_time_us, d->>'label',
            (d->>'score')::float8, (d->'box'->>0)::float8, (d->'box'->>1)::float8,
            (d->'box'->>2)::float8, (d->'box'->>3)::float8
            FROM frames f, jsonb_array_elements(f.result_json->'detections') d
            WHERE jsonb_typeof(f.result_json->'detections') = 'array'""",
            """CREATE TABLE events (
            id TEXT PRIMARY KEY,
            camera_id TEXT NOT NULL,
            label TEXT NOT NULL,
            state TEXT NOT NULL,
            start_time_us BIGINT NOT NULL,
            end_time_us BIGINT NOT NULL,
            start_seq BIGINT NOT NULL,
            end_seq BIGINT NOT NULL,
            best_seq BIGINT NOT NULL,
            best_score DOUBLE PRECISION NOT NULL,
            best_box TEXT NOT NULL,
            path_json TEXT NOT NULL)""",
            "CREATE INDEX events_start ON events (start_time_us, id)",
            "CREATE INDEX events_camera ON events (camera_id, end_seq)",
        ],
    ),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]
_LOCK_KEY = 0x706F6C63  # "polc": advisory lock serialising migrations across replicas


def apply_migrations(conn: psycopg.Connection) -> int:
    """Bring the schema to :data:`SCHEMA_VERSION`; returns the number of migrations applied."""
    applied_now = 0
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version INTEGER PRIMARY KEY, description TEXT NOT NULL, "
            "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
        if done and max(done) > SCHEMA_VERSION:
            raise ConfigError(
                f"the PostgreSQL store has schema version {max(done)}, this "
                f"server knows up to {SCHEMA_VERSION}: upgrade the server"
            )
        for version, description, statements in MIGRATIONS:
            if version in done:
                continue
            for sql in statements:
                conn.execute(sql)
            conn.execute(
                "INSERT INTO schema_migrations (version, description) VALUES (%s, %s)",
                (version, description),
            )
            applied_now += 1
    return applied_now


def _replica_tag() -> str:
    host = re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname())[:40] or "host"
    return f"{host}.{os.getpid()}"


class PostgresFrameStore(SqlFrameStore):
    """PostgreSQL index + per-replica segment files on a shared directory."""

    PLACEHOLDER = "%s"
    SUM_CAST = "::bigint"  # SUM over BIGINT is NUMERIC in PostgreSQL
    BYTE_ORDER = ' COLLATE "C"'  # the database's collation may not be byte order
    JSON_PARAM = "?::jsonb"
    SKIP_LOCKED = " FOR UPDATE SKIP LOCKED"  # two replicas never claim the same frame

    local_reads = False  # a network round trip: callers keep it off their event loop

    def __init__(
        self,
        root: str | Path,
        dsn: str,
        *,
        pool_size: int = 8,
        orphan_grace_seconds: float = 3600.0,
        connect_timeout: float = 30.0,
    ):
        self.root = Path(root)
        self.replica = _replica_tag()
        self.orphan_grace_us = int(orphan_grace_seconds * 1e6)
        # a segment is appended to for at most a sixth of the grace period, so an unsealed
        # segment older than the grace period belongs to a replica that died
        self.segment_log = SegmentLog(
            self.root / "segments",
            self.replica,
            unique_names=True,
            max_age_s=orphan_grace_seconds / 6,
            on_create=self._register_segment,
            on_seal=self._seal_segment,
        )
        try:
            self._pool = ConnectionPool(
                dsn,
                min_size=1,
                max_size=max(2, pool_size),
                kwargs={"autocommit": True},
                open=False,
                check=ConnectionPool.check_connection,
                name="polc-store",
            )
            self._pool.open(wait=True, timeout=connect_timeout)
        except Exception as exc:  # psycopg.Error, PoolTimeout
            with contextlib.suppress(Exception):
                self._pool.close()
            raise ConfigError(
                f"config field 'store.postgres_dsn': cannot connect to PostgreSQL: {exc}"
            ) from exc
        try:
            with self._pool.connection() as conn:
                apply_migrations(conn)
        except BaseException:
            self._pool.close()
            raise
        self._lock = threading.Lock()  # this replica's writer (segment append + commit)
        self._closed = False
        self._sweep_orphans()

    # -- helpers --------------------------------------------------------------------------
    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._pool.connection() as conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description is not None else []

    @staticmethod
    def _result(value: Any) -> dict | None:
        return value  # jsonb arrives decoded

    # -- segments -------------------------------------------------------------------------
    def _register_segment(self, name: str) -> None:
        """A new segment is registered (committed) before its file is created."""
        self._query(
            "INSERT INTO segments (name, replica, created_us) VALUES (%s, %s, %s)",
            (name, self.replica, now_us()),
        )

    def _seal_segment(self, name: str) -> None:
        try:
            self._query("UPDATE segments SET sealed = TRUE WHERE name = %s", (name,))
        except Exception:  # stays unsealed: collected once older than the grace period
            pass

    def _drop_segments(self, names: set[str]) -> None:
        """Delete the given segments if nothing references them (any replica may call it);
        unsealed ones only when older than the grace period (their replica died)."""
        names.discard(self.segment_log.active_name)
        cutoff = now_us() - self.orphan_grace_us
        for name in sorted(names):
            with self._pool.connection() as conn, conn.transaction():
                row = conn.execute(
                    "SELECT sealed, created_us FROM segments WHERE name = %s FOR UPDATE", (name,)
                ).fetchone()
                if row is not None and not row[0] and row[1] >= cutoff:
                    continue  # another replica may still be appending to it
                used = conn.execute(
                    "SELECT 1 FROM frames WHERE base_segment = %s OR enh_segment = %s LIMIT 1",
                    (name, name),
                ).fetchone()
                if used is not None:
                    continue
                conn.execute("DELETE FROM segments WHERE name = %s", (name,))
                self.segment_log.delete(name)

    def _sweep_orphans(self) -> None:
        """Files no row will ever reference: unregistered ones, sealed unreferenced ones and
        unsealed ones a crashed replica left behind (older than the grace period)."""
        self.segment_log.remove_partial()
        files = self.segment_log.names()
        cutoff = now_us() - self.orphan_grace_us
        rows = self._query("SELECT name, sealed, created_us FROM segments")
        registered = {name: (sealed, created) for name, sealed, created in rows}
        for name in files - registered.keys():
            self.segment_log.delete(name)
        self._drop_segments(
            {n for n, (sealed, created) in registered.items() if sealed or created < cutoff}
        )

    # -- writes ---------------------------------------------------------------------------
    def put_many(self, items: Sequence[tuple[FrameRecord, bytes, bytes | None]]) -> list[bool]:
        """Group commit: one append + fdatasync, one INSERT ... ON CONFLICT DO NOTHING."""
        inserted = [False] * len(items)
        self._check_rows(items)
        keys = [(r.camera_id, r.seq) for r, _, _ in items]
        existing = set()
        if keys:
            existing = {
                tuple(r)
                for r in self._query(
                    "SELECT f.camera_id, f.seq FROM frames f JOIN unnest(%s::text[], %s::bigint[]) "
                    "AS k(camera_id, seq) ON f.camera_id = k.camera_id AND f.seq = k.seq",
                    ([k[0] for k in keys], [k[1] for k in keys]),
                )
            }
        todo, seen = [], set()
        for i, key in enumerate(keys):
            if key not in seen and key not in existing:
                seen.add(key)
                todo.append(i)
        if not todo:
            return inserted
        with self._lock, self._typed_errors():
            # one array per column: a single INSERT ... SELECT FROM unnest(...) for the batch
            cols = [list(col) for col in zip(*self._rows(items, todo), strict=True)]
            with self._pool.connection() as conn, conn.transaction():
                stored = conn.execute(
                    f"INSERT INTO frames ({INSERT_COLUMNS}) "
                    "SELECT * FROM unnest(%s::text[], %s::bigint[], %s::bigint[], "
                    "%s::bigint[], %s::int[], %s::int[], %s::float8[], %s::text[], "
                    "%s::bigint[], %s::bigint[], %s::float8[], %s::float8[], %s::bool[], "
                    "%s::jsonb[], %s::text[], %s::bigint[], %s::text[], %s::bigint[], "
                    "%s::bool[], %s::text[], %s::bigint[]) "
                    "ON CONFLICT (camera_id, seq) DO NOTHING RETURNING camera_id, seq",
                    cols,
                ).fetchall()
                done = {tuple(r) for r in stored}
                index = [
                    row
                    for i in todo
                    if keys[i] in done
                    for row in detection_inserts(*keys[i], items[i][0].result)
                ]
                if index:
                    conn.cursor().executemany(self._sql(DETECTION_INSERT), index)
        for i in todo:
            inserted[i] = keys[i] in done
        return inserted

    def _write(self, sql: str, params: Sequence[Any]) -> None:
        self._query(sql, params)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[psycopg.Cursor]:
        with self._pool.connection() as conn, conn.transaction():
            yield conn.cursor()

    def _typed_error(self, exc: Exception) -> StoreFull | RecordRejected | None:
        if isinstance(exc, psycopg.errors.DiskFull):
            return StoreFull(28, f"store full: the PostgreSQL index: {exc}")
        if isinstance(exc, psycopg.DataError):  # e.g. a value beyond BIGINT
            return RecordRejected(f"a value does not fit the index: {exc}")
        return None

    # -- reads (get, find_at, layers, last_seq, list_frames, list_cameras: SqlFrameStore)

    # -- retention ------------------------------------------------------------------------
    def _delete_where(self, where: str, params: Sequence[Any]) -> int:
        rows = self._query(
            self._sql(f"DELETE FROM frames WHERE {where} RETURNING base_segment, enh_segment"),
            params,
        )
        touched = {s for row in rows for s in row if s}
        self._drop_segments(touched)
        return len(rows)

    def delete_frames(self, camera_id: str, seqs: Sequence[int]) -> int:
        return self._delete_where(
            "camera_id = ? AND seq = ANY(?)", (camera_id, [int(s) for s in seqs])
        )

    def _disconnect(self) -> None:
        self._pool.close()
