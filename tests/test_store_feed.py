"""The store contract for the way back in: the feed, its positions, lookups, statuses, opt-outs, API keys."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cxcore import (
    Disposition,
    Invitation,
    ManualClock,
    NpsQuestion,
    Purpose,
    RepeatPolicy,
    Response,
    Submission,
    Survey,
    TextQuestion,
)
from cxcore.api_keys import issue_api_key
from cxcore.ports.feed import FeedKind
from cxcore.ports.store import (
    ConflictError,
    OptOut,
    OutboxItem,
    OutboxState,
    StatusUpdate,
    StoreError,
    SubmitOutcome,
)

T0 = datetime(2026, 12, 7, 4, 30, tzinfo=UTC)
EMAIL = "meera.iyer@example.in"
PHONE = "+919876543210"

SURVEY = Survey(
    id="after_billing",
    title={"en": "Billing"},
    on_repeat=RepeatPolicy.LAST_WINS,
    questions=[
        NpsQuestion(id="ltr", text={"en": "Recommend?"}, required=True),
        TextQuestion(id="why", text={"en": "Why?"}),
    ],
)


def submission(
    key: str, answers: dict[str, Any], *, complete: bool = False, **kw: Any
) -> Submission:
    fields: dict[str, Any] = {
        "idempotency_key": key,
        "survey_id": "after_billing",
        "survey_version": 1,
        "answers": answers,
        "complete": complete,
        "channel": "email",
        "respondent": "customer",
        "customer_id": "C-77",
        "invitation_id": "inv-1",
        "received_at": T0,
        "context": {"store": "BLR-01", "order": "ORD-5512", "touchpoint": "billing_counter"},
    }
    fields.update(kw)
    return Submission(**fields)


def invitation(inv_id: str = "inv-1", **kw: Any) -> Invitation:
    fields: dict[str, Any] = {
        "id": inv_id,
        "survey_id": "after_billing",
        "survey_version": 1,
        "channel": "sms",
        "address": PHONE,
        "customer_id": "C-77",
        "token": f"tok-{inv_id}",
        "created_at": T0,
        "expires_at": T0 + timedelta(days=7),
    }
    fields.update(kw)
    return Invitation(**fields)


Scenario = Callable[[Any, ManualClock], Awaitable[None]]


@pytest.fixture
def store_run(any_store: Callable[..., Any]) -> Callable[[Scenario], None]:
    def run(scenario: Scenario) -> None:
        async def main() -> None:
            clock = ManualClock(T0)
            async with any_store(clock=clock) as store:
                await store.put_survey(SURVEY)
                await scenario(store, clock)

        asyncio.run(main())

    return run


class TestFeed:
    def test_answers_are_appended_with_scores_and_no_personal_data(self, store_run):
        """A created, then updated, response gives two answer events; a repeat gives none."""

        async def scenario(store: Any, _clock: ManualClock) -> None:
            await store.submit(submission("k1", {"ltr": 4}))
            await store.submit(submission("k1", {"ltr": 4}))  # a repeat
            await store.submit(
                submission("k2", {"ltr": 9, "why": "Asha at counter 3"}, complete=True)
            )
            events = await store.feed()
            assert [e.kind for e in events] == [FeedKind.ANSWER, FeedKind.ANSWER]
            assert [e.seq for e in events] == sorted({e.seq for e in events})
            first, second = events
            assert first.survey_id == "after_billing"
            assert first.subject == second.subject
            assert first.detail["outcome"] == "created"
            assert first.detail["scores"] == {"ltr": 4}
            assert second.detail["outcome"] == "updated"
            assert second.detail["scores"] == {"ltr": 9}
            assert second.detail["replaced"] == {"ltr": 4}
            assert second.detail["status"] == "complete"
            assert second.detail["dimensions"] == {
                "store": "BLR-01",
                "touchpoint": "billing_counter",
            }
            text = repr(events)
            for personal in ("C-77", "ORD-5512", "Asha"):
                assert personal not in text
            assert await store.feed_head() == second.seq

        store_run(scenario)

    def test_a_refused_write_appends_nothing(self, store_run):
        """Answers that do not fit write no feed event."""

        async def scenario(store: Any, _clock: ManualClock) -> None:
            with pytest.raises(ValueError, match="ltr"):
                await store.submit(submission("k1", {"ltr": 11}))
            assert await store.feed() == []
            assert await store.feed_head() == 0

        store_run(scenario)

    def test_an_appended_batch_is_one_import_event_per_survey(self, store_run):
        """Imports say how many responses came, and which."""

        async def scenario(store: Any, _clock: ManualClock) -> None:
            batch = [
                Response(
                    id=f"R-{i}",
                    survey_id="after_billing",
                    survey_version=1,
                    answers={"ltr": i},
                    status="complete",
                    respondent="anonymous",
                    channel="kiosk",
                    idempotency_key=f"imp-{i}",
                    started_at=T0,
                    updated_at=T0,
                    completed_at=T0,
                )
                for i in range(3)
            ]
            await store.append(batch)
            (event,) = await store.feed()
            assert event.kind is FeedKind.IMPORT
            assert event.survey_id == "after_billing"
            assert event.detail["count"] == 3
            assert event.detail["responses"] == ["R-0", "R-1", "R-2"]

        store_run(scenario)

    def test_the_feed_is_read_in_pages_after_a_position(self, store_run):
        """feed(after, limit) gives the next events in order, and nothing past the head."""

        async def scenario(store: Any, _clock: ManualClock) -> None:
            for i in range(7):
                await store.submit(submission(f"k{i}", {"ltr": i % 11}, invitation_id=f"inv-{i}"))
            everything = await store.feed()
            pages = []
            after = 0
            while page := await store.feed(after=after, limit=3):
                pages.append([e.seq for e in page])
                after = page[-1].seq
            assert [len(p) for p in pages] == [3, 3, 1]
            assert [seq for page in pages for seq in page] == [e.seq for e in everything]
            assert await store.feed(after=everything[-1].seq) == []

        store_run(scenario)

    def test_positions_are_durable_and_only_move_forward(self, store_run):
        """A consumer's position is saved; saving an older one is refused."""

        async def scenario(store: Any, _clock: ManualClock) -> None:
            assert await store.feed_position("closed-loop") == 0
            await store.save_feed_position("closed-loop", 5)
            await store.save_feed_position("closed-loop", 5)
            await store.save_feed_position("closed-loop", 9)
            assert await store.feed_position("closed-loop") == 9
            assert await store.feed_position("another") == 0
            with pytest.raises(ConflictError, match="closed-loop"):
                await store.save_feed_position("closed-loop", 3)

        store_run(scenario)

    def test_a_waiter_wakes_when_an_answer_is_stored(self, store_run):
        """wait_feed returns as soon as a write commits, well before its limit."""

        async def scenario(store: Any, _clock: ManualClock) -> None:
            assert await store.wait_feed(0, 0.05) is False
            head = await store.feed_head()

            async def later() -> None:
                await asyncio.sleep(0.1)
                await store.submit(submission("k1", {"ltr": 10}))

            writer = asyncio.create_task(later())
            started = time.monotonic()
            assert await store.wait_feed(head, 10.0) is True
            assert time.monotonic() - started < 2.0
            await writer
            assert await store.wait_feed(head, 0.0) is True

        store_run(scenario)


class TestOrdering:
    def test_a_reader_with_a_cursor_sees_every_concurrent_write_once_in_order(self, store_run):
        """40 writers at once: a reader keeping a cursor sees every position once, none skipped.

        Positions must grow in the order writes commit: a write that took a
        smaller position but committed later than one the reader has seen
        would be behind the reader's cursor, and skipped for ever.
        """
        writers, each = 40, 8

        async def scenario(store: Any, _clock: ManualClock) -> None:
            for w in range(writers):
                await store.add_invitation(invitation(f"inv-{w}", address=f"+91987650{w:04d}"))
                await store.add_invitation(invitation(f"sent-{w}"))  # statuses, never answered
            done = asyncio.Event()
            seen: list[int] = []

            async def read() -> None:
                cursor = 0
                while True:
                    last = done.is_set()
                    for event in await store.feed(after=cursor):
                        seen.append(event.seq)
                        cursor = event.seq
                    if last:
                        return
                    await asyncio.sleep(0)

            async def write(w: int) -> None:
                inv = f"inv-{w}"
                for i in range(each):
                    step = i % 4
                    if step == 0:  # an answer to an invitation: created, then updated
                        await store.submit(submission(f"k{w}-{i}", {"ltr": i}, invitation_id=inv))
                    elif step == 1:  # a new response with no invitation (grouped writes)
                        await store.submit(
                            submission(f"k{w}-{i}", {"ltr": w % 11}, invitation_id=None)
                        )
                    elif step == 2:
                        status = "sent" if i < each // 2 else "delivered"
                        await store.record_status(
                            StatusUpdate(invitation_id=f"sent-{w}", disposition=status, at=T0)
                        )
                    else:
                        await store.record_opt_out(OptOut(address=f"+91987650{w:04d}", channel="sms", at=T0,
                                                          source="sms.keyword", opted_out=i < each // 2))  # fmt: skip

            reader = asyncio.create_task(read())
            await asyncio.gather(*(write(w) for w in range(writers)))
            done.set()
            await reader
            everything = [e.seq for e in await store.feed(limit=writers * each + 1)]
            assert len(everything) == writers * each
            skipped = sorted(set(everything) - set(seen))
            assert not skipped, f"the reader's cursor went past {skipped} before they committed"
            assert seen == everything  # once each, in order

        store_run(scenario)


class TestLookups:
    def test_a_send_is_found_by_its_provider_id(self, store_run):
        """The provider's id of a send leads back to its invitation."""

        async def scenario(store: Any, _clock: ManualClock) -> None:
            await store.add_invitation(
                invitation(),
                outbox=[OutboxItem(id="inv-1", invitation_id="inv-1", channel="sms",
                                   state=OutboxState.PENDING, due_at=T0)],
            )  # fmt: skip
            (claimed,) = await store.claim("w", now=T0, limit=5, lease=timedelta(minutes=1))
            await store.finish(claimed.id, OutboxState.SENT, at=T0, provider_id="SM42")
            found = await store.invitation_by_provider_id("SM42")
            assert found is not None
            assert found.id == "inv-1"
            assert await store.invitation_by_provider_id("SM43") is None

        store_run(scenario)

    def test_the_open_invitation_of_an_address_is_the_newest_unexpired_unanswered(self, store_run):
        """Expired and complete invitations are not open; the newest open one is found."""

        async def scenario(store: Any, _clock: ManualClock) -> None:
            await store.add_invitation(invitation("inv-old", created_at=T0 - timedelta(days=9),
                                                  expires_at=T0 - timedelta(days=2)))  # fmt: skip
            assert await store.open_invitation(PHONE, "sms", now=T0) is None
            await store.add_invitation(invitation("inv-1"))
            await store.add_invitation(invitation("inv-2", created_at=T0 + timedelta(hours=1)))
            found = await store.open_invitation(PHONE, "sms", now=T0 + timedelta(hours=2))
            assert found is not None
            assert found.id == "inv-2"
            await store.submit(submission("k", {"ltr": 8}, complete=True, invitation_id="inv-2"))
            found = await store.open_invitation(PHONE, "sms", now=T0 + timedelta(hours=2))
            assert found is not None
            assert found.id == "inv-1"
            assert await store.open_invitation(PHONE, "whatsapp", now=T0) is None
            assert await store.open_invitation(PHONE, "sms", now=T0 + timedelta(days=8)) is None

        store_run(scenario)

    def test_an_invitations_latest_response_and_recent_invitations(self, store_run):
        """invitation_response gives the latest response; recent_invitations those since a time."""

        async def scenario(store: Any, _clock: ManualClock) -> None:
            await store.add_invitation(invitation("inv-1"))
            await store.add_invitation(invitation("inv-2", created_at=T0 + timedelta(days=3)))
            assert await store.invitation_response("inv-1") is None
            stored = await store.submit(submission("k", {"ltr": 8}))
            latest = await store.invitation_response("inv-1")
            assert latest is not None
            assert latest.id == stored.response.id
            recent = await store.recent_invitations(since=T0 + timedelta(days=1))
            assert [i.id for i in recent] == ["inv-2"]
            assert [i.id for i in await store.recent_invitations(since=T0)] == ["inv-1", "inv-2"]

        store_run(scenario)

    def test_answers_to_an_invitation_mark_it_started_then_completed(self, store_run):
        """Response rates read the dispositions the answers leave."""

        async def scenario(store: Any, _clock: ManualClock) -> None:
            await store.add_invitation(invitation())
            await store.submit(submission("k1", {"ltr": 3}))
            assert [d for d, _ in await store.dispositions("inv-1")] == [Disposition.STARTED]
            await store.submit(
                submission(
                    "k2", {"why": "Slow"}, complete=True, received_at=T0 + timedelta(minutes=5)
                )
            )
            assert [d for d, _ in await store.dispositions("inv-1")] == [
                Disposition.STARTED, Disposition.COMPLETED,
            ]  # fmt: skip
            result = await store.submit(submission("k3", {"ltr": 4}))  # a correction
            assert result.outcome is SubmitOutcome.UPDATED
            assert len(await store.dispositions("inv-1")) == 2

        store_run(scenario)


class TestStatuses:
    def test_a_status_never_goes_backwards(self, store_run):
        """delivered is recorded; sent after it is not; the feed has one event per status recorded."""

        async def scenario(store: Any, _clock: ManualClock) -> None:
            await store.add_invitation(invitation())
            sent = await store.record_status(
                StatusUpdate(invitation_id="inv-1", disposition="sent", at=T0)
            )
            assert sent.applied
            assert sent.current is Disposition.SENT
            delivered = await store.record_status(
                StatusUpdate(
                    invitation_id="inv-1", disposition="delivered", at=T0 + timedelta(seconds=5)
                )
            )
            assert delivered.applied
            assert delivered.current is Disposition.DELIVERED
            late = await store.record_status(
                StatusUpdate(invitation_id="inv-1", disposition="sent", at=T0)
            )
            assert not late.applied
            assert late.current is Disposition.DELIVERED
            again = await store.record_status(
                StatusUpdate(invitation_id="inv-1", disposition="delivered", at=T0)
            )
            assert not again.applied
            statuses = [
                e.detail["disposition"] for e in await store.feed() if e.kind is FeedKind.STATUS
            ]
            assert statuses == ["sent", "delivered"]

        store_run(scenario)

    def test_a_permanent_failure_suppresses_even_when_late(self, store_run):
        """A complaint after an answer is not progress, but the address is suppressed all the same."""

        async def scenario(store: Any, _clock: ManualClock) -> None:
            await store.add_invitation(invitation(channel="email", address=EMAIL))
            await store.record_status(
                StatusUpdate(invitation_id="inv-1", disposition="delivered", at=T0)
            )
            bounce = await store.record_status(
                StatusUpdate(invitation_id="inv-1", disposition="bounced", at=T0, suppress=True)
            )
            assert not bounce.applied
            assert bounce.suppressed
            assert await store.suppression(EMAIL, "email") == "hard_bounce"
            with pytest.raises(StoreError, match="inv-9"):
                await store.record_status(
                    StatusUpdate(invitation_id="inv-9", disposition="sent", at=T0)
                )

        store_run(scenario)


class TestOptOuts:
    def test_opting_out_and_back_in(self, store_run):
        """Out: suppressed and withdrawn; a repeat changes nothing; in: lifted and granted."""

        async def scenario(store: Any, _clock: ManualClock) -> None:
            out = OptOut(
                address=PHONE,
                channel="sms",
                at=T0,
                source="sms.keyword",
                keyword="STOP",
                customer_id="C-77",
            )
            assert await store.record_opt_out(out) is True
            assert await store.record_opt_out(out) is False
            assert await store.suppression(PHONE, "sms") == "opt_out"
            for person in (PHONE, "C-77"):
                consent = await store.consent(person, "sms", Purpose.SURVEY)
                assert consent is not None
                assert consent.granted is False
            back = OptOut(address=PHONE, channel="sms", at=T0 + timedelta(days=1), source="sms.keyword",
                          keyword="START", opted_out=False)  # fmt: skip
            assert await store.record_opt_out(back) is True
            assert await store.suppression(PHONE, "sms") is None
            consent = await store.consent(PHONE, "sms", Purpose.SURVEY)
            assert consent is not None
            assert consent.granted is True
            kinds = [e.kind for e in await store.feed()]
            assert kinds == [FeedKind.OPT_OUT, FeedKind.OPT_IN]
            assert PHONE not in repr(await store.feed())

        store_run(scenario)

    def test_opting_in_never_lifts_a_bounce(self, store_run):
        """A START does not undo a hard bounce's suppression."""

        async def scenario(store: Any, _clock: ManualClock) -> None:
            await store.suppress(PHONE, "sms", "hard_bounce")
            back = OptOut(
                address=PHONE, channel="sms", at=T0, source="sms.keyword", opted_out=False
            )
            await store.record_opt_out(back)
            assert await store.suppression(PHONE, "sms") == "hard_bounce"

        store_run(scenario)


class TestApiKeys:
    def test_keys_are_stored_as_digests_listed_and_revoked(self, store_run):
        """Only the digest is kept; a revoked key stays listed with its time; unknown ids fail."""

        async def scenario(store: Any, _clock: ManualClock) -> None:
            issued = issue_api_key("pos-bazaar", ["interactions"], at=T0)
            await store.add_api_key(issued.key)
            with pytest.raises(ConflictError):
                await store.add_api_key(issued.key)
            assert await store.api_key(issued.key.id) == issued.key
            assert await store.api_key("000000000000") is None
            revoked = await store.revoke_api_key(issued.key.id, at=T0 + timedelta(days=1))
            again = await store.revoke_api_key(issued.key.id, at=T0 + timedelta(days=2))
            assert revoked.revoked_at == again.revoked_at == T0 + timedelta(days=1)
            assert [k.active for k in await store.api_keys()] == [False]
            with pytest.raises(StoreError, match="nope"):
                await store.revoke_api_key("nope", at=T0)
            secret = issued.secret.split("_", 2)[2]
            assert secret not in repr(await store.api_keys())

        store_run(scenario)
