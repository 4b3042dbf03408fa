"""Store backends for the tests: SQLite always, PostgreSQL when ``POLC_TEST_POSTGRES_DSN``
points at a server (each test gets its own schema, dropped afterwards)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from polc.cloud.store.interface import FrameStore
from polc.cloud.store.sqlite import SQLiteFrameStore

POSTGRES_ENV = "POLC_TEST_POSTGRES_DSN"
BACKENDS = ["sqlite", "postgres"]


def postgres_dsn_or_skip() -> str:
    dsn = os.environ.get(POSTGRES_ENV)
    if not dsn:
        pytest.skip(f"PostgreSQL backend not tested: set {POSTGRES_ENV} to a libpq DSN of a "
                    "reachable server (.ci/run does)")
    return dsn


@contextmanager
def postgres_schema(dsn: str) -> Iterator[str]:
    """A fresh schema; yields a DSN whose connections use it (search_path)."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    schema = f"polc_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(dsn, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL at {POSTGRES_ENV} is not reachable: {exc}")
    with admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            yield make_conninfo(dsn, options=f"-c search_path={schema}")
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=BACKENDS)
def make_store(request) -> Iterator[Callable[[Path], FrameStore]]:
    """``make_store(path)`` opens (or reopens) the backend under test on ``path``."""
    if request.param == "sqlite":
        yield SQLiteFrameStore
        return
    from polc.cloud.store.postgres import PostgresFrameStore

    with postgres_schema(postgres_dsn_or_skip()) as dsn:
        opened: list[FrameStore] = []

        def make(path: Path) -> FrameStore:
            store = PostgresFrameStore(path, dsn, pool_size=2)
            opened.append(store)
            return store

        yield make
        for store in opened:
            store.close()


@pytest.fixture(params=BACKENDS)
def store_backend(request) -> Iterator[dict[str, str]]:
    """The configuration overrides of a server on the backend under test (the PostgreSQL
    one in a fresh schema; the layer files stay in ``store.path`` either way)."""
    if request.param == "sqlite":
        yield {}
        return
    with postgres_schema(postgres_dsn_or_skip()) as dsn:
        yield {"store.backend": "postgres", "store.postgres_dsn": dsn}
