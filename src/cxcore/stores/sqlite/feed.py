"""The feed in the SQLite store: appended in each write's transaction, read from a position.

Positions come from an ``AUTOINCREMENT`` key, so they only grow, and since
the store has one writer per file (SQLite's write lock), a position is never
taken by a transaction that commits after a later one. Waiters of the process
that wrote are woken as soon as the transaction commits; writes of other
processes sharing the file are seen within ``feed_poll`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3

from cxcore.ports.feed import FeedEvent
from cxcore.ports.store import ConflictError
from cxcore.stores._feed_rows import FEED_COLUMNS, event_from_row
from cxcore.stores._rows import micros
from cxcore.stores.sqlite._base import _Base

_SELECT = f"SELECT {', '.join(FEED_COLUMNS)} FROM feed"


class _Feed(_Base):
    """The feed and consumers' positions in it."""

    async def feed(self, *, after: int = 0, limit: int = 500) -> list[FeedEvent]:
        """The feed's events after position *after*, oldest first, at most *limit*."""
        rows = await self._read(
            lambda c: c.execute(
                _SELECT + " WHERE seq > ? ORDER BY seq LIMIT ?", (after, max(0, limit))
            ).fetchall()
        )
        return [event_from_row(row) for row in rows]

    async def feed_head(self) -> int:
        """The position of the newest event (0 when the feed is empty)."""
        row = await self._read(lambda c: c.execute("SELECT MAX(seq) FROM feed").fetchone())
        return int(row[0] or 0)

    async def feed_position(self, consumer: str) -> int:
        """The position *consumer* saved last (0 if it never did)."""
        row = await self._read(
            lambda c: c.execute(
                "SELECT seq FROM feed_positions WHERE consumer = ?", (consumer,)
            ).fetchone()
        )
        return 0 if row is None else int(row[0])

    async def save_feed_position(self, consumer: str, seq: int) -> None:
        """Save *consumer*'s position durably; it only moves forward.

        Raises:
            ConflictError: If *seq* is behind the saved position.
        """
        at = micros(self.clock.now())

        def write(c: sqlite3.Connection) -> None:
            row = c.execute(
                "SELECT seq FROM feed_positions WHERE consumer = ?", (consumer,)
            ).fetchone()
            if row is not None and int(row[0]) > seq:
                msg = (
                    f"feed consumer {consumer!r} is at position {row[0]}, after {seq}: another "
                    "process of the same consumer went further"
                )
                raise ConflictError(msg)
            c.execute(
                "INSERT INTO feed_positions (consumer, seq, saved_at) VALUES (?, ?, ?) "
                "ON CONFLICT (consumer) DO UPDATE SET seq = excluded.seq, saved_at = excluded.saved_at",
                (consumer, seq, at),
            )

        await self._write(write)

    async def wait_feed(self, after: int, at_most: float) -> bool:
        """Wait until the feed may have an event after *after*, at most *at_most* seconds.

        Returns:
            Whether the feed has an event after *after*.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, at_most)
        while True:
            signal = self._feed_signal
            if await self.feed_head() > after:
                return True
            left = deadline - loop.time()
            if left <= 0:
                return False
            if signal is None or self._loop is not loop:
                await asyncio.sleep(min(left, self.feed_poll))
                continue
            # Woken by this process's commits; polls for other processes' writes.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(signal.wait(), min(left, self.feed_poll))
