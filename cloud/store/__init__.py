"""Durable storage of received frames and their results.

    FrameStore (interface.py: backend-neutral, with FrameRecord, CameraSummary, StoreStats)
      └─ SqlFrameStore (sql.py: the reads and index rows every SQL backend shares, with
           │             the analysis backlog of backlog_sql.py and the search / events
           │             tables of observations_sql.py mixed in)
           ├─ SQLiteFrameStore (sqlite.py):     index.sqlite3 (WAL), one row per
           │                                    (camera_id, seq), UNIQUE
           └─ PostgresFrameStore (postgres.py): the index in PostgreSQL shared by replicas,
                                                numbered migrations
         both: layer bytes in append-only segment files (segment_log.py), ≤ 64 MiB each,
               rows point at (segment, offset)

:func:`open_store` opens the configured backend.
"""

from __future__ import annotations

from pathlib import Path

from polc.cloud.store.interface import FrameStore
from polc.cloud.store.postgres import PostgresFrameStore
from polc.cloud.store.sqlite import SQLiteFrameStore
from polc.shared.errors import ConfigError


def open_store(
    path: str | Path,
    synchronous: str = "full",
    *,
    backend: str = "sqlite",
    postgres_dsn: str | None = None,
    pool_size: int = 8,
) -> FrameStore:
    """The configured backend: SQLite in ``path``, or PostgreSQL with layer files in
    ``path`` (see :mod:`polc.cloud.store.postgres`)."""
    if backend == "postgres":
        if not postgres_dsn:
            raise ConfigError("config field 'store.postgres_dsn': needed by backend postgres")
        return PostgresFrameStore(path, postgres_dsn, pool_size=pool_size)
    return SQLiteFrameStore(path, synchronous)
