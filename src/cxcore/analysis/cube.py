"""The segment cube: dimensions x metrics x time buckets, each cell with n, score and interval.

The cube is :func:`~cxcore.scoring.score_many` arranged for reading: one
counting pass scores every metric by the dimensions and the period; cells
below the minimum n are kept and marked ``suppressed`` (their n is shown,
their score is not); agent-reported answers are scored apart from what
customers said themselves; and every cell is compared with the same group's
previous period, with the interval and p-value of the change (the tests of
:func:`~cxcore.scoring.compare`). Rolling windows (the last 7 and 30 days,
each against the window before it) come from :func:`rolling_cube`, and
:func:`cube_from_store` reads a store, counting in SQL where it can.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, TypeAlias

import attrs
import numpy as np

from cxcore.display import (
    DEFAULT_MAX_ROWS,
    Column,
    Table,
    TableDisplay,
    fmt_count,
    fmt_interval,
    fmt_p_value,
    fmt_text,
    metric_definition,
    number_format,
)
from cxcore.errors import CxError
from cxcore.metrics import Headline, Metric, metric_registry
from cxcore.model.frozendict import FrozenDict
from cxcore.scoring._optional import optional_module
from cxcore.scoring.batch import ScoreTable, score_many
from cxcore.scoring.cells import (
    DEFAULT_MIN_N,
    Cell,
    GroupValue,
    Period,
    day_number,
    period_start,
    resolve_method,
)
from cxcore.scoring.comparison import compare
from cxcore.scoring.stats import IntervalMethod, mean_difference_test, z_value

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from cxcore.ports.store import Store
    from cxcore.scoring.frame import ResponseFrame

__all__ = ["Cube", "CubeCell", "build_cube", "cube_from_store", "rolling_cube"]

RESPONDENT = "respondent"
"""The dimension saying who reported an answer: ``customer``, ``anonymous`` or ``agent``."""

_EPOCH = date(1970, 1, 1)
_NO_TIME = -1
_NUMBERS = (
    "n",
    "n_eff",
    "score",
    "low",
    "high",
    "suppressed",
    "previous_n",
    "previous_score",
    "change",
    "change_low",
    "change_high",
    "p_value",
    "significant",
)


@attrs.frozen(kw_only=True, repr=False)
class CubeCell(TableDisplay):
    """One cell of a cube: a metric for one group, reporter and period (or window).

    Attributes:
        metric: The metric's name.
        group: The cell's value of each dimension of the cube.
        respondent: Who reported the answers (``customer``, ``anonymous``,
            ``agent``), or ``None`` when the cube was not split by reporter.
        period: The first day of the cell's day, week, month or window.
        window_days: The window's length in days, for a rolling cube.
        n: The number of answers (shown even when the score is suppressed).
        score: The headline score; ``None`` if suppressed or empty.
        low: Lower end of the score's interval (``None`` if suppressed).
        high: Upper end of the score's interval.
        suppressed: Whether n (or the effective n) is below the cube's minimum.
        previous_score: The same group's score in the previous period.
        change: Score minus the previous score.
        change_low: Lower end of the change's interval.
        change_high: Upper end of the change's interval.
        p_value: The two-sided p-value of "no change".
        significant: Whether the p-value is below ``1 - confidence``.

    .. versionadded:: 0.1.0
    """

    metric: str
    group: FrozenDict[str, GroupValue]
    respondent: str | None
    period: date | None
    window_days: int | None
    n: int
    score: float | None
    low: float | None
    high: float | None
    suppressed: bool
    previous_score: float | None
    change: float | None
    change_low: float | None
    change_high: float | None
    p_value: float | None
    significant: bool

    @property
    def agent_reported(self) -> bool:
        """Whether the answers were reported by an agent on the customer's behalf."""
        return self.respondent == "agent"

    def __repr__(self) -> str:
        return f"CubeCell({self})"

    def display_table(self, *, max_rows: int | None = DEFAULT_MAX_ROWS) -> Table:
        """The cell as a one-row table (for Jupyter); ``max_rows`` is accepted and unused."""
        columns = [Column(name) for name in self.group]
        row: list[Any] = list(self.group.values())
        if self.respondent is not None:
            columns.append(Column("reported by"))
            row.append(self.respondent)
        if self.period is not None:
            columns.append(Column("from" if self.window_days else "period"))
            row.append(self.period)
        columns += [
            Column("metric"),
            Column("n", format=fmt_count, align="right"),
            Column("score", format=number_format(1), align="right"),
            Column("interval", format=fmt_interval, align="right"),
            Column("change", format=_fmt_change, align="right"),
            Column("p", format=fmt_p_value, align="right"),
        ]
        row += [
            self.metric,
            self.n,
            self.score,
            (self.low, self.high),
            (self.change, self.significant),
            self.p_value,
        ]
        return Table(
            columns=columns,
            rows=[tuple(row)],
            marks=[self.suppressed],
            mark_note="too few answers: score suppressed, n shown",
            max_rows=max_rows,
        )

    def __str__(self) -> str:
        where = ", ".join(f"{k}={v}" for k, v in self.group.items()) or "overall"
        if self.respondent is not None:
            where += f", {self.respondent}"
        when = "" if self.period is None else f" from {self.period.isoformat()}"
        if self.window_days is not None:
            when += f" ({self.window_days} days)"
        if self.suppressed:
            return f"{self.metric} [{where}]{when}: n={self.n}, suppressed"
        assert self.score is not None  # noqa: S101 - not suppressed, so not empty
        text = f"{self.metric} [{where}]{when}: {self.score:.1f}"
        if self.low is not None and self.high is not None:
            text += f" ({self.low:.1f} to {self.high:.1f})"
        text += f", n={self.n}"
        if self.change is not None:
            mark = " *" if self.significant else ""
            text += f", change {self.change:+.1f}{mark}"
        return text


class Cube(TableDisplay):
    """Scores of several metrics by dimensions and time buckets, as one tidy table.

    Build it with :func:`build_cube`, :func:`rolling_cube` or
    :func:`cube_from_store`. Iterate it for :class:`CubeCell` objects, look a
    cell up with :meth:`get`, or export it with :meth:`to_pandas`,
    :meth:`to_polars` or :meth:`to_records`: one row per (metric, group,
    reporter, period). Numbers that are not shown (a suppressed score, the
    change of a cell without a previous period) are NaN in the columns and
    ``None`` in cells.

    Attributes:
        metrics: The metrics, in order.
        by: The grouping dimensions.
        every: The time bucket (``None`` for all time or a rolling cube).
        window_days: The windows of a rolling cube, else ``None``.
        split_respondents: Whether cells are split by who reported the answers.
        min_n: Cells with fewer answers are suppressed.
        confidence: The confidence level of every interval.
        methods: The headline interval's method of each metric.
        excluded_agents: Agent-reported answers left out of the frame it was built from.
        columns: The cube's columns (key columns hold codes into ``values``).
        values: Per key column (the dimensions and ``respondent``), its values.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        *,
        metrics: tuple[str, ...],
        by: tuple[str, ...],
        every: Period | None,
        window_days: tuple[int, ...] | None,
        split_respondents: bool,
        min_n: int,
        confidence: float,
        methods: Mapping[str, IntervalMethod],
        excluded_agents: int,
        columns: Mapping[str, NDArray[Any]],
        values: Mapping[str, tuple[GroupValue, ...]],
    ) -> None:
        self.metrics = metrics
        self.by = by
        self.every = every
        self.window_days = window_days
        self.split_respondents = split_respondents
        self.min_n = min_n
        self.confidence = confidence
        self.methods = dict(methods)
        self.excluded_agents = excluded_agents
        self.columns: Mapping[str, NDArray[Any]] = dict(columns)
        self.values: Mapping[str, tuple[GroupValue, ...]] = dict(values)

    def __len__(self) -> int:
        return len(self.columns["n"])

    def __repr__(self) -> str:
        return self.display_text()

    def summary(self) -> str:
        """One line saying what the cube holds."""
        by = " x ".join(self.by) or "overall"
        if self.every is not None:
            by += f" x {self.every.value}"
        if self.window_days is not None:
            by += " over the last " + " and ".join(str(d) for d in self.window_days) + " days"
        split = ", agent-reported apart" if self.split_respondents else ""
        suppressed = int(self.columns["suppressed"].sum())
        return (
            f"Cube({', '.join(self.metrics)} by {by}: {len(self)} cells, "
            f"{suppressed} suppressed (n < {self.min_n}){split})"
        )

    def display_table(self, *, max_rows: int | None = DEFAULT_MAX_ROWS) -> Table:
        """The cube to show: a row per cell, suppressed ones marked, with the metrics' definitions.

        Args:
            max_rows: Rows shown at most (the first and last halves), ``None`` for all.
        """
        columns = [Column(name) for name in self.by]
        if self.split_respondents:
            columns.append(Column("reported by"))
        if "period" in self.columns:
            columns.append(Column("from" if self.window_days else "period", format=fmt_text))
        if self.window_days is not None:
            columns.append(Column("days", format=fmt_count, align="right"))
        columns += [
            Column("metric"),
            Column("n", format=fmt_count, align="right"),
            Column("score", format=number_format(1), align="right"),
            Column(f"{100 * self.confidence:g}% interval", format=fmt_interval, align="right"),
            Column("change", format=_fmt_change, align="right"),
            Column("p", format=fmt_p_value, align="right"),
        ]
        registry = metric_registry()
        notes = [
            metric_definition(registry.get(name), method=self.methods.get(name))
            for name in self.metrics
            if name in registry
        ]
        notes.append(
            "change: against the same group's previous "
            + ("window" if self.window_days else (self.every.value if self.every else "period"))
            + f", * where p < {round(1 - self.confidence, 12):g}"
        )
        return Table(
            title=self.summary(),
            columns=columns,
            rows=_DisplayRows(self),
            marks=self.columns["suppressed"],  # type: ignore[arg-type]
            mark_note=f"fewer than {self.min_n} answers: score suppressed, n shown",
            notes=notes,
            max_rows=max_rows,
        )

    @property
    def key_columns(self) -> tuple[str, ...]:
        """The columns identifying a group (the dimensions, then ``respondent`` if split)."""
        return (*self.by, RESPONDENT) if self.split_respondents else self.by

    def _value(self, name: str, i: int) -> GroupValue:
        return self.values[name][int(self.columns[name][i])]

    def cell(self, i: int) -> CubeCell:
        """Row *i* as a :class:`CubeCell`."""
        c = self.columns

        def num(name: str) -> float | None:
            value = float(c[name][i])
            return None if math.isnan(value) else value

        day = int(c["period"][i]) if "period" in c else _NO_TIME
        respondent = self._value(RESPONDENT, i) if self.split_respondents else None
        return CubeCell(
            metric=self.metrics[int(c["metric"][i])],
            group=FrozenDict({name: self._value(name, i) for name in self.by}),
            respondent=None if respondent is None else str(respondent),
            period=None if day == _NO_TIME else _EPOCH + timedelta(days=day),
            window_days=int(c["window_days"][i]) if "window_days" in c else None,
            n=int(c["n"][i]),
            score=num("score"),
            low=num("low"),
            high=num("high"),
            suppressed=bool(c["suppressed"][i]),
            previous_score=num("previous_score"),
            change=num("change"),
            change_low=num("change_low"),
            change_high=num("change_high"),
            p_value=num("p_value"),
            significant=bool(c["significant"][i]),
        )

    def __iter__(self) -> Iterator[CubeCell]:
        for i in range(len(self)):
            yield self.cell(i)

    def __getitem__(self, i: int) -> CubeCell:
        if not -len(self) <= i < len(self):
            msg = f"cell {i} is out of range ({len(self)} cells)"
            raise IndexError(msg)
        return self.cell(i % len(self))

    def get(
        self,
        metric: str,
        group: Mapping[str, GroupValue] | None = None,
        *,
        respondent: str | None = None,
        period: date | None = None,
        window_days: int | None = None,
    ) -> CubeCell | None:
        """The cell of *metric* for *group* (a value per dimension), reporter and period.

        Returns ``None`` when the cube has no such cell (no answers there).

        Raises:
            CxError: If *metric* is not in the cube, or *group* names other dimensions.
        """
        if metric not in self.metrics:
            msg = f"the cube has no metric {metric!r} (it has: {', '.join(self.metrics)})"
            raise CxError(msg)
        group = dict(group or {})
        if set(group) != set(self.by):
            msg = (
                f"a cell's group names every dimension of the cube ({', '.join(self.by)}), "
                f"not {', '.join(group) or 'none'}"
            )
            raise CxError(msg)
        mask = self.columns["metric"] == self.metrics.index(metric)
        wanted = dict(group)
        if self.split_respondents:
            wanted[RESPONDENT] = respondent
        for name, value in wanted.items():
            if value not in self.values[name]:
                return None
            mask &= self.columns[name] == self.values[name].index(value)
        if "period" in self.columns:
            day = _NO_TIME if period is None else (period - _EPOCH).days
            mask &= self.columns["period"] == day
        if window_days is not None and "window_days" in self.columns:
            mask &= self.columns["window_days"] == window_days
        found = np.flatnonzero(mask)
        return self.cell(int(found[0])) if found.size else None

    def to_records(self) -> list[dict[str, Any]]:
        """Every cell as a plain JSON-ready dict, in the columns' order."""
        data = self._export_columns()
        names = list(data)
        rows = []
        for i in range(len(self)):
            row: dict[str, Any] = {}
            for name in names:
                value = data[name][i]
                if isinstance(value, np.datetime64):
                    value = None if np.isnat(value) else value.astype(date).isoformat()
                elif isinstance(value, np.generic):
                    value = value.item()
                if isinstance(value, float) and math.isnan(value):
                    value = None
                row[name] = value
            rows.append(row)
        return rows

    def _export_columns(self) -> dict[str, Any]:
        c = self.columns
        data: dict[str, Any] = {}
        for name in self.key_columns:
            table = np.empty(len(self.values[name]), dtype=object)
            table[:] = list(self.values[name])
            data[name] = table[c[name]] if len(table) else np.empty(0, dtype=object)
        if self.split_respondents:
            data["reported_by"] = np.where(data[RESPONDENT] == "agent", "agent", "self").astype(
                object
            )
        if "period" in c:
            days = c["period"].astype(np.int64)
            data["period"] = np.where(days == _NO_TIME, np.iinfo(np.int64).min, days).view(
                "datetime64[D]"
            )
        if "window_days" in c:
            data["window_days"] = c["window_days"]
        names = np.empty(len(self.metrics), dtype=object)
        names[:] = list(self.metrics)
        data["metric"] = names[c["metric"]]
        for name in _NUMBERS:
            data[name] = c[name]
        return data

    def to_pandas(self) -> Any:  # noqa: ANN401 - a pandas.DataFrame
        """The cube as a tidy pandas DataFrame, one row per cell.

        ``period`` is a ``datetime64`` column of each bucket's first day.
        """
        pd = optional_module("pandas", "exporting a cube to pandas")
        return pd.DataFrame(self._export_columns())

    def to_polars(self) -> Any:  # noqa: ANN401 - a polars.DataFrame
        """The cube as a tidy polars DataFrame, one row per cell (``period`` is a ``Date``)."""
        pl = optional_module("polars", "exporting a cube to polars")
        data = self._export_columns()
        for name in (*self.key_columns, "metric", "reported_by"):
            if name in data:
                data[name] = pl.Series(name, list(data[name]), strict=False)
        if "period" in data:
            data["period"] = pl.Series("period", data["period"]).cast(pl.Date)
        return pl.DataFrame(data)


_SIGNED = number_format(1, signed=True)


def _fmt_change(value: tuple[float | None, bool]) -> str:
    change, significant = value
    return _SIGNED(change) + (" *" if significant else "")


class _DisplayRows(Sequence[tuple[Any, ...]]):
    """The cube's rows as the display shows them, built only for the rows shown."""

    def __init__(self, cube: Cube) -> None:
        self.cube = cube

    def __len__(self) -> int:
        return len(self.cube)

    def __getitem__(self, i: int) -> tuple[Any, ...]:  # type: ignore[override]
        cell = self.cube.cell(i)
        row: list[Any] = [cell.group[name] for name in self.cube.by]
        if self.cube.split_respondents:
            row.append("agent" if cell.agent_reported else f"self ({cell.respondent})")
        if "period" in self.cube.columns:
            row.append(cell.period)
        if self.cube.window_days is not None:
            row.append(cell.window_days)
        change = (cell.change, cell.significant)
        row += [cell.metric, cell.n, cell.score, (cell.low, cell.high), change, cell.p_value]
        return tuple(row)


# -- building ---------------------------------------------------------------------------


def _parse_by(by: Sequence[str] | str) -> tuple[str, ...]:
    if isinstance(by, str):
        return tuple(part.strip() for part in by.split(",") if part.strip())
    return tuple(by)


def _check_min_n(min_n: object) -> None:
    if isinstance(min_n, bool) or not isinstance(min_n, int) or min_n < 0:
        msg = f"min_n {min_n!r} is not a whole number of answers (expected 0 or more)"
        raise CxError(msg)


def build_cube(
    frame: ResponseFrame,
    metrics: Sequence[str] | None = None,
    *,
    by: Sequence[str] | str = (),
    every: Period | str | None = Period.WEEK,
    min_n: int = DEFAULT_MIN_N,
    interval: IntervalMethod | str = IntervalMethod.AUTO,
    confidence: float = 0.95,
    weighted: bool = False,
    utc_offset: timedelta = timedelta(0),
    respondent: str = RESPONDENT,
) -> Cube:
    """Score every metric by the dimensions and time buckets, with suppression and changes.

    >>> from cxcore.scoring import ResponseFrame
    >>> from datetime import datetime, UTC
    >>> frame = ResponseFrame.from_columns({
    ...     "metric": ["nps"] * 4, "score": [10, 9, 0, 10], "store": ["A", "A", "A", "B"],
    ...     "answered_at": [datetime(2026, 3, d, tzinfo=UTC) for d in (2, 3, 9, 9)]})
    >>> cube = build_cube(frame, by="store", every="week", min_n=2)
    >>> [str(cell) for cell in cube]  # doctest: +NORMALIZE_WHITESPACE
    ['nps [store=A] from 2026-03-02: 100.0 (-24.4 to 100.0), n=2',
     'nps [store=A] from 2026-03-09: n=1, suppressed',
     'nps [store=B] from 2026-03-09: n=1, suppressed']

    Args:
        frame: The answers. If it has a *respondent* dimension (a frame built
            with ``include_agents=True``), cells are split by it, so agent-reported
            answers are never mixed with what customers said themselves.
        metrics: The metrics (all of the frame's by default).
        by: The dimensions (a sequence, or names separated by commas).
        every: The time bucket: ``day``, ``week`` (from Monday), ``month``, or
            ``None`` for one bucket of all time.
        min_n: Cells with fewer answers (or a smaller effective n) are suppressed:
            kept, with their n, but without a score or a change.
        interval: The headline interval's method (as for :func:`~cxcore.scoring.score`).
        confidence: The confidence level of the intervals and of the changes' tests.
        weighted: Use the frame's weights.
        utc_offset: The offset from UTC in which days begin.
        respondent: The name of the dimension saying who reported each answer.

    Returns:
        One row per metric, group, reporter and period with answers, ordered by
        metric, then group, then period; each compared with the same group's
        previous day, week or month when that has answers too.

    Raises:
        CxError: For an unknown metric or dimension, a bad *min_n*, or time
            buckets on a frame without times.

    .. versionadded:: 0.1.0
    """
    _check_min_n(min_n)
    by_t = _parse_by(by)
    if respondent in by_t:
        msg = (
            f"{respondent!r} is not a dimension to group by in a cube: "
            "cells are split by who reported them already"
        )
        raise CxError(msg)
    split = respondent in frame.dimensions
    keys = (*by_t, respondent) if split else by_t
    names = list(frame.metrics if metrics is None else metrics)
    tables = score_many(
        frame,
        names,
        by=keys,
        every=every,
        interval=interval,
        confidence=confidence,
        weighted=weighted,
        min_n=min_n,
        utc_offset=utc_offset,
    )
    values = {name: frame.dimensions[name].values for name in keys}
    if respondent != RESPONDENT and split:
        values[RESPONDENT] = values.pop(respondent)
    key_names = (*by_t, RESPONDENT) if split else by_t
    period = None if every is None else Period(every)
    columns = _assemble(
        tables, names, key_names, period=period, confidence=confidence, weighted=weighted
    )
    return Cube(
        metrics=tuple(names),
        by=by_t,
        every=period,
        window_days=None,
        split_respondents=split,
        min_n=min_n,
        confidence=confidence,
        methods={name: table.method for name, table in tables.items()},
        excluded_agents=frame.excluded_agents,
        columns=columns,
        values=values,
    )


def _assemble(
    tables: Mapping[str, ScoreTable],
    names: Sequence[str],
    key_names: Sequence[str],
    *,
    period: Period | None,
    confidence: float,
    weighted: bool,
) -> dict[str, NDArray[Any]]:
    """The cube's columns: every table's cells, suppressed and compared with the previous period."""
    parts: list[dict[str, NDArray[Any]]] = []
    for code, name in enumerate(names):
        table = tables[name]
        keys, periods = table.key_codes, table.period_days
        part = _metric_columns(table, keys, periods, period, confidence, weighted=weighted)
        part["metric"] = np.full(len(table), code, dtype=np.int16)
        for key_name, codes in zip(key_names, keys, strict=True):
            part[key_name] = codes.astype(np.int32)
        parts.append(part)
    return _answered(parts)


def _answered(parts: Sequence[Mapping[str, NDArray[Any]]]) -> dict[str, NDArray[Any]]:
    """The parts' columns joined, without the empty cells score_many gives a group.

    A group with answers to one metric has a cell, empty, for every other
    metric asked for; a cube has no use for a cell without answers.
    """
    columns = {col: np.concatenate([p[col] for p in parts]) for col in parts[0]}
    keep = columns["n"] > 0
    return columns if bool(keep.all()) else {k: v[keep] for k, v in columns.items()}


def _previous_start(days: NDArray[np.int64], period: Period) -> NDArray[np.int64]:
    """The first day of the period before each period starting on *days*."""
    if period is Period.DAY:
        return days - 1
    if period is Period.WEEK:
        return days - 7
    months = days.astype("datetime64[D]").astype("datetime64[M]")
    return (months - 1).astype("datetime64[D]").astype(np.int64)


def _metric_columns(
    table: ScoreTable,
    keys: tuple[NDArray[np.int64], ...],
    periods: NDArray[np.int64] | None,
    period: Period | None,
    confidence: float,
    *,
    weighted: bool,
    previous: tuple[ScoreTable, NDArray[np.int64]] | None = None,
) -> dict[str, NDArray[Any]]:
    """One metric's columns; *previous* is another table and, per cell, its row there (-1: none).

    Without *previous*, each cell's previous row is the same group's previous
    period in *table* itself.
    """
    c = table.columns
    size = len(table)
    suppressed = np.asarray(c["low_n"], dtype=bool)
    out: dict[str, NDArray[Any]] = {
        "n": np.asarray(c["n"], dtype=np.int64),
        "n_eff": np.asarray(c["n_eff"], dtype=np.float64),
        "score": np.where(suppressed, np.nan, c["score"]),
        "low": np.where(suppressed, np.nan, c["low"]),
        "high": np.where(suppressed, np.nan, c["high"]),
        "suppressed": suppressed,
    }
    if periods is not None:
        out["period"] = periods.astype(np.int64)
    if previous is not None:
        before, row = previous
    elif periods is not None and period is not None:
        before, row = table, _previous_rows(keys, periods, period)
    else:
        before, row = table, np.full(size, -1, dtype=np.int64)
    out.update(_changes(table, before, row, confidence, weighted=weighted))
    return out


def _previous_rows(
    keys: tuple[NDArray[np.int64], ...], periods: NDArray[np.int64], period: Period
) -> NDArray[np.int64]:
    """Per cell, the row of the same group's previous period, or -1."""
    size = len(periods)
    group = np.zeros(size, dtype=np.int64)
    for codes in keys:
        group = group * (int(codes.max()) + 1 if codes.size else 1) + codes
    timed = periods != _NO_TIME
    if not timed.any():
        return np.full(size, -1, dtype=np.int64)
    first = int(periods[timed].min())
    span = int(periods[timed].max()) - first + 32  # room for the month before the first
    combined = np.where(timed, group * span + (periods - first + 31), -1)
    order = np.argsort(combined, kind="stable")
    ordered = combined[order]
    wanted = np.where(timed, group * span + (_previous_start(periods, period) - first + 31), -2)
    at = np.searchsorted(ordered, wanted)
    at_c = np.minimum(at, size - 1)
    found = (at < size) & (ordered[at_c] == wanted) & timed
    return np.where(found, order[at_c], -1).astype(np.int64)


def _effective(table: ScoreTable, bucket: str, *, weighted: bool) -> NDArray[np.float64]:
    """Per cell, the count in *bucket*: as counted, or its share of the effective n if weighted.

    The same as :func:`cxcore.scoring.compare` takes from a cell.
    """
    if not weighted:
        index = [b.name for b in table.metric.buckets].index(bucket)
        return np.asarray(table.bucket_counts[:, index], dtype=np.float64)
    share = np.nan_to_num(np.asarray(table.columns[f"pct_{bucket}"], dtype=np.float64))
    return share / 100.0 * np.asarray(table.columns["n_eff"], dtype=np.float64)


def _changes(
    table: ScoreTable,
    before: ScoreTable,
    row: NDArray[np.int64],
    confidence: float,
    *,
    weighted: bool,
) -> dict[str, NDArray[Any]]:
    """The change of every cell against its row in *before*, by the tests of ``compare``.

    Net scores use the adjusted-Wald z-test, top-box shares the two-proportion
    z-test with Agresti-Caffo's interval, means Welch's t-test: the same
    formulas as :mod:`cxcore.scoring.stats`, column-wise for the first two.
    Cells where either side is suppressed get no change.
    """
    size = len(table)
    metric: Metric = table.metric
    nan = np.full(size, np.nan)
    out: dict[str, NDArray[Any]] = {
        "previous_n": np.zeros(size, dtype=np.int64),
        "previous_score": nan.copy(),
        "change": nan.copy(),
        "change_low": nan.copy(),
        "change_high": nan.copy(),
        "p_value": nan.copy(),
        "significant": np.zeros(size, dtype=bool),
    }
    has = row >= 0
    if not has.any():
        return out
    j = np.where(has, row, 0)
    bc = before.columns
    out["previous_n"] = np.where(has, np.asarray(bc["n"], dtype=np.int64)[j], 0)
    shown_before = ~np.asarray(bc["low_n"], dtype=bool)[j]
    out["previous_score"] = np.where(has & shown_before, bc["score"][j], np.nan)
    ok = has & shown_before & ~np.asarray(table.columns["low_n"], dtype=bool)
    ok &= (np.asarray(table.columns["n_eff"]) > 0) & (np.asarray(bc["n_eff"])[j] > 0)
    if not ok.any():
        return out
    i = np.flatnonzero(ok)
    jj = j[i]
    na = np.asarray(table.columns["n_eff"], dtype=np.float64)[i]
    nb = np.asarray(bc["n_eff"], dtype=np.float64)[jj]
    if metric.headline is Headline.MEAN:
        diff, low, high, p = _mean_changes(table, before, i, jj, na, nb, confidence)
    else:
        pa = _effective(table, metric.positive, weighted=weighted)[i]
        pb = _effective(before, metric.positive, weighted=weighted)[jj]
        if metric.headline is Headline.NET:
            assert metric.negative is not None  # noqa: S101 - a net metric has one
            da = _effective(table, metric.negative, weighted=weighted)[i]
            db = _effective(before, metric.negative, weighted=weighted)[jj]
            diff, low, high, p = _net_changes(pa, da, na, pb, db, nb, confidence)
        else:
            diff, low, high, p = _share_changes(pa, na, pb, nb, confidence)
    out["change"][i] = diff
    out["change_low"][i] = low
    out["change_high"][i] = high
    out["p_value"][i] = p
    out["significant"][i] = p < round(1.0 - confidence, 12)
    return out


_Four: TypeAlias = (
    "tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]"
)


_ERFC = np.frompyfunc(math.erfc, 1, 1)


def _two_sided_normal(z: NDArray[np.float64]) -> NDArray[np.float64]:
    # math.erfc, value by value: the same p-values as the scalar tests, to the last bit.
    return np.asarray(_ERFC(np.abs(z) / math.sqrt(2.0)), dtype=np.float64)


def _net_changes(  # noqa: PLR0917 - a private column kernel
    pa: NDArray[np.float64],
    da: NDArray[np.float64],
    na: NDArray[np.float64],
    pb: NDArray[np.float64],
    db: NDArray[np.float64],
    nb: NDArray[np.float64],
    confidence: float,
) -> _Four:
    """:func:`~cxcore.scoring.nps_difference_test`, column-wise."""
    parts = []
    for p, d, n in ((pa, da, na), (pb, db, nb)):
        nn = n + 3.0
        pp = (p + 0.75) / nn
        dd = (d + 0.75) / nn
        est = pp - dd
        parts.append((100.0 * (p - d) / n, est, (pp + dd - est * est) / nn))
    (raw_a, est_a, var_a), (raw_b, est_b, var_b) = parts
    se = np.sqrt(var_a + var_b)
    diff = est_a - est_b
    z = diff / se
    half = z_value(confidence) * se
    low = np.maximum(-200.0, 100.0 * (diff - half))
    high = np.minimum(200.0, 100.0 * (diff + half))
    return raw_a - raw_b, low, high, _two_sided_normal(z)


def _share_changes(
    ka: NDArray[np.float64],
    na: NDArray[np.float64],
    kb: NDArray[np.float64],
    nb: NDArray[np.float64],
    confidence: float,
) -> _Four:
    """:func:`~cxcore.scoring.proportion_difference_test`, column-wise."""
    pa, pb = ka / na, kb / nb
    pooled = (ka + kb) / (na + nb)
    se0 = np.sqrt(pooled * (1.0 - pooled) * (1.0 / na + 1.0 / nb))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(
            se0 > 0,
            (pa - pb) / np.where(se0 > 0, se0, 1.0),
            np.where(pa == pb, 0.0, np.copysign(np.inf, pa - pb)),
        )
    ta, tb = (ka + 1.0) / (na + 2.0), (kb + 1.0) / (nb + 2.0)
    half = z_value(confidence) * np.sqrt(
        ta * (1.0 - ta) / (na + 2.0) + tb * (1.0 - tb) / (nb + 2.0)
    )
    low = np.maximum(-100.0, 100.0 * (ta - tb - half))
    high = np.minimum(100.0, 100.0 * (ta - tb + half))
    return 100.0 * (pa - pb), low, high, _two_sided_normal(z)


def _mean_changes(  # noqa: PLR0917 - a private column kernel
    table: ScoreTable,
    before: ScoreTable,
    i: NDArray[np.intp],
    j: NDArray[np.int64],
    na: NDArray[np.float64],
    nb: NDArray[np.float64],
    confidence: float,
) -> _Four:
    """Welch's t-test of every pair, by :func:`~cxcore.scoring.mean_difference_test` itself."""
    ma = np.asarray(table.columns["mean"], dtype=np.float64)[i]
    sa = np.asarray(table.columns["sd"], dtype=np.float64)[i]
    mb = np.asarray(before.columns["mean"], dtype=np.float64)[j]
    sb = np.asarray(before.columns["sd"], dtype=np.float64)[j]
    out = np.full((4, len(i)), np.nan)
    for k, args in enumerate(
        zip(
            ma.tolist(),
            sa.tolist(),
            na.tolist(),
            mb.tolist(),
            sb.tolist(),
            nb.tolist(),
            strict=True,
        )
    ):
        a_mean, a_sd, a_n, b_mean, b_sd, b_n = args
        if math.isnan(a_sd) or math.isnan(b_sd) or a_n <= 1 or b_n <= 1:
            continue
        d = mean_difference_test((a_mean, a_sd, a_n), (b_mean, b_sd, b_n), confidence=confidence)
        out[:, k] = (d.difference, d.low, d.high, d.p_value)
    return out[0], out[1], out[2], out[3]


# -- rolling windows ------------------------------------------------------------------------


def _as_of(frame: ResponseFrame, as_of: datetime | None) -> datetime:
    if as_of is not None:
        if as_of.tzinfo is None or as_of.utcoffset() is None:
            msg = f"as_of {as_of.isoformat()} has no time zone (expected an aware datetime)"
            raise CxError(msg)
        return as_of
    times = frame.time
    if times is None:
        msg = "the frame has no answer times, so it has no last 7 or 30 days"
        raise CxError(msg)
    micros = times.view(np.int64)
    valid = micros[micros != np.iinfo(np.int64).min]
    if not valid.size:
        msg = "no answer in the frame has a time, so it has no last 7 or 30 days"
        raise CxError(msg)
    last = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(valid.max()))
    # Windows end at the end of the day of the last answer (in UTC).
    return datetime.combine(last.date() + timedelta(days=1), time(0), tzinfo=UTC)


def rolling_cube(
    frame: ResponseFrame,
    metrics: Sequence[str] | None = None,
    *,
    by: Sequence[str] | str = (),
    days: Sequence[int] = (7, 30),
    as_of: datetime | None = None,
    min_n: int = DEFAULT_MIN_N,
    interval: IntervalMethod | str = IntervalMethod.AUTO,
    confidence: float = 0.95,
    weighted: bool = False,
    respondent: str = RESPONDENT,
) -> Cube:
    """Scores over the last 7 and 30 days (or any windows), each against the window before it.

    A window of *d* days holds the answers given from ``as_of - d days`` up to
    (not including) *as_of*; its change is against the *d* days before that.

    Args:
        frame: The answers (with times).
        metrics: The metrics (all of the frame's by default).
        by: The dimensions.
        days: The windows' lengths in days.
        as_of: Where the windows end, an aware datetime; by default the end of
            the (UTC) day of the latest answer.
        min_n: Cells with fewer answers are suppressed.
        interval: The headline interval's method.
        confidence: The confidence level of intervals and tests.
        weighted: Use the frame's weights.
        respondent: The dimension saying who reported each answer (as for :func:`build_cube`).

    Returns:
        A cube whose ``period`` is each window's first day and ``window_days`` its length.

    Raises:
        CxError: For a window that is not a positive number of days, or a frame without times.

    .. versionadded:: 0.1.0
    """
    _check_min_n(min_n)
    given: tuple[object, ...] = tuple(days)
    bad = [d for d in given if isinstance(d, bool) or not isinstance(d, int) or d <= 0]
    if bad or not given:
        msg = f"days {list(given)!r} must be positive whole numbers of days (e.g. 7 and 30)"
        raise CxError(msg)
    lengths = tuple(dict.fromkeys(int(d) for d in days))  # a window asked twice is one window
    end = _as_of(frame, as_of)
    by_t = _parse_by(by)
    split = respondent in frame.dimensions
    keys = (*by_t, respondent) if split else by_t
    names = list(frame.metrics if metrics is None else metrics)
    for name in keys:
        if name not in frame.dimensions:
            known = ", ".join(frame.dimensions) or "none"
            msg = f"the frame has no dimension {name!r} (it has: {known})"
            raise CxError(msg)
    options: dict[str, Any] = {
        "by": keys,
        "interval": interval,
        "confidence": confidence,
        "weighted": weighted,
        "min_n": min_n,
    }
    key_names = (*by_t, RESPONDENT) if split else by_t
    parts: list[dict[str, NDArray[Any]]] = []
    methods: dict[str, IntervalMethod] = {}
    for length in lengths:
        start = end - timedelta(days=length)
        now = score_many(frame.select(start=start, end=end), names, **options)
        then = score_many(
            frame.select(start=start - timedelta(days=length), end=start), names, **options
        )
        first_day = (start.astimezone(UTC).date() - _EPOCH).days
        for code, name in enumerate(names):
            table, before = now[name], then[name]
            methods[name] = table.method
            t_keys = table.key_codes
            rows = _same_group_rows(frame, keys, table, before)
            part = _metric_columns(
                table, t_keys, None, None, confidence, weighted=weighted, previous=(before, rows)
            )
            part["metric"] = np.full(len(table), code, dtype=np.int16)
            part["period"] = np.full(len(table), first_day, dtype=np.int64)
            part["window_days"] = np.full(len(table), length, dtype=np.int64)
            for key_name, codes in zip(key_names, t_keys, strict=True):
                part[key_name] = codes.astype(np.int32)
            parts.append(part)
    columns = _answered(parts)
    values = {name: frame.dimensions[name].values for name in keys}
    if respondent != RESPONDENT and split:
        values[RESPONDENT] = values.pop(respondent)
    return Cube(
        metrics=tuple(names),
        by=by_t,
        every=None,
        window_days=lengths,
        split_respondents=split,
        min_n=min_n,
        confidence=confidence,
        methods=methods,
        excluded_agents=frame.excluded_agents,
        columns=columns,
        values=values,
    )


def _same_group_rows(
    frame: ResponseFrame, keys: Sequence[str], table: ScoreTable, before: ScoreTable
) -> NDArray[np.int64]:
    """Per cell of *table*, the row of the same group in *before* (-1 if it has none).

    Both tables come from selections of *frame*, whose dimensions keep the
    whole frame's values, so the codes of one group are the same in both.
    """
    radices = [max(len(frame.dimensions[k].values), 1) for k in keys]

    def combined(t: ScoreTable) -> NDArray[np.int64]:
        codes = t.key_codes
        out = np.zeros(len(t), dtype=np.int64)
        for radix, c in zip(radices, codes, strict=True):
            out = out * radix + c
        return out

    mine, theirs = combined(table), combined(before)
    order = np.argsort(theirs, kind="stable")
    ordered = theirs[order]
    at = np.searchsorted(ordered, mine)
    at_c = np.minimum(at, max(len(ordered) - 1, 0))
    if not len(ordered):
        return np.full(len(mine), -1, dtype=np.int64)
    found = (at < len(ordered)) & (ordered[at_c] == mine)
    return np.where(found, order[at_c], -1).astype(np.int64)


# -- from a store ------------------------------------------------------------------------------


async def cube_from_store(
    store: Store,
    *,
    survey_id: str,
    metrics: Sequence[str],
    by: Sequence[str] | str = (),
    every: Period | str | None = None,
    days: Sequence[int] | None = None,
    as_of: datetime | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    where: Mapping[str, Any] | None = None,
    min_n: int = DEFAULT_MIN_N,
    interval: IntervalMethod | str = IntervalMethod.AUTO,
    confidence: float = 0.95,
    utc_offset: timedelta = timedelta(0),
) -> Cube:
    """A cube of a survey's stored answers, agent-reported ones kept apart.

    Without time buckets or windows, the counting happens in the database
    (:meth:`~cxcore.ports.store.Store.score`, one query per metric, grouped by
    the dimensions and the reporter): only a count per level and group leaves
    it. By day, week or month between a given *since* and *until*, it does
    too, one query per metric and period, and each cell is compared with its
    previous period by :func:`~cxcore.scoring.compare`. Otherwise (time
    buckets over all time, or rolling windows) the store's columnar frame is
    read (:meth:`~cxcore.ports.store.Store.frame`) and counted by
    :func:`build_cube` or :func:`rolling_cube`.

    Args:
        store: The store.
        survey_id: The survey.
        metrics: The metrics.
        by: The dimensions (context keys kept by the store).
        every: ``day``, ``week``, ``month``, or ``None``.
        days: Rolling windows in days (``(7, 30)``) instead of *every*.
        as_of: Where rolling windows end.
        since: Only answers given at or after this time.
        until: Only answers given before this time.
        where: Context values the answers must have.
        min_n: Cells with fewer answers are suppressed.
        interval: The headline interval's method.
        confidence: The confidence level.
        utc_offset: The offset from UTC in which days begin, for *every*.

    Raises:
        CxError: If both *every* and *days* are given, or for what the store
            or the cube refuses.

    .. versionadded:: 0.1.0
    """
    _check_min_n(min_n)
    if every is not None and days is not None:
        msg = "a cube has time buckets (every) or rolling windows (days), not both"
        raise CxError(msg)
    by_t = _parse_by(by)
    names = list(dict.fromkeys(metrics))
    period = None if every is None else Period(every)
    counted = days is None and (period is None or (since is not None and until is not None))
    if not counted:
        frame = await store.frame(
            survey_id=survey_id,
            dimensions=[*by_t, RESPONDENT],
            since=since,
            until=until,
            where=where,
            include_agents=True,
            metrics=names,
        )
        options: dict[str, Any] = {
            "by": by_t,
            "min_n": min_n,
            "interval": interval,
            "confidence": confidence,
        }
        if days is not None:
            return rolling_cube(frame, names, days=days, as_of=as_of, **options)
        return build_cube(frame, names, every=every, utc_offset=utc_offset, **options)
    keys = [*by_t, RESPONDENT]
    registry = metric_registry()
    parts: list[dict[str, NDArray[Any]]] = []
    cells_per_metric: list[list[Cell]] = []
    spans: list[tuple[date | None, datetime | None, datetime | None]] = [(None, since, until)]
    if period is not None:
        assert since is not None  # noqa: S101 - counted in SQL only between since and until
        assert until is not None  # noqa: S101
        spans = list(_period_spans(period, since, until, utc_offset))
    for name in names:
        found: list[Cell] = []
        for first, start, end in spans:
            cells = await store.score(
                name,
                survey_id=survey_id,
                by=keys,
                since=start,
                until=end,
                where=where,
                include_agents=True,
                method=interval,
                confidence=confidence,
                min_n=min_n,
            )
            found.extend(attrs.evolve(c, period=first) for c in cells if c.n > 0)
        cells_per_metric.append(found)
    values: dict[str, tuple[GroupValue, ...]] = {}
    for k, name in enumerate(keys):
        seen = {cell.key[k] for cells in cells_per_metric for cell in cells}
        values[name] = tuple(
            sorted(seen, key=lambda v: (v is None, str(type(v)), v if v is not None else 0))
        )
    for code, cells in enumerate(cells_per_metric):
        parts.append(_cells_columns(cells, code, keys, values, period, confidence))
    columns = {col: np.concatenate([p[col] for p in parts]) for col in parts[0]}
    return Cube(
        metrics=tuple(names),
        by=by_t,
        every=period,
        window_days=None,
        split_respondents=True,
        min_n=min_n,
        confidence=confidence,
        methods={name: resolve_method(registry.get(name), interval) for name in names},
        excluded_agents=0,
        columns=columns,
        values=values,
    )


def _period_spans(
    period: Period, since: datetime, until: datetime, utc_offset: timedelta
) -> Iterator[tuple[date, datetime, datetime]]:
    """Each period from *since* to *until*: its first day, and its span cut to theirs."""
    day = period_start(day_number(since, utc_offset), period)
    last = day_number(until, utc_offset)
    while True:
        first = _EPOCH + timedelta(days=day)
        if period is Period.DAY:
            following = day + 1
        elif period is Period.WEEK:
            following = day + 7
        else:
            following = (first.replace(day=28) + timedelta(days=4)).replace(day=1).toordinal()
            following -= _EPOCH.toordinal()
        start = datetime.combine(first, time(0), tzinfo=UTC) - utc_offset
        end = start + timedelta(days=following - day)
        if start >= until:
            return
        yield first, max(start, since), min(end, until)
        if following > last:
            return
        day = following


def _cells_columns(  # noqa: PLR0917 - a private column builder
    cells: Sequence[Cell],
    code: int,
    keys: Sequence[str],
    values: Mapping[str, tuple[GroupValue, ...]],
    period: Period | None,
    confidence: float,
) -> dict[str, NDArray[Any]]:
    """Columns of one metric's cells read from the store, suppressed and compared.

    Each cell is compared with the same group's previous period by
    :func:`~cxcore.scoring.compare`, when both have enough answers.
    """
    size = len(cells)

    def col(name: str) -> NDArray[np.float64]:
        return np.array(
            [np.nan if getattr(c, name) is None else getattr(c, name) for c in cells],
            dtype=np.float64,
        )

    suppressed = np.array([c.low_n for c in cells], dtype=bool)
    nan = np.full(size, np.nan)
    out: dict[str, NDArray[Any]] = {
        "metric": np.full(size, code, dtype=np.int16),
        "n": np.array([c.n for c in cells], dtype=np.int64),
        "n_eff": np.array([c.n_eff for c in cells], dtype=np.float64),
        "score": np.where(suppressed, np.nan, col("score")),
        "low": np.where(suppressed, np.nan, col("low")),
        "high": np.where(suppressed, np.nan, col("high")),
        "suppressed": suppressed,
        "previous_n": np.zeros(size, dtype=np.int64),
        "previous_score": nan.copy(),
        "change": nan.copy(),
        "change_low": nan.copy(),
        "change_high": nan.copy(),
        "p_value": nan.copy(),
        "significant": np.zeros(size, dtype=bool),
    }
    for k, name in enumerate(keys):
        position = {v: i for i, v in enumerate(values[name])}
        out[name] = np.array([position[c.key[k]] for c in cells], dtype=np.int32)
    if period is None:
        return out
    out["period"] = np.array(
        [_NO_TIME if c.period is None else (c.period - _EPOCH).days for c in cells],
        dtype=np.int64,
    )
    by_key = {(c.key, c.period): c for c in cells}
    for i, cell in enumerate(cells):
        assert cell.period is not None  # noqa: S101 - every cell has its period here
        before = by_key.get((cell.key, _previous_day(cell.period, period)))
        if before is None:
            continue
        out["previous_n"][i] = before.n
        if before.low_n:
            continue
        out["previous_score"][i] = np.nan if before.score is None else before.score
        if cell.low_n:
            continue
        try:
            d = compare(cell, before, confidence=confidence)
        except CxError:  # a mean from answers all alike on one side: no test
            continue
        out["change"][i] = d.difference
        out["change_low"][i] = d.low
        out["change_high"][i] = d.high
        out["p_value"][i] = d.p_value
        out["significant"][i] = d.significant
    return out


def _previous_day(first: date, period: Period) -> date:
    """The first day of the period before the one starting on *first*."""
    if period is Period.DAY:
        return first - timedelta(days=1)
    if period is Period.WEEK:
        return first - timedelta(days=7)
    return (first - timedelta(days=1)).replace(day=1)
