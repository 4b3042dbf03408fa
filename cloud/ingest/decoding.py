"""The decode step of the ingest path: entropy decoding before a frame is stored, strictly
in order per camera, and the index entry of a parsed frame.

    frame read ─► reserve a turn (in read order, per camera) ─► ... ─► decode (own thread)
                                                                        after the turn before

A frame is stored only once it decoded (a frame that fails to decode is refused, never
stored). Turns are taken when a frame is read, before anything awaits, so the frames of a
camera decode in the order its stream delivered them even when some of them first wait for
a store lookup (a possible resend): a P-frame needs the decoded latent of the frame before
it. A frame that turns out to be a duplicate gives its turn up without decoding.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time

import grpc

from polc.cloud.ingest.validation import FrameRefused, IncomingFrame
from polc.cloud.metrics import CloudMetrics
from polc.cloud.store.interface import FrameRecord
from polc.shared.codec.container import FrameContainer
from polc.shared.codec.runtime import Codec, DecodedFrame
from polc.shared.errors import BitstreamError

log = logging.getLogger(__name__)
Code = grpc.StatusCode


def frame_record(item: IncomingFrame, analysis_pending: bool = False) -> FrameRecord:
    """The index entry of a parsed frame (without results)."""
    c = item.container
    return FrameRecord(item.camera_id, item.seq, item.capture_time_us, c.geometry.width,
                       c.geometry.height, c.alpha, c.fingerprint.hex(), len(item.base),
                       len(item.enhancement or b""), analysis_pending=analysis_pending)


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

    def __init__(self, codec: Codec, metrics: CloudMetrics,
                 executor: concurrent.futures.Executor):
        self.codec, self.metrics, self.executor = codec, metrics, executor
        self._tails: dict[str, asyncio.Future] = {}  # camera -> the newest turn

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

    async def decode(self, turn: DecodeTurn, container: FrameContainer) -> DecodedFrame:
        """Decode once the camera's previous frame is done; FrameRefused if it does not
        decode (``enhancement`` / ``malformed``, or ``internal`` for a decoder bug)."""
        try:
            if turn.previous is not None:
                await asyncio.shield(turn.previous)
            t0 = time.perf_counter()
            try:
                return await asyncio.get_running_loop().run_in_executor(
                    self.executor, self.codec.decode, container)
            except BitstreamError as exc:
                reason = "enhancement" if "enhancement" in str(exc) else "malformed"
                raise FrameRefused(Code.INVALID_ARGUMENT, reason, str(exc)) from None
            except Exception as exc:  # a decoder bug must not take the stream down
                log.exception("decoding failed")
                raise FrameRefused(Code.INTERNAL, "internal",
                                   f"decoder failure: {exc}") from None
            finally:
                self.metrics.decode_time(time.perf_counter() - t0)
        finally:
            turn.release()
