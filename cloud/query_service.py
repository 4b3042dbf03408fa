"""QueryService: which cameras and frames the store holds, and a frame's analyzer result.

Every request field is checked before the store is asked (INVALID_ARGUMENT naming the
field): camera ids, the time range (protobuf's Timestamp range), page size and page tokens
(exactly what this service hands out). Stored times outside the Timestamp range (rows of
an older version) are answered clamped (:func:`polc.cloud.field_checks.clamp_time_us`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import re

import grpc

from polc.cloud.analyzer import AnalysisResult
from polc.cloud.auth import Authenticator
from polc.cloud.field_checks import InvalidField, time_range_us
from polc.cloud.ingest.session import EdgeRegistry
from polc.cloud.proto_mapping import frame_meta, result_message, to_timestamp
from polc.cloud.store.interface import MAX_SEQ, FrameStore
from polc.shared import identifiers
from polc.v1 import query_pb2, query_pb2_grpc

Code = grpc.StatusCode
_TOKEN = re.compile(r"v1:(0|[1-9][0-9]{0,18})")


def _page_token(seq: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{seq}".encode()).decode()


def _parse_token(token: str) -> int | None:
    """The seq in a page token this service handed out (the exact encoding), else None."""
    try:
        text = base64.urlsafe_b64decode(token.encode("ascii")).decode("ascii")
    except (ValueError, binascii.Error, UnicodeError):
        return None
    match = _TOKEN.fullmatch(text)
    if match is None or _page_token(int(match[1])) != token:
        return None
    value = int(match[1])
    return value if value <= MAX_SEQ else None


class QueryServicer(query_pb2_grpc.QueryServiceServicer):
    def __init__(
        self,
        *,
        store: FrameStore,
        auth: Authenticator,
        registry: EdgeRegistry,
        io_executor: concurrent.futures.Executor,
    ):
        self.store, self.auth, self.registry, self.io = store, auth, registry, io_executor

    async def _run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.io, fn, *args)

    async def _authorize_on_camera(self, camera_id: str, context: grpc.aio.ServicerContext) -> None:
        """An operator's request about one camera: the role, then the camera id's form."""
        await self.auth.authorize_operator(context)
        try:
            identifiers.check_camera_id(camera_id)
        except ValueError as exc:
            await context.abort(Code.INVALID_ARGUMENT, str(exc))

    async def ListCameras(
        self, request: query_pb2.ListCamerasRequest, context: grpc.aio.ServicerContext
    ) -> query_pb2.ListCamerasResponse:
        await self.auth.authorize_operator(context)
        cameras = await self._run(self.store.list_cameras)
        response = query_pb2.ListCamerasResponse()
        seen = set()
        for c in cameras:
            seen.add(c.camera_id)
            what = f"camera {c.camera_id}"
            response.cameras.add(
                camera_id=c.camera_id,
                frame_count=c.frame_count,
                first_seq=c.first_seq,
                last_seq=c.last_seq,
                first_capture_time=to_timestamp(c.first_capture_time_us, what),
                last_capture_time=to_timestamp(c.last_capture_time_us, what),
                connected=self.registry.connected(c.camera_id),
                stored_bytes=c.stored_bytes,
            )
        for camera_id in sorted(set(self.registry.sessions) - seen):
            response.cameras.add(camera_id=camera_id, connected=True)
        return response

    async def ListFrames(
        self, request: query_pb2.ListFramesRequest, context: grpc.aio.ServicerContext
    ) -> query_pb2.ListFramesResponse:
        await self._authorize_on_camera(request.camera_id, context)
        if request.page_size > 1000:
            await context.abort(Code.INVALID_ARGUMENT, "page_size must be at most 1000")
        limit = request.page_size or 100
        after = -1
        if request.page_token:
            parsed = _parse_token(request.page_token)
            if parsed is None:
                await context.abort(
                    Code.INVALID_ARGUMENT, "page_token: not a token this service handed out"
                )
            after = parsed
        try:
            start, end = time_range_us(request)
        except InvalidField as exc:
            await context.abort(Code.INVALID_ARGUMENT, str(exc))
        records = await self._run(
            self.store.list_frames, request.camera_id, start, end, after, limit + 1
        )
        response = query_pb2.ListFramesResponse(frames=[frame_meta(r) for r in records[:limit]])
        if len(records) > limit:
            response.next_page_token = _page_token(records[limit - 1].seq)
        return response

    async def GetResults(
        self, request: query_pb2.GetResultsRequest, context: grpc.aio.ServicerContext
    ) -> query_pb2.GetResultsResponse:
        await self._authorize_on_camera(request.camera_id, context)
        record = await self._run(self.store.get, request.camera_id, request.seq)
        if record is None:
            await context.abort(
                Code.NOT_FOUND, f"no stored frame {request.seq} of camera {request.camera_id!r}"
            )
        result = AnalysisResult.from_dict(record.result)
        return query_pb2.GetResultsResponse(
            frame=frame_meta(record),
            result=result_message(record.camera_id, record.seq, result),
            pending=record.analysis_pending,
        )
