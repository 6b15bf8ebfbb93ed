"""Store benchmarks (issue 4). Prints one JSON line per case, with the ratio to a baseline
measured in the same run: the machines are shared and noisy, so only ratios count.

Cases (SQLite, WAL, synchronous=FULL):
- batch ingest through SQLiteStore.append vs raw sqlite3 executemany, in the same
  transaction size, of the same rows on the same schema (responses, their idempotency
  records and their scored answers); a second line gives the ratio to the response rows
  alone. Each side keeps its best of three alternating rounds;
- acknowledged single writes from 50 concurrent writers (group commit) vs one commit per
  write, best of three alternating rounds each;
- reading N stored responses and scoring NPS by store: through a frame, and counted in
  SQL, vs pandas.read_sql of the same answers followed by a pandas groupby, reading them
  from the responses' JSON (as the schema stores them) and, stricter, from the plain
  columns of answer_scores. Each side keeps its best of three rounds, read from
  the same closed (checkpointed) file.

The same cases against PostgreSQL when a server is given (--postgres DSN, or
CXCORE_TEST_POSTGRES), each in a fresh schema: COPY as the raw baseline for batches, a
pool of one connection as the one-commit-at-a-time baseline for concurrent writers.

    python benchmarks/bench_store.py [--responses 1000000] [--batch 1000] [--postgres DSN]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from _peers import peer, skipped

from cxcore import CsatQuestion, NpsQuestion, Response, Submission, Survey
from cxcore.scoring import score
from cxcore.stores import SQLiteStore
from cxcore.stores._rows import (
    RESPONSE_COLUMNS,
    SCORE_COLUMNS,
    response_row,
    score_rows,
    scored_questions,
    to_json,
)
from cxcore.stores._schema import MIGRATIONS
from cxcore.testing import postgres_schema

if TYPE_CHECKING:
    from cxcore.stores import PostgresStore

SURVEY = Survey(
    id="nps",
    title={"en": "NPS"},
    questions=[
        NpsQuestion(id="ltr", text={"en": "Recommend?"}),
        CsatQuestion(id="sat", text={"en": "Satisfied?"}),
    ],
)
T0 = datetime(2026, 1, 1, tzinfo=UTC)
INSERT = (
    f"INSERT INTO responses ({', '.join(RESPONSE_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(RESPONSE_COLUMNS))})"
)
INSERT_KEY = "INSERT INTO submissions VALUES (?, ?, ?, ?, ?)"
INSERT_SCORE = (
    f"INSERT INTO answer_scores ({', '.join(SCORE_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(SCORE_COLUMNS))})"
)
SCORED = scored_questions(SURVEY)


def emit(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def responses(n: int, offset: int = 0) -> list[Response]:
    return [
        Response(
            id=f"r{i}",
            survey_id="nps",
            survey_version=1,
            answers={"ltr": (i * 7) % 11, "sat": 1 + (i * 3) % 5},
            status="complete",
            respondent="anonymous",
            channel="kiosk",
            idempotency_key=f"k{i}",
            started_at=T0 + timedelta(seconds=i),
            updated_at=T0 + timedelta(seconds=i),
            completed_at=T0 + timedelta(seconds=i),
            context={"store": f"S{i % 1000:04d}", "touchpoint": f"T{i % 12}"},
        )
        for i in range(offset, offset + n)
    ]


def submission(w: int, i: int) -> Submission:
    return Submission(
        idempotency_key=f"w{w}-{i}",
        survey_id="nps",
        survey_version=1,
        answers={"ltr": i % 11},
        complete=True,
        channel="kiosk",
        respondent="anonymous",
        received_at=T0,
        context={"store": f"S{w}"},
    )


def raw_connection(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    for migration in MIGRATIONS:
        for statement in migration:
            conn.execute(statement)
    return conn


def raw_rows(
    r: Response, *, postgres: bool = False
) -> tuple[tuple[object, ...], tuple[object, ...], list[tuple[object, ...]]]:
    """The rows a stored response takes: itself, its idempotency record, its scored answers."""
    key = (r.idempotency_key, "0" * 64, r.id, "created", 0)
    scores = score_rows(r, SCORED, to_json) if postgres else score_rows(r, SCORED)
    return response_row(r), key, scores


ROUNDS = 3
"""Rounds per case, alternating ours and the baselines; each side keeps its best."""


def keep_best(best: dict[str, float], **seconds: float) -> None:
    for name, value in seconds.items():
        best[name] = min(best.get(name, value), value)


async def batch_ingest(root: Path, n: int, batch: int) -> None:
    data = responses(n)
    best: dict[str, float] = {}
    for round_ in range(ROUNDS):  # alternating, each side keeps its best
        async with SQLiteStore(root / f"append-{round_}.db") as store:
            await store.put_survey(SURVEY)
            start = time.perf_counter()
            for at in range(0, n, batch):
                await store.append(data[at : at + batch])
            ours = time.perf_counter() - start
        conn = raw_connection(root / f"raw-{round_}.db")
        start = time.perf_counter()
        for at in range(0, n, batch):
            rows = [raw_rows(r) for r in data[at : at + batch]]
            conn.execute("BEGIN")
            conn.executemany(INSERT, [row for row, _, _ in rows])
            conn.executemany(INSERT_KEY, [key for _, key, _ in rows])
            conn.executemany(INSERT_SCORE, [s for _, _, scores in rows for s in scores])
            conn.execute("COMMIT")
        raw = time.perf_counter() - start
        conn.close()
        conn = raw_connection(root / f"raw-responses-{round_}.db")
        start = time.perf_counter()
        for at in range(0, n, batch):
            conn.execute("BEGIN")
            conn.executemany(INSERT, [response_row(r) for r in data[at : at + batch]])
            conn.execute("COMMIT")
        bare = time.perf_counter() - start
        conn.close()
        keep_best(best, ours=ours, raw=raw, bare=bare)
    ours, raw, bare = best["ours"], best["raw"], best["bare"]
    emit(
        case="sqlite batch ingest (append)",
        rows=n,
        batch=batch,
        rows_per_s=round(n / ours),
        baseline="raw executemany of the same rows (responses, keys, scored answers)",
        baseline_rows_per_s=round(n / raw),
        ratio_to_baseline=round(ours / raw, 2),
        target="<= 1.5",
    )
    emit(
        case="sqlite batch ingest (append), against the response rows alone",
        rows=n,
        rows_per_s=round(n / ours),
        baseline="raw executemany of the response rows only",
        baseline_rows_per_s=round(n / bare),
        ratio_to_baseline=round(ours / bare, 2),
    )


async def timed_writers(store: SQLiteStore | PostgresStore, writers: int, per_writer: int) -> float:
    """Seconds for *writers* concurrent writers to submit *per_writer* each, one after another."""
    await store.put_survey(SURVEY)

    async def writer(w: int) -> None:
        for i in range(per_writer):
            await store.submit(submission(w, i))  # acknowledged (durable) before the next

    start = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(writers)))
    return time.perf_counter() - start


async def concurrent_writes(root: Path, writers: int, per_writer: int) -> None:
    total = writers * per_writer

    async def run(path: Path, group_commit: int) -> float:
        async with SQLiteStore(path, group_commit=group_commit) as store:
            return await timed_writers(store, writers, per_writer)

    best: dict[str, float] = {}
    for round_ in range(ROUNDS):
        keep_best(
            best,
            single_store=await run(root / f"single-store-{round_}.db", 1),
            ours=await run(root / f"group-{round_}.db", 256),
        )
    single_store, ours = best["single_store"], best["ours"]
    conn = raw_connection(root / "single.db")
    data = [response_row(r) for r in responses(total)]
    start = time.perf_counter()
    for row in data:
        conn.execute("BEGIN")
        conn.execute(INSERT, row)
        conn.execute("COMMIT")
    raw = time.perf_counter() - start
    conn.close()
    emit(
        case=f"sqlite acknowledged writes, {writers} concurrent writers (group commit)",
        writes=total,
        writes_per_s=round(total / ours),
        baseline="the same store, one commit per write",
        baseline_writes_per_s=round(total / single_store),
        speedup=round(single_store / ours, 2),
        target=">= 2",
    )
    emit(
        case="sqlite bare INSERT + COMMIT per write (no validation, idempotency or audit)",
        writes=total,
        writes_per_s=round(total / raw),
        ratio_to_group_commit=round(raw / ours, 2),
    )


JSON_SQL = {
    "sqlite": "SELECT json_extract(context, '$.store') AS store, "
    "json_extract(answers, '$.ltr') AS ltr FROM responses "
    "WHERE survey_id = 'nps' AND respondent != 'agent'",
    "postgres": "SELECT context::jsonb ->> 'store' AS store, "
    "(answers::jsonb ->> 'ltr')::int AS ltr FROM responses "
    "WHERE survey_id = 'nps' AND respondent != 'agent'",
}
COLUMNS_SQL = (
    "SELECT d_store AS store, value AS ltr FROM answer_scores "
    "WHERE survey_id = 'nps' AND question = 'ltr' AND respondent != 'agent'"
)


def pandas_nps(conn: object, sql: str) -> tuple[float, int]:
    """pandas.read_sql of the answers, then NPS by store: (seconds, groups)."""
    import warnings  # noqa: PLC0415

    import pandas as pd  # noqa: PLC0415 - only these cases need it

    start = time.perf_counter()
    with warnings.catch_warnings():  # pandas asks for SQLAlchemy for non-sqlite3 connections
        warnings.simplefilter("ignore", UserWarning)
        df = pd.read_sql(sql, conn)
    grouped = df.groupby("store", sort=False)["ltr"].agg(
        n="count", promoters=lambda s: (s >= 9).sum(), detractors=lambda s: (s <= 6).sum()
    )
    nps = 100 * (grouped["promoters"] - grouped["detractors"]) / grouped["n"]
    return time.perf_counter() - start, len(nps)


async def store_nps(store: SQLiteStore | PostgresStore) -> tuple[float, float, int]:
    """(seconds through a frame, seconds counted in SQL, groups) for NPS by store."""
    start = time.perf_counter()
    frame = await store.frame(survey_id="nps", dimensions=("store",), metrics=["nps"])
    by_frame = score(frame, "nps", by=("store",))
    framed = time.perf_counter() - start
    start = time.perf_counter()
    pushed = await store.score("nps", survey_id="nps", by=("store",))
    pushdown = time.perf_counter() - start
    assert len(pushed) == len(by_frame)
    return framed, pushdown, len(pushed)


def emit_reads(
    backend: str, n: int, *, framed: float, pushdown: float, from_json: float, from_columns: float
) -> None:
    for how, seconds in (("via frame", framed), ("counted in SQL", pushdown)):
        emit(
            case=f"{backend} read + score NPS by store, {how}",
            responses=n,
            seconds=round(seconds, 3),
            baseline="pandas.read_sql of the answers in the responses' JSON + groupby",
            baseline_seconds=round(from_json, 3),
            speedup=round(from_json / seconds, 2),
            target=">= 3",
            stricter_baseline="pandas.read_sql of the answer_scores columns + groupby",
            stricter_baseline_seconds=round(from_columns, 3),
            stricter_speedup=round(from_columns / seconds, 2),
        )


async def read_and_score(root: Path, n: int) -> None:
    if peer("pandas", bench="store", case="sqlite read + score NPS by store") is None:
        return  # the case is the comparison with pandas
    db = root / "read.db"
    async with SQLiteStore(db, synchronous="NORMAL") as store:
        await store.put_survey(SURVEY)
        for at in range(0, n, 20_000):
            await store.append(responses(min(20_000, n - at), offset=at))
    # Closed, so the WAL is checkpointed: every reader below reads the same file.
    best: dict[str, float] = {}
    for _ in range(ROUNDS):
        async with SQLiteStore(db) as store:
            framed, pushdown, groups = await store_nps(store)
        conn = sqlite3.connect(db)
        from_json, groups_json = pandas_nps(conn, JSON_SQL["sqlite"])
        from_columns, groups_columns = pandas_nps(conn, COLUMNS_SQL)
        conn.close()
        assert groups == groups_json == groups_columns
        keep_best(
            best, framed=framed, pushdown=pushdown, from_json=from_json, from_columns=from_columns
        )
    emit_reads("sqlite", n, **best)


async def postgres_cases(dsn: str, args: argparse.Namespace) -> None:
    """The same cases against a PostgreSQL server, each in a fresh schema dropped afterwards."""
    with contextlib.ExitStack() as schemas:

        def fresh() -> str:
            return schemas.enter_context(postgres_schema(dsn, prefix="bench"))

        await postgres_ingest(fresh, args.ingest, args.batch)
        await postgres_writes(fresh, 50, args.per_writer)
        if peer("pandas", bench="store", case="postgres read + score NPS by store") is not None:
            await postgres_read(fresh(), args.responses)


async def postgres_ingest(fresh: Callable[[], str], n: int, batch: int) -> None:
    """append (COPY inside, after its checks) vs bare COPY of the same rows, batch by batch.

    Each run writes into a fresh schema; each side keeps its best of the rounds.
    """
    import psycopg  # noqa: PLC0415

    from cxcore.stores import PostgresStore  # noqa: PLC0415

    data = responses(n)

    async def ours(dsn: str) -> float:
        async with PostgresStore(dsn) as store:
            await store.put_survey(SURVEY)
            start = time.perf_counter()
            for at in range(0, n, batch):
                await store.append(data[at : at + batch])
            return time.perf_counter() - start

    async def raw(dsn: str) -> float:
        async with PostgresStore(dsn):  # the same schema, empty
            pass
        async with await psycopg.AsyncConnection.connect(dsn) as conn:
            start = time.perf_counter()
            for at in range(0, n, batch):
                rows = [raw_rows(r, postgres=True) for r in data[at : at + batch]]
                async with conn.transaction(), conn.cursor() as cur:
                    for table, columns, values in (
                        ("responses", RESPONSE_COLUMNS, [row for row, _, _ in rows]),
                        ("submissions", None, [key for _, key, _ in rows]),
                        ("answer_scores", SCORE_COLUMNS, [s for _, _, sc in rows for s in sc]),
                    ):
                        names = f" ({', '.join(columns)})" if columns else ""
                        async with cur.copy(f"COPY {table}{names} FROM STDIN") as copy:
                            for value in values:
                                await copy.write_row(value)
            return time.perf_counter() - start

    best: dict[str, float] = {}
    for _ in range(ROUNDS):
        keep_best(best, ours=await ours(fresh()), raw=await raw(fresh()))
    ours_s, raw_s = best["ours"], best["raw"]
    emit(
        case="postgres batch ingest (append)",
        rows=n,
        batch=batch,
        rows_per_s=round(n / ours_s),
        baseline="bare COPY of the same rows (responses, keys, scored answers)",
        baseline_rows_per_s=round(n / raw_s),
        ratio_to_baseline=round(ours_s / raw_s, 2),
        target="<= 1.5",
    )


async def postgres_writes(fresh: Callable[[], str], writers: int, per_writer: int) -> None:
    """Acknowledged writes from concurrent writers: group commit vs one commit per write.

    Both sides use a pool of 10 connections, so the baseline's writes commit
    concurrently, on up to 10 connections at once (the server flushes its WAL
    for several commits together when they come at once); a pool of one
    connection, one commit at a time, is printed for reference. Each run writes
    into a fresh schema; each side keeps its best of the rounds.
    """
    from cxcore.stores import PostgresStore  # noqa: PLC0415

    async def run(dsn: str, max_size: int, group_commit: int) -> float:
        async with PostgresStore(
            dsn, min_size=max_size, max_size=max_size, group_commit=group_commit
        ) as store:
            return await timed_writers(store, writers, per_writer)

    best: dict[str, float] = {}
    for _ in range(ROUNDS):
        keep_best(
            best,
            serial=await run(fresh(), 1, 1),
            single=await run(fresh(), 10, 1),
            grouped=await run(fresh(), 10, 256),
        )
    total = writers * per_writer
    emit(
        case=f"postgres acknowledged writes, {writers} concurrent writers (group commit)",
        writes=total,
        writes_per_s=round(total / best["grouped"]),
        baseline="the same store, one commit per write (group_commit=1), pool of 10",
        baseline_writes_per_s=round(total / best["single"]),
        speedup=round(best["single"] / best["grouped"], 2),
        target=">= 2",
    )
    emit(
        case="postgres one commit per write, one connection (one commit at a time)",
        writes=total,
        writes_per_s=round(total / best["serial"]),
        ratio_to_group_commit=round(best["serial"] / best["grouped"], 2),
    )


async def postgres_read(dsn: str, n: int) -> None:
    """Read n responses and score NPS by store, against pandas on the same server."""
    import psycopg  # noqa: PLC0415

    from cxcore.stores import PostgresStore  # noqa: PLC0415

    async with PostgresStore(dsn) as store:
        await store.put_survey(SURVEY)
        for at in range(0, n, 20_000):
            await store.append(responses(min(20_000, n - at), offset=at))
        # What autovacuum does on a live server, where a million answers came in
        # over months: without statistics the planner expects one row and sorts
        # instead of hashing, and the first reads of just-written rows would
        # write their pages again to set their hint bits.
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as admin:
            await admin.execute("VACUUM (ANALYZE)")
    # Each side keeps its connections open across the rounds, as a service
    # does: a new server process pays to grow its memory on its first large
    # aggregate (0.1 s here), which only its first round shows.
    best: dict[str, float] = {}
    async with PostgresStore(dsn) as store:
        with psycopg.connect(dsn) as conn:
            for _ in range(ROUNDS):
                framed, pushdown, groups = await store_nps(store)
                from_json, groups_json = pandas_nps(conn, JSON_SQL["postgres"])
                from_columns, groups_columns = pandas_nps(
                    conn, COLUMNS_SQL.replace("d_store AS store", "d_store #>> '{}' AS store")
                )
                assert groups == groups_json == groups_columns
                keep_best(
                    best,
                    framed=framed,
                    pushdown=pushdown,
                    from_json=from_json,
                    from_columns=from_columns,
                )
    emit_reads("postgres", n, **best)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--responses", type=int, default=1_000_000, help="stored responses to read and score"
    )
    parser.add_argument(
        "--ingest", type=int, default=100_000, help="rows for the batch ingest case"
    )
    parser.add_argument("--batch", type=int, default=1000, help="rows per transaction")
    parser.add_argument("--per-writer", type=int, default=40, help="writes per concurrent writer")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("CXCORE_TEST_POSTGRES"),
        help="a PostgreSQL DSN for the PostgreSQL cases (default: $CXCORE_TEST_POSTGRES)",
    )
    parser.add_argument("--only", choices=["sqlite", "postgres"], help="run one backend's cases")
    args = parser.parse_args()
    if args.only != "postgres":
        with tempfile.TemporaryDirectory(dir=os.environ.get("CXCORE_BENCH_DIR")) as tmp:
            root = Path(tmp)
            asyncio.run(batch_ingest(root, args.ingest, args.batch))
            asyncio.run(concurrent_writes(root, 50, args.per_writer))
            asyncio.run(read_and_score(root, args.responses))
    if args.only != "sqlite":
        if args.postgres:
            if peer("psycopg", bench="store", case="postgres cases") is not None:
                asyncio.run(postgres_cases(args.postgres, args))
        else:
            skipped("store", "postgres cases", "no server: pass --postgres DSN")


if __name__ == "__main__":
    main()
