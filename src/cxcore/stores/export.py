"""Exporting responses from any store: CSV that spreadsheets open safely, and typed Parquet."""

from __future__ import annotations

import csv
import os
from typing import TYPE_CHECKING, Any, Protocol, TextIO

if TYPE_CHECKING:
    from cxcore.model.response import Response
    from cxcore.model.survey import Survey

__all__ = ["export_csv", "export_parquet"]


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


async def export_parquet(store: _Readable, path: str | os.PathLike[str], *, survey_id: str) -> int:
    """Write a survey's responses to a Parquet file, one row per response, typed.

    The columns are those of :func:`export_csv`, with their types kept: scores
    as integers, several choices as lists of option ids, times as UTC
    timestamps (microseconds), context values as numbers or text. Needs
    pyarrow (``cxcore[parquet]``).

    Returns:
        The number of rows written.

    Raises:
        MissingDependencyError: If pyarrow is not installed.
    """
    from cxcore.scoring._optional import optional_module  # noqa: PLC0415 - no numpy at import

    pa = optional_module("pyarrow", "writing Parquet")
    pq = optional_module("pyarrow.parquet", "writing Parquet")
    survey = await store.survey(survey_id)
    rows = await store.responses(survey_id=survey_id)
    stamp = pa.timestamp("us", tz="UTC")
    columns: dict[str, Any] = {
        "response_id": pa.array([r.id for r in rows], pa.string()),
        "survey_version": pa.array([r.survey_version for r in rows], pa.int32()),
        "status": pa.array([r.status.value for r in rows], pa.string()),
        "respondent": pa.array([r.respondent.value for r in rows], pa.string()),
        "channel": pa.array([r.channel for r in rows], pa.string()),
        "started_at": pa.array([r.started_at for r in rows], stamp),
        "updated_at": pa.array([r.updated_at for r in rows], stamp),
        "completed_at": pa.array([r.completed_at for r in rows], stamp),
        "locale": pa.array([r.locale for r in rows], pa.string()),
    }
    for q in survey.questions:
        values = [r.answers.get(q.id) for r in rows]
        if q.kind == "text" or (q.kind == "choice" and not getattr(q, "multiple", False)):
            columns[q.id] = pa.array(values, pa.string())
        elif q.kind == "choice":
            picked = [list(v) if isinstance(v, tuple) else None for v in values]
            columns[q.id] = pa.array(picked, pa.list_(pa.string()))
        else:
            columns[q.id] = pa.array(values, pa.int64())
    for key in sorted({k for r in rows for k in r.context}):
        scalars = [r.context.get(key) for r in rows]
        try:
            columns[key] = pa.array(scalars)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed kinds in one column: keep them as text
            columns[key] = pa.array([None if v is None else str(v) for v in scalars], pa.string())
    pq.write_table(pa.table(columns), os.fspath(path))
    return len(rows)
