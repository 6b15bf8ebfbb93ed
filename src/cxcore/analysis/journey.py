"""Journey analytics: every touchpoint's score, reach, response rate and drop-off, stage by stage.

:func:`journey_analysis` lays a journey's touchpoints out on its stages with
their scores (one :func:`~cxcore.scoring.score_many` pass), how many customers
passed through each (from the interactions), how many of those answered, and
how many went no further; it marks the weakest touchpoints and, given a
relationship metric, finds which touchpoints move it with the engine's
relative weights and their bootstrap intervals. :func:`journey_map_svg` draws
the map as SVG text; :func:`plot_journey_map` draws it with matplotlib.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape, quoteattr

import attrs
import numpy as np

from cxcore.display import (
    DEFAULT_MAX_ROWS,
    Column,
    Table,
    TableDisplay,
    fmt_count,
    fmt_percent,
    metric_definition,
    score_columns,
)
from cxcore.errors import CxError
from cxcore.metrics import Metric
from cxcore.model.interaction import Interaction
from cxcore.model.invitation import Disposition, Invitation
from cxcore.model.journey import Journey
from cxcore.model.survey import Direction
from cxcore.scoring.batch import score_many
from cxcore.scoring.cells import DEFAULT_MIN_N, Cell
from cxcore.scoring.drivers import DriverAnalysis, relative_weights
from cxcore.scoring.rates import response_rates

if TYPE_CHECKING:
    from cxcore.scoring.frame import ResponseFrame

__all__ = [
    "JourneyAnalysis",
    "TouchpointResult",
    "journey_analysis",
    "journey_map_svg",
    "plot_journey_map",
]


@attrs.frozen(kw_only=True)
class TouchpointResult:
    """One touchpoint of a journey, measured.

    Attributes:
        touchpoint: The touchpoint's id.
        name: Its name.
        stage: The id of its stage.
        owner: Who acts on its feedback.
        cell: Its score (n, score, interval, low-n flag) from the scoring engine.
        reach: Distinct customers who passed through it (from the interactions),
            or ``None`` without interactions.
        interactions: Interactions recorded there (``None`` without interactions).
        respondents: Distinct customers who answered about it (``None`` when
            the frame has no customer dimension: answers are not people).
        response_rate: AAPOR RR1 of its invitations when they are given, else
            respondents / reach (``None`` when neither is known).
        response_rate_basis: ``"aapor-rr1"`` or ``"respondents/reach"``.
        drop_off: The share of its customers with no later interaction in the
            next stage (``None`` on the last stage, without interactions, or
            when no interaction of the next stage is recorded at all: then
            nothing tells leaving from not being recorded).
        weakest: Whether it is the lowest-scoring touchpoint with enough answers.
        below_journey: Whether its interval lies wholly on the bad side of the
            journey's overall score: worse than the rest, not just by chance.

    .. versionadded:: 0.1.0
    """

    touchpoint: str
    name: str
    stage: str
    owner: str
    cell: Cell
    reach: int | None
    interactions: int | None
    respondents: int | None
    response_rate: float | None
    response_rate_basis: str | None
    drop_off: float | None
    weakest: bool
    below_journey: bool

    @property
    def score(self) -> float | None:
        """The touchpoint's headline score."""
        return self.cell.score

    @property
    def n(self) -> int:
        """The answers behind its score."""
        return self.cell.n

    def __str__(self) -> str:
        score = "no answers" if self.cell.score is None else f"{self.cell.score:.1f}"
        marks = [
            m for m, on in (("weakest", self.weakest), ("below journey", self.below_journey)) if on
        ]
        low = ", low n" if self.cell.low_n else ""
        mark = f" [{', '.join(marks)}]" if marks else ""
        return f"{self.stage}/{self.touchpoint}: {score} (n={self.cell.n}{low}){mark}"


@attrs.frozen(kw_only=True, repr=False)
class JourneyAnalysis(TableDisplay):
    """A journey's touchpoints measured in journey order, and what drives the relationship score.

    Attributes:
        journey: The journey.
        metric: The metric scoring the touchpoints.
        overall: The journey's overall score on that metric (all touchpoints' answers).
        touchpoints: One result per touchpoint, stage by stage, in journey order.
        drivers: Which touchpoints move the relationship score (``None`` if not asked).
        min_n: Touchpoints with fewer answers are flagged low-n and never ranked.

    .. versionadded:: 0.1.0
    """

    journey: Journey
    metric: Metric
    overall: Cell
    touchpoints: tuple[TouchpointResult, ...]
    drivers: DriverAnalysis | None
    min_n: int

    def ranking(self) -> list[TouchpointResult]:
        """Touchpoints with enough answers, best first by the metric's direction (weakest last)."""
        ranked = [
            (t.cell.score, t)
            for t in self.touchpoints
            if t.cell.score is not None and not t.cell.low_n
        ]
        sign = -1.0 if self.metric.direction is Direction.HIGHER_IS_BETTER else 1.0
        return [t for _, t in sorted(ranked, key=lambda pair: sign * pair[0])]

    def stage(self, stage_id: str) -> list[TouchpointResult]:
        """The results of one stage's touchpoints.

        Raises:
            CxError: If the journey has no such stage.
        """
        if stage_id not in {s.id for s in self.journey.stages}:
            known = ", ".join(s.id for s in self.journey.stages)
            msg = f"journey {self.journey.id!r} has no stage {stage_id!r}; it has: {known}"
            raise CxError(msg)
        return [t for t in self.touchpoints if t.stage == stage_id]

    def to_records(self) -> list[dict[str, Any]]:
        """One plain dict per touchpoint, in journey order."""
        return [
            {
                "stage": t.stage,
                "touchpoint": t.touchpoint,
                "name": t.name,
                "owner": t.owner,
                "metric": self.metric.name,
                "n": t.cell.n,
                "score": t.cell.score,
                "low": t.cell.low,
                "high": t.cell.high,
                "low_n": t.cell.low_n,
                "reach": t.reach,
                "interactions": t.interactions,
                "respondents": t.respondents,
                "response_rate": t.response_rate,
                "drop_off": t.drop_off,
                "weakest": t.weakest,
                "below_journey": t.below_journey,
            }
            for t in self.touchpoints
        ]

    def to_pandas(self) -> Any:  # noqa: ANN401 - a pandas.DataFrame
        """The touchpoints as a pandas DataFrame, one row each, in journey order."""
        from cxcore.scoring._optional import optional_module  # noqa: PLC0415 - on first use

        return optional_module("pandas", "exporting to pandas").DataFrame(self.to_records())

    def to_svg(self, **options: Any) -> str:  # noqa: ANN401 - those of journey_map_svg
        """The journey map as SVG text (see :func:`journey_map_svg`)."""
        return journey_map_svg(self, **options)

    def __repr__(self) -> str:
        return self.display_text()

    def display_table(self, *, max_rows: int | None = DEFAULT_MAX_ROWS) -> Table:
        """The touchpoints to show, stage by stage: score, reach, response rate, drop-off, marks.

        Args:
            max_rows: Rows shown at most (the first and last halves), ``None`` for all.
        """
        n, score, interval = score_columns(self.metric, self.overall.confidence)
        overall = self.overall
        notes = [
            metric_definition(self.metric, method=overall.method, confidence=overall.confidence),
            (
                "drop-off: share of the touchpoint's customers never seen in the next stage "
                "(unknown where that stage has no interactions); "
                "below journey: interval wholly worse than the journey's overall score"
            ),
        ]
        if any(t.reach and t.respondents is None for t in self.touchpoints):
            notes.append(
                "response rate: unknown without invitations or a customer_id dimension "
                "(answers are not respondents)"
            )
        if self.drivers is not None:
            if self.drivers.suppressed:
                notes.append(
                    f"drivers of {self.drivers.outcome}: not shown ({self.drivers.reason})"
                )
            else:
                shares = ", ".join(f"{d.name} {d.share:.0f}%" for d in self.drivers.drivers[:5])
                notes.append(
                    f"drivers of {self.drivers.outcome} (share of R\u00b2 "
                    f"{self.drivers.r_squared:.2f}, n={self.drivers.n}): {shares}"
                )
        rows = [
            (
                t.stage,
                t.touchpoint,
                t.cell.n,
                t.cell.score,
                (t.cell.low, t.cell.high),
                t.reach,
                t.response_rate,
                t.drop_off,
                ", ".join(
                    m
                    for m, on in (("weakest", t.weakest), ("below journey", t.below_journey))
                    if on
                ),
            )
            for t in self.touchpoints
        ]
        return Table(
            title=(
                f"{self.journey.name}: {self.metric.title} by touchpoint, overall "
                f"{_fmt(overall.score)} (n={overall.n})"
            ),
            columns=(
                Column("stage"),
                Column("touchpoint"),
                n,
                score,
                interval,
                Column("reach", format=fmt_count, align="right"),
                Column("response rate", format=fmt_percent, align="right"),
                Column("drop-off", format=fmt_percent, align="right"),
                Column("mark"),
            ),
            rows=rows,
            marks=[t.cell.low_n for t in self.touchpoints],
            mark_note=f"fewer than {self.min_n} answers: not ranked",
            notes=notes,
            max_rows=max_rows,
        )


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def journey_analysis(  # noqa: C901, PLR0912, PLR0915 - one pass per input, in order
    journey: Journey,
    frame: ResponseFrame,
    *,
    metric: str = "csat",
    interactions: Iterable[Interaction] = (),
    invitations: Iterable[tuple[Invitation, Disposition | str]] | None = None,
    touchpoint: str = "touchpoint",
    customer: str = "customer_id",
    relationship: str | None = None,
    relationship_frame: ResponseFrame | None = None,
    driver_touchpoints: Sequence[str] | None = None,
    min_n: int = DEFAULT_MIN_N,
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> JourneyAnalysis:
    """Measure every touchpoint of *journey* and find which move the relationship score.

    Args:
        journey: The journey.
        frame: The touchpoint answers; its *touchpoint* dimension says where each was given.
        metric: The metric scoring the touchpoints (``csat``, ``ces``...).
        interactions: The customers' interactions, for reach and drop-off.
        invitations: Each survey invitation with its final disposition; with
            ``touchpoint`` in their context, they give each touchpoint's AAPOR RR1.
        touchpoint: The frame's dimension naming the touchpoint.
        customer: The frame's dimension identifying the customer (for
            respondents and the driver analysis).
        relationship: The relationship metric (``nps``) whose drivers to find;
            ``None`` for no driver analysis.
        relationship_frame: The relationship survey's answers (*frame* by default):
            each customer's *relationship* answer and their *metric* rating of
            touchpoints (with the *touchpoint* dimension), as a relationship
            survey asking "how was the delivery?" gives them. Customers who
            rated every driver take part.
        driver_touchpoints: The touchpoints to weigh as drivers (by default
            every touchpoint with answers in *frame*).
        min_n: Touchpoints with fewer answers are flagged low-n and not ranked.
        confidence: The intervals' confidence level.
        resamples: Bootstrap resamples for the drivers' intervals.
        seed: The bootstrap's seed.

    Returns:
        The analysis, touchpoints in journey order.

    Raises:
        CxError: If the frame lacks a needed dimension, an interaction names a
            touchpoint the journey does not have, or the driver analysis fails.

    .. versionadded:: 0.1.0
    """
    for name in (touchpoint,) + ((customer,) if relationship is not None else ()):
        if name not in frame.dimensions:
            known = ", ".join(frame.dimensions) or "none"
            msg = f"the frame has no dimension {name!r} (it has: {known})"
            raise CxError(msg)
    ids = [tp.id for tp in journey.touchpoints()]
    answers = frame.select(metrics=[metric]) if metric in frame.metrics else frame
    table = score_many(answers, [metric], by=[touchpoint], min_n=min_n, confidence=confidence)[
        metric
    ]
    overall = score_many(
        answers.select(where={touchpoint: ids}), [metric], min_n=min_n, confidence=confidence
    )[metric][0]
    metric_def = table.metric

    # Respondents per touchpoint: distinct customers answering there. Without
    # a customer dimension they are unknown: answers are not people (one
    # customer answering forty times is one respondent).
    respondents: dict[str, int | None] = dict.fromkeys(ids)
    tp_dim = answers.dimensions[touchpoint]
    metric_rows = answers.metric_codes == (
        answers.metrics.index(metric) if metric in answers.metrics else -1
    )
    if customer in answers.dimensions:
        respondents.update(dict.fromkeys(ids, 0))
        who = answers.dimensions[customer]
        missing = who.values.index(None) if None in who.values else -1
        for code, value in enumerate(tp_dim.values):
            if value in respondents:
                here = metric_rows & (tp_dim.codes == code)
                known = here & (who.codes != missing)
                # Answers there, none from a known customer (anonymous, or a
                # frame that does not carry them): the respondents are unknown.
                people = int(np.unique(who.codes[known]).size)
                respondents[str(value)] = None if people == 0 and here.any() else people

    # Reach and drop-off, from interactions.
    stage_of = {tp.id: stage.id for stage in journey.stages for tp in stage.touchpoints}
    order = [stage.id for stage in journey.stages]
    seen_any = False
    count: dict[str, int] = defaultdict(int)
    customers: dict[str, set[str]] = defaultdict(set)
    first_at: dict[tuple[str, str], datetime] = {}
    stage_times: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    unknown: list[str] = []
    for interaction in interactions:
        seen_any = True
        tp_id = interaction.touchpoint
        if tp_id not in stage_of:
            unknown.append(f"{interaction.id!r} ({tp_id!r})")
            continue
        count[tp_id] += 1
        person = interaction.customer_id or f"\0anonymous:{interaction.id}"
        customers[tp_id].add(person)
        key = (tp_id, person)
        if key not in first_at or interaction.occurred_at < first_at[key]:
            first_at[key] = interaction.occurred_at
        stage_times[stage_of[tp_id], person].append(interaction.occurred_at)
    if unknown:
        shown = ", ".join(unknown[:10]) + (
            f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        )
        msg = f"interactions at touchpoints journey {journey.id!r} does not have: {shown}"
        raise CxError(msg)

    staged = {stage for stage, _ in stage_times}  # the stages with any interaction

    rates: dict[str, float | None] = {}
    if invitations is not None:
        for segment in response_rates(invitations, by=["touchpoint"]):
            rates[str(segment.key[0])] = segment.rr1

    results: list[TouchpointResult] = []
    for stage_index, stage in enumerate(journey.stages):
        following = order[stage_index + 1] if stage_index + 1 < len(order) else None
        for tp in stage.touchpoints:
            cell = table.get((tp.id,))
            if cell is None:
                cell = score_many(
                    answers.take(np.zeros(len(answers), dtype=bool)),
                    [metric],
                    min_n=min_n,
                    confidence=confidence,
                )[metric][0]
                cell = attrs.evolve(cell, by=(touchpoint,), key=(tp.id,))
            reach = len(customers[tp.id]) if seen_any else None
            drop: float | None = None
            if seen_any and following is not None and customers[tp.id] and following in staged:
                gone = 0
                for person in customers[tp.id]:
                    start = first_at[tp.id, person]
                    later = stage_times.get((following, person), [])
                    if not any(at >= start for at in later):
                        gone += 1
                drop = gone / len(customers[tp.id])
            rate: float | None
            basis: str | None
            if tp.id in rates:
                rate, basis = rates[tp.id], "aapor-rr1"
            elif reach and (answered := respondents[tp.id]) is not None:
                rate, basis = min(1.0, answered / reach), "respondents/reach"
            else:
                rate, basis = None, None
            results.append(
                TouchpointResult(
                    touchpoint=tp.id,
                    name=tp.name,
                    stage=stage.id,
                    owner=tp.owner,
                    cell=cell,
                    reach=reach,
                    interactions=count[tp.id] if seen_any else None,
                    respondents=respondents[tp.id],
                    response_rate=rate,
                    response_rate_basis=basis,
                    drop_off=drop,
                    weakest=False,
                    below_journey=_below(cell, overall, metric_def),
                )
            )
    analysis = JourneyAnalysis(
        journey=journey,
        metric=metric_def,
        overall=overall,
        touchpoints=tuple(results),
        drivers=None,
        min_n=min_n,
    )
    ranked = analysis.ranking()
    if ranked:
        weakest = ranked[-1].touchpoint
        results = [attrs.evolve(t, weakest=t.touchpoint == weakest) for t in results]
    drivers = None
    if relationship is not None:
        source = relationship_frame if relationship_frame is not None else frame
        drivers = _drivers(
            source,
            metric=metric,
            relationship=relationship,
            touchpoint=touchpoint,
            customer=customer,
            ids=list(driver_touchpoints)
            if driver_touchpoints is not None
            else [t.touchpoint for t in results if t.cell.n > 0],
            confidence=confidence,
            resamples=resamples,
            seed=seed,
        )
    return attrs.evolve(analysis, touchpoints=tuple(results), drivers=drivers)


def _below(cell: Cell, overall: Cell, metric: Metric) -> bool:
    """Whether the cell's interval lies wholly on the bad side of the overall score."""
    if cell.low_n or cell.low is None or cell.high is None or overall.score is None:
        return False
    if metric.direction is Direction.HIGHER_IS_BETTER:
        return cell.high < overall.score
    return cell.low > overall.score


def _drivers(
    frame: ResponseFrame,
    *,
    metric: str,
    relationship: str,
    touchpoint: str,
    customer: str,
    ids: Sequence[str],
    confidence: float,
    resamples: int,
    seed: int,
) -> DriverAnalysis:
    """Relative weights of each customer's touchpoint ratings for their relationship score.

    One row per customer of *frame*: the mean of their *relationship* answers,
    and the mean of their *metric* answers at each touchpoint of *ids*. Only
    customers with all of them take part, as :func:`~cxcore.scoring.relative_weights` needs.
    """
    for name in (customer, touchpoint):
        if name not in frame.dimensions:
            msg = f"the relationship answers have no dimension {name!r} (needed for the drivers)"
            raise CxError(msg)
    for name in (relationship, metric):
        if name not in frame.metrics:
            has = ", ".join(frame.metrics)
            msg = f"the relationship answers have none to metric {name!r} (they have: {has})"
            raise CxError(msg)
    who = frame.dimensions[customer]
    about = frame.dimensions[touchpoint]
    size = len(who.values)
    known = np.ones(len(frame), dtype=bool)
    if None in who.values:
        known = who.codes != who.values.index(None)
    scores = frame.scores.astype(np.float64)

    def per_customer(rows: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        total = np.bincount(who.codes[rows], weights=scores[rows], minlength=size)
        count = np.bincount(who.codes[rows], minlength=size)
        out = np.full(size, np.nan)
        has = count > 0
        out[has] = total[has] / count[has]
        return out

    y = per_customer(known & (frame.metric_codes == frame.metrics.index(relationship)))
    rated = known & (frame.metric_codes == frame.metrics.index(metric))
    columns = [
        per_customer(rated & (about.codes == about.values.index(tp)))
        if tp in about.values
        else np.full(size, np.nan)
        for tp in ids
    ]
    x = np.column_stack(columns) if columns else np.empty((size, 0))
    complete = np.isfinite(y) & np.isfinite(x).all(axis=1)
    return relative_weights(
        x[complete],
        y[complete],
        list(ids),
        outcome=relationship,
        resamples=resamples,
        confidence=confidence,
        seed=seed,
    )


# -- drawing -----------------------------------------------------------------------------------


def _colour(score: float | None, metric: Metric, *, low_n: bool) -> str:
    """A red-amber-green fill for *score* on the metric's headline range, good end green."""
    if score is None or low_n:
        return "#d9d9d9"
    if metric.headline.value == "net":
        lo, hi = -100.0, 100.0
    elif metric.headline.value == "top_box":
        lo, hi = 0.0, 100.0
    else:
        lo, hi = float(metric.low), float(metric.high)
    t = (score - lo) / (hi - lo) if hi > lo else 0.5
    t = min(1.0, max(0.0, t))
    if metric.direction is Direction.LOWER_IS_BETTER:
        t = 1.0 - t
    stops = ((0.0, (215, 48, 39)), (0.5, (254, 224, 139)), (1.0, (26, 152, 80)))
    for (t0, c0), (t1, c1) in itertools.pairwise(stops):
        if t <= t1:
            f = (t - t0) / (t1 - t0)
            rgb = [round(a + (b - a) * f) for a, b in zip(c0, c1, strict=True)]
            return "#" + "".join(f"{v:02x}" for v in rgb)
    return "#1a9850"  # pragma: no cover - t is clamped to 1


def journey_map_svg(
    analysis: JourneyAnalysis,
    *,
    width: int = 960,
    box_height: int = 64,
    title: str | None = None,
) -> str:
    """The journey map as standalone SVG text: stages left to right, touchpoints coloured by score.

    Each touchpoint's box shows its name, score and n, filled from red (bad)
    through amber to green (good) by the metric's direction; low-n boxes are
    grey and say so; the weakest touchpoint has a thick dark outline and a
    "weakest" mark, and touchpoints significantly below the journey a dashed
    one. Every text is escaped, so names and ids stay text.

    Args:
        analysis: From :func:`journey_analysis`.
        width: The drawing's width in pixels.
        box_height: Each touchpoint box's height in pixels.
        title: The heading (the journey's name and metric by default).

    .. versionadded:: 0.1.0
    """
    stages = analysis.journey.stages
    columns = max(len(stages), 1)
    gap = 12
    col_w = (width - gap * (columns + 1)) / columns
    per_stage = [analysis.stage(s.id) for s in stages]
    rows = max((len(p) for p in per_stage), default=0)
    top = 70
    height = top + rows * (box_height + gap) + gap + 24
    heading = title or f"{analysis.journey.name}: {analysis.metric.title} by touchpoint"
    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="sans-serif" role="img">'
        ),
        f"<title>{escape(heading)}</title>",
        f'<text x="{gap}" y="22" font-size="16" font-weight="bold">{escape(heading)}</text>',
    ]
    for i, (stage, results) in enumerate(zip(stages, per_stage, strict=True)):
        x = gap + i * (col_w + gap)
        parts.append(
            f'<g class="stage" data-stage={quoteattr(stage.id)}>'
            f'<rect x="{x:.1f}" y="34" width="{col_w:.1f}" height="{height - 34 - gap:.1f}" '
            'fill="#f4f4f4" rx="6"/>'
            f'<text x="{x + col_w / 2:.1f}" y="54" font-size="13" font-weight="bold" '
            f'text-anchor="middle">{i + 1}. {escape(stage.name)}</text>'
        )
        for j, t in enumerate(results):
            y = top + j * (box_height + gap)
            fill = _colour(t.cell.score, analysis.metric, low_n=t.cell.low_n)
            stroke, dash, stroke_w = "#555555", "", 1
            if t.weakest:
                stroke, stroke_w = "#000000", 4
            elif t.below_journey:
                stroke, dash, stroke_w = "#000000", ' stroke-dasharray="6 3"', 2
            if t.cell.score is None:
                figure = "no answers"
            elif t.cell.low_n:
                figure = f"{t.cell.score:.1f} (low n)"
            else:
                figure = f"{t.cell.score:.1f}"
            mark = " \u25bc weakest" if t.weakest else ""
            parts.append(
                f'<g class="touchpoint" data-touchpoint={quoteattr(t.touchpoint)}>'
                f'<rect x="{x + 8:.1f}" y="{y}" width="{col_w - 16:.1f}" height="{box_height}" '
                f'rx="4" fill="{fill}" stroke="{stroke}" stroke-width="{stroke_w}"{dash}/>'
                f'<text x="{x + 16:.1f}" y="{y + 20}" font-size="12" font-weight="bold">'
                f"{escape(t.name)}</text>"
                f'<text x="{x + 16:.1f}" y="{y + 38}" font-size="12">'
                f"{escape(analysis.metric.name)} {escape(figure)}{escape(mark)}</text>"
                f'<text x="{x + 16:.1f}" y="{y + 54}" font-size="11">n={t.cell.n}</text></g>'
            )
        parts.append("</g>")
    overall = analysis.overall
    parts.append(
        f'<text x="{gap}" y="{height - 10}" font-size="11">'
        + escape(
            f"Overall {analysis.metric.name}: {_fmt(overall.score)} (n={overall.n}); "
            f"grey: fewer than {analysis.min_n} answers"
        )
        + "</text></svg>"
    )
    return "".join(parts)


def plot_journey_map(analysis: JourneyAnalysis, *, ax: Any = None) -> Any:  # noqa: ANN401 - matplotlib Axes
    """Draw the journey map with matplotlib (the ``notebook`` extra), like :func:`journey_map_svg`.

    Args:
        analysis: From :func:`journey_analysis`.
        ax: The Axes to draw into (a new figure's by default).

    Returns:
        The matplotlib ``Axes``.

    .. versionadded:: 0.1.0
    """
    from cxcore.scoring._optional import optional_module  # noqa: PLC0415 - on first use

    plt = optional_module("matplotlib.pyplot", "plotting journey maps")
    patches = optional_module("matplotlib.patches", "plotting journey maps")
    if ax is None:
        _, ax = plt.subplots(figsize=(2.4 * max(len(analysis.journey.stages), 1), 4))
    stages = analysis.journey.stages
    per_stage = [analysis.stage(s.id) for s in stages]
    rows = max((len(p) for p in per_stage), default=1) or 1
    for i, (stage, results) in enumerate(zip(stages, per_stage, strict=True)):
        ax.add_patch(
            patches.Rectangle(
                (i + 0.02, 0), 0.96, rows + 0.6, facecolor="#f4f4f4", edgecolor="none"
            )
        )
        ax.text(i + 0.5, rows + 0.3, stage.name, ha="center", va="center", fontweight="bold")
        for j, t in enumerate(results):
            y = rows - 1 - j + 0.05
            fill = _colour(t.cell.score, analysis.metric, low_n=t.cell.low_n)
            width = 3.0 if t.weakest else (1.5 if t.below_journey else 0.5)
            style = "--" if t.below_journey and not t.weakest else "-"
            ax.add_patch(
                patches.FancyBboxPatch(
                    (i + 0.08, y),
                    0.84,
                    0.85,
                    boxstyle="round,pad=0.01",
                    facecolor=fill,
                    edgecolor="black",
                    linewidth=width,
                    linestyle=style,
                )
            )
            figure = "no answers" if t.cell.score is None else f"{t.cell.score:.1f}"
            mark = "\nweakest" if t.weakest else ""
            ax.text(
                i + 0.5,
                y + 0.42,
                f"{t.name}\n{figure} (n={t.cell.n}){mark}",
                ha="center",
                va="center",
                fontsize=8,
            )
    ax.set_xlim(0, max(len(stages), 1))
    ax.set_ylim(0, rows + 0.6)
    ax.set_axis_off()
    ax.set_title(f"{analysis.journey.name}: {analysis.metric.title} by touchpoint")
    return ax
