"""Comparing two cells: two groups, or one group in two periods."""

from __future__ import annotations

from cxcore.errors import CxError
from cxcore.metrics import Headline, MetricRegistry, metric_registry
from cxcore.scoring.cells import Cell
from cxcore.scoring.stats import (
    Difference,
    mean_difference_test,
    nps_difference_test,
    proportion_difference_test,
)

__all__ = ["compare"]


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
