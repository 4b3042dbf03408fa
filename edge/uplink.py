"""The uplink: one grpc.aio Ingest stream to the cloud, resumable, from the spool.

    ┌─ session ───────────────────────────────────────────────────────────────┐
    │ Hello ─► HelloAck(window)                                               │
    │ sender: spool.pending() in seq order, ≤ window frames in flight ────────┼─► cloud
    │ reader: FrameAck → spool.ack · FrameError → spool.refuse                │
    │         FrameError retryable / INTERNAL → resent here after a backoff   │
    │         FrameError key_frame_requested → on_key_frame_request (node)    │
    │         FrameResult → on_result · EnhancementRequest → upload from spool│
    └──────────┬──────────────────────────────────────────────────────────────┘
               │ stream ends (UNAVAILABLE, max connection age, outage, EOF)
               ▼
    exponential backoff with jitter (reset after a successful Hello) ─► new session,
    resending every frame still in the spool — the cloud acks duplicates without storing
    them twice, so each frame is stored exactly once.

Errors that no retry can fix (UNAUTHENTICATED, PERMISSION_DENIED, FAILED_PRECONDITION,
INVALID_ARGUMENT, UNIMPLEMENTED) end :meth:`Uplink.run` with :class:`UplinkFatalError`;
the spool stays intact.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from polc.edge.config import UplinkSettings
from polc.edge.metrics import EdgeMetrics
from polc.edge.spool import Spool
from polc.edge.spooled_frame import SpooledFrame
from polc.edge.uplink_connection import (
    Backoff,
    call_metadata,
    open_channel,
    raise_status,
    write_message,
)
from polc.edge.uplink_messages import enhancement_upload, frame_message, hello_message
from polc.shared.errors import PolcError
from polc.v1 import ingest_pb2, ingest_pb2_grpc

log = logging.getLogger(__name__)

FATAL_CODES = {
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.UNIMPLEMENTED,
}
INTERNAL = 13  # FrameError.code: server-side failure, the frame may be resent later
# What call.read() returns at the end of the stream (grpc-stubs 1.53 do not declare it).
STREAM_END = grpc.aio.EOF  # type: ignore[attr-defined]


class UplinkFatalError(PolcError):
    """The cloud refused the stream in a way retrying cannot fix (auth, model, contract)."""


@dataclass
class AckInfo:
    """What the cloud said about one frame (passed to ``on_ack``)."""

    seq: int
    duplicate: bool
    latency_seconds: float  # capture → ack (edge clock)
    nbytes: int


class Uplink:
    """Streams the spool to the cloud until stopped; see the module docstring."""

    def __init__(
        self,
        settings: UplinkSettings,
        spool: Spool,
        *,
        fingerprint: bytes = b"",
        enhancement_on_demand: bool = False,
        sends_enhancement: bool = False,
        enhancement_retention_seconds: float = 0.0,
        edge_id: str = "",
        edge_version: str = "",
        metrics: EdgeMetrics | None = None,
        on_ack: Callable[[AckInfo], None] | None = None,
        on_result: Callable[[object], None] | None = None,
        on_key_frame_request: Callable[[int], None] | None = None,
        rng: random.Random | None = None,
    ):
        self.settings = settings
        self.spool = spool
        self.on_key_frame_request = on_key_frame_request
        self.fingerprint = fingerprint
        self.capabilities = (
            enhancement_on_demand,
            sends_enhancement,
            int(enhancement_retention_seconds),
        )
        self.edge_id, self.edge_version = edge_id, edge_version
        self.metrics = metrics or EdgeMetrics()
        self.on_ack, self.on_result = on_ack, on_result
        self._rng = rng or random.Random()
        self.backoff = Backoff(
            settings.backoff_initial_seconds,
            settings.backoff_max_seconds,
            settings.backoff_multiplier,
            settings.backoff_jitter,
            self._rng,
        )
        self.sessions = 0  # streams that got a HelloAck
        self.server_id = ""
        self.connected = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: deque[int] = deque()
        self._last_queued = -1
        self._wake = asyncio.Event()
        # seq -> (capture ns, bytes, sent monotonic)
        self._inflight: dict[int, tuple[int, int, float]] = {}
        # frames the cloud failed on (INTERNAL): seq -> monotonic time of the resend, and
        # the failures so far of each (the resend delay doubles per failure)
        self._resend_at: dict[int, float] = {}
        self._failures: dict[int, int] = {}
        spool.add_listener(self._notify)
        if settings.token and not settings.tls.active:
            log.warning("uplink: the bearer token travels in plaintext (no TLS configured)")

    # -- wiring -------------------------------------------------------------------------

    def _notify(self, seq: int) -> None:
        """Spool listener (any thread): a new frame is on disk."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._enqueue, seq)

    def _enqueue(self, seq: int) -> None:
        if seq > self._last_queued:
            self._queue.append(seq)
            self._last_queued = seq
        self._wake.set()

    # -- main loop ----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Stream until ``stop`` is set. Raises UplinkFatalError on unrecoverable refusals."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        while not stop.is_set():
            self.metrics.reconnects.inc()
            try:
                await self._session(stop)
            except grpc.aio.AioRpcError as exc:
                code = exc.code()
                if code in FATAL_CODES:
                    raise UplinkFatalError(
                        f"cloud {self.settings.server} refused the stream: "
                        f"{code.name}: {exc.details()}"
                    ) from None
                log.warning(
                    "uplink to %s lost: %s: %s", self.settings.server, code.name, exc.details()
                )
            except (TimeoutError, ConnectionError, OSError, asyncio.InvalidStateError) as exc:
                log.warning(
                    "uplink to %s lost: %s", self.settings.server, exc or type(exc).__name__
                )
            finally:
                self.connected = False
                self.metrics.connected.set(0)
            if stop.is_set():
                break
            delay = self.backoff.next()
            log.info("uplink: reconnecting in %.2f s (%d frames spooled)", delay, self.spool.depth)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    async def _session(self, stop: asyncio.Event) -> None:
        channel = open_channel(self.settings)
        call = None
        reader: asyncio.Task | None = None
        try:
            stub = ingest_pb2_grpc.IngestServiceStub(channel)
            call = stub.Ingest(metadata=call_metadata(self.settings))
            on_demand, sends, retention = self.capabilities
            hello = hello_message(
                self.spool.camera_id,
                self.fingerprint,
                ingest_pb2.Capabilities(
                    enhancement_on_demand=on_demand,
                    sends_enhancement=sends,
                    enhancement_retention_seconds=retention,
                    batched_acks=True,
                ),
                edge_version=self.edge_version,
                edge_id=self.edge_id,
            )
            await asyncio.wait_for(
                write_message(call, ingest_pb2.IngestRequest(hello=hello)),
                self.settings.connect_timeout_seconds,
            )
            first = await asyncio.wait_for(call.read(), self.settings.connect_timeout_seconds)
            if first is STREAM_END or first.WhichOneof("kind") != "hello_ack":
                await raise_status(call, "stream closed before the HelloAck")
            hello_ack = first.hello_ack
            window = max(1, min(hello_ack.window or 1, self.settings.max_window))
            self.server_id = hello_ack.server_id
            self.sessions += 1
            self.connected = True
            self.metrics.connected.set(1)
            self.backoff.reset()
            pending = self.spool.pending()
            log.info(
                "uplink: connected to %s (%s), window %d, resending from seq %s",
                self.settings.server,
                hello_ack.server_id or "?",
                window,
                pending[0] if pending else "-",
            )
            self._queue = deque(pending)
            # frames appended after this snapshot arrive through _enqueue (seq > last)
            self._last_queued = pending[-1] if pending else -1
            self._inflight = {}
            self._resend_at = {}  # the new session resends every pending frame anyway
            write_lock = asyncio.Lock()
            reader = asyncio.create_task(self._read(call, write_lock))
            stop_wait = asyncio.create_task(stop.wait())
            try:
                while not stop.is_set():
                    if reader.done():
                        reader.result()  # re-raises the stream's error
                        await raise_status(call, "server closed the stream")
                    self._requeue_due_resends()
                    if self._queue and len(self._inflight) < window:
                        seq = self._queue.popleft()
                        frame = self.spool.get(seq)
                        if frame is None:
                            self._failures.pop(seq, None)
                            continue  # acked, refused or dropped meanwhile
                        if hello_ack.max_frame_bytes and frame.nbytes > hello_ack.max_frame_bytes:
                            self._drop_too_large(frame, hello_ack.max_frame_bytes)
                            continue
                        msg = ingest_pb2.IngestRequest(frame=frame_message(frame))
                        self._inflight[seq] = (
                            frame.capture_time_ns,
                            frame.nbytes,
                            time.monotonic(),
                        )
                        async with write_lock:
                            await write_message(call, msg)
                        self.metrics.observe_sent(frame.nbytes)
                        continue
                    self._wake.clear()
                    waiter = asyncio.create_task(self._wake.wait())
                    await asyncio.wait(
                        {waiter, reader, stop_wait},
                        timeout=self._wait_timeout(),
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                    waiter.cancel()
                    self._check_ack_timeout()
            finally:
                stop_wait.cancel()
        finally:
            if reader is not None:
                reader.cancel()
                with contextlib.suppress(BaseException):
                    await reader
            if call is not None:
                call.cancel()
            await channel.close(grace=None)

    def _requeue_due_resends(self) -> None:
        """Put the failed frames whose resend time has come back in the queue (seq order)."""
        if not self._resend_at:
            return
        now = time.monotonic()
        for seq in [s for s, due in self._resend_at.items() if due <= now]:
            del self._resend_at[seq]
            if seq not in self._inflight and seq not in self._queue:
                bisect.insort(self._queue, seq)

    def _wait_timeout(self) -> float:
        """How long the sender may sleep: at most 1 s, less when a resend falls due."""
        if not self._resend_at:
            return 1.0
        return min(1.0, max(0.0, min(self._resend_at.values()) - time.monotonic()))

    def _resend_delay(self, seq: int) -> float:
        """Backoff of one failed frame: resend_backoff · multiplier^failures, capped."""
        s = self.settings
        failures = self._failures.get(seq, 0)
        self._failures[seq] = failures + 1
        base = min(s.backoff_max_seconds, s.resend_backoff_seconds * s.backoff_multiplier**failures)
        return max(0.0, base * (1.0 + s.backoff_jitter * self._rng.uniform(-1.0, 1.0)))

    def _drop_too_large(self, frame: SpooledFrame, limit: int) -> None:
        """The server would refuse it (or end the stream over it) on every resend."""
        log.error(
            "frame %d is %d bytes, over the cloud's max_frame_bytes %d; dropping it "
            "(lower α or the resolution)",
            frame.seq,
            frame.nbytes,
            limit,
        )
        if self.spool.refuse(frame.seq):
            self.metrics.dropped.labels("too_large").inc()
        self.metrics.observe_spool(self.spool)

    def _check_ack_timeout(self) -> None:
        """A cloud that stops acknowledging (hung replica, half-open link): reconnect."""
        if not self._inflight:
            return
        oldest = min(sent for _, _, sent in self._inflight.values())
        waited = time.monotonic() - oldest
        if waited > self.settings.ack_timeout_seconds:
            raise ConnectionError(
                f"no acknowledgement for {waited:.0f} s ({len(self._inflight)} frames in flight)"
            )

    async def _read(self, call, write_lock: asyncio.Lock) -> None:
        while True:
            resp = await call.read()
            if resp is STREAM_END:
                return
            kind = resp.WhichOneof("kind")
            if kind == "ack":
                self._handle_ack(resp.ack)
            elif kind == "acks":
                for ack in resp.acks.acks:
                    self._handle_ack(ack)
            elif kind == "error":
                self._handle_error(resp.error)
            elif kind == "result":
                if self.on_result is not None:
                    self.on_result(resp.result)
            elif kind == "enhancement_request":
                req = resp.enhancement_request
                layer = self.spool.enhancement(req.seq)
                upload = enhancement_upload(req, layer, self.spool.camera_id)
                self.metrics.enhancement_uploads.labels(
                    "sent" if layer is not None else "unavailable"
                ).inc()
                async with write_lock:
                    await write_message(call, ingest_pb2.IngestRequest(enhancement_upload=upload))
            self._wake.set()

    def _handle_ack(self, ack) -> None:
        sent = self._inflight.pop(ack.seq, None)
        self._resend_at.pop(ack.seq, None)
        self._failures.pop(ack.seq, None)
        if self.spool.ack(ack.seq):
            self.metrics.acked.inc()
        latency = max(0.0, (time.time_ns() - sent[0]) / 1e9) if sent else 0.0
        if sent:
            self.metrics.ack_seconds.observe(latency)
        self.metrics.observe_spool(self.spool)
        if self.on_ack is not None:
            self.on_ack(AckInfo(ack.seq, ack.duplicate, latency, sent[1] if sent else 0))

    def _handle_error(self, err) -> None:
        if err.enhancement_upload:
            log.warning(
                "cloud refused the enhancement layer of frame %d: %s (%s)",
                err.seq,
                err.reason,
                err.message,
            )
            return
        self._inflight.pop(err.seq, None)
        if err.retryable or err.code == INTERNAL:  # e.g. 8 "store_full": the cloud's disk
            delay = self._resend_delay(err.seq)
            self._resend_at[err.seq] = time.monotonic() + delay
            log.warning(
                "cloud failed on frame %d (%s); it stays spooled and is resent on "
                "this stream in %.2f s",
                err.seq,
                err.message,
                delay,
            )
            return
        self._failures.pop(err.seq, None)
        log.error("cloud refused frame %d: %s (%s); dropping it", err.seq, err.reason, err.message)
        if err.key_frame_requested and self.on_key_frame_request is not None:
            self.on_key_frame_request(err.seq)  # the next frame encoded is a key frame
        if self.spool.refuse(err.seq):
            # a P-frame whose reference the cloud cannot get: the P-frames spooled after it
            # are refused the same way up to the next key frame (at most one GOP)
            self.metrics.dropped.labels(
                "reference_missing" if err.key_frame_requested else "refused"
            ).inc()
        self.metrics.observe_spool(self.spool)
