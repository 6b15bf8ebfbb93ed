"""The display module: tables as plain text and as well-formed, escaped HTML."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence

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
