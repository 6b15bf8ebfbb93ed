"""The store for scale-out: one PostgreSQL database shared by every process, on every machine.

It behaves as :class:`~cxcore.stores.SQLiteStore` does, method for method,
and passes the same contract suite; what differs is how it stays correct when
many processes write at once.

**Transactions.** Every write runs in a transaction of its own at PostgreSQL's
default isolation, READ COMMITTED, and takes the locks its decision needs, so
it is never retried for a serialization failure:

* *Idempotency* rests on the primary key of ``submissions``: a submission
  first claims its key with ``INSERT ... ON CONFLICT DO NOTHING``. A second
  claim of the same key, from any process, waits for the first transaction;
  if that one commits, the claim does nothing and the submission re-reads the
  stored row (a repeat, or a conflict if the payload differs); if it rolls
  back, the key is free again. Batches (:meth:`PostgresStore.append`) check
  their keys, ``COPY`` the new rows, and start again if another process
  stored one of the same keys meanwhile.
* *Later answers to one invitation* are serialized by a transaction-level
  advisory lock on the invitation id, and the response they amend is locked
  ``FOR UPDATE`` so retention or erasure running at the same time cannot be
  overwritten.
* *Outbox claims* use ``SELECT ... FOR UPDATE SKIP LOCKED``: dispatchers in
  several processes never wait for each other and never claim the same send.
* *Delivery statuses* of one invitation lock its row, and *opt-outs* take an
  advisory lock on the ledgers of the address and the customer, so a
  provider's retries arriving at once still never go backwards or write twice.

A transaction that PostgreSQL aborts for a deadlock, or that loses its
connection before ``COMMIT``, is run again (up to three times in all); nothing
of it had been written.

**The feed.** Every write that takes something in appends its events to
``feed`` in its own transaction, and a consumer reads them after the last
position it saw. That only works if positions grow in the order transactions
*commit*: a ``BIGSERIAL`` value is taken when the row is inserted, and
transactions commit in any order, so without care a reader could see
position 11 committed, move its cursor there, and never see position 10,
committed a moment later. So a write appends its feed rows as its *last*
statements, after taking a transaction-scoped advisory lock dedicated to the
feed (``pg_advisory_xact_lock``). PostgreSQL releases it at the end of
``COMMIT``, after the transaction became visible; the next appender takes its
positions only then. Positions are thus handed out in commit order, and a
position a reader has seen has no smaller one still to come (a rolled-back
append leaves a gap, never a late arrival). The price is that appending
transactions commit one at a time: the lock is held from the append to the
end of ``COMMIT`` (its WAL flush included), which is why every other
statement of a write comes before it, and why group commit matters more:
fifty new responses take the lock once.

The appending transaction also runs ``pg_notify('cxcore_feed', '')``, which
PostgreSQL delivers at commit. :meth:`PostgresStore.wait_feed` returns at
once if the feed has an event after the given position; otherwise it waits
on the store's one listening connection (outside the pool, in autocommit
mode, opened on the first wait and closed by :meth:`PostgresStore.aclose`),
which wakes every waiter on each notification. A waiter then looks at the
feed's head again: notifications are database-wide, so one sent for a store
in another schema is one look for nothing. While the listening connection is
down, waiters look every ``feed_poll`` seconds, until it is back.

**Durability.** A write is acknowledged only after its ``COMMIT`` returns. The
store runs its sessions with ``synchronous_commit`` at ``on`` (or stronger, if
the server is set so), so an acknowledged write is in the server's
write-ahead log on disk, and survives a crash of the client or the server. If
the connection breaks *during* ``COMMIT``, nobody can know whether it
committed: the store raises :class:`~cxcore.ports.store.StoreError` saying so,
and the caller retries with the same idempotency key.

**Connections** come from a ``psycopg_pool.AsyncConnectionPool``
(package ``psycopg-pool``) of *min_size* to *max_size* connections, in
autocommit mode between transactions; reads run outside any transaction.

**Schema.** The schema is that of SQLite (``cxcore.stores._schema``),
versioned in the ``meta`` table and migrated on :meth:`PostgresStore.open`
under an advisory lock, so several processes may open a new database at once.
Tables are created unqualified, in the first schema of the connection's
``search_path``: put ``options=-csearch_path=NAME`` in the DSN to keep a store
in a schema of its own.

:class:`PostgresStore` is a thin face over one part per aggregate, each a
module of this package: ``responses`` (surveys, responses, scores, and the
feed events and invitation marks of answers), ``outbox`` (invitations,
dispositions, sends), ``people`` (consent, suppression, opt-outs, erasure,
retention), ``cases``, ``inbound`` (what answers, opt-outs and statuses
coming back look up and write), ``feed`` (reading the feed, consumers'
positions, waiting for more) and ``keys`` (API keys), all on ``_base`` (the
pool, transactions, the schema, the audit log, and the feed's appends under
its lock), ``_listener`` (the ``LISTEN`` connection) and ``_new_responses``
(the one statement that stores a group of new responses). A new aggregate is a
module of its own, and its part one more base of :class:`PostgresStore`.
"""

from __future__ import annotations

from cxcore._batching import Batcher
from cxcore.ports.clock import Clock, SystemClock
from cxcore.stores._analytics import ScoreReader
from cxcore.stores._checks import check_counts
from cxcore.stores.postgres._base import _Base, _where_dsn
from cxcore.stores.postgres._dialect import POSTGRES
from cxcore.stores.postgres.cases import _Cases
from cxcore.stores.postgres.feed import _Feed
from cxcore.stores.postgres.inbound import _Inbound
from cxcore.stores.postgres.keys import _Keys
from cxcore.stores.postgres.kiosks import _Kiosks
from cxcore.stores.postgres.outbox import _Outbox
from cxcore.stores.postgres.people import _People
from cxcore.stores.postgres.responses import _Responses

__all__ = ["PostgresStore"]


class PostgresStore(_Responses, _Outbox, _Inbound, _People, _Cases, _Feed, _Keys, _Kiosks, _Base):
    """The PostgreSQL store. Use it as an async context manager, or call :meth:`open` and :meth:`aclose`.

    .. code-block:: python

        async with PostgresStore("postgresql://cxcore:secret@db.internal/cxcore") as store:
            await store.put_survey(survey)
            result = await store.submit(submission)

    Args:
        dsn: A libpq connection string or URL. Tables go in the first schema of
            its ``search_path``.
        min_size: Connections the pool keeps open.
        max_size: The most connections the pool opens.
        max_submission_bytes: The largest submission accepted, as JSON.
        clock: Where the store reads the time (audit entries, retention).
        timeout: Seconds to wait for a connection, when opening or when every
            connection of the pool is busy.
        group_commit: The most new responses stored together. Submits that
            start a new response (no invitation) while another such write is
            under way wait for it to end, then go together, in one statement
            and one commit; 1 stores each on its own, as soon as a connection
            is free.
        frame_parts: How many queries :meth:`frame` runs at once, each over
            its own connection, on spans of the time the answers were given.
            PostgreSQL 15 aggregates a query's columns on one core, so two
            use two of the server's cores; 1 reads one span at a time.
        feed_poll: How often, in seconds, :meth:`wait_feed` looks at the feed
            while its listening connection is down (``LISTEN/NOTIFY`` wakes it
            otherwise).

    Raises:
        ValueError: If the sizes or the DSN are not usable.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        dsn: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        max_submission_bytes: int = 64 * 1024,
        clock: Clock | None = None,
        timeout: float = 30.0,
        group_commit: int = 256,
        frame_parts: int = 2,
        feed_poll: float = 0.5,
    ) -> None:
        check_counts(max_size=max_size, group_commit=group_commit, frame_parts=frame_parts)
        if feed_poll <= 0:
            msg = f"feed_poll: {feed_poll} is not a positive number of seconds"
            raise ValueError(msg)
        if not 0 <= min_size <= max_size:
            msg = f"min_size: {min_size} is not between 0 and max_size ({max_size})"
            raise ValueError(msg)
        if timeout <= 0:
            msg = f"timeout: {timeout} is not a positive number of seconds"
            raise ValueError(msg)
        self._where = _where_dsn(dsn)
        self.dsn = dsn
        self.min_size = min_size
        self.max_size = max_size
        self.max_submission_bytes = max_submission_bytes
        self.clock = clock or SystemClock()
        self.timeout = timeout
        self.group_commit = group_commit
        self.frame_parts = frame_parts
        self.feed_poll = feed_poll
        self._listener = None
        self._group = Batcher(self._stored_in_group, limit=group_commit)
        self._pool = None
        self._surveys = {}
        self._scores = ScoreReader(
            POSTGRES, self._scalar_rows, self._columns, json_text=True, parts=frame_parts
        )
