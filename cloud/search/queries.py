"""The search queries, transport-free: checked filters in, a page of frames or events out.

    SearchQueries.search_frames(cameras, time range, classes, min score, min count, page)
    SearchQueries.list_events(cameras, time range, classes, min score, state, page)
    SearchQueries.get_event(id)

Every filter is checked before the store is asked; a bad one raises
:class:`~polc.cloud.field_checks.InvalidField` naming it (gRPC: INVALID_ARGUMENT, HTTP: 400).
The store calls block (a database round trip): callers run them off their event loop.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypedDict, TypeVar, Unpack

from polc.cloud.events.metrics import ObservationMetrics
from polc.cloud.field_checks import MAX_TIME_US, MIN_TIME_US, InvalidField, text
from polc.cloud.search import page_tokens
from polc.cloud.store.interface import MAX_SEQ, FrameRecord, FrameStore
from polc.cloud.store.observations import EVENT_STATES, Event, EventSearch, FrameSearch
from polc.shared.identifiers import is_camera_id

MAX_PAGE = 1000
DEFAULT_PAGE = 100
MAX_FILTER_VALUES = 100  # cameras or classes in one query

T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    items: list[T]
    next_page_token: str = ""  # empty: no more


def camera_filter(values: Sequence[str], field: str) -> tuple[str, ...]:
    if len(values) > MAX_FILTER_VALUES:
        raise InvalidField(field, f"at most {MAX_FILTER_VALUES} values")
    for v in values:
        if not is_camera_id(v):
            raise InvalidField(
                field, f"camera id {v[:140]!r} must be 1-128 chars of [A-Za-z0-9._:-]"
            )
    return tuple(dict.fromkeys(values))


def _classes(values: Sequence[str], field: str) -> tuple[str, ...]:
    if len(values) > MAX_FILTER_VALUES:
        raise InvalidField(field, f"at most {MAX_FILTER_VALUES} values")
    for v in values:
        if not v:
            raise InvalidField(field, "empty class name")
        text(v, field, 64)
    return tuple(dict.fromkeys(values))


def _score(value: float, field: str) -> float:
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise InvalidField(field, f"{value} outside [0, 1]")
    return float(value)


def _time_range(start_us: int | None, end_us: int | None) -> None:
    for value, field in ((start_us, "start_time"), (end_us, "end_time")):
        if value is not None and not MIN_TIME_US <= value <= MAX_TIME_US:
            raise InvalidField(field, "outside 0001-01-01 .. 9999-12-31")
    if start_us is not None and end_us is not None and start_us > end_us:
        raise InvalidField("end_time", "before start_time")


def _page_size(value: int) -> int:
    if not 0 <= value <= MAX_PAGE:
        raise InvalidField("page_size", f"must be at most {MAX_PAGE}")
    return value or DEFAULT_PAGE


class Filters(TypedDict, total=False):
    """The filters both searches take (keyword arguments; a missing one does not filter)."""

    camera_ids: Sequence[str]
    start_us: int | None
    end_us: int | None
    classes: Sequence[str]
    min_score: float


def _checked(filters: Filters) -> dict[str, Any]:
    """The filters checked, as the fields of a FrameSearch / EventSearch."""
    return {
        "camera_ids": camera_filter(filters.get("camera_ids", ()), "camera_ids"),
        "start_us": filters.get("start_us"),
        "end_us": filters.get("end_us"),
        "labels": _classes(filters.get("classes", ()), "classes"),
        "min_score": _score(filters.get("min_score", 0.0), "min_score"),
    }


def _page(rows: list[T], limit: int, token: Callable[[T], str]) -> Page[T]:
    """The first ``limit`` of ``rows`` (``limit + 1`` were asked for: one more means a next
    page, whose token is that of the page's last row)."""
    page = Page(rows[:limit])
    if len(rows) > limit:
        page.next_page_token = token(rows[limit - 1])
    return page


class SearchQueries:
    """The queries over one store (see the module docstring)."""

    def __init__(self, store: FrameStore, metrics: ObservationMetrics | None = None):
        self.store = store
        self.metrics = metrics or ObservationMetrics()

    def search_frames(
        self,
        *,
        min_count: int = 0,
        page_size: int = 0,
        page_token: str = "",
        **filters: Unpack[Filters],
    ) -> Page[FrameRecord]:
        """Frames with ≥ ``min_count`` (0 = 1) detections of ``classes`` scoring ≥
        ``min_score``, by (capture time, camera, seq)."""
        t0 = time.perf_counter()
        _time_range(filters.get("start_us"), filters.get("end_us"))
        if not 0 <= min_count <= 10_000:
            raise InvalidField("min_count", "must be in [0, 10000]")
        limit = _page_size(page_size)
        after = None
        if page_token:
            after = page_tokens.decode(page_token, "frames", (int, str, int))
            if not 0 <= after[2] <= MAX_SEQ:
                raise InvalidField("page_token", "not a token this service handed out")
        query = FrameSearch(
            **_checked(filters), min_count=max(1, min_count), after=after, limit=limit + 1
        )
        page = _page(
            self.store.search_frames(query),
            limit,
            lambda last: page_tokens.encode(
                "frames", (last.capture_time_us, last.camera_id, last.seq)
            ),
        )
        self.metrics.search_time("frames", time.perf_counter() - t0)
        return page

    def list_events(
        self,
        *,
        state: str | None = None,
        page_size: int = 0,
        page_token: str = "",
        **filters: Unpack[Filters],
    ) -> Page[Event]:
        """Events overlapping the time range, by (start time, id)."""
        t0 = time.perf_counter()
        _time_range(filters.get("start_us"), filters.get("end_us"))
        if state is not None and state not in EVENT_STATES:
            raise InvalidField("state", f"one of {', '.join(EVENT_STATES)}")
        limit = _page_size(page_size)
        after = page_tokens.decode(page_token, "events", (int, str)) if page_token else None
        query = EventSearch(**_checked(filters), state=state, after=after, limit=limit + 1)
        page = _page(
            self.store.list_events(query),
            limit,
            lambda last: page_tokens.encode("events", (last.start_time_us, last.id)),
        )
        self.metrics.search_time("events", time.perf_counter() - t0)
        return page

    def get_event(self, event_id: str) -> Event | None:
        """One event, or None when there is no such event."""
        t0 = time.perf_counter()
        if not event_id or len(event_id) > 64 or not event_id.isalnum():
            raise InvalidField("id", "not an event id")
        event = self.store.get_event(event_id)
        self.metrics.search_time("event", time.perf_counter() - t0)
        return event
