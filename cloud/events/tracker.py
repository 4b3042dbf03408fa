"""Turns one camera's detections, frame after frame in seq order, into events: one per
tracked object, with its start, its path, its best frame and its end.

A small IoU tracker, on purpose: ByteTrack from ``supervision`` was the first choice, but
supervision 0.27+ no longer ships a tracker (it moved to Roboflow's ``trackers`` package,
which needs numpy >= 2 while our torch build pins numpy < 2), and pinning an old supervision
(0.26) would pull opencv-python (~63 MB) into the cloud image for one function on a line
that is no longer maintained. Fixed cameras and a few objects per frame need no more than
this: per class, detections are matched to the live tracks greedily by IoU (best pair
first, at least ``iou_threshold``); unmatched detections scoring at least ``min_score``
start a *candidate*, which becomes an event (its "start", dated from its first frame) once
seen in ``min_hits`` frames in a row and is dropped silently if missed before; an event
unseen for ``end_after_frames`` frames or ``end_after_s`` seconds of capture time ends.
``expire`` ends every event when the camera went quiet. The defaults (``EventSettings``)
were chosen with ``polc bench events`` on held-out clips 30–34 (5 × 100 frames): confirming
over two frames, starting only from detections ≥ 0.5 and continuing at IoU ≥ 0.2 cut the
events from 680 to 69 per clip (most were one-frame false detections), MOTA −3.0 → −0.34,
IDF1 0.16 → 0.37, while 94 % of the objects visible ≥ 1 s keep an event (100 % before,
with ten times the false events).

    detections of frame n ─► match (class, IoU) ─► update ──► EventChange("update")
                                 │ unmatched ─────► candidate ─(min_hits)─► EventChange("start")
                                 └ events unseen too long ──► EventChange("end")
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TypedDict

from polc.cloud.store.observations import Box, Event
from polc.shared.results import Detection

MAX_PATH = 256  # points kept per event (every other one is dropped beyond)


@dataclass(frozen=True)
class EventChange:
    """An event started, got a better frame, or ended (what Watch / MQTT report)."""

    kind: str  # "start" | "update" | "end"
    event: Event


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 when either is empty)."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass
class _Track:
    event: Event
    box: Box
    missed: int = 0  # frames in a row it was not seen in
    hits: int = 1  # frames it was seen in
    confirmed: bool = False  # seen in min_hits frames in a row: reported as an event


#: how long (capture time) an unseen object's event stays live, by default
END_AFTER_S = 5.0


class TrackerOptions(TypedDict, total=False):
    """IoUTracker's keyword options (what EventRecorder gives each camera's tracker)."""

    iou_threshold: float
    min_score: float
    end_after_frames: int
    end_after_s: float
    min_hits: int


class IoUTracker:
    """The live tracks of one camera (see the module docstring)."""

    def __init__(
        self,
        camera_id: str,
        *,
        iou_threshold: float = 0.2,
        min_score: float = 0.5,
        end_after_frames: int = 5,
        end_after_s: float = END_AFTER_S,
        min_hits: int = 2,
    ):
        self.camera_id = camera_id
        self.iou_threshold, self.min_score = iou_threshold, min_score
        self.end_after_frames, self.end_after_us = end_after_frames, int(end_after_s * 1e6)
        self.min_hits = min_hits
        self.tracks: list[_Track] = []
        self.last_seq = -1  # the last frame fed (older ones are not tracked)

    def update(
        self, seq: int, capture_time_us: int, detections: Sequence[Detection]
    ) -> list[EventChange]:
        """Feed the next frame of the camera (a seq not above the last one is ignored)."""
        if seq <= self.last_seq:
            return []
        self.last_seq = seq
        changes: list[EventChange] = []
        candidates = sorted(
            (
                (iou(t.box, d.box), ti, di)
                for ti, t in enumerate(self.tracks)
                for di, d in enumerate(detections)
                if t.event.label == d.label
            ),
            reverse=True,
        )
        matched_tracks: set[int] = set()
        matched_dets: set[int] = set()
        for overlap, ti, di in candidates:
            if overlap < self.iou_threshold:
                break
            if ti in matched_tracks or di in matched_dets:
                continue
            matched_tracks.add(ti)
            matched_dets.add(di)
            change = self._seen(self.tracks[ti], seq, capture_time_us, detections[di])
            if change is not None:
                changes.append(change)
        kept: list[_Track] = []
        for ti, track in enumerate(self.tracks):
            if ti not in matched_tracks:
                track.missed += 1
                if not track.confirmed:
                    continue  # a candidate missed once is dropped, never reported
                if (
                    track.missed >= self.end_after_frames
                    or capture_time_us - track.event.end_time_us > self.end_after_us
                ):
                    changes.append(self._end(track))
                    continue
            kept.append(track)
        self.tracks = kept
        for di, d in enumerate(detections):
            if di not in matched_dets and d.score >= self.min_score:
                change = self._start(seq, capture_time_us, d)
                if change is not None:
                    changes.append(change)
        return changes

    @property
    def events(self) -> list[Event]:
        """The live events (tracks confirmed, still being followed)."""
        return [t.event for t in self.tracks if t.confirmed]

    def expire(self) -> list[EventChange]:
        """End every live track (the camera went quiet, or the service stops)."""
        changes = [self._end(t) for t in self.tracks if t.confirmed]
        self.tracks = []
        return changes

    # -- one track ----------------------------------------------------------------------------
    def _start(self, seq: int, capture_time_us: int, d: Detection) -> EventChange | None:
        box = tuple(float(v) for v in d.box)
        event = Event(
            id=uuid.uuid4().hex,
            camera_id=self.camera_id,
            label=d.label,
            state="active",
            start_time_us=capture_time_us,
            end_time_us=capture_time_us,
            start_seq=seq,
            end_seq=seq,
            best_seq=seq,
            best_score=float(d.score),
            best_box=box,  # type: ignore[arg-type]
            path=[(seq, *box)],  # type: ignore[list-item]
        )
        track = _Track(event, box)  # type: ignore[arg-type]
        self.tracks.append(track)
        return self._confirm(track)

    def _confirm(self, track: _Track) -> EventChange | None:
        """ "start" once a candidate was seen in ``min_hits`` frames (from its first frame)."""
        if track.confirmed or track.hits < self.min_hits:
            return None
        track.confirmed = True
        return EventChange("start", replace(track.event, path=list(track.event.path)))

    def _seen(
        self, track: _Track, seq: int, capture_time_us: int, d: Detection
    ) -> EventChange | None:
        """The track was seen again: extend it; an "update" when its best frame changed."""
        box: Box = tuple(float(v) for v in d.box)  # type: ignore[assignment]
        e = track.event
        track.box, track.missed, track.hits = box, 0, track.hits + 1
        e.end_time_us, e.end_seq = capture_time_us, seq
        e.path.append((seq, *box))
        if len(e.path) > MAX_PATH:
            e.path = e.path[:-1:2] + e.path[-1:]
        better = d.score > e.best_score
        if better:
            e.best_seq, e.best_score, e.best_box = seq, float(d.score), box
        started = self._confirm(track)
        if started is not None or not better or not track.confirmed:
            return started
        return EventChange("update", replace(e, path=list(e.path)))

    @staticmethod
    def _end(track: _Track) -> EventChange:
        track.event.state = "ended"
        return EventChange("end", replace(track.event, path=list(track.event.path)))
