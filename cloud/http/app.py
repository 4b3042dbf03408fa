"""The HTTP server of the cloud (``http.listen``): an aiohttp application run in the cloud's
own event loop, beside the gRPC server, with the cloud's TLS certificate when TLS is on.

    /                 the web console (polc.cloud.console static files, no build step)
    /static/...       its scripts and styles
    /api/...          the JSON API (api.py, images.py, live.py; auth.py for who may)

Every /api/ answer other than a success is JSON (errors.py), auth included; no access log
(URLs carry no secrets, but the console polls). Shutdown: the live streams are told
``closing`` and end, then the server stops within ``connection.shutdown_grace_seconds``.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

import polc.cloud.console
from polc.cloud.config import TlsSettings
from polc.cloud.http import api, auth, images, live
from polc.cloud.http.context import CONTEXT, ConsoleContext
from polc.cloud.http.errors import ApiError, error_response
from polc.shared.addresses import parse_host_port
from polc.shared.errors import ConfigError

log = logging.getLogger(__name__)
STATIC_DIR = Path(polc.cloud.console.__file__).parent / "static"
OPEN_PATHS = frozenset({"/api/login", "/api/logout"})  # no principal needed
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; "
    "style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Who may call /api/ (auth.py) and every refusal there as JSON."""
    is_api = request.path.startswith("/api/")
    try:
        if is_api and request.path not in OPEN_PATHS:
            request[auth.PRINCIPAL] = auth.principal_of(request)
        response = await handler(request)
    except ApiError as exc:
        response = exc.response()
    except web.HTTPException as exc:
        if not is_api or exc.status < 400:
            raise
        reason = (exc.reason or "error").lower().replace(" ", "_")
        message = f"{request.method} {request.path}: {exc.reason}"
        response = error_response(exc.status, reason, message)
    if not response.prepared:
        response.headers.update(SECURITY_HEADERS)
    return response


async def _index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


def build_app(ctx: ConsoleContext) -> web.Application:
    app = web.Application(middlewares=[_guard], client_max_size=64 << 10)
    app[CONTEXT] = ctx
    app[auth.SESSIONS] = auth.Sessions(ctx.config.http.session_hours * 3600)
    app[images.IMAGE_CACHE] = images.ImageCache(ctx.config.http.image_cache_mb << 20)
    app[live.LIVE_CLIENTS] = live.LiveClients()
    r = app.router
    r.add_post("/api/login", auth.login)
    r.add_post("/api/logout", auth.logout)
    r.add_get("/api/me", auth.me)
    r.add_get("/api/status", api.status)
    r.add_get("/api/cameras", api.cameras)
    r.add_get("/api/cameras/{camera}/frames", api.camera_frames)
    r.add_get("/api/frames", api.search_frames)
    r.add_get("/api/frames/{camera}/{seq}", api.frame_detail)
    r.add_get("/api/frames/{camera}/{seq}/image", images.frame_image)
    r.add_get("/api/events", api.list_events)
    r.add_get("/api/events/{id}", api.get_event)
    r.add_get("/api/live", live.live)
    r.add_get("/", _index)
    r.add_static("/static/", STATIC_DIR, append_version=False)
    return app


def ssl_context(tls: TlsSettings) -> ssl.SSLContext | None:
    """The gRPC server's certificate for HTTPS (client certificates as configured)."""
    if not tls.enabled:
        return None
    assert tls.cert_file is not None and tls.key_file is not None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls.cert_file, tls.key_file)
    if tls.client_ca_file is not None:
        context.load_verify_locations(tls.client_ca_file)
        context.verify_mode = ssl.CERT_REQUIRED if tls.require_client_cert else ssl.CERT_OPTIONAL
    return context


class ConsoleServer:
    """The HTTP server (see the module docstring); ``port`` once started."""

    def __init__(self, ctx: ConsoleContext):
        self.ctx = ctx
        self.port: int | None = None
        self.app = build_app(ctx)
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        cfg = self.ctx.config
        assert cfg.http.listen is not None
        host, port = parse_host_port(cfg.http.listen, allow_port_zero=True, field="http.listen")
        runner = web.AppRunner(
            self.app,
            access_log=None,
            shutdown_timeout=cfg.connection.shutdown_grace_seconds,
        )
        await runner.setup()
        site = web.TCPSite(runner, host.strip("[]"), port, ssl_context=ssl_context(cfg.tls))
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise ConfigError(
                f"config field 'http.listen': cannot bind {cfg.http.listen}: {exc.strerror}"
            ) from exc
        self._runner = runner
        self.port = runner.addresses[0][1]
        log.info(
            "web console and JSON API on %s://%s (port %d)",
            "https" if cfg.tls.enabled else "http",
            cfg.http.listen,
            self.port,
        )
        return self.port

    async def stop(self) -> None:
        """End the live streams, then the server."""
        if self._runner is None:
            return
        self.app[live.LIVE_CLIENTS].close()
        await self._runner.cleanup()
        self._runner = None
