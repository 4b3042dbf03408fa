"""Connection lifecycle: maximum connection age (edges reconnect and resume) and graceful
shutdown (in-flight frames are acknowledged, the stream ends with UNAVAILABLE)."""

from __future__ import annotations

import time

import grpc
from fixtures.cloud import make_config
from ingest_client import EdgeClient

from polc.cloud.server_thread import ServerThread


def test_max_connection_age_ends_streams_and_edges_resume(
    tmp_path, small_codec, small_codec_file, frames
):
    cfg = make_config(
        tmp_path,
        small_codec_file,
        None,
        **{
            "connection.max_connection_age_seconds": 0.5,
            "connection.max_connection_age_grace_seconds": 0.5,
        },
    )
    with ServerThread(cfg, small_codec) as server:
        channel = grpc.insecure_channel(server.address)
        edge = EdgeClient(server.address, "cam-age", channel=channel)
        assert edge.recv().HasField("hello_ack")
        edge.frame(0, frames["base"])
        assert edge.collect(1)["ack"][0].seq == 0
        t0 = time.monotonic()
        while edge.recv(timeout=10) is not None:
            pass
        assert time.monotonic() - t0 < 5
        assert edge.status.code() == grpc.StatusCode.UNAVAILABLE
        edge.close()
        # reconnect on the same channel and resume
        edge = EdgeClient(server.address, "cam-age", channel=channel)
        hello = edge.recv()
        assert hello.hello_ack.has_stored and hello.hello_ack.last_stored_seq == 0
        edge.frame(0, frames["base"])
        edge.frame(1, frames["base"])
        acks = {a.seq: a.duplicate for a in edge.collect(2)["ack"]}
        assert acks == {0: True, 1: False}
        edge.close()
        channel.close()


def test_graceful_shutdown_acks_in_flight_frames(tmp_path, small_codec, small_codec_file, frames):
    cfg = make_config(tmp_path, small_codec_file, None)
    server = ServerThread(cfg, small_codec).start()
    try:
        edge = EdgeClient(server.address, "cam-stop")
        assert edge.recv().HasField("hello_ack")
        for seq in range(20):
            edge.frame(seq, frames["base"])
        first = edge.recv()
        assert first.HasField("ack") or first.HasField("result")
    finally:
        server.stop(grace=5)
    acked = {first.ack.seq} if first.HasField("ack") else set()
    while (msg := edge.recv(10)) is not None:
        if msg.HasField("ack"):
            acked.add(msg.ack.seq)
    assert edge.status.code() == grpc.StatusCode.UNAVAILABLE
    edge.close()
    # every acked frame is in the store after the restart
    with ServerThread(cfg, small_codec) as again:
        stored = again.server.store.list_frames("cam-stop", limit=100)
        assert acked and acked <= {r.seq for r in stored}


def test_retention_runs_in_the_server(tmp_path, small_codec, small_codec_file, frames):
    size = len(frames["base"])
    cfg = make_config(
        tmp_path,
        small_codec_file,
        None,
        **{"store.max_bytes": 3 * size, "store.sweep_interval_seconds": 0.1},
    )
    with ServerThread(cfg, small_codec) as server:
        edge = EdgeClient(server.address, "cam-ret")
        assert edge.recv().HasField("hello_ack")
        for seq in range(8):
            edge.frame(seq, frames["base"])
        assert len(edge.collect(8)["ack"]) == 8
        edge.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            kept = [r.seq for r in server.server.store.list_frames("cam-ret")]
            if len(kept) <= 3:
                break
            time.sleep(0.1)
        assert len(kept) == 3 and 7 in kept  # the oldest frames went first
