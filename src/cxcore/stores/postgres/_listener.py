"""The PostgreSQL store's ear for the feed: one connection that listens, and wakes waiters.

Every transaction that appends to the feed runs ``pg_notify('cxcore_feed', '')``,
which PostgreSQL delivers when (and only if) it commits. A store's
:class:`FeedListener` keeps one connection of its own, outside the pool, in
autocommit mode, that has run ``LISTEN cxcore_feed``; each notification sets
the current :class:`asyncio.Event` and starts a new one, so everybody waiting
in :meth:`~cxcore.stores.PostgresStore.wait_feed` wakes and looks at the
feed's head again.

Notifications are database-wide: stores of other schemas in the same database
wake this one too. A wake-up only makes a waiter look again, so one too many
is harmless. If the connection drops, the listener says so (:attr:`up` is
false, and waiters are woken to fall back on polling) and connects again,
waking everybody once more when it is back, since notifications sent
meanwhile were lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import psycopg

from cxcore.stores.postgres._connection import Conn

log = logging.getLogger("cxcore.store")

CHANNEL = "cxcore_feed"
"""The notification channel of feed appends."""

NOTIFY = f"SELECT pg_notify('{CHANNEL}', '')"
"""What a transaction that appends to the feed runs, to wake listeners when it commits."""

_RECONNECT = (0.1, 0.5, 1.0, 2.0, 5.0)
"""Seconds to wait before each attempt to connect again; the last repeats."""


class FeedListener:
    """One ``LISTEN cxcore_feed`` connection of a store, and the event its waiters wait on.

    Args:
        dsn: The store's DSN.
        connect: Keyword arguments for :meth:`psycopg.AsyncConnection.connect`.
    """

    def __init__(self, dsn: str, connect: dict[str, Any]) -> None:
        self._dsn = dsn
        self._connect = connect
        self._signal = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._first: asyncio.Future[None] | None = None
        self.loop = asyncio.get_running_loop()
        self.up = False
        """Whether the connection is listening: notifications can be relied on."""
        self.backend_pid: int | None = None
        """The server process of the listening connection, while it listens."""

    def __repr__(self) -> str:
        return f"FeedListener({'listening' if self.up else 'not listening'})"

    @property
    def signal(self) -> asyncio.Event:
        """The event the next notification (or change of :attr:`up`) sets."""
        return self._signal

    async def start(self) -> None:
        """Connect and listen, if not done yet; return once listening, or once the first try failed."""
        if self._task is None:
            self._first = self.loop.create_future()
            self._task = self.loop.create_task(self._run(), name="cxcore-feed-listener")
        assert self._first is not None  # noqa: S101 - set with the task
        await asyncio.shield(self._first)

    async def aclose(self) -> None:
        """Stop listening and close the connection."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.up = False
        self._wake()

    def _wake(self) -> None:
        signal, self._signal = self._signal, asyncio.Event()
        signal.set()

    def _started(self) -> None:
        if self._first is not None and not self._first.done():
            self._first.set_result(None)

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                conn: Conn = await psycopg.AsyncConnection.connect(
                    self._dsn, autocommit=True, **self._connect
                )
                try:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.backend_pid = conn.info.backend_pid
                    self.up = True
                    failures = 0
                    self._wake()  # what committed while nobody listened is looked for again
                    self._started()
                    async for _ in conn.notifies():
                        self._wake()
                finally:
                    self.up = False
                    self.backend_pid = None
                    await conn.close()
            except psycopg.Error as exc:
                log.warning(
                    "store: the feed's listening connection failed (%s); waiters poll until it is back",
                    " ".join(str(exc).split()),
                )
            self._wake()  # waiters fall back on polling
            self._started()
            await asyncio.sleep(_RECONNECT[min(failures, len(_RECONNECT) - 1)])
            failures += 1
