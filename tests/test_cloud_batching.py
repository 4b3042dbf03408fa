"""The dynamic batcher: batches up to the size limit, isolates per-item errors, drains."""

from __future__ import annotations

import asyncio

import pytest

from polc.cloud.batching import BatcherClosed, DynamicBatcher


def test_batches_form_and_errors_stay_per_item():
    sizes: list[int] = []

    def process(items):
        return [ValueError(f"bad {i}") if i % 5 == 0 else i * 2 for i in items]

    async def main():
        batcher = DynamicBatcher(
            process,
            max_batch_size=4,
            max_queue_delay_s=0.05,
            max_queue=8,
            on_batch=lambda n, _t: sizes.append(n),
        )
        batcher.start()
        results = await asyncio.gather(
            *(batcher.submit(i) for i in range(1, 11)), return_exceptions=True
        )
        await batcher.close()
        with pytest.raises(BatcherClosed):
            await batcher.submit(1)
        return results

    results = asyncio.run(main())
    assert [r for r in results if not isinstance(r, Exception)] == [
        i * 2 for i in range(1, 11) if i % 5
    ]
    assert [str(r) for r in results if isinstance(r, Exception)] == ["bad 5", "bad 10"]
    assert max(sizes) == 4 and sum(sizes) == 10  # batched, never above the limit


def test_a_failing_batch_function_fails_only_its_batch():
    calls = []

    def process(items):
        calls.append(list(items))
        if len(calls) == 1:
            raise RuntimeError("boom")
        return list(items)

    async def main():
        batcher = DynamicBatcher(process, max_batch_size=2, max_queue_delay_s=0.0, max_queue=4)
        batcher.start()
        with pytest.raises(RuntimeError):
            await batcher.submit(1)
        assert await batcher.submit(2) == 2
        await batcher.close()

    asyncio.run(main())
