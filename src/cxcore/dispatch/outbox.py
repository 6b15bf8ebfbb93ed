"""Putting an invitation into the outbox: once, whatever crashes in between."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs

from cxcore.distribution.decide import Decision, record
from cxcore.distribution.fatigue import FatigueState
from cxcore.distribution.quiet_hours import customer_zone
from cxcore.distribution.tokens import TokenService
from cxcore.errors import CxError
from cxcore.model.customer import Customer
from cxcore.model.interaction import Interaction, Scalar
from cxcore.model.invitation import Invitation
from cxcore.ports.clock import Clock, SystemClock
from cxcore.ports.store import OutboxItem, OutboxState, Store, StoreError

__all__ = [
    "Outbox",
    "ScheduleError",
    "ScheduleRequest",
    "Scheduled",
    "outbox_item_id",
    "reminder_of",
]

_REMINDER = ".r"


class ScheduleError(CxError, ValueError):
    """A decision cannot be put into the outbox (a skip, or a reminder of an unknown invitation).

    .. versionadded:: 0.1.0
    """


def outbox_item_id(invitation_id: str, reminder: int = 0) -> str:
    """The id of the outbox item that sends *invitation_id* (or its *reminder*-th reminder).

    It is derived from the invitation id, which :func:`~cxcore.distribution.decide`
    derives from the interaction and the rule, so scheduling the same decision
    twice writes one item.

    >>> outbox_item_id("9f1c"), outbox_item_id("9f1c", 2)
    ('9f1c', '9f1c.r2')

    .. versionadded:: 0.1.0
    """
    return invitation_id if reminder == 0 else f"{invitation_id}{_REMINDER}{reminder}"


def reminder_of(item: OutboxItem) -> int:
    """Which send of its invitation *item* is: 0 for the first, then 1, 2... for reminders.

    .. versionadded:: 0.1.0
    """
    suffix = item.id.removeprefix(item.invitation_id)
    if suffix.startswith(_REMINDER) and suffix[len(_REMINDER) :].isdigit():
        return int(suffix[len(_REMINDER) :])
    return 0


@attrs.frozen(kw_only=True)
class ScheduleRequest:
    """One decision for :meth:`Outbox.schedule_many`, with what its invitation is made of.

    Attributes:
        decision: An invitation (or reminder) from :func:`~cxcore.distribution.decide`.
        customer: The person, for the invitation's locale and time zone.
        interaction: The interaction, whose dimensions the invitation keeps as context.
        name: How to greet the person.
        context: Context to keep when there is no interaction.

    .. versionadded:: 0.1.0
    """

    decision: Decision = attrs.field(kw_only=False)
    customer: Customer | None = None
    interaction: Interaction | None = None
    name: str | None = None
    context: Mapping[str, Scalar] | None = None


@attrs.frozen
class Scheduled:
    """What :meth:`Outbox.schedule` wrote.

    Attributes:
        invitation: The stored invitation (the one stored first, on a repeat).
        item: The outbox item that will send it.
        created: Whether this call stored the invitation; ``False`` on a repeat.

    .. versionadded:: 0.1.0
    """

    invitation: Invitation
    item: OutboxItem
    created: bool


class Outbox:
    """Writes invitations and their outbox items, so that a crash never loses or doubles a send.

    The invitation is stored first, then its outbox item, each idempotent by
    an id derived from the decision: after a crash between the two (or after
    both), scheduling the same decision again completes what is missing and
    writes nothing twice. The dispatcher sends only what is in the outbox.

    Args:
        store: Where invitations and the outbox live.
        tokens: Signs each invitation's tokens.
        clock: Tells the time (the invitation's ``created_at``).

    .. versionadded:: 0.1.0
    """

    def __init__(self, store: Store, tokens: TokenService, *, clock: Clock | None = None) -> None:
        self.store = store
        self.tokens = tokens
        self.clock: Clock = clock or SystemClock()
        self._versions: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"Outbox({self.store!r})"

    async def _existing(self, invitation_id: str) -> Invitation | None:
        try:
            return await self.store.invitation(invitation_id)
        except StoreError:
            return None

    async def _version(self, survey_id: str) -> int:
        version = self._versions.get(survey_id)
        if version is None:
            version = self._versions[survey_id] = (await self.store.survey(survey_id)).version
        return version

    async def schedule(
        self,
        decision: Decision,
        *,
        customer: Customer | None = None,
        interaction: Interaction | None = None,
        state: FatigueState | None = None,
        name: str | None = None,
        context: Mapping[str, Scalar] | None = None,
    ) -> Scheduled:
        """Store the invitation *decision* makes, with its tokens, and its outbox item.

        Once both are durable, the decision is recorded in *state* (if given),
        when this call created the invitation: a repeat changes nothing.

        Args:
            decision: An invitation (or reminder) from :func:`~cxcore.distribution.decide`.
            customer: The person, for the invitation's locale and time zone.
            interaction: The interaction, whose dimensions the invitation keeps as context.
            state: The fatigue state to record the decision in.
            name: How to greet the person.
            context: Context to keep when there is no interaction.

        Returns:
            What was written.

        Raises:
            ScheduleError: If *decision* is a skip, lacks a survey, channel or due
                time, or is a reminder of an invitation that is not stored.
            InviteRefusedError: If another writer invited the person (or someone
                of their account) inside a window of the decision's ``guard``,
                or made its store's last invitation (or reminder) of the day:
                a :class:`~cxcore.StoreLimitError` is all a reminder can get
                (nothing is written or recorded).
            StoreError: If the store refuses the write (nothing is recorded in *state*).

        .. versionadded:: 0.1.0
        """
        request = ScheduleRequest(
            decision, customer=customer, interaction=interaction, name=name, context=context
        )
        [result] = await self.schedule_many([request], state=state)
        if isinstance(result, Scheduled):
            return result
        raise result

    async def schedule_many(
        self, requests: Sequence[ScheduleRequest], *, state: FatigueState | None = None
    ) -> list[Scheduled | CxError]:
        """Store the invitations of many decisions, in one write; a result per request, in order.

        What :meth:`schedule` does for each request, with the new invitations
        and their first sends written together
        (:meth:`Store.add_invitations <cxcore.Store.add_invitations>`), so the
        store commits them at once. A request that cannot be scheduled gets
        its error as its result (a :class:`ScheduleError`, a
        :class:`~cxcore.StoreError`, or the invitation's
        :class:`~cxcore.ValidationError`) and writes nothing; the others are
        stored. A decision with a ``guard`` is stored only if the store holds
        no invitation inside its windows made after their times, and its
        store's count of the day is under its limit (another process asked
        the person, someone of their account, or the store's last one, since
        this one's fatigue state was read): else its result is an
        :class:`~cxcore.InviteRefusedError`, which
        :func:`~cxcore.distribution.skip_refused` turns into the skip of the
        cap it names. Reminders are queued together, after the invitations
        (:meth:`Store.enqueue <cxcore.Store.enqueue>`), each under its
        decision's ``guard`` too: one whose store made its limit of the day
        (first invitations and reminders together, whichever process made
        them) gets a :class:`~cxcore.StoreLimitError` and writes nothing.
        Decisions are recorded in *state* (if given) for the invitations this
        call created, and for the reminders queued.

        Args:
            requests: What to schedule.
            state: The fatigue state to record the decisions in.

        Returns:
            For each request, what was written, or why nothing was.

        .. versionadded:: 0.1.0
        """
        results: list[Scheduled | CxError | None] = [None] * len(requests)
        entries: list[tuple[Invitation, list[OutboxItem]]] = []
        owners: list[int] = []
        reminders: list[int] = []
        for n, request in enumerate(requests):
            try:
                _check(request.decision)
                if request.decision.reminder:
                    reminders.append(n)
                    continue
                invitation = await self._new_invitation(request)
            except CxError as exc:
                results[n] = exc
                continue
            entries.append((invitation, [_item(invitation, request.decision)]))
            owners.append(n)
        if entries:
            await self._add(requests, entries, owners, results)
        if reminders:
            await self._remind(requests, reminders, results)
        done: list[Scheduled | CxError] = []
        for request, result in zip(requests, results, strict=True):
            assert result is not None  # noqa: S101 - every request has its result by now
            if (
                state is not None
                and isinstance(result, Scheduled)
                and (result.created or request.decision.reminder)
            ):
                record(state, request.decision)
            done.append(result)
        return done

    async def _new_invitation(self, request: ScheduleRequest) -> Invitation:
        """The invitation a first send's decision makes, with its tokens."""
        decision = request.decision
        assert decision.survey is not None  # noqa: S101 - checked by _check
        version = self._versions.get(decision.survey)
        if version is None:
            version = await self._version(decision.survey)
        return self._invitation(
            decision,
            customer=request.customer,
            interaction=request.interaction,
            name=request.name,
            context=request.context,
            survey_version=version,
        )

    async def _add(
        self,
        requests: Sequence[ScheduleRequest],
        entries: list[tuple[Invitation, list[OutboxItem]]],
        owners: list[int],
        results: list[Scheduled | CxError | None],
    ) -> None:
        """Store *entries* (of ``requests[owners[i]]``) at once; their results into *results*."""
        added = await self.store.add_invitations(
            entries, guards=[requests[n].decision.guard for n in owners]
        )
        repeats: list[int] = []
        for n, (_, items), outcome in zip(owners, entries, added, strict=True):
            if isinstance(outcome, StoreError):
                results[n] = outcome
            elif outcome.created:
                results[n] = Scheduled(outcome.invitation, items[0], created=True)
            else:  # a repeat, or another writer's: theirs stands, and its send is queued
                item = _item(outcome.invitation, requests[n].decision)
                results[n] = Scheduled(outcome.invitation, item, created=False)
                repeats.append(n)
        if repeats:
            try:
                await self.store.enqueue(
                    [r.item for n in repeats if isinstance(r := results[n], Scheduled)]
                )
            except StoreError as exc:
                for n in repeats:
                    results[n] = exc

    async def _remind(
        self,
        requests: Sequence[ScheduleRequest],
        reminders: list[int],
        results: list[Scheduled | CxError | None],
    ) -> None:
        """Queue the reminders ``requests[n]`` (*n* in *reminders*) at once; results into *results*.

        Each is queued with its decision's guard (its store's daily limit), so
        a store that made its limit of the day refuses it.
        """
        queued: list[tuple[int, Invitation, OutboxItem]] = []
        for n in reminders:
            decision = requests[n].decision
            assert decision.invitation_id is not None  # noqa: S101 - checked by _check
            guard = decision.guard
            windows = [] if guard is None else list(guard.windows())
            if guard is not None and guard.stratum_key is not None and guard.stratum_min is None:
                windows.append(f"the count of stratum {guard.stratum!r} of {guard.stratum_rule!r}")
            if any(window != "store_limit" for window in windows):
                results[n] = ScheduleError(
                    f"decision: reminder {decision.reminder} of invitation "
                    f"{decision.invitation_id!r} has a guard of {', '.join(windows)} "
                    "(expected decide_reminder's: its store's daily limit alone, since a "
                    "reminder asks the same invitation again)"
                )
                continue
            invitation = await self._existing(decision.invitation_id)
            if invitation is None:
                results[n] = ScheduleError(
                    f"decision: reminder {decision.reminder} of invitation "
                    f"{decision.invitation_id!r}, which is not stored (expected its first send "
                    "to be scheduled before)"
                )
                continue
            queued.append((n, invitation, _item(invitation, decision)))
        if not queued:
            return
        try:
            outcomes = await self.store.enqueue(
                [item for _, _, item in queued],
                guards=[requests[n].decision.guard for n, _, _ in queued],
            )
        except StoreError as exc:
            for n, _, _ in queued:
                results[n] = exc
            return
        for (n, invitation, item), outcome in zip(queued, outcomes, strict=True):
            if isinstance(outcome, StoreError):
                results[n] = outcome
            else:
                results[n] = Scheduled(invitation, item, created=False)

    def _invitation(
        self,
        decision: Decision,
        *,
        customer: Customer | None,
        interaction: Interaction | None,
        name: str | None,
        context: Mapping[str, Scalar] | None,
        survey_version: int,
    ) -> Invitation:
        assert decision.invitation_id is not None  # noqa: S101 - checked by schedule
        assert decision.survey is not None  # noqa: S101
        assert decision.channel is not None  # noqa: S101
        assert decision.expires_at is not None  # noqa: S101
        now = self.clock.now()
        expires_at = decision.expires_at
        # A short link only where a link's length is paid for: a text to a phone number.
        texted = (
            customer is not None
            and customer.phone is not None
            and decision.address == customer.phone
        )
        tokens = self.tokens.issue_all(decision.invitation_id, expires_at, short_code=texted)
        return Invitation(
            id=decision.invitation_id,
            survey_id=decision.survey,
            survey_version=survey_version,
            channel=decision.channel,
            address=decision.address,
            token=tokens.token,
            unsubscribe_token=tokens.unsubscribe_token,
            amp_token=tokens.amp_token,
            short_code=tokens.short_code,
            created_at=now,
            expires_at=expires_at,
            customer_id=decision.customer_id,
            account_id=decision.account_id,
            interaction_id=decision.interaction_id,
            name=name,
            locale=customer.locale if customer is not None else "en",
            timezone=(customer_zone(customer) if customer is not None else None) or "UTC",
            context=interaction.context() if interaction is not None else (context or {}),
        )


def _check(decision: Decision) -> None:
    """Raise :class:`ScheduleError` unless *decision* is an invitation the outbox can store."""
    if (
        not decision.invite
        or decision.invitation_id is None
        or decision.survey is None
        or decision.channel is None
        or decision.due_at is None
        or decision.expires_at is None
    ):
        msg = (
            f"decision: {decision!r} is not an invitation with an id, survey, channel "
            "due time and expiry (expected an 'invite' decision from decide or decide_reminder)"
        )
        raise ScheduleError(msg)


def _item(invitation: Invitation, decision: Decision) -> OutboxItem:
    if decision.due_at is None:  # checked by schedule() before it gets here
        msg = f"decision for {decision.invitation_id!r} has no due time"
        raise ScheduleError(msg)
    return OutboxItem(
        id=outbox_item_id(invitation.id, decision.reminder),
        invitation_id=invitation.id,
        channel=invitation.channel,
        state=OutboxState.PENDING,
        due_at=decision.due_at,
    )
