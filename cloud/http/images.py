"""``GET /api/frames/{camera}/{seq}/image?beta=B`` (B in [0, 1], default 1): the frame's
reconstruction x̄(β) as PNG, made by the same :class:`FrameReconstructor` the gRPC
Reconstruct uses. β < 1 needs the enhancement layer: when it was not stored, the camera's
edge is asked for it (409 when it cannot be had). Response headers say what it took:

    X-Polc-Enhancement-Fetched  true: the enhancement layer was pulled from the edge now
    X-Polc-Alpha, X-Polc-Beta, X-Polc-Base-Bpp, X-Polc-Enhancement-Bpp

β = 1 pictures (the camera grid, search thumbnails) are cached in memory (LRU, bounded by
``http.image_cache_mb``); the browser may keep them too (a stored frame never changes).
"""

from __future__ import annotations

import time
from collections import OrderedDict

from aiohttp import web

from polc.cloud.http import params
from polc.cloud.http.api import camera_id, seq_of
from polc.cloud.http.context import context_of
from polc.cloud.http.errors import ApiError, bad_input
from polc.cloud.reconstructor import ReconstructFailed, Reconstruction

STATUS = {"not_found": 404, "unavailable": 409, "error": 409}
HEADERS_EXPOSED = (
    "X-Polc-Enhancement-Fetched, X-Polc-Alpha, X-Polc-Beta, X-Polc-Base-Bpp, X-Polc-Enhancement-Bpp"
)


class ImageCache:
    """(camera, seq) -> β = 1 reconstruction, least recently used out beyond the budget."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: OrderedDict[tuple[str, int], Reconstruction] = OrderedDict()

    def get(self, key: tuple[str, int]) -> Reconstruction | None:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def put(self, key: tuple[str, int], value: Reconstruction) -> None:
        if len(value.image) > self.max_bytes or key in self._items:
            return
        self._items[key] = value
        self.bytes += len(value.image)
        while self.bytes > self.max_bytes:
            _, old = self._items.popitem(last=False)
            self.bytes -= len(old.image)


IMAGE_CACHE = web.AppKey("image_cache", ImageCache)


def _response(done: Reconstruction, cached: bool) -> web.Response:
    fetched = done.enhancement_fetched and not cached
    headers = {
        "X-Polc-Enhancement-Fetched": "true" if fetched else "false",
        "X-Polc-Alpha": f"{done.record.alpha:g}",
        "X-Polc-Beta": f"{done.beta:g}",
        "X-Polc-Base-Bpp": f"{done.base_bpp:.4f}",
        "X-Polc-Enhancement-Bpp": f"{done.enhancement_bpp:.4f}",
        "Access-Control-Expose-Headers": HEADERS_EXPOSED,
        "Cache-Control": "private, max-age=3600" if done.beta == 1.0 else "private, no-cache",
        "Content-Disposition": (
            f'inline; filename="{done.record.camera_id}-{done.record.seq}-beta{done.beta:g}.png"'
        ),
    }
    return web.Response(body=done.image, content_type="image/png", headers=headers)


async def frame_image(request: web.Request) -> web.Response:
    ctx = context_of(request)
    camera, seq = camera_id(request), seq_of(request)
    beta = params.number(request.query, "beta", 1.0, 0.0, 1.0)
    cache = request.app[IMAGE_CACHE]
    if beta == 1.0 and (hit := cache.get((camera, seq))) is not None:
        return _response(hit, cached=True)
    t0 = time.perf_counter()
    try:
        done = await ctx.reconstructor.reconstruct(camera, seq=seq, beta=beta)
    except ReconstructFailed as exc:
        ctx.metrics.reconstruct(exc.outcome, time.perf_counter() - t0)
        if exc.outcome == "invalid":
            raise bad_input("beta" if "beta" in exc.message else "camera", exc.message) from None
        raise ApiError(STATUS[exc.outcome], exc.outcome, exc.message) from None
    ctx.metrics.reconstruct("ok", time.perf_counter() - t0)
    if beta == 1.0:
        cache.put((camera, seq), done)
    return _response(done, cached=False)
