"""Cloud defects the wire fuzz (`polc bench fuzz-wire`) found, each pinned by one direct
regression test through the fuzz's own client path: values the ingest accepted or a query
took that the store or the Timestamp mapping could not hold (fixed by the cloud's field
checks, issue 15 items 1-3)."""

from __future__ import annotations

import grpc
import pytest
from ingest_client import EdgeClient

from polc.cloud.server_thread import ServerThread
from polc.v1 import (
    ingest_pb2,
    query_pb2,
    query_pb2_grpc,
    reconstruct_pb2,
    reconstruct_pb2_grpc,
)

OUT_OF_RANGE_SECONDS = 2**62  # a valid int64, far outside Timestamp's range and SQLite's µs


def _frame_at(camera: str, seq: int, base: bytes, seconds: int) -> ingest_pb2.Frame:
    frame = ingest_pb2.Frame(camera_id=camera, seq=seq, base_layer=base)
    frame.capture_time.seconds = seconds
    return frame


def test_out_of_range_capture_time_refused_alone(
    cloud: ServerThread, frames: dict[str, bytes]
) -> None:
    bad, good = EdgeClient(cloud.address, "cam-bad"), EdgeClient(cloud.address, "cam-good")
    assert bad.recv(30).HasField("hello_ack") and good.recv(30).HasField("hello_ack")
    for seq in range(3):
        good.frame(seq, frames["base"])
    bad.send(frame=_frame_at("cam-bad", 0, frames["base"], OUT_OF_RANGE_SECONDS))
    for seq in range(3, 6):
        good.frame(seq, frames["base"])
    refused = bad.collect(1, timeout=30)["error"]
    got = good.collect(6, timeout=30)
    bad.close()
    good.close()
    assert [(e.code, e.retryable) for e in refused] == [
        (grpc.StatusCode.INVALID_ARGUMENT.value[0], False)
    ]
    assert not got["error"], [e.message for e in got["error"]]


@pytest.mark.parametrize("call", ["Reconstruct", "ListFrames"])
def test_huge_times_in_queries_are_typed(
    cloud: ServerThread, frames: dict[str, bytes], call: str
) -> None:
    edge = EdgeClient(cloud.address, "cam-1")  # a camera with a stored frame
    assert edge.recv(30).HasField("hello_ack")
    edge.frame(0, frames["base"])
    assert edge.collect(1, timeout=30)["ack"]
    edge.close()
    with grpc.insecure_channel(cloud.address) as ch:
        with pytest.raises(grpc.RpcError) as info:
            if call == "Reconstruct":
                request = reconstruct_pb2.ReconstructRequest(camera_id="cam-1")
                request.capture_time.seconds = 2**63 - 1
                reconstruct_pb2_grpc.ReconstructServiceStub(ch).Reconstruct(request, timeout=10)
            else:
                request = query_pb2.ListFramesRequest(camera_id="cam-1")
                request.start_time.seconds = 2**63 - 1
                query_pb2_grpc.QueryServiceStub(ch).ListFrames(request, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, info.value.details()


def test_capture_time_past_timestamp_range(cloud: ServerThread, frames: dict[str, bytes]) -> None:
    edge = EdgeClient(cloud.address, "cam-far")
    assert edge.recv(30).HasField("hello_ack")
    edge.send(frame=_frame_at("cam-far", 0, frames["base"], 253402300800))  # 10000-01-01
    edge.collect(1, timeout=30)  # stored, or refused: either way queries must keep working
    edge.close()
    with grpc.insecure_channel(cloud.address) as ch:
        query_pb2_grpc.QueryServiceStub(ch).ListCameras(query_pb2.ListCamerasRequest(), timeout=10)
