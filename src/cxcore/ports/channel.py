"""The channel port: what a survey channel declares and the four verbs it implements.

A channel plugin is data plus four verbs:

* :class:`Capabilities`, frozen data the registry and the dispatcher read
  without creating the channel;
* ``render(invitation, survey)``: pure, builds the :class:`OutboundMessage`;
* ``async send(message)``: hands it to the provider, returns a :class:`SendResult`
  or raises :class:`~cxcore.SendError` saying whether to retry, suppress or reconcile;
* ``parse_inbound(request)``: pure, turns a webhook, reply or form post into
  :data:`InboundEvent` values, or raises :class:`~cxcore.InboundError`;
* ``async aclose()``: releases connections; calling it twice is harmless.
"""

from __future__ import annotations

import enum
import importlib.util
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import ClassVar, Protocol, TypeAlias, runtime_checkable
from urllib.parse import parse_qsl, urlsplit

import attrs

from cxcore.errors import Problem, ValidationError
from cxcore.model._checks import Checks, member_or_value
from cxcore.model.customer import AddressKind
from cxcore.model.frozendict import FrozenDict
from cxcore.model.invitation import Disposition, Invitation
from cxcore.model.survey import AnswerValue, Survey

__all__ = [
    "AnswersReceived",
    "Capabilities",
    "Channel",
    "DeliveryLookup",
    "EstimatedCost",
    "InboundEvent",
    "InboundMode",
    "InboundRequest",
    "OptOutReceived",
    "OutboundMessage",
    "SendResult",
    "StatusReceived",
    "SurveyCheck",
]


class InboundMode(enum.StrEnum):
    """How answers and events come back from a channel.

    .. versionadded:: 0.1.0
    """

    NONE = "none"
    """Nothing comes back through the channel itself."""
    FORM = "form"
    """The respondent posts answers to the collector (links, AMP forms, widgets, kiosks)."""
    REPLY = "reply"
    """The respondent replies with a message (an SMS "9")."""
    WEBHOOK = "webhook"
    """The provider posts delivery events (and maybe replies) to the collector."""


def _frozenset(value: object) -> object:
    if isinstance(value, list | tuple | set):
        return frozenset(value)
    return value


def _disposition(value: Disposition | str) -> Disposition:
    return member_or_value(Disposition, value)


def _address_kind(value: AddressKind | str) -> AddressKind:
    return member_or_value(AddressKind, value)


def _inbound_mode(value: InboundMode | str) -> InboundMode:
    return member_or_value(InboundMode, value)


@attrs.frozen(kw_only=True)
class Capabilities:
    """What a channel can do, declared as data.

    Args:
        formats: The media types it renders (``"text/plain"``,
            ``"text/html"``, ``"text/x-amp-html"``...).
        address: The kind of address it sends to.
        max_length: The most characters one rendered part may have, if limited.
        two_way: Whether answers can come back through it.
        inbound: How answers and events come back.
        offline: Whether it keeps collecting when the network drops (kiosk).
        requires: The modules it imports to send, when they are optional
            dependencies imported on first send (so that rendering works
            without them). A deployment that configures the channel is refused
            without them, naming what to install, rather than failing every send.

    .. versionadded:: 0.1.0
    """

    formats: frozenset[str] = attrs.field(converter=_frozenset)
    address: AddressKind = attrs.field(converter=_address_kind)
    max_length: int | None = None
    two_way: bool = False
    inbound: InboundMode = attrs.field(default=InboundMode.NONE, converter=_inbound_mode)
    offline: bool = False
    requires: frozenset[str] = attrs.field(default=frozenset(), converter=_frozenset)

    def __attrs_post_init__(self) -> None:
        checks = Checks()
        if checks.is_a("formats", self.formats, frozenset, "a set of media types"):
            if not self.formats:
                checks.add("formats", "is empty (expected at least one media type)")
            for fmt in sorted(map(str, self.formats)):
                if "/" not in fmt:
                    checks.add("formats", f"{fmt!r} is not a media type such as 'text/plain'")
        checks.member("address", self.address, AddressKind, "an address kind")
        if (
            self.max_length is not None
            and checks.is_a("max_length", self.max_length, int, "a whole number")
            and self.max_length < 1
        ):
            checks.add("max_length", f"{self.max_length} is not 1 or more")
        checks.is_a("two_way", self.two_way, bool, "True or False")
        checks.member("inbound", self.inbound, InboundMode, "an inbound mode")
        checks.is_a("offline", self.offline, bool, "True or False")
        if self.two_way and self.inbound is InboundMode.NONE:
            checks.add("inbound", "is 'none', but the channel is two-way")
        if checks.is_a("requires", self.requires, frozenset, "a set of module names"):
            for module in sorted(map(str, self.requires)):
                if not all(part.isidentifier() for part in module.split(".")):
                    checks.add("requires", f"{module!r} is not a module name such as 'aiosmtplib'")
        checks.raise_if_any("Capabilities")

    def missing(self) -> list[str]:
        """The modules of :attr:`requires` that cannot be imported here, sorted."""
        absent = []
        for module in sorted(self.requires):
            try:
                found = importlib.util.find_spec(module) is not None
            except (ImportError, ValueError):  # a parent missing, or a broken __spec__
                found = False
            if not found:
                absent.append(module)
        return absent


def _frozen_str_map(value: Mapping[str, str] | None) -> FrozenDict[str, str]:
    if value is None:
        return FrozenDict()
    return value if isinstance(value, FrozenDict) else FrozenDict(value)


@attrs.frozen(kw_only=True, repr=False)
class OutboundMessage:
    """A rendered invitation, ready to send.

    Args:
        invitation_id: The invitation it carries.
        channel: The channel that rendered it.
        to: The recipient's address (``None`` for a kiosk or widget).
        parts: The content per media type, in the order they should appear.
        subject: A subject line, for channels that have one.
        headers: Extra headers or provider options.

    .. versionadded:: 0.1.0
    """

    invitation_id: str
    channel: str
    to: str | None
    parts: FrozenDict[str, str] = attrs.field(converter=_frozen_str_map)
    subject: str | None = None
    headers: FrozenDict[str, str] = attrs.field(factory=FrozenDict, converter=_frozen_str_map)

    def __repr__(self) -> str:
        # The address is personal data: keep it out of logs and tracebacks.
        return (
            f"OutboundMessage(invitation_id={self.invitation_id!r}, channel={self.channel!r}, "
            f"parts={list(self.parts)!r})"
        )


def _decimal(value: Decimal | str | int) -> Decimal:
    if isinstance(value, str | int) and not isinstance(value, bool):
        try:
            return Decimal(value)
        except ArithmeticError:
            return value  # type: ignore[return-value]  # reported by the checks
    return value  # type: ignore[return-value]  # a Decimal, or reported by the checks


@attrs.frozen
class EstimatedCost:
    """What a channel expects one send to cost, before the provider's bill says.

    A channel that knows its prices (an SMS channel, per segment and
    destination) puts one on the ``cost`` of its :class:`SendResult`; the dispatcher carries it
    to :class:`~cxcore.dispatch.DispatchOutcome` and totals it, per currency,
    in :meth:`~cxcore.dispatch.DispatchReport.estimated_cost`.

    Args:
        amount: The amount, as a :class:`~decimal.Decimal` (a string or an
            integer is converted; a float is refused, since it cannot hold
            prices exactly).
        currency: The ISO 4217 code (``"USD"``, ``"INR"``).
        detail: How it was worked out (``"2 segments x 0.0083 USD (+1)"``).

    Raises:
        ValidationError: If the amount is not a finite, non-negative decimal,
            or the currency not three capital letters.

    .. versionadded:: 0.1.0
    """

    amount: Decimal = attrs.field(converter=_decimal)
    currency: str
    detail: str | None = attrs.field(default=None, kw_only=True)

    def __attrs_post_init__(self) -> None:
        checks = Checks()
        amount: object = self.amount  # anything may have been passed
        if not isinstance(amount, Decimal) or not amount.is_finite():
            checks.add("amount", f"{amount!r} is not a decimal amount (expected e.g. '0.0083')")
        elif amount < 0:
            checks.add("amount", f"{amount} is less than zero")
        currency: object = self.currency
        if not (
            isinstance(currency, str)
            and len(currency) == 3
            and currency.isalpha()
            and currency.isupper()
            and currency.isascii()
        ):
            checks.add("currency", f"{currency!r} is not an ISO 4217 code such as 'USD'")
        checks.raise_if_any("EstimatedCost")

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


@attrs.frozen(kw_only=True, repr=False)
class SendResult:
    """The provider accepted a message.

    Args:
        invitation_id: The invitation sent.
        provider_id: The provider's id for the message (an SMTP queue id, a
            Twilio ``SM...`` sid), used to match later delivery events.
        detail: What the provider said, for the audit log.
        cost: What the send is expected to cost, if the channel knows
            (shown in the dispatch report; not stored).

    .. versionadded:: 0.1.0
    """

    invitation_id: str
    provider_id: str | None = None
    detail: str | None = None
    cost: EstimatedCost | None = None

    def __repr__(self) -> str:
        # The cost is shown only when there is one: most channels say none.
        cost = "" if self.cost is None else f", cost={self.cost!r}"
        return (
            f"SendResult(invitation_id={self.invitation_id!r}, provider_id={self.provider_id!r}, "
            f"detail={self.detail!r}{cost})"
        )


def _lower_headers(value: Mapping[str, str] | None) -> FrozenDict[str, str]:
    return FrozenDict({k.lower(): v for k, v in (value or {}).items()})


@attrs.frozen(kw_only=True, repr=False)
class InboundRequest:
    """A request that reached the collector for a channel: a webhook, a reply, a form post.

    Args:
        method: The HTTP method (``"POST"``).
        url: The public URL the request was made to, as configured, never as
            reconstructed from proxy headers: signatures are computed over it.
        headers: Request headers, names in lower case.
        body: The raw body.

    .. versionadded:: 0.1.0
    """

    method: str
    url: str
    headers: FrozenDict[str, str] = attrs.field(factory=FrozenDict, converter=_lower_headers)
    body: bytes = b""

    def form(self) -> dict[str, list[str]]:
        """The body's form fields (repeated keys kept).

        ``multipart/form-data`` bodies (what AMP forms post by default) give
        their text fields, and file fields are left out; any other body is read
        as ``application/x-www-form-urlencoded``. A malformed body gives no
        fields rather than an error, so the channel says what it missed.
        """
        ctype = self.headers.get("content-type", "")
        if ctype.split(";", 1)[0].strip().lower() == "multipart/form-data":
            return _multipart_fields(ctype, self.body)
        result: dict[str, list[str]] = {}
        for key, value in parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True):
            result.setdefault(key, []).append(value)
        return result

    def query(self) -> dict[str, list[str]]:
        """The URL's query string, parsed (repeated keys kept)."""
        result: dict[str, list[str]] = {}
        for key, value in parse_qsl(urlsplit(self.url).query, keep_blank_values=True):
            result.setdefault(key, []).append(value)
        return result

    def __repr__(self) -> str:
        return f"InboundRequest({self.method} {urlsplit(self.url).path}, {len(self.body)} bytes)"


def _multipart_fields(content_type: str, body: bytes) -> dict[str, list[str]]:
    """The text fields of a ``multipart/form-data`` body, read with the standard library."""
    from email.parser import BytesParser  # noqa: PLC0415 - only multipart bodies need it
    from email.policy import HTTP  # noqa: PLC0415

    if "\r" in content_type or "\n" in content_type:
        return {}
    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1", "replace")
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    result: dict[str, list[str]] = {}
    if not message.is_multipart():
        return result
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or part.get_filename() is not None:
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        charset = part.get_content_charset() or "utf-8"
        try:
            text = payload.decode(charset, "replace")
        except LookupError:  # an unknown charset name
            text = payload.decode("utf-8", "replace")
        result.setdefault(name, []).append(text)
    return result


def _answers(value: Mapping[str, AnswerValue]) -> FrozenDict[str, AnswerValue]:
    return value if isinstance(value, FrozenDict) else FrozenDict(value)


@attrs.frozen(kw_only=True)
class AnswersReceived:
    """A respondent answered.

    Args:
        token: The invitation's signed token, as it came back (links, forms).
        address: Who sent it, for reply channels that identify by address (SMS).
        answers: Answers keyed by question id, not yet checked against the survey.
        complete: Whether the respondent submitted the whole survey.
        reply: The raw text of a reply (an SMS "9"), from channels that cannot
            know which question it answers; the collector resolves it against
            the address's open invitation. ``answers`` is then empty.
        key: The provider's own id of this message (Twilio's ``MessageSid``),
            when it has one: it becomes the submission's idempotency key, so a
            provider retrying its webhook stores the answer once.

    .. versionadded:: 0.1.0
    """

    token: str | None
    answers: FrozenDict[str, AnswerValue] = attrs.field(factory=FrozenDict, converter=_answers)
    complete: bool = False
    address: str | None = None
    reply: str | None = None
    key: str | None = None


def _str_tuple(value: Iterable[str]) -> tuple[str, ...]:
    return value if isinstance(value, tuple) else tuple(value)


@attrs.frozen(kw_only=True)
class OptOutReceived:
    """The recipient asked not to be contacted again on this channel.

    An SMS STOP names the *address*; a one-click unsubscribe link carries the
    invitation's signed unsubscribe *token*, which the collector verifies to
    find the invitation, and through it the address. At least one is given.

    Args:
        address: The address that opted out, when the request says it.
        token: The signed unsubscribe token, when the request carries one.
        keyword: What was said (``"STOP"``, ``"List-Unsubscribe=One-Click"``).
        opted_out: ``True`` to opt out; ``False`` when the recipient opts back
            in (an SMS ``START``).
        also: Further channel instances the request applies to, besides the
            one it came in on: an SMS STOP holds for every SMS sender of the
            deployment.

    .. versionadded:: 0.1.0
    """

    address: str | None = None
    token: str | None = None
    keyword: str | None = None
    opted_out: bool = True
    also: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)

    def __attrs_post_init__(self) -> None:
        if self.address is None and self.token is None:
            msg = "OptOutReceived needs an address or a token (it has neither)"
            raise ValidationError("OptOutReceived", [Problem("", msg)])


@attrs.frozen(kw_only=True)
class StatusReceived:
    """The provider reported what became of a message (delivered, bounced...).

    Args:
        provider_id: The provider's id for the message, from :class:`SendResult`.
        disposition: What happened.
        invitation_id: The invitation concerned, when the event says it (a VERP
            return path does), so it can be matched without the provider id.
        permanent: Whether a failure is permanent (the address should be suppressed).
        detail: The provider's own words or code.
        address: The address concerned, when the provider says.

    .. versionadded:: 0.1.0
    """

    provider_id: str | None
    disposition: Disposition = attrs.field(converter=_disposition)
    invitation_id: str | None = None
    permanent: bool = False
    detail: str | None = None
    address: str | None = None


InboundEvent: TypeAlias = AnswersReceived | OptOutReceived | StatusReceived
"""What a channel can find in an inbound request."""


@runtime_checkable
class Channel(Protocol):
    """The survey channel protocol: data plus four verbs.

    Implement it in a class of your own (there is nothing to subclass),
    register the class under the entry-point group ``cxcore.channels``, and run
    :class:`cxcore.testing.ChannelConformance` against it. The class is created
    with your channel's own configuration (``EmailChannel(host=..., ...)``).

    .. versionadded:: 0.1.0
    """

    capabilities: ClassVar[Capabilities]
    """What the channel can do."""

    def render(self, invitation: Invitation, survey: Survey) -> OutboundMessage:
        """Render *invitation* to *survey*. Pure: no I/O, same input, same output."""
        ...

    async def send(self, message: OutboundMessage) -> SendResult:
        """Hand *message* to the provider.

        Raises:
            SendError: Saying whether to retry, suppress the address, or reconcile.
            ChannelClosedError: After :meth:`aclose`.
        """
        ...

    def parse_inbound(self, request: InboundRequest) -> Sequence[InboundEvent]:
        """Find answers, opt-outs and delivery events in *request*. Pure.

        Raises:
            InboundError: If the request cannot be understood (or is not authentic).
        """
        ...

    async def aclose(self) -> None:
        """Release connections. Calling it again does nothing."""
        ...


@runtime_checkable
class SurveyCheck(Protocol):
    """A channel class that reviews a survey's texts when the survey is written.

    Channels may implement it (it is not part of :class:`Channel`) as a
    ``staticmethod`` or ``classmethod``: it is called on the class, without
    the channel's configuration. ``cxcore validate`` calls it on every
    installed channel that has it, for every survey, and prints what it
    returns as warnings (errors with ``--strict``);
    :meth:`ChannelRegistry.check_survey <cxcore.ChannelRegistry.check_survey>`
    does the same for a program. The SMS channel warns of a character that
    forces a text into UCS-2.

    .. versionadded:: 0.1.0
    """

    def check_survey(self, survey: Survey) -> Sequence[Problem]:
        """Problems of *survey* on this channel, with paths relative to it (``title.en``). Pure."""
        ...


@runtime_checkable
class DeliveryLookup(Protocol):
    """A channel that can ask its provider whether it accepted a message.

    Channels may implement it (it is not part of :class:`Channel`); the
    dispatcher uses it to reconcile ``unknown`` sends, and
    :class:`cxcore.testing.ChannelConformance` checks it when a channel has it.
    The message passed is rendered again from the same invitation, so it is the
    one sent: a channel finds it by whatever it derived from it (a Message-ID,
    an idempotency key).

    .. versionadded:: 0.1.0
    """

    async def lookup(self, message: OutboundMessage) -> SendResult | None:
        """The provider's record of *message*, or ``None`` if it certainly never accepted it.

        Raises:
            Exception: If the provider cannot tell; the send stays ``unknown``.
        """
        ...
