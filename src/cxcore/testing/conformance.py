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
import unittest
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any, ClassVar, NoReturn

import attrs

from cxcore.errors import ChannelClosedError, ChannelError, InboundError
from cxcore.model import AddressKind, Invitation, Survey
from cxcore.model.survey import AnswerValue
from cxcore.ports.channel import (
    AnswersReceived,
    Capabilities,
    Channel,
    DeliveryLookup,
    InboundEvent,
    InboundRequest,
    OptOutReceived,
    OutboundMessage,
    StatusReceived,
)
from cxcore.ports.registry import ChannelRegistry
from cxcore.replies import read_reply
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
_ANSWERS: Mapping[str, AnswerValue] = {"ltr": 9}
"""What the respondent answers in the round trip: a 9 to the NPS sample's question."""


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


@attrs.frozen
class _Check:
    """One check of the suite, on one survey in one locale: what a failure message names.

    The suite runs in the plugin's own test suite, where pytest does not rewrite
    the asserts of an installed package: every failure says itself what differed.
    """

    name: str
    survey: str | None = None
    locale: str | None = None

    @classmethod
    def of(cls, name: str, invitation: Invitation | None = None) -> _Check:
        if invitation is None:
            return cls(name)
        return cls(name, invitation.survey_id, invitation.locale)

    def __str__(self) -> str:
        if self.survey is None:
            return self.name
        return f"{self.name} [survey {self.survey!r}, locale {self.locale!r}]"

    def fail(self, what: str, cause: BaseException | None = None) -> NoReturn:
        raise AssertionError(f"{self}: {what}") from cause

    def expect(self, condition: bool, what: str) -> None:  # noqa: FBT001 - reads as an assert
        if not condition:
            self.fail(what)


def _short(text: str, at: int, width: int = 30) -> str:
    """The part of *text* around position *at*, as a repr."""
    start = max(0, at - width)
    return ("..." if start else "") + repr(text[start : at + width])


def _text_difference(name: str, a: str | None, b: str | None) -> str | None:
    if a == b:
        return None
    if a is None or b is None:
        return f"{name} is {a!r} the first time and {b!r} the second"
    at = next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )
    return f"{name} differs at character {at}: {_short(a, at)} then {_short(b, at)}"


def _message_differences(a: OutboundMessage, b: OutboundMessage) -> list[str]:
    """What differs between two renders of one invitation, field by field."""
    found = [
        _text_difference(field, getattr(a, field), getattr(b, field))
        for field in ("invitation_id", "channel", "to", "subject")
    ]
    if list(a.parts) != list(b.parts):
        found.append(f"parts are {list(a.parts)} the first time and {list(b.parts)} the second")
    else:
        found.extend(_text_difference(f"parts[{t!r}]", a.parts[t], b.parts[t]) for t in a.parts)
    if a.headers != b.headers:
        names = sorted(k for k in {*a.headers, *b.headers} if a.headers.get(k) != b.headers.get(k))
        found.extend(
            _text_difference(f"headers[{k!r}]", a.headers.get(k), b.headers.get(k)) for k in names
        )
    return [d for d in found if d is not None]


def _describe(request: InboundRequest) -> str:
    """The whole request, for a failure message (the suite's requests hold no personal data)."""
    headers = ", ".join(f"{k}: {v}" for k, v in request.headers.items())
    body = request.body if len(request.body) <= 200 else request.body[:200] + b"..."
    return f"{request.method} {request.url} ({headers or 'no headers'}; body {body!r})"


def _parse(channel: Channel, request: InboundRequest, check: _Check) -> Sequence[InboundEvent]:
    """``parse_inbound(request)``; any exception but InboundError fails, naming the request."""
    try:
        return channel.parse_inbound(request)
    except InboundError:
        raise
    except Exception as exc:  # noqa: BLE001 - any other exception is the failure reported
        check.fail(
            f"parse_inbound raised {type(exc).__name__}: {exc} on the request {_describe(request)} "
            "(expected events, or InboundError for a request it cannot use)",
            exc,
        )


class ChannelConformance(abc.ABC):
    """Tests every channel must pass. Subclass it as ``TestXxx`` in your test suite.

    Set :attr:`address` (and :attr:`channel_name` to check the entry point),
    implement :meth:`open_channel`, and, for two-way channels, :meth:`answer_request`.

    Every failure is an :class:`AssertionError` whose message names the check,
    the sample survey and locale it was rendering, and what differed from what
    was expected. A check that does not apply to the channel (the entry point
    without :attr:`channel_name`, the answer round trip of a one-way channel,
    :class:`~cxcore.DeliveryLookup` for a channel without it) raises
    ``unittest.SkipTest``, which pytest reports as skipped, saying why.

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

        Two-way channels must override this: the answer round trip fails while
        it returns ``None`` (the default) for a two-way channel.
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
        check = _Check("test_capabilities_are_declared")

        async def run() -> None:
            async with self._harness() as h:
                caps = type(h.channel).capabilities
                check.expect(
                    isinstance(caps, Capabilities),
                    f"{type(h.channel).__name__}.capabilities is {caps!r} "
                    "(expected a cxcore.Capabilities)",
                )
                hash(caps)  # frozen values hash
                if caps.address is AddressKind.NONE:
                    check.expect(
                        self.address is None,
                        f"the channel is address-less, but the suite's address is "
                        f"{self.address!r} (set address = None)",
                    )

        _run(run())

    def test_entry_point_resolves_to_the_channel(self) -> None:
        """The channel is discovered through the ``cxcore.channels`` entry-point group."""
        if self.channel_name is None:
            msg = "channel_name is not set: the entry point is not checked"
            raise unittest.SkipTest(msg)
        check = _Check("test_entry_point_resolves_to_the_channel")
        name = self.channel_name

        async def run() -> None:
            async with self._harness() as h:
                try:
                    found = ChannelRegistry().get(name)
                except ChannelError as exc:
                    check.fail(f"channel_name {name!r} is not found: {exc}", exc)
                check.expect(
                    found is type(h.channel),
                    f"the entry point {name!r} gives {found!r} (expected {type(h.channel)!r})",
                )

        _run(run())

    def test_renders_every_question_kind_in_every_locale(self) -> None:
        """Every sample survey renders in English and Hindi, within declared formats and length."""

        async def run() -> None:
            async with self._harness() as h:
                caps = type(h.channel).capabilities
                for invitation, survey in self._invitations():
                    check = _Check.of(
                        "test_renders_every_question_kind_in_every_locale", invitation
                    )
                    message = h.channel.render(invitation, survey)
                    check.expect(
                        isinstance(message, OutboundMessage),
                        f"render returned {message!r} (expected an OutboundMessage)",
                    )
                    check.expect(
                        message.invitation_id == invitation.id,
                        f"message.invitation_id is {message.invitation_id!r} "
                        f"(expected the invitation's id {invitation.id!r})",
                    )
                    check.expect(
                        message.to == invitation.address,
                        f"message.to is {message.to!r} "
                        f"(expected the invitation's address {invitation.address!r})",
                    )
                    check.expect(
                        bool(message.parts), "the message has no parts (expected 1 or more)"
                    )
                    unknown = sorted(set(message.parts) - caps.formats)
                    check.expect(
                        not unknown,
                        f"parts {unknown} are not among the declared formats "
                        f"{sorted(caps.formats)}",
                    )
                    for media_type, body in message.parts.items():
                        check.expect(bool(body.strip()), f"the {media_type} part is empty")
                        if caps.max_length is not None:
                            check.expect(
                                len(body) <= caps.max_length,
                                f"the {media_type} part has {len(body)} characters "
                                f"(max {caps.max_length})",
                            )

        _run(run())

    def test_render_is_pure(self) -> None:
        """Rendering the same invitation twice gives equal messages."""

        async def run() -> None:
            async with self._harness() as h:
                for invitation, survey in self._invitations():
                    first = h.channel.render(invitation, survey)
                    second = h.channel.render(invitation, survey)
                    if first != second:
                        check = _Check.of("test_render_is_pure", invitation)
                        differences = "; ".join(_message_differences(first, second))
                        check.fail(
                            "rendering twice gave different messages (render must be pure: "
                            f"no clock, no randomness, no I/O): {differences or 'they are unequal'}"
                        )

        _run(run())

    def test_hostile_names_cannot_inject(self) -> None:
        """A name with markup and line breaks never reaches headers or markup raw."""

        async def run() -> None:
            async with self._harness() as h:
                survey = sample_surveys()[0]
                invitation = sample_invitation(
                    survey,
                    channel=self.channel_name or "conformance",
                    address=self.address,
                    name=_HOSTILE_NAME,
                )
                check = _Check.of("test_hostile_names_cannot_inject", invitation)
                message = h.channel.render(invitation, survey)
                fields = {"subject": message.subject or ""}
                fields.update({f"headers[{k!r}]": v for k, v in message.headers.items()})
                for field, value in fields.items():
                    for char, what in (("\r", "carriage return"), ("\n", "line feed")):
                        check.expect(
                            char not in value,
                            f"a {what} from the respondent's name is in {field}: {value!r}",
                        )
                for media_type, body in message.parts.items():
                    if "html" in media_type:
                        at = body.find("<script>alert")
                        check.expect(
                            at < 0,
                            f"the respondent's name reaches the {media_type} part unescaped: "
                            f"{_short(body, at)}",
                        )

        _run(run())

    def test_send_delivers_to_the_provider(self) -> None:
        """A sent message reaches the provider's side, addressed to the recipient."""

        async def run() -> None:
            async with self._harness() as h:
                invitation, survey = self._invitations()[0]
                check = _Check.of("test_send_delivers_to_the_provider", invitation)
                result = await h.channel.send(h.channel.render(invitation, survey))
                check.expect(
                    result.invitation_id == invitation.id,
                    f"send returned a SendResult for {result.invitation_id!r} "
                    f"(expected {invitation.id!r})",
                )
                delivered = list(await h.delivered())
                check.expect(
                    delivered == [invitation.address],
                    f"the provider's side received messages to {delivered!r} "
                    f"(expected one, to {invitation.address!r})",
                )

        _run(run())

    def test_send_after_aclose_is_refused(self) -> None:
        """After aclose (which may be called twice), send raises ChannelClosedError."""

        async def run() -> None:
            async with self._harness() as h:
                invitation, survey = self._invitations()[0]
                check = _Check.of("test_send_after_aclose_is_refused", invitation)
                message = h.channel.render(invitation, survey)
                await h.channel.aclose()
                await h.channel.aclose()
                try:
                    await h.channel.send(message)
                except ChannelClosedError:
                    pass
                else:
                    check.fail("send after aclose did not raise ChannelClosedError")

        _run(run())

    def test_parse_inbound_rejects_garbage_cleanly(self) -> None:
        """Malformed requests give events or InboundError, never another exception."""
        check = _Check("test_parse_inbound_rejects_garbage_cleanly")

        async def run() -> None:
            async with self._harness() as h:
                for request in _GARBAGE:
                    try:
                        events = _parse(h.channel, request, check)
                    except InboundError:
                        continue
                    for event in events:
                        check.expect(
                            isinstance(event, AnswersReceived | OptOutReceived | StatusReceived),
                            f"parse_inbound gave {event!r} on the request {_describe(request)} "
                            "(expected AnswersReceived, OptOutReceived or StatusReceived)",
                        )

        _run(run())

    def test_answers_round_trip(self) -> None:
        """For two-way channels, a respondent's answer comes back as AnswersReceived."""

        async def run() -> None:
            async with self._harness() as h:
                if not type(h.channel).capabilities.two_way:
                    msg = "the channel is one-way: no answers come back through it"
                    raise unittest.SkipTest(msg)
                nps = [(i, s) for i, s in self._invitations() if s.id == "sample_nps"]
                for invitation, survey in nps:
                    check = _Check.of("test_answers_round_trip", invitation)
                    message = h.channel.render(invitation, survey)
                    request = self.answer_request(message, _ANSWERS)
                    if request is None:
                        check.fail(
                            "the channel is two-way, but answer_request returned None "
                            "(override it to build the request a respondent answering "
                            f"{dict(_ANSWERS)!r} to the message makes)"
                        )
                    try:
                        events = _parse(h.channel, request, check)
                    except InboundError as exc:
                        check.fail(
                            f"parse_inbound refused the answer request {_describe(request)}: {exc}",
                            exc,
                        )
                    answers = [e for e in events if isinstance(e, AnswersReceived)]
                    check.expect(
                        len(answers) == 1,
                        f"parse_inbound gave {list(events)!r} (expected one AnswersReceived)",
                    )
                    (event,) = answers
                    given = dict(event.answers)
                    if not given and event.reply is not None:
                        # A reply channel (an SMS "9"): Intake reads the text as the
                        # answer to the question asked, the survey's first here.
                        first = survey.questions[0]
                        value = read_reply(event.reply, first).value
                        given = {first.id: value} if value is not None else {}
                    check.expect(
                        given == dict(_ANSWERS),
                        f"the answers came back as {given!r} (from reply {event.reply!r}) "
                        f"(expected {dict(_ANSWERS)!r})",
                    )
                    check.expect(
                        event.token == invitation.token or event.address == invitation.address,
                        f"the answers carry token {event.token!r} and address {event.address!r} "
                        f"(expected the invitation's token {invitation.token!r} "
                        f"or address {invitation.address!r})",
                    )

        _run(run())

    def test_delivery_lookup_finds_what_was_sent(self) -> None:
        """A channel with DeliveryLookup finds a message it sent, and not one it never sent."""

        async def run() -> None:
            async with self._harness() as h:
                channel: object = h.channel
                if not isinstance(channel, DeliveryLookup):
                    msg = "the channel does not implement DeliveryLookup (lookup)"
                    raise unittest.SkipTest(msg)
                (sent, survey), (never, _) = self._invitations()[:2]
                check = _Check.of("test_delivery_lookup_finds_what_was_sent", sent)
                result = await h.channel.send(h.channel.render(sent, survey))
                found = await channel.lookup(h.channel.render(sent, survey))
                check.expect(
                    found is not None,
                    "lookup of the message just sent (rendered again) returned None "
                    "(expected the provider's record of it)",
                )
                assert found is not None  # for the type checker: expect() returned
                check.expect(
                    (found.invitation_id, found.provider_id) == (sent.id, result.provider_id),
                    f"lookup found invitation {found.invitation_id!r} with provider id "
                    f"{found.provider_id!r} (expected {sent.id!r} with {result.provider_id!r}, "
                    "as send returned)",
                )
                missing = await channel.lookup(h.channel.render(never, survey))
                _Check.of("test_delivery_lookup_finds_what_was_sent", never).expect(
                    missing is None,
                    f"lookup of a message never sent returned {missing!r} (expected None)",
                )

        _run(run())
