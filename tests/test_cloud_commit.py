"""GroupCommitter: batches form while a commit runs, results and failures reach every item,
close() waits for what was submitted."""

from __future__ import annotations

import asyncio
import threading

import pytest

from polc.cloud.batching import BatcherClosed
from polc.cloud.commit import GroupCommitter


def test_batches_form_while_a_commit_runs_and_every_item_gets_its_result():
    release = threading.Event()
    batches: list[list[int]] = []

    def put_many(items):
        batches.append(list(items))
        if len(batches) == 1:
            release.wait(5)  # the first commit is slow: the rest piles up meanwhile
        return [i % 2 == 0 for i in items]

    async def main():
        committer = GroupCommitter(put_many)
        got: dict[int, bool | BaseException] = {}
        committer.submit(0, lambda r: got.__setitem__(0, r))
        await asyncio.sleep(0.05)
        for i in range(1, 6):
            committer.submit(i, lambda r, i=i: got.__setitem__(i, r))
        release.set()
        assert await committer.put(6) is True
        await committer.close()
        with pytest.raises(BatcherClosed):
            committer.submit(7, lambda r: None)
        return got

    got = asyncio.run(main())
    assert batches == [[0], [1, 2, 3, 4, 5, 6]]  # one commit for the pile
    assert got == {i: i % 2 == 0 for i in range(6)}


def test_a_failed_commit_fails_each_of_its_items_and_the_next_batch_still_runs():
    release = threading.Event()
    calls = []

    def put_many(items):
        calls.append(list(items))
        if len(calls) == 1:
            release.wait(5)
            raise OSError("disk full")
        return [True] * len(items)

    async def main():
        committer = GroupCommitter(put_many)
        got: dict[int, bool | BaseException] = {}
        committer.submit(0, lambda r: got.__setitem__(0, r))
        await asyncio.sleep(0.05)
        for i in (1, 2):  # pile up behind the failing commit: one batch of their own
            committer.submit(i, lambda r, i=i: got.__setitem__(i, r))
        release.set()
        await committer.close()
        return got

    got = asyncio.run(main())
    assert calls == [[0], [1, 2]]
    assert isinstance(got[0], OSError) and got[1] is True and got[2] is True


def test_a_row_that_fails_its_batch_fails_alone_and_a_full_store_fails_all_at_once():
    """Issue 15 item 2's safety net: a batch failing because of one item is written again
    item by item (only that item gets the error); a store-wide failure (StoreFull) is not
    retried item by item: every item gets it."""
    from polc.cloud.store.interface import RecordRejected, StoreFull

    release, release_full = threading.Event(), threading.Event()
    calls: list[list[int]] = []
    full = False

    def put_many(items):
        calls.append(list(items))
        if len(calls) == 1:
            release.wait(5)
        if items == [20]:
            release_full.wait(5)
        if full:
            raise StoreFull(28, "store full")
        if 13 in items:
            raise RecordRejected("13 does not fit")
        return [True] * len(items)

    async def main():
        nonlocal full
        committer = GroupCommitter(put_many)
        got: dict[int, bool | BaseException] = {}
        committer.submit(0, lambda r: got.__setitem__(0, r))
        await asyncio.sleep(0.05)
        for i in (11, 12, 13, 14):
            committer.submit(i, lambda r, i=i: got.__setitem__(i, r))
        release.set()
        while len(got) < 5:
            await asyncio.sleep(0.01)
        full = True
        committer.submit(20, lambda r: got.__setitem__(20, r))
        await asyncio.sleep(0.05)
        for i in (21, 22):  # pile up behind 20
            committer.submit(i, lambda r, i=i: got.__setitem__(i, r))
        release_full.set()
        await committer.close()
        return got

    got = asyncio.run(main())
    assert calls == [[0], [11, 12, 13, 14], [11], [12], [13], [14], [20], [21, 22]]
    assert got[0] is True and got[11] is got[12] is got[14] is True
    assert isinstance(got[13], RecordRejected)
    assert isinstance(got[21], StoreFull) and got[22] is got[21]
