"""What only the SQLite backend must show: durability under kill -9, many processes, migrations."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cxcore import StoreError
from cxcore.ports.store import OutboxItem, OutboxState
from cxcore.stores import SQLiteStore
from cxcore.stores._schema import MIGRATIONS, SCHEMA_VERSION
from cxcore.stores.sqlite.outbox import _due_ids_sql
from tests.test_store import pending, write_two_under_a_stratum_minimum

CHILD = Path(__file__).with_name("store_child.py")
V1_FIXTURE = Path(__file__).parent / "data" / "store-v1.sqlite"
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def child(db: Path, prefix: str, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(CHILD), str(db), prefix, str(count)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def outbox_indexes(db: Path) -> dict[str, list[str]]:
    """The outbox's own indexes (not the primary key's), each with its columns."""
    conn = sqlite3.connect(db)
    try:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'outbox' "
                "AND sql IS NOT NULL ORDER BY name"
            )
        ]
        return {n: [r[2] for r in conn.execute(f"PRAGMA index_info({n})")] for n in names}
    finally:
        conn.close()


def stored_keys(db: Path) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        return {row[0] for row in conn.execute("SELECT idempotency_key FROM responses")}
    finally:
        conn.close()


class TestDurability:
    def test_acknowledged_responses_survive_kill_9(self, tmp_path):
        """A child killed with SIGKILL mid-stream loses nothing it acknowledged; the file stays sound."""
        db = tmp_path / "cx.db"
        proc = child(db, "crash", 0)
        assert proc.stdout is not None
        acknowledged: list[str] = []
        while len(acknowledged) < 400:
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else "child ended early"
            acknowledged.append(line.strip())
        os.kill(proc.pid, signal.SIGKILL)
        rest, _ = proc.communicate(timeout=30)
        acknowledged.extend(rest.split())  # printed before the kill landed: acknowledged too
        assert proc.returncode == -signal.SIGKILL
        missing = set(acknowledged) - stored_keys(db)
        assert not missing, f"{len(missing)} acknowledged responses lost"
        conn = sqlite3.connect(db)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        finally:
            conn.close()

        async def reopen() -> int:
            async with SQLiteStore(db) as store:
                return await store.count_responses()

        assert asyncio.run(reopen()) >= len(acknowledged)

    def test_synchronous_setting_is_checked(self, tmp_path):
        """Only FULL and NORMAL are accepted; the file is in WAL mode."""
        with pytest.raises(ValueError, match="'OFF' is not 'FULL' or 'NORMAL'"):
            SQLiteStore(tmp_path / "x.db", synchronous="OFF")  # type: ignore[arg-type]

        async def make() -> None:
            async with SQLiteStore(tmp_path / "x.db", synchronous="NORMAL"):
                pass

        asyncio.run(make())
        conn = sqlite3.connect(tmp_path / "x.db")
        try:
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        finally:
            conn.close()


class TestCheckpoints:
    def test_the_checkpointer_copies_commits_into_the_file_while_the_store_is_open(self, tmp_path):
        """Committed pages reach the database file in the background, not only at 10,000 pages.

        The writer checkpoints itself only once the WAL passes 10,000 pages; a
        few hundred rows reach the file because the checkpointer thread copies
        them, while the store stays open and without another write.
        """
        db = tmp_path / "cx.db"

        async def scenario() -> tuple[int, int, bool]:
            async with SQLiteStore(db) as store:
                before = db.stat().st_size
                await store.enqueue(
                    [
                        pending(f"o-{n}", f"inv-{n}", at=T0 + timedelta(seconds=n))
                        for n in range(300)
                    ]
                )
                for _ in range(100):
                    await asyncio.sleep(0.05)
                    if db.stat().st_size > before:
                        break
                after = db.stat().st_size
                running = store._checkpointer is not None and store._checkpointer.is_alive()
            return before, after, running

        before, after, running = asyncio.run(scenario())
        assert after > before + 4096, (before, after)
        assert running
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT count(*) FROM outbox").fetchone() == (300,)

    def test_closing_stops_the_checkpointer_and_a_store_opens_again(self, tmp_path):
        """aclose joins the thread; a store closed and opened again checkpoints again."""
        db = tmp_path / "cx.db"

        async def scenario() -> list[bool]:
            store = SQLiteStore(db)
            seen = []
            for round_ in range(2):
                await store.open()
                thread = store._checkpointer
                await store.enqueue([pending(f"o-{round_}", f"inv-{round_}")])
                await store.aclose()
                assert thread is not None
                seen.append(thread.is_alive())
            return seen

        assert asyncio.run(scenario()) == [False, False]


class TestConcurrency:
    def test_four_processes_appending_to_one_file_lose_no_rows(self, tmp_path):
        """Four writer processes share one file; every acknowledged row is there."""
        db = tmp_path / "cx.db"
        procs = [child(db, f"p{n}", 150) for n in range(4)]
        acknowledged: set[str] = set()
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            acknowledged |= set(out.split())
        assert len(acknowledged) == 600
        assert stored_keys(db) == acknowledged


class TestMigrations:
    def test_a_store_from_the_first_schema_version_opens(self, tmp_path):
        """A file written by cxcore 0.1.0 (schema 1) opens, upgrades and keeps its data."""
        db = tmp_path / "old.sqlite"
        shutil.copy(V1_FIXTURE, db)

        async def read() -> tuple[int, int, str]:
            async with SQLiteStore(db) as store:
                survey = await store.survey("nps")
                responses = await store.responses(survey_id="nps")
                return await store.schema_version(), len(responses), survey.title.get("en")

        version, count, title = asyncio.run(read())
        assert version == SCHEMA_VERSION
        assert count == 24
        assert title == "NPS"
        assert outbox_indexes(db) == {
            "outbox_by_invitation": ["invitation_id"],
            "outbox_by_provider": ["provider_id"],
            "outbox_by_state_due": ["state", "due_at", "id"],
        }

    def test_a_version_2_store_gets_the_claim_order_index_and_keeps_its_outbox(self, tmp_path):
        """Schema 3 replaces the outbox's (state, due_at) index with (state, due_at, id); the sends stay."""
        db = tmp_path / "v2.sqlite"
        conn = sqlite3.connect(db)
        with conn:
            conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            conn.execute("INSERT INTO meta VALUES ('schema_version', '2')")
            for migration in MIGRATIONS[:2]:
                for statement in migration:
                    conn.execute(statement)
            conn.executemany(
                "INSERT INTO outbox (id, invitation_id, channel, state, due_at, updated_at) "
                "VALUES (?, ?, 'sms', 'pending', 0, 0)",
                [(f"o{n}", f"inv-{n}") for n in (3, 1, 2)],
            )
        conn.close()
        assert list(outbox_indexes(db)) == ["outbox_by_invitation", "outbox_by_state"]

        async def upgrade() -> tuple[int, list[str]]:
            async with SQLiteStore(db) as store:
                claimed = await store.claim("w", now=T0, limit=2, lease=timedelta(minutes=5))
                return await store.schema_version(), [i.id for i in claimed]

        assert asyncio.run(upgrade()) == (SCHEMA_VERSION, ["o1", "o2"])
        assert outbox_indexes(db) == {
            "outbox_by_invitation": ["invitation_id"],
            "outbox_by_provider": ["provider_id"],
            "outbox_by_state_due": ["state", "due_at", "id"],
        }

    def test_a_version_7_store_gets_the_stratum_counts_and_keeps_the_store_counts(self, tmp_path):
        """Schema 8 adds stratum_day_counts, empty; a guarded write counts in it, and store_day_counts stays."""
        db = tmp_path / "v7.sqlite"
        day = T0.date().toordinal()
        conn = sqlite3.connect(db)
        with conn:
            conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            conn.execute("INSERT INTO meta VALUES ('schema_version', '7')")
            for migration in MIGRATIONS[:7]:
                for statement in migration:
                    conn.execute(statement)
            conn.execute("INSERT INTO store_day_counts VALUES ('BLR-01', ?, 5)", (day,))
        conn.close()

        async def upgrade() -> tuple[int, list[str]]:
            async with SQLiteStore(db) as store:
                return await write_two_under_a_stratum_minimum(store, day)

        assert asyncio.run(upgrade()) == (SCHEMA_VERSION, ["AddedInvitation", "StratumFullError"])
        conn = sqlite3.connect(db)
        assert conn.execute("SELECT * FROM stratum_day_counts").fetchall() == [
            ("billing_csat", "BLR-01", day, 1)
        ]
        assert conn.execute("SELECT * FROM store_day_counts").fetchall() == [("BLR-01", day, 6)]
        conn.close()

    def test_upgrading_from_the_first_version_fills_the_score_columns(self, tmp_path):
        """Schema 2's answer_scores is filled from the old responses: SQL scores equal in-memory ones."""
        from cxcore.scoring import ResponseFrame, score  # noqa: PLC0415 - numpy-backed

        db = tmp_path / "old.sqlite"
        shutil.copy(V1_FIXTURE, db)

        async def read() -> tuple[list[object], ResponseFrame]:
            async with SQLiteStore(db) as store:
                cells = await store.score("nps", survey_id="nps", by=("store",))
                survey = await store.survey("nps")
                responses = await store.responses(survey_id="nps")
                return cells, ResponseFrame.from_responses(responses, [survey])  # type: ignore[return-value]

        cells, frame = asyncio.run(read())
        expected = score(frame, "nps", by=("store",))
        assert len(cells) == 7
        assert sum(c.n for c in cells) == 24  # type: ignore[attr-defined]
        assert [(c.key, c.n, c.score) for c in cells] == [  # type: ignore[attr-defined]
            (c.key, c.n, c.score) for c in expected
        ]

    def test_a_newer_schema_is_refused_clearly(self, tmp_path):
        """A file from a newer cxcore is not touched; the error says to upgrade."""
        db = tmp_path / "new.sqlite"
        shutil.copy(V1_FIXTURE, db)
        conn = sqlite3.connect(db)
        with conn:
            conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
        conn.close()

        async def open_it() -> None:
            async with SQLiteStore(db):
                pass

        with pytest.raises(StoreError, match="schema version 99, newer than this cxcore knows"):
            asyncio.run(open_it())


class TestClaimPlan:
    @pytest.mark.parametrize("analysed", [False, True])
    @pytest.mark.parametrize("only", [None, ["email"], ["email", "sms"], []])
    def test_a_claim_reads_due_sends_off_the_index_in_order_and_sorts_nothing(
        self, tmp_path, only, analysed
    ):
        """However many sends are due at once, a claim's query searches outbox_by_state_due and needs no temporary B-tree.

        With and without the statistics ANALYZE gathers (the store never runs it).
        """
        db = tmp_path / "cx.db"

        async def fill() -> None:
            async with SQLiteStore(db) as store:
                await store.enqueue(pending(f"o{n:04}", f"inv-{n}") for n in range(2000))

        asyncio.run(fill())
        conn = sqlite3.connect(db)
        try:
            if analysed:
                conn.execute("ANALYZE")
            plan = [
                r[3]
                for r in conn.execute(
                    "EXPLAIN QUERY PLAN " + _due_ids_sql(only), (10**18, *(only or ()), 200)
                )
            ]
        finally:
            conn.close()
        assert len(plan) == 1, plan
        assert plan[0].startswith("SEARCH outbox USING "), plan
        assert plan[0].endswith("INDEX outbox_by_state_due (state=? AND due_at<?)"), plan


class TestErrors:
    def test_sqlite_errors_become_the_ports_errors(self, tmp_path):
        """A row SQLite refuses is a StoreError saying nothing was written; a failed read says so."""
        db = tmp_path / "cx.db"

        def item(name: str) -> OutboxItem:
            return OutboxItem(
                id=name, invitation_id="inv-1", channel="sms", state=OutboxState.PENDING, due_at=T0
            )

        async def scenario() -> list[str]:
            async with SQLiteStore(db) as store:
                with sqlite3.connect(db) as conn:  # a rule a DBA added
                    conn.execute(
                        "CREATE TRIGGER no_x BEFORE INSERT ON outbox WHEN NEW.id = 'x' "
                        "BEGIN SELECT RAISE(ABORT, 'x is not allowed'); END"
                    )
                errors = []
                with pytest.raises(StoreError) as refused:
                    await store.enqueue([item("a"), item("x")])
                errors.append(str(refused.value))
                await store.enqueue([item("b")])
                assert [i.id for i in await store.outbox()] == ["b"]  # not "a" either
                with sqlite3.connect(db) as conn:
                    conn.execute("DROP TABLE outbox")
                with pytest.raises(StoreError) as unreadable:
                    await store.outbox()
                errors.append(str(unreadable.value))
                return errors

        refused, unreadable = asyncio.run(scenario())
        assert refused == "SQLite failed; nothing was written: x is not allowed"
        assert unreadable.startswith("SQLite failed to read: no such table: outbox")
