"""Plots of scores with matplotlib: a trend with its band, a ranking that stays honest, bucket bars.

matplotlib (in the ``notebook`` extra) is imported the first time a plot is
drawn, so ``import cxcore.plots`` costs nothing. Every function draws on the
``ax`` you give it (or on a new figure's axes), and returns that
:class:`~matplotlib.axes.Axes`; labels come from the metric registry (the
metric's title, its buckets), and the metric's direction decides which way is
better: a ranking puts the best at the top, and an axis of a "lower is better"
metric is reversed so that better is always up or to the right.

>>> import matplotlib
>>> matplotlib.use("Agg")
>>> from cxcore.scoring import ResponseFrame, score
>>> frame = ResponseFrame.from_columns({
...     "metric": ["nps"] * 6, "score": [10, 9, 3, 9, 7, 0],
...     "store": ["A", "A", "A", "B", "B", "B"]})
>>> ax = bucket_bars(score(frame, "nps", by="store"))
>>> len(ax.patches)  # 2 stores x 3 buckets
6
>>> import matplotlib.pyplot as plt
>>> plt.close(ax.figure)

.. versionadded:: 0.1.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

from cxcore.errors import CxError
from cxcore.metrics import Headline, Metric, metric_registry
from cxcore.model.survey import Direction
from cxcore.scoring._optional import optional_module

if TYPE_CHECKING:
    from cxcore.scoring.batch import ScoreTable
    from cxcore.scoring.cells import Cell, GroupValue
    from cxcore.scoring.comparison import RestComparison

__all__ = ["COLORS", "MAX_TREND_GROUPS", "bucket_bars", "segment_ranking", "trend"]

COLORS = {
    "above": "#1a7f37",
    "below": "#cf222e",
    "same": "#6e7781",
    "positive": "#2da44e",
    "neutral": "#d0d7de",
    "negative": "#e5534b",
    "line": "#0969da",
}
"""The colours the plots use: significantly above / below the rest, not different, buckets."""

MAX_TREND_GROUPS = 8
"""A trend draws at most this many groups unless they are chosen with ``groups=``."""

_LEGEND_INSIDE = 3
"""A trend of more groups puts its legend beside the plot: inside, it would hide lines."""


def _pyplot(purpose: str) -> Any:  # noqa: ANN401 - the matplotlib.pyplot module
    optional_module("matplotlib", purpose)
    return optional_module("matplotlib.pyplot", purpose)


def _axes(ax: Any, purpose: str) -> Any:  # noqa: ANN401 - a matplotlib Axes
    if ax is not None:
        return ax
    _, new = _pyplot(purpose).subplots()
    return new


def _better(metric: Metric) -> bool:
    """Whether higher scores are better."""
    return metric.direction is Direction.HIGHER_IS_BETTER


def _score_label(metric: Metric) -> str:
    unit = "" if metric.headline is Headline.MEAN else " (%)"
    if metric.headline is Headline.NET:
        unit = ""
    better = "higher" if _better(metric) else "lower"
    return f"{metric.title}{unit}, {better} is better"


def _metric_of(table: ScoreTable | Sequence[Cell]) -> Metric:
    if not isinstance(table, Sequence):
        return table.metric
    names = sorted({c.metric for c in table})
    if len(names) != 1:
        msg = f"cells of one metric are needed to draw buckets, not of {names!r}"
        raise CxError(msg)
    registry = metric_registry()
    if names[0] not in registry:
        msg = f"metric {names[0]!r} of the cells is not registered (pass its score table instead)"
        raise CxError(msg)
    return registry.get(names[0])


def _group_label(key: Sequence[GroupValue]) -> str:
    return " / ".join("(missing)" if v is None else str(v) for v in key) or "overall"


def _nan(value: float | None) -> float:
    return math.nan if value is None else value


def trend(
    table: ScoreTable,
    *,
    ax: Any = None,  # noqa: ANN401 - a matplotlib Axes
    groups: Sequence[Sequence[GroupValue] | GroupValue] | None = None,
    band: bool = True,
) -> Any:  # noqa: ANN401 - a matplotlib Axes
    """A score over time: a line per group, its interval as a band, low-n periods hollow.

    Args:
        table: A score table by period (``score(..., every="week")``), with or
            without dimensions.
        ax: The axes to draw on (a new figure's by default).
        groups: The groups to draw (keys in ``by`` order; a single value for one
            dimension). By default every group, if there are at most
            :data:`MAX_TREND_GROUPS`.
        band: Shade each group's interval.

    Returns:
        The axes drawn on, holding per group one line (a marker per period), one band
        (if *band*), and one more line of hollow markers if a period is low n.

    Raises:
        CxError: If the table is not by period, a group is not in it, or there
            are too many groups to draw without choosing.

    .. versionadded:: 0.1.0
    """
    if table.every is None:
        msg = "a trend needs a table by period: score with every='day', 'week' or 'month'"
        raise CxError(msg)
    series: dict[tuple[GroupValue, ...], list[Cell]] = {}
    for cell in table:
        if cell.period is not None:
            series.setdefault(cell.key, []).append(cell)
    if groups is not None:
        wanted = [tuple(g) if isinstance(g, tuple | list) else (g,) for g in groups]
        missing = [g for g in wanted if g not in series]
        if missing:
            msg = f"groups {missing!r} are not in the table (it has {list(series)[:10]!r}...)"
            raise CxError(msg)
        series = {g: series[g] for g in wanted}
    elif len(series) > MAX_TREND_GROUPS:
        msg = (
            f"the table has {len(series)} groups by {', '.join(table.by)}; a trend of more than "
            f"{MAX_TREND_GROUPS} is unreadable: choose some with groups=[...]"
        )
        raise CxError(msg)
    ax = _axes(ax, "drawing a trend")
    metric = table.metric
    for key, cells in series.items():
        cells.sort(key=lambda c: c.period or date.min)
        x = [c.period for c in cells]
        y = [_nan(c.score) for c in cells]
        label = _group_label(key) if table.by else metric.title
        (line,) = ax.plot(x, y, marker="o", markersize=4, label=label)
        colour = line.get_color()
        if band:
            ax.fill_between(
                x,
                [_nan(c.low) for c in cells],
                [_nan(c.high) for c in cells],
                color=colour,
                alpha=0.18,
                linewidth=0,
            )
        low = [(c.period, _nan(c.score)) for c in cells if c.low_n and c.score is not None]
        if low:
            ax.plot(
                [p for p, _ in low],
                [s for _, s in low],
                linestyle="none",
                marker="o",
                markersize=7,
                markerfacecolor="white",
                markeredgecolor=colour,
                label="_nolegend_",
            )
    ax.set_ylabel(_score_label(metric))
    ax.set_xlabel(table.every.value)
    if not _better(metric):
        ax.invert_yaxis()
    level = f"{100 * table.confidence:g}%"
    ax.set_title(f"{metric.title} by {table.every.value}, {level} intervals")
    if table.by:
        # Past a few groups, beside the plot, where it hides no line.
        beside = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "borderaxespad": 0.0}
        place = beside if len(series) > _LEGEND_INSIDE else {}
        ax.legend(title=", ".join(table.by), fontsize="small", **place)
    dates = optional_module("matplotlib.dates", "drawing a trend")
    locator = dates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator))
    return ax


def segment_ranking(
    table: ScoreTable,
    *,
    ax: Any = None,  # noqa: ANN401 - a matplotlib Axes
    adjust: Literal["holm", "none"] = "holm",
    comparison: RestComparison | None = None,
) -> Any:  # noqa: ANN401 - a matplotlib Axes
    """Segments by score with error bars, coloured by whether each differs from the rest.

    Overlapping intervals are not an order: the plot does not number ranks.
    Each segment is tested against all the other answers
    (:func:`~cxcore.scoring.compare_with_rest`, Holm-adjusted by default):
    green if significantly better than the rest, red if worse, grey if not
    different. Low-n segments have hollow markers. The overall score is a
    vertical line with its interval shaded. Segments are sorted best first (at
    the top), following the metric's direction.

    Args:
        table: A score table by one or more dimensions (not by period).
        ax: The axes to draw on (a new figure's by default).
        adjust: The p-value adjustment, ``"holm"`` or ``"none"``.
        comparison: A comparison already computed for *table* (saves recomputing it).

    Returns:
        The axes drawn on, holding one error bar container per segment with answers, the overall
        line, and its shaded interval.

    Raises:
        CxError: If the table is by period (see :func:`compare_with_rest`).

    .. versionadded:: 0.1.0
    """
    from cxcore.scoring.comparison import compare_with_rest  # noqa: PLC0415 - numpy on first use

    result = compare_with_rest(table, adjust=adjust) if comparison is None else comparison
    metric = table.metric
    shown = [s for s in result.segments if s.cell.score is not None]
    best_first = sorted(shown, key=lambda s: _nan(s.cell.score), reverse=_better(metric))
    ax = _axes(ax, "drawing a segment ranking")
    n = len(best_first)
    overall = result.overall
    if overall.low is not None and overall.high is not None:
        ax.axvspan(overall.low, overall.high, color=COLORS["same"], alpha=0.12, linewidth=0)
    if overall.score is not None:
        ax.axvline(overall.score, color=COLORS["same"], linewidth=1, linestyle="--")
    for row, s in enumerate(best_first):
        cell = s.cell
        y = n - 1 - row  # the best at the top
        colour = COLORS[s.side or "same"]
        score = _nan(cell.score)
        low, high = _nan(cell.low), _nan(cell.high)
        err = [
            [score - low if not math.isnan(low) else 0.0],
            [high - score if not math.isnan(high) else 0.0],
        ]
        ax.errorbar(
            [score],
            [y],
            xerr=err,
            fmt="o",
            color=colour,
            markerfacecolor="white" if cell.low_n else colour,
            capsize=3,
        )
    ax.set_yticks(range(n))
    ax.set_yticklabels([_group_label(s.cell.key) for s in reversed(best_first)])
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlabel(_score_label(metric))
    if not _better(metric):
        ax.invert_xaxis()
    how = "Holm" if result.adjust == "holm" else "unadjusted"
    ax.set_title(f"{metric.title} by {', '.join(table.by)}", fontsize="medium")
    lines = optional_module("matplotlib.lines", "drawing a segment ranking")
    sides = {s.side or "same" for s in best_first}
    words = {
        "above": "better than the rest",
        "same": "not different",
        "below": "worse than the rest",
    }
    if not _better(metric):
        words["above"], words["below"] = words["below"], words["above"]
    handles = [
        lines.Line2D([], [], color=COLORS[side], marker="o", linestyle="none", label=words[side])
        for side in ("above", "same", "below")
        if side in sides
    ]
    ax.legend(
        handles=handles,
        title=f"{100 * result.confidence:g}%, {how}",
        fontsize="x-small",
        title_fontsize="x-small",
        loc="best",
    )
    return ax


def bucket_bars(
    table: ScoreTable | Sequence[Cell],
    *,
    ax: Any = None,  # noqa: ANN401 - a matplotlib Axes
    labels: bool = True,
) -> Any:  # noqa: ANN401 - a matplotlib Axes
    """A stacked bar per cell of the share in each bucket (detractors, passives, promoters).

    Buckets are stacked from the metric's negative bucket to its positive one,
    in the registry's order, coloured red, grey and green; low-n cells are
    drawn paler and marked in their label.

    Args:
        table: A score table (any grouping), or cells of one metric (a live
            scoreboard's snapshot, say). Cells with no answers are left out.
        ax: The axes to draw on (a new figure's by default).
        labels: Write each share of at least 8% inside its bar.

    Returns:
        The axes drawn on, holding one bar patch per cell and bucket.

    Raises:
        CxError: If the cells are of more than one metric, or of a metric not registered.

    .. versionadded:: 0.1.0
    """
    metric = _metric_of(table)
    cells = [c for c in table if c.n > 0]
    ax = _axes(ax, "drawing bucket bars")
    buckets = list(metric.buckets)
    if not _better(metric):
        buckets.reverse()
    colours = [
        COLORS["positive"]
        if b.name == metric.positive
        else COLORS["negative"]
        if b.name == metric.negative
        else COLORS["neutral"]
        for b in buckets
    ]
    names = []
    for cell in cells:
        name = _group_label(cell.key) if cell.by else metric.title
        if cell.period is not None:
            name = f"{name} {cell.period.isoformat()}" if cell.by else cell.period.isoformat()
        names.append(f"{name} (n={cell.n:,}{', low n' if cell.low_n else ''})")
    rows = list(range(len(cells)))[::-1]  # the first cell at the top
    left = [0.0] * len(cells)
    for bucket, colour in zip(buckets, colours, strict=True):
        widths = [_nan(c.shares[bucket.name]) for c in cells]
        bars = ax.barh(
            rows,
            widths,
            left=left,
            color=colour,
            edgecolor="white",
            label=f"{bucket.name} ({bucket.low}-{bucket.high})",
        )
        for bar, cell in zip(bars, cells, strict=True):
            if cell.low_n:
                bar.set_alpha(0.5)
        if labels:
            for y, x0, w in zip(rows, left, widths, strict=True):
                if w >= 8:
                    ax.text(x0 + w / 2, y, f"{w:.0f}%", ha="center", va="center", fontsize="small")
        left = [a + (0.0 if math.isnan(w) else w) for a, w in zip(left, widths, strict=True)]
    ax.set_yticks(rows)
    ax.set_yticklabels(names)
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of answers")
    ax.set_title(f"{metric.title}: answers by bucket")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=len(buckets), fontsize="small")
    return ax
