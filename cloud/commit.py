"""Group commit of received frames: one durable store write for every frame ready at once.

    stream 1 ─┐  submit(item, done)            ┌─ put_many(batch) in the commit thread
    stream 2 ─┼─► pending list ─► (no commit ──┤  (segment append + fsync, one index
    stream n ─┘                    running?)   └─ transaction) ─► done(result) per item

There is no collection delay: while one batch is being written (its fsyncs take most of
the time), the frames arriving from every stream pile up and become the next batch, so the
batch size follows the load by itself. ``done`` callbacks run on the event loop after the
batch is durable (never before: that is what makes an ack safe) and are plain callables,
not futures, so the hot path costs no task or future per frame.

One frame never fails another: when a batch's ``put_many`` fails, the batch is written again
item by item in the commit thread, so only the item(s) at fault get the error — unless the
failure is store-wide (:class:`~polc.cloud.store.interface.StoreFull`: every item would
fail alike, so all of them get it at once).

Memory: every pending frame holds one slot of its stream's ack window until its answer is
handed to gRPC, so at most ``streams × window`` frames are ever pending here.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from polc.cloud.batching import BatcherClosed
from polc.cloud.store.interface import StoreFull

T = TypeVar("T")
log = logging.getLogger(__name__)

#: what ``done`` receives: the backend's per-item result (``put_many``: inserted or not),
#: or the exception that failed the item
Done = Callable[[bool | BaseException], None]


class GroupCommitter(Generic[T]):
    """Serialises ``put_many`` calls and hands each one everything submitted meanwhile."""

    def __init__(
        self,
        put_many: Callable[[Sequence[T]], Sequence[bool]],
        *,
        max_batch: int = 1024,
        on_batch: Callable[[int, float], None] | None = None,
    ):
        self._put_many = put_many
        self.max_batch = max_batch
        self._on_batch = on_batch
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="commit")
        self._pending: list[tuple[T, Done]] = []
        self._running = False
        self._closed = False
        self._idle: asyncio.Event | None = None  # set by close() waiting for the last batch

    def submit(self, item: T, done: Done) -> None:
        """Queue ``item``; ``done(result)`` is called on the event loop once it is durable."""
        if self._closed:
            raise BatcherClosed("store committer closed")
        self._pending.append((item, done))
        if not self._running:
            self._start()

    async def put(self, item: T) -> bool:
        """``submit`` for coroutines: True if stored, False if it was already stored."""
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        def done(result: bool | BaseException) -> None:
            if fut.done():  # the waiter was cancelled
                return
            if isinstance(result, BaseException):
                fut.set_exception(result)
            else:
                fut.set_result(result)

        self.submit(item, done)
        return await fut

    def _start(self) -> None:
        batch = self._pending[: self.max_batch]
        del self._pending[: self.max_batch]
        self._running = True
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        running = loop.run_in_executor(self._executor, self._commit, [item for item, _ in batch])
        running.add_done_callback(lambda fut: self._finished(batch, fut, loop.time() - t0))

    def _commit(self, items: list[T]) -> Sequence[bool | BaseException]:
        """``put_many(items)``; if it fails (not store-wide), once more item by item, so the
        error stays with the item(s) at fault (runs in the commit thread)."""
        try:
            return self._put_many(items)
        except StoreFull:
            raise
        except Exception as exc:
            if len(items) == 1:
                raise
            log.warning(
                "store commit of %d items failed (%s); writing them one by one", len(items), exc
            )
        results: list[bool | BaseException] = []
        for item in items:
            try:
                results.extend(self._put_many([item]))
            except Exception as exc:
                results.append(exc)
        return results

    def _finished(self, batch: list[tuple[T, Done]], fut: asyncio.Future, seconds: float) -> None:
        self._running = False
        results: Sequence[bool | BaseException]
        try:
            results = fut.result()
            if len(results) != len(batch):
                raise RuntimeError(
                    f"put_many returned {len(results)} results for {len(batch)} items"
                )
        except Exception as exc:  # the batch is not stored: every frame gets the error
            if isinstance(exc, StoreFull):
                log.error("store commit of %d frames failed: %s", len(batch), exc)
            else:
                log.exception("store commit of %d frames failed", len(batch))
            results = [exc] * len(batch)
        if self._pending:  # start the next fsync before spending time on these answers
            self._start()
        elif self._idle is not None:
            self._idle.set()
        if self._on_batch:
            self._on_batch(len(batch), seconds)
        for (_, done), result in zip(batch, results, strict=True):
            try:
                done(result)
            except Exception:  # one broken callback must not lose the others' acks
                log.exception("commit callback failed")

    async def close(self) -> None:
        """Accept nothing more, wait for everything submitted to be written."""
        self._closed = True
        if self._running or self._pending:
            self._idle = asyncio.Event()
            await self._idle.wait()
        self._executor.shutdown(wait=True)
