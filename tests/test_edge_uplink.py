"""The uplink against a fake IngestService: window, acks, outages, max connection age,
refusals, on-demand enhancement, auth. Every test checks the exactly-once property."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from edge_fake_cloud import FakeCloud

from polc.edge.config import UplinkSettings
from polc.edge.spool import Spool
from polc.edge.uplink import Uplink, UplinkFatalError
from polc.edge.uplink_connection import Backoff


def _settings(cloud: FakeCloud, **kw) -> UplinkSettings:
    return UplinkSettings(
        server=cloud.address,
        backoff_initial_seconds=0.05,
        backoff_max_seconds=0.3,
        connect_timeout_seconds=2.0,
        **kw,
    )


async def _drain(
    uplink_task: asyncio.Task,
    spool: Spool,
    stop: asyncio.Event,
    timeout: float = 20.0,
    until=lambda: True,
) -> None:
    """Wait until every frame is acked (and ``until()``), then stop the uplink."""
    deadline = time.monotonic() + timeout
    while (spool.depth or not until()) and time.monotonic() < deadline:
        if uplink_task.done():
            uplink_task.result()
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(uplink_task, 5)
    assert spool.depth == 0, f"{spool.depth} frames never acked"


async def _started(tmp_path: Path, **cloud_options: Any) -> tuple[FakeCloud, Spool]:
    """A started fake cloud (``FakeCloud(**cloud_options)``) and an empty spool of cam-1."""
    cloud = FakeCloud(**cloud_options)
    await cloud.start()
    return cloud, Spool(tmp_path, "cam-1", fsync=False)


def _exactly_once(cloud: FakeCloud, n: int) -> None:
    assert sorted(cloud.stored) == list(range(n))
    assert set(cloud.store_count.values()) == {1}


def test_backoff_grows_with_jitter_and_resets() -> None:
    b = Backoff(0.5, 4.0, 2.0, 0.5, random.Random(1))
    delays = [b.next() for _ in range(6)]
    for i, d in enumerate(delays):
        base = min(4.0, 0.5 * 2**i)
        assert 0.5 * base <= d <= 1.5 * base
    assert len(set(delays)) == 6
    b.reset()
    assert b.next() <= 0.75


def test_stream_respects_window(tmp_path: Path) -> None:
    async def main() -> None:
        cloud, spool = await _started(tmp_path, window=3, ack_delay=0.01)
        for i in range(30):
            spool.append(time.time_ns(), 0.5, b"POLC" + bytes([i]) * 50)
        results, acks = [], []
        stop = asyncio.Event()
        up = Uplink(
            _settings(cloud),
            spool,
            fingerprint=b"f" * 16,
            on_result=results.append,
            on_ack=acks.append,
        )
        task = asyncio.create_task(up.run(stop))
        await _drain(task, spool, stop, until=lambda: len(results) == 30)
        await cloud.stop()
        _exactly_once(cloud, 30)
        assert cloud.max_inflight <= 3
        assert [a.seq for a in acks] == list(range(30))  # in order
        assert len(results) == 30 and results[0].classes[0].label == "car"
        assert cloud.hellos[0].camera_id == "cam-1"
        assert cloud.hellos[0].model_fingerprint == b"f" * 16
        assert up.metrics.acked._value.get() == 30

    asyncio.run(main())


def test_outage_mid_stream_every_frame_exactly_once(tmp_path: Path) -> None:
    """The cloud goes away for a while as frames keep coming, then comes back."""

    async def main() -> None:
        cloud, spool = await _started(tmp_path, window=4)
        n = 60
        done = threading.Event()

        def produce() -> None:
            for i in range(n):
                spool.append(time.time_ns(), 0.5, b"POLC" + i.to_bytes(4, "little"))
                time.sleep(0.03)
            done.set()

        stop = asyncio.Event()
        up = Uplink(_settings(cloud), spool)
        task = asyncio.create_task(up.run(stop))
        threading.Thread(target=produce, daemon=True).start()
        await asyncio.sleep(0.5)
        await cloud.stop()  # outage
        stored_at_outage = len(cloud.stored)
        await asyncio.sleep(1.0)
        assert spool.depth > 0  # frames pile up in the spool meanwhile
        await cloud.start()  # restored, same address
        while not done.is_set():
            await asyncio.sleep(0.05)
        await _drain(task, spool, stop)
        await cloud.stop()
        assert 0 < stored_at_outage < n
        assert up.sessions >= 2
        _exactly_once(cloud, n)

    asyncio.run(main())


def test_max_connection_age_reconnects_and_resends(tmp_path: Path) -> None:
    async def main() -> None:
        cloud, spool = await _started(tmp_path, window=5, ack_delay=0.02, max_frames_per_stream=7)
        for i in range(40):
            spool.append(time.time_ns(), 0.5, b"POLC" + bytes([i]))
        stop = asyncio.Event()
        up = Uplink(_settings(cloud), spool)
        task = asyncio.create_task(up.run(stop))
        await _drain(task, spool, stop)
        await cloud.stop()
        assert cloud.streams >= 5
        assert sum(cloud.received.values()) > 40  # un-acked frames were resent
        _exactly_once(cloud, 40)

    asyncio.run(main())


def test_refused_frame_is_dropped_not_resent(tmp_path: Path) -> None:
    async def main() -> None:
        cloud, spool = await _started(tmp_path, refuse={3}, max_frame_bytes=1000)
        for i in range(7):
            spool.append(time.time_ns(), 0.5, b"POLC" * (500 if i == 6 else 1))
        stop = asyncio.Event()
        up = Uplink(_settings(cloud), spool)
        task = asyncio.create_task(up.run(stop))
        await _drain(task, spool, stop)
        await cloud.stop()
        assert sorted(cloud.stored) == [0, 1, 2, 4, 5]
        assert cloud.received[3] == 1 and 6 not in cloud.received  # too large: never sent
        assert spool.refused == 2
        assert up.metrics.dropped.labels("refused")._value.get() == 1
        assert up.metrics.dropped.labels("too_large")._value.get() == 1

    asyncio.run(main())


def test_enhancement_request_answered_from_spool(tmp_path: Path) -> None:
    async def main() -> None:
        cloud = FakeCloud(enhancement_requests=[1, 2])
        await cloud.start()
        now = [time.time()]
        spool = Spool(
            tmp_path, "cam-1", fsync=False, enhancement_retention_seconds=60, clock=lambda: now[0]
        )
        spool.append(time.time_ns(), 0.5, b"POLC0", keep_enhancement=b"POLE-zero")
        spool.append(time.time_ns(), 0.5, b"POLC1", keep_enhancement=b"POLE-one")
        spool.append(time.time_ns(), 0.5, b"POLC2")  # never coded
        for _ in range(3):
            spool.append(time.time_ns(), 0.5, b"POLC")
        stop = asyncio.Event()
        up = Uplink(
            _settings(cloud), spool, enhancement_on_demand=True, enhancement_retention_seconds=60
        )
        task = asyncio.create_task(up.run(stop))
        await _drain(task, spool, stop, until=lambda: len(cloud.uploads) == 2)
        await cloud.stop()
        assert cloud.uploads[1].enhancement_layer == b"POLE-one"
        assert cloud.uploads[1].request_id == "r1"
        assert cloud.uploads[2].unavailable and "does not hold" in cloud.uploads[2].message
        assert cloud.hellos[0].capabilities.enhancement_on_demand

    asyncio.run(main())


def test_bad_token_is_fatal_and_keeps_spool(tmp_path: Path) -> None:
    async def main() -> None:
        cloud, spool = await _started(tmp_path, token="secret-token-0123456789")
        spool.append(time.time_ns(), 0.5, b"POLC")
        stop = asyncio.Event()
        with pytest.raises(UplinkFatalError, match="UNAUTHENTICATED"):
            await asyncio.wait_for(Uplink(_settings(cloud, token="wrong"), spool).run(stop), 10)
        assert spool.depth == 1
        task = asyncio.create_task(
            Uplink(_settings(cloud, token="secret-token-0123456789"), spool).run(stop)
        )
        await _drain(task, spool, stop)
        await cloud.stop()
        _exactly_once(cloud, 1)

    asyncio.run(main())


def test_hung_cloud_ack_timeout_reconnects(tmp_path: Path) -> None:
    async def main() -> None:
        cloud, spool = await _started(tmp_path, hang_streams=1)
        for _ in range(5):
            spool.append(time.time_ns(), 0.5, b"POLC")
        stop = asyncio.Event()
        up = Uplink(_settings(cloud, ack_timeout_seconds=0.5), spool)
        task = asyncio.create_task(up.run(stop))
        await _drain(task, spool, stop)
        await cloud.stop()
        assert up.sessions == 2 and cloud.received[0] == 2
        _exactly_once(cloud, 5)

    asyncio.run(main())
