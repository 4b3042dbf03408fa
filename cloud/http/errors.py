"""Every refusal of the HTTP API as JSON: ``{"error": message, "reason": word[, "field":
name]}`` with its HTTP status (400 bad input naming the field, 401 / 403 auth, 404 not
found, 409 the frame cannot be reconstructed at that β now)."""

from __future__ import annotations

from typing import Any

from aiohttp import web


class ApiError(Exception):
    """A refused request (see the module docstring)."""

    def __init__(self, status: int, reason: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.reason, self.message, self.field = status, reason, message, field

    def response(self) -> web.Response:
        return error_response(self.status, self.reason, self.message, self.field)


def bad_input(field: str, problem: str) -> ApiError:
    """400 naming the query parameter (or path part) that is wrong."""
    return ApiError(400, "invalid_argument", f"{field}: {problem}", field)


def not_found(message: str) -> ApiError:
    return ApiError(404, "not_found", message)


def error_response(
    status: int, reason: str, message: str, field: str | None = None
) -> web.Response:
    body: dict[str, Any] = {"error": message, "reason": reason}
    if field is not None:
        body["field"] = field
    return web.json_response(body, status=status)
