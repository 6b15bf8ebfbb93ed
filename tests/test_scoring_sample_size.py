"""Tests for cxcore.scoring.sample_size: answers needed for a margin or a difference."""

from __future__ import annotations

import pytest

from cxcore.errors import CxError
from cxcore.scoring import (
    difference_sample_size,
    mean_sample_size,
    nps_interval,
    nps_sample_size,
    proportion_sample_size,
    t_interval,
)


class TestMargins:
    def test_nps_margin_is_met(self) -> None:
        """At the computed n, the worst-case adjusted-Wald half-width is at most the margin, and not at n-1."""
        n = nps_sample_size(5)
        assert n == 1533

        def half(k: int) -> float:
            interval = nps_interval(k / 2, k / 2, k)
            assert interval is not None
            return (interval[1] - interval[0]) / 2

        assert half(n) <= 5.0 < half(n - 1)

    def test_proportion(self) -> None:
        """±5 points at 95 % needs 385 in the worst case."""
        assert proportion_sample_size(5) == 385
        assert proportion_sample_size(5, share=0.9) < 385

    def test_mean_is_smallest(self) -> None:
        """The mean's n is the smallest meeting the t-interval margin."""
        n = mean_sample_size(0.1, sd=1.0)
        ok = t_interval(0.0, 1.0, n)
        short = t_interval(0.0, 1.0, n - 1)
        assert ok is not None
        assert short is not None
        assert ok[1] <= 0.1 < short[1]

    def test_bad_values(self) -> None:
        """Non-positive margins and impossible shares are errors."""
        with pytest.raises(CxError, match="margin"):
            nps_sample_size(0)
        with pytest.raises(CxError, match="shares"):
            nps_sample_size(5, promoters=0.8, detractors=0.5)


class TestDifference:
    def test_formula(self) -> None:
        """n per group = (1.96 + 0.8416)² x 2 x variance / difference²."""
        assert difference_sample_size(10) == 1570
        assert difference_sample_size(10, metric="share", share=0.5) == 393
        assert difference_sample_size(0.5, metric="mean", sd=1.0) == 63

    def test_errors(self) -> None:
        """A mean needs an sd; power must be a probability."""
        with pytest.raises(CxError, match="sd"):
            difference_sample_size(1, metric="mean")
        with pytest.raises(CxError, match="power"):
            difference_sample_size(1, power=1.5)
