"""Comparing two cells (two groups, or one group in two periods), and each segment with the rest."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

import attrs

from cxcore.display import (
    DEFAULT_MAX_ROWS,
    Column,
    Table,
    TableDisplay,
    fmt_interval,
    fmt_p_value,
    metric_definition,
    number_format,
    score_columns,
    score_digits,
)
from cxcore.errors import CxError
from cxcore.metrics import Headline, MetricRegistry, metric_registry
from cxcore.model.frozendict import FrozenDict
from cxcore.scoring.cells import Cell, resolve_method
from cxcore.scoring.stats import (
    Difference,
    IntervalMethod,
    mean_difference_test,
    nps_difference_test,
    nps_interval,
    proportion_difference_test,
    proportion_interval,
    t_interval,
)

if TYPE_CHECKING:
    from cxcore.scoring.batch import ScoreTable

__all__ = ["RestComparison", "SegmentVersusRest", "compare", "compare_with_rest"]


def _effective(cell: Cell, bucket: str) -> float:
    """The count in *bucket*: as counted when unweighted, else its share of the effective n."""
    count = cell.counts[bucket]
    if isinstance(count, int) and cell.n_eff == cell.n:
        return count
    share = cell.shares[bucket]
    return 0.0 if share is None else share / 100.0 * cell.n_eff


def compare(
    a: Cell, b: Cell, *, confidence: float | None = None, registry: MetricRegistry | None = None
) -> Difference:
    """The difference between two cells of one metric (A minus B), with its interval and p-value.

    A net score (NPS) is compared with a z-test on the adjusted-Wald
    estimates; a top-box share with the two-proportion z-test (Agresti-Caffo
    interval); a mean with Welch's t-test. Weighted cells use Kish's
    effective n. Compare two groups (two stores), or the same group in two
    periods (before and after a process change).

    >>> from cxcore.metrics import get_metric
    >>> from cxcore.scoring.cells import cell_from_levels
    >>> nps = get_metric("nps")
    >>> a = cell_from_levels(nps, [20, 0, 0, 0, 0, 0, 0, 30, 0, 50, 0])
    >>> b = cell_from_levels(nps, [60, 0, 0, 0, 0, 0, 0, 120, 0, 120, 0])
    >>> d = compare(a, b)
    >>> d.difference, round(d.statistic, 3), round(d.p_value, 3)
    (10.0, 1.058, 0.29)

    Args:
        a: The first cell.
        b: The second cell.
        confidence: The interval's confidence level (that of the cells by default).
        registry: Where the metric is defined (the process-wide registry by default).

    Raises:
        CxError: If the cells are of different metrics, or one has too few answers.

    .. versionadded:: 0.1.0
    """
    if a.metric != b.metric:
        msg = f"cannot compare a {a.metric!r} cell with a {b.metric!r} cell"
        raise CxError(msg)
    metric = (metric_registry() if registry is None else registry).get(a.metric)
    level = a.confidence if confidence is None else confidence
    for name, cell in (("A", a), ("B", b)):
        if cell.n == 0:
            msg = f"cell {name} ({dict(cell.group)!r}, {cell.period}) has no answers"
            raise CxError(msg)
    if metric.headline is Headline.NET:
        assert metric.negative is not None  # noqa: S101 - checked by the metric
        return nps_difference_test(
            (_effective(a, metric.positive), _effective(a, metric.negative), a.n_eff),
            (_effective(b, metric.positive), _effective(b, metric.negative), b.n_eff),
            confidence=level,
        )
    if metric.headline is Headline.TOP_BOX:
        return proportion_difference_test(
            (_effective(a, metric.positive), a.n_eff),
            (_effective(b, metric.positive), b.n_eff),
            confidence=level,
        )
    if a.sd is None or b.sd is None or a.mean is None or b.mean is None:
        msg = "comparing means needs at least 2 answers in each cell"
        raise CxError(msg)
    return mean_difference_test((a.mean, a.sd, a.n_eff), (b.mean, b.sd, b.n_eff), confidence=level)


@attrs.frozen
class SegmentVersusRest:
    """One segment against all the other answers of its table.

    Attributes:
        cell: The segment's cell.
        difference: The segment minus the rest, or ``None`` if either has no answers
            (or, for a mean, fewer than 2).
        p_adjusted: The p-value adjusted for the number of segments compared
            (``None`` without a difference).
        significant: Whether the adjusted p-value is below the level: the
            segment's score differs from the rest's.
        side: ``"above"`` or ``"below"`` the rest when significant (on the
            metric's scale, whatever its direction), else ``None``.

    .. versionadded:: 0.1.0
    """

    cell: Cell
    difference: Difference | None
    p_adjusted: float | None
    significant: bool
    side: Literal["above", "below"] | None


@attrs.frozen
class RestComparison(TableDisplay):
    """Every segment of a score table compared with the rest of the answers.

    Attributes:
        metric: The metric's name.
        overall: The cell of all the table's answers together.
        segments: One comparison per cell of the table, in the table's order.
        adjust: How p-values were adjusted for comparing many segments.
        confidence: The confidence level (the significance level is ``1 - confidence``).

    .. versionadded:: 0.1.0
    """

    metric: str
    overall: Cell
    segments: tuple[SegmentVersusRest, ...]
    adjust: Literal["holm", "none"]
    confidence: float

    def __repr__(self) -> str:
        return self.display_text()

    def display_table(self, *, max_rows: int | None = DEFAULT_MAX_ROWS) -> Table:
        """A row per segment: n, score, interval, difference from the rest, adjusted p, verdict.

        Args:
            max_rows: Rows shown at most (the first and last halves), ``None`` for all.
        """
        registry = metric_registry()
        metric = registry.get(self.metric) if self.metric in registry else None
        by = self.segments[0].cell.by if self.segments else ()
        digits = score_digits(metric) if metric is not None else 2
        columns = [Column(name) for name in by]
        notes = []
        if metric is not None:
            columns += score_columns(metric, self.confidence)
            notes.append(metric_definition(metric))
        else:
            columns += [
                Column("n", align="right"),
                Column("score", format=number_format(2), align="right"),
                Column("interval", format=fmt_interval, align="right"),
            ]
        columns += [
            Column("vs rest", format=number_format(digits, signed=True), align="right"),
            Column("p (adj.)", format=fmt_p_value, align="right"),
            Column("differs"),
        ]
        rows = [
            (
                *s.cell.key,
                s.cell.n,
                s.cell.score,
                (s.cell.low, s.cell.high),
                None if s.difference is None else s.difference.difference,
                s.p_adjusted,
                s.side if s.side is not None else ("no" if s.difference is not None else "-"),
            )
            for s in self.segments
        ]
        overall = self.overall
        how = "Holm-adjusted" if self.adjust == "holm" else "unadjusted"
        notes.insert(
            0,
            f"Each segment against all other answers; {how} p-values, significant below "
            f"{round(1 - self.confidence, 12):g}. Overall: {overall.score:.{digits}f} "
            f"{fmt_interval((overall.low, overall.high), digits)}, n = {overall.n:,}."
            if overall.score is not None and overall.low is not None
            else f"Each segment against all other answers; {how} p-values.",
        )
        name = metric.title if metric is not None else self.metric
        return Table(
            title=f"{name}: each {', '.join(by) or 'segment'} against the rest",
            columns=columns,
            rows=rows,
            marks=[s.cell.low_n for s in self.segments],
            mark_note="few answers: read with care",
            notes=notes,
            max_rows=max_rows,
        )


def _holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment of *p_values* (same order as given)."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    m = len(p_values)
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def _pooled(cells: list[Cell], template: Cell, *, weighted: bool) -> Cell:
    """The cell of the answers of *cells* together (from counts, sums and squares)."""
    n = sum(c.n for c in cells)
    names = list(template.counts)
    if weighted:
        counts = {k: float(sum(c.counts[k] for c in cells)) for k in names}
    else:
        counts = {k: sum(int(c.counts[k]) for c in cells) for k in names}
    total_weight = float(sum(counts.values()))
    n_eff = float(sum(c.n_eff for c in cells)) if weighted else float(n)
    mean = sd = None
    if n_eff > 0:
        # Each cell's mean counts by its answers (by its total weight, when weighted).
        totals = [float(sum(c.counts.values())) if weighted else float(c.n) for c in cells]
        mean = sum(t * (c.mean or 0.0) for t, c in zip(totals, cells, strict=True)) / sum(totals)
        sizes = [c.n_eff if weighted else float(c.n) for c in cells]
        size = sum(sizes)
        if size > 1:
            s2 = sum(
                (w - 1) * (c.sd or 0.0) ** 2 + w * (c.mean or 0.0) ** 2
                for w, c in zip(sizes, cells, strict=True)
                if w > 0
            )
            sd = math.sqrt(max(s2 - size * mean * mean, 0.0) / (size - 1))
    shares: dict[str, float | None] = {
        k: (100.0 * v / total_weight if total_weight else None) for k, v in counts.items()
    }
    return attrs.evolve(
        template,
        key=(),
        by=(),
        n=n,
        n_eff=n_eff,
        counts=FrozenDict(counts),
        shares=FrozenDict(shares),
        mean=mean,
        sd=sd,
        score=None,
        low=None,
        high=None,
        low_n=False,
    )


def _score_pooled(table: ScoreTable, pooled: Cell, confidence: float) -> Cell:
    """The pooled cell with its headline score and interval, as the scorer forms them."""
    metric = table.metric
    method = table.method
    if method is IntervalMethod.BOOTSTRAP:  # needs the answers' levels: use the default method
        method = resolve_method(metric, IntervalMethod.AUTO)
    n = pooled.n_eff
    if n <= 0:
        return pooled
    pos = _effective(pooled, metric.positive)
    neg = _effective(pooled, metric.negative) if metric.negative is not None else 0.0
    interval: tuple[float, float] | None
    if metric.headline is Headline.NET:
        score = 100.0 * (pos - neg) / n
        interval = nps_interval(pos, neg, n, method=method, confidence=confidence)
    elif metric.headline is Headline.TOP_BOX:
        score = 100.0 * pos / n
        interval = proportion_interval(pos, n, method=method, confidence=confidence)
    else:
        score = pooled.mean if pooled.mean is not None else math.nan
        interval = (
            t_interval(
                score,
                pooled.sd,
                n,
                confidence=confidence,
                bounds=(float(metric.low), float(metric.high)),
                method=method,
            )
            if pooled.sd is not None
            else None
        )
    return attrs.evolve(
        pooled,
        score=score,
        low=None if interval is None else interval[0],
        high=None if interval is None else interval[1],
        method=method,
        confidence=confidence,
        low_n=False,
    )


def compare_with_rest(
    table: ScoreTable,
    *,
    adjust: Literal["holm", "none"] = "holm",
    confidence: float | None = None,
) -> RestComparison:
    """Compare each segment of a score table with all the table's other answers.

    This is what a ranking should say instead of an order: whether a store's
    score differs from everyone else's, beyond chance. Each segment is tested
    against the rest of the answers (not against the overall score, which
    contains the segment), with the test :func:`compare` uses, and the p-values
    are adjusted with Holm's method for comparing many segments at once (or
    not, with ``adjust="none"``). Segments whose intervals overlap are not
    ordered by this; only a significant difference from the rest is reported.

    >>> from cxcore.scoring import ResponseFrame, score
    >>> frame = ResponseFrame.from_columns({
    ...     "metric": ["nps"] * 300,
    ...     "score": [10] * 80 + [3] * 20 + [9] * 50 + [5] * 50 + [2] * 70 + [9] * 30,
    ...     "store": ["A"] * 100 + ["B"] * 100 + ["C"] * 100})
    >>> result = compare_with_rest(score(frame, "nps", by="store"))
    >>> [(s.cell.key, s.side) for s in result.segments]
    [(('A',), 'above'), (('B',), None), (('C',), 'below')]
    >>> result  # doctest: +NORMALIZE_WHITESPACE
    Net Promoter Score: each store against the rest
    store    n    NPS    95% interval  vs rest  p (adj.)  differs
    -----  ---  -----  --------------  -------  --------  -------
    A      100   60.0    [42.7, 73.8]    +80.0    <0.001  above
    B      100    0.0   [-19.2, 19.2]    -10.0     0.412  no
    C      100  -40.0  [-56.5, -21.2]    -70.0    <0.001  below
    Each segment against all other answers; Holm-adjusted p-values, significant below
    0.05. Overall: 6.7 [-4.6, 17.8], n = 300.
    Net Promoter Score: % promoter (9-10) minus % detractor (0-6), from -100 to 100;
    higher is better.

    The overall cell's score and interval are those of :func:`score` with no
    ``by``; weighted tables pool each side's effective n (an approximation).

    Args:
        table: A score table by one or more dimensions, not by period.
        adjust: ``"holm"`` (the default) or ``"none"``.
        confidence: The level of the tests (the table's by default).

    Raises:
        CxError: If the table is by period, or *adjust* is not known.

    .. versionadded:: 0.1.0
    """
    if adjust not in ("holm", "none"):
        msg = f"adjust {adjust!r} is not a known adjustment (expected 'holm' or 'none')"
        raise CxError(msg)
    if table.every is not None:
        msg = (
            f"the table is by {table.every.value}: compare segments within one period "
            "(score without every=, or select the period's answers first)"
        )
        raise CxError(msg)
    level = table.confidence if confidence is None else confidence
    cells = list(table)
    if not cells:
        msg = "the table has no cells to compare"
        raise CxError(msg)
    overall = _score_pooled(table, _pooled(cells, cells[0], weighted=table.weighted), level)
    metric = table.metric
    differences: list[Difference | None] = []
    for i, cell in enumerate(cells):
        rest = _pooled(cells[:i] + cells[i + 1 :], cell, weighted=table.weighted)
        try:
            differences.append(compare(cell, rest, confidence=level) if cell.n else None)
        except CxError:
            differences.append(None)
    tested = [d.p_value for d in differences if d is not None]
    adjusted = iter(_holm(tested) if adjust == "holm" else tested)
    alpha = round(1.0 - level, 12)
    segments = []
    for cell, d in zip(cells, differences, strict=True):
        if d is None:
            segments.append(SegmentVersusRest(cell, None, None, significant=False, side=None))
            continue
        p = next(adjusted)
        significant = p < alpha
        side: Literal["above", "below"] | None = None
        if significant:
            side = "above" if d.difference > 0 else "below"
        segments.append(SegmentVersusRest(cell, d, p, significant=significant, side=side))
    return RestComparison(
        metric=metric.name,
        overall=overall,
        segments=tuple(segments),
        adjust=adjust,
        confidence=level,
    )
