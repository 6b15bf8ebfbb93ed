"""The SMS and WhatsApp channels: Twilio's Messages API through the twilio SDK's async client."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qsl, quote, urlsplit
from xml.sax.saxutils import escape

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http import AsyncHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from cxcore import (
    AddressKind,
    AnswersReceived,
    Capabilities,
    ChannelClosedError,
    ChannelError,
    Disposition,
    EstimatedCost,
    InboundAuthError,
    InboundError,
    InboundEvent,
    InboundMode,
    InboundRequest,
    Invitation,
    OptOutReceived,
    OutboundMessage,
    Problem,
    SendError,
    SendResult,
    StatusReceived,
    Survey,
)
from cxcore.intake import (
    Accepted,
    InboundReply,
    IntakeResult,
    OptOutRecorded,
    Rejected,
    RejectReason,
)
from cxcore.links import LinkError, SurveyLinks
from cxcore.ports.store import SubmitOutcome
from cxcore_channels.sms.cost import PriceTable
from cxcore_channels.sms.dlt import DltRegistration, check_dlt, requires_dlt
from cxcore_channels.sms.errors import SmsConfigError
from cxcore_channels.sms.keywords import Keyword, keyword_of
from cxcore_channels.sms.numbers import (
    WHATSAPP_PREFIX,
    check_e164,
    mask_number,
    strip_channel_prefix,
)
from cxcore_channels.sms.segments import check_segments, check_survey_texts
from cxcore_channels.sms.texts import SmsTexts, invitation_text, prompt_text, reply_hint
from cxcore_channels.sms.transport import NotSentError, TwilioTransport

__all__ = ["PERMANENT_ERRORS", "SmsChannel", "WhatsAppChannel"]

log = logging.getLogger("cxcore.channels.sms")

Style = Literal["reply", "link"]

PERMANENT_ERRORS: Mapping[int, str] = {
    21610: "the recipient unsubscribed (replied STOP)",
    21211: "the 'To' number is not a valid phone number",
    21612: "the 'To' number cannot be reached from this sender",
    21614: "the 'To' number is not a mobile number",
    30005: "the destination handset is unknown or no longer exists",
    30006: "the destination is a landline or cannot take SMS",
    63024: "the recipient is not a valid WhatsApp user",
}
"""Twilio error codes that are final for the address: it is suppressed, never retried."""

OUTSIDE_WINDOW = 63016
"""WhatsApp: a free-form message outside the 24 hours after the customer last wrote."""

_STATUSES: Mapping[str, Disposition] = {
    "sent": Disposition.SENT,
    "delivered": Disposition.DELIVERED,
    "read": Disposition.OPENED,
    "undelivered": Disposition.FAILED,
    "failed": Disposition.FAILED,
    "canceled": Disposition.FAILED,
}
_PENDING = frozenset({"queued", "accepted", "scheduled", "sending", "receiving", "received"})
_TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def _twiml(texts: Sequence[str]) -> str:
    if not texts:
        return _TWIML_EMPTY
    messages = "".join(f"<Message>{escape(t)}</Message>" for t in texts)
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{messages}</Response>'


def _fields(request: InboundRequest) -> dict[str, str]:
    """The form's fields, the first value of each (Twilio never repeats one)."""
    return {k: v[0] for k, v in request.form().items() if v}


def _registration(value: DltRegistration | Mapping[str, Any] | None) -> DltRegistration | None:
    if value is None or isinstance(value, DltRegistration):
        return value
    try:
        return DltRegistration(**dict(value))
    except (TypeError, ValueError) as exc:
        msg = f"dlt: {exc} (expected entity_id, header and templates = {{id = text}})"
        raise SmsConfigError(msg) from exc


def _price_table(value: PriceTable | Mapping[str, Any] | None) -> PriceTable | None:
    if value is None or isinstance(value, PriceTable):
        return value
    try:
        return PriceTable(**dict(value))
    except (TypeError, ValueError) as exc:
        msg = f"prices: {exc} (expected currency, per_segment = {{prefix = price}}, default)"
        raise SmsConfigError(msg) from exc


def _answer_value(text: str) -> int | str:
    return int(text) if text.isdecimal() and len(text) <= 3 else text


class SmsChannel:
    """Survey invitations by SMS through Twilio, answered by reply or by a link.

    Each invitation is one message: the survey's first question with "Reply
    with a number from 0 to 10" (``style="reply"``), or the survey's title and a
    short link to its page (``style="link"``, and always for a first question
    that cannot be answered by reply). Replies, STOP/START/HELP keywords and
    delivery statuses come back through the collector's route
    ``/c/<instance>``, signed by Twilio; the channel checks the signature and
    parses, and :class:`~cxcore.intake.Intake` writes.

    Args:
        account_sid: The Twilio account (``AC...``).
        auth_token: Its auth token: it signs the API calls and checks the
            webhooks' ``X-Twilio-Signature`` (in a deployment file,
            ``auth_token_env`` names the variable holding it).
        from_number: The sender: an E.164 number (or an alphanumeric sender id).
        messaging_service_sid: A Messaging Service (``MG...``) to send from
            instead of, or with, *from_number*.
        base_url: The collector's public URL: survey links are built under it.
        inbound_url: The public URL of this channel's route on the collector
            (``https://cx.example.in/c/sms``): status callbacks are sent there,
            and signatures are checked against it, so they hold behind a proxy.
        style: ``"reply"`` (default) or ``"link"``.
        api_base_url: Where the API is, instead of ``https://api.twilio.com``
            (a regional edge, a proxy, a test's emulator).
        http_client: The SDK's HTTP client, to replace the channel's own
            :class:`~cxcore_channels.sms.TwilioTransport`.
        timeout: Seconds an API call may take; past it the send is ``unknown``.
        max_attempts: Attempts per API call while Twilio answers 429 or the
            connection cannot be opened.
        opt_out_also: The deployment's other SMS channel instances: a STOP on
            this one opts the number out of them too (every SMS sender).
        opt_out_reply: The confirmation of an opt-out (default: :class:`SmsTexts`).
        opt_in_reply: The confirmation of an opt-in.
        help_reply: The answer to HELP and INFO.
        stop_hint: Whether invitations end with "Reply STOP to opt out".
        max_segments: The most SMS segments one invitation may take; a longer
            text is refused when it is rendered (the send fails, naming the
            count and what forced UCS-2). ``None``: no limit.
        dlt: India's DLT registration (entity id, sender header, templates),
            as a :class:`~cxcore_channels.sms.dlt.DltRegistration` or a table
            ``{entity_id, header, templates = {id = text}}``: a +91 number is
            sent to only with it, from its header, and only a text that is an
            instance of a registered template.
        dlt_templates: The DLT template id of each survey's invitation, by
            survey id (default: any registered template the text fits).
        prices: Prices per segment by number prefix, as a
            :class:`~cxcore_channels.sms.cost.PriceTable` or a table
            ``{currency, per_segment = {"+91" = "0.08"}, default}``: each send's
            estimated cost goes into the dispatch report.
        short_links: Link to the survey with its short link
            (``<base_url>/l/<code>``, about 30 characters for
            ``https://cx.example.in``), not ``/s/<token>`` (about 85 more):
            fewer segments, and a link that fits one DLT template variable
            (at most 30 characters). Invitations without a ``short_code``
            keep the long link.

    Raises:
        SmsConfigError: For a setting it cannot use, naming it.

    .. versionadded:: 0.1.0
    """

    capabilities: ClassVar[Capabilities] = Capabilities(
        formats=frozenset({"text/plain"}),
        address=AddressKind.PHONE,
        max_length=1600,
        two_way=True,
        inbound=InboundMode.REPLY,
    )
    prefix: ClassVar[str] = ""
    """What the channel puts before a number in a Twilio address (``whatsapp:``)."""
    signed_inbound: ClassVar[bool] = True
    """Every inbound request is checked against ``X-Twilio-Signature``: the collector
    counts only the refused ones against their address's rate limit."""
    segmented: ClassVar[bool] = True
    """Whether texts are SMS: split into segments, under India's DLT rules, priced per segment."""

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        base_url: str,
        inbound_url: str,
        style: Style = "reply",
        api_base_url: str | None = None,
        http_client: AsyncHttpClient | None = None,
        timeout: float = 15.0,
        max_attempts: int = 4,
        opt_out_also: Sequence[str] = (),
        opt_out_reply: str | None = None,
        opt_in_reply: str | None = None,
        help_reply: str | None = None,
        stop_hint: bool = True,
        max_segments: int | None = None,
        dlt: DltRegistration | Mapping[str, Any] | None = None,
        dlt_templates: Mapping[str, str] | None = None,
        prices: PriceTable | Mapping[str, Any] | None = None,
        short_links: bool = False,
    ) -> None:
        if not account_sid.startswith("AC"):
            msg = (
                f"account_sid: {account_sid[:40]!r} is not a Twilio account sid (expected 'AC...')"
            )
            raise SmsConfigError(msg)
        if not auth_token:
            msg = "auth_token: is empty (expected the account's auth token)"
            raise SmsConfigError(msg)
        if from_number is None and messaging_service_sid is None:
            msg = "from_number and messaging_service_sid: give one (or both), not neither"
            raise SmsConfigError(msg)
        if from_number is not None and from_number.startswith("+"):
            try:
                check_e164(strip_channel_prefix(from_number), "from_number")
            except ValueError as exc:
                raise SmsConfigError(str(exc)) from exc
        if messaging_service_sid is not None and not messaging_service_sid.startswith("MG"):
            msg = (
                f"messaging_service_sid: {messaging_service_sid!r} is not a Messaging Service "
                "sid (expected 'MG...')"
            )
            raise SmsConfigError(msg)
        if style not in ("reply", "link"):
            msg = f"style: {style!r} is not 'reply' or 'link'"
            raise SmsConfigError(msg)
        try:
            self.links = SurveyLinks(base_url)
            SurveyLinks(inbound_url)
        except LinkError as exc:
            raise SmsConfigError(f"base_url or inbound_url: {exc}") from exc
        self.short_links = short_links
        self.account_sid = account_sid
        self.from_number = strip_channel_prefix(from_number) if from_number else None
        self.messaging_service_sid = messaging_service_sid
        self.inbound_url = inbound_url.rstrip("/")
        self.style: Style = style
        self.opt_out_also = tuple(opt_out_also)
        defaults = SmsTexts()
        self.texts = SmsTexts(
            opt_out=opt_out_reply or defaults.opt_out,
            opt_in=opt_in_reply or defaults.opt_in,
            help=help_reply or defaults.help,
        )
        self.stop_hint = stop_hint
        if max_segments is not None and (type(max_segments) is not int or max_segments < 1):
            msg = f"max_segments: {max_segments!r} is not a whole number of 1 or more"
            raise SmsConfigError(msg)
        self.max_segments = max_segments
        self.dlt = _registration(dlt)
        self.dlt_templates = dict(dlt_templates or {})
        self.prices = _price_table(prices)
        if http_client is not None and api_base_url is not None:
            msg = (
                "api_base_url and http_client: give one or the other (point your own "
                "client at the endpoint), not both"
            )
            raise SmsConfigError(msg)
        self.http = http_client or TwilioTransport(
            base_url=api_base_url, timeout=timeout, max_attempts=max_attempts
        )
        self.timeout = timeout
        self.client = Client(account_sid, auth_token, http_client=self.http)
        self._validator = RequestValidator(auth_token)
        self._closed = False

    def __repr__(self) -> str:
        sender = self.messaging_service_sid or mask_number(self.from_number)
        return f"{type(self).__name__}(account={self.account_sid[:8]}..., sender={sender!r})"

    # -- render -------------------------------------------------------------------

    def survey_link(self, invitation: Invitation) -> str:
        """The link to *invitation*'s survey page: its short link with ``short_links``."""
        if self.short_links and invitation.short_code is not None:
            return self.links.short(invitation.short_code)
        return self.links.survey(invitation.token)

    def uses_link(self, invitation: Invitation, survey: Survey) -> bool:
        """Whether *invitation* is sent with a link rather than "reply with a number"."""
        if self.style == "link" or not survey.questions:
            return True
        if self.segmented and invitation.address and requires_dlt(invitation.address):
            return True  # India: reply-to-answer is not offered on SMS, the link is
        return reply_hint(survey.questions[0], invitation.locale) is None

    def status_callback(self, invitation: Invitation) -> str:
        """The URL Twilio posts the message's delivery statuses to."""
        return f"{self.inbound_url}/status?i={quote(invitation.id, safe='')}"

    def render(self, invitation: Invitation, survey: Survey) -> OutboundMessage:
        """Render *invitation* as one text message. Pure.

        Raises:
            ChannelError: If the invitation is for another survey or version.
            PhoneNumberError: If the invitation's address is not an E.164 number.
            TooManySegmentsError: If the text takes more than ``max_segments``.
            DltError: If a +91 number has no DLT registration, or the text is
                not an instance of its template (showing where they differ).
        """
        if (invitation.survey_id, invitation.survey_version) != (survey.id, survey.version):
            msg = (
                f"invitation {invitation.id!r} is for survey {invitation.survey_id!r} "
                f"v{invitation.survey_version}, not {survey.id!r} v{survey.version}"
            )
            raise ChannelError(msg)
        to = check_e164(invitation.address, f"invitation {invitation.id!r}: address")
        link = self.survey_link(invitation) if self.uses_link(invitation, survey) else None
        body = invitation_text(invitation, survey, link=link, stop_hint=self.stop_hint)
        headers = {
            "StatusCallback": self.status_callback(invitation),
            "X-Cx-Since": invitation.created_at.date().isoformat(),
        }
        if self.segmented:
            segments = check_segments(body, self.max_segments)
            headers["X-Sms-Segments"] = str(segments.parts)
            approval = check_dlt(to, body, self.dlt, self.dlt_templates.get(survey.id))
            if approval is not None:
                headers["From"] = approval.header  # DLT: the registered sender header
                headers["X-Dlt-Entity-Id"] = approval.entity_id
                headers["X-Dlt-Template-Id"] = approval.template_id
        headers.update(self._extra_headers(invitation, survey, link))
        return OutboundMessage(
            invitation_id=invitation.id,
            channel=invitation.channel,
            to=to,
            parts={"text/plain": body},
            headers=headers,
        )

    def _extra_headers(
        self, invitation: Invitation, survey: Survey, link: str | None
    ) -> dict[str, str]:
        del invitation, survey, link
        return {}

    # -- send ---------------------------------------------------------------------

    def _sender(self) -> dict[str, str]:
        sender: dict[str, str] = {}
        if self.from_number is not None:
            sender["from_"] = self.prefix + self.from_number
        if self.messaging_service_sid is not None:
            sender["messaging_service_sid"] = self.messaging_service_sid
        return sender

    def _create_arguments(self, message: OutboundMessage) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "to": self.prefix + (message.to or ""),
            "status_callback": message.headers.get("StatusCallback"),
            **self._sender(),
        }
        if "From" in message.headers:  # a DLT sender header for a +91 number
            kwargs["from_"] = message.headers["From"]
        content = message.headers.get("ContentSid")
        if content:
            kwargs["content_sid"] = content
            kwargs["content_variables"] = message.headers.get("ContentVariables", "{}")
        else:
            kwargs["body"] = message.parts.get("text/plain", "")
        return kwargs

    async def send(self, message: OutboundMessage) -> SendResult:
        """Create the message at Twilio.

        Returns:
            The result; ``provider_id`` is the message's ``SM...`` sid, which
            its status callbacks carry.

        Raises:
            SendError: 429 or a connection never opened (after the transport's
                own retries): ``retryable``; an unsubscribed or invalid number
                (21610, 21211...): ``suppress``; a 5xx or a timeout:
                ``ambiguous``, never re-posted (it may have been accepted).
            ChannelClosedError: After :meth:`aclose`.
        """
        if self._closed:
            msg = f"the {type(self).__name__} is closed"
            raise ChannelClosedError(msg)
        if message.to is None:
            msg = f"message {message.invitation_id!r} has no recipient (to is None)"
            raise SendError(msg)
        check_e164(message.to, f"message {message.invitation_id!r}: to")
        try:
            created = await self.client.messages.create_async(**self._create_arguments(message))
        except TwilioRestException as exc:
            raise self._send_error(message, exc) from exc
        except NotSentError as exc:
            raise SendError(str(exc), retryable=True) from exc
        except TimeoutError as exc:
            msg = (
                f"no answer from Twilio within {self.timeout} s; the message may have been accepted"
            )
            raise SendError(msg, ambiguous=True) from exc
        except aiohttp.ClientError as exc:
            msg = f"the connection to Twilio failed once the request was sent ({exc})"
            raise SendError(msg, ambiguous=True) from exc
        segments = getattr(created, "num_segments", None)
        return SendResult(
            invitation_id=message.invitation_id,
            provider_id=created.sid,
            detail=f"{created.status}, {segments} segment(s)",
            cost=self.estimate(message),
        )

    def estimate(self, message: OutboundMessage) -> EstimatedCost | None:
        """What sending *message* is expected to cost, from ``prices``; ``None`` if unknown."""
        if self.prices is None or message.to is None or "ContentSid" in message.headers:
            return None
        return self.prices.estimate(message.to, message.parts.get("text/plain", ""))

    @staticmethod
    def check_survey(survey: Survey) -> Sequence[Problem]:
        """Warnings for texts of *survey* one character forces into UCS-2 (``cxcore validate``)."""
        return check_survey_texts(survey)

    def _send_error(self, message: OutboundMessage, exc: TwilioRestException) -> SendError:
        code: int = exc.code if isinstance(exc.code, int) else 0
        status = exc.status
        said = f"Twilio {status} (error {code}): {exc.msg}"
        if code in PERMANENT_ERRORS:
            log.info(
                "invitation %s to %s refused: %s",
                message.invitation_id,
                mask_number(message.to),
                PERMANENT_ERRORS[code],
            )
            return SendError(f"{said}: {PERMANENT_ERRORS[code]}", suppress=True, code=str(code))
        if code == OUTSIDE_WINDOW:
            msg = (
                f"{said}: a business-initiated WhatsApp message needs an approved template "
                "outside the 24 hours after the customer last wrote (set content_templates)"
            )
            return SendError(msg, code=str(code))
        if status == 429 or code == 20429:
            return SendError(said, retryable=True, code=str(code or status))
        if status >= 500:
            return SendError(f"{said}; it may have been accepted", ambiguous=True, code=str(code))
        if code == 20003 or status == 401:
            return SendError(
                f"{said}: check account_sid and auth_token", retryable=True, code="20003"
            )
        return SendError(said, code=str(code or status))

    # -- reconcile ----------------------------------------------------------------

    async def lookup(self, message: OutboundMessage) -> SendResult | None:
        """Twilio's record of *message*: to the same number, the same text, since its invitation.

        Used by the dispatcher to settle a send whose create timed out or got a
        5xx: it reads Twilio's messages to the recipient, never posts again.

        Raises:
            Exception: If Twilio cannot be asked; the send stays ``unknown``.
        """
        if message.to is None:
            return None
        since = message.headers.get("X-Cx-Since")
        day = date.fromisoformat(since) if since else None
        kwargs = self._create_arguments(message)
        body = kwargs.get("body")
        if body is None:
            # Twilio renders a template itself: its text is not ours to compare.
            msg = (
                "a template message (Content SID) cannot be matched by its text: "
                "its status callback records its delivery; settle the send with "
                "mark_sent or requeue"
            )
            raise ChannelError(msg)
        wanted = {"to": kwargs["to"]}
        if self.from_number is not None:
            wanted["from_"] = kwargs["from_"]
        found = await self.client.messages.list_async(limit=500, page_size=100, **wanted)
        for record in found:
            created = record.date_created
            if day is not None and created is not None and created.date() < day:
                continue
            if self.messaging_service_sid is not None and record.messaging_service_sid not in (
                None,
                self.messaging_service_sid,
            ):
                continue
            if record.body != body:
                continue
            return SendResult(
                invitation_id=message.invitation_id,
                provider_id=record.sid,
                detail=f"found on reconciliation: {record.status}",
            )
        return None

    # -- inbound ------------------------------------------------------------------

    def verify(self, request: InboundRequest) -> dict[str, str]:
        """The form fields of a request Twilio signed, checked against the configured public URL.

        Raises:
            InboundAuthError: If ``X-Twilio-Signature`` is missing or does not match.
        """
        signature = request.headers.get("x-twilio-signature")
        if not signature:
            msg = "the request has no X-Twilio-Signature header"
            raise InboundAuthError(msg)
        fields = _fields(request) if request.method.upper() == "POST" else {}
        if not self._validator.validate(request.url, fields, signature):
            msg = (
                "X-Twilio-Signature does not match the request, signed for "
                f"{urlsplit(request.url).path!r} on the configured public URL"
            )
            raise InboundAuthError(msg)
        return fields

    def parse_inbound(self, request: InboundRequest) -> Sequence[InboundEvent]:
        """Read a signed Twilio webhook: a reply, a keyword, or a status callback.

        Raises:
            InboundAuthError: If the signature is missing or wrong (403, nothing written).
            InboundError: If the request is not a Twilio message or status.
        """
        fields = self.verify(request)
        path = urlsplit(request.url).path
        if path.endswith("/status") or ("MessageStatus" in fields and "Body" not in fields):
            return self._status(request, fields)
        sender = fields.get("From", "")
        sid = fields.get("MessageSid") or fields.get("SmsSid")
        if not sender or not sid:
            msg = "the request has no From or MessageSid (expected a Twilio message webhook)"
            raise InboundError(msg)
        address = strip_channel_prefix(sender)
        answers = self._button_answers(fields)
        if answers:
            return [AnswersReceived(token=None, address=address, answers=answers, key=sid)]
        body = fields.get("Body", "")
        keyword = keyword_of(body)
        if keyword is not None:
            kind, word = keyword
            if kind is Keyword.HELP:
                return []  # answered with the help text: nothing to write
            return [
                OptOutReceived(
                    address=address,
                    keyword=word,
                    opted_out=kind is Keyword.OPT_OUT,
                    also=self.opt_out_also,
                )
            ]
        if not body.strip():
            return []  # a picture without words: nothing to read
        return [AnswersReceived(token=None, address=address, reply=body, key=sid)]

    def _button_answers(self, fields: Mapping[str, str]) -> dict[str, int | str]:
        del fields
        return {}

    def _status(self, request: InboundRequest, fields: Mapping[str, str]) -> list[InboundEvent]:
        status = (fields.get("MessageStatus") or fields.get("SmsStatus") or "").lower()
        sid = fields.get("MessageSid") or fields.get("SmsSid")
        if status in _PENDING:
            return []
        disposition = _STATUSES.get(status)
        if disposition is None or not sid:
            msg = f"MessageStatus {status[:30]!r} is not a Twilio message status"
            raise InboundError(msg)
        invitation_id = dict(parse_qsl(urlsplit(request.url).query)).get("i")
        error = fields.get("ErrorCode", "")
        code = int(error) if error.isdecimal() else None
        detail = f"{status}" + (f" (error {code})" if code is not None else "")
        to = fields.get("To")
        return [
            StatusReceived(
                provider_id=sid,
                disposition=disposition,
                invitation_id=invitation_id,
                permanent=code in PERMANENT_ERRORS,
                detail=detail,
                address=strip_channel_prefix(to) if to else None,
            )
        ]

    def inbound_reply(
        self, request: InboundRequest, results: Sequence[IntakeResult]
    ) -> InboundReply | None:
        """TwiML for Twilio: the confirmation, the next question, the one retry prompt, or nothing.

        Each confirmation goes with the request that changed something; a
        retried webhook (the same ``MessageSid``) or a repeated keyword changes
        nothing and gets an empty answer, so each is confirmed exactly once.
        """
        texts: list[str] = []
        if not results:
            fields = _fields(request)
            found = keyword_of(fields.get("Body", "")) if "MessageStatus" not in fields else None
            if found is not None and found[0] is Keyword.HELP:
                texts.append(self.texts.help)
        for result in results:
            text = self._answer_text(result)
            if text is not None:
                texts.append(text)
        return InboundReply(status=200, body=_twiml(texts), media_type="text/xml")

    def _answer_text(self, result: IntakeResult) -> str | None:
        match result:
            case OptOutRecorded(changed=True, opted_out=True):
                return self.texts.opt_out
            case OptOutRecorded(changed=True, opted_out=False):
                return self.texts.opt_in
            case Accepted(outcome=SubmitOutcome.CREATED | SubmitOutcome.UPDATED):
                locale = result.invitation.locale if result.invitation else "en"
                remaining = result.remaining
                return prompt_text(remaining[0] if remaining else None, locale, retry=False)
            case Rejected(
                reason=RejectReason.UNREADABLE_REPLY | RejectReason.AMBIGUOUS_REPLY, prompt=True
            ):
                locale = result.invitation.locale if result.invitation else "en"
                return prompt_text(result.question, locale, retry=True)
        return None

    async def aclose(self) -> None:
        """Close the HTTP connections; later sends raise ChannelClosedError. Idempotent."""
        self._closed = True
        close = getattr(self.http, "close", None)
        if close is not None:
            await close()


class WhatsAppChannel(SmsChannel):
    """Survey invitations on WhatsApp through Twilio: approved templates, quick-reply buttons.

    The same Messages API as :class:`SmsChannel`, with ``whatsapp:`` addresses.
    A business-initiated message needs a template WhatsApp approved: give its
    Content SID per survey in *content_templates*; it gets the variables
    ``{"1": <the customer's name>, "2": <the survey link>}``. Its quick-reply
    buttons answer when their ids read ``<question id>=<level>`` (``ltr=9``,
    ``mood=4``): a tap comes back as the answer to that question. Without a
    template, a free-form message is sent, which WhatsApp takes only within 24
    hours after the customer last wrote (else Twilio's error 63016: the send
    fails, never retried, and the number is not suppressed).

    Args:
        content_templates: Content SIDs (``HX...``) by survey id.
        **options: As for :class:`SmsChannel`; *from_number* is the WhatsApp
            sender's number.

    .. versionadded:: 0.1.0
    """

    capabilities: ClassVar[Capabilities] = Capabilities(
        formats=frozenset({"text/plain"}),
        address=AddressKind.PHONE,
        max_length=1600,
        two_way=True,
        inbound=InboundMode.REPLY,
    )
    prefix: ClassVar[str] = WHATSAPP_PREFIX
    segmented: ClassVar[bool] = False

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        base_url: str,
        inbound_url: str,
        style: Style = "reply",
        api_base_url: str | None = None,
        http_client: AsyncHttpClient | None = None,
        timeout: float = 15.0,
        max_attempts: int = 4,
        opt_out_also: Sequence[str] = (),
        opt_out_reply: str | None = None,
        opt_in_reply: str | None = None,
        help_reply: str | None = None,
        stop_hint: bool = True,
        content_templates: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(
            account_sid=account_sid,
            auth_token=auth_token,
            from_number=from_number,
            messaging_service_sid=messaging_service_sid,
            base_url=base_url,
            inbound_url=inbound_url,
            style=style,
            api_base_url=api_base_url,
            http_client=http_client,
            timeout=timeout,
            max_attempts=max_attempts,
            opt_out_also=opt_out_also,
            opt_out_reply=opt_out_reply,
            opt_in_reply=opt_in_reply,
            help_reply=help_reply,
            stop_hint=stop_hint,
        )
        templates = dict(content_templates or {})
        for survey_id, sid in templates.items():
            if not sid.startswith("HX"):
                msg = (
                    f"content_templates[{survey_id!r}]: {sid!r} is not a Content SID "
                    "(expected 'HX...')"
                )
                raise SmsConfigError(msg)
        self.content_templates = templates

    def _extra_headers(
        self, invitation: Invitation, survey: Survey, link: str | None
    ) -> dict[str, str]:
        sid = self.content_templates.get(survey.id)
        if sid is None:
            return {}
        variables = {
            "1": " ".join((invitation.name or "").split())[:60],
            "2": link or self.survey_link(invitation),
        }
        return {
            "ContentSid": sid,
            "ContentVariables": json.dumps(variables, ensure_ascii=False, sort_keys=True),
        }

    @staticmethod
    def check_survey(survey: Survey) -> Sequence[Problem]:
        """Nothing: WhatsApp texts are not split into segments, whatever their characters."""
        del survey
        return []

    def _button_answers(self, fields: Mapping[str, str]) -> dict[str, int | str]:
        payload = fields.get("ButtonPayload", "").strip()
        question, eq, value = payload.partition("=")
        if not eq or not question or not value:
            return {}
        return {question: _answer_value(value)}
