"""The test kit cxcore ships: the fake channel, capture, fakes by name, the conformance suite."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import ClassVar
from urllib.parse import urlencode

import pytest

from cxcore import (
    AddressKind,
    AnswersReceived,
    Capabilities,
    ChannelClosedError,
    ChannelError,
    ChannelRegistry,
    InboundError,
    InboundRequest,
    Invitation,
    ManualClock,
    OptOutReceived,
    OutboundMessage,
    SendError,
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


class TestTheSuiteCatchesBugs:
    """The conformance suite fails channels that misbehave."""

    @contextlib.asynccontextmanager
    async def leaky(self) -> AsyncIterator[ChannelHarness]:
        channel = LeakyChannel()

        async def delivered() -> list[str | None]:
            return [d.message.to for d in channel.deliveries]

        yield ChannelHarness(channel, delivered)

    def suite(self) -> ChannelConformance:
        outer = self

        class Suite(ChannelConformance):
            def open_channel(self) -> contextlib.AbstractAsyncContextManager[ChannelHarness]:
                return outer.leaky()

        return Suite()

    def test_header_injection_and_markup_are_caught(self):
        """A raw name in a subject or HTML fails the hostile-name test."""
        with pytest.raises(AssertionError, match="carriage return"):
            self.suite().test_hostile_names_cannot_inject()

    def test_overlong_parts_are_caught(self):
        """A part longer than max_length fails the rendering test."""
        with pytest.raises(AssertionError, match="max 40"):
            self.suite().test_renders_every_question_kind_in_every_locale()

    def test_sending_after_close_is_caught(self):
        """A channel that keeps sending after aclose fails."""
        with pytest.raises(AssertionError, match="did not raise ChannelClosedError"):
            self.suite().test_send_after_aclose_is_refused()

    def test_wrong_entry_point_is_caught(self):
        """A channel_name that does not resolve to the class fails."""
        suite = self.suite()
        type(suite).channel_name = "not-installed-anywhere"
        with pytest.raises(ChannelError):
            suite.test_entry_point_resolves_to_the_channel()


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
