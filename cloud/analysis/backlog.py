"""The analysis backlog of one replica: which stored frames wait for the analyzer.

The store is the durable queue (every frame is stored with ``analysis_pending`` and this
replica as its owner); this is the bounded in-memory part in front of the analyzer:

    commit ─► add(entry with decoded ŷ) ─► [bounded FIFO] ─► take(n) ─► analyzer
                 │ full (or overflowing)                ▲
                 └─► dropped: stays pending in the store ┴─ refill: the store's pending
                                                            frames of this replica, oldest
                                                            first (claims orphaned ones)

Order per camera: entries leave in the order they came in. Once one commit was dropped,
every later one is dropped too ("overflowing") until a refill has read every pending
frame of this replica from the store — then nothing dropped is left behind and new
commits are queued in memory again. A restart starts overflowing (the store may hold
frames a previous process stored but did not analyse). A refilled entry has no ŷ: the
worker reads and decodes its base layer again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from polc.cloud.store.interface import FrameStore
from polc.shared.codec.runtime import DecodedFrame
from polc.v1 import ingest_pb2


class ResultStream(Protocol):
    """Where a frame's FrameResult goes: the ingest stream that sent it (StreamSession)."""

    closed: bool

    def send(self, msg: ingest_pb2.IngestResponse) -> None: ...

    def result_done(self, seq: int) -> None: ...


@dataclass
class PendingAnalysis:
    """A stored frame waiting for its analysis."""

    camera_id: str
    seq: int
    stored_us: int  # when it was stored (the lag is measured from here)
    decoded: DecodedFrame | None = None  # None: read and decode it from the store
    session: ResultStream | None = None  # the ingest stream that sent it, if known


class AnalysisBacklog:
    """Bounded FIFO of frames to analyse, refilled from the store (module docstring)."""

    def __init__(
        self,
        store: FrameStore,
        io: concurrent.futures.Executor,
        *,
        capacity: int,
        lease_s: float,
        on_depth: Callable[[int], None] = lambda depth: None,
    ):
        self.store, self.io, self.capacity, self.lease_s = store, io, capacity, lease_s
        self.on_depth = on_depth
        self._queue: deque[PendingAnalysis] = deque()
        self._keys: set[tuple[str, int]] = set()  # queued or being analysed
        self.overflowing = True  # until a refill saw the store's whole backlog
        self._dropped = 0  # commits not queued (they wait in the store)
        self._wake = asyncio.Event()
        self.closed = False

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, entry: PendingAnalysis) -> None:
        """A frame was stored: queue it, or leave it to a refill if the queue is full."""
        if (entry.camera_id, entry.seq) in self._keys:
            return  # a refill read it from the store between its commit and now
        if self.overflowing or len(self._queue) >= self.capacity:
            self.overflowing = True
            self._dropped += 1
        else:
            self._queue.append(entry)
            self._keys.add((entry.camera_id, entry.seq))
            self.on_depth(len(self._queue))
        self._wake.set()

    def recheck(self) -> None:
        """Look at the store again (orphaned frames of a dead replica may be claimable)."""
        self.overflowing = True
        self._wake.set()

    def close(self) -> None:
        self.closed = True
        self._wake.set()

    async def take(self, n: int) -> list[PendingAnalysis]:
        """Up to ``n`` frames, oldest first, once there is one; [] when closed."""
        while not self.closed:
            if self.overflowing and len(self._queue) <= self.capacity // 2:
                await self._refill()
            if self._queue:
                batch = [self._queue.popleft() for _ in range(min(n, len(self._queue)))]
                self.on_depth(len(self._queue))
                return batch
            if not self.overflowing and not self.closed:  # close() may have run in _refill
                self._wake.clear()
                await self._wake.wait()
        return []

    def done(self, batch: list[PendingAnalysis]) -> None:
        """The batch's results are written (or were refused): forget its keys."""
        for entry in batch:
            self._keys.discard((entry.camera_id, entry.seq))

    async def _refill(self) -> None:
        """Queue the store's pending frames of this replica that are not queued yet;
        stop overflowing once none is left behind."""
        space = self.capacity - len(self._queue)
        dropped = self._dropped
        limit = space + len(self._keys)  # what is queued / in analysis comes back too
        loop = asyncio.get_running_loop()
        rows = await loop.run_in_executor(self.io, self.store.claim_pending, limit, self.lease_s)
        left_out = False
        for camera_id, seq, stored_us in rows:
            if (camera_id, seq) in self._keys:
                continue
            if len(self._queue) >= self.capacity:
                left_out = True
                break
            self._queue.append(PendingAnalysis(camera_id, seq, stored_us))
            self._keys.add((camera_id, seq))
        self.on_depth(len(self._queue))
        if len(rows) < limit and not left_out and self._dropped == dropped:
            self.overflowing = False  # the store holds nothing that is not queued here
