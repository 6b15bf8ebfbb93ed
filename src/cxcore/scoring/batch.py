"""Batch scoring: every metric, overall or by any dimensions and periods, with vectorised counting.

One ``np.bincount`` over the frame's cached ``group * n_codes + level_code``
counts every (group, metric, level) at once; every number of every cell is
then computed column-wise from those counts, with the same operations, in the
same order, as :func:`~cxcore.scoring.cell_from_levels`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from cxcore.display import (
    DEFAULT_MAX_ROWS,
    Column,
    Table,
    TableDisplay,
    fmt_count,
    fmt_text,
    metric_definition,
    score_columns,
)
from cxcore.errors import CxError
from cxcore.metrics import Headline, Metric, metric_registry
from cxcore.model.frozendict import FrozenDict
from cxcore.scoring._optional import optional_module
from cxcore.scoring.cells import (
    DEFAULT_MIN_N,
    Cell,
    GroupValue,
    Period,
    bootstrap_interval,
    resolve_method,
)
from cxcore.scoring.stats import IntervalMethod, t_quantile, z_value

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from cxcore.scoring.frame import ResponseFrame

__all__ = ["ScoreTable", "score", "score_many"]

_EPOCH = date(1970, 1, 1)
_F64 = np.float64


def _parse_by(by: Sequence[str] | str) -> tuple[str, ...]:
    if isinstance(by, str):
        return tuple(part.strip() for part in by.split(",") if part.strip())
    return tuple(by)


def _parse_every(every: Period | str | None) -> Period | None:
    if every is None:
        return None
    try:
        return Period(every)
    except ValueError:
        msg = f"{every!r} is not a period (expected one of: {', '.join(p.value for p in Period)})"
        raise CxError(msg) from None


class _DisplayRows(Sequence[tuple[Any, ...]]):
    """The rows a :class:`ScoreTable` shows, read from its columns only when shown."""

    def __init__(self, table: ScoreTable) -> None:
        self._table = table
        c = table.columns
        self._n, self._score, self._low, self._high = c["n"], c["score"], c["low"], c["high"]
        self._n_eff = c["n_eff"] if table.weighted else None

    def __len__(self) -> int:
        return len(self._n)

    def __getitem__(self, i: int) -> tuple[Any, ...]:  # type: ignore[override]
        t = self._table
        row: list[Any] = list(t.key(i))
        if t.every is not None:
            row.append(t.period(i))
        row.append(int(self._n[i]))
        if self._n_eff is not None:
            row.append(float(self._n_eff[i]))
        row += [float(self._score[i]), (float(self._low[i]), float(self._high[i]))]
        return tuple(row)


class ScoreTable(TableDisplay):
    """The scores of one metric, one cell per group (and period), as columns.

    Iterate it for :class:`~cxcore.scoring.Cell` objects, look a cell up
    with :meth:`get`, or export it with :meth:`to_records`,
    :meth:`to_pandas` or :meth:`to_polars`. Numbers that do not exist (the
    score of an empty cell, the interval of a mean from one answer) are NaN in
    the columns and ``None`` in cells.

    It shows itself as a compact table (n, score, interval, a mark on low-n
    cells, the metric's definition under it), cut to
    :data:`~cxcore.display.DEFAULT_MAX_ROWS` rows: plain text from ``repr``
    and ``str``, HTML in Jupyter.
    :meth:`~cxcore.display.TableDisplay.display_text` with ``max_rows=None`` shows every cell.

    >>> from cxcore.scoring import ResponseFrame, score
    >>> frame = ResponseFrame.from_columns({
    ...     "metric": ["nps"] * 5, "score": [10, 9, 8, 6, 0], "store": ["A", "A", "A", "B", "B"]})
    >>> score(frame, "nps", by="store", min_n=3)  # doctest: +NORMALIZE_WHITESPACE
    Net Promoter Score by store
    store  n     NPS    95% interval
    -----  -  ------  --------------
    A      3    66.7   [-21.7, 88.3]
    B      2  -100.0  [-100.0, 24.4] †
    † fewer than 3 answers: read with care
    Net Promoter Score: % promoter (9-10) minus % detractor (0-6), from -100 to 100;
    higher is better. 95% adjusted-wald intervals.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        *,
        metric: Metric,
        by: tuple[str, ...],
        every: Period | None,
        keys: tuple[NDArray[np.int64], ...],
        key_values: tuple[tuple[GroupValue, ...], ...],
        periods: NDArray[np.int64] | None,
        columns: Mapping[str, NDArray[Any]],
        bucket_counts: NDArray[Any],
        method: IntervalMethod,
        confidence: float,
        weighted: bool,
        min_n: int | None = None,
    ) -> None:
        self.metric = metric
        self._min_n = min_n
        self.by = by
        self.every = every
        self._keys = keys
        self._key_values = key_values
        self._periods = periods
        self.columns: Mapping[str, NDArray[Any]] = dict(columns)
        self.bucket_counts = bucket_counts
        self.method = method
        self.confidence = confidence
        self.weighted = weighted
        self._lookup: dict[tuple[tuple[GroupValue, ...], date | None], int] | None = None

    def __len__(self) -> int:
        return len(self.columns["n"])

    def __repr__(self) -> str:
        return self.display_text()

    @property
    def min_n(self) -> int | None:
        """The low-n threshold the table was scored with."""
        return self._min_n

    @property
    def key_codes(self) -> tuple[NDArray[np.int64], ...]:
        """Per ``by`` column, each cell's code: an index into that column's :attr:`key_values`.

        The columns as the engine keeps them, for code that works on whole
        columns (numpy, a data frame's categoricals) rather than cell by cell;
        read them, do not change them. :meth:`key` gives one cell's values.
        """
        return self._keys

    @property
    def key_values(self) -> tuple[tuple[GroupValue, ...], ...]:
        """Per ``by`` column, the values its :attr:`key_codes` index."""
        return self._key_values

    @property
    def period_days(self) -> NDArray[np.int64] | None:
        """Each cell's period as its first day (days since 1970-01-01); None without ``every``."""
        return self._periods

    def display_table(self, *, max_rows: int | None = DEFAULT_MAX_ROWS) -> Table:
        """The table to show: a row per cell with n, score, interval and a low-n mark.

        Args:
            max_rows: Rows shown at most (the first and last halves), ``None`` for all.
        """
        by = ", ".join(self.by)
        every = f", every {self.every.value}" if self.every else ""
        title = f"{self.metric.title}{f' by {by}' if by else ''}{every}"
        if self.weighted:
            title += " (weighted)"
        columns = [Column(name) for name in self.by]
        if self.every is not None:
            columns.append(Column("period", format=fmt_text))
        n, score_column, interval = score_columns(self.metric, self.confidence)
        columns.append(n)
        if self.weighted:
            columns.append(Column("n eff", format=fmt_count, align="right"))
        columns += [score_column, interval]
        low_n = f"fewer than {self.min_n} answers" if self.min_n is not None else "low n"
        if self.weighted:
            low_n = low_n.replace("answers", "effective answers")
        return Table(
            title=title,
            columns=columns,
            rows=_DisplayRows(self),
            marks=cast("Sequence[bool]", self.columns["low_n"]),  # read only where shown
            mark_note=f"{low_n}: read with care",
            notes=(metric_definition(self.metric, method=self.method, confidence=self.confidence),),
            max_rows=max_rows,
        )

    def key(self, i: int) -> tuple[GroupValue, ...]:
        """The group key of cell *i*."""
        return tuple(
            values[int(codes[i])]
            for codes, values in zip(self._keys, self._key_values, strict=True)
        )

    def period(self, i: int) -> date | None:
        """The first day of cell *i*'s period (``None`` if not by time, or for rows without one)."""
        if self._periods is None:
            return None
        day = int(self._periods[i])
        return None if day == -1 else _EPOCH + timedelta(days=day)

    def cell(self, i: int) -> Cell:
        """Cell *i* as a :class:`~cxcore.scoring.Cell`."""
        c = self.columns
        n = int(c["n"][i])

        def num(name: str) -> float | None:
            value = float(c[name][i])
            return None if math.isnan(value) else value

        counts_row = self.bucket_counts[i]
        counts: FrozenDict[str, float] = FrozenDict(
            {
                b.name: (float(v) if self.weighted else int(v))
                for b, v in zip(self.metric.buckets, counts_row.tolist(), strict=True)
            }
        )
        shares: FrozenDict[str, float | None] = FrozenDict(
            {b.name: num(f"pct_{b.name}") for b in self.metric.buckets}
        )
        return Cell(
            metric=self.metric.name,
            by=self.by,
            key=self.key(i),
            period=self.period(i),
            n=n,
            n_eff=float(c["n_eff"][i]),
            score=num("score"),
            low=num("low"),
            high=num("high"),
            low_n=bool(c["low_n"][i]),
            counts=counts,
            shares=shares,
            mean=num("mean"),
            sd=num("sd"),
            mean_low=num("mean_low"),
            mean_high=num("mean_high"),
            top_box=num("top_box"),
            top_box_low=num("top_box_low"),
            top_box_high=num("top_box_high"),
            method=self.method,
            confidence=self.confidence,
        )

    def __iter__(self) -> Iterator[Cell]:
        for i in range(len(self)):
            yield self.cell(i)

    def __getitem__(self, i: int) -> Cell:
        if not -len(self) <= i < len(self):
            msg = f"cell {i} is out of range ({len(self)} cells)"
            raise IndexError(msg)
        return self.cell(i % len(self))

    def get(
        self, key: Sequence[GroupValue] | Mapping[str, GroupValue] = (), period: date | None = None
    ) -> Cell | None:
        """The cell of group *key* (values in ``by`` order, or a mapping) and *period*."""
        if isinstance(key, Mapping):
            key = tuple(key.get(name) for name in self.by)
        if self._lookup is None:
            self._lookup = {(self.key(i), self.period(i)): i for i in range(len(self))}
        i = self._lookup.get((tuple(key), period))
        return None if i is None else self.cell(i)

    def to_records(self) -> list[dict[str, Any]]:
        """Every cell as a plain dict (see :meth:`Cell.to_dict`)."""
        return [cell.to_dict() for cell in self]

    def _export_columns(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for name, codes, values in zip(self.by, self._keys, self._key_values, strict=True):
            table = np.empty(len(values), dtype=object)
            table[:] = list(values)
            data[name] = table[codes] if len(values) else np.empty(0, dtype=object)
        if self.every is not None:
            assert self._periods is not None  # noqa: S101 - periods exist when grouped by time
            # Day numbers since 1970 are what datetime64[D] holds; -1 (no time) is NaT.
            days = self._periods.astype(np.int64)
            data["period"] = np.where(days == -1, np.iinfo(np.int64).min, days).view(
                "datetime64[D]"
            )
        data["metric"] = [self.metric.name] * len(self)
        data.update(self.columns)
        for j, b in enumerate(self.metric.buckets):
            data[f"n_{b.name}"] = self.bucket_counts[:, j]
        return data

    def to_pandas(self) -> Any:  # noqa: ANN401 - a pandas.DataFrame
        """The table as a pandas DataFrame, one row per cell.

        ``period`` (when grouped by time) is a ``datetime64`` column of each
        period's first day; cells without a time have ``NaT``.
        """
        pd = optional_module("pandas", "exporting scores to pandas")
        return pd.DataFrame(self._export_columns())

    def to_polars(self) -> Any:  # noqa: ANN401 - a polars.DataFrame
        """The table as a polars DataFrame, one row per cell.

        ``period`` (when grouped by time) is a ``Date`` column of each period's
        first day; cells without a time have null.
        """
        pl = optional_module("polars", "exporting scores to polars")
        data = self._export_columns()
        for name in self.by:
            data[name] = pl.Series(name, list(data[name]), strict=False)
        if "period" in data:
            data["period"] = pl.Series("period", data["period"]).cast(pl.Date)
        return pl.DataFrame(data)


def score(
    frame: ResponseFrame,
    metric: str,
    *,
    by: Sequence[str] | str = (),
    every: Period | str | None = None,
    interval: IntervalMethod | str = IntervalMethod.AUTO,
    confidence: float = 0.95,
    weighted: bool = False,
    min_n: int = DEFAULT_MIN_N,
    utc_offset: timedelta = timedelta(0),
    resamples: int = 2000,
    seed: int = 0,
) -> ScoreTable:
    """Score one metric of a frame, overall or by dimensions and periods.

    >>> from cxcore.scoring import ResponseFrame
    >>> frame = ResponseFrame.from_columns({
    ...     "metric": ["nps"] * 5, "score": [10, 9, 8, 6, 0], "store": ["A", "A", "A", "B", "B"]})
    >>> [(c.key, c.n, c.score) for c in score(frame, "nps", by="store")]
    [(('A',), 3, 66.66666666666667), (('B',), 2, -100.0)]

    Args:
        frame: The answers.
        metric: The metric's name.
        by: Dimensions to group by (a sequence, or names separated by commas).
        every: Also group by ``day``, ``week`` (from Monday) or ``month``.
        interval: The headline interval's method (``auto`` picks adjusted-Wald
            for NPS, Wilson for top-box shares, t for means).
        confidence: The confidence level of every interval.
        weighted: Use the frame's weights (weighted score, Kish's effective n).
        min_n: Cells with fewer answers (or smaller effective n) are flagged ``low_n``.
        utc_offset: The offset from UTC in which days begin, for *every*.
        resamples: Resamples for the bootstrap method.
        seed: Seed for the bootstrap method.

    Returns:
        One cell per group (and period) present in the frame, in order of the
        dimension values. Groups present without this metric's answers get an
        empty cell (n = 0). Ungrouped, there is always exactly one cell.

    Raises:
        CxError: For an unknown metric or dimension, a method that does not
            apply, or weights asked of an unweighted frame.

    .. versionadded:: 0.1.0
    """
    return score_many(
        frame,
        [metric],
        by=by,
        every=every,
        interval=interval,
        confidence=confidence,
        weighted=weighted,
        min_n=min_n,
        utc_offset=utc_offset,
        resamples=resamples,
        seed=seed,
    )[metric]


def score_many(
    frame: ResponseFrame,
    metrics: Sequence[str] | None = None,
    *,
    by: Sequence[str] | str = (),
    every: Period | str | None = None,
    interval: IntervalMethod | str = IntervalMethod.AUTO,
    confidence: float = 0.95,
    weighted: bool = False,
    min_n: int = DEFAULT_MIN_N,
    utc_offset: timedelta = timedelta(0),
    resamples: int = 2000,
    seed: int = 0,
) -> dict[str, ScoreTable]:
    """Score several metrics with a single counting pass (all of the frame's metrics by default).

    Arguments are those of :func:`score`; returns a table per metric name.

    .. versionadded:: 0.1.0
    """
    names = list(frame.metrics if metrics is None else metrics)
    registry = metric_registry()
    defs = [frame.metric(name) if name in frame.metrics else registry.get(name) for name in names]
    methods = [resolve_method(m, interval) for m in defs]
    z_value(confidence)  # checks the confidence level before any work
    by_t = _parse_by(by)
    period = _parse_every(every)
    if weighted and frame.weight is None:
        msg = "weighted scores were asked for, but the frame has no weights (see with_weights)"
        raise CxError(msg)
    groups = frame.group_index(by_t, period, utc_offset)
    bins = groups.n_groups * groups.n_codes
    counts = np.bincount(groups.index, minlength=bins).reshape(groups.n_groups, groups.n_codes)
    wsum = wsq = None
    if weighted:
        w = frame.weight
        assert w is not None  # noqa: S101 - checked above
        wsum = np.bincount(groups.index, weights=w, minlength=bins).reshape(
            groups.n_groups, groups.n_codes
        )
        wsq = np.bincount(groups.index, weights=w * w, minlength=bins).reshape(
            groups.n_groups, groups.n_codes
        )
    present = (
        counts.any(axis=1) if (by_t or period is not None) else np.ones(groups.n_groups, dtype=bool)
    )
    rows = np.flatnonzero(present)
    offsets = frame.level_offsets
    key_values = tuple(frame.dimensions[name].values for name in by_t)
    keys = tuple(codes[rows] for codes in groups.group_codes)
    periods = None if groups.group_periods is None else groups.group_periods[rows]
    tables: dict[str, ScoreTable] = {}
    for name, metric, method in zip(names, defs, methods, strict=True):
        if name in frame.metrics:
            j = frame.metrics.index(name)
            cols = slice(offsets[j], offsets[j + 1])
        else:  # no answers to this metric at all: every cell is empty
            cols = slice(0, 0)
        if not cols.stop - cols.start:
            shape = (len(rows), len(metric.levels))
            zeros = np.zeros(shape, dtype=np.int64)
            buckets: NDArray[Any]
            if weighted:
                columns, buckets = _weighted_columns(
                    metric, zeros, np.zeros(shape), np.zeros(shape), method, confidence, min_n
                )
            else:
                columns, buckets = _columns(metric, zeros, method, confidence, min_n)
        elif weighted:
            assert wsum is not None  # noqa: S101 - weighted
            assert wsq is not None  # noqa: S101 - weighted
            columns, buckets = _weighted_columns(
                metric,
                counts[rows, cols],
                wsum[rows, cols].astype(_F64),
                wsq[rows, cols].astype(_F64),
                method,
                confidence,
                min_n,
            )
        else:
            columns, buckets = _columns(metric, counts[rows, cols], method, confidence, min_n)
        if method is IntervalMethod.BOOTSTRAP and cols.stop > cols.start:
            level_weights = counts[rows, cols] if not weighted else wsum[rows, cols]  # type: ignore[index]
            _bootstrap_columns(metric, columns, level_weights, confidence, resamples, seed)
        tables[name] = ScoreTable(
            metric=metric,
            by=by_t,
            every=period,
            keys=keys,
            key_values=key_values,
            periods=periods,
            columns=columns,
            bucket_counts=buckets,
            method=method,
            confidence=confidence,
            weighted=weighted,
            min_n=min_n,
        )
    return tables


def _bucket_sums(metric: Metric, levels: NDArray[Any]) -> NDArray[Any]:
    """Per cell, the sum of *levels* over each bucket's levels, added lowest level first."""
    table = metric.bucket_table()
    out = np.zeros((levels.shape[0], len(metric.buckets)), dtype=levels.dtype)
    for j, b in enumerate(table):
        if b >= 0:
            out[:, b] += levels[:, j]
    return out


def _t_quantiles(df: NDArray[np.float64], confidence: float) -> NDArray[np.float64]:
    """The t quantile for each df, computed once per distinct df with :func:`t_quantile`."""
    out = np.full(df.shape, np.nan)
    ok = df > 0
    if ok.any():
        uniques, inverse = np.unique(df[ok], return_inverse=True)
        p = 0.5 + confidence / 2.0
        out[ok] = np.array([t_quantile(p, float(u)) for u in uniques])[inverse.reshape(-1)]
    return out


def _headline_intervals(
    metric: Metric,
    method: IntervalMethod,
    confidence: float,
    *,
    pos: NDArray[Any],
    neg: NDArray[Any],
    n: NDArray[Any],
    mean: NDArray[np.float64],
    sd: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The headline interval, mirroring the scalar functions of ``cxcore.scoring.stats``."""
    z = z_value(confidence)
    if method is IntervalMethod.BOOTSTRAP:
        nan = np.full(n.shape, np.nan)
        return nan, nan.copy()
    if metric.headline is Headline.NET:
        if method is IntervalMethod.ADJUSTED_WALD:
            nn = n + 3.0
            p = (pos + 0.75) / nn
            d = (neg + 0.75) / nn
        else:
            nn = n.astype(_F64)
            p = pos / nn
            d = neg / nn
        est = p - d
        half = z * np.sqrt(np.maximum(p + d - est * est, 0.0) / nn)
        return np.maximum(-100.0, 100.0 * (est - half)), np.minimum(100.0, 100.0 * (est + half))
    if metric.headline is Headline.TOP_BOX:
        return _proportion_intervals(method, z, pos, n)
    return _mean_intervals(metric, method, confidence, mean, sd, n)


def _proportion_intervals(
    method: IntervalMethod, z: float, pos: NDArray[Any], n: NDArray[Any]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    if method is IntervalMethod.WILSON:
        z2 = z * z
        p = pos / n
        denom = 1.0 + z2 / n
        center = (p + z2 / (2.0 * n)) / denom
        half = z * np.sqrt(np.maximum(p * (1.0 - p), 0.0) / n + z2 / (4.0 * n * n)) / denom
        return 100.0 * np.maximum(0.0, center - half), 100.0 * np.minimum(1.0, center + half)
    if method is IntervalMethod.ADJUSTED_WALD:
        nn = n + z * z
        p = (pos + z * z / 2.0) / nn
    else:
        nn = n.astype(_F64)
        p = pos / nn
    half = z * np.sqrt(np.maximum(p * (1.0 - p), 0.0) / nn)
    return np.maximum(0.0, 100.0 * (p - half)), np.minimum(100.0, 100.0 * (p + half))


def _mean_intervals(  # noqa: PLR0917 - a private column kernel
    metric: Metric,
    method: IntervalMethod,
    confidence: float,
    mean: NDArray[np.float64],
    sd: NDArray[np.float64],
    n: NDArray[Any],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    usable = (n > 1) & ~np.isnan(sd)
    nf = np.where(usable, n, 2).astype(_F64)
    if method is IntervalMethod.WALD:
        q = np.full(n.shape, z_value(confidence))
    else:
        q = _t_quantiles(np.where(usable, nf - 1.0, 0.0), confidence)
    half = q * sd / np.sqrt(nf)
    low = np.maximum(float(metric.low), mean - half)
    high = np.minimum(float(metric.high), mean + half)
    return np.where(usable, low, np.nan), np.where(usable, high, np.nan)


def _columns(
    metric: Metric, levels: NDArray[np.int64], method: IntervalMethod, confidence: float, min_n: int
) -> tuple[dict[str, NDArray[Any]], NDArray[np.int64]]:
    """Every number of every cell, from integer counts per level (unweighted)."""
    index = {b.name: i for i, b in enumerate(metric.buckets)}
    values = np.arange(metric.low, metric.high + 1, dtype=np.int64)
    n = levels.sum(axis=1)
    buckets = _bucket_sums(metric, levels)
    pos = buckets[:, index[metric.positive]]
    neg = buckets[:, index[metric.negative]] if metric.negative is not None else np.zeros_like(n)
    total = levels @ values
    sumsq = levels @ (values * values)
    empty = n == 0
    ns = np.where(empty, 1, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = total.astype(_F64) / ns
        if n.size and int(n.max()) * int(sumsq.max() if sumsq.size else 0) >= 1 << 62:
            spread = np.array(
                [
                    int(a) * int(b) - int(c) * int(c)
                    for a, b, c in zip(n, sumsq, total, strict=True)
                ],
                dtype=_F64,
            )
        else:
            spread = (n * sumsq - total * total).astype(_F64)
        sd = np.where(n > 1, np.sqrt(spread / (ns * (ns - 1)).astype(_F64)), np.nan)
        top_box = 100.0 * pos / ns
        net = 100.0 * (pos - neg) / ns
        shares = 100.0 * buckets / ns[:, None]
    columns = _cell_columns(
        metric,
        method,
        confidence,
        min_n,
        n=n,
        n_eff=n.astype(_F64),
        interval_n=ns,
        pos=pos,
        neg=neg,
        mean=mean,
        sd=sd,
        top_box=top_box,
        net=net,
        shares=shares,
        empty=empty,
    )
    return columns, buckets


def _weighted_columns(  # noqa: PLR0917 - a private column kernel
    metric: Metric,
    levels: NDArray[np.int64],
    weights: NDArray[np.float64],
    squares: NDArray[np.float64],
    method: IntervalMethod,
    confidence: float,
    min_n: int,
) -> tuple[dict[str, NDArray[Any]], NDArray[np.float64]]:
    """Every number of every cell, from the weight per level (Kish's effective n for intervals)."""
    index = {b.name: i for i, b in enumerate(metric.buckets)}
    n = levels.sum(axis=1)
    w = np.zeros(len(n))
    w2 = np.zeros(len(n))
    wx = np.zeros(len(n))
    for j, value in enumerate(range(metric.low, metric.high + 1)):
        w += weights[:, j]
        w2 += squares[:, j]
        wx += weights[:, j] * value
    buckets = _bucket_sums(metric, weights)
    empty = ~(w > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        n_eff = np.where(empty, 0.0, w * w / w2)
        mean = wx / w
        var = np.zeros(len(n))
        for j, value in enumerate(range(metric.low, metric.high + 1)):
            var += weights[:, j] * (value - mean) ** 2
        var = var / w
        sd = np.where(n_eff > 1, np.sqrt(var * n_eff / (n_eff - 1.0)), np.nan)
        share_pos = buckets[:, index[metric.positive]] / w
        share_neg = (
            buckets[:, index[metric.negative]] / w
            if metric.negative is not None
            else np.zeros(len(n))
        )
        pos = share_pos * n_eff
        neg = share_neg * n_eff
        top_box = 100.0 * share_pos
        net = 100.0 * (share_pos - share_neg)
        shares = 100.0 * buckets / w[:, None]
    columns = _cell_columns(
        metric,
        method,
        confidence,
        min_n,
        n=n,
        n_eff=n_eff,
        interval_n=n_eff,
        pos=pos,
        neg=neg,
        mean=mean,
        sd=sd,
        top_box=top_box,
        net=net,
        shares=shares,
        empty=empty,
    )
    return columns, buckets


def _cell_columns(
    metric: Metric,
    method: IntervalMethod,
    confidence: float,
    min_n: int,
    *,
    n: NDArray[np.int64],
    n_eff: NDArray[np.float64],
    interval_n: NDArray[Any],
    pos: NDArray[Any],
    neg: NDArray[Any],
    mean: NDArray[np.float64],
    sd: NDArray[np.float64],
    top_box: NDArray[np.float64],
    net: NDArray[np.float64],
    shares: NDArray[np.float64],
    empty: NDArray[np.bool_],
) -> dict[str, NDArray[Any]]:
    """The columns both kernels share, once they have counts (or weights) per cell.

    *interval_n* is the size the proportion intervals use: the count, with empty
    cells held at 1 so nothing divides by zero (unweighted), or Kish's effective n.
    Cells in *empty* come back blank.
    """
    if metric.headline is Headline.NET:
        headline = net
    elif metric.headline is Headline.TOP_BOX:
        headline = top_box
    else:
        headline = mean
    with np.errstate(divide="ignore", invalid="ignore"):
        low, high = _headline_intervals(
            metric, method, confidence, pos=pos, neg=neg, n=interval_n, mean=mean, sd=sd
        )
        top_low, top_high = _proportion_intervals(
            IntervalMethod.WILSON, z_value(confidence), pos, interval_n
        )
        mean_low, mean_high = _mean_intervals(metric, IntervalMethod.T, confidence, mean, sd, n_eff)
    columns: dict[str, NDArray[Any]] = {
        "n": n,
        "n_eff": n_eff,
        "score": headline,
        "low": low,
        "high": high,
        "low_n": n_eff < min_n,
        "mean": mean,
        "sd": sd,
        "mean_low": mean_low,
        "mean_high": mean_high,
        "top_box": top_box,
        "top_box_low": top_low,
        "top_box_high": top_high,
        **{f"pct_{b.name}": shares[:, i] for i, b in enumerate(metric.buckets)},
    }
    _blank(columns, empty)
    return columns


def _blank(columns: dict[str, NDArray[Any]], empty: NDArray[np.bool_]) -> None:
    """Empty cells: every number NaN, flagged low-n."""
    if not empty.any():
        return
    for name, column in columns.items():
        if name in ("n", "n_eff"):
            continue
        if name == "low_n":
            columns[name] = column | empty
        else:
            columns[name] = np.where(empty, np.nan, column)


def _bootstrap_columns(  # noqa: PLR0917 - a private column kernel
    metric: Metric,
    columns: dict[str, NDArray[Any]],
    level_weights: NDArray[Any],
    confidence: float,
    resamples: int,
    seed: int,
) -> None:
    low = np.full(len(level_weights), np.nan)
    high = np.full(len(level_weights), np.nan)
    n_eff = columns["n_eff"]
    for i in range(len(level_weights)):
        if n_eff[i] <= 0:
            continue
        size = round(float(n_eff[i]))
        interval = bootstrap_interval(
            metric,
            level_weights[i].tolist(),
            n=size,
            confidence=confidence,
            resamples=resamples,
            seed=seed,
        )
        if interval is not None:
            low[i], high[i] = interval
    columns["low"] = low
    columns["high"] = high
