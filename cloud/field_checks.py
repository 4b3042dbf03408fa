"""Checks of request fields at the edge of the service: values the wire types allow but the
contract does not (protobuf Timestamps and Durations outside their documented ranges, enum
numbers the contract does not define, over-long or control-character strings). Each
refusal is an :class:`InvalidField` naming the field, answered with INVALID_ARGUMENT, so
nothing unchecked reaches the store.

The reverse direction, :func:`clamp_time_us`, keeps a time an older version stored out of
range from breaking the answers that carry it.
"""

from __future__ import annotations

import logging
import time

from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

log = logging.getLogger(__name__)

#: protobuf's Timestamp range: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999999999Z
MIN_TIMESTAMP_SECONDS = -62_135_596_800
MAX_TIMESTAMP_SECONDS = 253_402_300_799
MIN_TIME_US = MIN_TIMESTAMP_SECONDS * 1_000_000
MAX_TIME_US = MAX_TIMESTAMP_SECONDS * 1_000_000 + 999_999
#: protobuf's Duration range: ±10,000 years
MAX_DURATION_SECONDS = 315_576_000_000
NANOS = 1_000_000_000


class InvalidField(ValueError):
    """A request field out of its range; ``str()`` names the field."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field


def timestamp_us(ts: Timestamp, field: str) -> int:
    """A protobuf Timestamp as microseconds since the epoch; InvalidField unless it is in
    0001-01-01 .. 9999-12-31 with nanos in [0, 1e9)."""
    if not 0 <= ts.nanos < NANOS:
        raise InvalidField(field, f"nanos {ts.nanos} outside [0, 1e9)")
    if not MIN_TIMESTAMP_SECONDS <= ts.seconds <= MAX_TIMESTAMP_SECONDS:
        raise InvalidField(
            field,
            f"seconds {ts.seconds} outside 0001-01-01 .. 9999-12-31 "
            f"[{MIN_TIMESTAMP_SECONDS}, {MAX_TIMESTAMP_SECONDS}]",
        )
    return ts.seconds * 1_000_000 + ts.nanos // 1000


def time_range_us(message: Message) -> tuple[int | None, int | None]:
    """A request's ``start_time`` and ``end_time`` in microseconds (None where unset), each
    checked by :func:`timestamp_us`."""
    start, end = (
        timestamp_us(getattr(message, field), field) if message.HasField(field) else None
        for field in ("start_time", "end_time")
    )
    return start, end


def duration_seconds(d: Duration, field: str) -> float:
    """A non-negative protobuf Duration in seconds; InvalidField when it is negative or out
    of protobuf's range (±10,000 years, nanos in (-1e9, 1e9) with the seconds' sign)."""
    if not -NANOS < d.nanos < NANOS or (d.seconds > 0 > d.nanos) or (d.seconds < 0 < d.nanos):
        raise InvalidField(field, f"nanos {d.nanos} invalid for seconds {d.seconds}")
    if abs(d.seconds) > MAX_DURATION_SECONDS:
        raise InvalidField(field, f"seconds {d.seconds} outside ±{MAX_DURATION_SECONDS}")
    if d.seconds < 0 or d.nanos < 0:
        raise InvalidField(field, "must not be negative")
    return d.seconds + d.nanos / NANOS


def enum_value(value: int, known: list[int] | tuple[int, ...], field: str) -> int:
    """``value`` if the contract defines it; InvalidField otherwise."""
    if value not in known:
        raise InvalidField(field, f"unknown value {value}")
    return value


def text(value: str, field: str, max_length: int = 256) -> str:
    """A free-text field that ends up in logs: bounded, no control characters."""
    if len(value) > max_length:
        raise InvalidField(field, f"longer than {max_length} characters")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise InvalidField(field, "contains control characters")
    return value


_last_clamp_log = 0.0


def clamp_time_us(us: int, what: str) -> int:
    """A stored time, clamped into the Timestamp range (rows an older version stored
    unchecked); logs a warning (at most once a minute) when it had to clamp."""
    if MIN_TIME_US <= us <= MAX_TIME_US:
        return us
    global _last_clamp_log
    now = time.monotonic()
    if now - _last_clamp_log > 60:
        _last_clamp_log = now
        log.warning(
            "%s: stored time %d µs is outside 0001-01-01 .. 9999-12-31 (stored by "
            "an older version); answered clamped into that range",
            what,
            us,
        )
    return min(max(us, MIN_TIME_US), MAX_TIME_US)
