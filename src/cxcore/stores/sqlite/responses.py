"""Surveys and responses in the SQLite store: stored, submitted, appended, read back, and scored in SQL."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

import attrs

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
    Dialect,
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
from cxcore.stores.sqlite._base import INSERT_AUDIT as _INSERT_AUDIT
from cxcore.stores.sqlite._base import _Base
from cxcore.stores.sqlite._scores import _INSERT_SCORES, _replace_scores, _scored_in

if TYPE_CHECKING:
    from cxcore.scoring import Cell, ResponseFrame


_INSERT_RESPONSE = (
    f"INSERT INTO responses ({', '.join(RESPONSE_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(RESPONSE_COLUMNS))})"
)
_INSERT_SUBMISSION = (
    "INSERT INTO submissions (idempotency_key, fingerprint, response_id, outcome, received_at) "
    "VALUES (?, ?, ?, ?, ?)"
)
_UPDATE_RESPONSE = (
    "UPDATE responses SET " + ", ".join(f"{c} = ?" for c in RESPONSE_COLUMNS[1:]) + " WHERE id = ?"
)


class _Responses(_Base):
    """Surveys and responses: stored, submitted, appended, read back, scored, exported."""

    if TYPE_CHECKING:  # set by SQLiteStore.__init__; declared for type checkers only
        _surveys: dict[tuple[str, int], Survey]
        _scores: ScoreReader

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
        cache = self._surveys
        if version is not None and (survey_id, version) in cache:
            return cache[(survey_id, version)]

        def read(c: sqlite3.Connection) -> tuple[int, str | None] | None:
            if version is None:
                # A version once stored never changes: if the latest is known here, only
                # its number is read, not its body, which would be parsed again.
                latest = c.execute(
                    "SELECT max(version) FROM surveys WHERE id = ?", (survey_id,)
                ).fetchone()[0]
                if latest is None:
                    return None
                if (survey_id, latest) in cache:
                    return latest, None
                return c.execute(  # type: ignore[no-any-return]
                    "SELECT version, body FROM surveys WHERE id = ? AND version = ?",
                    (survey_id, latest),
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
        stored, body = row
        if body is None:
            return cache[(survey_id, stored)]
        survey = structure(json.loads(body), Survey, source=f"stored survey {survey_id} v{stored}")
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
        new_id = new_record_id()
        if submission.invitation_id is None:
            created = await self._submit_new(survey, submission, new_id)
            if created is not None:
                return created
        # Fail fast on bad values before the write; display logic needs the merged answers.
        survey.validate_answers(submission.answers, complete=False, logic=False)
        fingerprint = submission_fingerprint(submission)

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
                self._mark_invitation(c, plan.response, existing)
                self._append_feed(
                    c, [answer_row(plan.outcome, plan.response, existing, survey, self.clock.now())]
                )
            c.execute(
                _INSERT_SUBMISSION,
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
        log_submission(submission, result.outcome)
        return result

    async def _submit_new(
        self, survey: Survey, submission: Submission, new_id: str
    ) -> SubmitResult | None:
        """Store a submission that starts a new response with others waiting; ``None`` if not stored.

        A submission without an invitation starts a new response, unless its
        key was used before: it is planned here, on the caller's thread, and
        its rows go with those of the other new responses queued next to it,
        one statement per table (:meth:`_store_new`), instead of a savepoint
        and seven statements each on the writer's thread. If its key is taken
        (a repeat or a conflict), its answers are invalid or the write failed,
        nothing of it was written, and the caller goes the general way, which
        sorts out each case.
        """
        try:
            entry = new_response(survey, submission, new_id=new_id, now=self.clock.now())
        except ValidationError:
            return None  # the general way reports it, after the key
        try:
            stored = await self._write_one_of_many(self._store_new, entry)
        except StoreError:
            return None  # the write of the run failed: the general way, one at a time
        if not stored:
            return None
        log_submission(submission, SubmitOutcome.CREATED)
        return SubmitResult(entry.response, SubmitOutcome.CREATED)

    def _store_new(self, c: sqlite3.Connection, batch: Sequence[NewResponse]) -> list[bool]:
        """On the writer: store the new responses whose keys are free, one statement a table.

        A key already stored, or taken by an earlier entry of *batch*, is left
        for the general way. If a statement fails, the writer rolls the whole
        run back, and every caller goes the general way.
        """
        keys = list(dict.fromkeys(entry.idempotency_key for entry in batch))
        taken: set[str] = set()
        for at in range(0, len(keys), 500):
            chunk = keys[at : at + 500]
            marks = ", ".join("?" * len(chunk))
            taken.update(
                key
                for (key,) in c.execute(
                    f"SELECT idempotency_key FROM submissions WHERE idempotency_key IN ({marks})",
                    chunk,
                )
            )
        stored: list[bool] = []
        fresh: list[NewResponse] = []
        for entry in batch:
            free = entry.idempotency_key not in taken
            stored.append(free)
            if free:
                taken.add(entry.idempotency_key)
                fresh.append(entry)
        if fresh:
            c.executemany(_INSERT_SUBMISSION, [e.key for e in fresh])
            c.executemany(_INSERT_RESPONSE, [e.row for e in fresh])
            c.executemany(_INSERT_SCORES, [row for e in fresh for row in e.scores])
            c.executemany(_INSERT_AUDIT, [e.audit for e in fresh])
            self._append_feed(c, [e.feed for e in fresh])
        return stored

    def _mark_invitation(
        self, c: sqlite3.Connection, response: Response, existing: Response | None
    ) -> None:
        """Record that a response to an invitation was started, and completed, if it was stored."""
        if response.invitation_id is None:
            return
        for disposition, at in reached(response, existing):
            inserted = c.execute(
                "INSERT INTO dispositions (invitation_id, disposition, at, detail) "
                "SELECT ?, ?, ?, NULL WHERE EXISTS (SELECT 1 FROM invitations WHERE id = ?) "
                "ON CONFLICT (invitation_id, disposition) DO NOTHING",
                (response.invitation_id, disposition.value, micros(at), response.invitation_id),
            ).rowcount
            if inserted:
                self._audit(c, "invitation", response.invitation_id, disposition.value)

    async def invitation_response(self, invitation_id: str) -> Response | None:
        """The latest response to an invitation, if it has one."""
        row = await self._read(
            lambda c: c.execute(
                RESPONSE_SELECT
                + " WHERE invitation_id = ? ORDER BY updated_at DESC, rowid DESC LIMIT 1",
                (invitation_id,),
            ).fetchone()
        )
        return None if row is None else response_from_row(row)

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
            self._append_feed(c, import_rows([by_id[i] for i in new_ids], self.clock.now()))
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
