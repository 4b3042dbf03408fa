"""The analysis worker of one replica: stored frames in, results out, behind the acks.

    AnalysisBacklog.take(max_batch_size) ─► (decode the refilled ones from the store)
        ─► analyzer (one call per batch, own thread) ─► FrameStore.put_results
        (conditional: only frames still pending and still this replica's) ─► FrameResult
        on the camera's open stream, in the order the frames were analysed ─► on_results
        (events, live watchers: polc.cloud.events.live)

A frame's result goes out on the stream only if this replica stored it, so a frame is
analysed (and reported) at most once. Every ``lease_s / 3`` the worker renews the lease of
its pending frames, looks for orphaned ones (their replica died) and updates the lag and
queue metrics. The analysis thread runs at a lower CPU priority than the ingest path, so
a saturated analyzer slows the results, not the acks. ``close`` finishes the batch at hand
and releases the leases, so another replica (or the next start) takes the rest over at
once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Sequence

from polc.cloud.analysis.backlog import AnalysisBacklog, PendingAnalysis, ResultStream
from polc.cloud.analyzer import AnalysisResult, FrameAnalyzer
from polc.cloud.metrics import CloudMetrics
from polc.cloud.proto_mapping import result_message
from polc.cloud.reference_chain import ReferenceChain
from polc.cloud.store.interface import FrameStore, now_us
from polc.shared.codec.container import FrameContainer
from polc.shared.codec.runtime import Codec, DecodedFrame
from polc.v1 import ingest_pb2

log = logging.getLogger(__name__)


def _lower_priority() -> None:
    """(the analysis thread) Yield the CPU to the ingest path: decoding, commits and acks
    come first, the analysis takes what is left (Linux: nice +10 for this thread only)."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


class AnalysisWorker:
    """Runs the analyzer over the backlog (see the module docstring)."""

    def __init__(
        self,
        *,
        codec: Codec,
        analyzer: FrameAnalyzer,
        store: FrameStore,
        backlog: AnalysisBacklog,
        current_stream: Callable[[str], ResultStream | None],
        metrics: CloudMetrics,
        io: concurrent.futures.Executor,
        max_batch_size: int,
        max_queue_delay_s: float = 0.0,
        on_results: Callable[[Sequence[tuple[str, int, AnalysisResult]]], Awaitable[None]]
        | None = None,
    ):
        self.codec, self.analyzer, self.store, self.backlog = codec, analyzer, store, backlog
        self.current_stream, self.metrics, self.io = current_stream, metrics, io
        self.chain = ReferenceChain(codec, store)  # stored P-frames: decoded via their chain
        self.max_batch_size, self.max_queue_delay_s = max_batch_size, max_queue_delay_s
        self.on_results = on_results  # the stored results, for events and watchers
        self._thread = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="analyze", initializer=_lower_priority
        )
        self._tasks: list[asyncio.Task] = []

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._run(), name="analysis"),
            loop.create_task(self._maintain(), name="analysis-leases"),
        ]

    async def close(self) -> None:
        """Finish the batch at hand, then let others take the backlog over."""
        self.backlog.close()
        run, maintain = self._tasks or (None, None)
        if maintain is not None:
            maintain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await maintain
        if run is not None:
            await run
        self._thread.shutdown(wait=True)
        try:
            self.store.release_leases()
        except Exception:  # they expire by themselves
            log.exception("releasing the analysis leases failed")

    # -- the loop ---------------------------------------------------------------------------
    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self.backlog.take(self.max_batch_size)
            if not batch:
                return
            if len(batch) < self.max_batch_size and self.max_queue_delay_s > 0:
                await asyncio.sleep(self.max_queue_delay_s)  # let a batch fill
                batch += await self._more(self.max_batch_size - len(batch))
            try:
                t0 = time.perf_counter()
                results = await loop.run_in_executor(self._thread, self._analyze, batch)
                self.metrics.batch(len(batch), time.perf_counter() - t0)
                stored = await loop.run_in_executor(
                    self.io,
                    self.store.put_results,
                    [
                        (e.camera_id, e.seq, r.to_dict() if r.analyzer else None)
                        for e, r in zip(batch, results, strict=True)
                    ],
                )
            except Exception:  # e.g. the store is down: the frames stay pending
                log.exception("analysis of %d frames failed; retrying from the store", len(batch))
                self.backlog.done(batch)
                await asyncio.sleep(1.0)
                self.backlog.recheck()
                continue
            self.backlog.done(batch)
            for entry, result, ok in zip(batch, results, stored, strict=True):
                if ok:
                    self.metrics.frame_analyzed()
                    self._deliver(entry, result)
                else:  # analysed already, or taken over by another replica
                    self.metrics.analysis_skipped()
                    if entry.session is not None:
                        entry.session.result_done(entry.seq)  # nothing to wait for
            fresh = [
                (e.camera_id, e.seq, r)
                for e, r, ok in zip(batch, results, stored, strict=True)
                if ok and r.analyzer
            ]
            if fresh and self.on_results is not None:
                await self.on_results(fresh)

    async def _more(self, n: int) -> list[PendingAnalysis]:
        if n <= 0 or not len(self.backlog):
            return []
        return await self.backlog.take(n)

    def _analyze(self, batch: list[PendingAnalysis]) -> list[AnalysisResult]:
        """(analysis thread) decode the refilled frames, one analyzer call for the batch."""
        decoded: list[DecodedFrame] = []
        slots: list[int] = []
        for i, entry in enumerate(batch):
            frame = entry.decoded
            entry.decoded = None  # release ŷ with the batch
            if frame is None:
                try:
                    frame = self._decode_stored(entry)
                except Exception:  # it decoded when it was stored: a lost layer file?
                    log.exception(
                        "stored frame %s/%d does not decode; stored without a result",
                        entry.camera_id,
                        entry.seq,
                    )
                    continue
            decoded.append(frame)
            slots.append(i)
        results = [AnalysisResult() for _ in batch]
        if decoded:
            t0 = time.perf_counter()
            for slot, result in zip(slots, self.analyzer.analyze(decoded), strict=True):
                results[slot] = result
            self.metrics.inference_time(time.perf_counter() - t0)
        return results

    def _decode_stored(self, entry: PendingAnalysis) -> DecodedFrame:
        t0 = time.perf_counter()
        base = self.store.read_base(entry.camera_id, entry.seq)
        frame = self.chain.decode(entry.camera_id, entry.seq, FrameContainer.from_bytes(base))
        self.metrics.decode_time(time.perf_counter() - t0)
        return frame

    def _deliver(self, entry: PendingAnalysis, result: AnalysisResult) -> None:
        """FrameResult on the stream that sent the frame (after its FrameAck), or on the
        camera's current stream; none open: it stays queryable (GetResults)."""
        current = self.current_stream(entry.camera_id)
        for waiting in (entry.session, current):  # a refilled frame's: the current one
            if waiting is not None:
                waiting.result_done(entry.seq)
        session = entry.session
        if session is None or session.closed:
            session = current
        if session is not None:
            session.send(
                ingest_pb2.IngestResponse(result=result_message(entry.camera_id, entry.seq, result))
            )

    # -- leases and metrics -----------------------------------------------------------------
    async def _maintain(self) -> None:
        loop = asyncio.get_running_loop()
        period = max(0.05, self.backlog.lease_s / 3)
        last_renew = time.monotonic()
        while True:
            try:
                count, oldest = await loop.run_in_executor(self.io, self.store.pending_summary)
                self.metrics.analysis_backlog(
                    count, max(0.0, (now_us() - oldest) / 1e6) if oldest else 0.0
                )
                if time.monotonic() - last_renew >= period:
                    last_renew = time.monotonic()
                    await loop.run_in_executor(
                        self.io, self.store.renew_leases, self.backlog.lease_s
                    )
                    self.backlog.recheck()  # orphaned frames of a dead replica?
            except Exception:
                log.exception("analysis backlog upkeep failed")
            await asyncio.sleep(min(1.0, period))
