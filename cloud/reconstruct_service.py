"""ReconstructService: the operator's view x̄(β) of a stored frame, over gRPC — the
proto face of :class:`~polc.cloud.reconstructor.FrameReconstructor`.

Every request field is checked first (INVALID_ARGUMENT naming the field): camera id, β,
format (a value the contract defines), jpeg_quality, capture_time (protobuf's Timestamp
range) and enhancement_wait (a non-negative Duration in protobuf's range).
"""

from __future__ import annotations

import time

import grpc

from polc.cloud.auth import Authenticator
from polc.cloud.field_checks import InvalidField, duration_seconds, enum_value, timestamp_us
from polc.cloud.metrics import CloudMetrics
from polc.cloud.proto_mapping import frame_meta
from polc.cloud.reconstructor import (
    FrameReconstructor,
    ReconstructFailed,
    Reconstruction,
    check_arguments,
)
from polc.v1 import reconstruct_pb2, reconstruct_pb2_grpc

Code = grpc.StatusCode
FORMATS = tuple(reconstruct_pb2.ImageFormat.values())
#: ReconstructFailed.outcome -> the call's status
STATUS = {
    "invalid": Code.INVALID_ARGUMENT,
    "not_found": Code.NOT_FOUND,
    "unavailable": Code.FAILED_PRECONDITION,
    "error": Code.FAILED_PRECONDITION,
}


class ReconstructServicer(reconstruct_pb2_grpc.ReconstructServiceServicer):
    def __init__(
        self,
        *,
        reconstructor: FrameReconstructor,
        auth: Authenticator,
        metrics: CloudMetrics,
    ):
        self.reconstructor, self.auth, self.metrics = reconstructor, auth, metrics

    async def Reconstruct(
        self, request: reconstruct_pb2.ReconstructRequest, context: grpc.aio.ServicerContext
    ) -> reconstruct_pb2.ReconstructResponse:
        await self.auth.authorize_operator(context)
        t0 = time.perf_counter()
        try:
            response = await self._reconstruct(request, context)
        except ReconstructFailed as exc:
            self.metrics.reconstruct(exc.outcome, time.perf_counter() - t0)
            await context.abort(STATUS[exc.outcome], exc.message)
        self.metrics.reconstruct("ok", time.perf_counter() - t0)
        return response

    async def _reconstruct(
        self, request: reconstruct_pb2.ReconstructRequest, context: grpc.aio.ServicerContext
    ) -> reconstruct_pb2.ReconstructResponse:
        beta = request.beta if request.HasField("beta") else 1.0
        check_arguments(request.camera_id, beta)
        if request.jpeg_quality > 100:
            raise ReconstructFailed("invalid", "jpeg_quality must be 0-100")
        which = request.WhichOneof("frame")
        try:
            enum_value(request.format, FORMATS, "format")
            at_us = (
                timestamp_us(request.capture_time, "capture_time")
                if which == "capture_time"
                else None
            )
            wait = (
                duration_seconds(request.enhancement_wait, "enhancement_wait")
                if request.HasField("enhancement_wait")
                else 0.0
            )
        except InvalidField as exc:
            raise ReconstructFailed("invalid", str(exc)) from None
        fmt = "jpeg" if request.format == reconstruct_pb2.IMAGE_FORMAT_JPEG else "png"
        done = await self.reconstructor.reconstruct(
            request.camera_id,
            seq=request.seq if which == "seq" else None,
            at_us=at_us,
            beta=beta,
            fmt=fmt,
            jpeg_quality=request.jpeg_quality or 90,
            enhancement_wait=wait,
            time_remaining=context.time_remaining(),
        )
        return _response(done)


def _response(done: Reconstruction) -> reconstruct_pb2.ReconstructResponse:
    return reconstruct_pb2.ReconstructResponse(
        image=done.image,
        format=(
            reconstruct_pb2.IMAGE_FORMAT_JPEG
            if done.format == "jpeg"
            else reconstruct_pb2.IMAGE_FORMAT_PNG
        ),
        mime_type=f"image/{done.format}",
        width=done.width,
        height=done.height,
        alpha=done.record.alpha,
        beta=done.beta,
        base_bpp=done.base_bpp,
        enhancement_bpp=done.enhancement_bpp,
        frame=frame_meta(done.record),
        enhancement_fetched=done.enhancement_fetched,
    )
