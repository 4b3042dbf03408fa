"""The ingest stream: hello, frames, acks, results, per-frame errors, enhancement uploads.

Per frame (at most ``window`` in flight per stream):

    Frame ─► checks (camera, seq, size) ─► parse container (no decoding yet)
          ─► possibly a resend (seq ≤ highest stored, or in flight)? ─► already stored?
                 ─yes─► FrameAck(duplicate)                                (exactly-once)
          ─► decode on: DynamicBatcher, entropy decode + analyzer batched across streams
          ─► GroupCommitter: FrameStore.put_many, one durable write (segment fsync + one
             index transaction) for every frame ready at that moment ─► FrameAck
             ─► FrameResult (when the frame was analyzed)
    any refusal ─► FrameError(code, reason) and the stream carries on

A new frame with decoding off (the ingest path proper) goes from the reader straight to the
group commit and is acknowledged from its callback, without a task or future of its own:
at thousands of frames per second the event loop, shared with gRPC's own per-message work,
is the bottleneck. Frames to decode and possible resends take a task that awaits.

The reader stops reading while ``window`` frames are in flight, so an edge that ignores the
window is held back by HTTP/2 flow control instead of filling memory.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from polc.cloud.analyzer import AnalysisResult, FrameAnalyzer
from polc.cloud.auth import Authenticator, AuthError
from polc.cloud.batching import BatcherClosed, DynamicBatcher
from polc.cloud.commit import GroupCommitter
from polc.cloud.config import CAMERA_ID_RE, IngestSettings
from polc.cloud.metrics import CloudMetrics
from polc.cloud.store import MAX_SEQ, FrameRecord, FrameStore, now_us
from polc.shared.codec.container import EnhancementLayer, FrameContainer
from polc.shared.codec.runtime import Codec
from polc.shared.errors import BitstreamError
from polc.v1 import common_pb2, ingest_pb2, ingest_pb2_grpc

log = logging.getLogger(__name__)
Code = grpc.StatusCode


class FrameRefused(Exception):
    """One frame (or upload) is refused; reported with FrameError, the stream carries on."""

    def __init__(self, code: grpc.StatusCode, reason: str, message: str):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


@dataclass
class IncomingFrame:
    camera_id: str
    seq: int
    capture_time_us: int
    container: FrameContainer  # parsed and CRC-checked, not yet entropy-decoded
    base: bytes
    enhancement: bytes | None


_NOTHING = object()  # "no item carried over" (None is the outbound queue's end marker)

#: what a stored frame's ack says: (duplicate, enhancement stored, result to send or None)
Outcome = tuple[bool, bool, AnalysisResult | None]


@dataclass
class ProcessedFrame:
    record: FrameRecord
    result: AnalysisResult


def check_camera_id(camera_id: str) -> None:
    if not CAMERA_ID_RE.match(camera_id):
        raise FrameRefused(Code.INVALID_ARGUMENT, "out_of_range",
                           f"camera id {camera_id[:140]!r} must be 1-128 chars of "
                           "[A-Za-z0-9._:-]")


def timestamp_us(ts: Timestamp) -> int:
    return ts.seconds * 1_000_000 + ts.nanos // 1000


def to_timestamp(us: int) -> Timestamp:
    ts = Timestamp()
    ts.FromMicroseconds(us)
    return ts


def validate_enhancement(container: FrameContainer, data: bytes) -> EnhancementLayer:
    """Parse an enhancement layer and check that it belongs to ``container`` (no decoding)."""
    lh, lw = container.geometry.latent_hw
    try:
        layer = EnhancementLayer.from_bytes(data, max_symbols=container.channels[2] * lh * lw)
    except BitstreamError as exc:
        raise FrameRefused(Code.INVALID_ARGUMENT, "enhancement", str(exc)) from None
    if layer.base_payload_crc != container.payload_crc:
        raise FrameRefused(Code.INVALID_ARGUMENT, "enhancement",
                           "enhancement layer belongs to another frame")
    if layer.fingerprint != container.fingerprint:
        raise FrameRefused(Code.FAILED_PRECONDITION, "fingerprint",
                           "enhancement layer was encoded by another model")
    return layer


def parse_frame(msg: ingest_pb2.Frame, stream_camera: str, fingerprint: bytes,
                settings: IngestSettings) -> IncomingFrame:
    """All checks that need no entropy decoding; raises FrameRefused."""
    camera_id = msg.camera_id or stream_camera
    if camera_id != stream_camera:
        raise FrameRefused(Code.PERMISSION_DENIED, "camera_mismatch",
                           f"frame for camera {camera_id!r} on the stream of "
                           f"{stream_camera!r}")
    if msg.seq > MAX_SEQ:
        raise FrameRefused(Code.INVALID_ARGUMENT, "out_of_range",
                           f"seq {msg.seq} above the maximum {MAX_SEQ}")
    extra = msg.enhancement_layer if msg.HasField("enhancement_layer") else b""
    size = len(msg.base_layer) + len(extra)
    if size > settings.max_frame_bytes:
        raise FrameRefused(Code.RESOURCE_EXHAUSTED, "too_large",
                           f"frame is {size} bytes, the limit is {settings.max_frame_bytes}")
    if not msg.base_layer:
        raise FrameRefused(Code.INVALID_ARGUMENT, "malformed", "empty base_layer")
    try:
        container = FrameContainer.from_bytes(msg.base_layer)
    except BitstreamError as exc:
        raise FrameRefused(Code.INVALID_ARGUMENT, "malformed", str(exc)) from None
    if container.fingerprint != fingerprint:
        raise FrameRefused(Code.FAILED_PRECONDITION, "fingerprint",
                           f"frame was encoded by model {container.fingerprint.hex()}, "
                           f"this server decodes model {fingerprint.hex()}")
    g = container.geometry
    if g.width * g.height > settings.max_frame_pixels:
        raise FrameRefused(Code.INVALID_ARGUMENT, "out_of_range",
                           f"frame is {g.width}x{g.height}, more than the server's "
                           f"{settings.max_frame_pixels} pixels")
    if extra:
        if container.enhancement is not None:
            raise FrameRefused(Code.INVALID_ARGUMENT, "enhancement",
                               "enhancement layer both inside base_layer and separate")
        container.enhancement = validate_enhancement(container, extra)
    enhancement = container.enhancement.to_bytes() if container.enhancement else None
    base = container.base_bytes() if enhancement else bytes(msg.base_layer)
    capture = timestamp_us(msg.capture_time) if msg.HasField("capture_time") else now_us()
    return IncomingFrame(camera_id, msg.seq, capture, container, base, enhancement)


class FrameProcessor:
    """The batch function: entropy decode each frame, then one analyzer call per batch."""

    def __init__(self, codec: Codec, analyzer: FrameAnalyzer, metrics: CloudMetrics,
                 decode: bool = True):
        self.codec, self.analyzer, self.metrics, self.decode = codec, analyzer, metrics, decode

    @staticmethod
    def record(item: IncomingFrame) -> FrameRecord:
        """The index entry of a parsed frame (without results)."""
        c = item.container
        return FrameRecord(item.camera_id, item.seq, item.capture_time_us, c.geometry.width,
                           c.geometry.height, c.alpha, c.fingerprint.hex(), len(item.base),
                           len(item.enhancement or b""))

    def __call__(self, items: Sequence[IncomingFrame]
                 ) -> list[ProcessedFrame | BaseException]:
        out: list[ProcessedFrame | BaseException] = []
        decoded, slots = [], []
        for item in items:
            out.append(ProcessedFrame(self.record(item), AnalysisResult()))
            c = item.container
            if not self.decode:
                continue
            t0 = time.perf_counter()
            try:
                decoded.append(self.codec.decode(c))
                slots.append(len(out) - 1)
            except BitstreamError as exc:
                reason = "enhancement" if "enhancement" in str(exc) else "malformed"
                out[-1] = FrameRefused(Code.INVALID_ARGUMENT, reason, str(exc))
            except Exception as exc:  # a decoder bug must not take the batch down
                log.exception("decoding %s/%d failed", item.camera_id, item.seq)
                out[-1] = FrameRefused(Code.INTERNAL, "internal", f"decoder failure: {exc}")
            self.metrics.decode_time(time.perf_counter() - t0)
        if decoded:
            t0 = time.perf_counter()
            results = self.analyzer.analyze(decoded)
            self.metrics.inference_time(time.perf_counter() - t0)
            for slot, result in zip(slots, results, strict=True):
                processed = out[slot]
                assert isinstance(processed, ProcessedFrame)
                processed.result = result
                processed.record.result = result.to_dict() if result.analyzer else None
        return out


def result_message(camera_id: str, seq: int, result: AnalysisResult) -> common_pb2.FrameResult:
    msg = common_pb2.FrameResult(camera_id=camera_id, seq=seq, analyzer=result.analyzer)
    for c in result.classes:
        msg.classes.add(label=c.label, score=c.score, class_index=c.class_index)
    for d in result.detections:
        det = msg.detections.add(label=d.label, score=d.score, class_index=d.class_index)
        det.box.x_min, det.box.y_min, det.box.x_max, det.box.y_max = d.box
    if result.analyzed_time_us:
        msg.analyzed_time.CopyFrom(to_timestamp(result.analyzed_time_us))
    return msg


class EnhancementUnavailable(Exception):
    """The enhancement layer cannot be obtained from the edge (message says why).

    ``outcome`` is the metric label: no_edge, unavailable or timeout.
    """

    def __init__(self, message: str, outcome: str = "unavailable"):
        super().__init__(message)
        self.outcome = outcome


@dataclass
class StreamSession:
    """One open ingest stream (what other requests need to reach the edge)."""

    camera_id: str
    capabilities: ingest_pb2.Capabilities
    outbound: asyncio.Queue
    pending: dict[str, tuple[int, asyncio.Future]] = field(default_factory=dict)
    committing: int = 0  # frames in the group commit without a task of their own
    _drained: asyncio.Future | None = None

    def send(self, msg: ingest_pb2.IngestResponse) -> None:
        """Queue an answer (outbound items: (message, window slot to release or None); a
        bare FrameAck, queued only for edges with ``batched_acks``, may join an AckBatch)."""
        self.outbound.put_nowait((msg, None))

    async def answers(self) -> AsyncIterator[tuple[ingest_pb2.IngestResponse, list]]:
        """(message to write, window slots to release once written) until the end marker.

        Bare FrameAcks queued together (one group commit's) leave as one AckBatch: at
        thousands of frames per second a gRPC message per ack costs the server more than
        storing the frame does. Nothing waits to fill a batch, so an ack is never delayed.
        """
        carry = _NOTHING
        while True:
            item = await self.outbound.get() if carry is _NOTHING else carry
            carry = _NOTHING
            if item is None:
                return
            answer, slot = item
            if type(answer) is not ingest_pb2.FrameAck:
                yield answer, [slot]
                continue
            acks, slots = [answer], [slot]
            while not self.outbound.empty():
                nxt = self.outbound.get_nowait()
                if nxt is None or type(nxt[0]) is not ingest_pb2.FrameAck:
                    carry = nxt
                    break
                acks.append(nxt[0])
                slots.append(nxt[1])
            if len(acks) == 1:
                yield ingest_pb2.IngestResponse(ack=answer), slots
            else:
                yield ingest_pb2.IngestResponse(acks=ingest_pb2.AckBatch(acks=acks)), slots

    def commit_done(self) -> None:
        self.committing -= 1
        if not self.committing and self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def drained(self) -> asyncio.Future:
        """Done once none of this stream's frames is in the group commit any more."""
        self._drained = asyncio.get_running_loop().create_future()
        if not self.committing:
            self._drained.set_result(None)
        return self._drained


class EdgeRegistry:
    """camera id -> its open stream (the newest one wins after a reconnect)."""

    def __init__(self) -> None:
        self.sessions: dict[str, StreamSession] = {}

    def attach(self, session: StreamSession) -> None:
        self.sessions[session.camera_id] = session

    def detach(self, session: StreamSession) -> None:
        if self.sessions.get(session.camera_id) is session:
            del self.sessions[session.camera_id]
        for _, fut in session.pending.values():
            if not fut.done():
                fut.set_exception(EnhancementUnavailable(
                    f"the edge of camera {session.camera_id!r} disconnected before "
                    "uploading the enhancement layer"))

    def connected(self, camera_id: str) -> bool:
        return camera_id in self.sessions

    async def request_enhancement(self, camera_id: str, seq: int, timeout: float) -> None:
        """Ask the camera's edge to upload frame ``seq``'s enhancement layer and wait until
        it is stored; raises EnhancementUnavailable otherwise."""
        session = self.sessions.get(camera_id)
        if session is None:
            raise EnhancementUnavailable(
                f"frame {seq} of camera {camera_id!r} was stored without its enhancement "
                "layer and the camera's edge is not connected to fetch it from", "no_edge")
        if not session.capabilities.enhancement_on_demand:
            raise EnhancementUnavailable(
                f"frame {seq} of camera {camera_id!r} was stored without its enhancement "
                "layer and the camera's edge does not serve enhancement layers on demand",
                "no_edge")
        request_id = uuid.uuid4().hex
        fut = asyncio.get_running_loop().create_future()
        session.pending[request_id] = (seq, fut)
        session.send(ingest_pb2.IngestResponse(enhancement_request=ingest_pb2.EnhancementRequest(
            request_id=request_id, camera_id=camera_id, seq=seq)))
        try:
            await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise EnhancementUnavailable(
                f"the edge of camera {camera_id!r} did not upload the enhancement layer of "
                f"frame {seq} within {timeout:g} s", "timeout") from None
        finally:
            session.pending.pop(request_id, None)


class IngestServicer(ingest_pb2_grpc.IngestServiceServicer):
    def __init__(self, *, codec: Codec, store: FrameStore, batcher: DynamicBatcher,
                 committer: GroupCommitter, process: FrameProcessor, auth: Authenticator,
                 metrics: CloudMetrics, settings: IngestSettings, registry: EdgeRegistry,
                 server_id: str,
                 io_executor: concurrent.futures.Executor,
                 codec_executor: concurrent.futures.Executor):
        self.codec, self.store, self.batcher, self.committer = codec, store, batcher, committer
        self.process = process
        self.auth, self.metrics, self.settings = auth, metrics, settings
        self.registry, self.server_id = registry, server_id
        self.io, self.codec_pool = io_executor, codec_executor
        self.fingerprint = codec.wire.fingerprint
        self.open_streams = 0
        self.shutting_down = asyncio.Event()
        self._readers: set[asyncio.Task] = set()
        # highest stored seq per camera seen by this replica: a frame above it cannot be a
        # duplicate, so only resends cost a store lookup (UNIQUE still guards the rest)
        self._max_seq: dict[str, int] = {}
        # frames being processed; a resend of one waits for its future (None until then)
        self._inflight: dict[tuple[str, int], asyncio.Future[bool] | None] = {}

    async def _io(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.io, fn, *args)

    # -- the RPC --------------------------------------------------------------------------
    async def Ingest(self, request_iterator: AsyncIterator[ingest_pb2.IngestRequest],
                     context: grpc.aio.ServicerContext) -> AsyncIterator[ingest_pb2.IngestResponse]:
        try:
            principal = self.auth.authenticate(context.invocation_metadata())
        except AuthError as exc:
            await context.abort(exc.code, str(exc))
        if self.shutting_down.is_set():
            await context.abort(Code.UNAVAILABLE, "server is shutting down; reconnect")
        if self.open_streams >= self.settings.max_streams:
            await context.abort(Code.RESOURCE_EXHAUSTED,
                                f"too many open ingest streams ({self.settings.max_streams})")
        self.open_streams += 1
        self.metrics.streams(+1)
        session: StreamSession | None = None
        reader: asyncio.Task | None = None
        try:
            try:
                first = await request_iterator.__anext__()
            except StopAsyncIteration:
                return
            if first.WhichOneof("kind") != "hello":
                await context.abort(Code.INVALID_ARGUMENT, "the first message must be a Hello")
            hello = first.hello
            try:
                check_camera_id(hello.camera_id)
            except FrameRefused as exc:
                await context.abort(Code.INVALID_ARGUMENT, exc.message)
            try:
                self.auth.require_ingest(principal, hello.camera_id)
            except AuthError as exc:
                await context.abort(exc.code, str(exc))
            if hello.model_fingerprint and hello.model_fingerprint != self.fingerprint:
                await context.abort(
                    Code.FAILED_PRECONDITION,
                    f"edge encodes with model {hello.model_fingerprint.hex()}, this server "
                    f"decodes model {self.fingerprint.hex()}")
            last = await self._io(self.store.last_seq, hello.camera_id)
            session = StreamSession(hello.camera_id, hello.capabilities, asyncio.Queue())
            self.registry.attach(session)
            log.info("ingest stream open: camera %s (%s, edge %s)", hello.camera_id,
                     principal.name, hello.edge_id or "?")
            yield ingest_pb2.IngestResponse(hello_ack=ingest_pb2.HelloAck(
                window=self.settings.window, model_fingerprint=self.fingerprint,
                has_stored=last is not None, last_stored_seq=last or 0,
                max_frame_bytes=self.settings.max_frame_bytes, server_id=self.server_id))
            self._max_seq.setdefault(hello.camera_id, -1 if last is None else last)
            reader = asyncio.create_task(self._read(request_iterator, session))
            self._readers.add(reader)
            reader.add_done_callback(self._readers.discard)
            async for answer, slots in session.answers():
                yield answer
                for slot in slots:
                    if slot is not None:
                        slot.release()
            if reader.done() and not reader.cancelled() and reader.result() == "shutdown":
                await context.abort(Code.UNAVAILABLE,
                                    "server is shutting down; reconnect and resend un-acked "
                                    "frames")
        finally:
            if reader is not None and not reader.done():
                reader.cancel()
            if session is not None:
                self.registry.detach(session)
            self.open_streams -= 1
            self.metrics.streams(-1)

    def begin_shutdown(self) -> None:
        """Refuse new streams; open streams stop reading, finish in-flight frames and end
        with UNAVAILABLE."""
        self.shutting_down.set()
        for reader in list(self._readers):
            reader.cancel()

    async def _read(self, requests: AsyncIterator[ingest_pb2.IngestRequest],
                    session: StreamSession) -> str:
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
                        self._on_frame(msg.frame, session, window, tasks)
                        continue
                    window.release()
                    if kind == "enhancement_upload":
                        task = asyncio.create_task(self._upload(msg.enhancement_upload,
                                                                session))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                    else:
                        session.send(ingest_pb2.IngestResponse(error=ingest_pb2.FrameError(
                            camera_id=session.camera_id, code=Code.INVALID_ARGUMENT.value[0],
                            reason="malformed", message=f"unexpected {kind or 'empty'} "
                            "message after the Hello")))
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
        finally:
            session.outbound.put_nowait(None)
        return outcome

    def _error_message(self, camera_id: str, seq: int, exc: FrameRefused,
                       upload: bool = False) -> ingest_pb2.IngestResponse:
        self.metrics.frame_failed(exc.reason)
        return ingest_pb2.IngestResponse(error=ingest_pb2.FrameError(
            camera_id=camera_id, seq=seq, code=exc.code.value[0], reason=exc.reason,
            message=exc.message, enhancement_upload=upload,
            retryable=exc.code == Code.INTERNAL))

    def _error(self, session: StreamSession, camera_id: str, seq: int, exc: FrameRefused,
               upload: bool = False) -> None:
        session.send(self._error_message(camera_id, seq, exc, upload))

    def _on_frame(self, msg: ingest_pb2.Frame, session: StreamSession,
                  window: asyncio.Semaphore, tasks: set[asyncio.Task]) -> None:
        """One frame. The common case (a new frame, decoding off) costs no task: it is
        parsed here and handed to the group commit, whose callback sends the ack. Frames to
        decode and possible resends take the awaiting path, :meth:`_frame`. Either way the
        frame's window slot is released once its last answer was handed to gRPC (a stream
        that does not read its answers stops getting new frames read); ``tasks`` and
        ``session.committing`` count what is in flight, for :meth:`_read` to wait for."""
        t0 = time.perf_counter()
        self.metrics.frame_received(len(msg.base_layer), len(msg.enhancement_layer))
        try:
            frame = parse_frame(msg, session.camera_id, self.fingerprint, self.settings)
        except FrameRefused as exc:
            session.outbound.put_nowait(
                (self._error_message(msg.camera_id or session.camera_id, msg.seq, exc), window))
            return
        key = (frame.camera_id, frame.seq)
        if (self.process.decode or key in self._inflight
                or frame.seq <= self._max_seq.get(frame.camera_id, -1)):
            task = asyncio.create_task(self._frame(frame, session, window, t0))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            return
        # above the highest stored seq and not in flight: new unless another replica stored
        # it meanwhile, which put_many reports (INSERT ... ON CONFLICT) as not inserted
        self._inflight[key] = None  # a resend arriving meanwhile puts a future here
        session.committing += 1
        record = FrameProcessor.record(frame)

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

    async def _frame(self, frame: IncomingFrame, session: StreamSession,
                     window: asyncio.Semaphore, t0: float) -> None:
        """A frame that needs awaiting: decoding, or a possible resend."""
        outcome: Outcome | Exception
        try:
            outcome = await self._store_once(frame)
        except asyncio.CancelledError:  # no answer: give the slot back
            window.release()
            raise
        except Exception as exc:
            outcome = exc
        self._reply(session, window, frame, t0, outcome)

    def _reply(self, session: StreamSession, window: asyncio.Semaphore, frame: IncomingFrame,
               t0: float, outcome: Outcome | BaseException) -> None:
        """Queue a frame's answers: ack (+ result), or one typed error; the last one carries
        the window slot."""
        camera_id, seq = frame.camera_id, frame.seq
        if isinstance(outcome, tuple):
            duplicate, stored_enh, result = outcome
            ack = ingest_pb2.FrameAck(camera_id=camera_id, seq=seq, duplicate=duplicate,
                                      enhancement_stored=stored_enh)
            self.metrics.ack_latency(time.perf_counter() - t0)
            if result is None and session.capabilities.batched_acks:
                session.outbound.put_nowait((ack, window))  # may join an AckBatch
                return
            answer = ingest_pb2.IngestResponse(ack=ack)
            if result is not None:
                session.send(answer)
                answer = ingest_pb2.IngestResponse(result=result_message(camera_id, seq, result))
        elif isinstance(outcome, FrameRefused):
            answer = self._error_message(camera_id, seq, outcome)
        elif isinstance(outcome, BatcherClosed):
            answer = self._error_message(camera_id, seq, FrameRefused(
                Code.INTERNAL, "internal", "server shutting down; resend later"))
        else:
            log.error("frame %s/%d failed", camera_id, seq, exc_info=outcome)
            answer = self._error_message(camera_id, seq, FrameRefused(
                Code.INTERNAL, "internal", f"server error: {outcome}; resend later"))
        session.outbound.put_nowait((answer, window))

    def _stored(self, frame: IncomingFrame, record: FrameRecord, inserted: bool,
                result: AnalysisResult | None = None) -> Outcome:
        """Bookkeeping once the store said whether the frame was new."""
        if not inserted:
            self.metrics.frame_duplicate()
            return True, frame.enhancement is not None, None
        self.metrics.frame_stored(record.base_bpp)
        if frame.seq > self._max_seq.get(frame.camera_id, -1):
            self._max_seq[frame.camera_id] = frame.seq
        return False, frame.enhancement is not None, result

    async def _store_once(self, frame: IncomingFrame) -> Outcome:
        """Process + store a frame unless already stored.

        Returns (duplicate, enhancement stored, result of a newly processed frame).
        """
        key = (frame.camera_id, frame.seq)
        while key in self._inflight:  # the same frame is being processed (e.g. a resend
            running = self._inflight[key]  # racing a reconnect): wait, then re-check
            if running is None:  # the fast path makes no future unless someone waits
                running = self._inflight[key] = asyncio.get_running_loop().create_future()
            try:
                await asyncio.shield(running)
            except Exception:
                pass
        # a point query on the event-loop thread's own WAL read connection (~10 µs, never
        # waits for the writer) is much cheaper than a hop to the I/O pool
        known = self._max_seq.get(frame.camera_id)
        existing = None
        if known is None or frame.seq <= known:
            if self.store.local_reads:
                existing = self.store.get(frame.camera_id, frame.seq)
            else:  # a network store: off the loop, then re-check what started meanwhile
                existing = await self._io(self.store.get, frame.camera_id, frame.seq)
                if existing is None and key in self._inflight:
                    return await self._store_once(frame)
        if existing is not None:
            self.metrics.frame_duplicate()
            if frame.enhancement and not existing.has_enhancement:
                await self._io(self.store.put_enhancement, frame.camera_id, frame.seq,
                               frame.enhancement)
                return True, True, None
            return True, existing.has_enhancement, None
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        result = None
        try:
            if self.process.decode:
                processed = await self.batcher.submit(frame)
                record, result = processed.record, processed.result
            else:  # not decoded, not analyzed: no FrameResult to send
                record = FrameProcessor.record(frame)
            inserted = await self.committer.put((record, frame.base, frame.enhancement))
            fut.set_result(inserted)
        except BaseException as exc:
            fut.set_exception(exc if isinstance(exc, Exception) else RuntimeError("cancelled"))
            fut.exception()  # retrieved: waiters re-check the store themselves
            raise
        finally:
            self._inflight.pop(key, None)
        return self._stored(frame, record, inserted, result)

    async def _upload(self, msg: ingest_pb2.EnhancementUpload, session: StreamSession) -> None:
        camera_id = msg.camera_id or session.camera_id
        pending = [(rid, fut) for rid, (seq, fut) in session.pending.items()
                   if rid == msg.request_id or (not msg.request_id and seq == msg.seq)]
        try:
            if camera_id != session.camera_id:
                raise FrameRefused(Code.PERMISSION_DENIED, "camera_mismatch",
                                   f"upload for camera {camera_id!r} on the stream of "
                                   f"{session.camera_id!r}")
            if msg.unavailable or not msg.enhancement_layer:
                why = msg.message or "no reason given"
                raise EnhancementUnavailable(
                    f"the edge of camera {camera_id!r} no longer holds the enhancement layer "
                    f"of frame {msg.seq} ({why})")
            await self.accept_enhancement(camera_id, msg.seq, msg.enhancement_layer)
            self.metrics.enhancement_received(len(msg.enhancement_layer))
            for _, fut in pending:
                if not fut.done():
                    fut.set_result(None)
        except EnhancementUnavailable as exc:
            for _, fut in pending:
                if not fut.done():
                    fut.set_exception(exc)
        except FrameRefused as exc:
            self._error(session, camera_id, msg.seq, exc, upload=True)
            for _, fut in pending:
                if not fut.done():
                    fut.set_exception(EnhancementUnavailable(
                        f"the edge of camera {camera_id!r} uploaded an invalid enhancement "
                        f"layer for frame {msg.seq}: {exc.message}"))

    async def accept_enhancement(self, camera_id: str, seq: int, data: bytes) -> None:
        """Validate (decode) an enhancement layer against the stored frame and store it."""
        if len(data) > self.settings.max_frame_bytes:
            raise FrameRefused(Code.RESOURCE_EXHAUSTED, "too_large",
                               f"enhancement layer is {len(data)} bytes")
        record = await self._io(self.store.get, camera_id, seq)
        if record is None:
            raise FrameRefused(Code.NOT_FOUND, "enhancement",
                               f"frame {seq} of camera {camera_id!r} is not stored")
        if record.has_enhancement:
            return
        base = await self._io(self.store.read_base, camera_id, seq)

        def check() -> None:
            container = FrameContainer.from_bytes(base)
            container.enhancement = validate_enhancement(container, data)
            try:
                self.codec.decode(container)
            except BitstreamError as exc:
                raise FrameRefused(Code.INVALID_ARGUMENT, "enhancement", str(exc)) from None

        await asyncio.get_running_loop().run_in_executor(self.codec_pool, check)
        await self._io(self.store.put_enhancement, camera_id, seq, data)
