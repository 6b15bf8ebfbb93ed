"""What every part of the PostgreSQL store stands on: the pool, transactions, the schema, the audit log, and the feed's appends.

How transactions stay correct under concurrency, when a write is durable,
and why the feed's positions follow the order of commits, is told in
:mod:`cxcore.stores.postgres`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Self, TypeVar

import psycopg
import psycopg.errors
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from cxcore.model.interaction import Scalar
from cxcore.ports.clock import Clock
from cxcore.ports.store import AuditEntry, ConflictError, StoreError
from cxcore.stores._feed_rows import FeedRow
from cxcore.stores._rows import from_micros, micros, to_json
from cxcore.stores._schema import SCHEMA_VERSION, SCORES_BACKFILLED_AT, migrations, schema_too_new
from cxcore.stores.postgres._connection import Conn, _all, _one
from cxcore.stores.postgres._dialect import _JsonScalarLoader
from cxcore.stores.postgres._listener import NOTIFY, FeedListener
from cxcore.stores.postgres._scores import _backfill_scores

T = TypeVar("T")

log = logging.getLogger("cxcore.store")

_INSERT_AUDIT = (
    "INSERT INTO audit (at, entity, entity_id, action, detail) VALUES (%s, %s, %s, %s, %s)"
)

_ATTEMPTS = 3

# Advisory lock classes (the first key of pg_advisory_xact_lock(int, int)): "cx" and a number.
_LOCK_SCHEMA = 0x63780001
_LOCK_INVITATION = 0x63780002
_LOCK_FEED = 0x63780003
_LOCK_LEDGER = 0x63780004
_LOCK_CONTACT = 0x63780005

INSERT_FEED = (
    "INSERT INTO feed (at, kind, subject, survey_id, detail) SELECT f.at, f.kind, f.subject, "
    "f.survey_id, f.detail FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], "
    "%s::text[]) WITH ORDINALITY AS f(at, kind, subject, survey_id, detail, n) {where}ORDER BY f.n"
)
"""Feed rows from one array per column, in their order; ``{where}`` may keep only some."""
_APPEND_FEED = INSERT_FEED.format(where="")
_NOT_OPEN = "the store is not open (use `async with store:` or `await store.open()`)"


class _Retry(Exception):  # noqa: N818 - a signal to run the transaction again, not an error
    """The transaction saw a state that a concurrent one is changing: run it again."""


def _where_dsn(dsn: str) -> str:
    """Where a DSN points, without its password: ``user@host:port/dbname``."""
    try:
        parts = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        msg = f"dsn: not a PostgreSQL connection string ({exc})"
        raise ValueError(msg) from None
    user = parts.get("user", "")
    host = parts.get("host", "") or parts.get("hostaddr", "") or "local socket"
    port = parts.get("port", "5432")
    return f"{user}{'@' if user else ''}{host}:{port}/{parts.get('dbname', '')}"


class _Base:
    """The pool, transactions, the schema and the audit log.

    :class:`~cxcore.stores.PostgresStore` sets the attributes declared here.
    """

    if TYPE_CHECKING:  # set by PostgresStore.__init__; declared for type checkers only
        dsn: str
        min_size: int
        max_size: int
        max_submission_bytes: int
        clock: Clock
        timeout: float
        group_commit: int
        frame_parts: int
        feed_poll: float
        _where: str
        _pool: AsyncConnectionPool[Conn] | None
        _listener: FeedListener | None

    # ------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        """Connect, create or migrate the schema, and fill the pool.

        Raises:
            StoreError: If the server cannot be reached, or its schema is newer
                than this cxcore knows.
        """
        if self._pool is not None:
            return
        extra = self._connect_options()
        try:
            conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True, **extra)
        except psycopg.Error as exc:
            msg = f"cannot connect to PostgreSQL at {self._where}: {exc}"
            raise StoreError(msg) from exc
        try:
            await self._migrate(conn)
        finally:
            await conn.close()
        pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            self.dsn,
            connection_class=psycopg.AsyncConnection,
            kwargs={"autocommit": True, **extra},
            min_size=self.min_size,
            max_size=self.max_size,
            open=False,
            configure=_configure,
            timeout=self.timeout,
            name="cxcore-store",
        )
        try:
            await pool.open(wait=True, timeout=self.timeout)
        except PoolTimeout as exc:
            await pool.close()
            msg = f"cannot open {self.min_size} connections to PostgreSQL at {self._where} within {self.timeout} s: {exc}"
            raise StoreError(msg) from exc
        self._pool = pool

    def _connect_options(self) -> dict[str, Any]:
        """What every connection of the store is opened with, besides the DSN."""
        extra: dict[str, Any] = {}
        if "connect_timeout" not in conninfo_to_dict(self.dsn):
            extra["connect_timeout"] = max(1, math.ceil(self.timeout))
        return extra

    async def aclose(self) -> None:
        """Close every connection, the feed's listening one too. Calling it again does nothing.

        Writes already acknowledged are committed; there is nothing pending.
        """
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.aclose()
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"PostgresStore({self._where!r}, max_size={self.max_size})"

    # ------------------------------------------------------------ transactions

    def _open_pool(self) -> AsyncConnectionPool[Conn]:
        if self._pool is None:
            raise StoreError(_NOT_OPEN)
        return self._pool

    async def _write(
        self,
        fn: Callable[[Conn], Awaitable[T]],
        *,
        retry_unique: bool = False,
        pipeline: bool = False,
    ) -> T:
        """Run *fn* in a transaction of its own; when this returns, it is committed.

        Deadlocks, a connection lost before ``COMMIT`` (the pool's other
        connections are checked then), a :class:`_Retry`, and (with
        *retry_unique*) a unique violation run it again: nothing of the failed
        attempt was written.

        With *pipeline*, statements whose results *fn* does not read go out
        without waiting for each reply (psycopg's pipeline mode), so the
        transaction costs one round trip per read and one for ``COMMIT``, and
        an error surfaces at the next read or at ``COMMIT``. *fn* must not use
        ``COPY`` then.
        """
        pool = self._open_pool()
        for attempt in range(1, _ATTEMPTS + 1):
            committing = False
            try:
                async with pool.connection() as conn:
                    try:
                        async with _pipelined(conn, pipeline=pipeline), conn.transaction():
                            result = await fn(conn)
                            committing = True
                    except (_Retry, psycopg.Error) as exc:
                        if attempt < _ATTEMPTS and _may_retry(
                            exc, conn, committing=committing, retry_unique=retry_unique
                        ):
                            log.debug("store: running a transaction again after %r", exc)
                            if conn.broken:  # the server may have dropped the others too
                                await pool.check()
                            continue
                        raise _store_error(exc, conn, committing=committing) from exc
                    return result
            except PoolTimeout as exc:
                raise self._busy(exc) from exc
        raise AssertionError  # pragma: no cover - the loop returns or raises

    async def _read(self, fn: Callable[[Conn], Awaitable[T]]) -> T:
        """Run *fn* outside a transaction; a connection found broken is replaced once."""
        pool = self._open_pool()
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                async with pool.connection() as conn:
                    try:
                        return await fn(conn)
                    except psycopg.Error as exc:
                        if attempt < _ATTEMPTS and conn.broken:
                            await pool.check()  # the server may have dropped the others too
                            continue
                        raise _store_error(exc, conn, committing=False, writing=False) from exc
            except PoolTimeout as exc:
                raise self._busy(exc) from exc
        raise AssertionError  # pragma: no cover - the loop returns or raises

    async def _scalar_rows(self, query: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """The rows of *query*, its JSONB values read as SQLite's ``json_extract`` reads them."""

        async def read(c: Conn) -> list[tuple[Any, ...]]:
            async with c.cursor() as cur:
                cur.adapters.register_loader("jsonb", _JsonScalarLoader)
                await cur.execute(query, params)
                return await cur.fetchall()

        return await self._read(read)

    def _busy(self, exc: PoolTimeout) -> StoreError:
        return StoreError(
            f"no connection to PostgreSQL at {self._where} within {self.timeout} s "
            f"(all {self.max_size} busy, or the server is down): {exc}"
        )

    # ------------------------------------------------------------ the feed, written

    async def _append_feed(
        self,
        conn: Conn,
        rows: Sequence[FeedRow],
        *,
        pipelined: bool = False,
        insert: str = _APPEND_FEED,
    ) -> None:
        """Append *rows* to the feed: the last statements of the transaction of the write they report.

        Positions must grow in the order transactions *commit*, or a reader
        that saw position N could later see a smaller one appear (a ``BIGSERIAL``
        value is taken when the row is inserted, and transactions commit in
        any order), and a consumer keeping a cursor would skip it forever. So
        the rows are inserted only once this transaction holds the feed's
        advisory lock, which PostgreSQL releases after ``COMMIT`` has made the
        transaction visible: the next appender takes its positions after ours
        are visible (or rolled back). The lock is held only from here to the
        end of ``COMMIT``, which is why every other statement of a write comes
        before this. ``pg_notify`` wakes listeners when the transaction commits.

        With *pipelined*, *conn* is in pipeline mode already; otherwise the
        three statements go in a pipeline of their own (one round trip).
        *insert* is :data:`INSERT_FEED` with a condition, for a caller that
        appends only some of *rows*.
        """
        if not rows:
            return
        columns = [list(column) for column in zip(*rows, strict=True)]
        if pipelined:
            await self._append_feed_statements(conn, columns, insert)
        else:
            async with conn.pipeline():
                await self._append_feed_statements(conn, columns, insert)

    @staticmethod
    async def _append_feed_statements(conn: Conn, columns: list[list[Any]], insert: str) -> None:
        await conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (_LOCK_FEED,))
        await conn.execute(insert, columns)
        await conn.execute(NOTIFY)

    async def _feed_listener(self) -> FeedListener | None:
        """The store's listening connection, started on first use; ``None`` on another event loop."""
        listener = self._listener
        if listener is None:
            listener = self._listener = FeedListener(self.dsn, self._connect_options())
        if listener.loop is not asyncio.get_running_loop():
            return None
        await listener.start()
        return listener

    # ------------------------------------------------------------ schema

    @staticmethod
    async def _migrate(conn: Conn) -> None:
        try:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s, 0)", (_LOCK_SCHEMA,))
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
                )
                row = await _one(conn, "SELECT value FROM meta WHERE key = 'schema_version'")
                current = int(row[0]) if row else 0
                if current > SCHEMA_VERSION:
                    raise schema_too_new(current)
                steps = migrations("postgres")
                for version in range(current + 1, SCHEMA_VERSION + 1):
                    for statement in steps[version - 1]:
                        await conn.execute(statement)
                    if version == SCORES_BACKFILLED_AT:
                        await _backfill_scores(conn)
                    await conn.execute(
                        "INSERT INTO meta (key, value) VALUES ('schema_version', %s) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        (str(version),),
                    )
        except psycopg.Error as exc:
            msg = f"cannot create or migrate the store's schema: {exc}"
            raise StoreError(msg) from exc

    async def schema_version(self) -> int:
        """The schema version of the database."""

        async def read(c: Conn) -> int:
            row = await _one(c, "SELECT value FROM meta WHERE key = 'schema_version'")
            return int(row[0]) if row else 0

        return await self._read(read)

    # ------------------------------------------------------------ audit

    async def _audit(
        self, conn: Conn, entity: str, entity_id: str, action: str, **detail: Scalar | None
    ) -> None:
        await conn.execute(_INSERT_AUDIT, self._audit_row(entity, entity_id, action, **detail))

    def _audit_row(
        self, entity: str, entity_id: str, action: str, **detail: Scalar | None
    ) -> tuple[Any, ...]:
        return (
            micros(self.clock.now()),
            entity,
            entity_id,
            action,
            to_json({k: v for k, v in detail.items() if v is not None}),
        )

    async def audit(self, entity: str | None = None) -> list[AuditEntry]:
        """The audit log, oldest first, optionally of one kind of entity."""
        sql = "SELECT at, entity, entity_id, action, detail FROM audit"
        params: tuple[str, ...] = (entity,) if entity else ()
        query = sql + (" WHERE entity = %s" if entity else "") + " ORDER BY seq"
        rows = await self._read(lambda c: _all(c, query, params))
        return [
            AuditEntry(at=from_micros(at), entity=e, entity_id=i, action=a, detail=json.loads(d))
            for at, e, i, a, d in rows
        ]


async def _configure(conn: Conn) -> None:
    """Make every pooled session durable: never weaker than ``synchronous_commit = on``."""
    row = await _one(conn, "SHOW synchronous_commit")
    if row is not None and row[0] == "off":
        await conn.execute("SET synchronous_commit = on")


def _pipelined(conn: Conn, *, pipeline: bool) -> AbstractAsyncContextManager[object]:
    """*conn* in pipeline mode, or as it is."""
    return conn.pipeline() if pipeline else contextlib.nullcontext()


def _may_retry(exc: BaseException, conn: Conn, *, committing: bool, retry_unique: bool) -> bool:
    """Whether a failed transaction left nothing behind and may simply run again."""
    if isinstance(
        exc, _Retry | psycopg.errors.DeadlockDetected | psycopg.errors.SerializationFailure
    ):
        return True
    if isinstance(exc, psycopg.errors.UniqueViolation):
        return retry_unique
    return conn.broken and not committing


def _store_error(
    exc: BaseException, conn: Conn, *, committing: bool, writing: bool = True
) -> Exception:
    """The error to raise for a database failure: it says what failed and whether anything was written."""
    if isinstance(exc, psycopg.errors.UniqueViolation):
        detail = exc.diag.message_detail or ""
        return ConflictError(f"{exc.diag.message_primary or exc}; {detail}".rstrip("; "))
    if isinstance(exc, _Retry):
        return StoreError("the store kept changing under this write; nothing was written, retry it")
    if committing and conn.broken:
        return StoreError(
            "the connection to PostgreSQL broke during COMMIT: the write may or may not be "
            f"stored; retry it (every submission is idempotent by its key): {exc}"
        )
    if writing:
        return StoreError(f"PostgreSQL failed; nothing was written: {exc}")
    return StoreError(f"PostgreSQL failed to read: {exc}")
