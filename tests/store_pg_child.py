"""A separate process using a PostgreSQL store, for the tests that need several processes.

Usage: python store_pg_child.py DSN MODE ARG

Modes:
    claim WORKER   Claim due sends as WORKER, three at a time, and mark each sent,
                   until none is left; print each id claimed.
    submit COUNT   Submit one and the same submission COUNT times at once; print
                   "outcome response_id" for each.
    stream PREFIX  Submit new responses, eight at a time, until killed; print each
                   idempotency key once the store has acknowledged it.

Every mode prints "ready" once its store is open, then waits for a line on
standard input before it starts, so several children start together.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta

from cxcore import NpsQuestion, Submission, Survey
from cxcore.ports.store import OutboxState
from cxcore.stores import PostgresStore

SURVEY = Survey(
    id="nps", title={"en": "NPS"}, questions=[NpsQuestion(id="ltr", text={"en": "Recommend?"})]
)
LATER = datetime(2030, 1, 1, tzinfo=UTC)


def submission(key: str, score: int) -> Submission:
    return Submission(
        idempotency_key=key,
        survey_id="nps",
        survey_version=1,
        answers={"ltr": score % 11},
        complete=True,
        channel="kiosk",
        respondent="anonymous",
        received_at=datetime.now(UTC),
        context={"store": f"S{score % 7}"},
    )


def say(*lines: str) -> None:
    sys.stdout.write("".join(line + "\n" for line in lines))
    sys.stdout.flush()


async def claim(store: PostgresStore, worker: str) -> None:
    while items := await store.claim(worker, now=LATER, limit=3, lease=timedelta(minutes=5)):
        for item in items:
            await store.finish(item.id, OutboxState.SENT, at=LATER, provider_id=worker)
        say(*(item.id for item in items))


async def submit(store: PostgresStore, count: int) -> None:
    same = submission("same-key", 10)
    results = await asyncio.gather(*(store.submit(same) for _ in range(count)))
    say(*(f"{r.outcome.value} {r.response.id}" for r in results))


async def stream(store: PostgresStore, prefix: str) -> None:
    i = 0
    while True:
        keys = [f"{prefix}-{i + j}" for j in range(8)]
        results = await asyncio.gather(
            *(store.submit(submission(k, i + j)) for j, k in enumerate(keys))
        )
        say(*(r.response.idempotency_key for r in results))
        i += 8


async def main(dsn: str, mode: str, arg: str) -> None:
    async with PostgresStore(dsn, min_size=8, max_size=8) as store:
        await store.put_survey(SURVEY)
        say("ready")
        await asyncio.to_thread(sys.stdin.readline)
        if mode == "claim":
            await claim(store, arg)
        elif mode == "submit":
            await submit(store, int(arg))
        elif mode == "stream":
            await stream(store, arg)
        else:
            msg = f"unknown mode {mode!r}: claim, submit or stream"
            raise SystemExit(msg)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
