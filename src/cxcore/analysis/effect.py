"""The effect of a change: difference in differences by store, and A/B tests of survey variants.

An :class:`Initiative` is a change made in some units (stores) from a date: a
new billing process in ten stores. :func:`measure_effect` reports the treated
stores before and after, and the treated stores' change against the change of
the untreated stores over the same dates: the difference in differences.

Stores, not answers, were treated, so the intervals come from a cluster
bootstrap that resamples whole stores (within the treated and within the
untreated stores, seeded). Answers from one store share that store's staff,
queues and weeks; treating them as independent makes the interval far too
narrow, and the naive interval is reported next to the honest one so the gap
can be seen (``design_effect``).

:func:`variant_test` compares survey variants (subject line, channel, timing)
on response rates, from the invitations' final dispositions, with the AAPOR
rates of :func:`~cxcore.scoring.response_rates`.

Every score here is the engine's: cells come from
:func:`~cxcore.scoring.cell_from_levels` and resampled scores from
:func:`~cxcore.scoring.cells.headline_scores`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Literal

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
    fmt_percent,
    metric_definition,
    number_format,
)
from cxcore.errors import CxError
from cxcore.metrics import Headline, metric_registry
from cxcore.model.frozendict import FrozenDict
from cxcore.model.invitation import Disposition, Invitation
from cxcore.scoring.cells import (
    DEFAULT_MIN_N,
    Cell,
    GroupValue,
    cell_from_levels,
    headline_scores,
)
from cxcore.scoring.rates import AaporGroup, ResponseRate, response_rates
from cxcore.scoring.stats import (
    Difference,
    proportion_difference_test,
    t_cdf,
    t_quantile,
    wilson_interval,
    z_value,
)

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from cxcore.metrics import Metric
    from cxcore.scoring.frame import ResponseFrame

__all__ = [
    "ChangeEstimate",
    "EffectEstimate",
    "Initiative",
    "VariantComparison",
    "VariantRate",
    "VariantTest",
    "measure_effect",
    "variant_test",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAT = np.iinfo(np.int64).min
_MICRO = timedelta(microseconds=1)
_PHASES = ("before", "after")
_ARMS = ("treated", "control")


def _frozen_units(value: Iterable[GroupValue]) -> frozenset[GroupValue]:
    if isinstance(value, str):  # one store id, not the letters of one
        return frozenset([value])
    return frozenset(value)


@attrs.frozen
class Initiative:
    """A change made in some units (stores) from a moment on.

    >>> from datetime import datetime, timezone
    >>> billing = Initiative(
    ...     "new billing", datetime(2026, 3, 1, tzinfo=timezone.utc), ["BLR-01", "DEL-02"]
    ... )
    >>> sorted(billing.treated), billing.unit
    (['BLR-01', 'DEL-02'], 'store')

    Args:
        name: What the change is called (``"new billing process"``).
        start: When it took effect: an aware datetime. Answers from then on are "after".
        treated: The units that made the change.
        unit: The dimension the units are values of (``"store"``).
        description: Free text for reports.

    Raises:
        CxError: If the name is empty, *start* has no time zone or no unit is treated.

    .. versionadded:: 0.1.0
    """

    name: str
    start: datetime
    treated: frozenset[GroupValue] = attrs.field(converter=_frozen_units)
    unit: str = "store"
    description: str = ""

    def __attrs_post_init__(self) -> None:
        problems = []
        name: object = self.name  # anything may have been passed
        start: object = self.start
        unit: object = self.unit
        if not isinstance(name, str) or not name.strip():
            problems.append(f"name: {self.name!r} is empty (expected the change's name)")
        if not isinstance(start, datetime) or start.utcoffset() is None:
            problems.append(f"start: {self.start!r} is not an aware datetime")
        if not self.treated:
            problems.append("treated: no unit is treated (expected at least one store)")
        if not isinstance(unit, str) or not unit:
            problems.append(f"unit: {self.unit!r} is not a dimension name")
        if problems:
            raise CxError(f"Initiative {self.name!r}: " + "; ".join(problems))


@attrs.frozen
class ChangeEstimate:
    """A change in a score with a cluster-bootstrap interval, and the naive interval beside it.

    Attributes:
        estimate: The change, on the headline's scale (NPS points, percentage
            points, or the scale's units for a mean).
        low: Lower end of the cluster-bootstrap interval.
        high: Upper end of the cluster-bootstrap interval.
        se: The cluster-bootstrap standard error.
        df: The t distribution's degrees of freedom, from the number of units
            (Welch-Satterthwaite across the arms).
        p_value: Two-sided, for "no change", from the same t distribution.
        naive_low: Lower end of the interval that treats answers as independent.
        naive_high: Upper end of that interval.
        naive_se: Its standard error.
        confidence: The confidence level of both intervals.

    .. versionadded:: 0.1.0
    """

    estimate: float
    low: float
    high: float
    se: float
    df: float
    p_value: float
    naive_low: float
    naive_high: float
    naive_se: float
    confidence: float

    @property
    def significant(self) -> bool:
        """Whether the interval leaves out zero (``p_value < 1 - confidence``)."""
        return bool(self.p_value < round(1.0 - self.confidence, 12))

    @property
    def design_effect(self) -> float | None:
        """How many times larger the honest variance is than the naive one ((se / naive_se)²)."""
        if not self.naive_se > 0:
            return None
        return (self.se / self.naive_se) ** 2

    def to_dict(self) -> dict[str, Any]:
        """The estimate as plain JSON-ready data."""
        data = attrs.asdict(self)
        data.update(significant=self.significant, design_effect=self.design_effect)
        return data

    def __str__(self) -> str:
        pct = round(100 * self.confidence)
        return (
            f"{self.estimate:+.1f} [{self.low:+.1f}, {self.high:+.1f}] ({pct}%, by cluster, "
            f"{self.df:.1f} df), p={self.p_value:.3g}; "
            f"naive [{self.naive_low:+.1f}, {self.naive_high:+.1f}]"
        )


@attrs.frozen(repr=False)
class EffectEstimate(TableDisplay):
    """What an initiative did to a score: before/after, and the difference in differences.

    Attributes:
        initiative: The change measured.
        metric: The metric's name.
        cells: The four pooled cells, keyed ``(arm, phase)``: ``("treated",
            "before")``, ``("treated", "after")``, ``("control", "before")``,
            ``("control", "after")``. Each cell's own interval treats answers
            as independent, as any single score does.
        treated_change: After minus before, in the treated units.
        control_change: After minus before, in the untreated units.
        effect: The difference in differences: the treated change minus the
            untreated change.
        pre_trend: The placebo: the same difference in differences between the
            first and second half of the before period, where there was no
            change to find. Far from 0, the untreated units did not move as the
            treated ones did even before the change, and are a poor comparison.
            ``None`` when the halves lack the answers for it (each arm needs 2
            units with answers, and answers in each half).
        pre_trend_split: Where the before period was cut in two for the placebo.
        treated_units: The treated units with answers in the window.
        control_units: The untreated units with answers in the window.
        missing_units: Units named as treated with no answers in the window.
        window: The first and last moment counted (``None`` for open ends).
        rows_without_time: Answers to the metric left out because they have no time.
        resamples: Bootstrap resamples.
        seed: The bootstrap's seed.
        definition: What the metric's score means, for reports.

    Printed, or shown in a notebook, it is one table: each arm's score before
    and after with n, its change, and the difference in differences, each
    with the interval by store and the naive interval beside it.

    .. versionadded:: 0.1.0
    """

    initiative: Initiative
    metric: str
    cells: FrozenDict[tuple[str, str], Cell]
    treated_change: ChangeEstimate
    control_change: ChangeEstimate
    effect: ChangeEstimate
    pre_trend: ChangeEstimate | None
    pre_trend_split: datetime
    treated_units: tuple[GroupValue, ...]
    control_units: tuple[GroupValue, ...]
    missing_units: tuple[GroupValue, ...]
    window: tuple[datetime | None, datetime | None]
    rows_without_time: int
    resamples: int
    seed: int
    definition: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The estimate as plain JSON-ready data."""
        return {
            "initiative": self.initiative.name,
            "start": self.initiative.start.isoformat(),
            "unit": self.initiative.unit,
            "metric": self.metric,
            "treated_units": list(self.treated_units),
            "control_units": list(self.control_units),
            "missing_units": list(self.missing_units),
            "cells": {
                f"{arm} {phase}": cell.to_dict() for (arm, phase), cell in self.cells.items()
            },
            "treated_change": self.treated_change.to_dict(),
            "control_change": self.control_change.to_dict(),
            "effect": self.effect.to_dict(),
            "pre_trend": None if self.pre_trend is None else self.pre_trend.to_dict(),
            "pre_trend_split": self.pre_trend_split.isoformat(),
            "rows_without_time": self.rows_without_time,
            "resamples": self.resamples,
            "seed": self.seed,
        }

    def display_table(self, *, max_rows: int | None = DEFAULT_MAX_ROWS) -> Table:
        """The estimate as one table (rendered by ``cxcore.display``)."""
        pct = f"{100 * self.effect.confidence:g}%"
        unit = self.initiative.unit
        digits = _digits(self.metric)
        signed = number_format(digits, signed=True)
        rows: list[tuple[object, ...]] = []
        marks = []
        for arm, label, change in (
            ("treated", f"treated {unit}s", self.treated_change),
            ("control", f"untreated {unit}s", self.control_change),
        ):
            b, a = self.cells[arm, "before"], self.cells[arm, "after"]
            rows.append(
                (
                    label,
                    b.score,
                    b.n,
                    a.score,
                    a.n,
                    change.estimate,
                    (change.low, change.high),
                    (change.naive_low, change.naive_high),
                    change.p_value,
                )
            )
            marks.append(b.low_n or a.low_n)
        e = self.effect
        rows.append(
            (
                "difference in differences",
                None,
                None,
                None,
                None,
                e.estimate,
                (e.low, e.high),
                (e.naive_low, e.naive_high),
                e.p_value,
            )
        )
        marks.append(False)
        if self.pre_trend is not None:
            pt = self.pre_trend
            rows.append(
                (
                    "placebo: before period, 2nd half vs 1st",
                    None,
                    None,
                    None,
                    None,
                    pt.estimate,
                    (pt.low, pt.high),
                    (pt.naive_low, pt.naive_high),
                    pt.p_value,
                )
            )
            marks.append(False)
        design = e.design_effect
        notes = [
            self.definition,
            (
                f"Intervals by {unit}: a cluster bootstrap of whole {unit}s ({self.resamples:,} "
                f"resamples, seed {self.seed}) with a t quantile on {e.df:.1f} df, because "
                f"{unit}s, not answers, were treated. {_naive_note(design, unit)}"
            ),
            f"Treated: {', '.join(map(str, self.treated_units))}.",
            (
                "Placebo: the same comparison within the before period, split at "
                f"{_when(self.pre_trend_split)}; far from 0, the untreated {unit}s are a "
                "poor comparison."
                if self.pre_trend is not None
                else "No placebo: the before period's halves lack the answers for one."
            ),
        ]
        if self.missing_units:
            notes.append(
                f"Named as treated, without answers: {', '.join(map(str, self.missing_units))}."
            )
        return Table(
            title=(
                f"Effect of {self.initiative.name!r} on {self.metric}, from "
                f"{_when(self.initiative.start)}: {len(self.treated_units)} treated, "
                f"{len(self.control_units)} untreated {unit}s"
            ),
            columns=(
                Column(""),
                Column("before", format=number_format(digits), align="right"),
                Column("n", format=fmt_count, align="right"),
                Column("after", format=number_format(digits), align="right"),
                Column("n", format=fmt_count, align="right"),
                Column("change", format=signed, align="right"),
                Column(f"{pct} interval by {unit}", format=fmt_interval, align="right"),
                Column("naive interval", format=fmt_interval, align="right"),
                Column("p", format=fmt_p_value, align="right"),
            ),
            rows=rows,
            marks=marks,
            mark_note="a phase of this arm has few answers: read with care",
            notes=[n for n in notes if n],
            max_rows=max_rows,
        )

    def __repr__(self) -> str:
        return self.display_text()


def _digits(metric: str) -> int:
    """Decimals shown: 2 for a mean on a 1-5 scale (4.27), 1 for percentages and NPS."""
    try:
        spec = metric_registry().get(metric)
    except CxError:  # a metric only the frame knows: percentages are the usual case
        return 1
    return 2 if spec.headline is Headline.MEAN else 1


def _when(at: datetime) -> str:
    """*at* for a person: the day alone at midnight UTC, else to the minute, in UTC."""
    utc = at.astimezone(UTC)
    return f"{utc:%Y-%m-%d}" if utc.time() == time(0) else f"{utc:%Y-%m-%d %H:%M} UTC"


def _naive_note(design: float | None, unit: str) -> str:
    """What the design effect says of the naive interval."""
    if design is None:
        return "The naive interval treats answers as independent."
    if design > 1:
        return (
            "The naive interval treats answers as independent, and is too narrow here "
            f"(design effect {design:.1f})."
        )
    return (
        "The naive interval treats answers as independent; here it is not narrower "
        f"(design effect {design:.1f}): the {unit}s' changes agree more than independent "
        "answers would."
    )


def _micros(at: datetime) -> int:
    return (at - _EPOCH) // timedelta(microseconds=1)


def _check_window(name: str, value: timedelta | None) -> None:
    if value is not None and not value > timedelta(0):
        msg = f"{name}: {value!r} is not a positive length of time"
        raise CxError(msg)


def _arm_counts(counts: NDArray[np.int64], weights: NDArray[np.int64]) -> NDArray[np.float64]:
    """Pooled level counts of each resample: *weights* (resamples x units) times *counts*."""
    units, phases, levels = counts.shape
    flat = counts.reshape(units, phases * levels).astype(np.float64)
    return (weights.astype(np.float64) @ flat).reshape(-1, phases, levels)


def _changes(metric: Metric, pooled: NDArray[np.float64]) -> NDArray[np.float64]:
    """After minus before of each resample's pooled counts (NaN where a phase is empty)."""
    resamples, phases, levels = pooled.shape
    scores = headline_scores(metric, pooled.reshape(resamples * phases, levels))
    scores = scores.reshape(resamples, phases)
    return scores[:, 1] - scores[:, 0]  # type: ignore[no-any-return]


@attrs.frozen
class _Arm:
    """One arm's per-unit level counts (units x phase x level) and its resampled changes."""

    counts: NDArray[np.int64]
    change: float
    cluster: NDArray[np.float64]  # resampled changes minus the change, small-sample corrected
    naive: NDArray[np.float64]  # the same, resampling answers as if independent


def _resample_arm(
    metric: Metric, counts: NDArray[np.int64], resamples: int, rng: np.random.Generator
) -> _Arm:
    units = counts.shape[0]
    pooled = counts.sum(axis=0).astype(np.float64)
    change = float(_changes(metric, pooled[None])[0])
    # Cluster bootstrap: draw whole units with replacement. The spread of a mean of k
    # resampled units is sqrt((k - 1) / k) of its standard error; scale it back.
    picks = rng.multinomial(units, np.full(units, 1.0 / units), size=resamples)
    cluster = (_changes(metric, _arm_counts(counts, picks)) - change) * math.sqrt(
        units / (units - 1)
    )
    # Naive bootstrap: every answer independent, drawn within its phase.
    naive = np.empty((resamples, 2, counts.shape[2]))
    for phase in range(2):
        n = int(pooled[phase].sum())
        naive[:, phase] = rng.multinomial(n, pooled[phase] / n, size=resamples)
    return _Arm(counts, change, cluster, _changes(metric, naive) - change)


def _estimate(
    estimate: float,
    arms: list[tuple[float, _Arm]],
    confidence: float,
) -> ChangeEstimate:
    """A t interval around *estimate* from the arms' bootstrap spreads (Welch-Satterthwaite df).

    *arms* are ``(sign, arm)`` pairs: the estimate is the signed sum of the arms'
    changes. Each arm's variance comes from its cluster bootstrap; the degrees of
    freedom count units, not answers, as Welch's test counts observations.
    """
    variances = []
    dfs = []
    naive_var = 0.0
    for _sign, arm in arms:
        cluster = arm.cluster[np.isfinite(arm.cluster)]
        naive = arm.naive[np.isfinite(arm.naive)]
        variances.append(float(np.var(cluster, ddof=1)))
        dfs.append(arm.counts.shape[0] - 1)
        naive_var += float(np.var(naive, ddof=1))
    var = sum(variances)
    denominator = sum(v * v / df for v, df in zip(variances, dfs, strict=True))
    df = var * var / denominator if denominator > 0 else float(sum(dfs))
    se = math.sqrt(var)
    naive_se = math.sqrt(naive_var)
    half = t_quantile(0.5 + confidence / 2.0, df) * se
    naive_half = z_value(confidence) * naive_se
    p = 2.0 * (1.0 - t_cdf(abs(estimate) / se, df)) if se > 0 else float(estimate == 0)
    return ChangeEstimate(
        estimate=estimate,
        low=estimate - half,
        high=estimate + half,
        se=se,
        df=df,
        p_value=p,
        naive_low=estimate - naive_half,
        naive_high=estimate + naive_half,
        naive_se=naive_se,
        confidence=confidence,
    )


def measure_effect(  # noqa: PLR0912, PLR0915 - one linear pass of checks, then the estimate
    frame: ResponseFrame,
    initiative: Initiative,
    metric: str = "nps",
    *,
    before: timedelta | None = None,
    after: timedelta | None = None,
    control: Iterable[GroupValue] | None = None,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
    min_n: int = DEFAULT_MIN_N,
) -> EffectEstimate:
    """Measure an initiative: before/after in its units, and against the untreated units.

    The effect is a difference in differences of pooled scores:
    ``(treated after - treated before) - (untreated after - untreated before)``.
    Whatever moved every store alike (a festival season, a price change) is
    taken out by the untreated stores' change. Its interval resamples whole
    stores, seeded, within each arm (a cluster bootstrap, with the
    small-sample factor ``sqrt(k / (k - 1))``), because stores, not answers,
    were treated.

    Scores are pooled and unweighted: a frame's weights are not used. The
    answers counted are the frame's (agent-reported answers are left out
    unless the frame was built with them).

    Args:
        frame: The answers, with times and the initiative's unit dimension.
        initiative: The change.
        metric: The metric to measure.
        before: Count answers this long before the start (all of them by default).
        after: Count answers this long from the start (all of them by default).
        control: The untreated units to compare with (every other unit by default).
        confidence: The intervals' confidence level.
        resamples: Bootstrap resamples (at least 200).
        seed: The bootstrap's seed: the same seed gives the same intervals.
        min_n: Cells with fewer answers are flagged ``low_n``.

    Returns:
        The four cells, both arms' changes and the effect, each with intervals.

    Raises:
        CxError: If the frame has no times, no such metric or unit dimension; if
            an arm has fewer than 2 units or a phase of an arm has no answers.

    .. versionadded:: 0.1.0
    """
    z_value(confidence)  # checks the level
    if resamples < 200:
        msg = f"resamples: {resamples!r} is too few for a bootstrap interval (expected 200 or more)"
        raise CxError(msg)
    _check_window("before", before)
    _check_window("after", after)
    if metric not in frame.metrics:
        msg = f"the frame has no answers to metric {metric!r}; it has: {', '.join(frame.metrics)}"
        raise CxError(msg)
    spec = frame.metric(metric)
    if frame.time is None:
        msg = "the frame has no answer times, so answers cannot be put before or after a change"
        raise CxError(msg)
    unit = initiative.unit
    if unit not in frame.dimensions:
        known = ", ".join(frame.dimensions) or "none"
        msg = f"the frame has no dimension {unit!r} (the initiative's unit); it has: {known}"
        raise CxError(msg)
    dim = frame.dimensions[unit]
    start = _micros(initiative.start)
    micros = frame.time.view(np.int64)
    rows = frame.metric_codes == frame.metrics.index(metric)
    rows_without_time = int(np.count_nonzero(rows & (micros == _NAT)))
    rows &= micros != _NAT
    if before is not None:
        rows &= micros >= start - before // _MICRO
    if after is not None:
        rows &= micros < start + after // _MICRO
    treated_codes = [i for i, v in enumerate(dim.values) if v in initiative.treated]
    if control is None:
        control_codes = [
            i for i, v in enumerate(dim.values) if v is not None and v not in initiative.treated
        ]
    else:
        wanted = _frozen_units(control)
        overlap = sorted(map(str, wanted & initiative.treated))
        if overlap:
            msg = f"control: {', '.join(overlap)} are also treated (a unit is in one arm only)"
            raise CxError(msg)
        control_codes = [i for i, v in enumerate(dim.values) if v in wanted]
    levels = len(spec.levels)
    phase = (micros >= start).astype(np.int64)
    level = frame.scores - spec.low
    key = (dim.codes.astype(np.int64) * 2 + phase) * levels + level
    counts = np.bincount(key[rows], minlength=len(dim.values) * 2 * levels).reshape(
        len(dim.values), 2, levels
    )
    present = counts.sum(axis=(1, 2)) > 0
    arms: dict[str, list[int]] = {
        "treated": [i for i in treated_codes if present[i]],
        "control": [i for i in control_codes if present[i]],
    }
    missing = tuple(
        sorted(
            (v for v in initiative.treated if v not in {dim.values[i] for i in arms["treated"]}),
            key=str,
        )
    )
    for arm, codes in arms.items():
        if len(codes) < 2:
            names = ", ".join(repr(dim.values[i]) for i in codes) or "none"
            msg = (
                f"the {arm} arm has {len(codes)} {unit} value(s) with answers to {metric} "
                f"in the window ({names}); a cluster bootstrap needs at least 2"
            )
            raise CxError(msg)
        for p, name in enumerate(_PHASES):
            if not counts[codes, p].any():
                msg = f"the {arm} {unit} values have no answers to {metric} {name} the start"
                raise CxError(msg)
    cells = {
        (arm, name): cell_from_levels(
            spec,
            counts[codes, p].sum(axis=0).tolist(),
            by=("arm", "phase"),
            key=(arm, name),
            confidence=confidence,
            min_n=min_n,
        )
        for arm, codes in arms.items()
        for p, name in enumerate(_PHASES)
    }
    rng = np.random.default_rng(seed)
    t = _resample_arm(spec, counts[arms["treated"]], resamples, rng)
    c = _resample_arm(spec, counts[arms["control"]], resamples, rng)
    # The placebo: the same comparison between the two halves of the before period.
    before_rows = rows & (micros < start)
    first = int(micros[before_rows].min()) if before is None else start - before // _MICRO
    split = first + (start - first) // 2
    halves = (dim.codes.astype(np.int64) * 2 + (micros >= split)) * levels + level
    placebo_counts = np.bincount(
        halves[before_rows], minlength=len(dim.values) * 2 * levels
    ).reshape(len(dim.values), 2, levels)
    placebo_arms = [[i for i in codes if placebo_counts[i].any()] for codes in arms.values()]
    pre_trend = None
    if all(
        len(codes) >= 2 and placebo_counts[codes, 0].any() and placebo_counts[codes, 1].any()
        for codes in placebo_arms
    ):
        pt = _resample_arm(spec, placebo_counts[placebo_arms[0]], resamples, rng)
        pc = _resample_arm(spec, placebo_counts[placebo_arms[1]], resamples, rng)
        pre_trend = _estimate(pt.change - pc.change, [(1.0, pt), (-1.0, pc)], confidence)
    return EffectEstimate(
        initiative=initiative,
        metric=metric,
        cells=FrozenDict(cells),
        treated_change=_estimate(t.change, [(1.0, t)], confidence),
        control_change=_estimate(c.change, [(1.0, c)], confidence),
        effect=_estimate(t.change - c.change, [(1.0, t), (-1.0, c)], confidence),
        pre_trend=pre_trend,
        pre_trend_split=_EPOCH + timedelta(microseconds=split),
        treated_units=tuple(dim.values[i] for i in arms["treated"]),
        control_units=tuple(dim.values[i] for i in arms["control"]),
        missing_units=missing,
        window=(
            None if before is None else initiative.start - before,
            None if after is None else initiative.start + after,
        ),
        rows_without_time=rows_without_time,
        resamples=resamples,
        seed=seed,
        definition=metric_definition(spec, confidence=confidence, min_n=min_n),
    )


# -- A/B tests of survey variants ------------------------------------------------------


@attrs.frozen
class VariantRate:
    """One variant's response rate, with its Wilson interval.

    Attributes:
        variant: The variant's value (``"subject-b"``, ``"sms"``, ``"evening"``).
        invited: Invitations sent with this variant.
        responded: Those counted as responses (completes, or completes and
            partials for RR2).
        rate: ``responded / invited``, a fraction.
        low: Lower end of the Wilson interval, a fraction.
        high: Upper end, a fraction.
        rates: The engine's AAPOR rates and case counts of this variant.

    .. versionadded:: 0.1.0
    """

    variant: GroupValue
    invited: int
    responded: int
    rate: float
    low: float
    high: float
    rates: ResponseRate


@attrs.frozen
class VariantComparison:
    """A variant against the control variant.

    Attributes:
        variant: The variant.
        control: The control it is compared with.
        difference: Its rate minus the control's, in percentage points, with
            Agresti-Caffo's interval and the two-proportion z-test.
        p_adjusted: The p-value adjusted for the number of variants compared (Holm).
        significant: Whether ``p_adjusted`` is below ``1 - confidence``.

    .. versionadded:: 0.1.0
    """

    variant: GroupValue
    control: GroupValue
    difference: Difference
    p_adjusted: float
    significant: bool


@attrs.frozen(repr=False)
class VariantTest(TableDisplay):
    """Response rates of survey variants and each variant against the control.

    Attributes:
        variant: The dimension the variants are values of.
        rate: ``"rr1"`` (completes) or ``"rr2"`` (completes and partials).
        control: The control variant.
        rates: Every variant's rate, the control first.
        comparisons: Every other variant against the control.
        confidence: The intervals' confidence level.

    .. versionadded:: 0.1.0
    """

    variant: str
    rate: Literal["rr1", "rr2"]
    control: GroupValue
    rates: tuple[VariantRate, ...]
    comparisons: tuple[VariantComparison, ...]
    confidence: float

    def comparison(self, variant: GroupValue) -> VariantComparison:
        """The comparison of *variant* with the control.

        Raises:
            KeyError: If *variant* is not one of the compared variants.
        """
        for c in self.comparisons:
            if c.variant == variant:
                return c
        known = ", ".join(repr(c.variant) for c in self.comparisons)
        msg = f"{variant!r} is not a compared variant (compared: {known})"
        raise KeyError(msg)

    def to_records(self) -> list[dict[str, Any]]:
        """One plain dict per variant: its rate, interval and difference from the control."""
        by_variant = {c.variant: c for c in self.comparisons}
        out = []
        for r in self.rates:
            record: dict[str, Any] = {
                self.variant: r.variant,
                "invited": r.invited,
                "responded": r.responded,
                self.rate: r.rate,
                "low": r.low,
                "high": r.high,
            }
            c = by_variant.get(r.variant)
            if c is not None:
                record.update(
                    difference=c.difference.difference,
                    difference_low=c.difference.low,
                    difference_high=c.difference.high,
                    p_value=c.difference.p_value,
                    p_adjusted=c.p_adjusted,
                    significant=c.significant,
                )
            out.append(record)
        return out

    def display_table(self, *, max_rows: int | None = DEFAULT_MAX_ROWS) -> Table:
        """The test as one table (rendered by ``cxcore.display``)."""
        pct = f"{100 * self.confidence:g}%"
        by_variant = {c.variant: c for c in self.comparisons}
        rows = []
        for r in self.rates:
            c = by_variant.get(r.variant)
            d = None if c is None else c.difference
            rows.append(
                (
                    r.variant,
                    r.invited,
                    r.responded,
                    r.rate,
                    (100 * r.low, 100 * r.high),
                    "control" if d is None else d.difference,
                    None if d is None else (d.low, d.high),
                    None if c is None else c.p_adjusted,
                )
            )
        counted = "completes" if self.rate == "rr1" else "completes and partials"
        signed = number_format(1, signed=True)
        return Table(
            title=f"Response rate ({self.rate.upper()}) by {self.variant}",
            columns=(
                Column(self.variant),
                Column("invited", format=fmt_count, align="right"),
                Column("responded", format=fmt_count, align="right"),
                Column(self.rate.upper(), format=fmt_percent, align="right"),
                Column(f"{pct} interval (%)", format=fmt_interval, align="right"),
                Column(
                    "vs control (pts)",
                    format=lambda v: v if isinstance(v, str) else signed(v),
                    align="right",
                ),
                Column("interval (pts)", format=fmt_interval, align="right"),
                Column("p (Holm)", format=fmt_p_value, align="right"),
            ),
            rows=rows,
            notes=(
                f"{self.rate.upper()}: {counted} / invitations (AAPOR); Wilson intervals.",
                (
                    "Differences: two-proportion z-test with Agresti-Caffo intervals; p-values "
                    f"adjusted for {len(self.comparisons)} comparison(s) (Holm)."
                ),
            ),
            max_rows=max_rows,
        )

    def __repr__(self) -> str:
        return self.display_text()


def _holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment of *p_values*, in their order."""
    order = sorted(range(len(p_values)), key=p_values.__getitem__)
    adjusted = [0.0] * len(p_values)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def variant_test(
    outcomes: Iterable[tuple[Invitation, Disposition | str]],
    *,
    variant: str,
    control: GroupValue | None = None,
    rate: Literal["rr1", "rr2"] = "rr1",
    confidence: float = 0.95,
) -> VariantTest:
    """Compare survey variants (subject line, channel, timing) on response rates.

    Each invitation's variant is read as :func:`~cxcore.scoring.response_rates`
    reads a segment: ``channel``, ``survey`` or a key of its context
    (``context={"subject": "b"}``). Each variant's rate has a Wilson interval;
    each variant is compared with the control by the two-proportion z-test with
    Agresti-Caffo's interval, and the p-values are adjusted for the number of
    comparisons (Holm). Invitations are the units: each must go to a
    different person, assigned to a variant at random.

    >>> from datetime import datetime, timezone
    >>> from cxcore.model.invitation import Invitation
    >>> def inv(i, subject):
    ...     return Invitation(id=f"i{i}", survey_id="nps", survey_version=1, channel="email",
    ...                       address=f"c{i}@example.com", token=f"t{i}",
    ...                       created_at=datetime(2026, 3, 1, tzinfo=timezone.utc),
    ...                       context={"subject": subject})
    >>> outcomes = [(inv(i, "a"), "completed" if i < 20 else "delivered") for i in range(100)]
    >>> outcomes += [
    ...     (inv(i, "b"), "completed" if i < 135 else "delivered") for i in range(100, 200)
    ... ]
    >>> test = variant_test(outcomes, variant="subject", control="a")
    >>> c = test.comparison("b")
    >>> round(c.difference.difference, 1), c.significant
    (15.0, True)

    Args:
        outcomes: Pairs of invitation and final disposition.
        variant: The dimension holding the variant.
        control: The control variant (the first one seen by default).
        rate: ``"rr1"`` counts completes; ``"rr2"`` completes and partials.
        confidence: The intervals' confidence level.

    Raises:
        CxError: With fewer than two variants, an unknown control or rate.

    .. versionadded:: 0.1.0
    """
    z_value(confidence)
    if rate not in ("rr1", "rr2"):
        msg = f"rate: {rate!r} is not a response rate (expected 'rr1' or 'rr2')"
        raise CxError(msg)
    segments = response_rates(outcomes, by=[variant])
    if len(segments) < 2:
        found = ", ".join(repr(s.key[0]) for s in segments) or "none"
        msg = f"variant: {variant!r} has {len(segments)} value(s) ({found}); a test needs 2 or more"
        raise CxError(msg)
    by_value: Mapping[GroupValue, ResponseRate] = {s.key[0]: s for s in segments}
    chosen = segments[0].key[0] if control is None else control
    if chosen not in by_value:
        known = ", ".join(repr(v) for v in by_value)
        msg = f"control: {chosen!r} is not a value of {variant!r} (found: {known})"
        raise CxError(msg)

    def responded(r: ResponseRate) -> int:
        partial = r.counts[AaporGroup.PARTIAL] if rate == "rr2" else 0
        return r.counts[AaporGroup.COMPLETE] + partial

    ordered = [by_value[chosen], *(s for s in segments if s.key[0] != chosen)]
    rates = []
    for r in ordered:
        k = responded(r)
        low, high = wilson_interval(k, r.invited, confidence=confidence)
        rates.append(VariantRate(r.key[0], r.invited, k, k / r.invited, low, high, r))
    base = rates[0]
    diffs = [
        proportion_difference_test(
            (r.responded, r.invited), (base.responded, base.invited), confidence=confidence
        )
        for r in rates[1:]
    ]
    adjusted = _holm([d.p_value for d in diffs])
    alpha = round(1.0 - confidence, 12)
    comparisons = tuple(
        VariantComparison(r.variant, base.variant, d, p, p < alpha)
        for r, d, p in zip(rates[1:], diffs, adjusted, strict=True)
    )
    return VariantTest(variant, rate, base.variant, tuple(rates), comparisons, confidence)
