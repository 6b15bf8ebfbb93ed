"""Tests for cxcore.scoring.cells: the reference cell computation, periods and methods."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxcore.errors import CxError
from cxcore.metrics import Bucket, Metric, get_metric
from cxcore.scoring.cells import (
    Period,
    bootstrap_interval,
    cell_from_levels,
    day_number,
    period_start,
    resolve_method,
)
from cxcore.scoring.stats import IntervalMethod

NPS_50_30_20 = [20, 0, 0, 0, 0, 0, 0, 30, 0, 50, 0]


class TestCellFromLevels:
    def test_nps_reference(self) -> None:
        """P=50, D=20, n=100: NPS 30.0 with the adjusted-Wald interval, counts and shares."""
        cell = cell_from_levels(get_metric("nps"), NPS_50_30_20)
        assert cell.score == 30.0
        assert (round(cell.low or 0, 2), round(cell.high or 0, 2)) == (14.05, 44.20)
        assert dict(cell.counts) == {"detractor": 20, "passive": 30, "promoter": 50}
        assert dict(cell.shares) == {"detractor": 20.0, "passive": 30.0, "promoter": 50.0}
        assert cell.method is IntervalMethod.ADJUSTED_WALD
        assert not cell.low_n

    def test_nps_wald(self) -> None:
        """Asking for Wald gives [14.69, 45.31]."""
        cell = cell_from_levels(get_metric("nps"), NPS_50_30_20, method="wald")
        assert (round(cell.low or 0, 2), round(cell.high or 0, 2)) == (14.69, 45.31)

    def test_csat_top_box_and_mean(self) -> None:
        """CSAT: the headline is % 4-5 with a Wilson interval; the mean has a t-interval."""
        cell = cell_from_levels(get_metric("csat"), [0, 5, 0, 20, 25])
        assert cell.score == 90.0
        assert cell.top_box == 90.0
        assert (round((cell.low or 0) / 100, 4), round((cell.high or 0) / 100, 4)) == (
            0.7864,
            0.9565,
        )
        assert cell.mean == pytest.approx((2 * 5 + 4 * 20 + 5 * 25) / 50)
        assert cell.mean_low is not None
        assert cell.mean_high is not None
        assert cell.mean_low < (cell.mean or 0) < cell.mean_high

    def test_ces_percent_agree(self) -> None:
        """CES: % agree counts 5-7 on the 7-point scale."""
        cell = cell_from_levels(get_metric("ces"), [1, 1, 1, 1, 2, 2, 2])
        assert cell.score == 60.0
        assert cell.counts["agree"] == 6

    def test_rating_mean_headline(self) -> None:
        """A star rating's headline is its mean, with a t-interval on the 1-5 scale."""
        cell = cell_from_levels(get_metric("rating"), [0, 0, 1, 1, 2])
        assert cell.score == 4.25
        assert cell.method is IntervalMethod.T
        assert cell.top_box == 75.0
        assert 1.0 <= (cell.low or 0) <= 4.25 <= (cell.high or 0) <= 5.0

    def test_empty_cell(self) -> None:
        """No answers give an empty cell: n 0, every number None, no ZeroDivisionError."""
        cell = cell_from_levels(get_metric("nps"), [0] * 11, by=("store",), key=("A",))
        assert cell.empty
        assert cell.score is None
        assert cell.low is None
        assert cell.mean is None
        assert cell.low_n
        assert cell.group == {"store": "A"}

    def test_single_answer(self) -> None:
        """One answer: a score, no standard deviation, no mean interval."""
        cell = cell_from_levels(get_metric("rating"), [0, 0, 0, 0, 1])
        assert cell.score == 5.0
        assert cell.sd is None
        assert cell.low is None
        assert cell.mean_low is None

    def test_low_n_flag(self) -> None:
        """Below min_n answers the cell is flagged."""
        cell = cell_from_levels(get_metric("nps"), [1] * 11, min_n=12)
        assert cell.low_n
        assert not cell_from_levels(get_metric("nps"), [1] * 11, min_n=11).low_n

    def test_wrong_length(self) -> None:
        """Counts must match the scale's levels."""
        with pytest.raises(CxError, match="11 levels"):
            cell_from_levels(get_metric("nps"), [1, 2, 3])

    def test_custom_metric(self) -> None:
        """A registered custom metric is scored from its own buckets and headline."""
        effort = Metric(
            name="effort4",
            title="Effort (4 levels)",
            low=1,
            high=4,
            direction="higher_is_better",
            buckets=[Bucket("hard", 1, 2), Bucket("easy", 3, 4)],
            headline="net",
            positive="easy",
            negative="hard",
        )
        cell = cell_from_levels(effort, [1, 1, 1, 3])
        assert cell.score == 100.0 * (4 - 2) / 6
        assert dict(cell.counts) == {"hard": 2, "easy": 4}

    def test_to_dict(self) -> None:
        """The dict form has the group keys, period and numbers."""
        cell = cell_from_levels(
            get_metric("nps"), NPS_50_30_20, by=("store",), key=("A",), period=date(2026, 3, 2)
        )
        data = cell.to_dict()
        assert data["store"] == "A"
        assert data["period"] == "2026-03-02"
        assert data["n"] == 100
        assert data["n_promoter"] == 50
        assert data["pct_detractor"] == 20.0


class TestBootstrap:
    def test_reproducible_and_sensible(self) -> None:
        """The bootstrap is seeded, and its interval sits around the NPS."""
        nps = get_metric("nps")
        first = bootstrap_interval(nps, NPS_50_30_20, seed=3)
        assert first == bootstrap_interval(nps, NPS_50_30_20, seed=3)
        assert first is not None
        assert 10 < first[0] < 30 < first[1] < 50

    def test_cell_method(self) -> None:
        """A bootstrap cell keeps the raw score and uses the bootstrap interval."""
        cell = cell_from_levels(get_metric("rating"), [1, 2, 3, 4, 5], method="bootstrap")
        assert cell.method is IntervalMethod.BOOTSTRAP
        assert (cell.low or 0) < (cell.score or 0) < (cell.high or 0)

    def test_empty(self) -> None:
        """No answers, no interval."""
        assert bootstrap_interval(get_metric("csat"), [0] * 5) is None


class TestResolveMethod:
    @pytest.mark.parametrize(
        ("metric", "expected"),
        [
            ("nps", IntervalMethod.ADJUSTED_WALD),
            ("csat", IntervalMethod.WILSON),
            ("rating", IntervalMethod.T),
        ],
    )
    def test_auto(self, metric: str, expected: IntervalMethod) -> None:
        """Auto picks adjusted-Wald for net scores, Wilson for shares, t for means."""
        assert resolve_method(get_metric(metric), "auto") is expected

    def test_mismatch(self) -> None:
        """Wilson for NPS, or t for CSAT, is refused with the allowed methods."""
        with pytest.raises(CxError, match="does not apply to metric 'nps'"):
            resolve_method(get_metric("nps"), "wilson")
        with pytest.raises(CxError, match="not known"):
            resolve_method(get_metric("nps"), "magic")


class TestPeriods:
    def test_day_number_uses_offset(self) -> None:
        """An IST evening is the next UTC-offset day only when the offset says so."""
        at = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)
        assert day_number(at) == (date(2026, 3, 1) - date(1970, 1, 1)).days
        assert (
            day_number(at, timedelta(hours=5, minutes=30))
            == (date(2026, 3, 2) - date(1970, 1, 1)).days
        )
        ist = datetime(2026, 3, 2, 1, 0, tzinfo=timezone(timedelta(hours=5, minutes=30)))
        assert day_number(ist) == (date(2026, 3, 1) - date(1970, 1, 1)).days

    def test_naive_refused(self) -> None:
        """A datetime without a time zone is an error."""
        with pytest.raises(CxError, match="no time zone"):
            day_number(datetime(2026, 3, 1))  # noqa: DTZ001 - the point of the test

    @given(st.dates(date(1950, 1, 1), date(2100, 1, 1)))
    def test_period_starts(self, day: date) -> None:
        """Weeks start on Monday, months on the 1st, days on themselves."""
        n = (day - date(1970, 1, 1)).days
        epoch = date(1970, 1, 1)
        assert period_start(n, Period.DAY) == n
        week = epoch + timedelta(days=period_start(n, Period.WEEK))
        assert week.weekday() == 0
        assert 0 <= (day - week).days < 7
        month = epoch + timedelta(days=period_start(n, Period.MONTH))
        assert month == day.replace(day=1)
