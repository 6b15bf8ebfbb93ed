"""The SMS and WhatsApp channels: the real twilio SDK over real HTTP to a loopback emulator."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import urlencode

import attrs
import pytest
from twilio.request_validator import RequestValidator

from cxcore import (
    AnswersReceived,
    ChannelError,
    Disposition,
    InboundAuthError,
    InboundRequest,
    OptOutReceived,
    OutboundMessage,
    SendError,
    StatusReceived,
)
from cxcore.model.survey import AnswerValue
from cxcore.testing import ChannelConformance, ChannelHarness, sample_invitation, sample_surveys
from cxcore.testing.twilio import ACCOUNT, TOKEN, TwilioEmulator, serve_emulator
from cxcore_channels.sms import (
    PhoneNumberError,
    SmsChannel,
    SmsConfigError,
    TwilioTransport,
    WhatsAppChannel,
)
from cxcore_channels.sms.transport import _retry_after

PUBLIC = "https://cx.bazaar.example.in"
UK = "+447700900123"
INDIA = "+919812345678"


@pytest.fixture(scope="module")
def emulator() -> Iterator[TwilioEmulator]:
    with serve_emulator() as twilio:
        yield twilio


@pytest.fixture(autouse=True)
def _fresh(emulator: TwilioEmulator) -> None:
    emulator.messages.clear()
    emulator.plan.clear()
    emulator.unsubscribed.clear()
    emulator.outside_window.clear()
    emulator.creates = 0


def sms(
    emulator: TwilioEmulator, cls: type[SmsChannel] = SmsChannel, **options: object
) -> SmsChannel:
    options.setdefault("from_number", "+15005550006")
    name = "whatsapp" if cls is WhatsAppChannel else "sms"
    return cls(
        account_sid=ACCOUNT,
        auth_token=TOKEN,
        base_url=PUBLIC,
        inbound_url=f"{PUBLIC}/c/{name}",
        http_client=TwilioTransport(base_url=emulator.url, backoff=0.01, timeout=1.0),
        **options,  # type: ignore[arg-type]
    )


def signed(url: str, params: Mapping[str, str], token: str = TOKEN) -> InboundRequest:
    signature = RequestValidator(token).compute_signature(url, dict(params))
    return InboundRequest(
        method="POST",
        url=url,
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "x-twilio-signature": signature,
        },
        body=urlencode(params).encode(),
    )


_EMULATOR: list[TwilioEmulator] = []


@pytest.fixture(autouse=True)
def _shared(emulator: TwilioEmulator) -> None:
    _EMULATOR[:] = [emulator]


class TestSmsConformance(ChannelConformance):
    """The conformance suite, against the emulator."""

    channel_name = "sms"
    address = UK

    @contextlib.asynccontextmanager
    async def open_channel(self) -> AsyncIterator[ChannelHarness]:
        twilio = _EMULATOR[0]
        channel = sms(twilio)

        async def delivered() -> list[str | None]:
            return [m.to for m in twilio.outbound()]

        try:
            yield ChannelHarness(channel, delivered=delivered)
        finally:
            await channel.aclose()

    def answer_request(
        self, message: OutboundMessage, answers: Mapping[str, AnswerValue]
    ) -> InboundRequest | None:
        (value,) = answers.values()
        return signed(
            f"{PUBLIC}/c/sms",
            {
                "MessageSid": "SM" + "a" * 32,
                "From": message.to or "",
                "To": "+15005550006",
                "Body": str(value),
            },
        )


class TestWhatsAppConformance(ChannelConformance):
    """The conformance suite for WhatsApp: the answer comes back as a quick-reply button."""

    channel_name = "whatsapp"
    address = INDIA

    @contextlib.asynccontextmanager
    async def open_channel(self) -> AsyncIterator[ChannelHarness]:
        twilio = _EMULATOR[0]
        channel = sms(twilio, WhatsAppChannel)

        async def delivered() -> list[str | None]:
            return [m.to.removeprefix("whatsapp:") for m in twilio.outbound()]

        try:
            yield ChannelHarness(channel, delivered=delivered)
        finally:
            await channel.aclose()

    def answer_request(
        self, message: OutboundMessage, answers: Mapping[str, AnswerValue]
    ) -> InboundRequest | None:
        ((question, value),) = answers.items()
        return signed(
            f"{PUBLIC}/c/whatsapp",
            {
                "MessageSid": "SM" + "b" * 32,
                "From": f"whatsapp:{message.to}",
                "To": "whatsapp:+15005550006",
                "Body": str(value),
                "ButtonText": str(value),
                "ButtonPayload": f"{question}={value}",
            },
        )


def _nps() -> tuple[object, object]:
    survey = sample_surveys()[0]
    return survey, sample_invitation(survey, channel="sms", address=UK)


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


class TestRender:
    def test_reply_style_asks_for_a_number(self, emulator):
        """An NPS invitation asks for a reply from 0 to 10, with the status callback and STOP hint."""
        survey, invitation = _nps()
        message = sms(emulator).render(invitation, survey)  # type: ignore[arg-type]
        body = message.parts["text/plain"]
        assert "Reply with a number from 0 to 10." in body
        assert body.endswith("Reply STOP to opt out.")
        assert message.headers["StatusCallback"] == f"{PUBLIC}/c/sms/status?i=inv-0001"

    def test_link_style_links_to_the_survey_page(self, emulator):
        """With style="link" the message carries the short link to the survey page."""
        survey, invitation = _nps()
        message = sms(emulator, style="link").render(invitation, survey)  # type: ignore[arg-type]
        assert f"{PUBLIC}/s/tok.sample.0001" in message.parts["text/plain"]

    def test_short_links_link_with_the_invitation_s_short_code(self, emulator):
        """short_links: the /l/<code> link, in fewer segments; without a code, the long link."""
        survey = sample_surveys()[0]
        coded = attrs.evolve(
            sample_invitation(survey, channel="sms", address=UK),
            token="t" * 85,
            short_code="Ab3dE9xK2mQ7",
        )
        plain = sms(emulator, style="link").render(coded, survey).parts["text/plain"]
        shortened = sms(emulator, style="link", short_links=True)
        text = shortened.render(coded, survey).parts["text/plain"]
        assert f"{PUBLIC}/l/Ab3dE9xK2mQ7" in text
        assert "t" * 85 not in text
        assert len(plain) - len(text) == len("s/" + "t" * 85) - len("l/Ab3dE9xK2mQ7")
        uncoded = shortened.render(attrs.evolve(coded, short_code=None), survey)
        assert f"{PUBLIC}/s/{'t' * 85}" in uncoded.parts["text/plain"]

    def test_a_bad_number_is_refused_naming_the_invitation(self, emulator):
        """A number that is not E.164 is refused at render, before anything is sent."""
        survey = sample_surveys()[0]
        invitation = sample_invitation(survey, channel="sms", address="09812345678")
        with pytest.raises(PhoneNumberError, match="invitation 'inv-0001': address: '09812345678'"):
            sms(emulator).render(invitation, survey)

    def test_settings_are_checked(self, emulator):
        """A channel without sender, or with a malformed one, is refused naming the setting."""
        with pytest.raises(SmsConfigError, match="from_number and messaging_service_sid"):
            sms(emulator, from_number=None)
        with pytest.raises(SmsConfigError, match=r"from_number: '\+0123' is not an E.164"):
            sms(emulator, from_number="+0123")
        with pytest.raises(SmsConfigError, match="messaging_service_sid"):
            sms(emulator, messaging_service_sid="XX1")
        with pytest.raises(SmsConfigError, match="api_base_url and http_client"):
            sms(emulator, api_base_url="http://127.0.0.1:1")


class TestSendErrors:
    def send(self, channel: SmsChannel) -> object:
        survey, invitation = _nps()

        async def go() -> object:
            try:
                return await channel.send(channel.render(invitation, survey))  # type: ignore[arg-type]
            finally:
                await channel.aclose()

        return run(go())

    def test_21610_suppresses_and_is_never_retried(self, emulator):
        """An unsubscribed number: suppress, one POST only."""
        emulator.unsubscribed.add(UK)
        with pytest.raises(SendError) as caught:
            self.send(sms(emulator))
        assert caught.value.suppress
        assert not caught.value.retryable
        assert caught.value.code == "21610"
        assert emulator.creates == 1

    def test_429_is_retried_honouring_retry_after(self, emulator):
        """429 then success: the transport waited Retry-After's seconds, one message exists."""
        waits: list[float] = []

        async def sleep(seconds: float) -> None:
            waits.append(seconds)

        emulator.plan.extend([("429", 3), ("429", 1)])
        channel = sms(emulator)
        channel.http = channel.client.http_client = TwilioTransport(
            base_url=emulator.url, sleep=sleep
        )
        result = self.send(channel)
        assert waits == [3.0, 1.0]
        assert emulator.creates == 3
        assert [m.sid for m in emulator.outbound()] == [result.provider_id]  # type: ignore[attr-defined]

    def test_429_beyond_the_attempts_is_retryable(self, emulator):
        """Still 429 after every attempt: a retryable SendError for the dispatcher's backoff."""
        emulator.plan.extend([("429", 0)] * 4)
        with pytest.raises(SendError) as caught:
            self.send(sms(emulator))
        assert caught.value.retryable
        assert emulator.outbound() == []

    def test_500_after_accept_is_ambiguous_and_not_reposted(self, emulator):
        """A 5xx on create: ambiguous, one POST only; the lookup then finds the message."""
        emulator.plan.append("500-after-accept")
        channel = sms(emulator)
        with pytest.raises(SendError) as caught:
            self.send(channel)
        assert caught.value.ambiguous
        assert emulator.creates == 1
        survey, invitation = _nps()

        async def look() -> object:
            again = sms(emulator)
            try:
                return await again.lookup(again.render(invitation, survey))  # type: ignore[arg-type]
            finally:
                await again.aclose()

        found = run(look())
        assert found is not None
        assert found.provider_id == emulator.outbound()[0].sid  # type: ignore[attr-defined]

    def test_a_timeout_is_ambiguous(self, emulator):
        """No answer within the timeout: ambiguous (Twilio may have it)."""
        emulator.plan.append("slow")
        channel = sms(emulator)
        channel.http = channel.client.http_client = TwilioTransport(
            base_url=emulator.url, timeout=0.3
        )
        with pytest.raises(SendError) as caught:
            self.send(channel)
        assert caught.value.ambiguous

    def test_wrong_credentials_say_so(self, emulator):
        """20003: the message names the credentials; retryable, since the address is not at fault."""
        channel = SmsChannel(
            account_sid=ACCOUNT,
            auth_token="wrong",
            from_number="+15005550006",
            base_url=PUBLIC,
            inbound_url=f"{PUBLIC}/c/sms",
            api_base_url=emulator.url,
        )
        with pytest.raises(SendError, match=r"20003.*check account_sid and auth_token") as caught:
            self.send(channel)
        assert caught.value.retryable
        assert not caught.value.suppress

    def test_a_refused_connection_is_retryable(self):
        """Nothing listens: the request never left, so it is safe to retry."""
        channel = SmsChannel(
            account_sid=ACCOUNT,
            auth_token=TOKEN,
            from_number="+15005550006",
            base_url=PUBLIC,
            inbound_url=f"{PUBLIC}/c/sms",
            http_client=TwilioTransport(base_url="http://127.0.0.1:9", backoff=0.001),
        )
        with pytest.raises(SendError) as caught:
            self.send(channel)
        assert caught.value.retryable

    def test_whatsapp_outside_the_window_fails_without_suppressing(self, emulator):
        """63016: free-form outside 24 h fails, never retried, the number not suppressed."""
        emulator.outside_window.add(UK)
        with pytest.raises(SendError, match=r"63016.*template") as caught:
            self.send(sms(emulator, WhatsAppChannel))
        assert not caught.value.retryable
        assert not caught.value.suppress

    def test_whatsapp_template_goes_with_its_content_sid(self, emulator):
        """A configured survey is sent as its approved template, with its variables."""
        emulator.outside_window.add(UK)
        channel = sms(emulator, WhatsAppChannel, content_templates={"sample_nps": "HX" + "1" * 32})
        self.send(channel)
        (sent,) = emulator.outbound()
        assert sent.to == f"whatsapp:{UK}"
        assert sent.content_sid == "HX" + "1" * 32
        assert json.loads(sent.content_variables or "{}") == {
            "1": "Asha",
            "2": f"{PUBLIC}/s/tok.sample.0001",
        }


class TestInbound:
    def test_a_reply_is_read_with_its_message_sid(self, emulator):
        """A reply gives its text, its address and its MessageSid as the key."""
        (event,) = sms(emulator).parse_inbound(
            signed(f"{PUBLIC}/c/sms", {"MessageSid": "SM1", "From": UK, "Body": "9 great"})
        )
        assert event == AnswersReceived(token=None, address=UK, reply="9 great", key="SM1")

    @pytest.mark.parametrize("tamper", ["body", "url", "token", "missing"])
    def test_a_bad_signature_is_refused(self, emulator, tamper):
        """A tampered body, URL or token, or no signature, is an InboundAuthError."""
        params = {"MessageSid": "SM1", "From": UK, "Body": "STOP"}
        request = signed(f"{PUBLIC}/c/sms", params, token="other" if tamper == "token" else TOKEN)
        if tamper == "body":
            request = InboundRequest(
                method="POST",
                url=request.url,
                headers=dict(request.headers),
                body=request.body.replace(b"STOP", b"START"),
            )
        elif tamper == "url":
            request = InboundRequest(
                method="POST",
                url=f"{PUBLIC}/c/sms/other",
                headers=dict(request.headers),
                body=request.body,
            )
        elif tamper == "missing":
            request = InboundRequest(
                method="POST",
                url=request.url,
                headers={"content-type": "application/x-www-form-urlencoded"},
                body=request.body,
            )
        with pytest.raises(InboundAuthError):
            sms(emulator).parse_inbound(request)

    def test_statuses_map_to_dispositions(self, emulator):
        """delivered, read and failed map; 21610 in a callback is permanent; queued is nothing."""
        channel = sms(emulator)
        url = f"{PUBLIC}/c/sms/status?i=inv-1"

        def parse(status: str, code: str | None = None) -> list[object]:
            params = {"MessageSid": "SM9", "MessageStatus": status, "To": UK}
            if code:
                params["ErrorCode"] = code
            return list(channel.parse_inbound(signed(url, params)))

        assert parse("queued") == []
        (delivered,) = parse("delivered")
        assert delivered == StatusReceived(
            provider_id="SM9",
            disposition=Disposition.DELIVERED,
            invitation_id="inv-1",
            detail="delivered",
            address=UK,
        )
        (failed,) = parse("undelivered", "21610")
        assert isinstance(failed, StatusReceived)
        assert failed.permanent
        (window,) = parse("failed", "63016")
        assert isinstance(window, StatusReceived)
        assert not window.permanent

    def test_stop_opts_out_of_every_sms_sender(self, emulator):
        """STOP names the address, and the deployment's other SMS senders."""
        channel = sms(emulator, opt_out_also=["sms_promo"])
        (event,) = channel.parse_inbound(
            signed(f"{PUBLIC}/c/sms", {"MessageSid": "SM1", "From": UK, "Body": " stop "})
        )
        assert event == OptOutReceived(address=UK, keyword="STOP", also=("sms_promo",))

    def test_help_writes_nothing_and_answers_the_help_text(self, emulator):
        """HELP gives no event; the TwiML answer carries the help text."""
        channel = sms(emulator, help_reply="Bazaar surveys. STOP to end.")
        request = signed(f"{PUBLIC}/c/sms", {"MessageSid": "SM1", "From": UK, "Body": "help"})
        assert channel.parse_inbound(request) == []
        reply = channel.inbound_reply(request, [])
        assert reply is not None
        assert "<Message>Bazaar surveys. STOP to end.</Message>" in str(reply.body)


def test_a_template_message_is_not_matched_by_its_text(emulator):
    """A WhatsApp template's text is Twilio's: lookup says it cannot tell (the send stays unknown)."""
    survey, invitation = _nps()
    channel = sms(emulator, WhatsAppChannel, content_templates={"sample_nps": "HX" + "1" * 32})

    async def look() -> None:
        try:
            await channel.lookup(channel.render(invitation, survey))  # type: ignore[arg-type]
        finally:
            await channel.aclose()

    with pytest.raises(ChannelError, match="cannot be matched by its text"):
        run(look())


class TestTransport:
    @pytest.mark.parametrize(
        ("header", "expected"),
        [("7", 7.0), ("0", 0.0), ("-3", 0.0), ("soon", None), (None, None)],
    )
    def test_retry_after_in_seconds(self, header, expected):
        """Retry-After as a number of seconds; nonsense is no advice."""
        assert _retry_after(header) == expected

    def test_retry_after_as_an_http_date(self):
        """Retry-After as an HTTP date: the seconds until then."""
        when = datetime.now(UTC) + timedelta(seconds=30)
        wait = _retry_after(format_datetime(when, usegmt=True))
        assert wait is not None
        assert 25 <= wait <= 31

    def test_a_retry_after_beyond_max_wait_ends_the_retries(self, emulator):
        """Twilio asks for 10 minutes: the 429 goes back at once, for the dispatcher's backoff."""
        waits: list[float] = []

        async def sleep(seconds: float) -> None:
            waits.append(seconds)

        emulator.plan.append(("429", 600))
        channel = sms(emulator)
        channel.http = channel.client.http_client = TwilioTransport(
            base_url=emulator.url, sleep=sleep, max_wait=30
        )
        with pytest.raises(SendError) as caught:
            TestSendErrors().send(channel)
        assert caught.value.retryable
        assert waits == []
        assert emulator.creates == 1

    def test_base_url_must_be_absolute(self):
        """api_base_url that is not an http(s) URL is refused, naming the setting."""
        with pytest.raises(SmsConfigError, match="api_base_url"):
            TwilioTransport(base_url="127.0.0.1:8080")


def test_without_twilio_the_text_tools_work_and_the_channel_says_what_to_install():
    """The SDK is the sms extra's: its absence costs the channels only, with the command to run."""
    code = (
        "import sys\n"
        "sys.modules['twilio'] = None; sys.modules['aiohttp'] = None\n"
        "from cxcore_channels.sms import count_segments, keyword_of\n"
        "print(count_segments('STOP').parts, keyword_of(' stop ') is not None)\n"
        "try:\n"
        "    from cxcore_channels.sms import SmsChannel\n"
        "except ImportError as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert run.returncode == 0, run.stderr
    first, second = run.stdout.splitlines()
    assert first == "1 True"
    assert second.startswith("MissingDependencyError ")
    assert "pip install 'cxcore[sms]'" in second
    assert "SmsChannel" in second
