"""Tests for cxcore.analysis.cube: the segment cube agrees with score_many and compare."""

from __future__ import annotations

import asyncio
import json
import math
import random
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxcore import CsatQuestion, CxError, NpsQuestion, Submission, Survey
from cxcore.analysis import Cube, build_cube, cube_from_store, rolling_cube
from cxcore.scoring import Cell, ResponseFrame, compare, score_many
from cxcore.stores import SQLiteStore

SCALES = {"nps": (0, 10), "csat": (1, 5), "rating": (1, 5)}
KINDS = ("customer", "anonymous", "agent")
T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)


@st.composite
def tables(draw: st.DrawFn) -> dict[str, list[Any]]:
    n = draw(st.integers(1, 80))
    metrics = draw(st.lists(st.sampled_from(sorted(SCALES)), min_size=n, max_size=n))
    # Answers bunched on few levels, so some cells have answers all alike.
    scores = [draw(st.sampled_from(list(range(SCALES[m][0], SCALES[m][1] + 1)))) for m in metrics]
    return {
        "metric": metrics,
        "score": scores,
        "store": draw(st.lists(st.sampled_from(["A", "B", "<C>"]), min_size=n, max_size=n)),
        "respondent": draw(st.lists(st.sampled_from(KINDS), min_size=n, max_size=n)),
        "answered_at": [
            T0 + timedelta(days=d)
            for d in draw(st.lists(st.integers(0, 75), min_size=n, max_size=n))
        ],
    }


def frame_of(table: dict[str, list[Any]], **options: Any) -> ResponseFrame:
    return ResponseFrame.from_columns(
        {k: np.asarray(v, dtype=object) for k, v in table.items()}, include_agents=True, **options
    )


def same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


def reference(frame: ResponseFrame, kind: str, **options: Any) -> dict[str, list[Cell]]:
    """score_many over one reporter's answers only."""
    kinds = frame.dimensions["respondent"]
    mask = np.isin(kinds.codes, [i for i, v in enumerate(kinds.values) if v == kind])
    tables = score_many(frame.take(mask), list(frame.metrics), **options)
    return {name: [c for c in table if c.n > 0] for name, table in tables.items()}


def previous(day: date, every: str) -> date:
    if every == "day":
        return day - timedelta(days=1)
    if every == "week":
        return day - timedelta(days=7)
    return (day.replace(day=1) - timedelta(days=1)).replace(day=1)


class TestAgreesWithScoreMany:
    @settings(max_examples=40, deadline=None)
    @given(
        table=tables(),
        every=st.sampled_from(["day", "week", "month", None]),
        min_n=st.integers(0, 8),
    )
    def test_every_cell_matches(self, table, every, min_n):
        """Each reporter's cells are score_many's over its answers alone; suppressed ones keep n."""
        frame = frame_of(table)
        cube = build_cube(frame, by="store", every=every, min_n=min_n)
        assert cube.split_respondents
        seen = 0
        for kind in KINDS:
            for metric, cells in reference(
                frame, kind, by="store", every=every, min_n=min_n
            ).items():
                for ref in cells:
                    got = cube.get(
                        metric, {"store": ref.key[0]}, respondent=kind, period=ref.period
                    )
                    assert got is not None, (metric, kind, ref.key, ref.period)
                    seen += 1
                    assert got.n == ref.n
                    assert got.suppressed == ref.low_n
                    assert got.agent_reported == (kind == "agent")
                    if ref.low_n:
                        assert (got.score, got.low, got.high) == (None, None, None)
                        assert got.change is None
                    else:
                        assert same(got.score, ref.score)
                        assert same(got.low, ref.low)
                        assert same(got.high, ref.high)
        assert seen == len(cube)  # nothing dropped, nothing invented

    @settings(max_examples=40, deadline=None)
    @given(table=tables(), every=st.sampled_from(["day", "week", "month"]))
    def test_changes_are_compare(self, table, every):
        """Each change is compare(cell, the same group's previous period), to the last digits."""
        frame = frame_of(table)
        cube = build_cube(frame, by="store", every=every, min_n=2)
        checked = 0
        for kind in KINDS:
            for metric, cells in reference(frame, kind, by="store", every=every, min_n=2).items():
                by_key = {(c.key, c.period): c for c in cells}
                for ref in cells:
                    assert ref.period is not None
                    got = cube.get(
                        metric, {"store": ref.key[0]}, respondent=kind, period=ref.period
                    )
                    assert got is not None
                    before = by_key.get((ref.key, previous(ref.period, every)))
                    usable = (
                        before is not None
                        and not before.low_n
                        and not ref.low_n
                        and (metric != "rating" or (ref.sd is not None and before.sd is not None))
                    )
                    if not usable:
                        assert got.change is None
                        continue
                    assert before is not None
                    d = compare(ref, before)
                    assert same(got.previous_score, before.score)
                    assert math.isclose(got.change or 0.0, d.difference, abs_tol=1e-9)
                    assert math.isclose(got.change_low or 0.0, d.low, abs_tol=1e-9)
                    assert math.isclose(got.change_high or 0.0, d.high, abs_tol=1e-9)
                    assert math.isclose(got.p_value or 0.0, d.p_value, abs_tol=1e-12)
                    assert got.significant == d.significant
                    checked += 1
        assert checked <= len(cube)

    def test_weighted_cells_and_changes(self):
        """Weighted, the cells are score_many's and the changes compare()'s on effective counts."""
        rng = random.Random(8)
        n = 2000
        table: dict[str, list[Any]] = {
            "metric": [rng.choice(["nps", "csat", "rating"]) for _ in range(n)],
            "store": [rng.choice(["A", "B"]) for _ in range(n)],
            "answered_at": [T0 + timedelta(days=rng.randint(0, 27)) for _ in range(n)],
        }
        table["score"] = [rng.randint(*SCALES[m]) for m in table["metric"]]
        frame = ResponseFrame.from_columns(table).with_weights(
            [rng.uniform(0.5, 2.0) for _ in range(n)]
        )
        cube = build_cube(frame, by="store", every="week", weighted=True, min_n=20)
        tables = score_many(frame, by="store", every="week", weighted=True, min_n=20)
        checked = 0
        for metric, ref_table in tables.items():
            cells = {(c.key, c.period): c for c in ref_table if c.n > 0}
            for (key, period), ref in cells.items():
                got = cube.get(metric, {"store": key[0]}, period=period)
                assert got is not None
                assert same(got.score, None if ref.low_n else ref.score)
                assert period is not None
                before = cells.get((key, period - timedelta(days=7)))
                if before is None or before.low_n or ref.low_n:
                    assert got.change is None
                    continue
                d = compare(ref, before)
                assert math.isclose(got.change or 0.0, d.difference, abs_tol=1e-9)
                assert math.isclose(got.p_value or 0.0, d.p_value, abs_tol=1e-12)
                checked += 1
        assert checked > 10

    def test_significant_change_is_found(self):
        """A store that falls from NPS +60 to -20 week on week has a significant change."""
        rows = 200
        table: dict[str, list[Any]] = {"metric": [], "score": [], "store": [], "answered_at": []}
        for i in range(rows):
            week = i % 2
            table["metric"].append("nps")
            table["score"].append((10 if i % 10 else 0) if week == 0 else (0 if i % 10 < 6 else 10))
            table["store"].append("A")
            table["answered_at"].append(datetime(2026, 3, 2, tzinfo=UTC) + timedelta(days=7 * week))
        cube = build_cube(ResponseFrame.from_columns(table), by="store", every="week")
        second = cube.get("nps", {"store": "A"}, period=date(2026, 3, 9))
        assert second is not None
        assert second.previous_score == 60.0
        assert second.change == -80.0
        assert second.significant
        assert second.p_value is not None
        assert second.p_value < 1e-6
        first = cube.get("nps", {"store": "A"}, period=date(2026, 3, 2))
        assert first is not None
        assert first.change is None

    def test_month_change_crosses_the_year(self):
        """December's cell is January's previous month."""
        table: dict[str, list[Any]] = {
            "metric": ["csat"] * 80,
            "score": [5, 1] * 40,
            "answered_at": [datetime(2025, 12, 15, tzinfo=UTC)] * 40
            + [datetime(2026, 1, 15, tzinfo=UTC)] * 40,
        }
        cube = build_cube(ResponseFrame.from_columns(table), every="month", min_n=10)
        january = cube.get("csat", {}, period=date(2026, 1, 1))
        assert january is not None
        assert january.previous_score == 50.0
        assert january.change == 0.0
        assert not january.significant


class TestShape:
    def frame(self) -> ResponseFrame:
        rng = random.Random(3)
        n = 600
        return frame_of(
            {
                "metric": [rng.choice(["nps", "csat"]) for _ in range(n)],
                "score": [rng.randint(1, 5) for _ in range(n)],
                "store": [rng.choice(["A", "B"]) for _ in range(n)],
                "respondent": [rng.choice(KINDS) for _ in range(n)],
                "answered_at": [T0 + timedelta(days=rng.randint(0, 40)) for _ in range(n)],
            }
        )

    def test_pandas_is_tidy(self):
        """One row per cell: keys, reporter, period, metric, then the numbers; agents marked."""
        cube = build_cube(self.frame(), by="store", every="week")
        df = cube.to_pandas()
        assert len(df) == len(cube)
        assert list(df.columns[:5]) == ["store", "respondent", "reported_by", "period", "metric"]
        assert set(df.loc[df.respondent == "agent", "reported_by"]) == {"agent"}
        assert set(df.loc[df.respondent != "agent", "reported_by"]) == {"self"}
        assert str(df["period"].dtype).startswith("datetime64")
        assert df.loc[df.suppressed, "score"].isna().all()
        assert (df.loc[df.suppressed, "n"] > 0).all()  # marked, not dropped
        assert df.duplicated(["store", "respondent", "period", "metric"]).sum() == 0

    def test_polars_matches_pandas(self):
        """The polars table has the same rows and numbers, with a Date period."""
        pl = pytest.importorskip("polars")
        cube = build_cube(self.frame(), by="store", every="month")
        pdf = cube.to_pandas()
        pldf = cube.to_polars()
        assert pldf.columns == list(pdf.columns)
        assert pldf.schema["period"] == pl.Date
        assert pldf["n"].to_list() == pdf["n"].tolist()
        assert pldf["store"].to_list() == pdf["store"].tolist()

    def test_records_are_json(self):
        """to_records gives plain values, ISO dates and None for what is not shown."""
        cube = build_cube(self.frame(), by="store", every="week")
        records = cube.to_records()
        text = json.dumps(records)
        assert "NaN" not in text
        assert records[0]["period"].count("-") == 2

    def test_a_frame_without_agents_says_how_many_were_left_out(self):
        """A frame built without include_agents has no reporter split; its exclusions are kept."""
        table: dict[str, list[Any]] = {
            "metric": ["nps"] * 3,
            "score": [9, 10, 0],
            "respondent": ["agent", "customer", "customer"],
        }
        frame = ResponseFrame.from_columns(table)
        cube = build_cube(frame, every=None, min_n=0)
        assert not cube.split_respondents
        assert cube.excluded_agents == 1
        (cell,) = list(cube)
        assert (cell.n, cell.score, cell.respondent) == (2, 0.0, None)
        assert "respondent" not in cube.to_pandas().columns

    def test_repr_and_str_are_readable(self):
        """The repr says what the cube holds; a cell prints as one short line."""
        cube = build_cube(self.frame(), by="store", every="week")
        assert cube.summary().startswith("Cube(csat, nps by store x week: ")
        assert "agent-reported apart" in cube.summary()
        text = repr(cube)
        assert text.splitlines()[0] == cube.summary()
        assert "rows hidden" in text
        assert "fewer than 30 answers: score suppressed, n shown" in text
        assert "Net Promoter Score" in text
        assert all(len(str(cell)) < 160 for cell in cube)
        cell = cube[0]
        assert repr(cell) == f"CubeCell({cell})"
        ET.fromstring(cell._repr_html_())  # noqa: S314 - our own output

    def test_html_escapes_group_values(self):
        """In Jupyter the cube is an HTML table; a store named <script> stays text."""
        frame = frame_of(
            {
                "metric": ["nps"] * 40,
                "score": [10] * 40,
                "store": ["<script>alert(1)</script>"] * 40,
                "respondent": ["customer"] * 40,
                "answered_at": [T0] * 40,
            }
        )
        page = build_cube(frame, by="store", every="week")._repr_html_()
        assert "<script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        ET.fromstring(page)  # well-formed  # noqa: S314 - our own output

    def test_indexing(self):
        """Cells can be indexed from either end; out of range is an IndexError."""
        cube = build_cube(self.frame(), by="store", every="week")
        assert cube[-1] == cube[len(cube) - 1]
        with pytest.raises(IndexError, match="out of range"):
            cube[len(cube)]


class TestRolling:
    def test_windows_match_selections(self):
        """The last 7 and 30 days are score_many over those days, compared with the days before."""
        rng = random.Random(5)
        n = 3000
        as_of = datetime(2026, 3, 1, tzinfo=UTC)
        table: dict[str, list[Any]] = {
            "metric": ["nps"] * n,
            "score": [rng.randint(0, 10) for _ in range(n)],
            "store": [rng.choice(["A", "B"]) for _ in range(n)],
            "answered_at": [as_of - timedelta(hours=rng.randint(1, 24 * 70)) for _ in range(n)],
        }
        frame = ResponseFrame.from_columns(table)
        cube = rolling_cube(frame, by="store", days=(7, 30), as_of=as_of, min_n=10)
        assert cube.window_days == (7, 30)
        for days in (7, 30):
            start = as_of - timedelta(days=days)
            now = score_many(frame.select(start=start, end=as_of), ["nps"], by="store", min_n=10)[
                "nps"
            ]
            then = score_many(
                frame.select(start=start - timedelta(days=days), end=start),
                ["nps"],
                by="store",
                min_n=10,
            )["nps"]
            for ref in now:
                got = cube.get("nps", {"store": ref.key[0]}, period=start.date(), window_days=days)
                assert got is not None
                assert (got.n, got.score, got.low, got.high) == (
                    ref.n,
                    ref.score,
                    ref.low,
                    ref.high,
                )
                before = then.get(ref.key)
                assert before is not None
                d = compare(ref, before)
                assert math.isclose(got.change or 0.0, d.difference, abs_tol=1e-9)
                assert math.isclose(got.p_value or 0.0, d.p_value, abs_tol=1e-12)

    def test_as_of_defaults_to_the_end_of_the_last_day(self):
        """Without as_of the windows end at midnight after the latest answer."""
        table: dict[str, list[Any]] = {
            "metric": ["nps"] * 2,
            "score": [10, 0],
            "answered_at": [datetime(2026, 3, 1, 8, tzinfo=UTC), datetime(2026, 2, 20, tzinfo=UTC)],
        }
        cube = rolling_cube(ResponseFrame.from_columns(table), days=(7,), min_n=0)
        (cell,) = list(cube)
        assert cell.period == date(2026, 2, 23)
        assert (cell.n, cell.score, cell.window_days) == (1, 100.0, 7)

    def test_a_window_asked_twice_is_one(self):
        """days=(7, 7) gives the 7-day window once."""
        frame = ResponseFrame.from_columns({"metric": ["nps"], "score": [9], "answered_at": [T0]})
        cube = rolling_cube(frame, days=(7, 7), min_n=0)
        assert cube.window_days == (7,)
        assert len(cube) == 1

    @pytest.mark.parametrize("days", [(), (0,), (7, -1), (1.5,)])
    def test_bad_windows_are_refused(self, days):
        """A window must be a positive whole number of days."""
        frame = ResponseFrame.from_columns({"metric": ["nps"], "score": [1], "answered_at": [T0]})
        with pytest.raises(CxError, match="positive whole numbers of days"):
            rolling_cube(frame, days=days)


class TestPackage:
    def test_import_is_light_and_names_load_on_use(self):
        """`import cxcore.analysis` loads no numpy, pandas or matplotlib; a name loads its module."""
        code = (
            "import sys, cxcore.analysis as a\n"
            "heavy = ['numpy', 'pandas', 'polars', 'matplotlib']\n"
            "print(sorted(m for m in heavy if m in sys.modules))\n"
            "a.build_cube\n"
            "print('cxcore.analysis.cube' in sys.modules, 'cxcore.analysis.health' in sys.modules)"
        )
        run = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        assert run.stdout.split("\n")[:2] == ["[]", "True False"]

    def test_every_listed_name_exists(self):
        """Each name in __all__ resolves, and an unknown one is an AttributeError."""
        from cxcore import analysis  # noqa: PLC0415 - the package under test

        for name in analysis.__all__:
            assert getattr(analysis, name) is not None
        assert set(analysis.__all__) <= set(dir(analysis))
        with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
            analysis.nothing  # noqa: B018 - the lookup is the test


class TestRefusals:
    def test_bad_min_n(self):
        """min_n must be a whole number, 0 or more."""
        frame = ResponseFrame.from_columns({"metric": ["nps"], "score": [1]})
        with pytest.raises(CxError, match=r"min_n -1 is not a whole number"):
            build_cube(frame, every=None, min_n=-1)

    def test_respondent_is_not_a_grouping(self):
        """Grouping by the reporter is refused: cells are split by it already."""
        frame = frame_of(
            {"metric": ["nps"], "score": [1], "respondent": ["agent"], "answered_at": [T0]}
        )
        with pytest.raises(CxError, match="split by who reported them already"):
            build_cube(frame, by="respondent")

    def test_get_names_what_is_wrong(self):
        """Asking for a metric or group the cube does not have says so."""
        frame = ResponseFrame.from_columns({"metric": ["nps"], "score": [1], "store": ["A"]})
        cube = build_cube(frame, by="store", every=None)
        with pytest.raises(CxError, match="has no metric 'csat'"):
            cube.get("csat", {"store": "A"})
        with pytest.raises(CxError, match="names every dimension"):
            cube.get("nps", {"agent": "x"})
        assert cube.get("nps", {"store": "Z"}) is None

    def test_time_buckets_need_times(self):
        """A cube by week of a frame without times says why it cannot be."""
        frame = ResponseFrame.from_columns({"metric": ["nps"], "score": [1]})
        with pytest.raises(CxError, match="no answer times"):
            build_cube(frame, every="week")


SURVEY = Survey(
    id="visit",
    title={"en": "Visit"},
    questions=[
        NpsQuestion(id="ltr", text={"en": "Recommend?"}),
        CsatQuestion(id="sat", text={"en": "Satisfied?"}),
    ],
)


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store with 500 responses, a tenth of them reported by agents."""
    db = tmp_path_factory.mktemp("cube") / "cx.db"

    async def fill() -> None:
        async with SQLiteStore(db) as store:
            await fill_store(store)

    asyncio.run(fill())
    return db


async def fill_store(store: Any, responses: int = 500) -> None:
    """Put the survey and *responses* responses (a tenth by agents) in *store*."""
    rng = random.Random(11)
    await store.put_survey(SURVEY)
    for i in range(responses):
        agent = rng.random() < 0.1
        await store.submit(
            Submission(
                idempotency_key=f"k{i}",
                survey_id="visit",
                survey_version=1,
                answers={"ltr": rng.randint(0, 10), "sat": rng.randint(1, 5)},
                complete=True,
                channel="sms",
                respondent="agent" if agent else "anonymous",
                agent_id="A-1" if agent else None,
                received_at=T0 + timedelta(hours=3 * i),
                context={"store": rng.choice(["BLR-01", "DEL-02", "MUM-03"])},
            )
        )


def rows_of(cube: Cube) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    return {
        (c.metric, tuple(c.group.items()), c.respondent, c.period, c.window_days): (
            c.n,
            c.score,
            c.low,
            c.high,
            c.suppressed,
            c.change,
        )
        for c in cube
    }


class TestFromStore:
    def read(self, db: Path, **options: Any) -> tuple[Cube, ResponseFrame]:
        async def go() -> tuple[Cube, ResponseFrame]:
            async with SQLiteStore(db) as store:
                cube = await cube_from_store(
                    store, survey_id="visit", metrics=["nps", "csat"], by="store", **options
                )
                frame = await store.frame(
                    survey_id="visit", dimensions=["store", "respondent"], include_agents=True
                )
            return cube, frame

        return asyncio.run(go())

    def test_counted_in_sql_is_the_cube_of_the_frame(self, store_path):
        """Without time buckets the store counts in SQL, and gives the in-memory cube's cells."""
        cube, frame = self.read(store_path, min_n=20)
        expected = build_cube(frame, ["nps", "csat"], by="store", every=None, min_n=20)
        assert rows_of(cube) == rows_of(expected)
        agents = [c for c in cube if c.agent_reported]
        assert agents
        assert all(c.n < 60 for c in agents)

    def test_by_week_reads_the_frame(self, store_path):
        """By week, the store's frame is cubed: the same cells as cubing it by hand."""
        cube, frame = self.read(store_path, every="week", min_n=5)
        expected = build_cube(frame, ["nps", "csat"], by="store", every="week", min_n=5)
        assert rows_of(cube) == rows_of(expected)
        assert any(c.change is not None for c in cube)

    @pytest.mark.parametrize("every", ["day", "week", "month"])
    def test_periods_between_dates_are_counted_in_sql(self, store_path, every):
        """Between since and until, each period is counted in SQL: the frame's cube, cell by cell."""
        since = T0 + timedelta(days=3, hours=5)
        until = T0 + timedelta(days=47, hours=2)
        cube, frame = self.read(store_path, every=every, min_n=5, since=since, until=until)
        inside = frame.select(start=since, end=until)
        expected = build_cube(inside, ["nps", "csat"], by="store", every=every, min_n=5)
        got, want = rows_of(cube), rows_of(expected)
        assert got.keys() == want.keys()
        for key, (n, score, low, high, suppressed, change) in want.items():
            assert got[key][:5] == (n, score, low, high, suppressed)
            if change is None:
                assert got[key][5] is None
            else:
                assert got[key][5] == pytest.approx(change, abs=1e-9)
        assert cube.every is not None
        assert cube.every.value == every
        assert any(c.change is not None for c in cube) or every == "day"

    def test_rolling_from_the_store(self, store_path):
        """Rolling windows from the store are those of its frame."""
        as_of = T0 + timedelta(days=50)
        cube, frame = self.read(store_path, days=(7, 30), as_of=as_of)
        expected = rolling_cube(frame, ["nps", "csat"], by="store", days=(7, 30), as_of=as_of)
        assert rows_of(cube) == rows_of(expected)

    def test_buckets_or_windows_not_both(self, store_path):
        """Asking for weeks and windows at once is refused."""
        with pytest.raises(CxError, match="not both"):
            self.read(store_path, every="week", days=(7,))


class TestEveryBackend:
    def test_sql_counts_are_the_frames_cube(self, any_store):
        """On SQLite and PostgreSQL alike, the cubes counted in SQL are those of the store's frame."""
        since, until = T0 + timedelta(days=2), T0 + timedelta(days=30)

        async def go() -> tuple[Cube, Cube, ResponseFrame]:
            async with any_store() as store:
                await fill_store(store, 240)
                options: dict[str, Any] = {"survey_id": "visit", "metrics": ["nps"], "by": "store"}
                overall = await cube_from_store(store, min_n=10, **options)
                weekly = await cube_from_store(
                    store, every="week", since=since, until=until, min_n=10, **options
                )
                frame = await store.frame(
                    survey_id="visit", dimensions=["store", "respondent"], include_agents=True
                )
            return overall, weekly, frame

        overall, weekly, frame = asyncio.run(go())
        assert rows_of(overall) == rows_of(
            build_cube(frame, ["nps"], by="store", every=None, min_n=10)
        )
        expected = build_cube(
            frame.select(start=since, end=until), ["nps"], by="store", every="week", min_n=10
        )
        got, want = rows_of(weekly), rows_of(expected)
        assert got.keys() == want.keys()
        for key, value in want.items():
            assert got[key][:5] == value[:5]
            assert (got[key][5] is None) == (value[5] is None)
            if value[5] is not None:
                assert got[key][5] == pytest.approx(value[5], abs=1e-9)
