"""Surveys and responses in the PostgreSQL store: stored, submitted, appended, read back, and scored in SQL."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

import attrs
import psycopg
import psycopg.errors
from psycopg_pool import PoolTimeout

from cxcore._batching import Batcher
from cxcore._ids import new_id as new_record_id
from cxcore.definitions import structure, unstructure
from cxcore.errors import ValidationError
from cxcore.ingest import plan_submission, submission_fingerprint
from cxcore.metrics import MetricRegistry
from cxcore.model.interaction import Scalar
from cxcore.model.response import RespondentKind, Response
from cxcore.model.survey import Survey
from cxcore.ports.store import (
    ConflictError,
    StoreError,
    Submission,
    SubmitOutcome,
    SubmitResult,
    UnknownSurveyError,
)
from cxcore.stores._analytics import (
    ANSWER_DIMENSIONS,
    AnswerFilter,
    ScoreReader,
    read_cells,
    read_frame,
    response_filter,
)
from cxcore.stores._checks import refuse_invalid, refuse_too_large
from cxcore.stores._feed_rows import answer_row, import_rows, reached
from cxcore.stores._new_responses import NewResponse, new_response
from cxcore.stores._rows import (
    RESPONSE_COLUMNS,
    RESPONSE_SELECT,
    batch_scores,
    log_submission,
    micros,
    response_from_row,
    response_row,
    row_fingerprint,
    to_json,
)
from cxcore.stores.export import export_csv, export_parquet
from cxcore.stores.postgres._base import _LOCK_INVITATION, _Base, _Retry
from cxcore.stores.postgres._connection import Conn, _all, _copy, _one
from cxcore.stores.postgres._dialect import POSTGRES
from cxcore.stores.postgres._new_responses import (
    _APPEND_STORED_ANSWERS,
    _INSERT_NEW_RESPONSES,
    _new_response_params,
)
from cxcore.stores.postgres._scores import _COPY_SCORES, _replace_scores

if TYPE_CHECKING:
    from cxcore.scoring import Cell, ResponseFrame

log = logging.getLogger("cxcore.store")

_CHUNK = 5000

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

_MARK_INVITATION = (
    "WITH marked AS (INSERT INTO dispositions (invitation_id, disposition, at, detail) "
    "SELECT i.id, d.disposition, d.at, NULL FROM invitations i, "
    "unnest(%s::text[], %s::bigint[]) AS d(disposition, at) WHERE i.id = %s "
    "ON CONFLICT (invitation_id, disposition) DO NOTHING RETURNING invitation_id, disposition) "
    "INSERT INTO audit (at, entity, entity_id, action, detail) "
    "SELECT %s, 'invitation', invitation_id, disposition, '{}' FROM marked"
)
"""Record that an invitation (if stored) was started, or completed, and audit what was new:
one statement, whose result nobody reads, so it costs no round trip in a pipeline."""


class _Responses(_Base):
    """Surveys and responses: stored, submitted, appended, read back, scored, exported."""

    if TYPE_CHECKING:  # set by PostgresStore.__init__; declared for type checkers only
        _surveys: dict[tuple[str, int], Survey]
        _scores: ScoreReader
        _group: Batcher[NewResponse, bool]

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
        new_id = new_record_id()
        key = submission.idempotency_key
        if submission.invitation_id is None:
            created = await self._submit_new(survey, submission, new_id)
            if created is not None:
                return created
        # Fail fast on bad values before connecting; display logic needs the merged answers.
        survey.validate_answers(submission.answers, complete=False, logic=False)
        fingerprint = submission_fingerprint(submission)

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
                # The invitation (if stored) before its response, as erase_person locks them.
                await c.execute(
                    "SELECT 1 FROM invitations WHERE id = %s FOR SHARE",
                    (submission.invitation_id,),
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
            if plan.write:
                await self._mark_invitation(c, plan.response, existing)
                # Last: the feed's lock is held from here to the end of COMMIT (see _append_feed).
                feed = answer_row(plan.outcome, plan.response, existing, survey, self.clock.now())
                await self._append_feed(c, [feed], pipelined=True)
            return SubmitResult(plan.response, plan.outcome)

        # In a pipeline: the writes and the feed go together, after the replies to the
        # claim and to the invitation's response; psycopg waits for their replies before
        # COMMIT, so the feed's lock is held for that round trip and COMMIT's.
        result = await self._write(write, pipeline=True)
        log_submission(submission, result.outcome)
        return result

    async def _mark_invitation(
        self, c: Conn, response: Response, existing: Response | None
    ) -> None:
        """Record that a response to an invitation was started, and completed, if it was stored."""
        if response.invitation_id is None:
            return
        marks = reached(response, existing)
        await c.execute(
            _MARK_INVITATION,
            (
                [d.value for d, _ in marks],
                [micros(at) for _, at in marks],
                response.invitation_id,
                micros(self.clock.now()),
            ),
        )

    async def invitation_response(self, invitation_id: str) -> Response | None:
        """The latest response to an invitation, if it has one."""
        row = await self._read(
            lambda c: _one(
                c,
                RESPONSE_SELECT
                + " WHERE invitation_id = %s ORDER BY updated_at DESC, rowid DESC LIMIT 1",
                (invitation_id,),
            )
        )
        return None if row is None else response_from_row(row)

    async def _submit_new(
        self, survey: Survey, submission: Submission, new_id: str
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
            entry = new_response(
                survey,
                submission,
                new_id=new_id,
                now=self.clock.now(),
                dimension=to_json,
            )
        except ValidationError:
            return None  # the general way reports it, after the key
        response = entry.response
        if self.group_commit == 1:
            stored = response.id in await self._store_new([entry])
        else:
            stored = await self._group.submit(entry)
        if not stored:
            return None  # the key was taken (a repeat, or a conflict), or the statement failed
        log_submission(submission, SubmitOutcome.CREATED)
        return SubmitResult(response, SubmitOutcome.CREATED)

    async def _stored_in_group(self, batch: Sequence[NewResponse]) -> list[bool]:
        """Store *batch* in one statement: for each, whether it was (its key was claimed)."""
        stored = await self._store_new(batch)
        return [entry.row[0] in stored for entry in batch]

    async def _store_new(self, batch: Sequence[NewResponse]) -> set[str]:
        """Store *batch* in one statement: the ids of the responses stored (none if it failed).

        The statement, then the feed rows of the responses it stored (see
        :meth:`_append_feed`), go in one pipeline on a connection in autocommit
        mode, ended by one ``Sync``: PostgreSQL runs the statements before a
        ``Sync`` in one implicit transaction, committed at the ``Sync`` (or
        rolled back, if any failed). So one round trip, one commit, and every
        response of the batch its event; an explicit ``BEGIN`` and ``COMMIT``
        would cost a round trip each.

        Raises:
            StoreError: If no connection was free in time.
        """
        try:
            async with self._open_pool().connection() as conn:
                async with conn.pipeline():
                    cur = await conn.execute(_INSERT_NEW_RESPONSES, _new_response_params(batch))
                    await self._append_feed(
                        conn,
                        [entry.feed for entry in batch],
                        pipelined=True,
                        insert=_APPEND_STORED_ANSWERS,
                    )
                rows = await cur.fetchall()
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
            # Last: the feed's lock is held from here to the end of COMMIT (see _append_feed).
            new = [by_id[row[0]] for row in new_rows]
            await self._append_feed(c, import_rows(new, self.clock.now()))
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
