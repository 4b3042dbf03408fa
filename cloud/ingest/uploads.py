"""Enhancement layers uploaded on demand: an edge answers an ``EnhancementRequest`` (sent
when an operator reconstructs at β < 1 a frame stored without it) with an
``EnhancementUpload``; the layer is checked against the stored base layer (it must decode
with it) and stored, and the Reconstruct call waiting for it is woken."""

from __future__ import annotations

import asyncio
import concurrent.futures

import grpc

from polc.cloud.ingest.frames import FrameIntake
from polc.cloud.ingest.session import EnhancementUnavailable, StreamSession
from polc.cloud.ingest.validation import FrameRefused, check_upload, validate_enhancement
from polc.cloud.reference_chain import ReferenceChain
from polc.cloud.store.interface import RecordRejected, StoreFull
from polc.shared.codec.container import FrameContainer
from polc.shared.codec.runtime import Codec
from polc.shared.errors import BitstreamError
from polc.v1 import ingest_pb2

Code = grpc.StatusCode


class EnhancementUploads:
    """Receives uploads on the ingest streams and stores the layers they carry."""

    def __init__(self, codec: Codec, codec_pool: concurrent.futures.Executor, frames: FrameIntake):
        """``frames``: the stream's frame intake, whose store, settings, metrics and I/O pool
        the uploads share, and which answers for a refused upload and tracks the store's
        state."""
        self.codec, self.codec_pool, self.frames = codec, codec_pool, frames
        self.store, self.settings, self.metrics = frames.store, frames.settings, frames.metrics
        self.io = frames.io
        self.chain = ReferenceChain(codec, self.store)  # a P-frame decodes against its reference

    async def _io(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.io, fn, *args)

    async def receive(self, msg: ingest_pb2.EnhancementUpload, session: StreamSession) -> None:
        """One upload on ``session``: store it and wake the requests waiting for it."""
        camera_id = msg.camera_id or session.camera_id
        pending = [
            (rid, fut)
            for rid, (seq, fut) in session.pending.items()
            if rid == msg.request_id or (not msg.request_id and seq == msg.seq)
        ]
        try:
            check_upload(msg)
            if camera_id != session.camera_id:
                raise FrameRefused(
                    Code.PERMISSION_DENIED,
                    "camera_mismatch",
                    f"upload for camera {camera_id!r} on the stream of {session.camera_id!r}",
                )
            if msg.unavailable or not msg.enhancement_layer:
                why = msg.message or "no reason given"
                raise EnhancementUnavailable(
                    f"the edge of camera {camera_id!r} no longer holds the enhancement layer "
                    f"of frame {msg.seq} ({why})"
                )
            await self.accept(camera_id, msg.seq, msg.enhancement_layer)
            self.metrics.enhancement_received(len(msg.enhancement_layer))
            for _, fut in pending:
                if not fut.done():
                    fut.set_result(None)
        except EnhancementUnavailable as exc:
            for _, fut in pending:
                if not fut.done():
                    fut.set_exception(exc)
        except FrameRefused as exc:
            self.frames.error(session, camera_id, msg.seq, exc, True)
            for _, fut in pending:
                if not fut.done():
                    fut.set_exception(
                        EnhancementUnavailable(
                            f"the edge of camera {camera_id!r} uploaded an invalid enhancement "
                            f"layer for frame {msg.seq}: {exc.message}"
                        )
                    )

    async def accept(self, camera_id: str, seq: int, data: bytes) -> None:
        """Validate (decode) an enhancement layer against the stored frame and store it."""
        if len(data) > self.settings.max_frame_bytes:
            raise FrameRefused(
                Code.RESOURCE_EXHAUSTED, "too_large", f"enhancement layer is {len(data)} bytes"
            )
        record = await self._io(self.store.get, camera_id, seq)
        if record is None:
            raise FrameRefused(
                Code.NOT_FOUND, "enhancement", f"frame {seq} of camera {camera_id!r} is not stored"
            )
        if record.has_enhancement:
            return
        base = await self._io(self.store.read_base, camera_id, seq)

        def check() -> None:
            container = FrameContainer.from_bytes(base)
            container.enhancement = validate_enhancement(
                container, data, self.codec.wire.fingerprint
            )
            try:
                self.chain.decode(camera_id, seq, container)
            except BitstreamError as exc:
                raise FrameRefused(Code.INVALID_ARGUMENT, "enhancement", str(exc)) from None

        await asyncio.get_running_loop().run_in_executor(self.codec_pool, check)
        try:
            await self._io(self.store.put_enhancement, camera_id, seq, data)
        except (StoreFull, RecordRejected) as exc:
            raise self.frames.store_refusal(exc) from None
        self.frames.stored_ok()
