"""The PostgreSQL store's ``answer_scores``, kept in step with ``responses`` in the same transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence

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
    to_json,
)
from cxcore.stores.postgres._connection import Conn, _all, _copy, _one

_INSERT_SCORES = (
    f"INSERT INTO answer_scores ({', '.join(SCORE_COLUMNS)}) VALUES ("
    + ", ".join("%s::jsonb" if c.startswith("d_") else "%s" for c in SCORE_COLUMNS)
    + ")"
)
_COPY_SCORES = f"COPY answer_scores ({', '.join(SCORE_COLUMNS)}) FROM STDIN"


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
