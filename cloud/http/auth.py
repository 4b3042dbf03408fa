"""Who is calling the HTTP API: the same tokens and roles as gRPC (operator / admin may
view; camera tokens are refused), from an ``Authorization: Bearer <token>`` header or a
console login session.

A login (``POST /api/login`` with the token in the JSON body) opens a session: a random id
in an HttpOnly, SameSite=Strict cookie (Secure under TLS) mapped to the token's Principal
in this process, so the token itself is never in a URL, a cookie, page script or a log.
Sessions end at logout, after ``http.session_hours`` or when the cloud restarts.

    401 unauthenticated: no header and no (live) session, or an unknown token
    403 permission_denied: a known token without the operator role (a camera token)
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import grpc
from aiohttp import web

from polc.cloud.auth import Authenticator, AuthError, Principal
from polc.cloud.http.context import context_of
from polc.cloud.http.errors import ApiError, bad_input

SESSION_COOKIE = "polc_session"
PRINCIPAL = web.RequestKey("principal", Principal)
MAX_SESSIONS = 10_000


class Sessions:
    """Login sessions of this process: id -> (Principal, expiry on the monotonic clock)."""

    def __init__(self, ttl_s: float):
        self.ttl_s = ttl_s
        self._by_id: dict[str, tuple[Principal, float]] = {}

    def open(self, principal: Principal) -> str:
        now = time.monotonic()
        self._by_id = {k: v for k, v in self._by_id.items() if v[1] > now}
        if len(self._by_id) >= MAX_SESSIONS:  # oldest out
            del self._by_id[min(self._by_id, key=lambda k: self._by_id[k][1])]
        session_id = secrets.token_urlsafe(32)
        self._by_id[session_id] = (principal, now + self.ttl_s)
        return session_id

    def get(self, session_id: str) -> Principal | None:
        found = self._by_id.get(session_id)
        if found is None or found[1] <= time.monotonic():
            self._by_id.pop(session_id, None)
            return None
        return found[0]

    def close(self, session_id: str) -> None:
        self._by_id.pop(session_id, None)


SESSIONS = web.AppKey("sessions", Sessions)


def _refusal(exc: AuthError) -> ApiError:
    if exc.code == grpc.StatusCode.PERMISSION_DENIED:
        return ApiError(403, "permission_denied", str(exc))
    return ApiError(401, "unauthenticated", str(exc).replace("metadata", "header"))


def _operator(auth: Authenticator, token: str) -> Principal:
    try:
        return auth.require_operator([("authorization", f"Bearer {token}")])
    except AuthError as exc:
        raise _refusal(exc) from None


def principal_of(request: web.Request) -> Principal:
    """The caller, who must be allowed to view (operator / admin); ApiError otherwise."""
    auth = context_of(request).auth
    header = request.headers.get("Authorization")
    try:
        if header is not None:
            return auth.require_operator([("authorization", header)])
        session_id = request.cookies.get(SESSION_COOKIE)
        if session_id and auth.enabled:
            principal = request.app[SESSIONS].get(session_id)
            if principal is None:
                raise ApiError(401, "unauthenticated", "session expired: log in again")
            return principal
        if auth.enabled:
            raise ApiError(
                401,
                "unauthenticated",
                "missing 'Authorization: Bearer <token>' header (or log in)",
            )
        return auth.require_operator(())  # auth off: the anonymous admin
    except AuthError as exc:
        raise _refusal(exc) from None


def _cookie_options(request: web.Request) -> dict[str, Any]:
    return {
        "httponly": True,
        "samesite": "Strict",
        "secure": request.secure,
        "path": "/",
    }


async def login(request: web.Request) -> web.Response:
    """POST /api/login {"token": ...}: a session cookie for an operator / admin token."""
    try:
        body = await request.json()
    except ValueError:
        raise bad_input("body", 'must be JSON {"token": "..."}') from None
    token = body.get("token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token.strip() or len(token) > 4096:
        raise bad_input("token", "a non-empty string")
    ctx = context_of(request)
    principal = _operator(ctx.auth, token.strip())
    response = web.json_response({"name": principal.name, "role": principal.role})
    if ctx.auth.enabled:
        session_id = request.app[SESSIONS].open(principal)
        response.set_cookie(
            SESSION_COOKIE,
            session_id,
            max_age=int(request.app[SESSIONS].ttl_s),
            **_cookie_options(request),
        )
    return response


async def logout(request: web.Request) -> web.Response:
    """POST /api/logout: ends the session (its cookie is cleared)."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        request.app[SESSIONS].close(session_id)
    response = web.json_response({})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def me(request: web.Request) -> web.Response:
    """GET /api/me: who the console is logged in as."""
    principal = request[PRINCIPAL]
    return web.json_response(
        {
            "name": principal.name,
            "role": principal.role,
            "auth": context_of(request).auth.enabled,
        }
    )
