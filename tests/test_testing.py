"""The test kit cxcore ships: the fake channel, capture, fakes by name, the conformance suite."""

from __future__ import annotations

import asyncio
import contextlib
import unittest
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import ClassVar
from urllib.parse import urlencode

import attrs
import pytest

from cxcore import (
    AddressKind,
    AnswersReceived,
    Capabilities,
    ChannelClosedError,
    ChannelError,
    ChannelRegistry,
    InboundError,
    InboundEvent,
    InboundRequest,
    Invitation,
    ManualClock,
    OptOutReceived,
    OutboundMessage,
    SendError,
    SendResult,
    Survey,
    SystemClock,
    ValidationError,
)
from cxcore.model.survey import AnswerValue
from cxcore.testing import (
    ChannelConformance,
    ChannelHarness,
    FakeChannel,
    capture_deliveries,
    fake_channels,
    sample_invitation,
    sample_surveys,
)


def post(fields: Sequence[tuple[str, str]]) -> InboundRequest:
    return InboundRequest(
        method="POST", url="https://cx.example.com/r", body=urlencode(fields).encode()
    )


class TestFakeChannelConformance(ChannelConformance):
    """The fake channel passes the suite every channel must pass."""

    @contextlib.asynccontextmanager
    async def open_channel(self) -> AsyncIterator[ChannelHarness]:
        channel = FakeChannel()

        async def delivered() -> list[str | None]:
            return [d.message.to for d in channel.deliveries]

        yield ChannelHarness(channel, delivered)

    def answer_request(
        self, message: OutboundMessage, answers: Mapping[str, AnswerValue]
    ) -> InboundRequest:
        # The respondent clicks the link in the message that carries their score.
        (link,) = [
            line
            for line in message.parts["text/plain"].splitlines()
            if line.startswith(f"  {answers['ltr']}:")
        ]
        return InboundRequest(method="GET", url=link.split(": ", 1)[1])


class LeakyChannel(FakeChannel):
    """A channel with the bugs the suite exists to catch."""

    capabilities: ClassVar[Capabilities] = Capabilities(
        formats={"text/plain", "text/html"}, address=AddressKind.EMAIL, max_length=40
    )

    def render(self, invitation: Invitation, survey: Survey) -> OutboundMessage:
        return OutboundMessage(
            invitation_id=invitation.id,
            channel=invitation.channel,
            to=invitation.address,
            parts={"text/html": f"<p>Dear {invitation.name}, please answer our survey today</p>"},
            subject=f"Hello {invitation.name}",
        )

    async def aclose(self) -> None:
        """Forgets to refuse later sends."""


class ImpureChannel(FakeChannel):
    """Stamps each render with a counter: the same invitation renders differently."""

    def __init__(self) -> None:
        super().__init__()
        self.renders = 0

    def render(self, invitation: Invitation, survey: Survey) -> OutboundMessage:
        message = super().render(invitation, survey)
        self.renders += 1
        text = message.parts["text/plain"] + f"\nref {self.renders}"
        return attrs.evolve(message, parts={"text/plain": text})


class MisaddressedChannel(FakeChannel):
    """Sends Hindi invitations to a fixed address instead of the invitation's."""

    def render(self, invitation: Invitation, survey: Survey) -> OutboundMessage:
        message = super().render(invitation, survey)
        if invitation.locale == "hi":
            return attrs.evolve(message, to="support@bazaar.example")
        return message


class CrashingParser(FakeChannel):
    """Reads the token without checking it is there: garbage crashes it."""

    def parse_inbound(self, request: InboundRequest) -> list[InboundEvent]:
        token = request.form()["token"][0]
        return [AnswersReceived(token=token, answers={"ltr": 9}, complete=True)]


class ForgetfulLookup(FakeChannel):
    """Claims the provider has every message, sent or not."""

    async def lookup(self, message: OutboundMessage) -> SendResult | None:
        return SendResult(invitation_id=message.invitation_id, provider_id="fake-1")


class FakeWithLookup(FakeChannel):
    """Looks a message up among what it delivered, as a provider's API would."""

    async def lookup(self, message: OutboundMessage) -> SendResult | None:
        for delivery in self.deliveries:
            if delivery.message.invitation_id == message.invitation_id:
                return delivery.result
        return None


def suite_for(channel_class: type[FakeChannel], *, answers: bool = True) -> ChannelConformance:
    """The conformance suite run against a fresh *channel_class* each time."""

    class Suite(ChannelConformance):
        @contextlib.asynccontextmanager
        async def open_channel(self) -> AsyncIterator[ChannelHarness]:
            channel = channel_class()

            async def delivered() -> list[str | None]:
                return [d.message.to for d in channel.deliveries]

            yield ChannelHarness(channel, delivered)

        def answer_request(
            self, message: OutboundMessage, given: Mapping[str, AnswerValue]
        ) -> InboundRequest | None:
            if not answers:
                return super().answer_request(message, given)
            return TestFakeChannelConformance.answer_request(self, message, given)  # type: ignore[arg-type]

    return Suite()


class TestTheSuiteCatchesBugs:
    """The conformance suite fails channels that misbehave, naming the check, survey and locale."""

    def failure(self, channel_class: type[FakeChannel], test: str, **options: bool) -> str:
        with pytest.raises(AssertionError) as caught:
            getattr(suite_for(channel_class, **options), test)()
        return str(caught.value)

    def test_header_injection_is_caught(self):
        """A raw name in a subject fails the hostile-name test, saying where the line break went."""
        assert self.failure(LeakyChannel, "test_hostile_names_cannot_inject") == (
            "test_hostile_names_cannot_inject [survey 'sample_nps', locale 'en']: a carriage "
            "return from the respondent's name is in subject: "
            """'Hello Asha <script>alert("x")</script>\\r\\nBcc: victim@example.com'"""
        )

    def test_overlong_parts_are_caught(self):
        """A part longer than max_length fails the rendering test, with its length."""
        message = self.failure(LeakyChannel, "test_renders_every_question_kind_in_every_locale")
        assert message == (
            "test_renders_every_question_kind_in_every_locale [survey 'sample_nps', locale 'en']: "
            "the text/html part has 48 characters (max 40)"
        )

    def test_sending_after_close_is_caught(self):
        """A channel that keeps sending after aclose fails."""
        assert self.failure(LeakyChannel, "test_send_after_aclose_is_refused") == (
            "test_send_after_aclose_is_refused [survey 'sample_nps', locale 'en']: "
            "send after aclose did not raise ChannelClosedError"
        )

    def test_impure_render_is_caught_with_the_difference(self):
        """Two renders that differ fail the purity test, showing where they differ."""
        assert self.failure(ImpureChannel, "test_render_is_pure") == (
            "test_render_is_pure [survey 'sample_nps', locale 'en']: rendering twice gave "
            "different messages (render must be pure: no clock, no randomness, no I/O): "
            "parts['text/plain'] differs at character 865: "
            "...'?token=tok.sample_nps.en\\n\\nref 1' then ...'?token=tok.sample_nps.en\\n\\nref 2'"
        )

    def test_wrong_recipient_is_caught_in_its_locale(self):
        """A message to someone else fails, naming the survey and the locale it happened in."""
        assert self.failure(
            MisaddressedChannel, "test_renders_every_question_kind_in_every_locale"
        ) == (
            "test_renders_every_question_kind_in_every_locale [survey 'sample_nps', locale 'hi']: "
            "message.to is 'support@bazaar.example' (expected the invitation's address "
            "'asha@example.in')"
        )

    def test_a_crash_in_parse_inbound_names_the_request(self):
        """An exception other than InboundError fails, naming the request that caused it."""
        message = self.failure(CrashingParser, "test_parse_inbound_rejects_garbage_cleanly")
        assert message == (
            "test_parse_inbound_rejects_garbage_cleanly: parse_inbound raised KeyError: 'token' "
            "on the request POST https://cx.example.com/in (no headers; body b'') (expected "
            "events, or InboundError for a request it cannot use)"
        )

    def test_a_two_way_channel_without_answer_request_fails(self):
        """answer_request left returning None fails the round trip of a two-way channel."""
        message = self.failure(FakeChannel, "test_answers_round_trip", answers=False)
        assert message.startswith(
            "test_answers_round_trip [survey 'sample_nps', locale 'en']: the channel is two-way, "
            "but answer_request returned None (override it"
        )

    def test_a_lookup_that_finds_what_was_never_sent_fails(self):
        """A DeliveryLookup that claims a never-sent message fails, naming that message's locale."""
        message = self.failure(ForgetfulLookup, "test_delivery_lookup_finds_what_was_sent")
        assert message.startswith(
            "test_delivery_lookup_finds_what_was_sent [survey 'sample_nps', locale 'hi']: "
            "lookup of a message never sent returned SendResult("
        )
        assert message.endswith("(expected None)")

    def test_wrong_entry_point_is_caught(self):
        """A channel_name that does not resolve to the class fails, naming it."""
        suite = suite_for(FakeChannel)
        type(suite).channel_name = "not-installed-anywhere"
        with pytest.raises(
            AssertionError, match="channel_name 'not-installed-anywhere' is not found"
        ):
            suite.test_entry_point_resolves_to_the_channel()

    def test_checks_that_do_not_apply_are_skipped_with_a_reason(self):
        """No channel_name, no lookup: those tests raise unittest.SkipTest, saying why."""
        suite = suite_for(FakeChannel)
        with pytest.raises(unittest.SkipTest, match="channel_name is not set"):
            suite.test_entry_point_resolves_to_the_channel()
        with pytest.raises(unittest.SkipTest, match="does not implement DeliveryLookup"):
            suite.test_delivery_lookup_finds_what_was_sent()

    def test_a_good_lookup_passes(self):
        """A channel whose lookup finds what it sent, and only that, passes the lookup test."""
        suite_for(FakeWithLookup).test_delivery_lookup_finds_what_was_sent()


class TestFakeChannel:
    def test_fail_next_raises_queued_errors_in_order(self):
        """Queued failures are raised one per send, then sending works again."""
        survey = sample_surveys()[0]
        channel = FakeChannel()
        message = channel.render(sample_invitation(survey), survey)
        channel.fail_next(
            SendError("421 busy", retryable=True), SendError("550 no such user", suppress=True)
        )

        async def scenario() -> list[str]:
            outcomes = []
            for _ in range(3):
                try:
                    result = await channel.send(message)
                except SendError as exc:
                    outcomes.append(f"{exc} retryable={exc.retryable} suppress={exc.suppress}")
                else:
                    outcomes.append(f"sent {result.provider_id}")
            return outcomes

        assert asyncio.run(scenario()) == [
            "421 busy retryable=True suppress=False",
            "550 no such user retryable=False suppress=True",
            "sent fake-1",
        ]

    def test_send_error_cannot_be_ambiguous_and_retryable(self):
        """An outcome that may already have happened is never blindly retried."""
        with pytest.raises(ValueError, match="both ambiguous and retryable"):
            SendError("timeout", ambiguous=True, retryable=True)

    def test_render_refuses_a_survey_the_invitation_is_not_for(self):
        """Rendering the wrong survey is a clear error."""
        nps, csat = sample_surveys()[:2]
        with pytest.raises(
            ChannelError, match="is for survey 'sample_nps' v1, not 'sample_csat' v1"
        ):
            FakeChannel().render(sample_invitation(nps), csat)

    def test_render_uses_the_invitation_locale(self):
        """Hindi invitations get Hindi text, with a link per score."""
        survey = sample_surveys()[0]
        text = (
            FakeChannel().render(sample_invitation(survey, locale="hi"), survey).parts["text/plain"]
        )
        assert "हम कैसा कर रहे हैं?" in text
        assert text.count("&q.ltr=") == 11

    def test_parse_inbound(self):
        """Answers, several choices and opt-outs are read; malformed posts are InboundError."""
        channel = FakeChannel()
        (event,) = channel.parse_inbound(
            post(
                [
                    ("token", "t1"),
                    ("q.mood", "2"),
                    ("q.issue", "late"),
                    ("q.issue", "rude"),
                    ("complete", "1"),
                ]
            )
        )
        assert event == AnswersReceived(
            token="t1", answers={"mood": 2, "issue": ("late", "rude")}, complete=True
        )
        assert channel.parse_inbound(post([("stop", "1"), ("address", "+919812345678")])) == [
            OptOutReceived(address="+919812345678", keyword="STOP")
        ]
        for fields in (
            [("q.ltr", "9")],
            [("token", "t1")],
            [("token", "a"), ("token", "b"), ("q.x", "1")],
        ):
            with pytest.raises(InboundError):
                channel.parse_inbound(post(fields))

    def test_opt_out_needs_an_address_or_a_token(self):
        """An opt-out that names nobody is refused."""
        with pytest.raises(ValidationError, match="needs an address or a token"):
            OptOutReceived(keyword="STOP")

    def test_inbound_request_repr_hides_the_body(self):
        """Requests carry personal data: the repr shows only method, path and size."""
        assert repr(post([("token", "secret")])) == "InboundRequest(POST /r, 12 bytes)"


class TestCapture:
    def test_nested_captures_both_see_deliveries(self):
        """Inner and outer blocks each collect what was sent while they were open."""
        survey = sample_surveys()[0]
        channel = FakeChannel()
        first = channel.render(sample_invitation(survey, invitation_id="a"), survey)
        second = channel.render(sample_invitation(survey, invitation_id="b"), survey)
        with capture_deliveries() as outer:
            asyncio.run(channel.send(first))
            with capture_deliveries() as inner:
                asyncio.run(channel.send(second))
        asyncio.run(channel.send(first))
        assert [d.message.invitation_id for d in outer] == ["a", "b"]
        assert [d.message.invitation_id for d in inner] == ["b"]

    def test_fake_channels_keep_real_capabilities(self):
        """fake_channels() serves fakes under real names, with the real channel's capabilities."""

        class Sms(FakeChannel):
            capabilities: ClassVar[Capabilities] = Capabilities(
                formats={"text/sms"}, address=AddressKind.PHONE, max_length=160
            )

        registry = ChannelRegistry(discover=False)
        registry.register("sms", Sms)
        survey = sample_surveys()[0]
        with fake_channels(["sms", "email"], registry=registry) as sent:
            sms = registry.create("sms")
            assert type(sms).capabilities.address == AddressKind.PHONE
            assert type(sms) is not Sms
            asyncio.run(sms.send(sms.render(sample_invitation(survey, channel="sms"), survey)))
        assert [(d.channel, d.message.channel) for d in sent] == [("sms", "sms")]
        assert registry.get("sms") is Sms
        assert registry.names() == ["sms"]

    def test_closed_fake_refuses_to_send(self):
        """After aclose the fake raises ChannelClosedError."""
        survey = sample_surveys()[0]
        channel = FakeChannel()
        asyncio.run(channel.aclose())
        with pytest.raises(ChannelClosedError):
            asyncio.run(channel.send(channel.render(sample_invitation(survey), survey)))


class TestClocks:
    def test_manual_clock_moves_only_forward(self):
        """A manual clock advances on request and never goes back."""
        clock = ManualClock(datetime(2026, 3, 29, 0, 30, tzinfo=UTC))
        assert clock.advance(timedelta(hours=1)) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
        assert clock.advance(minutes=15).minute == 45
        with pytest.raises(ValueError, match="backwards"):
            clock.advance(timedelta(seconds=-1))
        with pytest.raises(ValueError, match="no time zone"):
            ManualClock(datetime(2026, 1, 1))  # noqa: DTZ001

    def test_system_clock_is_aware_utc(self):
        """The system clock tells aware UTC time."""
        now = SystemClock().now()
        assert now.utcoffset() == timedelta(0)
