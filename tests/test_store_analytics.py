"""Reading scores out of a store: the same numbers as the in-memory scorer, counted in SQL."""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from cxcore import (
    CesQuestion,
    CsatQuestion,
    CxError,
    Direction,
    NpsQuestion,
    StoreError,
    Submission,
    Survey,
    TextQuestion,
)
from cxcore.scoring import ResponseFrame, score
from cxcore.stores import SQLiteStore, _analytics
from cxcore.stores._analytics import SPANS_PER_PART

T0 = datetime(2026, 10, 1, tzinfo=UTC)
V1 = Survey(
    id="visit",
    title={"en": "Visit"},
    questions=[
        NpsQuestion(id="ltr", text={"en": "Recommend?"}),
        CsatQuestion(id="sat", text={"en": "Satisfied?"}),
        TextQuestion(id="why", text={"en": "Why?"}),
    ],
)
V2 = attrs.evolve(
    V1,
    version=2,
    questions=[
        *V1.questions,
        CesQuestion(id="effort", text={"en": "Easy?"}, direction=Direction.LOWER_IS_BETTER),
    ],
)
STORES = ["BLR-01", "DEL-02", "MUM-03", "HYD-01"]
TOUCHPOINTS = ["billing_counter", "store_exit", "support_call"]


def submissions(n: int, seed: int = 7) -> list[Submission]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        version = rng.choice([1, 2])
        answers: dict[str, object] = {}
        if rng.random() < 0.9:
            answers["ltr"] = rng.randint(0, 10)
        if rng.random() < 0.7:
            answers["sat"] = rng.randint(1, 5)
        if version == 2 and rng.random() < 0.8:
            answers["effort"] = rng.randint(1, 7)
        if rng.random() < 0.3:
            answers["why"] = "because"
        agent = rng.random() < 0.1
        out.append(
            Submission(
                idempotency_key=f"k{i}",
                survey_id="visit",
                survey_version=version,
                answers=answers,
                complete=rng.random() < 0.8,
                channel=rng.choice(["email", "sms", "kiosk"]),
                respondent="agent" if agent else "anonymous",
                agent_id="A-1" if agent else None,
                received_at=T0 + timedelta(hours=i),
                context={"store": rng.choice(STORES), "touchpoint": rng.choice(TOUCHPOINTS)},
            )
        )
    return out


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with 400 responses over two survey versions."""
    db = tmp_path_factory.mktemp("analytics") / "cx.db"

    async def fill() -> None:
        async with SQLiteStore(db) as store:
            await store.put_survey(V1)
            await store.put_survey(V2)
            await asyncio.gather(*(store.submit(s) for s in submissions(400)))

    asyncio.run(fill())
    return db


def in_memory(
    db: Path, *, include_agents: bool = False, complete_only: bool = False
) -> ResponseFrame:
    async def read() -> ResponseFrame:
        async with SQLiteStore(db) as store:
            responses = await store.responses(survey_id="visit")
        return ResponseFrame.from_responses(
            responses, [V1, V2], include_agents=include_agents, complete_only=complete_only
        )

    return asyncio.run(read())


def summary(table_or_cells: object) -> dict[tuple[object, ...], tuple[object, ...]]:
    return {c.key: (c.n, c.score, c.low, c.high, dict(c.counts)) for c in table_or_cells}  # type: ignore[attr-defined]


class TestFrame:
    @pytest.mark.parametrize("metric", ["nps", "csat", "ces"])
    @pytest.mark.parametrize("by", [(), ("store",), ("store", "touchpoint")])
    def test_frame_scores_like_responses(self, filled, metric, by):
        """A frame read from the store scores exactly as one built from Response objects."""

        async def read() -> ResponseFrame:
            async with SQLiteStore(filled) as store:
                return await store.frame(survey_id="visit")

        from_store = asyncio.run(read())
        expected = score(in_memory(filled), metric, by=by)
        assert summary(score(from_store, metric, by=by)) == summary(expected)
        assert len(from_store) == len(in_memory(filled))

    def test_a_frame_too_large_for_one_value_is_read_row_by_row(self, filled, caplog):
        """When a column outgrows SQLite's limit on one value, the frame is read row by row."""

        async def read() -> tuple[ResponseFrame, ResponseFrame]:
            async with SQLiteStore(filled) as store:
                by_columns = await store.frame(survey_id="visit")
                # Some spans' columns are over 400 bytes; every stored row is under.
                conns = store._reader_conns
                assert conns is not None
                for conn in [conns.get() for _ in range(store.frame_parts)]:
                    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 400)
                    conns.put(conn)
                with caplog.at_level(logging.INFO, logger="cxcore.store"):
                    return by_columns, await store.frame(survey_id="visit")

        by_columns, by_rows = asyncio.run(read())
        assert "too large to read by columns; reading it row by row" in caplog.text
        assert len(by_rows) == len(by_columns) == len(in_memory(filled))
        for by in [(), ("store",), ("store", "touchpoint")]:
            for metric in ("nps", "csat", "ces"):
                want = summary(score(by_columns, metric, by=by))
                assert summary(score(by_rows, metric, by=by)) == want

    def test_filters(self, filled):
        """Agents, partial responses and time ranges are filtered as in memory."""

        async def read(**kw: object) -> ResponseFrame:
            async with SQLiteStore(filled) as store:
                return await store.frame(survey_id="visit", **kw)  # type: ignore[arg-type]

        assert len(asyncio.run(read(include_agents=True))) == len(
            in_memory(filled, include_agents=True)
        )
        assert len(asyncio.run(read(complete_only=True))) == len(
            in_memory(filled, complete_only=True)
        )
        early = asyncio.run(read(until=T0 + timedelta(hours=100), where={"store": "BLR-01"}))
        expected = score(in_memory(filled), "nps", by=("store",))
        assert 0 < len(early) < expected.get(("BLR-01",)).n * 3  # type: ignore[union-attr]


def frame_rows(frame: Any) -> list[tuple[Any, ...]]:
    """Every row of a frame as plain values, sorted: frames read in parts come in another order."""
    dims = [d.decoded().tolist() for d in frame.dimensions.values()]
    rows = zip(
        frame.metric_codes.tolist(), frame.scores.tolist(), frame.time.tolist(), *dims, strict=True
    )
    return sorted(rows, key=repr)


@pytest.fixture
def split_small_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Read even a test's few hundred answers in spans (below SMALL, a read is one query)."""
    monkeypatch.setattr(_analytics, "SMALL", 0)


@pytest.mark.usefixtures("split_small_reads")
class TestParts:
    WINDOWS: tuple[dict[str, Any], ...] = (
        {},
        {"since": T0 + timedelta(hours=100), "until": T0 + timedelta(hours=101)},  # one visit
        {"since": T0 + timedelta(hours=37), "until": T0 + timedelta(hours=250)},
        {"where": {"store": "BLR-01"}, "include_agents": True, "complete_only": True},
        {"since": T0 + timedelta(days=400)},  # nothing
    )

    @pytest.mark.parametrize("window", WINDOWS)
    def test_frames_and_counts_read_in_parts_are_those_read_whole(self, filled, window):
        """Split by time into 2, 3 or 7 parts, read at once, frames and counts are as in one."""

        async def read(parts: int) -> tuple[list[tuple[Any, ...]], dict[Any, Any]]:
            async with SQLiteStore(filled, frame_parts=parts) as store:
                frame = await store.frame(
                    survey_id="visit", dimensions=("store", "touchpoint", "question"), **window
                )
                cells = await store.score("nps", survey_id="visit", by=("store",), **window)
                return frame_rows(frame), summary(cells)

        whole = asyncio.run(read(1))
        for parts in (2, 3, 7):
            assert asyncio.run(read(parts)) == whole, parts
        assert bool(whole[0]) == (window.get("since") != T0 + timedelta(days=400))

    def test_parts_are_read_on_connections_of_their_own_at_once(self, filled):
        """A frame is read in spans, two queries at once on two reader threads, never more."""
        import threading  # noqa: PLC0415

        async def read() -> tuple[int, set[str], int, int]:
            async with SQLiteStore(filled, frame_parts=2) as store:
                threads: set[str] = set()
                both_running = threading.Barrier(2, timeout=10)
                columns = store._columns
                calls = running = most = 0

                async def counted(query: str, params: list[Any]) -> Any:
                    nonlocal calls, running, most
                    calls += 1
                    running += 1
                    most = max(most, running)

                    def meet(_conn: sqlite3.Connection) -> None:
                        threads.add(threading.current_thread().name)
                        both_running.wait()  # would time out if the first two ran one by one

                    try:
                        if calls <= 2:
                            await store._read(meet)
                        return await columns(query, params)
                    finally:
                        running -= 1

                store._scores = attrs.evolve(store._scores, columns=counted)
                frame = await store.frame(survey_id="visit")
                return len(frame), threads, calls, most

        rows, threads, calls, most = asyncio.run(read())
        assert rows == len(in_memory(filled))
        assert len(threads) == 2
        assert calls == 2 * SPANS_PER_PART
        assert most == 2

    def test_a_failed_span_fails_the_frame_once_every_span_has_ended(self, filled):
        """One span's error is raised, but only after the other spans' queries have ended."""

        async def read() -> tuple[str, int, int]:
            async with SQLiteStore(filled, frame_parts=2) as store:
                columns = store._columns
                calls = running = 0

                async def third_fails(query: str, params: list[Any]) -> Any:
                    nonlocal calls, running
                    calls += 1
                    running += 1
                    try:
                        if calls == 3:
                            raise StoreError("SQLite failed to read: disk I/O error")
                        await asyncio.sleep(0.01)
                        return await columns(query, params)
                    finally:
                        running -= 1

                store._scores = attrs.evolve(store._scores, columns=third_fails)
                try:
                    await store.frame(survey_id="visit")
                except StoreError as exc:
                    return str(exc), calls, running
                raise AssertionError("the frame did not fail")

        message, calls, running = asyncio.run(read())
        assert message == "SQLite failed to read: disk I/O error"
        assert (calls, running) == (2 * SPANS_PER_PART, 0)

    def test_frame_parts_must_be_one_or_more(self, tmp_path):
        with pytest.raises(ValueError, match="frame_parts: 0 is not 1 or more"):
            SQLiteStore(tmp_path / "cx.db", frame_parts=0)


class TestSmallReads:
    @pytest.mark.parametrize(
        ("small", "window", "queries"),
        [
            (None, {}, 1),  # the default: 400 responses are one query
            (100, {}, 2 * SPANS_PER_PART),
            # Fewer than 100 answers in the window: one query.
            (100, {"since": T0 + timedelta(hours=37), "until": T0 + timedelta(hours=50)}, 1),
        ],
    )
    def test_fewer_answers_than_small_are_read_in_one_query(
        self, filled, monkeypatch, small, window, queries
    ):
        """Below SMALL answers (counted in the window), a frame is one query: spans cost more."""
        if small is not None:
            monkeypatch.setattr(_analytics, "SMALL", small)

        async def read() -> tuple[int, int]:
            async with SQLiteStore(filled, frame_parts=2) as store:
                columns = store._columns
                calls = 0

                async def counted(query: str, params: list[Any]) -> Any:
                    nonlocal calls
                    calls += 1
                    return await columns(query, params)

                store._scores = attrs.evolve(store._scores, columns=counted)
                frame = await store.frame(survey_id="visit", **window)
                return len(frame), calls

        rows, calls = asyncio.run(read())
        assert calls == queries
        assert 0 < rows < 100 if window else rows == len(in_memory(filled))


class TestPushdown:
    @pytest.mark.parametrize("metric", ["nps", "csat", "ces"])
    @pytest.mark.parametrize("by", [(), ("store",), ("touchpoint", "store"), ("answer_channel",)])
    def test_sql_counts_give_the_in_memory_cells(self, filled, metric, by):
        """Counting in SQL gives exactly the cells of the batch scorer."""

        async def read() -> list[object]:
            async with SQLiteStore(filled) as store:
                return await store.score(metric, survey_id="visit", by=by)  # type: ignore[return-value]

        assert summary(asyncio.run(read())) == summary(score(in_memory(filled), metric, by=by))

    def test_clear_errors(self, filled):
        """An unfed metric and a dimension that is not a plain key are refused by name."""

        async def ask(metric: str, by: tuple[str, ...]) -> None:
            async with SQLiteStore(filled) as store:
                await store.score(metric, survey_id="visit", by=by)

        with pytest.raises(
            StoreError, match=r"no question feeding metric 'rating' \(it feeds: nps, csat, ces\)"
        ):
            asyncio.run(ask("rating", ()))
        with pytest.raises(CxError, match="is not a dimension name"):
            asyncio.run(ask("nps", ("store') --",)))
