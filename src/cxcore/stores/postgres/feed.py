"""The feed in the PostgreSQL store: read from a position, consumers' positions, and waiting for more.

Each write appends its rows as the last statements of its transaction, under
the feed's advisory lock (:meth:`_Base._append_feed
<cxcore.stores.postgres._base._Base._append_feed>`), so positions only grow in
the order transactions commit, whichever process wrote. Waiters are woken by
``LISTEN/NOTIFY`` (:mod:`cxcore.stores.postgres._listener`).
"""

from __future__ import annotations

import asyncio
import contextlib

from cxcore.ports.feed import FeedEvent
from cxcore.ports.store import ConflictError
from cxcore.stores._feed_rows import FEED_COLUMNS, event_from_row
from cxcore.stores._rows import micros
from cxcore.stores.postgres._base import _Base
from cxcore.stores.postgres._connection import Conn, _all, _one

_SELECT = f"SELECT {', '.join(FEED_COLUMNS)} FROM feed"


class _Feed(_Base):
    """The feed and consumers' positions in it."""

    async def feed(self, *, after: int = 0, limit: int = 500) -> list[FeedEvent]:
        """The feed's events after position *after*, oldest first, at most *limit*."""
        rows = await self._read(
            lambda c: _all(
                c, _SELECT + " WHERE seq > %s ORDER BY seq LIMIT %s", (after, max(0, limit))
            )
        )
        return [event_from_row(row) for row in rows]

    async def feed_head(self) -> int:
        """The position of the newest event (0 when the feed is empty)."""
        row = await self._read(lambda c: _one(c, "SELECT max(seq) FROM feed"))
        return int(row[0] or 0) if row else 0

    async def feed_position(self, consumer: str) -> int:
        """The position *consumer* saved last (0 if it never did)."""
        row = await self._read(
            lambda c: _one(c, "SELECT seq FROM feed_positions WHERE consumer = %s", (consumer,))
        )
        return 0 if row is None else int(row[0])

    async def save_feed_position(self, consumer: str, seq: int) -> None:
        """Save *consumer*'s position durably; it only moves forward.

        Raises:
            ConflictError: If *seq* is behind the saved position.
        """
        at = micros(self.clock.now())

        async def write(c: Conn) -> None:
            # One statement: of two processes saving at once, the further wins.
            saved = await _one(
                c,
                "INSERT INTO feed_positions (consumer, seq, saved_at) VALUES (%s, %s, %s) "
                "ON CONFLICT (consumer) DO UPDATE SET seq = excluded.seq, saved_at = excluded.saved_at "
                "WHERE feed_positions.seq <= excluded.seq RETURNING 1",
                (consumer, seq, at),
            )
            if saved is None:
                row = await _one(
                    c, "SELECT seq FROM feed_positions WHERE consumer = %s", (consumer,)
                )
                msg = (
                    f"feed consumer {consumer!r} is at position {row[0] if row else '?'}, after "
                    f"{seq}: another process of the same consumer went further"
                )
                raise ConflictError(msg)

        await self._write(write)

    async def wait_feed(self, after: int, at_most: float) -> bool:
        """Wait until the feed may have an event after *after*, at most *at_most* seconds.

        A notification of any commit that appended to the feed wakes the wait
        (the store listens on a connection of its own, opened on the first
        wait); it then looks at the head again, so a notification for another
        schema's store only costs a look. While that connection is down, it
        looks every ``feed_poll`` seconds instead.

        Returns:
            Whether the feed has an event after *after*.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, at_most)
        if await self.feed_head() > after:
            return True
        if deadline <= loop.time():
            return False
        listener = await self._feed_listener()
        while True:
            # Take the event before looking: a commit after the look sets it.
            signal = None if listener is None else listener.signal
            listening = listener is not None and listener.up
            if await self.feed_head() > after:
                return True
            left = deadline - loop.time()
            if left <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                if signal is None:
                    await asyncio.sleep(min(left, self.feed_poll))
                else:
                    await asyncio.wait_for(
                        signal.wait(), left if listening else min(left, self.feed_poll)
                    )
