"""ReconstructService: the operator's view x̄(β) of a stored frame.

    request (seq or capture time, β) ─► FrameStore ─► base (+ enhancement: stored, or
    requested from the camera's edge through the EdgeRegistry for β < 1)
    ─► rendering.render (codec pool) ─► PNG / JPEG

Every request field is checked first (INVALID_ARGUMENT naming the field): camera id, β,
format (a value the contract defines), jpeg_quality, capture_time (protobuf's Timestamp
range) and enhancement_wait (a non-negative Duration in protobuf's range).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import time

import grpc

from polc.cloud.auth import Authenticator
from polc.cloud.config import IngestSettings
from polc.cloud.field_checks import InvalidField, duration_seconds, enum_value, timestamp_us
from polc.cloud.ingest.session import EdgeRegistry, EnhancementUnavailable
from polc.cloud.metrics import CloudMetrics
from polc.cloud.proto_mapping import frame_meta
from polc.cloud.reference_chain import ReferenceChain
from polc.cloud.rendering import encode_image, render
from polc.cloud.store.interface import FrameStore
from polc.shared.codec.runtime import Codec
from polc.shared.errors import BitstreamError
from polc.shared.identifiers import is_camera_id
from polc.v1 import reconstruct_pb2, reconstruct_pb2_grpc

Code = grpc.StatusCode
FORMATS = tuple(reconstruct_pb2.ImageFormat.values())


class _Outcome(Exception):
    def __init__(self, code: grpc.StatusCode, outcome: str, message: str):
        super().__init__(message)
        self.code, self.outcome, self.message = code, outcome, message


class ReconstructServicer(reconstruct_pb2_grpc.ReconstructServiceServicer):
    def __init__(
        self,
        *,
        codec: Codec,
        store: FrameStore,
        auth: Authenticator,
        metrics: CloudMetrics,
        registry: EdgeRegistry,
        settings: IngestSettings,
        io_executor: concurrent.futures.Executor,
        codec_executor: concurrent.futures.Executor,
    ):
        self.codec, self.store, self.auth, self.metrics = codec, store, auth, metrics
        self.registry, self.settings = registry, settings
        self.io, self.codec_pool = io_executor, codec_executor
        self.chain = ReferenceChain(codec, store)  # P-frames decode from their key frame

    async def Reconstruct(
        self, request: reconstruct_pb2.ReconstructRequest, context: grpc.aio.ServicerContext
    ) -> reconstruct_pb2.ReconstructResponse:
        await self.auth.authorize_operator(context)
        t0 = time.perf_counter()
        try:
            response = await self._reconstruct(request, context)
        except _Outcome as exc:
            self.metrics.reconstruct(exc.outcome, time.perf_counter() - t0)
            await context.abort(exc.code, exc.message)
        self.metrics.reconstruct("ok", time.perf_counter() - t0)
        return response

    async def _reconstruct(
        self, request: reconstruct_pb2.ReconstructRequest, context: grpc.aio.ServicerContext
    ) -> reconstruct_pb2.ReconstructResponse:
        loop = asyncio.get_running_loop()
        beta = request.beta if request.HasField("beta") else 1.0
        if not (math.isfinite(beta) and 0.0 <= beta <= 1.0):
            raise _Outcome(Code.INVALID_ARGUMENT, "invalid", f"beta must be in [0, 1], got {beta}")
        if not is_camera_id(request.camera_id):
            raise _Outcome(Code.INVALID_ARGUMENT, "invalid", "invalid camera id")
        if request.jpeg_quality > 100:
            raise _Outcome(Code.INVALID_ARGUMENT, "invalid", "jpeg_quality must be 0-100")
        which = request.WhichOneof("frame")
        try:
            enum_value(request.format, FORMATS, "format")
            at_us = (
                timestamp_us(request.capture_time, "capture_time") if which == "capture_time" else 0
            )
            wait = (
                duration_seconds(request.enhancement_wait, "enhancement_wait")
                if request.HasField("enhancement_wait")
                else 0.0
            )
        except InvalidField as exc:
            raise _Outcome(Code.INVALID_ARGUMENT, "invalid", str(exc)) from None
        if which == "capture_time":
            record = await loop.run_in_executor(
                self.io, self.store.find_at, request.camera_id, at_us
            )
            what = "captured at or before the requested time"
        elif which == "seq":
            record = await loop.run_in_executor(
                self.io, self.store.get, request.camera_id, request.seq
            )
            what = f"with seq {request.seq}"
        else:
            raise _Outcome(Code.INVALID_ARGUMENT, "invalid", "set seq or capture_time")
        if record is None:
            raise _Outcome(
                Code.NOT_FOUND,
                "not_found",
                f"no stored frame of camera {request.camera_id!r} {what}",
            )
        fetched = False
        if beta < 1.0 and not record.has_enhancement:
            wait = min(
                wait or self.settings.enhancement_wait_seconds,
                self.settings.max_enhancement_wait_seconds,
            )
            remaining = context.time_remaining()
            if remaining is not None:
                wait = max(0.0, min(wait, remaining - 0.5))
            try:
                await self.registry.request_enhancement(record.camera_id, record.seq, wait)
            except EnhancementUnavailable as exc:
                self.metrics.enhancement_request(exc.outcome)
                raise _Outcome(
                    Code.FAILED_PRECONDITION,
                    "unavailable",
                    f"beta={beta:g} needs the enhancement layer: {exc}",
                ) from None
            self.metrics.enhancement_request("uploaded")
            fetched = True
            record = await loop.run_in_executor(
                self.io, self.store.get, record.camera_id, record.seq
            )
            assert record is not None
        base = await loop.run_in_executor(
            self.io, self.store.read_base, record.camera_id, record.seq
        )
        enh = (
            await loop.run_in_executor(
                self.io, self.store.read_enhancement, record.camera_id, record.seq
            )
            if beta < 1.0
            else None
        )
        fmt = "jpeg" if request.format == reconstruct_pb2.IMAGE_FORMAT_JPEG else "png"

        def work() -> tuple[bytes, int, int, float, float]:
            image, base_bpp, enh_bpp = render(
                self.chain, record.camera_id, record.seq, base, enh, beta
            )
            data = encode_image(image, fmt, request.jpeg_quality or 90)
            return data, image.shape[1], image.shape[0], base_bpp, enh_bpp

        try:
            data, width, height, base_bpp, enh_bpp = await loop.run_in_executor(
                self.codec_pool, work
            )
        except BitstreamError as exc:  # a stored frame no longer decodes (other model)
            raise _Outcome(
                Code.FAILED_PRECONDITION, "error", f"stored frame cannot be decoded: {exc}"
            ) from None
        return reconstruct_pb2.ReconstructResponse(
            image=data,
            format=(
                reconstruct_pb2.IMAGE_FORMAT_JPEG
                if fmt == "jpeg"
                else reconstruct_pb2.IMAGE_FORMAT_PNG
            ),
            mime_type=f"image/{fmt}",
            width=width,
            height=height,
            alpha=record.alpha,
            beta=beta,
            base_bpp=base_bpp,
            enhancement_bpp=enh_bpp,
            frame=frame_meta(record),
            enhancement_fetched=fetched,
        )
