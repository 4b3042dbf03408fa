"""Turns one camera's detections, frame after frame in seq order, into events: one per
tracked object, with its start, its path, its best frame and its end.

A small IoU tracker, on purpose: ByteTrack from ``supervision`` was the first choice, but
supervision 0.27+ no longer ships a tracker (it moved to Roboflow's ``trackers`` package,
which needs numpy >= 2 while our torch build pins numpy < 2), and pinning an old supervision
(0.26) would pull opencv-python (~63 MB) into the cloud image for one function on a line
that is no longer maintained. Fixed cameras and a few objects per frame need no more than
this: per class, detections are matched to the live tracks greedily by IoU (best pair
first, at least ``iou_threshold``); unmatched detections scoring at least ``min_score``
start a track; a track unseen for ``end_after_frames`` frames or ``end_after_s`` seconds of
capture time ends. ``expire`` ends every track when the camera went quiet.

    detections of frame n ─► match (class, IoU) ─► update ──► EventChange("update")
                                 │ unmatched ─────► start ──► EventChange("start")
                                 └ tracks unseen too long ──► EventChange("end")
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


#: how long (capture time) an unseen object's event stays live, by default
END_AFTER_S = 5.0


class TrackerOptions(TypedDict, total=False):
    """IoUTracker's keyword options (what EventRecorder gives each camera's tracker)."""

    iou_threshold: float
    min_score: float
    end_after_frames: int
    end_after_s: float


class IoUTracker:
    """The live tracks of one camera (see the module docstring)."""

    def __init__(
        self,
        camera_id: str,
        *,
        iou_threshold: float = 0.3,
        min_score: float = 0.3,
        end_after_frames: int = 5,
        end_after_s: float = END_AFTER_S,
    ):
        self.camera_id = camera_id
        self.iou_threshold, self.min_score = iou_threshold, min_score
        self.end_after_frames, self.end_after_us = end_after_frames, int(end_after_s * 1e6)
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
                changes.append(self._start(seq, capture_time_us, d))
        return changes

    def expire(self) -> list[EventChange]:
        """End every live track (the camera went quiet, or the service stops)."""
        changes = [self._end(t) for t in self.tracks]
        self.tracks = []
        return changes

    # -- one track ----------------------------------------------------------------------------
    def _start(self, seq: int, capture_time_us: int, d: Detection) -> EventChange:
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
        self.tracks.append(_Track(event, box))  # type: ignore[arg-type]
        return EventChange("start", replace(event, path=list(event.path)))

    def _seen(
        self, track: _Track, seq: int, capture_time_us: int, d: Detection
    ) -> EventChange | None:
        """The track was seen again: extend it; an "update" when its best frame changed."""
        box: Box = tuple(float(v) for v in d.box)  # type: ignore[assignment]
        e = track.event
        track.box, track.missed = box, 0
        e.end_time_us, e.end_seq = capture_time_us, seq
        e.path.append((seq, *box))
        if len(e.path) > MAX_PATH:
            e.path = e.path[:-1:2] + e.path[-1:]
        if d.score <= e.best_score:
            return None
        e.best_seq, e.best_score, e.best_box = seq, float(d.score), box
        return EventChange("update", replace(e, path=list(e.path)))

    @staticmethod
    def _end(track: _Track) -> EventChange:
        track.event.state = "ended"
        return EventChange("end", replace(track.event, path=list(track.event.path)))
