"""Issue 15, cloud items: one bad input (a value, a stream, a full disk) never hurts anyone
else. Real servers on 127.0.0.1; the full disk is a real tmpfs (root only)."""

from __future__ import annotations

import base64
import time

import grpc
import pytest
from disk_support import fill, small_tmpfs
from fixtures.cloud import make_config
from grpc_health.v1 import health_pb2, health_pb2_grpc
from ingest_client import EdgeClient

from polc.app.cli import main
from polc.cloud.server_thread import ServerThread
from polc.cloud.store.interface import FrameRecord
from polc.v1 import query_pb2, query_pb2_grpc, reconstruct_pb2, reconstruct_pb2_grpc

OK = grpc.StatusCode
FAR_FUTURE = 500_000_000_000  # seconds: after 9999-12-31, still within int64 µs
MAX_TIME = "9999-12-31T23:59:59.999999Z"  # what a clamped stored time reads back as
INGEST = "polc.v1.IngestService"


def _query(address: str) -> query_pb2_grpc.QueryServiceStub:
    return query_pb2_grpc.QueryServiceStub(grpc.insecure_channel(address))


def _health(address: str, service: str = "") -> int:
    with grpc.insecure_channel(address) as ch:
        return (
            health_pb2_grpc.HealthStub(ch)
            .Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            .status
        )


def _failed(server: ServerThread, reason: str) -> float:
    return (
        server.server.metrics.registry.get_sample_value(
            "polc_cloud_frames_failed_total", {"site": "", "reason": reason}
        )
        or 0.0
    )


def test_far_future_capture_time_is_refused_and_old_rows_still_read(cloud, frames, capsys):
    """Item 1: a capture time after 9999 is refused (INVALID_ARGUMENT naming the field, not
    retryable) and never stored; a row an older version stored with one is clamped on
    read, so ListCameras, ListFrames, GetResults, Reconstruct and `polc frames` work."""
    edge = EdgeClient(cloud.address, "cam-far")
    assert edge.recv().HasField("hello_ack")
    edge.frame(0, frames["base"], capture_time=(FAR_FUTURE, 0))
    edge.frame(1, frames["base"], capture_time=(1_700_000_000, 1_000_000_000))  # nanos = 1e9
    edge.frame(2, frames["base"])
    got = edge.collect(3)
    edge.close()
    errors = {e.seq: e for e in got["error"]}
    assert sorted(errors) == [0, 1] and [a.seq for a in got["ack"]] == [2]
    for e in errors.values():
        assert e.code == OK.INVALID_ARGUMENT.value[0] and e.reason == "out_of_range"
        assert "capture_time" in e.message and not e.retryable
    # as an older version stored it (straight into the store, past the service's checks)
    store = cloud.server.store
    record = FrameRecord(
        "cam-far", 7, FAR_FUTURE * 1_000_000, 96, 80, 0.5, cloud.server.codec.fingerprint, 0
    )
    assert store.put(record, frames["base"], None)
    q = _query(cloud.address)
    cams = q.ListCameras(query_pb2.ListCamerasRequest(), timeout=10).cameras
    assert [(c.camera_id, c.frame_count) for c in cams] == [("cam-far", 2)]
    assert cams[0].last_capture_time.ToJsonString() == MAX_TIME
    listed = q.ListFrames(query_pb2.ListFramesRequest(camera_id="cam-far"), timeout=10).frames
    assert [(f.seq, f.capture_time.ToJsonString()) for f in listed] == [
        (2, "2023-11-14T22:13:20.080Z"),
        (7, MAX_TIME),
    ]
    assert (
        q.GetResults(
            query_pb2.GetResultsRequest(camera_id="cam-far", seq=7), timeout=10
        ).frame.capture_time.ToJsonString()
        == MAX_TIME
    )
    with grpc.insecure_channel(cloud.address) as ch:
        image = reconstruct_pb2_grpc.ReconstructServiceStub(ch).Reconstruct(
            reconstruct_pb2.ReconstructRequest(camera_id="cam-far", seq=7), timeout=30
        )
    assert image.width == 96 and image.frame.capture_time.ToJsonString() == MAX_TIME
    capsys.readouterr()
    assert main(["frames", "--server", cloud.address]) == 0
    assert main(["frames", "--server", cloud.address, "--camera", "cam-far"]) == 0
    assert "out of range" not in capsys.readouterr().err


def test_one_cameras_bad_times_do_not_fail_the_shared_group_commit(
    tmp_path, small_codec, small_codec_file, frames, store_backend
):
    """Item 2: frames whose capture time does not fit the store, interleaved with three
    cameras' good frames in the same group commits: every good frame is stored, each bad one
    is refused for good (not retryable)."""
    cfg = make_config(
        tmp_path, small_codec_file, None, **{"analyzer.decode": False}, **store_backend
    )
    with ServerThread(cfg, small_codec) as server:
        edges = [EdgeClient(server.address, f"cam-{i}", batched_acks=True) for i in range(3)]
        for edge in edges:
            assert edge.recv().HasField("hello_ack")
        bad = {0: (2**62, 0), 1: (-(2**63), 0), 2: (-(2**62), 999)}
        for seq in range(60):
            for i, edge in enumerate(edges):
                if i == 0 and seq % 10 in bad:
                    edge.frame(seq, frames["base"], capture_time=bad[seq % 10])
                else:
                    edge.frame(seq, frames["base"])
        got = [edge.collect(60) for edge in edges]
        for edge in edges:
            edge.close()
        bad_seqs = [s for s in range(60) if s % 10 in bad]
        assert sorted(e.seq for e in got[0]["error"]) == bad_seqs
        assert all(
            e.code == OK.INVALID_ARGUMENT.value[0]
            and not e.retryable
            and "capture_time" in e.message
            for e in got[0]["error"]
        )
        assert sorted(a.seq for a in got[0]["ack"]) == sorted(set(range(60)) - set(bad_seqs))
        for other in got[1:]:
            assert not other["error"] and sorted(a.seq for a in other["ack"]) == list(range(60))
        assert _failed(server, "internal") == 0
        store = server.server.store
        assert [len(store.list_frames(f"cam-{i}", limit=100)) for i in range(3)] == [42, 60, 60]


def _rpc_code(call, *args, **kwargs) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as err:
        call(*args, timeout=10, **kwargs)
    return err.value.code(), err.value.details()


def test_out_of_range_query_arguments_are_invalid_argument(cloud, frames):
    """Item 3: out-of-range timestamps, durations, enums and page tokens are refused with
    INVALID_ARGUMENT naming the field, never UNKNOWN / OverflowError or silently accepted."""
    edge = EdgeClient(cloud.address, "cam-q")
    assert edge.recv().HasField("hello_ack")
    edge.frame(0, frames["base"])
    assert edge.collect(1)["ack"]
    edge.close()
    with grpc.insecure_channel(cloud.address) as ch:
        rec = reconstruct_pb2_grpc.ReconstructServiceStub(ch).Reconstruct
        q = query_pb2_grpc.QueryServiceStub(ch)
        cases = []
        for seconds, nanos in (
            (2**62, 0),
            (-(2**63), 0),
            (FAR_FUTURE, 0),
            (0, -1),
            (0, 1_000_000_000),
        ):
            req = reconstruct_pb2.ReconstructRequest(camera_id="cam-q")
            req.capture_time.seconds, req.capture_time.nanos = seconds, nanos
            cases.append((rec, req, "capture_time"))
            for field in ("start_time", "end_time"):
                lf = query_pb2.ListFramesRequest(camera_id="cam-q")
                getattr(lf, field).seconds, getattr(lf, field).nanos = seconds, nanos
                cases.append((q.ListFrames, lf, field))
        for seconds, nanos in ((2**63 - 1, 0), (-5, 0), (1, -1), (1, 1_000_000_000)):
            req = reconstruct_pb2.ReconstructRequest(camera_id="cam-q", seq=0, beta=0.5)
            req.enhancement_wait.seconds, req.enhancement_wait.nanos = seconds, nanos
            cases.append((rec, req, "enhancement_wait"))
        cases.append(
            (rec, reconstruct_pb2.ReconstructRequest(camera_id="cam-q", seq=0, format=99), "format")
        )
        for token in ("v1: 5", "v1:+5", "v1:05", "v1:5\n", "v2:5", "djE6NQ"):  # last: no pad
            token = (
                token if token == "djE6NQ" else base64.urlsafe_b64encode(token.encode()).decode()
            )
            cases.append(
                (
                    q.ListFrames,
                    query_pb2.ListFramesRequest(camera_id="cam-q", page_token=token),
                    "page_token",
                )
            )
        for call, req, field in cases:
            code, details = _rpc_code(call, req)
            assert code == OK.INVALID_ARGUMENT, (field, req, code, details)
            assert field in details, (field, details)
            assert "Overflow" not in details and "int too large" not in details
        # the valid extremes still work
        req = reconstruct_pb2.ReconstructRequest(camera_id="cam-q")
        req.capture_time.FromJsonString("9999-12-31T23:59:59.999999999Z")
        assert rec(req, timeout=30).frame.seq == 0
        lf = query_pb2.ListFramesRequest(camera_id="cam-q")
        lf.start_time.FromJsonString("0001-01-01T00:00:00Z")
        lf.end_time.FromJsonString("9999-12-31T23:59:59.999999999Z")
        assert [f.seq for f in q.ListFrames(lf, timeout=10).frames] == [0]
        token = base64.urlsafe_b64encode(b"v1:0").decode()
        assert not q.ListFrames(
            query_pb2.ListFramesRequest(camera_id="cam-q", page_token=token)
        ).frames
    # the operator commands refuse such values themselves (exit 2, one line)
    for argv in (
        ["frames", "--camera", "cam-q", "--since", "1e20"],
        ["reconstruct", "--camera", "cam-q", "--time=-1e20", "-o", "x.png"],
        ["reconstruct", "--camera", "cam-q", "--seq", "0", "--wait", "1e30", "-o", "x.png"],
    ):
        assert main([*argv, "--server", cloud.address]) == 2, argv


def _secured_config(tmp_path, small_codec_file, **overrides):
    tokens = [
        {"name": "edge", "token": "camera-token-0123456789", "role": "camera", "cameras": ["*"]},
        {"name": "ops", "token": "operator-token-0123456789", "role": "operator"},
    ]
    return make_config(
        tmp_path,
        small_codec_file,
        None,
        **{"auth.tokens": tokens, "ingest.max_streams": 2},
        **overrides,
    )


def test_streams_without_hello_hold_no_ingest_slot(tmp_path, small_codec, small_codec_file, frames):
    """Item 6: with max_streams = 2, two streams that never send a Hello (a camera token and
    an operator token) do not lock a real camera out; the operator's is refused at once."""
    cfg = _secured_config(tmp_path, small_codec_file)
    with ServerThread(cfg, small_codec) as server:
        silent = EdgeClient(server.address, token="camera-token-0123456789", hello=False)
        op = EdgeClient(server.address, token="operator-token-0123456789", hello=False)
        time.sleep(0.5)
        cams = [
            EdgeClient(server.address, f"cam-{i}", token="camera-token-0123456789")
            for i in range(2)
        ]
        for cam in cams:
            assert cam.recv(timeout=10).HasField("hello_ack"), cam.status
            cam.frame(0, frames["base"])
            assert cam.collect(1)["ack"]
        assert op.recv(timeout=10) is None and op.status.code() == OK.PERMISSION_DENIED
        third = EdgeClient(server.address, "cam-3", token="camera-token-0123456789")
        assert third.recv(timeout=10) is None
        assert third.status.code() == OK.RESOURCE_EXHAUSTED  # the limit still holds
        for client in (*cams, third, op):
            client.close()
        silent.half_close()
        assert silent.recv(timeout=10) is None and silent.status is None


def test_a_stream_must_say_hello_in_time(tmp_path, small_codec, small_codec_file, frames):
    """Item 6: a stream without a Hello within ingest.hello_timeout_seconds is closed with
    DEADLINE_EXCEEDED and a reason; one that says Hello in time is served."""
    cfg = _secured_config(tmp_path, small_codec_file, **{"ingest.hello_timeout_seconds": 1.0})
    with ServerThread(cfg, small_codec) as server:
        t0 = time.monotonic()
        silent = [
            EdgeClient(server.address, token="camera-token-0123456789", hello=False)
            for _ in range(3)
        ]
        for stream in silent:
            assert stream.recv(timeout=10) is None
            assert stream.status.code() == OK.DEADLINE_EXCEEDED
            assert "Hello" in stream.status.details()
            stream.close()
        assert time.monotonic() - t0 < 5
        cam = EdgeClient(server.address, "cam-1", token="camera-token-0123456789")
        assert cam.recv(timeout=10).HasField("hello_ack")
        time.sleep(1.5)  # past the Hello deadline: an open stream is not cut
        cam.frame(0, frames["base"])
        assert cam.collect(1)["ack"]
        cam.close()
        assert cam.status is None
        reasons = server.server.metrics.registry.get_sample_value(
            "polc_cloud_streams_refused_total", {"site": "", "reason": "hello_timeout"}
        )
        assert reasons == 3


def test_full_store_disk_is_store_full_and_recovers(
    tmp_path, small_codec, small_codec_file, frames, store_backend
):
    """Item 7: the store's disk (a real 1 MiB tmpfs) fills up. Frames are refused with
    RESOURCE_EXHAUSTED "store_full", retryable, with no misleading message; the ingest
    health goes NOT_SERVING; once space returns the very next frame is stored and the
    health is SERVING again; nothing is stored twice."""
    with small_tmpfs(tmp_path / "disk", "1m") as disk:
        cfg = make_config(
            tmp_path, small_codec_file, None, **{"store.path": str(disk / "store")}, **store_backend
        )
        with ServerThread(cfg, small_codec) as server:
            edge = EdgeClient(server.address, "cam-full")
            assert edge.recv().HasField("hello_ack")
            edge.frame(0, frames["base"])
            assert [a.seq for a in edge.collect(1)["ack"]] == [0]
            filler = fill(disk)
            refused: list[int] = []
            seq = 1
            while len(refused) < 3 and seq < 400:  # the last partly used pages take a few
                edge.frame(seq, frames["full"])
                got = edge.collect(1)
                for e in got["error"]:
                    assert e.code == OK.RESOURCE_EXHAUSTED.value[0], e
                    assert e.reason == "store_full" and e.retryable, e
                    assert "store full" in e.message, e
                    assert "rollback" not in e.message and "closed file" not in e.message
                    refused.append(e.seq)
                seq += 1
            assert len(refused) == 3, "the full disk never refused a frame"
            assert _health(server.address, INGEST) == health_pb2.HealthCheckResponse.NOT_SERVING
            assert _health(server.address, "") == health_pb2.HealthCheckResponse.SERVING
            assert _failed(server, "store_full") == 3 and _failed(server, "internal") == 0
            filler.unlink()
            edge.frame(refused[0], frames["full"])  # the first frame after space returns
            assert [(a.seq, a.duplicate) for a in edge.collect(1)["ack"]] == [(refused[0], False)]
            assert _health(server.address, INGEST) == health_pb2.HealthCheckResponse.SERVING
            for s in refused[1:]:
                edge.frame(s, frames["full"])
            assert sorted(a.seq for a in edge.collect(2)["ack"]) == refused[1:]
            edge.close()
            store = server.server.store
            stored = [r.seq for r in store.list_frames("cam-full", limit=1000)]
            assert stored == list(range(seq))
            assert store.read_enhancement("cam-full", refused[-1]) == frames["enh"]
