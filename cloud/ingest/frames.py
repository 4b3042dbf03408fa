"""One frame of an ingest stream, from the reader to its answer: exactly-once storage, the ack
or a typed error, and the store's full / not-full state.

``FrameIntake.on_frame`` is called by the stream's reader (``servicer.py``) for every frame;
the flow is the one drawn in ``servicer.py``'s docstring. A new frame with decoding off goes
straight to the group commit and is answered from its callback; frames to decode and possible
resends take the awaiting path (``_frame`` / ``_store_once``), which waits for a resend racing
its original and looks the frame up in the store.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import time
from collections.abc import Callable

import grpc

from polc.cloud.analysis.backlog import AnalysisBacklog, PendingAnalysis
from polc.cloud.batching import BatcherClosed
from polc.cloud.commit import GroupCommitter
from polc.cloud.config import IngestSettings
from polc.cloud.ingest.decoding import (
    REFERENCE_MISSING,
    DecodeTurn,
    OrderedDecoder,
    frame_record,
)
from polc.cloud.ingest.session import StreamSession
from polc.cloud.ingest.stored_specs import StoredSpecs
from polc.cloud.ingest.validation import FrameRefused, IncomingFrame, parse_frame
from polc.cloud.metrics import CloudMetrics
from polc.cloud.store.interface import FrameRecord, FrameStore, RecordRejected, StoreFull
from polc.v1 import ingest_pb2

log = logging.getLogger(__name__)
Code = grpc.StatusCode

#: what a stored frame's ack says: (duplicate, enhancement stored, analysis to queue or None)
Outcome = tuple[bool, bool, PendingAnalysis | None]


class FrameIntake:
    """Stores each frame of every stream exactly once and queues its answer on the stream."""

    def __init__(
        self,
        *,
        store: FrameStore,
        committer: GroupCommitter,
        decoder: OrderedDecoder | None,
        backlog: AnalysisBacklog | None,
        metrics: CloudMetrics,
        settings: IngestSettings,
        fingerprint: bytes,
        channels: tuple[int, int, int],
        io_executor: concurrent.futures.Executor,
    ):
        """``decoder`` None: frames are stored without decoding or analysis (benchmarks);
        ``backlog``: where stored frames wait for their analysis; ``fingerprint`` and
        ``channels`` (M, N, aux): the codec's."""
        self.store, self.committer = store, committer
        self.decoder, self.backlog = decoder, backlog
        self.metrics, self.settings = metrics, settings
        self.fingerprint = fingerprint
        self.io = io_executor
        # the store's disk is full (frames are refused with store_full until one is stored)
        self.store_full = False
        self.on_store_state: Callable[[bool], None] = lambda full: None
        # highest stored seq per camera seen by this replica: a frame above it cannot be a
        # duplicate, so only resends cost a store lookup (UNIQUE still guards the rest)
        self.max_seq: dict[str, int] = {}
        # frames being processed; a resend of one waits for its future (None until then)
        self._inflight: dict[tuple[str, int], asyncio.Future[bool] | None] = {}
        # decoding off: what compact P-frames inherit from their stored references
        self._specs = StoredSpecs(channels)

    async def _io(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.io, fn, *args)

    def error_message(
        self, camera_id: str, seq: int, exc: FrameRefused, upload: bool = False
    ) -> ingest_pb2.IngestResponse:
        self.metrics.frame_failed(exc.reason)
        return ingest_pb2.IngestResponse(
            error=ingest_pb2.FrameError(
                camera_id=camera_id,
                seq=seq,
                code=exc.code.value[0],
                reason=exc.reason,
                message=exc.message,
                enhancement_upload=upload,
                retryable=exc.retryable,
                key_frame_requested=exc.reason == REFERENCE_MISSING,
            )
        )

    def error(
        self,
        session: StreamSession,
        camera_id: str,
        seq: int,
        exc: FrameRefused,
        upload: bool = False,
    ) -> None:  # (a refused upload)
        session.send(self.error_message(camera_id, seq, exc, upload))

    def on_frame(
        self,
        msg: ingest_pb2.Frame,
        session: StreamSession,
        window: asyncio.Semaphore,
        tasks: set[asyncio.Task],
    ) -> None:
        """One frame. The common case (a new frame, decoding off) costs no task: it is
        parsed here and handed to the group commit, whose callback sends the ack. Frames to
        decode (their decode turn is taken here, in read order) and possible resends take
        the awaiting path, :meth:`_frame`. Either way the frame's window slot is released
        once its ack or error was handed to gRPC (a stream that does not read its answers
        stops getting new frames read); ``tasks`` and ``session.committing`` count what is
        in flight, for the stream's reader to wait for."""
        t0 = time.perf_counter()
        self.metrics.frame_received(len(msg.base_layer), len(msg.enhancement_layer))
        try:
            frame = parse_frame(msg, session.camera_id, self.fingerprint, self.settings)
        except FrameRefused as exc:
            session.outbound.put_nowait(
                (self.error_message(msg.camera_id or session.camera_id, msg.seq, exc), window)
            )
            return
        key = (frame.camera_id, frame.seq)
        awaiting = (
            self.decoder is not None
            or key in self._inflight
            or frame.seq <= self.max_seq.get(frame.camera_id, -1)
        )
        if not awaiting:  # decoding off: a compact P-frame takes its reference's spec
            try:
                awaiting = not self._specs.track(frame.camera_id, frame.seq, frame.container)
            except FrameRefused as exc:
                session.outbound.put_nowait(
                    (self.error_message(frame.camera_id, frame.seq, exc), window)
                )
                return
        if awaiting:
            turn = self.decoder.reserve(frame.camera_id) if self.decoder else None
            task = asyncio.create_task(self._frame(frame, session, window, t0, turn))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            return
        # above the highest stored seq and not in flight: new unless another replica stored
        # it meanwhile, which put_many reports (INSERT ... ON CONFLICT) as not inserted
        self._inflight[key] = None  # a resend arriving meanwhile puts a future here
        session.committing += 1
        record = frame_record(frame)

        def done(result: bool | BaseException) -> None:
            waiter = self._inflight.pop(key, None)
            if isinstance(result, BaseException):
                self._reply(session, window, frame, t0, result)
            else:
                self._reply(session, window, frame, t0, self._stored(frame, record, result))
            if waiter is not None:  # it re-checks the store, whatever happened here
                waiter.set_result(False)
            session.commit_done()

        try:
            self.committer.submit((record, frame.base, frame.enhancement), done)
        except BatcherClosed as exc:
            done(exc)

    async def _frame(
        self,
        frame: IncomingFrame,
        session: StreamSession,
        window: asyncio.Semaphore,
        t0: float,
        turn: DecodeTurn | None,
    ) -> None:
        """A frame that needs awaiting: decoding, or a possible resend."""
        outcome: Outcome | Exception
        try:
            outcome = await self._store_once(frame, session, turn)
        except asyncio.CancelledError:  # no answer: give the slot back
            window.release()
            raise
        except Exception as exc:
            outcome = exc
        finally:
            if turn is not None:
                turn.release()
        self._reply(session, window, frame, t0, outcome)
        if isinstance(outcome, tuple) and outcome[2] is not None and self.backlog is not None:
            session.results_due.add(frame.seq)  # queued after the ack: the result follows it
            self.backlog.add(outcome[2])

    def _reply(
        self,
        session: StreamSession,
        window: asyncio.Semaphore,
        frame: IncomingFrame,
        t0: float,
        outcome: Outcome | BaseException,
    ) -> None:
        """Queue a frame's answer: its ack, or one typed error; it carries the window slot."""
        camera_id, seq = frame.camera_id, frame.seq
        if isinstance(outcome, tuple):
            duplicate, stored_enh, _ = outcome
            ack = ingest_pb2.FrameAck(
                camera_id=camera_id, seq=seq, duplicate=duplicate, enhancement_stored=stored_enh
            )
            self.metrics.ack_latency(time.perf_counter() - t0)
            if session.capabilities.batched_acks:
                session.outbound.put_nowait((ack, window))  # may join an AckBatch
                return
            answer = ingest_pb2.IngestResponse(ack=ack)
        elif isinstance(outcome, FrameRefused):
            answer = self.error_message(camera_id, seq, outcome)
        elif isinstance(outcome, StoreFull | RecordRejected):
            answer = self.error_message(camera_id, seq, self.store_refusal(outcome))
        elif isinstance(outcome, BatcherClosed):
            answer = self.error_message(
                camera_id,
                seq,
                FrameRefused(Code.INTERNAL, "internal", "server shutting down; resend later"),
            )
        else:
            log.error("frame %s/%d failed", camera_id, seq, exc_info=outcome)
            answer = self.error_message(
                camera_id,
                seq,
                FrameRefused(Code.INTERNAL, "internal", f"server error: {outcome}; resend later"),
            )
        session.outbound.put_nowait((answer, window))

    def store_refusal(self, exc: StoreFull | RecordRejected) -> FrameRefused:
        """A typed store failure as the frame's answer (and the store's state)."""
        if isinstance(exc, RecordRejected):
            return FrameRefused(Code.INVALID_ARGUMENT, "out_of_range", str(exc))
        self.store_state(full=True)
        return FrameRefused(
            Code.RESOURCE_EXHAUSTED,
            "store_full",
            f"store full ({exc.strerror or exc}); resend later",
            retryable=True,
        )

    def store_state(self, full: bool) -> None:
        """Record whether the store is full; ``on_store_state`` hears every change."""
        if full != self.store_full:
            self.store_full = full
            self.on_store_state(full)

    def stored_ok(self) -> None:
        """Something was stored: the store is not full (any more)."""
        if self.store_full:
            self.store_state(full=False)

    def _stored(
        self,
        frame: IncomingFrame,
        record: FrameRecord,
        inserted: bool,
        analysis: PendingAnalysis | None = None,
    ) -> Outcome:
        """Bookkeeping once the store said whether the frame was new."""
        self.stored_ok()
        if not inserted:
            self.metrics.frame_duplicate()
            return True, frame.enhancement is not None, None
        self.metrics.frame_stored(record.base_bpp)
        if frame.seq > self.max_seq.get(frame.camera_id, -1):
            self.max_seq[frame.camera_id] = frame.seq
        return False, frame.enhancement is not None, analysis

    async def _bind_stored(self, frame: IncomingFrame) -> None:
        """(decoding off) a compact P-frame inherits its stored reference's spec."""
        container = frame.container
        assert container.reference is not None
        if container.reference.seq < frame.seq:  # (never wait on a later frame: no cycles)
            await self._settled((frame.camera_id, container.reference.seq))
        if self._specs.track(frame.camera_id, frame.seq, container):
            return
        record = await self._io(self.store.get, frame.camera_id, container.reference.seq)
        self._specs.bind_stored(container, record)
        self._specs.remember(frame.camera_id, frame.seq, container)

    async def _settled(self, key: tuple[str, int]) -> None:
        """Wait while the frame ``key`` is being processed (stored or refused): a P-frame
        read right after its reference must not find it "not stored" only because its
        commit is still running."""
        while key in self._inflight:
            running = self._inflight[key]
            if running is None:  # the fast path makes no future unless someone waits
                running = self._inflight[key] = asyncio.get_running_loop().create_future()
            with contextlib.suppress(Exception):
                await asyncio.shield(running)

    async def _store_once(
        self, frame: IncomingFrame, session: StreamSession, turn: DecodeTurn | None
    ) -> Outcome:
        """Decode + store a frame unless already stored (see :data:`Outcome`)."""
        key = (frame.camera_id, frame.seq)
        # the same frame is being processed (e.g. a resend racing a reconnect): wait, then
        # re-check
        await self._settled(key)
        # a point query on the event-loop thread's own WAL read connection (~10 µs, never
        # waits for the writer) is much cheaper than a hop to the I/O pool
        known = self.max_seq.get(frame.camera_id)
        existing = None
        if known is None or frame.seq <= known:
            if self.store.local_reads:
                existing = self.store.get(frame.camera_id, frame.seq)
            else:  # a network store: off the loop, then re-check what started meanwhile
                existing = await self._io(self.store.get, frame.camera_id, frame.seq)
                if existing is None and key in self._inflight:
                    return await self._store_once(frame, session, turn)
        if existing is not None:
            if turn is not None:
                turn.release()  # a duplicate is not decoded again
            self.metrics.frame_duplicate()
            if frame.enhancement and not existing.has_enhancement:
                await self._io(
                    self.store.put_enhancement, frame.camera_id, frame.seq, frame.enhancement
                )
                return True, True, None
            return True, existing.has_enhancement, None
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        analysis = None
        try:
            if self.decoder is not None and turn is not None:  # binds a compact P-frame
                decoded = await self.decoder.decode(
                    turn, frame.container, frame.camera_id, frame.seq
                )
                analysis = PendingAnalysis(frame.camera_id, frame.seq, 0, decoded, session)
            elif not frame.container.is_bound:
                await self._bind_stored(frame)
            record = frame_record(frame, analysis_pending=self.decoder is not None)
            inserted = await self.committer.put((record, frame.base, frame.enhancement))
            fut.set_result(inserted)
        except BaseException as exc:
            if analysis is not None and self.decoder is not None:  # decoded, not stored
                self.decoder.forget(frame.camera_id, frame.seq)
            fut.set_exception(exc if isinstance(exc, Exception) else RuntimeError("cancelled"))
            fut.exception()  # retrieved: waiters re-check the store themselves
            raise
        finally:
            self._inflight.pop(key, None)
        if analysis is not None:
            analysis.stored_us = record.received_time_us
        return self._stored(frame, record, inserted, analysis)
