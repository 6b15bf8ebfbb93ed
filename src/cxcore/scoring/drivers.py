"""Driver analysis: which touchpoints and attributes move the outcome (Johnson's relative weights).

Johnson (2000) splits the R² of a regression of the outcome on correlated
drivers into one non-negative weight per driver; the weights sum to R².
Intervals come from a seeded bootstrap of the respondents. With fewer than
10 respondents per driver the result is suppressed rather than shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import attrs
import numpy as np

from cxcore.display import (
    DEFAULT_MAX_ROWS,
    Column,
    Table,
    TableDisplay,
    fmt_interval,
    number_format,
)
from cxcore.errors import CxError
from cxcore.scoring.frame import ResponseFrame

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

__all__ = ["DriverAnalysis", "DriverWeight", "driver_analysis", "relative_weights"]

MIN_PER_DRIVER = 10
"""Respondents needed per driver before weights are shown."""


@attrs.frozen
class DriverWeight:
    """One driver's share of the explained variance.

    Attributes:
        name: The driver.
        weight: Its raw relative weight; the weights of all drivers sum to R².
        share: Its percent of R² (the weights rescaled to sum to 100).
        low: Lower end of the bootstrap interval of the raw weight.
        high: Upper end of the bootstrap interval of the raw weight.

    .. versionadded:: 0.1.0
    """

    name: str
    weight: float
    share: float
    low: float | None
    high: float | None

    def __repr__(self) -> str:
        interval = fmt_interval((self.low, self.high), 3)
        return f"DriverWeight({self.name!r}: {self.weight:.3f} {interval}, {self.share:.1f}% of R²)"


@attrs.frozen
class DriverAnalysis(TableDisplay):
    """Relative weights of the drivers of one outcome, or why they are not shown.

    Attributes:
        outcome: The outcome's name.
        n: The respondents with every driver and the outcome answered.
        r_squared: The R² of the outcome on all drivers (``None`` if suppressed).
        drivers: The weights, largest first (empty if suppressed).
        suppressed: Whether the output is withheld.
        reason: Why it is withheld.
        resamples: The bootstrap resamples used for the intervals.
        confidence: The intervals' confidence level.

    It shows itself as a table, a driver a row, largest first:

    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> x = rng.normal(size=(400, 2))
    >>> relative_weights(x, 2 * x[:, 0] + x[:, 1] + rng.normal(size=400), ["delivery", "app"],
    ...                  outcome="ltr", resamples=200)
    Drivers of ltr: R² = 0.805, n = 400
    driver    weight  % of R²    95% interval
    --------  ------  -------  --------------
    delivery   0.640     79.5  [0.580, 0.683]
    app        0.165     20.5  [0.123, 0.216]
    Johnson's relative weights; bootstrap intervals of the weights (200 resamples).

    .. versionadded:: 0.1.0
    """

    outcome: str
    n: int
    r_squared: float | None
    drivers: tuple[DriverWeight, ...]
    suppressed: bool = False
    reason: str | None = None
    resamples: int = 0
    confidence: float = 0.95

    def __repr__(self) -> str:
        return self.display_text()

    def display_table(self, *, max_rows: int | None = DEFAULT_MAX_ROWS) -> Table:
        """The drivers as a table: weight, share of R² and interval, largest first.

        A suppressed analysis shows no rows and says why.

        Args:
            max_rows: Rows shown at most (the first and last halves), ``None`` for all.
        """
        if self.suppressed or self.r_squared is None:
            title = f"Drivers of {self.outcome}: suppressed, n = {self.n:,}"
        else:
            title = f"Drivers of {self.outcome}: R² = {self.r_squared:.3f}, n = {self.n:,}"
        notes = ["Johnson's relative weights"]
        if self.resamples:
            notes[0] += f"; bootstrap intervals of the weights ({self.resamples:,} resamples)."
        else:
            notes[0] += "; no intervals (no bootstrap resamples)."
        if self.reason:
            notes.insert(0, f"Suppressed: {self.reason}.")

        def interval(value: object) -> str:
            return fmt_interval(value, 3)

        return Table(
            title=title,
            columns=(
                Column("driver"),
                Column("weight", format=number_format(3), align="right"),
                Column("% of R²", format=number_format(1), align="right"),
                Column(f"{100 * self.confidence:g}% interval", format=interval, align="right"),
            ),
            rows=[(d.name, d.weight, d.share, (d.low, d.high)) for d in self.drivers],
            notes=notes,
            max_rows=max_rows,
        )


def _johnson(x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    """Johnson's relative weights of the columns of *x* for *y* (they sum to R²)."""
    xs = (x - x.mean(axis=0)) / x.std(axis=0)
    ys = (y - y.mean()) / y.std()
    n = len(y)
    rxx = xs.T @ xs / n
    rxy = xs.T @ ys / n
    evals, evecs = np.linalg.eigh(rxx)
    lam = evecs @ np.diag(np.sqrt(np.clip(evals, 0.0, None))) @ evecs.T
    beta = np.linalg.lstsq(lam, rxy, rcond=None)[0]
    return np.asarray((lam * lam) @ (beta * beta), dtype=np.float64)


def relative_weights(
    x: ArrayLike,
    y: ArrayLike,
    names: Sequence[str] | None = None,
    *,
    outcome: str = "outcome",
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    min_per_driver: int = MIN_PER_DRIVER,
) -> DriverAnalysis:
    """Johnson's relative weights of the columns of *x* (drivers) for *y* (the outcome).

    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> x = rng.normal(size=(400, 2))
    >>> y = 2 * x[:, 0] + x[:, 1] + rng.normal(size=400)
    >>> result = relative_weights(x, y, ["delivery", "app"], resamples=200)
    >>> [d.name for d in result.drivers]
    ['delivery', 'app']
    >>> bool(abs(sum(d.weight for d in result.drivers) - result.r_squared) < 1e-12)
    True

    Args:
        x: One row per respondent, one column per driver.
        y: The outcome per respondent (likelihood to recommend, or a 0/1 promoter
            indicator, which makes this a linear probability model).
        names: The drivers' names (``x0``, ``x1``... by default).
        outcome: The outcome's name.
        resamples: Bootstrap resamples for the intervals (0 for none).
        confidence: The intervals' confidence level.
        seed: The bootstrap's seed.
        min_per_driver: Respondents needed per driver; below this the result is suppressed.

    Raises:
        CxError: If shapes disagree, a value is not finite, or a driver or the
            outcome does not vary.

    .. versionadded:: 0.1.0
    """
    xa = np.asarray(x, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    if xa.ndim != 2 or ya.ndim != 1 or len(xa) != len(ya):
        msg = (
            f"drivers of shape {xa.shape} and outcome of shape {ya.shape} do not fit (n x k and n)"
        )
        raise CxError(msg)
    k = xa.shape[1]
    labels = list(names) if names is not None else [f"x{i}" for i in range(k)]
    if len(labels) != k:
        msg = f"{len(labels)} names given for {k} drivers"
        raise CxError(msg)
    if not (np.isfinite(xa).all() and np.isfinite(ya).all()):
        msg = "drivers and outcome must be finite numbers (drop incomplete respondents first)"
        raise CxError(msg)
    n = len(ya)
    if k == 0 or n < min_per_driver * k:
        return DriverAnalysis(
            outcome=outcome,
            n=n,
            r_squared=None,
            drivers=(),
            suppressed=True,
            reason=f"{n} respondents for {k} drivers; at least {min_per_driver * k} "
            f"({min_per_driver} per driver) are needed",
        )
    flat = [labels[i] for i in np.flatnonzero(xa.std(axis=0) == 0)]
    if flat or ya.std() == 0:
        what = f"driver(s) {', '.join(map(repr, flat))}" if flat else f"outcome {outcome!r}"
        msg = f"{what} do(es) not vary, so no weights can be computed"
        raise CxError(msg)
    weights = _johnson(xa, ya)
    r2 = float(weights.sum())
    lows: list[float | None] = [None] * k
    highs: list[float | None] = [None] * k
    if resamples > 0:
        rng = np.random.default_rng(seed)
        draws = []
        for _ in range(resamples):
            rows = rng.integers(0, n, size=n)
            xb, yb = xa[rows], ya[rows]
            if (xb.std(axis=0) == 0).any() or yb.std() == 0:
                continue
            draws.append(_johnson(xb, yb))
        if draws:
            alpha = (1.0 - confidence) / 2.0
            qs = np.quantile(np.asarray(draws), [alpha, 1.0 - alpha], axis=0)
            lows, highs = [float(v) for v in qs[0]], [float(v) for v in qs[1]]
    drivers = [
        DriverWeight(
            labels[i],
            float(weights[i]),
            100.0 * float(weights[i]) / r2 if r2 > 0 else 0.0,
            lows[i],
            highs[i],
        )
        for i in range(k)
    ]
    drivers.sort(key=lambda d: -d.weight)
    return DriverAnalysis(
        outcome=outcome,
        n=n,
        r_squared=r2,
        drivers=tuple(drivers),
        resamples=resamples,
        confidence=confidence,
    )


def driver_analysis(
    frame: ResponseFrame,
    *,
    outcome: str,
    drivers: Sequence[str],
    by: str = "question",
    respondent: str = "response",
    target: Literal["score", "promoter"] = "score",
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    min_per_driver: int = MIN_PER_DRIVER,
) -> DriverAnalysis:
    """Relative weights of touchpoint or attribute scores for an outcome, from a frame.

    The frame is pivoted to one row per respondent: the outcome is the answer
    whose *by* dimension is *outcome* (the NPS question ``ltr``, say), each
    driver the answer whose *by* is that driver (a touchpoint's CSAT, an
    attribute rating). Answers repeated within a respondent are averaged.
    Only respondents who answered the outcome and every driver are used.

    Args:
        frame: The answers; it needs the *by* and *respondent* dimensions.
        outcome: The *by* value of the outcome.
        drivers: The *by* values of the drivers.
        by: The dimension naming what each answer is about (``question`` or ``touchpoint``).
        respondent: The dimension identifying a respondent (``response``).
        target: ``score`` for the outcome's answer, ``promoter`` for 1 when it
            falls in its metric's positive bucket (a promoter), else 0.
        resamples: Bootstrap resamples.
        confidence: The intervals' confidence level.
        seed: The bootstrap's seed.
        min_per_driver: Respondents needed per driver.

    Raises:
        CxError: If a dimension is missing or the outcome has no answers.

    .. versionadded:: 0.1.0
    """
    for name in (by, respondent):
        if name not in frame.dimensions:
            msg = f"the frame has no dimension {name!r}, needed to pivot answers per respondent"
            raise CxError(msg)
    about = frame.dimensions[by]
    who = frame.dimensions[respondent]
    scores = frame.scores.astype(np.float64)
    if target == "promoter":
        outcome_rows = _rows(about, outcome)
        codes = np.unique(frame.metric_codes[outcome_rows])
        if len(codes) != 1:
            msg = f"the outcome {outcome!r} must be answers to one metric to define promoters"
            raise CxError(msg)
        metric = frame.metric(frame.metrics[int(codes[0])])
        bucket = next(b for b in metric.buckets if b.name == metric.positive)
        scores = np.where(
            outcome_rows, ((frame.scores >= bucket.low) & (frame.scores <= bucket.high)), scores
        )
    columns = [_pivot(who, _rows(about, name), scores) for name in (outcome, *drivers)]
    table = np.column_stack(columns)
    complete = np.isfinite(table).all(axis=1)
    if not np.isfinite(columns[0]).any():
        msg = f"no answers have {by} = {outcome!r}"
        raise CxError(msg)
    return relative_weights(
        table[complete, 1:],
        table[complete, 0],
        list(drivers),
        outcome=outcome,
        resamples=resamples,
        confidence=confidence,
        seed=seed,
        min_per_driver=min_per_driver,
    )


def _rows(dim: Any, value: object) -> NDArray[np.bool_]:  # noqa: ANN401 - a Dimension
    codes = [i for i, v in enumerate(dim.values) if v == value]
    return np.isin(dim.codes, codes)


def _pivot(who: Any, mask: NDArray[np.bool_], scores: NDArray[np.float64]) -> NDArray[np.float64]:  # noqa: ANN401
    size = len(who.values)
    total = np.bincount(who.codes[mask], weights=scores[mask], minlength=size)
    count = np.bincount(who.codes[mask], minlength=size)
    out = np.full(size, np.nan)
    has = count > 0
    out[has] = total[has] / count[has]
    return out
