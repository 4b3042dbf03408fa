"""PostgreSQL-only behaviour: replicas sharing one database and one segment directory,
migrations, configuration. Skipped unless POLC_TEST_POSTGRES_DSN is set."""

from __future__ import annotations

import threading

import pytest
from fixtures.cloud import make_config
from fixtures.store import postgres_dsn_or_skip, postgres_schema
from ingest_client import EdgeClient

from polc.cloud.config import load_config
from polc.cloud.store import open_store
from polc.cloud.store.interface import FrameRecord
from polc.shared.errors import ConfigError


def _record(camera: str, seq: int) -> FrameRecord:
    return FrameRecord(
        camera, seq, 1_000_000 * (seq + 1), 96, 80, 0.5, "ab" * 16, 0, result={"classes": [seq]}
    )


@pytest.fixture
def dsn():
    with postgres_schema(postgres_dsn_or_skip()) as d:
        yield d


def test_two_replicas_store_each_frame_exactly_once(dsn, tmp_path):
    from polc.cloud.store.postgres import PostgresFrameStore

    a = PostgresFrameStore(tmp_path / "shared", dsn, pool_size=2)
    b = PostgresFrameStore(tmp_path / "shared", dsn, pool_size=2)
    assert a.replica == b.replica  # same process here: the random part keeps files apart
    results: dict[str, list[bool]] = {}

    def write(name, store):
        out = []
        for start in range(0, 200, 20):  # both replicas race on the same 200 frames
            items = [
                (_record("cam-1", s), f"{name}{s}".encode(), None) for s in range(start, start + 20)
            ]
            out += store.put_many(items)
        results[name] = out

    threads = [threading.Thread(target=write, args=(n, s)) for n, s in (("a", a), ("b", b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    both = [x + y for x, y in zip(results["a"], results["b"], strict=True)]
    assert both == [1] * 200  # every frame inserted by exactly one replica
    assert a.stats().frames == b.stats().frames == 200
    for s in (0, 77, 199):  # each replica reads what the other wrote
        data = b.read_base("cam-1", s)
        assert data in (f"a{s}".encode(), f"b{s}".encode()) and a.read_base("cam-1", s) == data
    segs = {p.name for p in (tmp_path / "shared" / "segments").glob("*.seg")}
    assert len(segs) == 2  # one segment file per replica, never shared
    # retention on replica b never deletes a's active segment (unsealed), even when empty
    assert b.enforce_retention(None, 1) == 200
    assert a.segment_log.active_name in {
        p.name for p in (tmp_path / "shared" / "segments").iterdir()
    }
    a.put(_record("cam-1", 500), b"after", None)
    assert b.read_base("cam-1", 500) == b"after"
    a.close()
    b.close()


def test_segments_of_a_dead_replica_are_collected(dsn, tmp_path):
    import time

    from polc.cloud.store.postgres import PostgresFrameStore

    root = tmp_path / "shared"
    dead = PostgresFrameStore(root, dsn, pool_size=2, orphan_grace_seconds=0.6)
    dead.put(_record("cam-1", 0), b"x" * 10, None)
    time.sleep(0.15)  # older than a sixth of the grace period: the next append rotates
    dead.put(_record("cam-1", 1), b"y" * 10, None)
    assert len(list((root / "segments").glob("*.seg"))) == 2
    dead._pool.close()  # "SIGKILL": its active segment is never sealed
    time.sleep(0.7)
    live = PostgresFrameStore(root, dsn, pool_size=2, orphan_grace_seconds=0.6)
    assert live.read_base("cam-1", 1) == b"y" * 10  # referenced: kept although unsealed
    assert live.enforce_retention(None, 1) == 2
    assert list((root / "segments").glob("*.seg")) == []  # sealed + dead unsealed: freed
    live.close()


def test_migrations_are_recorded_and_newer_schema_refused(dsn, tmp_path):
    import psycopg

    from polc.cloud.store.postgres import SCHEMA_VERSION, PostgresFrameStore, apply_migrations

    store = PostgresFrameStore(tmp_path / "s", dsn, pool_size=2)
    store.close()
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert apply_migrations(conn) == 0  # idempotent
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
        assert versions == list(range(1, SCHEMA_VERSION + 1))
        conn.execute("INSERT INTO schema_migrations (version, description) VALUES (999, 'x')")
    with pytest.raises(ConfigError, match="schema version 999"):
        PostgresFrameStore(tmp_path / "s", dsn, pool_size=2)


def test_open_store_and_config_select_the_backend(dsn, tmp_path):
    cfg = load_config(
        None,
        {
            "store.backend": "postgres",
            "store.postgres_dsn": dsn,
            "store.path": str(tmp_path / "blobs"),
        },
    )
    assert dsn not in cfg.model_dump_json()
    store = open_store(
        cfg.store.path,
        backend=cfg.store.backend,
        postgres_dsn=cfg.store.postgres_dsn.get_secret_value(),
    )
    assert type(store).__name__ == "PostgresFrameStore"
    store.close()


def test_config_validation_of_the_backend():
    with pytest.raises(ConfigError, match="needs postgres_dsn"):
        load_config(None, {"store.backend": "postgres"})
    with pytest.raises(ConfigError, match="backend is sqlite"):
        load_config(None, {"store.postgres_dsn": "postgresql://x@y/z"})
    with pytest.raises(ConfigError, match="not a valid connection string"):
        load_config(None, {"store.backend": "postgres", "store.postgres_dsn": "host=a b=="})
    cfg = load_config(
        None, {"store.backend": "postgres", "store.postgres_dsn": "postgresql://u:secret@db/polc"}
    )
    assert "secret" not in cfg.model_dump_json()  # --check never prints the password
    assert load_config(None, {}).store.backend == "sqlite"


def test_unreachable_database_is_a_config_error(tmp_path):
    from polc.cloud.store.postgres import PostgresFrameStore

    with pytest.raises(ConfigError, match="cannot connect"):
        PostgresFrameStore(
            tmp_path, "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1", connect_timeout=1.0
        )


def test_service_on_postgres_stores_and_dedups_across_replicas(
    dsn, tmp_path, small_codec, small_codec_file, frames
):
    """Two in-process replicas on one database + blob directory: a frame resent to the
    other replica (an edge reconnected through the balancer) is acked as a duplicate."""

    from polc.cloud.server_thread import ServerThread

    def replica():
        cfg = make_config(
            tmp_path,
            small_codec_file,
            None,
            **{
                "store.backend": "postgres",
                "store.postgres_dsn": dsn,
                "store.path": str(tmp_path / "blobs"),
            },
        )
        return ServerThread(cfg, small_codec)

    with replica() as a, replica() as b:
        edge = EdgeClient(a.address, "cam-pg")
        assert edge.recv().WhichOneof("kind") == "hello_ack"
        for seq in range(3):
            edge.frame(seq, frames["base"])
        got = edge.collect(3)
        assert [x.duplicate for x in got["ack"]] == [False] * 3
        edge.close()
        edge = EdgeClient(b.address, "cam-pg")
        hello = edge.recv().hello_ack
        assert hello.last_stored_seq == 2
        for seq in (2, 3):
            edge.frame(seq, frames["base"])
        got = edge.collect(2)
        assert [(x.seq, x.duplicate) for x in got["ack"]] == [(2, True), (3, False)]
        edge.close()
        assert [f.seq for f in b.server.store.list_frames("cam-pg")] == [0, 1, 2, 3]
        assert a.server.store.read_base("cam-pg", 3) == frames["base"]
