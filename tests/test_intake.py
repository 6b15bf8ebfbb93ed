"""Intake: every answer, opt-out and delivery status through one service, on both backends."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from cxcore import (
    AnswersReceived,
    Condition,
    CsatQuestion,
    Disposition,
    Invitation,
    ManualClock,
    NpsQuestion,
    OptOutReceived,
    Purpose,
    RepeatPolicy,
    RespondentKind,
    StatusReceived,
    Submission,
    Survey,
    TextQuestion,
    ValidationError,
)
from cxcore.distribution import TokenPurpose, TokenService
from cxcore.intake import (
    Accepted,
    Intake,
    OptOutRecorded,
    Rejected,
    RejectReason,
    StatusRecorded,
)
from cxcore.ports.feed import FeedKind
from cxcore.ports.store import SubmitOutcome
from cxcore.testing import signed_invitation

T0 = datetime(2026, 12, 7, 4, 30, tzinfo=UTC)
KEYS = ["intake-test-key-0123456789abcdef-xyz"]
EMAIL = "asha.rao@example.in"
PHONE = "+919812345678"


def nps_survey(policy: RepeatPolicy = RepeatPolicy.FIRST_WINS) -> Survey:
    return Survey(
        id="after_support",
        title={"en": "Your call with us", "hi": "हमसे आपकी बातचीत"},
        on_repeat=policy,
        questions=[
            NpsQuestion(
                id="ltr", text={"en": "Recommend us?", "hi": "सिफ़ारिश करेंगे?"}, required=True
            ),
            TextQuestion(id="why", text={"en": "Why?", "hi": "क्यों?"}),
        ],
    )


def csat_survey() -> Survey:
    return Survey(
        id="kiosk_exit",
        title={"en": "Your visit"},
        questions=[
            CsatQuestion(id="sat", text={"en": "Satisfied?"}, required=True),
            TextQuestion(
                id="low", text={"en": "What went wrong?"}, show_if=[Condition("sat", "le", 2)]
            ),
        ],
    )


@attrs.define
class World:
    """A store with surveys, a clock, tokens and an intake, and a way to invite."""

    store: Any
    clock: ManualClock
    tokens: TokenService
    intake: Intake
    count: int = 0

    async def invite(
        self,
        *,
        channel: str = "email",
        address: str | None = EMAIL,
        customer_id: str | None = "C-1",
        days: int = 7,
        locale: str = "en",
        survey_id: str = "after_support",
        provider_id: str | None = None,
    ) -> Invitation:
        self.count += 1
        inv_id = f"inv-{self.count}"
        invitation = signed_invitation(
            self.tokens,
            invitation_id=inv_id,
            survey_id=survey_id,
            created_at=self.clock.now(),
            channel=channel,
            address=address,
            customer_id=customer_id,
            locale=locale,
            days=days,
        )
        await self.store.add_invitation(invitation)
        if provider_id is not None:
            from cxcore.ports.store import OutboxItem, OutboxState  # noqa: PLC0415

            await self.store.enqueue(
                [
                    OutboxItem(
                        id=inv_id,
                        invitation_id=inv_id,
                        channel=channel,
                        state=OutboxState.PENDING,
                        due_at=self.clock.now(),
                    )
                ]
            )
            (claimed,) = await self.store.claim(
                "w", now=self.clock.now(), limit=1, lease=timedelta(minutes=1)
            )
            await self.store.finish(
                claimed.id, OutboxState.SENT, at=self.clock.now(), provider_id=provider_id
            )
        return invitation

    async def rows(self) -> tuple[int, int, int]:
        """What writes leave behind: responses, feed events, audit entries."""
        return (
            await self.store.count_responses(),
            await self.store.feed_head(),
            len(await self.store.audit()),
        )


Scenario = Callable[[World], Awaitable[None]]


@pytest.fixture
def world(any_store: Callable[..., Any]) -> Callable[[Scenario], None]:
    def run(scenario: Scenario, policy: RepeatPolicy = RepeatPolicy.FIRST_WINS) -> None:
        async def main() -> None:
            clock = ManualClock(T0)
            async with any_store(clock=clock) as store:
                await store.put_survey(nps_survey(policy))
                await store.put_survey(csat_survey())
                tokens = TokenService(KEYS, clock=clock)
                await scenario(World(store, clock, tokens, Intake(store, tokens, clock=clock)))

        asyncio.run(main())

    return run


class TestAnswersWithAToken:
    def test_one_click_then_the_form_then_a_correction_make_one_response(self, world):
        """A score, the rest of the answers, then a corrected score: one complete response."""

        async def scenario(w: World) -> None:
            inv = await w.invite()
            first = await w.intake.submit(inv.token, {"ltr": 6}, complete=False)
            assert isinstance(first, Accepted)
            assert first.outcome is SubmitOutcome.CREATED
            assert [q.id for q in first.remaining] == ["why"]
            w.clock.advance(minutes=2)
            second = await w.intake.submit(inv.token, {"ltr": 6, "why": "Long wait"}, complete=True)
            assert isinstance(second, Accepted)
            assert second.outcome is SubmitOutcome.UPDATED
            w.clock.advance(minutes=2)
            third = await w.intake.submit(inv.token, {"ltr": 8}, complete=True)
            assert isinstance(third, Accepted)
            assert third.outcome is SubmitOutcome.UPDATED
            assert third.response.id == first.response.id
            assert dict(third.response.answers) == {"ltr": 8, "why": "Long wait"}
            assert third.complete
            assert await w.store.count_responses() == 1
            assert [d for d, _ in await w.store.dispositions(inv.id)] == [
                Disposition.STARTED,
                Disposition.COMPLETED,
            ]

        world(scenario, RepeatPolicy.LAST_WINS)

    def test_the_same_click_twice_stores_once(self, world):
        """Without a key of its own, a request's key comes from what it says."""

        async def scenario(w: World) -> None:
            inv = await w.invite()
            first = await w.intake.submit(inv.token, {"ltr": 9}, complete=False)
            again = await w.intake.submit(inv.token, {"ltr": 9}, complete=False)
            assert isinstance(first, Accepted)
            assert isinstance(again, Accepted)
            assert again.outcome is SubmitOutcome.REPEATED
            assert again.response.id == first.response.id

        world(scenario)

    def test_the_last_click_counts_when_later_answers_win(self, world):
        """9, then 6, then 9 again on one email: the response ends at 9 (last_wins)."""

        async def scenario(w: World) -> None:
            inv = await w.invite()
            for score in (9, 6, 9):
                result = await w.intake.submit(inv.token, {"ltr": score}, complete=False)
                assert isinstance(result, Accepted)
                assert result.response.answers["ltr"] == score

        world(scenario, RepeatPolicy.LAST_WINS)

    def test_a_providers_message_id_makes_its_retry_harmless(self, world):
        """An event's own key (a MessageSid) is the idempotency key: the retry repeats."""

        async def scenario(w: World) -> None:
            await w.invite(channel="sms", address=PHONE)
            event = AnswersReceived(token=None, address=PHONE, reply="9", key="SM-1")
            first = await w.intake.take("sms", event)
            assert isinstance(first, Accepted)
            before = await w.rows()
            again = await w.intake.take("sms", event)
            assert isinstance(again, Accepted)
            assert again.outcome is SubmitOutcome.REPEATED
            assert dict(again.response.answers) == {"ltr": 9}
            assert await w.rows() == before

        world(scenario)

    def test_the_amp_endpoint_takes_only_amp_tokens(self, world):
        """With purposes limited to AMP, a survey token is the wrong purpose."""

        async def scenario(w: World) -> None:
            inv = await w.invite()
            result = await w.intake.submit(
                inv.token, {"ltr": 9}, complete=True, purposes=(TokenPurpose.AMP,)
            )
            assert isinstance(result, Rejected)
            assert result.reason is RejectReason.WRONG_PURPOSE

        world(scenario)

    def test_a_complete_response_keeps_its_first_answers(self, world):
        """first_wins: answers after completion are ignored, and say so."""

        async def scenario(w: World) -> None:
            inv = await w.invite()
            await w.intake.submit(inv.token, {"ltr": 9}, complete=True)
            later = await w.intake.submit(inv.token, {"ltr": 2}, complete=True)
            assert isinstance(later, Accepted)
            assert later.outcome is SubmitOutcome.IGNORED
            assert later.response.answers["ltr"] == 9

        world(scenario)

    def test_the_amp_token_answers_too(self, world):
        """The token an AMP form posts with is accepted for answers."""

        async def scenario(w: World) -> None:
            inv = await w.invite()
            assert inv.amp_token is not None
            result = await w.intake.submit(inv.amp_token, {"ltr": 10}, complete=True)
            assert isinstance(result, Accepted)
            assert result.complete
            assert result.response.respondent is RespondentKind.CUSTOMER
            assert result.response.customer_id == "C-1"
            assert result.response.context["store"] == "BLR-01"

        world(scenario)

    def test_forged_expired_and_wrong_purpose_tokens_write_nothing(self, world):
        """Each refusal says why, and nothing is written: no response, no feed, no audit."""

        async def scenario(w: World) -> None:
            inv = await w.invite(days=1)
            before = await w.rows()
            forged = inv.token[:-2] + ("AA" if not inv.token.endswith("AA") else "BB")
            cases = {
                forged: RejectReason.TAMPERED_TOKEN,
                "not-a-token": RejectReason.TAMPERED_TOKEN,
                inv.unsubscribe_token or "": RejectReason.WRONG_PURPOSE,
            }
            for token, reason in cases.items():
                result = await w.intake.submit(token, {"ltr": 9}, complete=True)
                assert isinstance(result, Rejected)
                assert result.reason is reason, token
            w.clock.advance(days=2)
            expired = await w.intake.submit(inv.token, {"ltr": 9}, complete=True)
            assert isinstance(expired, Rejected)
            assert expired.reason is RejectReason.EXPIRED
            assert expired.invitation is not None
            assert expired.invitation.id == inv.id
            assert await w.rows() == before

        world(scenario)

    def test_every_single_character_change_of_a_token_is_refused(self, world):
        """Each position, changed to each other character a token may hold: refused, nothing written."""

        async def scenario(w: World) -> None:
            inv = await w.invite()
            before = await w.rows()
            alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
            token = inv.token
            tried = 0
            for i, original in enumerate(token):
                for ch in alphabet:
                    if ch == original:
                        continue
                    result = await w.intake.submit(
                        token[:i] + ch + token[i + 1 :], {"ltr": 9}, complete=True
                    )
                    assert isinstance(result, Rejected), (i, ch)
                    assert result.reason is RejectReason.TAMPERED_TOKEN, (i, ch, result.reason)
                    tried += 1
            assert tried == len(token) * (len(alphabet) - 1)
            assert await w.rows() == before

        world(scenario)

    def test_answers_that_do_not_fit_name_every_problem_and_write_nothing(self, world):
        """Invalid answers come back with their problems; the store is unchanged."""

        async def scenario(w: World) -> None:
            inv = await w.invite()
            before = await w.rows()
            result = await w.intake.submit(inv.token, {"ltr": 11, "nope": "x"}, complete=True)
            assert isinstance(result, Rejected)
            assert result.reason is RejectReason.INVALID_ANSWERS
            assert sorted(p.path for p in result.problems) == ["answers.ltr", "answers.nope"]
            assert await w.rows() == before

        world(scenario)

    def test_a_key_reused_with_other_answers_is_a_conflict(self, world):
        """A request's own idempotency key stores once; other answers under it are refused."""

        async def scenario(w: World) -> None:
            inv = await w.invite()
            ok = await w.intake.submit(inv.token, {"ltr": 9}, complete=True, key="req-1")
            assert isinstance(ok, Accepted)
            clash = await w.intake.submit(inv.token, {"ltr": 3}, complete=True, key="req-1")
            assert isinstance(clash, Rejected)
            assert clash.reason is RejectReason.CONFLICT

        world(scenario)

    def test_an_erased_invitation_is_unknown(self, world):
        """A genuine token whose invitation was erased is refused as unknown."""

        async def scenario(w: World) -> None:
            inv = await w.invite()
            await w.store.erase_person(customer_id="C-1", addresses=[EMAIL])
            result = await w.intake.submit(inv.token, {"ltr": 9}, complete=True)
            assert isinstance(result, Rejected)
            assert result.reason is RejectReason.UNKNOWN_INVITATION

        world(scenario)

    def test_fifty_concurrent_submissions_of_one_answer_give_one_response(self, world):
        """The same answer fifty times at once: one response, every result accepted."""

        async def scenario(w: World) -> None:
            inv = await w.invite()
            results = await asyncio.gather(
                *(w.intake.submit(inv.token, {"ltr": 7}, complete=True) for _ in range(50))
            )
            assert all(isinstance(r, Accepted) for r in results)
            assert len({r.response.id for r in results if isinstance(r, Accepted)}) == 1
            assert await w.store.count_responses() == 1

        world(scenario)


class TestReplies:
    def test_a_score_then_a_comment_complete_one_response(self, world):
        """An SMS "9" answers the score; the next reply answers the comment and completes it."""

        async def scenario(w: World) -> None:
            await w.invite(channel="sms", address=PHONE)
            first = await w.intake.reply(PHONE, "9", channel="sms", key="SM1")
            assert isinstance(first, Accepted)
            assert not first.complete
            second = await w.intake.reply(PHONE, "Quick and polite", channel="sms", key="SM2")
            assert isinstance(second, Accepted)
            assert second.complete
            assert dict(second.response.answers) == {"ltr": 9, "why": "Quick and polite"}
            assert second.response.channel == "sms"
            assert await w.store.count_responses() == 1

        world(scenario)

    def test_a_score_with_words_answers_both(self, world):
        """ "९ बढ़िया सेवा" is a 9 and a comment, in one reply."""

        async def scenario(w: World) -> None:
            await w.invite(channel="sms", address=PHONE, locale="hi")
            result = await w.intake.reply(PHONE, "९ बढ़िया सेवा", channel="sms", key="SM1")
            assert isinstance(result, Accepted)
            assert result.complete
            assert dict(result.response.answers) == {"ltr": 9, "why": "बढ़िया सेवा"}

        world(scenario)

    def test_unreadable_and_ambiguous_replies_name_the_question(self, world):
        """A reply that is not an answer comes back with the question it should answer."""

        async def scenario(w: World) -> None:
            await w.invite(channel="sms", address=PHONE)
            before = await w.rows()
            unreadable = await w.intake.reply(PHONE, "what is this?", channel="sms")
            assert isinstance(unreadable, Rejected)
            assert unreadable.reason is RejectReason.UNREADABLE_REPLY
            assert unreadable.question is not None
            assert unreadable.question.id == "ltr"
            ambiguous = await w.intake.reply(PHONE, "9 or 10", channel="sms")
            assert isinstance(ambiguous, Rejected)
            assert ambiguous.reason is RejectReason.AMBIGUOUS_REPLY
            # No response, no feed event: only the audit of the one "started" mark.
            responses, feed, audit = await w.rows()
            assert (responses, feed, audit) == (before[0], before[1], before[2] + 1)

        world(scenario)

    def test_one_polite_retry_prompt_then_nothing(self, world):
        """The first unreadable reply asks for a prompt; later ones, and a retry of it, do not."""

        async def scenario(w: World) -> None:
            invitation = await w.invite(channel="sms", address=PHONE)
            first = await w.intake.reply(PHONE, "what?", channel="sms", key="SM1")
            again = await w.intake.reply(PHONE, "what?", channel="sms", key="SM1")
            second = await w.intake.reply(PHONE, "hmm", channel="sms", key="SM2")
            assert [r.prompt for r in (first, again, second) if isinstance(r, Rejected)] == [
                True,
                False,
                False,
            ]
            states = [d for d, _ in await w.store.dispositions(invitation.id)]
            assert states.count(Disposition.STARTED) == 1
            assert await w.store.count_responses() == 0

        world(scenario)

    def test_a_reply_without_an_open_invitation_is_refused(self, world):
        """No invitation, an expired one, a complete one, or another channel's: nothing is open."""

        async def scenario(w: World) -> None:
            nothing = await w.intake.reply(PHONE, "9", channel="sms")
            assert isinstance(nothing, Rejected)
            assert nothing.reason is RejectReason.NO_OPEN_INVITATION
            await w.invite(channel="email", address=PHONE)  # another channel's
            await w.invite(channel="sms", address=PHONE, days=1)
            w.clock.advance(days=2)
            expired = await w.intake.reply(PHONE, "9", channel="sms")
            assert isinstance(expired, Rejected)
            assert expired.reason is RejectReason.NO_OPEN_INVITATION
            await w.invite(channel="sms", address=PHONE)
            done = await w.intake.reply(PHONE, "9 all good", channel="sms")
            assert isinstance(done, Accepted)
            assert done.complete
            after = await w.intake.reply(PHONE, "10", channel="sms")
            assert isinstance(after, Rejected)
            assert after.reason is RejectReason.NO_OPEN_INVITATION

        world(scenario)

    def test_the_newest_open_invitation_is_answered(self, world):
        """Two open invitations to one number: the reply answers the newer."""

        async def scenario(w: World) -> None:
            await w.invite(channel="sms", address=PHONE)
            w.clock.advance(hours=1)
            newer = await w.invite(channel="sms", address=PHONE)
            result = await w.intake.reply(PHONE, "8", channel="sms")
            assert isinstance(result, Accepted)
            assert result.response.invitation_id == newer.id

        world(scenario)


class TestWithoutAToken:
    def test_a_kiosk_answer_is_anonymous_with_its_placement(self, world):
        """Kiosk answers carry no person, and the touchpoint tells exit from counter."""

        async def scenario(w: World) -> None:
            result = await w.intake.anonymous(
                "kiosk_exit",
                {"sat": 2, "low": "No trolley"},
                channel="kiosk",
                key="dev-1:0001",
                context={"store": "BLR-01", "touchpoint": "store_exit"},
            )
            assert isinstance(result, Accepted)
            assert result.complete
            assert result.response.respondent is RespondentKind.ANONYMOUS
            assert result.response.customer_id is None
            assert result.response.context["touchpoint"] == "store_exit"

        world(scenario)

    def test_agent_reports_are_kept_apart_in_scores(self, world):
        """Agent-reported answers count only when asked for."""

        async def scenario(w: World) -> None:
            await w.intake.anonymous("kiosk_exit", {"sat": 5}, channel="kiosk", key="k1")
            report = await w.intake.agent_report(
                "kiosk_exit", {"sat": 1, "low": "Rude guard"}, agent_id="A-07", key="r1",
                context={"store": "BLR-01"},
            )  # fmt: skip
            assert isinstance(report, Accepted)
            assert report.response.respondent is RespondentKind.AGENT
            assert report.response.agent_id == "A-07"
            (own,) = await w.store.score("csat", survey_id="kiosk_exit")
            (both,) = await w.store.score("csat", survey_id="kiosk_exit", include_agents=True)
            assert (own.n, both.n) == (1, 2)

        world(scenario)

    def test_an_unknown_survey_is_refused(self, world):
        """Answers to a survey the store does not hold are refused, naming what it holds."""

        async def scenario(w: World) -> None:
            result = await w.intake.anonymous("nope", {"sat": 5}, channel="kiosk", key="k1")
            assert isinstance(result, Rejected)
            assert result.reason is RejectReason.UNKNOWN_SURVEY
            assert "kiosk_exit" in result.message

        world(scenario)

    def test_a_customer_submission_without_a_customer_is_refused_when_built(self):
        """What the store would refuse later is refused at construction."""
        with pytest.raises(ValidationError) as caught:
            Submission(
                idempotency_key="k",
                survey_id="s",
                survey_version=1,
                answers={},
                complete=False,
                channel="email",
                respondent="customer",
                received_at=T0,
            )
        assert "customer_id: is missing" in str(caught.value)


class TestOptOuts:
    def test_an_unsubscribe_link_suppresses_and_withdraws_consent(self, world):
        """The address is suppressed on the channel, and both ledgers record the withdrawal."""

        async def scenario(w: World) -> None:
            inv = await w.invite()
            result = await w.intake.opt_out(
                token=inv.unsubscribe_token, keyword="List-Unsubscribe=One-Click"
            )
            assert isinstance(result, OptOutRecorded)
            assert result.changed
            assert await w.store.suppression(EMAIL, "email") == "opt_out"
            for person in (EMAIL, "C-1"):
                consent = await w.store.consent(person, "email", Purpose.SURVEY)
                assert consent is not None
                assert not consent.granted
                assert consent.source == "email.unsubscribe_link"
            (event,) = [e for e in await w.store.feed() if e.kind is FeedKind.OPT_OUT]
            assert event.subject == inv.id
            assert EMAIL not in str(event)
            actions = [a.action for a in await w.store.audit("suppression")]
            assert actions == ["added"]

        world(scenario)

    def test_an_opt_out_twice_changes_nothing_the_second_time(self, world):
        """Repeats (a provider retrying a webhook) write nothing."""

        async def scenario(w: World) -> None:
            first = await w.intake.opt_out(channel="sms", address=PHONE, keyword="STOP")
            before = await w.rows()
            again = await w.intake.opt_out(channel="sms", address=PHONE, keyword="stop")
            assert isinstance(first, OptOutRecorded)
            assert first.changed
            assert isinstance(again, OptOutRecorded)
            assert not again.changed
            assert await w.rows() == before
            assert await w.store.suppression(PHONE, "sms") == "opt_out"
            assert await w.store.suppression(PHONE, "email") is None

        world(scenario)

    def test_an_old_unsubscribe_link_still_unsubscribes(self, world):
        """An expired invitation's unsubscribe link works: people keep old emails."""

        async def scenario(w: World) -> None:
            inv = await w.invite(days=1)
            w.clock.advance(days=30)
            result = await w.intake.opt_out(token=inv.unsubscribe_token)
            assert isinstance(result, OptOutRecorded)
            assert result.changed

        world(scenario)

    def test_a_survey_token_cannot_unsubscribe(self, world):
        """Only the unsubscribe token opts out."""

        async def scenario(w: World) -> None:
            inv = await w.invite()
            result = await w.intake.opt_out(token=inv.token)
            assert isinstance(result, Rejected)
            assert result.reason is RejectReason.WRONG_PURPOSE

        world(scenario)


class TestStatuses:
    def test_statuses_match_by_provider_id_and_never_go_backwards(self, world):
        """delivered after sent is recorded; a late sent after delivered is not."""

        async def scenario(w: World) -> None:
            inv = await w.invite(channel="sms", address=PHONE, provider_id="SM0001")
            delivered = await w.intake.status(
                StatusReceived(provider_id="SM0001", disposition=Disposition.DELIVERED),
                channel="sms",
            )
            assert isinstance(delivered, StatusRecorded)
            assert delivered.result.applied
            assert delivered.invitation.id == inv.id
            late = await w.intake.status(
                StatusReceived(provider_id="SM0001", disposition=Disposition.SENT), channel="sms"
            )
            assert isinstance(late, StatusRecorded)
            assert not late.result.applied
            assert late.result.current is Disposition.DELIVERED
            assert Disposition.DELIVERED in dict(await w.store.dispositions(inv.id))

        world(scenario)

    def test_a_permanent_failure_suppresses_the_address(self, world):
        """A hard bounce, matched by invitation id, suppresses the address on its channel."""

        async def scenario(w: World) -> None:
            inv = await w.invite()
            result = await w.intake.status(
                StatusReceived(
                    provider_id=None,
                    invitation_id=inv.id,
                    disposition=Disposition.BOUNCED,
                    permanent=True,
                    detail="5.1.1 user unknown",
                ),
                channel="email",
            )
            assert isinstance(result, StatusRecorded)
            assert result.result.suppressed
            assert await w.store.suppression(EMAIL, "email") == "hard_bounce"

        world(scenario)

    def test_a_status_given_as_text_is_read_as_a_disposition(self, world):
        """StatusReceived converts "delivered" to Disposition.DELIVERED, as every model value does."""
        event = StatusReceived(provider_id="SM9", disposition="delivered")
        assert event.disposition is Disposition.DELIVERED

    def test_an_unknown_message_is_unmatched(self, world):
        """A status for a message nobody sent writes nothing."""

        async def scenario(w: World) -> None:
            before = await w.rows()
            result = await w.intake.status(
                StatusReceived(provider_id="SM-unknown", disposition=Disposition.DELIVERED),
                channel="sms",
            )
            assert isinstance(result, Rejected)
            assert result.reason is RejectReason.UNMATCHED_STATUS
            assert await w.rows() == before

        world(scenario)


class TestReceive:
    def test_each_event_of_a_request_is_taken_in_order(self, world):
        """One request's events come back as one result each, in order."""

        async def scenario(w: World) -> None:
            inv = await w.invite()
            results = await w.intake.receive(
                "email",
                [
                    AnswersReceived(token=inv.token, answers={"ltr": 9}),
                    OptOutReceived(token=inv.unsubscribe_token, keyword="STOP"),
                    AnswersReceived(token=None, answers={"ltr": 1}),
                ],
                key="req-7",
            )
            assert [type(r) for r in results] == [Accepted, OptOutRecorded, Rejected]
            assert isinstance(results[2], Rejected)
            assert results[2].reason is RejectReason.INVALID_EVENT

        world(scenario)

    def test_a_purpose_check_rejects_unsubscribe_tokens_for_pages(self, world):
        """The page view of an unsubscribe token is refused like any wrong purpose."""

        async def scenario(w: World) -> None:
            inv = await w.invite()
            view = await w.intake.view(inv.unsubscribe_token or "")
            assert isinstance(view, Rejected)
            assert view.reason is RejectReason.WRONG_PURPOSE
            found = await w.intake.find_invitation(
                inv.unsubscribe_token or "", (TokenPurpose.UNSUBSCRIBE,)
            )
            assert isinstance(found, Invitation)
            assert found.id == inv.id

        world(scenario)
