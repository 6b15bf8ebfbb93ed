"""SMS end to end: the dispatcher sends through the real twilio SDK to a loopback emulator,
which posts signed status callbacks and replies to a real collector over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from cxcore import Disposition, NpsQuestion, OutboxItem, OutboxState, Survey, TextQuestion
from cxcore.dispatch import Dispatcher
from cxcore.distribution import ChannelPolicy, RuleSet, TriggerRule
from cxcore.ports.feed import FeedKind
from cxcore.testing.twilio import ACCOUNT, TOKEN, TwilioEmulator, serve_emulator
from cxcore_channels.sms import SmsChannel, TwilioTransport, WhatsAppChannel
from tests.collector_support import Served, free_port, serve_collector

PHONE = "+447700900123"


@pytest.fixture(scope="module")
def emulator() -> Iterator[TwilioEmulator]:
    with serve_emulator() as twilio:
        yield twilio


@pytest.fixture(autouse=True)
def _fresh(emulator: TwilioEmulator) -> None:
    emulator.messages.clear()
    emulator.plan.clear()
    emulator.creates = 0
    emulator.webhook_routes.clear()


def channel_for(
    emulator: TwilioEmulator, public: str, cls: type[SmsChannel] = SmsChannel, name: str = "sms"
) -> SmsChannel:
    return cls(
        account_sid=ACCOUNT,
        auth_token=TOKEN,
        from_number="+15005550006",
        base_url=public,
        inbound_url=f"{public}/c/{name}",
        http_client=TwilioTransport(base_url=emulator.url, timeout=2.0),
    )


@contextlib.contextmanager
def collector(
    tmp_path: Path,
    emulator: TwilioEmulator,
    public: str | None = None,
    cls: type[SmsChannel] = SmsChannel,
    name: str = "sms",
    **options: Any,
) -> Iterator[tuple[Served, SmsChannel]]:
    """A collector with the channel, served on loopback; *public* is the URL behind a proxy."""
    port = free_port()
    real = f"http://127.0.0.1:{port}/r"
    url = public or real
    channel = channel_for(emulator, url, cls, name)
    emulator.webhook_routes[url] = real
    with serve_collector(
        tmp_path, channels={name: channel}, public_url=url, port=port, **options
    ) as served:
        try:
            yield served, channel
        finally:
            served.run(channel.aclose())  # on the loop its connections were opened


def queue(served: Served, **kw: object) -> str:
    """Store an SMS invitation and its send, due now."""
    invitation = served.invite(channel="sms", address=PHONE, **kw)  # type: ignore[arg-type]
    item = OutboxItem(
        id=invitation.id,
        invitation_id=invitation.id,
        channel="sms",
        state=OutboxState.PENDING,
        due_at=served.clock.now(),
    )
    served.run(served.store.add_invitation(invitation, outbox=[item]))
    return invitation.id


def dispatch(served: Served, channel: SmsChannel) -> Dispatcher:
    return Dispatcher(served.store, {"sms": channel}, clock=served.clock, worker_id="w1")


SMS_NPS = Survey(
    id="sms_nps",
    title={"en": "Your call with Bazaar"},
    questions=[
        NpsQuestion(
            id="ltr",
            required=True,
            text={"en": "How likely are you to recommend Bazaar to a friend?"},
        ),
        TextQuestion(id="why", text={"en": "What is the main reason for your score?"}),
    ],
)


class TestEndToEnd:
    def test_an_interaction_triggers_an_sms_and_9_great_completes_an_nps_response(
        self, tmp_path, emulator
    ):
        """Interaction → rules → outbox → SMS → delivered → "9 great" → complete NPS, on the feed."""
        rules = RuleSet(
            rules=[TriggerRule(id="after_call", touchpoint="support_call", survey="sms_nps")],
            channels=ChannelPolicy(fallback=("sms",)),
        )
        with collector(tmp_path, emulator, rules=rules) as (served, channel):
            served.run(served.store.put_survey(SMS_NPS))
            item = {
                "interaction": {
                    "id": "CALL-1",
                    "touchpoint": "support_call",
                    "customer_id": "C-44",
                    "occurred_at": served.clock.now().isoformat(),
                },
                "customer": {"id": "C-44", "phone": PHONE, "timezone": "Europe/London"},
            }

            async def post_interaction() -> dict[str, object]:
                key = {"X-Api-Key": served.key("interactions")}
                async with (
                    aiohttp.ClientSession() as session,
                    session.post(f"{served.url}/api/interactions", json=item, headers=key) as r,
                ):
                    assert r.status == 200, await r.text()
                    return dict(await r.json())

            decided = asyncio.run(post_interaction())
            assert (decided["outcome"], decided["channel"]) == ("invite", "sms")
            invitation_id = str(decided["invitation_id"])
            report = served.run(dispatch(served, channel).run_once())
            assert report.count(OutboxState.SENT) == 1
            (sent,) = emulator.outbound()
            assert sent.to == PHONE
            assert sent.body.startswith("How likely are you to recommend Bazaar to a friend?")
            assert "Reply with a number from 0 to 10." in sent.body
            assert asyncio.run(emulator.deliver(sent.sid, "delivered")) == 200
            _, statuses = asyncio.run(emulator.inbound(f"{served.url}/c/sms", PHONE, "9 great"))
            assert statuses == [200]
            response = served.run(served.store.invitation_response(invitation_id))
            assert response is not None
            assert response.is_complete
            assert dict(response.answers) == {"ltr": 9, "why": "great"}
            assert response.customer_id == "C-44"
            answers = [e for e in served.run(served.store.feed()) if e.kind is FeedKind.ANSWER]
            assert answers[-1].subject == response.id
            assert answers[-1].detail["status"] == "complete"
            assert answers[-1].detail["scores"] == {"ltr": 9}
            states = {d for d, _ in served.run(served.store.dispositions(invitation_id))}
            assert {Disposition.SENT, Disposition.DELIVERED, Disposition.COMPLETED} <= states
            assert emulator.to(PHONE)[-1].body == "Thank you for your feedback."

    def test_an_sms_invitation_answered_9_great_is_a_complete_nps_response(
        self, tmp_path, emulator
    ):
        """Sent, delivered (signed callback), "9 great" replied: a complete response, on the feed."""
        with collector(tmp_path, emulator) as (served, channel):
            invitation_id = queue(served, survey_id="store_exit")
            report = served.run(dispatch(served, channel).run_once())
            assert report.count(OutboxState.SENT) == 1
            (sent,) = emulator.outbound()
            assert sent.to == PHONE
            assert "Reply with a number from 1 to 5." in sent.body
            assert asyncio.run(emulator.deliver(sent.sid, "delivered")) == 200
            states = dict(served.run(served.store.dispositions(invitation_id)))
            assert Disposition.DELIVERED in states
            webhook = f"{served.url}/c/sms"
            asyncio.run(emulator.inbound(webhook, PHONE, "5 great"))
            response = served.run(served.store.invitation_response(invitation_id))
            assert response is not None
            assert response.is_complete
            assert dict(response.answers) == {"sat": 5, "note": "great"}
            feed = served.run(served.store.feed())
            assert any(e.kind is FeedKind.ANSWER for e in feed)
            thanks = emulator.to(PHONE)[-1]
            assert thanks.body == "Thank you for your feedback."

    def test_nps_with_a_follow_up_comment(self, tmp_path, emulator):
        """ "9" answers the score; the follow-up asks for a comment, which completes the response."""
        with collector(tmp_path, emulator) as (served, channel):
            survey_id = "after_support"
            invitation_id = queue(served, survey_id=survey_id)
            served.run(dispatch(served, channel).run_once())
            webhook = f"{served.url}/c/sms"
            asyncio.run(emulator.inbound(webhook, PHONE, "nine"))
            follow_up = emulator.to(PHONE)[-1].body
            assert "Rate the agent" in follow_up
            response = served.run(served.store.invitation_response(invitation_id))
            assert response is not None
            assert dict(response.answers) == {"ltr": 9}

    def test_behind_a_proxy_signatures_hold_on_the_public_url(self, tmp_path, emulator):
        """Twilio signs the public URL; the collector, reached at another, checks that one."""
        public = "https://cx.bazaar.example.in/r"
        with collector(tmp_path, emulator, public=public) as (served, channel):
            invitation_id = queue(served, survey_id="store_exit")
            served.run(dispatch(served, channel).run_once())
            (sent,) = emulator.outbound()
            assert sent.status_callback == f"{public}/c/sms/status?i={invitation_id}"
            assert asyncio.run(emulator.deliver(sent.sid, "delivered")) == 200
            _, statuses = asyncio.run(emulator.inbound(f"{public}/c/sms", PHONE, "4"))
            assert statuses == [200]

    @pytest.mark.parametrize("how", ["tampered", "missing", "signed-for-the-real-url"])
    def test_bad_signatures_get_403_and_write_nothing(self, tmp_path, emulator, how):
        """A tampered, missing or wrong-URL signature: 403, and no table changes."""
        public = "https://cx.bazaar.example.in/r"
        with collector(tmp_path, emulator, public=public) as (served, _channel):
            queue(served, survey_id="store_exit")
            before = served.counts()
            kw: dict[str, object] = {}
            if how == "tampered":
                kw["signature"] = "c2lnbmF0dXJl"
            elif how == "missing":
                kw["sign"] = False
            else:
                from twilio.request_validator import RequestValidator  # noqa: PLC0415

                kw["signature"] = RequestValidator(TOKEN).compute_signature(
                    f"{emulator.webhook_routes[public]}/c/sms",
                    {"Body": "STOP"},
                )
            _, statuses = asyncio.run(emulator.inbound(f"{public}/c/sms", PHONE, "STOP", **kw))
            assert statuses == [403]
            assert served.counts() == before
            assert emulator.to(PHONE) == []


class TestKeywords:
    def test_stop_retried_five_times_is_confirmed_once_and_suppresses(self, tmp_path, emulator):
        """A STOP webhook retried: one confirmation, the number suppressed, no more sends."""
        with collector(tmp_path, emulator) as (served, channel):
            webhook = f"{served.url}/c/sms"
            asyncio.run(emulator.inbound(webhook, PHONE, " Stop ", times=5))
            confirmations = emulator.to(PHONE)
            assert [m.body for m in confirmations] == [channel.texts.opt_out]
            assert served.run(served.store.suppression(PHONE, "sms")) is not None
            queue(served, survey_id="store_exit")
            report = served.run(dispatch(served, channel).run_once())
            assert report.count(OutboxState.SUPPRESSED) == 1
            asyncio.run(emulator.inbound(webhook, PHONE, "UNSTOP", times=3))
            assert [m.body for m in emulator.to(PHONE)] == [
                channel.texts.opt_out,
                channel.texts.opt_in,
            ]
            assert served.run(served.store.suppression(PHONE, "sms")) is None

    def test_one_polite_retry_prompt_then_nothing(self, tmp_path, emulator):
        """An unreadable reply gets one prompt; the next gets nothing; then a score is taken."""
        with collector(tmp_path, emulator) as (served, channel):
            invitation_id = queue(served, survey_id="store_exit")
            served.run(dispatch(served, channel).run_once())
            webhook = f"{served.url}/c/sms"
            asyncio.run(emulator.inbound(webhook, PHONE, "what is this?", times=2))
            asyncio.run(emulator.inbound(webhook, PHONE, "huh"))
            replies = emulator.to(PHONE)[1:]
            assert len(replies) == 1
            assert replies[0].body.startswith("Sorry, we could not read that.")
            asyncio.run(emulator.inbound(webhook, PHONE, "4"))
            response = served.run(served.store.invitation_response(invitation_id))
            assert response is not None
            assert dict(response.answers) == {"sat": 4}

    def test_a_reply_retried_by_twilio_is_stored_once(self, tmp_path, emulator):
        """The same MessageSid three times: one submission."""
        with collector(tmp_path, emulator) as (served, channel):
            queue(served, survey_id="store_exit")
            served.run(dispatch(served, channel).run_once())
            asyncio.run(emulator.inbound(f"{served.url}/c/sms", PHONE, "5 lovely", times=3))
            assert served.counts()["responses"] == 1
            assert len(emulator.to(PHONE)) == 2  # the invitation, and one thanks


class TestDuplicateSafety:
    def test_500_after_accept_settles_to_exactly_one_message(self, tmp_path, emulator):
        """The emulator accepts then answers 500: unknown, reconciled by lookup, never re-posted."""
        with collector(tmp_path, emulator) as (served, channel):
            invitation_id = queue(served, survey_id="store_exit")
            emulator.plan.append("500-after-accept")
            dispatcher = dispatch(served, channel)
            report = served.run(dispatcher.run_once())
            assert report.count(OutboxState.UNKNOWN) == 1
            reconciled = served.run(dispatcher.reconcile())
            assert [o.invitation_id for o in reconciled.sent] == [invitation_id]
            served.clock.advance(timedelta(hours=1))
            served.run(dispatcher.run_once())
            served.run(dispatcher.reconcile())
            assert len(emulator.outbound()) == 1
            assert emulator.creates == 1
            (item,) = served.run(served.store.outbox())
            assert item.state is OutboxState.SENT
            assert item.provider_id == emulator.outbound()[0].sid


class TestStatuses:
    def test_statuses_out_of_order_and_repeated_never_go_backwards(self, tmp_path, emulator):
        """delivered, then a late sent, then delivered again: delivered stands, recorded once."""
        with collector(tmp_path, emulator) as (served, channel):
            invitation_id = queue(served, survey_id="store_exit")
            served.run(dispatch(served, channel).run_once())
            (sent,) = emulator.outbound()
            for status in ("delivered", "sent", "delivered", "queued"):
                assert asyncio.run(emulator.deliver(sent.sid, status)) == 200
            states = [d for d, _ in served.run(served.store.dispositions(invitation_id))]
            assert sorted(states) == sorted([Disposition.SENT, Disposition.DELIVERED])

    def test_a_21610_callback_suppresses_the_number(self, tmp_path, emulator):
        """Undelivered with 21610 (the number unsubscribed at the carrier): suppressed."""
        with collector(tmp_path, emulator) as (served, channel):
            queue(served, survey_id="store_exit")
            served.run(dispatch(served, channel).run_once())
            (sent,) = emulator.outbound()
            assert asyncio.run(emulator.deliver(sent.sid, "undelivered", 21610)) == 200
            assert served.run(served.store.suppression(PHONE, "sms")) is not None


class TestWhatsApp:
    def test_a_quick_reply_button_answers_its_question(self, tmp_path, emulator):
        """A tap on a button whose id is "sat=5" is the answer 5 to "sat"; then the comment."""
        with collector(tmp_path, emulator, cls=WhatsAppChannel, name="whatsapp") as (
            served,
            channel,
        ):
            invitation = served.invite(channel="whatsapp", address=PHONE, survey_id="store_exit")
            item = OutboxItem(
                id=invitation.id,
                invitation_id=invitation.id,
                channel="whatsapp",
                state=OutboxState.PENDING,
                due_at=served.clock.now(),
            )
            served.run(served.store.add_invitation(invitation, outbox=[item]))
            dispatcher = Dispatcher(
                served.store, {"whatsapp": channel}, clock=served.clock, worker_id="w1"
            )
            served.run(dispatcher.run_once())
            (sent,) = emulator.outbound()
            assert sent.to == f"whatsapp:{PHONE}"
            webhook = f"{served.url}/c/whatsapp"
            extra = {"ButtonText": "😀", "ButtonPayload": "sat=5"}
            asyncio.run(emulator.inbound(webhook, f"whatsapp:{PHONE}", "😀", extra=extra))
            asyncio.run(emulator.inbound(webhook, f"whatsapp:{PHONE}", "Quick checkout"))
            response = served.run(served.store.invitation_response(invitation.id))
            assert response is not None
            assert dict(response.answers) == {"sat": 5, "note": "Quick checkout"}
            assert response.is_complete

    def test_stop_on_whatsapp_opts_out_of_whatsapp(self, tmp_path, emulator):
        """STOP from a whatsapp: address suppresses the number on the WhatsApp channel."""
        with collector(tmp_path, emulator, cls=WhatsAppChannel, name="whatsapp") as (
            served,
            channel,
        ):
            webhook = f"{served.url}/c/whatsapp"
            asyncio.run(emulator.inbound(webhook, f"whatsapp:{PHONE}", "STOP", times=2))
            assert [m.body for m in emulator.to(PHONE)] == [channel.texts.opt_out]
            assert served.run(served.store.suppression(PHONE, "whatsapp")) is not None


class TestRateLimits:
    def test_a_burst_of_signed_callbacks_is_never_throttled(self, tmp_path, emulator):
        """150 signed statuses from one address pass the collector's limit (20/s, burst 60)."""
        with collector(tmp_path, emulator) as (served, channel):
            queue(served, survey_id="store_exit")
            served.run(dispatch(served, channel).run_once())
            (sent,) = emulator.outbound()

            async def burst() -> list[int]:
                return [await emulator.deliver(sent.sid, "delivered") for _ in range(150)]

            assert set(asyncio.run(burst())) == {200}

    def test_refused_signatures_count_against_the_address(self, tmp_path, emulator):
        """Forged signatures: 403 until the address is over its limit, then 429."""
        with collector(tmp_path, emulator) as (served, _channel):
            webhook = f"{served.url}/c/sms"

            async def forge() -> list[int]:
                statuses: list[int] = []
                for _ in range(80):
                    _, got = await emulator.inbound(webhook, PHONE, "STOP", signature="AAAA")
                    statuses += got
                return statuses

            statuses = asyncio.run(forge())
            assert statuses[0] == 403
            assert 429 in statuses
            assert set(statuses) == {403, 429}
            assert served.run(served.store.suppression(PHONE, "sms")) is None
