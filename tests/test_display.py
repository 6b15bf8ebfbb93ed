"""The display module: tables as plain text and as well-formed, escaped HTML."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import pytest

from cxcore.display import (
    MISSING,
    Column,
    Displayable,
    Table,
    TableDisplay,
    fmt_count,
    fmt_interval,
    fmt_number,
    fmt_p_value,
    fmt_percent,
    metric_definition,
    number_format,
)
from cxcore.errors import CxError
from cxcore.metrics import Bucket, Metric, get_metric
from cxcore.scoring import (
    AaporGroup,
    LiveScoreboard,
    ResponseFrame,
    ResponseRate,
    Segmentation,
    compare,
    compare_with_rest,
    relative_weights,
    score,
)


def parse(markup: str) -> ET.Element:
    """Parse HTML as strict XML: it fails on anything not well-formed."""
    return ET.fromstring(markup)  # noqa: S314 - our own output, parsed to check it


def texts(root: ET.Element, tag: str) -> list[str]:
    return ["".join(e.itertext()) for e in root.iter(tag)]


class CountingRows(Sequence[tuple[int, int]]):
    """A lazy sequence that records which rows were read."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.read: list[int] = []

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        self.read.append(i)
        return (i, i * 10)


def table(rows, **options) -> Table:
    columns = (Column("store"), Column("n", format=fmt_count, align="right"))
    return Table(columns=columns, rows=rows, **options)


class TestFormats:
    def test_missing_numbers_show_as_a_dash(self):
        assert fmt_number(None) == MISSING
        assert fmt_number(math.nan) == MISSING
        assert fmt_interval((1.0, math.nan)) == MISSING
        assert fmt_interval(None) == MISSING
        assert fmt_count(None) == MISSING

    def test_numbers(self):
        assert fmt_count(1234) == "1,234"
        assert fmt_count(12.25) == "12.2"
        assert fmt_number(-3.14159) == "-3.1"
        assert number_format(2, signed=True)(3.14159) == "+3.14"
        assert fmt_percent(0.3171) == "31.7%"
        assert fmt_interval((14.05, 44.2)) == "[14.1, 44.2]"
        assert fmt_p_value(0.0001) == "<0.001"
        assert fmt_p_value(0.0344) == "0.034"


class TestText:
    def test_columns_align_and_marks_follow_the_row(self):
        text = table([("A", 1200), ("B", 9)], marks=[False, True], mark_note="low n").to_text()
        assert text.splitlines() == [
            "store      n",
            "-----  -----",
            "A      1,200",
            "B          9 †",
            "† low n",
        ]

    def test_the_mark_note_shows_only_when_a_shown_row_is_marked(self):
        text = table([("A", 1)], marks=[False], mark_note="low n").to_text()
        assert "low n" not in text

    def test_a_long_table_is_cut_with_a_note_of_the_rows_hidden(self):
        rows = CountingRows(1000)
        text = table(rows, max_rows=6, title="Stores").to_text()
        lines = text.splitlines()
        assert lines[0] == "Stores"
        assert lines[3:6] == ["0          0", "1         10", "2         20"]
        assert lines[6] == "... 994 rows hidden ..."
        assert lines[7:10] == ["997    9,970", "998    9,980", "999    9,990"]
        assert "994 of 1,000 rows hidden" in lines[10]
        assert sorted(rows.read) == [0, 1, 2, 997, 998, 999]  # only the rows shown are read

    def test_all_rows_with_max_rows_none(self):
        assert table(CountingRows(50), max_rows=None).hidden == 0
        assert len(table(CountingRows(50), max_rows=None).to_text().splitlines()) == 52

    def test_an_empty_table_says_so(self):
        assert "(no rows)" in table([]).to_text()
        assert "(no rows)" in table([]).to_html()

    def test_bad_input_is_named(self):
        with pytest.raises(CxError, match="max_rows 0 is not a positive"):
            table([], max_rows=0)
        with pytest.raises(CxError, match="row 0 has 1 values for 2 columns"):
            table([("A",)]).to_text()
        with pytest.raises(CxError, match="column align 'middle'"):
            Column("x", align="middle")


class TestHtml:
    def test_well_formed_and_every_value_escaped(self):
        """A store named <script> stays text, in cells, titles and notes alike."""
        evil = "<script>alert('x')</script>"
        markup = table(
            [(evil, 3), ("A & B", 4)],
            title=f"NPS by {evil}",
            notes=(f"note {evil}",),
            marks=[True, False],
            mark_note="fewer than 30",
        ).to_html()
        root = parse(markup)
        assert root.tag == "div"
        assert not list(root.iter("script"))
        cells = texts(root, "td")
        assert evil in cells
        assert "A & B" in cells
        assert texts(root, "caption") == [f"NPS by {evil}"]
        assert f"note {evil}" in cells
        assert "&lt;script&gt;" in markup

    def test_structure(self):
        root = parse(
            table(CountingRows(100), max_rows=4, marks=[i == 1 for i in range(100)]).to_html()
        )
        assert texts(root, "th") == ["store", "n", ""]
        body = root.find("table/tbody")
        assert body is not None
        rows = body.findall("tr")
        assert len(rows) == 5
        assert "96 rows hidden" in "".join(rows[2].itertext())
        assert rows[1].get("class") == "cx-low-n"
        assert "96 of 100 rows hidden" in "".join(root.find("table/tfoot").itertext())  # type: ignore[union-attr]


class TestMixin:
    def test_a_result_type_gets_str_and_html_from_its_table(self):
        class Result(TableDisplay):
            def display_table(self, *, max_rows: int | None = 20) -> Table:
                return table([(str(i), i) for i in range(30)], max_rows=max_rows)

        result = Result()
        assert isinstance(result, Displayable)
        assert str(result) == result.display_text()
        assert "10 of 30 rows hidden" in str(result)
        assert "rows hidden" not in result.display_text(max_rows=None)
        parse(result._repr_html_())


class TestMetricDefinition:
    def test_builtins(self):
        assert metric_definition(get_metric("csat")) == (
            "Customer Satisfaction: % top2 (4-5) of answers 1-5; higher is better."
        )
        assert metric_definition(get_metric("rating"), min_n=30) == (
            "Rating (5 levels): mean answer, answers 1-5; higher is better. "
            "Fewer than 30 answers is low n."
        )

    def test_direction_is_stated(self):
        effort = Metric(
            name="effort",
            title="Effort (lower is better)",
            low=1,
            high=7,
            direction="lower_is_better",
            buckets=[Bucket("easy", 1, 3), Bucket("hard", 5, 7)],
            headline="top_box",
            positive="easy",
        )
        assert "lower is better" in metric_definition(effort)


def nps_frame(stores, scores, **columns) -> ResponseFrame:
    return ResponseFrame.from_columns(
        {"metric": ["nps"] * len(scores), "score": scores, "store": stores, **columns}
    )


class TestScoreTable:
    def test_html_is_well_formed_and_a_store_named_script_stays_text(self):
        frame = nps_frame(["<script>alert(1)</script>"] * 40 + ["A&B"] * 5, [10] * 30 + [0] * 15)
        table = score(frame, "nps", by="store")
        markup = table._repr_html_()
        root = parse(markup)
        assert not list(root.iter("script"))
        cells = texts(root, "td")
        assert "<script>alert(1)</script>" in cells
        assert "A&B" in cells
        assert texts(root, "th") == ["store", "n", "NPS", "95% interval", ""]
        assert texts(root, "caption") == ["Net Promoter Score by store"]
        body = root.find("table/tbody")
        assert body is not None
        rows = [[("".join(td.itertext())) for td in tr] for tr in body]
        assert rows[0][:3] == ["<script>alert(1)</script>", "40", "50.0"]
        assert rows[1][:3] == ["A&B", "5", "-100.0"]
        assert rows[1][4] == "†"  # 5 answers: low n
        foot = " ".join(texts(root, "tfoot"))
        assert "† fewer than 30 answers: read with care" in foot
        assert "% promoter (9-10) minus % detractor (0-6)" in foot

    def test_repr_is_the_plain_table_and_a_large_table_is_cut(self):
        stores = [f"store {i:04d}" for i in range(1000) for _ in range(3)]
        table = score(nps_frame(stores, [9, 7, 0] * 1000), "nps", by="store")
        text = repr(table)
        assert text == str(table)
        lines = text.splitlines()
        assert lines[0] == "Net Promoter Score by store"
        assert len([line for line in lines if line.startswith("store 0")]) == 20
        assert "... 980 rows hidden ..." in lines
        assert "980 of 1,000 rows hidden (showing the first and last)" in lines
        assert "store 0999" in text
        assert "980 rows hidden" in table._repr_html_()
        assert len(table.display_text(max_rows=None).splitlines()) > 1000

    def test_periods_and_weights_get_their_columns(self):
        frame = nps_frame(
            ["A", "A", "B"],
            [10, 9, 0],
            answered_at=["2026-03-02T10:00:00Z", "2026-03-10T10:00:00Z", "2026-03-03T09:00:00Z"],
        )
        table = score(frame, "nps", by="store", every="week")
        assert str(table).splitlines()[1].split() == [
            "store",
            "period",
            "n",
            "NPS",
            "95%",
            "interval",
        ]
        assert "2026-03-09" in str(table)
        weighted = score(frame.with_weights([1.0, 2.0, 1.0]), "nps", by="store", weighted=True)
        head = str(weighted).splitlines()
        assert head[0] == "Net Promoter Score by store (weighted)"
        assert "n eff" in head[1]
        assert "fewer than 30 effective answers" in str(weighted)

    def test_an_empty_cell_shows_dashes(self):
        frame = ResponseFrame.from_columns(
            {"metric": ["nps", "csat"], "score": [10, 5], "store": ["A", "B"]}
        )
        line = next(
            x for x in str(score(frame, "nps", by="store")).splitlines() if x.startswith("B")
        )
        assert line.split()[:4] == ["B", "0", MISSING, MISSING]


class TestResults:
    def test_a_cell_has_a_short_repr_and_a_table_for_str(self):
        cells = list(
            score(nps_frame(["A"] * 3 + ["B"] * 40, [10, 9, 3] + [8] * 40), "nps", by="store")
        )
        assert repr(cells[0]) == "Cell(nps, store='A': 33.3 [-51.3, 84.7], n=3, low n)"
        assert len(repr(cells)) < 120
        text = str(cells[1]).splitlines()
        assert text[0] == "Net Promoter Score, store = B"
        assert "% promoter" in text[1]
        parse(cells[1]._repr_html_())

    def test_a_mean_is_shown_to_two_decimals(self):
        frame = ResponseFrame.from_columns({"metric": ["rating"] * 3, "score": [5, 4, 4]})
        (cell,) = score(frame, "rating")
        assert repr(cell).startswith("Cell(rating: 4.33 [")
        assert "RATING" in str(cell)

    def test_difference(self):
        a, b = score(
            nps_frame(["A"] * 50 + ["B"] * 50, [10] * 40 + [0] * 10 + [10] * 20 + [0] * 30),
            "nps",
            by="store",
        )
        d = compare(a, b)
        assert repr(d).startswith("Difference(+80.0 [41.6, 109.4]")
        assert repr(d).endswith("p=<0.001, significant at 0.05)")
        root = parse(d._repr_html_())
        assert texts(root, "td")[-1] == "yes"

    def test_driver_analysis_shows_weights_or_why_they_are_withheld(self):
        rng = np.random.default_rng(2)
        x = rng.normal(size=(200, 2))
        result = relative_weights(
            x, x[:, 0] + rng.normal(size=200), ["<b>delivery</b>", "app"], resamples=50
        )
        assert repr(result).splitlines()[2].startswith("--------")
        assert "<b>delivery</b>" in texts(parse(result._repr_html_()), "td")
        assert repr(result.drivers[0]).startswith("DriverWeight('<b>delivery</b>': 0.")
        withheld = relative_weights(x[:15], x[:15, 0], ["delivery", "app"])
        text = str(withheld)
        assert text.splitlines()[0] == "Drivers of outcome: suppressed, n = 15"
        assert "Suppressed: 15 respondents for 2 drivers" in text
        assert "(no rows)" in text

    def test_a_frame_summarises_itself(self):
        frame = ResponseFrame.from_columns(
            {
                "metric": ["nps", "nps", "csat", "nps"],
                "score": [10, None, 4, 99],
                "store": ["A", "B", "A", "C"],
                "answered_at": ["2026-03-02T10:00:00Z", None, "2026-03-05T10:00:00Z", None],
            },
            invalid="drop",
        )
        text = str(frame)
        assert text.splitlines()[0] == "ResponseFrame: 2 answers"
        assert "Answered from 2026-03-02 to 2026-03-05 (UTC)." in text
        assert "Left out: 1 blank scores; 1 " in text
        assert repr(frame).startswith("ResponseFrame(2 answers")
        parse(frame._repr_html_())

    def test_response_rate_repr(self):
        rate = ResponseRate(
            ("channel",), ("sms",), 10, {AaporGroup.COMPLETE: 3, AaporGroup.PARTIAL: 1}, 0.3, 0.4
        )
        assert repr(rate) == "ResponseRate(channel='sms': RR1 30.0%, RR2 40.0% of 10 invited)"
        lines = str(rate).splitlines()
        assert lines[0] == "Response rates, channel = sms"
        assert lines[3].split() == ["10", "3", "1", "0", "0", "0", "0", "30.0%", "40.0%"]
        parse(rate._repr_html_())

    def test_the_comparison_with_the_rest_shows_itself(self):
        frame = nps_frame(["A"] * 100 + ["<i>"] * 100, [10] * 80 + [0] * 20 + [10] * 20 + [0] * 80)
        result = compare_with_rest(score(frame, "nps", by="store"))
        root = parse(result._repr_html_())
        rows = root.find("table/tbody")
        assert rows is not None
        assert ["".join(tr[0].itertext()) for tr in rows] == ["<i>", "A"]
        assert "below" in repr(result)

    def test_a_live_scoreboard_shows_its_segmentations_and_counts(self):
        board = LiveScoreboard(
            [Segmentation("overall"), Segmentation("store", ("store",), every="week")],
            metrics=["nps", "csat"],
        )
        at = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
        for value, store in [(10, "<A>"), (9, "<A>"), (3, "B")]:
            board.add("nps", value, at=at, dimensions={"store": store})
        board.add("csat", 5, at=at, dimensions={"store": "B"})
        assert board.answers() == {"nps": 3, "csat": 1}
        assert repr(board) == (
            "LiveScoreboard(4 answers, metrics=[nps, csat], segmentations=[overall, store])"
        )
        lines = str(board).splitlines()
        assert lines[3].split() == ["overall", "(overall)", MISSING, "1"]
        assert lines[4].split() == ["store", "store", "week", "2"]
        assert "Answers counted: nps 3, csat 1." in lines
        parse(board._repr_html_())
