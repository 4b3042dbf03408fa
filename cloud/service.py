"""The operator-facing services: Reconstruct (x̄(β) of a stored frame) and Query."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import logging
import math
import time

import grpc

from polc.cloud.analyzer import AnalysisResult
from polc.cloud.auth import Authenticator, AuthError
from polc.cloud.config import CAMERA_ID_RE, IngestSettings
from polc.cloud.ingest import (
    EdgeRegistry,
    EnhancementUnavailable,
    result_message,
    timestamp_us,
    to_timestamp,
)
from polc.cloud.metrics import CloudMetrics
from polc.cloud.reconstruct import encode_image, render
from polc.cloud.store import MAX_SEQ, FrameRecord, FrameStore
from polc.shared.codec.runtime import Codec
from polc.shared.errors import BitstreamError
from polc.v1 import (
    common_pb2,
    query_pb2,
    query_pb2_grpc,
    reconstruct_pb2,
    reconstruct_pb2_grpc,
)

log = logging.getLogger(__name__)
Code = grpc.StatusCode


def frame_meta(record: FrameRecord) -> common_pb2.FrameMeta:
    return common_pb2.FrameMeta(
        camera_id=record.camera_id, seq=record.seq,
        capture_time=to_timestamp(record.capture_time_us),
        received_time=to_timestamp(record.received_time_us),
        width=record.width, height=record.height, alpha=record.alpha,
        base_bytes=record.base_bytes, enhancement_bytes=record.enhancement_bytes,
        base_bpp=record.base_bpp, enhancement_bpp=record.enhancement_bpp,
        has_enhancement=record.has_enhancement, has_result=record.result is not None,
        model_fingerprint=record.fingerprint)


async def _authorize(auth: Authenticator, context: grpc.aio.ServicerContext) -> None:
    try:
        auth.require_operator(context.invocation_metadata())
    except AuthError as exc:
        await context.abort(exc.code, str(exc))


async def _camera(camera_id: str, context: grpc.aio.ServicerContext) -> None:
    if not CAMERA_ID_RE.match(camera_id):
        await context.abort(Code.INVALID_ARGUMENT,
                            f"camera id {camera_id[:140]!r} must be 1-128 chars of "
                            "[A-Za-z0-9._:-]")


class _Outcome(Exception):
    def __init__(self, code: grpc.StatusCode, outcome: str, message: str):
        super().__init__(message)
        self.code, self.outcome, self.message = code, outcome, message


class ReconstructServicer(reconstruct_pb2_grpc.ReconstructServiceServicer):
    def __init__(self, *, codec: Codec, store: FrameStore, auth: Authenticator,
                 metrics: CloudMetrics, registry: EdgeRegistry, settings: IngestSettings,
                 io_executor: concurrent.futures.Executor,
                 codec_executor: concurrent.futures.Executor):
        self.codec, self.store, self.auth, self.metrics = codec, store, auth, metrics
        self.registry, self.settings = registry, settings
        self.io, self.codec_pool = io_executor, codec_executor

    async def Reconstruct(self, request: reconstruct_pb2.ReconstructRequest,
                          context: grpc.aio.ServicerContext
                          ) -> reconstruct_pb2.ReconstructResponse:
        await _authorize(self.auth, context)
        t0 = time.perf_counter()
        try:
            response = await self._reconstruct(request, context)
        except _Outcome as exc:
            self.metrics.reconstruct(exc.outcome, time.perf_counter() - t0)
            await context.abort(exc.code, exc.message)
        self.metrics.reconstruct("ok", time.perf_counter() - t0)
        return response

    async def _reconstruct(self, request: reconstruct_pb2.ReconstructRequest,
                           context: grpc.aio.ServicerContext
                           ) -> reconstruct_pb2.ReconstructResponse:
        loop = asyncio.get_running_loop()
        beta = request.beta if request.HasField("beta") else 1.0
        if not (math.isfinite(beta) and 0.0 <= beta <= 1.0):
            raise _Outcome(Code.INVALID_ARGUMENT, "invalid", f"beta must be in [0, 1], got {beta}")
        if not CAMERA_ID_RE.match(request.camera_id):
            raise _Outcome(Code.INVALID_ARGUMENT, "invalid", "invalid camera id")
        if request.jpeg_quality > 100:
            raise _Outcome(Code.INVALID_ARGUMENT, "invalid", "jpeg_quality must be 0-100")
        which = request.WhichOneof("frame")
        if which == "capture_time":
            record = await loop.run_in_executor(self.io, self.store.find_at, request.camera_id,
                                                timestamp_us(request.capture_time))
            what = "captured at or before the requested time"
        elif which == "seq":
            record = await loop.run_in_executor(self.io, self.store.get, request.camera_id,
                                                request.seq)
            what = f"with seq {request.seq}"
        else:
            raise _Outcome(Code.INVALID_ARGUMENT, "invalid", "set seq or capture_time")
        if record is None:
            raise _Outcome(Code.NOT_FOUND, "not_found",
                           f"no stored frame of camera {request.camera_id!r} {what}")
        fetched = False
        if beta < 1.0 and not record.has_enhancement:
            wait = (request.enhancement_wait.ToTimedelta().total_seconds()
                    if request.HasField("enhancement_wait") else 0.0)
            wait = min(wait or self.settings.enhancement_wait_seconds,
                       self.settings.max_enhancement_wait_seconds)
            remaining = context.time_remaining()
            if remaining is not None:
                wait = max(0.0, min(wait, remaining - 0.5))
            try:
                await self.registry.request_enhancement(record.camera_id, record.seq, wait)
            except EnhancementUnavailable as exc:
                self.metrics.enhancement_request(exc.outcome)
                raise _Outcome(Code.FAILED_PRECONDITION, "unavailable",
                               f"beta={beta:g} needs the enhancement layer: {exc}") from None
            self.metrics.enhancement_request("uploaded")
            fetched = True
            record = await loop.run_in_executor(self.io, self.store.get, record.camera_id,
                                                record.seq)
            assert record is not None
        base = await loop.run_in_executor(self.io, self.store.read_base, record.camera_id,
                                          record.seq)
        enh = (await loop.run_in_executor(self.io, self.store.read_enhancement,
                                          record.camera_id, record.seq)
               if beta < 1.0 else None)
        fmt = "jpeg" if request.format == reconstruct_pb2.IMAGE_FORMAT_JPEG else "png"

        def work() -> tuple[bytes, int, int, float, float]:
            image, base_bpp, enh_bpp = render(self.codec, base, enh, beta)
            data = encode_image(image, fmt, request.jpeg_quality or 90)
            return data, image.shape[1], image.shape[0], base_bpp, enh_bpp

        try:
            data, width, height, base_bpp, enh_bpp = await loop.run_in_executor(
                self.codec_pool, work)
        except BitstreamError as exc:  # a stored frame no longer decodes (other model)
            raise _Outcome(Code.FAILED_PRECONDITION, "error",
                           f"stored frame cannot be decoded: {exc}") from None
        return reconstruct_pb2.ReconstructResponse(
            image=data,
            format=(reconstruct_pb2.IMAGE_FORMAT_JPEG if fmt == "jpeg"
                    else reconstruct_pb2.IMAGE_FORMAT_PNG),
            mime_type=f"image/{fmt}", width=width, height=height, alpha=record.alpha,
            beta=beta, base_bpp=base_bpp, enhancement_bpp=enh_bpp, frame=frame_meta(record),
            enhancement_fetched=fetched)


def _page_token(seq: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{seq}".encode()).decode()


def _parse_token(token: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        tag, _, seq = text.partition(":")
        value = int(seq)
        return value if tag == "v1" and 0 <= value <= MAX_SEQ else None
    except (ValueError, UnicodeDecodeError):
        return None


class QueryServicer(query_pb2_grpc.QueryServiceServicer):
    def __init__(self, *, store: FrameStore, auth: Authenticator, registry: EdgeRegistry,
                 io_executor: concurrent.futures.Executor):
        self.store, self.auth, self.registry, self.io = store, auth, registry, io_executor

    async def _run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.io, fn, *args)

    async def ListCameras(self, request: query_pb2.ListCamerasRequest,
                          context: grpc.aio.ServicerContext) -> query_pb2.ListCamerasResponse:
        await _authorize(self.auth, context)
        cameras = await self._run(self.store.list_cameras)
        response = query_pb2.ListCamerasResponse()
        seen = set()
        for c in cameras:
            seen.add(c.camera_id)
            response.cameras.add(
                camera_id=c.camera_id, frame_count=c.frame_count, first_seq=c.first_seq,
                last_seq=c.last_seq, first_capture_time=to_timestamp(c.first_capture_time_us),
                last_capture_time=to_timestamp(c.last_capture_time_us),
                connected=self.registry.connected(c.camera_id), stored_bytes=c.stored_bytes)
        for camera_id in sorted(set(self.registry.sessions) - seen):
            response.cameras.add(camera_id=camera_id, connected=True)
        return response

    async def ListFrames(self, request: query_pb2.ListFramesRequest,
                         context: grpc.aio.ServicerContext) -> query_pb2.ListFramesResponse:
        await _authorize(self.auth, context)
        await _camera(request.camera_id, context)
        if request.page_size > 1000:
            await context.abort(Code.INVALID_ARGUMENT, "page_size must be at most 1000")
        limit = request.page_size or 100
        after = -1
        if request.page_token:
            parsed = _parse_token(request.page_token)
            if parsed is None:
                await context.abort(Code.INVALID_ARGUMENT, "invalid page_token")
            after = parsed
        start = timestamp_us(request.start_time) if request.HasField("start_time") else None
        end = timestamp_us(request.end_time) if request.HasField("end_time") else None
        records = await self._run(self.store.list_frames, request.camera_id, start, end,
                                  after, limit + 1)
        response = query_pb2.ListFramesResponse(
            frames=[frame_meta(r) for r in records[:limit]])
        if len(records) > limit:
            response.next_page_token = _page_token(records[limit - 1].seq)
        return response

    async def GetResults(self, request: query_pb2.GetResultsRequest,
                         context: grpc.aio.ServicerContext) -> query_pb2.GetResultsResponse:
        await _authorize(self.auth, context)
        await _camera(request.camera_id, context)
        record = await self._run(self.store.get, request.camera_id, request.seq)
        if record is None:
            await context.abort(Code.NOT_FOUND, f"no stored frame {request.seq} of camera "
                                f"{request.camera_id!r}")
        result = AnalysisResult.from_dict(record.result)
        return query_pb2.GetResultsResponse(
            frame=frame_meta(record),
            result=result_message(record.camera_id, record.seq, result))
