"""The edge node end to end against the fake cloud: in-process, killed with -9 and
restarted, and stopped with SIGTERM (subprocesses running `polc edge run`)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from disk_support import fill, small_tmpfs
from edge_fake_cloud import FakeCloud
from fixtures.edge import edge_settings
from temporal_support import decode_stored

from polc.edge.config import load_config
from polc.edge.node import EdgeNode
from polc.edge.spool import Spool
from polc.shared.codec.container import FrameContainer


def _config(tmp_path: Path, cloud: FakeCloud, weights: Path, **source) -> dict:
    source = {"frames": 30, "fps": 50, **source}
    return edge_settings(
        tmp_path,
        cloud.address,
        weights,
        camera_id="cam-7",
        alpha=0.4,
        backoff=(0.05, 0.5),
        fsync=True,
        **source,
    )


def test_node_streams_a_clip_exactly_once(tmp_path: Path, small_codec, small_codec_file) -> None:
    async def main() -> None:
        cloud = FakeCloud(window=4, enhancement_requests=[5])
        await cloud.start()
        data = _config(tmp_path, cloud, small_codec_file, realtime=False)
        config = load_config(None).model_validate({**data, "exit_when_drained": False})
        encoded, results = [], []
        node = EdgeNode(config, on_encoded=encoded.append, on_result=results.append)
        stop = asyncio.Event()
        task = asyncio.create_task(node.run_async(stop))
        for _ in range(1000):  # results trail their acks: wait for them, then stop
            if len(results) == 30 and 5 in cloud.uploads and node.spool.depth == 0:
                break
            assert not task.done(), task.result()
            await asyncio.sleep(0.02)
        stop.set()
        await asyncio.wait_for(task, 30)
        await cloud.stop()
        assert sorted(cloud.stored) == list(range(30))
        assert set(cloud.store_count.values()) == {1}
        assert [e.seq for e in encoded] == list(range(30))
        assert all(e.alpha == 0.4 and e.base_bpp > 0 for e in encoded)
        assert len(results) == 30
        assert node.spool.depth == 0 and node.metrics.acked._value.get() == 30
        assert node.metrics.captured._value.get() == 30
        # the stored base layer decodes, and the on-demand layer came from the spool
        frame = decode_stored(small_codec, cloud.stored.__getitem__, 5)  # a P-frame
        assert frame.container.geometry.width == 128
        layer = cloud.uploads[5].enhancement_layer
        small_codec.attach_enhancement(frame, layer)
        assert small_codec.reconstruct(frame, 0.0).shape == (64, 128, 3)
        assert cloud.enhancement_in_frame == {}
        assert cloud.hellos[0].model_fingerprint == small_codec.wire.fingerprint

    asyncio.run(main())


def test_skip_mode_with_the_motion_gate_streams_frames_that_decode(
    tmp_path: Path, small_codec, small_codec_file
) -> None:
    async def main() -> None:
        cloud = FakeCloud(window=4)
        await cloud.start()
        data = _config(tmp_path, cloud, small_codec_file, realtime=False, frames=24)
        data["encoder"]["temporal"] = {"skip_tau": 0.5, "motion_threshold": 4.0}
        config = load_config(None).model_validate(data)
        node = EdgeNode(config)
        await asyncio.wait_for(node.run_async(asyncio.Event()), 60)  # drains, then exits
        await cloud.stop()
        assert sorted(cloud.stored) == list(range(24))
        assert set(cloud.store_count.values()) == {1}
        references: dict = {}
        skipped = 0
        for seq in range(24):
            frame = decode_stored(small_codec, cloud.stored.__getitem__, seq, references)
            if seq % 20:  # P-frames: skip mode, some positions copied from the reference
                assert frame.container.skip_mode
                skipped += int(frame.latent.skip_flags.sum())
        assert skipped > 0

    asyncio.run(main())


def test_enhancement_always_travels_with_frames(tmp_path: Path, small_codec_file) -> None:
    async def main() -> None:
        cloud = FakeCloud()
        await cloud.start()
        data = _config(tmp_path, cloud, small_codec_file, frames=3, realtime=False)
        data["enhancement"]["mode"] = "always"
        node = EdgeNode(load_config(None).model_validate(data))
        await asyncio.wait_for(node.run_async(), 60)
        await cloud.stop()
        assert sorted(cloud.enhancement_in_frame) == [0, 1, 2]
        assert FrameContainer.from_bytes(cloud.stored[0]).enhancement is None

    asyncio.run(main())


async def _spawn(config_file: Path, config: dict) -> asyncio.subprocess.Process:
    """Write ``config`` to ``config_file`` and start `polc edge run` on it."""
    config_file.write_text(yaml.safe_dump(config))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "polc.app.cli",
        "edge",
        "run",
        "--config",
        str(config_file),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def _wait_stored(cloud: FakeCloud, n: int, proc, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while len(cloud.stored) < n:
        if proc.returncode is not None or time.monotonic() > deadline:
            out = (await proc.stdout.read()).decode()
            raise AssertionError(f"edge exited early or too slow (rc {proc.returncode}):\n{out}")
        await asyncio.sleep(0.02)


def test_edge_killed_mid_stream_then_restarted(tmp_path: Path, small_codec_file) -> None:
    """kill -9 while frames are in flight; after a restart every spooled frame is stored once."""

    async def main() -> None:
        cloud = FakeCloud(window=2, ack_delay=0.15)  # slower than the camera: a backlog
        await cloud.start()
        cfg = tmp_path / "edge.yaml"
        proc = await _spawn(cfg, _config(tmp_path, cloud, small_codec_file, fps=20, frames=40))
        await _wait_stored(cloud, 8, proc)
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        left = Spool(tmp_path / "spool", "cam-7").pending()
        assert left, "nothing was in flight at the kill: the test proves nothing"
        # restart with a short clip: new frames continue the seq counter after the backlog
        proc = await _spawn(cfg, _config(tmp_path, cloud, small_codec_file, fps=20, frames=5))
        out, _ = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode == 0, out.decode()
        await cloud.stop()
        state = json.loads((tmp_path / "spool" / "state.json").read_text())
        assert state["next_seq"] > max(cloud.stored, default=0) >= 8
        expected = set(range(state["next_seq"]))
        assert set(cloud.stored) == expected, (
            f"missing {sorted(expected - set(cloud.stored))}, "
            f"unexpected {sorted(set(cloud.stored) - expected)}"
        )
        assert set(cloud.store_count.values()) == {1}
        assert Spool(tmp_path / "spool", "cam-7").pending() == []

    asyncio.run(main())


def test_sigterm_stops_cleanly_with_the_spool_intact(tmp_path: Path, small_codec_file) -> None:
    async def main() -> None:
        cloud = FakeCloud(window=2, ack_delay=0.2)  # a slow cloud: frames pile up
        await cloud.start()
        cfg = tmp_path / "edge.yaml"
        proc = await _spawn(cfg, _config(tmp_path, cloud, small_codec_file, frames=1000, fps=30))
        await _wait_stored(cloud, 3, proc)
        await asyncio.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, out.decode()
        assert b"SIGTERM" in out
        spool = Spool(tmp_path / "spool", "cam-7")
        pending = spool.pending()
        assert pending and all(spool.get(s) is not None for s in pending)
        assert not set(pending) & set(cloud.stored) - {max(cloud.stored)}
        await cloud.stop()

    asyncio.run(main())


def test_bad_frames_are_counted_not_fatal(tmp_path: Path, small_codec_file, monkeypatch) -> None:
    from polc.edge import node as node_module
    from polc.edge.sources import Captured

    bad = Captured(np.zeros((8, 8), np.uint8), 0, 0)  # not HxWx3: the encoder refuses it
    good = Captured(np.zeros((64, 64, 3), np.uint8), 0, 2)
    node = EdgeNode(
        load_config(None).model_validate(_config(tmp_path, FakeCloud(), small_codec_file))
    )
    monkeypatch.setattr(node_module, "paced", lambda *_: iter([bad, bad, good]))
    node._capture_loop()
    assert node.capture_error is None
    assert node.metrics.dropped.labels("encode_error")._value.get() == 2
    assert node.spool.pending() == [0]
    monkeypatch.setattr(
        node_module, "paced", lambda *_: iter([bad] * node_module.MAX_CONSECUTIVE_FAILURES)
    )
    node._capture_loop()
    assert isinstance(node.capture_error, ValueError)


@pytest.mark.parametrize("failing_error", [(13, "internal"), (8, "store_full")])
def test_frames_failed_internal_are_resent_on_the_same_stream(
    tmp_path: Path, small_codec_file, failing_error
) -> None:
    """Issue 15 item 5: the cloud answers INTERNAL (its disk is full) for a while, then
    recovers without ending the stream. The edge resends on the open stream after a backoff
    and, its source finished, exits once everything is stored. The same for any retryable
    FrameError (the cloud's "store_full" is RESOURCE_EXHAUSTED, retryable)."""

    async def main() -> None:
        cloud = FakeCloud(window=4)
        cloud.failing = True
        cloud.failing_error = failing_error
        await cloud.start()
        data = _config(tmp_path, cloud, small_codec_file, frames=8, realtime=False)
        data["uplink"]["resend_backoff_seconds"] = 0.1
        data["uplink"]["backoff_max_seconds"] = 0.4
        node = EdgeNode(load_config(None).model_validate(data))
        task = asyncio.create_task(node.run_async())
        while not (node.capture_done.is_set() and sum(cloud.failed.values()) >= 8):
            assert not task.done(), task.result()
            await asyncio.sleep(0.02)
        cloud.failing = False  # the cloud's disk was freed; its stream never ended
        await asyncio.wait_for(task, 15)  # exit_when_drained: returns once all are stored
        await cloud.stop()
        assert sorted(cloud.stored) == list(range(8))
        assert set(cloud.store_count.values()) == {1}
        assert cloud.streams == 1 and node.uplink.sessions == 1  # no reconnect needed
        assert node.spool.depth == 0

    asyncio.run(main())


def test_edge_on_a_full_spool_disk_keeps_delivering(tmp_path: Path, small_codec_file) -> None:
    """Issue 15 item 4: 32 frames spooled during an outage, then the spool's disk (a real
    512 KiB tmpfs) is full and the cloud cannot store yet. The edge still starts, keeps
    encoding (the oldest frames make room, counted), delivers the rest once the cloud
    recovers, continues the seq counter and exits once drained."""

    async def main() -> None:
        with small_tmpfs(tmp_path / "disk") as disk:
            backlog = Spool(disk / "spool", "cam-7", fsync=False)
            for i in range(32):
                backlog.append(time.time_ns(), 0.4, b"POLC" + bytes([i]) * 3000)
            fill(disk)
            cloud = FakeCloud(window=4)
            cloud.failing = True  # nothing is acked (nor deleted) while the frames come
            await cloud.start()
            data = _config(tmp_path, cloud, small_codec_file, frames=6, realtime=False)
            data["spool"]["path"] = str(disk / "spool")
            data["uplink"]["resend_backoff_seconds"] = 0.1
            node = EdgeNode(load_config(None).model_validate(data))
            task = asyncio.create_task(node.run_async())
            while not node.capture_done.is_set():
                assert not task.done(), task.result()
                await asyncio.sleep(0.02)
            cloud.failing = False
            await asyncio.wait_for(task, 60)
            await cloud.stop()
            dropped = int(node.metrics.dropped.labels("disk_full")._value.get())
            assert 1 <= dropped <= 6 and node.spool.dropped_disk_full == dropped
            # the oldest frames made room (one already in flight may still be stored); the
            # rest and every new frame (the counter continued at 32) are stored once
            assert set(range(dropped, 38)) <= set(cloud.stored) <= set(range(38))
            assert set(cloud.store_count.values()) == {1}
            assert node.metrics.captured._value.get() == 6 and node.spool.depth == 0

    asyncio.run(main())
