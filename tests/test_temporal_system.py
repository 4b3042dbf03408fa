"""P-frames through the whole system, real servers on loopback: the edge codes key frames
and P-frames, the cloud decodes them in order per camera and stores each once. Every test
checks that every acknowledged frame decodes (from its key frame) to the ŷ symbols the
edge's encoder coded and is stored exactly once: a P-frame stream end to end, a reconnect
mid-GOP (maximum connection age), a cloud restart mid-GOP and a replica change (the
reference rebuilt from the shared store), a P-frame whose reference is missing (typed
refusal, key frame requested, the edge's next frame a key frame), a spool drop (the next
frame a key frame), Reconstruct of a P-frame at β 1 and 0, the intra-only setting, and
retention that deletes whole GOPs only."""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import socket
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
from fixtures.cloud import SHORT_CONNECTION_AGE, make_config
from fixtures.edge import edge_settings
from ingest_client import EdgeClient
from PIL import Image
from temporal_support import clip, decode_stored

from polc.cloud.config import CloudConfig
from polc.cloud.server_thread import ServerThread
from polc.cloud.store import open_store
from polc.cloud.store.interface import FrameRecord
from polc.edge.config import EdgeConfig
from polc.edge.node import EdgeNode, EncodedFrame
from polc.edge.sources import Captured
from polc.shared.codec.runtime import Codec
from polc.v1 import reconstruct_pb2, reconstruct_pb2_grpc

CAMERA = "cam-t"
GOP = 8


def _edge_config(
    tmp_path: Path, address: str, weights: Path, frames: int = 40, fps: float = 40, **temporal
) -> EdgeConfig:
    values = edge_settings(
        tmp_path,
        address,
        weights,
        camera_id=CAMERA,
        alpha=0.5,
        frames=frames,
        fps=fps,
        backoff=(0.1, 0.3),
        encoder={"temporal": {"key_frame_interval": GOP, **temporal}},
    )
    return EdgeConfig.model_validate(values)


class RecordingNode(EdgeNode):
    """An edge node that records the ŷ symbols its encoder coded per seq, and every key
    frame request of the cloud (with the seq the node was about to encode)."""

    def __init__(self, *args, **kwargs):
        self.symbols: dict[int, np.ndarray] = {}
        self.frames: dict[int, EncodedFrame] = {}
        self.requests: list[int] = []
        self.skip_mode: dict[int, bool] = {}
        super().__init__(*args, on_encoded=lambda e: self.frames.__setitem__(e.seq, e), **kwargs)
        encode_frame = self.backend.encoder.encode_frame

        def recording(image, alpha, seq, reference=None, enhancement=False, **mode):
            container, state = encode_frame(image, alpha, seq, reference, enhancement, **mode)
            self.symbols[seq] = state.y_symbols.copy()
            self.skip_mode[seq] = container.skip_mode
            return container, state

        self.backend.encoder.encode_frame = recording

    def request_key_frame(self, seq: int | None = None) -> None:
        self.requests.append(self.spool.next_seq)
        super().request_key_frame(seq)


async def _wait(task: asyncio.Task, until, timeout: float = 60.0) -> None:
    """Wait until ``until()`` holds while the node's ``task`` runs."""
    for _ in range(int(timeout / 0.02)):
        if until():
            return
        assert not task.done(), task.result()
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


def _run(node: EdgeNode, *phases) -> None:
    """Run ``node`` through ``phases``: conditions to wait for, or callables (``run`` on
    a worker thread) returning None, run in order; then stop it."""

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(node.run_async(stop))
        loop = asyncio.get_running_loop()
        for phase in phases:
            if isinstance(phase, Step):
                await loop.run_in_executor(None, phase.run)
            else:
                await _wait(task, phase)
        stop.set()
        await asyncio.wait_for(task, 30)

    asyncio.run(main())


class Step:
    """A phase of :func:`_run` that does something (on a worker thread)."""

    def __init__(self, run):
        self.run = run


def _drained(node: EdgeNode):
    return lambda: node.capture_done.is_set() and node.spool.depth == 0


def _check_store(config, codec, node: RecordingNode, expected: list[int]) -> list[bool]:
    """``expected`` seqs stored once each, each decoding to the edge's ŷ; returns which of
    them are P-frames."""
    store = open_store(
        config.store.path,
        backend=config.store.backend,
        postgres_dsn=config.store.postgres_dsn.get_secret_value()
        if config.store.postgres_dsn
        else None,
        pool_size=1,
    )
    try:
        records = store.list_frames(CAMERA, limit=10_000)
        assert [r.seq for r in records] == expected
        assert store.stats().frames == len(expected)
        references: dict = {}
        p_frames = []
        for seq in expected:
            frame = decode_stored(codec, lambda s: store.read_base(CAMERA, s), seq, references)
            np.testing.assert_array_equal(frame.latent.y_symbols, node.symbols[seq])
            p_frames.append(frame.container.is_p_frame)
        return p_frames
    finally:
        store.close()


def _stream_clip(
    config: CloudConfig, codec: Codec, tmp_path: Path, weights: Path, **temporal
) -> tuple[RecordingNode, float]:
    """Stream the default 40-frame clip to a cloud of ``config`` until drained; the node and
    its acknowledged frame count."""
    cloud = ServerThread(config, codec).start()
    try:
        node = RecordingNode(_edge_config(tmp_path, cloud.address, weights, **temporal))
        _run(node, _drained(node))
        return node, node.metrics.acked._value.get()
    finally:
        cloud.stop()


def test_p_frame_stream_end_to_end(
    tmp_path: Path, small_codec, small_codec_file, store_backend
) -> None:
    config = make_config(tmp_path, small_codec_file, None, **store_backend)
    node, acked = _stream_clip(config, small_codec, tmp_path, small_codec_file)
    assert acked == 40
    p_frames = _check_store(config, small_codec, node, list(range(40)))
    assert p_frames == [seq % GOP != 0 for seq in range(40)]  # a key frame every GOP
    assert node.metrics.key_frames._value.get() == 40 // GOP
    assert all(f.alpha == 0.5 for f in node.frames.values())


def test_skip_mode_p_frames_end_to_end(tmp_path: Path, small_codec, small_codec_file) -> None:
    """encoder.temporal.skip_tau: lossy skip-mode P-frames through edge, wire and store;
    every stored frame decodes to exactly what the edge coded."""
    config = make_config(tmp_path, small_codec_file, None)
    node, acked = _stream_clip(config, small_codec, tmp_path, small_codec_file, skip_tau=1.0)
    assert acked == 40
    p_frames = _check_store(config, small_codec, node, list(range(40)))
    assert p_frames == [seq % GOP != 0 for seq in range(40)]
    assert [node.skip_mode[s] for s in range(40)] == p_frames  # every P-frame in skip mode


def test_reconnect_mid_gop_and_reconstruct_p_frame(
    tmp_path: Path, small_codec, small_codec_file
) -> None:
    """The connection ages out mid-GOP (resend, then P-frames go on); Reconstruct of a
    P-frame at β 1 equals its local decode, β 0 fetches the layer on demand."""
    config = make_config(
        tmp_path,
        small_codec_file,
        None,
        **SHORT_CONNECTION_AGE,
    )
    cloud = ServerThread(config, small_codec).start()

    def reconstruct(seq: int, beta: float) -> reconstruct_pb2.ReconstructResponse:
        with grpc.insecure_channel(cloud.address) as ch:
            return reconstruct_pb2_grpc.ReconstructServiceStub(ch).Reconstruct(
                reconstruct_pb2.ReconstructRequest(camera_id=CAMERA, seq=seq, beta=beta), timeout=30
            )

    try:
        node = RecordingNode(
            _edge_config(tmp_path, cloud.address, small_codec_file, frames=60, fps=20)
        )
        node.config.exit_when_drained = False
        pool = concurrent.futures.ThreadPoolExecutor(1)
        asked: list[concurrent.futures.Future] = []

        def done() -> bool:  # the edge still runs: it answers the enhancement request
            if not asked and _drained(node)():
                asked.append(pool.submit(lambda: (reconstruct(13, 1.0), reconstruct(13, 0.0))))
            return bool(asked) and asked[0].done()

        _run(node, done)
        sessions = node.uplink.sessions
    finally:
        cloud.stop()
    assert sessions >= 2
    _check_store(config, small_codec, node, list(range(60)))
    sharp, full = asked[0].result()
    assert not sharp.enhancement_fetched and full.enhancement_fetched and full.beta == 0.0
    store = open_store(config.store.path)
    try:
        local = small_codec.reconstruct(
            decode_stored(small_codec, lambda s: store.read_base(CAMERA, s), 13), 1.0
        )
    finally:
        store.close()
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(sharp.image))), local)
    assert np.asarray(Image.open(io.BytesIO(full.image))).shape == local.shape


def test_cloud_restart_mid_gop(
    tmp_path: Path, small_codec, small_codec_file, store_backend
) -> None:
    """A restarted cloud holds no reference: it rebuilds it from the store."""
    config = make_config(tmp_path, small_codec_file, None, **store_backend)
    cloud = ServerThread(config, small_codec).start()
    address = cloud.address
    node = RecordingNode(
        _edge_config(tmp_path, address, small_codec_file, frames=40, fps=20, key_frame_interval=20)
    )
    servers = [cloud]

    def restart() -> None:
        servers[0].stop(0.5)  # mid-GOP (frames 5-10 of a 20-frame GOP, at 20 fps)
        servers[0] = ServerThread(
            make_config(tmp_path, small_codec_file, None, listen=address, **store_backend),
            small_codec,
        ).start()

    try:
        _run(node, lambda: node.metrics.acked._value.get() >= 5, Step(restart), _drained(node))
    finally:
        servers[0].stop()
    p_frames = _check_store(config, small_codec, node, list(range(40)))
    # no key frame beyond the interval's: the new server rebuilt the reference, never
    # asked for a key frame
    assert p_frames == [seq % 20 != 0 for seq in range(40)]
    assert node.metrics.dropped.labels("reference_missing")._value.get() == 0


def _p_stream(codec, n: int, alpha: float = 0.5) -> list[bytes]:
    """``n`` frames of a clip: a key frame, then P-frames."""
    out, reference = [], None
    for seq, image in enumerate(clip(n)):
        data, reference = codec.encode_frame(image, alpha, seq, reference)
        out.append(data)
    return out


def test_replica_change_and_reference_missing(
    tmp_path: Path, small_codec, small_codec_file
) -> None:
    """Two replicas on one store: a P-frame whose reference another replica stored is
    rebuilt from the store; one whose reference was never stored is refused (typed, not
    retryable, a key frame requested) and never stored."""
    frames = _p_stream(small_codec, 8)
    first = ServerThread(make_config(tmp_path, small_codec_file, None), small_codec).start()
    second = ServerThread(make_config(tmp_path, small_codec_file, None), small_codec).start()
    try:
        a = EdgeClient(first.address, CAMERA)
        assert a.recv().WhichOneof("kind") == "hello_ack"
        for seq in range(4):
            a.frame(seq, frames[seq])
        assert [x.seq for x in a.collect(4)["ack"]] == [0, 1, 2, 3]
        a.close()
        b = EdgeClient(second.address, CAMERA)
        assert b.recv().WhichOneof("kind") == "hello_ack"
        b.frame(4, frames[4])  # needs frame 3: stored by the first replica
        b.frame(6, frames[6])  # needs frame 5: never sent
        b.frame(7, frames[7])  # needs frame 6: refused, so never stored
        got = b.collect(3)
        b.close()
    finally:
        second.stop()
        first.stop()
    assert [x.seq for x in got["ack"]] == [4]
    errors = got["error"]
    assert [e.seq for e in errors] == [6, 7]
    for e in errors:
        assert e.reason == "reference_missing" and e.key_frame_requested
        assert e.code == grpc.StatusCode.FAILED_PRECONDITION.value[0] and not e.retryable
    store = open_store(tmp_path / "store")
    try:
        assert [r.seq for r in store.list_frames(CAMERA)] == [0, 1, 2, 3, 4]
        assert store.read_base(CAMERA, 4) == frames[4]  # the exact bytes
        decode_stored(small_codec, lambda s: store.read_base(CAMERA, s), 4)
    finally:
        store.close()


def _free_address() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def test_refused_reference_makes_the_edge_send_a_key_frame(
    tmp_path: Path, small_codec, small_codec_file
) -> None:
    """The key frame of a spooled GOP is lost before it was sent: its P-frames are refused
    (``reference_missing``, at most one GOP), and the edge answers with a key frame."""
    address = _free_address()  # the cloud is down at first: the edge spools
    node = RecordingNode(_edge_config(tmp_path, address, small_codec_file, frames=60, fps=20))
    config = make_config(tmp_path, small_codec_file, None, listen=address)
    servers: list[ServerThread] = []

    def lose_key_frame_then_start_cloud() -> None:
        assert node.spool.refuse(0)  # the key frame is lost (as a refusal would)
        servers.append(ServerThread(config, small_codec).start())

    try:
        _run(
            node,
            lambda: node.spool.next_seq >= 3,
            Step(lose_key_frame_then_start_cloud),
            _drained(node),
        )
    finally:
        for server in servers:
            server.stop()
    lost = int(node.metrics.dropped.labels("reference_missing")._value.get())
    assert 1 <= lost <= GOP - 1
    assert node.requests
    request = node.requests[0]  # the next frame encoded after it is a key frame (the one
    # being encoded as the request arrived may still be a P-frame)
    assert any(node.frames[s].key_frame for s in (request, request + 1) if s in node.frames)
    stored = [s for s in range(60) if s >= 1 + lost]
    assert list(range(1, 1 + lost)) == [s for s in range(1, 60) if s not in stored]
    _check_store(config, small_codec, node, stored)


def test_spool_drop_forces_a_key_frame(tmp_path: Path, small_codec_file) -> None:
    """A frame after a spool drop never depends on what was dropped."""
    config = _edge_config(tmp_path, _free_address(), small_codec_file)
    node = RecordingNode(config)
    images = clip(6)
    encoded = [node.encode_one(Captured(images[i], time.time_ns(), i)) for i in range(3)]
    assert [e.key_frame for e in encoded] == [True, False, False]
    node.spool.max_bytes = node.spool.bytes  # the next frame drops the oldest one
    encoded.append(node.encode_one(Captured(images[3], time.time_ns(), 3)))
    assert node.spool.dropped >= 1
    node.spool.max_bytes = 1 << 30
    encoded += [node.encode_one(Captured(images[i], time.time_ns(), i)) for i in (4, 5)]
    assert [e.key_frame for e in encoded[3:]] == [False, True, False]


def test_intra_only_setting(tmp_path: Path, small_codec, small_codec_file) -> None:
    config = make_config(tmp_path, small_codec_file, None)
    cloud = ServerThread(config, small_codec).start()
    try:
        node = RecordingNode(
            _edge_config(tmp_path, cloud.address, small_codec_file, frames=12, enabled=False)
        )
        _run(node, _drained(node))
    finally:
        cloud.stop()
    assert _check_store(config, small_codec, node, list(range(12))) == [False] * 12
    assert node.metrics.key_frames._value.get() == 12


@pytest.mark.parametrize("env", ["false", "0"])
def test_intra_only_from_the_environment(monkeypatch, env: str) -> None:
    monkeypatch.setenv("POLC_EDGE_ENCODER__TEMPORAL__ENABLED", env)
    monkeypatch.setenv("POLC_EDGE_ENCODER__TEMPORAL__KEY_FRAME_INTERVAL", "5")
    config = EdgeConfig()
    assert not config.encoder.temporal.enabled
    assert config.encoder.temporal.key_frame_interval == 5


def test_retention_deletes_whole_gops(make_store, tmp_path: Path, small_codec) -> None:
    """A key frame still needed by kept P-frames is never deleted alone: the P-frames it
    leaves behind go with it, and every kept frame decodes."""
    store = make_store(tmp_path / "store")
    frames, reference = [], None
    for seq, image in enumerate(clip(12)):
        data, reference = small_codec.encode_frame(
            image, 0.5, seq, None if seq % GOP == 0 else reference
        )
        frames.append(data)
    try:
        for seq, data in enumerate(frames):
            store.put(
                FrameRecord(
                    CAMERA,
                    seq,
                    1_700_000_000_000_000 + seq,
                    128,
                    96,
                    0.5,
                    small_codec.fingerprint,
                    len(data),
                ),
                data,
                None,
            )
        total = store.stats().bytes
        # the byte limit alone would delete frame 0 (the key frame) and keep its P-frames
        assert store.enforce_retention(None, total - 1) == GOP
        kept = [r.seq for r in store.list_frames(CAMERA)]
        assert kept == list(range(GOP, 12))
        references: dict = {}
        for seq in kept:
            decode_stored(small_codec, lambda s: store.read_base(CAMERA, s), seq, references)
        assert store.enforce_retention(None, total) == 0  # under the limit: nothing
    finally:
        store.close()


def test_decode_off_stores_compact_p_frames_with_their_references_spec(
    tmp_path: Path, small_codec, small_codec_file
) -> None:
    """Decoding off: a compact P-frame (no size, α or model of its own) is indexed with its
    reference's, from the camera's last stored frame or, on another server, from the
    stored reference; one whose reference is not stored is refused (reference_missing)."""
    blobs, reference = [], None
    for seq, image in enumerate(clip(6)):
        data, reference = small_codec.encode_frame(image, 0.5, seq, reference)
        blobs.append(data)
    cfg = make_config(tmp_path, small_codec_file, None, **{"analyzer.decode": False})
    for sends in ([0, 1, 2], [3, 5, 4]):  # a new server: nothing cached, the store is read
        with ServerThread(cfg, small_codec) as server:
            edge = EdgeClient(server.address, CAMERA)
            assert edge.recv().WhichOneof("kind") == "hello_ack"
            for seq in sends:
                edge.frame(seq, blobs[seq])
            got = edge.collect(3)
            edge.close()
            store = server.server.store
            records = store.list_frames(CAMERA, limit=100)
    assert sorted(a.seq for a in got["ack"]) == [3, 4]
    assert [(e.seq, e.reason) for e in got["error"]] == [(5, "reference_missing")]
    key = records[0]
    assert [r.seq for r in records] == [0, 1, 2, 3, 4]
    for r in records:
        assert (r.width, r.height, r.alpha, r.fingerprint) == (
            key.width,
            key.height,
            key.alpha,
            small_codec.fingerprint,
        )
    assert (key.width, key.height) == clip(1)[0].shape[1::-1]
