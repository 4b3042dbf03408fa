"""What a store keeps about what the analyzer saw, backend-neutral: the detections index
(one row per detected object of a stored frame: camera, seq, capture time, class, score,
box — written with the frame's results) and **events** (one per tracked object, written by
:mod:`polc.cloud.events.recorder`), plus the filters the search queries run with.

    frames ──1:n──► detections   (deleted with their frame)
    events          one per tracked object; deleted by retention once its last frame is gone
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

Box = tuple[float, float, float, float]  # x_min, y_min, x_max, y_max (original pixels)
EVENT_STATES = ("active", "ended")


@dataclass
class Event:
    """One tracked object of one camera (what ListEvents / GetEvent / MQTT report)."""

    id: str
    camera_id: str
    label: str
    state: str  # "active" (still tracked) | "ended"
    start_time_us: int  # capture time of the first frame it was seen in
    end_time_us: int  # capture time of the last frame it was seen in (so far)
    start_seq: int
    end_seq: int
    best_seq: int  # the frame with its highest score (the snapshot)
    best_score: float
    best_box: Box
    #: where it was: (seq, x_min, y_min, x_max, y_max), oldest first (thinned when long)
    path: list[tuple[int, float, float, float, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "camera_id": self.camera_id,
            "label": self.label,
            "state": self.state,
            "start_time_us": self.start_time_us,
            "end_time_us": self.end_time_us,
            "start_seq": self.start_seq,
            "end_seq": self.end_seq,
            "best_seq": self.best_seq,
            "best_score": self.best_score,
            "best_box": list(self.best_box),
            "path": [list(p) for p in self.path],
        }


@dataclass(frozen=True)
class FrameSearch:
    """Frames with at least ``min_count`` detections of ``labels`` (any class when empty)
    scoring at least ``min_score``, of ``camera_ids`` (any when empty), captured in
    [start_us, end_us]; ordered by (capture time, camera, seq), after the key ``after``."""

    camera_ids: tuple[str, ...] = ()
    start_us: int | None = None
    end_us: int | None = None
    labels: tuple[str, ...] = ()
    min_score: float = 0.0
    min_count: int = 1
    after: tuple[int, str, int] | None = None  # (capture_time_us, camera_id, seq)
    limit: int = 100


@dataclass(frozen=True)
class EventSearch:
    """Events of ``camera_ids`` / ``labels`` (any when empty) with best score at least
    ``min_score``, in ``state`` (any when None), overlapping [start_us, end_us]; ordered by
    (start time, id), after the key ``after``."""

    camera_ids: tuple[str, ...] = ()
    start_us: int | None = None
    end_us: int | None = None
    labels: tuple[str, ...] = ()
    min_score: float = 0.0
    state: str | None = None
    after: tuple[int, str] | None = None  # (start_time_us, id)
    limit: int = 100


class ObservationStore(abc.ABC):
    """The store's side of search and events (the SQL backends: observations_sql.py)."""

    @abc.abstractmethod
    def search_frames(self, query: FrameSearch) -> list[Any]:
        """FrameRecords matching ``query`` (see :class:`FrameSearch`), at most its limit."""

    @abc.abstractmethod
    def capture_times(self, camera_id: str, seqs: Sequence[int]) -> dict[int, int]:
        """Capture time of each stored frame of ``seqs`` (missing ones left out)."""

    @abc.abstractmethod
    def put_events(self, events: Sequence[Event]) -> None:
        """Insert or replace these events (by id), in one transaction."""

    @abc.abstractmethod
    def get_event(self, event_id: str) -> Event | None:
        """One event, or None."""

    @abc.abstractmethod
    def list_events(self, query: EventSearch) -> list[Event]:
        """Events matching ``query`` (see :class:`EventSearch`), at most its limit."""

    @abc.abstractmethod
    def drop_orphan_events(self) -> int:
        """Delete the events none of whose frames is stored any more (retention)."""
