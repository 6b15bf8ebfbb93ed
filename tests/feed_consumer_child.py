"""A feed consumer in a process of its own, for the crash tests.

    python feed_consumer_child.py KIND STORE NAME SINK

KIND is ``sqlite`` or ``postgres``; STORE is the SQLite file or the PostgreSQL DSN. It follows the store's feed with a
:class:`cxcore.feed.FeedConsumer` named NAME and applies each event to SINK, a
file of one ``seq`` per line, fsynced. Applying is idempotent by ``seq``, as
the feed's docs ask of a consumer whose effects must happen once: an event
delivered again after a crash (handled, but its position not saved yet) is
recognised and skipped, and counted in ``SINK.again``.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from cxcore.feed import FeedConsumer
from cxcore.ports.feed import FeedEvent


def _last_applied(sink: Path) -> int:
    if not sink.exists():
        return 0
    lines = sink.read_text(encoding="ascii").split()
    return int(lines[-1]) if lines else 0


async def main(kind: str, store_url: str, name: str, sink: Path) -> None:
    if kind == "postgres":
        from cxcore.stores import PostgresStore  # noqa: PLC0415

        store: object = PostgresStore(store_url)
    else:
        from cxcore.stores import SQLiteStore  # noqa: PLC0415

        store = SQLiteStore(store_url)
    applied = _last_applied(sink)
    again = sink.with_suffix(".again")

    async def apply(events: Sequence[FeedEvent]) -> None:
        nonlocal applied
        with sink.open("a", encoding="ascii") as out, again.open("a", encoding="ascii") as seen:
            for event in events:
                if event.seq <= applied:
                    seen.write(f"{event.seq}\n")
                    continue
                out.write(f"{event.seq}\n")
                out.flush()
                os.fsync(out.fileno())
                applied = event.seq

    async with store:  # type: ignore[attr-defined]
        consumer = FeedConsumer(store, name, apply, batch=20, wait=0.2)  # type: ignore[arg-type]
        await consumer.run(asyncio.Event())  # until killed


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])))
