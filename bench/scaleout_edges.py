"""The edges of the scale-out run: each streams one camera's frames through the balancer and
records what it saw (acks, results, stream failures, reconnect gaps).

``Edge`` (``--client stub``) is a minimal client of the generated `polc.v1` stubs that keeps
every frame until it is acknowledged and resends the unacknowledged ones on a new stream
after an error; ``UplinkEdge`` (``--client uplink``) runs the edge node's own
`polc.edge.uplink.Uplink` over a `polc.edge.spool.Spool` instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from polc.edge.config import UplinkSettings
from polc.edge.spool import Spool
from polc.edge.uplink import Uplink
from polc.v1 import ingest_pb2, ingest_pb2_grpc


@dataclass
class EdgeStats:
    camera: str
    acks: int = 0
    duplicates: int = 0
    results: set[int] = field(default_factory=set)
    errors: int = 0
    sessions: int = 0
    stream_failures: list[str] = field(default_factory=list)
    gaps: list[float] = field(default_factory=list)  # last ack before a failure → next ack
    first_ack_after: list[float] = field(default_factory=list)  # wall time of those acks


class Edge:
    """Keeps every frame until acked; a new stream resends the unacked ones in seq order."""

    def __init__(
        self, address: str, camera: str, frames: list[bytes], n: int, fps: float, window: int
    ):
        self.address, self.camera, self.frames, self.n = address, camera, frames, n
        self.fps, self.window = fps, window
        self.unacked: dict[int, None] = {}  # the "spool": captured, not yet acked (ordered)
        self.captured = 0
        self.stats = EdgeStats(camera)
        self.wake = asyncio.Event()
        self.last_ack = 0.0
        self.failed_at_last_ack: float | None = None

    async def capture(self) -> None:
        period = 1.0 / self.fps if self.fps > 0 else 0.0
        start = time.monotonic()
        for seq in range(self.n):
            if period:
                await asyncio.sleep(max(0.0, start + seq * period - time.monotonic()))
            self.unacked[seq] = None
            self.captured += 1
            self.wake.set()
            if not period and len(self.unacked) > 4 * self.window:
                while len(self.unacked) > 2 * self.window:  # unpaced: stay ahead, bounded
                    self.wake.clear()
                    await self.wake.wait()

    async def run(self, deadline: float) -> None:
        capture = asyncio.create_task(self.capture())
        async with grpc.aio.insecure_channel(self.address) as channel:
            stub = ingest_pb2_grpc.IngestServiceStub(channel)
            while self.captured < self.n or self.unacked:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self.camera}: {len(self.unacked)} frames unacked")
                try:
                    await self._session(stub)
                    if not (self.captured < self.n or self.unacked):
                        break
                    failure = "ended"  # the server closed the stream cleanly
                except grpc.aio.AioRpcError as exc:
                    failure = exc.code().name
                self.stats.stream_failures.append(failure)
                if self.failed_at_last_ack is None:
                    self.failed_at_last_ack = self.last_ack
                await asyncio.sleep(0.1)  # then reconnect through the balancer
        await capture

    async def _session(self, stub) -> None:
        self.stats.sessions += 1
        call = stub.Ingest()
        await call.write(
            ingest_pb2.IngestRequest(
                hello=ingest_pb2.Hello(camera_id=self.camera, edge_id=f"bench-{self.camera}")
            )
        )
        first = await call.read()
        if first is grpc.aio.EOF or first.WhichOneof("kind") != "hello_ack":
            raise RuntimeError(f"{self.camera}: no HelloAck")
        window = min(self.window, first.hello_ack.window or self.window)
        inflight: set[int] = set()
        sent: set[int] = set()
        retry: deque[int] = deque()

        async def reader() -> None:
            while (msg := await call.read()) is not grpc.aio.EOF:
                kind = msg.WhichOneof("kind")
                if kind == "ack":
                    seq = msg.ack.seq
                    now = time.monotonic()
                    if self.failed_at_last_ack is not None:
                        self.stats.gaps.append(now - self.failed_at_last_ack)
                        self.stats.first_ack_after.append(time.time())
                        self.failed_at_last_ack = None
                    self.last_ack = now
                    self.stats.acks += 1
                    self.stats.duplicates += msg.ack.duplicate
                    self.unacked.pop(seq, None)
                    inflight.discard(seq)
                elif kind == "result":
                    self.stats.results.add(msg.result.seq)
                elif kind == "error":
                    self.stats.errors += 1
                    inflight.discard(msg.error.seq)
                    if msg.error.retryable:
                        retry.append(msg.error.seq)
                    else:  # not expected here: count it and drop the frame
                        self.unacked.pop(msg.error.seq, None)
                self.wake.set()

        read_task = asyncio.create_task(reader())
        try:
            while self.captured < self.n or self.unacked:
                if read_task.done():
                    break
                todo = [s for s in self.unacked if s not in sent] + list(retry)
                retry.clear()
                if not todo or len(inflight) >= window:
                    self.wake.clear()
                    waiter = asyncio.create_task(self.wake.wait())
                    await asyncio.wait({waiter, read_task}, return_when="FIRST_COMPLETED")
                    waiter.cancel()
                    continue
                for seq in todo[: window - len(inflight)]:
                    frame = ingest_pb2.Frame(
                        camera_id=self.camera,
                        seq=seq,
                        base_layer=self.frames[seq % len(self.frames)],
                    )
                    frame.capture_time.FromMicroseconds(1_700_000_000_000_000 + seq * 40_000)
                    sent.add(seq)
                    inflight.add(seq)
                    try:
                        await call.write(ingest_pb2.IngestRequest(frame=frame))
                    except asyncio.InvalidStateError:  # the call ended: the reader has why
                        break
            if not read_task.done():
                with contextlib.suppress(asyncio.InvalidStateError):
                    await call.done_writing()
            await read_task  # raises AioRpcError when the stream failed
        finally:
            if not read_task.done():
                read_task.cancel()
                call.cancel()


class UplinkEdge:
    """The project's edge uplink (`polc.edge.uplink.Uplink` over a `polc.edge.spool.Spool`)
    instead of the minimal client: what a real edge node does, minus capture and encoding."""

    def __init__(
        self,
        address: str,
        camera: str,
        frames: list[bytes],
        n: int,
        fps: float,
        window: int,
        spool_dir: Path,
    ):
        self.camera, self.frames, self.n, self.fps, self.window = camera, frames, n, fps, window
        self.spool = Spool(spool_dir / camera, camera, fsync=False)
        settings = UplinkSettings(
            server=address, max_window=window, backoff_initial_seconds=0.1, backoff_max_seconds=1.0
        )
        self.uplink = Uplink(
            settings,
            self.spool,
            edge_id=f"bench-{camera}",
            on_ack=self._on_ack,
            on_result=self._on_result,
        )
        self.stats = EdgeStats(camera)
        self.captured = 0
        self.last_ack = 0.0
        self._sessions_seen = 0.0

    def _on_ack(self, info) -> None:
        now = time.monotonic()
        sessions = self.uplink.metrics.reconnects._value.get()
        if self._sessions_seen and sessions > self._sessions_seen:  # first ack after a reconnect
            self.stats.gaps.append(now - self.last_ack)
            self.stats.first_ack_after.append(time.time())
            self.stats.stream_failures.append("reconnect")
        self._sessions_seen = sessions
        self.last_ack = now
        self.stats.acks += 1
        self.stats.duplicates += info.duplicate

    def _on_result(self, result) -> None:
        self.stats.results.add(result.seq)

    async def run(self, deadline: float) -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(self.uplink.run(stop))
        period = 1.0 / self.fps if self.fps > 0 else 0.0
        start = time.monotonic()
        for k in range(self.n):
            if period:
                await asyncio.sleep(max(0.0, start + k * period - time.monotonic()))
            while not period and self.spool.depth > 2 * self.window:
                await asyncio.sleep(0.005)
            seq = self.spool.next_seq
            self.spool.append(time.time_ns(), 0.5, self.frames[seq % len(self.frames)])
            self.captured += 1
        while self.spool.depth and time.monotonic() < deadline and not task.done():
            await asyncio.sleep(0.01)
        stop.set()
        await task
        if self.spool.depth:
            raise TimeoutError(f"{self.camera}: {self.spool.depth} frames unacked")
