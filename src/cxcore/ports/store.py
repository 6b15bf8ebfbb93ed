"""The store port: where every part of cxcore keeps its state.

Backends (SQLite by default, PostgreSQL to scale out) implement :class:`Store`
and pass one shared contract suite. Every write a store acknowledges is
durable; every submit path is idempotent.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TextIO, runtime_checkable

import attrs

from cxcore.errors import CxError
from cxcore.model._checks import Checks, member_or_value
from cxcore.model.case import Case, CaseStatus
from cxcore.model.customer import Consent, Purpose
from cxcore.model.frozendict import FrozenDict
from cxcore.model.interaction import Scalar, check_scalars, frozen_scalars
from cxcore.model.invitation import Disposition, Invitation
from cxcore.model.response import MAX_KEY_LENGTH, RespondentKind, Response, check_respondent
from cxcore.model.survey import AnswerValue, Survey
from cxcore.ports.feed import FeedEvent

if TYPE_CHECKING:
    from cxcore.metrics import MetricRegistry
    from cxcore.scoring import Cell, ResponseFrame

__all__ = [
    "AddedInvitation",
    "AlreadyInvitedError",
    "ApiKey",
    "AuditEntry",
    "ClaimLostError",
    "ClaimedSend",
    "ConflictError",
    "Enqueued",
    "Finish",
    "InviteGuard",
    "InviteRefusedError",
    "Invited",
    "Kiosk",
    "KioskHeartbeat",
    "OptOut",
    "OutboxItem",
    "OutboxState",
    "PayloadTooLargeError",
    "StatusResult",
    "StatusUpdate",
    "Store",
    "StoreError",
    "StoreLimitError",
    "StratumFullError",
    "Submission",
    "SubmitOutcome",
    "SubmitResult",
    "UnknownSurveyError",
]


class StoreError(CxError):
    """A store could not do what was asked; nothing was written.

    .. versionadded:: 0.1.0
    """


class ConflictError(StoreError):
    """An idempotency key was reused with a different payload.

    .. versionadded:: 0.1.0
    """


class ClaimLostError(ConflictError):
    """A dispatcher tried to finish a send it no longer holds.

    Its lease ran out and the send was handed back (as ``unknown``), or an
    operator decided it meanwhile: the late outcome is not recorded, so it can
    never overwrite what happened since.

    .. versionadded:: 0.1.0
    """


# Not slotted: decide() builds a guard for most invitations, and a slotted frozen class sets
# each of its ten fields through object.__setattr__ in __init__ (about 1 µs a guard, against
# 0.7 µs for this one's __dict__).
@attrs.frozen(kw_only=True, slots=False)
class InviteGuard:
    """The fatigue caps a new invitation must still be within when it is written.

    A decision is made on a fatigue state read a moment before; another writer
    (a dispatcher, another collector process, ``cxcore send``) may invite in
    between. :meth:`Store.add_invitations` writes an invitation with a guard
    only if the store holds no invitation made after each time given here,
    and the store's count for the day is under its limit, checked in the
    write's transaction. :meth:`Store.enqueue` queues a reminder with a
    guard of the store's limit alone only if that count is under the limit,
    so reminders and first invitations share one count.

    A rule's sampling stratum (its ``min_per_day`` invitations of each store
    or agent a day, taken whatever the rate) is counted by the store too:
    an invitation of such a rule names its stratum (``stratum_rule``,
    ``stratum``, ``stratum_day``) and the store adds it to the stratum's
    count of the day; one taken only to fill the stratum's minimum (the
    sampling draw said no) also holds ``stratum_min``, and is written only
    while that count is under it:

    >>> from datetime import datetime, UTC
    >>> InviteGuard(person_after=datetime(2026, 11, 7, tzinfo=UTC)).windows()
    ('recontact_window',)
    >>> InviteGuard(store="BLR-01", store_day=739957, store_limit=40).windows()
    ('store_limit',)
    >>> counted = InviteGuard(stratum_rule="billing_csat", stratum="BLR-01", stratum_day=739957)
    >>> counted.stratum_key, counted.windows()
    (('billing_csat', 'BLR-01', 739957), ())
    >>> InviteGuard(stratum_rule="billing_csat", stratum="BLR-01", stratum_day=739957,
    ...             stratum_min=20).windows()
    ('not_sampled',)

    A :class:`~cxcore.distribution.Decision` carries the guard its rules ask for.

    Attributes:
        person_after: No invitation to the invitation's customer after this
            (the global recontact window).
        survey_after: No invitation to the customer for the invitation's
            survey after this (the rule's own window).
        account_after: No invitation to anyone of the invitation's
            ``account_id`` after this (the account window).
        store: The store whose daily limit the invitation counts against.
        store_day: The day it counts on: a proleptic Gregorian ordinal
            (``date.toordinal()``), in the fatigue policy's
            ``day_timezone``.
        store_limit: How many invitations the store may make that day. The
            store counts the invitations and the reminders written with
            these three fields.
        stratum_rule: The trigger rule whose sampling stratum the invitation
            counts in (a rule with ``by`` and ``min_per_day``).
        stratum: The stratum: the value of the sampling's ``by`` dimension
            (a store, an agent).
        stratum_day: The day it counts on: a proleptic Gregorian ordinal,
            the interaction's day in the fatigue policy's ``day_timezone``.
            The store counts the invitations written with these three fields.
        stratum_min: Set when the invitation is taken only to fill the
            stratum's minimum (the sampling's ``min_per_day``): it is written
            only while the stratum's count of the day is under it.

    .. versionadded:: 0.1.0
    """

    person_after: datetime | None = None
    survey_after: datetime | None = None
    account_after: datetime | None = None
    store: str | None = None
    store_day: int | None = None
    store_limit: int | None = None
    stratum_rule: str | None = None
    stratum: str | None = None
    stratum_day: int | None = None
    stratum_min: int | None = None

    def __attrs_post_init__(self) -> None:
        if self.stratum_min is not None and self.stratum_key is None:
            msg = (
                f"stratum_min: {self.stratum_min} with stratum_rule={self.stratum_rule!r}, "
                f"stratum={self.stratum!r}, stratum_day={self.stratum_day!r} (expected all "
                "three set: the minimum is of one rule's stratum on one day)"
            )
            raise ValueError(msg)

    @property
    def store_key(self) -> tuple[str, int] | None:
        """``(store, store_day)`` when the guard holds a store's daily limit, else ``None``."""
        if self.store is None or self.store_day is None or self.store_limit is None:
            return None
        return self.store, self.store_day

    @property
    def stratum_key(self) -> tuple[str, str, int] | None:
        """``(stratum_rule, stratum, stratum_day)`` if the guard names a stratum, else ``None``."""
        if self.stratum_rule is None or self.stratum is None or self.stratum_day is None:
            return None
        return self.stratum_rule, self.stratum, self.stratum_day

    def windows(self) -> tuple[str, ...]:
        """The caps this guard checks, by the names of their skips (``recontact_window``...).

        A stratum's minimum is ``not_sampled``: past it, the sampling draw's
        no stands. Counting in a stratum alone is no cap.
        """
        return tuple(
            name
            for name, on in (
                ("recontact_window", self.person_after),
                ("survey_window", self.survey_after),
                ("account_window", self.account_after),
                ("store_limit", self.store_key),
                ("not_sampled", self.stratum_min),
            )
            if on is not None
        )


class InviteRefusedError(StoreError):
    """An invitation was refused by its :class:`InviteGuard`: a fatigue cap was reached meanwhile.

    Attributes:
        window: Which cap, as the :class:`~cxcore.distribution.Reason` of the
            skip it stands for: ``"recontact_window"``, ``"survey_window"``,
            ``"account_window"`` (:class:`AlreadyInvitedError`),
            ``"store_limit"`` (:class:`StoreLimitError`) or ``"not_sampled"``
            (:class:`StratumFullError`).

    .. versionadded:: 0.1.0
    """

    window: str


class StoreLimitError(InviteRefusedError):
    """An invitation was refused: its store made its daily limit of invitations meanwhile.

    Attributes:
        store: The store.
        day: The day, a proleptic Gregorian ordinal.
        limit: The limit, reached.

    .. versionadded:: 0.1.0
    """

    def __init__(self, store: str, day: int, limit: int) -> None:
        super().__init__(
            f"store {store!r} made its {limit} invitations of "
            f"{date.fromordinal(day).isoformat()} (the store's daily limit)"
        )
        self.window = "store_limit"
        self.store = store
        self.day = day
        self.limit = limit


class StratumFullError(InviteRefusedError):
    """An invitation taken to fill its sampling stratum's minimum was refused: the minimum is met.

    Its rule's sampling draw said no, and it was taken only because the
    stratum (a store, an agent) had fewer than ``min_per_day`` invitations
    that day; meanwhile other writers (other processes) made that many.

    Attributes:
        rule: The trigger rule.
        stratum: The stratum.
        day: The day, a proleptic Gregorian ordinal.
        minimum: The rule's ``min_per_day``, met.

    .. versionadded:: 0.1.0
    """

    def __init__(self, rule: str, stratum: str, day: int, minimum: int) -> None:
        super().__init__(
            f"stratum {stratum!r} of rule {rule!r} made its {minimum} invitations of "
            f"{date.fromordinal(day).isoformat()} (the sampling's min_per_day), and the "
            "sampling draw did not take this one"
        )
        self.window = "not_sampled"
        self.rule = rule
        self.stratum = stratum
        self.day = day
        self.minimum = minimum


class AlreadyInvitedError(InviteRefusedError):
    """An invitation was refused: someone was invited after the time its decision allowed.

    :meth:`Store.add_invitations` refuses it when asked to (an
    :class:`InviteGuard`): another writer (a dispatcher, another collector
    process) invited the same person (or someone of the same account) inside a
    window after the caller's fatigue state was read. Checked in the write's
    transaction, so of two writers racing to ask one person, one wins.

    Attributes:
        customer_id: The person the refused invitation was for.
        invitation_id: The invitation already made, inside the window.
        invited_at: When it was made.
        window: Which window: ``"recontact_window"`` (the person),
            ``"survey_window"`` (the person, for this survey) or
            ``"account_window"`` (anyone of the account), as the
            :class:`~cxcore.distribution.Reason` of the skip it stands for.
        account_id: The account, for the account window; else ``None``.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        customer_id: str,
        invitation_id: str,
        invited_at: datetime,
        *,
        window: str = "recontact_window",
        account_id: str | None = None,
    ) -> None:
        if window == "account_window":
            who = f"someone of account {account_id!r} (asking customer {customer_id!r})"
        else:
            who = f"customer {customer_id!r}"
        super().__init__(
            f"{who} was invited at {invited_at.isoformat()} "
            f"(invitation {invitation_id!r}), inside the {window.replace('_', ' ')}"
        )
        self.customer_id = customer_id
        self.invitation_id = invitation_id
        self.invited_at = invited_at
        self.window = window
        self.account_id = account_id


class UnknownSurveyError(StoreError, LookupError):
    """A submission names a survey (or version) the store does not hold.

    .. versionadded:: 0.1.0
    """


class PayloadTooLargeError(StoreError):
    """A submission is larger than the store accepts.

    .. versionadded:: 0.1.0
    """


def _respondent(value: RespondentKind | str) -> RespondentKind:
    return member_or_value(RespondentKind, value)


def _purpose(value: Purpose | str) -> Purpose:
    return member_or_value(Purpose, value)


def _answers(value: Mapping[str, object]) -> FrozenDict[str, AnswerValue]:
    if isinstance(value, FrozenDict):
        return value
    return FrozenDict({k: tuple(v) if isinstance(v, list) else v for k, v in value.items()})


@attrs.frozen(kw_only=True)
class Submission:
    """Answers arriving from a channel or an API call, before they are stored.

    Args:
        idempotency_key: Makes a repeat harmless: the same key with the same
            payload returns what was stored the first time.
        survey_id: The survey answered.
        survey_version: Its version.
        answers: Answers keyed by question id.
        complete: Whether the respondent submitted the survey.
        channel: The channel the answers came in on.
        respondent: Who answered.
        received_at: When the answers arrived.
        customer_id: The customer, if known.
        agent_id: The reporting agent, for agent-reported feedback.
        invitation_id: The invitation answered: later answers to the same
            invitation complete the same response.
        interaction_id: The interaction asked about.
        locale: The language the survey was shown in.
        context: The interaction's dimensions and attributes.

    .. versionadded:: 0.1.0
    """

    idempotency_key: str
    survey_id: str
    survey_version: int
    answers: FrozenDict[str, AnswerValue] = attrs.field(converter=_answers)
    complete: bool
    channel: str
    respondent: RespondentKind = attrs.field(converter=_respondent)
    received_at: datetime
    customer_id: str | None = None
    agent_id: str | None = None
    invitation_id: str | None = None
    interaction_id: str | None = None
    locale: str = "en"
    context: FrozenDict[str, Scalar] = attrs.field(factory=FrozenDict, converter=frozen_scalars)

    def __attrs_post_init__(self) -> None:
        checks = Checks()
        checks.text(
            "idempotency_key", self.idempotency_key, single_line=True, max_length=MAX_KEY_LENGTH
        )
        checks.identifier("survey_id", self.survey_id)
        checks.is_a("survey_version", self.survey_version, int, "a whole number")
        checks.is_a("answers", self.answers, Mapping, "a mapping of question id to answer")
        checks.is_a("complete", self.complete, bool, "True or False")
        checks.identifier("channel", self.channel)
        checks.member("respondent", self.respondent, RespondentKind, "a respondent kind")
        check_respondent(checks, self.respondent, self.customer_id, self.agent_id)
        checks.aware("received_at", self.received_at)
        for name in ("invitation_id", "interaction_id"):
            value = getattr(self, name)
            if value is not None:
                checks.text(name, value, single_line=True)
        checks.locale("locale", self.locale)
        check_scalars(checks, "context", self.context)
        checks.raise_if_any("Submission")


class SubmitOutcome(enum.StrEnum):
    """What a submission did.

    .. versionadded:: 0.1.0
    """

    CREATED = "created"
    """A new response was stored."""
    UPDATED = "updated"
    """Answers were added to (or replaced in) the invitation's response."""
    REPEATED = "repeated"
    """The same idempotency key and payload came again: nothing changed."""
    IGNORED = "ignored"
    """The response was already complete and the survey keeps the first answers."""


@attrs.frozen
class SubmitResult:
    """The stored response and what the submission did to it.

    .. versionadded:: 0.1.0
    """

    response: Response
    outcome: SubmitOutcome


class OutboxState(enum.StrEnum):
    """Where a pending send is. Every state is durable.

    .. versionadded:: 0.1.0
    """

    PENDING = "pending"
    """Waiting to be sent (possibly after its due time, or a retry's backoff)."""
    SENDING = "sending"
    """Claimed by a dispatcher; the claim expires if the dispatcher dies."""
    SENT = "sent"
    """The provider accepted it."""
    UNKNOWN = "unknown"
    """The provider may or may not have accepted it: reconcile, never blindly re-send."""
    FAILED = "failed"
    """It will not be sent: a permanent failure, or retries ran out."""
    SUPPRESSED = "suppressed"
    """Not sent because the address is suppressed or consent is missing."""


@attrs.frozen(kw_only=True)
class OutboxItem:
    """One send the dispatcher owes.

    .. versionadded:: 0.1.0
    """

    id: str
    invitation_id: str
    channel: str
    state: OutboxState
    due_at: datetime
    attempts: int = 0
    claimed_by: str | None = None
    claimed_until: datetime | None = None
    provider_id: str | None = None
    last_error: str | None = None


@attrs.frozen
class AddedInvitation:
    """What :meth:`Store.add_invitations` did with one invitation.

    Attributes:
        invitation: The stored invitation: the one given, or, when an
            invitation with its id was stored before (or came earlier in the
            same call), that one, which stands.
        created: Whether this call stored it (and queued its sends).

    .. versionadded:: 0.1.0
    """

    invitation: Invitation
    created: bool


@attrs.frozen
class Enqueued:
    """What :meth:`Store.enqueue` did with one outbox item.

    Attributes:
        item: The item given. When an item with its id was queued before (or
            came earlier in the same call), that one stands, as it is.
        created: Whether this call queued it (and, under a guard, counted it
            in its store's day).

    .. versionadded:: 0.1.0
    """

    item: OutboxItem
    created: bool


class Invited(NamedTuple):
    """Who was invited to which survey, and when: what :meth:`Store.invited_since` reads.

    .. versionadded:: 0.1.0
    """

    customer_id: str
    """The person invited."""
    survey_id: str
    """The survey they were invited to."""
    created_at: datetime
    """When the invitation was made."""
    account_id: str | None = None
    """The business account the person was invited as one of, if any."""


@attrs.frozen(kw_only=True)
class ClaimedSend:
    """A claimed send, with what the dispatcher needs to send it, read as it was claimed.

    :meth:`Store.claim_sends <cxcore.Store.claim_sends>` returns these: one
    round trip gives the dispatcher the item, its invitation, and the facts
    its send-time checks judge (the address's suppression, and the latest
    consent entries of the customer and of the address), instead of four
    reads per send.

    Attributes:
        item: The claimed item (``sending``, claimed by the worker).
        invitation: Its invitation, or ``None`` if it cannot be read (see *problem*).
        problem: Why the invitation cannot be read (not stored, or stored
            unreadable), when *invitation* is ``None``.
        suppression: Why the invitation's address is suppressed on the item's
            channel (or on every channel), as :meth:`Store.suppression
            <cxcore.Store.suppression>` says; ``None`` if it is not.
        customer_consent: The latest consent entry of the invitation's
            customer for the item's channel (or ``"*"``) and the purpose
            claimed for, as :meth:`Store.consent <cxcore.Store.consent>` returns it.
        address_consent: The same, for the invitation's address.

    .. versionadded:: 0.1.0
    """

    item: OutboxItem
    invitation: Invitation | None
    problem: str | None = None
    suppression: str | None = None
    customer_consent: Consent | None = None
    address_consent: Consent | None = None


def _state(value: OutboxState | str) -> OutboxState:
    return member_or_value(OutboxState, value)


def _a_disposition(value: Disposition | str) -> Disposition:
    return member_or_value(Disposition, value)


def _disposition(value: Disposition | str | None) -> Disposition | None:
    return None if value is None else member_or_value(Disposition, value)


@attrs.frozen(kw_only=True)
class Finish:
    """How one attempt at a send ended, for :meth:`Store.finish_many <cxcore.Store.finish_many>`.

    Args:
        item_id: The outbox item.
        state: The state it ends in (``pending`` means: try again at *retry_at*).
        at: When it ended.
        provider_id: The provider's id for the message, once accepted.
        error: Why it was not sent, if it was not.
        retry_at: When to try again; required for ``pending``.
        disposition: What to record of the item's invitation, in the same
            transaction (``sent``, ``failed``, ``expired``), if anything.
        disposition_detail: The disposition's detail (the provider's id, the error).

    Raises:
        ValidationError: Naming every field at fault (``retry_at`` missing for
            ``pending``, a time without a zone).

    .. versionadded:: 0.1.0
    """

    item_id: str
    state: OutboxState = attrs.field(converter=_state)
    at: datetime
    provider_id: str | None = None
    error: str | None = None
    retry_at: datetime | None = None
    disposition: Disposition | None = attrs.field(default=None, converter=_disposition)
    disposition_detail: str | None = None

    def __attrs_post_init__(self) -> None:
        checks = Checks()
        checks.is_a("item_id", self.item_id, str, "an outbox item id")
        checks.member("state", self.state, OutboxState, "an outbox state")
        checks.aware("at", self.at)
        if self.retry_at is not None:
            checks.aware("retry_at", self.retry_at)
        elif self.state is OutboxState.PENDING:
            checks.add("retry_at", "is required to put a send back to pending")
        if self.disposition is not None:
            checks.member("disposition", self.disposition, Disposition, "a disposition")
        checks.raise_if_any("Finish")


@attrs.frozen(kw_only=True)
class AuditEntry:
    """One state change, as the audit log keeps it. It never holds personal identifiers.

    .. versionadded:: 0.1.0
    """

    at: datetime
    entity: str
    entity_id: str
    action: str
    detail: FrozenDict[str, Scalar] = attrs.field(factory=FrozenDict, converter=frozen_scalars)


@attrs.frozen(kw_only=True, repr=False)
class OptOut:
    """An address opting out of a channel (or back in), with where the request came from.

    Args:
        address: The address (an email address, an E.164 number). Kept as a
            digest in the suppression list; recorded in the consent ledger of
            the address, as every consent entry of an address is.
        channel: The channel instance it applies to, or ``"*"`` for all.
        at: When it was asked.
        source: Where it came from, as an id: :class:`~cxcore.intake.Intake`
            writes ``"<channel>.unsubscribe_link"`` or ``"<channel>.keyword"``.
        opted_out: ``True`` to opt out; ``False`` to opt back in (an SMS START).
        keyword: What the person said or did (``"STOP"``, ``"List-Unsubscribe=One-Click"``).
        customer_id: The customer, when known (their ledger gets the entry too).
        invitation_id: The invitation whose link or message carried the request.
        purpose: What is opted out of.

    .. versionadded:: 0.1.0
    """

    address: str
    channel: str
    at: datetime
    source: str
    opted_out: bool = True
    keyword: str | None = None
    customer_id: str | None = None
    invitation_id: str | None = None
    purpose: Purpose = attrs.field(default=Purpose.SURVEY, converter=_purpose)

    def __attrs_post_init__(self) -> None:
        checks = Checks()
        checks.text("address", self.address, single_line=True)
        if self.channel != "*":
            checks.identifier("channel", self.channel)
        checks.aware("at", self.at)
        checks.identifier("source", self.source)
        checks.is_a("opted_out", self.opted_out, bool, "True or False")
        if self.keyword is not None:
            checks.text("keyword", self.keyword, single_line=True, max_length=200)
        for name in ("customer_id", "invitation_id"):
            value = getattr(self, name)
            if value is not None:
                checks.text(name, value, single_line=True)
        checks.member("purpose", self.purpose, Purpose, "a purpose")
        checks.raise_if_any("OptOut")

    def consent(self) -> Consent:
        """The consent ledger entry this opt-out (or opt-in) makes."""
        return Consent(
            self.channel,
            self.purpose,
            granted=not self.opted_out,
            source=self.source,
            recorded_at=self.at,
        )

    def __repr__(self) -> str:
        # The address is personal data: never in logs or tracebacks.
        way = "out" if self.opted_out else "in"
        return f"OptOut(opted {way} of {self.channel!r}, source={self.source!r})"


@attrs.frozen(kw_only=True)
class StatusUpdate:
    """What a provider said became of a sent invitation.

    Args:
        invitation_id: The invitation.
        disposition: Its new state (``delivered``, ``bounced``, ``failed``...).
        at: When the provider said so.
        detail: The provider's words or code.
        suppress: Whether the failure is permanent for the address: the
            address is then suppressed on the invitation's channel (a hard
            bounce, a complaint).

    .. versionadded:: 0.1.0
    """

    invitation_id: str
    disposition: Disposition = attrs.field(converter=_a_disposition)
    at: datetime
    detail: str | None = None
    suppress: bool = False

    def __attrs_post_init__(self) -> None:
        checks = Checks()
        checks.text("invitation_id", self.invitation_id, single_line=True)
        if checks.member("disposition", self.disposition, Disposition, "a disposition") and (
            self.disposition.rank is None
        ):
            checks.add("disposition", f"{self.disposition.value!r} is not a delivery status")
        checks.aware("at", self.at)
        checks.is_a("suppress", self.suppress, bool, "True or False")
        checks.raise_if_any("StatusUpdate")


@attrs.frozen
class StatusResult:
    """What :meth:`Store.record_status <cxcore.Store.record_status>` did.

    Attributes:
        applied: Whether the status was recorded; ``False`` when it was known
            already, or is behind what is known (a status never goes backwards).
        current: The furthest disposition the invitation has reached, after this.
        suppressed: Whether this update suppressed the address.

    .. versionadded:: 0.1.0
    """

    applied: bool
    current: Disposition | None
    suppressed: bool = False


def _scopes(value: Iterable[str]) -> frozenset[str]:
    return value if isinstance(value, frozenset) else frozenset(value)


@attrs.frozen(kw_only=True, repr=False)
class ApiKey:
    """A key that lets a system call the collector's APIs: a point of sale, a kiosk, a helpdesk.

    Only a digest of the key's secret is kept. See :mod:`cxcore.api_keys` for
    issuing and checking keys.

    Args:
        id: The key's public id (the part of the key before its secret).
        name: What the key is for (``"pos-bazaar"``, ``"kiosk-BLR-01-exit"``).
        digest: The SHA-256 digest of the secret, in hex.
        scopes: What it may do: ``"interactions"``, ``"agent"``, ``"answers"``...
        created_at: When it was issued.
        revoked_at: When it was revoked; a revoked key opens nothing.

    .. versionadded:: 0.1.0
    """

    id: str
    name: str
    digest: str
    scopes: frozenset[str] = attrs.field(converter=_scopes)
    created_at: datetime
    revoked_at: datetime | None = None

    def __attrs_post_init__(self) -> None:
        checks = Checks()
        checks.identifier("id", self.id)
        checks.text("name", self.name, single_line=True, max_length=200)
        if checks.is_a("digest", self.digest, str, "a hex digest") and not (
            len(self.digest) == 64 and all(ch in "0123456789abcdef" for ch in self.digest)
        ):
            checks.add("digest", "is not a SHA-256 hex digest (64 lower-case hex digits)")
        for scope in sorted(map(str, self.scopes)):
            checks.identifier(f"scopes[{scope!r}]", scope)
        checks.aware("created_at", self.created_at)
        if self.revoked_at is not None:
            checks.aware("revoked_at", self.revoked_at)
        checks.raise_if_any(f"ApiKey {self.id!r}")

    @property
    def active(self) -> bool:
        """Whether the key is not revoked."""
        return self.revoked_at is None

    def __repr__(self) -> str:
        state = "revoked" if self.revoked_at else "active"
        return f"ApiKey(id={self.id!r}, name={self.name!r}, scopes={sorted(self.scopes)}, {state})"


def _locales(value: Iterable[str]) -> tuple[str, ...]:
    return value if isinstance(value, tuple) else tuple(value)


@attrs.frozen(kw_only=True)
class Kiosk:
    """A touch screen in a store: where it stands, what it asks, and what it last said.

    A kiosk is one device. It signs its requests with its own API key (scope
    ``kiosk``), issued and revoked with it (``cxcore kiosk add|revoke``). Its
    answers are anonymous and carry its store and *touchpoint* (``"store_exit"``
    hears from people who did not buy; ``"billing_counter"`` from people who did).

    Args:
        id: The device's id (``"blr-01-exit"``).
        name: What staff call it (``"Indiranagar, exit door"``).
        store: The store it stands in (``"BLR-01"``).
        touchpoint: Where in the store it stands, recorded on every answer.
        survey_id: The survey it asks (its latest version).
        key_id: The public id of the device's API key.
        locales: The languages it offers, the first shown first.
        agent_mode: Whether staff may record what a customer told them on it.
        created_at: When it was added.
        revoked_at: When it was revoked; its key then opens nothing.
        seen_at: Its last heartbeat.
        queue_length: The answers waiting on the device at its last heartbeat.
        dropped: How many queued answers the server refused (a 4xx) and the
            device gave up, in total, as the device reports them.
        last_answer_at: When the last answer it delivered was given.

    .. versionadded:: 0.1.0
    """

    id: str
    name: str
    store: str
    touchpoint: str
    survey_id: str
    key_id: str
    locales: tuple[str, ...] = attrs.field(default=("en", "hi"), converter=_locales)
    agent_mode: bool = True
    created_at: datetime
    revoked_at: datetime | None = None
    seen_at: datetime | None = None
    queue_length: int | None = None
    dropped: int = 0
    last_answer_at: datetime | None = None

    def __attrs_post_init__(self) -> None:
        checks = Checks()
        for name in ("id", "store", "touchpoint", "survey_id", "key_id"):
            checks.identifier(name, getattr(self, name))
        checks.text("name", self.name, single_line=True, max_length=200)
        if checks.is_a("locales", self.locales, tuple, "a list of locales"):
            if not self.locales:
                checks.add("locales", "is empty (expected at least one locale, such as 'en')")
            for i, locale in enumerate(self.locales):
                checks.identifier(f"locales[{i}]", locale)
            if len(set(self.locales)) != len(self.locales):
                checks.add("locales", f"{list(self.locales)!r} names a locale twice")
        checks.is_a("agent_mode", self.agent_mode, bool, "True or False")
        for name in ("created_at", "revoked_at", "seen_at", "last_answer_at"):
            if getattr(self, name) is not None or name == "created_at":
                checks.aware(name, getattr(self, name))
        if self.queue_length is not None and not (
            checks.is_a("queue_length", self.queue_length, int, "a whole number")
            and self.queue_length >= 0
        ):
            checks.add("queue_length", f"{self.queue_length!r} is below 0")
        if checks.is_a("dropped", self.dropped, int, "a whole number") and self.dropped < 0:
            checks.add("dropped", f"{self.dropped!r} is below 0")
        checks.raise_if_any(f"Kiosk {self.id!r}")

    @property
    def active(self) -> bool:
        """Whether the kiosk is not revoked."""
        return self.revoked_at is None

    def alive(self, now: datetime, within: timedelta = timedelta(minutes=5)) -> bool:
        """Whether its last heartbeat is at most *within* before *now* (and it is not revoked)."""
        return self.active and self.seen_at is not None and now - self.seen_at <= within


@attrs.frozen(kw_only=True)
class KioskHeartbeat:
    """What a kiosk reports now and then: that it is alive, and how its queue is.

    Args:
        at: When the collector heard it.
        queue_length: Answers waiting on the device.
        dropped: Answers refused by the server (4xx) that the device gave up
            since its last heartbeat; the store adds them to the kiosk's total.
        last_answer_at: When the last answer the device delivered was given, if any.

    .. versionadded:: 0.1.0
    """

    at: datetime
    queue_length: int
    dropped: int = 0
    last_answer_at: datetime | None = None

    def __attrs_post_init__(self) -> None:
        checks = Checks()
        checks.aware("at", self.at)
        for name in ("queue_length", "dropped"):
            value = getattr(self, name)
            if (
                checks.is_a(name, value, int, "a whole number")
                and not isinstance(value, bool)
                and not 0 <= value <= 10_000_000
            ):
                checks.add(name, f"{value!r} is not between 0 and 10,000,000")
        if self.last_answer_at is not None:
            checks.aware("last_answer_at", self.last_answer_at)
        checks.raise_if_any("KioskHeartbeat")


@runtime_checkable
class Store(Protocol):
    """Everything a store backend does.

    :class:`cxcore.stores.SQLiteStore` and :class:`cxcore.stores.PostgresStore`
    both implement it and pass one contract suite. Every write is durable when
    its ``await`` returns, and every submit path is idempotent. Code written
    against this protocol runs on either backend.

    .. versionadded:: 0.1.0
    """

    # -- lifecycle and schema
    async def open(self) -> None:
        """Connect and bring the schema up to date."""
        ...

    async def aclose(self) -> None:
        """Finish pending writes and disconnect."""
        ...

    async def schema_version(self) -> int:
        """The schema version of the open store."""
        ...

    # -- surveys
    async def put_survey(self, survey: Survey) -> None:
        """Store a survey version; an identical repeat is harmless, a changed one refused."""
        ...

    async def survey(self, survey_id: str, version: int | None = None) -> Survey:
        """Return a survey version, by default the latest."""
        ...

    # -- responses
    async def submit(self, submission: Submission) -> SubmitResult:
        """Validate and store answers, idempotently."""
        ...

    async def append(self, responses: Iterable[Response]) -> list[SubmitResult]:
        """Store complete response records in one transaction, idempotently."""
        ...

    async def response(self, response_id: str) -> Response:
        """Return one response."""
        ...

    async def responses(
        self,
        *,
        survey_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        where: Mapping[str, Scalar] | None = None,
        respondents: Sequence[RespondentKind] | None = None,
    ) -> list[Response]:
        """Responses by survey, ``updated_at`` range, context values and respondent kinds."""
        ...

    async def count_responses(self, survey_id: str | None = None) -> int:
        """How many responses are stored."""
        ...

    async def frame(
        self,
        *,
        survey_id: str,
        dimensions: Sequence[str] = ...,
        since: datetime | None = None,
        until: datetime | None = None,
        where: Mapping[str, Scalar] | None = None,
        include_agents: bool = False,
        complete_only: bool = False,
        metrics: Sequence[str] | None = None,
        registry: MetricRegistry | None = None,
    ) -> ResponseFrame:
        """Every scored answer of a survey (feeding *metrics*, if given) as a columnar frame."""
        ...

    async def score(
        self,
        metric: str,
        *,
        survey_id: str,
        by: Sequence[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
        where: Mapping[str, Scalar] | None = None,
        include_agents: bool = False,
        complete_only: bool = False,
        registry: MetricRegistry | None = None,
        **options: Any,  # noqa: ANN401 - cell_from_levels' own options
    ) -> list[Cell]:
        """Score a metric by dimensions, counting in the database."""
        ...

    # -- invitations
    async def add_invitation(
        self, invitation: Invitation, *, outbox: Iterable[OutboxItem] = ()
    ) -> None:
        """Store an invitation and its sends in one transaction (idempotent by id)."""
        ...

    async def add_invitations(
        self,
        entries: Sequence[tuple[Invitation, Sequence[OutboxItem]]],
        *,
        guards: Sequence[InviteGuard | None] | None = None,
    ) -> list[AddedInvitation | StoreError]:
        """Store many invitations, each with its sends, in one write; a result per entry, in order.

        An invitation whose id is stored already (or came earlier in *entries*)
        is not written again and its sends are not queued: its result is the
        stored invitation, with ``created=False``, and the caller decides what
        to queue for it. An entry the store refuses (an outbox item of another
        invitation, a value the database cannot hold) is returned as its
        :class:`StoreError` and writes nothing; the others are stored.

        *guards* gives, entry by entry, an :class:`InviteGuard` or ``None``: a
        new invitation with a guard and a customer is stored only if no
        invitation inside the guard's windows was made after their times
        (stored before, or stored by an earlier entry of the call): to the
        customer, to the customer for the invitation's survey, to anyone of
        the invitation's ``account_id``. Else its result is an
        :class:`AlreadyInvitedError` that names the window. The check and the
        write are one transaction, so two processes asking one person (or one
        account) at once cannot both succeed (see a
        :class:`~cxcore.distribution.Decision`'s ``guard``).

        Counted in the same transaction, with what earlier entries of the
        call wrote: a new invitation whose guard holds a store's daily limit
        is stored only while the store's count of ``store_day`` is under
        ``store_limit`` (else a :class:`StoreLimitError`), and then counted;
        one whose guard names a sampling stratum (``stratum_rule``,
        ``stratum``, ``stratum_day``) is counted in the stratum's day, and,
        when the guard also holds ``stratum_min``, stored only while that
        count is under it (else a :class:`StratumFullError`). A refused entry
        writes and counts nothing, nor does a repeat.

        .. versionadded:: 0.1.0
        """
        ...

    async def invitation(self, invitation_id: str) -> Invitation:
        """Return one invitation."""
        ...

    async def invitation_by_short_code(self, code: str) -> Invitation | None:
        """The invitation whose short survey link has *code* (its ``short_code``), if any.

        .. versionadded:: 0.1.0
        """
        ...

    async def record_disposition(
        self, invitation_id: str, disposition: Disposition, at: datetime, detail: str | None = None
    ) -> None:
        """Record what became of an invitation (idempotent per disposition)."""
        ...

    async def dispositions(self, invitation_id: str) -> list[tuple[Disposition, datetime]]:
        """Every disposition of an invitation, oldest first."""
        ...

    async def open_invitation(
        self, address: str, channel: str, *, now: datetime
    ) -> Invitation | None:
        """The newest invitation sent to *address* on *channel* that is open at *now*.

        Open means: not expired, and its response (if any) not complete. This
        is how a reply that names no invitation (an SMS "9") finds the one it
        answers. Indexed by address and channel.
        """
        ...

    async def invitation_by_provider_id(self, provider_id: str) -> Invitation | None:
        """The invitation whose send the provider knows by *provider_id*, if any (indexed)."""
        ...

    async def recent_invitations(self, *, since: datetime) -> list[Invitation]:
        """Every invitation created at *since* or later, oldest first (who was asked when)."""
        ...

    async def invited_since(self, *, since: datetime) -> list[Invited]:
        """Who was invited to what, when: the invitations with a customer made at *since* or later.

        What :meth:`recent_invitations` reads, reduced to the columns a
        :class:`~cxcore.distribution.FatigueState` needs, read without
        decoding the invitations; oldest first.

        .. versionadded:: 0.1.0
        """
        ...

    async def count_invited(self, *, since: datetime, until: datetime) -> int:
        """How many invitations with a customer were made at *since* or later, before *until*.

        What :meth:`invited_since` would read of that span, counted on the
        ``created_at`` index: a reader that remembers what it read can tell
        whether an invitation made in the span was stored since.

        .. versionadded:: 0.1.0
        """
        ...

    async def invitation_response(self, invitation_id: str) -> Response | None:
        """The latest response to an invitation, if it has one."""
        ...

    async def record_status(self, update: StatusUpdate) -> StatusResult:
        """Record a delivery status, never going backwards, in one transaction with the feed.

        A status whose :attr:`~cxcore.Disposition.rank` is not beyond the
        furthest the invitation reached is not recorded. A permanent failure
        (``update.suppress``) also suppresses the invitation's address on its
        channel.

        Raises:
            StoreError: If the invitation is not stored.
        """
        ...

    async def disposition_counts(
        self, *, survey_id: str | None = None, by: Sequence[str] = ("channel",)
    ) -> dict[tuple[str | None, ...], dict[Disposition, int]]:
        """How many invitations reached each disposition, per segment."""
        ...

    # -- consent and suppression
    async def record_consent(self, person: str, consent: Consent) -> None:
        """Add an entry to a person's consent ledger."""
        ...

    async def consent(self, person: str, channel: str, purpose: Purpose) -> Consent | None:
        """The latest consent entry of a person for a channel (or ``"*"``) and purpose."""
        ...

    async def suppress(self, address: str, channel: str, reason: str) -> None:
        """Never send to an address on a channel again (kept as a digest)."""
        ...

    async def unsuppress(self, address: str, channel: str) -> None:
        """Lift a suppression."""
        ...

    async def suppression(self, address: str, channel: str) -> str | None:
        """Why an address is suppressed on a channel, or ``None``."""
        ...

    async def record_opt_out(self, opt_out: OptOut) -> bool:
        """Opt an address out of a channel (or back in), in one transaction with the feed.

        Opting out suppresses the address (reason ``opt_out``) and withdraws
        its consent in the ledger of the address and, if given, the
        customer; opting in lifts an ``opt_out`` suppression and grants it.
        Both are audited with their source.

        Returns:
            Whether anything changed. A repeat (the address already opted
            out, or already in) writes nothing and returns ``False``.
        """
        ...

    # -- the outbox
    async def enqueue(
        self,
        items: Iterable[OutboxItem],
        *,
        guards: Sequence[InviteGuard | None] | None = None,
    ) -> list[Enqueued | StoreError]:
        """Add pending sends (idempotent by id), in one transaction; a result per item, in order.

        An item whose id is queued already (or came earlier in *items*) is
        left as it is: its result has ``created=False``.

        *guards* gives, item by item, an :class:`InviteGuard` or ``None``: a
        new item whose guard holds a store's daily limit (``store``,
        ``store_day``, ``store_limit``) is queued only if the store's count of
        that day, first invitations and reminders together, is under the
        limit, and then adds one to it; else its result is a
        :class:`StoreLimitError` and it writes nothing. The check and the
        write are one transaction, as in :meth:`add_invitations`, so
        processes sending reminders (and first invitations) for one store's
        day together stop at its limit. This is how the
        :class:`~cxcore.dispatch.Outbox` queues a reminder (a
        :class:`~cxcore.distribution.Decision`'s ``guard``).

        Raises:
            ValueError: If *guards* does not give one per item, or a guard
                has a recontact window or a sampling stratum (a reminder is
                no new contact, nor a new invitation of its rule: it asks the
                same invitation again).
            StoreError: If the store cannot write the items (nothing is written).

        .. versionadded:: 0.1.0
        """
        ...

    async def claim(
        self,
        worker: str,
        *,
        now: datetime,
        limit: int,
        lease: timedelta,
        channels: Collection[str] | None = None,
    ) -> list[OutboxItem]:
        """Claim due pending sends; two workers never claim the same one."""
        ...

    async def finish(
        self,
        item_id: str,
        state: OutboxState,
        *,
        at: datetime,
        provider_id: str | None = None,
        error: str | None = None,
        retry_at: datetime | None = None,
        worker: str | None = None,
    ) -> OutboxItem:
        """Record the end of an attempt (only while *worker* holds the claim, if given)."""
        ...

    async def claim_sends(
        self,
        worker: str,
        *,
        now: datetime,
        limit: int,
        lease: timedelta,
        channels: Collection[str] | None = None,
        purpose: Purpose = Purpose.SURVEY,
    ) -> list[ClaimedSend]:
        """Claim due pending sends as :meth:`claim` does, each with what sending it needs.

        One round trip claims the items and reads, for each, its invitation,
        whether its address is suppressed on its channel, and the latest
        consent entries (for *purpose*) of its customer and address. A send
        whose invitation cannot be read is still claimed, with the
        ``problem``, so the dispatcher can finish it.
        """
        ...

    async def finish_many(
        self, finishes: Sequence[Finish], *, worker: str | None = None
    ) -> list[OutboxItem | StoreError]:
        """Record the ends of many attempts, and their dispositions, in one transaction.

        Each item is compared and set on its own, exactly as :meth:`finish`
        does: with *worker*, only while that worker holds its claim. An item
        that cannot be finished (its claim lost, the item or, for a
        disposition, its invitation not stored) is left unchanged, and the
        others are recorded all the same.

        Returns:
            For each finish, in order, the stored item, or the error
            (:class:`ClaimLostError`, :class:`StoreError`) that kept it unchanged.

        Raises:
            StoreError: If nothing could be written (two finishes of one item,
                a failed commit).
        """
        ...

    async def release_expired(
        self, *, now: datetime, to: OutboxState = OutboxState.UNKNOWN
    ) -> list[OutboxItem]:
        """Hand back claims whose lease ran out."""
        ...

    async def release_claims(
        self, worker: str, *, now: datetime, to: OutboxState = OutboxState.UNKNOWN
    ) -> list[OutboxItem]:
        """Hand back every claim a worker holds."""
        ...

    async def outbox(self, state: OutboxState | None = None) -> list[OutboxItem]:
        """The outbox, by due time."""
        ...

    # -- the feed
    async def feed(self, *, after: int = 0, limit: int = 500) -> list[FeedEvent]:
        """The feed's events after position *after*, oldest first, at most *limit*."""
        ...

    async def feed_head(self) -> int:
        """The position of the newest event in the feed (0 when it is empty)."""
        ...

    async def feed_position(self, consumer: str) -> int:
        """The position a consumer saved last (0 if it never did)."""
        ...

    async def save_feed_position(self, consumer: str, seq: int) -> None:
        """Save a consumer's position durably; it only moves forward.

        Raises:
            ConflictError: If *seq* is behind the saved position (another
                process of the same consumer went further).
        """
        ...

    async def wait_feed(self, after: int, at_most: float) -> bool:
        """Wait until the feed may have an event after *after*, at most *at_most* seconds.

        Returns at once if it has one. SQLite wakes waiters of the same process
        as soon as a write commits, and checks every ``feed_poll`` seconds for
        writes of other processes; PostgreSQL wakes them by ``LISTEN/NOTIFY``.

        Returns:
            Whether the feed has an event after *after*.
        """
        ...

    # -- API keys
    async def add_api_key(self, key: ApiKey) -> None:
        """Store an API key (its digest); the same id twice is refused."""
        ...

    async def api_key(self, key_id: str) -> ApiKey | None:
        """The API key with this public id, revoked or not, or ``None``."""
        ...

    async def api_keys(self) -> list[ApiKey]:
        """Every API key, oldest first."""
        ...

    async def revoke_api_key(self, key_id: str, *, at: datetime) -> ApiKey:
        """Revoke an API key (a repeat keeps the first time).

        Raises:
            StoreError: If there is no such key.
        """
        ...

    # -- kiosks
    async def add_kiosk(self, kiosk: Kiosk, key: ApiKey) -> None:
        """Store a kiosk and its device key together; an id used before is refused.

        Raises:
            ConflictError: If the kiosk's id or the key's id is stored.
        """
        ...

    async def kiosk(self, kiosk_id: str) -> Kiosk | None:
        """The kiosk with this id, revoked or not, or ``None``."""
        ...

    async def kiosk_by_key(self, key_id: str) -> Kiosk | None:
        """The kiosk whose device key has this public id, or ``None``."""
        ...

    async def kiosks(self) -> list[Kiosk]:
        """Every kiosk, by id."""
        ...

    async def revoke_kiosk(self, kiosk_id: str, *, at: datetime) -> Kiosk:
        """Revoke a kiosk and its key at once (a repeat keeps the first time).

        Raises:
            StoreError: If there is no such kiosk.
        """
        ...

    async def kiosk_heartbeat(self, kiosk_id: str, beat: KioskHeartbeat) -> Kiosk:
        """Record a kiosk's heartbeat: seen now, its queue, its refused answers, its last answer.

        The last answer's time only moves forward; refused answers add up.

        Raises:
            StoreError: If there is no such kiosk.
        """
        ...

    # -- closed-loop cases
    async def open_case(self, case: Case) -> None:
        """Store a new case."""
        ...

    async def update_case(
        self, case_id: str, status: CaseStatus, *, at: datetime, owner: str | None = None
    ) -> Case:
        """Move a case to a status (and owner)."""
        ...

    async def cases(self, status: CaseStatus | None = None) -> list[Case]:
        """Cases by due time."""
        ...

    # -- privacy, audit and export
    async def erase_person(
        self, *, customer_id: str | None = None, addresses: Sequence[str] = ()
    ) -> dict[str, int]:
        """Erase everything about a person; the erasure itself is audited."""
        ...

    async def apply_retention(self) -> int:
        """Anonymise responses older than their survey's retention."""
        ...

    async def audit(self, entity: str | None = None) -> list[AuditEntry]:
        """The audit log, oldest first."""
        ...

    async def export_csv(self, out: TextIO, *, survey_id: str) -> int:
        """Write a survey's responses as CSV with spreadsheet formulas defused."""
        ...

    async def export_parquet(self, path: str | os.PathLike[str], *, survey_id: str) -> int:
        """Write a survey's responses to a typed Parquet file."""
        ...
