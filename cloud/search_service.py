"""SearchService: frames by detected objects, events, and a live watch of results and
events — the gRPC face of :class:`~polc.cloud.search.queries.SearchQueries` and
:class:`~polc.cloud.events.hub.LiveHub`. Operator role, as QueryService; every bad filter
or page token is INVALID_ARGUMENT naming the field (``filter.<field>`` for the
SearchFilter's)."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc

from polc.cloud.analyzer import AnalysisResult
from polc.cloud.auth import Authenticator
from polc.cloud.events.hub import FrameUpdate, LiveHub, WatchQueue
from polc.cloud.events.metrics import ObservationMetrics
from polc.cloud.events.tracker import EventChange
from polc.cloud.field_checks import InvalidField, enum_value, time_range_us
from polc.cloud.proto_mapping import frame_meta, result_message, to_timestamp
from polc.cloud.search.queries import SearchQueries, camera_filter
from polc.cloud.store.observations import Event
from polc.v1 import common_pb2, search_pb2, search_pb2_grpc

Code = grpc.StatusCode
STATES: dict[int, str | None] = {
    search_pb2.EVENT_STATE_UNSPECIFIED: None,
    search_pb2.EVENT_STATE_ACTIVE: "active",
    search_pb2.EVENT_STATE_ENDED: "ended",
}
_STATE_OF: dict[str, Any] = {v: k for k, v in STATES.items() if v}
_CHANGE_KIND = {
    "start": search_pb2.EVENT_CHANGE_KIND_START,
    "update": search_pb2.EVENT_CHANGE_KIND_UPDATE,
    "end": search_pb2.EVENT_CHANGE_KIND_END,
}


def _box(box) -> common_pb2.BoundingBox:
    return common_pb2.BoundingBox(x_min=box[0], y_min=box[1], x_max=box[2], y_max=box[3])


def event_message(e: Event) -> search_pb2.Event:
    """The polc.v1 Event of a stored event."""
    what = f"event {e.id}"
    return search_pb2.Event(
        id=e.id,
        camera_id=e.camera_id,
        label=e.label,
        state=_STATE_OF[e.state],
        start_time=to_timestamp(e.start_time_us, what),
        end_time=to_timestamp(e.end_time_us, what),
        start_seq=e.start_seq,
        end_seq=e.end_seq,
        best_seq=e.best_seq,
        best_score=e.best_score,
        best_box=_box(e.best_box),
        path=[search_pb2.EventPoint(seq=p[0], box=_box(p[1:])) for p in e.path],
    )


#: The fields of SearchFilter; an InvalidField naming one names it as ``filter.<field>``.
FILTER_FIELDS = frozenset(search_pb2.SearchFilter.DESCRIPTOR.fields_by_name)


def _query_args(
    request: search_pb2.SearchFramesRequest | search_pb2.ListEventsRequest,
) -> dict[str, Any]:
    """SearchQueries' keyword arguments of a SearchFrames / ListEvents request: its filter
    (times checked), page, and min_count or state."""
    f = request.filter
    start, end = time_range_us(f)
    args: dict[str, Any] = {
        "camera_ids": list(f.camera_ids),
        "start_us": start,
        "end_us": end,
        "classes": list(f.classes),
        "min_score": f.min_score,
        "page_size": request.page_size,
        "page_token": request.page_token,
    }
    if isinstance(request, search_pb2.ListEventsRequest):
        args["state"] = STATES[enum_value(request.state, tuple(STATES), "state")]
    else:
        args["min_count"] = request.min_count
    return args


class SearchServicer(search_pb2_grpc.SearchServiceServicer):
    def __init__(
        self,
        *,
        queries: SearchQueries,
        hub: LiveHub,
        auth: Authenticator,
        io_executor: concurrent.futures.Executor,
        metrics: ObservationMetrics,
        watch_queue: int = 256,
    ):
        self.queries, self.hub, self.auth, self.io = queries, hub, auth, io_executor
        self.metrics, self.watch_queue = metrics, watch_queue

    async def _answer(self, context: grpc.aio.ServicerContext, fn: Callable[[], Any]) -> Any:
        """Run a query in the store's pool; InvalidField → INVALID_ARGUMENT naming it."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self.io, fn)
        except InvalidField as exc:
            where = "filter." if exc.field in FILTER_FIELDS else ""
            await context.abort(Code.INVALID_ARGUMENT, f"{where}{exc}")

    async def SearchFrames(
        self, request: search_pb2.SearchFramesRequest, context: grpc.aio.ServicerContext
    ) -> search_pb2.SearchFramesResponse:
        await self.auth.authorize_operator(context)
        page = await self._answer(
            context, lambda: self.queries.search_frames(**_query_args(request))
        )
        response = search_pb2.SearchFramesResponse(next_page_token=page.next_page_token)
        for r in page.items:
            response.frames.add(
                frame=frame_meta(r),
                result=result_message(r.camera_id, r.seq, AnalysisResult.from_dict(r.result)),
            )
        return response

    async def ListEvents(
        self, request: search_pb2.ListEventsRequest, context: grpc.aio.ServicerContext
    ) -> search_pb2.ListEventsResponse:
        await self.auth.authorize_operator(context)
        page = await self._answer(context, lambda: self.queries.list_events(**_query_args(request)))
        return search_pb2.ListEventsResponse(
            events=[event_message(e) for e in page.items], next_page_token=page.next_page_token
        )

    async def GetEvent(
        self, request: search_pb2.GetEventRequest, context: grpc.aio.ServicerContext
    ) -> search_pb2.GetEventResponse:
        await self.auth.authorize_operator(context)
        event = await self._answer(context, lambda: self.queries.get_event(request.id))
        if event is None:
            await context.abort(Code.NOT_FOUND, f"no event {request.id!r}")
        return search_pb2.GetEventResponse(event=event_message(event))

    async def WatchResults(
        self, request: search_pb2.WatchResultsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[search_pb2.WatchResultsResponse]:
        await self.auth.authorize_operator(context)
        try:
            cameras = camera_filter(list(request.camera_ids), "camera_ids")
        except InvalidField as exc:
            await context.abort(Code.INVALID_ARGUMENT, str(exc))
        watcher = WatchQueue(cameras, self.watch_queue)
        self.hub.subscribe(watcher)
        try:
            await context.send_initial_metadata(())  # the watch is registered from here on
            while True:
                update = await watcher.get()
                if update is None:
                    self.metrics.watch_dropped()
                    await context.abort(
                        Code.RESOURCE_EXHAUSTED,
                        f"watcher too slow: more than {self.watch_queue} updates queued, "
                        "dropped (call again to resume)",
                    )
                if isinstance(update, FrameUpdate):
                    if request.events_only:
                        continue
                    yield search_pb2.WatchResultsResponse(
                        result=result_message(update.camera_id, update.seq, update.result),
                        capture_time=to_timestamp(update.capture_time_us),
                    )
                elif isinstance(update, EventChange):
                    yield search_pb2.WatchResultsResponse(
                        event_change=search_pb2.EventChange(
                            kind=_CHANGE_KIND[update.kind], event=event_message(update.event)
                        )
                    )
        finally:
            self.hub.unsubscribe(watcher)
