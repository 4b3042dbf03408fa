"""AnalysisBacklog.take ends when the backlog is closed, even while a refill is in flight
(close() during _refill used to be cleared away, and CloudServer.stop waited forever)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

from polc.cloud.analysis.backlog import AnalysisBacklog


class _SlowStore:
    """claim_pending blocks until released: a refill that is still in flight."""

    def __init__(self) -> None:
        self.entered, self.release = threading.Event(), threading.Event()

    def claim_pending(self, limit: int, lease_s: float) -> list:
        self.entered.set()
        self.release.wait(10)
        return []


def test_close_during_a_refill_ends_take():
    async def scenario() -> list:
        store = _SlowStore()
        with concurrent.futures.ThreadPoolExecutor(1) as io:
            backlog = AnalysisBacklog(store, io, capacity=8, lease_s=30.0)
            taking = asyncio.create_task(backlog.take(4))
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, store.entered.wait, 5)
            backlog.close()  # while claim_pending runs
            store.release.set()
            return await asyncio.wait_for(taking, 5)

    assert asyncio.run(scenario()) == []
