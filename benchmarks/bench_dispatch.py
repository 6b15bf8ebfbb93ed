"""Dispatcher overhead against calling the fake channel's render + send directly, in one run.

The dispatcher does, per send, what the direct loop does not: claim it from the
outbox, read the invitation, check suppression and consent at send time,
record the end and the disposition, all durable in SQLite (WAL, synchronous
FULL, group commit). Two cases, each with its own baseline in the same run:

* ``zero_latency``: the fake channel answers at once, so the ratio is the
  whole cost of the durable outbox against a bare in-memory call;
* ``provider_5ms_x16`` and ``provider_5ms_x16_one_pass``: 5 ms sends, 16 at
  once, through :meth:`Dispatcher.run` with two passes under way (the
  default) or one, against the same sends made directly, 16 at once. With
  one pass, the channel's slots idle at every pass's end while it records its
  ends and the next pass claims.
* ``provider_5ms`` and ``provider_1ms``: each send takes 5 ms (1 ms), like
  a provider on the network; the baseline loop sends one at a time, the
  dispatcher too (concurrency 1), so the ratio is the outbox's overhead on a
  realistic send. The latency is a thread's sleep, whose end wakes the event
  loop as a provider's answer on a socket would. An ``asyncio.sleep`` would
  not: whenever the loop wakes during it (the dispatcher's store writes
  finishing in their thread), asyncio rounds the rest of the wait up to a
  whole millisecond for ``epoll``, which added 0.6-0.8 ms to every 5 ms send
  in the dispatcher and none in the bare loop.

One more, ``bulk_claim``, looks at the outbox rather than the channel: a bulk
send (``cxcore send`` to a whole audience) schedules every send due at one
instant, and each dispatcher pass claims the first 200 of them. It times one
``claim_sends`` of 200 (the best of a few, each claim handed back untimed) at
the start of an outbox of ``--bulk`` sends all due at once, against the same
claim of an outbox holding only those 200. A claim that reads its sends off an
index in claim order costs the same whatever the outbox holds (ratio near 1);
one that sorts every due send costs more the bigger the send, which makes a
bulk send quadratic.

With a PostgreSQL server named by ``CXCORE_BENCH_POSTGRES`` (or
``CXCORE_TEST_POSTGRES``, what ``.ci/postgres start`` prints), the
``postgres_zero_latency`` and ``postgres_bulk_claim`` cases run the same against a
:class:`~cxcore.stores.PostgresStore` in a schema of its own (dropped after),
every commit durable (``synchronous_commit`` on); without one, their lines say
they were skipped. Before its claims, ``postgres_bulk_claim`` runs ``ANALYZE
outbox`` on its new schemas, as autovacuum does a minute or so after a new
database's first sends.

Prints one JSON line per case. Usage:
python benchmarks/bench_dispatch.py [N] [--bulk SENDS] [--case NAME ...]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _peers import peer, skipped

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
from cxcore.ports.store import OutboxState, Store
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
        # A thread per send in flight: the default executor's few threads would
        # cap the sends at once below the dispatcher's concurrency.
        self._waits = ThreadPoolExecutor(max_workers=64, thread_name_prefix="provider")
        self.sent = 0
        self.expected: int | None = None
        self.all_sent = asyncio.Event()

    async def send(self, message: OutboundMessage) -> SendResult:
        if self.latency:  # a thread's sleep: see the module's docstring
            await asyncio.get_running_loop().run_in_executor(self._waits, time.sleep, self.latency)
        result = await super().send(message)
        self.deliveries.clear()  # keep memory flat
        self.sent += 1
        if self.sent == self.expected:
            self.all_sent.set()
        return result

    async def aclose(self) -> None:
        self._waits.shutdown()
        await super().aclose()


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


async def direct(invitations: list[Invitation], latency: float, concurrency: int = 1) -> float:
    """Render and send each invitation straight through the channel, *concurrency* at once."""
    channel = Provider(latency)
    start = time.perf_counter()
    if concurrency == 1:
        for invitation in invitations:
            await channel.send(channel.render(invitation, SURVEY))
    else:
        slots = asyncio.Semaphore(concurrency)

        async def one(invitation: Invitation) -> None:
            async with slots:
                await channel.send(channel.render(invitation, SURVEY))

        await asyncio.gather(*map(one, invitations))
    spent = time.perf_counter() - start
    await channel.aclose()
    return spent


async def dispatched(
    open_store: OpenStore,
    clock: ManualClock,
    latency: float,
    concurrency: int,
    passes: int | None = None,
) -> float:
    """Dispatch every due send: pass after pass with ``run_once``, or with ``run(passes=...)``."""
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
        if passes is None:
            while len(await dispatcher.run_once()):
                pass
        else:
            channel.expected = len(await store.outbox())
            stop = asyncio.Event()
            loop = asyncio.create_task(dispatcher.run(stop, interval=0.005, passes=passes))
            await channel.all_sent.wait()
            stop.set()
            await loop  # the passes under way record their ends
        spent = time.perf_counter() - start
        await channel.aclose()
        items = await store.outbox()
    assert all(i.state.value == "sent" for i in items), "every send must succeed"
    return spent


def measure(
    case: str,
    open_store: OpenStore,
    latency: float,
    concurrency: int,
    count: int,
    *,
    passes: int | None = None,
    **extra: str,
) -> None:
    """Time one case against the direct loop (with *passes*, as concurrent as the dispatcher)."""
    clock = ManualClock(T0)
    invitations = asyncio.run(prepare(open_store, count, clock))
    clock.advance(timedelta(minutes=1))
    at_once = 1 if passes is None else concurrency
    base = min(asyncio.run(direct(invitations, latency, at_once)) for _ in range(3))
    spent = asyncio.run(dispatched(open_store, clock, latency, concurrency, passes))
    print(
        json.dumps(
            {
                "bench": "dispatch",
                "case": case,
                **extra,
                "sends": count,
                "concurrency": concurrency,
                **({} if passes is None else {"loop": f"run(passes={passes})"}),
                "direct_concurrency": at_once,
                "direct_per_send_us": round(base / count * 1e6, 1),
                "dispatch_per_send_us": round(spent / count * 1e6, 1),
                "overhead_per_send_us": round((spent - base) / count * 1e6, 1),
                "ratio": round(spent / base, 2),
                "target_ratio": 1.3,
            }
        )
    )


CLAIM = 200
"""Sends a dispatcher pass claims (its ``batch``)."""
CLAIM_ROUNDS = 5
"""Claims timed on each outbox; the best counts."""


async def schedule_bulk(open_store: OpenStore, n: int, clock: ManualClock) -> None:
    """Schedule *n* invitations, all due now, as a bulk send does (500 at a time: group commit)."""
    state = FatigueState()
    async with open_store(clock) as store:
        await store.put_survey(SURVEY)
        outbox = Outbox(store, TokenService(["k" * 32], clock=clock), clock=clock)

        async def one(i: int) -> None:
            customer = Customer(id=f"C-{i}", email=f"c{i}@example.com", timezone="UTC")
            visit = Interaction(
                id=f"I-{i}", touchpoint="visit", customer_id=customer.id, occurred_at=T0
            )
            decision = decide(RULES, visit, customer, state, clock)
            assert decision.due_at == clock.now(), "every send of a bulk send is due at once"
            await outbox.schedule(decision, customer=customer)

        for start in range(0, n, 500):
            await asyncio.gather(*(one(i) for i in range(start, min(start + 500, n))))


async def best_claim(open_store: OpenStore, clock: ManualClock) -> float:
    """The best time of one claim_sends of CLAIM sends; each claim is handed back, untimed."""
    best = float("inf")
    async with open_store(clock) as store:
        for _ in range(CLAIM_ROUNDS):
            start = time.perf_counter()
            claimed = await store.claim_sends(
                "bench", now=clock.now(), limit=CLAIM, lease=timedelta(minutes=5)
            )
            best = min(best, time.perf_counter() - start)
            assert len(claimed) == CLAIM, f"claimed {len(claimed)} sends, expected {CLAIM}"
            assert not any(c.problem for c in claimed), "every claimed send must be readable"
            await store.release_claims("bench", now=clock.now(), to=OutboxState.PENDING)
    return best


def measure_bulk_claim(
    case: str,
    open_stores: list[OpenStore],
    n: int,
    settle: Callable[[], None] = lambda: None,
    **extra: str,
) -> None:
    """Time the first claim of a bulk send of *n*, against the same claim of one of CLAIM sends.

    *settle* runs once both outboxes are filled, before any claim.
    """
    small, big = open_stores
    clock = ManualClock(T0)
    asyncio.run(schedule_bulk(small, CLAIM, clock))
    asyncio.run(schedule_bulk(big, n, clock))
    settle()
    base = asyncio.run(best_claim(small, clock))
    spent = asyncio.run(best_claim(big, clock))
    print(
        json.dumps(
            {
                "bench": "dispatch",
                "case": case,
                **extra,
                "sends": n,
                "due_at_once": n,
                "claim": CLAIM,
                "baseline_sends": CLAIM,
                "baseline_claim_ms": round(base * 1e3, 2),
                "claim_ms": round(spent * 1e3, 2),
                "ratio": round(spent / base, 2),
                "target_ratio": 1.5,
            }
        )
    )


CASES = (
    "zero_latency",
    "zero_latency_concurrent",
    "provider_5ms",
    "provider_1ms",
    "provider_5ms_x16",
    "provider_5ms_x16_one_pass",
    "bulk_claim",
    "postgres_zero_latency",
    "postgres_bulk_claim",
)


def main(n: int, bulk: int, cases: Sequence[str]) -> None:
    dispatch = [("zero_latency", 0.0, 1, n), ("zero_latency_concurrent", 0.0, 16, n)]
    dispatch.append(("provider_5ms", 0.005, 1, max(n // 10, 50)))
    dispatch.append(("provider_1ms", 0.001, 1, max(n // 4, 50)))
    for case, latency, concurrency, count in dispatch:
        if case in cases:
            with tempfile.TemporaryDirectory() as d:
                measure(case, sqlite_at(Path(d) / "bench.db"), latency, concurrency, count)
    for case, passes in (("provider_5ms_x16", 2), ("provider_5ms_x16_one_pass", 1)):
        if case in cases:
            with tempfile.TemporaryDirectory() as d:
                measure(case, sqlite_at(Path(d) / "bench.db"), 0.005, 16, n, passes=passes)
    if "bulk_claim" in cases:
        with tempfile.TemporaryDirectory() as d:
            stores = [sqlite_at(Path(d) / "small.db"), sqlite_at(Path(d) / "big.db")]
            measure_bulk_claim("bulk_claim", stores, bulk)
    on_postgres = [c for c in cases if c.startswith("postgres_")]
    if not on_postgres:
        return
    server = os.environ.get("CXCORE_BENCH_POSTGRES") or os.environ.get("CXCORE_TEST_POSTGRES")
    if not server:
        why = "no server: set CXCORE_BENCH_POSTGRES to a DSN (.ci/postgres start prints one)"
        for case in on_postgres:
            skipped("dispatch", case, why)
        return
    if peer("psycopg", bench="dispatch", case=", ".join(on_postgres)) is None:
        return
    if "postgres_zero_latency" in cases:
        with postgres_schema(server, prefix="bench") as dsn:
            measure("postgres_zero_latency", postgres_at(dsn), 0.0, 1, n, store="postgres")
    if "postgres_bulk_claim" in cases:
        with (
            postgres_schema(server, prefix="bench") as small,
            postgres_schema(server, prefix="bench") as big,
        ):

            def analyze() -> None:
                # What autovacuum does a minute or so after a new database's
                # first sends; with no statistics at all, the planner may
                # sort every due send.
                import psycopg  # noqa: PLC0415 - only with a server

                for dsn in (small, big):
                    with psycopg.connect(dsn, autocommit=True) as conn:
                        conn.execute("ANALYZE outbox")

            stores = [postgres_at(small), postgres_at(big)]
            measure_bulk_claim("postgres_bulk_claim", stores, bulk, analyze, store="postgres")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("n", type=int, nargs="?", default=2000, help="sends per dispatch case")
    parser.add_argument(
        "--bulk", type=int, default=50_000, help="sends due at once in the bulk_claim cases"
    )
    parser.add_argument(
        "--case", action="append", choices=CASES, help="run only this case (repeatable)"
    )
    args = parser.parse_args()
    main(args.n, args.bulk, args.case or CASES)
