"""The operator's view x̄(β) of a stored frame, transport-free: what the gRPC
ReconstructService and the HTTP console's image endpoint both call.

    (camera, seq or capture time, β) ─► FrameStore ─► base (+ enhancement: stored, or
    requested from the camera's edge through the EdgeRegistry for β < 1)
    ─► rendering.render (codec pool) ─► PNG / JPEG

Failures are :class:`ReconstructFailed` with an ``outcome`` (the metric label): invalid
(a bad argument), not_found (no such frame), unavailable (β < 1 and the enhancement layer
cannot be had from the edge) or error (the stored frame no longer decodes).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
from dataclasses import dataclass

from polc.cloud.config import IngestSettings
from polc.cloud.ingest.session import EdgeRegistry, EnhancementUnavailable
from polc.cloud.metrics import CloudMetrics
from polc.cloud.reference_chain import ReferenceChain
from polc.cloud.rendering import encode_image, render
from polc.cloud.store.interface import FrameRecord, FrameStore
from polc.shared.codec.runtime import Codec
from polc.shared.errors import BitstreamError
from polc.shared.identifiers import is_camera_id


class ReconstructFailed(Exception):
    """A reconstruction that cannot be made; ``outcome``: invalid | not_found |
    unavailable | error (see the module docstring)."""

    def __init__(self, outcome: str, message: str):
        super().__init__(message)
        self.outcome, self.message = outcome, message


@dataclass(frozen=True)
class Reconstruction:
    """One rendered frame and what it cost."""

    image: bytes  # encoded PNG / JPEG
    format: str  # "png" | "jpeg"
    width: int
    height: int
    beta: float
    base_bpp: float
    enhancement_bpp: float
    record: FrameRecord  # the frame's index entry (after a fetched enhancement layer)
    enhancement_fetched: bool  # the enhancement layer was pulled from the edge for this


def check_arguments(camera_id: str, beta: float) -> None:
    """The arguments every transport shares (ReconstructFailed "invalid")."""
    if not (math.isfinite(beta) and 0.0 <= beta <= 1.0):
        raise ReconstructFailed("invalid", f"beta must be in [0, 1], got {beta}")
    if not is_camera_id(camera_id):
        raise ReconstructFailed("invalid", "invalid camera id")


class FrameReconstructor:
    """Reconstructs stored frames of one store at β (see the module docstring)."""

    def __init__(
        self,
        *,
        codec: Codec,
        store: FrameStore,
        metrics: CloudMetrics,
        registry: EdgeRegistry,
        settings: IngestSettings,
        io_executor: concurrent.futures.Executor,
        codec_executor: concurrent.futures.Executor,
    ):
        self.codec, self.store, self.metrics = codec, store, metrics
        self.registry, self.settings = registry, settings
        self.io, self.codec_pool = io_executor, codec_executor
        self.chain = ReferenceChain(codec, store)  # P-frames decode from their key frame

    async def reconstruct(
        self,
        camera_id: str,
        *,
        seq: int | None = None,
        at_us: int | None = None,
        beta: float = 1.0,
        fmt: str = "png",
        jpeg_quality: int = 90,
        enhancement_wait: float = 0.0,
        time_remaining: float | None = None,
    ) -> Reconstruction:
        """Frame ``seq`` of the camera (or the latest captured at or before ``at_us``) at
        β; ``enhancement_wait`` (0: the configured default, capped by the configured
        maximum and by ``time_remaining``) bounds the wait for the edge."""
        check_arguments(camera_id, beta)
        loop = asyncio.get_running_loop()
        if at_us is not None:
            record = await loop.run_in_executor(self.io, self.store.find_at, camera_id, at_us)
            what = "captured at or before the requested time"
        elif seq is not None:
            record = await loop.run_in_executor(self.io, self.store.get, camera_id, seq)
            what = f"with seq {seq}"
        else:
            raise ReconstructFailed("invalid", "set seq or capture_time")
        if record is None:
            raise ReconstructFailed("not_found", f"no stored frame of camera {camera_id!r} {what}")
        fetched = False
        if beta < 1.0 and not record.has_enhancement:
            wait = min(
                enhancement_wait or self.settings.enhancement_wait_seconds,
                self.settings.max_enhancement_wait_seconds,
            )
            if time_remaining is not None:
                wait = max(0.0, min(wait, time_remaining - 0.5))
            try:
                await self.registry.request_enhancement(record.camera_id, record.seq, wait)
            except EnhancementUnavailable as exc:
                self.metrics.enhancement_request(exc.outcome)
                raise ReconstructFailed(
                    "unavailable", f"beta={beta:g} needs the enhancement layer: {exc}"
                ) from None
            self.metrics.enhancement_request("uploaded")
            fetched = True
            record = await loop.run_in_executor(
                self.io, self.store.get, record.camera_id, record.seq
            )
            assert record is not None
        stored = record
        base = await loop.run_in_executor(
            self.io, self.store.read_base, stored.camera_id, stored.seq
        )
        enh = (
            await loop.run_in_executor(
                self.io, self.store.read_enhancement, stored.camera_id, stored.seq
            )
            if beta < 1.0
            else None
        )

        def work() -> tuple[bytes, int, int, float, float]:
            image, base_bpp, enh_bpp = render(
                self.chain, stored.camera_id, stored.seq, base, enh, beta
            )
            data = encode_image(image, fmt, jpeg_quality)
            return data, image.shape[1], image.shape[0], base_bpp, enh_bpp

        try:
            data, width, height, base_bpp, enh_bpp = await loop.run_in_executor(
                self.codec_pool, work
            )
        except BitstreamError as exc:  # a stored frame no longer decodes (other model)
            raise ReconstructFailed("error", f"stored frame cannot be decoded: {exc}") from None
        return Reconstruction(data, fmt, width, height, beta, base_bpp, enh_bpp, stored, fetched)
