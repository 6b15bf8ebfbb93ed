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

Prints one JSON line per case. Usage: python benchmarks/bench_dispatch.py [N]
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
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
from cxcore.stores import SQLiteStore
from cxcore.testing import FakeChannel, sample_surveys

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


async def prepare(db: Path, n: int, clock: ManualClock) -> list[Invitation]:
    state = FatigueState()
    invitations = []
    async with SQLiteStore(db, clock=clock) as store:
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


async def dispatched(db: Path, clock: ManualClock, latency: float, concurrency: int) -> float:
    async with SQLiteStore(db, clock=clock) as store:
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


def main(n: int) -> None:
    cases = [("zero_latency", 0.0, 1, n), ("zero_latency_concurrent", 0.0, 16, n)]
    cases.append(("provider_5ms", 0.005, 1, max(n // 20, 50)))
    for case, latency, concurrency, count in cases:
        with tempfile.TemporaryDirectory() as d:
            db = Path(d) / "bench.db"
            clock = ManualClock(T0)
            invitations = asyncio.run(prepare(db, count, clock))
            clock.advance(timedelta(minutes=1))
            base = min(asyncio.run(direct(invitations, latency)) for _ in range(3))
            spent = asyncio.run(dispatched(db, clock, latency, concurrency))
        print(
            json.dumps(
                {
                    "bench": "dispatch",
                    "case": case,
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


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
