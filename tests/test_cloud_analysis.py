"""Acknowledge on durability, analyse behind it: acks do not wait for the analyzer, every
stored frame gets exactly one result (also across a restart mid-backlog and on both store
backends), in order per camera; GetResults says ``pending`` until then; the backlog's
claims and leases between replicas."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import grpc
from fixtures.cloud import make_config
from ingest_client import EdgeClient

from polc.cloud.analysis.backlog import PendingAnalysis
from polc.cloud.analysis.worker import AnalysisWorker
from polc.cloud.analyzer import AnalysisResult
from polc.cloud.server_thread import ServerThread
from polc.cloud.store.interface import FrameRecord
from polc.cloud.store.sqlite import SQLiteFrameStore
from polc.v1 import query_pb2, query_pb2_grpc


class SlowAnalysis:
    """Wraps a worker's batch analysis: records what it analysed, in order; every batch
    first waits ``delay`` seconds and, while ``gate`` is clear, for the gate."""

    def __init__(self, inner, delay: float = 0.0):
        self.inner, self.delay = inner, delay
        self.gate = threading.Event()
        self.gate.set()
        self.seen: list[tuple[str, int]] = []
        self.started = threading.Event()

    def __call__(self, *args) -> list[AnalysisResult]:
        batch: list[PendingAnalysis] = args[-1]
        self.started.set()
        self.gate.wait()
        time.sleep(self.delay)
        self.seen.extend((e.camera_id, e.seq) for e in batch)
        return self.inner(*args)


def _slow(server: ServerThread, delay: float = 0.0) -> SlowAnalysis:
    worker = server.server.analysis
    assert worker is not None
    worker._analyze = SlowAnalysis(worker._analyze, delay)
    return worker._analyze


def _results(address: str, camera: str, seqs) -> list[query_pb2.GetResultsResponse]:
    with grpc.insecure_channel(address) as ch:
        stub = query_pb2_grpc.QueryServiceStub(ch)
        return [
            stub.GetResults(query_pb2.GetResultsRequest(camera_id=camera, seq=s), timeout=10)
            for s in seqs
        ]


def _wait_analysed(address: str, camera: str, seqs, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while any(r.pending for r in _results(address, camera, seqs)):
        assert time.monotonic() < deadline, "frames still pending"
        time.sleep(0.1)


def test_acks_do_not_wait_for_the_analyzer_and_results_follow(
    tmp_path, small_codec, small_codec_file, teacher_file, frames
):
    cfg = make_config(tmp_path, small_codec_file, teacher_file, **{"batching.max_batch_size": 2})
    with ServerThread(cfg, small_codec) as server:
        slow = _slow(server, delay=0.4)  # 2 frames per 0.4 s: 12 frames take ≥ 2.4 s
        edge = EdgeClient(server.address, "cam-1")
        edge.recv()
        t0 = time.monotonic()
        for seq in range(12):
            edge.frame(seq, frames["base"])
        got = edge.collect(12)
        acked = time.monotonic() - t0
        assert not got["error"] and sorted(a.seq for a in got["ack"]) == list(range(12))
        assert acked < 1.5, f"acks waited for the analyzer ({acked:.2f} s)"
        assert len(got["result"]) < 12  # the analysis is behind the acks
        pending = _results(server.address, "cam-1", range(12))
        assert any(r.pending for r in pending)
        assert all(not r.result.classes for r in pending if r.pending)
        rest = edge.close(timeout=30)  # the stream lingers for its results
        results = got["result"] + [m.result for m in rest if m.HasField("result")]
        assert sorted(r.seq for r in results) == list(range(12))  # one each, after its ack
        assert all(r.analyzer == "pixel-teacher" and len(r.classes) == 5 for r in results)
        assert slow.seen == [("cam-1", s) for s in range(12)]  # in order per camera
        done = _results(server.address, "cam-1", range(12))
        assert not any(r.pending for r in done)
        assert all(r.frame.has_result and r.result.classes for r in done)


def test_analysis_in_order_per_camera_across_streams(
    tmp_path, small_codec, small_codec_file, teacher_file, frames
):
    cfg = make_config(
        tmp_path,
        small_codec_file,
        teacher_file,
        **{"batching.max_batch_size": 3, "batching.max_queue_frames": 4},
    )
    with ServerThread(cfg, small_codec) as server:
        slow = _slow(server, delay=0.05)  # the 4-frame queue overflows into the store
        edges = [EdgeClient(server.address, f"cam-{i}") for i in range(3)]
        for edge in edges:
            edge.recv()
        for seq in range(10):
            for edge in edges:
                edge.frame(seq, frames["base"])
        for edge in edges:
            assert not edge.collect(10)["error"]
        for i in range(3):
            _wait_analysed(server.address, f"cam-{i}", range(10))
        for edge in edges:
            edge.close()
        for i in range(3):
            mine = [seq for cam, seq in slow.seen if cam == f"cam-{i}"]
            assert mine == list(range(10))  # each once, in order


def test_backlog_survives_a_crash_and_is_analysed_once(
    tmp_path, small_codec, small_codec_file, teacher_file, frames, store_backend, monkeypatch
):
    cfg = make_config(
        tmp_path, small_codec_file, teacher_file, **{"batching.max_batch_size": 2, **store_backend}
    )
    first = ServerThread(cfg, small_codec).start()
    stuck = _slow(first)
    stuck.gate.clear()  # the analyzer hangs: everything stored stays unanalysed
    try:
        edge = EdgeClient(first.address, "cam-1")
        edge.recv()
        for seq in range(8):
            edge.frame(seq, frames["base"])
        got = edge.collect(8)
        assert not got["error"] and not got["result"]
        assert stuck.started.wait(10)
        edge.channel.close()
        # a crash: the worker never finishes (no result written, no lease released)
        first.server.analysis = None
    finally:
        first.stop(0.5)
    stuck.gate.set()  # the dead replica's batch ends, after its store was closed
    again = SlowAnalysis(AnalysisWorker._analyze)  # from the start of the next server on
    monkeypatch.setattr(AnalysisWorker, "_analyze", lambda worker, batch: again(worker, batch))
    with ServerThread(cfg, small_codec) as second:
        _wait_analysed(second.address, "cam-1", range(8))
        assert again.seen == [("cam-1", s) for s in range(8)]  # each once, in order
        res = _results(second.address, "cam-1", range(8))
        assert all(r.result.analyzer == "pixel-teacher" for r in res)
        assert second.server.store.pending_summary() == (0, None)


def test_analysis_is_claimed_by_one_replica_at_a_time(tmp_path: Path, make_store):
    a = make_store(tmp_path / "a")
    a.replica = "replica-a"
    rec = [
        FrameRecord("cam", s, 1, 64, 64, 1.0, "fp", 0, analysis_pending=s != 3) for s in range(5)
    ]
    assert a.put_many([(r, b"x", None) for r in rec]) == [True] * 5
    assert a.pending_summary()[0] == 4
    assert [s for _, s, _ in a.claim_pending(10, lease_s=30)] == [0, 1, 2, 4]
    assert a.put_results([("cam", 0, {"analyzer": "x"})]) == [True]
    assert a.put_results([("cam", 0, {"analyzer": "again"})]) == [False]  # once
    assert a.get("cam", 0).result == {"analyzer": "x"} and a.get("cam", 2).analysis_pending
    if isinstance(a, SQLiteFrameStore):
        a.close()  # one process owns a SQLite store: the next one takes the backlog over
        a = make_store(tmp_path / "a")
        assert [s for _, s, _ in a.claim_pending(10, lease_s=30)] == [1, 2, 4]
        assert a.put_results([("cam", s, None) for s in (1, 2, 4)]) == [True] * 3
        assert a.pending_summary() == (0, None)
        return
    b = make_store(tmp_path / "b")  # a second replica on the same index
    b.replica = "replica-b"
    assert b.pending_summary() == (0, None)
    assert b.claim_pending(10, lease_s=30) == []  # a's lease holds
    assert b.put_results([("cam", 1, {"analyzer": "b"})]) == [False]  # not b's
    a.release_leases()  # a stops: b takes the rest over at once
    assert [s for _, s, _ in b.claim_pending(10, lease_s=30)] == [1, 2, 4]
    assert a.put_results([("cam", 1, {"analyzer": "late a"})]) == [False]
    assert b.put_results([("cam", s, None) for s in (1, 2, 4)]) == [True] * 3
    assert b.pending_summary() == (0, None) and not a.get("cam", 2).analysis_pending
    a.analysis_lease_s = 0.2  # a dies after storing frame 10: nobody renews its lease
    a.put_many(
        [(FrameRecord("cam", 10, 1, 64, 64, 1.0, "fp", 0, analysis_pending=True), b"x", None)]
    )
    assert b.claim_pending(10, lease_s=30) == []
    time.sleep(0.3)
    assert [s for _, s, _ in b.claim_pending(10, lease_s=30)] == [10]


def test_get_results_pending_then_done(cloud, frames):
    slow = _slow(cloud)
    slow.gate.clear()
    edge = EdgeClient(cloud.address, "cam-9")
    edge.recv()
    edge.frame(0, frames["base"])
    assert edge.collect(1)["ack"]
    (res,) = _results(cloud.address, "cam-9", [0])
    assert res.pending and not res.result.classes and not res.frame.has_result
    slow.gate.set()
    _wait_analysed(cloud.address, "cam-9", [0])
    (res,) = _results(cloud.address, "cam-9", [0])
    assert not res.pending and res.result.analyzer == "pixel-teacher"
    edge.close()
