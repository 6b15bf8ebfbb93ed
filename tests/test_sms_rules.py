"""The SMS channel's rules on length, India's DLT and cost, wired into render, send and dispatch."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from cxcore import ManualClock, OutboxItem, OutboxState, Survey, TextQuestion
from cxcore.dispatch import Dispatcher
from cxcore.dispatch.audience import read_audience
from cxcore.ports.registry import ChannelRegistry
from cxcore.stores import SQLiteStore
from cxcore.testing import SAMPLE_TIME, sample_invitation, sample_surveys
from cxcore.testing.twilio import ACCOUNT, TOKEN, TwilioEmulator, serve_emulator
from cxcore_channels.sms import (
    DltError,
    DltMismatchError,
    SmsChannel,
    TooManySegmentsError,
    TwilioTransport,
)

PUBLIC = "https://cx.bazaar.example.in"
INDIA = "+919812345678"
UK = "+447700900123"
LINK_TEMPLATE = "Hi {#var#}, {#var#}: {#var#} Reply STOP to opt out."


@pytest.fixture(scope="module")
def emulator() -> Iterator[TwilioEmulator]:
    with serve_emulator() as twilio:
        yield twilio


def channel(emulator: TwilioEmulator, **options: object) -> SmsChannel:
    return SmsChannel(
        account_sid=ACCOUNT,
        auth_token=TOKEN,
        from_number="+15005550006",
        base_url="https://bz.in",
        inbound_url=f"{PUBLIC}/c/sms",
        http_client=TwilioTransport(base_url=emulator.url),
        **options,  # type: ignore[arg-type]
    )


DLT = {
    "entity_id": "1201159876543210987",
    "header": "bzaarr",
    "templates": {"1207161234567890123": LINK_TEMPLATE},
}


def nps_to(address: str) -> tuple[Survey, object]:
    survey = sample_surveys()[0]
    return survey, sample_invitation(survey, channel="sms", address=address, token="t1")


class TestIndia:
    def test_a_91_number_without_dlt_is_refused(self, emulator):
        """No DLT registration: an SMS to +91 is refused, saying what is missing."""
        survey, invitation = nps_to(INDIA)
        with pytest.raises(DltError, match="DLT entity id, a sender header and a template id"):
            channel(emulator).render(invitation, survey)  # type: ignore[arg-type]

    def test_a_91_number_gets_the_link_from_the_dlt_header(self, emulator):
        """With DLT: the link style, the registered header as sender, the template's id."""
        survey, invitation = nps_to(INDIA)
        message = channel(emulator, dlt=DLT).render(invitation, survey)  # type: ignore[arg-type]
        body = message.parts["text/plain"]
        assert "Reply with a number" not in body
        assert "https://bz.in/s/t1" in body
        assert message.headers["From"] == "BZAARR"
        assert message.headers["X-Dlt-Template-Id"] == "1207161234567890123"

        async def send() -> None:
            sms = channel(emulator, dlt=DLT)
            try:
                await sms.send(message)
            finally:
                await sms.aclose()

        asyncio.run(send())
        assert emulator.outbound()[-1].from_ == "BZAARR"

    def test_a_text_that_is_not_the_template_is_refused_showing_where(self, emulator):
        """A text the template does not fit: the error shows the first difference."""
        survey, invitation = nps_to(INDIA)
        dlt = {**DLT, "templates": {"1207161234567890123": "Dear {#var#}, rate us: {#var#}"}}
        with pytest.raises(DltMismatchError) as caught:
            channel(emulator, dlt=dlt).render(invitation, survey)  # type: ignore[arg-type]
        assert "template:" in str(caught.value)
        assert "text:" in str(caught.value)

    def test_other_numbers_keep_reply_to_answer(self, emulator):
        """Outside India nothing changes: reply-to-answer, the configured sender."""
        survey, invitation = nps_to(UK)
        message = channel(emulator, dlt=DLT).render(invitation, survey)  # type: ignore[arg-type]
        assert "Reply with a number from 0 to 10." in message.parts["text/plain"]
        assert "From" not in message.headers


class TestLength:
    def test_over_max_segments_is_refused_at_render(self, emulator):
        """A Hindi invitation over the limit: refused, naming the count and the limit."""
        survey = sample_surveys()[0]
        invitation = sample_invitation(survey, channel="sms", address=UK, locale="hi")
        with pytest.raises(TooManySegmentsError, match="over the limit of 1"):
            channel(emulator, max_segments=1).render(invitation, survey)

    def test_the_dispatcher_fails_the_send_with_the_reason(self, emulator, tmp_path: Path):
        """Through the dispatcher: failed, never sent, with the reason."""
        survey = sample_surveys()[0]
        invitation = sample_invitation(survey, channel="sms", address=UK, locale="hi")
        clock = ManualClock(SAMPLE_TIME)
        before = emulator.creates

        async def go() -> object:
            sms = channel(emulator, max_segments=1)
            async with SQLiteStore(tmp_path / "cx.db", clock=clock) as store:
                await store.put_survey(survey)
                item = OutboxItem(
                    id=invitation.id,
                    invitation_id=invitation.id,
                    channel="sms",
                    state=OutboxState.PENDING,
                    due_at=clock.now(),
                )
                await store.add_invitation(invitation, outbox=[item])
                report = await Dispatcher(store, {"sms": sms}, clock=clock).run_once()
            await sms.aclose()
            return report

        report = asyncio.run(go())
        (outcome,) = report.outcomes  # type: ignore[attr-defined]
        assert outcome.state is OutboxState.FAILED
        assert "over the limit of 1" in outcome.detail
        assert emulator.creates == before


class TestCost:
    def test_the_dispatch_report_carries_the_estimated_cost(self, emulator, tmp_path: Path):
        """Prices per segment by prefix: the report totals each send's estimate."""
        survey = sample_surveys()[0]
        clock = ManualClock(SAMPLE_TIME)
        prices = {"currency": "USD", "per_segment": {"+44": "0.05"}, "default": "0.10"}

        async def go() -> object:
            sms = channel(emulator, prices=prices)
            async with SQLiteStore(tmp_path / "cx.db", clock=clock) as store:
                await store.put_survey(survey)
                for i, locale in enumerate(("en", "hi")):
                    invitation = sample_invitation(
                        survey, channel="sms", address=UK, locale=locale, invitation_id=f"i{i}"
                    )
                    item = OutboxItem(
                        id=invitation.id,
                        invitation_id=invitation.id,
                        channel="sms",
                        state=OutboxState.PENDING,
                        due_at=clock.now(),
                    )
                    await store.add_invitation(invitation, outbox=[item])
                report = await Dispatcher(store, {"sms": sms}, clock=clock).run_once()
            await sms.aclose()
            return report

        report = asyncio.run(go())
        costs = {o.invitation_id: o.cost for o in report.outcomes}  # type: ignore[attr-defined]
        assert costs["i0"].amount == Decimal("0.05")  # one GSM-7 segment
        assert costs["i1"].amount > Decimal("0.05")  # Hindi: UCS-2, several segments
        assert report.estimated_cost() == {"USD": costs["i0"].amount + costs["i1"].amount}  # type: ignore[attr-defined]
        assert "estimated cost" in str(report)


class TestAuthoring:
    def test_a_curly_quote_is_named_when_the_survey_is_checked(self):
        """The registry's survey check names the character that forces UCS-2, for sms only."""
        survey = Survey(
            id="s",
            title={"en": "Your visit"},
            questions=[TextQuestion(id="why", text={"en": "What\u2019s the main reason?"})],
        )
        problems = ChannelRegistry().check_survey(survey, ["sms", "whatsapp"])
        assert len(problems) == 1
        assert problems[0].path == "questions[0].text.en"
        assert problems[0].message.startswith("channel 'sms':")
        assert "\u2019" in problems[0].message


class TestNumbersAtTheEdge:
    def test_a_bad_number_in_an_audience_is_refused_naming_its_row(self):
        """Before anything is queued: the audience names the row and column of a bad number."""
        audience = io.StringIO(
            "id,phone,timezone\nC-1,+919812345678,Asia/Kolkata\nC-2,09812345678,Asia/Kolkata\n"
        )
        rows = list(read_audience(audience, surveys=["sample_nps"]))
        assert [r.customer is not None for r in rows] == [True, False]
        assert [str(e) for e in rows[1].errors] == [
            (
                "row 3, column 'phone': '09812345678' is not an E.164 phone number "
                "(expected e.g. '+919812345678')"
            )
        ]
