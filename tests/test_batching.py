"""The Batcher under the dispatcher's ends and PostgreSQL's group commit: what callers can rely on."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from cxcore._batching import Batcher


class Recorder:
    """A write that records its batches, and can be held open or made to fail."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail: Exception | None = None

    async def write(self, batch: Sequence[int]) -> list[int | BaseException]:
        self.batches.append(list(batch))
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return [ValueError(f"odd {i}") if i % 2 else i * 10 for i in batch]


def test_waiting_items_go_together_in_the_next_write_up_to_the_limit():
    """The first item is written at once; those that come meanwhile follow in writes of at most limit."""

    async def scenario() -> tuple[list[list[int]], list[object]]:
        rec = Recorder()
        batcher: Batcher[int, int] = Batcher(rec.write, limit=3)
        rec.gate.clear()
        first = asyncio.create_task(batcher.submit(0))
        await asyncio.sleep(0)  # the first write starts, and is held open
        rest = [asyncio.create_task(batcher.submit(i)) for i in range(1, 8)]
        await asyncio.sleep(0)
        rec.gate.set()
        results = await asyncio.gather(first, *rest, return_exceptions=True)
        return rec.batches, [r if isinstance(r, int) else str(r) for r in results]

    batches, results = asyncio.run(scenario())
    assert batches == [[0], [1, 2, 3], [4, 5, 6], [7]]
    assert results == [0, "odd 1", 20, "odd 3", 40, "odd 5", 60, "odd 7"]


def test_a_failed_write_gives_each_caller_its_own_error_and_the_next_write_goes_on():
    """When the write raises, failed() makes each caller's error; later items are still written."""

    async def scenario() -> tuple[list[str], int]:
        rec = Recorder()
        batcher: Batcher[int, int] = Batcher(
            rec.write, failed=lambda item, exc: RuntimeError(f"item {item}: {exc}")
        )
        rec.fail = OSError("disk full")
        errors = await asyncio.gather(batcher.submit(2), batcher.submit(4), return_exceptions=True)
        rec.fail = None
        return [str(e) for e in errors], await batcher.submit(6)

    errors, later = asyncio.run(scenario())
    assert errors == ["item 2: disk full", "item 4: disk full"]
    assert later == 60


def test_a_cancelled_caller_does_not_stop_its_item_or_the_others():
    """Cancelling one waiting caller leaves its item in the write, and the others get their results."""

    async def scenario() -> tuple[list[list[int]], int]:
        rec = Recorder()
        batcher: Batcher[int, int] = Batcher(rec.write)
        rec.gate.clear()
        first = asyncio.create_task(batcher.submit(0))
        await asyncio.sleep(0)
        gone = asyncio.create_task(batcher.submit(2))
        kept = asyncio.create_task(batcher.submit(4))
        await asyncio.sleep(0)
        gone.cancel()
        rec.gate.set()
        await first
        with pytest.raises(asyncio.CancelledError):
            await gone
        return rec.batches, await kept

    batches, kept = asyncio.run(scenario())
    assert batches == [[0], [2, 4]]
    assert kept == 40
