"""Ingest over real gRPC on loopback: acks, results, exactly-once, per-frame errors."""

from __future__ import annotations

import struct

import grpc
import pytest
from codec_support import fix_payload_crc
from fixtures.cloud import make_config
from fixtures.codec import small_codec_model
from grpc_health.v1 import health_pb2, health_pb2_grpc
from ingest_client import EdgeClient

from polc.cloud.server_thread import ServerThread
from polc.shared.codec.export import export_codec
from polc.shared.codec.runtime import Codec
from polc.shared.data import CLASSES
from polc.v1 import ingest_pb2, ingest_pb2_grpc, query_pb2, query_pb2_grpc

OK = grpc.StatusCode


def _health(address: str) -> int:
    with grpc.insecure_channel(address) as ch:
        return (
            health_pb2_grpc.HealthStub(ch)
            .Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
            .status
        )


def test_round_trip_acks_results_and_exactly_once(cloud, frames):
    edge = EdgeClient(cloud.address, "cam-1")
    hello = edge.recv()
    assert hello.WhichOneof("kind") == "hello_ack"
    assert hello.hello_ack.window >= 1 and not hello.hello_ack.has_stored
    for seq in range(6):
        edge.frame(seq, frames["full"] if seq % 2 else frames["base"])
    got = edge.collect(6)
    assert not got["error"]
    assert sorted(a.seq for a in got["ack"]) == list(range(6))
    assert not any(a.duplicate for a in got["ack"])
    assert {a.seq: a.enhancement_stored for a in got["ack"]} == {s: bool(s % 2) for s in range(6)}
    # resend 2..4 (as after a reconnect): acked again, flagged duplicate, no new results
    for seq in (2, 3, 4):
        edge.frame(seq, frames["base"])
    again = edge.collect(3)
    assert sorted(a.seq for a in again["ack"]) == [2, 3, 4]
    assert all(a.duplicate for a in again["ack"])
    rest = edge.close()
    results = got["result"] + again["result"] + [m.result for m in rest if m.HasField("result")]
    assert sorted(r.seq for r in results) == list(range(6))  # one result per frame
    assert all(len(r.classes) == 5 and r.analyzer == "pixel-teacher" for r in results)
    assert all(r.classes[0].label in CLASSES for r in results)
    assert edge.status is None  # the stream ended cleanly

    with grpc.insecure_channel(cloud.address) as ch:
        q = query_pb2_grpc.QueryServiceStub(ch)
        listed = q.ListFrames(query_pb2.ListFramesRequest(camera_id="cam-1", page_size=4))
        assert [f.seq for f in listed.frames] == [0, 1, 2, 3] and listed.next_page_token
        page2 = q.ListFrames(
            query_pb2.ListFramesRequest(camera_id="cam-1", page_token=listed.next_page_token)
        )
        assert [f.seq for f in page2.frames] == [4, 5] and not page2.next_page_token
        assert page2.frames[1].has_enhancement and not page2.frames[0].has_enhancement
        assert page2.frames[0].width == 96 and page2.frames[0].height == 80
        assert abs(page2.frames[0].alpha - 0.5) < 1e-4
        cams = q.ListCameras(query_pb2.ListCamerasRequest()).cameras
        assert [(c.camera_id, c.frame_count) for c in cams] == [("cam-1", 6)]
        res = q.GetResults(query_pb2.GetResultsRequest(camera_id="cam-1", seq=3))
        assert res.frame.has_result and res.result.classes[0].label in CLASSES
        with pytest.raises(grpc.RpcError) as err:
            q.GetResults(query_pb2.GetResultsRequest(camera_id="cam-1", seq=99))
        assert err.value.code() == OK.NOT_FOUND
    # a new stream learns where the store is
    edge = EdgeClient(cloud.address, "cam-1")
    ack = edge.recv().hello_ack
    assert ack.has_stored and ack.last_stored_seq == 5
    edge.close()


def _other_model_frame(test_image) -> bytes:
    other = Codec(*_build(small_codec_model(seed=5)))
    return other.encode(test_image, 0.5)


def _build(model):
    from polc.shared.codec.weights import build_model

    return build_model(export_codec(model, {}), "cpu")


def _crc_fixed(data: bytes, pos: int, value: bytes) -> bytes:
    buf = bytearray(data)
    buf[pos : pos + len(value)] = value
    fix_payload_crc(buf)
    return bytes(buf)


def test_bad_frames_get_per_frame_errors_and_stream_carries_on(
    tmp_path, small_codec, small_codec_file, teacher_file, frames, test_image
):
    cfg = make_config(
        tmp_path, small_codec_file, teacher_file, **{"ingest.max_frame_bytes": 64 << 10}
    )
    with ServerThread(cfg, small_codec) as server:
        edge = EdgeClient(server.address, "cam-bad")
        assert edge.recv().HasField("hello_ack")
        base = frames["base"]
        # payload scrambled, CRC repaired: passes the CRC, must fail in the entropy decoder
        scrambled = bytearray(base)
        scrambled[80:] = bytes((b * 7 + 3) % 256 for b in scrambled[80:])
        cases = {
            1: (b"garbage" * 30, None, OK.INVALID_ARGUMENT, "malformed"),
            2: (base[: len(base) // 2], None, OK.INVALID_ARGUMENT, "malformed"),
            3: (_other_model_frame(test_image), None, OK.FAILED_PRECONDITION, "fingerprint"),
            4: (b"\0" * (100 << 10), None, OK.RESOURCE_EXHAUSTED, "too_large"),
            5: (_crc_fixed(bytes(scrambled), 0, b"POLC"), None, OK.INVALID_ARGUMENT, "malformed"),
            6: (
                _crc_fixed(base, 26, struct.pack("<HH", 9000, 80)),
                None,
                OK.INVALID_ARGUMENT,
                "malformed",
            ),  # width beyond 8192
            7: (base, frames["enh"][:-3], OK.INVALID_ARGUMENT, "enhancement"),
            8: (frames["plain"], frames["enh"], OK.INVALID_ARGUMENT, "enhancement"),
            9: (b"", None, OK.INVALID_ARGUMENT, "malformed"),
        }
        for seq, (data, enh, _, _) in cases.items():
            edge.frame(seq, data, enh)
        edge.frame(20, base, camera_id="someone-else")
        edge.frame(21, base)  # a good frame after all that
        got = edge.collect(len(cases) + 2)
        errors = {e.seq: e for e in got["error"]}
        for seq, (_, _, code, reason) in cases.items():
            assert seq in errors, f"case {seq} was not refused"
            assert errors[seq].code == code.value[0], (seq, errors[seq])
            assert errors[seq].reason == reason, (seq, errors[seq])
        assert errors[3].message.startswith("frame was encoded by model")
        assert not any(e.retryable for e in got["error"])  # resending cannot help
        assert errors[20].code == OK.PERMISSION_DENIED.value[0]
        assert [a.seq for a in got["ack"]] == [21]
        assert _health(server.address) == health_pb2.HealthCheckResponse.SERVING
        edge.close()
        assert edge.status is None
        # nothing refused was stored
        with grpc.insecure_channel(server.address) as ch:
            listed = query_pb2_grpc.QueryServiceStub(ch).ListFrames(
                query_pb2.ListFramesRequest(camera_id="cam-bad")
            )
            assert [f.seq for f in listed.frames] == [21]


def test_stream_level_refusals(tmp_path, small_codec, small_codec_file, frames):
    cfg = make_config(
        tmp_path,
        small_codec_file,
        None,
        **{
            "ingest.max_streams": 1,
            "ingest.max_frame_bytes": 16 << 10,
            "ingest.max_message_bytes": 64 << 10,
        },
    )
    with ServerThread(cfg, small_codec) as server:
        # wrong model fingerprint in the hello
        edge = EdgeClient(server.address, "cam-a", fingerprint=b"\1" * 16)
        assert edge.recv() is None and edge.status.code() == OK.FAILED_PRECONDITION
        # first message not a hello
        ch = grpc.insecure_channel(server.address)
        call = ingest_pb2.IngestRequest(frame=ingest_pb2.Frame(seq=1, base_layer=b"x"))
        with pytest.raises(grpc.RpcError) as err:
            list(ingest_pb2_grpc.IngestServiceStub(ch).Ingest(iter([call]), timeout=10))
        assert err.value.code() == OK.INVALID_ARGUMENT
        # invalid camera id
        edge = EdgeClient(server.address, "bad camera/id")
        assert edge.recv() is None and edge.status.code() == OK.INVALID_ARGUMENT
        # too many streams
        first = EdgeClient(server.address, "cam-a")
        assert first.recv().HasField("hello_ack")
        second = EdgeClient(server.address, "cam-b")
        assert second.recv() is None and second.status.code() == OK.RESOURCE_EXHAUSTED
        # a message above the transport limit ends the stream with RESOURCE_EXHAUSTED
        first.frame(1, b"\0" * (100 << 10))
        while first.recv() is not None:
            pass
        assert first.status.code() == OK.RESOURCE_EXHAUSTED
        first.close()
        ch.close()
        assert _health(server.address) == health_pb2.HealthCheckResponse.SERVING
        # the slot is free again
        third = EdgeClient(server.address, "cam-c")
        assert third.recv().HasField("hello_ack")
        third.frame(0, frames["base"])
        assert third.collect(1)["ack"][0].seq == 0
        third.close()


def test_fuzzed_frames_over_the_wire(cloud, small_codec, test_image):
    """Mutants of the codec fuzz corpus (random, truncated, flipped with the CRC repaired,
    extreme header fields): each is acked (a mutation that still decodes) or refused with a
    per-frame error; the stream and the server carry on."""
    import numpy as np
    from test_codec_fuzz import _mutants

    seeds = [
        small_codec.encode(test_image, a, enhancement=e) for a, e in ((0.0, False), (0.5, True))
    ]
    mutants = list(_mutants(seeds, 120, np.random.default_rng(7)))
    edge = EdgeClient(cloud.address, "cam-fuzz")
    assert edge.recv().HasField("hello_ack")
    for seq, data in enumerate(mutants):
        edge.frame(seq, data)
    edge.frame(len(mutants), seeds[0])
    got = edge.collect(len(mutants) + 1, timeout=60)
    allowed = {OK.INVALID_ARGUMENT.value[0], OK.FAILED_PRECONDITION.value[0]}
    assert all(e.code in allowed for e in got["error"]), got["error"][:3]
    assert len(got["error"]) > 100
    assert len(mutants) in {a.seq for a in got["ack"]}
    edge.close()
    assert edge.status is None
    assert _health(cloud.address) == health_pb2.HealthCheckResponse.SERVING


def test_concurrent_resend_on_a_second_stream_is_stored_once(cloud, frames):
    """An edge reconnects while its old stream is still being processed: the same frames
    arrive on two streams at once; each (camera, seq) is processed and stored once."""
    a = EdgeClient(cloud.address, "cam-twice")
    b = EdgeClient(cloud.address, "cam-twice")
    assert a.recv().HasField("hello_ack") and b.recv().HasField("hello_ack")
    for seq in range(12):
        a.frame(seq, frames["base"])
        b.frame(seq, frames["base"])
    got_a, got_b = a.collect(12), b.collect(12)
    rest = a.close() + b.close()
    acks = got_a["ack"] + got_b["ack"]
    assert sorted(x.seq for x in acks) == sorted(list(range(12)) * 2)
    fresh = sorted(x.seq for x in acks if not x.duplicate)
    assert fresh == list(range(12))  # exactly one non-duplicate ack per frame
    results = got_a["result"] + got_b["result"] + [m.result for m in rest if m.HasField("result")]
    assert sorted(r.seq for r in results) == list(range(12))  # processed once
    with grpc.insecure_channel(cloud.address) as ch:
        listed = query_pb2_grpc.QueryServiceStub(ch).ListFrames(
            query_pb2.ListFramesRequest(camera_id="cam-twice")
        )
    assert [f.seq for f in listed.frames] == list(range(12))


@pytest.mark.parametrize("batched_acks", [False, True])
def test_decode_off_group_commit_exactly_once(
    tmp_path, small_codec, small_codec_file, frames, batched_acks
):
    """The task-free path (decoding off): new frames go straight to the group commit; a
    resend racing its own first copy, a resend after the ack and a bad frame in between
    are each answered once, and every frame is stored once, without a FrameResult. An edge
    without ``batched_acks`` never gets an AckBatch."""
    cfg = make_config(tmp_path, small_codec_file, None, **{"analyzer.decode": False})
    with ServerThread(cfg, small_codec) as server:
        edge = EdgeClient(server.address, "cam-1", batched_acks=batched_acks)
        assert edge.recv().WhichOneof("kind") == "hello_ack"
        for seq in range(20):
            edge.frame(seq, frames["full"] if seq == 7 else frames["base"])
            if seq == 10:
                edge.frame(10, frames["base"])  # resend while the first copy is in flight
                edge.frame(99, b"garbage")
        got = edge.collect(22)
        assert [(e.seq, e.reason) for e in got["error"]] == [(99, "malformed")]
        acks = sorted((a.seq, a.duplicate) for a in got["ack"])
        assert acks == sorted([(s, False) for s in range(20)] + [(10, True)])
        assert [a.enhancement_stored for a in got["ack"] if a.seq == 7] == [True]
        if not batched_acks:
            assert got["batches"] == []
        edge.frame(3, frames["base"])  # resend after the ack
        again = edge.collect(1)
        assert [(a.seq, a.duplicate) for a in again["ack"]] == [(3, True)]
        rest = edge.close()
        assert not got["result"] and not any(m.HasField("result") for m in rest)
        assert edge.status is None
        store = server.server.store
        assert [r.seq for r in store.list_frames("cam-1", limit=100)] == list(range(20))
        assert store.read_base("cam-1", 7) == frames["base"]
        assert store.read_enhancement("cam-1", 7) == frames["enh"]


def test_acks_ready_together_leave_as_one_batch_in_order():
    """StreamSession.answers: queued bare FrameAcks (one group commit's) become one
    AckBatch; other answers keep their place; every window slot is handed back."""
    import asyncio

    from polc.cloud.ingest.session import StreamSession

    async def run() -> list:
        session = StreamSession(
            "cam-1", ingest_pb2.Capabilities(batched_acks=True), asyncio.Queue()
        )
        error = ingest_pb2.IngestResponse(error=ingest_pb2.FrameError(seq=9))
        for item in [(ingest_pb2.FrameAck(seq=s), f"slot{s}") for s in (0, 1, 2)] + [
            (error, "slot9"),
            (ingest_pb2.FrameAck(seq=3), "slot3"),
            None,
        ]:
            session.outbound.put_nowait(item)
        return [(m.WhichOneof("kind"), m, slots) async for m, slots in session.answers()]

    out = asyncio.run(run())
    assert [kind for kind, _, _ in out] == ["acks", "error", "ack"]
    assert [a.seq for a in out[0][1].acks.acks] == [0, 1, 2]
    assert [slots for _, _, slots in out] == [["slot0", "slot1", "slot2"], ["slot9"], ["slot3"]]
    assert out[2][1].ack.seq == 3
