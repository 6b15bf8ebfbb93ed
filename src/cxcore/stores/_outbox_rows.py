"""How outbox items come back from their rows, and what a claim of sends read, for every SQL backend."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar, cast

import attrs

from cxcore.definitions import structure, unstructure
from cxcore.errors import CxError
from cxcore.model.customer import Consent
from cxcore.model.invitation import Invitation
from cxcore.ports.store import (
    AddedInvitation,
    AlreadyInvitedError,
    ClaimedSend,
    Enqueued,
    InviteGuard,
    OutboxItem,
    OutboxState,
    StoreError,
    StoreLimitError,
    StratumFullError,
)
from cxcore.stores._rows import (
    address_hash,
    audit_detail,
    from_micros,
    maybe_datetime,
    micros,
    to_json,
)

OUTBOX_COLUMNS = "id, invitation_id, channel, state, due_at, attempts, claimed_by, claimed_until, provider_id, last_error"
"""The columns of ``outbox`` that :func:`outbox_from_row` reads, in its order."""


def outbox_from_row(row: Sequence[Any]) -> OutboxItem:
    """The outbox item stored in *row* (:data:`OUTBOX_COLUMNS`)."""
    id_, inv, channel, state, due, attempts, by, until, provider, error = row
    return OutboxItem(
        id=id_,
        invitation_id=inv,
        channel=channel,
        state=OutboxState(state),
        due_at=from_micros(due),
        attempts=attempts,
        claimed_by=by,
        claimed_until=maybe_datetime(until),
        provider_id=provider,
        last_error=error,
    )


ClaimedRows = tuple[list[Any], list[Any], list[Any]]
"""What a claim of sends reads: (outbox columns, customer_id, address, body) rows,
(address_hash, channel, reason) rows, (person, channel, purpose, granted, source,
recorded_at, rowid) rows."""


def claimed_sends(
    rows: Sequence[Sequence[Any]],
    suppressions: Iterable[Sequence[Any]],
    consents: Iterable[Sequence[Any]],
) -> list[ClaimedSend]:
    """Judge what a claim of sends read, for each send, as the one-at-a-time reads judge it.

    The suppression of the address on the item's channel wins over one on
    every channel (``"*"``), as :meth:`SQLiteStore.suppression` orders them;
    the latest consent entry for the item's channel or ``"*"`` wins, by
    ``recorded_at`` and then insertion order, as :meth:`SQLiteStore.consent`.
    Shared by both backends.
    """
    reasons = {(digest, channel): str(reason) for digest, channel, reason in suppressions}
    latest: dict[tuple[str, str], tuple[int, int, Consent]] = {}
    for person, channel, purpose, granted, source, at, seq in consents:
        key = (person, channel)
        if key not in latest or (at, seq) > latest[key][:2]:
            consent = Consent(
                channel, purpose, granted=bool(granted), source=source, recorded_at=from_micros(at)
            )
            latest[key] = (at, seq, consent)

    def consent_of(person: str | None, channel: str) -> Consent | None:
        if person is None:
            return None
        found = [latest[k] for k in ((person, channel), (person, "*")) if k in latest]
        return max(found, key=lambda e: e[:2])[2] if found else None

    sends: list[ClaimedSend] = []
    for row in rows:
        item = outbox_from_row(row[:-3])
        customer_id, address, body = row[-3:]
        invitation: Invitation | None = None
        problem: str | None = None
        if body is None:
            problem = f"no invitation {item.invitation_id!r} is stored"
        else:
            try:
                invitation = structure(
                    json.loads(body), Invitation, source=f"stored invitation {item.invitation_id}"
                )
            except (CxError, ValueError) as exc:
                problem = str(exc)
        suppression = None
        if address is not None:
            digest = address_hash(address)
            suppression = reasons.get((digest, item.channel), reasons.get((digest, "*")))
        sends.append(
            ClaimedSend(
                item=item,
                invitation=invitation,
                problem=problem,
                suppression=suppression,
                customer_consent=consent_of(customer_id, item.channel),
                address_consent=consent_of(address, item.channel),
            )
        )
    return sends


INVITATION_COLUMNS = (
    "id, survey_id, survey_version, channel, customer_id, address, created_at, body, account_id, "
    "short_code"
)
"""The columns of ``invitations``, in the order of :meth:`InvitationBatch.row`."""


Latest = Iterable[tuple[str, str, str, int]]
"""Rows of the latest invitations: (key, survey or ``""``, invitation id, created_at in micros)."""


_Key = TypeVar("_Key", tuple[str, int], tuple[str, str, int])


def _check_guard_count(
    guards: Sequence[InviteGuard | None] | None, count: int, one: str, many: str
) -> None:
    """Refuse *guards* unless there is one (or ``None``) for each of the *count* entries or items."""
    if guards is not None and len(guards) != count:
        msg = f"guards: {len(guards)} guards for {count} {many} (expected one InviteGuard or None per {one})"
        raise ValueError(msg)


class DayCounts(Generic[_Key]):
    """The entries of one guarded write that count in a day's count, some under a cap, and the counts as the write goes.

    The shared part of :class:`StoreLimits` (a store's day, under its daily
    limit) and :class:`StratumCounts` (a rule's sampling stratum's day, with
    the minimum of the invitations taken to fill it). The backend reads
    (under its locks) the stored counts of :attr:`days` and hands them to
    :meth:`counted`; then, entry by entry, the subclass's ``full`` says
    whether the entry's count has reached its cap, and :meth:`count` counts
    an entry the write makes, which later entries see; :meth:`added` is what
    the entries written add to the stored counts.
    """

    __slots__ = ("caps", "counts", "keys")

    def __init__(self) -> None:
        self.keys: dict[int, _Key] = {}
        """Each counted entry's key (store and day; rule, stratum and day)."""
        self.caps: dict[int, int] = {}
        """The entries the write makes only under a cap: the cap."""
        self.counts: dict[_Key, int] = {}

    def put(self, n: int, key: _Key, cap: int | None) -> None:
        """Count entry *n* under *key*, and write it only while the count is under *cap* (if given)."""
        self.keys[n] = key
        if cap is not None:
            self.caps[n] = cap

    @property
    def days(self) -> list[_Key]:
        """The keys whose counts the write needs, sorted (the order to lock them in)."""
        return sorted(set(self.keys.values()))

    def counted(self, rows: Iterable[Sequence[Any]]) -> None:
        """Start from the stored counts: rows of a key of :attr:`days`, then its count."""
        self.counts = {cast("_Key", tuple(row[:-1])): int(row[-1]) for row in rows}

    def reached(self, n: int) -> tuple[_Key, int] | None:
        """Entry *n*'s key and cap, if it has a cap and its count has reached it."""
        cap = self.caps.get(n)
        if cap is None:
            return None
        key = self.keys[n]
        return (key, cap) if self.counts.get(key, 0) >= cap else None

    def count(self, n: int) -> None:
        """Count entry *n*, written by this call (if it counts)."""
        key = self.keys.get(n)
        if key is not None:
            self.counts[key] = self.counts.get(key, 0) + 1

    def added(self, written: Iterable[int]) -> list[tuple[Any, ...]]:
        """What the entries *written* add to each count: the key's parts, then how many."""
        added: dict[_Key, int] = {}
        for n in written:
            counted = self.keys.get(n)
            if counted is not None:
                added[counted] = added.get(counted, 0) + 1
        # (*day, k) is what mypy cannot type for a constrained type variable.
        return [day + (k,) for day, k in sorted(added.items())]  # noqa: RUF005


class StoreLimits(DayCounts[tuple[str, int]]):
    """The entries of one guarded write under a store's daily limit, and the counts as the write goes.

    One for :class:`InvitationBatch` and :class:`SendBatch`, so that a first
    invitation and a reminder count alike, in ``store_day_counts``.
    """

    __slots__ = ()

    def add(self, n: int, guard: InviteGuard) -> None:
        """Put entry *n* under *guard*'s store limit, if the guard holds one."""
        key = guard.store_key
        if key is not None:
            self.put(n, key, guard.store_limit)

    @property
    def store_days(self) -> list[tuple[str, int]]:
        """The stores and days whose counts the write needs, sorted (the order to lock them in)."""
        return self.days

    def full(self, n: int) -> StoreLimitError | None:
        """The refusal of entry *n*, if its store's count of the day has reached the limit."""
        reached = self.reached(n)
        if reached is None:
            return None
        (store, day), limit = reached
        return StoreLimitError(store, day, limit)


class StratumCounts(DayCounts[tuple[str, str, int]]):
    """The entries of one guarded write that count in a sampling stratum's day, in ``stratum_day_counts``.

    Every invitation whose guard names a stratum counts; the ones whose guard
    holds ``stratum_min`` (taken only to fill the stratum's minimum) are
    written only while the count is under it.
    """

    __slots__ = ()

    def add(self, n: int, guard: InviteGuard) -> None:
        """Count entry *n* in *guard*'s stratum, if it names one (under its minimum, if it holds one)."""
        key = guard.stratum_key
        if key is not None:
            self.put(n, key, guard.stratum_min)

    def full(self, n: int) -> StratumFullError | None:
        """The refusal of entry *n*, if it fills a minimum its stratum's count of the day has met."""
        reached = self.reached(n)
        if reached is None:
            return None
        (rule, stratum, day), minimum = reached
        return StratumFullError(rule, stratum, day, minimum)


class InvitationBatch:
    """One :meth:`Store.add_invitations <cxcore.Store.add_invitations>` call, checked and planned for every backend.

    Each entry's outbox items must be its invitation's, or the entry is refused
    (its error is its result, and it writes nothing). The first entry with an
    id that is not refused is the *candidate* the backend writes; a later entry
    with the same id is a repeat of it and gets its result, as a repeat.

    A backend writes, in one transaction: the candidates whose id is not stored
    yet (:meth:`row`, :meth:`audit_rows`, their items), each alone when writing
    them together fails; then hands :meth:`results` what it found stored and
    which candidates failed. Where the call gives *guards*, the backend first
    locks the :attr:`guarded` customers, :attr:`guarded_accounts`,
    :attr:`store_days` and :attr:`stratum_days` (under locks other writers
    of them take too), reads the latest invitation of each customer to each
    survey and of each account, each store's count of the day and each
    stratum's, and :meth:`refused` says which new candidates not to write;
    it adds :meth:`store_counts` of what it wrote to each store's count, and
    :meth:`stratum_counts` to each stratum's.
    """

    __slots__ = (
        "after",
        "bodies",
        "candidates",
        "entries",
        "errors",
        "limits",
        "repeat_of",
        "strata",
    )

    limits: StoreLimits
    """The candidates under a store's daily limit."""
    strata: StratumCounts
    """The candidates that count in a sampling stratum's day (some under its minimum)."""

    def __init__(
        self,
        entries: Iterable[tuple[Invitation, Iterable[OutboxItem]]],
        guards: Sequence[InviteGuard | None] | None = None,
    ) -> None:
        self.entries = [(invitation, list(items)) for invitation, items in entries]
        _check_guard_count(guards, len(self.entries), "entry", "entries")
        self.errors: dict[int, StoreError] = {}
        self.candidates: dict[str, int] = {}
        self.repeat_of: dict[int, int] = {}
        for n, (invitation, items) in enumerate(self.entries):
            strays = [i for i in items if i.invitation_id != invitation.id]
            if strays:
                self.errors[n] = StoreError(
                    f"entries[{n}]: "
                    + "; ".join(
                        f"outbox item {i.id!r} sends invitation {i.invitation_id!r}, "
                        f"not {invitation.id!r}"
                        for i in strays
                    )
                )
            elif invitation.id in self.candidates:
                self.repeat_of[n] = self.candidates[invitation.id]
            else:
                self.candidates[invitation.id] = n
        # Each guarded candidate's bounds (micros): the person's, the survey's, the
        # account's invitations must be older.
        self.after: dict[int, tuple[int | None, int | None, int | None]] = {}
        self.limits = StoreLimits()
        self.strata = StratumCounts()
        if guards is not None:
            for n in self.candidates.values():
                guard = guards[n]
                if guard is None:
                    continue
                self.limits.add(n, guard)
                self.strata.add(n, guard)
                invitation = self.entries[n][0]
                if invitation.customer_id is None:
                    continue
                bounds = (
                    _micros_or_none(guard.person_after),
                    _micros_or_none(guard.survey_after),
                    _micros_or_none(guard.account_after)
                    if invitation.account_id is not None
                    else None,
                )
                if bounds != (None, None, None):
                    self.after[n] = bounds
        # Encoded here, on the caller's thread, before the write is queued.
        self.bodies = {
            n: to_json(unstructure(self.entries[n][0])) for n in self.candidates.values()
        }

    @property
    def guarded(self) -> list[str]:
        """The customers whose latest invitations :meth:`refused` needs, sorted (the order to lock them in)."""
        return sorted(
            {
                cid
                for n, (person, survey, _) in self.after.items()
                if (person is not None or survey is not None)
                and (cid := self.entries[n][0].customer_id)
            }
        )

    @property
    def guarded_accounts(self) -> list[str]:
        """The accounts whose latest invitation :meth:`refused` needs, sorted."""
        return sorted(
            {
                account
                for n, (_, _, bound) in self.after.items()
                if bound is not None and (account := self.entries[n][0].account_id)
            }
        )

    @property
    def store_days(self) -> list[tuple[str, int]]:
        """The stores and days whose counts :meth:`refused` needs, sorted (the order to lock them in)."""
        return self.limits.store_days

    def store_counts(self, written: Iterable[int]) -> list[tuple[str, int, int]]:
        """What the candidates *written* add to each store's count of the day: (store, day, added)."""
        return self.limits.added(written)

    @property
    def stratum_days(self) -> list[tuple[str, str, int]]:
        """The strata and days whose counts :meth:`refused` needs, sorted (the order to lock them in)."""
        return self.strata.days

    def stratum_counts(self, written: Iterable[int]) -> list[tuple[str, str, int, int]]:
        """What the candidates *written* add to each stratum's count of the day: (rule, stratum, day, added)."""
        return self.strata.added(written)

    def refused(
        self,
        by_survey: Latest,
        by_account: Latest,
        new: Iterable[int],
        counted: Iterable[tuple[str, int, int]] = (),
        strata_counted: Iterable[tuple[str, str, int, int]] = (),
    ) -> dict[int, StoreError]:
        """The candidates of *new* (in entry order) not to write: someone was invited since.

        A candidate taken to fill its stratum's minimum is refused first when
        the minimum is met (the sampling comes before the caps); then one
        whose store made its limit of the day; then one inside a window.

        Args:
            by_survey: For each :attr:`guarded` customer, the latest invitation
                to each survey they were invited to: (customer, survey, id, micros).
            by_account: For each of :attr:`guarded_accounts` with invitations,
                the latest: (account, ``""``, id, micros).
            new: The candidates whose id is not stored.
            counted: For each of :attr:`store_days` counted, (store, day, invitations).
            strata_counted: For each of :attr:`stratum_days` counted,
                (rule, stratum, day, invitations).
        """
        limits, strata = self.limits, self.strata
        limits.counted(counted)
        strata.counted(strata_counted)
        person: dict[str, tuple[str, int]] = {}
        survey: dict[tuple[str, str], tuple[str, int]] = {}
        account: dict[str, tuple[str, int]] = {}
        for customer, survey_id, invitation_id, at in by_survey:
            survey[customer, survey_id] = (invitation_id, at)
            _later(person, customer, (invitation_id, at))
        for key, _, invitation_id, at in by_account:
            account[key] = (invitation_id, at)
        refused: dict[int, StoreError] = {}
        for n in sorted(new):
            invitation = self.entries[n][0]
            full = strata.full(n) or limits.full(n)
            if full is not None:
                refused[n] = full
                continue
            who = invitation.customer_id
            if who is None:
                limits.count(n)
                strata.count(n)
                continue
            bounds = self.after.get(n)
            if bounds is not None:
                found = _inside(
                    (person.get(who), bounds[0], "recontact_window"),
                    (survey.get((who, invitation.survey_id)), bounds[1], "survey_window"),
                    (account.get(invitation.account_id or ""), bounds[2], "account_window"),
                )
                if found is not None:
                    (invitation_id, at), window = found
                    refused[n] = AlreadyInvitedError(
                        who,
                        invitation_id,
                        from_micros(at),
                        window=window,
                        account_id=invitation.account_id if window == "account_window" else None,
                    )
                    continue
            # Written by this call: later entries see it.
            limits.count(n)
            strata.count(n)
            mine = (invitation.id, micros(invitation.created_at))
            _later(person, who, mine)
            _later(survey, (who, invitation.survey_id), mine)
            if invitation.account_id is not None:
                _later(account, invitation.account_id, mine)
        return refused

    def without_short_code(self, n: int) -> bool:
        """Drop entry *n*'s short code (another invitation holds it); whether it had one.

        A code is a digest of the invitation's id, so writing it again would
        fail again: the invitation is written without it, and its channels
        send the long link.
        """
        invitation, items = self.entries[n]
        if invitation.short_code is None:
            return False
        invitation = attrs.evolve(invitation, short_code=None)
        self.entries[n] = (invitation, items)
        self.bodies[n] = to_json(unstructure(invitation))
        return True

    def row(self, n: int) -> tuple[Any, ...]:
        """The ``invitations`` row of entry *n* (:data:`INVITATION_COLUMNS`)."""
        invitation = self.entries[n][0]
        return (
            invitation.id,
            invitation.survey_id,
            invitation.survey_version,
            invitation.channel,
            invitation.customer_id,
            invitation.address,
            micros(invitation.created_at),
            self.bodies[n],
            invitation.account_id,
            invitation.short_code,
        )

    def audit_rows(self, new: Iterable[int], at: int) -> list[tuple[Any, ...]]:
        """The audit rows of the invitations of entries *new* being created at *at* (micros)."""
        details: dict[str, str] = {}  # one detail a channel, not one an invitation
        rows: list[tuple[Any, ...]] = []
        for n in new:
            invitation = self.entries[n][0]
            detail = details.get(invitation.channel)
            if detail is None:
                detail = details[invitation.channel] = audit_detail({"channel": invitation.channel})
            rows.append((at, "invitation", invitation.id, "created", detail))
        return rows

    def items(self, n: int) -> list[OutboxItem]:
        """The outbox items of entry *n*."""
        return self.entries[n][1]

    def results(
        self, stored: Mapping[str, str], failed: Mapping[int, StoreError]
    ) -> list[AddedInvitation | StoreError]:
        """Each entry's result, given the bodies of the candidates' ids *stored* before, and the candidates that *failed*."""
        found: dict[str, Invitation] = {}
        results: list[AddedInvitation | StoreError] = []
        for n, (invitation, _) in enumerate(self.entries):
            error = self.errors.get(n)
            if error is not None:
                results.append(error)
                continue
            first = self.repeat_of.get(n, n)
            error = failed.get(first)
            if error is not None:
                results.append(error)
                continue
            body = stored.get(invitation.id)
            if body is not None:
                earlier = found.get(invitation.id)
                if earlier is None:
                    earlier = found[invitation.id] = structure(
                        json.loads(body), Invitation, source=f"stored invitation {invitation.id}"
                    )
                results.append(AddedInvitation(earlier, created=False))
            elif first == n:
                results.append(AddedInvitation(invitation, created=True))
            else:
                results.append(AddedInvitation(self.entries[first][0], created=False))
        return results


class SendBatch:
    """One :meth:`Store.enqueue <cxcore.Store.enqueue>` call, checked and planned for every backend.

    The first item with an id is the *candidate* the backend writes; a later
    item with the same id is a repeat of it and gets its result. A guard may
    hold only a store's daily limit: a send of a stored invitation (a
    reminder) is no new contact for the recontact windows.

    A backend writes, in one transaction: where the call gives guards with a
    limit, it first locks the :attr:`store_days` (under the locks
    :class:`InvitationBatch`'s writers take too) and reads their counts and
    which candidates are queued already, and :meth:`refused` says which new
    candidates not to write; it inserts the others (:meth:`rows`, an item
    queued before is left as it is), adds :meth:`store_counts` of those it
    inserted to each store's count, and hands :meth:`results` the ids it
    inserted.
    """

    __slots__ = ("candidates", "items", "limits")

    def __init__(
        self, items: Iterable[OutboxItem], guards: Sequence[InviteGuard | None] | None = None
    ) -> None:
        self.items = list(items)
        _check_guard_count(guards, len(self.items), "item", "items")
        self.candidates: dict[str, int] = {}
        for n, item in enumerate(self.items):
            self.candidates.setdefault(item.id, n)
        self.limits = StoreLimits()
        for n, guard in enumerate(guards or ()):
            if guard is None:
                continue
            for name in ("person_after", "survey_after", "account_after"):
                if (at := getattr(guard, name)) is not None:
                    msg = (
                        f"guards[{n}]: {name} is {at.isoformat()} for outbox item "
                        f"{self.items[n].id!r} (expected None: a send of a stored invitation "
                        "is held to its store's daily limit only, not to the recontact windows)"
                    )
                    raise ValueError(msg)
            for name in ("stratum_rule", "stratum", "stratum_day", "stratum_min"):
                if (value := getattr(guard, name)) is not None:
                    msg = (
                        f"guards[{n}]: {name} is {value!r} for outbox item "
                        f"{self.items[n].id!r} (expected None: a send of a stored invitation "
                        "is no new invitation of its rule's sampling stratum)"
                    )
                    raise ValueError(msg)
            if self.candidates[self.items[n].id] == n:
                self.limits.add(n, guard)

    @property
    def store_days(self) -> list[tuple[str, int]]:
        """The stores and days whose counts :meth:`refused` needs, sorted (the order to lock them in)."""
        return self.limits.store_days

    def store_counts(self, written: Iterable[int]) -> list[tuple[str, int, int]]:
        """What the candidates *written* add to each store's count of the day: (store, day, added)."""
        return self.limits.added(written)

    def refused(
        self, queued: Collection[str], counted: Iterable[tuple[str, int, int]]
    ) -> dict[int, StoreLimitError]:
        """The candidates not to write, in item order: their store made its limit of the day.

        Args:
            queued: The ids of candidates queued before (repeats: never refused, never counted).
            counted: For each of :attr:`store_days` counted, (store, day, invitations).
        """
        limits = self.limits
        limits.counted(counted)
        refused: dict[int, StoreLimitError] = {}
        for item_id, n in self.candidates.items():
            if item_id in queued:
                continue
            full = limits.full(n)
            if full is not None:
                refused[n] = full
            else:  # written by this call: later items see it
                limits.count(n)
        return refused

    def rows(self, candidates: Iterable[int], at: int) -> list[tuple[Any, ...]]:
        """The ``outbox`` rows of *candidates*, written at *at* (micros), in :data:`SEND_COLUMNS` order."""
        return [send_row(self.items[n], at) for n in candidates]

    def results(
        self, inserted: Collection[str], refused: Mapping[int, StoreError]
    ) -> list[Enqueued | StoreError]:
        """Each item's result, given the ids this call *inserted* and the candidates *refused*."""
        results: list[Enqueued | StoreError] = []
        for n, item in enumerate(self.items):
            first = self.candidates[item.id]
            error = refused.get(first)
            if error is not None:
                results.append(error)
            else:
                results.append(Enqueued(item, created=first == n and item.id in inserted))
        return results


SEND_COLUMNS = "id, invitation_id, channel, state, due_at, attempts, updated_at"
"""The columns of ``outbox`` a new send is written with, in the order of :func:`send_row`."""


def send_row(item: OutboxItem, at: int) -> tuple[Any, ...]:
    """The ``outbox`` row of a new send *item*, written at *at* (micros): :data:`SEND_COLUMNS`."""
    return (
        item.id,
        item.invitation_id,
        item.channel,
        item.state.value,
        micros(item.due_at),
        item.attempts,
        at,
    )


def _micros_or_none(at: datetime | None) -> int | None:
    return None if at is None else micros(at)


def _inside(
    *checks: tuple[tuple[str, int] | None, int | None, str],
) -> tuple[tuple[str, int], str] | None:
    """The first (latest invitation, window) whose invitation was made after its bound."""
    for latest, bound, window in checks:
        if latest is not None and bound is not None and latest[1] > bound:
            return latest, window
    return None


def _later(latest: dict[Any, tuple[str, int]], key: object, mine: tuple[str, int]) -> None:
    """Keep *mine* as *key*'s latest invitation if it is later."""
    known = latest.get(key)
    if known is None or mine[1] > known[1]:
        latest[key] = mine
