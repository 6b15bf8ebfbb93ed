"""Intake: the one road every answer, opt-out and delivery status takes into the store.

Whatever the channel, an inbound request becomes :data:`~cxcore.InboundEvent`
values (a channel's ``parse_inbound``, or the collector's own link pages), and
:class:`Intake` does the one right thing for each:

* an answer with a token: verify it (purpose, expiry, key rotation), find the
  invitation, check the answers against its survey, and submit them: later
  answers to the same invitation complete (or correct) the same response, as
  the survey's repeat policy says;
* an answer by reply (an SMS "9"): find the address's open invitation on the
  channel, read the reply as the answer to its next question, and submit it;
* an opt-out: suppress the address and withdraw its consent, with provenance;
* a delivery status: match it to its invitation and record it, never going
  backwards, suppressing the address on a permanent failure.

Kiosks (anonymous answers) and front-line staff (agent-reported answers) use
:meth:`Intake.anonymous` and :meth:`Intake.agent_report`, without a token.

Every call returns a typed result, :data:`IntakeResult`, which each adapter
turns into its own answer: a page, JSON, or a provider's reply format. A
forged, expired or wrong-purpose token, or answers that do not fit the survey,
give a :class:`Rejected` result and write nothing. Failures of the store
itself (a lost connection) are raised, never hidden.

**Idempotency keys** are per request, not per token. A request that carries
its own key (an ``Idempotency-Key`` header, a provider's message id such as
Twilio's ``MessageSid``, a kiosk's client-made id) is stored under it, so a
retry of that request is harmless, and the same key with other answers is
refused (:attr:`RejectReason.CONFLICT`). A request without a key gets one
derived from what it says (channel, invitation, answers, whether complete): the
same click twice stores once, while a one-click score, then the full form,
then a correction are three requests that complete and amend one response.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Protocol, TypeAlias, runtime_checkable

import attrs

from cxcore.distribution.tokens import (
    ExpiredTokenError,
    TamperedTokenError,
    TokenPurpose,
    TokenService,
    WrongPurposeError,
)
from cxcore.errors import Problem, ValidationError, count_problems
from cxcore.model.frozendict import FrozenDict
from cxcore.model.interaction import Scalar
from cxcore.model.invitation import Disposition, Invitation
from cxcore.model.response import MAX_KEY_LENGTH, RespondentKind, Response
from cxcore.model.survey import AnswerValue, Question, Survey, TextQuestion
from cxcore.ports.channel import (
    AnswersReceived,
    InboundEvent,
    InboundRequest,
    OptOutReceived,
    StatusReceived,
)
from cxcore.ports.clock import Clock, SystemClock
from cxcore.ports.store import (
    ConflictError,
    OptOut,
    PayloadTooLargeError,
    StatusResult,
    StatusUpdate,
    Store,
    StoreError,
    Submission,
    SubmitOutcome,
    UnknownSurveyError,
)
from cxcore.replies import read_reply

__all__ = [
    "Accepted",
    "InboundReply",
    "InboundResponder",
    "Intake",
    "IntakeResult",
    "OptOutRecorded",
    "RejectReason",
    "Rejected",
    "StatusRecorded",
    "SurveyView",
]

log = logging.getLogger("cxcore.intake")

_SUPPRESSING = frozenset({Disposition.BOUNCED, Disposition.FAILED, Disposition.COMPLAINED})
"""The statuses that suppress the address when the provider says they are permanent."""


class RejectReason(enum.StrEnum):
    """Why a request was refused. Nothing was written.

    .. versionadded:: 0.1.0
    """

    TAMPERED_TOKEN = "tampered_token"  # noqa: S105 - a reason's name, not a secret
    """The token is malformed or its signature does not match: a broken or forged link."""
    WRONG_PURPOSE = "wrong_purpose"
    """The token is genuine, but for something else (an unsubscribe token used to answer)."""
    EXPIRED = "expired"
    """The invitation expired: answers are no longer accepted."""
    UNKNOWN_INVITATION = "unknown_invitation"
    """The token is genuine, but its invitation is not stored (erased, or another store's)."""
    INVALID_ANSWERS = "invalid_answers"
    """The answers do not fit the survey; the result's ``problems`` say how."""
    CONFLICT = "conflict"
    """The request's idempotency key was used before with other answers."""
    TOO_LARGE = "too_large"
    """The answers are larger than the store accepts."""
    UNKNOWN_SURVEY = "unknown_survey"
    """The survey (or version) is not stored."""
    NO_OPEN_INVITATION = "no_open_invitation"
    """A reply came from an address with no open invitation on the channel."""
    UNREADABLE_REPLY = "unreadable_reply"
    """A reply could not be read as an answer to the question asked."""
    AMBIGUOUS_REPLY = "ambiguous_reply"
    """A reply gave more than one answer ("9 or 10")."""
    NO_ADDRESS = "no_address"
    """An opt-out names no address the invitation was sent to."""
    UNMATCHED_STATUS = "unmatched_status"
    """A delivery status matches no invitation sent."""
    INVALID_EVENT = "invalid_event"
    """The event lacks what its kind needs (an answer with neither token nor reply)."""


@attrs.frozen(kw_only=True)
class Accepted:
    """Answers were taken in (or were already: see ``outcome``).

    Attributes:
        outcome: What the submission did: ``created``, ``updated``, ``repeated``
            (the same request again), or ``ignored`` (the response was complete
            and the survey keeps the first answers).
        response: The stored response, as it is now.
        survey: The survey version answered.
        invitation: The invitation answered, if any.

    .. versionadded:: 0.1.0
    """

    outcome: SubmitOutcome
    response: Response
    survey: Survey
    invitation: Invitation | None = None
    ok = True

    @property
    def complete(self) -> bool:
        """Whether the response is complete."""
        return self.response.is_complete

    @property
    def remaining(self) -> tuple[Question, ...]:
        """The questions shown but not answered yet, given the answers so far."""
        answers = self.response.answers
        return tuple(q for q in self.survey.visible(answers) if q.id not in answers)


@attrs.frozen(kw_only=True)
class Rejected:
    """A request was refused; nothing was written.

    Attributes:
        reason: Why, as a code an adapter can turn into its own words.
        message: Why, in English, for logs and API clients. It names what was
            wrong, but never a token, an address or an answer's text.
        problems: Every problem with the answers, for ``invalid_answers``.
        invitation: The invitation concerned, when it is known (an expired
            invitation, say), so a page can speak the invitation's language.
        survey: Its survey, when known.
        question: The question a reply could not answer, for reply channels.
        prompt: Whether the respondent should be asked once more: ``True``
            for the first unreadable reply to an invitation, ``False`` after
            (one polite retry prompt, then nothing more).

    .. versionadded:: 0.1.0
    """

    reason: RejectReason
    message: str
    problems: tuple[Problem, ...] = ()
    invitation: Invitation | None = None
    survey: Survey | None = None
    question: Question | None = None
    prompt: bool = False
    ok = False


@attrs.frozen(kw_only=True)
class OptOutRecorded:
    """An opt-out (or opt-in) was recorded, or had been already.

    Attributes:
        opted_out: ``True`` for an opt-out, ``False`` for an opt-in.
        changed: Whether this request changed anything; ``False`` on a repeat.
        channel: The channel the address opted out of.
        invitation: The invitation whose link carried the request, if any.
        keyword: What was said or done (``"STOP"``).

    .. versionadded:: 0.1.0
    """

    opted_out: bool
    changed: bool
    channel: str
    invitation: Invitation | None = None
    keyword: str | None = None
    ok = True


@attrs.frozen(kw_only=True)
class StatusRecorded:
    """A delivery status was matched to its invitation.

    Attributes:
        invitation: The invitation.
        disposition: The status reported.
        result: What the store did: whether it was recorded (a status never
            goes backwards), the furthest the invitation reached, and whether
            the address was suppressed.

    .. versionadded:: 0.1.0
    """

    invitation: Invitation
    disposition: Disposition
    result: StatusResult
    ok = True


IntakeResult: TypeAlias = Accepted | Rejected | OptOutRecorded | StatusRecorded
"""What :class:`Intake` made of one inbound event."""


def _headers(value: Mapping[str, str] | None) -> FrozenDict[str, str]:
    return FrozenDict(value or {})


@attrs.frozen(kw_only=True)
class InboundReply:
    """What a channel wants its provider (or the person) to get back for one request.

    Args:
        status: The HTTP status.
        body: The body: a provider's reply format (TwiML, JSON...), or a page.
        media_type: The body's media type.
        headers: More headers.

    .. versionadded:: 0.1.0
    """

    status: int = 200
    body: str | bytes = b""
    media_type: str = "text/plain"
    headers: FrozenDict[str, str] = attrs.field(factory=FrozenDict, converter=_headers)


@runtime_checkable
class InboundResponder(Protocol):
    """A channel that answers its own inbound requests, in its provider's format.

    Channels may implement it (it is not part of :class:`~cxcore.Channel`):
    the collector's channel route calls it with what :class:`Intake` made of
    the request's events, and sends back what it returns. Without it (or when
    it returns ``None``), the route answers JSON. An SMS channel, say, answers
    a STOP with the provider's reply format and its confirmation text.

    .. versionadded:: 0.1.0
    """

    def inbound_reply(
        self, request: InboundRequest, results: Sequence[IntakeResult]
    ) -> InboundReply | None:
        """The answer to *request*, given *results* (one per event, in order). Pure."""
        ...


@attrs.frozen(kw_only=True)
class SurveyView:
    """What a survey page shows for a token: the invitation, its survey, the answers so far.

    Attributes:
        invitation: The invitation the token belongs to.
        survey: The survey version it asks.
        response: Its latest response, if it has one.

    .. versionadded:: 0.1.0
    """

    invitation: Invitation
    survey: Survey
    response: Response | None = None

    @property
    def answers(self) -> Mapping[str, AnswerValue]:
        """The answers given so far."""
        return self.response.answers if self.response is not None else {}

    @property
    def complete(self) -> bool:
        """Whether the invitation's response is complete."""
        return self.response is not None and self.response.is_complete

    @property
    def remaining(self) -> tuple[Question, ...]:
        """The questions shown but not answered yet."""
        answers = self.answers
        return tuple(q for q in self.survey.visible(answers) if q.id not in answers)


class Intake:
    """Takes every answer, opt-out and delivery status into the store. No web code.

    >>> import asyncio, tempfile, os
    >>> from datetime import UTC, datetime, timedelta
    >>> from cxcore import ManualClock, NpsQuestion, Survey
    >>> from cxcore.distribution import TokenService
    >>> from cxcore.stores import SQLiteStore
    >>> survey = Survey(id="kiosk_nps", title={"en": "Your visit"},
    ...                 questions=[NpsQuestion(id="ltr", text={"en": "Recommend us?"})])
    >>> clock = ManualClock(datetime(2026, 12, 7, 10, 0, tzinfo=UTC))
    >>> async def demo(path):
    ...     async with SQLiteStore(path, clock=clock) as store:
    ...         await store.put_survey(survey)
    ...         intake = Intake(store, TokenService(["k" * 32], clock=clock), clock=clock)
    ...         first = await intake.anonymous("kiosk_nps", {"ltr": 9}, channel="kiosk",
    ...                                        key="tap-1", context={"store": "BLR-01"})
    ...         again = await intake.anonymous("kiosk_nps", {"ltr": 9}, channel="kiosk",
    ...                                        key="tap-1", context={"store": "BLR-01"})
    ...         bad = await intake.anonymous("kiosk_nps", {"ltr": 11}, channel="kiosk", key="tap-2")
    ...         return first.outcome.value, again.outcome.value, bad.reason.value, bad.problems
    >>> with tempfile.TemporaryDirectory() as d:
    ...     first, again, reason, problems = asyncio.run(demo(os.path.join(d, "cx.db")))
    >>> first, again, reason
    ('created', 'repeated', 'invalid_answers')
    >>> print(*problems)
    answers.ltr: 11 is not a whole number from 0 to 10

    Args:
        store: Where answers, opt-outs and statuses are written.
        tokens: Verifies the tokens that answers and unsubscribe links carry.
        clock: Tells the time (when answers arrive, expiry).
        latest_seconds: How long the latest version of a survey answered
            without a token (a kiosk's) is taken as the latest, before the store
            is asked again.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        store: Store,
        tokens: TokenService,
        *,
        clock: Clock | None = None,
        latest_seconds: float = 1.0,
    ) -> None:
        self.store = store
        self.tokens = tokens
        self.clock: Clock = clock or SystemClock()
        self.latest_seconds = latest_seconds
        self._latest: dict[str, tuple[float, int]] = {}

    def __repr__(self) -> str:
        return f"Intake({self.store!r})"

    # -- events from channels ---------------------------------------------------------

    async def receive(
        self, channel: str, events: Sequence[InboundEvent], *, key: str | None = None
    ) -> list[IntakeResult]:
        """Take in every event a channel found in one request, in order.

        Args:
            channel: The channel instance the request came in on.
            events: What its ``parse_inbound`` returned.
            key: The request's own idempotency key, if it has one (a header,
                a provider's message id); several events get ``key#1``, ``key#2``...

        Returns:
            One result per event, in order.
        """
        results: list[IntakeResult] = []
        for i, event in enumerate(events):
            event_key = key if key is None or len(events) == 1 else f"{key}#{i + 1}"
            results.append(await self.take(channel, event, key=event_key))
        return results

    async def take(
        self, channel: str, event: InboundEvent, *, key: str | None = None
    ) -> IntakeResult:
        """Take in one event that came in on *channel* (see :meth:`receive`)."""
        match event:
            case AnswersReceived(token=str() as token):
                return await self.submit(
                    token,
                    event.answers,
                    complete=event.complete,
                    channel=channel,
                    key=event.key or key,
                )
            case AnswersReceived(address=str() as address, reply=str() as reply):
                return await self.reply(address, reply, channel=channel, key=event.key or key)
            case AnswersReceived(address=str() as address) if event.answers:
                return await self.answer_by_address(
                    address,
                    event.answers,
                    channel=channel,
                    key=event.key or key,
                    complete=event.complete,
                )
            case AnswersReceived():
                return Rejected(
                    reason=RejectReason.INVALID_EVENT,
                    message="the answers carry neither a token nor a reply from an address",
                )
            case OptOutReceived():
                return await self.opt_out(
                    channel=channel,
                    address=event.address,
                    token=event.token,
                    keyword=event.keyword,
                    opted_out=event.opted_out,
                    also=event.also,
                )
            case StatusReceived():
                return await self.status(event, channel=channel)
        return Rejected(  # type: ignore[unreachable]  # a plugin may return anything
            reason=RejectReason.INVALID_EVENT,
            message=f"{type(event).__name__} is not an inbound event",
        )

    # -- answers ---------------------------------------------------------------------------

    async def view(self, token: str) -> SurveyView | Rejected:
        """What the survey page of *token* shows, or why it cannot be shown.

        Accepts survey and AMP tokens.
        """
        found = await self.find_invitation(token, (TokenPurpose.SURVEY, TokenPurpose.AMP))
        if isinstance(found, Rejected):
            return found
        survey = await self._survey(found)
        if isinstance(survey, Rejected):
            return survey
        response = await self.store.invitation_response(found.id)
        return SurveyView(invitation=found, survey=survey, response=response)

    async def submit(
        self,
        token: str,
        answers: Mapping[str, AnswerValue],
        *,
        complete: bool,
        channel: str | None = None,
        key: str | None = None,
        locale: str | None = None,
        purposes: Sequence[TokenPurpose] = (TokenPurpose.SURVEY, TokenPurpose.AMP),
    ) -> IntakeResult:
        """Submit answers to the invitation a survey (or AMP) token belongs to.

        Args:
            token: The token the link or form carried.
            answers: Answers keyed by question id.
            complete: Whether the respondent submitted the whole survey.
            channel: The channel instance the request came in on (for the
                derived idempotency key); the response keeps the invitation's channel.
            key: The request's own idempotency key, if any.
            locale: The language the page was shown in (default: the invitation's).
            purposes: The token purposes accepted: links take survey tokens, and the
                AMP endpoint only AMP tokens.
        """
        found = await self.find_invitation(token, purposes)
        if isinstance(found, Rejected):
            return found
        return await self._answer(
            found, answers, complete=complete, channel=channel, key=key, locale=locale
        )

    async def reply(
        self, address: str, text: str, *, channel: str, key: str | None = None
    ) -> IntakeResult:
        """Read a reply from *address* on *channel* as the answer to its open invitation.

        The reply answers the first question of the survey not answered yet
        (the score, then a follow-up comment); a score followed by words
        (``"9 great service"``) also answers the next comment question. The
        response is complete when every question shown is answered.
        """
        invitation = await self.store.open_invitation(address, channel, now=self.clock.now())
        if invitation is None:
            return Rejected(
                reason=RejectReason.NO_OPEN_INVITATION,
                message=f"no open invitation on channel {channel!r} for the reply's address",
            )
        survey = await self._survey(invitation)
        if isinstance(survey, Rejected):
            return survey
        response = await self.store.invitation_response(invitation.id)
        so_far: dict[str, AnswerValue] = dict(response.answers) if response else {}
        question = _next_question(survey, so_far)
        if question is None:
            return Rejected(
                reason=RejectReason.NO_OPEN_INVITATION,
                message=f"invitation {invitation.id!r} has every question answered",
                invitation=invitation,
                survey=survey,
            )
        reading = read_reply(text, question)
        if reading.value is None:
            reason = (
                RejectReason.AMBIGUOUS_REPLY if reading.ambiguous else RejectReason.UNREADABLE_REPLY
            )
            return Rejected(
                reason=reason,
                message=f"question {question.id!r}: {reading.problem}",
                invitation=invitation,
                survey=survey,
                question=question,
                prompt=response is None and await self._first_prompt(invitation),
            )
        answers: dict[str, AnswerValue] = {question.id: reading.value}
        merged = {**so_far, **answers}
        following = _next_question(survey, merged)
        if reading.rest and isinstance(following, TextQuestion):
            answers[following.id] = reading.rest
            merged[following.id] = reading.rest
        complete = _next_question(survey, merged) is None
        result = await self._answer(
            invitation,
            answers,
            complete=complete,
            channel=channel,
            key=key,
            reply=text,
            current=response,
            read=True,
        )
        if isinstance(result, Rejected) and result.reason is RejectReason.CONFLICT and key:
            # The provider sent this message again after it was taken in (its id
            # is the key): read against the question now next, it says otherwise.
            latest = await self.store.invitation_response(invitation.id)
            if latest is not None:
                return Accepted(
                    outcome=SubmitOutcome.REPEATED,
                    response=latest,
                    survey=survey,
                    invitation=invitation,
                )
        return result

    async def _first_prompt(self, invitation: Invitation) -> bool:
        """Whether an unreadable reply to *invitation* is the first: it then gets a prompt.

        The first is marked as the invitation's ``started`` disposition (the
        person began to answer), so a second unreadable reply, or the
        provider's retry of the first, gets nothing more.
        """
        if any(d is Disposition.STARTED for d, _ in await self.store.dispositions(invitation.id)):
            return False
        await self.store.record_disposition(
            invitation.id, Disposition.STARTED, self.clock.now(), "an unreadable reply"
        )
        return True

    async def answer_by_address(
        self,
        address: str,
        answers: Mapping[str, AnswerValue],
        *,
        channel: str,
        key: str | None = None,
        complete: bool = False,
    ) -> IntakeResult:
        """Answers from *address* (a WhatsApp button's payload) to its open invitation on *channel*.

        The answers name their questions; the response is complete when
        *complete* is set or every question shown is answered.
        """
        invitation = await self.store.open_invitation(address, channel, now=self.clock.now())
        if invitation is None:
            return Rejected(
                reason=RejectReason.NO_OPEN_INVITATION,
                message=f"no open invitation on channel {channel!r} for the answers' address",
            )
        survey = await self._survey(invitation)
        if isinstance(survey, Rejected):
            return survey
        response = await self.store.invitation_response(invitation.id)
        merged: dict[str, AnswerValue] = {**(response.answers if response else {}), **answers}
        done = complete or _next_question(survey, merged) is None
        return await self._answer(
            invitation,
            answers,
            complete=done,
            channel=channel,
            key=key,
            current=response,
            read=True,
        )

    async def anonymous(
        self,
        survey_id: str,
        answers: Mapping[str, AnswerValue],
        *,
        channel: str,
        key: str,
        complete: bool = True,
        version: int | None = None,
        context: Mapping[str, Scalar] | None = None,
        locale: str = "en",
        interaction_id: str | None = None,
    ) -> IntakeResult:
        """Submit answers from someone not identified: a kiosk, an open link, a QR code.

        Args:
            survey_id: The survey answered.
            answers: Answers keyed by question id.
            channel: The channel (``"kiosk"``).
            key: The idempotency key the device made for this answer; required,
                since nothing else tells a retry from a second visitor.
            complete: Whether the survey was submitted.
            version: The survey version shown (default: the latest stored).
            context: The interaction's dimensions: store, touchpoint (``"store_exit"``)...
            locale: The language the survey was shown in.
            interaction_id: The interaction asked about, if any.
        """
        return await self._unsolicited(
            survey_id,
            answers,
            channel=channel,
            key=key,
            complete=complete,
            version=version,
            context=context,
            locale=locale,
            interaction_id=interaction_id,
            respondent=RespondentKind.ANONYMOUS,
        )

    async def agent_report(
        self,
        survey_id: str,
        answers: Mapping[str, AnswerValue],
        *,
        agent_id: str,
        key: str,
        channel: str = "agent",
        customer_id: str | None = None,
        complete: bool = True,
        version: int | None = None,
        context: Mapping[str, Scalar] | None = None,
        locale: str = "en",
        interaction_id: str | None = None,
    ) -> IntakeResult:
        """Submit what a customer told a front-line employee, marked agent-reported.

        Agent-reported answers are kept apart: every score leaves them out
        unless asked to include them.

        Args:
            survey_id: The survey answered.
            answers: Answers keyed by question id.
            agent_id: The employee reporting.
            key: The idempotency key of this report.
            channel: Where it was recorded (default ``"agent"``).
            customer_id: The customer, if the employee knows them.
            complete: Whether the report is complete.
            version: The survey version (default: the latest stored).
            context: The interaction's dimensions: store, touchpoint...
            locale: The language of the answers.
            interaction_id: The interaction asked about, if any.
        """
        return await self._unsolicited(
            survey_id,
            answers,
            channel=channel,
            key=key,
            complete=complete,
            version=version,
            context=context,
            locale=locale,
            interaction_id=interaction_id,
            respondent=RespondentKind.AGENT,
            agent_id=agent_id,
            customer_id=customer_id,
        )

    # -- opt-outs and statuses -----------------------------------------------------------

    async def opt_out(
        self,
        *,
        channel: str | None = None,
        address: str | None = None,
        token: str | None = None,
        keyword: str | None = None,
        opted_out: bool = True,
        also: Sequence[str] = (),
    ) -> IntakeResult:
        """Opt an address out of a channel, by an unsubscribe link's signed token or by address.

        A token names the invitation, and through it the address, channel and
        customer; an address (an SMS STOP) opts out of *channel*, and of the
        channels in *also* (every SMS sender of a deployment). With
        *opted_out* false, the address opts back in (an SMS START). Repeats
        are harmless: the second changes nothing.
        """
        invitation: Invitation | None = None
        customer_id: str | None = None
        if token is not None:
            found = await self.find_invitation(token, (TokenPurpose.UNSUBSCRIBE,), expired_ok=True)
            if isinstance(found, Rejected):
                return found
            invitation = found
            if invitation.address is None:
                return Rejected(
                    reason=RejectReason.NO_ADDRESS,
                    message=f"invitation {invitation.id!r} was sent to no address",
                    invitation=invitation,
                )
            address, channel, customer_id = (
                invitation.address,
                invitation.channel,
                invitation.customer_id,
            )
        if address is None or channel is None:
            return Rejected(
                reason=RejectReason.NO_ADDRESS,
                message="the opt-out names no token, nor an address and its channel",
            )
        how = "unsubscribe_link" if token is not None else "keyword"
        try:
            opt_outs = [
                OptOut(
                    address=address,
                    channel=name,
                    at=self.clock.now(),
                    source=f"{channel}.{how}",
                    opted_out=opted_out,
                    keyword=keyword,
                    customer_id=customer_id,
                    invitation_id=invitation.id if invitation else None,
                )
                for name in dict.fromkeys([channel, *also])
            ]
        except ValidationError as exc:  # checked before anything is written
            return Rejected(
                reason=RejectReason.INVALID_EVENT, message=str(exc), problems=exc.problems
            )
        changed = False
        for opt_out in opt_outs:
            changed = await self.store.record_opt_out(opt_out) or changed
        way = "out" if opted_out else "in"
        log.info("opt-%s on %s (%s): %s", way, channel, how, "recorded" if changed else "repeated")
        return OptOutRecorded(
            opted_out=opted_out,
            changed=changed,
            channel=channel,
            invitation=invitation,
            keyword=keyword,
        )

    async def status(self, event: StatusReceived, *, channel: str) -> IntakeResult:
        """Record a delivery status, matched by invitation id or the provider's message id."""
        invitation: Invitation | None = None
        if event.invitation_id is not None:
            try:
                invitation = await self.store.invitation(event.invitation_id)
            except StoreError:
                invitation = None
        if invitation is None and event.provider_id is not None:
            invitation = await self.store.invitation_by_provider_id(event.provider_id)
        if invitation is None:
            return Rejected(
                reason=RejectReason.UNMATCHED_STATUS,
                message=f"a {event.disposition.value!r} status on channel {channel!r} "
                "matches no invitation sent",
            )
        try:
            update = StatusUpdate(
                invitation_id=invitation.id,
                disposition=event.disposition,
                at=self.clock.now(),
                detail=event.detail,
                suppress=event.permanent and event.disposition in _SUPPRESSING,
            )
        except ValidationError as exc:
            return Rejected(
                reason=RejectReason.INVALID_EVENT,
                message=str(exc),
                problems=exc.problems,
                invitation=invitation,
            )
        result = await self.store.record_status(update)
        return StatusRecorded(invitation=invitation, disposition=update.disposition, result=result)

    # -- the parts -------------------------------------------------------------------------

    async def find_invitation(
        self,
        token: str,
        purposes: Sequence[TokenPurpose],
        *,
        expired_ok: bool = False,
    ) -> Invitation | Rejected:
        """The invitation of a token that is genuine, current and for one of *purposes*.

        Reads only: an unsubscribe page uses it to show its question before
        anything is written.

        Args:
            token: The token as it came back.
            purposes: The purposes accepted, the first tried first.
            expired_ok: Whether an expired invitation is still found (an old
                email's unsubscribe link still unsubscribes).

        Returns:
            The invitation, or why it cannot be found.
        """
        purpose = purposes[0]
        try:
            invitation_id = self.tokens.verify(token, purpose)
        except WrongPurposeError as exc:
            if exc.actual not in purposes:
                return Rejected(
                    reason=RejectReason.WRONG_PURPOSE,
                    message=f"the token was issued for {exc.actual.value!r}, "
                    f"not {' or '.join(p.value for p in purposes)}",
                )
            return await self.find_invitation(token, (exc.actual,), expired_ok=expired_ok)
        except ExpiredTokenError as exc:
            invitation = await self._stored(exc.opaque_id)
            if expired_ok and invitation is not None:
                return invitation  # an old email's unsubscribe link still unsubscribes
            return Rejected(
                reason=RejectReason.EXPIRED,
                message=f"the invitation expired at {exc.expired_at.isoformat()}",
                invitation=invitation,
            )
        except TamperedTokenError:
            return Rejected(
                reason=RejectReason.TAMPERED_TOKEN,
                message="the token is not one this collector issued (malformed, or altered)",
            )
        invitation = await self._stored(invitation_id)
        if invitation is None:
            return Rejected(
                reason=RejectReason.UNKNOWN_INVITATION,
                message=f"invitation {invitation_id!r} is not stored",
            )
        if (
            not expired_ok
            and invitation.expires_at is not None
            and self.clock.now() >= invitation.expires_at
        ):
            return Rejected(
                reason=RejectReason.EXPIRED,
                message=f"the invitation expired at {invitation.expires_at.isoformat()}",
                invitation=invitation,
            )
        return invitation

    async def _stored(self, invitation_id: str | None) -> Invitation | None:
        if invitation_id is None:
            return None
        try:
            return await self.store.invitation(invitation_id)
        except StoreError:
            return None

    async def _survey(self, invitation: Invitation) -> Survey | Rejected:
        try:
            return await self.store.survey(invitation.survey_id, invitation.survey_version)
        except UnknownSurveyError as exc:
            return Rejected(
                reason=RejectReason.UNKNOWN_SURVEY, message=str(exc), invitation=invitation
            )

    async def _answer(
        self,
        invitation: Invitation,
        answers: Mapping[str, AnswerValue],
        *,
        complete: bool,
        channel: str | None,
        key: str | None,
        locale: str | None = None,
        reply: str | None = None,
        current: Response | None = None,
        read: bool = False,
    ) -> IntakeResult:
        survey = await self._survey(invitation)
        if isinstance(survey, Rejected):
            return survey
        content: object = None
        if key is None:
            # Made from what the request says and from what is stored now: the
            # same click twice stores once, while 9, then 6, then 9 again ends at 9.
            if not read:
                current = await self.store.invitation_response(invitation.id)
            if current is not None and _says_nothing_new(
                survey, current, answers, complete=complete
            ):
                # A link clicked again, a page sent twice: nothing to write.
                return Accepted(
                    outcome=SubmitOutcome.REPEATED,
                    response=current,
                    survey=survey,
                    invitation=invitation,
                )
            state = None if current is None else [_jsonable(current.answers), current.status.value]
            payload: object = reply if reply is not None else [_jsonable(answers), complete]
            content = ["invitation", invitation.id, payload, state]
        idempotency_key = _request_key(channel or invitation.channel, key, content)
        try:
            submission = Submission(
                idempotency_key=idempotency_key,
                survey_id=invitation.survey_id,
                survey_version=invitation.survey_version,
                answers=answers,
                complete=complete,
                channel=invitation.channel,
                respondent=(
                    RespondentKind.CUSTOMER
                    if invitation.customer_id is not None
                    else RespondentKind.ANONYMOUS
                ),
                received_at=self.clock.now(),
                customer_id=invitation.customer_id,
                invitation_id=invitation.id,
                interaction_id=invitation.interaction_id,
                locale=locale or invitation.locale,
                context=invitation.context,
            )
        except ValidationError as exc:
            return _invalid(exc, survey, invitation)
        return await self._store(submission, survey, invitation)

    async def _unsolicited(
        self,
        survey_id: str,
        answers: Mapping[str, AnswerValue],
        *,
        channel: str,
        key: str,
        complete: bool,
        version: int | None,
        context: Mapping[str, Scalar] | None,
        locale: str,
        interaction_id: str | None,
        respondent: RespondentKind,
        agent_id: str | None = None,
        customer_id: str | None = None,
    ) -> IntakeResult:
        try:
            survey = await self._version(survey_id, version)
        except UnknownSurveyError as exc:
            return Rejected(reason=RejectReason.UNKNOWN_SURVEY, message=str(exc))
        try:
            submission = Submission(
                idempotency_key=_request_key(channel, key, None),
                survey_id=survey.id,
                survey_version=survey.version,
                answers=answers,
                complete=complete,
                channel=channel,
                respondent=respondent,
                received_at=self.clock.now(),
                customer_id=customer_id,
                agent_id=agent_id,
                interaction_id=interaction_id,
                locale=locale,
                context=context or {},
            )
        except ValidationError as exc:
            return _invalid(exc, survey, None)
        return await self._store(submission, survey, None)

    async def _version(self, survey_id: str, version: int | None) -> Survey:
        """The survey version asked for, or the latest, whose number is kept ``latest_seconds``.

        Answers without a token (a kiosk's) name their survey, not its version:
        the latest is looked up once a second per survey, not once an answer. A
        version published by another process is taken within that second.
        """
        if version is not None:
            return await self.store.survey(survey_id, version)
        now = time.monotonic()
        known = self._latest.get(survey_id)
        if known is not None and now - known[0] < self.latest_seconds:
            return await self.store.survey(survey_id, known[1])
        survey = await self.store.survey(survey_id)
        self._latest[survey_id] = (now, survey.version)
        return survey

    async def _store(
        self, submission: Submission, survey: Survey, invitation: Invitation | None
    ) -> IntakeResult:
        try:
            result = await self.store.submit(submission)
        except ValidationError as exc:
            return _invalid(exc, survey, invitation)
        except ConflictError:
            return Rejected(
                reason=RejectReason.CONFLICT,
                message="this request's idempotency key was used before with other answers; "
                "send new answers with a new key",
                invitation=invitation,
                survey=survey,
            )
        except PayloadTooLargeError as exc:
            return Rejected(
                reason=RejectReason.TOO_LARGE,
                message=str(exc),
                invitation=invitation,
                survey=survey,
            )
        except UnknownSurveyError as exc:
            return Rejected(reason=RejectReason.UNKNOWN_SURVEY, message=str(exc), survey=survey)
        return Accepted(
            outcome=result.outcome, response=result.response, survey=survey, invitation=invitation
        )


def _says_nothing_new(
    survey: Survey, current: Response, answers: Mapping[str, AnswerValue], *, complete: bool
) -> bool:
    """Whether *answers* (and *complete*) would leave *current* as it is."""
    if complete and not current.is_complete:
        return False
    given = survey.normalize_answers(answers)
    return all(current.answers.get(q) == v for q, v in given.items())


def _next_question(survey: Survey, answers: Mapping[str, AnswerValue]) -> Question | None:
    return next((q for q in survey.visible(answers) if q.id not in answers), None)


def _invalid(exc: ValidationError, survey: Survey, invitation: Invitation | None) -> Rejected:
    return Rejected(
        reason=RejectReason.INVALID_ANSWERS,
        message=f"{count_problems(len(exc.problems))} with the answers: "
        + "; ".join(str(p) for p in exc.problems),
        problems=exc.problems,
        invitation=invitation,
        survey=survey,
    )


def _jsonable(answers: Mapping[str, AnswerValue]) -> dict[str, object]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in sorted(answers.items())}


def _request_key(channel: str, given: str | None, content: object) -> str:
    """The key a submission is stored under: the request's own, or one made from its content."""
    if given is not None:
        key = f"{channel}:{given}"
        if len(key) <= MAX_KEY_LENGTH and given.isprintable():
            return key
        return f"{channel}:sha256:{hashlib.sha256(given.encode('utf-8', 'replace')).hexdigest()}"
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return f"{channel}:auto:{hashlib.sha256(text.encode()).hexdigest()[:40]}"
