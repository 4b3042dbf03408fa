"""Live fan-out of what the analysis produces — frame results and event changes — to
whoever watches: WatchResults streams, the MQTT publisher, later the HTTP console.

    AnalysisWorker ─► LiveHub.publish(update) ─► each subscriber's offer(update)
                      (event-loop thread,         bounded queue per subscriber: full → the
                       never waits)               subscriber is dropped, ingest never waits

A subscriber names the cameras it wants (empty: every camera). ``publish`` runs on the
event loop and only appends to bounded queues, so a slow subscriber costs nothing but its
own updates: when its queue is full it is dropped (``dropped`` is set and it is told so).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from polc.cloud.analyzer import AnalysisResult
from polc.cloud.events.tracker import EventChange


@dataclass(frozen=True)
class FrameUpdate:
    """A stored frame's fresh analysis result."""

    camera_id: str
    seq: int
    capture_time_us: int
    result: AnalysisResult


LiveUpdate = FrameUpdate | EventChange


def camera_of(update: LiveUpdate) -> str:
    return update.camera_id if isinstance(update, FrameUpdate) else update.event.camera_id


class Subscriber(Protocol):
    """Takes updates without waiting; False: it cannot keep up (the hub drops it)."""

    cameras: frozenset[str]

    def offer(self, update: LiveUpdate) -> bool: ...

    def drop(self) -> None: ...


class WatchQueue:
    """An asyncio subscriber (one WatchResults call): a bounded queue read by ``get``."""

    def __init__(self, cameras: Iterable[str], max_queue: int):
        self.cameras = frozenset(cameras)
        self.max_queue = max_queue
        self.dropped = False
        self._queue: asyncio.Queue[LiveUpdate | None] = asyncio.Queue(max_queue + 1)

    def offer(self, update: LiveUpdate) -> bool:
        if self._queue.qsize() >= self.max_queue:
            return False
        self._queue.put_nowait(update)
        return True

    def drop(self) -> None:
        self.dropped = True
        self._queue.put_nowait(None)  # the slot kept free for it

    async def get(self) -> LiveUpdate | None:
        """The next update; None once dropped."""
        return await self._queue.get()


class LiveHub:
    """The subscribers of this replica (see the module docstring)."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        if subscriber in self._subscribers:
            self._subscribers.remove(subscriber)

    def __len__(self) -> int:
        return len(self._subscribers)

    def publish(self, updates: Iterable[LiveUpdate]) -> None:
        """Offer each update to the subscribers that watch its camera (never waits)."""
        for update in updates:
            camera = camera_of(update)
            for sub in list(self._subscribers):
                if sub.cameras and camera not in sub.cameras:
                    continue
                if not sub.offer(update):
                    self.unsubscribe(sub)
                    sub.drop()
