"""Reading scores out of a store: what every backend shares, and turning rows into frames and cells.

Each scored question of each survey version becomes one branch of a
``UNION ALL``: it reads that question's rows of ``answer_scores`` (plain
columns, kept in step with the responses), turns an inverted scale round in
SQL, and tags it with its metric, so the database can filter, and even count,
without Python touching each answer or parsing any JSON.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import attrs

from cxcore.errors import CxError
from cxcore.metrics import Metric, MetricRegistry, metric_registry
from cxcore.model.interaction import Scalar
from cxcore.model.response import RespondentKind
from cxcore.model.survey import Direction, Survey
from cxcore.ports.store import StoreError
from cxcore.stores._rows import SCORE_DIMENSIONS, micros

if TYPE_CHECKING:
    from cxcore.scoring import Cell, ResponseFrame

__all__ = [
    "AnswerFilter",
    "Dialect",
    "ScoreSQL",
    "ScoredAnswer",
    "cells_from_counts",
    "compile_scores",
    "frame_from_columns",
    "frame_from_rows",
    "read_cells",
    "read_frame",
    "score_branches",
]

log = logging.getLogger("cxcore.store")

ANSWER_DIMENSIONS = SCORE_DIMENSIONS
"""The context keys a store frame carries by default: those kept in columns of their own."""

SMALL = 10_000
"""Answers (counted up to this, per question) below which a frame or a count is one query.

Each span is a query of its own, and a small read costs more in queries than
it saves in parallel work. In SQLite, frames of 3,600, 9,100 and 21,800
answers took 4.3, 10.1 and 24.5 ms in one query, and 6.7, 11.4 and 19.7 ms
in eight spans, two at a time.
"""

SPANS_PER_PART = 4
"""How many spans of time :func:`read_frame` cuts per query it runs at once.

Each span is parsed as it arrives, while the database reads the next, so
only the last span's parsing is left when the database is done.
"""


@attrs.frozen
class ScoredAnswer:
    """One question of one survey version that feeds a metric, as SQL sees it.

    ``level`` is the SQL of the canonical level, reading the answer with
    *read* (e.g. ``json_extract(r.answers, '$.ltr')``).
    """

    version: int
    question: str
    metric: int
    inverted_total: int | None

    def level(self, read: str) -> str:
        """The canonical level of the answer read by the SQL *read*."""
        return read if self.inverted_total is None else f"({self.inverted_total} - {read})"


@attrs.frozen
class ScoreSQL:
    """The scored questions of a survey's versions, and the metrics they feed."""

    answers: tuple[ScoredAnswer, ...]
    metrics: tuple[Metric, ...]

    def only(self, metrics: Iterable[str], survey_id: str) -> ScoreSQL:
        """The answers feeding *metrics*, in that order, renumbered.

        Raises:
            StoreError: Naming a metric no question of survey *survey_id* feeds.
        """
        names = [m.name for m in self.metrics]
        wanted = list(dict.fromkeys(metrics))
        for metric in wanted:
            if metric not in names:
                msg = (
                    f"survey {survey_id!r} has no question feeding metric {metric!r} "
                    f"(it feeds: {', '.join(names) or 'none'})"
                )
                raise StoreError(msg)
        codes = {names.index(m): new for new, m in enumerate(wanted)}
        return ScoreSQL(
            tuple(
                attrs.evolve(a, metric=codes[a.metric]) for a in self.answers if a.metric in codes
            ),
            tuple(self.metrics[old] for old in codes),
        )


def compile_scores(
    surveys: Iterable[Survey], *, registry: MetricRegistry | None = None
) -> ScoreSQL:
    """Find the scored questions of *surveys* (versions of one survey) and their metrics.

    Raises:
        CxError: If a question feeds a metric the registry does not know, or
            the registry's scale differs from the question's.
    """
    registry = metric_registry() if registry is None else registry
    metrics: list[Metric] = []
    index: dict[str, int] = {}
    answers: list[ScoredAnswer] = []
    for survey in surveys:
        for q in survey.scored_questions():
            metric = registry.get(q.metric_name)
            if q.bounds != (metric.low, metric.high):
                msg = (
                    f"survey {survey.id!r} v{survey.version} question {q.id!r} is on "
                    f"{q.bounds[0]}..{q.bounds[1]}, but metric {metric.name!r} is on "
                    f"{metric.low}..{metric.high}"
                )
                raise CxError(msg)
            code = index.setdefault(metric.name, len(metrics))
            if code == len(metrics):
                metrics.append(metric)
            inverted = sum(q.bounds) if q.direction is Direction.LOWER_IS_BETTER else None
            answers.append(ScoredAnswer(survey.version, q.id, code, inverted))
    return ScoreSQL(tuple(answers), tuple(metrics))


@attrs.frozen
class Dialect:
    """How one SQL backend spells what the score queries need.

    The queries read ``answer_scores r`` (see :mod:`cxcore.stores._schema`).
    Context keys outside :data:`ANSWER_DIMENSIONS` have no column of their
    own; they are read from the response's stored context.

    Attributes:
        mark: The parameter placeholder (``?`` or ``%s``).
        json: SQL of the value at a key of a JSON text column, as stored,
            given the column and the key.
        read: SQL turning what :attr:`json` gives into the value reported.
        match: The WHERE clause and parameter matching a stored context value
            (a ``d_`` column, or what :attr:`json` gives) with a value.
        one_of: The WHERE clause and parameter keeping rows whose column is
            one of some strings.
        text: SQL of a string literal.
        nothing: A query that returns no rows.
        numbers: SQL aggregating an integer expression into one text of
            comma-separated numbers (NULL for no rows).
        values: SQL aggregating any expression into one JSON array text.
        transfer: SQL sending a context value to a frame as JSON text, for a
            driver that would otherwise parse every value on its own
            (:func:`frame_from_rows` then parses each distinct one once);
            ``None`` sends values as they are.
        join_json: For a backend that keeps, beside each ``d_`` column, a
            ``t_`` column holding its value's JSON text (PostgreSQL), SQL
            joining such texts into one JSON array text. Dimensions are then
            read from the ``t_`` columns: frames join them as they are, and
            counts group by them, parsed by the client. ``None``: dimensions
            are read from the ``d_`` columns. Filters always match ``d_``.
    """

    mark: str
    json: Callable[[str, str], str]
    read: Callable[[str], str]
    match: Callable[[str, Scalar], tuple[str, Any]]
    one_of: Callable[[str, Sequence[str]], tuple[str, Any]]
    text: Callable[[str], str]
    nothing: str
    numbers: Callable[[str], str]
    values: Callable[[str], str]
    transfer: Callable[[str], str] | None = None
    join_json: Callable[[str], str] | None = None

    def reads_json_text(self, name: str) -> bool:
        """Whether dimension *name* is read from a ``t_`` column, as JSON text."""
        return (
            self.join_json is not None and name not in ANSWER_COLUMNS and name in ANSWER_DIMENSIONS
        )

    def context(self, key: str) -> str:
        """SQL of a context value without a ``d_`` column, read from the answer's response."""
        return f"(SELECT {self.json('p.context', key)} FROM responses p WHERE p.id = r.response_id)"


def response_filter(
    dialect: Dialect,
    *,
    survey_id: str | None,
    since: datetime | None,
    until: datetime | None,
    where: Mapping[str, Scalar] | None,
    respondents: Sequence[RespondentKind] | None,
) -> tuple[str, list[Any]]:
    """The WHERE clause (or nothing) and parameters of :meth:`Store.responses`.

    Raises:
        StoreError: If a key of *where* is not a plain context key.
    """
    mark = dialect.mark
    clauses: list[str] = []
    params: list[Any] = []
    if survey_id is not None:
        clauses.append(f"survey_id = {mark}")
        params.append(survey_id)
    if since is not None:
        clauses.append(f"updated_at >= {mark}")
        params.append(micros(since))
    if until is not None:
        clauses.append(f"updated_at < {mark}")
        params.append(micros(until))
    for key, value in (where or {}).items():
        clause, param = dialect.match(dialect.json("context", context_key(key)), value)
        clauses.append(clause)
        params.append(param)
    if respondents is not None:
        clause, param = dialect.one_of("respondent", [RespondentKind(r).value for r in respondents])
        clauses.append(clause)
        params.append(param)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def context_key(key: str) -> str:
    """*key*, checked to be a plain context key: it goes into SQL as a JSON path.

    Raises:
        StoreError: If it holds anything but letters, digits and ``_``.
    """
    if not key.replace("_", "").isalnum():
        msg = f"{key!r} is not a context key (letters, digits and '_' only)"
        raise StoreError(msg)
    return key


Shape = Literal["rows", "columns", "counts"]
"""What the score query returns: a row per answer, a row of columns per
branch (:func:`frame_from_columns`), or a count per level and group."""

ANSWER_COLUMNS = {
    "question": "r.question",
    "answer_channel": "r.channel",
    "respondent": "r.respondent",
    "survey_version": "r.survey_version",
}
"""Dimensions that are not context keys but the answer's own columns."""


@attrs.frozen
class AnswerFilter:
    """Which stored answers a score or a frame reads (the store methods' arguments)."""

    since: datetime | None = None
    until: datetime | None = None
    where: Mapping[str, Scalar] | None = None
    include_agents: bool = False
    complete_only: bool = False


def _question_in_time(mark: str, filters: AnswerFilter, table: str) -> tuple[list[str], list[Any]]:
    """WHERE clauses keeping one scored question's answers given in the filters' time.

    They follow the primary key of ``answer_scores`` (survey, version,
    question, time). The parameters returned are the times'; the survey, its
    version and the question come before them, in each query's own.
    """
    clauses = [f"{table}{c} = {mark}" for c in ("survey_id", "survey_version", "question")]
    times: list[Any] = []
    if filters.since is not None:
        clauses.append(f"{table}answered_at >= {mark}")
        times.append(micros(filters.since))
    if filters.until is not None:
        clauses.append(f"{table}answered_at < {mark}")
        times.append(micros(filters.until))
    return clauses, times


def score_branches(
    dialect: Dialect,
    survey_id: str,
    select: Sequence[str],
    answers: Sequence[ScoredAnswer],
    filters: AnswerFilter,
    *,
    shape: Shape,
    span: tuple[int, int] | None = None,
) -> tuple[str, list[Any]]:
    """One SELECT per scored answer, joined by UNION ALL.

    With *span* (microseconds, from and until), only answers given in it are read.

    Each branch gives, by *shape*:

    - ``rows``: (metric, level, time, *dims) per answer;
    - ``columns``: one row (metric, count, levels, times, *dims), each column
      aggregated into one text (:attr:`Dialect.numbers`, :attr:`Dialect.values`);
      the aggregates see the rows in the same order, so the columns line up;
    - ``counts``: (metric, level, *dims, count) per level and group. They group
      by the dimensions first and then by the stored value rather than the
      level: SQLite builds the groups in a temporary B-tree, and this order
      makes its keys cheaper to compare.
    """
    where = filters.where or {}
    check_dimensions(select)
    check_dimensions(where)
    mark = dialect.mark

    def stored(key: str) -> str:
        return f"r.d_{key}" if key in ANSWER_DIMENSIONS else dialect.context(key)

    def read(name: str) -> str:
        if name in ANSWER_COLUMNS:
            return ANSWER_COLUMNS[name]
        if dialect.reads_json_text(name):
            return f"r.t_{name}"
        if name in ANSWER_DIMENSIONS:
            return f"r.d_{name}"
        return dialect.read(dialect.context(name))

    dims = [read(d) for d in select]
    if shape == "rows" and dialect.transfer is not None:
        dims = [
            e if d in ANSWER_COLUMNS or dialect.reads_json_text(d) else dialect.transfer(e)
            for d, e in zip(select, dims, strict=True)
        ]
    clauses, shared = _question_in_time(mark, filters, "r.")
    if span is not None:
        clauses.append(f"r.answered_at >= {mark} AND r.answered_at < {mark}")
        shared.extend(span)
    if not filters.include_agents:
        clauses.append("r.respondent != 'agent'")
    if filters.complete_only:
        clauses.append("r.status = 'complete'")
    for key, value in where.items():
        clause, param = dialect.match(stored(key), value)
        clauses.append(clause)
        shared.append(param)
    condition = " WHERE " + " AND ".join(clauses)
    branches: list[str] = []
    params: list[Any] = []
    for answer in answers:
        level = answer.level("r.value")
        if shape == "rows":
            columns = [str(answer.metric), level, "r.answered_at", *dims]
        elif shape == "columns":
            columns = [
                str(answer.metric),
                "count(*)",
                dialect.numbers(level),
                dialect.numbers("r.answered_at"),
                *(
                    dialect.join_json(e)
                    if dialect.join_json is not None and dialect.reads_json_text(d)
                    else dialect.values(e)
                    for d, e in zip(select, dims, strict=True)
                ),
            ]
        else:
            columns = [str(answer.metric), f"{level} AS lvl", *dims, "count(*)"]
        branch = f"SELECT {', '.join(columns)} FROM answer_scores r{condition}"
        if shape == "counts":
            positions = [str(i) for i in range(3, len(dims) + 3)]
            branch += " GROUP BY " + ", ".join((*positions, "r.value"))
        branches.append(branch)
        params.extend([survey_id, answer.version, answer.question, *shared])
    return " UNION ALL ".join(branches) or dialect.nothing, params


Rows = Sequence[Sequence[Any]]


@attrs.frozen
class ScoreReader:
    """How one backend runs the score queries, for :func:`read_frame` and :func:`read_cells`.

    Attributes:
        dialect: Its SQL.
        rows: Runs a query and returns its rows.
        columns: Runs a ``columns`` query and returns its rows, or ``None``
            when one aggregated column outgrew the database's limit on one
            value (then the frame is read row by row).
        json_text: Whether the row path sends context values as JSON text
            (:attr:`Dialect.transfer`).
        parts: How many parts a frame is read in at once, each by its own
            query (on its own connection), split by when the answers were given.
        count_parts: The same for counts (a database that runs one count on
            several cores by itself needs 1).
    """

    dialect: Dialect
    rows: Callable[[str, list[Any]], Awaitable[Rows]]
    columns: Callable[[str, list[Any]], Awaitable[Rows | None]]
    json_text: bool = False
    parts: int = 1
    count_parts: int = 1


async def read_frame(
    reader: ScoreReader,
    surveys: Sequence[Survey],
    dimensions: Sequence[str],
    filters: AnswerFilter,
    *,
    metrics: Sequence[str] | None,
    registry: MetricRegistry | None,
) -> ResponseFrame:
    """The frame of the scored answers of *surveys* (versions of one survey), read by columns.

    Raises:
        StoreError: If no question of the survey feeds one of *metrics*.
    """
    survey_id = surveys[0].id
    sql = compile_scores(surveys, registry=registry)
    if metrics is not None:
        sql = sql.only(metrics, survey_id)
    dims = list(dimensions)
    spans = await _spans(reader, survey_id, sql.answers, filters, reader.parts * SPANS_PER_PART)
    # At most reader.parts queries run at once; each part is parsed in a
    # thread as it arrives, while the database goes on with the next one.
    gate = asyncio.Semaphore(reader.parts)

    async def part(span: tuple[int, int] | None) -> _Columns | None:
        query, params = score_branches(
            reader.dialect, survey_id, dims, sql.answers, filters, shape="columns", span=span
        )
        async with gate:
            rows = await reader.columns(query, params)
        if rows is None:
            return None
        return await asyncio.to_thread(_parsed_columns, rows, sql.metrics, dims)

    # Every part ends before the first failure is raised: none is left running.
    parts = await asyncio.gather(*map(part, spans), return_exceptions=True)
    for failed in parts:
        if isinstance(failed, BaseException):
            raise failed
    if all(isinstance(p, _Columns) for p in parts):
        return _joined([p for p in parts if isinstance(p, _Columns)], sql.metrics, dims)
    log.info("frame of %r: too large to read by columns; reading it row by row", survey_id)
    query, params = score_branches(
        reader.dialect, survey_id, dims, sql.answers, filters, shape="rows"
    )
    return frame_from_rows(
        await reader.rows(query, params), sql.metrics, dims, json_text=reader.json_text
    )


async def _spans(
    reader: ScoreReader,
    survey_id: str,
    answers: Sequence[ScoredAnswer],
    filters: AnswerFilter,
    parts: int,
) -> list[tuple[int, int] | None]:
    """When the answers *filters* keeps were given, in *parts* equal spans.

    The first and last answer of each scored question are looked up in the
    primary key of ``answer_scores`` (survey, version, question, time): one
    index probe each, whatever the filters, and its answers are counted up
    to :data:`SMALL`. Fewer answers than that in all, a single moment, or
    none, is one part.
    """
    if parts < 2 or not answers:
        return [None]
    clauses, window = _question_in_time(reader.dialect.mark, filters, "")
    # One subquery each: SQLite probes the index for a lone min() or max(),
    # but scans the whole range for both in one SELECT. The count stops at SMALL.
    where = "FROM answer_scores WHERE " + " AND ".join(clauses)
    branch = (
        f"SELECT (SELECT min(answered_at) {where}), (SELECT max(answered_at) {where}), "
        f"(SELECT count(*) FROM (SELECT 1 {where} LIMIT {SMALL}) AS probe)"
    )
    params = [v for a in answers for v in (survey_id, a.version, a.question, *window) * 3]
    bounds = await reader.rows(" UNION ALL ".join([branch] * len(answers)), params)
    firsts = [int(low) for low, _, _ in bounds if low is not None]
    lasts = [int(high) for _, high, _ in bounds if high is not None]
    if not firsts or min(firsts) == max(lasts) or sum(int(n) for *_, n in bounds) < SMALL:
        return [None]
    first, end = min(firsts), max(lasts) + 1
    edges = [first + (end - first) * i // parts for i in range(parts + 1)]
    return [(low, high) for low, high in itertools.pairwise(edges) if low < high]


async def read_cells(
    reader: ScoreReader,
    surveys: Sequence[Survey],
    metric: str,
    by: Sequence[str],
    filters: AnswerFilter,
    *,
    registry: MetricRegistry | None,
    **options: Any,  # noqa: ANN401 - cell_from_levels' own options
) -> list[Cell]:
    """The cells of *metric* by *by*, counted in the database.

    Like a frame, the counts are taken in :attr:`ScoreReader.count_parts`
    spans of time at once; each part's counts of a level and group add up.

    Raises:
        StoreError: If no question of the survey feeds *metric*.
    """
    from cxcore.scoring import cell_from_levels  # noqa: PLC0415 - numpy-backed, loaded on first use

    survey_id = surveys[0].id
    sql = compile_scores(surveys, registry=registry).only([metric], survey_id)
    spans = await _spans(reader, survey_id, sql.answers, filters, reader.count_parts)
    parts = await asyncio.gather(
        *(
            reader.rows(
                *score_branches(
                    reader.dialect, survey_id, by, sql.answers, filters, shape="counts", span=span
                )
            )
            for span in spans
        )
    )
    rows: Rows = [row for part in parts for row in part]
    texts = [2 + i for i, name in enumerate(by) if reader.dialect.reads_json_text(name)]
    if texts:
        rows = _with_parsed(rows, texts)
    return cells_from_counts(rows, sql.metrics[0], 0, list(by), cell_from_levels, **options)


def _with_parsed(rows: Rows, positions: Sequence[int]) -> list[list[Any]]:
    """*rows* with the JSON texts (or ``None``) at *positions* parsed."""
    parsed = [list(row) for row in rows]
    for row in parsed:
        for i in positions:
            if row[i] is not None:
                row[i] = json.loads(row[i])
    return parsed


def frame_from_rows(
    rows: Sequence[Sequence[Any]],
    metrics: Sequence[Metric],
    dimensions: Sequence[str],
    *,
    json_text: bool = False,
) -> ResponseFrame:
    """Build a frame from rows of (metric index, level, time in µs, *dimensions).

    The rows come from a store, whose answers were checked when stored, so the
    columns are encoded directly rather than checked again. With *json_text*,
    context dimensions arrive as JSON text (:attr:`Dialect.transfer`), and
    each distinct text is parsed once.
    """
    import numpy as np  # noqa: PLC0415 - numpy is loaded on first use

    from cxcore.scoring import Dimension, ResponseFrame  # noqa: PLC0415 - numpy-backed

    # One pass over the rows into typed columns: transposing them with zip(*rows)
    # costs six times as much.
    layout = np.dtype(
        [("metric", np.int16), ("level", np.int32), ("time", np.int64)]
        + [(f"d{i}", object) for i in range(len(dimensions))]
    )
    table = np.fromiter(rows, dtype=layout, count=len(rows))
    encoded = {}
    for i, name in enumerate(dimensions):
        column = table[f"d{i}"].tolist()
        if json_text and name not in ANSWER_COLUMNS:
            column = _parsed(column)
        encoded[name] = Dimension.encode(name, column)
    return ResponseFrame(
        metrics=list(metrics),
        metric_codes=table["metric"],
        scores=table["level"],
        time=table["time"],
        dimensions=encoded,
    )


def frame_from_columns(
    rows: Iterable[Sequence[Any]], metrics: Sequence[Metric], dimensions: Sequence[str]
) -> ResponseFrame:
    """Build a frame from one row per branch of (metric index, count, levels, times, *dims).

    Levels and times are comma-separated integers, and each dimension a JSON
    array (:func:`score_branches` with ``shape="columns"``): parsing three
    texts per branch costs a fraction of a Python tuple per answer.

    Raises:
        StoreError: If a column does not hold as many values as the branch counted.
    """
    return _joined([_parsed_columns(rows, metrics, dimensions)], metrics, dimensions)


@attrs.frozen
class _Columns:
    """The parsed columns of one part of a frame."""

    metric_codes: Any
    scores: Any
    times: Any
    dimensions: list[Any]


def _parsed_columns(
    rows: Iterable[Sequence[Any]], metrics: Sequence[Metric], dimensions: Sequence[str]
) -> _Columns:
    """Parse the rows of one ``columns`` query (see :func:`frame_from_columns`)."""
    import numpy as np  # noqa: PLC0415 - numpy is loaded on first use

    from cxcore.scoring import Dimension  # noqa: PLC0415 - numpy-backed

    codes: list[Any] = []
    levels: list[Any] = []
    times: list[Any] = []
    values: list[list[Any]] = [[] for _ in dimensions]
    for metric, count, level_text, time_text, *dims in rows:
        if not count:
            continue
        level = np.fromstring(level_text, dtype=np.int32, sep=",")
        time = np.fromstring(time_text, dtype=np.int64, sep=",")
        parsed = [json.loads(text) for text in dims]
        if any(len(column) != count for column in (level, time, *parsed)):
            msg = f"a frame column of metric {metrics[metric].name!r} lost values: expected {count}"
            raise StoreError(msg)
        codes.append(np.full(count, metric, dtype=np.int16))
        levels.append(level)
        times.append(time)
        for column, more in zip(values, parsed, strict=True):
            column.extend(more)
    return _Columns(
        metric_codes=np.concatenate(codes) if codes else np.zeros(0, dtype=np.int16),
        scores=np.concatenate(levels) if levels else np.zeros(0, dtype=np.int32),
        times=np.concatenate(times) if times else np.zeros(0, dtype=np.int64),
        dimensions=[
            Dimension.encode(name, column) for name, column in zip(dimensions, values, strict=True)
        ],
    )


def _joined(
    parts: Sequence[_Columns], metrics: Sequence[Metric], dimensions: Sequence[str]
) -> ResponseFrame:
    """One frame of the rows of *parts*, in order."""
    import numpy as np  # noqa: PLC0415 - numpy is loaded on first use

    from cxcore.scoring import Dimension, ResponseFrame  # noqa: PLC0415 - numpy-backed

    return ResponseFrame(
        metrics=list(metrics),
        metric_codes=np.concatenate([p.metric_codes for p in parts]),
        scores=np.concatenate([p.scores for p in parts]),
        time=np.concatenate([p.times for p in parts]),
        dimensions={
            name: Dimension.concat(name, [p.dimensions[i] for p in parts])
            for i, name in enumerate(dimensions)
        },
    )


def _parsed(texts: list[Any]) -> list[Any]:
    """JSON texts (or ``None``) parsed, each distinct one once."""
    values = {t: None if t is None else json.loads(t) for t in dict.fromkeys(texts)}
    return list(map(values.__getitem__, texts))


def cells_from_counts(
    rows: Iterable[Sequence[Any]],
    metric: Metric,
    code: int,
    by: Sequence[str],
    cell: Callable[..., Cell],
    **options: Any,  # noqa: ANN401 - passed on to cell_from_levels
) -> list[Cell]:
    """Cells of one metric from rows of (metric index, level, *group values, count), by group."""
    width = metric.high - metric.low + 1
    groups: dict[tuple[Any, ...], list[int]] = {}
    for row in rows:
        if row[0] != code:
            continue
        key = tuple(row[2 : 2 + len(by)])
        levels = groups.setdefault(key, [0] * width)
        levels[int(row[1]) - metric.low] += int(row[-1])
    if not by and not groups:  # the overall cell exists, empty, as the in-memory scorer gives it
        groups[()] = [0] * width
    return [
        cell(metric, levels, by=tuple(by), key=key, **options)
        for key, levels in sorted(groups.items(), key=lambda kv: tuple(map(_sortable, kv[0])))
    ]


def _sortable(value: object) -> tuple[int, str]:
    return (value is None, str(value))


def check_dimensions(dimensions: Sequence[str] | Mapping[str, Any]) -> None:
    """Refuse dimension names that are not plain keys (they go into SQL as JSON paths)."""
    for name in dimensions:
        if not name.replace("_", "").isalnum():
            msg = f"{name!r} is not a dimension name (letters, digits and '_' only)"
            raise CxError(msg)
