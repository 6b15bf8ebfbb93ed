"""Store benchmarks (issue 4). Prints one JSON line per case, with the ratio to a baseline
measured in the same run: the machines are shared and noisy, so only ratios count.

Cases (SQLite, WAL, synchronous=FULL):
- batch ingest through SQLiteStore.append vs raw sqlite3 executemany of the same rows on
  the same schema, in the same transaction size;
- acknowledged single writes from 50 concurrent writers (group commit) vs one commit per
  write;
- reading N stored responses and scoring NPS by store: through a frame, and counted in
  SQL, vs pandas.read_sql of the same answers followed by a pandas groupby.

    python benchmarks/bench_store.py [--responses 1000000] [--batch 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cxcore import CsatQuestion, NpsQuestion, Response, Submission, Survey
from cxcore.scoring import score
from cxcore.stores import SQLiteStore
from cxcore.stores._rows import RESPONSE_COLUMNS, response_row
from cxcore.stores._schema import MIGRATIONS

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


def raw_connection(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    for statement in MIGRATIONS[0]:
        conn.execute(statement)
    return conn


async def batch_ingest(root: Path, n: int, batch: int) -> None:
    data = responses(n)
    async with SQLiteStore(root / "append.db") as store:
        await store.put_survey(SURVEY)
        start = time.perf_counter()
        for at in range(0, n, batch):
            await store.append(data[at : at + batch])
        ours = time.perf_counter() - start
    conn = raw_connection(root / "raw.db")
    start = time.perf_counter()
    for at in range(0, n, batch):
        conn.execute("BEGIN")
        conn.executemany(INSERT, [response_row(r) for r in data[at : at + batch]])
        conn.execute("COMMIT")
    raw = time.perf_counter() - start
    conn.close()
    emit(
        case="sqlite batch ingest (append)",
        rows=n,
        batch=batch,
        rows_per_s=round(n / ours),
        baseline="raw executemany of the same rows",
        baseline_rows_per_s=round(n / raw),
        ratio_to_baseline=round(ours / raw, 2),
        target="<= 1.5",
    )


async def concurrent_writes(root: Path, writers: int, per_writer: int) -> None:
    total = writers * per_writer

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

    async def run(path: Path, group_commit: int) -> float:
        async with SQLiteStore(path, group_commit=group_commit) as store:
            await store.put_survey(SURVEY)

            async def writer(w: int) -> None:
                for i in range(per_writer):
                    await store.submit(submission(w, i))  # acknowledged (durable) before the next

            start = time.perf_counter()
            await asyncio.gather(*(writer(w) for w in range(writers)))
            return time.perf_counter() - start

    single_store = await run(root / "single-store.db", 1)
    ours = await run(root / "group.db", 256)
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
        case="sqlite acknowledged writes, 50 concurrent writers (group commit)",
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


async def read_and_score(root: Path, n: int) -> None:
    import pandas as pd  # noqa: PLC0415 - only this case needs it

    db = root / "read.db"
    async with SQLiteStore(db, synchronous="NORMAL") as store:
        await store.put_survey(SURVEY)
        for at in range(0, n, 20_000):
            await store.append(responses(min(20_000, n - at), offset=at))
        start = time.perf_counter()
        frame = await store.frame(survey_id="nps", dimensions=("store",))
        by_frame = score(frame, "nps", by=("store",))
        framed = time.perf_counter() - start
        start = time.perf_counter()
        pushed = await store.score("nps", survey_id="nps", by=("store",))
        pushdown = time.perf_counter() - start
    conn = sqlite3.connect(db)
    start = time.perf_counter()
    df = pd.read_sql(
        "SELECT json_extract(context, '$.store') AS store, json_extract(answers, '$.ltr') AS ltr "
        "FROM responses WHERE survey_id = 'nps' AND respondent != 'agent'",
        conn,
    )
    grouped = df.groupby("store", sort=False)["ltr"].agg(
        n="count", promoters=lambda s: (s >= 9).sum(), detractors=lambda s: (s <= 6).sum()
    )
    nps = 100 * (grouped["promoters"] - grouped["detractors"]) / grouped["n"]
    baseline = time.perf_counter() - start
    conn.close()
    assert len(nps) == len(pushed) == len(by_frame)
    emit(
        case="sqlite read + score NPS by store, via frame",
        responses=n,
        seconds=round(framed, 3),
        baseline="pandas.read_sql + groupby",
        baseline_seconds=round(baseline, 3),
        speedup=round(baseline / framed, 2),
        target=">= 3",
    )
    emit(
        case="sqlite read + score NPS by store, counted in SQL",
        responses=n,
        seconds=round(pushdown, 3),
        baseline="pandas.read_sql + groupby",
        baseline_seconds=round(baseline, 3),
        speedup=round(baseline / pushdown, 2),
        target=">= 3",
    )


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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("CXCORE_BENCH_DIR")) as tmp:
        root = Path(tmp)
        asyncio.run(batch_ingest(root, args.ingest, args.batch))
        asyncio.run(concurrent_writes(root, 50, args.per_writer))
        asyncio.run(read_and_score(root, args.responses))


if __name__ == "__main__":
    main()
