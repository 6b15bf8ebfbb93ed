"""The embedded default store: one SQLite file, no server.

Writes go through one writer thread that commits in groups: every write
waiting when a transaction starts joins it (each in a savepoint of its own, so
one failure never undoes another), and one ``fsync`` acknowledges them all.
With WAL and ``synchronous=FULL`` (the default), a write is durable when its
``await`` returns, and survives ``kill -9``. Reads use their own connection
and never wait for writes. A checkpointer thread copies the write-ahead log
into the file in the background, so no write waits for that either.

Several processes may share one file: transactions take SQLite's write lock
with ``BEGIN IMMEDIATE`` and wait for it up to ``busy_timeout`` seconds.

:class:`SQLiteStore` is a thin face over one part per aggregate, each a
module of this package: ``responses`` (surveys, responses, scores),
``outbox`` (invitations, dispositions, sends, delivery statuses), ``people``
(consent, suppression, opt-outs, erasure, retention), ``cases``, ``inbound`` (what
answers, opt-outs and statuses coming back look up and write), ``feed``
(reading the feed, consumers' positions) and ``keys`` (API keys), all on
``_base`` (the connections, the writer, the schema, the audit log, and the
feed's appends, which every write makes in its own transaction). A new aggregate is a
module of its own, and its part one more base of :class:`SQLiteStore`.
"""

from __future__ import annotations

import os
import queue
from pathlib import Path
from typing import Literal

from cxcore.ports.clock import Clock, SystemClock
from cxcore.stores._analytics import ScoreReader
from cxcore.stores._checks import check_counts
from cxcore.stores.sqlite._base import _Base
from cxcore.stores.sqlite.cases import _Cases
from cxcore.stores.sqlite.feed import _Feed
from cxcore.stores.sqlite.inbound import _Inbound
from cxcore.stores.sqlite.keys import _Keys
from cxcore.stores.sqlite.kiosks import _Kiosks
from cxcore.stores.sqlite.outbox import _Outbox
from cxcore.stores.sqlite.people import _People
from cxcore.stores.sqlite.responses import SQLITE, _Responses

__all__ = ["SQLiteStore"]


class SQLiteStore(_Responses, _Outbox, _Inbound, _People, _Cases, _Feed, _Keys, _Kiosks, _Base):
    """The SQLite store. Use it as an async context manager, or call :meth:`open` and :meth:`aclose`.

    >>> import asyncio, tempfile, os
    >>> async def demo(path):
    ...     async with SQLiteStore(path) as store:
    ...         return await store.schema_version()
    >>> with tempfile.TemporaryDirectory() as d:
    ...     asyncio.run(demo(os.path.join(d, "cx.db")))
    8

    Args:
        path: The database file; created if missing.
        synchronous: ``"FULL"`` (default) makes every acknowledged write
            survive a power cut; ``"NORMAL"`` is faster and survives a
            crash of the process but may lose the last transactions on power loss.
        busy_timeout: Seconds to wait for another process's write lock.
        max_submission_bytes: The largest submission accepted, as JSON.
        clock: Where the store reads the time (audit entries, retention).
        group_commit: The most writes committed together (each still in a
            savepoint of its own); 1 commits every write on its own.
        frame_parts: How many queries :meth:`frame` and :meth:`score` run at
            once, each on a reader connection and thread of its own, on spans
            of the time the answers were given (SQLite runs a query on one
            core); 1 reads with one connection.
        feed_poll: How often, in seconds, :meth:`wait_feed` looks for events
            other processes wrote to the file (this process's wake it at once).

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        busy_timeout: float = 30.0,
        max_submission_bytes: int = 64 * 1024,
        clock: Clock | None = None,
        group_commit: int = 256,
        frame_parts: int = 2,
        feed_poll: float = 0.02,
    ) -> None:
        check_counts(group_commit=group_commit, frame_parts=frame_parts)
        if synchronous not in ("FULL", "NORMAL"):
            msg = f"synchronous: {synchronous!r} is not 'FULL' or 'NORMAL'"
            raise ValueError(msg)
        self.path = Path(path)
        self.synchronous = synchronous
        self.busy_timeout = busy_timeout
        self.max_submission_bytes = max_submission_bytes
        self.clock = clock or SystemClock()
        self.group_commit = group_commit
        self.frame_parts = frame_parts
        self.feed_poll = feed_poll
        self._loop = None
        self._feed_signal = None
        self._feed_pending = False
        self._queue = queue.SimpleQueue()
        self._writer = None
        self._checkpointer = None
        self._reader = None
        self._reader_conns = None
        self._surveys = {}
        self._scores = ScoreReader(
            SQLITE, self._rows, self._columns, parts=frame_parts, count_parts=frame_parts
        )
