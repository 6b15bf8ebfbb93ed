"""The SQLite store's ``answer_scores``, kept in step with ``responses`` in the same transaction."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable

from cxcore.definitions import structure
from cxcore.model.response import Response
from cxcore.model.survey import Survey
from cxcore.stores._rows import (
    RESPONSE_SELECT,
    SCORE_COLUMNS,
    response_from_row,
    score_keys,
    score_rows,
    scored_questions,
)

_INSERT_SCORES = (
    f"INSERT INTO answer_scores ({', '.join(SCORE_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(SCORE_COLUMNS))})"
)
_DELETE_SCORES = (
    "DELETE FROM answer_scores WHERE survey_id = ? AND survey_version = ? AND question = ? "
    "AND answered_at = ? AND response_id = ?"
)


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
