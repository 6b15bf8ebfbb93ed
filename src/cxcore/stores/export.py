"""Exporting responses: CSV that spreadsheets open safely, from any store."""

from __future__ import annotations

import csv
from typing import TYPE_CHECKING, Protocol, TextIO

if TYPE_CHECKING:
    from cxcore.model.response import Response
    from cxcore.model.survey import Survey

__all__ = ["export_csv"]


class _Readable(Protocol):
    async def survey(self, survey_id: str, version: int | None = None) -> Survey: ...

    async def responses(self, *, survey_id: str | None = None) -> list[Response]: ...


async def export_csv(store: _Readable, out: TextIO, *, survey_id: str) -> int:
    """Write a survey's responses as CSV, one row per response, one column per question.

    Text cells that a spreadsheet would run as a formula (starting with
    ``=``, ``+``, ``-``, ``@``, tab or carriage return) are written with a
    leading apostrophe.

    Returns:
        The number of rows written.
    """
    survey = await store.survey(survey_id)
    rows = await store.responses(survey_id=survey_id)
    context_keys = sorted({k for r in rows for k in r.context})
    question_ids = [q.id for q in survey.questions]
    writer = csv.writer(out)
    writer.writerow(
        [
            "response_id",
            "survey_version",
            "status",
            "respondent",
            "channel",
            "started_at",
            "updated_at",
            "completed_at",
            "locale",
            *question_ids,
            *context_keys,
        ]
    )
    for r in rows:
        answers = [_cell(r.answers.get(q)) for q in question_ids]
        context = [_cell(r.context.get(k)) for k in context_keys]
        writer.writerow(
            [
                r.id,
                r.survey_version,
                r.status.value,
                r.respondent.value,
                r.channel,
                r.started_at.isoformat(),
                r.updated_at.isoformat(),
                r.completed_at.isoformat() if r.completed_at else "",
                r.locale,
                *answers,
                *context,
            ]
        )
    return len(rows)


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, tuple):
        value = ";".join(value)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
