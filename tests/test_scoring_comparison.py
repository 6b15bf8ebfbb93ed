"""Tests for cxcore.scoring.comparison: differences between two cells."""

from __future__ import annotations

import pytest

from cxcore.errors import CxError
from cxcore.metrics import get_metric
from cxcore.scoring import ResponseFrame, cell_from_levels, compare, score


class TestCompare:
    def test_nps_reference(self) -> None:
        """(P=50, D=20, n=100) against (P=120, D=60, n=300): z = 1.058, p = 0.290."""
        nps = get_metric("nps")
        a = cell_from_levels(nps, [20, 0, 0, 0, 0, 0, 0, 30, 0, 50, 0])
        b = cell_from_levels(nps, [60, 0, 0, 0, 0, 0, 0, 120, 0, 120, 0])
        result = compare(a, b)
        assert result.difference == 10.0
        assert round(result.statistic, 3) == 1.058
        assert round(result.p_value, 3) == 0.290
        assert result.low < 10.0 < result.high

    def test_two_periods(self) -> None:
        """The same store in two weeks: a CSAT top-box difference with its p-value."""
        frame = ResponseFrame.from_columns(
            {
                "metric": ["csat"] * 100,
                "score": [5] * 45 + [2] * 5 + [5] * 35 + [1] * 15,
                "answered_at": ["2026-03-02T10:00:00Z"] * 50 + ["2026-03-09T10:00:00Z"] * 50,
            }
        )
        before, after = score(frame, "csat", every="week")
        result = compare(before, after)
        assert result.difference == pytest.approx(20.0)
        assert round(result.p_value, 4) == 0.0124

    def test_means(self) -> None:
        """Ratings are compared with Welch's t-test on the means."""
        rating = get_metric("rating")
        a = cell_from_levels(rating, [0, 0, 2, 4, 10])
        b = cell_from_levels(rating, [3, 3, 4, 4, 2])
        result = compare(a, b)
        assert result.difference == pytest.approx((a.mean or 0) - (b.mean or 0))
        assert result.method == "welch t-test"
        assert result.significant is True

    def test_weighted_cells(self) -> None:
        """Weighted cells are compared with their effective n."""
        frame = ResponseFrame.from_columns(
            {
                "metric": ["nps"] * 6,
                "score": [10, 10, 0, 10, 0, 0],
                "store": list("AAABBB"),
                "w": [1, 2, 1, 1, 2, 1],
            },
            weight="w",
        )
        a, b = score(frame, "nps", by="store", weighted=True)
        result = compare(a, b)
        assert result.difference == pytest.approx((a.score or 0) - (b.score or 0))

    def test_mismatch(self) -> None:
        """Different metrics or an empty cell cannot be compared."""
        nps = cell_from_levels(get_metric("nps"), [1] * 11)
        csat = cell_from_levels(get_metric("csat"), [1] * 5)
        with pytest.raises(CxError, match="cannot compare"):
            compare(nps, csat)
        with pytest.raises(CxError, match="no answers"):
            compare(nps, cell_from_levels(get_metric("nps"), [0] * 11))
