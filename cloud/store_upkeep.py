"""The store while the service runs: retention sweeps, the store gauges and the store-full
state.

Store full (no space for the layer files or the index): the ingest path refuses frames with
RESOURCE_EXHAUSTED "store_full" (retryable) and reports it here: ``polc_cloud_store_full``
is 1 and the ingest service's health NOT_SERVING, until a frame is stored or the store's
filesystem has space again (checked every second).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import shutil
from collections.abc import Callable, Coroutine
from typing import Any

from polc.cloud.config import StoreSettings
from polc.cloud.ingest.frames import FrameIntake
from polc.cloud.metrics import CloudMetrics
from polc.cloud.store.interface import FrameStore

log = logging.getLogger(__name__)


class StoreUpkeep:
    """Retention, gauges and the store-full state of one replica's store.

    ``frames`` is the ingest path that sees the store fill up (and stores again);
    ``set_ingest_serving(serving)`` sets the ingest service's health."""

    def __init__(
        self,
        settings: StoreSettings,
        store: FrameStore,
        metrics: CloudMetrics,
        io: concurrent.futures.Executor,
        frames: FrameIntake,
        set_ingest_serving: Callable[[bool], Coroutine[Any, Any, None]],
    ):
        self.settings, self.store, self.metrics, self.io = settings, store, metrics, io
        self.frames, self.set_ingest_serving = frames, set_ingest_serving
        self._tasks: list[asyncio.Task] = []
        self._watch: asyncio.Task | None = None
        frames.on_store_state = self.store_state

    def start(self) -> None:
        """Set the store gauges now, then sweep and refresh them periodically."""
        self.metrics.store_limit(self.settings.max_bytes)
        self._update_gauges(0)
        self._tasks.append(asyncio.create_task(self._housekeeping()))

    def stop(self) -> None:
        for task in (*self._tasks, self._watch):
            if task is not None:
                task.cancel()

    def store_state(self, full: bool) -> None:
        """The ingest path saw the store become full (or usable again)."""
        self.metrics.store_full(full)
        if full:
            log.error(
                "store full at %s: frames are refused (retryable) until space returns",
                self.settings.path,
            )
            if self._watch is None or self._watch.done():
                self._watch = asyncio.create_task(self._watch_free_space())
        else:
            log.warning("store usable again: ingest health SERVING")
        self._tasks.append(asyncio.create_task(self.set_ingest_serving(not full)))
        self._tasks = [t for t in self._tasks if not t.done()]

    async def _watch_free_space(self) -> None:
        """While the store is full: back to SERVING once its filesystem has space again
        (1 MiB or 1% of it, whichever is smaller); a stored frame also ends it."""
        path = self.settings.path
        while self.frames.store_full:
            await asyncio.sleep(1.0)
            try:
                usage = shutil.disk_usage(path)
            except OSError:
                continue
            if usage.free >= min(1 << 20, usage.total // 100):
                self.frames.store_state(full=False)

    def _update_gauges(self, deleted: int) -> None:
        stats = self.store.stats()
        self.metrics.store(stats.frames, stats.bytes, deleted)

    async def _housekeeping(self) -> None:
        """Retention sweeps and the store gauges."""
        s = self.settings
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(s.sweep_interval_seconds, 15.0))
            try:
                deleted = 0
                if s.retention_seconds is not None or s.max_bytes is not None:
                    deleted = await loop.run_in_executor(
                        self.io, self.store.enforce_retention, s.retention_seconds, s.max_bytes
                    )
                await loop.run_in_executor(self.io, self._update_gauges, deleted)
            except Exception:
                log.exception("store housekeeping failed")
