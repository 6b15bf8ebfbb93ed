"""Reading the feed: a durable consumer, and a live follower for in-process subscribers.

The store appends every accepted answer, opt-out and delivery status to its
feed in the same transaction as the write (:class:`~cxcore.ports.feed.FeedEvent`).
Two ways to read it:

* :class:`FeedConsumer` keeps a *durable* position in the store under its
  name. It hands events to a handler in order, in batches, and saves the
  position after the handler returns, so a consumer in another process (or on
  another machine, with PostgreSQL) that crashes and restarts carries on
  where it left off. Delivery is *at least once*: the events of a batch the
  handler finished but whose position was not saved yet (a ``kill -9`` in
  between) come again. Every event has a ``seq`` that only grows; a handler
  whose effects must happen exactly once makes them idempotent by it (keep
  the last ``seq`` applied with the effects, and skip what is not beyond it).
* :func:`follow` yields events as they arrive, from now on, keeping nothing:
  what a live scoreboard or a Server-Sent Events stream needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from cxcore.errors import CxError
from cxcore.model._checks import Checks
from cxcore.ports.feed import FeedEvent
from cxcore.ports.store import Store

__all__ = ["FeedConsumer", "FeedHandler", "follow"]

log = logging.getLogger("cxcore.feed")

FeedHandler = Callable[[Sequence[FeedEvent]], Awaitable[None]]
"""What a :class:`FeedConsumer` calls with each batch of events, in order."""


class FeedConsumer:
    """Hands the feed to *handler*, in order, from a position kept durably in the store.

    Args:
        store: The store whose feed is read.
        name: The consumer's name: its position is kept under it. Processes
            that share a name share the position (run one at a time).
        handler: Called with each batch, oldest first; if it raises, the
            position is not saved and the batch comes again.
        batch: The most events handed over at once.
        wait: The most seconds to wait for new events before looking again
            (the store wakes waiters sooner when it can).

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        store: Store,
        name: str,
        handler: FeedHandler,
        *,
        batch: int = 500,
        wait: float = 1.0,
    ) -> None:
        checks = Checks()
        checks.identifier("name", name)
        if batch < 1:
            checks.add("batch", f"{batch} is not 1 or more")
        if wait <= 0:
            checks.add("wait", f"{wait} is not more than 0 seconds")
        checks.raise_if_any("FeedConsumer")
        self.store = store
        self.name = name
        self.handler = handler
        self.batch = batch
        self.wait = wait
        self._position: int | None = None

    def __repr__(self) -> str:
        return f"FeedConsumer({self.name!r}, position={self._position})"

    @property
    def position(self) -> int | None:
        """The position saved last by this consumer (``None`` before the first read)."""
        return self._position

    async def run_once(self) -> int:
        """Hand over the next batch, if there is one, and save the position.

        Returns:
            How many events were handled (0 when the consumer is up to date).
        """
        if self._position is None:
            self._position = await self.store.feed_position(self.name)
        events = await self.store.feed(after=self._position, limit=self.batch)
        if not events:
            return 0
        await self.handler(events)
        await self.store.save_feed_position(self.name, events[-1].seq)
        self._position = events[-1].seq
        return len(events)

    async def run(self, stop: asyncio.Event) -> None:
        """Hand over events as they arrive until *stop* is set.

        A failing handler is logged and its batch retried after a pause; a
        failing store ends the run with its error.
        """
        while not stop.is_set():
            try:
                handled = await self.run_once()
            except CxError:
                raise
            except Exception:
                log.exception("feed consumer %r: the handler failed; retrying", self.name)
                await _sleep_or_stop(stop, self.wait)
                continue
            if handled == 0 and not stop.is_set():
                waiting = asyncio.ensure_future(
                    self.store.wait_feed(self._position or 0, self.wait)
                )
                stopping = asyncio.ensure_future(stop.wait())
                _, pending = await asyncio.wait(
                    {waiting, stopping}, return_when=asyncio.FIRST_COMPLETED
                )
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)


async def follow(
    store: Store, *, after: int | None = None, batch: int = 500, wait: float = 1.0
) -> AsyncIterator[FeedEvent]:
    """Yield the feed's events as they arrive, keeping no position in the store.

    Args:
        store: The store whose feed is followed.
        after: Start after this position; by default, after the newest event
            (only what happens from now on).
        batch: The most events read at once.
        wait: The most seconds between looks when nothing wakes the follower.

    .. versionadded:: 0.1.0
    """
    position = await store.feed_head() if after is None else after
    while True:
        events = await store.feed(after=position, limit=batch)
        for event in events:
            yield event
        if events:
            position = events[-1].seq
        if len(events) < batch:
            await store.wait_feed(position, wait)


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
