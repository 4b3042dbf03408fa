"""Runs a tracker per camera over the analysed frames, in seq order, and keeps the events
in the store (called from the store's thread pool, one batch at a time).

    analysed batch ─► per camera, by seq ─► IoUTracker.update ─► EventChanges
        └─ capture times from the store       └─► store.put_events (the changed events and
                                                   every live one of the cameras fed)

Frames analysed out of order (older than the last one fed to their camera's tracker) are
indexed for search but not tracked. Events a previous process left "active" for a camera
are ended when this process feeds that camera's first frame. A camera that sent nothing
for ``end_after_s`` seconds (wall clock) has its live events ended by ``expire_idle``.
With ``track`` off (config ``events.enabled: false``) it only reports the frame updates.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import Unpack

from polc.cloud.analyzer import AnalysisResult
from polc.cloud.events.hub import FrameUpdate
from polc.cloud.events.metrics import ObservationMetrics
from polc.cloud.events.tracker import END_AFTER_S, EventChange, IoUTracker, TrackerOptions
from polc.cloud.store.interface import FrameStore
from polc.cloud.store.observations import Event, EventSearch


class EventRecorder:
    """Trackers of this replica's cameras and their events (see the module docstring)."""

    def __init__(
        self,
        store: FrameStore,
        metrics: ObservationMetrics,
        *,
        track: bool = True,
        **tracker_options: Unpack[TrackerOptions],
    ):
        self.store, self.metrics, self.track = store, metrics, track
        self._options = tracker_options
        self.end_after_s = tracker_options.get("end_after_s", END_AFTER_S)
        self.trackers: dict[str, IoUTracker] = {}
        self._fed: dict[str, float] = {}  # camera -> monotonic time of its last frame
        self._lock = threading.Lock()

    def observe(
        self, items: Sequence[tuple[str, int, AnalysisResult]]
    ) -> tuple[list[FrameUpdate], list[EventChange]]:
        """Track a batch of freshly stored results: (frame updates, event changes)."""
        by_camera: dict[str, list[tuple[int, AnalysisResult]]] = defaultdict(list)
        for camera_id, seq, result in items:
            by_camera[camera_id].append((seq, result))
        frames: list[FrameUpdate] = []
        changes: list[EventChange] = []
        with self._lock:
            live: dict[str, Event] = {}
            for camera_id, entries in by_camera.items():
                times = self.store.capture_times(camera_id, [s for s, _ in entries])
                tracker = self._tracker(camera_id, changes)
                for seq, result in sorted(entries, key=lambda e: e[0]):
                    if seq not in times:
                        continue  # deleted meanwhile
                    frames.append(FrameUpdate(camera_id, seq, times[seq], result))
                    if self.track:
                        changes += tracker.update(seq, times[seq], result.detections)
                self._fed[camera_id] = time.monotonic()
                live.update((e.id, e) for e in tracker.events)
            self._store(changes, live)
        return frames, changes

    def expire_idle(self, now: float | None = None) -> list[EventChange]:
        """End the live events of cameras that sent nothing for ``end_after_s``."""
        now = time.monotonic() if now is None else now
        changes: list[EventChange] = []
        with self._lock:
            for camera_id, tracker in self.trackers.items():
                if tracker.tracks and now - self._fed.get(camera_id, now) >= self.end_after_s:
                    changes += tracker.expire()
            self._store(changes, {})
        return changes

    def close(self) -> list[EventChange]:
        """End every live event (the service stops)."""
        with self._lock:
            changes = [c for t in self.trackers.values() for c in t.expire()]
            self._store(changes, {})
        return changes

    def _tracker(self, camera_id: str, changes: list[EventChange]) -> IoUTracker:
        tracker = self.trackers.get(camera_id)
        if tracker is None and not self.track:
            tracker = self.trackers[camera_id] = IoUTracker(camera_id, **self._options)
        elif tracker is None:
            tracker = self.trackers[camera_id] = IoUTracker(camera_id, **self._options)
            stale = self.store.list_events(
                EventSearch(camera_ids=(camera_id,), state="active", limit=10_000)
            )
            changes += [EventChange("end", replace(e, state="ended")) for e in stale]
        return tracker

    def _store(self, changes: list[EventChange], live: dict[str, Event]) -> None:
        latest = dict(live)
        for change in changes:
            if change.event.id not in live or change.kind == "end":
                latest[change.event.id] = change.event
        self.store.put_events(list(latest.values()))
        self.metrics.events(
            sum(c.kind == "start" for c in changes), sum(c.kind == "end" for c in changes)
        )
