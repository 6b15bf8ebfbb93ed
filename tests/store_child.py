"""A separate process that writes to a SQLite store, for the durability and concurrency tests.

Usage: python store_child.py DB PREFIX COUNT   (COUNT 0 means: until killed)

It prints each idempotency key once the store has acknowledged it.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

from cxcore import NpsQuestion, Submission, Survey
from cxcore.stores import SQLiteStore

SURVEY = Survey(
    id="nps", title={"en": "NPS"}, questions=[NpsQuestion(id="ltr", text={"en": "Recommend?"})]
)


def submission(key: str, i: int) -> Submission:
    return Submission(
        idempotency_key=key,
        survey_id="nps",
        survey_version=1,
        answers={"ltr": i % 11},
        complete=True,
        channel="kiosk",
        respondent="anonymous",
        received_at=datetime.now(UTC),
        context={"store": f"S{i % 7}"},
    )


async def main(path: str, prefix: str, count: int) -> None:
    async with SQLiteStore(path) as store:
        await store.put_survey(SURVEY)
        i = 0
        while count == 0 or i < count:
            size = 8 if count == 0 else min(8, count - i)
            keys = [f"{prefix}-{i + j}" for j in range(size)]
            results = await asyncio.gather(
                *(store.submit(submission(k, i + j)) for j, k in enumerate(keys))
            )
            for r in results:
                sys.stdout.write(r.response.idempotency_key + "\n")
            sys.stdout.flush()
            i += size


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
