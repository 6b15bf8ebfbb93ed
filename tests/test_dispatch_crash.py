"""The crash test: a dispatcher killed with SIGKILL mid-batch, restarted on the same SQLite file.

Every invitation must end up sent exactly once, or unknown and then reconciled.
The "provider" is a file: each accepted message is appended and fsynced before
``send`` returns, so what the provider has survives the kill.

Run as a script, this file is the child: ``python test_dispatch_crash.py DB SINK HANG_AFTER
LOOP``, where LOOP is ``run_once`` (pass after pass) or ``run`` (the long-running loop,
with two passes under way).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cxcore import Customer, Interaction, ManualClock, OutboundMessage, OutboxState, SendResult
from cxcore.dispatch import ChannelLimits, Dispatcher, Outbox
from cxcore.distribution import (
    FatiguePolicy,
    FatigueState,
    RuleSet,
    TokenService,
    TriggerRule,
    decide,
)
from cxcore.stores import SQLiteStore
from cxcore.testing import FakeChannel, sample_surveys

SURVEY = sample_surveys()[0]
RULES = RuleSet(
    rules=[TriggerRule(id="visit_nps", touchpoint="visit", survey=SURVEY.id, channels=("email",))],
    fatigue=FatiguePolicy(recontact_days=0),
)
N = 60
HANG_AFTER = 15
LIMITS = {"email": ChannelLimits(concurrency=4)}


class SinkChannel(FakeChannel):
    """A provider that is a file: one line per accepted message, fsynced before send returns.

    From the *hang_after*-th message on, it accepts (writes) and then never
    returns, like a provider whose reply is lost: the parent kills the process then.
    """

    def __init__(self, sink: Path, *, hang_after: int = 0) -> None:
        super().__init__(name="email")
        self.sink = sink
        self.hang_after = hang_after
        self.count = 0

    async def send(self, message: OutboundMessage) -> SendResult:
        await asyncio.sleep(0.002)  # the provider's latency
        fd = os.open(self.sink, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{message.invitation_id}\n".encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        self.count += 1
        if self.hang_after and self.count >= self.hang_after:
            await asyncio.Event().wait()  # accepted, but the reply never comes
        return SendResult(
            invitation_id=message.invitation_id, provider_id=f"sink-{message.invitation_id}"
        )

    def accepted(self) -> list[str]:
        return self.sink.read_text().split() if self.sink.exists() else []

    async def lookup(self, message: OutboundMessage) -> SendResult | None:
        if message.invitation_id in self.accepted():
            return SendResult(
                invitation_id=message.invitation_id, provider_id=f"sink-{message.invitation_id}"
            )
        return None


async def child(db: Path, sink: Path, hang_after: int, loop: str) -> None:
    async with SQLiteStore(db) as store:
        channel = SinkChannel(sink, hang_after=hang_after)
        dispatcher = Dispatcher(
            store, {"email": channel}, worker_id="child", limits=LIMITS, batch=10
        )
        if loop == "run":
            await dispatcher.run(asyncio.Event(), interval=0.05)  # until killed
        while len(await dispatcher.run_once()):
            pass


async def prepare(db: Path, now: datetime) -> list[str]:
    clock = ManualClock(now)
    state = FatigueState()
    async with SQLiteStore(db, clock=clock) as store:
        await store.put_survey(SURVEY)
        outbox = Outbox(store, TokenService(["k" * 32], clock=clock), clock=clock)
        ids = []
        for i in range(N):
            customer = Customer(id=f"C-{i}", email=f"c{i}@example.com", timezone="UTC")
            visit = Interaction(
                id=f"I-{i}", touchpoint="visit", customer_id=customer.id, occurred_at=now
            )
            decision = decide(RULES, visit, customer, state, clock)
            ids.append(
                (await outbox.schedule(decision, customer=customer, state=state)).invitation.id
            )
        return ids


async def restart(db: Path, sink: Path, now: datetime):
    clock = ManualClock(now)
    async with SQLiteStore(db, clock=clock) as store:
        channel = SinkChannel(sink)
        dispatcher = Dispatcher(
            store, {"email": channel}, clock=clock, worker_id="restarted", limits=LIMITS
        )
        recovered = await dispatcher.recover()
        reconciled = await dispatcher.reconcile()
        passes = []
        while len(report := await dispatcher.run_once()):
            passes.append(report)
        return recovered, reconciled, passes, await store.outbox()


@pytest.mark.parametrize("loop", ["run_once", "run"])
def test_sigkill_mid_batch_then_restart(tmp_path, loop):
    """Killed mid-batch and restarted: every invitation is sent exactly once; unknowns are reconciled."""
    db, sink = tmp_path / "cx.db", tmp_path / "provider.log"
    start = datetime.now(UTC)
    invitation_ids = asyncio.run(prepare(db, start - timedelta(seconds=1)))
    proc = subprocess.Popen(
        [sys.executable, __file__, str(db), str(sink), str(HANG_AFTER), loop],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while len(SinkChannel(sink).accepted()) < HANG_AFTER + 3:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else "child ended"
            assert time.monotonic() < deadline, "the child never reached the hang"
            time.sleep(0.01)
        time.sleep(0.2)  # the rest of the batch finishes or waits for a slot
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        if proc.stderr:
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    before = SinkChannel(sink).accepted()
    assert HANG_AFTER + 3 <= len(before) < N  # mid-batch, really

    later = datetime.now(UTC) + timedelta(minutes=10)  # the dead claims' lease has run out
    recovered, reconciled, passes, items = asyncio.run(restart(db, sink, later))

    accepted = SinkChannel(sink).accepted()
    assert sorted(accepted) == sorted(invitation_ids)  # each exactly once
    assert len(set(accepted)) == N
    assert {i.state for i in items} == {OutboxState.SENT}
    assert {i.provider_id for i in items} == {f"sink-{i}" for i in invitation_ids}
    # The four sends that reached the provider but never returned came back unknown
    # and were confirmed, not re-sent; claimed sends still waiting for a slot were re-queued.
    assert len(reconciled.sent) == 4
    assert {o.invitation_id for o in reconciled.sent} <= set(before)
    assert len(reconciled.requeued) >= 1
    assert not {o.invitation_id for o in reconciled.requeued} & set(before)
    assert reconciled.unresolved == ()
    assert len(recovered) == len(reconciled.sent) + len(reconciled.requeued)
    assert sum(len(p) for p in passes) == N - len(before)


if __name__ == "__main__":
    asyncio.run(child(Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]))
