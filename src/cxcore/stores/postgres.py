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

A transaction that PostgreSQL aborts for a deadlock, or that loses its
connection before ``COMMIT``, is run again (up to three times in all); nothing
of it had been written.

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
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import uuid
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Self, TextIO, TypeVar

import attrs
import psycopg
import psycopg.errors
from psycopg.adapt import Loader
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from cxcore._batching import Batcher
from cxcore.definitions import structure, unstructure
from cxcore.errors import ValidationError
from cxcore.ingest import plan_submission, submission_fingerprint
from cxcore.metrics import MetricRegistry
from cxcore.model.case import Case, CaseStatus
from cxcore.model.customer import Consent, Purpose
from cxcore.model.interaction import Scalar
from cxcore.model.invitation import Disposition, Invitation
from cxcore.model.response import RespondentKind, Response
from cxcore.model.survey import Survey
from cxcore.ports.clock import Clock, SystemClock
from cxcore.ports.store import (
    AuditEntry,
    ClaimedSend,
    ConflictError,
    Finish,
    OutboxItem,
    OutboxState,
    StoreError,
    Submission,
    SubmitOutcome,
    SubmitResult,
    UnknownSurveyError,
)
from cxcore.stores._analytics import (
    ANSWER_DIMENSIONS,
    AnswerFilter,
    Dialect,
    ScoreReader,
    context_key,
    read_cells,
    read_frame,
    response_filter,
)
from cxcore.stores._case_rows import CASE_COLUMNS, case_from_row
from cxcore.stores._checks import check_counts, check_limit, refuse_invalid, refuse_too_large
from cxcore.stores._finishes import check_claim, check_finishes, judge_finishes
from cxcore.stores._outbox_rows import OUTBOX_COLUMNS, claimed_sends, outbox_from_row
from cxcore.stores._rows import (
    RESPONSE_COLUMNS,
    RESPONSE_SELECT,
    SCORE_COLUMNS,
    address_hash,
    anonymised,
    audit_detail,
    batch_scores,
    from_micros,
    mask,
    maybe_micros,
    micros,
    response_from_row,
    response_row,
    retention_cutoffs,
    row_fingerprint,
    score_keys,
    score_rows,
    scored_questions,
    to_json,
)
from cxcore.stores._schema import (
    SCHEMA_VERSION,
    SCORES_BACKFILLED_AT,
    migrations,
    schema_too_new,
)
from cxcore.stores.export import export_csv, export_parquet

if TYPE_CHECKING:
    from psycopg.abc import Buffer

    from cxcore.scoring import Cell, ResponseFrame

__all__ = ["PostgresStore"]

T = TypeVar("T")
Conn = psycopg.AsyncConnection[TupleRow]
log = logging.getLogger("cxcore.store")

_INSERT_SUBMISSION = (
    "INSERT INTO submissions (idempotency_key, fingerprint, response_id, outcome, received_at) "
    "VALUES (%s, %s, %s, %s, %s)"
)
_INSERT_RESPONSE = (
    f"INSERT INTO responses ({', '.join(RESPONSE_COLUMNS)}) "
    f"VALUES ({', '.join(['%s'] * len(RESPONSE_COLUMNS))})"
)
_UPDATE_RESPONSE = (
    "UPDATE responses SET "
    + ", ".join(f"{c} = %s" for c in RESPONSE_COLUMNS[1:])
    + " WHERE id = %s"
)
_INSERT_SCORES = (
    f"INSERT INTO answer_scores ({', '.join(SCORE_COLUMNS)}) VALUES ("
    + ", ".join("%s::jsonb" if c.startswith("d_") else "%s" for c in SCORE_COLUMNS)
    + ")"
)
_COPY_SCORES = f"COPY answer_scores ({', '.join(SCORE_COLUMNS)}) FROM STDIN"
_INSERT_AUDIT = (
    "INSERT INTO audit (at, entity, entity_id, action, detail) VALUES (%s, %s, %s, %s, %s)"
)
_CLAIM_DUE = (
    "UPDATE outbox o SET state = 'sending', claimed_by = %s, claimed_until = %s, "
    "attempts = o.attempts + 1, updated_at = %s WHERE o.id = ANY(ARRAY("
    "SELECT id FROM outbox WHERE state = 'pending' AND due_at <= %s "
    "AND (%s::text[] IS NULL OR channel = ANY(%s::text[])) "
    'ORDER BY due_at, id COLLATE "C" LIMIT %s FOR UPDATE SKIP LOCKED)) '
    f"RETURNING {', '.join(f'o.{c}' for c in OUTBOX_COLUMNS.split(', '))}"
)
"""Claim due pending sends; parameters: the worker, the claim's end, now; then now, the
channels (or NULL for all) twice, and the limit.

The sends are picked and locked (``FOR UPDATE SKIP LOCKED``) in claim order off
``outbox_by_state_due``, which is in that order, so the pick stops at the limit however
many are due. The picked ids are then updated through the primary key: as an array, not a
join, which the planner would hash over a scan of the whole outbox when it thinks the
table small."""
_CLAIM_SENDS = (
    f"WITH claimed AS ({_CLAIM_DUE}) "
    f"SELECT {', '.join(f'claimed.{c}' for c in OUTBOX_COLUMNS.split(', '))}, "
    "i.customer_id, i.address, i.body FROM claimed "
    "LEFT JOIN invitations i ON i.id = claimed.invitation_id "
    'ORDER BY claimed.due_at, claimed.id COLLATE "C"'
)
"""Claim due pending sends as ``_CLAIM_DUE`` does (same parameters), each with its
invitation's customer, address and body, in claim order."""
_NOT_TEXT = {
    "survey_version": "int",
    "value": "bigint",
    "answered_at": "bigint",
    "started_at": "bigint",
    "updated_at": "bigint",
    "completed_at": "bigint",
}


_AUDIT_TYPES = {
    "at": "bigint",
    "entity": "text",
    "entity_id": "text",
    "action": "text",
    "detail": "text",
}


def _unnest(columns: Mapping[str, str], alias: str) -> str:
    """Rows from one array parameter per column (``%s::type[]``), named like the columns."""
    arrays = ", ".join(f"%b::{kind}[]" for kind in columns.values())
    return f"unnest({arrays}) AS {alias}({', '.join(columns)})"


def _column_types(columns: Sequence[str]) -> dict[str, str]:
    return {c: "jsonb" if c.startswith("d_") else _NOT_TEXT.get(c, "text") for c in columns}


_SUBMISSION_TYPES = {
    "idempotency_key": "text",
    "fingerprint": "text",
    "response_id": "text",
    "outcome": "text",
    "received_at": "bigint",
}
_CLAIMED = "IN (SELECT response_id FROM claim)"
_INSERT_NEW_RESPONSES = (
    "WITH claim AS (INSERT INTO submissions (idempotency_key, fingerprint, response_id, "
    f"outcome, received_at) SELECT * FROM {_unnest(_SUBMISSION_TYPES, 'k')} "
    "ON CONFLICT (idempotency_key) DO NOTHING RETURNING response_id), "
    f"response AS (INSERT INTO responses ({', '.join(RESPONSE_COLUMNS)}) SELECT * FROM "
    f"{_unnest(_column_types(RESPONSE_COLUMNS), 'r')} WHERE r.id {_CLAIMED}), "
    "audit AS (INSERT INTO audit (at, entity, entity_id, action, detail) SELECT * FROM "
    f"{_unnest(_AUDIT_TYPES, 'a')} WHERE a.entity_id {_CLAIMED}), "
    f"scores AS (INSERT INTO answer_scores ({', '.join(SCORE_COLUMNS)}) SELECT * FROM "
    f"{_unnest(_column_types(SCORE_COLUMNS), 's')} WHERE s.response_id {_CLAIMED}) "
    "SELECT response_id FROM claim"
)
"""One statement storing new responses: their keys, rows, scored answers and audit entries.

Its data-modifying CTEs run as one atomic statement, so in autocommit mode
any number of new responses cost one round trip and one commit. Each table's
rows come from one array per column, so the statement's text never changes
(the server plans it once per connection). A response's rows are written only
if its key was claimed; the statement returns the ids of those that were.
"""


@attrs.frozen
class _NewResponse:
    """The rows of one new response, as :data:`_INSERT_NEW_RESPONSES` stores them."""

    key: tuple[Any, ...]
    response: tuple[Any, ...]
    audit: tuple[Any, ...]
    scores: tuple[tuple[Any, ...], ...]


def _new_response_params(batch: Sequence[_NewResponse]) -> list[list[Any]]:
    """The array parameters of :data:`_INSERT_NEW_RESPONSES` for *batch*."""
    scores = [row for entry in batch for row in entry.scores]
    params: list[list[Any]] = []
    for rows, width in (
        ([e.key for e in batch], len(_SUBMISSION_TYPES)),
        ([e.response for e in batch], len(RESPONSE_COLUMNS)),
        ([e.audit for e in batch], len(_AUDIT_TYPES)),
        (scores, len(SCORE_COLUMNS)),
    ):
        params.extend([row[i] for row in rows] for i in range(width))
    return params


_ATTEMPTS = 3
_CHUNK = 5000
# Advisory lock classes (the first key of pg_advisory_xact_lock(int, int)): "cx" and a number.
_LOCK_SCHEMA = 0x63780001
_LOCK_INVITATION = 0x63780002
_NOT_OPEN = "the store is not open (use `async with store:` or `await store.open()`)"


class _Retry(Exception):  # noqa: N818 - a signal to run the transaction again, not an error
    """The transaction saw a state that a concurrent one is changing: run it again."""


class _JsonScalarLoader(Loader):
    """Loads a ``jsonb`` scalar as ``json_extract`` returns it in SQLite: true and false as 1 and 0."""

    def load(self, data: Buffer) -> Any:  # noqa: ANN401 - any JSON scalar
        text = bytes(data)
        if text[:1] == b'"' and b"\\" not in text:
            return text[1:-1].decode()  # the common case, without the JSON parser
        value = json.loads(text)
        return int(value) if isinstance(value, bool) else value


def _jsonb_scalar(expr: str) -> str:
    """SQL reading a JSON value as SQLite's ``json_extract`` sees it: JSON null is NULL, booleans are 1 and 0."""
    return (
        f"(CASE jsonb_typeof({expr}) WHEN 'null' THEN NULL "
        f"WHEN 'boolean' THEN to_jsonb(({expr})::boolean::int) ELSE {expr} END)"
    )


def _json_matches(value: Scalar) -> list[str]:
    """The JSON values that SQLite's ``json_extract(...) = value`` accepts, for ``= ANY(...::jsonb[])``.

    SQLite compares a JSON number with a number, a JSON string with a string,
    and reads JSON true and false as the integers 1 and 0.
    """
    if isinstance(value, str):
        return [to_json(value)]
    if isinstance(value, float) and not math.isfinite(value):
        return []
    number = int(value) if isinstance(value, bool) else value
    matches = [to_json(number)]
    if number == 1:
        matches.append("true")
    elif number == 0:
        matches.append("false")
    return matches


async def _replace_scores(
    c: Conn, old: Sequence[Response], new: Sequence[Response], known: Survey | None = None
) -> int:
    """Delete the ``answer_scores`` rows of *old* responses, then write those of *new* ones.

    Survey versions other than *known* are read from the ``surveys`` table.

    Returns:
        How many rows were deleted.
    """
    memo = {} if known is None else {(known.id, known.version): scored_questions(known)}
    for r in (*old, *new):
        key = (r.survey_id, r.survey_version)
        if key not in memo:
            row = await _one(c, "SELECT body FROM surveys WHERE id = %s AND version = %s", key)
            memo[key] = (
                () if row is None else scored_questions(structure(json.loads(row[0]), Survey))
            )
    keys = [k for r in old for k in score_keys(r, memo[(r.survey_id, r.survey_version)])]
    rows = [
        row for r in new for row in score_rows(r, memo[(r.survey_id, r.survey_version)], to_json)
    ]
    deleted = 0
    async with c.cursor() as cur:
        if keys:
            await cur.execute(
                "DELETE FROM answer_scores WHERE (survey_id, survey_version, question, answered_at, "
                "response_id) IN (SELECT * FROM unnest(%s::text[], %s::int[], %s::text[], "
                "%s::bigint[], %s::text[]))",
                [list(column) for column in zip(*keys, strict=True)],
            )
            deleted = cur.rowcount
        if rows:
            await cur.executemany(_INSERT_SCORES, rows)
    return deleted


async def _copy(c: Conn, statement: str, rows: Iterable[Sequence[Any]]) -> None:
    """Send *rows* to a ``COPY ... FROM STDIN`` *statement*."""
    async with c.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            await copy.write_row(row)


async def _backfill_scores(conn: Conn) -> None:
    """Fill ``answer_scores`` from every stored response (upgrading from schema 1)."""
    surveys = {
        (sid, version): scored_questions(structure(json.loads(body), Survey))
        for sid, version, body in await _all(conn, "SELECT id, version, body FROM surveys")
    }
    async with conn.cursor(name="cxcore_backfill") as responses:
        await responses.execute(RESPONSE_SELECT)
        while rows := await responses.fetchmany(10_000):
            await _copy(
                conn,
                _COPY_SCORES,
                [
                    row
                    for r in map(response_from_row, rows)
                    for row in score_rows(
                        r, surveys.get((r.survey_id, r.survey_version), ()), to_json
                    )
                ],
            )


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


class PostgresStore:
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
    ) -> None:
        check_counts(max_size=max_size, group_commit=group_commit, frame_parts=frame_parts)
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
        self.clock: Clock = clock or SystemClock()
        self.timeout = timeout
        self.group_commit = group_commit
        self.frame_parts = frame_parts
        self._group: Batcher[_NewResponse, bool] = Batcher(
            self._stored_in_group, limit=group_commit
        )
        self._pool: AsyncConnectionPool[Conn] | None = None
        self._surveys: dict[tuple[str, int], Survey] = {}
        self._scores = ScoreReader(
            POSTGRES, self._scalar_rows, self._columns, json_text=True, parts=frame_parts
        )

    # ------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        """Connect, create or migrate the schema, and fill the pool.

        Raises:
            StoreError: If the server cannot be reached, or its schema is newer
                than this cxcore knows.
        """
        if self._pool is not None:
            return
        extra: dict[str, Any] = {}
        if "connect_timeout" not in conninfo_to_dict(self.dsn):
            extra["connect_timeout"] = max(1, math.ceil(self.timeout))
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

    async def aclose(self) -> None:
        """Close every connection. Calling it again does nothing.

        Writes already acknowledged are committed; there is nothing pending.
        """
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

    def _busy(self, exc: PoolTimeout) -> StoreError:
        return StoreError(
            f"no connection to PostgreSQL at {self._where} within {self.timeout} s "
            f"(all {self.max_size} busy, or the server is down): {exc}"
        )

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

    # ------------------------------------------------------------ surveys

    async def put_survey(self, survey: Survey) -> None:
        """Store a survey version. Storing the same version again with changes is refused.

        Raises:
            ConflictError: If this id and version are stored with other content.
        """
        body = to_json(unstructure(survey))

        async def write(c: Conn) -> None:
            inserted = await _one(
                c,
                "INSERT INTO surveys (id, version, body, stored_at) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (id, version) DO NOTHING RETURNING 1",
                (survey.id, survey.version, body, micros(self.clock.now())),
            )
            if inserted is None:
                row = await _one(
                    c,
                    "SELECT body FROM surveys WHERE id = %s AND version = %s",
                    (survey.id, survey.version),
                )
                if row is None:
                    raise _Retry
                if row[0] != body:
                    msg = (
                        f"survey {survey.id!r} v{survey.version} is already stored with other "
                        "content; publish changes as a new version"
                    )
                    raise ConflictError(msg)
                return
            await self._audit(c, "survey", f"{survey.id}:v{survey.version}", "stored")

        await self._write(write)
        self._surveys[(survey.id, survey.version)] = survey

    async def survey(self, survey_id: str, version: int | None = None) -> Survey:
        """Return a stored survey version, by default the latest.

        Raises:
            UnknownSurveyError: If it is not stored; the message lists what is.
        """
        if version is not None and (survey_id, version) in self._surveys:
            return self._surveys[(survey_id, version)]
        if version is None:
            query: str = (
                "SELECT version, body FROM surveys WHERE id = %s ORDER BY version DESC LIMIT 1"
            )
            params: tuple[Any, ...] = (survey_id,)
        else:
            query = "SELECT version, body FROM surveys WHERE id = %s AND version = %s"
            params = (survey_id, version)
        row = await self._read(lambda c: _one(c, query, params))
        if row is None:
            known = await self._read(
                lambda c: _all(
                    c, 'SELECT id, version FROM surveys ORDER BY id COLLATE "C", version'
                )
            )
            wanted = survey_id if version is None else f"{survey_id} v{version}"
            stored = ", ".join(f"{i} v{v}" for i, v in known)
            msg = f"no survey {wanted} is stored (stored: {stored or 'none'})"
            raise UnknownSurveyError(msg)
        survey = structure(
            json.loads(row[1]), Survey, source=f"stored survey {survey_id} v{row[0]}"
        )
        self._surveys[(survey.id, survey.version)] = survey
        return survey

    # ------------------------------------------------------------ responses

    async def submit(self, submission: Submission) -> SubmitResult:
        """Check answers against the survey and store them, idempotently.

        The same idempotency key with the same payload returns what was stored
        the first time (:attr:`SubmitOutcome.REPEATED`), whichever process
        sent it. A later submission to the same invitation completes, or
        amends, the same response, as the survey's repeat policy says. When
        this returns, the write is committed.

        Raises:
            UnknownSurveyError: The survey version is not stored.
            ValidationError: The answers do not fit the survey.
            ConflictError: The key was used before with a different payload.
            PayloadTooLargeError: The submission is larger than allowed.
            StoreError: The database failed; the message says whether the
                write may have been stored.
        """
        refuse_too_large(submission, self.max_submission_bytes)
        survey = await self.survey(submission.survey_id, submission.survey_version)
        normal = survey.normalize_answers(submission.answers)
        if normal != submission.answers:
            submission = attrs.evolve(submission, answers=normal)
        # Fail fast on bad values before connecting; display logic needs the merged answers.
        survey.validate_answers(submission.answers, complete=False, logic=False)
        fingerprint = submission_fingerprint(submission)
        new_id = uuid.uuid4().hex
        key = submission.idempotency_key
        if submission.invitation_id is None:
            created = await self._submit_new(survey, submission, fingerprint, new_id)
            if created is not None:
                return created

        async def write(c: Conn) -> SubmitResult:
            # Claim the key: a concurrent claim of the same key waits here for this transaction.
            claimed = await _one(
                c,
                _INSERT_SUBMISSION + " ON CONFLICT (idempotency_key) DO NOTHING RETURNING 1",
                (key, fingerprint, new_id, "pending", micros(submission.received_at)),
            )
            if claimed is None:
                seen = await _one(
                    c,
                    "SELECT fingerprint, response_id FROM submissions WHERE idempotency_key = %s",
                    (key,),
                )
                if seen is None:  # erased since the claim found it
                    raise _Retry
                if seen[0] != fingerprint:
                    msg = (
                        f"idempotency key {key!r} was used before with a "
                        "different payload; use a new key for new answers"
                    )
                    raise ConflictError(msg)
                return SubmitResult(await _fetch_response(c, seen[1]), SubmitOutcome.REPEATED)
            existing = None
            if submission.invitation_id is not None:
                await c.execute(
                    "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                    (_LOCK_INVITATION, submission.invitation_id),
                )
                row = await _one(
                    c,
                    RESPONSE_SELECT + " WHERE invitation_id = %s "
                    "ORDER BY updated_at DESC, rowid DESC LIMIT 1 FOR UPDATE",
                    (submission.invitation_id,),
                )
                existing = None if row is None else response_from_row(row)
            plan = plan_submission(survey, submission, existing, new_id=new_id)
            if plan.write:
                values = response_row(plan.response)
                if plan.outcome is SubmitOutcome.CREATED:
                    await c.execute(_INSERT_RESPONSE, values)
                else:
                    await c.execute(_UPDATE_RESPONSE, (*values[1:], values[0]))
                old = (
                    [] if plan.outcome is SubmitOutcome.CREATED or existing is None else [existing]
                )
                await _replace_scores(c, old, [plan.response], survey)
                await self._audit(
                    c,
                    "response",
                    plan.response.id,
                    plan.outcome.value,
                    status=plan.response.status.value,
                )
            await c.execute(
                "UPDATE submissions SET response_id = %s, outcome = %s WHERE idempotency_key = %s",
                (plan.response.id, plan.outcome.value, key),
            )
            return SubmitResult(plan.response, plan.outcome)

        # Two round trips: claiming the key (and reading the invitation's response),
        # then the writes and COMMIT together.
        result = await self._write(write, pipeline=True)
        self._log_submission(submission, result.outcome)
        return result

    async def _submit_new(
        self, survey: Survey, submission: Submission, fingerprint: str, new_id: str
    ) -> SubmitResult | None:
        """Store a submission that starts a new response, in one statement; ``None`` if it did not.

        A submission without an invitation starts a new response, unless its
        key was used before. Key, response, scored answers and audit entry then
        go in one statement (:data:`_INSERT_NEW_RESPONSES`), with those of the
        other new responses waiting (:attr:`group_commit`): one round trip and
        one commit, where the general way takes a transaction of seven
        statements. If the key is taken, or the statement fails for any
        reason, nothing of it was written (or it was, and the key says so):
        the caller goes the general way, which sorts out each case.
        """
        try:
            plan = plan_submission(survey, submission, None, new_id=new_id)
        except ValidationError:
            return None  # the general way reports it, after the key
        response = plan.response
        entry = _NewResponse(
            key=(
                submission.idempotency_key,
                fingerprint,
                response.id,
                plan.outcome.value,
                micros(submission.received_at),
            ),
            response=response_row(response),
            audit=self._audit_row(
                "response", response.id, plan.outcome.value, status=response.status.value
            ),
            scores=tuple(score_rows(response, scored_questions(survey), to_json)),
        )
        if self.group_commit == 1:
            stored = response.id in await self._store_new([entry])
        else:
            stored = await self._group.submit(entry)
        if not stored:
            return None  # the key was taken (a repeat, or a conflict), or the statement failed
        self._log_submission(submission, plan.outcome)
        return SubmitResult(response, plan.outcome)

    async def _stored_in_group(self, batch: Sequence[_NewResponse]) -> list[bool]:
        """Store *batch* in one statement: for each, whether it was (its key was claimed)."""
        stored = await self._store_new(batch)
        return [entry.response[0] in stored for entry in batch]

    async def _store_new(self, batch: Sequence[_NewResponse]) -> set[str]:
        """Store *batch* in one statement: the ids of the responses stored (none if it failed).

        Raises:
            StoreError: If no connection was free in time.
        """
        try:
            async with self._open_pool().connection() as conn:
                rows = await _all(conn, _INSERT_NEW_RESPONSES, _new_response_params(batch))
        except psycopg.Error as exc:
            log.debug(
                "store: %d new responses' one statement failed (%r); the general way",
                len(batch),
                exc,
            )
            return set()
        except PoolTimeout as exc:
            raise self._busy(exc) from exc
        return {row[0] for row in rows}

    def _log_submission(self, submission: Submission, outcome: SubmitOutcome) -> None:
        log.debug(
            "submission %s for survey %s v%s by %s: %s",
            mask(submission.idempotency_key),
            submission.survey_id,
            submission.survey_version,
            mask(submission.customer_id),
            outcome.value,
        )

    async def append(self, responses: Iterable[Response]) -> list[SubmitResult]:
        """Store complete response records as they are (imports, migrations), in one transaction.

        Each is idempotent by its idempotency key. Every response is checked
        first; if any is invalid, nothing is written and one
        :class:`ExceptionGroup` reports every failure. New rows go in with
        ``COPY``.

        Raises:
            ExceptionGroup: Of :class:`ValidationError`, :class:`UnknownSurveyError`
                or :class:`ConflictError` (a key reused with other content, or a
                response id stored under another key), one per bad response.
        """
        batch = list(responses)
        surveys: dict[tuple[str, int], Survey | UnknownSurveyError] = {}
        for pair in dict.fromkeys((r.survey_id, r.survey_version) for r in batch):
            try:
                surveys[pair] = await self.survey(*pair)
            except UnknownSurveyError as exc:
                surveys[pair] = exc
        refuse_invalid(batch, surveys)
        rows = [response_row(r) for r in batch]
        prints = [row_fingerprint(row) for row in rows]
        scores = batch_scores(batch, surveys, to_json)

        async def write(c: Conn) -> list[SubmitResult]:
            keys = list(dict.fromkeys(r.idempotency_key for r in batch))
            seen: dict[str, tuple[str, str]] = {}
            for at in range(0, len(keys), _CHUNK):
                for key, fingerprint, response_id in await _all(
                    c,
                    "SELECT idempotency_key, fingerprint, response_id FROM submissions "
                    "WHERE idempotency_key = ANY(%s::text[])",
                    (keys[at : at + _CHUNK],),
                ):
                    seen[key] = (fingerprint, response_id)
            outcomes: list[tuple[SubmitOutcome, str]] = []
            new_rows: list[tuple[Any, ...]] = []
            new_keys: list[tuple[Any, ...]] = []
            conflicts: list[Exception] = []
            for r, row, fingerprint in zip(batch, rows, prints, strict=True):
                known = seen.get(r.idempotency_key)
                if known is not None:
                    if known[0] != fingerprint:
                        conflicts.append(
                            ConflictError(
                                f"idempotency key {r.idempotency_key!r} was used before with other content"
                            )
                        )
                    outcomes.append((SubmitOutcome.REPEATED, known[1]))
                    continue
                seen[r.idempotency_key] = (fingerprint, r.id)
                new_rows.append(row)
                new_keys.append(
                    (
                        r.idempotency_key,
                        fingerprint,
                        r.id,
                        SubmitOutcome.CREATED.value,
                        micros(r.updated_at),
                    )
                )
                outcomes.append((SubmitOutcome.CREATED, r.id))
            new_ids = [row[0] for row in new_rows]
            taken: set[str] = set()
            for at in range(0, len(new_ids), _CHUNK):
                taken.update(
                    r[0]
                    for r in await _all(
                        c,
                        "SELECT id FROM responses WHERE id = ANY(%s::text[])",
                        (new_ids[at : at + _CHUNK],),
                    )
                )
            repeated_ids = (
                {i for i in new_ids if new_ids.count(i) > 1}
                if len(set(new_ids)) < len(new_ids)
                else set()
            )
            conflicts.extend(
                ConflictError(
                    f"response id {i!r} is already stored (under another idempotency key)"
                )
                for i in sorted(taken | repeated_ids)
            )
            if conflicts:
                msg = f"{len(conflicts)} of {len(batch)} responses conflict; nothing was written"
                raise ExceptionGroup(msg, conflicts)
            if new_rows:
                await _copy(
                    c, f"COPY responses ({', '.join(RESPONSE_COLUMNS)}) FROM STDIN", new_rows
                )
                await _copy(
                    c,
                    "COPY submissions (idempotency_key, fingerprint, response_id, outcome, received_at) FROM STDIN",
                    new_keys,
                )
                await _copy(c, _COPY_SCORES, [s for row in new_rows for s in scores[row[0]]])
            await self._audit(c, "response", "batch", "appended", count=len(new_rows))
            by_id = {r.id: r for r in batch}
            repeated = await _fetch_responses(
                c, [rid for outcome, rid in outcomes if outcome is SubmitOutcome.REPEATED]
            )
            return [
                SubmitResult(
                    by_id[rid] if outcome is SubmitOutcome.CREATED else repeated[rid], outcome
                )
                for outcome, rid in outcomes
            ]

        # Another process may store one of the same keys meanwhile: COPY then
        # fails on the key, and the batch starts again and finds it stored.
        return await self._write(write, retry_unique=True)

    async def response(self, response_id: str) -> Response:
        """Return one response.

        Raises:
            StoreError: If there is none with that id.
        """
        return await self._read(lambda c: _fetch_response(c, response_id))

    async def responses(
        self,
        *,
        survey_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        where: Mapping[str, Scalar] | None = None,
        respondents: Sequence[RespondentKind] | None = None,
    ) -> list[Response]:
        """Responses, oldest first, filtered by what is given.

        Args:
            survey_id: Only this survey's responses.
            since: Only those updated at or after this time.
            until: Only those updated before this time.
            where: Context values that must match (``{"store": "BLR-01"}``).
            respondents: Only these respondent kinds.
        """
        where_sql, params = response_filter(
            POSTGRES,
            survey_id=survey_id,
            since=since,
            until=until,
            where=where,
            respondents=respondents,
        )
        sql = RESPONSE_SELECT + where_sql
        sql += " ORDER BY updated_at, rowid"
        rows = await self._read(lambda c: _all(c, sql, params))
        return [response_from_row(r) for r in rows]

    async def count_responses(self, survey_id: str | None = None) -> int:
        """How many responses are stored (of one survey, if given)."""
        if survey_id is None:
            row = await self._read(lambda c: _one(c, "SELECT count(*) FROM responses"))
        else:
            row = await self._read(
                lambda c: _one(
                    c, "SELECT count(*) FROM responses WHERE survey_id = %s", (survey_id,)
                )
            )
        return int(row[0]) if row else 0

    # ------------------------------------------------------------ analytics

    async def _columns(self, query: str, params: Sequence[Any]) -> list[tuple[Any, ...]] | None:
        return await self._read(lambda c: _fetch_columns(c, query, params))

    async def _versions(self, survey_id: str) -> list[Survey]:
        rows = await self._read(
            lambda c: _all(
                c, "SELECT version FROM surveys WHERE id = %s ORDER BY version", (survey_id,)
            )
        )
        if not rows:
            await self.survey(survey_id)  # raises UnknownSurveyError listing what is stored
        return [await self.survey(survey_id, v) for (v,) in rows]

    async def _scalar_rows(self, query: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        async def read(c: Conn) -> list[tuple[Any, ...]]:
            async with c.cursor() as cur:
                cur.adapters.register_loader("jsonb", _JsonScalarLoader)
                await cur.execute(query, params)
                return await cur.fetchall()

        return await self._read(read)

    async def frame(
        self,
        *,
        survey_id: str,
        dimensions: Sequence[str] = ANSWER_DIMENSIONS,
        since: datetime | None = None,
        until: datetime | None = None,
        where: Mapping[str, Scalar] | None = None,
        include_agents: bool = False,
        complete_only: bool = False,
        metrics: Sequence[str] | None = None,
        registry: MetricRegistry | None = None,
    ) -> ResponseFrame:
        """Every scored answer of a survey (all its versions) as a columnar frame for scoring.

        The same as :meth:`SQLiteStore.frame <cxcore.stores.SQLiteStore.frame>`,
        arguments and all: the columns are aggregated in the database
        (``string_agg``, ``json_agg``), in spans of time read
        ``frame_parts`` at once, and the frame scores exactly as one built
        from the same responses.

        Raises:
            StoreError: If no question of the survey feeds one of *metrics*.
        """
        return await read_frame(
            self._scores,
            await self._versions(survey_id),
            dimensions,
            AnswerFilter(since, until, where, include_agents, complete_only),
            metrics=metrics,
            registry=registry,
        )

    async def score(
        self,
        metric: str,
        *,
        survey_id: str,
        by: Sequence[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
        where: Mapping[str, Scalar] | None = None,
        include_agents: bool = False,
        complete_only: bool = False,
        registry: MetricRegistry | None = None,
        **options: Any,  # noqa: ANN401 - cell_from_levels' own options
    ) -> list[Cell]:
        """Score *metric* by the *by* dimensions, counting in the database.

        The same as :meth:`SQLiteStore.score <cxcore.stores.SQLiteStore.score>`,
        arguments and all: only a count per level and group leaves the database.

        Raises:
            StoreError: If no question of the survey feeds *metric*.
        """
        return await read_cells(
            self._scores,
            await self._versions(survey_id),
            metric,
            by,
            AnswerFilter(since, until, where, include_agents, complete_only),
            registry=registry,
            **options,
        )

    # ------------------------------------------------------------ invitations

    async def add_invitation(
        self, invitation: Invitation, *, outbox: Iterable[OutboxItem] = ()
    ) -> None:
        """Store an invitation, and the sends it needs, in one transaction.

        Adding the same again does nothing; sends already queued are kept as
        they are, so a crash between deciding and queueing never loses a send
        and a repeat never doubles one.

        Raises:
            ConflictError: If another invitation has this id.
        """
        body = to_json(unstructure(invitation))
        items = list(outbox)

        async def write(c: Conn) -> None:
            inserted = await _one(
                c,
                "INSERT INTO invitations (id, survey_id, survey_version, channel, customer_id, address, "
                "created_at, body) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (id) DO NOTHING RETURNING 1",
                (
                    invitation.id,
                    invitation.survey_id,
                    invitation.survey_version,
                    invitation.channel,
                    invitation.customer_id,
                    invitation.address,
                    micros(invitation.created_at),
                    body,
                ),
            )
            if inserted is None:
                row = await _one(c, "SELECT body FROM invitations WHERE id = %s", (invitation.id,))
                if row is None:
                    raise _Retry
                if row[0] != body:
                    msg = f"invitation {invitation.id!r} is already stored with other content"
                    raise ConflictError(msg)
                await self._enqueue(c, items)
                return
            await self._audit(c, "invitation", invitation.id, "created", channel=invitation.channel)
            await self._enqueue(c, items)

        await self._write(write)

    async def invitation(self, invitation_id: str) -> Invitation:
        """Return one invitation.

        Raises:
            StoreError: If there is none with that id.
        """
        row = await self._read(
            lambda c: _one(c, "SELECT body FROM invitations WHERE id = %s", (invitation_id,))
        )
        if row is None:
            msg = f"no invitation {invitation_id!r} is stored"
            raise StoreError(msg)
        return structure(
            json.loads(row[0]), Invitation, source=f"stored invitation {invitation_id}"
        )

    async def record_disposition(
        self, invitation_id: str, disposition: Disposition, at: datetime, detail: str | None = None
    ) -> None:
        """Record what became of an invitation; the first time of each disposition is kept.

        Raises:
            StoreError: If the invitation is not stored.
        """
        disposition = Disposition(disposition)

        async def write(c: Conn) -> None:
            # FOR SHARE: an erasure of the invitation waits for this, or this sees it gone.
            if (
                await _one(c, "SELECT 1 FROM invitations WHERE id = %s FOR SHARE", (invitation_id,))
                is None
            ):
                msg = f"no invitation {invitation_id!r} is stored"
                raise StoreError(msg)
            inserted = await _one(
                c,
                "INSERT INTO dispositions (invitation_id, disposition, at, detail) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (invitation_id, disposition) DO NOTHING RETURNING 1",
                (invitation_id, disposition.value, micros(at), detail),
            )
            if inserted is not None:
                await self._audit(c, "invitation", invitation_id, disposition.value)

        await self._write(write)

    async def dispositions(self, invitation_id: str) -> list[tuple[Disposition, datetime]]:
        """Every disposition of an invitation, oldest first."""
        rows = await self._read(
            lambda c: _all(
                c,
                'SELECT disposition, at FROM dispositions WHERE invitation_id = %s ORDER BY at, disposition COLLATE "C"',
                (invitation_id,),
            )
        )
        return [(Disposition(d), from_micros(at)) for d, at in rows]

    async def disposition_counts(
        self, *, survey_id: str | None = None, by: Sequence[str] = ("channel",)
    ) -> dict[tuple[str | None, ...], dict[Disposition, int]]:
        """How many invitations reached each disposition, per segment.

        Args:
            survey_id: Only this survey's invitations.
            by: ``"channel"``, ``"survey_id"``, or any key of the invitations'
                context (``"store"``, ``"touchpoint"``).

        Returns:
            Segment (a tuple of values in *by* order) to disposition to count.
        """
        exprs: list[str] = []
        params: list[Any] = []
        for key in by:
            if key in ("channel", "survey_id"):
                exprs.append(f"i.{key}")
            else:
                exprs.append(_jsonb_scalar("(i.body::jsonb -> 'context' -> %s::text)"))
                params.extend([context_key(key)] * 3)  # the expression names it three times
        select = ", ".join(exprs) if exprs else "NULL"
        sql = (
            f"SELECT {select}, d.disposition, count(*) FROM dispositions d "
            "JOIN invitations i ON i.id = d.invitation_id"
        )
        if survey_id is not None:
            sql += " WHERE i.survey_id = %s"
            params.append(survey_id)
        sql += (
            f" GROUP BY {', '.join(str(n) for n in range(1, len(exprs) + 2)) if exprs else '1, 2'}"
        )
        rows = await self._scalar_rows(sql, params)
        result: dict[tuple[str | None, ...], dict[Disposition, int]] = {}
        width = max(len(exprs), 1)
        for row in rows:
            segment = tuple(row[:width]) if exprs else ()
            result.setdefault(segment, {})[Disposition(row[width])] = int(row[width + 1])
        return result

    # ------------------------------------------------------------ consent and suppression

    async def record_consent(self, person: str, consent: Consent) -> None:
        """Add an entry to the consent ledger of *person* (a customer id, or an address).

        Entries are never overwritten: the latest per channel and purpose wins.
        """

        async def write(c: Conn) -> None:
            row = await _one(
                c,
                "INSERT INTO consent (person, channel, purpose, granted, source, recorded_at) "
                "VALUES (%s, %s, %s, %s, %s, %s) RETURNING rowid",
                (
                    person,
                    consent.channel,
                    consent.purpose.value,
                    int(consent.granted),
                    consent.source,
                    micros(consent.recorded_at),
                ),
            )
            assert row is not None  # noqa: S101 - INSERT ... RETURNING returns the row
            await self._audit(
                c,
                "consent",
                str(row[0]),
                "granted" if consent.granted else "withdrawn",
                channel=consent.channel,
                purpose=consent.purpose.value,
                source=consent.source,
            )

        await self._write(write)

    async def consent(self, person: str, channel: str, purpose: Purpose) -> Consent | None:
        """The latest consent entry of *person* for *channel* (or ``"*"``) and *purpose*."""
        row = await self._read(
            lambda c: _one(
                c,
                "SELECT channel, purpose, granted, source, recorded_at FROM consent "
                "WHERE person = %s AND channel IN (%s, '*') AND purpose = %s "
                "ORDER BY recorded_at DESC, rowid DESC LIMIT 1",
                (person, channel, Purpose(purpose).value),
            )
        )
        if row is None:
            return None
        ch, pu, granted, source, at = row
        return Consent(ch, pu, granted=bool(granted), source=source, recorded_at=from_micros(at))

    async def suppress(self, address: str, channel: str, reason: str) -> None:
        """Never send to *address* on *channel* again (``"*"`` for every channel).

        Only a digest of the address is kept.
        """
        digest = address_hash(address)

        async def write(c: Conn) -> None:
            inserted = await _one(
                c,
                "INSERT INTO suppressions (address_hash, channel, reason, since) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (address_hash, channel) DO NOTHING RETURNING 1",
                (digest, channel, reason, micros(self.clock.now())),
            )
            if inserted is not None:
                await self._audit(
                    c, "suppression", digest[:16], "added", channel=channel, reason=reason
                )

        await self._write(write)

    async def unsuppress(self, address: str, channel: str) -> None:
        """Lift a suppression (after a customer opts back in)."""
        digest = address_hash(address)

        async def write(c: Conn) -> None:
            cur = await c.execute(
                "DELETE FROM suppressions WHERE address_hash = %s AND channel = %s",
                (digest, channel),
            )
            if cur.rowcount:
                await self._audit(c, "suppression", digest[:16], "lifted", channel=channel)

        await self._write(write)

    async def suppression(self, address: str, channel: str) -> str | None:
        """Why *address* is suppressed on *channel* (or on every channel), or ``None``."""
        row = await self._read(
            lambda c: _one(
                c,
                "SELECT reason FROM suppressions WHERE address_hash = %s AND channel IN (%s, '*') "
                "ORDER BY channel = '*' LIMIT 1",
                (address_hash(address), channel),
            )
        )
        return None if row is None else str(row[0])

    # ------------------------------------------------------------ outbox

    async def enqueue(self, items: Iterable[OutboxItem]) -> None:
        """Add pending sends (idempotent by id), in one transaction."""
        batch = list(items)

        async def write(c: Conn) -> None:
            await self._enqueue(c, batch)

        await self._write(write)

    async def _enqueue(self, c: Conn, batch: Sequence[OutboxItem]) -> None:
        if batch:
            now = micros(self.clock.now())
            async with c.cursor() as cur:
                await cur.executemany(
                    "INSERT INTO outbox (id, invitation_id, channel, state, due_at, attempts, updated_at) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                    [
                        (
                            i.id,
                            i.invitation_id,
                            i.channel,
                            i.state.value,
                            micros(i.due_at),
                            i.attempts,
                            now,
                        )
                        for i in batch
                    ],
                )

    async def claim(
        self,
        worker: str,
        *,
        now: datetime,
        limit: int,
        lease: timedelta,
        channels: Collection[str] | None = None,
    ) -> list[OutboxItem]:
        """Claim up to *limit* due pending sends for *worker*, oldest due first.

        A claim lasts *lease*; :meth:`release_expired` hands back claims whose
        worker died. Two workers never claim the same send, in any process:
        rows are picked with ``FOR UPDATE SKIP LOCKED``, so dispatchers never
        wait for each other. With *channels*, only sends on those channels
        are claimed (a dispatcher claims what it can send).
        """
        check_limit(limit)
        only = None if channels is None else list(channels)

        async def write(c: Conn) -> list[OutboxItem]:
            rows = await _all(
                c,
                _CLAIM_DUE,
                (worker, micros(now + lease), micros(now), micros(now), only, only, limit),
            )
            return sorted(map(outbox_from_row, rows), key=lambda i: (i.due_at, i.id))

        return await self._write(write)

    async def finish(
        self,
        item_id: str,
        state: OutboxState,
        *,
        at: datetime,
        provider_id: str | None = None,
        error: str | None = None,
        retry_at: datetime | None = None,
        worker: str | None = None,
    ) -> OutboxItem:
        """Record the end of an attempt: sent, failed, unknown, suppressed, or pending again at *retry_at*.

        A dispatcher passes its *worker* id: the outcome is recorded only while
        the send is still claimed by it, so a late finish never overwrites what
        happened since. Without *worker* (an operator), it is recorded whatever
        the state.

        Raises:
            ClaimLostError: If *worker* no longer holds the claim.
            StoreError: If the send is not stored, or *retry_at* is missing for pending.
        """
        state = OutboxState(state)
        if state is OutboxState.PENDING and retry_at is None:
            msg = "retry_at is required to put a send back to pending"
            raise StoreError(msg)

        async def write(c: Conn) -> OutboxItem:
            current = await _fetch_outbox(c, item_id, lock=True)
            if worker is not None:
                check_claim(current, worker)
            row = await _one(
                c,
                "UPDATE outbox SET state = %s, claimed_by = NULL, claimed_until = NULL, provider_id = "
                "coalesce(%s, provider_id), last_error = %s, due_at = coalesce(%s, due_at), updated_at = %s "
                f"WHERE id = %s RETURNING {OUTBOX_COLUMNS}",
                (state.value, provider_id, error, maybe_micros(retry_at), micros(at), item_id),
            )
            assert row is not None  # noqa: S101 - the row is locked above
            await self._audit(
                c, "outbox", item_id, state.value, attempts=current.attempts, error=error
            )
            return outbox_from_row(row)

        return await self._write(write)

    async def claim_sends(
        self,
        worker: str,
        *,
        now: datetime,
        limit: int,
        lease: timedelta,
        channels: Collection[str] | None = None,
        purpose: Purpose = Purpose.SURVEY,
    ) -> list[ClaimedSend]:
        """As :meth:`Store.claim_sends <cxcore.Store.claim_sends>`.

        Here one statement claims the items (``FOR UPDATE SKIP LOCKED``, off the
        claim-order index) with their invitations, and two more, in the same
        transaction, read the suppressions and consent entries they need.

        .. versionadded:: 0.1.0
        """
        check_limit(limit)
        only = None if channels is None else list(channels)
        purpose = Purpose(purpose)

        async def write(c: Conn) -> tuple[list[Any], list[Any], list[Any]]:
            rows = await _all(
                c,
                _CLAIM_SENDS,
                (worker, micros(now + lease), micros(now), micros(now), only, only, limit),
            )
            if not rows:
                return [], [], []
            hashes = sorted({address_hash(r[-2]) for r in rows if r[-2] is not None})
            people = sorted({p for r in rows for p in r[-3:-1] if p is not None})
            suppressions = await _all(
                c,
                "SELECT address_hash, channel, reason FROM suppressions "
                "WHERE address_hash = ANY(%s::text[])",
                (hashes,),
            )
            consents = await _all(
                c,
                "SELECT person, channel, purpose, granted, source, recorded_at, rowid FROM consent "
                "WHERE person = ANY(%s::text[]) AND purpose = %s",
                (people, purpose.value),
            )
            return rows, suppressions, consents

        return claimed_sends(*await self._write(write))

    async def finish_many(
        self, finishes: Sequence[Finish], *, worker: str | None = None
    ) -> list[OutboxItem | StoreError]:
        """As :meth:`Store.finish_many <cxcore.Store.finish_many>`, in one ``COMMIT``.

        The items' rows are locked ``FOR UPDATE`` in one order, so two batches
        never deadlock on each other.

        .. versionadded:: 0.1.0
        """
        batch = check_finishes(finishes)
        if not batch:
            return []
        columns = ", ".join(f"o.{c}" for c in OUTBOX_COLUMNS.split(", "))

        async def write(c: Conn) -> list[OutboxItem | StoreError]:
            # Rows locked in one order, so two batches never deadlock on each other.
            current = {
                row[0]: outbox_from_row(row)
                for row in await _all(
                    c,
                    f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = ANY(%s::text[]) "
                    'ORDER BY id COLLATE "C" FOR UPDATE',
                    ([f.item_id for f in batch],),
                )
            }
            wanted = sorted(
                {
                    current[f.item_id].invitation_id
                    for f in batch
                    if f.disposition is not None and f.item_id in current
                }
            )
            # FOR SHARE: an erasure of the invitation waits for this, or this sees it gone.
            stored = (
                {
                    r[0]
                    for r in await _all(
                        c,
                        "SELECT id FROM invitations WHERE id = ANY(%s::text[]) "
                        'ORDER BY id COLLATE "C" FOR SHARE',
                        (wanted,),
                    )
                }
                if wanted
                else set()
            )
            verdicts = judge_finishes(batch, current, stored, worker)
            done = [f for f, v in zip(batch, verdicts, strict=True) if v is None]
            if not done:
                refused: list[OutboxItem | StoreError] = [v for v in verdicts if v is not None]
                return refused
            after = {
                row[0]: outbox_from_row(row)
                for row in await _all(
                    c,
                    "UPDATE outbox o SET state = v.state, claimed_by = NULL, claimed_until = NULL, "
                    "provider_id = coalesce(v.provider_id, o.provider_id), last_error = v.error, "
                    "due_at = coalesce(v.retry_at, o.due_at), updated_at = v.at "
                    "FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::bigint[], "
                    "%s::bigint[]) AS v(id, state, provider_id, error, retry_at, at) "
                    f"WHERE o.id = v.id RETURNING {columns}",
                    (
                        [f.item_id for f in done],
                        [f.state.value for f in done],
                        [f.provider_id for f in done],
                        [f.error for f in done],
                        [maybe_micros(f.retry_at) for f in done],
                        [micros(f.at) for f in done],
                    ),
                )
            }
            marked = [f for f in done if f.disposition is not None]
            invitation_of = {f.item_id: current[f.item_id].invitation_id for f in done}
            inserted = (
                {
                    (r[0], r[1])
                    for r in await _all(
                        c,
                        "INSERT INTO dispositions (invitation_id, disposition, at, detail) "
                        "SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::text[]) "
                        "ON CONFLICT (invitation_id, disposition) DO NOTHING "
                        "RETURNING invitation_id, disposition",
                        (
                            [invitation_of[f.item_id] for f in marked],
                            [f.disposition.value for f in marked if f.disposition is not None],
                            [micros(f.at) for f in marked],
                            [f.disposition_detail for f in marked],
                        ),
                    )
                }
                if marked
                else set()
            )
            audit_at = micros(self.clock.now())
            audit: list[tuple[Any, ...]] = []
            for f in done:
                detail = {"attempts": current[f.item_id].attempts, "error": f.error}
                audit.append((audit_at, "outbox", f.item_id, f.state.value, audit_detail(detail)))
                key = (invitation_of[f.item_id], f.disposition.value if f.disposition else None)
                if key in inserted:
                    inserted.discard(key)  # audited once, for its first finish
                    audit.append((audit_at, "invitation", key[0], key[1], audit_detail({})))
            async with c.cursor() as cur:
                await cur.executemany(
                    "INSERT INTO audit (at, entity, entity_id, action, detail) "
                    "VALUES (%s, %s, %s, %s, %s)",
                    audit,
                )
            return [
                after[f.item_id] if v is None else v for f, v in zip(batch, verdicts, strict=True)
            ]

        return await self._write(write)

    async def release_expired(
        self, *, now: datetime, to: OutboxState = OutboxState.UNKNOWN
    ) -> list[OutboxItem]:
        """Hand back claims whose lease ran out (their worker died), as *to*.

        The default, ``unknown``, is the safe one: the worker may have reached
        the provider before dying, so the send is reconciled, not repeated.
        A send being finished at the same moment is left to its worker.
        """
        return await self._release("claimed_until < %s", micros(now), now=now, to=to)

    async def release_claims(
        self, worker: str, *, now: datetime, to: OutboxState = OutboxState.UNKNOWN
    ) -> list[OutboxItem]:
        """Hand back every claim *worker* holds, as *to*, without waiting for leases to run out.

        A dispatcher that restarts under the same worker id calls this first:
        its earlier process is gone, so its claims are known to be orphaned.
        """
        return await self._release("claimed_by = %s", worker, now=now, to=to)

    async def _release(
        self,
        condition: str,
        value: str | int,
        *,
        now: datetime,
        to: OutboxState,
    ) -> list[OutboxItem]:
        target = OutboxState(to)

        async def write(c: Conn) -> list[OutboxItem]:
            rows = await _all(
                c,
                f"WITH released AS (SELECT id FROM outbox WHERE state = 'sending' AND {condition} "
                "FOR UPDATE SKIP LOCKED) "
                "UPDATE outbox o SET state = %s, claimed_by = NULL, claimed_until = NULL, updated_at = %s "
                "FROM released WHERE o.id = released.id "
                f"RETURNING {', '.join(f'o.{c}' for c in OUTBOX_COLUMNS.split(', '))}",
                (value, target.value, micros(now)),
            )
            items = sorted(map(outbox_from_row, rows), key=lambda i: (i.due_at, i.id))
            for item in items:
                await self._audit(c, "outbox", item.id, f"released:{target.value}")
            return items

        return await self._write(write)

    async def outbox(self, state: OutboxState | None = None) -> list[OutboxItem]:
        """The outbox, by due time (only one state's sends, if given)."""
        sql = f"SELECT {OUTBOX_COLUMNS} FROM outbox"
        order = ' ORDER BY due_at, id COLLATE "C"'
        params: tuple[str, ...] = () if state is None else (OutboxState(state).value,)
        query = sql + ("" if state is None else " WHERE state = %s") + order
        rows = await self._read(lambda c: _all(c, query, params))
        return [outbox_from_row(r) for r in rows]

    # ------------------------------------------------------------ cases

    async def open_case(self, case: Case) -> None:
        """Store a new closed-loop case.

        Raises:
            ConflictError: If a case with this id exists.
        """

        async def write(c: Conn) -> None:
            inserted = await _one(
                c,
                "INSERT INTO cases (id, owner, status, reason, opened_at, updated_at, due_at, response_id, "
                "customer_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (id) DO NOTHING RETURNING 1",
                (
                    case.id,
                    case.owner,
                    case.status.value,
                    case.reason,
                    micros(case.opened_at),
                    micros(case.updated_at),
                    maybe_micros(case.due_at),
                    case.response_id,
                    case.customer_id,
                ),
            )
            if inserted is None:
                msg = f"case {case.id!r} already exists"
                raise ConflictError(msg)
            await self._audit(
                c, "case", case.id, "opened", owner=case.owner, status=case.status.value
            )

        await self._write(write)

    async def update_case(
        self, case_id: str, status: CaseStatus, *, at: datetime, owner: str | None = None
    ) -> Case:
        """Move a case to *status* (and to another *owner*, if given).

        Raises:
            StoreError: If the case is not stored.
        """
        status = CaseStatus(status)

        async def write(c: Conn) -> Case:
            row = await _one(
                c,
                "UPDATE cases SET status = %s, owner = coalesce(%s, owner), updated_at = %s "
                f"WHERE id = %s RETURNING {CASE_COLUMNS}",
                (status.value, owner, micros(at), case_id),
            )
            if row is None:
                msg = f"no case {case_id!r} is stored"
                raise StoreError(msg)
            await self._audit(c, "case", case_id, status.value, owner=owner)
            return case_from_row(row)

        return await self._write(write)

    async def cases(self, status: CaseStatus | None = None) -> list[Case]:
        """Cases by due time, then opening time (only those in *status*, if given)."""
        sql = f"SELECT {CASE_COLUMNS} FROM cases"
        order = " ORDER BY due_at IS NULL, due_at, opened_at"
        params: tuple[str, ...] = () if status is None else (CaseStatus(status).value,)
        query = sql + ("" if status is None else " WHERE status = %s") + order
        rows = await self._read(lambda c: _all(c, query, params))
        return [case_from_row(r) for r in rows]

    # ------------------------------------------------------------ privacy

    async def erase_person(
        self, *, customer_id: str | None = None, addresses: Sequence[str] = ()
    ) -> dict[str, int]:
        """Erase everything about a person: responses, invitations, consent, cases, outbox.

        Suppressions stay, as digests, so an erased person is still never
        contacted against their wish. The audit log records the erasure and
        its counts, never the identifiers.

        PostgreSQL keeps deleted rows on disk until ``VACUUM`` reclaims them
        (autovacuum does, in time); run ``VACUUM`` on the store's tables after
        an erasure if the old row versions must go at once.

        Returns:
            How many rows were erased, per table.

        Raises:
            StoreError: If neither a customer id nor an address is given.
        """
        if customer_id is None and not addresses:
            msg = "erase_person needs a customer_id or at least one address"
            raise StoreError(msg)
        people = [p for p in (customer_id, *addresses) if p]

        async def write(c: Conn) -> dict[str, int]:
            # Lock the invitations first: a disposition recorded meanwhile waits, then finds none.
            invitation_ids = [
                r[0]
                for r in await _all(
                    c,
                    "SELECT id FROM invitations WHERE customer_id = ANY(%s::text[]) "
                    "OR address = ANY(%s::text[]) FOR UPDATE",
                    (people, people),
                )
            ]
            erased = [
                response_from_row(r)
                for r in await _all(
                    c,
                    RESPONSE_SELECT + " WHERE customer_id = ANY(%s::text[]) "
                    "OR invitation_id = ANY(%s::text[]) FOR UPDATE",
                    (people, invitation_ids),
                )
            ]
            response_ids = [r.id for r in erased]

            async def delete(sql: str, *params: list[str]) -> int:
                return (await c.execute(sql, params)).rowcount

            counts = {
                "cases": await delete(
                    "DELETE FROM cases WHERE customer_id = ANY(%s::text[]) OR response_id = ANY(%s::text[])",
                    people,
                    response_ids,
                ),
                "submissions": await delete(
                    "DELETE FROM submissions WHERE response_id = ANY(%s::text[])", response_ids
                ),
                "responses": await delete(
                    "DELETE FROM responses WHERE id = ANY(%s::text[])", response_ids
                ),
                "answer_scores": await _replace_scores(c, erased, []),
                "outbox": await delete(
                    "DELETE FROM outbox WHERE invitation_id = ANY(%s::text[])", invitation_ids
                ),
                "dispositions": await delete(
                    "DELETE FROM dispositions WHERE invitation_id = ANY(%s::text[])",
                    invitation_ids,
                ),
                "invitations": await delete(
                    "DELETE FROM invitations WHERE id = ANY(%s::text[])", invitation_ids
                ),
                "consent": await delete(
                    "DELETE FROM consent WHERE person = ANY(%s::text[])", people
                ),
            }
            erased_ids = [*response_ids, *invitation_ids]
            if erased_ids:
                counts["audit"] = await delete(
                    "DELETE FROM audit WHERE entity_id = ANY(%s::text[])", erased_ids
                )
            await self._audit(
                c, "person", uuid.uuid4().hex, "erased", **{k: v for k, v in counts.items() if v}
            )
            return counts

        return await self._write(write)

    async def apply_retention(self) -> int:
        """Purge personal data from responses older than their survey's ``retention_days``.

        The answers stay for the aggregates, made anonymous: the customer,
        interaction and invitation links go, open-text answers go, and the
        context keeps only the dimensions (touchpoint, journey, store, agent,
        product, channel).

        Returns:
            How many responses were purged.
        """
        bodies = await self._read(lambda c: _all(c, "SELECT body FROM surveys"))
        now = self.clock.now()
        policies = retention_cutoffs((structure(json.loads(b), Survey) for (b,) in bodies), now)

        async def write(c: Conn) -> int:
            purged = 0
            for survey, cutoff in policies:
                rows = await _all(
                    c,
                    RESPONSE_SELECT
                    + " WHERE survey_id = %s AND survey_version = %s AND updated_at < %s "
                    "AND anonymised_at IS NULL FOR UPDATE",
                    (survey.id, survey.version, cutoff),
                )
                updates: list[tuple[Any, ...]] = []
                purged_rows: list[Response] = []
                originals: list[Response] = []
                for row in rows:
                    r = response_from_row(row)
                    anonymous = anonymised(r, survey)
                    values = response_row(anonymous)
                    updates.append((*values[1:], micros(now), values[0]))
                    purged_rows.append(anonymous)
                    originals.append(r)
                if updates:
                    async with c.cursor() as cur:
                        await cur.executemany(
                            "UPDATE responses SET "
                            + ", ".join(f"{col} = %s" for col in RESPONSE_COLUMNS[1:])
                            + ", anonymised_at = %s WHERE id = %s",
                            updates,
                        )
                    await _replace_scores(c, originals, purged_rows, survey)
                purged += len(updates)
            if purged:
                await self._audit(
                    c, "retention", now.date().isoformat(), "purged", responses=purged
                )
            return purged

        return await self._write(write)

    # ------------------------------------------------------------ export

    async def export_csv(self, out: TextIO, *, survey_id: str) -> int:
        """Write a survey's responses as CSV, one row per response, one column per question.

        Text cells that a spreadsheet would run as a formula (starting with
        ``=``, ``+``, ``-``, ``@``, tab or carriage return) get a leading apostrophe.

        Returns:
            The number of rows written.
        """
        return await export_csv(self, out, survey_id=survey_id)

    async def export_parquet(self, path: str | os.PathLike[str], *, survey_id: str) -> int:
        """Write a survey's responses to a typed Parquet file (needs ``cxcore[parquet]``).

        Returns:
            The number of rows written.
        """
        return await export_parquet(self, path, survey_id=survey_id)


# ---------------------------------------------------------------- helpers


async def _configure(conn: Conn) -> None:
    """Make every pooled session durable: never weaker than ``synchronous_commit = on``."""
    row = await _one(conn, "SHOW synchronous_commit")
    if row is not None and row[0] == "off":
        await conn.execute("SET synchronous_commit = on")


def _pipelined(conn: Conn, *, pipeline: bool) -> AbstractAsyncContextManager[object]:
    """*conn* in pipeline mode, or as it is."""
    return conn.pipeline() if pipeline else contextlib.nullcontext()


async def _one(conn: Conn, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
    cur = await conn.execute(sql, params)
    return await cur.fetchone()


async def _all(conn: Conn, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    cur = await conn.execute(sql, params)
    return await cur.fetchall()


async def _fetch_columns(
    conn: Conn, sql: str, params: Sequence[Any]
) -> list[tuple[Any, ...]] | None:
    """The rows of a ``columns`` score query, or ``None`` if a column outgrew its limit.

    PostgreSQL holds one value to 1 GB.
    """
    try:
        return await _all(conn, sql, params)
    except psycopg.errors.ProgramLimitExceeded:
        return None


async def _fetch_response(c: Conn, response_id: str) -> Response:
    row = await _one(c, RESPONSE_SELECT + " WHERE id = %s", (response_id,))
    if row is None:
        msg = f"no response {response_id!r} is stored"
        raise StoreError(msg)
    return response_from_row(row)


async def _fetch_responses(c: Conn, response_ids: Sequence[str]) -> dict[str, Response]:
    found: dict[str, Response] = {}
    unique = list(dict.fromkeys(response_ids))
    for at in range(0, len(unique), _CHUNK):
        for row in await _all(
            c, RESPONSE_SELECT + " WHERE id = ANY(%s::text[])", (unique[at : at + _CHUNK],)
        ):
            found[row[0]] = response_from_row(row)
    missing = [i for i in unique if i not in found]
    if missing:
        msg = f"no response {missing[0]!r} is stored"
        raise StoreError(msg)
    return found


async def _fetch_outbox(c: Conn, item_id: str, *, lock: bool = False) -> OutboxItem:
    row = await _one(
        c,
        f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = %s" + (" FOR UPDATE" if lock else ""),
        (item_id,),
    )
    if row is None:
        msg = f"no outbox item {item_id!r} is stored"
        raise StoreError(msg)
    return outbox_from_row(row)


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


POSTGRES = Dialect(
    mark="%s",
    json=lambda column, key: f"({column}::jsonb -> '{key}')",
    # Context values read and match as json_extract reads them in SQLite.
    read=_jsonb_scalar,
    match=lambda stored, value: (f"{stored} = ANY(%s::jsonb[])", _json_matches(value)),
    # The t_ columns hold the d_ columns' JSON texts: joined as they are, not
    # converted row by row as json_agg(d_...) would.
    join_json=lambda expr: f"'[' || string_agg(coalesce({expr}, 'null'), ',') || ']'",
    one_of=lambda column, values: (f"{column} = ANY(%s::text[])", list(values)),
    text=lambda value: f"'{value}'::text",
    nothing="SELECT 0 WHERE false",
    numbers=lambda expr: f"string_agg(({expr})::text, ',')",
    values=lambda expr: f"json_agg({expr})::text",
    # psycopg would parse every JSONB value by itself.
    transfer=lambda value: f"({value})::text",
)
"""How PostgreSQL spells the score queries."""
