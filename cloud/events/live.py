"""What the analysis worker hands its fresh results to: the event recorder (store's thread
pool) and then the live hub (event loop), plus the idle sweep that ends the events of
cameras gone quiet.

    AnalysisWorker ─► LiveResults.results(batch) ─► EventRecorder.observe (io thread)
                                                 └► LiveHub.publish (WatchResults, MQTT)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
from collections.abc import Sequence

from polc.cloud.analyzer import AnalysisResult
from polc.cloud.events.hub import LiveHub
from polc.cloud.events.recorder import EventRecorder

log = logging.getLogger(__name__)


class LiveResults:
    def __init__(
        self, recorder: EventRecorder, hub: LiveHub, io: concurrent.futures.Executor
    ) -> None:
        self.recorder, self.hub, self.io = recorder, hub, io
        self._sweep: asyncio.Task | None = None

    def start(self) -> None:
        self._sweep = asyncio.get_running_loop().create_task(self._expire_idle(), name="events")

    async def results(self, items: Sequence[tuple[str, int, AnalysisResult]]) -> None:
        """A batch of stored results (camera, seq, result) of analysed frames."""
        loop = asyncio.get_running_loop()
        try:
            frames, changes = await loop.run_in_executor(self.io, self.recorder.observe, items)
        except Exception:  # the results are stored; only the events of this batch are lost
            log.exception("tracking %d analysed frames failed", len(items))
            return
        self.hub.publish([*frames, *changes])

    async def _expire_idle(self) -> None:
        loop = asyncio.get_running_loop()
        period = max(0.05, min(1.0, self.recorder.end_after_s / 4))
        while True:
            await asyncio.sleep(period)
            try:
                self.hub.publish(await loop.run_in_executor(self.io, self.recorder.expire_idle))
            except Exception:
                log.exception("ending idle events failed")

    async def close(self) -> None:
        """End the live events (after the analysis worker stopped)."""
        if self._sweep is not None:
            self._sweep.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweep
        try:
            self.hub.publish(
                await asyncio.get_running_loop().run_in_executor(self.io, self.recorder.close)
            )
        except Exception:
            log.exception("ending the live events failed")
