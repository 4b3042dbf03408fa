"""The JSON API's read endpoints over the store, the search queries and the edges:

    GET /api/status                         store (frames, bytes, retention) and fleet
    GET /api/cameras                        every camera: frames, bytes, connected, kbit/s
    GET /api/cameras/{camera}/frames        a camera's frames by seq (timeline)
    GET /api/frames                         search: cameras, classes, time, min score / count
    GET /api/frames/{camera}/{seq}          one frame: α, bpp, capture time, detections
    GET /api/events                         events: cameras, classes, time, min score, state
    GET /api/events/{id}                    one event

The store calls run on the store's thread pool; bad parameters are 400 naming them.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from polc.cloud.field_checks import InvalidField
from polc.cloud.http import params
from polc.cloud.http.context import ConsoleContext, context_of
from polc.cloud.http.errors import bad_input, not_found
from polc.cloud.http.views import camera_json, event_json, frame_json
from polc.cloud.search.queries import MAX_PAGE
from polc.cloud.store.interface import MAX_SEQ, FrameRecord
from polc.shared.identifiers import is_camera_id

RATE_WINDOW_US = 10_000_000  # kbit/s of a camera: over its last 10 s of capture time


def camera_id(request: web.Request) -> str:
    """The ``{camera}`` path part, checked (400 naming "camera")."""
    value = request.match_info["camera"]
    if not is_camera_id(value):
        raise bad_input("camera", f"{value[:140]!r} must be 1-128 chars of [A-Za-z0-9._:-]")
    return value


def seq_of(request: web.Request) -> int:
    """The ``{seq}`` path part, checked (400 naming "seq")."""
    raw = request.match_info["seq"]
    if not raw.isdigit() or int(raw) > MAX_SEQ:
        raise bad_input("seq", f"not a frame number in [0, 2^63): {raw[:40]!r}")
    return int(raw)


def _queried(fn):
    """A SearchQueries call; its InvalidField named as the HTTP parameter."""

    def call(**kwargs: Any):
        try:
            return fn(**kwargs)
        except InvalidField as exc:
            name = params.PARAMETER_OF.get(exc.field, exc.field)
            raise bad_input(name, str(exc).partition(": ")[2]) from None

    return call


def _filters(query) -> dict[str, Any]:
    return {
        "camera_ids": params.values(query, "cameras"),
        "start_us": params.time_us(query, "start_time"),
        "end_us": params.time_us(query, "end_time"),
        "classes": params.values(query, "classes"),
        "min_score": params.number(query, "min_score", 0.0, 0.0, 1.0),
        "page_size": params.integer(query, "page_size", 0, 0, MAX_PAGE),
        "page_token": params.text(query, "page_token"),
    }


async def search_frames(request: web.Request) -> web.Response:
    ctx, query = context_of(request), request.query
    kwargs = _filters(query)
    kwargs["min_count"] = params.integer(query, "min_count", 0, 0, 10_000)
    page = await ctx.run(lambda: _queried(ctx.queries.search_frames)(**kwargs))
    return web.json_response(
        {"frames": [frame_json(r) for r in page.items], "next_page_token": page.next_page_token}
    )


async def list_events(request: web.Request) -> web.Response:
    ctx, query = context_of(request), request.query
    kwargs = _filters(query)
    kwargs["state"] = query.get("state") or None
    page = await ctx.run(lambda: _queried(ctx.queries.list_events)(**kwargs))
    return web.json_response(
        {"events": [event_json(e) for e in page.items], "next_page_token": page.next_page_token}
    )


async def get_event(request: web.Request) -> web.Response:
    ctx = context_of(request)
    event_id = request.match_info["id"]
    event = await ctx.run(lambda: _queried(ctx.queries.get_event)(event_id=event_id))
    if event is None:
        raise not_found(f"no event {event_id!r}")
    return web.json_response(event_json(event))


async def frame_detail(request: web.Request) -> web.Response:
    ctx = context_of(request)
    camera, seq = camera_id(request), seq_of(request)
    record = await ctx.run(ctx.store.get, camera, seq)
    if record is None:
        raise not_found(f"no stored frame {seq} of camera {camera!r}")
    body = frame_json(record)
    body["connected"] = ctx.registry.connected(camera)
    return web.json_response(body)


async def camera_frames(request: web.Request) -> web.Response:
    """A camera's frames with seq > ``after_seq`` captured in [start_time, end_time], by
    seq (``next_after_seq`` set when there are more)."""
    ctx, query = context_of(request), request.query
    camera = camera_id(request)
    start = params.time_us(query, "start_time")
    end = params.time_us(query, "end_time")
    after = params.integer(query, "after_seq", -1, -1, MAX_SEQ)
    limit = params.integer(query, "page_size", 100, 1, MAX_PAGE)
    records = await ctx.run(ctx.store.list_frames, camera, start, end, after, limit + 1)
    if not records and after < 0 and not await _known(ctx, camera):
        raise not_found(f"unknown camera {camera!r}")
    more = len(records) > limit
    return web.json_response(
        {
            "frames": [frame_json(r) for r in records[:limit]],
            "next_after_seq": records[limit - 1].seq if more else None,
        }
    )


async def _known(ctx: ConsoleContext, camera: str) -> bool:
    if ctx.registry.connected(camera):
        return True
    return await ctx.run(ctx.store.last_seq, camera) is not None


def _kbps(records: list[FrameRecord]) -> float | None:
    """Stored kbit/s over the frames' capture-time span (one frame period added)."""
    if len(records) < 2:
        return None
    between_us = records[-1].capture_time_us - records[0].capture_time_us
    if between_us <= 0:
        return None
    span_us = between_us * len(records) / (len(records) - 1)
    bits = sum((r.base_bytes + r.enhancement_bytes) * 8 for r in records)
    return bits / (span_us / 1e6) / 1000


def _camera_rows(ctx: ConsoleContext) -> list[dict[str, Any]]:
    """Blocking: every camera with its recent rate (store thread)."""
    rows = []
    seen = set()
    for c in ctx.store.list_cameras():
        seen.add(c.camera_id)
        recent = ctx.store.list_frames(
            c.camera_id, c.last_capture_time_us - RATE_WINDOW_US, None, -1, MAX_PAGE
        )
        rows.append(camera_json(c, ctx.registry.connected(c.camera_id), _kbps(recent)))
    for camera in sorted(set(ctx.registry.sessions) - seen):  # connected, nothing stored
        rows.append({"camera_id": camera, "connected": True, "frame_count": 0, "stored_bytes": 0})
    return rows


async def cameras(request: web.Request) -> web.Response:
    ctx = context_of(request)
    return web.json_response({"cameras": await ctx.run(_camera_rows, ctx)})


async def status(request: web.Request) -> web.Response:
    ctx = context_of(request)
    stats = await ctx.run(ctx.store.stats)
    summaries = await ctx.run(ctx.store.list_cameras)
    store_cfg = ctx.config.store
    connected = sorted(ctx.registry.sessions)
    return web.json_response(
        {
            "server_id": ctx.config.server_id,
            "store": {
                "backend": store_cfg.backend,
                "frames": stats.frames,
                "bytes": stats.bytes,
                "retention_seconds": store_cfg.retention_seconds,
                "max_bytes": store_cfg.max_bytes,
            },
            "fleet": {
                "cameras": len({c.camera_id for c in summaries} | set(connected)),
                "cameras_connected": len(connected),
                "connected": connected,
            },
        }
    )
