"""Tests for cxcore.scoring.live: per-answer updates that give exactly the batch numbers."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from random import Random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxcore.errors import CxError, UnknownMetricError
from cxcore.model import NpsQuestion, Response, Survey
from cxcore.scoring import LiveScoreboard, ResponseFrame, ScoreInputError, Segmentation, score

SCALES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
START = datetime(2026, 1, 1, 9, tzinfo=UTC)
SEGMENTATIONS = [
    Segmentation("overall"),
    Segmentation("store", ("store",)),
    Segmentation("store_touchpoint", ("store", "touchpoint")),
    Segmentation("week", (), "week"),
    Segmentation("store_month", ("store",), "month"),
    Segmentation("day", (), "day"),
]

Row = tuple[str, int, str, str, int]


@st.composite
def answers(draw: st.DrawFn) -> list[Row]:
    n = draw(st.integers(1, 80))
    out = []
    for _ in range(n):
        metric = draw(st.sampled_from(sorted(SCALES)))
        out.append(
            (
                metric,
                draw(st.integers(*SCALES[metric])),
                draw(st.sampled_from(["A", "B", "C"])),
                draw(st.sampled_from(["web", "app"])),
                draw(st.integers(0, 75)),
            )
        )
    return out


def frame_of(rows: list[Row]) -> ResponseFrame:
    return ResponseFrame.from_columns(
        {
            "metric": np.array([r[0] for r in rows], dtype=object),
            "score": np.array([r[1] for r in rows]),
            "store": np.array([r[2] for r in rows], dtype=object),
            "touchpoint": np.array([r[3] for r in rows], dtype=object),
            "answered_at": np.array([START + timedelta(days=r[4]) for r in rows], dtype=object),
        }
    )


def board_of(rows: list[Row]) -> LiveScoreboard:
    board = LiveScoreboard(SEGMENTATIONS, metrics=sorted(SCALES))
    for metric, value, store, touchpoint, day in rows:
        board.add(
            metric,
            value,
            at=START + timedelta(days=day),
            dimensions={"store": store, "touchpoint": touchpoint},
        )
    return board


class TestLiveEqualsBatch:
    @settings(max_examples=40, deadline=None)
    @given(answers())
    def test_every_segment_exactly(self, rows: list[Row]) -> None:
        """For every segmentation, segment and metric, the live cell is exactly the batch cell."""
        frame = frame_of(rows)
        live = board_of(rows)
        rebuilt = LiveScoreboard(SEGMENTATIONS, metrics=sorted(SCALES))
        rebuilt.add_frame(frame)
        for seg in SEGMENTATIONS:
            for metric in SCALES:
                for cell in score(frame, metric, by=seg.by, every=seg.every):
                    assert live.cell(seg.name, cell.key, metric, period=cell.period) == cell
                    assert rebuilt.cell(seg.name, cell.key, metric, period=cell.period) == cell
                    if seg.every is None:
                        assert live.score(seg.name, cell.key, metric) == cell.score

    @settings(max_examples=30, deadline=None)
    @given(answers(), st.sampled_from([7, 30]))
    def test_rolling_windows(self, rows: list[Row], window: int) -> None:
        """The last 7 or 30 days equal the batch score of the rows of those days."""
        live = board_of(rows)
        last = max(r[4] for r in rows)
        first_day = START.replace(hour=0) + timedelta(days=last - window + 1)
        recent = frame_of(rows).select(start=first_day)
        for metric in SCALES:
            for cell in score(recent, metric, by="store"):
                assert live.cell("store", cell.key, metric, window=window) == cell

    def test_snapshot_and_keys(self) -> None:
        """A snapshot has one cell per segment seen."""
        board = board_of([("nps", 10, "A", "web", 0), ("nps", 0, "B", "web", 8)])
        keys = board.keys("store_touchpoint")
        assert sorted(k for k, _ in keys) == [("A", "web"), ("B", "web")]
        weeks = sorted(p for _, p in board.keys("week") if p is not None)
        assert weeks == [date(2025, 12, 29), date(2026, 1, 5)]
        assert {c.score for c in board.snapshot("store")} == {100.0, -100.0}


class TestWriting:
    def test_agents_skipped(self) -> None:
        """Agent-reported answers are skipped unless the board includes them."""
        board = LiveScoreboard([Segmentation("overall")], metrics=["nps"])
        assert not board.add("nps", 0, at=START, dimensions={"respondent": "agent"})
        assert board.add("nps", 10, at=START)
        assert board.score("overall", (), "nps") == 100.0
        with_agents = LiveScoreboard(
            [Segmentation("overall")], metrics=["nps"], include_agents=True
        )
        with_agents.add("nps", 0, at=START, dimensions={"respondent": "agent"})
        assert with_agents.score("overall", (), "nps") == -100.0

    def test_bad_answers(self) -> None:
        """Off-scale values, unknown metrics and naive times are refused."""
        board = LiveScoreboard({"store": ["store"]}, metrics=["nps"])
        with pytest.raises(CxError, match="not on the nps scale"):
            board.add("nps", 11, at=START)
        with pytest.raises(UnknownMetricError):
            board.add("csat", 3, at=START)
        with pytest.raises(CxError, match="no time zone"):
            board.add("nps", 3, at=datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test

    def test_add_response(self) -> None:
        """A response adds its scored answers with its context as dimensions."""
        survey = Survey(
            id="visit", title={"en": "Visit"}, questions=[NpsQuestion(id="ltr", text={"en": "?"})]
        )
        response = Response(
            id="R1",
            survey_id="visit",
            survey_version=1,
            answers={"ltr": 9},
            status="complete",
            respondent="anonymous",
            channel="kiosk",
            idempotency_key="k",
            started_at=START,
            updated_at=START,
            completed_at=START,
            context={"store": "BLR-01"},
        )
        board = LiveScoreboard({"store": ["store"]}, metrics=["nps"])
        assert board.add_response(response, survey) == 1
        assert board.score("store", ("BLR-01",), "nps") == 100.0
        other = Survey(
            id="other", title={"en": "x"}, questions=[NpsQuestion(id="ltr", text={"en": "?"})]
        )
        with pytest.raises(ScoreInputError, match="answers survey 'visit' v1"):
            board.add_response(response, other)

    def test_configuration_errors(self) -> None:
        """Repeated names, bad windows and unknown segmentations are errors."""
        with pytest.raises(CxError, match="more than once"):
            LiveScoreboard([Segmentation("a"), Segmentation("a")])
        with pytest.raises(CxError, match="windows"):
            LiveScoreboard([Segmentation("a")], windows=(0,))
        board = LiveScoreboard([Segmentation("a", ("store",))], metrics=["nps"])
        with pytest.raises(CxError, match="no segmentation 'b'"):
            board.cell("b")
        with pytest.raises(CxError, match="does not match"):
            board.cell("a", ("x", "y"))
        with pytest.raises(CxError, match="not 14"):
            board.cell("a", ("x",), window=14)

    def test_old_days_are_forgotten(self) -> None:
        """Days that leave the largest window are dropped; totals keep everything."""
        board = LiveScoreboard([Segmentation("overall")], metrics=["nps"], windows=(7,))
        board.add("nps", 0, at=START)
        board.add("nps", 10, at=START + timedelta(days=10))
        assert board.cell("overall", (), "nps", window=7).n == 1
        assert board.cell("overall", (), "nps").n == 2
        # Day 0 left the horizon (day 10 - 7): even a window ending on it is empty.
        assert board.cell("overall", (), "nps", window=7, today=START.date()).n == 0
        assert board.levels("overall", (), "nps", window=7, today=date(2026, 1, 6)) == [0] * 11


def levels_of(rows: list[Row], store: str, metric: str, first: int, last: int) -> list[int]:
    """The oracle: the count at each level of the rows of *store* and *metric*, days first..last."""
    low, high = SCALES[metric]
    out = [0] * (high - low + 1)
    for m, value, s, _, day in rows:
        if m == metric and s == store and first <= day <= last:
            out[value - low] += 1
    return out


class TestWindowsInAnyOrder:
    """Answers arrive in any order: a window counts the kept days, whatever the order.

    With L the latest day and K the largest window, the kept days are L - K + 1
    to L. An answer of an older day (arriving late) counts in the totals and in
    the segmentations by period, never in a window.
    """

    @settings(max_examples=60, deadline=None)
    @given(answers(), st.randoms(use_true_random=False), st.sampled_from([7, 30]), st.data())
    def test_shuffled_arrivals(
        self, rows: list[Row], rnd: Random, window: int, data: st.DataObject
    ) -> None:
        """Every window, ending on any day, equals the oracle and the batch cell."""
        rnd.shuffle(rows)
        live = board_of(rows)
        latest = max(r[4] for r in rows)
        end = data.draw(st.integers(latest - 45, latest + 10), label="today")
        today = (START + timedelta(days=end)).date()
        first, last = max(end - window, latest - 30) + 1, min(end, latest)
        kept = [r for r in rows if first <= r[4] <= last]
        for metric in SCALES:
            for store in "ABC":
                got = live.levels("store", store, metric, window=window, today=today)
                assert got == levels_of(rows, store, metric, first, last)
            if kept:
                for cell in score(frame_of(kept), metric, by="store"):
                    assert live.cell("store", cell.key, metric, window=window, today=today) == cell
            for seg in SEGMENTATIONS:  # the totals and periods are those of every answer
                for cell in score(frame_of(rows), metric, by=seg.by, every=seg.every):
                    assert live.cell(seg.name, cell.key, metric, period=cell.period) == cell

    @settings(max_examples=40, deadline=None)
    @given(answers(), answers(), st.randoms(use_true_random=False))
    def test_frame_then_live(self, before: list[Row], after: list[Row], rnd: Random) -> None:
        """A board rebuilt from a frame, then fed answers in any order, counts as if fed live."""
        rnd.shuffle(after)
        live = board_of(sorted(before, key=lambda r: r[4]) + after)
        rebuilt = LiveScoreboard(SEGMENTATIONS, metrics=sorted(SCALES))
        rebuilt.add_frame(frame_of(before))
        for metric, value, store, touchpoint, day in after:
            rebuilt.add(
                metric,
                value,
                at=START + timedelta(days=day),
                dimensions={"store": store, "touchpoint": touchpoint},
            )
        latest = max(r[4] for r in before + after)
        for window, back in itertools.product((7, 30), (0, 1, 3, 8)):
            end = latest - back
            today = (START + timedelta(days=end)).date()
            first = max(end - window, latest - 30) + 1
            for metric in SCALES:
                for key in [("A", "web"), ("B", "app"), ("C", "web")]:
                    want = live.levels("store_touchpoint", key, metric, window=window, today=today)
                    got = rebuilt.levels(
                        "store_touchpoint", key, metric, window=window, today=today
                    )
                    assert got == want
                want = levels_of(before + after, "A", metric, first, end)
                assert rebuilt.levels("store", "A", metric, window=window, today=today) == want

    def test_late_answers(self) -> None:
        """Late answers count in windows while their day is kept, in totals always."""
        board = LiveScoreboard([Segmentation("overall")], metrics=["nps"], windows=(7, 30))
        at = START + timedelta(days=40)
        board.add("nps", 10, at=at)
        board.add("nps", 0, at=at - timedelta(days=5))  # late, kept: in the 7-day window
        board.add("nps", 0, at=at - timedelta(days=9))  # late, kept: in the 30-day window only
        board.add("nps", 0, at=at - timedelta(days=30))  # before the horizon: in no window
        assert [board.cell("overall", (), "nps", window=w).n for w in (7, 30)] == [2, 3]
        assert board.cell("overall", (), "nps").n == 4
        # A window ending in the past holds the answers of its days, not the later ones.
        eight_ago = (at - timedelta(days=8)).date()
        assert board.cell("overall", (), "nps", window=7, today=eight_ago).n == 1
        assert board.cell("overall", (), "nps", window=30, today=eight_ago).n == 1
        five_ago = (at - timedelta(days=5)).date()
        assert board.cell("overall", (), "nps", window=7, today=five_ago).n == 2

    def test_gap_longer_than_every_window(self) -> None:
        """After a gap longer than the largest window, the windows hold only the new day."""
        board = LiveScoreboard({"store": ["store"]}, metrics=["nps"], windows=(7, 30))
        for day in range(10):
            board.add("nps", 9, at=START + timedelta(days=day), dimensions={"store": "A"})
        board.add("nps", 0, at=START + timedelta(days=100), dimensions={"store": "A"})
        board.add("nps", 10, at=START + timedelta(days=100), dimensions={"store": "B"})
        assert board.cell("store", "A", "nps", window=30).n == 1
        assert board.cell("store", "A", "nps", window=30).score == -100.0
        assert board.cell("store", "B", "nps", window=7).score == 100.0
        assert board.cell("store", "A", "nps").n == 11
        # A day inside the gap, still kept: nothing was answered on it.
        gap_day = (START + timedelta(days=95)).date()
        assert board.cell("store", "A", "nps", window=7, today=gap_day).n == 0

    def test_answers_without_a_time(self) -> None:
        """A frame's rows without a time count in the totals, never in a window."""
        timeless = ResponseFrame.from_columns(
            {
                "metric": np.array(["nps", "nps"], dtype=object),
                "score": np.array([10, 0]),
                "store": np.array(["A", "A"], dtype=object),
            }
        )
        board = LiveScoreboard({"store": ["store"]}, metrics=["nps"], windows=(7,))
        board.add_frame(timeless)  # before any day ...
        board.add("nps", 9, at=START, dimensions={"store": "A"})
        board.add_frame(timeless)  # ... and after one
        assert board.cell("store", "A", "nps").n == 5
        assert board.levels("store", "A", "nps", window=7)[9:] == [1, 0]
        board.add("nps", 3, at=START + timedelta(days=1), dimensions={"store": "A"})
        assert sum(board.levels("store", "A", "nps", window=7)) == 2
