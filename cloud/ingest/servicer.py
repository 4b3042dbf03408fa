"""The ingest stream: hello, frames, acks, results, per-frame errors, enhancement uploads.

An ack means "stored"; the analysis runs behind it (``polc.cloud.analysis``). Per frame
(at most ``window`` in flight per stream):

    Frame ─► checks (camera, seq, size) ─► parse container ─► take a decode turn
          ─► possibly a resend (seq ≤ highest stored, or in flight)? ─► already stored?
                 ─yes─► FrameAck(duplicate)                                (exactly-once)
          ─► decode on: entropy decode, in read order per camera (a frame that does not
             decode is refused and never stored)
          ─► GroupCommitter: FrameStore.put_many, one durable write (segment fsync + one
             index transaction) for every frame ready at that moment ─► FrameAck
          ─► decode on: the frame (with its decoded ŷ) joins the analysis backlog; its
             FrameResult follows on the stream when the analysis finished
    any refusal ─► FrameError(code, reason) and the stream carries on

A new frame with decoding off (the ingest path proper) goes from the reader straight to the
group commit and is acknowledged from its callback, without a task or future of its own:
at thousands of frames per second the event loop, shared with gRPC's own per-message work,
is the bottleneck. Frames to decode and possible resends take a task that awaits.

The reader stops reading while ``window`` frames are in flight, so an edge that ignores the
window is held back by HTTP/2 flow control instead of filling memory. When the edge
half-closes, the stream waits up to ``RESULT_LINGER_S`` for the results of the frames it
stored before it ends (the rest stay queryable with GetResults).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import AsyncIterator

import grpc

from polc.cloud.analysis.backlog import AnalysisBacklog
from polc.cloud.auth import Authenticator
from polc.cloud.commit import GroupCommitter
from polc.cloud.config import IngestSettings
from polc.cloud.ingest.admission import StreamAdmission
from polc.cloud.ingest.decoding import OrderedDecoder
from polc.cloud.ingest.frames import FrameIntake
from polc.cloud.ingest.session import EdgeRegistry, StreamSession
from polc.cloud.ingest.uploads import EnhancementUploads
from polc.cloud.metrics import CloudMetrics
from polc.cloud.store.interface import FrameStore
from polc.shared.codec.runtime import Codec
from polc.v1 import ingest_pb2, ingest_pb2_grpc

log = logging.getLogger(__name__)
Code = grpc.StatusCode

#: how long a half-closed stream waits for the results of the frames it stored
RESULT_LINGER_S = 10.0


class IngestServicer(ingest_pb2_grpc.IngestServiceServicer):
    def __init__(
        self,
        *,
        codec: Codec,
        store: FrameStore,
        committer: GroupCommitter,
        decoder: OrderedDecoder | None,
        backlog: AnalysisBacklog | None,
        auth: Authenticator,
        metrics: CloudMetrics,
        settings: IngestSettings,
        registry: EdgeRegistry,
        server_id: str,
        io_executor: concurrent.futures.Executor,
        codec_executor: concurrent.futures.Executor,
    ):
        """``decoder`` None: frames are stored without decoding or analysis (benchmarks);
        ``backlog``: where stored frames wait for their analysis."""
        self.store = store
        self.metrics, self.settings = metrics, settings
        self.registry, self.server_id = registry, server_id
        self.io = io_executor
        self.fingerprint = codec.wire.fingerprint
        self.open_streams = 0
        self.shutting_down = asyncio.Event()
        self.admission = StreamAdmission(
            auth, metrics, settings, self.fingerprint, self.shutting_down
        )
        self.frames = FrameIntake(
            store=store,
            committer=committer,
            decoder=decoder,
            backlog=backlog,
            metrics=metrics,
            settings=settings,
            fingerprint=self.fingerprint,
            channels=(codec.wire.M, codec.wire.N, codec.wire.aux),
            io_executor=io_executor,
        )
        self.uploads = EnhancementUploads(codec, codec_executor, self.frames)
        self._readers: set[asyncio.Task] = set()

    async def _io(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.io, fn, *args)

    async def accept_enhancement(self, camera_id: str, seq: int, data: bytes) -> None:
        """Validate (decode) an enhancement layer against the stored frame and store it."""
        await self.uploads.accept(camera_id, seq, data)

    # -- the RPC --------------------------------------------------------------------------
    async def Ingest(
        self,
        request_iterator: AsyncIterator[ingest_pb2.IngestRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[ingest_pb2.IngestResponse]:
        """Admission (token, Hello within the timeout, role, model, ``max_streams`` — a slot
        is taken only from a valid Hello of a caller that may ingest that camera), then the
        stream: see the module docstring."""
        admitted = await self.admission.admit(request_iterator, context)
        if admitted is None:
            return
        principal, hello = admitted
        if self.open_streams >= self.settings.max_streams:
            await self.admission.refuse(
                context,
                "too_many_streams",
                Code.RESOURCE_EXHAUSTED,
                f"too many open ingest streams ({self.settings.max_streams})",
            )
        self.open_streams += 1
        self.metrics.streams(+1)
        session: StreamSession | None = None
        reader: asyncio.Task | None = None
        try:
            last = await self._io(self.store.last_seq, hello.camera_id)
            session = StreamSession(hello.camera_id, hello.capabilities, asyncio.Queue())
            self.registry.attach(session)
            log.info(
                "ingest stream open: camera %s (%s, edge %s)",
                hello.camera_id,
                principal.name,
                hello.edge_id or "?",
            )
            yield ingest_pb2.IngestResponse(
                hello_ack=ingest_pb2.HelloAck(
                    window=self.settings.window,
                    model_fingerprint=self.fingerprint,
                    has_stored=last is not None,
                    last_stored_seq=last or 0,
                    max_frame_bytes=self.settings.max_frame_bytes,
                    server_id=self.server_id,
                )
            )
            self.frames.max_seq.setdefault(hello.camera_id, -1 if last is None else last)
            reader = asyncio.create_task(self._read(request_iterator, session))
            self._readers.add(reader)
            reader.add_done_callback(self._readers.discard)
            async for answer, slots in session.answers():
                yield answer
                for slot in slots:
                    if slot is not None:
                        slot.release()
            if reader.done() and not reader.cancelled() and reader.result() == "shutdown":
                await context.abort(
                    Code.UNAVAILABLE,
                    "server is shutting down; reconnect and resend un-acked frames",
                )
        finally:
            if reader is not None and not reader.done():
                reader.cancel()
            if session is not None:
                session.closed = True
                self.registry.detach(session)
            self.open_streams -= 1
            self.metrics.streams(-1)

    def begin_shutdown(self) -> None:
        """Refuse new streams; open streams stop reading, finish in-flight frames and end
        with UNAVAILABLE."""
        self.shutting_down.set()
        for reader in list(self._readers):
            reader.cancel()

    async def _read(
        self, requests: AsyncIterator[ingest_pb2.IngestRequest], session: StreamSession
    ) -> str:
        """Read the edge's messages until it half-closes (or the server shuts down)."""
        window = asyncio.Semaphore(self.settings.window)
        tasks: set[asyncio.Task] = set()
        outcome = "closed"
        try:
            try:
                while True:
                    await window.acquire()
                    try:
                        msg = await requests.__anext__()
                    except StopAsyncIteration:
                        break
                    except grpc.aio.AioRpcError:
                        outcome = "cancelled"
                        break
                    kind = msg.WhichOneof("kind")
                    if kind == "frame":
                        self.frames.on_frame(msg.frame, session, window, tasks)
                        continue
                    window.release()
                    if kind == "enhancement_upload":
                        task = asyncio.create_task(
                            self.uploads.receive(msg.enhancement_upload, session)
                        )
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                    else:
                        session.send(
                            ingest_pb2.IngestResponse(
                                error=ingest_pb2.FrameError(
                                    camera_id=session.camera_id,
                                    code=Code.INVALID_ARGUMENT.value[0],
                                    reason="malformed",
                                    message=f"unexpected {kind or 'empty'} message after the Hello",
                                )
                            )
                        )
            except asyncio.CancelledError:
                if not self.shutting_down.is_set():
                    raise
                outcome = "shutdown"  # begin_shutdown() cancelled the read
            while tasks or session.committing:  # finish in-flight frames: acks still go out
                try:  # (asyncio.wait, unlike gather, never cancels the frames themselves)
                    await asyncio.wait({*tasks, session.drained()})
                except asyncio.CancelledError:
                    if not self.shutting_down.is_set():
                        raise
                    outcome = "shutdown"
            if outcome == "closed":  # the edge is done: give the analysis a moment
                try:
                    await session.results_sent(RESULT_LINGER_S)
                except asyncio.CancelledError:
                    if not self.shutting_down.is_set():
                        raise
                    outcome = "shutdown"
        finally:
            session.close()
        return outcome
