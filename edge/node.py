"""The edge node: source → rate control → encoder → spool → uplink, until stopped.

    source thread:   paced source ─► queue (2 frames; a live source drops when it is full)
    capture thread:  queue ─► α = rate.next_alpha() ─► encoder.encode ─► spool.append
                                          ▲ rate.update(bytes)                    │ (durable)
    event loop:      uplink ◄─────────────────────────────────────────────────────┘
                     SIGTERM / SIGINT ─► stop: capture ends, stream closes, spool kept

With a finite source and ``exit_when_drained`` the node exits once every frame is
acknowledged. A restart resumes from the spool (first un-acked frame, same seq counter).

Temporal coding (``encoder.temporal.enabled``, the default): the capture thread keeps the
camera's reference state (the latent of the last spooled frame) and codes P-frames against
it. A key frame is sent at start (the reference dies with the process: after a kill -9 the
first frame is a key frame), every ``key_frame_interval`` frames, after any spool drop or a
frame that could not be spooled (the frame after a gap never depends on a lost one), and when
the cloud asks (FrameError ``key_frame_requested``: it cannot get a P-frame's reference).
Rate control picks α at key frames only (α is constant within a GOP) and is told the size of
every frame, I and P, so the bitrate target holds across both.
A full spool disk does not stop the node: the spool drops the oldest data to make room
(metric ``polc_edge_frames_dropped_total{reason="disk_full"}``) and the uplink keeps
delivering what is spooled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version

from polc.edge.backends import EncoderBackend, build_encoder, temporal_model
from polc.edge.config import EdgeConfig
from polc.edge.metrics import EdgeMetrics
from polc.edge.rate_control import RateController
from polc.edge.sources import Captured, paced, prefetch
from polc.edge.spool import Spool
from polc.edge.spool_directory import SpoolError, SpoolFullError
from polc.edge.uplink import AckInfo, Uplink
from polc.shared.codec.reference import ReferenceState
from polc.shared.errors import ConfigError

log = logging.getLogger(__name__)
VERSION = f"polc-edge/{version('polc')}"  # Hello.edge_version
MAX_CONSECUTIVE_FAILURES = 10  # encode errors in a row that stop the node


@dataclass
class EncodedFrame:
    """What the node did with one captured frame (passed to ``on_encoded``)."""

    seq: int
    captured: Captured
    alpha: float
    base_bytes: int
    enhancement_bytes: int
    encode_seconds: float
    key_frame: bool = True

    @property
    def base_bpp(self) -> float:
        h, w = self.captured.image.shape[:2]
        return self.base_bytes * 8 / (w * h)


class EdgeNode:
    """One camera's edge process. ``run()`` blocks; ``run_async()`` runs inside a loop."""

    def __init__(
        self,
        config: EdgeConfig,
        backend: EncoderBackend | None = None,
        metrics: EdgeMetrics | None = None,
        on_encoded: Callable[[EncodedFrame], None] | None = None,
        on_ack: Callable[[AckInfo], None] | None = None,
        on_result: Callable[[object], None] | None = None,
    ):
        self.config = config
        self.metrics = metrics or EdgeMetrics()
        self.backend = backend or build_encoder(config.encoder)
        if self.backend.encoder.temporal is None:  # a given backend: checked here, at start
            self.backend.encoder.temporal = temporal_model(config.encoder, self.backend.codec)
        self.on_encoded = on_encoded
        enh = config.enhancement
        self.spool = Spool(
            config.spool.path,
            config.camera_id,
            config.spool.max_bytes,
            config.spool.fsync,
            enh.retention_seconds,
            enh.max_bytes,
        )
        self.rate = RateController(config.rate, config.source.fps)
        self.uplink = Uplink(
            config.uplink,
            self.spool,
            fingerprint=self.backend.fingerprint,
            enhancement_on_demand=enh.mode == "on-demand",
            sends_enhancement=enh.mode == "always",
            enhancement_retention_seconds=enh.retention_seconds if enh.mode == "on-demand" else 0,
            edge_id=config.edge_id,
            edge_version=VERSION,
            metrics=self.metrics,
            on_ack=on_ack,
            on_result=on_result,
            on_key_frame_request=self.request_key_frame,
        )
        self.temporal = config.encoder.temporal
        self.reference: ReferenceState | None = None  # None: the next frame is a key frame
        self.gop_length = 0  # frames coded since the last key frame (itself included)
        self._key_frame_requested = False
        self._drops_seen = self._spool_drops()  # a change: the next frame is a key frame
        self.stop_event = threading.Event()
        self.capture_done = threading.Event()
        self.capture_error: BaseException | None = None
        self.metrics_url: str | None = None
        self.metrics.observe_spool(self.spool)

    # -- capture + encode (a thread: the encoder blocks) --------------------------------

    def request_key_frame(self, seq: int | None = None) -> None:
        """Code the next frame as a key frame (the cloud could not get frame ``seq``'s
        reference; any thread)."""
        self._key_frame_requested = True

    def _spool_drops(self) -> int:
        return self.spool.dropped + self.spool.dropped_disk_full

    def _next_reference(self) -> ReferenceState | None:
        """The reference of the next frame, or None for a key frame."""
        if self._key_frame_requested:
            self._key_frame_requested = False
            self.reference = None
        if self._spool_drops() != self._drops_seen:  # the reference may be gone
            self.reference = None
        if not self.temporal.enabled or self.gop_length >= self.temporal.key_frame_interval:
            self.reference = None
        return self.reference

    def encode_one(self, captured: Captured) -> EncodedFrame:
        """Encode one frame and persist it in the spool (durable when this returns)."""
        m, mode = self.metrics, self.config.enhancement.mode
        reference = self._next_reference()
        # α changes at key frames only (a P-frame is coded at its reference's α)
        alpha = self.rate.next_alpha() if reference is None else self.rate.alpha
        seq, drops = self.spool.next_seq, self._spool_drops()
        t0 = time.perf_counter()
        try:
            container, state = self.backend.encoder.encode_frame(
                captured.image,
                alpha,
                seq,
                reference,
                enhancement=mode != "never",
                skip_tau=self.config.encoder.temporal.skip_tau,
                motion_threshold=self.config.encoder.temporal.motion_threshold,
            )
        except BaseException:
            self.reference = None  # whatever happened, the next frame starts a new GOP
            raise
        dt = time.perf_counter() - t0
        base = container.base_bytes()
        enh = container.enhancement.to_bytes() if container.enhancement is not None else None
        h, w = captured.image.shape[:2]
        self.reference = None  # until the frame is spooled
        frame = self.spool.append(
            captured.capture_time_ns,
            alpha,
            base,
            enhancement=enh if mode == "always" else None,
            keep_enhancement=enh if mode == "on-demand" else None,
            width=w,
            height=h,
        )
        self._drops_seen = self._spool_drops()
        if frame.seq == seq and drops == self._drops_seen:
            self.reference = state  # no gap behind it: the next frame may depend on it
            self.gop_length = 1 if reference is None else self.gop_length + 1
        self.rate.update(alpha, len(base) + (len(enh or b"") if mode == "always" else 0))
        m.encoded.inc()
        if reference is None:
            m.key_frames.inc()
        m.encode_seconds.observe(dt)
        m.alpha.set(alpha)
        m.observe_spool(self.spool)
        out = EncodedFrame(
            frame.seq, captured, alpha, len(base), len(enh or b""), dt, reference is None
        )
        if self.on_encoded is not None:
            self.on_encoded(out)
        return out

    def _dropped_at_source(self, captured: Captured) -> None:
        self.metrics.captured.inc()
        self.metrics.dropped.labels("encoder_busy").inc()

    def _capture_loop(self) -> None:
        failures = 0
        try:
            source = self.config.source
            frames = prefetch(
                paced(source, self.stop_event),
                self.stop_event,
                live=source.kind == "rtsp",
                on_drop=self._dropped_at_source,
            )
            for captured in frames:
                self.metrics.captured.inc()
                try:
                    self.encode_one(captured)
                    failures = 0
                except SpoolFullError as exc:  # degrade: the spool counted the drop
                    log.warning("%s", exc)
                    self.metrics.observe_spool(self.spool)
                except SpoolError:
                    raise  # the disk is unusable (not just full): stop the node
                except Exception as exc:  # one bad frame must not stop a camera
                    failures += 1
                    self.metrics.dropped.labels("encode_error").inc()
                    log.error("frame %d could not be encoded: %s", captured.index, exc)
                    if failures >= MAX_CONSECUTIVE_FAILURES:
                        raise
                if self.stop_event.is_set():
                    break
        except BaseException as exc:  # reported by run_async
            self.capture_error = exc
        finally:
            self.capture_done.set()

    # -- the whole node -----------------------------------------------------------------

    async def run_async(
        self, stop: asyncio.Event | None = None, install_signals: bool = False
    ) -> None:
        """Run until ``stop`` is set, a signal arrives, or a finite source is drained."""
        stop = stop or asyncio.Event()
        loop = asyncio.get_running_loop()
        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, self._on_signal, stop, sig)
        if self.config.metrics_listen and self.metrics_url is None:
            try:
                self.metrics_url = self.metrics.serve(self.config.metrics_listen)
            except OSError as exc:
                raise ConfigError(
                    f"config field 'metrics_listen': cannot bind "
                    f"{self.config.metrics_listen}: {exc.strerror}"
                ) from exc
            log.info("edge metrics on %s", self.metrics_url)
        uplink_stop = asyncio.Event()
        uplink = asyncio.create_task(self.uplink.run(uplink_stop))
        capture = threading.Thread(target=self._capture_loop, name="polc-capture", daemon=True)
        capture.start()
        try:
            while not stop.is_set():
                if uplink.done():
                    uplink.result()  # fatal uplink error: raise it
                    break
                if self.capture_done.is_set():
                    if self.capture_error is not None:
                        raise self.capture_error
                    if self.config.exit_when_drained and self.spool.depth == 0:
                        log.info("source finished and every frame acknowledged")
                        break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.05)
        finally:
            self.stop_event.set()
            uplink_stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(uplink, 10)
            await loop.run_in_executor(None, capture.join, 30)
            if install_signals:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    with contextlib.suppress(Exception):
                        loop.remove_signal_handler(sig)
            self.metrics.observe_spool(self.spool)
            log.info("edge stopped: %d frames spooled for the next run", self.spool.depth)

    def _on_signal(self, stop: asyncio.Event, sig: signal.Signals) -> None:
        log.info("%s: stopping (the spool keeps every un-acked frame)", sig.name)
        self.stop_event.set()
        stop.set()

    def run(self) -> None:
        """Blocking run with SIGTERM / SIGINT handling (the CLI)."""
        try:
            asyncio.run(self.run_async(install_signals=True))
        finally:
            self.metrics.close()
