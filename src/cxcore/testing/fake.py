"""A channel that records deliveries instead of sending them, and ways to watch it."""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import ClassVar
from urllib.parse import quote

import attrs

from cxcore.errors import ChannelClosedError, ChannelError, InboundError
from cxcore.model import AddressKind, ChoiceQuestion, Invitation, ScoredQuestion, Survey
from cxcore.model.survey import AnswerValue
from cxcore.ports.channel import (
    AnswersReceived,
    Capabilities,
    InboundEvent,
    InboundMode,
    InboundRequest,
    OptOutReceived,
    OutboundMessage,
    SendResult,
)
from cxcore.ports.registry import ChannelRegistry, channel_registry

__all__ = ["Delivery", "FakeChannel", "capture_deliveries", "fake_channels"]


@attrs.frozen
class Delivery:
    """One message a :class:`FakeChannel` accepted.

    .. versionadded:: 0.1.0
    """

    channel: str
    message: OutboundMessage
    result: SendResult


_captures: list[list[Delivery]] = []
_captures_lock = threading.Lock()


@contextlib.contextmanager
def capture_deliveries() -> Iterator[list[Delivery]]:
    """Collect, in order, every delivery any :class:`FakeChannel` makes inside the block.

    >>> import asyncio
    >>> from cxcore.testing import FakeChannel, sample_invitation, sample_surveys
    >>> survey = sample_surveys()[0]
    >>> channel = FakeChannel()
    >>> with capture_deliveries() as sent:
    ...     _ = asyncio.run(channel.send(channel.render(sample_invitation(survey), survey)))
    >>> [d.message.invitation_id for d in sent]
    ['inv-0001']

    .. versionadded:: 0.1.0
    """
    captured: list[Delivery] = []
    with _captures_lock:
        _captures.append(captured)
    try:
        yield captured
    finally:
        with _captures_lock:
            _captures.remove(captured)


class FakeChannel:
    """A complete, in-memory channel: renders plain text, records sends, parses form posts.

    Use it to test code that sends surveys without a provider, to build a
    channel-less demo, or as the model for a channel of your own. Make it fail
    on purpose with :meth:`fail_next`.

    Answers come back as a form post (or query string) with ``token``, one
    ``q.<question id>`` field per answer (repeat it for several choices), and
    ``complete=1`` when the survey is submitted; ``stop=1`` with ``address``
    opts the address out.

    Args:
        base_url: Where answer links point (the collector).
        name: The channel name it reports in deliveries.

    .. versionadded:: 0.1.0
    """

    capabilities: ClassVar[Capabilities] = Capabilities(
        formats=frozenset({"text/plain"}),
        address=AddressKind.EMAIL,
        two_way=True,
        inbound=InboundMode.FORM,
    )

    channel_name: ClassVar[str] = "fake"
    """The name it reports in deliveries unless given one."""

    def __init__(
        self, *, base_url: str = "https://cx.example.com/r", name: str | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.name = name or self.channel_name
        self.deliveries: list[Delivery] = []
        self.closed = False
        self._failures: list[BaseException] = []
        self._ids = itertools.count(1)

    # -- behaviour control ----------------------------------------------------

    def fail_next(self, *errors: BaseException) -> None:
        """Make the next sends raise *errors*, one per send, in order."""
        self._failures.extend(errors)

    # -- the four verbs -------------------------------------------------------

    def render(self, invitation: Invitation, survey: Survey) -> OutboundMessage:
        """Render a plain-text survey whose every answer is a link."""
        if (invitation.survey_id, invitation.survey_version) != (survey.id, survey.version):
            msg = (
                f"invitation {invitation.id!r} is for survey {invitation.survey_id!r} "
                f"v{invitation.survey_version}, not {survey.id!r} v{survey.version}"
            )
            raise ChannelError(msg)
        locale = invitation.locale
        link = f"{self.base_url}?token={quote(invitation.token)}"
        lines = [survey.title.get(locale, survey.default_locale), ""]
        if invitation.name:
            lines.insert(0, " ".join(invitation.name.split()))  # no line breaks from a name
        for q in survey.questions:
            lines.append(q.text.get(locale, survey.default_locale))
            if isinstance(q, ScoredQuestion):
                low, high = q.bounds
                lines.extend(f"  {v}: {link}&q.{q.id}={v}" for v in range(low, high + 1))
            elif isinstance(q, ChoiceQuestion):
                lines.extend(
                    f"  {o.text.get(locale, survey.default_locale)}: {link}&q.{q.id}={quote(o.id)}"
                    for o in q.options
                )
            else:
                lines.append(f"  {link}")
        return OutboundMessage(
            invitation_id=invitation.id,
            channel=invitation.channel,
            to=invitation.address,
            parts={"text/plain": "\n".join(lines) + "\n"},
            subject=" ".join(survey.title.get(locale, survey.default_locale).split()),
        )

    async def send(self, message: OutboundMessage) -> SendResult:
        """Record *message*, or raise the next failure queued with :meth:`fail_next`."""
        if self.closed:
            msg = f"channel {self.name!r} is closed"
            raise ChannelClosedError(msg)
        if self._failures:
            raise self._failures.pop(0)
        result = SendResult(
            invitation_id=message.invitation_id,
            provider_id=f"{self.name}-{next(self._ids)}",
            detail="recorded by FakeChannel",
        )
        delivery = Delivery(self.name, message, result)
        self.deliveries.append(delivery)
        with _captures_lock:
            for captured in _captures:
                captured.append(delivery)
        return result

    def parse_inbound(self, request: InboundRequest) -> Sequence[InboundEvent]:
        """Read answers (or an opt-out) from a form post or query string."""
        fields = request.form() if request.method.upper() == "POST" else request.query()
        if fields.get("stop") == ["1"]:
            address = _one(fields, "address")
            return [OptOutReceived(address=address, keyword="STOP")]
        token = _one(fields, "token")
        answers: dict[str, AnswerValue] = {}
        for key, values in fields.items():
            if key.startswith("q."):
                answers[key[2:]] = _answer(key, values)
        if not answers:
            msg = "the request carries no answers (expected q.<question id> fields)"
            raise InboundError(msg)
        complete = fields.get("complete") == ["1"]
        return [AnswersReceived(token=token, answers=answers, complete=complete)]

    async def aclose(self) -> None:
        """Refuse further sends."""
        self.closed = True

    def __repr__(self) -> str:
        return f"FakeChannel(name={self.name!r}, deliveries={len(self.deliveries)})"


def _one(fields: dict[str, list[str]], key: str) -> str:
    values = fields.get(key)
    if not values or len(values) != 1 or not values[0]:
        msg = f"field {key!r} is {values!r} (expected exactly one non-empty value)"
        raise InboundError(msg)
    return values[0]


def _answer(key: str, values: list[str]) -> AnswerValue:
    if len(values) > 1:
        return tuple(values)
    (value,) = values
    if value.lstrip("-").isdigit():
        return int(value)
    if not value:
        msg = f"field {key!r} is empty"
        raise InboundError(msg)
    return value


@contextlib.contextmanager
def fake_channels(
    names: Iterable[str] = (), *, registry: ChannelRegistry | None = None
) -> Iterator[list[Delivery]]:
    """Serve a :class:`FakeChannel` for each of *names* (by default every installed channel).

    Each fake keeps the real channel's capabilities when its plugin loads, so
    code that chooses channels by capability behaves as in production.
    Yields the deliveries made inside the block, as :func:`capture_deliveries` does.

    .. versionadded:: 0.1.0
    """
    registry = channel_registry() if registry is None else registry
    wanted = list(names) or registry.names()
    fakes: dict[str, type[FakeChannel]] = {}
    for name in wanted:
        try:
            capabilities = registry.capabilities(name)
        except ChannelError:
            capabilities = FakeChannel.capabilities
        fakes[name] = type(
            f"Fake_{name}", (FakeChannel,), {"capabilities": capabilities, "channel_name": name}
        )
    with registry.overridden(fakes), capture_deliveries() as captured:
        yield captured
