"""Tests for cxcore.scoring.batch: grouped and periodic scores from vectorised counting."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxcore.errors import CxError, UnknownMetricError
from cxcore.metrics import Bucket, Metric, MetricRegistry, default_metrics, get_metric
from cxcore.scoring import ResponseFrame, cell_from_levels, kish_effective_n, score, score_many

SCALES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7), "rating": (1, 5), "rating3": (1, 3)}


@st.composite
def long_tables(draw: st.DrawFn) -> dict[str, list[Any]]:
    n = draw(st.integers(0, 120))
    metrics = draw(st.lists(st.sampled_from(sorted(SCALES)), min_size=n, max_size=n))
    scores = [draw(st.integers(*SCALES[m])) for m in metrics]
    stores = draw(st.lists(st.sampled_from(["A", "B", "C"]), min_size=n, max_size=n))
    channels = draw(st.lists(st.sampled_from(["sms", "email"]), min_size=n, max_size=n))
    days = draw(st.lists(st.integers(0, 60), min_size=n, max_size=n))
    times = [datetime(2026, 1, 1, 12, tzinfo=UTC) + timedelta(days=d) for d in days]
    return {
        "metric": metrics,
        "score": scores,
        "store": stores,
        "channel": channels,
        "answered_at": times,
    }


def frame_of(table: dict[str, list[Any]]) -> ResponseFrame:
    return ResponseFrame.from_columns({k: np.asarray(v, dtype=object) for k, v in table.items()})


class TestScore:
    def test_reference_nps(self) -> None:
        """P=50, D=20, n=100 gives 30.0 and the adjusted-Wald interval [14.05, 44.20]."""
        frame = ResponseFrame.from_columns(
            {"metric": ["nps"] * 100, "score": [10] * 50 + [8] * 30 + [0] * 20}
        )
        cell = score(frame, "nps")[0]
        assert cell.score == 30.0
        assert (round(cell.low or 0, 2), round(cell.high or 0, 2)) == (14.05, 44.20)
        wald = score(frame, "nps", interval="wald")[0]
        assert (round(wald.low or 0, 2), round(wald.high or 0, 2)) == (14.69, 45.31)

    def test_grouped(self) -> None:
        """Grouping by two dimensions gives one cell per combination present, in sorted order."""
        frame = ResponseFrame.from_columns(
            {
                "metric": ["nps", "nps", "nps", "csat"],
                "score": [10, 0, 9, 5],
                "store": ["B", "A", "A", "B"],
                "touchpoint": ["web", "web", "app", "app"],
            }
        )
        table = score(frame, "nps", by="store,touchpoint")
        assert [(c.key, c.n, c.score) for c in table] == [
            (("A", "app"), 1, 100.0),
            (("A", "web"), 1, -100.0),
            (("B", "app"), 0, None),
            (("B", "web"), 1, 100.0),
        ]
        empty = table.get(("B", "app"))
        assert empty is not None
        assert empty.empty
        assert table.get({"store": "A", "touchpoint": "app"}) == table[0]
        assert table.get(("Z", "web")) is None

    def test_every_week(self) -> None:
        """Weeks start on Monday; the cell's period is that Monday."""
        monday = datetime(2026, 3, 2, 8, tzinfo=UTC)
        frame = ResponseFrame.from_columns(
            {
                "metric": ["nps"] * 3,
                "score": [10, 0, 10],
                "answered_at": np.array(
                    [monday, monday + timedelta(days=6), monday + timedelta(days=7)], dtype=object
                ),
            }
        )
        table = score(frame, "nps", every="week")
        assert [(c.period, c.n, c.score) for c in table] == [
            (date(2026, 3, 2), 2, 0.0),
            (date(2026, 3, 9), 1, 100.0),
        ]
        months = score(frame, "nps", every="month")
        assert [c.period for c in months] == [date(2026, 3, 1)]
        epoch = date(1970, 1, 1)
        assert table.period_days is not None
        assert [epoch + timedelta(days=int(d)) for d in table.period_days] == [
            date(2026, 3, 2),
            date(2026, 3, 9),
        ]

    def test_key_columns_give_each_cells_key(self) -> None:
        """The public key columns index the key values, cell by cell, as key() reads them."""
        frame = ResponseFrame.from_columns(
            {
                "metric": ["nps"] * 5,
                "score": [10, 9, 8, 6, 0],
                "store": ["A", "B", "A", "C", "B"],
                "channel": ["sms", "sms", "email", "sms", "email"],
            }
        )
        table = score(frame, "nps", by=["store", "channel"])
        assert table.period_days is None
        columns = list(zip(table.key_codes, table.key_values, strict=True))
        rebuilt = [
            tuple(values[int(codes[i])] for codes, values in columns) for i in range(len(table))
        ]
        assert rebuilt == [table.key(i) for i in range(len(table))]
        assert {k[0] for k in rebuilt} == {"A", "B", "C"}

    def test_no_answers_gives_empty_cells(self) -> None:
        """n = 0 gives empty cells, never a ZeroDivisionError; an unknown metric is an error."""
        empty = ResponseFrame.from_columns(
            {"metric": np.array([], dtype=object), "score": np.array([], dtype=np.int64)}
        )
        cells = list(score(empty, "nps"))
        assert len(cells) == 1
        assert cells[0].n == 0
        assert cells[0].score is None
        frame = ResponseFrame.from_columns(
            {"metric": ["csat", "csat"], "score": [4, 5], "store": ["A", "B"]}
        )
        assert [(c.key, c.n, c.score) for c in score(frame, "nps", by="store")] == [
            (("A",), 0, None),
            (("B",), 0, None),
        ]
        with pytest.raises(UnknownMetricError):
            score(frame, "nsp")

    def test_errors(self) -> None:
        """Unknown dimensions, periods without times and misfit methods are clear errors."""
        frame = ResponseFrame.from_columns({"metric": ["nps"], "score": [4]})
        with pytest.raises(CxError, match="no dimension 'store'"):
            score(frame, "nps", by="store")
        with pytest.raises(CxError, match="no answer times"):
            score(frame, "nps", every="week")
        with pytest.raises(CxError, match="not a period"):
            score(frame, "nps", every="fortnight")
        with pytest.raises(CxError, match="does not apply"):
            score(frame, "nps", interval="t")
        with pytest.raises(CxError, match="no weights"):
            score(frame, "nps", weighted=True)

    def test_custom_metric_from_registry(self) -> None:
        """A custom metric in a registry is scored from its own scale and buckets."""
        registry = MetricRegistry(default_metrics())
        registry.register(
            Metric(
                name="effort4",
                title="Effort",
                low=1,
                high=4,
                direction="higher_is_better",
                buckets=[Bucket("hard", 1, 2), Bucket("easy", 3, 4)],
                headline="top_box",
                positive="easy",
            )
        )
        frame = ResponseFrame.from_columns(
            {"metric": ["effort4"] * 4, "score": [1, 3, 4, 4]}, registry=registry
        )
        assert score(frame, "effort4")[0].score == 75.0
        with pytest.raises(CxError, match="effort4"):
            ResponseFrame.from_columns({"metric": ["effort4"], "score": [5]}, registry=registry)

    def test_score_many_one_pass(self) -> None:
        """score_many gives each metric's table from the same counts."""
        frame = ResponseFrame.from_columns({"metric": ["nps", "csat", "ces"], "score": [10, 4, 6]})
        tables = score_many(frame)
        assert {name: t[0].score for name, t in tables.items()} == {
            "ces": 100.0,
            "csat": 100.0,
            "nps": 100.0,
        }

    def test_exports(self) -> None:
        """A table exports to records, pandas and polars with the group keys."""
        frame = ResponseFrame.from_columns(
            {"metric": ["nps", "nps"], "score": [10, 0], "store": ["A", "B"]}
        )
        table = score(frame, "nps", by="store")
        assert [r["store"] for r in table.to_records()] == ["A", "B"]
        df = table.to_pandas()
        assert list(df["store"]) == ["A", "B"]
        assert list(df["n_promoter"]) == [1, 0]
        assert table.to_polars()["score"].to_list() == [100.0, -100.0]

    def test_period_exports_as_dates(self) -> None:
        """`period` is datetime64 in pandas and Date in polars; a row without a time is NaT/null."""
        pd = pytest.importorskip("pandas")
        pl = pytest.importorskip("polars")
        frame = ResponseFrame.from_columns(
            {
                "metric": ["nps"] * 3,
                "score": [10, 0, 9],
                "answered_at": ["2026-03-04T10:00:00Z", "2026-03-11T10:00:00Z", None],
            }
        )
        table = score(frame, "nps", every="week")
        df = table.to_pandas()
        assert pd.api.types.is_datetime64_dtype(df["period"])
        assert df["period"].tolist()[:2] == [pd.Timestamp("2026-03-02"), pd.Timestamp("2026-03-09")]
        assert df["period"].isna().tolist() == [False, False, True]
        polars = table.to_polars()
        assert polars.schema["period"] == pl.Date
        assert polars["period"].to_list() == [date(2026, 3, 2), date(2026, 3, 9), None]

    def test_bootstrap_interval(self) -> None:
        """Bootstrap intervals are reproducible and straddle the score."""
        frame = ResponseFrame.from_columns(
            {"metric": ["nps"] * 60, "score": [10] * 30 + [5] * 10 + [8] * 20}
        )
        first = score(frame, "nps", interval="bootstrap")[0]
        again = score(frame, "nps", interval="bootstrap")[0]
        assert first == again
        assert (first.low or 0) < (first.score or 0) < (first.high or 0)


class TestWeighted:
    def test_weighted_score_and_kish(self) -> None:
        """Weighted NPS uses weight sums; n_eff is Kish's; intervals widen with unequal weights."""
        weights = [1.0, 1.0, 2.0, 2.0, 4.0]
        frame = ResponseFrame.from_columns(
            {"metric": ["nps"] * 5, "score": [10, 10, 0, 8, 10], "w": weights}, weight="w"
        )
        cell = score(frame, "nps", weighted=True)[0]
        assert cell.score == pytest.approx(100.0 * (1 + 1 + 4 - 2) / 10)
        assert cell.n == 5
        assert cell.n_eff == pytest.approx(kish_effective_n(weights))
        assert round(cell.n_eff, 3) == 3.846
        assert cell.counts["promoter"] == 6.0

    def test_equal_weights_match_unweighted(self) -> None:
        """Weights of 1 give the unweighted numbers."""
        scores = [10, 9, 8, 6, 0, 3, 10]
        frame = ResponseFrame.from_columns(
            {"metric": ["nps"] * 7, "score": scores, "w": [1.0] * 7}, weight="w"
        )
        weighted = score(frame, "nps", weighted=True)[0]
        plain = score(frame, "nps")[0]
        assert weighted.score == pytest.approx(plain.score)
        assert weighted.low == pytest.approx(plain.low)
        assert weighted.mean_high == pytest.approx(plain.mean_high)


class TestAgreesWithReference:
    @settings(max_examples=60, deadline=None)
    @given(
        long_tables(),
        st.sampled_from(["auto", "wald"]),
        st.sampled_from([(), ("store",), ("store", "channel")]),
    )
    def test_every_cell_equals_cell_from_levels(
        self, table: dict[str, list[Any]], method: str, by: tuple[str, ...]
    ) -> None:
        """Each vectorised cell is exactly the scalar reference computation on its rows."""
        if not table["metric"]:
            return
        frame = frame_of(table)
        for name in frame.metrics:
            metric = get_metric(name)
            for cell in score(frame, name, by=by, interval=method):
                levels = [0] * len(metric.levels)
                for m, s, *dims in zip(
                    table["metric"], table["score"], *(table[d] for d in by), strict=True
                ):
                    if m == name and tuple(dims) == cell.key:
                        levels[int(s) - metric.low] += 1
                expected = cell_from_levels(metric, levels, by=by, key=cell.key, method=method)
                assert cell == expected

    @given(long_tables())
    def test_nps_range_and_counts(self, table: dict[str, list[Any]]) -> None:
        """NPS stays in [-100, 100]; cell counts add up to the answers."""
        if "nps" not in table["metric"]:
            return
        cells = list(score(frame_of(table), "nps", by="store", every="day"))
        assert sum(c.n for c in cells) == table["metric"].count("nps")
        for c in cells:
            if c.score is not None:
                assert -100.0 <= c.score <= 100.0
                assert -100.0 <= (c.low or 0) <= (c.high or 0) <= 100.0
