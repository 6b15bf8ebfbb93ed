"""Fatigue: the layered caps, and the in-memory state that remembers who was asked when."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from datetime import datetime

import attrs

from cxcore.model._checks import Checks, member_or_value

__all__ = ["FatiguePolicy", "FatigueState", "OpenInvitation", "SuppressionReason"]

DAY = 86_400
"""Seconds in a day: windows are counted in days of 24 hours."""


@attrs.frozen(kw_only=True)
class FatiguePolicy:
    """The caps every invitation obeys, across all surveys and all channels.

    >>> FatiguePolicy(recontact_days=30, account_days=7, store_daily_limit=200)
    FatiguePolicy(recontact_days=30, account_days=7, store_daily_limit=200, day_timezone='UTC')

    Args:
        recontact_days: A person is asked at most once in this many days
            (0 turns the window off). Rules may add a longer window of their own.
        account_days: People of one business account are asked at most once
            in this many days, together; ``None`` for no account cap.
        store_daily_limit: At most this many invitations per store and day,
            reminders included; ``None`` for no limit.
        day_timezone: The time zone whose calendar days the store limit counts.

    .. versionadded:: 0.1.0
    """

    recontact_days: int = 30
    account_days: int | None = None
    store_daily_limit: int | None = None
    day_timezone: str = "UTC"

    def __attrs_post_init__(self) -> None:
        checks = Checks()
        if (
            checks.is_a("recontact_days", self.recontact_days, int, "a whole number")
            and self.recontact_days < 0
        ):
            checks.add("recontact_days", f"{self.recontact_days} is not 0 or more")
        for name in ("account_days", "store_daily_limit"):
            value = getattr(self, name)
            if value is not None and checks.is_a(name, value, int, "a whole number") and value < 1:
                checks.add(name, f"{value} is not 1 or more")
        checks.timezone("day_timezone", self.day_timezone)
        checks.raise_if_any("FatiguePolicy")


class SuppressionReason(enum.StrEnum):
    """Why an address or a person must not be contacted.

    .. versionadded:: 0.1.0
    """

    OPT_OUT = "opt_out"
    """They asked not to be surveyed (STOP, an unsubscribe link)."""
    HARD_BOUNCE = "hard_bounce"
    """The address does not exist."""
    COMPLAINT = "complaint"
    """They reported a message as spam."""


@attrs.frozen(kw_only=True)
class OpenInvitation:
    """An invitation that may still get reminders.

    Args:
        invitation_id: The invitation's id.
        customer_id: Who was invited.
        rule: The trigger rule that invited them.
        survey: The survey.
        channel: The channel it went out on.
        store: The store of the interaction, for the store limit.
        due: When the first send was due, in epoch seconds.
        expires: When answers stop being accepted, in epoch seconds.
        reminders: How many reminders were decided so far.

    .. versionadded:: 0.1.0
    """

    invitation_id: str
    customer_id: str
    rule: str
    survey: str
    channel: str
    store: str | None
    due: int
    expires: int
    reminders: int = 0


def _reason(value: SuppressionReason | str) -> SuppressionReason:
    return member_or_value(SuppressionReason, value)


class FatigueState:
    """Who was asked when: pure, in-memory data with O(1) lookups.

    Times are whole seconds since the epoch (UTC). The state holds one small
    integer per person ever invited (plus one per account and per survey
    with its own window), so a million people take roughly 100-150 MB; call
    :meth:`prune` now and then to forget what no window can reach any more.
    The dispatcher loads it from the store, and after each committed
    decision calls :meth:`record`.

    >>> state = FatigueState()
    >>> state.last_invited("C-1") is None
    True

    .. versionadded:: 0.1.0
    """

    __slots__ = (
        "_account",
        "_answered",
        "_open",
        "_person",
        "_store_day",
        "_strata",
        "_suppressed",
        "_survey",
    )

    def __init__(self) -> None:
        self._person: dict[str, int] = {}
        self._account: dict[str, int] = {}
        self._survey: dict[tuple[str, str], int] = {}
        self._store_day: dict[tuple[str, int], int] = {}
        self._strata: dict[tuple[str, str, int], int] = {}
        self._suppressed: dict[str, SuppressionReason] = {}
        self._open: dict[str, OpenInvitation] = {}
        self._answered: dict[str, int] = {}

    def __repr__(self) -> str:
        return (
            f"FatigueState(people={len(self._person)}, accounts={len(self._account)}, "
            f"open={len(self._open)}, suppressed={len(self._suppressed)})"
        )

    # -- reads ------------------------------------------------------------------

    def last_invited(self, customer_id: str) -> int | None:
        """When *customer_id*'s latest invitation is (or was) due, in epoch seconds."""
        return self._person.get(customer_id)

    def account_last_invited(self, account_id: str) -> int | None:
        """When the latest invitation to anyone of *account_id* is due, in epoch seconds."""
        return self._account.get(account_id)

    def survey_last_invited(self, survey: str, customer_id: str) -> int | None:
        """When *customer_id* was last invited to *survey* (rules with their own window)."""
        return self._survey.get((survey, customer_id))

    def store_count(self, store: str, day: int) -> int:
        """Invitations for *store* on *day* (a proleptic Gregorian ordinal)."""
        return self._store_day.get((store, day), 0)

    def stratum_count(self, rule: str, stratum: str, day: int) -> int:
        """Invitations by *rule* for *stratum* (a store, an agent) on *day*."""
        return self._strata.get((rule, stratum, day), 0)

    def suppression(self, key: str) -> SuppressionReason | None:
        """Why the address or customer id *key* is suppressed, or ``None``."""
        return self._suppressed.get(key.lower())

    def open_invitation(self, invitation_id: str) -> OpenInvitation | None:
        """The invitation, if it may still get reminders."""
        return self._open.get(invitation_id)

    def last_answered(self, customer_id: str) -> int | None:
        """When *customer_id* last answered any survey, on any channel, in epoch seconds."""
        return self._answered.get(customer_id)

    def open_invitations(self) -> Iterator[OpenInvitation]:
        """Every invitation that may still get reminders."""
        return iter(list(self._open.values()))

    def __len__(self) -> int:
        """The number of people remembered."""
        return len(self._person)

    # -- writes -----------------------------------------------------------------

    def invited(
        self,
        customer_id: str,
        due: int,
        *,
        account_id: str | None = None,
        survey: str | None = None,
        store: str | None = None,
        store_day: int | None = None,
    ) -> None:
        """Remember an invitation due at *due* (what :meth:`record` and loaders call)."""
        if due > self._person.get(customer_id, -1):
            self._person[customer_id] = due
        if account_id is not None and due > self._account.get(account_id, -1):
            self._account[account_id] = due
        if survey is not None:
            key = (survey, customer_id)
            if due > self._survey.get(key, -1):
                self._survey[key] = due
        if store is not None and store_day is not None:
            day_key = (store, store_day)
            self._store_day[day_key] = self._store_day.get(day_key, 0) + 1

    def account_invited(self, account_id: str, due: int) -> None:
        """Remember that someone of *account_id* was invited, due at *due* (epoch seconds)."""
        if due > self._account.get(account_id, -1):
            self._account[account_id] = due

    def store_counted(self, store: str, day: int, count: int) -> None:
        """Remember that *store* made at least *count* invitations on *day*, others' included."""
        key = (store, day)
        if count > self._store_day.get(key, 0):
            self._store_day[key] = count

    def stratum_counted(self, rule: str, stratum: str, day: int, count: int) -> None:
        """Remember that *rule* made at least *count* invitations for *stratum* on *day*, in all."""
        key = (rule, stratum, day)
        if count > self._strata.get(key, 0):
            self._strata[key] = count

    def count_stratum(self, rule: str, stratum: str, day: int) -> None:
        """Count one invitation by *rule* for *stratum* on *day*."""
        key = (rule, stratum, day)
        self._strata[key] = self._strata.get(key, 0) + 1

    def count_store(self, store: str, day: int) -> None:
        """Count one send (a reminder, say) against *store*'s limit on *day*."""
        key = (store, day)
        self._store_day[key] = self._store_day.get(key, 0) + 1

    def open(self, invitation: OpenInvitation) -> None:
        """Remember *invitation* for reminders."""
        self._open[invitation.invitation_id] = invitation

    def close(self, invitation_id: str) -> None:
        """Forget *invitation_id*: no more reminders."""
        self._open.pop(invitation_id, None)

    def reminded(self, invitation_id: str) -> None:
        """Count one more reminder for *invitation_id*."""
        inv = self._open.get(invitation_id)
        if inv is not None:
            self._open[invitation_id] = attrs.evolve(inv, reminders=inv.reminders + 1)

    def answered(self, customer_id: str, at: datetime) -> None:
        """Record that *customer_id* answered (any survey, any channel): reminders stop."""
        ts = int(at.timestamp())
        if ts > self._answered.get(customer_id, -1):
            self._answered[customer_id] = ts

    def suppress(self, key: str, reason: SuppressionReason | str) -> None:
        """Never contact *key* again: an address (email, phone) or a customer id.

        Raises:
            ValueError: If *reason* is not a :class:`SuppressionReason`.
        """
        member: object = _reason(reason)
        if not isinstance(member, SuppressionReason):
            allowed = ", ".join(repr(r.value) for r in SuppressionReason)
            msg = f"reason: {reason!r} is not a suppression reason (expected one of {allowed})"
            raise ValueError(msg)  # noqa: TRY004 - a bad value, named like every ValidationError
        self._suppressed[key.lower()] = member

    def unsuppress(self, key: str) -> None:
        """Allow *key* again (after a new, explicit opt-in)."""
        self._suppressed.pop(key.lower(), None)

    def prune(self, now: datetime, *, keep_days: int) -> int:
        """Forget invitations older than *keep_days* before *now*; return how many entries went.

        Pass the longest window in use (the global one or a rule's own).
        """
        cutoff = int(now.timestamp()) - keep_days * DAY
        today = now.date().toordinal()
        removed = 0
        for table in (self._person, self._account, self._answered):
            stale = [k for k, t in table.items() if t < cutoff]
            removed += len(stale)
            for k in stale:
                del table[k]
        stale_survey = [k for k, t in self._survey.items() if t < cutoff]
        for sk in stale_survey:
            del self._survey[sk]
        stale_days = [k for k in self._store_day if k[1] < today - 1]
        for dk in stale_days:
            del self._store_day[dk]
        stale_strata = [k for k in self._strata if k[2] < today - 1]
        for tk in stale_strata:
            del self._strata[tk]
        expired = [k for k, inv in self._open.items() if inv.expires < cutoff + keep_days * DAY]
        for ik in expired:
            del self._open[ik]
        return removed + len(stale_survey) + len(stale_days) + len(stale_strata) + len(expired)
