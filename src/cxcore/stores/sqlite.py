"""The embedded default store: one SQLite file, no server.

Writes go through one writer thread that commits in groups: every write
waiting when a transaction starts joins it (each in a savepoint of its own, so
one failure never undoes another), and one ``fsync`` acknowledges them all.
With WAL and ``synchronous=FULL`` (the default), a write is durable when its
``await`` returns, and survives ``kill -9``. Reads use their own connection
and never wait for writes.

Several processes may share one file: transactions take SQLite's write lock
with ``BEGIN IMMEDIATE`` and wait for it up to ``busy_timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import sqlite3
import threading
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self, TextIO, TypeVar

import attrs

from cxcore.definitions import structure, unstructure
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
from cxcore.stores._outbox_rows import (
    OUTBOX_COLUMNS,
    ClaimedRows,
    claimed_sends,
    outbox_from_row,
)
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
    MIGRATIONS,
    SCHEMA_VERSION,
    SCORES_BACKFILLED_AT,
    schema_too_new,
)
from cxcore.stores.export import export_csv, export_parquet

if TYPE_CHECKING:
    from cxcore.scoring import Cell, ResponseFrame

__all__ = ["SQLiteStore"]

T = TypeVar("T")
log = logging.getLogger("cxcore.store")

_INSERT_RESPONSE = (
    f"INSERT INTO responses ({', '.join(RESPONSE_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(RESPONSE_COLUMNS))})"
)
_UPDATE_RESPONSE = (
    "UPDATE responses SET " + ", ".join(f"{c} = ?" for c in RESPONSE_COLUMNS[1:]) + " WHERE id = ?"
)
_INSERT_SCORES = (
    f"INSERT INTO answer_scores ({', '.join(SCORE_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(SCORE_COLUMNS))})"
)
_DELETE_SCORES = (
    "DELETE FROM answer_scores WHERE survey_id = ? AND survey_version = ? AND question = ? "
    "AND answered_at = ? AND response_id = ?"
)
_STOP = object()


class _Op:
    __slots__ = ("fn", "future")

    def __init__(self, fn: Callable[[sqlite3.Connection], Any]) -> None:
        self.fn = fn
        self.future: Future[Any] = Future()


class SQLiteStore:
    """The SQLite store. Use it as an async context manager, or call :meth:`open` and :meth:`aclose`.

    >>> import asyncio, tempfile, os
    >>> async def demo(path):
    ...     async with SQLiteStore(path) as store:
    ...         return await store.schema_version()
    >>> with tempfile.TemporaryDirectory() as d:
    ...     asyncio.run(demo(os.path.join(d, "cx.db")))
    4

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
    ) -> None:
        check_counts(group_commit=group_commit, frame_parts=frame_parts)
        if synchronous not in ("FULL", "NORMAL"):
            msg = f"synchronous: {synchronous!r} is not 'FULL' or 'NORMAL'"
            raise ValueError(msg)
        self.path = Path(path)
        self.synchronous = synchronous
        self.busy_timeout = busy_timeout
        self.max_submission_bytes = max_submission_bytes
        self.clock: Clock = clock or SystemClock()
        self.group_commit = group_commit
        self.frame_parts = frame_parts
        self._queue: queue.SimpleQueue[_Op | object] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._reader: ThreadPoolExecutor | None = None
        self._reader_conns: queue.SimpleQueue[sqlite3.Connection] | None = None
        self._surveys: dict[tuple[str, int], Survey] = {}
        self._scores = ScoreReader(
            SQLITE, self._rows, self._columns, parts=frame_parts, count_parts=frame_parts
        )

    # ------------------------------------------------------------ lifecycle

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, timeout=self.busy_timeout, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        return conn

    async def open(self) -> None:
        """Create or open the file, and migrate it to the current schema."""
        if self._writer is not None:
            return
        ready: Future[None] = Future()
        self._writer = threading.Thread(
            target=self._write_loop,
            args=(ready,),
            name=f"cxcore-sqlite-writer:{self.path.name}",
            daemon=True,
        )
        self._writer.start()
        await asyncio.wrap_future(ready)
        # One connection per reader thread; each read takes whichever is free.
        self._reader = ThreadPoolExecutor(
            self.frame_parts, thread_name_prefix="cxcore-sqlite-reader"
        )
        self._reader_conns = queue.SimpleQueue()
        for _ in range(self.frame_parts):
            conn = await asyncio.get_running_loop().run_in_executor(self._reader, self._connect)
            self._reader_conns.put(conn)

    async def aclose(self) -> None:
        """Finish every pending write, then close. Calling it again does nothing."""
        writer, self._writer = self._writer, None
        if writer is not None:
            self._queue.put(_STOP)
            await asyncio.get_running_loop().run_in_executor(None, writer.join)
        reader, self._reader = self._reader, None
        if reader is not None:
            await asyncio.get_running_loop().run_in_executor(None, reader.shutdown)
            conns, self._reader_conns = self._reader_conns, None
            while conns is not None and not conns.empty():
                conns.get().close()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r}, synchronous={self.synchronous!r})"

    # ------------------------------------------------------------ the writer

    def _write_loop(self, ready: Future[None]) -> None:
        try:
            conn = self._connect()
            self._migrate(conn)
        except BaseException as exc:  # noqa: BLE001 - handed to the opener
            ready.set_exception(exc)
            return
        ready.set_result(None)
        try:
            while True:
                first = self._queue.get()
                if first is _STOP:
                    return
                group: list[_Op] = [first]  # type: ignore[list-item]
                stop = False
                while len(group) < self.group_commit:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is _STOP:
                        stop = True
                        break
                    group.append(nxt)  # type: ignore[arg-type]
                self._run_group(conn, group)
                if stop:
                    return
        finally:
            conn.close()

    def _run_group(self, conn: sqlite3.Connection, group: list[_Op]) -> None:
        results: list[tuple[_Op, Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            for op in group:
                op.future.set_exception(StoreError(f"cannot start a transaction: {exc}"))
            return
        for op in group:
            conn.execute("SAVEPOINT op")
            try:
                value = op.fn(conn)
            except BaseException as exc:  # noqa: BLE001 - this op fails alone
                conn.execute("ROLLBACK TO op")
                conn.execute("RELEASE op")
                results.append((op, None, _store_error(exc, writing=True)))
            else:
                conn.execute("RELEASE op")
                results.append((op, value, None))
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            for op, _, _ in results:
                op.future.set_exception(StoreError(f"commit failed, nothing was written: {exc}"))
            return
        for op, value, error in results:
            if error is None:
                op.future.set_result(value)
            else:
                op.future.set_exception(error)

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._writer is None:
            msg = "the store is not open (use `async with store:` or `await store.open()`)"
            raise StoreError(msg)
        op = _Op(fn)
        self._queue.put(op)
        return await asyncio.wrap_future(op.future)

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        reader, conns = self._reader, self._reader_conns
        if reader is None or conns is None:
            msg = "the store is not open (use `async with store:` or `await store.open()`)"
            raise StoreError(msg)

        def read() -> T:
            conn = conns.get()  # as many connections as threads: one is free
            try:
                return fn(conn)
            except sqlite3.Error as exc:
                raise _store_error(exc, writing=False) from exc
            finally:
                conns.put(conn)

        return await asyncio.get_running_loop().run_in_executor(reader, read)

    # ------------------------------------------------------------ schema

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            current = int(row[0]) if row else 0
            if current > SCHEMA_VERSION:
                raise schema_too_new(current)  # noqa: TRY301 - rolled back below, then re-raised
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[version - 1]:
                    conn.execute(statement)
                if version == SCORES_BACKFILLED_AT:
                    _backfill_scores(conn)
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(version),),
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    async def schema_version(self) -> int:
        """The schema version of the open file."""
        row = await self._read(
            lambda c: c.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        )
        return int(row[0])

    # ------------------------------------------------------------ audit

    def _audit(
        self,
        conn: sqlite3.Connection,
        entity: str,
        entity_id: str,
        action: str,
        **detail: Scalar | None,
    ) -> None:
        conn.execute(
            "INSERT INTO audit (at, entity, entity_id, action, detail) VALUES (?, ?, ?, ?, ?)",
            (
                micros(self.clock.now()),
                entity,
                entity_id,
                action,
                to_json({k: v for k, v in detail.items() if v is not None}),
            ),
        )

    async def audit(self, entity: str | None = None) -> list[AuditEntry]:
        """The audit log, oldest first, optionally of one kind of entity."""

        def read(c: sqlite3.Connection) -> list[AuditEntry]:
            sql = "SELECT at, entity, entity_id, action, detail FROM audit"
            rows = (
                c.execute(sql + " WHERE entity = ? ORDER BY seq", (entity,))
                if entity
                else c.execute(sql + " ORDER BY seq")
            )
            return [
                AuditEntry(
                    at=from_micros(at), entity=e, entity_id=i, action=a, detail=json.loads(d)
                )
                for at, e, i, a, d in rows
            ]

        return await self._read(read)

    # ------------------------------------------------------------ surveys

    async def put_survey(self, survey: Survey) -> None:
        """Store a survey version. Storing the same version again with changes is refused.

        Raises:
            ConflictError: If this id and version are stored with other content.
        """
        body = to_json(unstructure(survey))

        def write(c: sqlite3.Connection) -> None:
            row = c.execute(
                "SELECT body FROM surveys WHERE id = ? AND version = ?", (survey.id, survey.version)
            ).fetchone()
            if row is not None:
                if row[0] != body:
                    msg = (
                        f"survey {survey.id!r} v{survey.version} is already stored with other "
                        "content; publish changes as a new version"
                    )
                    raise ConflictError(msg)
                return
            c.execute(
                "INSERT INTO surveys (id, version, body, stored_at) VALUES (?, ?, ?, ?)",
                (survey.id, survey.version, body, micros(self.clock.now())),
            )
            self._audit(c, "survey", f"{survey.id}:v{survey.version}", "stored")

        await self._write(write)
        self._surveys[(survey.id, survey.version)] = survey

    async def survey(self, survey_id: str, version: int | None = None) -> Survey:
        """Return a stored survey version, by default the latest.

        Raises:
            UnknownSurveyError: If it is not stored; the message lists what is.
        """
        if version is not None and (survey_id, version) in self._surveys:
            return self._surveys[(survey_id, version)]

        def read(c: sqlite3.Connection) -> tuple[int, str] | None:
            if version is None:
                return c.execute(  # type: ignore[no-any-return]
                    "SELECT version, body FROM surveys WHERE id = ? ORDER BY version DESC LIMIT 1",
                    (survey_id,),
                ).fetchone()
            return c.execute(  # type: ignore[no-any-return]
                "SELECT version, body FROM surveys WHERE id = ? AND version = ?",
                (survey_id, version),
            ).fetchone()

        row = await self._read(read)
        if row is None:
            known = await self._read(
                lambda c: [
                    f"{i} v{v}"
                    for i, v in c.execute("SELECT id, version FROM surveys ORDER BY id, version")
                ]
            )
            wanted = survey_id if version is None else f"{survey_id} v{version}"
            msg = f"no survey {wanted} is stored (stored: {', '.join(known) or 'none'})"
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
        the first time (:attr:`SubmitOutcome.REPEATED`). A later submission to
        the same invitation completes, or amends, the same response, as the
        survey's repeat policy says. When this returns, the write is durable.

        Raises:
            UnknownSurveyError: The survey version is not stored.
            ValidationError: The answers do not fit the survey.
            ConflictError: The key was used before with a different payload.
            PayloadTooLargeError: The submission is larger than allowed.
        """
        refuse_too_large(submission, self.max_submission_bytes)
        survey = await self.survey(submission.survey_id, submission.survey_version)
        normal = survey.normalize_answers(submission.answers)
        if normal != submission.answers:
            submission = attrs.evolve(submission, answers=normal)
        # Fail fast on bad values before queueing; display logic needs the merged answers.
        survey.validate_answers(submission.answers, complete=False, logic=False)
        fingerprint = submission_fingerprint(submission)
        new_id = uuid.uuid4().hex

        def write(c: sqlite3.Connection) -> SubmitResult:
            seen = c.execute(
                "SELECT fingerprint, response_id FROM submissions WHERE idempotency_key = ?",
                (submission.idempotency_key,),
            ).fetchone()
            if seen is not None:
                if seen[0] != fingerprint:
                    msg = (
                        f"idempotency key {submission.idempotency_key!r} was used before with a "
                        "different payload; use a new key for new answers"
                    )
                    raise ConflictError(msg)
                return SubmitResult(_fetch_response(c, seen[1]), SubmitOutcome.REPEATED)
            existing = None
            if submission.invitation_id is not None:
                row = c.execute(
                    RESPONSE_SELECT
                    + " WHERE invitation_id = ? ORDER BY updated_at DESC, rowid DESC LIMIT 1",
                    (submission.invitation_id,),
                ).fetchone()
                existing = None if row is None else response_from_row(row)
            plan = plan_submission(survey, submission, existing, new_id=new_id)
            if plan.write:
                row = response_row(plan.response)
                if plan.outcome is SubmitOutcome.CREATED:
                    c.execute(_INSERT_RESPONSE, row)
                else:
                    c.execute(_UPDATE_RESPONSE, (*row[1:], row[0]))
                old = (
                    [] if plan.outcome is SubmitOutcome.CREATED or existing is None else [existing]
                )
                _replace_scores(c, old, [plan.response], _scored_in(c, survey))
                self._audit(
                    c,
                    "response",
                    plan.response.id,
                    plan.outcome.value,
                    status=plan.response.status.value,
                )
            c.execute(
                "INSERT INTO submissions (idempotency_key, fingerprint, response_id, outcome, received_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    submission.idempotency_key,
                    fingerprint,
                    plan.response.id,
                    plan.outcome.value,
                    micros(submission.received_at),
                ),
            )
            return SubmitResult(plan.response, plan.outcome)

        result = await self._write(write)
        log.debug(
            "submission %s for survey %s v%s by %s: %s",
            mask(submission.idempotency_key),
            submission.survey_id,
            submission.survey_version,
            mask(submission.customer_id),
            result.outcome.value,
        )
        return result

    async def append(self, responses: Iterable[Response]) -> list[SubmitResult]:
        """Store complete response records as they are (imports, migrations), in one transaction.

        Each is idempotent by its idempotency key. Every response is checked
        first; if any is invalid, nothing is written and one
        :class:`ExceptionGroup` reports every failure.

        Raises:
            ExceptionGroup: Of :class:`ValidationError`, :class:`UnknownSurveyError`
                or :class:`ConflictError`, one per bad response.
        """
        batch = list(responses)
        surveys: dict[tuple[str, int], Survey | UnknownSurveyError] = {}
        for key in dict.fromkeys((r.survey_id, r.survey_version) for r in batch):
            try:
                surveys[key] = await self.survey(*key)
            except UnknownSurveyError as exc:
                surveys[key] = exc
        refuse_invalid(batch, surveys)
        rows = [response_row(r) for r in batch]
        prints = [row_fingerprint(row) for row in rows]

        scores = batch_scores(batch, surveys)

        def write(c: sqlite3.Connection) -> list[SubmitResult]:
            keys = [r.idempotency_key for r in batch]
            seen: dict[str, tuple[str, str]] = {}
            for at in range(0, len(keys), 500):
                chunk = keys[at : at + 500]
                marks = ", ".join("?" * len(chunk))
                for key, fingerprint, response_id in c.execute(
                    f"SELECT idempotency_key, fingerprint, response_id FROM submissions WHERE idempotency_key IN ({marks})",
                    chunk,
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
            for at in range(0, len(new_ids), 500):
                chunk = new_ids[at : at + 500]
                marks = ", ".join("?" * len(chunk))
                taken.update(
                    r[0]
                    for r in c.execute(f"SELECT id FROM responses WHERE id IN ({marks})", chunk)
                )
            repeated = (
                {i for i in new_ids if new_ids.count(i) > 1}
                if len(set(new_ids)) < len(new_ids)
                else set()
            )
            conflicts.extend(
                ConflictError(
                    f"response id {i!r} is already stored (under another idempotency key)"
                )
                for i in sorted(taken | repeated)
            )
            if conflicts:
                msg = f"{len(conflicts)} of {len(batch)} responses conflict; nothing was written"
                raise ExceptionGroup(msg, conflicts)
            c.executemany(_INSERT_RESPONSE, new_rows)
            c.executemany(_INSERT_SCORES, [row for rid in new_ids for row in scores[rid]])
            c.executemany(
                "INSERT INTO submissions (idempotency_key, fingerprint, response_id, outcome, received_at) "
                "VALUES (?, ?, ?, ?, ?)",
                new_keys,
            )
            self._audit(c, "response", "batch", "appended", count=len(new_rows))
            by_id = {r.id: r for r in batch}
            return [
                SubmitResult(
                    by_id[rid] if outcome is SubmitOutcome.CREATED else _fetch_response(c, rid),
                    outcome,
                )
                for outcome, rid in outcomes
            ]

        return await self._write(write)

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
            SQLITE,
            survey_id=survey_id,
            since=since,
            until=until,
            where=where,
            respondents=respondents,
        )
        sql = RESPONSE_SELECT + where_sql
        sql += " ORDER BY updated_at, rowid"
        return await self._read(lambda c: [response_from_row(r) for r in c.execute(sql, params)])

    async def count_responses(self, survey_id: str | None = None) -> int:
        """How many responses are stored (of one survey, if given)."""
        if survey_id is None:
            return await self._read(
                lambda c: c.execute("SELECT count(*) FROM responses").fetchone()[0]
            )
        return await self._read(
            lambda c: c.execute(
                "SELECT count(*) FROM responses WHERE survey_id = ?", (survey_id,)
            ).fetchone()[0]
        )

    # ------------------------------------------------------------ analytics

    async def _rows(self, query: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return await self._read(lambda c: c.execute(query, params).fetchall())

    async def _columns(self, query: str, params: Sequence[Any]) -> list[tuple[Any, ...]] | None:
        return await self._read(lambda c: _fetch_columns(c, query, params))

    async def _versions(self, survey_id: str) -> list[Survey]:
        rows = await self._read(
            lambda c: c.execute(
                "SELECT version FROM surveys WHERE id = ? ORDER BY version", (survey_id,)
            ).fetchall()
        )
        if not rows:
            await self.survey(survey_id)  # raises UnknownSurveyError listing what is stored
        return [await self.survey(survey_id, v) for (v,) in rows]

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

        Metrics and inverted scales are resolved in SQL, and each column
        comes out of the database as one text (``group_concat``,
        ``json_group_array``), parsed at C speed: no Python object per answer.
        The answers are read in spans of time, ``frame_parts`` at once, each
        on a reader connection of its own; each span is parsed as it
        arrives. A column over SQLite's limit on one value (1 GB) makes it
        read row by row instead. The frame scores exactly as one built with
        :meth:`ResponseFrame.from_responses <cxcore.scoring.ResponseFrame.from_responses>`
        from the same responses.

        Args:
            survey_id: The survey.
            dimensions: Context keys to carry (``"store"``, ``"touchpoint"``...),
                and any of ``question``, ``answer_channel``, ``respondent``.
            since: Only answers given at or after this time.
            until: Only answers given before this time.
            where: Context values that must match.
            include_agents: Count agent-reported feedback too.
            complete_only: Count only completed responses.
            metrics: Only the answers feeding these metrics (by default, every
                scored answer).
            registry: Where metrics are looked up (the process-wide registry by default).

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

        Only a count per level and group leaves the database, so this is
        the fast way to read scores from a large store. The cells are exactly
        those :func:`cxcore.scoring.score` gives for the same answers.

        Args:
            metric: The metric to score (``"nps"``...).
            survey_id: The survey.
            by: Dimensions to group by (as for :meth:`frame`).
            since: Only answers given at or after this time.
            until: Only answers given before this time.
            where: Context values that must match.
            include_agents: Count agent-reported feedback too.
            complete_only: Count only completed responses.
            registry: Where metrics are looked up.
            options: Passed on to :func:`cxcore.scoring.cell_from_levels`
                (``method``, ``confidence``, ``min_n``...).

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

        def write(c: sqlite3.Connection) -> None:
            row = c.execute(
                "SELECT body FROM invitations WHERE id = ?", (invitation.id,)
            ).fetchone()
            if row is not None:
                if row[0] != body:
                    msg = f"invitation {invitation.id!r} is already stored with other content"
                    raise ConflictError(msg)
                self._enqueue(c, items)
                return
            c.execute(
                "INSERT INTO invitations (id, survey_id, survey_version, channel, customer_id, address, "
                "created_at, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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
            self._audit(c, "invitation", invitation.id, "created", channel=invitation.channel)
            self._enqueue(c, items)

        await self._write(write)

    async def invitation(self, invitation_id: str) -> Invitation:
        """Return one invitation.

        Raises:
            StoreError: If there is none with that id.
        """
        row = await self._read(
            lambda c: c.execute(
                "SELECT body FROM invitations WHERE id = ?", (invitation_id,)
            ).fetchone()
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

        def write(c: sqlite3.Connection) -> None:
            if (
                c.execute("SELECT 1 FROM invitations WHERE id = ?", (invitation_id,)).fetchone()
                is None
            ):
                msg = f"no invitation {invitation_id!r} is stored"
                raise StoreError(msg)
            inserted = c.execute(
                "INSERT INTO dispositions (invitation_id, disposition, at, detail) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (invitation_id, disposition) DO NOTHING",
                (invitation_id, disposition.value, micros(at), detail),
            ).rowcount
            if inserted:
                self._audit(c, "invitation", invitation_id, disposition.value)

        await self._write(write)

    async def dispositions(self, invitation_id: str) -> list[tuple[Disposition, datetime]]:
        """Every disposition of an invitation, oldest first."""
        rows = await self._read(
            lambda c: c.execute(
                "SELECT disposition, at FROM dispositions WHERE invitation_id = ? ORDER BY at, disposition",
                (invitation_id,),
            ).fetchall()
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
                exprs.append("json_extract(i.body, ?)")
                params.append(f"$.context.{context_key(key)}")
        select = ", ".join(exprs) if exprs else "NULL"
        sql = (
            f"SELECT {select}, d.disposition, count(*) FROM dispositions d "
            "JOIN invitations i ON i.id = d.invitation_id"
        )
        if survey_id is not None:
            sql += " WHERE i.survey_id = ?"
            params.append(survey_id)
        sql += (
            f" GROUP BY {', '.join(str(n) for n in range(1, len(exprs) + 2)) if exprs else '1, 2'}"
        )
        rows = await self._read(lambda c: c.execute(sql, params).fetchall())
        result: dict[tuple[str | None, ...], dict[Disposition, int]] = {}
        width = max(len(exprs), 1)
        for row in rows:
            segment = tuple(row[:width]) if exprs else ()
            result.setdefault(segment, {})[Disposition(row[width])] = row[width + 1]
        return result

    # ------------------------------------------------------------ consent and suppression

    async def record_consent(self, person: str, consent: Consent) -> None:
        """Add an entry to the consent ledger of *person* (a customer id, or an address).

        Entries are never overwritten: the latest per channel and purpose wins.
        """

        def write(c: sqlite3.Connection) -> None:
            c.execute(
                "INSERT INTO consent (person, channel, purpose, granted, source, recorded_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    person,
                    consent.channel,
                    consent.purpose.value,
                    int(consent.granted),
                    consent.source,
                    micros(consent.recorded_at),
                ),
            )
            seq = c.execute("SELECT last_insert_rowid()").fetchone()[0]
            self._audit(
                c,
                "consent",
                str(seq),
                "granted" if consent.granted else "withdrawn",
                channel=consent.channel,
                purpose=consent.purpose.value,
                source=consent.source,
            )

        await self._write(write)

    async def consent(self, person: str, channel: str, purpose: Purpose) -> Consent | None:
        """The latest consent entry of *person* for *channel* (or ``"*"``) and *purpose*."""
        row = await self._read(
            lambda c: c.execute(
                "SELECT channel, purpose, granted, source, recorded_at FROM consent "
                "WHERE person = ? AND channel IN (?, '*') AND purpose = ? "
                "ORDER BY recorded_at DESC, rowid DESC LIMIT 1",
                (person, channel, Purpose(purpose).value),
            ).fetchone()
        )
        if row is None:
            return None
        ch, pu, granted, source, at = row
        return Consent(ch, pu, granted=bool(granted), source=source, recorded_at=from_micros(at))

    async def suppress(self, address: str, channel: str, reason: str) -> None:
        """Never send to *address* on *channel* again (``"*"`` for every channel).

        Only a digest of the address is kept.
        """

        def write(c: sqlite3.Connection) -> None:
            digest = address_hash(address)
            inserted = c.execute(
                "INSERT INTO suppressions (address_hash, channel, reason, since) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (address_hash, channel) DO NOTHING",
                (digest, channel, reason, micros(self.clock.now())),
            ).rowcount
            if inserted:
                self._audit(c, "suppression", digest[:16], "added", channel=channel, reason=reason)

        await self._write(write)

    async def unsuppress(self, address: str, channel: str) -> None:
        """Lift a suppression (after a customer opts back in)."""

        def write(c: sqlite3.Connection) -> None:
            digest = address_hash(address)
            if c.execute(
                "DELETE FROM suppressions WHERE address_hash = ? AND channel = ?", (digest, channel)
            ).rowcount:
                self._audit(c, "suppression", digest[:16], "lifted", channel=channel)

        await self._write(write)

    async def suppression(self, address: str, channel: str) -> str | None:
        """Why *address* is suppressed on *channel* (or on every channel), or ``None``."""
        row = await self._read(
            lambda c: c.execute(
                "SELECT reason FROM suppressions WHERE address_hash = ? AND channel IN (?, '*') "
                "ORDER BY channel = '*' LIMIT 1",
                (address_hash(address), channel),
            ).fetchone()
        )
        return None if row is None else str(row[0])

    # ------------------------------------------------------------ outbox

    async def enqueue(self, items: Iterable[OutboxItem]) -> None:
        """Add pending sends (idempotent by id), in one transaction."""
        batch = list(items)
        await self._write(lambda c: self._enqueue(c, batch))

    def _enqueue(self, c: sqlite3.Connection, batch: Sequence[OutboxItem]) -> None:
        if batch:
            now = micros(self.clock.now())
            c.executemany(
                "INSERT INTO outbox (id, invitation_id, channel, state, due_at, attempts, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
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
        worker died. Two workers never claim the same send. With *channels*,
        only sends on those channels are claimed (a dispatcher claims what it
        can send).
        """
        check_limit(limit)
        only = list(channels) if channels is not None else None

        def write(c: sqlite3.Connection) -> list[OutboxItem]:
            return [
                _fetch_outbox(c, i)
                for i in _claim_ids(c, worker, now=now, limit=limit, lease=lease, only=only)
            ]

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

        Here three queries in the claim's transaction read the claimed items
        with their invitations, the suppressions, and the consent entries.

        .. versionadded:: 0.1.0
        """
        check_limit(limit)
        only = list(channels) if channels is not None else None
        purpose = Purpose(purpose)

        def write(c: sqlite3.Connection) -> ClaimedRows:
            ids = _claim_ids(c, worker, now=now, limit=limit, lease=lease, only=only)
            if not ids:
                return [], [], []
            order = {item_id: n for n, item_id in enumerate(ids)}
            rows = sorted(
                c.execute(
                    f"SELECT {_OUTBOX_COLUMNS_OF_O}, i.customer_id, i.address, i.body FROM outbox o "
                    "LEFT JOIN invitations i ON i.id = o.invitation_id "
                    "WHERE o.id IN (SELECT value FROM json_each(?))",
                    (json.dumps(ids),),
                ).fetchall(),
                key=lambda row: order[row[0]],
            )
            hashes = sorted({address_hash(r[-2]) for r in rows if r[-2] is not None})
            people = sorted({p for r in rows for p in r[-3:-1] if p is not None})
            suppressions = c.execute(
                "SELECT address_hash, channel, reason FROM suppressions "
                "WHERE address_hash IN (SELECT value FROM json_each(?))",
                (json.dumps(hashes),),
            ).fetchall()
            consents = c.execute(
                "SELECT person, channel, purpose, granted, source, recorded_at, rowid FROM consent "
                "WHERE person IN (SELECT value FROM json_each(?)) AND purpose = ?",
                (json.dumps(people), purpose.value),
            ).fetchall()
            return rows, suppressions, consents

        return claimed_sends(*await self._write(write))

    async def finish_many(
        self, finishes: Sequence[Finish], *, worker: str | None = None
    ) -> list[OutboxItem | StoreError]:
        """As :meth:`Store.finish_many <cxcore.Store.finish_many>`, with one ``fsync`` for them all.

        .. versionadded:: 0.1.0
        """
        batch = check_finishes(finishes)
        if not batch:
            return []

        def write(c: sqlite3.Connection) -> list[OutboxItem | StoreError]:
            current = {
                row[0]: outbox_from_row(row)
                for row in c.execute(
                    f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id IN (SELECT value FROM json_each(?))",
                    (json.dumps([f.item_id for f in batch]),),
                )
            }
            wanted = sorted(
                {
                    current[f.item_id].invitation_id
                    for f in batch
                    if f.disposition is not None and f.item_id in current
                }
            )
            stored = {
                r[0]
                for r in c.execute(
                    "SELECT id FROM invitations WHERE id IN (SELECT value FROM json_each(?))",
                    (json.dumps(wanted),),
                )
            }
            verdicts = judge_finishes(batch, current, stored, worker)
            done = [
                (f, current[f.item_id]) for f, v in zip(batch, verdicts, strict=True) if v is None
            ]
            c.executemany(
                "UPDATE outbox SET state = ?, claimed_by = NULL, claimed_until = NULL, provider_id = "
                "coalesce(?, provider_id), last_error = ?, due_at = coalesce(?, due_at), updated_at = ? WHERE id = ?",
                [
                    (
                        f.state.value,
                        f.provider_id,
                        f.error,
                        maybe_micros(f.retry_at),
                        micros(f.at),
                        f.item_id,
                    )
                    for f, _ in done
                ],
            )
            audit_at = micros(self.clock.now())
            audit: list[tuple[Any, ...]] = []
            for f, item in done:
                detail = {"attempts": item.attempts, "error": f.error}
                audit.append((audit_at, "outbox", f.item_id, f.state.value, audit_detail(detail)))
                if (
                    f.disposition is not None
                    and c.execute(
                        "INSERT INTO dispositions (invitation_id, disposition, at, detail) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (invitation_id, disposition) DO NOTHING",
                        (
                            item.invitation_id,
                            f.disposition.value,
                            micros(f.at),
                            f.disposition_detail,
                        ),
                    ).rowcount
                ):
                    audit.append(
                        (
                            audit_at,
                            "invitation",
                            item.invitation_id,
                            f.disposition.value,
                            audit_detail({}),
                        )
                    )
            c.executemany(
                "INSERT INTO audit (at, entity, entity_id, action, detail) VALUES (?, ?, ?, ?, ?)",
                audit,
            )
            after = {
                row[0]: outbox_from_row(row)
                for row in c.execute(
                    f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id IN (SELECT value FROM json_each(?))",
                    (json.dumps([f.item_id for f, _ in done]),),
                )
            }
            return [
                after[f.item_id] if v is None else v for f, v in zip(batch, verdicts, strict=True)
            ]

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
        happened since (a lease that ran out, an operator's decision). Without
        *worker* (an operator), the outcome is recorded whatever the state.

        Raises:
            ClaimLostError: If *worker* no longer holds the claim.
            StoreError: If the send is not stored, or *retry_at* is missing for pending.
        """
        state = OutboxState(state)
        if state is OutboxState.PENDING and retry_at is None:
            msg = "retry_at is required to put a send back to pending"
            raise StoreError(msg)

        def write(c: sqlite3.Connection) -> OutboxItem:
            current = _fetch_outbox(c, item_id)
            if worker is not None:
                check_claim(current, worker)
            c.execute(
                "UPDATE outbox SET state = ?, claimed_by = NULL, claimed_until = NULL, provider_id = "
                "coalesce(?, provider_id), last_error = ?, due_at = coalesce(?, due_at), updated_at = ? WHERE id = ?",
                (state.value, provider_id, error, maybe_micros(retry_at), micros(at), item_id),
            )
            self._audit(c, "outbox", item_id, state.value, attempts=current.attempts, error=error)
            return _fetch_outbox(c, item_id)

        return await self._write(write)

    async def release_expired(
        self, *, now: datetime, to: OutboxState = OutboxState.UNKNOWN
    ) -> list[OutboxItem]:
        """Hand back claims whose lease ran out (their worker died), as *to*.

        The default, ``unknown``, is the safe one: the worker may have reached
        the provider before dying, so the send is reconciled, not repeated.
        """
        return await self._release("claimed_until < ?", micros(now), now=now, to=to)

    async def release_claims(
        self, worker: str, *, now: datetime, to: OutboxState = OutboxState.UNKNOWN
    ) -> list[OutboxItem]:
        """Hand back every claim *worker* holds, as *to*, without waiting for leases to run out.

        A dispatcher that restarts under the same worker id calls this first:
        its earlier process is gone, so its claims are known to be orphaned.
        """
        return await self._release("claimed_by = ?", worker, now=now, to=to)

    async def _release(
        self, condition: str, value: str | int, *, now: datetime, to: OutboxState
    ) -> list[OutboxItem]:
        target = OutboxState(to)

        def write(c: sqlite3.Connection) -> list[OutboxItem]:
            ids = [
                r[0]
                for r in c.execute(
                    f"SELECT id FROM outbox WHERE state = 'sending' AND {condition}", (value,)
                )
            ]
            for i in ids:
                c.execute(
                    "UPDATE outbox SET state = ?, claimed_by = NULL, claimed_until = NULL, updated_at = ? WHERE id = ?",
                    (target.value, micros(now), i),
                )
                self._audit(c, "outbox", i, f"released:{target.value}")
            return [_fetch_outbox(c, i) for i in ids]

        return await self._write(write)

    async def outbox(self, state: OutboxState | None = None) -> list[OutboxItem]:
        """The outbox, by due time (only one state's sends, if given)."""

        def read(c: sqlite3.Connection) -> list[OutboxItem]:
            sql = f"SELECT {OUTBOX_COLUMNS} FROM outbox"
            rows = (
                c.execute(sql + " WHERE state = ? ORDER BY due_at, id", (OutboxState(state).value,))
                if state is not None
                else c.execute(sql + " ORDER BY due_at, id")
            )
            return [outbox_from_row(r) for r in rows]

        return await self._read(read)

    # ------------------------------------------------------------ cases

    async def open_case(self, case: Case) -> None:
        """Store a new closed-loop case.

        Raises:
            ConflictError: If a case with this id exists.
        """

        def write(c: sqlite3.Connection) -> None:
            try:
                c.execute(
                    "INSERT INTO cases (id, owner, status, reason, opened_at, updated_at, due_at, response_id, "
                    "customer_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            except sqlite3.IntegrityError:
                msg = f"case {case.id!r} already exists"
                raise ConflictError(msg) from None
            self._audit(c, "case", case.id, "opened", owner=case.owner, status=case.status.value)

        await self._write(write)

    async def update_case(
        self, case_id: str, status: CaseStatus, *, at: datetime, owner: str | None = None
    ) -> Case:
        """Move a case to *status* (and to another *owner*, if given)."""
        status = CaseStatus(status)

        def write(c: sqlite3.Connection) -> Case:
            if (
                c.execute(
                    "UPDATE cases SET status = ?, owner = coalesce(?, owner), updated_at = ? WHERE id = ?",
                    (status.value, owner, micros(at), case_id),
                ).rowcount
                == 0
            ):
                msg = f"no case {case_id!r} is stored"
                raise StoreError(msg)
            self._audit(c, "case", case_id, status.value, owner=owner)
            return _fetch_case(c, case_id)

        return await self._write(write)

    async def cases(self, status: CaseStatus | None = None) -> list[Case]:
        """Cases by due time, then opening time (only those in *status*, if given)."""

        def read(c: sqlite3.Connection) -> list[Case]:
            sql = f"SELECT {CASE_COLUMNS} FROM cases"
            order = " ORDER BY due_at IS NULL, due_at, opened_at"
            rows = (
                c.execute(sql + " WHERE status = ?" + order, (CaseStatus(status).value,))
                if status is not None
                else c.execute(sql + order)
            )
            return [case_from_row(r) for r in rows]

        return await self._read(read)

    # ------------------------------------------------------------ privacy

    async def erase_person(
        self, *, customer_id: str | None = None, addresses: Sequence[str] = ()
    ) -> dict[str, int]:
        """Erase everything about a person: responses, invitations, consent, cases, outbox.

        Suppressions stay, as digests, so an erased person is still never
        contacted against their wish. The audit log records the erasure and
        its counts, never the identifiers.

        Returns:
            How many rows were erased, per table.
        """
        if customer_id is None and not addresses:
            msg = "erase_person needs a customer_id or at least one address"
            raise StoreError(msg)
        people = [p for p in (customer_id, *addresses) if p]

        def write(c: sqlite3.Connection) -> dict[str, int]:
            marks = ", ".join("?" * len(people))
            invitation_ids = [
                r[0]
                for r in c.execute(
                    f"SELECT id FROM invitations WHERE customer_id IN ({marks}) OR address IN ({marks})",
                    (*people, *people),
                )
            ]
            inv_marks = ", ".join("?" * len(invitation_ids)) or "NULL"
            erased = [
                response_from_row(r)
                for r in c.execute(
                    RESPONSE_SELECT
                    + f" WHERE customer_id IN ({marks}) OR invitation_id IN ({inv_marks})",
                    (*people, *invitation_ids),
                )
            ]
            response_ids = [r.id for r in erased]
            resp_marks = ", ".join("?" * len(response_ids)) or "NULL"
            counts = {
                "cases": c.execute(
                    f"DELETE FROM cases WHERE customer_id IN ({marks}) OR response_id IN ({resp_marks})",
                    (*people, *response_ids),
                ).rowcount,
                "submissions": c.execute(
                    f"DELETE FROM submissions WHERE response_id IN ({resp_marks})",
                    response_ids,
                ).rowcount,
                "responses": c.execute(
                    f"DELETE FROM responses WHERE id IN ({resp_marks})",
                    response_ids,
                ).rowcount,
                "answer_scores": _replace_scores(c, erased, [], _scored_in(c)),
                "outbox": c.execute(
                    f"DELETE FROM outbox WHERE invitation_id IN ({inv_marks})",
                    invitation_ids,
                ).rowcount,
                "dispositions": c.execute(
                    f"DELETE FROM dispositions WHERE invitation_id IN ({inv_marks})",
                    invitation_ids,
                ).rowcount,
                "invitations": c.execute(
                    f"DELETE FROM invitations WHERE id IN ({inv_marks})",
                    invitation_ids,
                ).rowcount,
                "consent": c.execute(
                    f"DELETE FROM consent WHERE person IN ({marks})",
                    people,
                ).rowcount,
            }
            erased_ids = [*response_ids, *invitation_ids]
            if erased_ids:
                id_marks = ", ".join("?" * len(erased_ids))
                counts["audit"] = c.execute(
                    f"DELETE FROM audit WHERE entity_id IN ({id_marks})",
                    erased_ids,
                ).rowcount
            self._audit(
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
        bodies = await self._read(lambda c: c.execute("SELECT body FROM surveys").fetchall())
        now = self.clock.now()
        policies = retention_cutoffs((structure(json.loads(b), Survey) for (b,) in bodies), now)

        def write(c: sqlite3.Connection) -> int:
            purged = 0
            for survey, cutoff in policies:
                rows = c.execute(
                    RESPONSE_SELECT
                    + " WHERE survey_id = ? AND survey_version = ? AND updated_at < ? "
                    "AND anonymised_at IS NULL",
                    (survey.id, survey.version, cutoff),
                ).fetchall()
                for row in rows:
                    r = response_from_row(row)
                    anonymous = anonymised(r, survey)
                    values = response_row(anonymous)
                    c.execute(_UPDATE_RESPONSE, (*values[1:], values[0]))
                    _replace_scores(c, [r], [anonymous], _scored_in(c, survey))
                    c.execute(
                        "UPDATE responses SET anonymised_at = ? WHERE id = ?", (micros(now), r.id)
                    )
                    purged += 1
            if purged:
                self._audit(c, "retention", now.date().isoformat(), "purged", responses=purged)
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


def _store_error(exc: BaseException, *, writing: bool) -> BaseException:
    """What to raise for *exc*, raised by a read or a write: SQLite's own errors become the port's.

    A unique key taken is a :class:`~cxcore.ConflictError`; any other SQLite
    error (a trigger or a CHECK refusing a row, a full disk) a
    :class:`~cxcore.StoreError` saying that nothing was written, as
    PostgreSQL's errors are. Anything else is raised as it is.
    """
    if not isinstance(exc, sqlite3.Error):
        return exc
    code = getattr(exc, "sqlite_errorcode", None)
    if code in (sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY):
        error: StoreError = ConflictError(str(exc))
    elif writing:
        error = StoreError(f"SQLite failed; nothing was written: {exc}")
    else:
        error = StoreError(f"SQLite failed to read: {exc}")
    error.__cause__ = exc
    return error


def _due_ids_sql(only: Sequence[str] | None) -> str:
    """The query of the ids of due pending sends, in the order claims take them.

    Its parameters are the time now, each channel of *only* (when given, only
    sends on those channels are due), then the limit. It reads the sends off
    ``outbox_by_state_due`` in that order and stops at the limit, however many
    are due: nothing is sorted.
    """
    sql = "SELECT id FROM outbox WHERE state = 'pending' AND due_at <= ?"
    if only is not None:
        sql += f" AND channel IN ({', '.join('?' * len(only)) or 'NULL'})"
    return sql + " ORDER BY due_at, id LIMIT ?"


def _claim_ids(
    c: sqlite3.Connection,
    worker: str,
    *,
    now: datetime,
    limit: int,
    lease: timedelta,
    only: Sequence[str] | None,
) -> list[str]:
    """Claim up to *limit* due pending sends for *worker*; their ids, oldest due first."""
    rows = c.execute(_due_ids_sql(only), (micros(now), *(only or ()), limit)).fetchall()
    ids = [r[0] for r in rows]
    until = micros(now + lease)
    c.executemany(
        "UPDATE outbox SET state = 'sending', claimed_by = ?, claimed_until = ?, "
        "attempts = attempts + 1, updated_at = ? WHERE id = ?",
        [(worker, until, micros(now), i) for i in ids],
    )
    return ids


SQLITE = Dialect(
    mark="?",
    json=lambda column, key: f"json_extract({column}, '$.{key}')",
    read=lambda stored: stored,
    match=lambda stored, value: (f"{stored} = ?", value),
    one_of=lambda column, values: (
        f"{column} IN (SELECT value FROM json_each(?))",
        json.dumps(list(values)),
    ),
    text=lambda value: f"'{value}'",
    nothing="SELECT 0 WHERE 0",
    numbers=lambda expr: f"group_concat({expr}, ',')",
    values=lambda expr: f"json_group_array({expr})",
)
"""How SQLite spells the score queries."""


def _scored_in(
    c: sqlite3.Connection, known: Survey | None = None
) -> Callable[[str, int], tuple[str, ...]]:
    """The scored questions of any stored survey version, *known*'s without reading it."""
    memo = {} if known is None else {(known.id, known.version): scored_questions(known)}

    def questions(survey_id: str, version: int) -> tuple[str, ...]:
        if (survey_id, version) not in memo:
            row = c.execute(
                "SELECT body FROM surveys WHERE id = ? AND version = ?", (survey_id, version)
            ).fetchone()
            memo[(survey_id, version)] = (
                () if row is None else scored_questions(structure(json.loads(row[0]), Survey))
            )
        return memo[(survey_id, version)]

    return questions


def _replace_scores(
    c: sqlite3.Connection,
    old: Iterable[Response],
    new: Iterable[Response],
    questions: Callable[[str, int], tuple[str, ...]],
) -> int:
    """Delete the ``answer_scores`` rows of *old* responses, then write those of *new* ones.

    Returns:
        How many rows were deleted.
    """
    deleted = c.executemany(
        _DELETE_SCORES,
        [k for r in old for k in score_keys(r, questions(r.survey_id, r.survey_version))],
    ).rowcount
    c.executemany(
        _INSERT_SCORES,
        [row for r in new for row in score_rows(r, questions(r.survey_id, r.survey_version))],
    )
    return deleted


def _backfill_scores(c: sqlite3.Connection) -> None:
    """Fill ``answer_scores`` from every stored response (upgrading from schema 1)."""
    surveys = {
        (sid, version): scored_questions(structure(json.loads(body), Survey))
        for sid, version, body in c.execute("SELECT id, version, body FROM surveys")
    }
    cursor = c.execute(RESPONSE_SELECT)
    while rows := cursor.fetchmany(10_000):
        c.executemany(
            _INSERT_SCORES,
            [
                row
                for r in map(response_from_row, rows)
                for row in score_rows(r, surveys.get((r.survey_id, r.survey_version), ()))
            ],
        )


def _fetch_columns(
    c: sqlite3.Connection, query: str, params: Sequence[Any]
) -> list[tuple[Any, ...]] | None:
    """The rows of a ``columns`` score query, or ``None`` if a column outgrew its limit.

    SQLite holds one value to ``SQLITE_LIMIT_LENGTH`` (1 GB by default).
    """
    try:
        return c.execute(query, params).fetchall()
    except sqlite3.DataError as exc:
        if exc.sqlite_errorcode == sqlite3.SQLITE_TOOBIG:
            return None
        raise


def _fetch_response(c: sqlite3.Connection, response_id: str) -> Response:
    row = c.execute(RESPONSE_SELECT + " WHERE id = ?", (response_id,)).fetchone()
    if row is None:
        msg = f"no response {response_id!r} is stored"
        raise StoreError(msg)
    return response_from_row(row)


_OUTBOX_COLUMNS_OF_O = ", ".join(f"o.{c}" for c in OUTBOX_COLUMNS.split(", "))


def _fetch_outbox(c: sqlite3.Connection, item_id: str) -> OutboxItem:
    row = c.execute(f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = ?", (item_id,)).fetchone()
    if row is None:
        msg = f"no outbox item {item_id!r} is stored"
        raise StoreError(msg)
    return outbox_from_row(row)


def _fetch_case(c: sqlite3.Connection, case_id: str) -> Case:
    row = c.execute(f"SELECT {CASE_COLUMNS} FROM cases WHERE id = ?", (case_id,)).fetchone()
    return case_from_row(row)
