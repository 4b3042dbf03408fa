"""Query-string parameters of the HTTP API, checked: lists (repeated or comma-separated),
integers, numbers in a range, times (microseconds since the epoch or ISO 8601). A bad one
is a 400 naming the parameter (:func:`~polc.cloud.http.errors.bad_input`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from multidict import MultiMapping

from polc.cloud.field_checks import MAX_TIME_US, MIN_TIME_US
from polc.cloud.http.errors import bad_input

T = TypeVar("T")

#: the SearchQueries field names that are called differently here
PARAMETER_OF = {"camera_ids": "cameras"}


def values(query: MultiMapping[str], name: str) -> list[str]:
    """Every value of a list parameter: ``?a=x&a=y`` or ``?a=x,y`` (empty items dropped)."""
    return [v.strip() for raw in query.getall(name, []) for v in raw.split(",") if v.strip()]


def _parsed(query: MultiMapping[str], name: str, parse: Callable[[str], T], what: str) -> T | None:
    """The parameter as ``parse`` reads it; None when it is absent or empty, a 400 when
    ``parse`` refuses it (ValueError)."""
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return parse(raw)
    except ValueError:
        raise bad_input(name, f"not {what}: {raw[:40]!r}") from None


def _bounded(query: MultiMapping[str], name: str, default, lo, hi, kind: type, what: str):
    value = _parsed(query, name, kind, what)
    if value is None:
        return default
    if (isinstance(value, float) and math.isnan(value)) or not lo <= value <= hi:
        raise bad_input(name, f"{query[name][:40]} outside [{lo:g}, {hi:g}]")
    return value


def integer(query: MultiMapping[str], name: str, default: int, lo: int, hi: int) -> int:
    return _bounded(query, name, default, lo, hi, int, "an integer")


def number(query: MultiMapping[str], name: str, default: float, lo: float, hi: float) -> float:
    return _bounded(query, name, default, lo, hi, float, "a number")


def _epoch_us(raw: str) -> int:
    """Microseconds since the epoch, or an ISO 8601 date-time (UTC unless it says);
    ValueError when it is neither."""
    try:
        return int(raw)
    except ValueError:
        when = datetime.fromisoformat(raw)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = when - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def time_us(query: MultiMapping[str], name: str) -> int | None:
    """Microseconds since the epoch, or an ISO 8601 date-time (UTC unless it says)."""
    value = _parsed(query, name, _epoch_us, "microseconds since the epoch nor ISO 8601")
    if value is not None and not MIN_TIME_US <= value <= MAX_TIME_US:
        raise bad_input(name, "outside 0001-01-01 .. 9999-12-31")
    return value


def text(query: MultiMapping[str], name: str, max_length: int = 512) -> str:
    raw = query.get(name, "")
    if len(raw) > max_length:
        raise bad_input(name, f"longer than {max_length} characters")
    return raw
