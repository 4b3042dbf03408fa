"""``GET /api/live?cameras=a,b`` (empty: every camera): the live results and events as
Server-Sent Events, from the cloud's :class:`~polc.cloud.events.hub.LiveHub`.

    event: frame    a frame's fresh analysis result (+ α, bpp when stored)
    event: event    an event started / got a better frame / ended {"kind", "event"}
    event: dropped  this client fell ``http.live_queue`` updates behind and was dropped
                    (the stream ends; the console reconnects and reloads)
    event: closing  the cloud is shutting down
    : keep-alive    a comment every 15 s of quiet

Each client is a bounded :class:`~polc.cloud.events.hub.WatchQueue`: the hub only appends
to it, so a slow client costs ingest nothing — it is dropped instead.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import web

from polc.cloud.events.hub import FrameUpdate, WatchQueue
from polc.cloud.field_checks import InvalidField
from polc.cloud.http import params
from polc.cloud.http.context import context_of
from polc.cloud.http.errors import bad_input
from polc.cloud.http.views import live_event_json, live_frame_json
from polc.cloud.search.queries import camera_filter

log = logging.getLogger(__name__)
KEEPALIVE_S = 15.0


class LiveClients:
    """The open live streams of this server (ended at shutdown)."""

    def __init__(self) -> None:
        self.queues: set[WatchQueue] = set()
        self.closing = False

    def close(self) -> None:
        self.closing = True
        for queue in self.queues:
            if not queue.dropped:
                queue.drop()


LIVE_CLIENTS = web.AppKey("live_clients", LiveClients)


def _message(kind: str, body: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(body, separators=(',', ':'))}\n\n".encode()


async def live(request: web.Request) -> web.StreamResponse:
    ctx = context_of(request)
    try:
        cameras = camera_filter(params.values(request.query, "cameras"), "cameras")
    except InvalidField as exc:
        raise bad_input("cameras", str(exc).partition(": ")[2]) from None
    clients = request.app[LIVE_CLIENTS]
    queue = WatchQueue(cameras, ctx.config.http.live_queue)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # a reverse proxy must not buffer the stream
        }
    )
    await response.prepare(request)
    ctx.hub.subscribe(queue)
    clients.queues.add(queue)
    try:
        await response.write(_message("hello", {"cameras": sorted(cameras)}))
        while True:
            try:
                update = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if update is None:
                if clients.closing:
                    await response.write(_message("closing", {}))
                else:
                    log.warning("live console client dropped: %d updates behind", queue.max_queue)
                    await response.write(
                        _message("dropped", {"error": "too slow: fell behind the live updates"})
                    )
                break
            if isinstance(update, FrameUpdate):
                record = await ctx.run(ctx.store.get, update.camera_id, update.seq)
                await response.write(_message("frame", live_frame_json(update, record)))
            else:
                await response.write(_message("event", live_event_json(update)))
    except (ConnectionResetError, ConnectionError):
        pass  # the browser went away
    finally:
        ctx.hub.unsubscribe(queue)
        clients.queues.discard(queue)
    return response
