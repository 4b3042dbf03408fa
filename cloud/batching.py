"""Dynamic batching across all ingest streams.

    stream 1 ─┐                       ┌─ max_batch_size items, or
    stream 2 ─┼─► bounded queue ─► collector ─ max_queue_delay after the first item
    stream n ─┘   (submit waits       └─► process(batch) in a worker thread ─► futures
                   when full)

Every submitter gets its own item's result (or exception) back; one bad item never fails
the others because ``process`` returns a result or an exception per item. The queue is
bounded, so memory is bounded; together with the per-stream ack window it gives
back-pressure all the way to the edges.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")
log = logging.getLogger(__name__)


class BatcherClosed(RuntimeError):
    """The batcher is shutting down and accepts no new items."""


@dataclass
class _Pending(Generic[T, R]):
    item: T
    future: asyncio.Future[R]


class DynamicBatcher(Generic[T, R]):
    """Collects items from many coroutines into batches for one synchronous function.

    ``process(items) -> results`` runs in a dedicated worker thread and must return one
    result or exception instance per item, in order.
    """

    def __init__(
        self,
        process: Callable[[Sequence[T]], Sequence[R | BaseException]],
        *,
        max_batch_size: int,
        max_queue_delay_s: float,
        max_queue: int,
        on_batch: Callable[[int, float], None] | None = None,
        on_depth: Callable[[int], None] | None = None,
    ):
        self._process = process
        self.max_batch_size = max_batch_size
        self.max_queue_delay_s = max_queue_delay_s
        self._queue: asyncio.Queue[_Pending[T, R] | None] = asyncio.Queue(max_queue)
        self._on_batch = on_batch
        self._on_depth = on_depth
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="batch")
        self._task: asyncio.Task | None = None
        self._closed = False

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="batcher")

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    async def submit(self, item: T) -> R:
        """Queue one item (waits while the queue is full) and return its result."""
        if self._closed:
            raise BatcherClosed("batcher closed")
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(item, future))
        if self._on_depth:
            self._on_depth(self._queue.qsize())
        return await future

    async def close(self) -> None:
        """Stop accepting items, finish everything queued, stop the worker."""
        if self._closed:
            return
        self._closed = True
        await self._queue.put(None)
        if self._task is not None:
            await self._task
        self._executor.shutdown(wait=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is None:
                break
            batch = [first]
            deadline = loop.time() + self.max_queue_delay_s
            while len(batch) < self.max_batch_size:
                try:
                    nxt = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        nxt = await asyncio.wait_for(self._queue.get(), remaining)
                    except TimeoutError:
                        break
                if nxt is None:
                    stopping = True
                    break
                batch.append(nxt)
            if self._on_depth:
                self._on_depth(self._queue.qsize())
            await self._run_batch(loop, batch)
        # drain anything that raced with close()
        while not self._queue.empty():
            pending = self._queue.get_nowait()
            if pending is not None:
                await self._run_batch(loop, [pending])

    async def _run_batch(
        self, loop: asyncio.AbstractEventLoop, batch: list[_Pending[T, R]]
    ) -> None:
        t0 = time.perf_counter()
        try:
            results = await loop.run_in_executor(
                self._executor, self._process, [p.item for p in batch]
            )
            if len(results) != len(batch):
                raise RuntimeError(
                    f"batch function returned {len(results)} results for {len(batch)} items"
                )
        except Exception as exc:  # the whole batch failed: every item gets the error
            log.exception("batch of %d failed", len(batch))
            results = [exc] * len(batch)
        if self._on_batch:
            self._on_batch(len(batch), time.perf_counter() - t0)
        for pending, result in zip(batch, results, strict=True):
            if pending.future.done():
                continue
            if isinstance(result, BaseException):
                pending.future.set_exception(result)
            else:
                pending.future.set_result(result)
