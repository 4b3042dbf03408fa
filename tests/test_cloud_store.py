"""The frame store: durability across reopen, idempotence, retention, queries. Every test
runs on SQLite and on PostgreSQL (the ``make_store`` fixture, tests/fixtures/store.py)."""

from __future__ import annotations

from polc.cloud.store.interface import FrameRecord


def _record(camera: str, seq: int, capture_us: int = 0) -> FrameRecord:
    return FrameRecord(
        camera,
        seq,
        capture_us or 1_000_000 * (seq + 1),
        96,
        80,
        0.5,
        "ab" * 16,
        0,
        result={"analyzer": "x", "classes": []},
    )


def test_put_is_idempotent_and_survives_reopen(make_store, tmp_path):
    store = make_store(tmp_path / "s")
    assert store.put(_record("cam-1", 0), b"base-0", None) is True
    assert store.put(_record("cam-1", 1), b"base-1", b"enh-1") is True
    assert store.put(_record("cam-1", 1), b"other", b"other") is False  # exactly once
    assert store.put(_record("cam:2", 1), b"base-2", None) is True  # same seq, other camera
    store.close()
    store = make_store(tmp_path / "s")  # "restart"
    assert store.read_base("cam-1", 1) == b"base-1"
    assert store.read_enhancement("cam-1", 1) == b"enh-1"
    assert store.read_enhancement("cam-1", 0) is None
    rec = store.get("cam-1", 1)
    assert (
        rec is not None and rec.has_enhancement and rec.result == {"analyzer": "x", "classes": []}
    )
    assert rec.base_bytes == 6 and abs(rec.base_bpp - 6 * 8 / (96 * 80)) < 1e-12
    assert store.get("cam-1", 7) is None and store.get("cam-1", -1) is None
    assert store.last_seq("cam-1") == 1 and store.last_seq("nobody") is None
    assert store.stats().frames == 3
    # no temporary files left behind
    assert not list((tmp_path / "s").rglob("*.part"))
    store.put_enhancement("cam-1", 0, b"late-enh")
    assert store.read_enhancement("cam-1", 0) == b"late-enh"
    assert store.get("cam-1", 0).enhancement_bytes == 8
    store.close()


def test_queries(make_store, tmp_path):
    store = make_store(tmp_path / "s")
    for seq in range(10):
        store.put(_record("cam-1", seq), b"x" * 10, None)
    store.put(_record("cam-0", 3), b"y", None)
    assert [c.camera_id for c in store.list_cameras()] == ["cam-0", "cam-1"]
    cam1 = store.list_cameras()[1]
    assert (cam1.frame_count, cam1.first_seq, cam1.last_seq, cam1.stored_bytes) == (10, 0, 9, 100)
    frames = store.list_frames("cam-1", start_us=3_000_000, end_us=6_000_000)
    assert [f.seq for f in frames] == [2, 3, 4, 5]
    assert [f.seq for f in store.list_frames("cam-1", after_seq=7, limit=5)] == [8, 9]
    assert store.find_at("cam-1", 4_500_000).seq == 3
    assert store.find_at("cam-1", 10) is None
    store.close()


def test_retention_by_age_and_size(make_store, tmp_path):
    store = make_store(tmp_path / "s")
    for seq in range(10):
        store.put(_record("cam-1", seq), b"z" * 100, b"e" * 50 if seq % 2 else None)
    now = store.get("cam-1", 9).received_time_us
    assert store.enforce_retention(3600, None, now=now) == 0
    # everything is older than "now + 2 h - 1 h"
    assert store.enforce_retention(3600, None, now=now + 7_200_000_000) == 10
    assert store.stats().frames == 0
    store.close()  # the active segment is kept while open; a restart sweeps it
    store = make_store(tmp_path / "s")
    assert not list((tmp_path / "s" / "segments").glob("*.seg"))
    for seq in range(10):
        store.put(_record("cam-1", seq), b"z" * 100, None)
    assert store.stats().bytes == 1000
    assert store.enforce_retention(None, 450) == 6  # oldest first
    assert [f.seq for f in store.list_frames("cam-1")] == [6, 7, 8, 9]
    assert store.stats().bytes == 400
    assert [store.read_base("cam-1", s) for s in (6, 9)] == [b"z" * 100] * 2
    store.close()


def test_group_commit_and_orphan_sweep(make_store, tmp_path):
    store = make_store(tmp_path / "s")
    store.put(_record("cam-1", 0), b"old", None)
    items = [
        (_record("cam-1", s), f"b{s}".encode(), b"e" if s == 3 else None) for s in (0, 1, 2, 3, 2)
    ]
    assert store.put_many(items) == [False, True, True, True, False]  # stored once
    segs = list((tmp_path / "s" / "segments").glob("*.seg"))
    assert len(segs) == 1  # appended to the active segment
    assert [store.read_base("cam-1", s) for s in range(4)] == [b"old", b"b1", b"b2", b"b3"]
    assert store.read_enhancement("cam-1", 3) == b"e"
    store.close()
    # a crash after the segment rename but before the commit leaves an orphan
    (tmp_path / "s" / "segments" / "0-0-0.seg").write_bytes(b"never committed")
    (tmp_path / "s" / "segments" / "x.seg.part").write_bytes(b"half written")
    store = make_store(tmp_path / "s")
    names = sorted(p.name for p in (tmp_path / "s" / "segments").iterdir())
    assert names == sorted(p.name for p in segs)
    assert store.stats().frames == 4
    store.close()


def test_full_segments_rotate_and_retention_frees_them(make_store, tmp_path, monkeypatch):
    import polc.cloud.store.segment_log as store_mod

    monkeypatch.setattr(store_mod, "SEGMENT_BYTES", 250)
    store = make_store(tmp_path / "s")
    for seq in range(10):
        store.put(_record("cam-1", seq), b"q" * 100, None)
    segments = tmp_path / "s" / "segments"
    assert len(list(segments.glob("*.seg"))) == 4  # 3 frames per segment (300 B > 250)
    store.enforce_retention(None, 400)  # keeps seq 6..9
    assert len(list(segments.glob("*.seg"))) == 2  # segments of seq 0-2 and 3-5 deleted
    assert store.read_base("cam-1", 6) == b"q" * 100
    store.close()


def test_failed_append_starts_a_new_segment(make_store, tmp_path, monkeypatch):
    import os

    import pytest

    import polc.cloud.store.segment_log as store_mod

    store = make_store(tmp_path / "s")
    store.put(_record("cam-1", 0), b"a" * 10, None)

    def full(fd):
        raise OSError(28, "No space left on device")

    real = os.fdatasync
    monkeypatch.setattr(store_mod.os, "fdatasync", full)
    with pytest.raises(OSError):
        store.put(_record("cam-1", 1), b"b" * 10, None)
    monkeypatch.setattr(store_mod.os, "fdatasync", real)
    assert store.get("cam-1", 1) is None  # nothing committed, nothing acknowledged
    store.put(_record("cam-1", 1), b"c" * 10, None)
    assert store.read_base("cam-1", 1) == b"c" * 10
    assert store.read_base("cam-1", 0) == b"a" * 10
    store.close()


def test_a_row_the_index_cannot_hold_is_rejected_alone(make_store, tmp_path):
    """A value the index cannot hold is RecordRejected (nothing of its batch committed, the
    store carries on); with the group committer, only the bad row fails. (A full disk is
    StoreFull: test_cloud_faults.py, on a real tmpfs.)"""
    import asyncio

    import pytest

    from polc.cloud.commit import GroupCommitter
    from polc.cloud.store.interface import RecordRejected

    store = make_store(tmp_path / "s")
    bad = _record("cam-1", 1, capture_us=2**63)  # what an unchecked caller could send
    with pytest.raises(RecordRejected):
        store.put_many([(_record("cam-1", 0), b"a", None), (bad, b"b", None)])
    assert store.get("cam-1", 0) is None  # the whole batch rolled back
    with pytest.raises(RecordRejected):
        store.put(_record("cam-1", -1), b"x", None)

    async def commit_all():
        committer = GroupCommitter(store.put_many)
        futures = [
            asyncio.ensure_future(committer.put(item))
            for item in (
                (_record("cam-1", 0), b"a", None),
                (bad, b"b", None),
                (_record("cam-2", 0), b"c", None),
            )
        ]
        results = await asyncio.gather(*futures, return_exceptions=True)
        await committer.close()
        return results

    ok0, rejected, ok2 = asyncio.run(commit_all())
    assert ok0 is True and ok2 is True and isinstance(rejected, RecordRejected)
    assert store.read_base("cam-1", 0) == b"a" and store.read_base("cam-2", 0) == b"c"
    store.close()
