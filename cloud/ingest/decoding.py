"""The decode step of the ingest path: entropy decoding before a frame is stored, strictly
in order per camera, and the index entry of a parsed frame.

    frame read ─► reserve a turn (in read order, per camera) ─► ... ─► decode (own thread)
                                                                        after the turn before

A frame is stored only once it decoded (a frame that fails to decode is refused, never
stored). Turns are taken when a frame is read, before anything awaits, so the frames of a
camera decode in the order its stream delivered them even when some of them first wait for
a store lookup (a possible resend): a P-frame needs the decoded latent of the frame before
it. A frame that turns out to be a duplicate gives its turn up without decoding.

P-frames: the decoder keeps each camera's reference state (the latent of the frame it
decoded last, also before that frame is committed; at most ``MAX_CAMERAS``, least recent
evicted). A P-frame whose
named reference (seq, checksum) is not the one held — a new replica, a restart, an
eviction, a reconnect to another replica — gets it rebuilt from the store
(:class:`ReferenceChain`); when even that fails (the reference was never stored) the frame
is refused with ``reference_missing`` (FAILED_PRECONDITION, not retryable, a key frame
requested) and never decoded against another latent. A frame that decoded but was then not
stored is forgotten as a reference (:meth:`OrderedDecoder.forget`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections import OrderedDict

import grpc

from polc.cloud.ingest.validation import FrameRefused, IncomingFrame
from polc.cloud.metrics import CloudMetrics
from polc.cloud.reference_chain import ReferenceChain
from polc.cloud.store.interface import FrameRecord
from polc.shared.codec.container import FrameContainer
from polc.shared.codec.reference import ReferenceState
from polc.shared.codec.runtime import Codec, DecodedFrame
from polc.shared.errors import BitstreamError, ModelError, ReferenceMismatch

log = logging.getLogger(__name__)
Code = grpc.StatusCode
MAX_CAMERAS = 1024  # reference states held (one latent each); the least recent is evicted
REFERENCE_MISSING = "reference_missing"  # FrameError.reason of a P-frame refused for it


def reference_refusal(exc: ReferenceMismatch) -> FrameRefused:
    """The typed refusal of a P-frame whose reference cannot be had (asks for a key frame)."""
    return FrameRefused(
        Code.FAILED_PRECONDITION, REFERENCE_MISSING, f"{exc}; send a key frame", retryable=False
    )


def frame_record(item: IncomingFrame, analysis_pending: bool = False) -> FrameRecord:
    """The index entry of a parsed frame (without results)."""
    c = item.container
    return FrameRecord(
        item.camera_id,
        item.seq,
        item.capture_time_us,
        c.geometry.width,
        c.geometry.height,
        c.alpha,
        c.fingerprint.hex(),
        len(item.base),
        len(item.enhancement or b""),
        analysis_pending=analysis_pending,
    )


class DecodeTurn:
    """A frame's place in its camera's decode order: wait for ``previous``, then decode,
    then :meth:`release` (always: every later frame of the camera waits for it)."""

    def __init__(self, previous: asyncio.Future | None, mine: asyncio.Future):
        self.previous, self._mine = previous, mine

    def release(self) -> None:
        if not self._mine.done():
            self._mine.set_result(None)


class OrderedDecoder:
    """Entropy decoding in one worker thread, in read order per camera."""

    def __init__(
        self,
        codec: Codec,
        metrics: CloudMetrics,
        executor: concurrent.futures.Executor,
        chain: ReferenceChain | None = None,
        max_cameras: int = MAX_CAMERAS,
    ):
        self.codec, self.metrics, self.executor = codec, metrics, executor
        self.chain, self.max_cameras = chain, max_cameras
        self._tails: dict[str, asyncio.Future] = {}  # camera -> the newest turn
        # camera -> reference state after its last decoded frame (P-frame cameras only)
        self._references: OrderedDict[str, ReferenceState] = OrderedDict()
        self._lock = threading.Lock()

    def reserve(self, camera_id: str) -> DecodeTurn:
        """Take the next turn of ``camera_id`` (call when the frame is read)."""
        mine = asyncio.get_running_loop().create_future()
        turn = DecodeTurn(self._tails.get(camera_id), mine)
        self._tails[camera_id] = mine

        def forget(done: asyncio.Future) -> None:
            if self._tails.get(camera_id) is done:
                del self._tails[camera_id]

        mine.add_done_callback(forget)
        return turn

    def forget(self, camera_id: str, seq: int) -> None:
        """Frame ``seq`` decoded but was not stored: it is nobody's reference."""
        with self._lock:
            held = self._references.get(camera_id)
            if held is not None and held.seq == seq:
                del self._references[camera_id]

    def _reference(self, camera_id: str, container: FrameContainer) -> ReferenceState | None:
        link = container.reference
        if link is None:
            return None
        with self._lock:
            held = self._references.get(camera_id)
        if held is not None and held.seq == link.seq and held.checksum == link.checksum:
            return held
        if self.chain is None:
            return held  # the codec refuses it unless it is the one named
        return self.chain.reference(camera_id, link)

    def _decode(self, camera_id: str, seq: int, container: FrameContainer) -> DecodedFrame:
        """(decode thread) the frame against the reference it names."""
        frame = self.codec.decode(container, self._reference(camera_id, container))
        with self._lock:
            # every frame, key frames included: the next P-frame may arrive before this one
            # is committed, so the store could not rebuild it yet
            self._references[camera_id] = frame.reference(seq)
            self._references.move_to_end(camera_id)
            while len(self._references) > self.max_cameras:
                self._references.popitem(last=False)
        return frame

    async def decode(
        self, turn: DecodeTurn, container: FrameContainer, camera_id: str = "", seq: int = 0
    ) -> DecodedFrame:
        """Decode once the camera's previous frame is done; FrameRefused if it does not
        decode (``enhancement`` / ``malformed``; ``reference_missing`` for a P-frame whose
        reference cannot be had; ``fingerprint`` for a P-frame of a temporal model this
        server lacks; ``internal`` for a decoder bug)."""
        try:
            if turn.previous is not None:
                await asyncio.shield(turn.previous)
            t0 = time.perf_counter()
            try:
                return await asyncio.get_running_loop().run_in_executor(
                    self.executor, self._decode, camera_id, seq, container
                )
            except ReferenceMismatch as exc:
                raise reference_refusal(exc) from None
            except BitstreamError as exc:
                reason = "enhancement" if "enhancement" in str(exc) else "malformed"
                raise FrameRefused(Code.INVALID_ARGUMENT, reason, str(exc)) from None
            except ModelError as exc:
                raise FrameRefused(
                    Code.FAILED_PRECONDITION, "fingerprint", f"P-frame: {exc}"
                ) from None
            except Exception as exc:  # a decoder bug must not take the stream down
                log.exception("decoding failed")
                raise FrameRefused(Code.INTERNAL, "internal", f"decoder failure: {exc}") from None
            finally:
                self.metrics.decode_time(time.perf_counter() - t0)
        finally:
            turn.release()
