"""How many answers a score needs: for a target margin of error, and to detect a difference.

>>> nps_sample_size(5)            # ±5 NPS points, worst case, 95 %
1533
>>> proportion_sample_size(5)     # ±5 percentage points, worst case
385
"""

from __future__ import annotations

import math
from typing import Literal

from cxcore.errors import CxError
from cxcore.scoring.stats import t_quantile, z_value

__all__ = [
    "difference_sample_size",
    "mean_sample_size",
    "nps_sample_size",
    "proportion_sample_size",
]


def _positive(name: str, value: float) -> None:
    if not value > 0:
        msg = f"{name} {value!r} is not positive"
        raise CxError(msg)


def _shares(promoters: float, detractors: float) -> float:
    if not (0 <= promoters <= 1 and 0 <= detractors <= 1 and promoters + detractors <= 1):
        msg = (
            f"promoters {promoters!r} and detractors {detractors!r} are not shares "
            "from 0 to 1 summing to 1 or less"
        )
        raise CxError(msg)
    return promoters + detractors - (promoters - detractors) ** 2


def nps_sample_size(
    margin: float, *, promoters: float = 0.5, detractors: float = 0.5, confidence: float = 0.95
) -> int:
    """Answers needed for an NPS interval of ± *margin* points (adjusted-Wald).

    The variance of one answer on the -1..1 scale is ``p + d - (p - d)²``; it is
    largest (1) with half promoters and half detractors, the default. The
    result is the smallest n whose adjusted-Wald half-width, at the expected
    shares, is at most *margin*.

    Args:
        margin: Half the interval's width, in NPS points.
        promoters: The expected share of promoters, 0 to 1.
        detractors: The expected share of detractors, 0 to 1.
        confidence: The confidence level.

    .. versionadded:: 0.1.0
    """
    _positive("margin", margin)
    variance = _shares(promoters, detractors)
    z = z_value(confidence)

    def half(n: int) -> float:
        nn = n + 3.0
        p = (promoters * n + 0.75) / nn
        d = (detractors * n + 0.75) / nn
        return 100.0 * z * math.sqrt(max(p + d - (p - d) ** 2, 0.0) / nn)

    n = max(1, math.ceil(z * z * variance / (margin / 100.0) ** 2 - 3.0))
    while n > 1 and half(n - 1) <= margin:
        n -= 1
    while half(n) > margin:
        n += 1
    return n


def proportion_sample_size(margin: float, *, share: float = 0.5, confidence: float = 0.95) -> int:
    """Answers needed for a share (top-2-box, % agree) within ± *margin* percentage points.

    Args:
        margin: Half the interval's width, in percentage points.
        share: The expected share, 0 to 1 (0.5, the default, is the worst case).
        confidence: The confidence level.

    .. versionadded:: 0.1.0
    """
    _positive("margin", margin)
    if not 0 <= share <= 1:
        msg = f"share {share!r} is not from 0 to 1"
        raise CxError(msg)
    z = z_value(confidence)
    return max(1, math.ceil(z * z * share * (1 - share) / (margin / 100.0) ** 2))


def mean_sample_size(margin: float, *, sd: float, confidence: float = 0.95) -> int:
    """Answers needed for a mean within ± *margin* on its scale, with the t-interval.

    The smallest n with ``t(n-1) · sd / sqrt(n) <= margin``.

    Args:
        margin: Half the interval's width, on the metric's scale.
        sd: The expected standard deviation of the answers.
        confidence: The confidence level.

    .. versionadded:: 0.1.0
    """
    _positive("margin", margin)
    _positive("sd", sd)
    p = 0.5 + confidence / 2.0
    z = z_value(confidence)
    n = max(2, math.ceil((z * sd / margin) ** 2))
    while t_quantile(p, n - 1.0) * sd / math.sqrt(n) > margin:
        n += 1
    return n


def difference_sample_size(
    difference: float,
    *,
    metric: Literal["nps", "share", "mean"] = "nps",
    promoters: float = 0.5,
    detractors: float = 0.5,
    share: float = 0.5,
    sd: float | None = None,
    power: float = 0.8,
    confidence: float = 0.95,
) -> int:
    """Answers needed in each of two groups to detect *difference* with a two-sided test.

    ``n = (z[1 - alpha/2] + z[power])² · 2 · variance / difference²``, with the
    variance of one answer from the expected shares (NPS, share) or *sd* (mean).

    Args:
        difference: The smallest difference worth detecting: NPS points,
            percentage points, or units of the scale for a mean.
        metric: ``nps``, ``share`` or ``mean``.
        promoters: Expected share of promoters (NPS).
        detractors: Expected share of detractors (NPS).
        share: Expected share (share).
        sd: Expected standard deviation (mean).
        power: The chance of detecting a true difference of that size.
        confidence: 1 - the test's significance level.

    Raises:
        CxError: For a missing *sd* with ``mean``, or values out of range.

    .. versionadded:: 0.1.0
    """
    _positive("difference", difference)
    if metric not in ("nps", "share", "mean"):
        msg = f"metric {metric!r} is not one of nps, share, mean"
        raise CxError(msg)
    if not 0 < power < 1:
        msg = f"power {power!r} is not between 0 and 1"
        raise CxError(msg)
    if metric == "nps":
        variance = 10_000.0 * _shares(promoters, detractors)
    elif metric == "share":
        if not 0 <= share <= 1:
            msg = f"share {share!r} is not from 0 to 1"
            raise CxError(msg)
        variance = 10_000.0 * share * (1 - share)
    else:
        if sd is None:
            msg = "a difference of means needs the expected sd"
            raise CxError(msg)
        _positive("sd", sd)
        variance = sd * sd
    z = z_value(confidence) + z_value(2 * power - 1)
    return max(2, math.ceil(z * z * 2.0 * variance / difference**2))
