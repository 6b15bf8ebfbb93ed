"""Dispatcher overhead against calling the fake channel's render + send directly, in one run.

The dispatcher does, per send, what the direct loop does not: claim it from the
outbox, read the invitation, check suppression and consent at send time,
record the end and the disposition, all durable in SQLite (WAL, synchronous
FULL, group commit). Two cases, each with its own baseline in the same run:

* ``zero_latency``: the fake channel answers at once, so the ratio is the
  whole cost of the durable outbox against a bare in-memory call;
* ``provider_5ms``: each send takes 5 ms, like a provider on the network;
  the baseline loop sends one at a time, the dispatcher too (concurrency 1),
  so the ratio is the outbox's overhead on a realistic send.

With a PostgreSQL server named by ``CXCORE_BENCH_POSTGRES`` (or
``CXCORE_TEST_POSTGRES``, what ``.ci/postgres start`` prints), the
``postgres_zero_latency`` case runs the zero-latency dispatcher against a
:class:`~cxcore.stores.PostgresStore` in a schema of its own (dropped after),
every commit durable (``synchronous_commit`` on); without one, its line says
it was skipped.

Prints one JSON line per case. Usage: python benchmarks/bench_dispatch.py [N]
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cxcore import Customer, Interaction, ManualClock, OutboundMessage, SendResult
from cxcore.dispatch import ChannelLimits, Dispatcher, Outbox
from cxcore.distribution import (
    FatiguePolicy,
    FatigueState,
    RuleSet,
    TokenService,
    TriggerRule,
    decide,
)
from cxcore.model.invitation import Invitation
from cxcore.ports.store import Store
from cxcore.stores import SQLiteStore
from cxcore.testing import FakeChannel, postgres_schema, sample_surveys

SURVEY = sample_surveys()[0]
RULES = RuleSet(
    rules=[TriggerRule(id="visit_nps", touchpoint="visit", survey=SURVEY.id, channels=("email",))],
    fatigue=FatiguePolicy(recontact_days=0),
)
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


class Provider(FakeChannel):
    """The fake channel, with an optional network latency per send."""

    def __init__(self, latency: float) -> None:
        super().__init__(name="email")
        self.latency = latency

    async def send(self, message: OutboundMessage) -> SendResult:
        if self.latency:
            await asyncio.sleep(self.latency)
        result = await super().send(message)
        self.deliveries.clear()  # keep memory flat
        return result


OpenStore = Callable[[ManualClock], contextlib.AbstractAsyncContextManager[Store]]
"""Opens the store under test, with the bench's clock."""


def sqlite_at(db: Path) -> OpenStore:
    @contextlib.asynccontextmanager
    async def open_store(clock: ManualClock) -> AsyncIterator[Store]:
        async with SQLiteStore(db, clock=clock) as store:
            yield store

    return open_store


def postgres_at(dsn: str) -> OpenStore:
    from cxcore.stores import PostgresStore  # noqa: PLC0415 - psycopg only with a server

    @contextlib.asynccontextmanager
    async def open_store(clock: ManualClock) -> AsyncIterator[Store]:
        async with PostgresStore(dsn, clock=clock) as store:
            yield store

    return open_store


async def prepare(open_store: OpenStore, n: int, clock: ManualClock) -> list[Invitation]:
    state = FatigueState()
    invitations = []
    async with open_store(clock) as store:
        await store.put_survey(SURVEY)
        outbox = Outbox(store, TokenService(["k" * 32], clock=clock), clock=clock)
        for i in range(n):
            customer = Customer(id=f"C-{i}", email=f"c{i}@example.com", timezone="UTC")
            visit = Interaction(
                id=f"I-{i}", touchpoint="visit", customer_id=customer.id, occurred_at=T0
            )
            decision = decide(RULES, visit, customer, state, clock)
            invitations.append((await outbox.schedule(decision, customer=customer)).invitation)
    return invitations


async def direct(invitations: list[Invitation], latency: float) -> float:
    channel = Provider(latency)
    start = time.perf_counter()
    for invitation in invitations:
        await channel.send(channel.render(invitation, SURVEY))
    spent = time.perf_counter() - start
    await channel.aclose()
    return spent


async def dispatched(
    open_store: OpenStore, clock: ManualClock, latency: float, concurrency: int
) -> float:
    async with open_store(clock) as store:
        channel = Provider(latency)
        dispatcher = Dispatcher(
            store,
            {"email": channel},
            clock=clock,
            worker_id="bench",
            batch=200,
            limits={"email": ChannelLimits(concurrency=concurrency)},
            surveys=[SURVEY],
        )
        start = time.perf_counter()
        while len(await dispatcher.run_once()):
            pass
        spent = time.perf_counter() - start
        await channel.aclose()
        items = await store.outbox()
    assert all(i.state.value == "sent" for i in items), "every send must succeed"
    return spent


def measure(
    case: str, open_store: OpenStore, latency: float, concurrency: int, count: int, **extra: str
) -> None:
    clock = ManualClock(T0)
    invitations = asyncio.run(prepare(open_store, count, clock))
    clock.advance(timedelta(minutes=1))
    base = min(asyncio.run(direct(invitations, latency)) for _ in range(3))
    spent = asyncio.run(dispatched(open_store, clock, latency, concurrency))
    print(
        json.dumps(
            {
                "bench": "dispatch",
                "case": case,
                **extra,
                "sends": count,
                "concurrency": concurrency,
                "direct_per_send_us": round(base / count * 1e6, 1),
                "dispatch_per_send_us": round(spent / count * 1e6, 1),
                "overhead_per_send_us": round((spent - base) / count * 1e6, 1),
                "ratio": round(spent / base, 2),
                "target_ratio": 1.3,
            }
        )
    )


def main(n: int) -> None:
    cases = [("zero_latency", 0.0, 1, n), ("zero_latency_concurrent", 0.0, 16, n)]
    cases.append(("provider_5ms", 0.005, 1, max(n // 20, 50)))
    for case, latency, concurrency, count in cases:
        with tempfile.TemporaryDirectory() as d:
            measure(case, sqlite_at(Path(d) / "bench.db"), latency, concurrency, count)
    server = os.environ.get("CXCORE_BENCH_POSTGRES") or os.environ.get("CXCORE_TEST_POSTGRES")
    if not server:
        skipped = "no server: set CXCORE_BENCH_POSTGRES to a DSN (.ci/postgres start prints one)"
        print(
            json.dumps({"bench": "dispatch", "case": "postgres_zero_latency", "skipped": skipped})
        )
        return
    with postgres_schema(server, prefix="bench") as dsn:
        measure("postgres_zero_latency", postgres_at(dsn), 0.0, 1, n, store="postgres")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
