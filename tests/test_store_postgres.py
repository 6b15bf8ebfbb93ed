"""What only the PostgreSQL backend must show: many processes on one database, and the same answers as SQLite."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from cxcore import (
    CesQuestion,
    ConflictError,
    CsatQuestion,
    Direction,
    Disposition,
    Invitation,
    NpsQuestion,
    StoreError,
    Submission,
    Survey,
    TextQuestion,
)
from cxcore.definitions import unstructure
from cxcore.ports.store import Store
from cxcore.stores import SQLiteStore
from cxcore.stores._analytics import SPANS_PER_PART
from cxcore.stores._schema import SCHEMA_VERSION
from tests.test_store import pending, write_two_under_a_stratum_minimum
from tests.test_store_analytics import frame_rows, split_small_reads  # noqa: F401 - a fixture

try:
    import psycopg
    from psycopg.conninfo import make_conninfo

    from cxcore.stores.postgres import PostgresStore
except ModuleNotFoundError as exc:  # pragma: no cover - depends on what is installed
    if os.environ.get("CI"):
        raise
    pytest.skip(
        f'{exc.name} is not installed (pip install "psycopg[binary]" psycopg-pool)',
        allow_module_level=True,
    )

CHILD = Path(__file__).with_name("store_pg_child.py")
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
NPS = Survey(
    id="nps", title={"en": "NPS"}, questions=[NpsQuestion(id="ltr", text={"en": "Recommend?"})]
)


def child(dsn: str, mode: str, arg: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(CHILD), dsn, mode, arg],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def start_together(procs: list[subprocess.Popen[str]]) -> None:
    """Wait until every child has its store open, then let them all go at once."""
    for proc in procs:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line == "ready\n", proc.stderr.read() if proc.stderr else "child ended early"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()


def outputs(procs: list[subprocess.Popen[str]]) -> list[list[str]]:
    """Every child's printed lines, once each has exited cleanly."""
    lines = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        lines.append(out.splitlines())
    return lines


def query(dsn: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, params).fetchall()


def outbox_indexes(dsn: str) -> dict[str, str]:
    """The outbox's own indexes (not the primary key's), each with its columns as PostgreSQL writes them."""
    return {
        name: definition[definition.index("(") :]
        for name, definition in query(
            dsn,
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename = 'outbox' AND indexname <> 'outbox_pkey' ORDER BY indexname",
        )
    }


def plan_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Every node of an ``EXPLAIN (FORMAT JSON)`` plan, the root first."""
    return [plan, *(n for child in plan.get("Plans", ()) for n in plan_nodes(child))]


@pytest.fixture
def dsn(postgres_dsn: str) -> str:
    return postgres_dsn


class TestSeveralProcesses:
    def test_three_dispatchers_claim_every_send_exactly_once(self, dsn):
        """Three processes claim from one outbox at once: each send is claimed once, by one of them."""
        count = 240

        async def fill() -> None:
            async with PostgresStore(dsn) as store:
                await store.enqueue(
                    pending(f"o{i:03}", f"inv-{i}", channel="sms", at=T0 + timedelta(seconds=i))
                    for i in range(count)
                )

        asyncio.run(fill())
        procs = [child(dsn, "claim", f"worker-{n}") for n in range(3)]
        start_together(procs)
        per_worker = outputs(procs)
        claimed = [item for lines in per_worker for item in lines]
        assert len(claimed) == count
        assert set(claimed) == {f"o{i:03}" for i in range(count)}
        assert all(per_worker), [len(lines) for lines in per_worker]  # all three took part
        rows = query(dsn, "SELECT id, state, attempts, provider_id FROM outbox")
        by_worker = {item: f"worker-{n}" for n, lines in enumerate(per_worker) for item in lines}
        assert {(i, s, a, p) for i, s, a, p in rows} == {
            (i, "sent", 1, by_worker[i]) for i in by_worker
        }

    def test_fifty_same_key_submissions_from_two_processes_make_one_row(self, dsn):
        """Two processes send 25 copies each of one submission at once: one response, 49 repeats."""
        procs = [child(dsn, "submit", "25") for _ in range(2)]
        start_together(procs)
        results = [line.split() for lines in outputs(procs) for line in lines]
        assert len(results) == 50
        assert len({response_id for _, response_id in results}) == 1
        outcomes = sorted(outcome for outcome, _ in results)
        assert outcomes == ["created"] + ["repeated"] * 49
        assert query(dsn, "SELECT count(*) FROM responses") == [(1,)]
        assert query(dsn, "SELECT count(*) FROM submissions") == [(1,)]
        assert query(dsn, "SELECT count(*) FROM audit WHERE entity = 'response'") == [(1,)]

    def test_acknowledged_responses_survive_kill_9_of_the_writer(self, dsn):
        """A writer killed with SIGKILL loses nothing it acknowledged, and leaves no half-written response."""
        proc = child(dsn, "stream", "crash")
        start_together([proc])
        assert proc.stdout is not None
        acknowledged: list[str] = []
        while len(acknowledged) < 200:
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else "child ended early"
            acknowledged.append(line.strip())
        os.kill(proc.pid, signal.SIGKILL)
        rest, _ = proc.communicate(timeout=30)
        acknowledged.extend(rest.split())
        assert proc.returncode == -signal.SIGKILL
        stored = {r[0] for r in query(dsn, "SELECT idempotency_key FROM responses")}
        missing = set(acknowledged) - stored
        assert not missing, f"{len(missing)} acknowledged responses lost"
        orphans = query(
            dsn,
            "SELECT count(*) FROM responses r LEFT JOIN submissions s ON s.response_id = r.id "
            "WHERE s.idempotency_key IS NULL",
        )
        assert orphans == [(0,)]

        async def reopen() -> int:
            async with PostgresStore(dsn) as store:
                return await store.count_responses()

        assert asyncio.run(reopen()) == len(stored) >= len(acknowledged)


class TestSeveralPools:
    """Two stores in one process have separate pools: to the server, two clients like two processes."""

    def test_one_batch_appended_by_two_stores_at_once_is_stored_once(self, dsn):
        """Racing batches with the same keys: every response stored once, each created by one of them."""

        async def scenario() -> tuple[list[Any], list[Any], int]:
            async with PostgresStore(dsn, min_size=2) as a, PostgresStore(dsn, min_size=2) as b:
                await a.put_survey(NPS)
                seed = await a.submit(submission("seed", invitation_id=None))
                batch = [
                    attrs.evolve(seed.response, id=f"r{i}", idempotency_key=f"imp-{i}")
                    for i in range(300)
                ]
                first, second = await asyncio.gather(a.append(batch), b.append(batch))
                return first, second, await a.count_responses()

        first, second, count = asyncio.run(scenario())
        assert count == 301
        for x, y in zip(first, second, strict=True):
            assert sorted([x.outcome, y.outcome]) == ["created", "repeated"]
            assert x.response == y.response

    def test_answers_racing_to_one_invitation_make_one_response(self, dsn):
        """Twenty partial answers to one invitation, with different keys, from two stores: one response."""

        async def scenario() -> tuple[list[str], Any]:
            # Every answer on a connection of its own, ready before they start.
            a, b = (PostgresStore(dsn, min_size=10, max_size=10) for _ in range(2))
            async with a, b:
                await a.put_survey(NPS)
                results = await asyncio.gather(
                    *(
                        (a, b)[i % 2].submit(submission(f"k{i}", invitation_id="inv-1"))
                        for i in range(20)
                    )
                )
                return [r.outcome.value for r in results], await a.responses()

        outcomes, stored = asyncio.run(scenario())
        assert sorted(outcomes) == ["created"] + ["updated"] * 19
        assert len(stored) == 1

    def test_the_store_implements_the_port(self):
        """PostgresStore provides every operation of the Store protocol."""
        assert isinstance(PostgresStore("postgresql://u@127.0.0.1/cx"), Store)


def submission(key: str, *, invitation_id: str | None) -> Submission:
    return Submission(
        idempotency_key=key,
        survey_id="nps",
        survey_version=1,
        answers={"ltr": 9},
        complete=False,
        channel="sms",
        respondent="anonymous",
        received_at=T0,
        invitation_id=invitation_id,
    )


class TestSchema:
    def test_a_fresh_schema_holds_the_store_and_is_dropped_afterwards(self, postgres_server):
        """postgres_schema: the store's tables go in the new schema, which is gone after the block."""
        from cxcore.testing import postgres_schema  # noqa: PLC0415

        async def open_once(dsn: str) -> None:
            async with PostgresStore(dsn):
                pass

        with postgres_schema(postgres_server, prefix="probe") as dsn:
            asyncio.run(open_once(dsn))
            (schema,) = query(dsn, "SELECT current_schema()")[0]
            tables = query(
                dsn,
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s",
                schema,
            )[0][0]
            assert schema.startswith("probe_")
            assert tables >= 10
        gone = query(
            postgres_server, "SELECT count(*) FROM pg_namespace WHERE nspname = %s", schema
        )
        assert gone == [(0,)]

    def test_many_openers_of_a_new_database_migrate_it_once(self, dsn):
        """Six stores opening an empty schema at once all succeed; the schema is made once."""

        async def open_all() -> list[int]:
            stores = [PostgresStore(dsn) for _ in range(6)]
            await asyncio.gather(*(s.open() for s in stores))
            try:
                return [await s.schema_version() for s in stores]
            finally:
                await asyncio.gather(*(s.aclose() for s in stores))

        assert asyncio.run(open_all()) == [SCHEMA_VERSION] * 6
        assert query(dsn, "SELECT key, value FROM meta") == [
            ("schema_version", str(SCHEMA_VERSION))
        ]

    def test_a_version_1_database_upgrades_and_fills_the_score_columns(self, dsn):
        """The first schema, holding cxcore 0.1.0's data, upgrades in place; SQL scores equal in-memory ones."""
        from cxcore.scoring import ResponseFrame, score  # noqa: PLC0415 - numpy-backed
        from cxcore.stores._schema import migrations  # noqa: PLC0415

        old = sqlite3.connect(Path(__file__).parent / "data" / "store-v1.sqlite")
        with psycopg.connect(dsn) as conn:
            conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
            for statement in migrations("postgres")[0]:
                conn.execute(statement)
            for table in ("surveys", "responses", "submissions"):
                columns = [c[1] for c in old.execute(f"PRAGMA table_info({table})")]
                marks = ", ".join(["%s"] * len(columns))
                with conn.cursor() as cur:
                    cur.executemany(
                        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                        old.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall(),
                    )
        old.close()

        async def read() -> tuple[int, list[Any], ResponseFrame]:
            async with PostgresStore(dsn) as store:
                cells = await store.score("nps", survey_id="nps", by=("store",))
                responses = await store.responses(survey_id="nps")
                frame = ResponseFrame.from_responses(responses, [await store.survey("nps")])
                return await store.schema_version(), cells, frame

        version, cells, frame = asyncio.run(read())
        assert version == SCHEMA_VERSION
        assert len(frame) == 24
        assert [(c.key, c.n, c.score) for c in cells] == [
            (c.key, c.n, c.score) for c in score(frame, "nps", by=("store",))
        ]

    def test_a_version_7_database_gets_the_stratum_counts_and_keeps_the_store_counts(self, dsn):
        """Schema 8 adds stratum_day_counts, empty; a guarded write counts in it, and store_day_counts stays."""
        from cxcore.stores._schema import migrations  # noqa: PLC0415

        day = T0.date().toordinal()
        with psycopg.connect(dsn) as conn:
            conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            conn.execute("INSERT INTO meta VALUES ('schema_version', '7')")
            for migration in migrations("postgres")[:7]:
                for statement in migration:
                    conn.execute(statement)
            conn.execute("INSERT INTO store_day_counts VALUES ('BLR-01', %s, 5)", (day,))

        async def upgrade() -> tuple[int, list[str]]:
            async with PostgresStore(dsn) as store:
                return await write_two_under_a_stratum_minimum(store, day)

        assert asyncio.run(upgrade()) == (SCHEMA_VERSION, ["AddedInvitation", "StratumFullError"])
        assert query(dsn, "SELECT * FROM stratum_day_counts") == [
            ("billing_csat", "BLR-01", day, 1)
        ]
        assert query(dsn, "SELECT * FROM store_day_counts") == [("BLR-01", day, 6)]

    def test_a_version_2_database_gets_the_claim_order_index_and_keeps_its_outbox(self, dsn):
        """Schema 3 replaces the outbox's (state, due_at) index with (state, due_at, id in byte order).

        (Schema 5 adds the index by the provider's id.)
        """
        from cxcore.stores._schema import migrations  # noqa: PLC0415

        with psycopg.connect(dsn) as conn:
            conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            conn.execute("INSERT INTO meta VALUES ('schema_version', '2')")
            for migration in migrations("postgres")[:2]:
                for statement in migration:
                    conn.execute(statement)
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO outbox (id, invitation_id, channel, state, due_at, updated_at) "
                    "VALUES (%s, %s, 'sms', 'pending', 0, 0)",
                    [(i, f"inv-{i}") for i in ("b", "B", "a", "é")],
                )
        assert list(outbox_indexes(dsn)) == ["outbox_by_invitation", "outbox_by_state"]

        async def upgrade() -> tuple[int, list[str]]:
            async with PostgresStore(dsn) as store:
                claimed = await store.claim("w", now=T0, limit=3, lease=timedelta(minutes=5))
                return await store.schema_version(), [i.id for i in claimed]

        assert asyncio.run(upgrade()) == (SCHEMA_VERSION, ["B", "a", "b"])
        assert outbox_indexes(dsn) == {
            "outbox_by_invitation": "(invitation_id)",
            "outbox_by_provider": "(provider_id)",
            "outbox_by_state_due": '(state, due_at, id COLLATE "C")',
        }

    def test_a_version_3_database_gets_json_text_columns_and_reads_the_same(self, dsn):
        """Schema 4 adds generated t_ columns; groups, frames and filters read as before, and an
        older cxcore's writes (JSONB into the d_ columns) still work and are read."""
        from cxcore.scoring import score  # noqa: PLC0415 - numpy-backed

        stores: list[Any] = [5, 5.0, 1e20, 1.5e-7, 'Zü "Nord"\n', True, None]

        async def read() -> dict[str, Any]:
            async with PostgresStore(dsn) as store:
                frame = await store.frame(survey_id="nps", dimensions=("store",))
                counted = await store.score("nps", survey_id="nps", by=("store",))
                matched = {
                    repr(value): [
                        c.n
                        for c in await store.score("nps", survey_id="nps", where={"store": value})
                    ]
                    for value in stores
                    if value is not None
                }
                return {
                    "counted": {c.key: c.n for c in counted},
                    "framed": {c.key: c.n for c in score(frame, "nps", by=("store",))},
                    "matched": matched,
                    "version": await store.schema_version(),
                }

        async def fill() -> None:
            async with PostgresStore(dsn) as store:
                await store.put_survey(NPS)
                for i, value in enumerate(stores):
                    context = {} if value is None else {"store": value}
                    await store.submit(kiosk_visit(f"k{i}", 9, **context))

        asyncio.run(fill())
        written = asyncio.run(read())
        assert (
            written["counted"]
            == written["framed"]
            == {
                (5,): 2,
                (1e20,): 1,
                (1.5e-7,): 1,
                ('Zü "Nord"\n',): 1,
                (1,): 1,
                (None,): 1,
            }
        )
        assert written["matched"] == {
            "5": [2],
            "5.0": [2],
            "1e+20": [1],
            "1.5e-07": [1],
            "'Zü \"Nord\"\\n'": [1],
            "True": [1],
        }
        assert query(
            dsn,
            "SELECT data_type, is_generated FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND column_name IN ('d_store', 't_store') "
            "ORDER BY column_name",
        ) == [("jsonb", "NEVER"), ("text", "ALWAYS")]
        # Back to schema 3, without the t_ columns (nor schema 5, 6, 7 and 8's tables, columns
        # and indexes); an older cxcore writes as it did.
        dims = ("touchpoint", "journey", "store", "agent", "product", "channel")
        with psycopg.connect(dsn) as conn:
            conn.execute(
                "ALTER TABLE answer_scores " + ", ".join(f"DROP COLUMN t_{d}" for d in dims)
            )
            conn.execute(
                "DROP TABLE kiosks, feed, feed_positions, api_keys, store_day_counts, "
                "stratum_day_counts"
            )
            conn.execute(
                "DROP INDEX invitations_by_address_channel, invitations_by_created, "
                "outbox_by_provider"
            )
            conn.execute("CREATE INDEX invitations_by_address ON invitations (address)")
            conn.execute("ALTER TABLE invitations DROP COLUMN account_id, DROP COLUMN short_code")
            conn.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
        upgraded = asyncio.run(read())
        assert upgraded == {**written, "version": SCHEMA_VERSION}
        with psycopg.connect(dsn) as conn:  # schema 3's statement, from a process still running it
            conn.execute(
                "INSERT INTO answer_scores (response_id, question, survey_id, survey_version, "
                "value, answered_at, status, respondent, channel, d_store) VALUES ('old-1', 'ltr', "
                "'nps', 1, 0, 1, 'complete', 'anonymous', 'kiosk', %s::jsonb)",
                ('"BLR-01"',),
            )
        after = asyncio.run(read())
        assert after["counted"] == {**written["counted"], ("BLR-01",): 1}
        assert after["framed"] == after["counted"]

    def test_indexes_are_those_of_sqlite(self, dsn, tmp_path):
        """Both dialects of the schema have the same indexes, on the same tables."""

        async def make() -> None:
            async with PostgresStore(dsn), SQLiteStore(tmp_path / "cx.db"):
                pass

        asyncio.run(make())
        pg = query(
            dsn,
            "SELECT indexname, tablename FROM pg_indexes WHERE schemaname = current_schema() "
            "AND indexname NOT LIKE '%%_pkey' ORDER BY indexname",
        )
        conn = sqlite3.connect(tmp_path / "cx.db")
        try:
            lite = conn.execute(
                "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                "ORDER BY name"
            ).fetchall()
        finally:
            conn.close()
        assert pg == lite
        assert ("outbox_by_state_due", "outbox") in pg

    def test_a_newer_schema_is_refused_clearly(self, dsn):
        """A database from a newer cxcore is not touched; the error says to upgrade."""

        async def open_once() -> None:
            async with PostgresStore(dsn):
                pass

        asyncio.run(open_once())
        with psycopg.connect(dsn) as conn:
            conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
        with pytest.raises(StoreError, match="schema version 99, newer than this cxcore knows"):
            asyncio.run(open_once())

    def test_tables_and_columns_are_those_of_sqlite(self, dsn, tmp_path):
        """Both dialects of the schema have the same tables and columns.

        PostgreSQL adds rowid where SQLite has one implicitly, and the generated
        JSON-text t_ columns of answer_scores (schema 4); SQLite adds sqlite_sequence,
        where it keeps the feed's AUTOINCREMENT counter (schema 5).
        """

        async def make() -> None:
            async with PostgresStore(dsn), SQLiteStore(tmp_path / "cx.db"):
                pass

        asyncio.run(make())
        pg: dict[str, list[str]] = {}
        for table, column in query(
            dsn,
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position",
        ):
            pg.setdefault(table, []).append(column)
        conn = sqlite3.connect(tmp_path / "cx.db")
        try:
            tables = [
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            ]
            lite = {t: [r[1] for r in conn.execute(f"PRAGMA table_info({t})")] for t in tables}
        finally:
            conn.close()
        del lite["sqlite_sequence"]
        for table in ("responses", "consent"):
            lite[table] = [*lite[table], "rowid"]
        dims = [c[2:] for c in lite["answer_scores"] if c.startswith("d_")]
        lite["answer_scores"] = [*lite["answer_scores"], *(f"t_{d}" for d in dims)]
        assert pg == lite


class TestSessions:
    def test_sessions_never_commit_without_waiting_for_the_disk(self, dsn):
        """A DSN (or server) with synchronous_commit off is overridden: acknowledged means flushed."""
        options = dict(psycopg.conninfo.conninfo_to_dict(dsn))["options"]
        weak = make_conninfo(dsn, options=f"{options} -csynchronous_commit=off")

        async def setting() -> str:
            async with PostgresStore(weak, min_size=2) as store:
                rows = await asyncio.gather(
                    *(store._read(lambda c: _show(c, "synchronous_commit")) for _ in range(4))
                )
                return ",".join(sorted(set(rows)))

        assert asyncio.run(setting()) == "on"

    def test_broken_connections_are_replaced_and_the_write_runs_again(self, dsn):
        """After the server drops every connection of the pool, reads and writes still succeed."""
        name = f"cxcore-test-{uuid.uuid4().hex[:8]}"
        named = make_conninfo(dsn, application_name=name)

        async def scenario() -> tuple[int, int]:
            async with PostgresStore(named, min_size=3, max_size=3) as store:
                await store.put_survey(NPS)
                before = await store.count_responses()
                await asyncio.to_thread(
                    query,
                    dsn,
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                    name,
                )
                await store.submit(
                    Submission(
                        idempotency_key="k1",
                        survey_id="nps",
                        survey_version=1,
                        answers={"ltr": 9},
                        complete=True,
                        channel="kiosk",
                        respondent="anonymous",
                        received_at=T0,
                    )
                )
                return before, await store.count_responses()

        assert asyncio.run(scenario()) == (0, 1)


async def _show(conn: psycopg.AsyncConnection[Any], name: str) -> str:
    cur = await conn.execute(f"SHOW {name}")
    row = await cur.fetchone()
    assert row is not None
    return str(row[0])


# ---------------------------------------------------------------- the same answers as SQLite

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
# Context values of every kind: SQLite's json_extract reads true as 1, and 5 as 5.0.
CONTEXTS: list[dict[str, Any]] = [
    {"store": "BLR-01", "flag": True, "n": 5},
    {"store": "DEL-02", "flag": False, "n": 5.0},
    {"store": "5", "flag": 1, "n": 2.5},
    {"store": 5, "flag": 0, "n": 0},
    {"store": "BLR-01", "touchpoint": "store_exit"},
    {"store": 5.0, "touchpoint": 'Zü "Nord"\n', "n": 1.5e-7},
]


def visits(n: int) -> list[Submission]:
    out = []
    for i in range(n):
        version = 1 + i % 2
        answers: dict[str, Any] = {"ltr": (i * 7) % 11}
        if i % 3:
            answers["sat"] = 1 + i % 5
        if version == 2 and i % 4:
            answers["effort"] = 1 + i % 7
        agent = i % 10 == 0
        out.append(
            Submission(
                idempotency_key=f"k{i}",
                survey_id="visit",
                survey_version=version,
                answers=answers,
                complete=i % 5 != 0,
                channel=("email", "sms", "kiosk")[i % 3],
                respondent="agent" if agent else "anonymous",
                agent_id="A-1" if agent else None,
                invitation_id=f"inv-{i % 40}",
                received_at=T0 + timedelta(hours=i),
                context=CONTEXTS[i % len(CONTEXTS)],
            )
        )
    return out


@pytest.fixture
def both(dsn: str, tmp_path: Path) -> tuple[str, Path]:
    """The same 150 submissions, invitations, dispositions and sends stored in PostgreSQL and in SQLite."""

    async def fill(store: PostgresStore | SQLiteStore) -> None:
        await store.put_survey(V1)
        await store.put_survey(V2)
        for s in visits(150):  # one at a time: later answers to an invitation amend it
            await store.submit(s)
        for i, context in enumerate(CONTEXTS):
            await store.add_invitation(
                Invitation(
                    id=f"inv-{i}",
                    survey_id="visit",
                    survey_version=1,
                    channel=("email", "sms")[i % 2],
                    address=f"p{i}@example.in",
                    token=f"t{i}",
                    created_at=T0,
                    context=context,
                )
            )
            await store.record_disposition(f"inv-{i}", Disposition.SENT, T0)
            if i % 2:
                await store.record_disposition(f"inv-{i}", Disposition.OPENED, T0)
        await store.enqueue(
            pending(name, "inv-0", channel="sms")
            for name in ["b", "B", "a", "_", "Z", "é", "a1", "A"]
        )

    async def fill_both() -> None:
        async with PostgresStore(dsn) as pg, SQLiteStore(tmp_path / "cx.db") as lite:
            await fill(pg)
            await fill(lite)

    asyncio.run(fill_both())
    return dsn, tmp_path / "cx.db"


def without_ids(responses: list[Any]) -> list[dict[str, Any]]:
    """Responses as data, less their ids (random in each store)."""
    return [{k: v for k, v in unstructure(r).items() if k != "id"} for r in responses]


def cells(table: Any) -> dict[Any, Any]:
    return {c.key: (c.n, c.score, c.low, c.high, dict(c.counts)) for c in table}


def on_both(both: tuple[str, Path], ask: Any) -> tuple[Any, Any]:
    async def main() -> tuple[Any, Any]:
        async with PostgresStore(both[0]) as pg, SQLiteStore(both[1]) as lite:
            return await ask(pg), await ask(lite)

    return asyncio.run(main())


class TestSameAnswersAsSQLite:
    @pytest.mark.parametrize(
        "where",
        [
            {"store": "BLR-01"},
            {"store": "5"},
            {"store": 5},
            {"flag": True},
            {"flag": 1},
            {"flag": False},
            {"flag": 0.0},
            {"n": 5},
            {"n": 5.0},
            {"n": 2.5},
            {"touchpoint": "store_exit", "store": "BLR-01"},
            {"missing": "x"},
        ],
    )
    def test_responses_where(self, both, where):
        """Context filters match exactly the responses SQLite's json_extract matches, in the same order."""

        async def ask(store: PostgresStore | SQLiteStore) -> list[Any]:
            return await store.responses(survey_id="visit", where=where)

        pg, lite = on_both(both, ask)
        assert without_ids(pg) == without_ids(lite)
        if "missing" not in where:
            assert pg

    @pytest.mark.parametrize(
        "where",
        [
            {"store": "5"},
            {"store": 5},
            {"store": 5.0},
            {"store": True},
            {"touchpoint": 'Zü "Nord"\n'},
            {"touchpoint": "store_exit", "store": "BLR-01"},
            {"n": 1.5e-7},
        ],
    )
    def test_scores_where(self, both, where):
        """Scores filtered on a dimension's column, or on the context, are the same cells in both."""

        async def ask(store: PostgresStore | SQLiteStore) -> list[Any]:
            return await store.score("nps", survey_id="visit", by=("store",), where=where)

        pg, lite = on_both(both, ask)
        assert cells(pg) == cells(lite)
        if where != {"store": True}:
            assert pg

    def test_whole_responses_and_outcomes(self, both):
        """Every stored response, with its merged answers and times, is the same in both."""

        async def ask(store: PostgresStore | SQLiteStore) -> list[Any]:
            return [await store.responses(), await store.count_responses("visit")]

        pg, lite = on_both(both, ask)
        assert without_ids(pg[0]) == without_ids(lite[0])
        assert pg[1] == lite[1] == 40  # 150 submissions to 40 invitations

    @pytest.mark.parametrize("metric", ["nps", "csat", "ces"])
    @pytest.mark.parametrize("by", [(), ("store",), ("flag", "n"), ("answer_channel", "question")])
    def test_scores_counted_in_sql(self, both, metric, by):
        """Scores pushed down into SQL are the same cells in both."""

        async def ask(store: PostgresStore | SQLiteStore) -> list[Any]:
            return await store.score(metric, survey_id="visit", by=by, include_agents=True)

        pg, lite = on_both(both, ask)
        # Keys 5 and "5" sort alike, so compare the cells by key, not by position.
        assert cells(pg) == cells(lite)
        assert pg

    def test_frames(self, both):
        """A frame read from PostgreSQL scores as the one read from SQLite."""
        from cxcore.scoring import score  # noqa: PLC0415 - numpy-backed

        async def ask(store: PostgresStore | SQLiteStore) -> list[Any]:
            frame = await store.frame(
                survey_id="visit", dimensions=("store", "flag"), until=T0 + timedelta(hours=120)
            )
            return [len(frame), cells(score(frame, "nps", by=("store", "flag")))]

        pg, lite = on_both(both, ask)
        assert pg == lite
        assert pg[0] > 0

    def test_disposition_counts_and_outbox_order(self, both):
        """Segments by context key, and the order of sends due at the same time, are the same."""

        async def ask(store: PostgresStore | SQLiteStore) -> list[Any]:
            return [
                await store.disposition_counts(by=("store", "flag")),
                await store.disposition_counts(by=()),
                await store.disposition_counts(survey_id="visit", by=("channel", "n")),
                [i.id for i in await store.outbox()],
                [i.id for i in await store.claim("w", now=T0, limit=5, lease=timedelta(minutes=1))],
            ]

        pg, lite = on_both(both, ask)
        assert pg == lite
        assert pg[3] == ["A", "B", "Z", "_", "a", "a1", "b", "é"]


class TestClaimPlan:
    @pytest.mark.parametrize("statistics", ["fresh", "from before the send"])
    @pytest.mark.parametrize("statement", ["_CLAIM_DUE", "_CLAIM_SENDS"])
    @pytest.mark.parametrize("channels", [None, ["email"]])
    def test_a_claim_handles_no_more_sends_than_it_claims(
        self, dsn, statement, channels, statistics
    ):
        """However many sends are due at once, no step of a claim's plan sorts or reads them all.

        The claim runs (EXPLAIN ANALYZE, rolled back) over 20,000 sends due at
        one instant, with statistics gathered after they were scheduled, or
        before, when the outbox held only 1,000 sends already sent: every plan
        node yields at most the 200 it claims, and the pick scans
        outbox_by_state_due.
        """
        from cxcore.stores.postgres import outbox  # noqa: PLC0415 - the claims' own statements

        async def fill() -> None:
            async with PostgresStore(dsn) as store:
                await store.enqueue(pending(f"o{n:05}", f"inv-{n}") for n in range(20_000))

        async def make_schema() -> None:
            async with PostgresStore(dsn):
                pass

        if statistics == "from before the send":
            asyncio.run(make_schema())
            with psycopg.connect(dsn) as conn:
                conn.execute(
                    "INSERT INTO outbox (id, invitation_id, channel, state, due_at, updated_at) "
                    "SELECT 's' || g, 'inv-s' || g, 'email', 'sent', g, g "
                    "FROM generate_series(1, 1000) g"
                )
                conn.commit()
                conn.execute("ANALYZE outbox")
        asyncio.run(fill())
        now = int(T0.timestamp() * 1_000_000)
        with psycopg.connect(dsn) as conn:
            if statistics == "fresh":
                conn.execute("ANALYZE outbox")
            ((plan,),) = conn.execute(
                f"EXPLAIN (ANALYZE, FORMAT JSON) {getattr(outbox, statement)}",
                ("w", now + 1, now, now, channels, channels, 200),
            ).fetchall()
            conn.rollback()
        nodes = plan_nodes(plan[0]["Plan"])
        assert nodes[0]["Actual Rows"] == 200
        handled = [(n["Node Type"], n.get("Relation Name"), n["Actual Rows"]) for n in nodes]
        assert max(rows for _, _, rows in handled) == 200, handled
        assert "Incremental Sort" not in [kind for kind, _, _ in handled], handled
        picks = [n for n in nodes if n.get("Index Name") == "outbox_by_state_due"]
        assert [n["Node Type"] for n in picks] == ["Index Scan"], handled


class TestFrameColumns:
    def test_a_column_over_postgres_limit_on_one_value_reads_as_none(self, dsn):
        """The error PostgreSQL raises for a value over 1 GB tells frame() to read rows instead."""
        from cxcore.stores.postgres.responses import _fetch_columns  # noqa: PLC0415 - the backend's own reader

        async def fetch(sql: str) -> list[tuple[Any, ...]] | None:
            async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
                return await _fetch_columns(conn, sql, [])

        # repeat() refuses a result over 1 GB up front, with the same error an
        # aggregate that grows past it raises: no gigabyte is allocated.
        assert asyncio.run(fetch("SELECT repeat('x', 1100000000)")) is None
        assert asyncio.run(
            fetch("SELECT string_agg(x::text, ',') FROM generate_series(1, 3) x")
        ) == [("1,2,3",)]
        with pytest.raises(psycopg.errors.DivisionByZero):  # other errors are not swallowed
            asyncio.run(fetch("SELECT 1 / 0"))


def count_column_queries(store: PostgresStore) -> list[str]:
    """From now on, the columns queries *store* runs (one per part of a frame)."""
    queries: list[str] = []
    columns = store._columns

    async def counted(query: str, params: Any) -> Any:
        queries.append(query)
        return await columns(query, params)

    store._scores = attrs.evolve(store._scores, columns=counted)
    return queries


@pytest.mark.usefixtures("split_small_reads")
class TestFrameParts:
    @pytest.mark.parametrize(
        "window",
        [
            {},
            {"since": T0 + timedelta(hours=31), "until": T0 + timedelta(hours=32)},  # one visit
            {"since": T0 + timedelta(hours=17), "until": T0 + timedelta(hours=120)},
            {"where": {"store": "BLR-01"}, "include_agents": True},
            {"since": T0 + timedelta(days=400)},  # nothing: read whole, and empty
        ],
    )
    def test_a_frame_read_in_parts_is_the_frame_read_whole(self, both, window):
        """Read 1, 2, 3 or 7 queries at once, in spans of time, a frame holds the same rows."""
        dsn = both[0]

        async def read(parts: int) -> tuple[int, list[tuple[Any, ...]]]:
            async with PostgresStore(dsn, frame_parts=parts) as store:
                queries = count_column_queries(store)
                frame = await store.frame(
                    survey_id="visit", dimensions=("store", "flag", "question"), **window
                )
                return len(queries), frame_rows(frame)

        whole = asyncio.run(read(1))
        moments = len({row[2] for row in whole[1]})
        for parts in (1, 2, 3, 7):
            queries, rows = asyncio.run(read(parts))
            assert rows == whole[1], parts
            assert queries == (parts * SPANS_PER_PART if moments > 1 else 1)
        assert bool(whole[1]) == (window.get("since") != T0 + timedelta(days=400))

    def test_a_frame_read_row_by_row_is_the_frame_read_by_columns(self, both):
        """The row path (for columns over 1 GB) reads JSON-text dimensions as the columns do."""
        dims = ("store", "touchpoint", "flag", "n", "question")

        async def read() -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
            async with PostgresStore(both[0]) as store:
                by_columns = await store.frame(survey_id="visit", dimensions=dims)

                async def too_large(_query: str, _params: Any) -> None:
                    return None  # what _fetch_columns gives for a value over 1 GB

                store._scores = attrs.evolve(store._scores, columns=too_large)
                by_rows = await store.frame(survey_id="visit", dimensions=dims)
                return frame_rows(by_columns), frame_rows(by_rows)

        by_columns, by_rows = asyncio.run(read())
        assert by_rows == by_columns
        assert {row[3] for row in by_rows} == {"BLR-01", "DEL-02", "5", 5}  # 5.0 is 5
        assert {row[4] for row in by_rows} == {None, "store_exit", 'Zü "Nord"\n'}

    def test_answers_all_given_at_one_moment_are_read_in_one_part(self, dsn):
        """No span to split: one query, whatever frame_parts says."""

        async def read() -> tuple[int, int]:
            async with PostgresStore(dsn, frame_parts=4) as store:
                await store.put_survey(NPS)
                for i in range(9):  # all received (so answered) at T0
                    await store.submit(kiosk_visit(f"k{i}", i % 11))
                queries = count_column_queries(store)
                frame = await store.frame(survey_id="nps")
                return len(queries), len(frame)

        assert asyncio.run(read()) == (1, 9)

    def test_frame_parts_must_be_one_or_more(self):
        with pytest.raises(ValueError, match="frame_parts: 0 is not 1 or more"):
            PostgresStore("postgresql://u@127.0.0.1/cx", frame_parts=0)


class TestOneStatementSubmit:
    def test_a_new_response_is_one_statement_and_a_repeat_goes_the_general_way(self, dsn, caplog):
        """Without an invitation, a new response is one statement; a used key still repeats or conflicts."""
        survey = Survey(
            id="visit",
            title={"en": "Visit"},
            questions=[
                NpsQuestion(id="ltr", text={"en": "Recommend?"}),
                CsatQuestion(id="sat", text={"en": "Satisfied?"}),
            ],
        )

        def visit(key: str, answers: dict[str, Any], **context: Any) -> Submission:
            return Submission(
                idempotency_key=key,
                survey_id="visit",
                survey_version=1,
                answers=answers,
                complete=True,
                channel="kiosk",
                respondent="anonymous",
                received_at=T0,
                context=context,
            )

        async def scenario() -> tuple[list[str], list[Any], list[Any]]:
            async with PostgresStore(dsn) as store:
                await store.put_survey(survey)
                transactions: list[str] = []
                general = store._write

                async def counted(fn: Any, **kw: Any) -> Any:
                    transactions.append(getattr(fn, "__qualname__", "?"))
                    return await general(fn, **kw)

                store._write = counted  # type: ignore[method-assign]
                outcomes = [
                    (await store.submit(visit("a", {"ltr": 9, "sat": 4}, store="S'1"))).outcome,
                    (await store.submit(visit("b", {"ltr": 3}, store=7, vip=True))).outcome,
                    (await store.submit(visit("c", {}))).outcome,
                ]
                new = list(transactions)
                outcomes.append(
                    (await store.submit(visit("a", {"ltr": 9, "sat": 4}, store="S'1"))).outcome
                )
                with pytest.raises(ConflictError, match="used before with a different payload"):
                    await store.submit(visit("a", {"ltr": 1}))
                cells = await store.score("nps", survey_id="visit", by=("store",))
                return new, outcomes, [(c.key, c.n) for c in cells]

        with caplog.at_level("DEBUG", logger="cxcore.store"):
            new, outcomes, cells = asyncio.run(scenario())
        assert new == []  # no transaction: each new response was one statement
        assert "one statement failed" not in caplog.text
        assert [o.value for o in outcomes] == ["created", "created", "created", "repeated"]
        assert cells == [((7,), 1), (("S'1",), 1)]
        rows = query(dsn, "SELECT count(*) FROM audit WHERE action = 'created'")
        keys = query(dsn, "SELECT idempotency_key, outcome FROM submissions ORDER BY 1")
        assert rows == [(3,)]
        assert keys == [("a", "created"), ("b", "created"), ("c", "created")]


def kiosk_visit(key: str, score: int, **context: Any) -> Submission:
    return Submission(
        idempotency_key=key,
        survey_id="nps",
        survey_version=1,
        answers={"ltr": score},
        complete=True,
        channel="kiosk",
        respondent="anonymous",
        received_at=T0,
        context=context,
    )


class TestGroupCommit:
    """New responses submitted together are stored together: one statement, one commit."""

    @staticmethod
    async def grouped(
        store: PostgresStore, submissions: list[Submission]
    ) -> tuple[list[int], list[Any]]:
        """Submit all at once; the size of each statement the store wrote, and each outcome."""
        sizes: list[int] = []
        write = store._store_new

        async def counted(batch: Any) -> set[str]:
            sizes.append(len(batch))
            return await write(batch)

        store._store_new = counted  # type: ignore[method-assign]
        results = await asyncio.gather(
            *(store.submit(s) for s in submissions), return_exceptions=True
        )
        return sizes, [r if isinstance(r, BaseException) else r.outcome.value for r in results]

    def test_concurrent_new_responses_share_statements_and_all_are_stored(self, dsn):
        """40 submits at once go in fewer statements than 40, and every row of each is written."""

        async def scenario() -> tuple[list[int], list[Any], list[Any]]:
            async with PostgresStore(dsn) as store:
                await store.put_survey(NPS)
                sizes, outcomes = await self.grouped(
                    store, [kiosk_visit(f"k{i}", i % 11, store=f"S{i % 3}") for i in range(40)]
                )
                cells = await store.score("nps", survey_id="nps", by=("store",))
                return sizes, outcomes, [(c.key, c.n, c.score) for c in cells]

        sizes, outcomes, cells = asyncio.run(scenario())
        assert sum(sizes) == 40
        assert max(sizes) > 1, sizes
        assert outcomes == ["created"] * 40
        assert query(dsn, "SELECT count(*) FROM submissions WHERE outcome = 'created'") == [(40,)]
        assert query(dsn, "SELECT count(*) FROM responses") == [(40,)]
        assert query(dsn, "SELECT count(*) FROM answer_scores") == [(40,)]
        assert query(dsn, "SELECT count(*) FROM audit WHERE action = 'created'") == [(40,)]
        assert query(
            dsn,
            "SELECT count(*) FROM submissions s JOIN responses r ON r.id = s.response_id "
            "JOIN answer_scores a ON a.response_id = r.id",
        ) == [(40,)]
        expected = []
        for shop in ("S0", "S1", "S2"):
            scores = [i % 11 for i in range(40) if f"S{i % 3}" == shop]
            promoters = sum(x >= 9 for x in scores)
            detractors = sum(x <= 6 for x in scores)
            expected.append(((shop,), len(scores), 100 * (promoters - detractors) / len(scores)))
        assert [(k, n) for k, n, _ in cells] == [(k, n) for k, n, _ in expected]
        assert [v for *_, v in cells] == pytest.approx([v for *_, v in expected])

    def test_one_bad_response_fails_alone(self, dsn, caplog):
        """A response the server refuses fails its group's statement; the others are still stored."""

        async def scenario() -> tuple[list[int], list[Any]]:
            async with PostgresStore(dsn) as store:
                await store.put_survey(NPS)
                # A rule a DBA added, which the store knows nothing of.
                with psycopg.connect(dsn, autocommit=True) as conn:
                    conn.execute(
                        "ALTER TABLE answer_scores ADD CONSTRAINT no_closed_stores "
                        "CHECK (d_store IS DISTINCT FROM '\"closed\"'::jsonb)"
                    )
                return await self.grouped(
                    store,
                    [
                        kiosk_visit("good-1", 9, store="A"),
                        kiosk_visit("bad", 9, store="closed"),
                        kiosk_visit("good-2", 3, store="B"),
                    ],
                )

        with caplog.at_level("DEBUG", logger="cxcore.store"):
            sizes, outcomes = asyncio.run(scenario())
        assert sizes == [3]
        assert "3 new responses' one statement failed" in caplog.text
        assert outcomes[0] == outcomes[2] == "created"
        assert isinstance(outcomes[1], StoreError)
        assert "no_closed_stores" in str(outcomes[1])
        assert "nothing was written" in str(outcomes[1])
        assert query(dsn, "SELECT idempotency_key FROM submissions ORDER BY 1") == [
            ("good-1",),
            ("good-2",),
        ]
        assert query(dsn, "SELECT count(*) FROM responses") == [(2,)]

    def test_the_same_key_twice_in_one_group(self, dsn):
        """In one group, a key's first use is stored; its repeat repeats, its reuse conflicts."""

        async def scenario() -> tuple[list[int], list[Any]]:
            async with PostgresStore(dsn) as store:
                await store.put_survey(NPS)
                return await self.grouped(
                    store,
                    [
                        kiosk_visit("same", 9, store="A"),
                        kiosk_visit("same", 9, store="A"),
                        kiosk_visit("same", 2, store="A"),
                    ],
                )

        sizes, outcomes = asyncio.run(scenario())
        assert sizes == [3]
        assert outcomes[:2] == ["created", "repeated"]
        assert isinstance(outcomes[2], ConflictError)
        assert query(dsn, "SELECT count(*) FROM responses") == [(1,)]
        assert query(dsn, "SELECT count(*) FROM answer_scores") == [(1,)]

    def test_group_commit_of_one_stores_each_on_its_own(self, dsn):
        """With group_commit=1 every new response is its own statement, however many come at once."""

        async def scenario() -> tuple[list[int], list[Any]]:
            async with PostgresStore(dsn, group_commit=1) as store:
                await store.put_survey(NPS)
                return await self.grouped(store, [kiosk_visit(f"k{i}", 7) for i in range(10)])

        sizes, outcomes = asyncio.run(scenario())
        assert sizes == [1] * 10
        assert outcomes == ["created"] * 10

    def test_group_commit_must_be_one_or_more(self):
        with pytest.raises(ValueError, match="group_commit: 0 is not 1 or more"):
            PostgresStore("postgresql://u@127.0.0.1/cx", group_commit=0)


class TestErrors:
    def test_closed_store_says_how_to_open_it(self):
        """Using a store before opening it is a clear error."""
        with pytest.raises(StoreError, match="not open"):
            asyncio.run(PostgresStore("postgresql://u@127.0.0.1/cx").response("r"))

    def test_an_unreachable_server_is_named_without_its_password(self):
        """The error says where the store tried to connect, and never shows the password."""

        async def open_it() -> None:
            async with PostgresStore("postgresql://cx:s3cret@127.0.0.1:1/nowhere", timeout=2):
                pass

        with pytest.raises(
            StoreError, match=r"cannot connect to PostgreSQL at cx@127\.0\.0\.1:1/nowhere"
        ) as exc:
            asyncio.run(open_it())
        assert "s3cret" not in str(exc.value)
        store = PostgresStore("postgresql://cx:s3cret@127.0.0.1:1/nowhere")
        assert "s3cret" not in repr(store)

    @pytest.mark.parametrize(
        ("kw", "message"),
        [
            ({"max_size": 0}, "max_size: 0 is not 1 or more"),
            ({"min_size": 5, "max_size": 2}, r"min_size: 5 is not between 0 and max_size \(2\)"),
            ({"timeout": 0}, "timeout: 0 is not a positive number of seconds"),
        ],
    )
    def test_settings_are_checked(self, kw, message):
        """Pool sizes and the timeout are checked when the store is made."""
        with pytest.raises(ValueError, match=message):
            PostgresStore("postgresql://u@127.0.0.1/cx", **kw)

    def test_a_connection_string_that_is_not_one_is_refused(self):
        """A DSN libpq cannot parse is refused at once, by name."""
        with pytest.raises(ValueError, match="dsn: not a PostgreSQL connection string"):
            PostgresStore("host=127.0.0.1 port")


class TestFeedWakeUps:
    """wait_feed is woken by LISTEN/NOTIFY: across stores (processes), and never wrongly."""

    @staticmethod
    async def waited(store: PostgresStore, after: int, at_most: float) -> tuple[bool, float]:
        started = asyncio.get_running_loop().time()
        woken = await store.wait_feed(after, at_most)
        return woken, asyncio.get_running_loop().time() - started

    def test_a_write_of_another_store_wakes_a_waiter_at_once(self, dsn):
        """Another pool's commit wakes the wait by notification, long before any poll would."""

        async def scenario() -> tuple[bool, float, bool]:
            async with PostgresStore(dsn, feed_poll=60) as a, PostgresStore(dsn) as b:
                await b.put_survey(NPS)

                async def later() -> None:
                    await asyncio.sleep(0.3)
                    await b.submit(kiosk_visit("k1", 9))

                writer = asyncio.create_task(later())
                woken, took = await self.waited(a, 0, 30.0)
                await writer
                assert a._listener is not None
                return woken, took, a._listener.up

        woken, took, listening = asyncio.run(scenario())
        assert woken
        assert listening
        assert took < 5.0

    def test_notifications_for_other_schemas_do_not_end_a_wait(self, dsn, postgres_server):
        """A notification that brings nothing new (another store's schema) only makes it look again."""

        async def scenario() -> tuple[bool, float]:
            async with PostgresStore(dsn) as store:

                async def noise() -> None:
                    async with await psycopg.AsyncConnection.connect(
                        postgres_server, autocommit=True
                    ) as conn:
                        for _ in range(5):
                            await asyncio.sleep(0.1)
                            await conn.execute("SELECT pg_notify('cxcore_feed', '')")

                other = asyncio.create_task(noise())
                result = await self.waited(store, 0, 1.0)
                await other
                return result

        woken, took = asyncio.run(scenario())
        assert not woken
        assert took >= 1.0

    def test_a_lost_listening_connection_falls_back_on_polling_then_listens_again(
        self, dsn, postgres_server
    ):
        """With its connection killed, a waiter still sees a write (by polling); the ear comes back."""

        async def scenario() -> tuple[bool, bool, int | None, int | None]:
            async with PostgresStore(dsn, feed_poll=0.2) as a, PostgresStore(dsn) as b:
                await b.put_survey(NPS)
                assert await a.wait_feed(0, 0.05) is False  # starts the listener
                listener = a._listener
                assert listener is not None
                first = listener.backend_pid
                assert first is not None
                with psycopg.connect(postgres_server, autocommit=True) as admin:
                    admin.execute("SELECT pg_terminate_backend(%s)", (first,))
                await b.submit(kiosk_visit("k1", 9))
                woken = await a.wait_feed(0, 5.0)
                for _ in range(100):  # it connects again after a pause
                    if listener.up:
                        break
                    await asyncio.sleep(0.05)
                return woken, listener.up, first, listener.backend_pid

        woken, up, first, second = asyncio.run(scenario())
        assert woken
        assert up
        assert second not in (None, first)

    def test_closing_the_store_closes_its_listening_connection(self, dsn):
        """aclose ends the LISTEN connection as well as the pool's."""

        async def scenario() -> int | None:
            async with PostgresStore(dsn) as store:
                await store.wait_feed(0, 0.05)
                assert store._listener is not None
                return store._listener.backend_pid

        pid = asyncio.run(scenario())
        assert pid is not None
        assert query(dsn, "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", pid) == [(0,)]


class TestImport:
    def test_psycopg_loads_only_when_postgres_store_is_used(self):
        """`import cxcore.stores` does not load psycopg; naming PostgresStore does."""
        code = (
            "import sys, cxcore, cxcore.stores\n"
            "before = 'psycopg' in sys.modules\n"
            "cls = cxcore.stores.PostgresStore\n"
            "print(before, 'psycopg' in sys.modules, cls.__name__)"
        )
        run = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        assert run.stdout.split() == ["False", "True", "PostgresStore"]

    def test_without_psycopg_the_error_says_which_extra_to_install(self):
        """A missing psycopg is named, with the extra that brings it."""
        code = (
            "import sys; sys.modules['psycopg'] = None\n"
            "import cxcore.stores\n"
            "try:\n"
            "    cxcore.stores.PostgresStore\n"
            "except ModuleNotFoundError as exc:\n"
            "    print(exc)\n"
        )
        run = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        assert "PostgresStore needs psycopg" in run.stdout
        assert "cxcore[postgres]" in run.stdout
