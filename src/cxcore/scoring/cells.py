"""One cell of a score table: a score with its counts, interval and low-n flag.

The formulas here are the reference: the batch scorer computes the same
numbers column-wise, operation for operation, and the live scoreboard calls
:func:`cell_from_levels` directly, so both agree to the last bit.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeAlias

import attrs

from cxcore.display import (
    DEFAULT_MAX_ROWS,
    Column,
    Table,
    TableDisplay,
    fmt_interval,
    metric_definition,
    number_format,
    score_columns,
    score_digits,
)
from cxcore.errors import CxError
from cxcore.metrics import Headline, Metric, metric_registry
from cxcore.model.frozendict import FrozenDict
from cxcore.scoring.stats import (
    IntervalMethod,
    nps_interval,
    proportion_interval,
    t_interval,
)

if TYPE_CHECKING:
    from cxcore.model.interaction import Scalar

__all__ = [
    "DEFAULT_MIN_N",
    "Cell",
    "GroupValue",
    "Period",
    "bootstrap_interval",
    "cell_from_levels",
    "day_number",
    "empty_cell",
    "period_start",
    "resolve_method",
]

DEFAULT_MIN_N = 30
"""Cells with fewer answers (or a smaller effective n) than this are flagged ``low_n``."""

GroupValue: TypeAlias = "Scalar | None"
"""The value of one grouping dimension in a cell (``None`` where it was missing)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DATE = date(1970, 1, 1)


class Period(enum.StrEnum):
    """A calendar bucket for scores over time. Weeks start on Monday (ISO 8601).

    .. versionadded:: 0.1.0
    """

    DAY = "day"
    WEEK = "week"
    MONTH = "month"


def day_number(at: datetime, utc_offset: timedelta = timedelta(0)) -> int:
    """Days since 1970-01-01 of the aware datetime *at*, in the zone *utc_offset* from UTC.

    Raises:
        CxError: If *at* has no time zone.

    .. versionadded:: 0.1.0
    """
    if at.tzinfo is None or at.utcoffset() is None:
        msg = f"{at.isoformat()} has no time zone (expected an aware datetime)"
        raise CxError(msg)
    return (at - _EPOCH + utc_offset) // timedelta(days=1)


def period_start(day: int, period: Period) -> int:
    """The day number on which the *period* holding *day* starts.

    .. versionadded:: 0.1.0
    """
    if period is Period.DAY:
        return day
    if period is Period.WEEK:
        return day - (day + 3) % 7  # 1970-01-01 was a Thursday
    first = (_EPOCH_DATE + timedelta(days=day)).replace(day=1)
    return (first - _EPOCH_DATE).days


def _as_date(day: int) -> date:
    return _EPOCH_DATE + timedelta(days=day)


def resolve_method(metric: Metric, method: IntervalMethod | str) -> IntervalMethod:
    """The interval method for *metric*'s headline, checking that it applies.

    Raises:
        CxError: If *method* does not apply to the headline kind.

    .. versionadded:: 0.1.0
    """
    try:
        chosen = IntervalMethod(method)
    except ValueError:
        known = ", ".join(m.value for m in IntervalMethod)
        msg = f"interval method {method!r} is not known (expected one of {known})"
        raise CxError(msg) from None
    allowed_by_headline = {
        Headline.NET: (IntervalMethod.ADJUSTED_WALD, IntervalMethod.WALD, IntervalMethod.BOOTSTRAP),
        Headline.TOP_BOX: (
            IntervalMethod.WILSON,
            IntervalMethod.ADJUSTED_WALD,
            IntervalMethod.WALD,
            IntervalMethod.BOOTSTRAP,
        ),
        Headline.MEAN: (IntervalMethod.T, IntervalMethod.WALD, IntervalMethod.BOOTSTRAP),
    }
    allowed = allowed_by_headline[metric.headline]
    if chosen is IntervalMethod.AUTO:
        return allowed[0]
    if chosen not in allowed:
        names = ", ".join(m.value for m in allowed)
        msg = (
            f"interval method {chosen.value!r} does not apply to metric {metric.name!r} "
            f"(a {metric.headline.value} score); use one of: auto, {names}"
        )
        raise CxError(msg)
    return chosen


@attrs.frozen(kw_only=True)
class Cell(TableDisplay):
    """One score: a metric, for one group and period, with everything needed to read it honestly.

    Shares, the headline of a net or top-box metric, and their intervals are
    percentages (NPS from -100 to 100; CSAT top-2-box and CES % agree from 0 to
    100); a mean and its interval are on the metric's own scale. A cell with
    no answers has ``n == 0`` and ``None`` for every number.

    Attributes:
        metric: The metric's name.
        by: The grouping dimensions, in order.
        key: This cell's value of each dimension in ``by`` (``None`` where missing).
        period: The first day of the cell's day, week or month, if grouped by time.
        n: The number of answers.
        n_eff: Kish's effective n (equal to n when unweighted).
        score: The headline score (raw, never adjusted).
        low: Lower end of the headline's interval.
        high: Upper end of the headline's interval.
        low_n: Whether n (or n_eff) is below the threshold for a reliable score.
        counts: Answers (or weight) in each bucket of the metric.
        shares: Percent of answers in each bucket.
        mean: The mean answer.
        sd: The sample standard deviation of the answers.
        mean_low: Lower end of the mean's t-interval.
        mean_high: Upper end of the mean's t-interval.
        top_box: Percent in the metric's positive bucket (promoters, top-2-box, agree).
        top_box_low: Lower end of its Wilson interval.
        top_box_high: Upper end of its Wilson interval.
        method: The headline interval's method.
        confidence: The confidence level of the intervals.

    ``repr`` is one short line; ``str`` (and Jupyter) show a small table with
    the share of each bucket and the metric's definition:

    >>> from cxcore.metrics import get_metric
    >>> cell = cell_from_levels(get_metric("nps"), [20, 0, 0, 0, 0, 0, 0, 30, 0, 50, 0],
    ...                         by=("store",), key=("A",))
    >>> cell
    Cell(nps, store='A': 30.0 [14.1, 44.2], n=100)
    >>> print(cell)  # doctest: +NORMALIZE_WHITESPACE
    Net Promoter Score, store = A
      n   NPS  95% interval  % detractor  % passive  % promoter  mean
    ---  ----  ------------  -----------  ---------  ----------  ----
    100  30.0  [14.1, 44.2]         20.0       30.0        50.0  6.60
    Net Promoter Score: % promoter (9-10) minus % detractor (0-6), from -100 to 100;
    higher is better. 95% adjusted-wald intervals.

    .. versionadded:: 0.1.0
    """

    metric: str
    by: tuple[str, ...] = ()
    key: tuple[GroupValue, ...] = ()
    period: date | None = None
    n: int
    n_eff: float
    score: float | None
    low: float | None
    high: float | None
    low_n: bool
    counts: FrozenDict[str, float]
    shares: FrozenDict[str, float | None]
    mean: float | None
    sd: float | None
    mean_low: float | None
    mean_high: float | None
    top_box: float | None
    top_box_low: float | None
    top_box_high: float | None
    method: IntervalMethod
    confidence: float

    def __repr__(self) -> str:
        where = "".join(
            f", {name}={value!r}" for name, value in zip(self.by, self.key, strict=True)
        )
        if self.period is not None:
            where += f", period={self.period.isoformat()}"
        if self.n == 0:
            return f"Cell({self.metric}{where}: no answers)"
        digits = 1
        metric = self._definition()
        if metric is not None:
            digits = score_digits(metric)
        score = "—" if self.score is None else f"{self.score:.{digits}f}"
        interval = fmt_interval((self.low, self.high), digits)
        low_n = ", low n" if self.low_n else ""
        return f"Cell({self.metric}{where}: {score} {interval}, n={self.n:,}{low_n})"

    def _definition(self) -> Metric | None:
        registry = metric_registry()
        return registry.get(self.metric) if self.metric in registry else None

    def display_table(self, *, max_rows: int | None = DEFAULT_MAX_ROWS) -> Table:
        """The cell as a one-row table: n, score, interval, bucket shares, the definition.

        Args:
            max_rows: Unused (one row); accepted as every result's display takes it.
        """
        metric = self._definition()
        parts = [f"{name} = {value}" for name, value in zip(self.by, self.key, strict=True)]
        if self.period is not None:
            parts.append(f"period {self.period.isoformat()}")
        title = metric.title if metric is not None else self.metric
        title = ", ".join([title, *parts])
        share = number_format(1)
        if metric is not None:
            columns = list(score_columns(metric, self.confidence))
            notes: tuple[str, ...] = (
                metric_definition(metric, method=self.method, confidence=self.confidence),
            )
        else:
            columns = [
                Column("n", align="right"),
                Column(self.metric.upper(), format=number_format(2), align="right"),
                Column(f"{100 * self.confidence:g}% interval", format=fmt_interval, align="right"),
            ]
            notes = ()
        columns += [Column(f"% {name}", format=share, align="right") for name in self.shares]
        row = [self.n, self.score, (self.low, self.high), *self.shares.values()]
        if metric is not None and metric.headline is not Headline.MEAN:
            columns.append(Column("mean", format=number_format(2), align="right"))
            row.append(self.mean)
        return Table(
            title=title,
            columns=columns,
            rows=[row],
            marks=[self.low_n],
            mark_note="few answers: read with care",
            notes=notes,
            max_rows=max_rows,
        )

    @property
    def group(self) -> FrozenDict[str, GroupValue]:
        """The group as a mapping of dimension to value."""
        return FrozenDict(zip(self.by, self.key, strict=True))

    @property
    def empty(self) -> bool:
        """Whether the cell has no answers."""
        return self.n == 0

    def to_dict(self) -> dict[str, Any]:
        """The cell as plain JSON-ready data: group keys, period, then the numbers."""
        data: dict[str, Any] = dict(zip(self.by, self.key, strict=True))
        if self.period is not None:
            data["period"] = self.period.isoformat()
        data.update(
            metric=self.metric,
            n=self.n,
            score=self.score,
            low=self.low,
            high=self.high,
            low_n=self.low_n,
            n_eff=self.n_eff,
            mean=self.mean,
            mean_low=self.mean_low,
            mean_high=self.mean_high,
            top_box=self.top_box,
            top_box_low=self.top_box_low,
            top_box_high=self.top_box_high,
        )
        data.update({f"n_{name}": count for name, count in self.counts.items()})
        data.update({f"pct_{name}": share for name, share in self.shares.items()})
        return data


def empty_cell(
    metric: Metric,
    *,
    by: tuple[str, ...],
    key: tuple[GroupValue, ...],
    period: date | None,
    method: IntervalMethod,
    confidence: float,
) -> Cell:
    """A cell with no answers: n is 0, every number is ``None``."""
    return Cell(
        metric=metric.name,
        by=by,
        key=key,
        period=period,
        n=0,
        n_eff=0.0,
        score=None,
        low=None,
        high=None,
        low_n=True,
        counts=FrozenDict({b.name: 0 for b in metric.buckets}),
        shares=FrozenDict(dict.fromkeys((b.name for b in metric.buckets), None)),
        mean=None,
        sd=None,
        mean_low=None,
        mean_high=None,
        top_box=None,
        top_box_low=None,
        top_box_high=None,
        method=method,
        confidence=confidence,
    )


def bootstrap_interval(
    metric: Metric,
    level_counts: Sequence[float],
    *,
    n: int | None = None,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float] | None:
    """A percentile bootstrap interval of *metric*'s headline score.

    Resampling n answers with replacement is a multinomial draw over the
    levels of the scale, so the bootstrap runs on the counts without
    touching the rows. With weights, pass the weight per level and the
    (rounded) effective n.

    Args:
        metric: The metric.
        level_counts: Answers (or weight) at each level, lowest first.
        n: Answers per resample; by default the sum of *level_counts*.
        confidence: The confidence level.
        resamples: How many resamples.
        seed: The seed of the random generator, for reproducible intervals.

    Returns:
        ``(low, high)`` on the headline's scale, or ``None`` with no answers.

    .. versionadded:: 0.1.0
    """
    import numpy as np  # noqa: PLC0415 - numpy is imported on first use

    counts = np.asarray(level_counts, dtype=np.float64)
    if counts.shape != (len(metric.levels),):
        msg = (
            f"{counts.shape[0]} level counts given for metric {metric.name!r} "
            f"with {len(metric.levels)} levels"
        )
        raise CxError(msg)
    total = float(counts.sum())
    size = round(total) if n is None else n
    if size <= 0 or total <= 0:
        return None
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(size, counts / total, size=resamples)
    table = np.asarray(metric.bucket_table())
    levels = np.arange(metric.low, metric.high + 1, dtype=np.float64)
    if metric.headline is Headline.MEAN:
        stat = draws @ levels / size
    else:
        index = {b.name: i for i, b in enumerate(metric.buckets)}
        pos = draws[:, table == index[metric.positive]].sum(axis=1)
        stat = 100.0 * pos / size
        if metric.headline is Headline.NET:
            assert metric.negative is not None  # noqa: S101 - checked by the metric
            stat = stat - 100.0 * draws[:, table == index[metric.negative]].sum(axis=1) / size
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(stat, [alpha, 1.0 - alpha])
    return (float(low), float(high))


def cell_from_levels(
    metric: Metric,
    level_counts: Sequence[int],
    *,
    by: tuple[str, ...] = (),
    key: tuple[GroupValue, ...] = (),
    period: date | None = None,
    method: IntervalMethod | str = IntervalMethod.AUTO,
    confidence: float = 0.95,
    min_n: int = DEFAULT_MIN_N,
    resamples: int = 2000,
    seed: int = 0,
) -> Cell:
    """Score one group from its answer count at each level of the scale.

    This is the reference computation; :func:`~cxcore.scoring.score` gives
    the same numbers column-wise.

    >>> from cxcore.metrics import get_metric
    >>> levels = [20, 0, 0, 0, 0, 0, 0, 30, 0, 50, 0]   # 0..10
    >>> cell = cell_from_levels(get_metric("nps"), levels)
    >>> cell.score, round(cell.low, 2), round(cell.high, 2), dict(cell.counts)
    (30.0, 14.05, 44.2, {'detractor': 20, 'passive': 30, 'promoter': 50})

    Args:
        metric: The metric.
        level_counts: Answers at each level, lowest first.
        by: The grouping dimensions.
        key: The group's value of each dimension.
        period: The first day of the cell's period.
        method: The headline interval's method (see :class:`IntervalMethod`).
        confidence: The confidence level.
        min_n: Below this many answers the cell is flagged ``low_n``.
        resamples: Resamples for the bootstrap method.
        seed: Seed for the bootstrap method.

    Raises:
        CxError: If the counts do not match the scale, or the method does not apply.

    .. versionadded:: 0.1.0
    """
    resolved = resolve_method(metric, method)
    levels = metric.levels
    if len(level_counts) != len(levels):
        msg = (
            f"{len(level_counts)} level counts given for metric {metric.name!r} "
            f"with {len(levels)} levels"
        )
        raise CxError(msg)
    n = 0
    total = 0
    sumsq = 0
    bucket_counts = [0] * len(metric.buckets)
    for value, count, bucket in zip(levels, level_counts, metric.bucket_table(), strict=True):
        n += count
        total += count * value
        sumsq += count * value * value
        if bucket >= 0:
            bucket_counts[bucket] += count
    if n == 0:
        return empty_cell(
            metric, by=by, key=key, period=period, method=resolved, confidence=confidence
        )
    index = {b.name: i for i, b in enumerate(metric.buckets)}
    pos = bucket_counts[index[metric.positive]]
    neg = bucket_counts[index[metric.negative]] if metric.negative is not None else 0
    mean = float(total) / n
    sd = math.sqrt(float(n * sumsq - total * total) / float(n * (n - 1))) if n > 1 else None
    bounds = (float(metric.low), float(metric.high))
    mean_ci = (
        t_interval(mean, sd, n, confidence=confidence, bounds=bounds) if sd is not None else None
    )
    top_ci = proportion_interval(pos, n, confidence=confidence)
    assert top_ci is not None  # noqa: S101 - n > 0
    top_box = 100.0 * pos / n
    headline: tuple[float, float] | None
    match metric.headline:
        case Headline.NET:
            score = 100.0 * (pos - neg) / n
        case Headline.TOP_BOX:
            score = top_box
        case Headline.MEAN:
            score = mean
    if resolved is IntervalMethod.BOOTSTRAP:
        headline = bootstrap_interval(
            metric, level_counts, confidence=confidence, resamples=resamples, seed=seed
        )
    elif metric.headline is Headline.NET:
        headline = nps_interval(pos, neg, n, method=resolved, confidence=confidence)
    elif metric.headline is Headline.TOP_BOX:
        headline = proportion_interval(pos, n, method=resolved, confidence=confidence)
    elif sd is not None:
        headline = t_interval(mean, sd, n, confidence=confidence, bounds=bounds, method=resolved)
    else:
        headline = None
    return Cell(
        metric=metric.name,
        by=by,
        key=key,
        period=period,
        n=n,
        n_eff=float(n),
        score=score,
        low=None if headline is None else headline[0],
        high=None if headline is None else headline[1],
        low_n=n < min_n,
        counts=FrozenDict({b.name: c for b, c in zip(metric.buckets, bucket_counts, strict=True)}),
        shares=FrozenDict(
            {b.name: 100.0 * c / n for b, c in zip(metric.buckets, bucket_counts, strict=True)}
        ),
        mean=mean,
        sd=sd,
        mean_low=None if mean_ci is None else mean_ci[0],
        mean_high=None if mean_ci is None else mean_ci[1],
        top_box=top_box,
        top_box_low=top_ci[0],
        top_box_high=top_ci[1],
        method=resolved,
        confidence=confidence,
    )
