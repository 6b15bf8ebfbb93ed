"""The dispatcher against a real SQLite store and the fake channel: one outcome per error class."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar, cast

import attrs
import pytest

from cxcore import (
    ChannelClosedError,
    Consent,
    Customer,
    Disposition,
    Interaction,
    InviteGuard,
    ManualClock,
    OutboundMessage,
    OutboxState,
    Purpose,
    SendError,
    SendResult,
    StoreLimitError,
    StratumFullError,
    ValidationError,
)
from cxcore.dispatch import (
    ChannelLimits,
    DeliveryLookup,
    Dispatcher,
    DispatchError,
    Outbox,
    RetryPolicy,
    Scheduled,
    ScheduleError,
    ScheduleRequest,
    TokenBucket,
    outbox_item_id,
    reminder_of,
)
from cxcore.distribution import (
    FatiguePolicy,
    FatigueState,
    Reason,
    RuleSet,
    Sampling,
    TokenService,
    TriggerRule,
    decide,
    decide_reminder,
    skip_refused,
)
from cxcore.ports.store import ClaimLostError, OutboxItem, Store
from cxcore.stores import SQLiteStore
from cxcore.testing import FakeChannel, sample_surveys

T = TypeVar("T")
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
KEY = "k" * 32
SURVEY = sample_surveys()[0]  # sample_nps
RULES = RuleSet(
    rules=[TriggerRule(id="visit_nps", touchpoint="visit", survey=SURVEY.id, channels=("email",))],
    fatigue=FatiguePolicy(recontact_days=0),
)


def run(fn: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(fn())  # type: ignore[arg-type]


@attrs.define
class World:
    store: SQLiteStore
    clock: ManualClock
    outbox: Outbox
    state: FatigueState

    async def invite(self, n: int = 1, *, prefix: str = "C") -> list[str]:
        """Schedule *n* invitations due now, one per customer; return the outbox item ids."""
        ids = []
        for i in range(n):
            customer = Customer(
                id=f"{prefix}-{i}", email=f"{prefix.lower()}{i}@example.com", timezone="UTC"
            )
            visit = Interaction(
                id=f"I-{prefix}-{i}",
                touchpoint="visit",
                customer_id=customer.id,
                occurred_at=self.clock.now(),
            )
            decision = decide(RULES, visit, customer, self.state, self.clock)
            scheduled = await self.outbox.schedule(
                decision, customer=customer, interaction=visit, state=self.state
            )
            ids.append(scheduled.item.id)
        return ids

    async def invite_people(self, *people: tuple[str, str]) -> None:
        """Schedule an invitation, due now, for each (customer id, email): emails may repeat."""
        for customer_id, email in people:
            customer = Customer(id=customer_id, email=email, timezone="UTC")
            visit = Interaction(
                id=f"I-{customer_id}",
                touchpoint="visit",
                customer_id=customer_id,
                occurred_at=self.clock.now(),
            )
            decision = decide(RULES, visit, customer, self.state, self.clock)
            await self.outbox.schedule(decision, customer=customer)

    def dispatcher(self, channel: object, **kw: Any) -> Dispatcher:
        kw.setdefault("rng", random.Random(5))
        return Dispatcher(self.store, {"email": channel}, clock=self.clock, worker_id="w1", **kw)  # type: ignore[dict-item]

    async def item(self, item_id: str) -> OutboxItem:
        (found,) = [i for i in await self.store.outbox() if i.id == item_id]
        return found


def manual_bucket(rate: float, burst: int) -> tuple[ManualClock, TokenBucket, list[float]]:
    """A token bucket on a manual clock whose sleeps move the clock, and the waits it asked for."""
    clock = ManualClock(T0)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.advance(seconds=seconds)

    return clock, TokenBucket(rate, burst, clock=clock, sleep=sleep), waits


@asynccontextmanager
async def world(tmp_path: Path) -> AsyncIterator[World]:
    clock = ManualClock(T0)
    async with SQLiteStore(tmp_path / "cx.db", clock=clock) as store:
        await store.put_survey(SURVEY)
        outbox = Outbox(store, TokenService([KEY], clock=clock), clock=clock)
        yield World(store, clock, outbox, FatigueState())


class TestOutcomes:
    def test_a_pass_loads_each_survey_once(self, tmp_path):
        """Sends that start together wait for one load of their survey, not one load each."""

        async def go() -> tuple[int, int]:
            async with world(tmp_path) as w:
                await w.invite(30)
            # Another process's store: nothing of the survey in memory yet.
            async with SQLiteStore(tmp_path / "cx.db", clock=w.clock) as store:
                loads = 0
                load = store.survey

                async def counted(survey_id: str, version: int | None = None) -> Any:
                    nonlocal loads
                    loads += 1
                    return await load(survey_id, version)

                store.survey = counted  # type: ignore[method-assign]
                dispatcher = Dispatcher(
                    store, {"email": FakeChannel(name="email")}, clock=w.clock, worker_id="w1"
                )
                report = await dispatcher.run_once()
                return loads, report.count(OutboxState.SENT)

        assert run(go) == (1, 30)

    def test_sent_records_provider_id_and_disposition(self, tmp_path):
        """A send the provider accepts is sent, with its provider id and a 'sent' disposition."""

        async def go():
            async with world(tmp_path) as w:
                (item_id,) = await w.invite()
                channel = FakeChannel(name="email")
                report = await w.dispatcher(channel).run_once()
                item = await w.item(item_id)
                dispositions = await w.store.dispositions(item.invitation_id)
                return report, item, dispositions, channel

        report, item, dispositions, channel = run(go)
        assert [o.state for o in report.outcomes] == [OutboxState.SENT]
        assert item.state is OutboxState.SENT
        assert item.provider_id == "email-1" == report.outcomes[0].provider_id
        assert item.attempts == 1
        assert [d for d, _ in dispositions] == [Disposition.SENT]
        assert [d.message.to for d in channel.deliveries] == ["c0@example.com"]
        assert str(report) == "1 claimed: 1 sent"

    def test_retryable_goes_back_to_pending_then_sends(self, tmp_path):
        """A retryable error puts the send back to pending after a jittered backoff; it then goes out."""

        async def go():
            async with world(tmp_path) as w:
                (item_id,) = await w.invite()
                channel = FakeChannel(name="email")
                channel.fail_next(SendError("421 try later", retryable=True, code="421"))
                dispatcher = w.dispatcher(channel, retry=RetryPolicy(base=timedelta(minutes=1)))
                first = await dispatcher.run_once()
                pending = await w.item(item_id)
                early = await dispatcher.run_once(pending.due_at - timedelta(seconds=1))
                w.clock.advance(minutes=1)
                second = await dispatcher.run_once()
                return first, pending, early, second, await w.item(item_id), channel

        first, pending, early, second, final, channel = run(go)
        (outcome,) = first.outcomes
        assert outcome.state is OutboxState.PENDING
        assert outcome.detail == "421 try later (code 421)"
        assert outcome.retry_at is not None
        assert T0 <= outcome.retry_at <= T0 + timedelta(minutes=1)
        assert pending.state is OutboxState.PENDING
        assert pending.due_at == outcome.retry_at
        assert pending.last_error == "421 try later (code 421)"
        assert len(early) == 0
        assert [o.state for o in second.outcomes] == [OutboxState.SENT]
        assert final.attempts == 2
        assert len(channel.deliveries) == 1

    def test_retries_run_out(self, tmp_path):
        """After max_attempts retryable failures, the send fails for good, with a 'failed' disposition."""

        async def go():
            async with world(tmp_path) as w:
                (item_id,) = await w.invite()
                channel = FakeChannel(name="email")
                channel.fail_next(*(SendError("429", retryable=True) for _ in range(3)))
                dispatcher = w.dispatcher(channel, retry=RetryPolicy(max_attempts=2))
                states: list[OutboxState] = []
                for _ in range(3):
                    report = await dispatcher.run_once()
                    states.extend(o.state for o in report.outcomes)
                    w.clock.advance(hours=2)
                item = await w.item(item_id)
                return states, item, await w.store.dispositions(item.invitation_id)

        states, item, dispositions = run(go)
        assert states == [OutboxState.PENDING, OutboxState.FAILED]
        assert item.state is OutboxState.FAILED
        assert item.last_error == "gave up after 2 attempts: 429"
        assert [d for d, _ in dispositions] == [Disposition.FAILED]

    def test_suppress_error_suppresses_the_address(self, tmp_path):
        """A refusal of the address suppresses it; a later send to it never reaches the channel."""

        async def go():
            async with world(tmp_path) as w:
                await w.invite()
                channel = FakeChannel(name="email")
                channel.fail_next(SendError("550 no such user", suppress=True, code="550"))
                dispatcher = w.dispatcher(channel)
                first = await dispatcher.run_once()
                why = await w.store.suppression("c0@example.com", "email")
                await w.invite(prefix="C2")  # another customer...
                second_customer = Customer(
                    id="X", email="c0@example.com", timezone="UTC"
                )  # ...same address
                visit = Interaction(
                    id="I-X", touchpoint="visit", customer_id="X", occurred_at=w.clock.now()
                )
                decision = decide(RULES, visit, second_customer, w.state, w.clock)
                await w.outbox.schedule(decision, customer=second_customer)
                second = await dispatcher.run_once()
                return first, why, second, channel

        first, why, second, channel = run(go)
        assert [o.state for o in first.outcomes] == [OutboxState.SUPPRESSED]
        assert why == "hard_bounce"
        states = sorted((o.state.value, o.detail) for o in second.outcomes)
        assert states == [
            ("sent", None),
            ("suppressed", "the address is suppressed on 'email' (hard_bounce)"),
        ]
        assert [d.message.to for d in channel.deliveries] == ["c20@example.com"]

    def test_permanent_error_fails(self, tmp_path):
        """A send error that is neither retryable, suppressing nor ambiguous fails the send."""

        async def go():
            async with world(tmp_path) as w:
                await w.invite()
                channel = FakeChannel(name="email")
                channel.fail_next(SendError("message too large", code="552"))
                return await w.dispatcher(channel).run_once()

        (outcome,) = run(go).outcomes
        assert outcome.state is OutboxState.FAILED
        assert outcome.detail == "message too large (code 552)"

    @pytest.mark.parametrize(
        ("error", "detail"),
        [
            (SendError("timed out after DATA", ambiguous=True), "timed out after DATA"),
            (ConnectionResetError("reset by peer"), "ConnectionResetError: reset by peer"),
        ],
    )
    def test_ambiguous_becomes_unknown_and_is_not_resent(self, tmp_path, error, detail):
        """An ambiguous failure, or any unexpected exception, leaves the send unknown: never re-sent."""

        async def go():
            async with world(tmp_path) as w:
                (item_id,) = await w.invite()
                channel = FakeChannel(name="email")
                channel.fail_next(error)
                dispatcher = w.dispatcher(channel)
                first = await dispatcher.run_once()
                w.clock.advance(days=1)
                later = await dispatcher.run_once()
                return first, later, await w.item(item_id), channel

        first, later, item, channel = run(go)
        (outcome,) = first.outcomes
        assert outcome.state is OutboxState.UNKNOWN
        assert outcome.detail is not None
        assert outcome.detail.startswith(detail)
        assert item.state is OutboxState.UNKNOWN
        assert len(later) == 0
        assert channel.deliveries == []

    def test_timeout_becomes_unknown(self, tmp_path):
        """A send that outlasts send_timeout is unknown: the provider may have it."""

        class Slow(FakeChannel):
            async def send(self, message: OutboundMessage) -> SendResult:
                await asyncio.sleep(5)
                return await super().send(message)

        async def go():
            async with world(tmp_path) as w:
                await w.invite()
                return await w.dispatcher(Slow(name="email"), send_timeout=0.05).run_once()

        (outcome,) = run(go).outcomes
        assert outcome.state is OutboxState.UNKNOWN
        assert (
            outcome.detail == "no answer from the provider within 0.05 s; it may have accepted it"
        )

    def test_closed_channel_retries(self, tmp_path):
        """A closed channel refuses before the provider: the send is retried, not unknown."""

        async def go():
            async with world(tmp_path) as w:
                await w.invite()
                channel = FakeChannel(name="email")
                channel.fail_next(ChannelClosedError("channel 'email' is closed"))
                return await w.dispatcher(channel).run_once()

        (outcome,) = run(go).outcomes
        assert outcome.state is OutboxState.PENDING
        assert outcome.detail == "channel 'email' is closed"

    def test_withdrawn_consent_suppresses_without_calling_the_channel(self, tmp_path):
        """Consent withdrawn after the decision is honoured at send time."""

        async def go():
            async with world(tmp_path) as w:
                await w.invite()
                withdrawn = Consent(
                    "email", Purpose.SURVEY, granted=False, source="email_link", recorded_at=T0
                )
                await w.store.record_consent("C-0", withdrawn)
                channel = FakeChannel(name="email")
                channel.fail_next(SendError("must not be reached"))
                report = await w.dispatcher(channel).run_once()
                return report, channel

        report, channel = run(go)
        (outcome,) = report.outcomes
        assert outcome.state is OutboxState.SUPPRESSED
        assert outcome.detail == (
            "consent to surveys on 'email' was withdrawn (email_link, 2026-11-20T09:00:00+00:00)"
        )
        assert channel._failures  # the channel was never called

    def test_expired_invitation_fails(self, tmp_path):
        """An invitation past its expiry is not sent; it is marked expired."""

        async def go():
            async with world(tmp_path) as w:
                (item_id,) = await w.invite()
                w.clock.advance(days=8)
                channel = FakeChannel(name="email")
                report = await w.dispatcher(channel).run_once()
                item = await w.item(item_id)
                return report, channel, await w.store.dispositions(item.invitation_id)

        report, channel, dispositions = run(go)
        (outcome,) = report.outcomes
        assert outcome.state is OutboxState.FAILED
        assert outcome.detail == (
            "the invitation expired at 2026-11-27T09:00:00+00:00 before it was sent"
        )
        assert [d for d, _ in dispositions] == [Disposition.EXPIRED]
        assert channel.deliveries == []

    def test_a_channel_not_held_is_left_for_another_dispatcher(self, tmp_path):
        """A dispatcher claims only sends on channels it holds; the others stay pending, untouched."""

        async def go():
            async with world(tmp_path) as w:
                await w.invite()
                dispatcher = Dispatcher(
                    w.store, {"sms": FakeChannel(name="sms")}, clock=w.clock, worker_id="w1"
                )
                report = await dispatcher.run_once()
                return report, await w.store.outbox()

        report, outbox = run(go)
        assert report.outcomes == ()
        assert [(i.channel, i.state, i.attempts) for i in outbox] == [
            ("email", OutboxState.PENDING, 0)
        ]


class LookupChannel(FakeChannel):
    """A fake provider that can say what it accepted, and may accept and then time out."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.lost_reply: set[str] = set()
        self.lost_request: set[str] = set()

    async def send(self, message: OutboundMessage) -> SendResult:
        if message.invitation_id in self.lost_request:
            self.lost_request.discard(message.invitation_id)
            raise SendError("timed out connecting", ambiguous=True)
        result = await super().send(message)
        if message.invitation_id in self.lost_reply:
            self.lost_reply.discard(message.invitation_id)
            raise SendError("timed out reading the reply", ambiguous=True)
        return result

    async def lookup(self, message: OutboundMessage) -> SendResult | None:
        for d in self.deliveries:
            if d.message.invitation_id == message.invitation_id:
                return d.result
        return None


class TestReconcile:
    def test_lookup_settles_unknown_sends(self, tmp_path):
        """With a channel lookup, a send the provider has becomes sent, one it lacks is re-queued and sent once."""

        async def go():
            async with world(tmp_path) as w:
                a, b = await w.invite(2)
                channel = LookupChannel(name="email")
                assert isinstance(channel, DeliveryLookup)
                channel.lost_reply.add((await w.item(a)).invitation_id)  # accepted, reply lost
                channel.lost_request.add((await w.item(b)).invitation_id)  # never accepted
                dispatcher = w.dispatcher(channel)
                first = await dispatcher.run_once()
                reconciled = await dispatcher.reconcile()
                again = await dispatcher.run_once()
                return first, reconciled, again, channel, await w.item(a), await w.item(b)

        first, reconciled, again, channel, a, b = run(go)
        assert sorted(o.state.value for o in first.outcomes) == ["unknown", "unknown"]
        assert [o.item_id for o in reconciled.sent] == [a.id]
        assert [o.item_id for o in reconciled.requeued] == [b.id]
        assert reconciled.unresolved == ()
        assert [o.item_id for o in again.outcomes] == [b.id]
        assert a.state is b.state is OutboxState.SENT
        assert a.provider_id == "email-1"
        sent_to = sorted(d.message.invitation_id for d in channel.deliveries)
        assert sent_to == sorted([a.invitation_id, b.invitation_id])  # each exactly once

    def test_operator_decides_without_a_lookup(self, tmp_path):
        """Without a lookup, unknown sends wait for an operator: mark sent, re-queue or fail."""

        async def go():
            async with world(tmp_path) as w:
                a, b, c = await w.invite(3)
                channel = FakeChannel(name="email")
                channel.fail_next(*(SendError("lost", ambiguous=True) for _ in range(3)))
                dispatcher = w.dispatcher(channel)
                await dispatcher.run_once()
                reconciled = await dispatcher.reconcile()
                await dispatcher.mark_sent(a, provider_id="smtp-77")
                await dispatcher.requeue(b)
                await dispatcher.mark_failed(c, reason="checked the provider's log: never sent")
                with pytest.raises(DispatchError) as not_unknown:
                    await dispatcher.mark_sent(a)
                with pytest.raises(DispatchError) as missing:
                    await dispatcher.requeue("nope")
                after = await dispatcher.run_once()
                items = [await w.item(i) for i in (a, b, c)]
                return reconciled, after, items, not_unknown.value, missing.value

        reconciled, after, items, not_unknown, missing = run(go)
        assert len(reconciled.unresolved) == 3
        assert reconciled.unresolved[0].detail == (
            "channel 'email' cannot look up sends: an operator must decide"
        )
        assert [i.state for i in items] == [OutboxState.SENT, OutboxState.SENT, OutboxState.FAILED]
        assert items[0].provider_id == "smtp-77"
        assert [o.item_id for o in after.outcomes] == [items[1].id]
        assert str(not_unknown) == f"item_id: {items[0].id!r} is sent (expected unknown)"
        assert str(missing) == "item_id: no outbox item 'nope' is stored"

    def test_run_sends_and_settles_unknown_sends_until_stopped(self, tmp_path):
        """The long-running loop sends, then on a later pass reconciles what became unknown."""

        async def go():
            async with world(tmp_path) as w:
                a, b = await w.invite(2)
                channel = LookupChannel(name="email")
                channel.lost_reply.add((await w.item(a)).invitation_id)
                dispatcher = w.dispatcher(channel)
                stop = asyncio.Event()
                loop = asyncio.create_task(dispatcher.run(stop, interval=0.01))
                for _ in range(500):
                    states = {(await w.item(i)).state for i in (a, b)}
                    if states == {OutboxState.SENT}:
                        break
                    await asyncio.sleep(0.01)
                stop.set()
                await asyncio.wait_for(loop, 5)
                return [await w.item(i) for i in (a, b)], channel

        items, channel = run(go)
        assert [i.state for i in items] == [OutboxState.SENT, OutboxState.SENT]
        sent_to = sorted(d.message.invitation_id for d in channel.deliveries)
        assert sent_to == sorted(i.invitation_id for i in items)  # each exactly once

    def test_recover_turns_expired_claims_unknown(self, tmp_path):
        """A claim whose dispatcher died is recovered as unknown once its lease runs out, not before."""

        async def go():
            async with world(tmp_path) as w:
                (item_id,) = await w.invite()
                await w.store.claim("dead", now=w.clock.now(), limit=10, lease=timedelta(minutes=5))
                dispatcher = w.dispatcher(FakeChannel(name="email"))
                early = await dispatcher.recover()
                w.clock.advance(minutes=6)
                late = await dispatcher.recover()
                return early, late, await w.item(item_id)

        early, late, item = run(go)
        assert early == []
        assert [i.id for i in late] == [item.id]
        assert item.state is OutboxState.UNKNOWN


class CountingStore:
    """A store that counts the calls made to it, and passes them on."""

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store
        self.calls: Counter[str] = Counter()
        self.finished: list[int] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.store, name)

        async def call(*args: Any, **kw: Any) -> Any:
            self.calls[name] += 1
            if name == "finish_many":
                self.finished.append(len(args[0]))
            return await method(*args, **kw)

        return call


class TestBatches:
    def test_a_pass_claims_once_and_records_ends_in_few_writes(self, tmp_path):
        """A pass reads nothing per send: one claim brings every fact, and ends are written many at once."""

        async def go():
            async with world(tmp_path) as w:
                ids = await w.invite(30)
                store = CountingStore(w.store)
                dispatcher = Dispatcher(
                    cast("Store", store),
                    {"email": FakeChannel(name="email")},
                    clock=w.clock,
                    worker_id="w1",
                    limits={"email": ChannelLimits(concurrency=4)},
                )
                report = await dispatcher.run_once()
                dispositions = [await w.store.dispositions(i) for i in ids]
                return report, store, dispositions

        report, store, dispositions = run(go)
        assert report.count(OutboxState.SENT) == 30
        # No per-send reads or writes: one claim, the survey once, and the ends.
        assert set(store.calls) == {"claim_sends", "survey", "finish_many"}
        assert store.calls["claim_sends"] == store.calls["survey"] == 1
        assert sum(store.finished) == 30
        assert store.calls["finish_many"] <= 4  # the first end, then the rest together
        assert all([d for d, _ in ds] == [Disposition.SENT] for ds in dispositions)

    def test_an_end_is_recorded_without_waiting_for_the_rest_of_the_pass(self, tmp_path):
        """While one send hangs, the sends that ended are already durable: a crash would not lose them."""

        class Hanging(FakeChannel):
            def __init__(self) -> None:
                super().__init__(name="email")
                self.release = asyncio.Event()
                self.hung: str | None = None

            async def send(self, message: OutboundMessage) -> SendResult:
                if self.hung is None:
                    self.hung = message.invitation_id
                    await self.release.wait()
                return await super().send(message)

        async def go():
            async with world(tmp_path) as w:
                await w.invite(5)
                channel = Hanging()
                dispatcher = w.dispatcher(channel, limits={"email": ChannelLimits(concurrency=2)})
                running = asyncio.create_task(dispatcher.run_once())
                async with asyncio.timeout(10):
                    while True:  # the four others end while the first still hangs
                        states = Counter(i.state for i in await w.store.outbox())
                        if states[OutboxState.SENT] == 4:
                            break
                        await asyncio.sleep(0.01)
                assert not running.done()
                hanging = {i.id: i.state for i in await w.store.outbox()}[channel.hung or ""]
                channel.release.set()
                report = await running
                return hanging, report

        hanging, report = run(go)
        assert hanging is OutboxState.SENDING
        assert report.count(OutboxState.SENT) == 5

    def test_facts_are_read_again_after_a_long_wait_for_a_slot(self, tmp_path):
        """A send that waits for its rate limit longer than recheck_after is checked again before it goes."""

        async def go():
            async with world(tmp_path) as w:
                await w.invite(3)
                clock = w.clock
                withdrawn = Consent(
                    "*", Purpose.SURVEY, granted=False, source="email_link", recorded_at=T0
                )

                async def sleep(seconds: float) -> None:  # everybody withdraws meanwhile
                    for i in range(3):
                        await w.store.record_consent(f"C-{i}", withdrawn)
                    clock.advance(seconds=seconds)

                channel = CountingChannel(clock, name="email")
                dispatcher = w.dispatcher(
                    channel,
                    limits={"email": ChannelLimits(concurrency=1, rate=1.0, burst=1)},
                    recheck_after=timedelta(seconds=1.5),
                    sleep=sleep,
                )
                report = await dispatcher.run_once()
                return report, channel

        report, channel = run(go)
        # At 0 s and 1 s the facts read with the claim still stand; at 2 s they are read again.
        assert [(t - T0).total_seconds() for t in channel.times] == [0, 1]
        (suppressed,) = report.by_state(OutboxState.SUPPRESSED)
        assert suppressed.detail == (
            "consent to surveys on 'email' was withdrawn (email_link, 2026-11-20T09:00:00+00:00)"
        )
        with pytest.raises(ValueError, match="recheck_after: -1 day, 23:59:59 is less than zero"):
            Dispatcher(None, {}, recheck_after=timedelta(seconds=-1))  # type: ignore[arg-type]

    def test_an_address_refused_in_a_pass_is_not_tried_again_in_it(self, tmp_path):
        """After a provider refuses an address, the pass's other sends to it are suppressed, unsent."""

        async def go():
            async with world(tmp_path) as w:
                await w.invite_people(("A", "c0@example.com"), ("B", "c0@example.com"))
                channel = FakeChannel(name="email")
                channel.fail_next(SendError("550 no such user", suppress=True, code="550"))
                dispatcher = w.dispatcher(channel, limits={"email": ChannelLimits(concurrency=1)})
                return await dispatcher.run_once(), channel

        report, channel = run(go)
        assert sorted(o.detail or "" for o in report.by_state(OutboxState.SUPPRESSED)) == [
            "550 no such user (code 550)",
            "the address is suppressed on 'email' (hard_bounce, refused earlier in a pass under way)",
        ]
        assert channel.deliveries == []
        assert channel._failures == []  # the channel was called once, for the first

    def test_a_send_stopped_by_its_recheck_gives_its_rate_slot_back(self, tmp_path):
        """A send stopped after taking its rate-limit token returns it: the next send need not wait."""

        class RefusesC0(CountingChannel):
            async def send(self, message: OutboundMessage) -> SendResult:
                if message.to == "c0@example.com":
                    self.times.append(self.clock.now())
                    raise SendError("550 no such user", suppress=True, code="550")
                return await super().send(message)

        async def go():
            async with world(tmp_path) as w:
                people = [(f"P{i}", "c0") for i in range(4)] + [("Q1", "c1"), ("Q2", "c2")]
                await w.invite_people(*((c, f"{email}@example.com") for c, email in people))

                async def sleep(seconds: float) -> None:
                    w.clock.advance(seconds=seconds)
                    await asyncio.sleep(0)

                channel = RefusesC0(w.clock, name="email")
                dispatcher = w.dispatcher(
                    channel,
                    limits={"email": ChannelLimits(concurrency=1, rate=1.0, burst=1)},
                    sleep=sleep,
                )
                return await dispatcher.run_once(), channel

        report, channel = run(go)
        states = [(o.state, o.detail or "") for o in report.outcomes]
        stopped = [
            i for i, (_, why) in enumerate(states) if "refused earlier in a pass under way" in why
        ]
        sent = [i for i, (state, _) in enumerate(states) if state is OutboxState.SENT]
        assert (len(stopped), len(sent)) == (3, 2)
        assert min(stopped) < max(sent)  # a stopped send came before a send that went
        # One refused send to c0 and two others, a second apart: the three sends
        # stopped by their recheck (c0 was refused earlier in the pass) gave their
        # tokens back rather than holding the others up.
        assert [(t - T0).total_seconds() for t in channel.times] == [0, 1, 2]

    def test_a_claim_lost_mid_pass_is_reported_and_the_other_ends_recorded(self, tmp_path):
        """An operator's decision during a send stands; the dispatcher reports it, and records the rest."""

        class Meddling(FakeChannel):
            def __init__(self, store: SQLiteStore, victim: str) -> None:
                super().__init__(name="email")
                self.store = store
                self.victim = victim

            async def send(self, message: OutboundMessage) -> SendResult:
                if message.invitation_id == self.victim:
                    await self.store.finish(self.victim, OutboxState.FAILED, at=T0, error="op")
                return await super().send(message)

        async def go():
            async with world(tmp_path) as w:
                ids = await w.invite(4)
                dispatcher = w.dispatcher(Meddling(w.store, ids[1]))
                with pytest.raises(ExceptionGroup) as info:
                    await dispatcher.run_once()
                states = {i.id: i.state for i in await w.store.outbox()}
                return ids, info.value, states, await w.store.dispositions(ids[1])

        ids, group, states, lost_dispositions = run(go)
        assert [type(e) for e in group.exceptions] == [ClaimLostError]
        assert str(group) == "1 of 4 outbox items could not be finished (1 sub-exception)"
        assert states == {i: OutboxState.FAILED if i == ids[1] else OutboxState.SENT for i in ids}
        assert lost_dispositions == []


class TestBackoff:
    def test_ceilings_double_up_to_the_cap(self):
        """The n-th retry's ceiling is base * 2**(n-1), capped."""
        policy = RetryPolicy(base=timedelta(seconds=10), cap=timedelta(minutes=1))
        assert [policy.ceiling(n).total_seconds() for n in range(1, 7)] == [10, 20, 40, 60, 60, 60]

    def test_full_jitter_is_bounded_and_spread(self):
        """Each delay lies in [0, ceiling], and the draws spread over the range."""
        policy = RetryPolicy(base=timedelta(seconds=30), cap=timedelta(hours=1))
        rng = random.Random(1)
        for retry in (1, 2, 5, 12, 100):
            ceiling = policy.ceiling(retry)
            draws = [policy.delay(retry, rng) for _ in range(500)]
            assert all(timedelta(0) <= d <= ceiling for d in draws)
            assert min(draws) < ceiling * 0.1
            assert max(draws) > ceiling * 0.9

    def test_bad_policy_names_fields(self):
        """A policy out of range names every field, value and what was expected."""
        with pytest.raises(ValidationError) as info:
            RetryPolicy(base=timedelta(0), max_attempts=0)
        assert str(info.value) == (
            "RetryPolicy is invalid (2 problems):\n"
            "  base: 0:00:00 is not more than zero\n"
            "  max_attempts: 0 is not 1 or more"
        )

    def test_bad_limits_name_fields(self):
        with pytest.raises(ValidationError) as info:
            ChannelLimits(concurrency=0, rate=-1.0)
        assert str(info.value) == (
            "ChannelLimits is invalid (2 problems):\n"
            "  concurrency: 0 is not 1 or more\n"
            "  rate: -1.0 is not more than 0 sends per second"
        )


class CountingChannel(FakeChannel):
    """Counts sends in flight, and records the clock's time of each send."""

    def __init__(self, clock: ManualClock, **kw: Any) -> None:
        super().__init__(**kw)
        self.clock = clock
        self.in_flight = 0
        self.most_in_flight = 0
        self.times: list[datetime] = []

    async def send(self, message: OutboundMessage) -> SendResult:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        self.times.append(self.clock.now())
        try:
            for _ in range(5):
                await asyncio.sleep(0)
            return await super().send(message)
        finally:
            self.in_flight -= 1


class TestCaps:
    def test_concurrency_cap(self, tmp_path):
        """No more sends are in flight on a channel than its cap, and the cap is used."""

        async def go():
            async with world(tmp_path) as w:
                await w.invite(20)
                channel = CountingChannel(w.clock, name="email")
                dispatcher = w.dispatcher(channel, limits={"email": ChannelLimits(concurrency=3)})
                report = await dispatcher.run_once()
                return report, channel

        report, channel = run(go)
        assert report.count(OutboxState.SENT) == 20
        assert channel.most_in_flight == 3

    def test_rate_limit(self, tmp_path):
        """Sends keep to the token bucket: a burst, then one every 1/rate seconds."""

        async def go():
            async with world(tmp_path) as w:
                await w.invite(12)
                clock = w.clock

                async def sleep(seconds: float) -> None:
                    clock.advance(seconds=seconds)
                    await asyncio.sleep(0)

                channel = CountingChannel(clock, name="email")
                dispatcher = w.dispatcher(
                    channel,
                    limits={"email": ChannelLimits(concurrency=12, rate=4.0, burst=2)},
                    sleep=sleep,
                )
                report = await dispatcher.run_once()
                return report, channel

        report, channel = run(go)
        assert report.count(OutboxState.SENT) == 12
        offsets = [(t - channel.times[0]).total_seconds() for t in channel.times]
        # Two at once (the burst), then one every 0.25 s.
        assert offsets == pytest.approx([0, 0] + [0.25 * k for k in range(1, 11)])

    def test_bucket_refills_after_quiet(self):
        """A bucket left alone refills up to its burst, no more."""

        async def go():
            clock, bucket, waits = manual_bucket(2.0, 3)
            for _ in range(3):
                await bucket.acquire()
            clock.advance(seconds=60)
            for _ in range(4):
                await bucket.acquire()
            return waits

        assert run(go) == [pytest.approx(0.5)]

    def test_a_token_given_back_is_there_for_the_next_send_but_never_above_burst(self):
        """give_back returns one token; a full bucket stays at its burst."""

        async def go():
            _, bucket, waits = manual_bucket(1.0, 2)
            bucket.give_back()  # full: stays at 2
            for _ in range(2):
                await bucket.acquire()
            bucket.give_back()
            await bucket.acquire()  # no wait: the token given back
            await bucket.acquire()  # waits a second
            return waits

        assert run(go) == [pytest.approx(1.0)]


class TestSchedule:
    def test_a_repeat_writes_nothing_twice(self, tmp_path):
        """Scheduling the same decision twice stores one invitation, one item, and records once."""

        async def go():
            async with world(tmp_path) as w:
                customer = Customer(id="C-1", email="c1@example.com", timezone="Asia/Kolkata")
                visit = Interaction(
                    id="I-1", touchpoint="visit", customer_id="C-1", occurred_at=w.clock.now()
                )
                decision = decide(RULES, visit, customer, w.state, w.clock)
                first = await w.outbox.schedule(decision, customer=customer, state=w.state)
                w.clock.advance(minutes=1)
                second = await w.outbox.schedule(decision, customer=customer, state=w.state)
                stored = await w.store.invitation(first.invitation.id)
                return first, second, stored, await w.store.outbox()

        first, second, stored, items = run(go)
        assert first.created
        assert not second.created
        assert second.invitation.created_at == first.invitation.created_at == T0
        assert stored.timezone == "Asia/Kolkata"
        assert [i.id for i in items] == [first.item.id] == [first.invitation.id]

    def test_an_invitation_to_a_phone_number_gets_a_short_code(self, tmp_path):
        """Texts get a short link's code, stored and found by it; emails do not need one."""
        texting = RuleSet(
            rules=[TriggerRule(id="visit_nps", touchpoint="visit", survey=SURVEY.id)],
            fatigue=FatiguePolicy(recontact_days=0),
        )

        async def go() -> tuple[Any, Any, Any]:
            async with world(tmp_path) as w:
                people = [
                    Customer(id="C-1", email="c1@example.com", timezone="UTC"),
                    Customer(id="C-2", phone="+447700900123", timezone="UTC"),
                ]
                made = []
                for customer in people:
                    visit = Interaction(
                        id=f"I-{customer.id}", touchpoint="visit", customer_id=customer.id,
                        occurred_at=w.clock.now(),
                    )  # fmt: skip
                    decision = decide(texting, visit, customer, w.state, w.clock)
                    made.append((await w.outbox.schedule(decision, customer=customer)).invitation)
                code = made[1].short_code
                found = None if code is None else await w.store.invitation_by_short_code(code)
                return made[0], made[1], found

        email, text, found = run(go)
        assert email.short_code is None
        assert text.short_code is not None
        assert len(text.short_code) == 12
        assert found is not None
        assert found.id == text.id

    def test_many_at_once_each_with_its_result(self, tmp_path):
        """schedule_many stores what it can in one write and gives every request its own result.

        A skip, a reminder of an unknown invitation and an invitation the model
        refuses each fail alone and write nothing; a request repeating an
        earlier one of the same call gets the same invitation, not created
        again; only what was created is recorded in the state.
        """

        async def go() -> tuple[list[Any], list[OutboxItem], FatigueState, int]:
            async with world(tmp_path) as w:

                def decided(n: int) -> tuple[Any, Customer, Interaction]:
                    customer = Customer(id=f"C-{n}", email=f"c{n}@example.com", timezone="UTC")
                    visit = Interaction(
                        id=f"I-{n}", touchpoint="visit", customer_id=customer.id,
                        occurred_at=w.clock.now(),
                    )  # fmt: skip
                    return decide(RULES, visit, customer, w.state, w.clock), customer, visit

                (one, c1, v1), (two, c2, v2), (three, c3, _) = (decided(n) for n in (1, 2, 3))
                stranger = Interaction(id="I-9", touchpoint="nowhere", occurred_at=w.clock.now())
                skip = decide(RULES, stranger, None, w.state, w.clock)
                unknown = attrs.evolve(one, invitation_id="f" * 32, reminder=1)
                state = FatigueState()
                results = await w.outbox.schedule_many(
                    [
                        ScheduleRequest(one, customer=c1, interaction=v1),
                        ScheduleRequest(skip),
                        ScheduleRequest(two, customer=c2, interaction=v2),
                        ScheduleRequest(one, customer=c1, interaction=v1),
                        ScheduleRequest(unknown, customer=c1),
                        ScheduleRequest(three, customer=c3, context={"not an id": 1}),
                    ],
                    state=state,
                )
                audit = [a for a in await w.store.audit("invitation") if a.action == "created"]
                return results, await w.store.outbox(), state, len(audit)

        results, items, state, created = run(go)
        first, skipped, second, repeat, reminder, refused = results
        assert isinstance(first, Scheduled)
        assert first.created
        assert isinstance(second, Scheduled)
        assert second.created
        assert isinstance(repeat, Scheduled)
        assert not repeat.created
        assert repeat.invitation == first.invitation
        assert isinstance(skipped, ScheduleError)
        assert isinstance(reminder, ScheduleError)
        assert "reminder 1 of invitation 'ffff" in str(reminder)
        assert isinstance(refused, ValidationError)
        assert "context" in str(refused)
        assert sorted(i.id for i in items) == sorted([first.item.id, second.item.id])
        assert created == 2
        assert state.last_invited("C-1") is not None
        assert state.last_invited("C-2") is not None
        assert state.last_invited("C-3") is None

    def test_completes_after_a_crash_between_the_writes(self, tmp_path):
        """An invitation stored without its outbox item (a crash in between) gets it on a repeat."""

        async def go():
            async with world(tmp_path) as w:
                customer = Customer(id="C-1", email="c1@example.com", timezone="UTC")
                visit = Interaction(
                    id="I-1", touchpoint="visit", customer_id="C-1", occurred_at=w.clock.now()
                )
                decision = decide(RULES, visit, customer, w.state, w.clock)
                # What a crashed process left: the invitation with other tokens, no item.
                other = Outbox(w.store, TokenService(["z" * 32], clock=w.clock), clock=w.clock)
                crashed = other._invitation(
                    decision,
                    customer=customer,
                    interaction=None,
                    name=None,
                    context=None,
                    survey_version=1,
                )
                await w.store.add_invitation(crashed)
                before = await w.store.outbox()
                scheduled = await w.outbox.schedule(decision, customer=customer)
                return crashed, before, scheduled, await w.store.outbox()

        crashed, before, scheduled, after = run(go)
        assert before == []
        assert scheduled.invitation.token == crashed.token  # the stored one stands
        assert [i.invitation_id for i in after] == [crashed.id]

    def test_a_skip_cannot_be_scheduled(self, tmp_path):
        async def go():
            async with world(tmp_path) as w:
                stranger = Interaction(id="I-9", touchpoint="nowhere", occurred_at=w.clock.now())
                decision = decide(RULES, stranger, None, w.state, w.clock)
                with pytest.raises(ScheduleError) as info:
                    await w.outbox.schedule(decision)
                return info.value

        assert str(run(go)).startswith(
            "decision: Decision(skip, reason=no_rule, rule=None, eligible_at=None) is not an invitation"
        )

    def test_a_reminder_counts_in_its_store_day_across_processes(self, tmp_path):
        """A reminder is queued under its store's daily limit, which the store counts for every process.

        Another process made the store's day full: the reminder is refused
        (nothing queued), skip_refused makes it the store_limit skip, and
        decided again it is booked on the store's next day, where it counts:
        the other process, which knows nothing of it, is refused its second
        invitation there.
        """
        rules = RuleSet(
            rules=[attrs.evolve(RULES.rules[0], reminders_after_hours=(24,))],
            fatigue=FatiguePolicy(recontact_days=0, store_daily_limit=2),
        )

        async def go() -> None:
            async with world(tmp_path) as w:
                other = FatigueState()  # another process's state

                async def invite(n: int, state: FatigueState) -> Scheduled | Exception:
                    customer = Customer(id=f"C-{n}", email=f"c{n}@example.com", timezone="UTC")
                    visit = Interaction(
                        id=f"I-{n}", touchpoint="visit", customer_id=customer.id,
                        occurred_at=w.clock.now(), store="BLR-01",
                    )  # fmt: skip
                    decision = decide(rules, visit, customer, state, w.clock)
                    [result] = await w.outbox.schedule_many(
                        [ScheduleRequest(decision, customer=customer, interaction=visit)],
                        state=state,
                    )
                    return result

                first = await invite(1, w.state)
                assert isinstance(first, Scheduled)
                w.clock.advance(hours=25)  # 2026-11-21 10:00
                assert isinstance(await invite(2, other), Scheduled)
                assert isinstance(await invite(3, other), Scheduled)  # the store's day is full
                asha = Customer(id="C-1", email="c1@example.com", timezone="UTC")
                reminder = decide_reminder(rules, first.invitation.id, asha, w.state, w.clock)
                assert reminder.invite
                with pytest.raises(StoreLimitError) as refused:
                    await w.outbox.schedule(reminder, customer=asha, state=w.state)
                assert refused.value.day == w.clock.now().date().toordinal()
                assert outbox_item_id(first.invitation.id, 1) not in {
                    i.id for i in await w.store.outbox()
                }
                skip = skip_refused(rules, reminder, refused.value, w.state)
                midnight = datetime(2026, 11, 22, tzinfo=UTC)
                assert (skip.reason, skip.eligible_at) == (Reason.STORE_LIMIT, midnight)
                again = decide_reminder(rules, first.invitation.id, asha, w.state, w.clock)
                assert (again.reminder, again.due_at) == (1, midnight)
                queued = await w.outbox.schedule(again, customer=asha, state=w.state)
                assert (queued.item.id, queued.item.due_at) == (
                    outbox_item_id(first.invitation.id, 1),
                    midnight,
                )
                w.clock.advance(hours=14)  # 2026-11-22 00:00
                assert isinstance(await invite(4, other), Scheduled)
                late = await invite(5, other)
                assert isinstance(late, StoreLimitError)  # the reminder and C-4's invitation
                assert late.day == midnight.date().toordinal()

        run(go)

    def test_two_processes_take_a_stratum_minimum_together(self, tmp_path):
        """Two processes (an Outbox and a FatigueState each, on one SQLite file) take min_per_day in all.

        With a rate of 0, every invitation is taken only to fill its store's
        minimum of 3. Each process counts its own, so each would take 3; the
        store counts both and refuses the fourth, and skip_refused makes that
        refusal the not_sampled skip the rules give once the minimum is met,
        which each process's state then knows. Another store has its own minimum.
        """
        sampling = Sampling(rate=0.0, by="store", min_per_day=3)
        rules = RuleSet(
            rules=[attrs.evolve(RULES.rules[0], sampling=sampling)],
            fatigue=FatiguePolicy(recontact_days=0),
        )

        async def go() -> tuple[list[str], list[str], int]:
            async with (
                world(tmp_path) as w,
                SQLiteStore(tmp_path / "cx.db", clock=w.clock) as store,
            ):
                other = Outbox(store, TokenService([KEY], clock=w.clock), clock=w.clock)
                processes = [(w.outbox, w.state), (other, FatigueState())]
                outcomes: list[str] = []
                refusals: list[str] = []
                for n in range(12):
                    outbox, state = processes[n % 2]
                    customer = Customer(id=f"C-{n}", email=f"c{n}@example.com", timezone="UTC")
                    visit = Interaction(
                        id=f"I-{n}", touchpoint="visit", customer_id=customer.id,
                        occurred_at=w.clock.now(), store="BLR-01" if n < 10 else "DEL-02",
                    )  # fmt: skip
                    decision = decide(rules, visit, customer, state, w.clock)
                    if not decision.invite:
                        outcomes.append(str(decision.reason))
                        continue
                    assert decision.guard is not None
                    assert decision.guard.windows() == ("not_sampled",)
                    [result] = await outbox.schedule_many(
                        [ScheduleRequest(decision, customer=customer, interaction=visit)],
                        state=state,
                    )
                    if isinstance(result, StratumFullError):
                        refusals.append(f"{n}: {result.stratum} {result.minimum}")
                        outcomes.append(str(skip_refused(rules, decision, result, state).reason))
                    else:
                        assert isinstance(result, Scheduled)
                        outcomes.append("invite")
                return outcomes, refusals, len(await w.store.outbox())

        outcomes, refusals, queued = run(go)
        assert outcomes == [
            *["invite"] * 3,  # C-0 (first process), C-1 (second), C-2 (first)
            "not_sampled",  # C-3: the second process has 1 of 3, the store has 3
            "not_sampled",  # C-4: the first process has 2 of 3
            *["not_sampled"] * 5,  # both processes know the minimum is met
            "invite",  # DEL-02's own minimum
            "invite",
        ]
        assert refusals == ["3: BLR-01 3", "4: BLR-01 3"]
        assert queued == 5  # the refused ones queued nothing

    @pytest.mark.parametrize(
        ("guard", "named"),
        [
            (InviteGuard(person_after=T0), "recontact_window"),
            (
                InviteGuard(stratum_rule="visit_nps", stratum="BLR-01", stratum_day=1),
                "the count of stratum 'BLR-01' of 'visit_nps'",
            ),
        ],
        ids=["a recontact window", "a sampling stratum"],
    )
    def test_a_reminder_guarded_by_more_than_its_store_limit_is_not_scheduled(
        self, tmp_path, guard, named
    ):
        """A reminder asks the same invitation again: a window, or a stratum to count in, is a mistake, said so."""

        async def go() -> list[Scheduled | Exception]:
            async with world(tmp_path) as w:
                [first] = await w.invite(1)
                customer = Customer(id="C-0", email="c0@example.com", timezone="UTC")
                visit = Interaction(id="I-x", touchpoint="visit", customer_id="C-0", occurred_at=T0)
                reminder = attrs.evolve(
                    decide(RULES, visit, customer, FatigueState(), w.clock),
                    invitation_id=first, reminder=1, guard=guard,
                )  # fmt: skip
                results = await w.outbox.schedule_many([ScheduleRequest(reminder)])
                assert [i.id for i in await w.store.outbox()] == [first]
                return list(results)

        [result] = run(go)
        assert isinstance(result, ScheduleError)
        assert str(result).endswith(
            f"has a guard of {named} (expected decide_reminder's: its store's daily limit "
            "alone, since a reminder asks the same invitation again)"
        )

    def test_reminder_items_are_numbered(self):
        """A reminder's outbox item is derived from its invitation and its number."""
        item = OutboxItem(
            id=outbox_item_id("abc", 2),
            invitation_id="abc",
            channel="email",
            state=OutboxState.PENDING,
            due_at=T0,
        )
        assert item.id == "abc.r2"
        assert reminder_of(item) == 2
        assert reminder_of(attrs.evolve(item, id="abc")) == 0


class HeldChannel(FakeChannel):
    """Holds every send until released; counts the sends in flight."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.release = asyncio.Event()
        self.in_flight = 0
        self.most_in_flight = 0

    async def send(self, message: OutboundMessage) -> SendResult:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.release.wait()
            return await super().send(message)
        finally:
            self.in_flight -= 1


class TestRun:
    async def held(
        self, w: World, *, due: int, passes: int, **kw: Any
    ) -> tuple[HeldChannel, asyncio.Task[None], asyncio.Event]:
        """Start run() on *due* sends through a held channel; wait until its sends stop growing."""
        await w.invite(due)
        channel = HeldChannel(name="email")
        dispatcher = w.dispatcher(channel, batch=2, **kw)
        stop = asyncio.Event()
        loop = asyncio.create_task(dispatcher.run(stop, interval=0.01, passes=passes))
        seen = -1
        for _ in range(50):  # until the sends in flight stop growing
            await asyncio.sleep(0.02)
            if channel.in_flight == seen:
                break
            seen = channel.in_flight
        return channel, loop, stop

    @pytest.mark.parametrize(("passes", "in_flight"), [(1, 2), (2, 4), (3, 6)])
    def test_a_full_pass_is_followed_at_once_by_the_next(self, tmp_path, passes, in_flight):
        """With full batches of 2, up to *passes* passes send at once: their sends overlap."""

        async def go() -> tuple[int, int, list[OutboxState]]:
            async with world(tmp_path) as w:
                channel, loop, stop = await self.held(
                    w, due=8, passes=passes, limits={"email": ChannelLimits(concurrency=10)}
                )
                held = channel.in_flight
                stop.set()
                channel.release.set()
                await asyncio.wait_for(loop, 5)
                states = [i.state for i in await w.store.outbox()]
                return held, channel.most_in_flight, states

        held, most, states = run(go)
        assert held == most == in_flight
        # Stopped: the passes under way ended, and nothing else was claimed.
        assert Counter(states) == {OutboxState.SENT: in_flight, OutboxState.PENDING: 8 - in_flight}

    def test_the_channel_cap_holds_across_passes(self, tmp_path):
        """Three passes of 2 claimed at once still send at most the channel's 3 at a time."""

        async def go() -> tuple[int, int, list[OutboxState]]:
            async with world(tmp_path) as w:
                channel, loop, stop = await self.held(
                    w, due=6, passes=3, limits={"email": ChannelLimits(concurrency=3)}
                )
                held = channel.in_flight
                channel.release.set()
                for _ in range(100):
                    if {i.state for i in await w.store.outbox()} == {OutboxState.SENT}:
                        break
                    await asyncio.sleep(0.01)
                stop.set()
                await asyncio.wait_for(loop, 5)
                return held, channel.most_in_flight, [i.state for i in await w.store.outbox()]

        held, most, states = run(go)
        assert held == most == 3
        assert states == [OutboxState.SENT] * 6

    def test_stop_lets_the_passes_under_way_end(self, tmp_path):
        """run() returns only once the sends it started have ended and been recorded."""

        async def go() -> tuple[bool, list[OutboxState]]:
            async with world(tmp_path) as w:
                channel, loop, stop = await self.held(w, due=4, passes=2)
                stop.set()
                await asyncio.sleep(0.05)
                returned_while_held = loop.done()
                channel.release.set()
                await asyncio.wait_for(loop, 5)
                return returned_while_held, [i.state for i in await w.store.outbox()]

        returned_while_held, states = run(go)
        assert not returned_while_held
        assert states == [OutboxState.SENT] * 4

    def test_cancelling_run_cancels_its_passes(self, tmp_path):
        """Cancelled, run() cancels the sends under way: they stay claimed, for recovery."""

        async def go() -> list[OutboxState]:
            async with world(tmp_path) as w:
                _channel, loop, _stop = await self.held(w, due=4, passes=2)
                loop.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await asyncio.wait_for(loop, 5)
                return [i.state for i in await w.store.outbox()]

        assert run(go) == [OutboxState.SENDING] * 4

    def test_passes_must_be_one_or_more(self, tmp_path):
        async def go() -> None:
            async with world(tmp_path) as w:
                await w.dispatcher(FakeChannel(name="email")).run(asyncio.Event(), passes=0)

        with pytest.raises(ValueError, match="passes: 0 is not 1 or more"):
            run(go)

    def test_an_address_refused_in_one_pass_is_not_tried_in_the_next_under_way(self, tmp_path):
        """Two passes under way share refusals: the second claimed before the store knew."""

        async def go() -> tuple[list[str], list[Any]]:
            async with world(tmp_path) as w:
                # Two sends to one address, one per pass.
                await w.invite_people(("A", "c0@example.com"), ("B", "c0@example.com"))
                channel = HeldChannel(name="email")
                channel.fail_next(SendError("550 no such user", suppress=True, code="550"))
                dispatcher = w.dispatcher(
                    channel, batch=1, limits={"email": ChannelLimits(concurrency=1)}
                )
                stop = asyncio.Event()
                loop = asyncio.create_task(dispatcher.run(stop, interval=0.01, passes=2))
                for _ in range(200):  # both claimed, the first send held: then refuse it
                    if {i.state for i in await w.store.outbox()} == {OutboxState.SENDING}:
                        break
                    await asyncio.sleep(0.01)
                channel.release.set()
                for _ in range(200):
                    items = await w.store.outbox()
                    if all(i.state is OutboxState.SUPPRESSED for i in items):
                        break
                    await asyncio.sleep(0.01)
                stop.set()
                await asyncio.wait_for(loop, 5)
                return sorted(i.last_error or "" for i in items), channel.deliveries

        errors, deliveries = run(go)
        assert errors == [
            "550 no such user (code 550)",
            "the address is suppressed on 'email' (hard_bounce, refused earlier in a pass under way)",
        ]
        assert deliveries == []

    def test_the_next_pass_waits_until_half_the_first_has_taken_slots(self, tmp_path):
        """A full pass of 8 with one slot: the next claims only once 4 or fewer of its sends wait."""

        async def go() -> list[int]:
            async with world(tmp_path) as w:
                await w.invite(20)
                channel = HeldChannel(name="email")
                dispatcher = w.dispatcher(
                    channel, batch=8, limits={"email": ChannelLimits(concurrency=1)}
                )
                stop = asyncio.Event()
                loop = asyncio.create_task(dispatcher.run(stop, interval=0.01))
                claimed = []
                for _ in range(5):  # each round: note what is claimed, then let one send through
                    await asyncio.sleep(0.05)
                    items = await w.store.outbox()
                    claimed.append(sum(i.state is not OutboxState.PENDING for i in items))
                    went = len(channel.deliveries)
                    channel.release.set()
                    for _ in range(100):  # until that one send has gone, and no other
                        if len(channel.deliveries) > went:
                            break
                        await asyncio.sleep(0)
                    channel.release.clear()
                stop.set()
                channel.release.set()
                await asyncio.wait_for(loop, 5)
                return claimed

        # 8 claimed; one send goes at a time. Once 3 have gone and one is in flight,
        # 4 wait: the next pass claims its 8.
        assert run(go) == [8, 8, 8, 16, 16]
