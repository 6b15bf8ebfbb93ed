"""The conformance suite every channel runs: subclass :class:`ChannelConformance`.

.. code-block:: python

    import contextlib
    from cxcore.testing import ChannelConformance, ChannelHarness

    class TestMyChannel(ChannelConformance):
        channel_name = "mychannel"          # the entry point it must be found under
        address = "+919812345678"

        @contextlib.asynccontextmanager
        async def open_channel(self):
            sink = await start_my_provider_emulator()     # real parts, on loopback
            channel = MyChannel(endpoint=sink.url)
            try:
                yield ChannelHarness(channel, delivered=sink.recipients)
            finally:
                await channel.aclose()
                await sink.stop()

The tests are plain methods that run their own event loop, so the suite needs
no pytest plugin and works with whatever the channel's tests already use.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any, ClassVar

import attrs

from cxcore.errors import ChannelClosedError, InboundError
from cxcore.model import AddressKind, Invitation, Survey
from cxcore.model.survey import AnswerValue
from cxcore.ports.channel import (
    AnswersReceived,
    Capabilities,
    Channel,
    InboundEvent,
    InboundRequest,
    OptOutReceived,
    OutboundMessage,
    StatusReceived,
)
from cxcore.ports.registry import ChannelRegistry
from cxcore.testing.samples import sample_invitation, sample_surveys

__all__ = ["ChannelConformance", "ChannelHarness"]

_HOSTILE_NAME = 'Asha <script>alert("x")</script>\r\nBcc: victim@example.com'
_GARBAGE = (
    InboundRequest(method="POST", url="https://cx.example.com/in", body=b""),
    InboundRequest(method="POST", url="https://cx.example.com/in", body=b"\xff\xfe\x00garbage"),
    InboundRequest(
        method="POST",
        url="https://cx.example.com/in",
        headers={"content-type": "application/json"},
        body=b'{"token": [1, 2, 3], "answers": null}',
    ),
    InboundRequest(method="GET", url="https://cx.example.com/in?token=&q.ltr=eleven"),
)


@attrs.define
class ChannelHarness:
    """A channel under test, and a way to see what reached the provider's side.

    Args:
        channel: The channel, configured to talk to a real provider stand-in.
        delivered: Returns the recipient address of every message that reached
            the stand-in so far, in order (``None`` for address-less channels).

    .. versionadded:: 0.1.0
    """

    channel: Channel
    delivered: Callable[[], Awaitable[Sequence[str | None]]]


def _run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(coro)


class ChannelConformance(abc.ABC):
    """Tests every channel must pass. Subclass it as ``TestXxx`` in your test suite.

    Set :attr:`address` (and :attr:`channel_name` to check the entry point),
    implement :meth:`open_channel`, and, for two-way channels, :meth:`answer_request`.

    .. versionadded:: 0.1.0
    """

    channel_name: ClassVar[str | None] = None
    """The entry-point name the channel is registered under; ``None`` skips that check."""

    address: ClassVar[str | None] = "asha@example.in"
    """The recipient used in tests, of the kind the channel sends to."""

    @abc.abstractmethod
    def open_channel(self) -> contextlib.AbstractAsyncContextManager[ChannelHarness]:
        """Start the provider stand-in and the channel; stop both on exit."""

    def answer_request(
        self, message: OutboundMessage, answers: Mapping[str, AnswerValue]
    ) -> InboundRequest | None:
        """Build the request a respondent answering *message* with *answers* produces.

        Two-way channels override this; returning ``None`` skips the round trip.
        """
        del message, answers
        return None

    # -- helpers ----------------------------------------------------------------

    def _invitations(self) -> list[tuple[Invitation, Survey]]:
        channel = self.channel_name or "conformance"
        return [
            (
                sample_invitation(
                    survey,
                    channel=channel,
                    address=self.address,
                    locale=locale,
                    invitation_id=f"inv-{survey.id}-{locale}",
                    token=f"tok.{survey.id}.{locale}",
                ),
                survey,
            )
            for survey in sample_surveys()
            for locale in ("en", "hi")
        ]

    @contextlib.asynccontextmanager
    async def _harness(self) -> AsyncIterator[ChannelHarness]:
        async with self.open_channel() as harness:
            yield harness

    # -- the tests ----------------------------------------------------------------

    def test_capabilities_are_declared(self) -> None:
        """The channel class declares frozen Capabilities that fit its address kind."""

        async def check() -> None:
            async with self._harness() as h:
                caps = type(h.channel).capabilities
                assert isinstance(caps, Capabilities), f"capabilities is {caps!r}"
                hash(caps)  # frozen values hash
                if caps.address is AddressKind.NONE:
                    assert self.address is None, (
                        "an address-less channel is tested without an address"
                    )

        _run(check())

    def test_entry_point_resolves_to_the_channel(self) -> None:
        """The channel is discovered through the ``cxcore.channels`` entry-point group."""
        if self.channel_name is None:
            import pytest  # noqa: PLC0415 - only the suite's runner needs it

            pytest.skip("channel_name is not set: the entry point is not checked")

        async def check() -> None:
            async with self._harness() as h:
                found = ChannelRegistry().get(self.channel_name or "")
                assert found is type(h.channel), f"entry point gives {found!r}"

        _run(check())

    def test_renders_every_question_kind_in_every_locale(self) -> None:
        """Every sample survey renders in English and Hindi, within declared formats and length."""

        async def check() -> None:
            async with self._harness() as h:
                caps = type(h.channel).capabilities
                for invitation, survey in self._invitations():
                    message = h.channel.render(invitation, survey)
                    assert isinstance(message, OutboundMessage)
                    assert message.invitation_id == invitation.id
                    assert message.to == invitation.address
                    assert message.parts, "a message needs at least one part"
                    unknown = set(message.parts) - caps.formats
                    assert not unknown, f"parts {unknown} are not among the declared formats"
                    for media_type, body in message.parts.items():
                        assert body.strip(), f"{media_type} part is empty"
                        if caps.max_length is not None:
                            assert len(body) <= caps.max_length, (
                                f"{media_type} part of {survey.id}/{invitation.locale} has "
                                f"{len(body)} characters (max {caps.max_length})"
                            )

        _run(check())

    def test_render_is_pure(self) -> None:
        """Rendering the same invitation twice gives equal messages."""

        async def check() -> None:
            async with self._harness() as h:
                for invitation, survey in self._invitations():
                    assert h.channel.render(invitation, survey) == h.channel.render(
                        invitation, survey
                    )

        _run(check())

    def test_hostile_names_cannot_inject(self) -> None:
        """A name with markup and line breaks never reaches headers or markup raw."""

        async def check() -> None:
            async with self._harness() as h:
                survey = sample_surveys()[0]
                invitation = sample_invitation(
                    survey,
                    channel=self.channel_name or "conformance",
                    address=self.address,
                    name=_HOSTILE_NAME,
                )
                message = h.channel.render(invitation, survey)
                for value in (message.subject or "", *message.headers.values()):
                    assert "\r" not in value, f"carriage return in {value!r}"
                    assert "\n" not in value, f"line feed in {value!r}"
                for media_type, body in message.parts.items():
                    if "html" in media_type:
                        assert "<script>alert" not in body, f"unescaped markup in {media_type}"

        _run(check())

    def test_send_delivers_to_the_provider(self) -> None:
        """A sent message reaches the provider's side, addressed to the recipient."""

        async def check() -> None:
            async with self._harness() as h:
                invitation, survey = self._invitations()[0]
                result = await h.channel.send(h.channel.render(invitation, survey))
                assert result.invitation_id == invitation.id
                assert list(await h.delivered()) == [invitation.address]

        _run(check())

    def test_send_after_aclose_is_refused(self) -> None:
        """After aclose (which may be called twice), send raises ChannelClosedError."""

        async def check() -> None:
            async with self._harness() as h:
                invitation, survey = self._invitations()[0]
                message = h.channel.render(invitation, survey)
                await h.channel.aclose()
                await h.channel.aclose()
                try:
                    await h.channel.send(message)
                except ChannelClosedError:
                    pass
                else:
                    raise AssertionError("send after aclose did not raise ChannelClosedError")

        _run(check())

    def test_parse_inbound_rejects_garbage_cleanly(self) -> None:
        """Malformed requests give events or InboundError, never another exception."""

        async def check() -> None:
            async with self._harness() as h:
                for request in _GARBAGE:
                    try:
                        events = h.channel.parse_inbound(request)
                    except InboundError:
                        continue
                    for event in events:
                        assert isinstance(event, AnswersReceived | OptOutReceived | StatusReceived)

        _run(check())

    def test_answers_round_trip(self) -> None:
        """For two-way channels, a respondent's answer comes back as AnswersReceived."""

        async def check() -> None:
            async with self._harness() as h:
                if not type(h.channel).capabilities.two_way:
                    return
                invitation, survey = self._invitations()[0]
                message = h.channel.render(invitation, survey)
                request = self.answer_request(message, {"ltr": 9})
                if request is None:
                    return
                events: Sequence[InboundEvent] = h.channel.parse_inbound(request)
                answers = [e for e in events if isinstance(e, AnswersReceived)]
                assert len(answers) == 1, f"expected one AnswersReceived, got {events!r}"
                (event,) = answers
                assert dict(event.answers) == {"ltr": 9}
                assert event.token == invitation.token or event.address == invitation.address

        _run(check())
