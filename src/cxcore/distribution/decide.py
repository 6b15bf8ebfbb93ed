"""The decision: whether to survey an interaction, with what, on which channel, and when."""

from __future__ import annotations

import enum
import hashlib
import math
import zlib
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import attrs

from cxcore.distribution._plan import WindowPlan
from cxcore.distribution.channels import Rejection, choose_channel
from cxcore.distribution.fatigue import DAY, FatiguePolicy, FatigueState, OpenInvitation
from cxcore.distribution.quiet_hours import QuietHours, customer_zone, next_allowed, zone
from cxcore.distribution.rules import RuleSet
from cxcore.distribution.triggers import TriggerRule
from cxcore.model.customer import AddressKind, Customer, Purpose
from cxcore.model.interaction import Interaction
from cxcore.ports.store import (
    AlreadyInvitedError,
    InviteGuard,
    InviteRefusedError,
    StoreLimitError,
    StratumFullError,
)

if TYPE_CHECKING:
    from cxcore.ports.clock import Clock

__all__ = [
    "Decision",
    "Explanation",
    "Outcome",
    "Reason",
    "decide",
    "decide_reminder",
    "explain",
    "invitation_id",
    "record",
]

_EPOCH_ORDINAL = 719_163  # date(1970, 1, 1).toordinal()


class Outcome(enum.StrEnum):
    """Whether an invitation is to be sent.

    .. versionadded:: 0.1.0
    """

    INVITE = "invite"
    """Send it, at the decision's ``due_at``."""
    SKIP = "skip"
    """Do not send; the decision's ``reason`` says why."""


class Reason(enum.StrEnum):
    """Why an interaction (or a reminder) is not surveyed.

    .. versionadded:: 0.1.0
    """

    NO_RULE = "no_rule"
    """No trigger rule is set for the touchpoint."""
    FILTERED = "filtered"
    """Rules exist, but the interaction's dimensions fail their filters."""
    NOT_SAMPLED = "not_sampled"
    """The interaction fell outside the sampling rate."""
    UNKNOWN_CUSTOMER = "unknown_customer"
    """The interaction names a customer, but no customer record was given."""
    NO_CHANNEL = "no_channel"
    """No channel may be used: no address, no consent, or suppressed."""
    RECONTACT_WINDOW = "recontact_window"
    """The person was invited inside the global recontact window."""
    SURVEY_WINDOW = "survey_window"
    """The person was invited to this survey inside the rule's own window."""
    ACCOUNT_WINDOW = "account_window"
    """Someone of the same business account was invited inside the account window."""
    STORE_LIMIT = "store_limit"
    """The store reached its daily limit."""
    ANSWERED = "answered"
    """The person answered: no reminder."""
    REMINDERS_DONE = "reminders_done"
    """Every reminder of the rule was sent."""
    NOT_OPEN = "not_open"
    """The invitation is unknown, or closed."""
    SUPERSEDED = "superseded"
    """The person has a newer invitation: no reminder for the old one."""
    EXPIRED = "expired"
    """The invitation expired before the reminder could go out."""
    NO_TIME_ZONE = "no_time_zone"
    """The customer's time zone is unknown (and their country has several), so
    quiet hours cannot be kept: cxcore does not guess."""


# Not slotted: decide() builds one decision per interaction, and _decision() fills an
# instance's __dict__ in one step. A slotted frozen class sets each of its 21 fields through
# object.__setattr__ in __init__, which took 1.5 µs a decision, as long as the rules took.
@attrs.frozen(kw_only=True, repr=False, slots=False)
class Decision:
    """What to do about one interaction (or one reminder).

    A skip says why, and when the person becomes eligible again where a cap
    blocked them. An invitation says which rule, survey and channel, and when
    it is due: after the rule's delay, deferred out of quiet hours, or booked
    at the end of a window. The invitation id is derived from the interaction
    and the rule, so deciding twice gives the same id and the outbox can
    refuse the duplicate.

    ``guard`` is set on an invitation when the rules have a cap for it: a
    known person's windows (the global recontact window, the rule's own
    survey window, the account window), and the store's daily limit (for
    anonymous invitations too). An invitation made after the guard's times,
    or the store's last one of the day, would have blocked this one. The
    state this decision saw may miss one that another process made
    meanwhile, so the :class:`~cxcore.dispatch.Outbox` has the store write
    the invitation only if it holds none and the limit is not reached
    (:meth:`Store.add_invitations <cxcore.Store.add_invitations>`). A
    reminder's guard holds the store's daily limit alone: it asks the same
    invitation again, so no window applies, but it counts in the store's day
    (:meth:`Store.enqueue <cxcore.Store.enqueue>`).

    An invitation of a rule whose sampling keeps a minimum per stratum
    (``by`` and ``min_per_day``) names its stratum in the guard, so the store
    counts it in the stratum's day; one the sampling draw refused, taken only
    because the stratum was under its minimum in the state, also holds
    ``stratum_min``: the store writes it only while its count of the
    stratum's day is under it.

    .. versionadded:: 0.1.0
    """

    outcome: Outcome
    reason: Reason | None = None
    interaction_id: str | None = None
    customer_id: str | None = None
    account_id: str | None = None
    store: str | None = None
    rule: str | None = None
    survey: str | None = None
    channel: str | None = None
    address: str | None = None
    invitation_id: str | None = None
    due_at: datetime | None = None
    expires_at: datetime | None = None
    deferred_by: str | None = None
    eligible_at: datetime | None = None
    reminder: int = 0
    stratum: str | None = None
    stratum_day: int | None = None
    store_day: int | None = None
    survey_window: bool = False
    remindable: bool = False
    guard: InviteGuard | None = None

    @property
    def invite(self) -> bool:
        """Whether an invitation is to be sent."""
        return self.outcome is Outcome.INVITE

    def __repr__(self) -> str:
        # The address is personal: never in logs.
        if self.outcome is Outcome.INVITE:
            due = self.due_at.isoformat() if self.due_at else None
            return (
                f"Decision(invite, rule={self.rule!r}, survey={self.survey!r}, "
                f"channel={self.channel!r}, due_at={due!r}, reminder={self.reminder})"
            )
        eligible = self.eligible_at.isoformat() if self.eligible_at else None
        return f"Decision(skip, reason={self.reason}, rule={self.rule!r}, eligible_at={eligible!r})"


_DEFAULTS = {f.name: f.default for f in attrs.fields(Decision) if f.default is not attrs.NOTHING}
_SKIP_FIELDS: dict[str, object] = {"outcome": Outcome.SKIP, **_DEFAULTS}
_INVITE_FIELDS: dict[str, object] = {"outcome": Outcome.INVITE, **_DEFAULTS}
_new = object.__new__
_set = object.__setattr__


def _decision(fields: dict[str, object]) -> Decision:
    """The decision with *fields*: every field, from a copy of a template above.

    What ``Decision(**fields)`` makes, since Decision has no converters or validators;
    for the fast path, which builds one per interaction.
    """
    decision: Decision = _new(Decision)
    _set(decision, "__dict__", fields)
    return decision


def _skipped(
    reason: Reason,
    interaction_id: str,
    customer_id: str | None,
    rule: str | None = None,
    eligible_at: datetime | None = None,
) -> Decision:
    """A skip, as :func:`_decision` builds it."""
    fields = _SKIP_FIELDS.copy()
    fields["reason"] = reason
    fields["interaction_id"] = interaction_id
    fields["customer_id"] = customer_id
    fields["rule"] = rule
    fields["eligible_at"] = eligible_at
    return _decision(fields)


@attrs.frozen
class Explanation:
    """Why an interaction was or was not surveyed: the decision and every step to it.

    ``str(explanation)`` reads as a short report.

    .. versionadded:: 0.1.0
    """

    decision: Decision
    steps: tuple[str, ...]

    def __str__(self) -> str:
        return "\n".join(self.steps)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def _day(ts: float, tz_name: str) -> int:
    if tz_name == "UTC":
        return int(ts // DAY) + _EPOCH_ORDINAL
    return datetime.fromtimestamp(ts, zone(tz_name)).toordinal()


def _next_day_start(ts: float, tz_name: str) -> float:
    tz = zone(tz_name)
    local = datetime.fromtimestamp(ts, tz)
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    return midnight.timestamp()


def invitation_id(interaction_id: str, rule_id: str) -> str:
    """The opaque, stable id of the invitation *rule_id* makes for *interaction_id*.

    .. versionadded:: 0.1.0
    """
    digest = hashlib.blake2b(f"{interaction_id}\x00{rule_id}".encode(), digest_size=16)
    return digest.hexdigest()


class _Run:
    """One evaluation; collects the trace when explaining."""

    __slots__ = ("now", "rules", "state", "steps")

    def __init__(self, rules: RuleSet, state: FatigueState, now: datetime, *, trace: bool) -> None:
        self.rules = rules
        self.state = state
        self.now = now
        self.steps: list[str] | None = [] if trace else None

    def note(self, text: str) -> None:
        if self.steps is not None:
            self.steps.append(text)

    def _window(
        self,
        found: tuple[Reason, float] | None,
        reason: Reason,
        last: int | None,
        days: int,
        *,
        due: float,
        what: str,
    ) -> tuple[Reason, float] | None:
        """Add the block of one window (*days* from *last*) to *found*, keeping the latest."""
        if last is None or not days:
            return found
        until = last + days * DAY
        if due >= until:
            return found
        if self.steps is not None:
            self.note(f"    {what}: invited for {_iso(last)}; {days} days run until {_iso(until)}")
        return (reason, until) if found is None or until > found[1] else found

    def blocks(
        self, rule: TriggerRule, customer: Customer | None, store: str | None, due: float
    ) -> tuple[Reason, float] | None:
        """The cap that blocks a send at *due* longest, with when it stops blocking."""
        policy = self.rules.fatigue
        state = self.state
        found: tuple[Reason, float] | None = None
        if customer is not None:
            cid = customer.id
            found = self._window(
                found,
                Reason.RECONTACT_WINDOW,
                state.last_invited(cid),
                policy.recontact_days,
                due=due,
                what="recontact window",
            )
            if rule.recontact_days is not None:
                found = self._window(
                    found,
                    Reason.SURVEY_WINDOW,
                    state.survey_last_invited(rule.survey, cid),
                    rule.recontact_days,
                    due=due,
                    what=f"survey window of {rule.survey!r}",
                )
            account = customer.account_id
            if account is not None and policy.account_days is not None:
                found = self._window(
                    found,
                    Reason.ACCOUNT_WINDOW,
                    state.account_last_invited(account),
                    policy.account_days,
                    due=due,
                    what=f"account window of {account!r}",
                )
        limit = policy.store_daily_limit
        if store is not None and limit is not None:
            day = _day(due, policy.day_timezone)
            count = state.store_count(store, day)
            if count >= limit:
                until = _next_day_start(due, policy.day_timezone)
                if self.steps is not None:
                    self.note(
                        f"    store limit: {store!r} has {count} of {limit} invitations on "
                        f"{datetime.fromordinal(day).date().isoformat()}"
                    )
                if found is None or until > found[1]:
                    found = (Reason.STORE_LIMIT, until)
        return found

    def schedule(
        self,
        rule: TriggerRule,
        customer: Customer | None,
        store: str | None,
        due: float,
        *,
        window: QuietHours | None,
        tz_name: str,
    ) -> tuple[float, str | None] | tuple[Reason, float]:
        """Defer *due* out of quiet hours and, if the rule may wait, past the caps.

        Returns ``(due, deferred_by)`` when it may be sent, else ``(reason, eligible)``.
        """
        deferred_by: str | None = None
        asked = due
        for _ in range(8):
            if window is not None:
                local = datetime.fromtimestamp(due, zone(tz_name))
                if not window.allows(local.time()):
                    opens = next_allowed(local, tz_name, window).timestamp()
                    if self.steps is not None:
                        self.note(
                            f"    quiet hours {window.describe()} in {tz_name}: "
                            f"{local.isoformat()} deferred to {_iso(opens)}"
                        )
                    deferred_by = deferred_by or f"quiet hours {window.describe()}"
                    due = opens
            block = self.blocks(rule, customer, store, due)
            if block is None:
                return due, deferred_by
            reason, until = block
            max_wait = rule.max_wait_days
            if max_wait is None or until - asked > max_wait * DAY:
                return reason, until
            if self.steps is not None:
                self.note(f"    booked at {_iso(until)}, within max_wait_days={max_wait}")
            deferred_by = deferred_by or reason.value.replace("_", " ")
            due = until
        return Reason.STORE_LIMIT, due  # pragma: no cover - caps that never clear


def _skip(reason: Reason, interaction: Interaction, rule: str | None = None) -> Decision:
    return Decision(
        outcome=Outcome.SKIP,
        reason=reason,
        interaction_id=interaction.id,
        customer_id=interaction.customer_id,
        rule=rule,
    )


def _try_rule(  # noqa: C901, PLR0912 - one branch per traced step, in order
    run: _Run, rule: TriggerRule, interaction: Interaction, customer: Customer | None
) -> Decision:
    """Whether *rule* may invite for *interaction*: an invitation, or a skip saying why."""
    state = run.state
    rules = run.rules
    policy = rules.fatigue
    iid = interaction.id
    if run.steps is not None:
        run.note(f"  rule {rule.id!r} (survey {rule.survey!r}, priority {rule.priority}):")
    if rule.where and (miss := rule.mismatch(interaction)) is not None:
        run.note(f"    filter: {miss[0]} is {miss[1]!r}, not one of {list(rule.where[miss[0]])}")
        return _skip(Reason.FILTERED, interaction, rule.id)
    occurred = interaction.occurred_at.timestamp()
    sampling = rule.sampling
    stratum = rule.stratum(interaction)
    sday = _day(occurred, policy.day_timezone) if stratum is not None else None
    # The invitation counts in its stratum's day wherever the sampling keeps a minimum;
    # it holds the minimum only when taken to fill it (the draw said no).
    counted: tuple[str, str, int, int | None] | None = (
        (rule.id, stratum, sday, None)
        if sampling.min_per_day and stratum is not None and sday is not None
        else None
    )
    if sampling.rate < 1.0:
        draw = sampling.draw(rule.id, iid)
        if draw < sampling.rate:
            if run.steps is not None:
                run.note(f"    sampled: draw {draw:.3f} < rate {sampling.rate}")
        elif counted is not None and (
            (count := state.stratum_count(rule.id, counted[1], counted[2])) < sampling.min_per_day
        ):
            counted = (*counted[:3], sampling.min_per_day)
            if run.steps is not None:
                run.note(
                    f"    sampled: draw {draw:.3f} >= rate {sampling.rate}, but stratum "
                    f"{stratum!r} has {count} of its {sampling.min_per_day} today"
                )
        else:
            if run.steps is not None:
                run.note(f"    not sampled: draw {draw:.3f} >= rate {sampling.rate}")
            return _skip(Reason.NOT_SAMPLED, interaction, rule.id)
    rejections: list[Rejection] | None = [] if run.steps is not None else None
    chosen = choose_channel(
        rules.channels, customer, rule.channels, state.suppression, trace=rejections
    )
    for r in rejections or ():
        if run.steps is not None:
            run.note(f"    channel {r}")
    if chosen is None:
        return _skip(Reason.NO_CHANNEL, interaction, rule.id)
    channel, address = chosen
    if run.steps is not None:
        run.note(f"    channel {channel!r} chosen")
    tz_name = customer_zone(customer) if customer is not None else "UTC"
    if tz_name is None:
        if run.steps is not None:
            run.note("    no time zone: the customer has none, and their country has several")
        return _skip(Reason.NO_TIME_ZONE, interaction, rule.id)
    window = rules.window(customer.country if customer is not None else None)
    if window is not None and channel in window.exempt_channels:
        window = None
    due = max(run.now.timestamp(), occurred + rule.delay_minutes * 60)
    store = interaction.store
    result = run.schedule(rule, customer, store, due, window=window, tz_name=tz_name)
    if isinstance(result[0], Reason):
        reason, until = result
        return attrs.evolve(
            _skip(reason, interaction, rule.id), eligible_at=datetime.fromtimestamp(until, UTC)
        )
    due_ts, deferred_by = result
    due_at = datetime.fromtimestamp(due_ts, UTC)
    store_day = (
        _day(due_ts, policy.day_timezone)
        if store is not None and policy.store_daily_limit is not None
        else None
    )
    return Decision(
        outcome=Outcome.INVITE,
        interaction_id=iid,
        customer_id=interaction.customer_id,
        account_id=customer.account_id if customer is not None else None,
        store=store,
        rule=rule.id,
        survey=rule.survey,
        channel=channel,
        address=address,
        invitation_id=invitation_id(iid, rule.id),
        due_at=due_at,
        expires_at=due_at + timedelta(days=rule.expires_days),
        deferred_by=deferred_by,
        stratum=stratum,
        stratum_day=sday,
        store_day=store_day,
        survey_window=rule.recontact_days is not None,
        remindable=bool(rule.reminders_after_hours),
        guard=_guard(due_ts, policy, customer, rule.recontact_days, store, store_day, counted),
    )


def _guard(  # noqa: PLR0917 - private, and called twice
    due_ts: float,
    policy: FatiguePolicy,
    customer: Customer | None,
    survey_days: int | None,
    store: str | None,
    store_day: int | None,
    stratum: tuple[str, str, int, int | None] | None,
) -> InviteGuard | None:
    """The caps an invitation due at *due_ts* must still be within when the store writes it.

    A known person's windows (the global one, the rule's own, the account's),
    and the store's daily limit, anonymous invitations included; and the
    sampling stratum it counts in, as (rule, stratum, day, the minimum when
    the invitation is taken to fill it, else ``None``).
    """
    limit = policy.store_daily_limit if store is not None and store_day is not None else None
    if customer is None:
        recontact, survey_days, account_days = 0, None, None
    else:
        recontact = policy.recontact_days
        account_days = policy.account_days if customer.account_id is not None else None
    if not (recontact or survey_days or account_days) and limit is None and stratum is None:
        return None

    def before(days: int | None) -> datetime | None:
        return datetime.fromtimestamp(due_ts - days * DAY, UTC) if days else None

    limited = limit is not None
    rule_id, stratum_value, stratum_day, minimum = stratum or (None, None, None, None)
    return InviteGuard(
        person_after=before(recontact),
        survey_after=before(survey_days),
        account_after=before(account_days),
        store=store if limited else None,
        store_day=store_day if limited else None,
        store_limit=limit,
        stratum_rule=rule_id,
        stratum=stratum_value,
        stratum_day=stratum_day,
        stratum_min=minimum,
    )


def _evaluate(  # noqa: PLR0912 - one branch per traced step, in order
    run: _Run, interaction: Interaction, customer: Customer | None
) -> Decision:
    candidates = run.rules.matching(interaction.touchpoint)
    cid = interaction.customer_id
    if run.steps is not None:
        run.note(
            f"Interaction {interaction.id!r} at {interaction.touchpoint!r} "
            + (f"(customer {cid!r})" if cid is not None else "(anonymous)")
            + f", decided at {run.now.isoformat()}:"
        )
    if not candidates:
        run.note(f"  no trigger rule for touchpoint {interaction.touchpoint!r}")
        return _skip(Reason.NO_RULE, interaction)
    if cid is None:
        customer = None
    elif customer is None:
        if run.steps is not None:
            run.note(f"  customer {cid!r} is unknown: consent cannot be checked")
        return _skip(Reason.UNKNOWN_CUSTOMER, interaction)
    elif customer.id != cid:
        msg = f"customer: {customer.id!r} is not the interaction's customer {cid!r}"
        raise ValueError(msg)
    first_skip: Decision | None = None
    for rule in candidates:
        decision = _try_rule(run, rule, interaction, customer)
        if decision.outcome is Outcome.INVITE:
            run.note(f"  => invite: {decision!r}")
            return decision
        if first_skip is None or first_skip.reason is Reason.FILTERED:
            first_skip = decision
    assert first_skip is not None  # noqa: S101 - there was at least one candidate
    if first_skip.reason is Reason.FILTERED:
        first_skip = attrs.evolve(first_skip, rule=None)
    if first_skip.eligible_at is not None:
        when = first_skip.eligible_at.isoformat()
        if run.steps is not None:
            run.note(f"  => skip: {first_skip.reason}; eligible again at {when}")
    elif run.steps is not None:
        run.note(f"  => skip: {first_skip.reason}")
    return first_skip


def explain(
    rules: RuleSet,
    interaction: Interaction,
    customer: Customer | None,
    state: FatigueState,
    clock: Clock,
) -> Explanation:
    """Say why *interaction* would or would not be surveyed, step by step.

    It makes the same decision as :func:`decide`, and lists every rule
    considered: the filter that failed, the sampling draw, each channel passed
    over and why, the quiet hours that deferred the send, every cap that
    blocks, and when the person becomes eligible again.

    .. versionadded:: 0.1.0
    """
    run = _Run(rules, state, clock.now(), trace=True)
    decision = _evaluate(run, interaction, customer)
    assert run.steps is not None  # noqa: S101 - trace=True
    return Explanation(decision, tuple(run.steps))


def decide_reminder(
    rules: RuleSet,
    invitation_id: str,
    customer: Customer,
    state: FatigueState,
    clock: Clock,
) -> Decision:
    """Decide the next reminder of an invitation to a non-responder.

    A reminder goes on the invitation's own channel, after the rule's
    ``reminders_after_hours``; it stops the moment the person answers (any
    survey, any channel), when the person has a newer invitation, and when the
    invitation expires. It obeys consent, suppression, quiet hours and the
    store limit like a first send; it is not a new contact for the recontact
    windows, since it asks the same question again.

    Under a store's daily limit, the reminder's ``guard`` holds that limit
    alone (its ``store``, ``store_day`` and ``store_limit``), so the
    :class:`~cxcore.dispatch.Outbox` has the store queue it only while the
    store's count of the day, kept with the first invitations', is under the
    limit (:meth:`Store.enqueue <cxcore.Store.enqueue>`). If the store
    refuses it, :func:`skip_refused` says so and tells *state* the count; a
    reminder decided again on that state is booked on the store's next day,
    or skipped as ``expired`` if the invitation expires first.

    .. versionadded:: 0.1.0
    """
    now = clock.now()
    run = _Run(rules, state, now, trace=False)
    inv = state.open_invitation(invitation_id)

    def skip(reason: Reason) -> Decision:
        return Decision(
            outcome=Outcome.SKIP,
            reason=reason,
            customer_id=customer.id,
            invitation_id=invitation_id,
            rule=inv.rule if inv is not None else None,
        )

    if inv is None:
        return skip(Reason.NOT_OPEN)
    if inv.customer_id != customer.id:
        msg = f"customer: {customer.id!r} is not the invitation's customer {inv.customer_id!r}"
        raise ValueError(msg)
    answered = state.last_answered(customer.id)
    if answered is not None and answered >= inv.due:
        return skip(Reason.ANSWERED)
    rule = rules.rule(inv.rule)
    if inv.reminders >= len(rule.reminders_after_hours):
        return skip(Reason.REMINDERS_DONE)
    last = state.last_invited(customer.id)
    if last is not None and last > inv.due:
        return skip(Reason.SUPERSEDED)
    if choose_channel(rules.channels, customer, (inv.channel,), state.suppression) is None:
        return skip(Reason.NO_CHANNEL)
    tz_name = customer_zone(customer)
    if tz_name is None:
        return skip(Reason.NO_TIME_ZONE)
    window = rules.window(customer.country)
    if window is not None and inv.channel in window.exempt_channels:
        window = None
    due = max(now.timestamp(), inv.due + rule.reminders_after_hours[inv.reminders] * 3600)
    stripped = attrs.evolve(rule, recontact_days=None, max_wait_days=7)
    result = run.schedule(stripped, None, inv.store, due, window=window, tz_name=tz_name)
    if isinstance(result[0], Reason):  # pragma: no cover - the store limit clears within a week
        return skip(result[0])
    due_ts, deferred_by = result
    if due_ts >= inv.expires:
        return skip(Reason.EXPIRED)
    policy = rules.fatigue
    limit = policy.store_daily_limit if inv.store is not None else None
    store_day = _day(due_ts, policy.day_timezone) if limit is not None else None
    return Decision(
        outcome=Outcome.INVITE,
        customer_id=customer.id,
        store=inv.store,
        rule=rule.id,
        survey=inv.survey,
        channel=inv.channel,
        address=customer.address(rules.channels.addresses[inv.channel]),
        invitation_id=invitation_id,
        due_at=datetime.fromtimestamp(due_ts, UTC),
        expires_at=datetime.fromtimestamp(inv.expires, UTC),
        deferred_by=deferred_by,
        reminder=inv.reminders + 1,
        store_day=store_day,
        guard=None
        if limit is None
        else InviteGuard(store=inv.store, store_day=store_day, store_limit=limit),
    )


def skip_refused(
    rules: RuleSet, decision: Decision, refused: InviteRefusedError, state: FatigueState
) -> Decision:
    """The skip an invitation the store refused stands for: what the rules would have said.

    The store refused *decision*'s invitation (see its ``guard``): another
    writer had made an invitation inside one of its windows, or made the
    store's last invitation of the day, since *state* was read. This is the
    decision the rules would have made had *state* known: a skip with the
    cap's reason and the time the person (account, store) is eligible again.
    What the store found is remembered in *state*, for the decisions that follow.

    An invitation taken only to fill its sampling stratum's minimum (the
    draw said no), refused because other writers met the minimum
    (:class:`~cxcore.StratumFullError`), is the ``not_sampled`` skip of its
    rule, and *state* learns that the stratum made its minimum that day.
    (Deciding the interaction again on *state* would try the rules after
    that one, as :func:`decide` does when a rule's sampling says no.)

    A refused reminder (only a store's limit refuses one) is the skip
    :func:`decide_reminder` gives, for its invitation: ``store_limit``,
    eligible at the store's next day, or ``expired`` if the invitation
    expires by then. Deciding the reminder again on *state* books it on
    that next day (out of quiet hours), if the invitation is still open then.

    .. versionadded:: 0.1.0
    """
    reason = Reason(refused.window)
    if isinstance(refused, StratumFullError):
        state.stratum_counted(refused.rule, refused.stratum, refused.day, refused.minimum)
        return _skipped(reason, decision.interaction_id or "", decision.customer_id, decision.rule)
    if isinstance(refused, StoreLimitError):
        state.store_counted(refused.store, refused.day, refused.limit)
        assert decision.due_at is not None  # noqa: S101 - a refused invitation had a due time
        opens = _next_day_start(decision.due_at.timestamp(), rules.fatigue.day_timezone)
        eligible: datetime | None = datetime.fromtimestamp(opens, UTC)
        if decision.reminder:
            if decision.expires_at is not None and opens >= decision.expires_at.timestamp():
                reason, eligible = Reason.EXPIRED, None
            return Decision(
                outcome=Outcome.SKIP,
                reason=reason,
                customer_id=decision.customer_id,
                invitation_id=decision.invitation_id,
                rule=decision.rule,
                eligible_at=eligible,
            )
    else:
        assert isinstance(refused, AlreadyInvitedError)  # noqa: S101 - the other kind
        at = math.ceil(refused.invited_at.timestamp())
        days: int | None
        if reason is Reason.ACCOUNT_WINDOW:
            if refused.account_id is not None:
                state.account_invited(refused.account_id, at)
            days = rules.fatigue.account_days
        elif reason is Reason.SURVEY_WINDOW:
            state.invited(refused.customer_id, at, survey=decision.survey)
            days = rules.rule(decision.rule).recontact_days if decision.rule is not None else None
        else:
            state.invited(refused.customer_id, at)
            days = rules.fatigue.recontact_days
        eligible = datetime.fromtimestamp(at + days * DAY, UTC) if days else None
    return _skipped(
        reason, decision.interaction_id or "", decision.customer_id, decision.rule, eligible
    )


def record(state: FatigueState, decision: Decision) -> None:
    """Apply a committed invitation to *state*; skips change nothing.

    Call it once the invitation is safely in the outbox. Recording the same
    decision twice counts it twice in the store limit, so record once per commit.

    .. versionadded:: 0.1.0
    """
    if decision.outcome is not Outcome.INVITE or decision.due_at is None:
        return
    # Rounded up: a window measured from a later instant never lets a send in early.
    due = math.ceil(decision.due_at.timestamp())
    if decision.reminder:
        if decision.invitation_id is not None:
            state.reminded(decision.invitation_id)
        if decision.store is not None and decision.store_day is not None:
            state.count_store(decision.store, decision.store_day)
        return
    if (
        decision.rule is not None
        and decision.stratum is not None
        and decision.stratum_day is not None
    ):
        state.count_stratum(decision.rule, decision.stratum, decision.stratum_day)
    if decision.customer_id is None:
        if decision.store is not None and decision.store_day is not None:
            state.count_store(decision.store, decision.store_day)
        return
    state.invited(
        decision.customer_id,
        due,
        account_id=decision.account_id,
        survey=decision.survey if decision.survey_window else None,
        store=decision.store,
        store_day=decision.store_day,
    )
    if (
        decision.remindable
        and decision.invitation_id is not None
        and decision.rule is not None
        and decision.survey is not None
        and decision.channel is not None
        and decision.expires_at is not None
    ):
        state.open(
            OpenInvitation(
                invitation_id=decision.invitation_id,
                customer_id=decision.customer_id,
                rule=decision.rule,
                survey=decision.survey,
                channel=decision.channel,
                store=decision.store,
                due=due,
                expires=int(decision.expires_at.timestamp()),
            )
        )


# -- the fast path -------------------------------------------------------------------------------
#
# decide() runs here, on the rule set's compiled plans; explain() runs _evaluate above, the
# reference, which notes every step. Both make the same decision (tests compare them over random
# rule sets, people, states and times): the fast path only leaves the trace out, looks what
# belongs to the person up once per interaction instead of once per rule, reads the state's
# tables directly, and builds one Decision at the end instead of one per rule tried.


def _fast_schedule(  # noqa: PLR0917 - hot: passes what the caller looked up
    due: float,
    window: WindowPlan | None,
    tz: ZoneInfo | None,
    tz_name: str,
    caps: tuple[int | None, int | None, int | None],
    max_wait: int | None,
    store: str | None,
    policy: FatiguePolicy,
    store_days: dict[tuple[str, int], int],
) -> tuple[Reason | None, float, str | None, int | None]:
    """:meth:`_Run.schedule` and :meth:`_Run.blocks` in one frame.

    *caps* are the ends of the person's recontact, survey and account windows;
    *tz* is the zone called *tz_name*, given when *window* is; *store_days* is the
    state's count of invitations per store and day.

    Returns:
        ``(None, due, deferred_by, store_day)`` when it may be sent, else
        ``(reason, eligible, None, None)``.
    """
    person_until, survey_until, account_until = caps
    limit = policy.store_daily_limit if store is not None else None
    day_timezone = policy.day_timezone
    deferred_by: str | None = None
    asked = due
    for _ in range(8):
        if window is not None:
            # WindowPlan.allows on the local time of day in whole seconds: the window's
            # bounds are whole minutes, so the fraction of a second never changes the answer.
            local = datetime.fromtimestamp(due, tz)
            second = local.hour * 3600 + local.minute * 60 + local.second
            if not (
                (second >= window.start_second or second < window.end_second)
                if window.wraps
                else window.start_second <= second < window.end_second
            ):
                due = window.opens(local, due, tz_name)
                deferred_by = deferred_by or window.deferred_by
        # The cap that blocks longest; on a tie, the first in _Run.blocks' order.
        reason: Reason | None = None
        until: float = 0
        if person_until is not None and due < person_until:
            reason, until = Reason.RECONTACT_WINDOW, person_until
        if (
            survey_until is not None
            and due < survey_until
            and (reason is None or survey_until > until)
        ):
            reason, until = Reason.SURVEY_WINDOW, survey_until
        if (
            account_until is not None
            and due < account_until
            and (reason is None or account_until > until)
        ):
            reason, until = Reason.ACCOUNT_WINDOW, account_until
        day: int | None = None
        if limit is not None:
            day = (
                int(due // DAY) + _EPOCH_ORDINAL
                if day_timezone == "UTC"
                else _day(due, day_timezone)
            )
            if store_days.get((store, day), 0) >= limit:  # type: ignore[arg-type]  # store is set
                opens = _next_day_start(due, day_timezone)
                if reason is None or opens > until:
                    reason, until = Reason.STORE_LIMIT, opens
        if reason is None:
            return None, due, deferred_by, day
        if max_wait is None or until - asked > max_wait:
            return reason, until, None, None
        deferred_by = deferred_by or reason.value.replace("_", " ")
        due = until
    return Reason.STORE_LIMIT, due, None, None  # pragma: no cover - caps that never clear


def decide(  # noqa: C901, PLR0912, PLR0915 - one flat loop: every call saved is time saved
    rules: RuleSet,
    interaction: Interaction,
    customer: Customer | None,
    state: FatigueState,
    clock: Clock,
) -> Decision:
    """Decide whether, what, where and when to survey after *interaction*.

    Pure: it reads *state* and the clock, and changes nothing. Once the
    invitation is committed to the outbox, pass the decision to :func:`record`.
    At most one invitation comes out of one interaction: when several rules
    match, the highest priority that may send wins.

    Args:
        rules: The rule set.
        interaction: What happened.
        customer: The interaction's customer (``None`` for an anonymous visitor).
        state: Who was invited when, and who is suppressed.
        clock: Tells the time.

    Returns:
        An invitation with its due time, or a skip with its reason.

    Raises:
        ValueError: If *customer* is not the interaction's customer.

    .. versionadded:: 0.1.0
    """
    now = clock.now()
    plans = rules._plans.get(interaction.touchpoint, ())  # noqa: SLF001 - our own class
    iid = interaction.id
    cid = interaction.customer_id
    if not plans:
        return _skipped(Reason.NO_RULE, iid, cid)
    if cid is None:
        customer = None
    elif customer is None:
        return _skipped(Reason.UNKNOWN_CUSTOMER, iid, cid)
    elif customer.id != cid:
        msg = f"customer: {customer.id!r} is not the interaction's customer {cid!r}"
        raise ValueError(msg)
    policy = rules.fatigue
    # The state's tables, read as its methods read them (our own class, in this package).
    suppressed = state._suppressed  # noqa: SLF001
    occurred = interaction.occurred_at.timestamp()
    # What belongs to the interaction or the person is looked up once, when a rule needs it.
    now_ts: float | None = None
    encoded: bytes | None = None
    sday: int | None = None
    known = False
    reachable = True
    tz_name: str | None = "UTC"
    tz: ZoneInfo | None = None
    person_window: WindowPlan | None = None
    person_until: int | None = None
    account_until: int | None = None
    skip: tuple[Reason, str, float | None] | None = None
    for plan in plans:
        if plan.filters and not plan.accepts(interaction):
            continue
        stratum = plan.stratum(interaction) if plan.by is not None else None
        if stratum is not None and sday is None:
            sday = _day(occurred, policy.day_timezone)
        rate = plan.rate
        minimum = plan.min_per_day  # set only with a stratum
        forced = False
        if rate < 1.0:
            if encoded is None:
                encoded = iid.encode()
            if zlib.crc32(encoded, plan.crc_seed) / 4294967296.0 >= rate:
                if (
                    minimum and state._strata.get((plan.id, stratum, sday), 0) < minimum  # type: ignore[arg-type]  # noqa: SLF001
                ):
                    forced = True  # to fill the stratum's minimum
                else:
                    skip = skip or (Reason.NOT_SAMPLED, plan.id, None)
                    continue
        if not known:
            known = True
            if customer is None:
                person_window = rules._window_plan(None)  # noqa: SLF001 - our own class
            else:
                reachable = suppressed.get(cid.lower()) is None  # type: ignore[union-attr]
                tz_name = customer.timezone
                if tz_name is None:
                    tz_name = customer_zone(customer)
                person_window = rules._window_plan(customer.country)  # noqa: SLF001 - ours
                last = state._person.get(cid)  # type: ignore[arg-type]  # noqa: SLF001
                if last is not None and policy.recontact_days:
                    person_until = last + policy.recontact_days * DAY
                account = customer.account_id
                if account is not None and policy.account_days is not None:
                    last = state._account.get(account)  # noqa: SLF001
                    if last is not None:
                        account_until = last + policy.account_days * DAY
        channel: str | None = None
        address: str | None = None
        if customer is None:
            channel = plan.anonymous_channel
        elif reachable:
            # choose_channel, for a known customer who is not suppressed, in a planned order.
            consents = customer.consents
            for step in plan.order(customer.preferred_channels):
                kind = step.kind
                if kind is None or kind is AddressKind.NONE:
                    continue
                address = customer.address(kind)
                if address is None:
                    continue
                consent = customer.consent(step.channel, Purpose.SURVEY) if consents else None
                if consent is not None:
                    if not consent.granted:
                        continue
                elif step.opt_in_required:
                    continue
                if suppressed.get(address.lower()) is None:
                    channel = step.channel
                    break
            else:
                address = None
        if channel is None:
            skip = skip or (Reason.NO_CHANNEL, plan.id, None)
            continue
        if tz_name is None:
            skip = skip or (Reason.NO_TIME_ZONE, plan.id, None)
            continue
        window = person_window
        if window is not None:
            if channel in window.exempt_channels:
                window = None
            elif tz is None:
                tz = zone(tz_name)
        survey_until: int | None = None
        if customer is not None and plan.recontact_days is not None:
            last = state._survey.get((plan.survey, cid))  # type: ignore[arg-type]  # noqa: SLF001
            if last is not None:
                survey_until = last + plan.recontact_days * DAY
        if now_ts is None:
            now_ts = now.timestamp()
        due = occurred + plan.delay_seconds
        reason, due_ts, deferred_by, store_day = _fast_schedule(
            max(now_ts, due),
            window,
            tz,
            tz_name,
            (person_until, survey_until, account_until),
            plan.max_wait_seconds,
            interaction.store,
            policy,
            state._store_day,  # noqa: SLF001
        )
        if reason is not None:
            skip = skip or (reason, plan.id, due_ts)
            continue
        due_at = datetime.fromtimestamp(due_ts, UTC)
        if encoded is None:
            encoded = iid.encode()
        fields = _INVITE_FIELDS.copy()
        fields["interaction_id"] = iid
        fields["customer_id"] = cid
        if customer is not None:
            fields["account_id"] = customer.account_id
        fields["store"] = interaction.store
        fields["rule"] = plan.id
        fields["survey"] = plan.survey
        fields["channel"] = channel
        fields["address"] = address
        fields["invitation_id"] = hashlib.blake2b(
            encoded + plan.id_suffix, digest_size=16
        ).hexdigest()
        fields["due_at"] = due_at
        fields["expires_at"] = due_at + plan.expires
        fields["deferred_by"] = deferred_by
        if stratum is not None:
            fields["stratum"] = stratum
            fields["stratum_day"] = sday
        fields["store_day"] = store_day
        fields["survey_window"] = plan.recontact_days is not None
        fields["remindable"] = plan.remindable
        fields["guard"] = _guard(
            due_ts,
            policy,
            customer if cid is not None else None,
            plan.recontact_days,
            interaction.store,
            store_day,
            (plan.id, stratum, sday, minimum if forced else None)  # type: ignore[arg-type]  # set with a minimum
            if minimum
            else None,
        )
        return _decision(fields)
    if skip is None:  # every rule's filter failed
        return _skipped(Reason.FILTERED, iid, cid)
    reason, rule_id, until = skip
    return _skipped(
        reason, iid, cid, rule_id, None if until is None else datetime.fromtimestamp(until, UTC)
    )
