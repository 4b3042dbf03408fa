"""The edge spool: durable before send, deleted on ack, survives restarts, bounded."""

from __future__ import annotations

from pathlib import Path

import pytest
from disk_support import fill, small_tmpfs

from polc.edge.spool import Spool
from polc.edge.spool_directory import SpoolFullError
from polc.edge.spooled_frame import SpooledFrame
from polc.shared.errors import ConfigError


def _append(spool: Spool, n: int, size: int = 100, keep: bool = False) -> list[int]:
    seqs = []
    for i in range(n):
        f = spool.append(
            1_000 + i,
            0.5,
            bytes([i % 256]) * size,
            keep_enhancement=b"POLE" + bytes(size) if keep else None,
        )
        seqs.append(f.seq)
    return seqs


def test_roundtrip_and_ack(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "cam-1", fsync=False)
    f = spool.append(123, 0.25, b"base", enhancement=b"enh", width=64, height=32)
    assert f.seq == 0
    got = spool.get(0)
    assert got == SpooledFrame("cam-1", 0, 123, 0.25, b"base", b"enh", 64, 32)
    assert spool.pending() == [0] and spool.depth == 1 and spool.bytes > 0
    assert spool.ack(0)
    assert spool.pending() == [] and spool.get(0) is None and spool.bytes == 0
    assert not list((tmp_path / "frames").iterdir())


def test_survives_restart_and_seq_is_monotonic(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "cam-1", fsync=True)
    _append(spool, 5)
    spool.ack(0)
    spool.ack(1)
    spool.refuse(2)
    again = Spool(tmp_path, "cam-1")
    assert again.pending() == [3, 4]
    assert again.get(3).base == bytes([3]) * 100
    again.ack(3)
    again.ack(4)
    # everything acked: the counter still continues after another restart
    third = Spool(tmp_path, "cam-1")
    assert third.pending() == [] and third.next_seq == 5
    assert third.append(0, 0.5, b"x").seq == 5


def test_crash_leftovers_are_cleaned(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "cam-1", fsync=False)
    _append(spool, 2)
    # a write interrupted before its rename, and a state file older than the frames
    (tmp_path / "frames" / f"{2:020d}.frame.tmp").write_bytes(b"partial")
    (tmp_path / "state.json").write_text('{"camera_id": "cam-1", "next_seq": 0}')
    again = Spool(tmp_path, "cam-1")
    assert again.pending() == [0, 1] and again.next_seq == 2
    assert not list((tmp_path / "frames").glob("*.tmp"))
    # a corrupted frame file is dropped, never sent
    (tmp_path / "frames" / f"{0:020d}.frame").write_bytes(b"garbage")
    assert again.get(0) is None and again.pending() == [1] and again.dropped == 1


def test_budget_drops_oldest(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "cam-1", max_bytes=1000, fsync=False)
    _append(spool, 20, size=100)
    assert spool.bytes <= 1000
    assert spool.dropped == 20 - spool.depth
    pending = spool.pending()
    assert pending == list(range(20 - len(pending), 20))  # the newest survive


def test_foreign_camera_refused(tmp_path: Path) -> None:
    Spool(tmp_path, "cam-1", fsync=False)
    with pytest.raises(ConfigError, match="belongs to camera"):
        Spool(tmp_path, "cam-2")


def test_enhancement_window(tmp_path: Path) -> None:
    now = [1000.0]
    spool = Spool(
        tmp_path,
        "cam-1",
        fsync=False,
        enhancement_retention_seconds=10,
        enhancement_max_bytes=1 << 20,
        clock=lambda: now[0],
    )
    _append(spool, 3, keep=True)
    spool.ack(0)  # acked frames keep their layer for the on-demand path
    assert spool.enhancement(0).startswith(b"POLE")
    now[0] += 5
    _append(spool, 1, keep=True)
    now[0] += 6  # the first three are now 11 s old, the fourth 6 s
    assert spool.enhancement(0) is None and spool.enhancement(2) is None
    assert spool.enhancement(3) is not None
    assert Spool(tmp_path, "cam-1", clock=lambda: now[0]).enhancement_count == 1


def test_enhancement_byte_budget(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "cam-1", fsync=False, enhancement_max_bytes=250)
    _append(spool, 5, size=100, keep=True)
    assert spool.enhancement_bytes <= 250
    assert spool.enhancement(4) is not None and spool.enhancement(0) is None


def test_orphan_enhancement_layer_never_claims_a_seq(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "cam-1", fsync=False)
    _append(spool, 2, keep=True)
    spool.ack(0)
    spool.ack(1)
    # a layer whose frame never made it to disk (seq 2 was never handed out)
    (tmp_path / "enhancement" / f"{2:020d}.pole").write_bytes(b"POLE-orphan")
    again = Spool(tmp_path, "cam-1")
    assert again.next_seq == 2 and again.enhancement(2) is None
    assert again.enhancement(1) is not None
    assert again.append(0, 0.5, b"new").seq == 2


def test_full_disk_degrades_and_never_loses_the_counter(tmp_path: Path) -> None:
    """Issue 15 item 4 on a real 512 KiB tmpfs: start-up, appends and acks keep working on
    a full disk, the oldest frames make room (counted), the counter never goes back."""
    with small_tmpfs(tmp_path / "disk") as disk:
        path = disk / "spool"
        _append(Spool(path, "cam-1"), 5, size=3000)
        filler = fill(disk)
        spool = Spool(path, "cam-1")  # start-up on a full disk
        assert spool.pending() == [0, 1, 2, 3, 4] and spool.next_seq == 5
        assert [f.seq for f in (spool.append(0, 0.5, b"n" * 3000) for _ in range(3))] == [5, 6, 7]
        assert spool.dropped_disk_full >= 3 and spool.pending()[-3:] == [5, 6, 7]
        assert spool.get(7).base == b"n" * 3000
        assert not spool.state_saved  # no room for state.json: the counter is in memory
        fill(disk, "filler-2")
        spool.ack(7)  # the newest frame acked while state.json lags: its file stays
        assert Spool(path, "cam-1").next_seq == 8  # a crash now: the counter holds
        for seq in spool.pending():
            spool.ack(seq)  # acks free room: the state is saved, the kept file deleted
        assert spool.state_saved
        again = Spool(path, "cam-1")
        assert again.next_seq == 8 and again.pending() == []
        fill(disk, "filler-3")
        with pytest.raises(SpoolFullError):  # nothing left to drop: this frame is dropped
            again.append(0, 0.5, b"x" * 3000)
        assert again.dropped_disk_full == 1 and again.next_seq == 8
        for f in (filler, disk / "filler-2", disk / "filler-3"):
            f.unlink()
        assert again.append(0, 0.5, b"x").seq == 8
        assert not list(path.rglob("*.tmp"))
